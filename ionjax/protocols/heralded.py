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
  ``E' = U^dag diag(w) U``, with a static tensor ``T[n] = U^dag |n><n| U`` built once per
  structure, and then contracted with the two node states; the ion indices are touched
  only at the end. The default evaluation (:func:`_fast_heisenberg`) goes further, with
  static plans built once per encoding and detector kind: output states are grouped by
  the photon counts their detectors see (the weights only depend on those), only the
  structurally nonzero entries of ``T`` and of the two node states are used (each node
  entry is a sum of monomials in ``sqrt(eta), 1 - eta, sqrt(M), 1 - M`` times a source
  entry, followed symbolically through the same loss and split plans :func:`node_state`
  uses), and the whole computation is written out as a few thousand scalar operations:
  under ``vmap`` XLA fuses them into a handful of elementwise loops over the batch, in
  both the forward and the reverse pass (gathers, scatters and tiny batched matrix
  products dominate both on CPU otherwise). It applies when every amplitude is real (all
  current encodings); otherwise the general contraction (:func:`_heralded_heisenberg`)
  runs.
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
from ..components.detectors import _pnr_lists, _threshold_lists, mean_dark_counts, window_acceptance
from ..components.fiber import fiber_transmission, herald_wait_s
from ..components.frequency import frequency_phase_coherence
from ..components.sources import (
    PERP_SUFFIX,
    apply_emission_loss,
    apply_ion_photon_fidelity,
    apply_mode_mismatch,
    bright_state_source,
    ion_photon_state,
)
from ..config import Link, NodeParams
from ..core.fock import _loss_plan, beam_splitter_unitary, lift_unitary, lift_unitary_numpy
from ..core.metrics import bell_state
from ..core.registers import _split_plan, extend_register, merge_registers, register_embedding
from ..core.space import FockRegister, Qudit, Space
from ..core.state import DensityMatrix, _sqrt0, complex_dtype, tensor
from ..core.superop import apply_superop, dephasing_superop, memory_decay_superop
from .result import LinkResult, LinkStatus

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

    # int32 index constants: JAX caches a NumPy constant by identity, so an int64 index array used once with
    # x64 enabled breaks indexing later under ``jax.enable_x64(False)``
    keep_a, keep_b = allowed(reg_a, False).astype(np.int32), allowed(reg_b, True).astype(np.int32)
    prod = np.array([[reg.index(tuple(reg_a.basis[i]) + tuple(reg_b.basis[j])) for j in keep_b] for i in keep_a])
    u = _bs_network(modes_a, modes_b)
    u_hat = lift_unitary_numpy(reg, u)  # static structure: NumPy, not dozens of eagerly lowered JAX ops
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
def _detector_lists(link: Link, max_count: int) -> tuple[list[jax.Array], list[jax.Array]]:
    """``(P(dark | k), P(fire | k))`` for ``k = 0..max_count`` photons at one detector, as scalars.

    "dark": no click (threshold) / no count (pnr); "fire": a click / exactly one count. From the
    mean dark count ``R W`` (never from ``p_dark``, which rounds to 1 for large ``R W``), so every
    entry is accurate and has finite gradients for any dark-count rate and window
    (:mod:`ionjax.components.detectors`).
    """
    det = link.detection
    mu = mean_dark_counts(det.dark_count_rate_hz, det.window_ns)
    if det.kind == "pnr":
        rows = _pnr_lists(max_count, det.efficiency, mu, 2)
        return rows[0], rows[1]
    return _threshold_lists(max_count, det.efficiency, jnp.exp(-mu), -jnp.expm1(-mu))


def _detector_table(link: Link, max_count: int) -> tuple[jax.Array, jax.Array]:
    """``(P(dark | k), P(fire | k))`` for ``k = 0..max_count`` photons at one detector (arrays)."""
    dark, fire = _detector_lists(link, max_count)
    return jnp.stack(dark), jnp.stack(fire)


def _detector_scalars(link: Link, max_count: int) -> tuple[list[jax.Array], list[jax.Array]]:
    """The entries of :func:`_detector_table` as lists of scalars."""
    return _detector_lists(link, max_count)


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


