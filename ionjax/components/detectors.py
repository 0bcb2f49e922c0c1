"""Photon detectors: outcome probabilities given the number of photons that reach them.

A detector's POVM is diagonal in the photon-number basis, so a detector is
fully described by ``P(outcome | n photons arriving)``. Functions here return
those tables for ``n = 0 .. n_max`` as arrays ``(n_max + 1,)``; protocols turn
them into diagonal effects on a Fock register (never a dense matrix).

* Threshold (on/off): ``P(no click | n) = (1 - p_dark) (1 - eta)^n``.
* Photon-number-resolving: ``P(k counts | n)``, detected photons binomial
  ``(n, eta)``, dark counts Poisson with mean ``R W`` (so that ``P(no dark
  count) = 1 - p_dark`` as for the threshold detector).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.channels import check_probability
from ._validate import check_range

__all__ = [
    "dark_click_probability",
    "window_acceptance",
    "threshold_no_click",
    "threshold_outcomes",
    "pnr_count_probabilities",
]


def dark_click_probability(dark_count_rate_hz: Any, window_ns: Any) -> jax.Array:
    """``p_dark = 1 - exp(-R W)`` of one detector in a window ``W`` (ns) at dark-count rate ``R`` (Hz)."""
    check_probability("dark_count_rate_hz", dark_count_rate_hz, 0.0, float("inf"))
    check_probability("window_ns", window_ns, 0.0, float("inf"))
    return -jnp.expm1(-jnp.asarray(dark_count_rate_hz) * jnp.asarray(window_ns) * 1e-9)


def window_acceptance(window_ns: Any, photon_lifetime_ns: Any) -> jax.Array:
    """Fraction of an exponential wavepacket (lifetime ``tau``) inside a window from emission: ``1 - exp(-W/tau)``."""
    check_probability("window_ns", window_ns, 0.0, float("inf"))
    check_range("photon_lifetime_ns", photon_lifetime_ns, 0.0, float("inf"), lo_open=True,
                fix="A wavepacket's 1/e time is > 0 ns (about the P-level lifetime, e.g. 8 ns).")
    return -jnp.expm1(-jnp.asarray(window_ns) / jnp.asarray(photon_lifetime_ns))


def threshold_no_click(n_max: int, efficiency: Any, p_dark: Any) -> jax.Array:
    """``P(no click | n)`` for ``n = 0..n_max``: ``(1 - p_dark)(1 - eta)^n``, shape ``(n_max + 1,)``."""
    check_probability("efficiency", efficiency)
    check_probability("p_dark", p_dark)
    n = np.arange(n_max + 1)
    return (1.0 - jnp.asarray(p_dark)) * (1.0 - jnp.asarray(efficiency)) ** n


def threshold_outcomes(n_max: int, efficiency: Any, p_dark: Any) -> jax.Array:
    """``[P(no click | n), P(click | n)]``, shape ``(2, n_max + 1)``."""
    none = threshold_no_click(n_max, efficiency, p_dark)
    return jnp.stack([none, 1.0 - none])


def pnr_count_probabilities(n_max: int, efficiency: Any, p_dark: Any, k_max: int | None = None) -> jax.Array:
    """``P(k counts | n)`` of a photon-number-resolving detector, shape ``(k_max + 1, n_max + 1)``.

    Detected photons are binomial(n, eta); dark counts are Poisson with mean
    ``lam = -log(1 - p_dark)``. ``k_max`` defaults to ``n_max``; the last row holds
    ``P(k >= k_max | n)`` so each column sums to one.
    """
    check_probability("efficiency", efficiency)
    check_probability("p_dark", p_dark)
    k_max = n_max if k_max is None else k_max
    eta = jnp.asarray(efficiency)
    lam = -jnp.log1p(-jnp.asarray(p_dark))
    n = np.arange(n_max + 1)
    j = np.arange(n_max + 1)[:, None]  # detected photons
    valid = j <= n[None, :]
    comb = np.array([[math.comb(int(nn), int(jj)) if jj <= nn else 0 for nn in n] for jj in j[:, 0]], dtype=float)
    jj = np.where(valid, j, 0)
    nj = np.where(valid, n[None, :] - j, 0)
    binom = jnp.where(valid, comb * eta ** jj * (1.0 - eta) ** nj, 0.0)  # (j, n)
    d = np.arange(k_max + 1)
    poisson = jnp.exp(-lam) * lam ** d / np.array([math.factorial(int(k)) for k in d], dtype=float)  # (d,)
    rows = []
    for k in range(k_max):
        # P(k) = sum_j binom(j | n) poisson(k - j)
        idx = k - np.arange(n_max + 1)
        ok = idx >= 0
        pk = jnp.where(ok[:, None], poisson[np.where(ok, idx, 0)][:, None], 0.0)
        rows.append(jnp.sum(binom * pk, axis=0))
    rows_arr = jnp.stack(rows) if rows else jnp.zeros((0, n_max + 1))
    last = 1.0 - jnp.sum(rows_arr, axis=0)
    return jnp.concatenate([rows_arr, last[None]], axis=0)
