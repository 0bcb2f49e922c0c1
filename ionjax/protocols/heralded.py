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
from ..core.fock import beam_splitter_unitary, lift_unitary
from ..core.metrics import bell_state
from ..core.registers import extend_register, merge_registers
from ..core.space import FockRegister, Qudit, Space
from ..core.state import DensityMatrix, tensor
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
    u_hat = np.asarray(jax.jit(lift_unitary, static_argnums=0)(reg, jnp.asarray(u, jnp.complex128)))
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


def pattern_weights(link: Link, st: LinkStructure, counts: np.ndarray) -> jax.Array:
    """Diagonal POVM weights ``w[p, n]`` of each accepted pattern on output states with detector ``counts``.

    Averages over where the multi-photon noise photons of A and B went (exact mixture).
    """
    dark, fire = _detector_table(link, st.max_count)
    j = st.fire.shape[1]
    q = jnp.stack([
        link.node_a.multi_photon_probability * path_transmission(link.node_a, link),
        link.node_b.multi_photon_probability * path_transmission(link.node_b, link),
    ])
    # probability of each noise case: (C,)
    per_dest = jnp.concatenate([jnp.broadcast_to(q[:, None] / j, (2, j)), (1.0 - q)[:, None]], axis=1)  # (2, J+1)
    case_p = per_dest[0, st.extra_from[:, 0]] * per_dest[1, st.extra_from[:, 1]]
    idx = counts[None, :, :] + st.extra[:, None, :]  # (C, N, J)
    vals = jnp.where(st.fire[:, None, None, :], fire[idx][None], dark[idx][None])  # (P, C, N, J)
    return jnp.einsum("c,pcn->pn", case_p, jnp.prod(vals, axis=-1))


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


def _simulate(link: Link, picture: str = "heisenberg") -> LinkResult:
    st = link_structure(link.encoding, link.detection.kind)
    rho_a, rho_b = node_state(link, "a"), node_state(link, "b")
    if picture == "heisenberg":
        per = _heralded_heisenberg(link, st, rho_a, rho_b)
    else:
        per = _heralded_schrodinger(link, st, rho_a, rho_b)
    if link.encoding == "frequency":
        per = _frequency_phase(link, per)
    # Pauli-frame correction to Psi+: Z on ion A for Psi- patterns (sign of ion A's index)
    s = jnp.asarray(st.sign_a, per.real.dtype)
    sa = jnp.repeat(s, 2, axis=1)  # ion A index is the slow one of (ion_a, ion_b)
    per = per * (sa[:, :, None] * sa[:, None, :]).astype(per.dtype)
    probs = jnp.real(jnp.trace(per, axis1=-2, axis2=-1))
    target = jnp.asarray(bell_state("psi+"), per.dtype)
    unnorm_f = jnp.real(jnp.einsum("i,pij,j->p", jnp.conj(target), per, target))
    safe = jnp.where(probs > 0, probs, 1.0)
    pat_f = jnp.where(probs > 0, unnorm_f / safe, 0.0)
    total = jnp.sum(probs)
    safe_total = jnp.where(total > 0, total, 1.0)
    state = jnp.sum(per, axis=0) / safe_total
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

