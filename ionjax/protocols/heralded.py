"""Heralded ion-ion links: two-photon (polarization, time-bin, frequency) and single-photon protocols.

One mechanism serves every protocol (the tables in
:mod:`ionjax.components.analyzers` say which detectors watch which modes and
which click pattern heralds which Bell state):

1. Each node prepares its ion-photon state (a source component), then the
   imperfections act on that density matrix: Z errors on the ion
   (``ion_photon_fidelity``), dephasing of the ion during its herald wait
   ``2 L / (2e5 km/s)`` (``qubit_t2_s``), pure loss on every photonic mode with the
   path transmission ``collection x fiber x window acceptance (x excitation for
   two_photon)``. Node B's photon is split into the wavepacket of A's photon and an
   orthogonal internal mode with overlap ``M`` (exact partial distinguishability);
   single_photon adds Gaussian optical phase noise between the paths.
2. The photons meet at 50:50 beam splitters, one per mode pair; the detectors are
   diagonal in the photon number of the modes they watch (efficiency, dark clicks,
   threshold or number resolving). A second, unpolarized photon in the same attempt
   (``multi_photon_probability``, in a wavepacket that does not interfere) reaches
   each detector with equal probability; it enters as the exact mixture over where
   it went.
3. The heralded ion-ion state for each accepted pattern is
   ``Tr_photons[E_pattern rho]``.

Two pictures compute step 3 and give the same numbers (the tests check it):

* ``"heisenberg"`` (default, fast): each pattern's effect is pulled back through the
  beam splitters onto the product basis of the two nodes' photonic states,
  ``E' = U^dag diag(w) U``, as one matrix product with a static tensor
  ``T[n] = U^dag |n><n| U`` built once per structure, and then contracted with the
  two node states; the ion indices are touched only at the end.
* ``"schrodinger"``: the two node states are tensored, the photon registers merged,
  the beam splitters applied to the state, and each pattern heralded.

Every function here is written for one point; batch with ``jax.vmap`` (or
:func:`ionjax.sweep`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from ..components.analyzers import BellStateAnalyzer, bell_state_analyzer
from ..components.detectors import dark_click_probability, pnr_count_probabilities, window_acceptance
from ..components.fiber import fiber_transmission, herald_wait_s
from ..components.sources import (
    PERP_SUFFIX,
    apply_emission_loss,
    apply_ion_photon_fidelity,
    apply_mode_mismatch,
    bright_state_source,
    ion_photon_state,
)
from ..config import Link, NodeParams
from ..core.fock import _loss_plan, beam_splitter_unitary, lift_unitary
from ..core.metrics import bell_state
from ..core.registers import _split_plan, extend_register, merge_registers, register_embedding
from ..core.space import FockRegister, Qudit, Space
from ..core.state import DensityMatrix, complex_dtype, tensor
from ..core.superop import apply_superop, dephasing_superop, memory_decay_superop
from .result import LinkResult

__all__ = ["simulate", "node_state", "link_structure", "LinkStructure"]

_PICTURES = ("heisenberg", "schrodinger")
_ION_SPACE = Space(Qudit("ion_a"), Qudit("ion_b"))


# ----------------------------------------------------------------------------- static structure
@dataclass(frozen=True, eq=False)
class LinkStructure:
    """Everything about a link that does not depend on its numbers (built once per encoding and detector kind).

    Attributes:
        analyzer: the Bell-state analyzer (detectors and accepted patterns).
        node_bound: photons one node can emit per attempt (2 for time-bin with pulse errors).
        register: the merged photon register of both nodes, modes ``a_*`` then ``b_*``.
        keep_a, keep_b: indices of the node registers' basis states that can be populated
            (at most one photon per encoding mode and its internal copy).
        t_matrix: ``(N_reach, nA * nB * nA * nB)`` static pull-back tensor
            ``T[n, (ka kb), (la lb)] = conj(U[n, k]) U[n, l]`` on the reachable output states.
        counts: ``(N_reach, J)`` photons reaching each detector for each output state.
        fire: ``(P, J)`` bool, detectors that must fire for each accepted pattern.
        extra: ``(C, J)`` noise photons added to each detector in each multi-photon case;
            ``extra_from``: ``(C, 2)`` where A's and B's noise photon went (``J`` = nowhere).
        sign_a: ``(P, 2)`` the Pauli-frame correction (Z on ion A for Psi-) as signs.
        max_count: largest photon number a detector can see.
    """

    analyzer: BellStateAnalyzer
    node_bound: int
    node_a_register: FockRegister
    node_b_register: FockRegister
    register: FockRegister
    bs_unitary: np.ndarray
    keep_a: np.ndarray
    keep_b: np.ndarray
    t_matrix: np.ndarray
    counts: np.ndarray
    all_counts: np.ndarray
    fire: np.ndarray
    extra: np.ndarray
    extra_from: np.ndarray
    sign_a: np.ndarray
    max_count: int


def _node_modes(encoding: str) -> tuple[str, ...]:
    return bell_state_analyzer(encoding).modes


def _bs_network(modes_a: tuple[str, ...], modes_b: tuple[str, ...]) -> np.ndarray:
    """Mode unitary on ``a_* + b_*``: a 50:50 beam splitter on each (a_l, b_l) pair; c_l sits at a_l, d_l at b_l."""
    bs = np.asarray(beam_splitter_unitary(0.5, 0.0))
    labels = [m[2:] for m in modes_a]
    n = len(modes_a) + len(modes_b)
    u = np.zeros((n, n), complex)
    na = len(modes_a)
    for i, lab in enumerate(labels):
        j = na + [m[2:] for m in modes_b].index(lab)
        u[i, i], u[i, j] = bs[0, 0], bs[0, 1]
        u[j, i], u[j, j] = bs[1, 0], bs[1, 1]
    return u


@cache
def link_structure(encoding: str, kind: str) -> LinkStructure:
    """The static structure of a link with ``encoding`` and detector ``kind`` (cached)."""
    with jax.ensure_compile_time_eval():
        return _build_structure(encoding, kind)


def _build_structure(encoding: str, kind: str) -> LinkStructure:
    an = bell_state_analyzer(encoding)
    nb = 2 if encoding == "time_bin" else 1
    base = an.modes
    perp = tuple(m + PERP_SUFFIX for m in base)
    reg_a = FockRegister("photon", base + perp, nb)
    reg_b = FockRegister("photon", base + perp, nb)
    modes_a = tuple("a_" + m for m in reg_a.modes)
    modes_b = tuple("b_" + m for m in reg_b.modes)
    reg = FockRegister("photons", modes_a + modes_b, 2 * nb)

    def allowed(r: FockRegister, allow_perp: bool) -> np.ndarray:
        occ = r.basis
        k = len(base)
        per_mode = occ[:, :k] + occ[:, k:]
        ok = np.all(per_mode <= 1, axis=1)
        if not allow_perp:
            ok &= np.all(occ[:, k:] == 0, axis=1)
        return np.nonzero(ok)[0]

    keep_a, keep_b = allowed(reg_a, False), allowed(reg_b, True)
    prod = np.array([[reg.index(tuple(reg_a.basis[i]) + tuple(reg_b.basis[j])) for j in keep_b] for i in keep_a])
    u = _bs_network(modes_a, modes_b)
    u_hat = np.asarray(jax.jit(lift_unitary, static_argnums=0)(reg, u))
    u_sub = u_hat[:, prod.reshape(-1)]  # (N_g, nA * nB)
    reach = np.nonzero(np.any(np.abs(u_sub) > 1e-14, axis=1))[0]
    u_sub = u_sub[reach]
    t = np.einsum("nk,nl->nkl", u_sub.conj(), u_sub).reshape(len(reach), -1)
    if np.max(np.abs(t.imag)) < 1e-14:
        t = t.real

    # detector j watches output modes; c_<m> sits at a_<m>, d_<m> at b_<m>, perp copies included
    names = list(reg.modes)
    det_cols = []
    for _, outs in an.detectors:
        cols = []
        for o in outs:
            port, lab = o.split("_", 1)
            src = "a_" if port == "c" else "b_"
            cols += [names.index(src + lab), names.index(src + lab + PERP_SUFFIX)]
        det_cols.append(cols)
    all_counts = np.stack([reg.basis[:, c].sum(axis=1) for c in det_cols], axis=1)
    counts = all_counts[reach]
    j = len(an.detectors)
    fire = np.array([[d in p[1] for d in an.detector_names] for p in an.patterns], dtype=bool)
    extra, extra_from = [], []
    for da in range(j + 1):  # j means "nowhere"
        for db in range(j + 1):
            e = np.zeros(j, dtype=np.int64)
            if da < j:
                e[da] += 1
            if db < j:
                e[db] += 1
            extra.append(e)
            extra_from.append((da, db))
    sign_a = np.array([[1.0, -1.0] if p[2] == "psi-" else [1.0, 1.0] for p in an.patterns])
    return LinkStructure(
        analyzer=an, node_bound=nb, node_a_register=reg_a, node_b_register=reg_b, register=reg,
        bs_unitary=u, keep_a=keep_a, keep_b=keep_b, t_matrix=t, counts=counts, all_counts=all_counts,
        fire=fire, extra=np.array(extra), extra_from=np.array(extra_from), sign_a=sign_a,
        max_count=int(all_counts.max()) + 2,
    )


# ----------------------------------------------------------------------------- node states
def path_transmission(node: NodeParams, link: Link) -> jax.Array:
    """End-to-end probability that an emitted photon reaches the detectors (before detector efficiency).

    ``collection x fiber x (1 - exp(-window/lifetime))``, times ``excitation_probability`` for two_photon.
    """
    eta = (
        node.collection_efficiency
        * fiber_transmission(node.fiber_length_km, node.fiber_attenuation_db_per_km)
        * window_acceptance(link.detection.window_ns, node.photon_lifetime_ns)
    )
    if link.protocol == "two_photon":
        eta = eta * node.excitation_probability
    return eta


def node_state(link: Link, which: str) -> DensityMatrix:
    """One node's ion-photon state with every node-level imperfection applied.

    Returns a DensityMatrix on ``Space(Qudit("ion"), FockRegister("photon", modes + perp copies, bound))``
    (node A's internal copies are empty: A's wavepacket is the reference).
    """
    if which not in ("a", "b"):
        raise ValueError(f"Argument `which` must be 'a' or 'b', got {which!r}.")
    node = link.node_a if which == "a" else link.node_b
    dtype = jnp.result_type(node.collection_efficiency)
    if link.protocol == "single_photon":
        st = bright_state_source(node.excitation_probability, dtype=dtype)
    else:
        st = ion_photon_state(link.encoding, time_bin_pulse_error=node.time_bin_pulse_error, dtype=dtype)
    st = apply_ion_photon_fidelity(st, node.ion_photon_fidelity)
    wait = herald_wait_s(node.fiber_length_km)
    st = apply_superop(st, memory_decay_superop(wait, jnp.inf, node.qubit_t2_s), on="ion")
    st = apply_emission_loss(st, path_transmission(node, link))
    if which == "b":
        st = apply_mode_mismatch(st, link.interference.mode_overlap)
        if link.protocol == "single_photon":
            st = _phase_noise(st, link.interference.phase_noise_rad)
    else:
        reg = st.space["photon"]
        st = extend_register(st, "photon", tuple(m + PERP_SUFFIX for m in reg.modes))
    return st


def _phase_noise(st: DensityMatrix, rms_rad: jax.Array) -> DensityMatrix:
    """Gaussian optical phase (rms ``rms_rad``) on node B's path: rho[t,t'] *= exp(-s^2 (n - n')^2 / 2)."""
    n = st.space["photon"].basis.sum(axis=1)
    diff2 = (n[:, None] - n[None, :]) ** 2
    factor = jnp.exp(-0.5 * rms_rad**2 * diff2)
    full = jnp.kron(jnp.ones((2, 2)), factor)
    return DensityMatrix(st.data * full.astype(st.data.dtype), st.space)


# ----------------------------------------------------------------------------- detection weights
def _detector_table(link: Link, max_count: int) -> tuple[jax.Array, jax.Array]:
    """``(P(dark | k), P(fire | k))`` for ``k = 0..max_count`` photons at one detector."""
    det = link.detection
    p_dark = dark_click_probability(det.dark_count_rate_hz, det.window_ns)
    if det.kind == "pnr":
        probs = pnr_count_probabilities(max_count, det.efficiency, p_dark, k_max=2)
        return probs[0], probs[1]
    k = np.arange(max_count + 1)
    none = (1.0 - p_dark) * (1.0 - det.efficiency) ** k
    return none, 1.0 - none


def _detector_scalars(link: Link, max_count: int) -> tuple[list[jax.Array], list[jax.Array]]:
    """The entries of :func:`_detector_table` as lists of scalars (threshold: powers by repeated products)."""
    det = link.detection
    if det.kind == "pnr":
        dark, fire = _detector_table(link, max_count)
        return [dark[k] for k in range(max_count + 1)], [fire[k] for k in range(max_count + 1)]
    p_dark = dark_click_probability(det.dark_count_rate_hz, det.window_ns)
    r = 1.0 - det.efficiency
    powers = [jnp.ones_like(r), r]
    while len(powers) <= max_count:
        powers.append(powers[-1] * r)
    dark = [(1.0 - p_dark) * x for x in powers[: max_count + 1]]
    return dark, [1.0 - d for d in dark]


def _noise_coefficients(link: Link, n_detectors: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Weights of no, one and two multi-photon noise photons, per ordered choice of their detectors.

    A's (B's) noise photon reaches the detectors with probability ``q_A`` (``q_B``), each detector
    equally likely. With ``G_s`` the click-pattern weight summed over the ordered ways ``s`` noise
    photons can land (see :func:`_class_weights`), the weight is ``c0 G_0 + c1 G_1 + c2 G_2``.
    """
    qa = link.node_a.multi_photon_probability * path_transmission(link.node_a, link)
    qb = link.node_b.multi_photon_probability * path_transmission(link.node_b, link)
    j = n_detectors
    return (1.0 - qa) * (1.0 - qb), (qa * (1.0 - qb) + (1.0 - qa) * qb) / j, 2.0 * qa * qb / j**2


def _poly_mul(a: tuple, b: tuple) -> tuple:
    """Product of two polynomials ``x0 + x1 z + x2 z^2`` truncated at ``z^2``."""
    return a[0] * b[0], a[0] * b[1] + a[1] * b[0], a[0] * b[2] + a[1] * b[1] + a[2] * b[0]


def _class_weights(link: Link, st: LinkStructure, classes: np.ndarray) -> jax.Array:
    """``w[p, u]``: weight of accepted pattern ``p`` on output states whose detectors see ``classes[u]`` photons.

    Exact mixture over where the multi-photon noise photons went: detector ``j`` contributes the
    polynomial ``T(k) + T(k+1) z + T(k+2) z^2 / 2`` (``T`` its fire or dark table); the product over
    detectors, truncated at ``z^2``, holds in its ``z^s`` coefficient the sum over the ordered
    placements of ``s`` noise photons (divided by ``s!``). Written out per pattern and class on
    scalars (shared sub-products computed once): every operation is elementwise under ``vmap``, so
    the reverse pass has no gathers or scatters. Shape ``(P, U)``.
    """
    dark, fire = _detector_scalars(link, st.max_count)
    tables = (dark, fire)
    n_pat, n_det = st.fire.shape
    c = _noise_coefficients(link, n_det)
    memo: dict[tuple, tuple] = {}

    def poly(key: tuple) -> tuple:
        if key not in memo:
            if len(key) == 1:
                f, k = key[0]
                t = tables[f]
                memo[key] = (t[k], t[k + 1], 0.5 * t[k + 2])
            else:
                h = len(key) // 2
                memo[key] = _poly_mul(poly(key[:h]), poly(key[h:]))
        return memo[key]

    out = []
    for p in range(n_pat):
        for row in classes:
            g = poly(tuple((int(st.fire[p, j]), int(row[j])) for j in range(n_det)))
            out.append(c[0] * g[0] + c[1] * g[1] + c[2] * g[2])
    return jnp.stack(out).reshape(n_pat, len(classes))


def pattern_weights(link: Link, st: LinkStructure, counts: np.ndarray) -> jax.Array:
    """Diagonal POVM weights ``w[p, n]`` of each accepted pattern on output states with detector ``counts``.

    Averages over where the multi-photon noise photons of A and B went (exact mixture).
    """
    counts = np.asarray(counts)
    classes, inv = np.unique(counts, axis=0, return_inverse=True)
    w = _class_weights(link, st, classes)  # (P, U)
    expand = np.zeros((len(classes), len(counts)))
    expand[inv.reshape(-1), np.arange(len(counts))] = 1.0
    return w @ jnp.asarray(expand, w.dtype)


# ----------------------------------------------------------------------------- fast Heisenberg plan
_EXPS = 5  # monomial exponents: (sqrt(eta), 1 - eta, sqrt(M), 1 - M, exp(-phase_rms^2 / 2))


@dataclass(frozen=True, eq=False)
class _NodePlan:
    """Static plan of the entries of one node's state that the herald needs.

    The node's photonic channel (loss ``eta`` on every mode, then for node B the wavepacket split with
    overlap ``M`` and the optical phase noise) maps the source state entry by entry with coefficients
    that are monomials in ``sqrt(eta), 1 - eta, sqrt(M), 1 - M, g``. Entry ``e`` of the result is
    ``sum_k smat[k, e] * mono[m_k] * rho_ion[s_k]`` (``rho_ion``: the source after the ion-only maps).

    Attributes:
        d0: dimension of the source's photon register.
        exps: ``(M, 5)`` exponents of the monomials (powers of sqrt(eta), 1-eta, sqrt(M), 1-M, g).
        mono_onehot: ``(M, K)`` monomial of each term; src_onehot: ``(d0 * d0, K)`` source entry of each term.
        smat: ``(K, N)`` coefficient of each term in each needed entry.
    """

    d0: int
    exps: np.ndarray
    mono_onehot: np.ndarray
    src_onehot: np.ndarray
    smat: np.ndarray


@dataclass(frozen=True, eq=False)
class _FastPlan:
    """Static tensors of the fast Heisenberg path (built once per encoding and detector kind).

    Attributes:
        classes: ``(U, J)`` the distinct detector photon counts of the reachable output states.
        t_cls: ``(U, Na * Nb)`` pull-back tensor summed over each class, on the ``Na`` (``Nb``)
            entries ``(row, col)`` of node A's (B's) photon register it touches.
        node_a, node_b: how to compute those entries (:class:`_NodePlan`).
        tail: ``(P * 32, 2 P + 32)`` from the heralded blocks to the pattern probabilities,
            unnormalized pattern fidelities and the corrected summed state (real, imaginary parts).
        offdiag_a: ``(P * 32,)`` 1 where ion A's indices differ (frequency encoding dephasing).
    """

    classes: np.ndarray
    t_cls: np.ndarray
    node_a: _NodePlan
    node_b: _NodePlan
    tail: np.ndarray
    offdiag_a: np.ndarray


def _compose(cur: dict, trans: dict) -> dict:
    new: dict = defaultdict(lambda: defaultdict(float))
    for mid, terms in cur.items():
        for dst, e2, c2 in trans.get(mid, ()):
            for (src, e1), c1 in terms.items():
                new[dst][(src, tuple(a + b for a, b in zip(e1, e2)))] += c1 * c2
    return new


def _node_plan(st: LinkStructure, encoding: str, which: str, entries: list[tuple[int, int]]) -> _NodePlan:
    """Follow :func:`node_state`'s photonic maps symbolically on the source register (see :class:`_NodePlan`)."""
    reg0 = FockRegister("photon", st.analyzer.modes, st.node_bound)
    reg1 = st.node_a_register if which == "a" else st.node_b_register
    d0 = reg0.dim
    zero = (0,) * _EXPS
    cur: dict = {(r, c): {((r, c), zero): 1.0} for r in range(d0) for c in range(d0)}
    for k in range(reg0.n_modes):  # apply_emission_loss: pure loss on every mode
        tgt, coef, n, valid = _loss_plan(reg0.n_modes, reg0.n_max, k)
        trans: dict = defaultdict(list)
        for l in range(reg0.n_max + 1):
            src = np.nonzero(valid[l])[0]
            for i in src:
                for j in src:
                    e = (int(n[i] + n[j] - 2 * l), l, 0, 0, 0)
                    trans[(int(i), int(j))].append(((int(tgt[l, i]), int(tgt[l, j])), e, coef[l, i] * coef[l, j]))
        cur = _compose(cur, trans)
    emb = register_embedding(reg0, reg1)  # A: extend_register; B: the first step of apply_mode_mismatch
    cur = {(int(emb[r]), int(emb[c])): terms for (r, c), terms in cur.items()}
    if which == "b":
        modes = st.analyzer.modes
        src_m = tuple(reg1.mode_index(m) for m in modes)
        dst_m = tuple(reg1.mode_index(m + PERP_SUFFIX) for m in modes)
        sr, sc, dr, dc, coef, a, b = _split_plan(reg1, src_m, dst_m)
        trans = defaultdict(list)
        for i in range(len(sr)):
            e = (0, 0, int(round(2 * a[i])), int(round(b[i])), 0)
            trans[(int(sr[i]), int(sc[i]))].append(((int(dr[i]), int(dc[i])), e, float(coef[i])))
        cur = _compose(cur, trans)
        if encoding == "single_photon":  # _phase_noise: exp(-s^2 (n - n')^2 / 2) = g^((n - n')^2)
            tot = reg1.basis.sum(axis=1)
            trans = {key: [(key, (0, 0, 0, 0, int((tot[key[0]] - tot[key[1]]) ** 2)), 1.0)] for key in cur}
            cur = _compose(cur, trans)
    terms = sorted({(src, e) for dst in entries for (src, e), v in cur.get(dst, {}).items() if v != 0.0})
    exps = sorted({e for _, e in terms})
    smat = np.zeros((len(terms), len(entries)))
    for col, dst in enumerate(entries):
        for (src, e), v in cur.get(dst, {}).items():
            if v != 0.0:
                smat[terms.index((src, e)), col] = v
    mono_onehot = np.zeros((len(exps), len(terms)))
    src_onehot = np.zeros((d0 * d0, len(terms)))
    for k, (src, e) in enumerate(terms):
        mono_onehot[exps.index(e), k] = 1.0
        src_onehot[src[0] * d0 + src[1], k] = 1.0
    return _NodePlan(d0, np.array(exps, dtype=np.int64).reshape(-1, _EXPS), mono_onehot, src_onehot, smat)


