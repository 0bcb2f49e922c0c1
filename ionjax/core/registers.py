"""Reshaping Fock registers: add modes, merge two registers, restrict to a subset of states.

These are isometries given by static index maps (no arithmetic on the
numbers), so they are exact, cheap and differentiable.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .space import FockRegister, Qudit, Space
from .state import DensityMatrix

__all__ = ["extend_register", "merge_registers", "register_embedding"]


def register_embedding(src: FockRegister, dst: FockRegister) -> np.ndarray:
    """Index in ``dst`` of each basis state of ``src`` (modes matched by name; others empty).

    ``dst`` must contain every mode of ``src`` and ``dst.n_max >= src.n_max``. Returns int ``(src.dim,)``.
    """
    cols = [dst.mode_index(m) for m in src.modes]
    if dst.n_max < src.n_max:
        raise ValueError(f"Register {dst.name!r} has n_max {dst.n_max} < {src.n_max} of {src.name!r}.")
    out = np.empty(src.dim, dtype=np.int64)
    for i, row in enumerate(src.basis):
        occ = np.zeros(dst.n_modes, dtype=np.int64)
        occ[cols] = row
        out[i] = dst.index(tuple(occ))
    return out


def _embed(state: DensityMatrix, pos: int, new_sub: FockRegister, idx_map: np.ndarray) -> DensityMatrix:
    """Place subsystem ``pos`` (dimension d) into ``new_sub`` via ``idx_map`` (d,) -> new indices."""
    space = state.space
    subs = list(space.subsystems)
    subs[pos] = new_sub
    new_space = Space(*subs)
    t = state._tensor()
    b = len(state.batch_shape)
    n = len(space)
    t = jnp.moveaxis(t, (b + pos, b + n + pos), (-2, -1))
    out = jnp.zeros(t.shape[:-2] + (new_sub.dim, new_sub.dim), t.dtype)
    out = out.at[..., idx_map[:, None], idx_map[None, :]].set(t)
    out = jnp.moveaxis(out, (-2, -1), (b + pos, b + n + pos))
    return state._from_tensor(out, new_space)


def extend_register(
    state: DensityMatrix, register: str, new_modes: tuple[str, ...], n_max: int | None = None
) -> DensityMatrix:
    """Add empty modes ``new_modes`` to ``register`` (optionally raising its bound to ``n_max``)."""
    pos = state.space.index(register)
    reg = state.space.subsystems[pos]
    if not isinstance(reg, FockRegister):
        raise ValueError(f"Subsystem {register!r} is not a FockRegister.")
    new = FockRegister(reg.name, reg.modes + tuple(new_modes), reg.n_max if n_max is None else n_max)
    return _embed(state, pos, new, register_embedding(reg, new))


def merge_registers(state: DensityMatrix, first: str, second: str, name: str) -> DensityMatrix:
    """Merge two registers into one named ``name`` (modes of ``first`` then ``second``, bound = sum).

    The product basis maps into the merged register's basis; the merged register
    takes the position of ``first``, ``second`` disappears.
    """
    sp = state.space
    r1, r2 = sp[first], sp[second]
    if not isinstance(r1, FockRegister) or not isinstance(r2, FockRegister):
        raise ValueError(f"merge_registers needs two FockRegisters, got {first!r} and {second!r}.")
    overlap = set(r1.modes) & set(r2.modes)
    if overlap:
        raise ValueError(f"Registers {first!r} and {second!r} share mode names {sorted(overlap)}; rename one.")
    merged = FockRegister(name, r1.modes + r2.modes, r1.n_max + r2.n_max)
    idx = np.empty((r1.dim, r2.dim), dtype=np.int64)
    for i, a in enumerate(r1.basis):
        for j, b_ in enumerate(r2.basis):
            idx[i, j] = merged.index(tuple(a) + tuple(b_))
    # bring `second` right after `first`, then fuse the pair into one axis of size r1.dim * r2.dim
    order = [n for n in sp.names if n != second]
    order.insert(order.index(first) + 1, second)
    st = state.permute(order)
    pos = st.space.index(first)
    fused = Qudit(f"__{first}x{second}", r1.dim * r2.dim)
    subs = list(st.space.subsystems)
    subs[pos : pos + 2] = [fused]
    st = DensityMatrix(st.data, Space(*subs))
    return _embed(st, pos, merged, idx.reshape(-1))


def _split_plan(reg: FockRegister, src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Static plan of :func:`split_modes`: (src_row, src_col, dst_row, dst_col, coef, stay_exp, moved_exp)."""
    key = (reg.n_modes, reg.n_max, src, dst)
    if key in _SPLIT_CACHE:
        return _SPLIT_CACHE[key]
    basis = reg.basis
    inputs = [i for i, row in enumerate(basis) if all(row[d] == 0 for d in dst)]
    splits: dict[int, list[tuple[int, float, int, int]]] = {}
    import itertools
    import math

    for i in inputs:
        row = basis[i]
        opts = []
        for ks in itertools.product(*[range(row[s] + 1) for s in src]):
            out = list(row)
            coef = 1.0
            for s, d, k in zip(src, dst, ks):
                out[s] -= k
                out[d] += k
                coef *= math.sqrt(math.comb(int(row[s]), k))
            moved = int(sum(ks))
            stay = int(sum(row[s] for s in src)) - moved
            opts.append((reg.index(tuple(out)), coef, stay, moved))
        splits[i] = opts
    rows = []
    for i in inputs:
        for j in inputs:
            for ui, ci, si, mi in splits[i]:
                for uj, cj, sj, mj in splits[j]:
                    if mi == mj:
                        rows.append((i, j, ui, uj, ci * cj, (si + sj) / 2.0, mi))
    arr = np.array(rows, dtype=float).reshape(-1, 7)
    plan = (arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64),
            arr[:, 3].astype(np.int64), arr[:, 4], arr[:, 5], arr[:, 6].astype(np.int64))
    _SPLIT_CACHE[key] = plan
    return plan


