"""Detector dead time in the time_bin link, against an independent quadrature model.

Reference (written from the physics; numpy/scipy only)
-------------------------------------------------------
A time_bin photon is (|0>|early> + |1>|late>)/sqrt2; the late bin comes Delta (``time_bin_spacing_ns``)
after the early one, and each bin's click time t is counted from that bin's nominal emission, so that
both bins share the gate [s, s + W] and the wavepackets xi_x(t) of the polarization case
(``tests/test_wavepackets.py``).  The patterns are those of polarization with h -> early, v -> late:
c_early+c_late and d_early+d_late herald psi+ with ONE detector firing twice, at t1 (early bin) and at
Delta + t2 (late bin); c_early+d_late and c_late+d_early herald psi- on two detectors.  A detector that
clicked is blind for tau_dead, and whichever of the two clicks comes first blinds it for the other, so the
same-detector patterns keep only |Delta + t2 - t1| >= tau_dead.  Per pattern, on {|01>, |10>},

    rho = (eta_A eta_B / 16) [[I11, s I12], [s I12*, I22]],   I11 = int |xi_A(t1)|^2 |xi_B(t2)|^2, ...

over the pattern's accepted region: the gate in both bins, |t1 - t2| <= Tc, and (same detector) not
Delta - tau_dead < t1 - t2 < Delta + tau_dead.  So P_p = eta_A eta_B (I11 + I22) / 16 and F_p = (I11 + I22
+ 2 Re I12) / (2 (I11 + I22)) (real wavepackets: no detuning).  With equal lifetimes and no gate t1 - t2 is
Laplace distributed (CDF L(x) = exp(x/tau)/2 below 0, 1 - exp(-x/tau)/2 above): the same-detector patterns
keep 1 - L(Delta + tau_dead) + L(Delta - tau_dead) of their weight.

The integrals are scipy ``nquad`` with the kinks (delays, gate edges, band lines) as break points.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import ionjax as ij
from ionjax.errors import ConfigError
from ionjax.link import timing

ETA = 0.3


def _xi2(tau, delay):
    def f(t):
        return (1.0 / tau) * math.exp(-(t - delay) / tau) if t >= delay else 0.0
    return f


def _xi(tau, delay):
    def f(t):
        return math.sqrt(1.0 / tau) * math.exp(-0.5 * (t - delay) / tau) if t >= delay else 0.0
    return f


def _region_integral(fun, lo, hi, band_lo, band_hi, kinks):
    """int fun(t1, t2) over lo <= t1, t2 <= hi, band_lo <= t1 - t2 <= band_hi (nquad, kinks as points)."""
    if band_hi < band_lo:
        return 0.0
    lines = [k + b for k in (lo, hi, *kinks) for b in (band_lo, band_hi) if np.isfinite(b)]
    outer = sorted(p for p in set(kinks) | set(lines) if lo < p < hi)

    def inner_lim(t1):
        a, b = max(lo, t1 - band_hi), min(hi, t1 - band_lo)
        return [a, max(a, b)]

    opts = {"epsabs": 1e-15, "epsrel": 1e-12, "limit": 400}
    return integrate.nquad(lambda t2, t1: fun(t1, t2), [inner_lim, [lo, hi]],
                           opts=[dict(opts, points=[k for k in kinks if lo < k < hi]), dict(opts, points=outer)])[0]


def reference(tau_a, tau_b, delay_a, delay_b, start, window, tc, spacing, dead):
    """{pattern: (probability, fidelity)} of the time_bin link (module docstring)."""
    lo, hi = start, start + window
    kinks = sorted({delay_a, delay_b})
    pa, pb, xa, xb = _xi2(tau_a, delay_a), _xi2(tau_b, delay_b), _xi(tau_a, delay_a), _xi(tau_b, delay_b)
    out = {}
    for name, same in (("c_early+c_late", True), ("d_early+d_late", True), ("c_early+d_late", False),
                       ("c_late+d_early", False)):
        def accepted(fun, same=same):
            whole = _region_integral(fun, lo, hi, -tc, tc, kinks)
            if not same:
                return whole
            return whole - _region_integral(fun, lo, hi, max(-tc, spacing - dead), min(tc, spacing + dead), kinks)

        i11 = accepted(lambda s, t: pa(s) * pb(t))
        i22 = accepted(lambda s, t: pb(s) * pa(t))
        i12 = accepted(lambda s, t: xa(s) * xb(s) * xb(t) * xa(t))
        norm = i11 + i22
        out[name] = (ETA * ETA * norm / 16.0, (norm + 2.0 * i12) / (2.0 * norm) if norm > 0 else float("nan"))
    return out


_LINKS: dict = {}


def _link(**det):
    """One loaded time_bin link with a dead time (values set per test)."""
    key = tuple(sorted(det))
    if key not in _LINKS:
        node = {"collection_efficiency": ETA, "photon_lifetime_ns": 8.0, "time_bin_spacing_ns": 20.0}
        _LINKS[key] = ij.load_link({"protocol": "two_photon", "encoding": "time_bin", "node_a": dict(node),
                                    "node_b": dict(node), "detection": {"window_ns": 1e4, "dead_time_ns": 5.0,
                                                                        **det}})
    return _LINKS[key]


def _run(tau_a=8.0, tau_b=8.0, delay_a=0.0, delay_b=0.0, start=0.0, window=1e4, tc=math.inf, spacing=20.0,
         dead=5.0):
    lk = _link(**({"coincidence_window_ns": 10.0} if np.isfinite(tc) else {}))
    values = {"node_a.photon_lifetime_ns": tau_a, "node_b.photon_lifetime_ns": tau_b,
              "node_a.arrival_delay_ns": delay_a, "node_b.arrival_delay_ns": delay_b,
              "node_a.time_bin_spacing_ns": spacing, "node_b.time_bin_spacing_ns": spacing,
              "detection.window_start_ns": start, "detection.window_ns": window, "detection.dead_time_ns": dead}
    if np.isfinite(tc):
        values["detection.coincidence_window_ns"] = tc
    r = ij.simulate(lk.set({k: np.float64(v) for k, v in values.items()}))
    return {n: (float(p), float(f)) for n, p, f in zip(r.pattern_names, np.asarray(r.pattern_probabilities),
                                                       np.asarray(r.pattern_fidelities))}


@pytest.mark.parametrize("dead", [0.0, 5.0, 20.0, 31.0, 1e4, 1e5])
def test_equal_photons_laplace_closed_form(dead):
    got = _run(dead=dead)
    full = ETA * ETA / 8.0

    def laplace_cdf(x):
        return 0.5 * math.exp(x / 8.0) if x < 0 else 1.0 - 0.5 * math.exp(-x / 8.0)

    keep = 1.0 - laplace_cdf(20.0 + dead) + laplace_cdf(20.0 - dead)
    for name in ("c_early+c_late", "d_early+d_late"):
        assert got[name][0] == pytest.approx(full * keep, rel=1e-10, abs=1e-16)
    for name in ("c_early+d_late", "c_late+d_early"):
        assert got[name][0] == pytest.approx(full, rel=1e-10)
        assert got[name][1] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("case", [
    dict(tau_b=16.0, delay_b=2.0, dead=17.0),
    dict(tau_b=16.0, delay_a=1.0, start=0.5, window=40.0, dead=14.0),
    dict(tau_b=12.0, delay_b=3.0, start=1.0, window=40.0, tc=6.0, dead=18.0),
    dict(tau_b=12.0, delay_b=3.0, start=1.0, window=40.0, tc=6.0, dead=29.0),
])
def test_against_quadrature(case):
    args = dict(tau_a=8.0, tau_b=8.0, delay_a=0.0, delay_b=0.0, start=0.0, window=1e4, tc=math.inf, spacing=20.0)
    args.update(case)
    got = _run(**args)
    hi = min(args["start"] + args["window"], max(args["start"], args["delay_a"], args["delay_b"]) + 60 * 16.0)
    ref = reference(args["tau_a"], args["tau_b"], args["delay_a"], args["delay_b"], args["start"],
                    hi - args["start"], args["tc"], args["spacing"], args["dead"])
    for name, (p, f) in ref.items():
        assert got[name][0] == pytest.approx(p, rel=1e-8, abs=1e-15), name
        if p > 1e-12:
            assert got[name][1] == pytest.approx(f, rel=1e-8), name
    same = got["c_early+c_late"][0]
    assert same < got["c_early+d_late"][0]  # the dead time costs only the same-detector patterns


@pytest.mark.skipif(not os.environ.get("IONJAX_SLOW_TESTS"),
                    reason="jacfwd of the click-time time_bin link compiles for ~4-9 min on 2 cores; "
                           "IONJAX_SLOW_TESTS=1 runs it (the derivative in the dead time is checked below on the "
                           "band integrals the link is made of)")
def test_dead_time_gradient_is_finite_and_matches_difference():
    lk = _link()

    def prob(x):
        r = ij.simulate(lk.set({"detection.dead_time_ns": x[0], "node_b.photon_lifetime_ns": x[1]}))
        return r.success_probability

    for x0 in ([0.0, 8.0], [20.0, 8.0], [12.0, 14.0]):
        x0 = jnp.asarray(x0)
        g = np.asarray(jax.jacfwd(prob)(x0))
        assert np.all(np.isfinite(g))
        eps = 1e-5
        fd = []
        for i in range(2):
            lo = x0.at[i].add(-eps) if x0[i] > eps else x0  # one-sided at the range's end
            fd.append((float(prob(x0.at[i].add(eps))) - float(prob(lo))) / float(x0.at[i].add(eps)[i] - lo[i]))
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-9)


_KEPT: dict = {}


def _kept(pair):
    """``(value, d/dtau)`` of what the same-detector patterns keep, jitted once per pair of densities: ``tau`` and
    ``Tc`` are traced arguments, so both coincidence windows and every ``tau`` share one compile."""
    if pair not in _KEPT:
        d1, d2 = _density(pair[0], f_mhz=30.0), _density(pair[1], tau=13.0)
        spacing = 4.0

        def kept(tau, tc):
            def b(hi):
                return timing.band_integral(d1, d2, 40.0, -tc, hi, 0.0)
            return jnp.real(b(tc) - b(jnp.minimum(tc, spacing + tau)) + b(jnp.maximum(-tc, spacing - tau)))

        _KEPT[pair] = jax.jit(jax.value_and_grad(kept))
    return _KEPT[pair]


@pytest.mark.parametrize("pair", [("photon", "photon"), ("dark", "photon")])
@pytest.mark.parametrize("tc", [math.inf, 6.0])
def test_dead_band_derivative_at_the_boundaries(pair, tc):
    """What the same-detector patterns keep, B(-Tc, Tc) - B(-Tc, Delta + tau) + B(-Tc, Delta - tau) (the link's
    composition), has the one-sided derivative in tau at tau = 0 and is finite where a band edge meets Tc."""
    kept_and_grad = _kept(pair)

    def kept(tau):
        return float(kept_and_grad(jnp.float64(tau), jnp.float64(tc))[0])

    def grad(tau):
        return float(kept_and_grad(jnp.float64(tau), jnp.float64(tc))[1])

    for tau in (0.0, 1.0, 2.0, 10.0):  # 2.0: Delta + tau = Tc
        g = grad(tau)
        eps = 1e-6
        lo = tau - eps if tau > 0 else tau
        fd = (kept(tau + eps) - kept(lo)) / (tau + eps - lo)
        assert math.isfinite(g)
        if tau != 2.0 or not np.isfinite(tc):
            assert g == pytest.approx(fd, rel=1e-5, abs=1e-12), tau
    assert grad(0.0) < 0.0  # a dead time starts to cost at once


# ------------------------------------------------------------------------------------- the closed forms
def _density(kind, tau=8.0, start=0.0, f_mhz=0.0, rate=1e-3):
    if kind == "photon":
        g = 1.0 / tau
        w = 2 * math.pi * f_mhz * 1e-3
        return timing.photon_density(g, w, 0.0, g, 0.0, 1.5, start, start + 40.0)
    return timing.dark_density(rate, start, 40.0, "threshold")


def _numeric_band(d1, d2, end, lo, hi, kappa):
    def dens(d, t):
        amp, lam, st = complex(d.amp), complex(d.lam), float(d.start)
        return amp * np.exp(-lam * (t - st)) if t >= st else 0.0

    def f(t1, t2, part):
        v = dens(d1, t1) * dens(d2, t2) * np.exp(-1j * kappa * (t1 - t2))
        return v.real if part == 0 else v.imag

    a = max(float(d1.start), float(d2.start)) - 1.0
    kinks = [float(d1.start), float(d2.start)]
    return complex(*[_region_integral(lambda s, t, q=q: f(s, t, q), min(a, float(d1.start), float(d2.start)),
                                      float(end), lo, hi, kinks) for q in (0, 1)])


@pytest.mark.parametrize("lo,hi", [(-3.0, 2.0), (-math.inf, -4.0), (1.0, 7.5), (-2.0, math.inf), (5.0, -5.0),
                                   (60.0, 90.0), (-math.inf, -70.0), (50.0, math.inf)])
@pytest.mark.parametrize("pair", [("photon", "photon"), ("dark", "photon"), ("photon", "dark")])
def test_band_integral_asymmetric(lo, hi, pair):
    d1 = _density(pair[0], f_mhz=30.0)
    d2 = _density(pair[1], tau=13.0)
    for kappa in (0.0, 0.21):
        got = complex(timing.band_integral(d1, d2, 40.0, lo, hi, kappa))
        want = _numeric_band(d1, d2, 40.0, lo, hi, kappa)
        assert abs(got - want) <= 1e-9 * max(abs(want), 1e-6), (got, want)


@pytest.mark.parametrize("lo,hi", [(-3.0, 3.0), (-3.0, 7.0), (-math.inf, -2.0), (4.0, math.inf), (2.0, 1.0)])
def test_uniform_pair_fraction_asymmetric(lo, hi):
    w = 12.0
    for kappa in (0.0, 0.37):
        got = complex(timing.uniform_pair_fraction(w, lo, hi, kappa))

        def f(u, v, q, kappa=kappa):
            z = np.exp(-1j * kappa * (u - v)) / (w * w)
            return z.real if q == 0 else z.imag

        want = complex(*[_region_integral(lambda s, t, q=q: f(s, t, q), 0.0, w, lo, hi, []) for q in (0, 1)])
        assert abs(got - want) <= 1e-11, (lo, hi, kappa, got, want)
    if lo == -hi:  # symmetric: real, the coincidence window's (1/W^2) 2 int_0^T (W - x) cos(kappa x) dx
        x = np.linspace(0.0, hi, 20001)
        y = (w - x) * np.cos(0.37 * x)
        assert float(timing.uniform_pair_fraction(w, lo, hi, 0.37).real) == pytest.approx(
            2 * np.trapezoid(y, x) / w**2, rel=1e-7)


# ------------------------------------------------------------------------------------------ the link file
def test_dead_time_refused_where_it_does_not_apply():
    with pytest.raises(ConfigError, match="dead_time_ns.*time_bin"):
        ij.load_link({"protocol": "two_photon", "encoding": "polarization", "detection": {"dead_time_ns": 10.0}})
    with pytest.raises(ConfigError, match="time_bin_spacing_ns"):
        ij.load_link({"protocol": "two_photon", "encoding": "time_bin", "detection": {"dead_time_ns": 10.0}})
    with pytest.raises(ConfigError, match="dead_time_ns"):
        ij.load_link({"protocol": "two_photon", "encoding": "time_bin", "detection": {"dead_time_ns": -1.0}})
    with pytest.raises(ConfigError, match="dead time"):
        ij.simulate(_link(), method="heisenberg")


def test_dead_time_zero_is_the_time_integrating_link():
    lk = _link()
    a = ij.simulate(lk.set({"detection.dead_time_ns": 0.0}))  # flag off: the gate folded into the optics
    b = ij.simulate(lk.set({"detection.dead_time_ns": 1e-12}))  # the click-time path
    np.testing.assert_allclose(np.asarray(b.pattern_probabilities), np.asarray(a.pattern_probabilities), rtol=1e-9)
    assert not lk.set({"detection.dead_time_ns": 0.0}).detection.dead_time_filter


def test_dark_counts_with_dead_time():
    """No photons (efficiency 0), PNR darks: c_early+c_late needs a dark in each bin, Delta + t2 - t1 >= tau."""
    rate_hz, w, dead, spacing = 2e5, 40.0, 30.0, 20.0
    lk = ij.load_link({"protocol": "two_photon", "encoding": "time_bin",
                       "node_a": {"collection_efficiency": 0.0, "time_bin_spacing_ns": spacing},
                       "node_b": {"collection_efficiency": 0.0, "time_bin_spacing_ns": spacing},
                       "detection": {"kind": "pnr", "window_ns": w, "dark_count_rate_hz": rate_hz,
                                     "dead_time_ns": dead}})
    r = ij.simulate(lk)
    mu = rate_hz * w * 1e-9

    def tri_cdf(x):  # P(t1 - t2 <= x), t uniform on [0, W]
        x = min(max(x, -w), w)
        return (w + x) ** 2 / (2 * w * w) if x < 0 else 1.0 - (w - x) ** 2 / (2 * w * w)

    frac = 1.0 - tri_cdf(spacing + dead) + tri_cdf(spacing - dead)
    assert frac == pytest.approx(450.0 / 1600.0)
    p = dict(zip(r.pattern_names, np.asarray(r.pattern_probabilities)))
    one = mu * math.exp(-mu)  # exactly one dark count in a bin
    assert p["c_early+c_late"] == pytest.approx(one * one * frac * math.exp(-2 * mu), rel=1e-10)
    assert p["c_early+d_late"] == pytest.approx(one * one * math.exp(-2 * mu), rel=1e-10)
