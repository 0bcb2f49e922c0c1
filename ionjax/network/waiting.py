"""Waiting times of heralded links, in closed form.

A link that succeeds with probability ``p`` per attempt needs ``N ~ Geometric(p)``
attempts (``P(N = k) = p q^(k-1)``, ``k >= 1``, ``q = 1 - p``). Links attempted in
parallel are independent. Formulas here are exact and serve as the ground
truth for the grid algorithm of :mod:`ionjax.network.chain`:

* ``max`` of ``n`` links: ``P(max <= t) = prod_i (1 - q_i^t)``, and
  ``E[max] = sum_{S != {}} (-1)^(|S|+1) / (1 - prod_{i in S} q_i)``; for equal links
  ``E[max] = sum_{k=1}^n (-1)^(k+1) C(n, k) / (1 - q^k)``.
* Two links: ``min(N1, N2) ~ Geometric(1 - q1 q2)`` is independent of the age difference
  ``D = |N1 - N2|``, with ``P(D = 0) = K``, ``P(D = d) = K (q1^d + q2^d)`` (``d >= 1``),
  ``K = p1 p2 / (1 - q1 q2)``.
* One swap of two links with a memory cutoff ``c`` (attempts; the older pair is discarded
  when it has waited longer than ``c``, and both links restart) and swap success
  probability ``q_s``: ``P(success) = P(D <= c) q_s``,
  ``E[T] = (E[min] + E[min(D, c)]) / P(success)``, and a stored pair's coherence factor
  ``r^D`` (``r = exp(-2 / (R T2))`` per attempt for both qubits) averages to
  ``E[r^D | D <= c] = sum_{d <= c} P(D = d) r^d / P(D <= c)``, a finite geometric sum.
  A non-integer cutoff is a random cutoff, ``floor(c)`` or ``floor(c) + 1`` with
  probabilities ``1 - frac(c)`` and ``frac(c)``: results are linear in ``frac(c)``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "geometric_pmf",
    "max_geometric_cdf",
    "expected_max_geometric",
    "age_difference_pmf",
    "TwoLinkSwap",
    "two_link_swap",
]


def geometric_pmf(p: Any, n_steps: int) -> jax.Array:
    """``P(N = t)`` for ``t = 0 .. n_steps - 1`` (zero at ``t = 0``), ``(..., n_steps)``. Smooth in ``p``."""
    p = jnp.asarray(p)
    pc = jnp.clip(p, 0.0, 1.0 - 1e-15)[..., None]
    t = jnp.arange(n_steps)
    return jnp.where(t >= 1, pc * jnp.exp(jnp.maximum(t - 1, 0) * jnp.log1p(-pc)), 0.0)


def max_geometric_cdf(p: Any, n: int, n_steps: int) -> jax.Array:
    """``P(max of n independent Geometric(p) <= t)`` for ``t = 0 .. n_steps - 1``."""
    t = jnp.arange(n_steps)
    return (-jnp.expm1(t * jnp.log1p(-jnp.clip(jnp.asarray(p), 0.0, 1.0 - 1e-15))[..., None])) ** n


def expected_max_geometric(p: Any, n: int | None = None) -> jax.Array:
    """``E[max]`` of independent geometric waiting times, exactly (inclusion-exclusion).

    Args:
        p: one success probability (with ``n`` links), or a sequence of ``n`` probabilities.
        n: number of equal links when ``p`` is a scalar.

    The alternating sum cancels badly for large ``n`` (use ``n <= 30`` equal links, or at most
    16 different ones); :func:`ionjax.network.repeater_chain` computes large chains on a grid.
    """
    p = jnp.asarray(p)
    if p.ndim == 0:
        if n is None or n < 1:
            raise ValueError(f"Argument `n` must be an integer >= 1 with a scalar `p`, got {n!r}.")
        q = 1.0 - p
        return sum((-1) ** (k + 1) * math.comb(n, k) / (1.0 - q**k) for k in range(1, n + 1))
    if p.ndim != 1 or p.shape[0] > 16:
        raise ValueError(f"Argument `p` must be a scalar or a 1-D sequence of at most 16 links, got shape {p.shape}.")
    q = 1.0 - p
    total = 0.0
    for k in range(1, p.shape[0] + 1):
        for subset in itertools.combinations(range(p.shape[0]), k):
            total = total + (-1) ** (k + 1) / (1.0 - jnp.prod(q[jnp.asarray(subset)]))
    return total


def age_difference_pmf(p1: Any, p2: Any, n_steps: int) -> jax.Array:
    """``P(|N1 - N2| = d)`` for ``d = 0 .. n_steps - 1`` of two independent geometric links."""
    p1, p2 = jnp.asarray(p1), jnp.asarray(p2)
    q1, q2 = 1.0 - p1, 1.0 - p2
    k = p1 * p2 / (1.0 - q1 * q2)
    d = jnp.arange(n_steps)
    return jnp.where(d == 0, k, k * (q1**d + q2**d))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TwoLinkSwap:
    """Closed-form figures of one swap of two links (times in attempts).

    Attributes:
        success_probability: probability that an attempt (both links delivered) ends in a swap.
        mean_attempts: expected attempts until the swapped pair exists.
        decay: ``E[r^D | success]``, the average coherence factor of the stored pair.
        correlators: the swapped pair's average correlators ``s * c1 * c2 * (decay, decay, 1)``.
        fidelity: its fidelity to ``Psi+``.
    """

    success_probability: jax.Array
    mean_attempts: jax.Array
    decay: jax.Array
    correlators: jax.Array
    fidelity: jax.Array


@jax.jit
def two_link_swap(p1: Any, p2: Any, c1: Any, c2: Any, cutoff: Any = jnp.inf, r: Any = 1.0,
                  s: Any = (1.0, 1.0, 1.0), swap_success_probability: Any = 1.0) -> TwoLinkSwap:
    """One swap of two geometric links, exactly (see the module docstring).

    Args:
        p1, p2: success probabilities per attempt.
        c1, c2: Pauli correlators ``(3,)`` of the two pairs.
        cutoff: the memory cutoff in attempts (float: a random cutoff; ``inf`` for none).
        r: coherence factor of a stored pair per attempt, ``exp(-2 / (attempt_rate T2))``.
        s: the swap factor (:func:`ionjax.network.swap_factor`).
        swap_success_probability: probability that the Bell measurement succeeds.
    """
    p1, p2, r = jnp.asarray(p1), jnp.asarray(p2), jnp.asarray(r)
    q1, q2 = 1.0 - p1, 1.0 - p2
    k = p1 * p2 / (1.0 - q1 * q2)
    e_min = 1.0 / (1.0 - q1 * q2)

    def geo(x: Any, n: Any) -> Any:  # sum_{d=1}^{n} x^d
        return jnp.where(jnp.abs(1.0 - x) < 1e-300, n, x * (1.0 - x**n) / (1.0 - x))

    def darith(x: Any, n: Any) -> Any:  # sum_{d=1}^{n} d x^d
        return x * (1.0 - (n + 1) * x**n + n * x ** (n + 1)) / (1.0 - x) ** 2

    def at(cint: Any) -> tuple[Any, Any, Any]:
        p_le = k * (1.0 + geo(q1, cint) + geo(q2, cint))  # P(D <= c)
        decay_sum = k * (1.0 + geo(q1 * r, cint) + geo(q2 * r, cint))  # E[r^D; D <= c]
        p_gt = 1.0 - p_le
        e_min_dc = k * (darith(q1, cint) + darith(q2, cint)) + cint * p_gt  # E[min(D, c)]
        return p_le, decay_sum, e_min_dc

    cutoff = jnp.asarray(cutoff, dtype=p1.dtype)
    finite = jnp.isfinite(cutoff)
    c0 = jnp.floor(jnp.where(finite, cutoff, 0.0))
    frac = jnp.where(finite, cutoff - c0, 0.0)
    lo, hi = at(c0), at(c0 + 1.0)
    # no cutoff: P(D <= c) = 1, E[r^D] closed form, E[min(D, c)] = E[D]
    inf_case = (1.0, k * (1.0 + q1 * r / (1.0 - q1 * r) + q2 * r / (1.0 - q2 * r)),
                k * (q1 / (1.0 - q1) ** 2 + q2 / (1.0 - q2) ** 2))
    p_le, decay_sum, e_min_dc = (jnp.where(finite, (1.0 - frac) * a + frac * b, c)
                                 for a, b, c in zip(lo, hi, inf_case))
    q_s = jnp.asarray(swap_success_probability)
    p_succ = p_le * q_s
    mean = (e_min + e_min_dc) / p_succ
    decay = decay_sum / p_le
    dvec = jnp.stack([decay, decay, jnp.ones_like(decay)])
    corr = jnp.asarray(s) * jnp.asarray(c1) * jnp.asarray(c2) * dvec
    return TwoLinkSwap(p_succ, mean, decay, corr, (1.0 + jnp.sum(corr)) / 4.0)