@cache
def _fast_plan(encoding: str, kind: str) -> _FastPlan:
    st = link_structure(encoding, kind)
    classes, inv = np.unique(st.counts, axis=0, return_inverse=True)
    na, nb = len(st.keep_a), len(st.keep_b)
    t = st.t_matrix.reshape(-1, na, nb, na, nb)  # [n, x, y, u, v]: E[(x y), (u v)]
    tc = np.zeros((len(classes),) + t.shape[1:], t.dtype)
    np.add.at(tc, inv.reshape(-1), t)
    tc = np.where(np.abs(tc) < 1e-14, 0.0, tc).transpose(0, 3, 1, 4, 2)  # [u, (u x) of A, (v y) of B]
    used_a = sorted(zip(*np.nonzero(np.any(tc != 0, axis=(0, 3, 4)))))
    used_b = sorted(zip(*np.nonzero(np.any(tc != 0, axis=(0, 1, 2)))))
    ia, ib = np.array(used_a), np.array(used_b)
    t_cls = tc[:, ia[:, 0], ia[:, 1]][:, :, ib[:, 0], ib[:, 1]].reshape(len(classes), -1)
    ent_a = [(int(st.keep_a[r]), int(st.keep_a[c])) for r, c in used_a]
    ent_b = [(int(st.keep_b[r]), int(st.keep_b[c])) for r, c in used_b]

    # tail: blocks out4[p, (k l), d, (i j)] (d = real, imaginary) -> probs, unnorm. fidelities, state
    n_pat = st.fire.shape[0]
    psi = bell_state("psi+")
    tail = np.zeros((n_pat, 4, 2, 4, 2 * n_pat + 32))
    offdiag = np.zeros((n_pat, 4, 2, 4))
    for p in range(n_pat):
        for i, j, k, l in np.ndindex(2, 2, 2, 2):
            kl, ij, r, c = 2 * k + l, 2 * i + j, 2 * i + k, 2 * j + l
            sign = st.sign_a[p, i] * st.sign_a[p, j]
            offdiag[p, kl, :, ij] = float(i != j)
            coef = np.conj(psi[r]) * psi[c] * sign  # Re(coef * (x + i y)) = Re(coef) x - Im(coef) y
            tail[p, kl, 0, ij, n_pat + p] += coef.real
            tail[p, kl, 1, ij, n_pat + p] -= coef.imag
            if r == c:
                tail[p, kl, 0, ij, p] += 1.0
            tail[p, kl, 0, ij, 2 * n_pat + 4 * r + c] += sign
            tail[p, kl, 1, ij, 2 * n_pat + 16 + 4 * r + c] += sign
    return _FastPlan(
        classes=classes, t_cls=t_cls,
        node_a=_node_plan(st, encoding, "a", ent_a), node_b=_node_plan(st, encoding, "b", ent_b),
        tail=tail.reshape(n_pat * 32, -1), offdiag_a=offdiag.reshape(-1),
    )