def _class_weight_scalars(link: Link, st: LinkStructure, classes: np.ndarray) -> list[list[jax.Array]]:
    """``w[p][u]``: weight of accepted pattern ``p`` on output states whose detectors see ``classes[u]`` photons.

    Exact mixture over where the multi-photon noise photons went: detector ``j`` contributes the
    polynomial ``T(k) + T(k+1) z + T(k+2) z^2 / 2`` (``T`` its fire or dark table); the product over
    detectors, truncated at ``z^2``, holds in its ``z^s`` coefficient the sum over the ordered
    placements of ``s`` noise photons (divided by ``s!``). Written out per pattern and class on
    scalars (shared sub-products computed once): every operation is elementwise under ``vmap``, so
    the reverse pass has no gathers or scatters. Nested lists ``[P][U]`` of scalars.
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
        row_out = []
        for row in classes:
            g = poly(tuple((int(st.fire[p, j]), int(row[j])) for j in range(n_det)))
            row_out.append(c[0] * g[0] + c[1] * g[1] + c[2] * g[2])
        out.append(row_out)
    return out


def _class_weights(link: Link, st: LinkStructure, classes: np.ndarray) -> jax.Array:
    """``w[p, u]`` of :func:`_class_weight_scalars` as an array ``(P, U)``, computed on arrays.

    The same polynomial product over detectors, vectorized: detector ``j``'s factor for every
    (pattern, class) is picked from the two tables by static one-hot products (no gathers), so the
    cost does not grow with the number of classes as the written-out scalar form does.
    """
    dark, fire = _detector_table(link, st.max_count)
    tab = jnp.stack([dark, fire])  # (2, K + 1)
    n_pat, n_det = st.fire.shape
    c = _noise_coefficients(link, n_det)
    k_top = tab.shape[1]
    g = None
    for j in range(n_det):
        coefs = []
        for s_ in range(3):
            onehot = np.zeros((k_top, len(classes)))
            onehot[classes[:, j] + s_, np.arange(len(classes))] = 1.0
            per_f = tab @ jnp.asarray(onehot, tab.dtype)  # (2, U): T_f(k_uj + s)
            v = jnp.where(st.fire[:, j][:, None], per_f[1][None, :], per_f[0][None, :])  # (P, U)
            coefs.append(0.5 * v if s_ == 2 else v)
        g = tuple(coefs) if g is None else _poly_mul(g, tuple(coefs))
    return c[0] * g[0] + c[1] * g[1] + c[2] * g[2]


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
# The default picture evaluates, for one point, only the numbers the result needs, as a few thousand
# scalar operations planned once per structure. Under ``vmap`` every one of them is an elementwise
# operation on the batch, which XLA fuses into a handful of loops; the reverse pass is the same kind
# of code (no gathers, scatters or tiny batched matrix products, which dominate both directions on
# CPU otherwise). Arrays are only ever stacked from scalars, never sliced into many scalars (the
# transpose of a slice is a full-size pad).
#: Largest structure (estimated scalar operations per point) written out on scalars; XLA's compile
#: time grows quickly beyond (the time-bin encoding, about 4400, uses the array form).
_SCALAR_OPS_MAX = 2500
_EXPS = 5  # monomial exponents: (sqrt(eta), 1 - eta, sqrt(M), 1 - M, exp(-phase_rms^2 / 2))


@dataclass(frozen=True, eq=False)
class _NodePlan:
    """Static plan of the entries of one node's state that the herald needs.

    The node's photonic channel (loss ``eta`` on every mode, then for node B the wavepacket split with
    overlap ``M`` and the optical phase noise) maps the source state entry by entry with coefficients
    that are monomials in ``sqrt(eta), 1 - eta, sqrt(M), 1 - M, g = exp(-rms^2 / 2)`` (the same
    static plans :func:`ionjax.core.apply_loss` and :func:`ionjax.core.split_modes` use). Entry ``e``
    of ion block ``(i, j)`` is ``ion(i, j) * sum_{(s, m, c) in terms[e]} c * mono[m] * src[(i, j), s]``.

    Attributes:
        src_index: ``(S,)`` flat indices into the source's ``(2 d0, 2 d0)`` density matrix of the source
            entries that can be nonzero, for each ion block ``(i, j)`` and photon entry.
        src_of: ``{(ij, (r, c)): position in src_index}``.
        exps: ``(M, 5)`` monomial exponents.
        terms: per needed entry ``e``: tuple of ``((r, c), m, coef)``.
    """

    d0: int
    src_index: np.ndarray
    src_of: dict
    exps: np.ndarray
    terms: tuple


@dataclass(frozen=True, eq=False)
class _FastPlan:
    """Static structure of the fast Heisenberg path (built once per encoding and detector kind).

    Attributes:
        classes: ``(U, J)`` the distinct detector photon counts of the reachable output states.
        pairs: the nonzero entries ``(a, b, ((u, T), ...))`` of the pull-back tensor summed over each
            class: ``E[p, a, b] = sum_u T w[p, u]`` on node A's (B's) needed entry ``a`` (``b``).
        node_a, node_b: how to compute those entries (:class:`_NodePlan`).
        scalar: True to write the contraction out on scalars (small structures); False to use the
            dense ``t_cls`` ``(U, Na * Nb)`` with small array products (bigger structures, where the
            written-out form would take XLA too long to compile).
    """

    classes: np.ndarray
    pairs: tuple
    node_a: _NodePlan
    node_b: _NodePlan
    scalar: bool
    t_cls: np.ndarray


def _compose(cur: dict, trans: dict) -> dict:
    new: dict = defaultdict(lambda: defaultdict(float))
    for mid, terms in cur.items():
        for dst, e2, c2 in trans.get(mid, ()):
            for (src, e1), c1 in terms.items():
                new[dst][(src, tuple(a + b for a, b in zip(e1, e2)))] += c1 * c2
    return new


def _source_support(encoding: str, d0: int) -> np.ndarray | None:
    """Bool ``(2 d0, 2 d0)``: entries of the source state that can be nonzero (two generic points),
    or None if the source is not real (the fast path assumes real amplitudes)."""
    rng = np.random.default_rng(12345)
    support = np.zeros((2 * d0, 2 * d0), bool)
    for _ in range(2):
        x = float(rng.uniform(0.05, 0.3))
        if encoding == "single_photon":
            rho = bright_state_source(x).data
        else:
            rho = ion_photon_state(encoding, time_bin_pulse_error=x).data
        rho = np.asarray(rho)
        if np.any(rho.imag != 0):
            return None
        support |= rho != 0
    return support


def _node_plan(st: LinkStructure, encoding: str, which: str, entries: list[tuple[int, int]],
               support: np.ndarray) -> _NodePlan:
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
    # source photon entries that are nonzero in some ion block
    ph_support = support.reshape(2, d0, 2, d0).any(axis=(0, 2))
    exps: list = []
    terms = []
    used_src: set = set()
    for dst in entries:
        row = []
        for (src, e), v in sorted(cur.get(dst, {}).items()):
            if v != 0.0 and ph_support[src]:
                if e not in exps:
                    exps.append(e)
                row.append((src, exps.index(e), float(v)))
                used_src.add(src)
        terms.append(tuple(row))
    src_of, src_index = {}, []
    for ij, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        for r, c in sorted(used_src):
            if support[i * d0 + r, j * d0 + c]:
                src_of[(ij, (r, c))] = len(src_index)
                src_index.append((i * d0 + r) * 2 * d0 + j * d0 + c)
    return _NodePlan(d0, np.array(src_index, np.int32), src_of, np.array(exps, np.int64).reshape(-1, _EXPS),
                     tuple(terms))


@cache
def _fast_plan(encoding: str, kind: str) -> _FastPlan | None:
    """The plan of the fast path, or None where it does not apply (complex amplitudes or optics)."""
    with jax.ensure_compile_time_eval():
        st = link_structure(encoding, kind)
        if not np.isrealobj(st.t_matrix):
            return None
        d0 = FockRegister("photon", st.analyzer.modes, st.node_bound).dim
        support = _source_support(encoding, d0)
    if support is None:
        return None
    classes, inv = np.unique(st.counts, axis=0, return_inverse=True)
    na, nb = len(st.keep_a), len(st.keep_b)
    t = st.t_matrix.reshape(-1, na, nb, na, nb)  # [n, x, y, u, v]: E[(x y), (u v)]
    tc = np.zeros((len(classes),) + t.shape[1:])
    np.add.at(tc, inv.reshape(-1), t)
    tc = np.where(np.abs(tc) < 1e-14, 0.0, tc).transpose(0, 3, 1, 4, 2)  # [u, u, x, v, y]: A's (u, x), B's (v, y)
    used_a = sorted(zip(*np.nonzero(np.any(tc != 0, axis=(0, 3, 4)))))
    used_b = sorted(zip(*np.nonzero(np.any(tc != 0, axis=(0, 1, 2)))))
    pairs = []
    for a, (ua, xa) in enumerate(used_a):
        for b, (vb, yb) in enumerate(used_b):
            col = tc[:, ua, xa, vb, yb]
            nz = tuple((int(u), float(col[u])) for u in np.nonzero(col)[0])
            if nz:
                pairs.append((a, b, nz))
    ent_a = [(int(st.keep_a[r]), int(st.keep_a[c])) for r, c in used_a]
    ent_b = [(int(st.keep_b[r]), int(st.keep_b[c])) for r, c in used_b]
    n_pat, n_det = st.fire.shape
    n_terms = sum(len(nz) for _, _, nz in pairs)
    cost = n_pat * (n_terms + 4 * len(pairs) + 10 * len(used_a) + 3 * n_det * len(classes))
    t_cls = tc[:, [u for u, _ in used_a], [x for _, x in used_a]][:, :, [v for v, _ in used_b], [y for _, y in used_b]]
    return _FastPlan(classes=classes, pairs=tuple(pairs),
                     node_a=_node_plan(st, encoding, "a", ent_a, support),
                     node_b=_node_plan(st, encoding, "b", ent_b, support),
                     scalar=cost <= _SCALAR_OPS_MAX, t_cls=t_cls.reshape(len(classes), -1))


# ----------------------------------------------------------------------------- fast Heisenberg evaluation
def _powers(x: jax.Array, n: int) -> list[jax.Array]:
    out = [jnp.ones_like(x)]
    for _ in range(n):
        out.append(out[-1] * x)
    return out


def _monomials(exps: np.ndarray, eta: jax.Array, overlap: jax.Array, g: jax.Array) -> list[jax.Array]:
    """``sqrt(eta)^a (1-eta)^b sqrt(M)^c (1-M)^d g^e`` for each row of ``exps`` (integer powers where even)."""
    if not len(exps):
        return []
    top = exps.max(axis=0)
    eta_p, oeta_p = _powers(eta, int(top[0]) // 2), _powers(1.0 - eta, int(top[1]))
    m_p, om_p, g_p = _powers(overlap, int(top[2]) // 2), _powers(1.0 - overlap, int(top[3])), _powers(g, int(top[4]))
    # square roots with a finite derivative at 0 (``0 * inf`` would poison every gradient at eta = 0 or M = 0),
    # the convention of :func:`ionjax.core.apply_loss` (the Schrodinger picture) too
    sq_eta = _sqrt0(eta) if np.any(exps[:, 0] % 2) else None
    sq_m = _sqrt0(overlap) if np.any(exps[:, 2] % 2) else None
    out = []
    for a, b, c, d, e in exps:
        factors = [x for x in (eta_p[a // 2] if a >= 2 else None, oeta_p[b] if b else None,
                               m_p[c // 2] if c >= 2 else None, om_p[d] if d else None, g_p[e] if e else None,
                               sq_eta if a % 2 else None, sq_m if c % 2 else None) if x is not None]
        v = factors[0] if factors else jnp.ones_like(eta)
        for f in factors[1:]:
            v = v * f
        out.append(v)
    return out


def _source_state(link: Link, node: NodeParams) -> DensityMatrix:
    dtype = jnp.result_type(node.collection_efficiency)
    if link.protocol == "single_photon":
        return bright_state_source(node.excitation_probability, dtype=dtype)
    return ion_photon_state(link.encoding, time_bin_pulse_error=node.time_bin_pulse_error, dtype=dtype)


def _lin(pairs: list) -> jax.Array | None:
    """``sum c * x`` over ``(c, x)`` with ``x`` None meaning zero; None if every term is zero."""
    acc = None
    for c, x in pairs:
        if x is None or c == 0.0:
            continue
        t = x if c == 1.0 else c * x
        acc = t if acc is None else acc + t
    return acc


def _mul(x: jax.Array | None, y: jax.Array | None) -> jax.Array | None:
    return None if x is None or y is None else x * y


def _node_scalars(link: Link, which: str, plan: _NodePlan) -> list[list[jax.Array | None]]:
    """``r[ij][e]``: the needed entries of :func:`node_state` (real; None where structurally zero).

    ``ij`` runs over ion blocks ``00, 01, 10, 11`` of ``rho[i, r, j, c]``, ``e`` over the plan's photon
    entries. Same numbers as :func:`node_state`, written out from the source state's few nonzero entries.
    """
    node = link.node_a if which == "a" else link.node_b
    rho0 = _source_state(link, node).data
    real = rho0.real.dtype
    flat = rho0.real.reshape(-1)
    picked = flat[plan.src_index] if len(plan.src_index) else flat[:0]
    src = [picked[i] for i in range(len(plan.src_index))]  # a few scalars
    # ion-only maps of node_state: Z error (coherences x (1 - 2 (1 - F))), dephasing while waiting for the herald
    wait = herald_wait_s(node.fiber_length_km)
    coh = ((1.0 - 2.0 * (1.0 - node.ion_photon_fidelity)) * jnp.exp(-wait / node.qubit_t2_s)).astype(real)
    eta = path_transmission(node, link).astype(real)
    overlap = jnp.asarray(link.interference.mode_overlap, real)
    g = jnp.exp(-0.5 * jnp.asarray(link.interference.phase_noise_rad, real) ** 2)
    mono = _monomials(plan.exps, eta, overlap, g)
    out = []
    for ij in range(4):
        row = []
        for terms in plan.terms:
            k = [(c, _mul(mono[m], src[plan.src_of[(ij, s)]]) if (ij, s) in plan.src_of else None) for s, m, c in terms]
            v = _lin(k)
            if v is not None and ij in (1, 2):
                v = v * coh
            row.append(v)
        out.append(row)
    return out


def _fast_heisenberg(link: Link, st: LinkStructure, plan: _FastPlan) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Pattern probabilities ``(P,)``, unnormalized pattern fidelities ``(P,)`` and the corrected, summed,
    unnormalized heralded state ``(4, 4)`` (real), in the Heisenberg picture, on the entries that matter.

    ``out[p, (i k), (j l)] = sum_{a, b} E[p, a, b] rho_A[(i j), a] rho_B[(k l), b]`` with the pulled-back
    effects ``E = w @ T`` on the needed node entries; every sum runs over structural nonzeros only.
    ``out[p]`` is real symmetric (``E``, the node states and every map are real), so only its upper
    triangle is computed.
    """
    if not plan.scalar:
        return _fast_heisenberg_arrays(link, st, plan)
    ra = _node_scalars(link, "a", plan.node_a)  # [ij][a]
    rb = _node_scalars(link, "b", plan.node_b)  # [kl][b]
    real = jnp.result_type(link.node_a.collection_efficiency)
    w = _class_weight_scalars(link, st, plan.classes)  # [p][u]
    n_pat = len(w)
    coherence = _frequency_coherence(link)
    if coherence is not None:
        coherence = coherence.astype(real)
    psi = bell_state("psi+").real
    by_a: dict = defaultdict(list)
    for a, b, nz in plan.pairs:
        by_a[a].append((b, nz))
    upper = [(r, c) for r in range(4) for c in range(r, 4)]
    needed_kl = sorted({2 * (r % 2) + c % 2 for r, c in upper})
    probs, unnorm_f = [], []
    state: dict = {}
    for p in range(n_pat):
        # y[a][kl] = sum_b E[p, a, b] rb[kl][b];  out[(i k), (j l)] = sum_a ra[ij][a] y[a][kl]
        y = {}
        for a, row in by_a.items():
            e_ab = [(b, _lin([(t, w[p][u]) for u, t in nz])) for b, nz in row]
            y[a] = {kl: _lin([(1.0, _mul(e, rb[kl][b])) for b, e in e_ab]) for kl in needed_kl}
        out = {}
        for r, c in upper:
            (i, k), (j, l) = divmod(r, 2), divmod(c, 2)
            x = _lin([(1.0, _mul(ra[2 * i + j][a], y[a][2 * k + l])) for a in y])
            if x is not None and i != j:
                sgn = float(st.sign_a[p, i] * st.sign_a[p, j])  # Pauli-frame correction: Z on ion A for Psi-
                x = x * (sgn * coherence) if coherence is not None else (x if sgn == 1.0 else -x)
            out[(r, c)] = out[(c, r)] = x
        probs.append(_lin([(1.0, out[(r, r)]) for r in range(4)]))
        unnorm_f.append(_lin([(psi[r] * psi[c], out[(r, c)]) for r in range(4) for c in range(4)]))
        for rc in out:
            state[rc] = _lin([(1.0, state.get(rc)), (1.0, out[rc])])
    zero = jnp.zeros((), real)
    fill = lambda x: zero if x is None else x  # noqa: E731
    return (jnp.stack([fill(x) for x in probs]), jnp.stack([fill(x) for x in unnorm_f]),
            jnp.stack([fill(state.get((r, c))) for r in range(4) for c in range(4)]).reshape(4, 4))


