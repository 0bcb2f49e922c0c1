"""Qubit/qudit channels as stacks of Kraus operators ``(k, d, d)``.

Each factory takes physical numbers (JAX values: differentiable, vmappable)
and returns the Kraus stack; apply it with
``state.apply_kraus(kraus, on="ion_a")``. Probability arguments are checked
when they are concrete numbers (a ValueError names the argument, the value
and the range); under ``jit`` the numbers are traced and are not checked.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .state import _sqrt0, complex_dtype

__all__ = [
    "dephasing",
    "depolarizing",
    "amplitude_damping",
    "memory_decay",
    "pauli_channel",
    "kraus_channel",
    "check_probability",
    "PAULI",
]

PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def _is_concrete(x: Any) -> bool:
    try:
        np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False
    return not isinstance(x, jax.core.Tracer)


def check_probability(name: str, value: Any, lo: float = 0.0, hi: float = 1.0) -> None:
    """ValueError naming ``name`` if a concrete ``value`` lies outside ``[lo, hi]``."""
    if _is_concrete(value):
        v = np.asarray(value)
        if not np.all(np.isfinite(v)) or np.any(v < lo) or np.any(v > hi):
            raise ValueError(f"Argument `{name}` must lie in [{lo}, {hi}], got {v if v.ndim else float(v)}.")


def _cd(*xs: Any) -> Any:
    """Complex dtype for Kraus operators built from ``xs``: the promoted precision of the floating
    arguments (Python floats are weak, so ``pauli_channel(0.0, 0.0, float32 p)`` is complex64)."""
    arrs = [jnp.asarray(x) for x in xs]
    arrs = [a for a in arrs if jnp.issubdtype(a.dtype, jnp.inexact)]
    if not arrs:
        return complex_dtype()
    return complex_dtype(jnp.result_type(*arrs))


def dephasing(p: Any) -> jax.Array:
    """Z error with probability ``p``: ``rho -> (1-p) rho + p Z rho Z``. Off-diagonals scale by ``1 - 2p``."""
    check_probability("p", p)
    return pauli_channel(0.0, 0.0, p)


def depolarizing(p: Any, dim: int = 2) -> jax.Array:
    """``rho -> (1 - p) rho + p I/d`` on a ``dim``-level system (``p`` in [0, 1]).

    Kraus form with the ``d^2`` Weyl (clock-and-shift) operators.
    """
    check_probability("p", p)
    p = jnp.asarray(p)
    cd = _cd(p)
    d = dim
    w = np.exp(2j * np.pi / d)
    shift = np.roll(np.eye(d), 1, axis=0)
    clock = np.diag(w ** np.arange(d))
    mp = np.linalg.matrix_power
    ops = np.stack([mp(shift, a) @ mp(clock, b) for a in range(d) for b in range(d)])
    # rho -> (1 - p + p/d^2) rho + p/d^2 sum_{(a,b) != 0} W rho W^dag
    c0 = _sqrt0(1.0 - p + p / d**2)
    c = _sqrt0(p / d**2)
    coefs = jnp.concatenate([c0[None], jnp.broadcast_to(c, (d * d - 1,))])
    return coefs.astype(cd)[:, None, None] * jnp.asarray(ops, cd)


def amplitude_damping(gamma: Any) -> jax.Array:
    """|1> -> |0> with probability ``gamma``: ``K0 = diag(1, sqrt(1-gamma))``, ``K1 = sqrt(gamma)|0><1|``."""
    check_probability("gamma", gamma)
    g = jnp.asarray(gamma)
    cd = _cd(g)
    z = jnp.zeros_like(g)
    k0 = jnp.stack([jnp.stack([jnp.ones_like(g), z]), jnp.stack([z, _sqrt0(1.0 - g)])])
    k1 = jnp.stack([jnp.stack([z, _sqrt0(g)]), jnp.stack([z, z])])
    return jnp.stack([k0, k1]).astype(cd)


def pauli_channel(px: Any, py: Any, pz: Any) -> jax.Array:
    """``rho -> (1 - px - py - pz) rho + px X rho X + py Y rho Y + pz Z rho Z``."""
    for name, v in (("px", px), ("py", py), ("pz", pz)):
        check_probability(name, v)
    px, py, pz = (jnp.asarray(v) for v in (px, py, pz))
    if _is_concrete(px) and _is_concrete(py) and _is_concrete(pz):
        total = float(np.sum(np.asarray(px) + np.asarray(py) + np.asarray(pz)))
        if total > 1.0 + 1e-12:
            raise ValueError(f"Arguments `px + py + pz` must be <= 1, got {total}.")
    cd = _cd(px, py, pz)
    probs = jnp.stack([1.0 - px - py - pz, px, py, pz])
    ops = jnp.asarray(np.stack([PAULI[k] for k in "IXYZ"]), cd)
    return _sqrt0(probs).astype(cd)[:, None, None] * ops


def memory_decay(t_s: Any, t1_s: Any = jnp.inf, t2_s: Any = jnp.inf) -> jax.Array:
    """Qubit memory over a wait ``t_s`` with energy relaxation ``T1`` and coherence time ``T2`` (seconds).

    Populations relax to |0> with ``1 - exp(-t/T1)``; coherences decay as ``exp(-t/T2)`` in all
    (``T2 <= 2 T1`` is required for a physical channel; a finite ``t2_s > 2 t1_s`` is an error).
    Infinite times mean no decay: ``t1_s = inf`` no relaxation, ``t2_s = inf`` no pure dephasing
    (coherences then decay only through relaxation, as ``exp(-t/(2 T1))``).
    Kraus stack ``(3, 2, 2)``: amplitude damping followed by pure dephasing.
    """
    check_probability("t_s", t_s, 0.0, np.inf)
    for name, v in (("t1_s", t1_s), ("t2_s", t2_s)):
        if _is_concrete(v) and np.any(np.asarray(v) <= 0):
            raise ValueError(f"Argument `{name}` must be > 0 (seconds; inf for none), got {np.asarray(v)}.")
    if _is_concrete(t1_s) and _is_concrete(t2_s):
        t1n, t2n = np.asarray(t1_s, dtype=float), np.asarray(t2_s, dtype=float)
        if np.any(np.isfinite(t2n) & (t2n > 2 * t1n)):
            raise ValueError(f"Arguments need `t2_s <= 2 * t1_s` for a physical channel, got T1={t1_s}, T2={t2_s}.")
    t = jnp.asarray(t_s)
    inv_t1 = 1.0 / jnp.asarray(t1_s)
    gamma = -jnp.expm1(-t * inv_t1)
    # Pure-dephasing factor left after amplitude damping's own exp(-t / 2T1): exp(-t (1/T2 - 1/2T1)) <= 1.
    lam = jnp.exp(-t * jnp.maximum(1.0 / jnp.asarray(t2_s) - 0.5 * inv_t1, 0.0))
    pz = (1.0 - lam) / 2.0
    ad = amplitude_damping(gamma)
    cd = ad.dtype
    z = jnp.asarray(PAULI["Z"], cd)
    # K = {sqrt(1-pz) A_i, sqrt(pz) Z A_i}: combine into 4 then drop sqrt(pz) Z A_1 = -sqrt(pz) A_1 (same form)
    # sqrt(1 - gamma) = exp(-t / 2T1) directly: 1 - gamma cancels catastrophically for t >> T1
    keep = jnp.exp(-0.5 * t * inv_t1).astype(cd)
    a0 = ad[0].at[1, 1].set(keep)
    a1 = ad[1]
    k = jnp.stack([_sqrt0(1.0 - pz).astype(cd) * a0, _sqrt0(pz).astype(cd) * (z @ a0), a1])
    return k


def kraus_channel(kraus: Any, atol: float = 1e-8) -> jax.Array:
    """A general channel from Kraus operators ``(k, d, d)``, checked for trace preservation.

    Raises ValueError if ``sum_k K_k^dag K_k`` differs from the identity by more than
    ``atol`` (checked when the operators are concrete numbers).
    """
    k = jnp.asarray(kraus)
    if k.ndim == 2:
        k = k[None]
    if k.ndim != 3 or k.shape[-1] != k.shape[-2]:
        raise ValueError(f"Argument `kraus` must have shape (k, d, d), got {tuple(jnp.shape(kraus))}.")
    k = k.astype(_cd(k))
    if _is_concrete(k):
        kn = np.asarray(k)
        s = np.einsum("kba,kbc->ac", kn.conj(), kn)
        err = float(np.max(np.abs(s - np.eye(kn.shape[-1]))))
        if err > atol:
            raise ValueError(
                f"Argument `kraus` is not trace preserving: sum_k K_k^dag K_k differs from the identity by {err:.3g} "
                f"(allowed {atol:g}). Normalize the operators, or add the missing Kraus operator."
            )
    return k
