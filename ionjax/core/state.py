"""Density matrices on a :class:`~ionjax.core.space.Space`, and local operations.

Shape rule: a :class:`DensityMatrix` holds ``data`` of shape ``(..., D, D)``
with ``D = space.dim``; leading axes are batch axes and every operation maps
over them. An operator acting on subsystems ``on = (s1, s2, ...)`` has shape
``(..., d_on, d_on)`` with ``d_on = d_s1 * d_s2 * ...`` in the order given
(its own leading axes broadcast against the state's).

Every local operation is a tensor contraction on the addressed axes only: the
state is viewed as a tensor with one row and one column axis per subsystem,
and no operator on the whole space is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .space import FockRegister, Qudit, Space

__all__ = ["DensityMatrix", "tensor", "complex_dtype", "real_dtype"]

Names = str | tuple[str, ...] | list[str]


def complex_dtype(dtype: Any = None) -> Any:
    """The complex dtype matching ``dtype`` (or JAX's default precision if None)."""
    if dtype is None:
        return jax.dtypes.canonicalize_dtype(jnp.complex128)
    dtype = jnp.dtype(dtype)
    if dtype in (jnp.float32, jnp.complex64, jnp.dtype("float16"), jnp.dtype("bfloat16")):
        return jnp.dtype(jnp.complex64)
    if dtype in (jnp.float64, jnp.complex128):
        return jax.dtypes.canonicalize_dtype(jnp.complex128)
    return jax.dtypes.canonicalize_dtype(jnp.complex128)


def real_dtype(dtype: Any = None) -> Any:
    """The real dtype matching ``dtype`` (or JAX's default precision if None)."""
    return jnp.finfo(complex_dtype(dtype)).dtype


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DensityMatrix:
    """A (possibly batched) density matrix: ``data`` ``(..., D, D)`` on a static ``space``.

    A pytree: ``data`` is the only leaf, ``space`` is static metadata, so
    ``jit``/``vmap``/``grad`` work across it.
    """

    data: jax.Array
    space: Space = field(metadata=dict(static=True))

    def __post_init__(self) -> None:
        data = self.data
        if isinstance(data, (np.ndarray, list)):
            data = jnp.asarray(data)
            object.__setattr__(self, "data", data)
        if not isinstance(self.space, Space):
            raise ValueError(f"Argument `space` must be a Space, got {type(self.space).__name__}.")
        shape = getattr(data, "shape", None)
        # Skip checks for placeholder leaves jax puts in while transforming pytrees.
        if shape is None or not hasattr(data, "ndim"):
            return
        if data.ndim < 2 or shape[-1] != shape[-2]:
            raise ValueError(
                f"Argument `data` must have shape (..., D, D) (square in its last two axes), got {tuple(shape)}."
            )
        if shape[-1] != self.space.dim:
            raise ValueError(
                f"Argument `data` has shape {tuple(shape)}, but the space {self.space.names} with dims "
                f"{self.space.dims} needs (..., {self.space.dim}, {self.space.dim})."
            )

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_ket(cls, ket: Any, space: Space) -> DensityMatrix:
        """|psi><psi| from a ket of shape ``(..., D)`` (not renormalized)."""
        ket = jnp.asarray(ket)
        ket = ket.astype(complex_dtype(ket.dtype))
        if ket.ndim < 1 or ket.shape[-1] != space.dim:
            raise ValueError(
                f"Argument `ket` must have shape (..., {space.dim}) for the space {space.names}, got {ket.shape}."
            )
        return cls(ket[..., :, None] * jnp.conj(ket[..., None, :]), space)

    @classmethod
    def from_array(cls, data: Any, space: Space | None = None, dims: tuple[int, ...] | None = None) -> DensityMatrix:
        """From a numpy/jax array. Without ``space``, ``dims`` (or one qudit) names them ``q0, q1, ...``."""
        data = jnp.asarray(data)
        data = data.astype(complex_dtype(data.dtype))
        if space is None:
            dims = dims if dims is not None else (data.shape[-1],)
            space = Space(*(Qudit(f"q{i}", int(d)) for i, d in enumerate(dims)))
        return cls(data, space)

    @classmethod
    def basis(cls, space: Space, index: int | tuple[int, ...]) -> DensityMatrix:
        """The pure basis state ``|index><index|``; ``index`` flat or one entry per subsystem."""
        if not isinstance(index, int):
            index = int(np.ravel_multi_index(tuple(index), space.dims))
        ket = jnp.zeros(space.dim, complex_dtype()).at[index].set(1.0)
        return cls.from_ket(ket, space)

    # ----------------------------------------------------------------- basics
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[:-2])

    @property
    def dim(self) -> int:
        return self.space.dim

    def to_numpy(self) -> np.ndarray:
        return np.asarray(self.data)

    def trace(self) -> jax.Array:
        """Tr(rho), shape ``batch_shape`` (real)."""
        return jnp.real(jnp.trace(self.data, axis1=-2, axis2=-1))

    def normalized(self) -> DensityMatrix:
        return DensityMatrix(self.data / _safe(self.trace())[..., None, None], self.space)

    def dag(self) -> DensityMatrix:
        return DensityMatrix(jnp.conj(jnp.swapaxes(self.data, -1, -2)), self.space)

    def __add__(self, other: DensityMatrix) -> DensityMatrix:
        _same_space(self, other)
        return DensityMatrix(self.data + other.data, self.space)

    def __mul__(self, scalar: Any) -> DensityMatrix:
        scalar = jnp.asarray(scalar)
        return DensityMatrix(self.data * scalar[..., None, None], self.space)

    __rmul__ = __mul__

    # ----------------------------------------------------------------- tensor view
    def _tensor(self) -> jax.Array:
        return self.data.reshape(self.batch_shape + self.space.dims + self.space.dims)

    def _from_tensor(self, t: jax.Array, space: Space) -> DensityMatrix:
        return DensityMatrix(t.reshape(t.shape[: t.ndim - 2 * len(space)] + (space.dim, space.dim)), space)

    def _check_op(self, op: Any, on: Names, argname: str, kraus: bool = False) -> tuple[jax.Array, tuple[int, ...]]:
        idx = self.space.indices(on)
        d_on = int(np.prod([self.space.dims[i] for i in idx]))
        op = jnp.asarray(op)
        need = 3 if kraus else 2
        if op.ndim < need or op.shape[-1] != d_on or op.shape[-2] != d_on:
            want = f"(k, {d_on}, {d_on})" if kraus else f"(..., {d_on}, {d_on})"
            raise ValueError(
                f"Argument `{argname}` must have shape {want} to act on {tuple(self.space.names[i] for i in idx)} "
                f"(dims {tuple(self.space.dims[i] for i in idx)}), got {tuple(op.shape)}."
            )
        return op, idx

    # ----------------------------------------------------------------- local operations
    def apply_unitary(self, op: Any, on: Names) -> DensityMatrix:
        """rho -> U rho U^dag with ``U`` ``(..., d_on, d_on)`` acting on subsystems ``on``."""
        op, idx = self._check_op(op, on, "op")
        return self._sandwich(op[..., None, :, :], idx, kraus_batch=op.shape[:-2])

    def apply_kraus(self, kraus: Any, on: Names) -> DensityMatrix:
        """rho -> sum_k K_k rho K_k^dag; ``kraus`` ``(k, d_on, d_on)`` (or ``(..., k, d_on, d_on)``)."""
        kraus, idx = self._check_op(kraus, on, "kraus", kraus=True)
        return self._sandwich(kraus, idx, kraus_batch=kraus.shape[:-3])

    apply_channel = apply_kraus

    def _sandwich(self, ops: jax.Array, idx: tuple[int, ...], kraus_batch: tuple[int, ...]) -> DensityMatrix:
        n = len(self.space)
        dims_on = tuple(self.space.dims[i] for i in idx)
        ops = ops.astype(_work_dtype(ops.dtype, self.data.dtype))
        k = ops.shape[-3]
        ops_t = ops.reshape(ops.shape[:-2] + dims_on + dims_on)
        rows = list(range(n))
        cols = list(range(n, 2 * n))
        new_rows, new_cols = list(rows), list(cols)
        kk = 4 * n
        op_out = [2 * n + j for j in range(len(idx))]
        op_out_c = [3 * n + j for j in range(len(idx))]
        for j, i in enumerate(idx):
            new_rows[i] = op_out[j]
            new_cols[i] = op_out_c[j]
        rho = self._tensor()
        batch = jnp.broadcast_shapes(self.batch_shape, tuple(kraus_batch))
        rho = jnp.broadcast_to(rho, batch + rho.shape[len(self.batch_shape):])
        ops_t = jnp.broadcast_to(ops_t, batch + (k,) + ops_t.shape[ops_t.ndim - 2 * len(idx):])
        out = jnp.einsum(
            ops_t, [..., kk] + op_out + [rows[i] for i in idx],
            rho, [...] + rows + cols,
            jnp.conj(ops_t), [..., kk] + op_out_c + [cols[i] for i in idx],
            [...] + new_rows + new_cols,
        )
        return self._from_tensor(out, self.space)

    def expect(self, op: Any, on: Names) -> jax.Array:
        """Tr(O rho) for ``O`` ``(..., d_on, d_on)`` on ``on`` (complex, batch shape)."""
        op, idx = self._check_op(op, on, "op")
        return self._contract_effect(op, idx, diagonal=False, keep_rest=False)

    def herald(self, effect: Any, on: Names, keep: bool = False,
               normalize: bool = True) -> tuple[jax.Array, DensityMatrix]:
        """Condition on a POVM effect ``E`` on subsystems ``on``.

        Args:
            effect: ``(..., d_on, d_on)`` matrix, or ``(..., d_on)`` for an effect diagonal in the
                subsystems' basis (a photon-number effect: no matrix product is formed).
            on: the measured subsystems.
            keep: if False (default), the measured subsystems are traced out and the result is
                ``Tr_on[E rho] / p``; if True, they stay, with the Lueders update
                ``sqrt(E) rho sqrt(E) / p`` (diagonal effects only).
            normalize: if False, the state is returned unnormalized (trace ``p``): the map from ``rho`` is then
                linear, and smooth where ``p == 0``.

        Returns:
            ``(p, state)``: ``p = Tr(E rho)`` (real, batch shape) and the conditional state
            (zero, not NaN, where ``p == 0``).
        """
        effect = jnp.asarray(effect)
        idx = self.space.indices(on)
        d_on = int(np.prod([self.space.dims[i] for i in idx]))
        diagonal = effect.ndim >= 1 and effect.shape[-1] == d_on and (effect.ndim == 1 or effect.shape[-2] != d_on)
        if not diagonal:
            effect, idx = self._check_op(effect, on, "effect")
        if keep:
            if not diagonal:
                raise ValueError("herald(keep=True) needs a diagonal `effect` of shape (..., d_on).")
            root = jnp.sqrt(jnp.clip(jnp.real(effect), 0.0, None)).astype(self.data.dtype)
            kraus = (root[..., None, :] * jnp.eye(d_on, dtype=self.data.dtype))[..., None, :, :]
            unnorm = self._sandwich(kraus, idx, kraus_batch=kraus.shape[:-3])
            p = unnorm.trace()
            if not normalize:
                return p, unnorm
            return p, DensityMatrix(unnorm.data / _safe(p)[..., None, None], self.space)
        rest = tuple(n for j, n in enumerate(self.space.names) if j not in idx)
        out = self._contract_effect(effect, idx, diagonal=diagonal, keep_rest=True)
        space = self.space.select(rest) if rest else Space()
        p = jnp.real(jnp.trace(out, axis1=-2, axis2=-1))
        if not normalize:
            return p, DensityMatrix(out, space)
        return p, DensityMatrix(out / _safe(p)[..., None, None], space)

    def _contract_effect(self, effect: jax.Array, idx: tuple[int, ...], diagonal: bool, keep_rest: bool) -> jax.Array:
        n = len(self.space)
        dims_on = tuple(self.space.dims[i] for i in idx)
        rows = list(range(n))
        cols = list(range(n, 2 * n))
        for i in idx:
            cols[i] = rows[i] if diagonal else cols[i]
        rest = [j for j in range(n) if j not in idx]
        if not keep_rest:  # Tr(E rho): the other subsystems are traced out too
            for j in rest:
                cols[j] = rows[j]
        rho_sub = [...] + rows + cols
        if diagonal:
            e_t = effect.reshape(effect.shape[:-1] + dims_on)
            e_sub = [...] + [rows[i] for i in idx]
        else:
            e_t = effect.reshape(effect.shape[:-2] + dims_on + dims_on)
            # Tr(E rho) = sum E_{ab} rho_{ba}: E's row index is rho's column index.
            e_sub = [...] + [cols[i] for i in idx] + [rows[i] for i in idx]
        out_sub = [...] + ([rows[j] for j in rest] + [cols[j] for j in rest] if keep_rest else [])
        out = jnp.einsum(e_t.astype(_work_dtype(e_t.dtype, self.data.dtype)), e_sub, self._tensor(), rho_sub, out_sub)
        if not keep_rest:
            return out
        d_rest = int(np.prod([self.space.dims[j] for j in rest])) if rest else 1
        return out.reshape(out.shape[: out.ndim - 2 * len(rest)] + (d_rest, d_rest))

    def ptrace(self, keep: Names | None = None, drop: Names | None = None) -> DensityMatrix:
        """Partial trace: give exactly one of ``keep`` (in the order wanted) or ``drop``."""
        if (keep is None) == (drop is None):
            raise ValueError("ptrace takes exactly one of `keep` or `drop`.")
        if drop is not None:
            d = self.space.indices(drop, "drop")
            keep = tuple(nm for j, nm in enumerate(self.space.names) if j not in d)
        keep_idx = self.space.indices(keep, "keep") if keep else ()
        n = len(self.space)
        rows = list(range(n))
        cols = [j if j not in keep_idx else n + j for j in range(n)]
        out_sub = [...] + list(keep_idx) + [n + j for j in keep_idx]
        out = jnp.einsum(self._tensor(), [...] + rows + cols, out_sub)
        space = self.space.select(keep) if keep else Space()
        return self._from_tensor(out, space)

    def permute(self, order: Names) -> DensityMatrix:
        """Reorder subsystems to ``order`` (all names, each once)."""
        idx = self.space.indices(order, "order")
        if len(idx) != len(self.space):
            raise ValueError(f"Argument `order` must list every subsystem of {self.space.names}, got {order}.")
        n = len(self.space)
        t = self._tensor()
        b = len(self.batch_shape)
        perm = list(range(b)) + [b + i for i in idx] + [b + n + i for i in idx]
        return self._from_tensor(jnp.transpose(t, perm), self.space.select(order))

    # ----------------------------------------------------------------- interop
    def to_qutip(self) -> Any:
        """A ``qutip.Qobj`` with ``dims`` kept (unbatched states only). Needs QuTiP installed."""
        try:
            import qutip
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_qutip needs QuTiP: pip install 'ionjax[test]' (or qutip).") from exc
        if self.batch_shape:
            raise ValueError(f"to_qutip takes one state; this one has batch shape {self.batch_shape}.")
        dims = list(self.space.dims)
        return qutip.Qobj(np.asarray(self.data), dims=[dims, dims])

    @classmethod
    def from_qutip(cls, qobj: Any, space: Space | None = None) -> DensityMatrix:
        """From a ``qutip.Qobj`` (ket or operator); without ``space`` its dims name qudits ``q0, q1, ...``."""
        data = np.asarray(qobj.full())
        dims = [int(d) for d in qobj.dims[0]]
        if space is None:
            space = Space(*(Qudit(f"q{i}", d) for i, d in enumerate(dims)))
        elif tuple(space.dims) != tuple(dims) and space.dim != int(np.prod(dims)):
            raise ValueError(f"Argument `space` has dims {space.dims}, but the Qobj has dims {dims}.")
        if qobj.isket:
            return cls.from_ket(data[:, 0], space)
        return cls.from_array(data, space)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{s.name}:{s.dim}" if isinstance(s, Qudit) else f"{s.name}:{s.modes}<= {s.n_max} ({s.dim})"
            for s in self.space.subsystems
        )
        return f"DensityMatrix(batch={self.batch_shape}, space=[{parts}], dtype={getattr(self.data, 'dtype', '?')})"


