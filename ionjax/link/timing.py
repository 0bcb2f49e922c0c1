"""Time-resolved detection: click-time densities in the gate, and the exact integrals of two clicks over the
accepted times (the gate, the coincidence window ``|t_1 - t_2| <= T_c`` and the time-resolved phase correction).

Every click has a *cause* with a density in time (ns from the nominal emission), ``p exp(-lam (t - l))`` for
``t`` in ``[l, h]`` (``h`` the gate's end) and zero before ``l``:

* a detected main photon, through the single-particle effect between input modes of nodes ``x`` (bra) and
  ``y`` (ket): ``f_xy(t) = xi_x(t)^* xi_y(t)``, ``l = max(s, d_x, d_y)``, ``lam = (G_x + G_y)/2 - i (w_x - w_y)``.
  The constant phase of ``int_gate f_xy`` (an interferometer phase) is calibrated away, so that the gated
  overlap :func:`gram` is real and non-negative (as :func:`ionjax.components.wavepacket.gated_overlap`);
* a dark count of rate ``R``: threshold detectors click at the first one, density ``R exp(-R (t - s))``;
  number-resolving detectors count exactly one, ``R exp(-R W)`` (uniform);
* a second photon from node ``x`` (``multi_photon_probability``): ``f_xx``.

Two clicks at ``t_1`` (the detector that watches the photon's mode 0) and ``t_2`` are accepted with weight
``[|t_1 - t_2| <= T_c] exp(-i kappa (t_1 - t_2))`` (``kappa = (w_a - w_b) Delta_a`` under the time-resolved
correction, ``Delta_a`` the difference of ion A's bits between the ket and bra of the heralded entry; 0
otherwise), integrated exactly by :func:`band_integral` (closed form: the band splits the gate's square
into at most three pieces in ``t_1``, on each of which the inner integral is one or two exponentials).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

__all__ = ["Density", "photon_density", "dark_density", "gram", "gate_integral", "band_integral",
           "uniform_pair_fraction"]


class Density(NamedTuple):
    """``amp exp(-lam (t - start))`` for ``t >= start`` (ns), zero before; ``safe``: ``lam`` is bounded away
    from 0 (a photon's), so the density may be the inner variable of :func:`band_integral`."""

    amp: Any
    lam: Any
    start: Any
    safe: bool


def _phi1(x: Any) -> Any:
    """``(1 - exp(-x)) / x`` (1 at 0), stable for complex ``x`` with ``Re x >= 0``."""
    small = jnp.abs(x) < 1e-6
    xs = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 - 0.5 * x + x * x / 6.0, -jnp.expm1(-xs) / xs)


def _exp_integral(gamma: Any, a: Any, b: Any, shift: Any = 0.0) -> Any:
    """``int_a^b exp(-gamma x) dx`` times ``exp(-shift)`` (the two exponents added first: no overflow)."""
    return jnp.exp(-shift - gamma * a) * (b - a) * _phi1(gamma * (b - a))


def photon_density(rate_x: Any, w_x: Any, d_x: Any, rate_y: Any, w_y: Any, d_y: Any, start: Any, end: Any) -> Density:
    """``f_xy`` in the gate ``[start, end]`` (rates in 1/ns, ``w`` in rad/ns, delays in ns), phase-calibrated."""
    lo = jnp.maximum(jnp.maximum(start, d_x), d_y)
    lam = 0.5 * (rate_x + rate_y) - 1j * (w_x - w_y)
    amp = jnp.sqrt(rate_x * rate_y) * jnp.exp(-0.5 * rate_x * (lo - d_x) - 0.5 * rate_y * (lo - d_y))
    e = _exp_integral(lam, 0.0, jnp.maximum(end - lo, 0.0))
    mag = jnp.abs(e)
    calib = jnp.where(mag > 0.0, jnp.conj(e) / jnp.where(mag > 0.0, mag, 1.0), 1.0)
    return Density(amp * calib, lam, lo, True)


def dark_density(rate_per_ns: Any, start: Any, window: Any, kind: str) -> Density:
    """A dark click's density (module docstring); its integral over the gate is ``1 - e^{-mu}`` (threshold) or
    ``mu e^{-mu}`` (pnr), ``mu = R W``."""
    if kind == "pnr":
        return Density(rate_per_ns * jnp.exp(-rate_per_ns * window), 0.0 * rate_per_ns, start, False)
    return Density(rate_per_ns, rate_per_ns, start, False)


