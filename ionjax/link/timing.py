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

import jax
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


def band_integral(d1: Density, d2: Density, end: Any, lo: Any, hi: Any, kappa: Any) -> Any:
    """``int int d1(t1) d2(t2) exp(-i kappa (t1 - t2)) [lo <= t1 - t2 <= hi]`` over the gate (``t <= end``).

    Exact (closed form). ``lo``/``hi`` may be infinite (the coincidence window ``lo = -T_c``, ``hi = T_c``; a
    detector's dead time lowers ``hi``, see :class:`ionjax.link.compiled._ClickWeights`); an empty band
    (``hi < lo``) gives 0. ``d2`` is the inner variable and must be ``safe`` (a photon's; swapped if only
    ``d1`` is, which maps the band to ``[-hi, -lo]``); two unsafe (dark) densities go to
    :func:`uniform_pair_fraction`.
    """
    if not d2.safe:
        if not d1.safe:
            raise ValueError("band_integral: two dark densities (use uniform_pair_fraction)")
        return band_integral(d2, d1, end, -hi, -lo, -kappa)
    return _band(d1.amp, d1.lam, d1.start, d2.amp, d2.lam, d2.start, end, lo, hi, kappa)


def _band_plain(amp1: Any, lam1: Any, s1: Any, amp2: Any, lam2: Any, s2: Any, end: Any, lo: Any, hi: Any,
                kappa: Any) -> Any:
    """:func:`band_integral`'s closed form (``d2`` safe)."""
    lam_u, lam_v = lam1 + 1j * kappa, lam2 - 1j * kappa
    u_max = jnp.maximum(end - s1, 0.0)
    v_max = jnp.maximum(end - s2, 0.0)
    c = s1 - s2  # t1 - t2 = u - v + c: the band is u + c - hi <= v <= u + c - lo
    t_cap = u_max + v_max + jnp.abs(c)  # a band this wide holds the whole square
    empty = hi < lo
    lo = jnp.where(lo > -t_cap, jnp.where(lo < t_cap, lo, t_cap), -t_cap)  # clip: the square holds no more
    hi = jnp.where(empty, lo, jnp.where(hi < t_cap, jnp.where(hi > -t_cap, hi, -t_cap), t_cap))
    # (the derivative in lo and hi is the custom JVP's; where breakpoints tie, these picks pass the derivative
    # in the other numbers to one of them, where jnp.clip and jnp.minimum would split it)
    a0 = _pick(lo - c > 0.0, lo - c, 0.0)
    b_edge = _pick(v_max - c + hi < u_max, v_max - c + hi, u_max)
    b0 = _pick(a0 > b_edge, a0, b_edge)  # b0 >= a0: a band outside the square has no pieces
    p1 = _clip(hi - c, a0, b0)  # the lower line v = u + c - hi leaves v = 0
    p2 = _clip(v_max - c + lo, a0, b0)  # the upper line v = u + c - lo reaches v_max
    pts = [a0, _pick(p1 <= p2, p1, p2), _pick(p1 <= p2, p2, p1), b0]
    total: Any = 0.0
    for a, b in zip(pts[:-1], pts[1:]):
        m = 0.5 * (a + b)
        lo_lin = m + c - hi > 0.0  # the inner integral starts at v = u + c - hi (else at 0)
        hi_lin = m + c - lo < v_max  # ... and ends at v = u + c - lo (else at v_max)
        lower = jnp.where(lo_lin, _lin_term(lam_u, lam_v, c - hi, a, b), _exp_integral(lam_u, a, b))
        upper = jnp.where(hi_lin, _lin_term(lam_u, lam_v, c - lo, a, b),
                          jnp.exp(-lam_v * v_max) * _exp_integral(lam_u, a, b))
        total = total + lower - upper
    phase = jnp.exp(-1j * kappa * c)
    return jnp.where(empty, 0.0, amp1 * amp2 * phase * total / lam_v)


@jax.custom_jvp
def _band(amp1: Any, lam1: Any, s1: Any, amp2: Any, lam2: Any, s2: Any, end: Any, lo: Any, hi: Any,
          kappa: Any) -> Any:
    return _band_plain(amp1, lam1, s1, amp2, lam2, s2, end, lo, hi, kappa)