def tensor(*states: DensityMatrix) -> DensityMatrix:
    """Tensor product of unbatched or equally batched states; subsystems concatenate in order."""
    if not states:
        raise ValueError("tensor needs at least one state.")
    out = states[0]
    for s in states[1:]:
        space = out.space + s.space
        data = out.data[..., :, None, :, None] * s.data[..., None, :, None, :]
        shape = data.shape[:-4] + (space.dim, space.dim)
        out = DensityMatrix(data.reshape(shape), space)
    return out


@jax.custom_jvp
def _sqrt0(x: jax.Array) -> jax.Array:
    """``sqrt(max(x, 0))`` whose derivative is taken as 0 (not infinite) where ``x <= 0``.

    A Kraus operator ``sqrt(p) M`` enters the channel as ``p M rho M^dag``; with the plain square root
    the chain rule gives ``0 * inf = NaN`` at ``p = 0`` -- even when ``p`` is held at 0 and does not
    change at all (``memory_decay`` with ``t1_s = inf``). Exact wherever ``x > 0``; at ``x = 0``
    the gradient is finite (it drops the one-sided term from that Kraus operator; use
    :mod:`ionjax.core.superop` for exact gradients at the ideal point).
    """
    return jnp.sqrt(jnp.clip(x, 0.0, None))


