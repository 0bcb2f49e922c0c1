"""Operators on a photon-number-bounded Fock register.

All index structure (which basis state maps to which) is static numpy,
computed once per ``(n_modes, n_max)`` and cached; the numbers (a unitary's
entries, a transmissivity) are JAX values, so everything here is
differentiable in them and never recompiles when they change.

Conventions:

* ``a_k |..., n_k, ...> = sqrt(n_k) |..., n_k - 1, ...>``.
* A mode unitary ``U`` (``m x m``) acts as ``U_hat a_j^dag U_hat^dag = sum_i U[i, j] a_i^dag``:
  on the one-photon block ``U_hat`` equals ``U``. Its lift is exact: block by
  total photon number, nothing is truncated.
* Pure loss on mode k with transmissivity ``eta``: ``|n> -> sum_l`` of ``l``
  photons lost with amplitude ``sqrt(C(n, l) eta^(n-l) (1-eta)^l)``.
"""

from __future__ import annotations

import math
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from .space import FockRegister, fock_basis
from .state import DensityMatrix, _sqrt0, complex_dtype

__all__ = [
    "annihilation",
    "creation",
    "number",
    "occupation",
    "lift_unitary",
    "loss_kraus",
    "apply_loss",
    "beam_splitter_unitary",
    "phase_shifter_unitary",
]


def _reg(reg: FockRegister) -> FockRegister:
    if not isinstance(reg, FockRegister):
        raise ValueError(f"Argument `reg` must be a FockRegister, got {type(reg).__name__}.")
    return reg


