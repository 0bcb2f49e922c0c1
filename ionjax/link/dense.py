"""The dense reference interpreter: runs the link's description (:mod:`ionjax.link.program`) on density
matrices through the core engine, in two pictures that must give the same numbers.

Each node's state is built on ``Space(Qudit("ion"), FockRegister("photon", modes + perp copies, n_max))``:
the source, its ion channels (superoperators), then every element's dense action
(:meth:`ionjax.elements.Element.apply`: lifted mode unitaries, exact loss channels, the wavepacket split).
The station's beam splitters form one mode unitary on ``a_* + b_*``, lifted exactly to every photon
number; the detectors are diagonal weights on the output Fock basis (:func:`ionjax.link.weights.photon_tables`,
efficiency at the detector).

* ``"schrodinger"``: the two node states are tensored, the registers merged, the beam splitters applied to
  the state, and each pattern heralded, ``Tr_photons[diag(w_p) rho]``.
* ``"heisenberg"``: each pattern's effect is pulled back through the beam splitters,
  ``E_p = U^dag diag(w_p) U``, onto the product basis of the two nodes' populated photon states and
  contracted with the node states; the ion indices are touched only at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from ..components.sources import ENCODING_MODES, PERP_SUFFIX
from ..core.fock import lift_unitary
from ..core.registers import extend_register, merge_registers
from ..core.space import FockRegister, Qudit, Space
from ..core.state import DensityMatrix, complex_dtype, tensor
from .program import analyzer, node_program, station_numbers
from .weights import photon_tables

__all__ = ["node_state", "dense_patterns", "DenseStructure", "dense_structure"]

_ION_SPACE = Space(Qudit("ion_a"), Qudit("ion_b"))


@dataclass(frozen=True, eq=False)
class DenseStructure:
    """The static structure of the dense methods (per protocol, encoding and detector kind).

    Attributes:
        register: the merged photon register of both nodes, modes ``a_*`` then ``b_*``.
        keep_a, keep_b: basis states of the node registers that can be populated.
        prod: ``(nA, nB)`` index in ``register`` of each product of kept states.
        counts: ``(D, J)`` photons reaching each detector for each basis state of ``register``.
        det_modes: ``[J]`` indices of the modes of ``register`` detector ``j`` watches.
        classes, inverse: the distinct rows of ``counts`` and which one each basis state has.
    """

    modes: tuple
    node_bound: int
    register: FockRegister
    keep_a: np.ndarray
    keep_b: np.ndarray
    prod: np.ndarray
    counts: np.ndarray
    det_modes: tuple
    classes: np.ndarray
    expand: np.ndarray
    max_count: int


@cache
def dense_structure(protocol: str, encoding: str, kind: str) -> DenseStructure:
    """The dense structure of a link (cached; built in NumPy)."""
    an = analyzer(protocol, encoding)
    modes = ENCODING_MODES["single_photon" if protocol == "single_photon" else encoding]
    nb = 2 if encoding == "time_bin" else 1
    full = modes + tuple(m + PERP_SUFFIX for m in modes)
    reg_n = FockRegister("photon", full, nb)
    reg = FockRegister("photons", tuple("a_" + m for m in full) + tuple("b_" + m for m in full), 2 * nb)

    def allowed(allow_perp: bool) -> np.ndarray:
        occ = reg_n.basis
        k = len(modes)
        ok = np.all(occ[:, :k] + occ[:, k:] <= 1, axis=1)  # a source puts at most one photon in each mode
        if not allow_perp:
            ok &= np.all(occ[:, k:] == 0, axis=1)
        return np.nonzero(ok)[0].astype(np.int32)

    keep_a, keep_b = allowed(False), allowed(True)
    prod = np.array([[reg.index(tuple(reg_n.basis[i]) + tuple(reg_n.basis[j])) for j in keep_b] for i in keep_a],
                    dtype=np.int32)
    names = list(reg.modes)
    det_modes = []
    for _, outs in an.detectors:
        cols = []
        for o in outs:
            port, lab = o.split("_", 1)
            src = "a_" if port == "c" else "b_"
            cols += [names.index(src + lab), names.index(src + lab + PERP_SUFFIX)]
        det_modes.append(tuple(cols))
    counts = np.stack([reg.basis[:, c].sum(axis=1) for c in det_modes], axis=1)
    classes, inv = np.unique(counts, axis=0, return_inverse=True)
    expand = np.zeros((len(classes), len(counts)))
    expand[inv.reshape(-1), np.arange(len(counts))] = 1.0
    return DenseStructure(modes, nb, reg, keep_a, keep_b, prod, counts, tuple(det_modes), classes, expand,
                          int(counts.max()) + 2)


# ----------------------------------------------------------------------------- node states
def _source_state(prog) -> DensityMatrix:  # noqa: ANN001
    space = Space(Qudit("ion"), FockRegister("photon", prog.modes, prog.n_max))
    reg = space["photon"]
    entries = prog.ion_entries()
    real = jnp.result_type(*[v for v in entries.values()], jnp.zeros(()).dtype)
    idx = {}
    for ((i, o1), (j, o2)), v in entries.items():
        idx[(i * reg.dim + reg.index(o1), j * reg.dim + reg.index(o2))] = v
    zero = jnp.zeros((), real)
    rows = [jnp.stack([jnp.asarray(idx.get((r, c), zero), real) for c in range(space.dim)]) for r in range(space.dim)]
    return DensityMatrix(jnp.stack(rows).astype(complex_dtype(real)), space)


def node_state(link, which: str) -> DensityMatrix:  # noqa: ANN001
    """One node's ion-photon state after its whole path, on ``Space(Qudit("ion"), FockRegister("photon",
    modes + perp copies, bound))`` (node A's internal copies are empty: A's wavepacket is the reference)."""
    prog = node_program(link, which)
    st = _source_state(prog)  # the ion's channels included (NodeProgram.ion_entries)
    for _, el in prog.elements:
        st = el.apply(st, "photon", prog.modes)
    reg = st.space["photon"]
    missing = tuple(m + PERP_SUFFIX for m in prog.modes if m + PERP_SUFFIX not in reg.modes)
    if missing:
        st = extend_register(st, "photon", missing)
    return st


def _bs_unitary(reg: FockRegister, r: jax.Array, phi: jax.Array, dtype) -> jax.Array:  # noqa: ANN001
    """The station's mode unitary on ``a_* + b_*``: ``[[sqrt(1-R), e^{-i phi} sqrt(R)], [-e^{i phi} sqrt(R),
    sqrt(1-R)]]`` on each pair ``(a_m, b_m)`` (output ``c_m`` at ``a_m``, ``d_m`` at ``b_m``)."""
    n = reg.n_modes
    half = n // 2
    r = jnp.asarray(r)
    t_ = jnp.sqrt(1.0 - r).astype(dtype)
    s_ = jnp.sqrt(r).astype(dtype)
    e = jnp.exp(1j * jnp.asarray(phi)).astype(dtype)
    rows = []
    zero = jnp.zeros((), dtype)
    for i in range(n):
        row = [zero] * n
        if i < half:
            row[i], row[i + half] = t_, jnp.conj(e) * s_
        else:
            row[i - half], row[i] = -e * s_, t_
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


def _noise_incident(link, ds: DenseStructure, u: jax.Array) -> tuple[list, list]:  # noqa: ANN001
    """``r_X = [P(none), P(at detector j) ...]``: node X's second photon, maximally mixed over its modes, through
    X's elements (their dense action on a one-photon state) and the station's mode unitary ``u``."""
    st_n = station_numbers(link)
    out = []
    for x, which in enumerate(("a", "b")):
        prog = node_program(link, which)
        m = len(prog.modes)
        space = Space(FockRegister("photon", prog.modes, 1))
        reg0 = space["photon"]
        diag = np.zeros(reg0.dim)
        for i in range(m):
            diag[reg0.index(tuple(int(k == i) for k in range(m)))] = 1.0 / m
        dt = complex_dtype(jnp.result_type(link.node_a.collection_efficiency))
        st = DensityMatrix(jnp.diag(jnp.asarray(diag, dt)), space)
        for _, el in prog.elements:
            st = el.apply(st, "photon", prog.modes)
        reg = st.space["photon"]
        full = ds.modes + tuple(mm + PERP_SUFFIX for mm in ds.modes)
        one = [reg.index(tuple(int(k == i) for k in range(reg.n_modes))) for i in range(reg.n_modes)]
        sigma = st.data[jnp.asarray(one)][:, jnp.asarray(one)]  # one-photon block on reg.modes
        pos = [full.index(mm) + (0 if which == "a" else len(full)) for mm in reg.modes]
        cols = u[:, jnp.asarray(pos)]  # output amplitudes of each input mode
        p_out = jnp.real(jnp.einsum("oi,ij,oj->o", cols, sigma, jnp.conj(cols)))
        q = st_n.multi_photon[x]
        per = [q * sum(p_out[c] for c in ds.det_modes[j]) for j in range(len(ds.det_modes))]
        none = 1.0 - sum(per)
        out.append([none] + per)
    return out[0], out[1]


def _weights(link, ds: DenseStructure, u: jax.Array) -> jax.Array:  # noqa: ANN001
    """``(P, D)`` weight of each accepted pattern on each basis state of the merged register.

    The sum of :func:`ionjax.link.weights.pattern_weight` over where the second photons went, on arrays: for each
    placement ``(d_A, d_B)`` the product over detectors of their tables at the shifted counts of every count
    class (static one-hot products, no gathers), so that the program stays small for any number of classes.
    """
    an = analyzer(link.protocol, link.encoding)
    st = station_numbers(link)
    table = photon_tables(link.detection.kind, st.efficiency, st.mean_dark, ds.max_count)
    r_a, r_b = _noise_incident(link, ds, u)
    real = jnp.result_type(link.node_a.collection_efficiency)
    n_det = len(ds.det_modes)
    k_top = ds.max_count + 1
    tab = [jnp.stack([jnp.stack([jnp.asarray(table(j, f, k), real) for k in range(k_top)]) for f in (0, 1)])
           for j in range(n_det)]  # [j]: (2, K)
    fire = np.array([[d in p[1] for d in an.detector_names] for p in an.patterns])  # (P, J)
    cache: dict = {}

    def detector_factor(j: int, shift: int) -> jax.Array:  # (P, U): T_{f_pj, j}(k_uj + shift)
        if (j, shift) not in cache:
            onehot = np.zeros((k_top, len(ds.classes)))
            onehot[ds.classes[:, j] + shift, np.arange(len(ds.classes))] = 1.0
            per_f = tab[j] @ jnp.asarray(onehot, real)  # (2, U)
            cache[(j, shift)] = jnp.where(jnp.asarray(fire[:, j])[:, None], per_f[1][None, :], per_f[0][None, :])
        return cache[(j, shift)]

    total = None
    for da in range(-1, n_det):
        for db in range(-1, n_det):
            term = None
            for j in range(n_det):
                f = detector_factor(j, int(da == j) + int(db == j))
                term = f if term is None else term * f
            term = term * (jnp.asarray(r_a[da + 1], real) * jnp.asarray(r_b[db + 1], real))
            total = term if total is None else total + term
    return total @ jnp.asarray(ds.expand, real)


def dense_patterns(link, picture: str) -> jax.Array:  # noqa: ANN001
    """Per-pattern heralded, unnormalized ion-ion blocks ``(P, 4, 4)`` (before the Pauli-frame correction)."""
    ds = dense_structure(link.protocol, link.encoding, link.detection.kind)
    rho_a, rho_b = node_state(link, "a"), node_state(link, "b")
    st = station_numbers(link)
    reg = ds.register
    u = _bs_unitary(reg, st.reflectivity, st.phase_rad, rho_a.data.dtype)
    w = _weights(link, ds, u)
    u_hat = lift_unitary(reg, u)
    if picture == "schrodinger":
        def rename(rho: DensityMatrix, prefix: str, ion: str) -> DensityMatrix:
            r = rho.space["photon"]
            sp = Space(Qudit(ion), FockRegister(f"photon_{prefix}", tuple(f"{prefix}_{m}" for m in r.modes), r.n_max))
            return DensityMatrix(rho.data, sp)

        joint = tensor(rename(rho_a, "a", "ion_a"), rename(rho_b, "b", "ion_b"))
        joint = merge_registers(joint, "photon_a", "photon_b", "photons")
        joint = joint.permute(("ion_a", "ion_b", "photons"))
        assert joint.space["photons"] == reg, (joint.space["photons"], reg)
        joint = joint.apply_unitary(u_hat, on="photons")
        d = reg.dim
        t = joint.data.reshape(4, d, 4, d)
        per = jnp.einsum("ikjk,pk->pij", t, w.astype(t.dtype))
    elif picture == "heisenberg":
        cols = u_hat[:, jnp.asarray(ds.prod.reshape(-1))]  # (D, nA nB)
        e = jnp.einsum("nk,pn,nl->pkl", jnp.conj(cols), w.astype(cols.dtype), cols)
        na, nb = len(ds.keep_a), len(ds.keep_b)
        e = e.reshape(-1, na, nb, na, nb)
        da, db = rho_a.space["photon"].dim, rho_b.space["photon"].dim
        ta = rho_a.data.reshape(2, da, 2, da)[:, ds.keep_a][:, :, :, ds.keep_a]
        tb = rho_b.data.reshape(2, db, 2, db)[:, ds.keep_b][:, :, :, ds.keep_b]
        # Tr_ph[E rho]: E[k, l] pairs with rho's photon row index l and column index k
        per = jnp.einsum("pxyuv,iujx,kvly->pikjl", e, ta, tb, optimize="optimal").reshape(-1, 4, 4)
    else:
        raise ValueError(f"unknown picture {picture!r}")
    return per