def _fast_heisenberg_arrays(link: Link, st: LinkStructure, plan: _FastPlan) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`_fast_heisenberg` with the contraction on small arrays (for structures too big to write out)."""
    real = jnp.result_type(link.node_a.collection_efficiency)
    zero = jnp.zeros((), real)

    def stacked(rows: list) -> jax.Array:  # [ij][e] scalars -> (4, N)
        return jnp.stack([jnp.stack([zero if x is None else x for x in row]) for row in rows])

    ra = stacked(_node_scalars(link, "a", plan.node_a))  # (4 (i j), Na)
    rb = stacked(_node_scalars(link, "b", plan.node_b))  # (4 (k l), Nb)
    w = _class_weights(link, st, plan.classes).astype(real)  # (P, U)
    n_pat = w.shape[0]
    e = (w @ jnp.asarray(plan.t_cls, real)).reshape(n_pat, ra.shape[1], rb.shape[1])
    y = jnp.einsum("pab,kb->pak", e, rb)
    out = jnp.einsum("pak,ia->pik", y, ra)  # (P, (i j), (k l))
    sign = np.array([[st.sign_a[p, i] * st.sign_a[p, j] for i in range(2) for j in range(2)] for p in range(n_pat)])
    factor = jnp.asarray(sign, real)
    coherence = _frequency_coherence(link)
    if coherence is not None:
        factor = factor * jnp.where(jnp.asarray([False, True, True, False]), coherence.astype(real), 1.0)
    signed = out * factor[:, :, None]
    psi = bell_state("psi+").real
    fid_coef = np.zeros((4, 4))  # [(i j), (k l)]
    to_rc = np.zeros((16, 16))  # flat (i j)(k l) -> flat (r c)
    for i, j, k, l in np.ndindex(2, 2, 2, 2):
        r, c = 2 * i + k, 2 * j + l
        fid_coef[2 * i + j, 2 * k + l] = psi[r] * psi[c]
        to_rc[4 * (2 * i + j) + 2 * k + l, 4 * r + c] = 1.0
    probs = signed[:, 0, 0] + signed[:, 0, 3] + signed[:, 3, 0] + signed[:, 3, 3]
    unnorm_f = jnp.sum(signed * jnp.asarray(fid_coef, real), axis=(1, 2))
    state = (jnp.sum(signed, axis=0).reshape(16) @ jnp.asarray(to_rc, real)).reshape(4, 4)
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
    # Tr_photons[diag(w_p) rho], unnormalized (``herald`` would divide by p and the caller multiply back: the
    # derivative of that division overflows long before p underflows, e.g. p ~ 1e-174 at 100 dark counts)
    d = reg.dim
    t = joint.data.reshape(4, d, 4, d)
    return jnp.einsum("ikjk,pk->pij", t, w.astype(t.dtype))


def _corrected_patterns(link: Link, st: LinkStructure, per: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """From per-pattern heralded blocks ``(P, 4, 4)``: probabilities, unnormalized fidelities, summed state."""
    if _frequency_coherence(link) is not None:
        per = _frequency_phase(link, per)
    # Pauli-frame correction to Psi+: Z on ion A for Psi- patterns (sign of ion A's index)
    s = jnp.asarray(st.sign_a, per.real.dtype)
    sa = jnp.repeat(s, 2, axis=1)  # ion A index is the slow one of (ion_a, ion_b)
    per = per * (sa[:, :, None] * sa[:, None, :]).astype(per.dtype)
    probs = jnp.real(jnp.trace(per, axis1=-2, axis2=-1))
    target = jnp.asarray(bell_state("psi+"), per.dtype)
    unnorm_f = jnp.real(jnp.einsum("i,pij,j->p", jnp.conj(target), per, target))
    return probs, unnorm_f, jnp.sum(per, axis=0)


def _representable(p: jax.Array) -> jax.Array:
    """True where a probability is at least the smallest normal number of its dtype (a ratio by it is exact)."""
    return p >= jnp.finfo(p.dtype).tiny


@jax.custom_jvp
def _ratio(u: jax.Array, p: jax.Array) -> jax.Array:
    """``u / p`` where ``p`` is representable (:func:`_representable`), else 0; ``p`` broadcasts against ``u``.

    The derivative is written as ``(du - (u / p) dp) / p``: the quotient rule's ``u dp / p^2`` would
    overflow (``p^2`` below the smallest number) long before the ratio and its derivative do, e.g. in
    float32 for ``p < 1e-19``. Where ``p`` is not representable the derivative is 0 (finite).
    """
    ok = _representable(p)
    return jnp.where(ok, u / jnp.where(ok, p, 1.0), 0.0)


@_ratio.defjvp
def _ratio_jvp(primals: tuple, tangents: tuple) -> tuple:
    (u, p), (du, dp) = primals, tangents
    ok = _representable(p)
    safe = jnp.where(ok, p, 1.0)
    q = jnp.where(ok, u / safe, 0.0)
    return q, jnp.where(ok, (du - q * dp) / safe, 0.0)


def _simulate(link: Link, picture: str = "heisenberg") -> LinkResult:
    st = link_structure(link.encoding, link.detection.kind)
    plan = _fast_plan(link.encoding, link.detection.kind) if picture == "heisenberg" else None
    if plan is not None:
        probs, unnorm_f, summed = _fast_heisenberg(link, st, plan)
    elif picture == "heisenberg":
        rho_a, rho_b = node_state(link, "a"), node_state(link, "b")
        per = _heralded_heisenberg(link, st, rho_a, rho_b)
        probs, unnorm_f, summed = _corrected_patterns(link, st, per)
    else:
        rho_a, rho_b = node_state(link, "a"), node_state(link, "b")
        per = _heralded_schrodinger(link, st, rho_a, rho_b)
        probs, unnorm_f, summed = _corrected_patterns(link, st, per)
    summed = summed.astype(complex_dtype(probs.dtype))
    total = jnp.sum(probs)
    ok = _representable(total)  # else no answer: LinkStatus.no_herald (see there for what is reported)
    probs = jnp.where(ok, probs, 0.0)
    total = jnp.where(ok, total, 0.0)
    pat_f = _ratio(unnorm_f, probs)
    fid = _ratio(jnp.sum(unnorm_f), total)
    state = _ratio(summed, total)
    return LinkResult(
        fidelity=fid,
        success_probability=total,
        rate_hz=link.attempt_rate_hz * total,
        state=DensityMatrix(state, _ION_SPACE),
        pattern_probabilities=probs,
        pattern_fidelities=pat_f,
        attempt_rate_hz=link.attempt_rate_hz,
        status=jnp.where(ok, int(LinkStatus.heralded), int(LinkStatus.no_herald)).astype(jnp.int32),
        pattern_names=tuple(p[0] for p in st.analyzer.patterns),
        pattern_targets=tuple(p[2] for p in st.analyzer.patterns),
        target="psi+",
    )


def _frequency_coherence(link: Link) -> jax.Array | None:
    """Coherence left on ion A after the heralded frequency phase is corrected (None: no such phase).

    Frequency encoding: the heralded phase ``2 pi df (t_a - t_b)`` is corrected from the recorded
    detection times up to the detectors' timing jitter; the residual Gaussian phase (rms
    ``2 pi df sqrt(2) sigma_t``) dephases the pair: coherence ``exp(-(2 pi df sigma_t)^2)``
    (:func:`ionjax.components.frequency.frequency_phase_coherence`). Both pictures use this one
    function (the fast Heisenberg path scales ion A's coherences by it).
    """
    if link.encoding != "frequency":
        return None
    return frequency_phase_coherence(link.interference.frequency_offset_hz, link.detection.timing_jitter_ps)


def _frequency_phase(link: Link, per: jax.Array) -> jax.Array:
    """Scale ion A's coherences of the per-pattern blocks by :func:`_frequency_coherence`."""
    coherence = _frequency_coherence(link)
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

