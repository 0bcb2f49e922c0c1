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


def extend_register(state: DensityMatrix, register: str, new_modes: tuple[str, ...], n_max: int | None = None) -> DensityMatrix:
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