@_band.defjvp
def _band_jvp(primals: tuple, tangents: tuple) -> tuple:
    """The band's edges enter through the line integrals ``d/dhi = L(hi)``, ``d/dlo = -L(lo)``: exact at every
    edge position (automatic differentiation of the pieces is one-sided where an edge meets a corner of the gate's
    square, and splits the derivative between tied breakpoints)."""
    *rest, lo, hi, kappa = primals
    *t_rest, t_lo, t_hi, t_kappa = tangents
    out, t_out = jax.jvp(lambda *a: _band_plain(*a[:-1], lo, hi, a[-1]), (*rest, kappa), (*t_rest, t_kappa))
    amp1, lam1, s1, amp2, lam2, s2, end = rest
    empty = hi < lo

    def line(x: Any) -> Any:  # int over the gate of d1(t) d2(t - x) exp(-i kappa x): the band's edge t1 - t2 = x
        cap = jnp.abs(end - s1) + jnp.abs(end - s2) + jnp.abs(s1 - s2) + 1.0
        x = jnp.where(jnp.abs(x) < cap, x, jnp.sign(x) * cap)  # beyond the square: no line (and no inf)
        t0 = jnp.maximum(s1, s2 + x)
        length = jnp.maximum(jnp.minimum(end, end + x) - t0, 0.0)
        expo = lam1 * (t0 - s1) + lam2 * (t0 - x - s2) + 1j * kappa * x
        return amp1 * amp2 * jnp.exp(-expo) * length * _phi1((lam1 + lam2) * length)

    edge = line(hi) * t_hi - line(lo) * t_lo
    return out, t_out + jnp.where(empty, 0.0, edge)


def _pick(cond: Any, a: Any, b: Any) -> Any:
    return jnp.where(cond, a, b)


def _clip(x: Any, a: Any, b: Any) -> Any:
    """``x`` clipped to ``[a, b]``, its derivative ``x``'s at a tie."""
    return jnp.where(x < a, a, jnp.where(x > b, b, x))


def _lin_term(lam_u: Any, lam_v: Any, k: Any, a: Any, b: Any) -> Any:
    """``int_a^b exp(-lam_u u) exp(-lam_v (u + k)) du`` on a piece where ``u + k >= 0``."""
    g = lam_u + lam_v
    return jnp.exp(-lam_v * jnp.maximum(k + a, 0.0) - lam_u * a) * (b - a) * _phi1(g * (b - a))


def _phi2(x: Any) -> Any:
    """``(1 - exp(-x) (1 + x)) / x^2`` (1/2 at 0), stable for complex ``x`` with ``Re x >= 0``."""
    small = jnp.abs(x) < 1e-3
    xs = jnp.where(small, 1.0, x)
    return jnp.where(small, 0.5 - x / 3.0 + x * x / 8.0 - x * x * x / 30.0,
                     (-jnp.expm1(-xs) - xs * jnp.exp(-xs)) / (xs * xs))


def uniform_pair_fraction(window: Any, lo: Any, hi: Any, kappa: Any) -> Any:
    """``(1/W^2) int int_[0,W]^2 exp(-i kappa (u - v)) [lo <= u - v <= hi]`` (two uniform click times):
    ``(1/W^2) int exp(-i kappa x) (W - |x|) dx`` over ``[lo, hi] & [-W, W]``, closed form (real for
    ``kappa = 0`` or a symmetric band)."""
    real = isinstance(kappa, (int, float)) and kappa == 0

    def part(p: Any, q: Any) -> Any:  # int_p^q exp(-i kappa x) (W - x) dx, 0 <= p <= q <= W
        p, q = jnp.clip(p, 0.0, window), jnp.clip(q, 0.0, window)
        q = jnp.maximum(p, q)
        if real:
            return window * (q - p) - 0.5 * (q * q - p * p)
        z = 1j * kappa

        def h(x: Any) -> Any:
            return window * x * _phi1(z * x) - x * x * _phi2(z * x)

        return h(q) - h(p)

    plus = part(lo, hi)  # x >= 0
    minus = part(-hi, -lo)  # x < 0, as -x: exp(+i kappa x), the conjugate
    total = plus + (minus if real else jnp.conj(minus))
    return jnp.where(hi < lo, 0.0, total / (window * window))
