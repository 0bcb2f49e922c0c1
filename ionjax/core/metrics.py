"""State metrics with gradients that stay finite at pure and rank-deficient states.

Every function takes a :class:`~ionjax.core.state.DensityMatrix` or a raw array
``(..., D, D)`` and maps over leading batch axes.

Fidelity is the squared (Jozsa) convention:
``F(rho, sigma) = (Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2``; to a pure state it is
``<psi|rho|psi>``. Spectral functions (matrix square root, entropy, trace norm)
go through :func:`matrix_function`, whose derivative is the Daleckii-Krein
formula with divided differences; where eigenvalues are degenerate it uses the
derivative itself, and where that is infinite (sqrt or log at 0) the
eigenvalue is floored at ``eps`` (1e-12 in float64, 1e-6 in float32) for the
derivative only, so gradients are finite everywhere and exact away from those
points.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .state import DensityMatrix

__all__ = [
    "BELL_STATES",
    "bell_state",
    "bell_fidelities",
    "fidelity",
    "concurrence",
    "negativity",
    "log_negativity",
    "purity",
    "von_neumann_entropy",
    "trace_distance",
    "matrix_function",
]

_S = 1.0 / np.sqrt(2.0)
#: Bell kets on two qubits (node A first), in the order Phi+, Phi-, Psi+, Psi-.
BELL_STATES = {
    "phi+": np.array([_S, 0, 0, _S], dtype=complex),
    "phi-": np.array([_S, 0, 0, -_S], dtype=complex),
    "psi+": np.array([0, _S, _S, 0], dtype=complex),
    "psi-": np.array([0, _S, -_S, 0], dtype=complex),
}


def bell_state(name: str) -> np.ndarray:
    """Ket of ``"phi+" | "phi-" | "psi+" | "psi-"`` (shape ``(4,)``)."""
    key = name.lower().replace("_", "").replace("plus", "+").replace("minus", "-")
    if key not in BELL_STATES:
        raise ValueError(f"Unknown Bell state {name!r}; choose one of {tuple(BELL_STATES)}.")
    return BELL_STATES[key]


def _data(x: Any) -> jax.Array:
    return x.data if isinstance(x, DensityMatrix) else jnp.asarray(x)


def _eps(dtype: Any) -> float:
    return 1e-12 if jnp.finfo(dtype).bits >= 64 else 1e-6


def _herm(a: jax.Array) -> jax.Array:
    return 0.5 * (a + jnp.conj(jnp.swapaxes(a, -1, -2)))


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _mfun(f: Callable, df: Callable, a: jax.Array) -> jax.Array:
    w, v = jnp.linalg.eigh(_herm(a))
    return (v * f(w)[..., None, :]) @ jnp.conj(jnp.swapaxes(v, -1, -2))


@_mfun.defjvp
def _mfun_jvp(f: Callable, df: Callable, primals: tuple, tangents: tuple) -> tuple:
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(_herm(a))
    fw = f(w)
    vh = jnp.conj(jnp.swapaxes(v, -1, -2))
    out = (v * fw[..., None, :]) @ vh
    dw = w[..., :, None] - w[..., None, :]
    tol = 1e3 * _eps(w.dtype) * jnp.maximum(1.0, jnp.max(jnp.abs(w), axis=-1, keepdims=True)[..., None])
    close = jnp.abs(dw) <= tol
    mid = 0.5 * (w[..., :, None] + w[..., None, :])
    divided = (fw[..., :, None] - fw[..., None, :]) / jnp.where(close, 1.0, dw)
    kernel = jnp.where(close, df(mid), divided)
    inner = vh @ _herm(da) @ v
    dout = v @ (kernel.astype(inner.dtype) * inner) @ vh
    return out, dout


def matrix_function(a: Any, f: Callable, df: Callable) -> jax.Array:
    """``f(A)`` for Hermitian ``A`` ``(..., D, D)`` by eigendecomposition, with a Daleckii-Krein derivative.

    ``f`` and its derivative ``df`` act elementwise on real eigenvalues.
    """
    return _mfun(f, df, jnp.asarray(a))


def _sqrt_f(w: jax.Array) -> jax.Array:
    # Eigenvalues below the round-off floor of the spectrum (D * eps * max|w|) are noise around an exact
    # zero (rank-deficient and pure states); sqrt would blow them up to ~1e-8. Treat them as zero.
    tol = w.shape[-1] * jnp.finfo(w.dtype).eps * jnp.max(jnp.abs(w), axis=-1, keepdims=True)
    return jnp.sqrt(jnp.where(w > tol, w, 0.0))


def _sqrt_df(w: jax.Array) -> jax.Array:
    return 0.5 / jnp.sqrt(jnp.clip(w, _eps(w.dtype), None))


def _sqrtm(a: jax.Array) -> jax.Array:
    return matrix_function(a, _sqrt_f, _sqrt_df)


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _trace_fun(f: Callable, df: Callable, a: jax.Array) -> jax.Array:
    return jnp.sum(f(jnp.linalg.eigvalsh(_herm(a))), axis=-1)


@_trace_fun.defjvp
def _trace_fun_jvp(f: Callable, df: Callable, primals: tuple, tangents: tuple) -> tuple:
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(_herm(a))
    # d Tr f(A) = Tr(f'(A) dA): needs no eigenvector derivative, finite for degenerate spectra.
    dfa = (v * df(w)[..., None, :].astype(v.dtype)) @ jnp.conj(jnp.swapaxes(v, -1, -2))
    return jnp.sum(f(w), axis=-1), jnp.real(jnp.einsum("...ij,...ji->...", dfa, _herm(da)))


def fidelity(rho: Any, sigma: Any) -> jax.Array:
    """Squared (Uhlmann-Jozsa) fidelity ``(Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2``.

    Args:
        rho: state ``(..., D, D)`` (or a DensityMatrix).
        sigma: state ``(..., D, D)``, or a ket ``(..., D)``, in which case ``<psi|rho|psi>`` is
            returned exactly (linear in ``rho``). Batch axes broadcast. An array whose last two
            axes are ``(D, D)`` is read as a density matrix (so a batch of exactly ``D`` kets must be
            passed one by one, e.g. under ``vmap``).

    Returns:
        real ``(...)``.
    """
    r = _data(rho)
    s = _data(sigma)
    d = r.shape[-1]
    if s.ndim >= 1 and s.shape[-1] == d and (s.ndim == 1 or s.shape[-2] != d):
        s = s.astype(r.dtype)
        return jnp.real(jnp.einsum("...i,...ij,...j->...", jnp.conj(s), r, s))
    if s.shape[-2:] != r.shape[-2:]:
        raise ValueError(f"Arguments `rho` {r.shape} and `sigma` {s.shape} must have the same (D, D).")
    sr = _sqrtm(r)
    m = sr @ s.astype(sr.dtype) @ sr
    return _trace_fun(_sqrt_f, _sqrt_df, m) ** 2


def bell_fidelities(rho: Any) -> jax.Array:
    """Fidelities to Phi+, Phi-, Psi+, Psi- (in that order) of a two-qubit state: ``(..., 4)``."""
    r = _data(rho)
    if r.shape[-1] != 4:
        raise ValueError(f"Argument `rho` must be a two-qubit state (..., 4, 4), got {r.shape}.")
    kets = jnp.asarray(np.stack(list(BELL_STATES.values())), r.dtype)
    return jnp.real(jnp.einsum("bi,...ij,bj->...b", jnp.conj(kets), r, kets))


def purity(rho: Any) -> jax.Array:
    """``Tr rho^2``, real ``(...)``."""
    r = _data(rho)
    return jnp.real(jnp.einsum("...ij,...ji->...", r, r))


def _xlogx_f(w: jax.Array) -> jax.Array:
    wc = jnp.clip(w, 0.0, None)
    return jnp.where(wc > 0, -wc * jnp.log(jnp.where(wc > 0, wc, 1.0)), 0.0)


def _xlogx_df(w: jax.Array) -> jax.Array:
    return -(jnp.log(jnp.clip(w, _eps(w.dtype), None)) + 1.0)


def von_neumann_entropy(rho: Any, base: float = 2.0) -> jax.Array:
    """``-Tr rho log rho`` in units of ``log(base)`` (bits by default), real ``(...)``."""
    s = _trace_fun(_xlogx_f, _xlogx_df, _data(rho))
    return s / jnp.log(jnp.asarray(base, s.dtype))


def _abs_f(w: jax.Array) -> jax.Array:
    return jnp.abs(w)


def _abs_df(w: jax.Array) -> jax.Array:
    return jnp.sign(w)


def trace_distance(rho: Any, sigma: Any) -> jax.Array:
    """``(1/2) Tr|rho - sigma|``, real ``(...)``."""
    return 0.5 * _trace_fun(_abs_f, _abs_df, _data(rho) - _data(sigma))


def _partial_transpose_b(r: jax.Array, dims: tuple[int, int]) -> jax.Array:
    da, db = dims
    t = r.reshape(r.shape[:-2] + (da, db, da, db))
    t = jnp.swapaxes(t, -3, -1)
    return t.reshape(r.shape)


def _bipartite_dims(rho: Any, dims: tuple[int, int] | None) -> tuple[int, int]:
    if dims is not None:
        return dims
    if isinstance(rho, DensityMatrix) and len(rho.space) == 2:
        return rho.space.dims  # type: ignore[return-value]
    d = _data(rho).shape[-1]
    if d == 4:
        return (2, 2)
    raise ValueError(f"Argument `dims` is needed for a bipartite split of a {d}-dimensional state.")


def negativity(rho: Any, dims: tuple[int, int] | None = None) -> jax.Array:
    """``(||rho^T_B||_1 - 1) / 2`` for a bipartite state (two subsystems, or ``dims``)."""
    d = _bipartite_dims(rho, dims)
    pt = _partial_transpose_b(_data(rho), d)
    return 0.5 * (_trace_fun(_abs_f, _abs_df, pt) - 1.0)


def log_negativity(rho: Any, dims: tuple[int, int] | None = None) -> jax.Array:
    """``log2 ||rho^T_B||_1``."""
    d = _bipartite_dims(rho, dims)
    pt = _partial_transpose_b(_data(rho), d)
    return jnp.log2(_trace_fun(_abs_f, _abs_df, pt))


def concurrence(rho: Any) -> jax.Array:
    """Wootters concurrence of a two-qubit state: ``max(0, l1 - l2 - l3 - l4)`` with ``l_i`` the
    decreasing square roots of the eigenvalues of ``sqrt(rho) (Y x Y) rho^* (Y x Y) sqrt(rho)``."""
    r = _data(rho)
    if r.shape[-1] != 4:
        raise ValueError(f"Argument `rho` must be a two-qubit state (..., 4, 4), got {r.shape}.")
    yy = jnp.asarray(np.kron([[0, -1j], [1j, 0]], [[0, -1j], [1j, 0]]), r.dtype)
    rt = yy @ jnp.conj(r) @ yy
    sr = _sqrtm(r)
    m = _sqrtm(sr @ rt @ sr)  # its eigenvalues are the l_i
    w = jnp.linalg.eigvalsh(_herm(m))  # ascending
    c = w[..., 3] - w[..., 2] - w[..., 1] - w[..., 0]
    return jnp.maximum(c, 0.0)