def gate_integral(d: Density, end: Any) -> Any:
    """``int_gate density``."""
    return d.amp * _exp_integral(d.lam, 0.0, jnp.maximum(end - d.start, 0.0))


def gram(d: Density, end: Any) -> Any:
    """The (real) gated overlap ``int_gate f_xy`` of a photon density."""
    return jnp.real(gate_integral(d, end))


def band_integral(d1: Density, d2: Density, end: Any, window_t: Any, kappa: Any) -> Any:
    """``int int d1(t1) d2(t2) exp(-i kappa (t1 - t2)) [|t1 - t2| <= window_t]`` over the gate (``t <= end``).

    Exact (closed form). ``d2`` is the inner variable and must be ``safe`` (a photon's; swapped if only
    ``d1`` is); two unsafe (dark) densities go to :func:`uniform_pair_fraction`.
    """
    if not d2.safe:
        if not d1.safe:
            raise ValueError("band_integral: two dark densities (use uniform_pair_fraction)")
        return band_integral(d2, d1, end, window_t, -kappa)
    lam_u, lam_v = d1.lam + 1j * kappa, d2.lam - 1j * kappa
    u_max = jnp.maximum(end - d1.start, 0.0)
    v_max = jnp.maximum(end - d2.start, 0.0)
    c = d1.start - d2.start  # t1 - t2 = u - v + c
    t_cap = u_max + v_max + jnp.abs(c)  # a band this wide holds the whole square
    t = jnp.where(window_t < t_cap, window_t, t_cap)
    a0 = jnp.maximum(0.0, -c - t)
    b0 = jnp.maximum(a0, jnp.minimum(u_max, v_max - c + t))
    p1 = jnp.clip(t - c, a0, b0)
    p2 = jnp.clip(v_max - c - t, a0, b0)
    pts = [a0, jnp.minimum(p1, p2), jnp.maximum(p1, p2), b0]
    total: Any = 0.0
    for a, b in zip(pts[:-1], pts[1:]):
        m = 0.5 * (a + b)
        lo_lin = m + c - t > 0.0  # the inner integral starts at v = u + c - t (else at 0)
        hi_lin = m + c + t < v_max  # ... and ends at v = u + c + t (else at v_max)
        lower = jnp.where(lo_lin, _lin_term(lam_u, lam_v, c - t, a, b), _exp_integral(lam_u, a, b))
        upper = jnp.where(hi_lin, _lin_term(lam_u, lam_v, c + t, a, b),
                          jnp.exp(-lam_v * v_max) * _exp_integral(lam_u, a, b))
        total = total + lower - upper
    phase = jnp.exp(-1j * kappa * c)
    return d1.amp * d2.amp * phase * total / lam_v


def _lin_term(lam_u: Any, lam_v: Any, k: Any, a: Any, b: Any) -> Any:
    """``int_a^b exp(-lam_u u) exp(-lam_v (u + k)) du`` on a piece where ``u + k >= 0``."""
    g = lam_u + lam_v
    return jnp.exp(-lam_v * jnp.maximum(k + a, 0.0) - lam_u * a) * (b - a) * _phi1(g * (b - a))


def uniform_pair_fraction(window: Any, window_t: Any, kappa: Any) -> Any:
    """``(1/W^2) int int_[0,W]^2 exp(-i kappa (u - v)) [|u - v| <= T]`` (two uniform click times; real):
    ``(2/W^2) int_0^T' cos(kappa x) (W - x) dx``, ``T' = min(T, W)``."""
    tp = jnp.minimum(window_t, window)
    y = kappa * tp
    small = jnp.abs(y) < 1e-3
    ys = jnp.where(small, 1.0, y)
    sinc = jnp.where(small, 1.0 - y * y / 6.0, jnp.sin(ys) / ys)
    h = jnp.where(small, 0.5 - y * y / 8.0, (jnp.cos(ys) + ys * jnp.sin(ys) - 1.0) / (ys * ys))
    return 2.0 * (window * tp * sinc - tp * tp * h) / (window * window)
