"""Channels as superoperators: entries computed straight from the physical numbers.

A Kraus form needs square roots of probabilities, whose derivative is infinite
where a probability is zero (no error yet, no wait yet), and ``jax.grad``
returns NaN there. A superoperator ``S`` with ``rho'_{ab} = sum_{ce} S[a, b, c, e] rho_{ce}``
holds the products themselves, smooth in the numbers: use these for
anything you differentiate at the ideal point.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .state import DensityMatrix, _work_dtype

__all__ = ["apply_superop", "dephasing_superop", "memory_decay_superop", "kraus_to_superop"]


def apply_superop(state: DensityMatrix, superop: Any, on: str | tuple[str, ...]) -> DensityMatrix:
    """Apply ``S`` of shape ``(d, d, d, d)`` (``rho'_{ab} = sum S[a,b,c,e] rho_{ce}``) to subsystems ``on``."""
    idx = state.space.indices(on)
    d = 1
    for i in idx:
        d *= state.space.dims[i]
    s = jnp.asarray(superop)
    if s.shape != (d, d, d, d):
        raise ValueError(f"Argument `superop` must have shape {(d, d, d, d)} to act on {on}, got {tuple(s.shape)}.")
    dims_on = tuple(state.space.dims[i] for i in idx)
    s = s.reshape(dims_on * 4).astype(_work_dtype(s.dtype, state.data.dtype))
    n = len(state.space)
    rows, cols = list(range(n)), list(range(n, 2 * n))
    new_rows, new_cols = list(rows), list(cols)
    a = [2 * n + j for j in range(len(idx))]
    b = [3 * n + j for j in range(len(idx))]
    for j, i in enumerate(idx):
        new_rows[i], new_cols[i] = a[j], b[j]
    out = jnp.einsum(s, a + b + [rows[i] for i in idx] + [cols[i] for i in idx],
                     state._tensor(), [...] + rows + cols, [...] + new_rows + new_cols)
    return state._from_tensor(out, state.space)


def dephasing_superop(p: Any) -> jax.Array:
    """Qubit Z error with probability ``p``: coherences scale by ``1 - 2p``. Shape ``(2, 2, 2, 2)``."""
    c = 1.0 - 2.0 * jnp.asarray(p)
    one = jnp.ones_like(c)
    diag = jnp.stack([one, c, c, one]).reshape(2, 2)
    eye = jnp.eye(2, dtype=c.dtype)
    return jnp.einsum("ab,ac,be->abce", diag, eye, eye)


def memory_decay_superop(t_s: Any, t1_s: Any = jnp.inf, t2_s: Any = jnp.inf) -> jax.Array:
    """Qubit memory over ``t_s``: populations relax to |0> with ``1 - exp(-t/T1)``, coherences decay as
    ``exp(-t/T2)`` (at most ``exp(-t/(2 T1))``: ``t2_s = inf`` is T1-limited). The same channel as
    :func:`ionjax.core.memory_decay`, with finite gradients at ``t = 0``."""
    t = jnp.asarray(t_s)
    inv_t1 = 1.0 / jnp.asarray(t1_s)
    gamma = -jnp.expm1(-t * inv_t1)
    # Coherences can decay no slower than relaxation allows (T2 <= 2 T1): t2_s = inf means T1-limited.
    coh = jnp.exp(-t * jnp.maximum(1.0 / jnp.asarray(t2_s), 0.5 * inv_t1))
    z = jnp.zeros_like(gamma)
    s = jnp.zeros((2, 2, 2, 2), dtype=jnp.result_type(gamma, coh))
    s = s.at[0, 0, 0, 0].set(1.0 + z).at[0, 0, 1, 1].set(gamma).at[1, 1, 1, 1].set(1.0 - gamma)
    return s.at[0, 1, 0, 1].set(coh).at[1, 0, 1, 0].set(coh)


def kraus_to_superop(kraus: Any) -> jax.Array:
    """``S[a, b, c, e] = sum_k K[k, a, c] conj(K[k, b, e])`` from Kraus operators ``(k, d, d)``."""
    k = jnp.asarray(kraus)
    return jnp.einsum("kac,kbe->abce", k, jnp.conj(k))