# ----------------------------------------------------------------------------- fast Heisenberg evaluation
def _powers(x: jax.Array, n: int) -> list[jax.Array]:
    out = [jnp.ones_like(x)]
    for _ in range(n):
        out.append(out[-1] * x)
    return out


def _monomials(exps: np.ndarray, eta: jax.Array, overlap: jax.Array, g: jax.Array) -> jax.Array:
    """Values of the monomials ``sqrt(eta)^a (1-eta)^b sqrt(M)^c (1-M)^d g^e`` (integer powers where even)."""
    top = exps.max(axis=0) if len(exps) else np.zeros(_EXPS, np.int64)
    eta_p, oeta_p = _powers(eta, int(top[0]) // 2), _powers(1.0 - eta, int(top[1]))
    m_p, om_p, g_p = _powers(overlap, int(top[2]) // 2), _powers(1.0 - overlap, int(top[3])), _powers(g, int(top[4]))
    sq_eta = jnp.sqrt(eta) if np.any(exps[:, 0] % 2) else None
    sq_m = jnp.sqrt(overlap) if np.any(exps[:, 2] % 2) else None
    vals = []
    for a, b, c, d, e in exps:
        v = eta_p[a // 2] * oeta_p[b] * m_p[c // 2] * om_p[d] * g_p[e]
        if a % 2:
            v = v * sq_eta
        if c % 2:
            v = v * sq_m
        vals.append(v)
    return jnp.stack(vals)


def _source_state(link: Link, node: NodeParams) -> DensityMatrix:
    dtype = jnp.result_type(node.collection_efficiency)
    if link.protocol == "single_photon":
        return bright_state_source(node.excitation_probability, dtype=dtype)
    return ion_photon_state(link.encoding, time_bin_pulse_error=node.time_bin_pulse_error, dtype=dtype)


def _node_entries(link: Link, which: str, plan: _NodePlan) -> jax.Array:
    """The entries of :func:`node_state` that the herald needs: real array ``(2, 4, N)``.

    Axis 0: real and imaginary part; axis 1: ion indices ``(i, j)`` of ``rho[i, r, j, c]``; axis 2:
    photon entries ``(r, c)`` in the plan's order. Same numbers as :func:`node_state`, computed from
    the source state by static matrix products.
    """
    node = link.node_a if which == "a" else link.node_b
    rho0 = _source_state(link, node).data
    real = rho0.real.dtype
    # ion-only maps of node_state: Z error (coherences x (1 - 2 (1 - F))), dephasing while waiting
    coh = (1.0 - 2.0 * (1.0 - node.ion_photon_fidelity)) * jnp.exp(-herald_wait_s(node.fiber_length_km) / node.qubit_t2_s)
    d0 = plan.d0
    t = rho0.reshape(2, d0, 2, d0).transpose(0, 2, 1, 3).reshape(4, d0 * d0)  # [(i j), (r c)]
    t = jnp.stack([t.real, t.imag]).reshape(8, d0 * d0)
    ion = jnp.stack([jnp.ones_like(coh), coh, coh, jnp.ones_like(coh)]).astype(real)
    t = t * jnp.tile(ion, 2)[:, None]
    eta = path_transmission(node, link).astype(real)
    overlap = jnp.asarray(link.interference.mode_overlap, real)
    g = jnp.exp(-0.5 * jnp.asarray(link.interference.phase_noise_rad, real) ** 2)
    mono = _monomials(plan.exps, eta, overlap, g)
    feat = (t @ jnp.asarray(plan.src_onehot, real)) * (mono @ jnp.asarray(plan.mono_onehot, real))
    return (feat @ jnp.asarray(plan.smat, real)).reshape(2, 4, -1)


def _fast_heisenberg(link: Link, st: LinkStructure) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Pattern probabilities ``(P,)``, unnormalized pattern fidelities ``(P,)`` and the corrected, summed
    (unnormalized) heralded state ``(4, 4)``, by the Heisenberg picture on the entries that matter."""
    plan = _fast_plan(link.encoding, link.detection.kind)
    ra = _node_entries(link, "a", plan.node_a)  # (2, 4, Na): [re/im, (i j), a]
    rb = _node_entries(link, "b", plan.node_b)  # (2, 4, Nb)
    real = ra.dtype
    w = _class_weights(link, st, plan.classes).astype(real)  # (P, U)
    n_pat = w.shape[0]
    e = (w @ jnp.asarray(plan.t_cls, real)).reshape(n_pat, ra.shape[-1], rb.shape[-1])  # (P, Na, Nb)
    y = jnp.einsum("pab,ckb->pack", e, rb)  # sum over B's entries: (P, Na, 2, 4)
    big = jnp.stack([jnp.stack([ra[0], ra[1]]), jnp.stack([-ra[1], ra[0]])])  # [c, d, (i j), a]
    out4 = jnp.einsum("pack,cdia->pkdi", y, big)  # (P, 4 (k l), 2, 4 (i j)): real and imaginary parts
    flat = out4.reshape(-1)
    if link.encoding == "frequency":
        df = link.interference.frequency_separation_hz
        sigma = link.detection.timing_jitter_ps * 1e-12
        coherence = jnp.exp(-((2 * jnp.pi * df * sigma) ** 2)).astype(real)
        mask = jnp.asarray(plan.offdiag_a, real)
        flat = flat * (1.0 + mask * (coherence - 1.0))
    res = flat @ jnp.asarray(plan.tail, real)
    probs, unnorm_f, state = res[:n_pat], res[n_pat : 2 * n_pat], res[2 * n_pat :]
    state = jax.lax.complex(state[:16], state[16:]).reshape(4, 4)
    return probs, unnorm_f, state


# ----------------------------------------------------------------------------- simulate
def _heralded_heisenberg(link: Link, st: LinkStructure, rho_a: DensityMatrix, rho_b: DensityMatrix) -> jax.Array:
    w = pattern_weights(link, st, st.counts)  # (P, N)
    na, nb = len(st.keep_a), len(st.keep_b)
    real = rho_a.data.real.dtype
    tm = jnp.asarray(st.t_matrix, dtype=real if np.isrealobj(st.t_matrix) else rho_a.data.dtype)
    e = w.astype(real) @ tm
    e = e.reshape(-1, na, nb, na, nb)
    da, db = rho_a.space["photon"].dim, rho_b.space["photon"].dim
    ta = rho_a.data.reshape(2, da, 2, da)[:, st.keep_a][:, :, :, st.keep_a]
    tb = rho_b.data.reshape(2, db, 2, db)[:, st.keep_b][:, :, :, st.keep_b]
    # Tr_ph[E rho]: E[k, l] pairs with rho's photon row index l and column index k
    out = jnp.einsum("pxyuv,iujx,kvly->pikjl", e.astype(ta.dtype), ta, tb, optimize="optimal")
    return out.reshape(-1, 4, 4)


def _heralded_schrodinger(link: Link, st: LinkStructure, rho_a: DensityMatrix, rho_b: DensityMatrix) -> jax.Array:
    def rename(rho: DensityMatrix, prefix: str, ion: str) -> DensityMatrix:
        reg = rho.space["photon"]
        sp = Space(Qudit(ion), FockRegister(f"photon_{prefix}", tuple(f"{prefix}_{m}" for m in reg.modes), reg.n_max))
        return DensityMatrix(rho.data, sp)

    joint = tensor(rename(rho_a, "a", "ion_a"), rename(rho_b, "b", "ion_b"))
    joint = merge_registers(joint, "photon_a", "photon_b", "photons")
    joint = joint.permute(("ion_a", "ion_b", "photons"))
    reg = joint.space["photons"]
    assert reg == st.register, (reg, st.register)
    joint = joint.apply_unitary(lift_unitary(reg, jnp.asarray(st.bs_unitary, joint.data.dtype)), on="photons")
    w = pattern_weights(link, st, st.all_counts)  # (P, D)
    outs = []
    for p in range(w.shape[0]):
        prob, ions = joint.herald(w[p], on="photons")
        outs.append(ions.data * prob)
    return jnp.stack(outs)


def _corrected_patterns(link: Link, st: LinkStructure, per: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """From per-pattern heralded blocks ``(P, 4, 4)``: probabilities, unnormalized fidelities, summed state."""
    if link.encoding == "frequency":
        per = _frequency_phase(link, per)
    # Pauli-frame correction to Psi+: Z on ion A for Psi- patterns (sign of ion A's index)
    s = jnp.asarray(st.sign_a, per.real.dtype)
    sa = jnp.repeat(s, 2, axis=1)  # ion A index is the slow one of (ion_a, ion_b)
    per = per * (sa[:, :, None] * sa[:, None, :]).astype(per.dtype)
    probs = jnp.real(jnp.trace(per, axis1=-2, axis2=-1))
    target = jnp.asarray(bell_state("psi+"), per.dtype)
    unnorm_f = jnp.real(jnp.einsum("i,pij,j->p", jnp.conj(target), per, target))
    return probs, unnorm_f, jnp.sum(per, axis=0)


def _simulate(link: Link, picture: str = "heisenberg") -> LinkResult:
    st = link_structure(link.encoding, link.detection.kind)
    if picture == "heisenberg":
        probs, unnorm_f, summed = _fast_heisenberg(link, st)
    else:
        rho_a, rho_b = node_state(link, "a"), node_state(link, "b")
        per = _heralded_schrodinger(link, st, rho_a, rho_b)
        probs, unnorm_f, summed = _corrected_patterns(link, st, per)
    summed = summed.astype(complex_dtype(probs.dtype))
    safe = jnp.where(probs > 0, probs, 1.0)
    pat_f = jnp.where(probs > 0, unnorm_f / safe, 0.0)
    total = jnp.sum(probs)
    safe_total = jnp.where(total > 0, total, 1.0)
    state = summed / safe_total
    fid = jnp.sum(unnorm_f) / safe_total
    return LinkResult(
        fidelity=fid,
        success_probability=total,
        rate_hz=link.attempt_rate_hz * total,
        state=DensityMatrix(state, _ION_SPACE),
        pattern_probabilities=probs,
        pattern_fidelities=pat_f,
        attempt_rate_hz=link.attempt_rate_hz,
        pattern_names=tuple(p[0] for p in st.analyzer.patterns),
        pattern_targets=tuple(p[2] for p in st.analyzer.patterns),
        target="psi+",
    )


def _frequency_phase(link: Link, per: jax.Array) -> jax.Array:
    """Frequency encoding: the heralded phase ``2 pi df (t_a - t_b)`` is corrected from the recorded
    detection times up to the detectors' timing jitter; the residual Gaussian phase (rms
    ``2 pi df sqrt(2) sigma_t``) dephases the pair: coherence ``exp(-(2 pi df sigma_t)^2)``."""
    df = link.interference.frequency_separation_hz
    sigma = link.detection.timing_jitter_ps * 1e-12
    coherence = jnp.exp(-((2 * jnp.pi * df * sigma) ** 2))
    # Z errors on ion A: coherences between |0.> and |1.> scale by `coherence`
    rho = apply_superop(DensityMatrix(per, _ION_SPACE), dephasing_superop((1.0 - coherence) / 2.0), on="ion_a")
    return rho.data


_simulate_jit = jax.jit(_simulate, static_argnames=("picture",))


def simulate(link: Link | dict | str, picture: str = "heisenberg") -> LinkResult:
    """Simulate one heralded link: its heralded ion-ion state, success probability, rate and fidelity.

    Args:
        link: a :class:`~ionjax.config.Link` (or a dict / TOML path, passed to
            :func:`~ionjax.config.load_link`). Its leaves may be traced: ``simulate`` works under
            ``jit``, ``vmap`` and ``grad``.
        picture: ``"heisenberg"`` (default; detection effects pulled back onto the photonic factor,
            fast) or ``"schrodinger"`` (the joint state propagated through the optics). Same numbers.

    Returns:
        :class:`~ionjax.protocols.result.LinkResult`; unbatched (batch with ``jax.vmap``).

    Example:
        >>> import ionjax as ij
        >>> res = ij.simulate(ij.load_link({"node_a": {"collection_efficiency": 0.3},
        ...                                 "node_b": {"collection_efficiency": 0.2},
        ...                                 "detection": {"window_ns": 1e5}}))
        >>> round(float(res.success_probability), 6)   # eta_A eta_B / 2
        0.03
    """
    if picture not in _PICTURES:
        raise ValueError(f"Argument `picture` must be one of {_PICTURES}, got {picture!r}.")
    if not isinstance(link, Link):
        from ..config import load_link

        link = load_link(link)
    return _simulate_jit(link, picture=picture)