_SPLIT_CACHE: dict = {}


def split_modes(state: DensityMatrix, register: str, modes: tuple[str, ...], into: tuple[str, ...],
                keep_fraction) -> DensityMatrix:  # noqa: ANN001
    """Split each photon of ``modes[i]`` coherently into ``sqrt(K) modes[i] + sqrt(1-K) into[i]``.

    ``into`` modes must be empty. The result keeps only the blocks of equal total photon number in
    ``into`` (coherences between different numbers of "split-off" photons are dropped): exact for
    anything measured by detectors that do not resolve ``modes`` from ``into`` and optics that do not
    mix them, which is how an orthogonal internal wavepacket behaves. Every entry is a polynomial in
    ``K`` and ``sqrt(K)`` times ``(1 - K)^k``, so gradients stay finite at ``K = 1``.
    Shape rule: ``state.data`` ``(..., D, D)`` -> same.
    """
    reg = state.space[register]
    if not isinstance(reg, FockRegister):
        raise ValueError(f"Subsystem {register!r} is not a FockRegister.")
    if len(modes) != len(into):
        raise ValueError(f"Arguments `modes` and `into` must pair up, got {modes} and {into}.")
    src = tuple(reg.mode_index(m) for m in modes)
    dst = tuple(reg.mode_index(m) for m in into)
    sr, sc, dr, dc, coef, a, b = _split_plan(reg, src, dst)
    k = jnp.asarray(keep_fraction, dtype=jnp.real(state.data).dtype)
    pos = state.space.index(register)
    bsh = len(state.batch_shape)
    n = len(state.space)
    t = jnp.moveaxis(state._tensor(), (bsh + pos, bsh + n + pos), (-2, -1))
    # integer exponents of (1 - k) keep d/dk finite at k = 1; the half-integer powers of k belong to
    # coherences no detector sees, and the double `where` keeps their gradient finite at k = 0
    pos_k = k > 0
    k_pow = jnp.where(pos_k, jnp.where(pos_k, k, 1.0) ** a, (a == 0).astype(k.dtype))
    w = coef * k_pow * (1.0 - k) ** b
    vals = t[..., sr, sc] * w.astype(t.dtype)
    out = jnp.zeros_like(t).at[..., dr, dc].add(vals)
    out = jnp.moveaxis(out, (-2, -1), (bsh + pos, bsh + n + pos))
    return state._from_tensor(out, state.space)