@cache
def _lower_index(n_modes: int, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """For each mode k and basis state t: index of t - e_k (or -1) and sqrt(t_k)."""
    basis = fock_basis(n_modes, n_max)
    table = {tuple(r): i for i, r in enumerate(basis)}
    idx = np.full((n_modes, len(basis)), -1, dtype=np.int64)
    fac = np.zeros((n_modes, len(basis)))
    for t, row in enumerate(basis):
        for k in range(n_modes):
            if row[k] > 0:
                r = list(row)
                r[k] -= 1
                idx[k, t] = table[tuple(r)]
                fac[k, t] = math.sqrt(row[k])
    return idx, fac


def annihilation(reg: FockRegister, mode: str) -> np.ndarray:
    """``a`` of ``mode`` on the register, ``(D, D)`` numpy (static; exact)."""
    reg = _reg(reg)
    k = reg.mode_index(mode)
    idx, fac = _lower_index(reg.n_modes, reg.n_max)
    a = np.zeros((reg.dim, reg.dim))
    cols = np.nonzero(idx[k] >= 0)[0]
    a[idx[k, cols], cols] = fac[k, cols]
    return a


def creation(reg: FockRegister, mode: str) -> np.ndarray:
    """``a^dag`` of ``mode``, ``(D, D)``; truncated (zero) out of the top block ``sum = n_max``."""
    return annihilation(reg, mode).T.copy()


def number(reg: FockRegister, mode: str) -> np.ndarray:
    """``a^dag a`` of ``mode``, diagonal ``(D, D)`` (exact)."""
    reg = _reg(reg)
    return np.diag(reg.basis[:, reg.mode_index(mode)].astype(float))


def occupation(reg: FockRegister, modes: str | tuple[str, ...] | list[str]) -> np.ndarray:
    """Total photon number in ``modes`` for each basis state: int ``(D,)`` (static)."""
    reg = _reg(reg)
    if isinstance(modes, str):
        modes = (modes,)
    cols = [reg.mode_index(m) for m in modes]
    return reg.basis[:, cols].sum(axis=1)


@cache
def _lift_plan(n_modes: int, n_max: int) -> tuple:
    """Static recursion plan: for block n, input state s = (s - e_j) + one photon in mode j.

    ``U_hat |s> = (1/sqrt(s_j)) (sum_i U[i, j] a_i^dag) U_hat |s - e_j>``, and ``a_i^dag`` is a
    gather: ``(a_i^dag v)[t] = sqrt(t_i) v[t - e_i]``.
    """
    basis = fock_basis(n_modes, n_max)
    totals = basis.sum(axis=1)
    starts = [int(np.searchsorted(totals, n)) for n in range(n_max + 2)]
    low_idx, low_fac = _lower_index(n_modes, n_max)
    plan = []
    for n in range(1, n_max + 1):
        lo, hi = starts[n], starts[n + 1]
        plo = starts[n - 1]
        s_rows = basis[lo:hi]
        j = np.argmax(s_rows > 0, axis=1)  # first occupied mode of each input state
        prev = low_idx[j, np.arange(lo, hi)] - plo  # index of s - e_j in block n-1
        inv_sqrt = 1.0 / np.sqrt(s_rows[np.arange(hi - lo), j])
        # gather for a_i^dag from block n-1 to block n: src[i, t] in block n-1 (or pad index)
        src = low_idx[:, lo:hi] - plo
        pad = starts[n] - plo  # index of an appended zero row
        src = np.where(src >= 0, src, pad)
        fac = low_fac[:, lo:hi]
        plan.append((lo, hi, j, prev, inv_sqrt, src, fac))
    return tuple(plan), tuple(starts)


def lift_unitary(reg: FockRegister, u: jax.Array) -> jax.Array:
    """Exact lift of an ``m x m`` mode unitary to the register: ``(D, D)``, block-diagonal in photon number.

    Differentiable in ``u``. Cost: ``m * B_n^2`` gathers for each block of ``B_n`` states.
    """
    reg = _reg(reg)
    u = jnp.asarray(u)
    m = reg.n_modes
    if u.shape != (m, m):
        raise ValueError(f"Argument `u` must have shape ({m}, {m}) for register {reg.name!r}, got {tuple(u.shape)}.")
    u = u.astype(complex_dtype(u.dtype))
    return _lift(u, m, reg.n_max)


def _lift_blocks(xp, u, m: int, n_max: int):  # noqa: ANN001, ANN202
    """The block recursion of :func:`lift_unitary` on the array module ``xp`` (``jax.numpy`` or ``numpy``)."""
    plan, starts = _lift_plan(m, n_max)
    blocks = [xp.ones((1, 1), u.dtype)]
    prev_block = blocks[0]
    real = u.real.dtype
    for _lo, _hi, j, prev, inv_sqrt, src, fac in plan:
        cols_prev = prev_block[:, prev]  # (B_{n-1}, B_n): U_hat|s - e_j> in block n-1
        padded = xp.concatenate([cols_prev, xp.zeros((1, cols_prev.shape[1]), u.dtype)], axis=0)
        gathered = padded[src]  # (m, B_n, B_n): [i, t, s] = (U_hat|s-e_j>)[t - e_i]
        weights = u[:, j]  # (m, B_n): U[i, j(s)]
        block = xp.einsum("it,its,is->ts", xp.asarray(fac, real), gathered, weights)
        block = block * xp.asarray(inv_sqrt, real)
        blocks.append(block)
        prev_block = block
    return blocks


@partial(jax.jit, static_argnums=(1, 2))
def _lift(u: jax.Array, m: int, n_max: int) -> jax.Array:
    # Compiled as one program: called eagerly (scripts), the block recursion would otherwise dispatch
    # and compile dozens of small gathers one by one. Inside an outer jit/vmap/grad it simply inlines.
    return jax.scipy.linalg.block_diag(*_lift_blocks(jnp, u, m, n_max))


def lift_unitary_numpy(reg: FockRegister, u: np.ndarray) -> np.ndarray:
    """:func:`lift_unitary` for a concrete ``u``, in NumPy (the same recursion): for static structure built
    while tracing, where JAX would otherwise lower each small operation on its own."""
    reg = _reg(reg)
    u = np.asarray(u, dtype=np.complex128)
    m = reg.n_modes
    if u.shape != (m, m):
        raise ValueError(f"Argument `u` must have shape ({m}, {m}) for register {reg.name!r}, got {tuple(u.shape)}.")
    blocks = _lift_blocks(np, u, m, reg.n_max)
    dim = sum(b.shape[0] for b in blocks)
    out = np.zeros((dim, dim), np.complex128)
    k = 0
    for b in blocks:
        out[k:k + b.shape[0], k:k + b.shape[1]] = b
        k += b.shape[0]
    return out


def beam_splitter_unitary(reflectivity: jax.Array | float = 0.5, phase_rad: jax.Array | float = 0.0) -> jax.Array:
    """2x2 mode unitary of a beam splitter with power reflectivity R and phase phi.

    ``[[sqrt(T), exp(-i phi) sqrt(R)], [-exp(i phi) sqrt(R), sqrt(T)]]`` (T = 1 - R), in the
    convention ``U_hat a_j^dag U_hat^dag = sum_i U[i, j] a_i^dag``: for R = 1/2 and phi = 0,
    ``|1,1> -> (|2,0> - |0,2>)/sqrt(2)`` (Hong-Ou-Mandel bunching).
    """
    r = jnp.asarray(reflectivity)
    cd = complex_dtype(r.dtype if jnp.issubdtype(r.dtype, jnp.floating) else None)
    sr = jnp.sqrt(r).astype(cd)
    st = jnp.sqrt(1.0 - r).astype(cd)
    e = jnp.exp(1j * jnp.asarray(phase_rad)).astype(cd)
    return jnp.stack([jnp.stack([st, jnp.conj(e) * sr]), jnp.stack([-e * sr, st])])


def phase_shifter_unitary(phase_rad: jax.Array | float) -> jax.Array:
    """1x1 mode unitary ``exp(i phi)``."""
    p = jnp.asarray(phase_rad)
    cd = complex_dtype(p.dtype if jnp.issubdtype(p.dtype, jnp.floating) else None)
    return jnp.exp(1j * p).reshape(1, 1).astype(cd)


@cache
def _loss_plan(n_modes: int, n_max: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each l = 0..n_max: target index of t - l e_k (or -1) and sqrt(C(t_k, l))."""
    basis = fock_basis(n_modes, n_max)
    table = {tuple(r): i for i, r in enumerate(basis)}
    d = len(basis)
    tgt = np.full((n_max + 1, d), -1, dtype=np.int64)
    coef = np.zeros((n_max + 1, d))
    for t, row in enumerate(basis):
        for l in range(row[k] + 1):
            r = list(row)
            r[k] -= l
            tgt[l, t] = table[tuple(r)]
            coef[l, t] = math.sqrt(math.comb(int(row[k]), l))
    return tgt, coef, basis[:, k].copy(), (tgt >= 0)


def loss_kraus(reg: FockRegister, mode: str, eta: jax.Array | float) -> jax.Array:
    """Kraus operators of pure loss on ``mode``: ``(n_max + 1, D, D)``, ``K_l`` loses ``l`` photons.

    ``eta`` is the transmissivity in [0, 1]. For gradients at eta -> 0 or 1 prefer
    :func:`apply_loss`, which never takes the square root of ``1 - eta``.
    """
    reg = _reg(reg)
    k = reg.mode_index(mode)
    tgt, coef, n, valid = _loss_plan(reg.n_modes, reg.n_max, k)
    eta = jnp.asarray(eta)
    ls = np.arange(reg.n_max + 1)[:, None]
    expo_e = np.where(valid, n[None, :] - ls, 0)
    expo_l = np.where(valid, ls, 0)
    amp = coef * jnp.sqrt(eta ** expo_e * (1.0 - eta) ** expo_l) * valid
    cd = complex_dtype(eta.dtype if jnp.issubdtype(eta.dtype, jnp.floating) else None)
    out = jnp.zeros((reg.n_max + 1, reg.dim, reg.dim), cd)
    li, ti = np.nonzero(valid)
    return out.at[li, tgt[li, ti], ti].set(amp[li, ti].astype(cd))


def apply_loss(state: DensityMatrix, register: str, mode: str, eta: jax.Array | float) -> DensityMatrix:
    """Pure loss with transmissivity ``eta`` on one mode of a register of ``state``.

    Same channel as :func:`loss_kraus`, applied elementwise:
    ``rho[t, t'] -> rho[t - l e_k, t' - l e_k]`` weighted by
    ``sqrt(C(n,l) C(n',l)) eta^((n+n')/2 - l) (1-eta)^l``, so its gradient is finite at eta = 1.
    Shape rule: ``state.data`` ``(..., D, D)`` -> same.
    """
    reg = state.space[register]
    reg = _reg(reg)
    k = reg.mode_index(mode)
    eta = jnp.asarray(eta, dtype=jnp.real(state.data).dtype)
    pos = state.space.index(register)
    dims = state.space.dims
    t = state._tensor()
    b = len(state.batch_shape)
    nsub = len(dims)
    # Move the register's row/col axes to the end: (..., rest..., D, D)
    t = jnp.moveaxis(t, (b + pos, b + nsub + pos), (-2, -1))
    out = _loss_last_axes(t, eta, reg.n_modes, reg.n_max, k)
    out = jnp.moveaxis(out, (-2, -1), (b + pos, b + nsub + pos))
    return state._from_tensor(out, state.space)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _loss_last_axes(t: jax.Array, eta: jax.Array, n_modes: int, n_max: int, k: int) -> jax.Array:
    """Loss on mode ``k`` of a register whose row/col axes are the last two of ``t`` (one compiled program)."""
    tgt, coef, n, valid = _loss_plan(n_modes, n_max, k)
    out = jnp.zeros_like(t)
    for l in range(n_max + 1):
        ok = valid[l]
        if not ok.any():
            continue
        src = np.nonzero(ok)[0]
        dst = tgt[l, src]
        nn = n[src]
        expo = (nn[:, None] + nn[None, :]) / 2.0 - l
        w = (coef[l, src][:, None] * coef[l, src][None, :]) * _eta_pow(eta, expo) * (1.0 - eta) ** l
        block = t[..., src[:, None], src[None, :]] * w.astype(t.dtype)
        out = out.at[..., dst[:, None], dst[None, :]].add(block)
    return out


def _eta_pow(eta: jax.Array, expo: np.ndarray) -> jax.Array:
    """``eta ** expo`` for a static array of exponents in {0, 1/2, 1, 3/2, ...}, with finite derivatives at
    ``eta = 0``: ``eta ** 0`` is the constant 1 and ``eta ** (1/2)`` goes through :func:`_sqrt0`
    (a plain power gives ``0 * inf = NaN`` there, even for entries that do not matter)."""
    hi = (expo >= 1).astype(float)
    half = (expo == 0.5).astype(float)
    zero = (expo == 0).astype(float)
    return eta ** np.where(expo >= 1, expo, 1.0) * hi + _sqrt0(eta) * half + zero