@_sqrt0.defjvp
def _sqrt0_jvp(primals: tuple, tangents: tuple) -> tuple:
    (x,), (dx,) = primals, tangents
    y = jnp.sqrt(jnp.clip(x, 0.0, None))
    pos = x > 0
    return y, jnp.where(pos, 0.5 / jnp.where(pos, y, 1.0), 0.0) * dx


def _work_dtype(op_dtype: Any, data_dtype: Any) -> Any:
    """dtype in which an operator meets a state: the promoted type, but a single-precision state stays
    single precision (numpy constants such as ``PAULI`` or ``number(reg, m)`` are float64/complex128 and
    would otherwise silently turn a complex64 state into complex128)."""
    dt = jnp.result_type(op_dtype, data_dtype)
    data_dtype = jnp.dtype(data_dtype)
    if jnp.issubdtype(data_dtype, jnp.inexact) and jnp.finfo(data_dtype).bits <= 32 and jnp.finfo(dt).bits > 32:
        return jnp.dtype(jnp.complex64) if jnp.issubdtype(dt, jnp.complexfloating) else jnp.dtype(jnp.float32)
    return dt


def _safe(p: jax.Array) -> jax.Array:
    return jnp.where(p == 0, 1.0, p)


def _same_space(a: DensityMatrix, b: DensityMatrix) -> None:
    if a.space != b.space:
        raise ValueError(f"States live on different spaces: {a.space.names} vs {b.space.names}.")


# FockRegister is re-exported for isinstance checks in users' code.
_ = FockRegister
