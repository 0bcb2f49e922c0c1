"""Photon detectors: outcome probabilities given the number of photons that reach them.

A detector's POVM is diagonal in the photon-number basis, so a detector is
fully described by ``P(outcome | n photons arriving)``. Functions here return
those tables for ``n = 0 .. n_max`` as arrays ``(n_max + 1,)``; protocols turn
them into diagonal effects on a Fock register (never a dense matrix).

* Threshold (on/off): ``P(no click | n) = (1 - p_dark) (1 - eta)^n``.
* Photon-number-resolving: ``P(k counts | n)``, detected photons binomial
  ``(n, eta)``, dark counts Poisson with mean ``R W`` (so that ``P(no dark
  count) = 1 - p_dark`` as for the threshold detector).

Numerics: give the mean dark count ``mu = R W`` (:func:`mean_dark_counts`,
keyword ``mean_dark_count``) rather than ``p_dark`` where it can be large:
``p_dark = 1 - exp(-mu)`` rounds to 1 for ``mu`` above about 37 (float64; 17 in
float32), and ``mu = -log(1 - p_dark)`` is then infinite. From ``mu`` every
table entry is finite, accurate and has finite gradients for any ``mu >= 0``
(the Poisson weights in log space above ``mu = 1``), and a click probability is
a sum of positive terms (``p_dark + (1 - p_dark) (1 - (1 - eta)^n)`` with the
last factor a polynomial), not ``1 -`` a number close to 1.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ..core.channels import check_probability
from ._validate import check_range

__all__ = [
    "dark_click_probability",
    "mean_dark_counts",
    "poisson_pmf",
    "window_acceptance",
    "threshold_no_click",
    "threshold_outcomes",
    "pnr_count_probabilities",
]


def mean_dark_counts(dark_count_rate_hz: Any, window_ns: Any) -> jax.Array:
    """Mean number of dark counts ``mu = R W`` of one detector in a window ``W`` (ns) at rate ``R`` (Hz)."""
    check_probability("dark_count_rate_hz", dark_count_rate_hz, 0.0, float("inf"))
    check_probability("window_ns", window_ns, 0.0, float("inf"))
    return jnp.asarray(dark_count_rate_hz) * jnp.asarray(window_ns) * 1e-9


def dark_click_probability(dark_count_rate_hz: Any, window_ns: Any) -> jax.Array:
    """``p_dark = 1 - exp(-R W)`` of one detector in a window ``W`` (ns) at dark-count rate ``R`` (Hz)."""
    return -jnp.expm1(-mean_dark_counts(dark_count_rate_hz, window_ns))


def window_acceptance(window_ns: Any, photon_lifetime_ns: Any) -> jax.Array:
    """Fraction of an exponential wavepacket (lifetime ``tau``) inside a window from emission: ``1 - exp(-W/tau)``."""
    check_probability("window_ns", window_ns, 0.0, float("inf"))
    check_range("photon_lifetime_ns", photon_lifetime_ns, 0.0, float("inf"), lo_open=True,
                fix="A wavepacket's 1/e time is > 0 ns (about the P-level lifetime, e.g. 8 ns).")
    w, tau = jnp.asarray(window_ns), jnp.asarray(photon_lifetime_ns)
    # beyond 100 lifetimes the fraction is 1 to every precision: evaluate it there at exactly 100 lifetimes,
    # so that the derivative's W / tau^2 cannot overflow (and meet exp(-W/tau) = 0 as inf * 0) for tiny tau
    far = w >= _MAX_LIFETIMES * tau
    tau_s = jnp.where(far, jax.lax.stop_gradient(w / _MAX_LIFETIMES), tau)
    return -jnp.expm1(-w / tau_s)


_MAX_LIFETIMES = 100.0


def _powers(x: jax.Array, n: int) -> list[jax.Array]:
    """``[1, x, x^2, ..., x^n]`` by repeated products (finite gradients at ``x = 0``)."""
    out = [jnp.ones_like(x)]
    for _ in range(n):
        out.append(out[-1] * x)
    return out


def _poisson_list(k_max: int, mean: jax.Array) -> list[jax.Array]:
    """``[P(0), ..., P(k_max)]`` of a Poisson law with mean ``mean >= 0``, stable for any mean.

    Up to ``mean = 1`` the direct ``exp(-mu) mu^k / k!`` (exact, smooth at ``mu = 0``); above it
    ``exp(-mu + k log mu - log k!)``, which neither overflows (``mu^k``) nor forms ``0 * inf``.
    Each branch only ever sees arguments where it is finite (double ``where``), so the gradient is
    finite everywhere; underflow gives exact zeros.
    """
    small = mean <= 1.0
    ms = jnp.where(small, mean, 1.0)
    mb = jnp.where(small, 1.0, mean)
    e_s = jnp.exp(-ms)
    pw = _powers(ms, k_max)
    log_mb = jnp.log(mb)
    out = []
    for k in range(k_max + 1):
        direct = e_s * pw[k] / float(math.factorial(k))
        logged = jnp.exp(-mb + k * log_mb - math.lgamma(k + 1.0))
        out.append(jnp.where(small, direct, logged))
    return out


def poisson_pmf(k_max: int, mean: Any) -> jax.Array:
    """``P(k)`` for ``k = 0..k_max`` of a Poisson law with mean ``mean`` (any ``mean >= 0``), ``(k_max + 1,)``.

    Finite, accurate and with finite gradients for every mean (see :func:`_poisson_list`).
    """
    check_probability("mean", mean, 0.0, float("inf"))
    return jnp.stack(_poisson_list(k_max, jnp.asarray(mean)))


def _no_dark(p_dark: Any, mean_dark_count: Any) -> tuple[jax.Array, jax.Array]:
    """``(P(no dark count), P(a dark count))`` from exactly one of ``p_dark`` or ``mean_dark_count``."""
    if (p_dark is None) == (mean_dark_count is None):
        raise ValueError("Give exactly one of `p_dark` and `mean_dark_count` (the mean is exact for any rate; "
                         "use ionjax.components.mean_dark_counts(rate_hz, window_ns)).")
    if mean_dark_count is not None:
        check_probability("mean_dark_count", mean_dark_count, 0.0, float("inf"))
        mu = jnp.asarray(mean_dark_count)
        return jnp.exp(-mu), -jnp.expm1(-mu)
    check_probability("p_dark", p_dark)
    pd = jnp.asarray(p_dark)
    return 1.0 - pd, pd


def _threshold_lists(n_max: int, efficiency: Any, no_dark: jax.Array,
                     p_dark: jax.Array) -> tuple[list[jax.Array], list[jax.Array]]:
    """``P(no click | n)`` and ``P(click | n)``, ``n = 0..n_max``, as lists of scalars.

    ``P(click | n) = p_dark + (1 - p_dark) eta (1 + r + ... + r^(n-1))`` with ``r = 1 - eta``: a sum of
    positive terms (no cancellation when ``p_dark`` and ``eta`` are small, nor in float32).
    """
    eta = jnp.asarray(efficiency)
    r = 1.0 - eta
    pw = _powers(r, n_max)
    none = [no_dark * x for x in pw]
    click, geo = [p_dark], None
    for n in range(1, n_max + 1):
        geo = pw[0] if geo is None else geo + pw[n - 1]  # 1 + r + ... + r^(n-1)
        click.append(p_dark + no_dark * eta * geo)
    return none, click


def threshold_no_click(n_max: int, efficiency: Any, p_dark: Any = None, *,
                       mean_dark_count: Any = None) -> jax.Array:
    """``P(no click | n)`` for ``n = 0..n_max``: ``(1 - p_dark)(1 - eta)^n``, shape ``(n_max + 1,)``.

    Give ``p_dark`` or (exact for any dark-count rate) ``mean_dark_count`` ``= R W``.
    """
    return threshold_outcomes(n_max, efficiency, p_dark, mean_dark_count=mean_dark_count)[0]


def threshold_outcomes(n_max: int, efficiency: Any, p_dark: Any = None, *,
                       mean_dark_count: Any = None) -> jax.Array:
    """``[P(no click | n), P(click | n)]``, shape ``(2, n_max + 1)`` (``p_dark`` or ``mean_dark_count``)."""
    check_probability("efficiency", efficiency)
    none, click = _threshold_lists(n_max, efficiency, *_no_dark(p_dark, mean_dark_count))
    return jnp.stack([jnp.stack(none), jnp.stack(click)])


def _pnr_lists(n_max: int, efficiency: Any, mean: jax.Array, k_max: int) -> list[list[jax.Array]]:
    """``P(k counts | n)`` for ``k < k_max`` as ``[k][n]`` scalars (the convolution written out)."""
    eta = jnp.asarray(efficiency)
    e_p, o_p = _powers(eta, n_max), _powers(1.0 - eta, n_max)
    pois = _poisson_list(k_max, mean)
    rows = []
    for k in range(k_max):
        row = []
        for n in range(n_max + 1):
            # P(k | n) = sum_j binom(j | n, eta) poisson(k - j)
            terms = [math.comb(n, j) * e_p[j] * o_p[n - j] * pois[k - j] for j in range(min(k, n) + 1)]
            v = terms[0]
            for t in terms[1:]:
                v = v + t
            row.append(v)
        rows.append(row)
    return rows


def pnr_count_probabilities(n_max: int, efficiency: Any, p_dark: Any = None, k_max: int | None = None, *,
                            mean_dark_count: Any = None) -> jax.Array:
    """``P(k counts | n)`` of a photon-number-resolving detector, shape ``(k_max + 1, n_max + 1)``.

    Detected photons are binomial(n, eta); dark counts are Poisson with mean
    ``mean_dark_count`` (``= R W``, exact for any rate) or, given ``p_dark`` instead,
    ``lam = -log(1 - p_dark)``. ``k_max`` defaults to ``n_max``; the last row holds
    ``P(k >= k_max | n)`` so each column sums to one.
    """
    check_probability("efficiency", efficiency)
    if (p_dark is None) == (mean_dark_count is None):
        _no_dark(p_dark, mean_dark_count)  # raises the error naming both
    if mean_dark_count is not None:
        check_probability("mean_dark_count", mean_dark_count, 0.0, float("inf"))
        mean = jnp.asarray(mean_dark_count)
    else:
        check_probability("p_dark", p_dark)
        mean = -jnp.log1p(-jnp.asarray(p_dark))
    k_max = n_max if k_max is None else k_max
    rows = _pnr_lists(n_max, efficiency, mean, k_max)
    rows_arr = (jnp.stack([jnp.stack(r) for r in rows]) if rows
                else jnp.zeros((0, n_max + 1), jnp.result_type(jnp.asarray(efficiency), mean)))
    last = 1.0 - jnp.sum(rows_arr, axis=0)
    return jnp.concatenate([rows_arr, last[None].astype(rows_arr.dtype)], axis=0)
