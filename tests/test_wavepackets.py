"""Photon wavepackets in the two-photon Bell-state measurement, against an independent reference.

Reference model (written from the physics, not from ionjax; numpy/scipy only)
------------------------------------------------------------------------------
Node x in {A, B} holds an ion entangled with a photon, (|0>|m0> + |1>|m1>)/sqrt2, whose temporal
wavepacket is

    xi_x(t) = sqrt(G_x) exp(-G_x (t - d_x) / 2 - i 2 pi f_x t)   for t >= d_x (0 before),

G_x = 1/tau_x (``photon_lifetime_ns``), f_x (``photon_frequency_offset_mhz``, so 2 pi f_x t carries
f_x * 1e-3 cycles/ns with t in ns) and d_x (``arrival_delay_ns``).  A's photon enters the 50:50 beam
splitter at port a, B's at port b: a -> (c + d)/sqrt2, b -> (c - d)/sqrt2.  Each node's photon is
collected with probability eta_x (``collection_efficiency``); detectors are ideal, no dark counts.

Polarization encoding (m0 = h, m1 = v).  The heralding patterns are one h click and one v click
(c_h+d_v, c_v+d_h -> psi-;  c_h+c_v, d_h+d_v -> psi+).  For a click at t1 on the detector that saw h
and at t2 on the one that saw v, the unnormalized two-ion state is

    psi(t1, t2) = (1/4) [ xi_A(t1) xi_B(t2) |01>  +-  xi_B(t1) xi_A(t2) |10> ]

(1/2 from the two ion-photon states, 1/2 from the beam splitter), so per pattern

    rho = (eta_A eta_B / 16) [[I11, s I12], [s I12*, I22]]   on {|01>, |10>},
    I11 = int |xi_A(t1)|^2 |xi_B(t2)|^2,   I22 = int |xi_B(t1)|^2 |xi_A(t2)|^2,
    I12 = int xi_A(t1) xi_B(t1)* xi_B(t2) xi_A(t2)*          (= |<xi_A|xi_B>|^2 with no gates),

integrated over the accepted click times: t1, t2 in the gate [s, s + W] (``window_start_ns``,
``window_ns``, on the true arrival times) and |t1 - t2| <= Tc (``coincidence_window_ns``).  The
accepted region is symmetric under t1 <-> t2, so I11 = I22 and I12 is real (its integrand goes to its
complex conjugate under the swap).  All four patterns are equally likely and equivalent after the
Pauli frame, so

    P = 4 tr(rho) = eta_A eta_B (I11 + I22) / 4     (= eta_A eta_B / 2 with no gates),
    F = 1/2 + C,   C = M_res |I12| / (I11 + I22),

with M_res = ``interference.mode_overlap`` (residual spatial/polarization overlap).  With no gates
C = M/2 and F = (1 + M)/2, M = |<xi_A|xi_B>|^2: 4 ta tb/(ta + tb)^2 for lifetimes, 1/(1 + (2 pi df
tau)^2) for a detuning df = f_A - f_B, exp(-d/tau) for a relative delay d.

Time-resolved correction (``time_resolved_correction``): the integrand of I12 carries the phase
exp(-i 2 pi df (t1 - t2)); undoing it from the recorded times r_i = t_i + n_i (independent Gaussian
jitter n_i of rms sigma = ``timing_jitter_ps`` per detector) leaves exp(+i 2 pi df (n1 - n2)), whose
average is exp(-(2 pi df sigma)^2).  So I12 -> exp(-(2 pi df sigma)^2) int |xi_A xi_B|(t1) |xi_A
xi_B|(t2): F = 1 for equal lifetimes and no jitter, F = (1 + 4 ta tb/(ta + tb)^2)/2 for a lifetime
mismatch whatever the detuning.  Without the correction the jitter changes nothing (gates act on the
true times).

Frequency encoding: ion |0> emits colour w0, |1> colour w0 + Omega (Omega = 2 pi 14.7 GHz >> 1/tau),
each node also shifted by its own 2 pi f_x, all in one spatial/polarization mode; colour-blind
detectors c, d; the herald is one click in each port (target psi-).  With w_xj the colour of node x
for ion state j, and e_x = |xi_x| the envelopes, the amplitude of |jk> for clicks at t_c, t_d is

    -(1/4) [ e_A(t_c) e_B(t_d) e^{-i(w_Aj t_c + w_Bk t_d)} - e_A(t_d) e_B(t_c) e^{-i(w_Aj t_d + w_Bk t_c)} ].

Secular approximation: every term of rho whose integrand oscillates at Omega (in t_c, t_d or
t_c - t_d) is dropped; over the full plane these are cross-colour overlaps of order 1/(Omega tau)^2
~ 1e-6 (at a sharp coincidence edge they would be ~ 1/(Omega tau), which any detector jitter >> 2 pi /
Omega ~ 68 ps washes out).  What survives, with I11, I22, I12 as above (e_A e_B e^{-i 2 pi df t}
playing xi_A xi_B*):

    16 rho_{00,00} = 16 rho_{11,11} = I11 + I22 - 2 M_res Re I12,
    16 rho_{01,01} = 16 rho_{10,10} = I11 + I22,     16 rho_{01,10} = -2 M_res Re I12,

so P = eta_A eta_B (I11 + I22 - M_res Re I12)/4 and F = (I11 + I22 + 2 Re I12)/(4 (I11 + I22) - 4 Re I12):
with equal lifetimes and no gates, L = 1/(1 + (2 pi df tau)^2), F = (1 + L)/(2 (2 - L)) (tau = 8.1
ns: 0.914 at 5 MHz, 0.494 at 20 MHz).  A coincidence window suppresses the |00>, |11> weight,
whose integrand is 4 e_A^2 e_B^2 sin^2(pi df (t_c - t_d)) for equal lifetimes.

Quadrature: the integrands are products f(t1) g(t2), smooth except at the kinks d_A, d_B, the gate
edges and (for the band |t1 - t2| <= Tc) the lines t1 = k +- Tc.  The outer t1 integral is
Gauss-Legendre on panels split at all of these and no longer than min(tau)/2; the inner t2 integral,
over [max(s, t1 - Tc), min(s + W, t1 + Tc)] split at d_A, d_B, is Gauss-Legendre on panels mapped per
outer node.  The gate is cut 50 tau_max after the latest start (relative weight e^-50).  The result is
checked below against the closed forms (lifetime, detuning, delay, box gates, coincidence band,
correction, jitter, frequency encoding) and against scipy.integrate.nquad, to ~1e-12.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from scipy import integrate

import ionjax as ij

RTOL = ATOL = 1e-8
LONG_WINDOW = 1.0e4  # ns
ETA_A, ETA_B = 0.3, 0.25
TWO_PI = 2.0 * np.pi
_GX, _GW = np.polynomial.legendre.leggauss(24)


# =============================================================================== reference model
def _node(tau=8.0, f_mhz=0.0, delay=0.0, eta=0.3):
    return {"tau": float(tau), "f": float(f_mhz), "delay": float(delay), "eta": float(eta)}


def _xi(node):
    """xi_x(t), vectorized, complex."""
    g, d, w = 1.0 / node["tau"], node["delay"], TWO_PI * node["f"] * 1e-3

    def xi(t):
        t = np.asarray(t, float)
        env = np.where(t >= d, np.sqrt(g) * np.exp(-0.5 * g * np.maximum(t - d, 0.0)), 0.0)
        return env * np.exp(-1j * w * t)

    return xi


def _panels(a, b, breaks, h):
    """Gauss-Legendre nodes/weights on [a, b], split at ``breaks`` and into panels of length <= h."""
    pts = np.unique(np.clip(np.asarray([a, b, *breaks], float), a, b))
    xs, ws = [], []
    for u, v in zip(pts[:-1], pts[1:]):
        n = max(1, int(math.ceil((v - u) / h)))
        e = np.linspace(u, v, n + 1)
        half, mid = 0.5 * np.diff(e), 0.5 * (e[1:] + e[:-1])
        xs.append((mid[:, None] + half[:, None] * _GX).ravel())
        ws.append((half[:, None] * _GW).ravel())
    return np.concatenate(xs), np.concatenate(ws)


def _pair_integral(f, g, lo, hi, tc, kinks, h):
    """int f(t1) g(t2) over lo <= t1, t2 <= hi, |t1 - t2| <= tc (f, g smooth between ``kinks``)."""
    if not hi > lo:
        return 0.0
    if not tc < hi - lo:  # the band does not cut the square: separable
        x, w = _panels(lo, hi, kinks, h)
        return np.sum(w * f(x)) * np.sum(w * g(x))
    outer = list(kinks) + [k + sgn * tc for k in (lo, hi, *kinks) for sgn in (-1.0, 1.0)]
    x1, w1 = _panels(lo, hi, outer, h)
    lower, upper = np.maximum(lo, x1 - tc), np.minimum(hi, x1 + tc)
    edges = [lower] + [np.clip(k, lower, upper) for k in sorted(kinks) if lo < k < hi] + [upper]
    m = max(1, int(math.ceil(2.0 * tc / h)))
    inner = np.zeros_like(x1, dtype=complex)
    for a, b in zip(edges[:-1], edges[1:]):
        for j in range(m):
            aj, bj = a + (b - a) * j / m, a + (b - a) * (j + 1) / m
            half, mid = 0.5 * (bj - aj), 0.5 * (aj + bj)
            inner += half * (g(mid[:, None] + half[:, None] * _GX) @ _GW)
    return np.sum(w1 * f(x1) * inner)


def reference_integrals(node_a, node_b, window_start=0.0, window=LONG_WINDOW, coincidence=np.inf):
    """I11, I22, I12 (uncorrected) and I12c (phase removed) over the accepted click times."""
    xa, xb = _xi(node_a), _xi(node_b)
    ta, tb, da, db = node_a["tau"], node_b["tau"], node_a["delay"], node_b["delay"]
    dw = TWO_PI * abs(node_a["f"] - node_b["f"]) * 1e-3
    lo = float(window_start)
    hi = min(lo + float(window), max(lo, da, db) + 50.0 * max(ta, tb))
    h = min(ta, tb) / 2.0
    if dw > 0:
        h = min(h, 1.0 / dw)
    kinks = sorted({da, db})

    def pair(f, g):
        return _pair_integral(f, g, lo, hi, float(coincidence), kinks, h)

    i11 = pair(lambda t: abs(xa(t)) ** 2, lambda t: abs(xb(t)) ** 2)
    i22 = pair(lambda t: abs(xb(t)) ** 2, lambda t: abs(xa(t)) ** 2)
    i12 = pair(lambda t: xa(t) * np.conj(xb(t)), lambda t: xb(t) * np.conj(xa(t)))
    i12c = pair(lambda t: abs(xa(t) * xb(t)), lambda t: abs(xa(t) * xb(t)))
    return {"I11": i11.real, "I22": i22.real, "I12": i12, "I12c": i12c.real}


def reference_link(node_a, node_b, encoding="polarization", window_start=0.0, window=LONG_WINDOW,
                   coincidence=np.inf, jitter_ps=0.0, corrected=False, mode_overlap=1.0):
    """Heralded two-ion state (normalized 4x4, basis |00>,|01>,|10>,|11>), success probability, fidelity."""
    ints = reference_integrals(node_a, node_b, window_start, window, coincidence)
    i11, i22, i12 = ints["I11"], ints["I22"], ints["I12"]
    assert abs(i12.imag) <= 1e-12 * max(abs(i12), 1e-300) + 1e-300  # symmetric region: I12 real
    eta = node_a["eta"] * node_b["eta"]
    rho = np.zeros((4, 4), complex)
    if encoding == "polarization":
        if corrected:
            dw = TWO_PI * (node_a["f"] - node_b["f"]) * 1e-3
            coh = ints["I12c"] * math.exp(-((dw * jitter_ps * 1e-3) ** 2))
        else:
            coh = i12.real
        rho[1, 1], rho[2, 2] = i11, i22
        rho[1, 2] = rho[2, 1] = -mode_overlap * coh  # c_h + d_v pattern, psi-
        rho *= eta / 16.0
        prob = 4.0 * np.trace(rho).real
        rho /= np.trace(rho).real
        fid = 0.5 * (rho[1, 1] + rho[2, 2]).real + abs(rho[1, 2])
    elif encoding == "frequency":
        if corrected or jitter_ps:
            raise NotImplementedError("reference: frequency encoding without correction/jitter only")
        x = mode_overlap * i12.real
        rho[0, 0] = rho[3, 3] = i11 + i22 - 2.0 * x
        rho[1, 1] = rho[2, 2] = i11 + i22
        rho[1, 2] = rho[2, 1] = -2.0 * x
        rho *= eta / 16.0
        prob = np.trace(rho).real
        rho /= np.trace(rho).real
        fid = (0.5 * (rho[1, 1] + rho[2, 2]) - rho[1, 2]).real
    else:
        raise ValueError(encoding)
    return {"rho": rho, "success_probability": float(prob), "fidelity": float(fid), **ints}


# --------------------------------------------------------------------------------- closed forms
def _m_lifetimes(ta, tb):
    return 4.0 * ta * tb / (ta + tb) ** 2


def _m_detuning(df_mhz, tau):
    return 1.0 / (1.0 + (TWO_PI * df_mhz * 1e-3 * tau) ** 2)


def _f_frequency(df_mhz, tau):
    lor = _m_detuning(df_mhz, tau)
    return (1.0 + lor) / (2.0 * (2.0 - lor))


def _band_integrals(tau, df_mhz, tc):
    """Equal lifetimes, no delay, no gate: I11 = I22 and I12 over |t1 - t2| <= tc (closed form)."""
    g, dw = 1.0 / tau, TWO_PI * df_mhz * 1e-3
    i11 = 1.0 - math.exp(-g * tc)
    z = complex(g, dw)
    i12 = g * ((1.0 - np.exp(-z * tc)) / z).real
    return i11, i12


def _gate(node, lo, hi):
    """int_lo^hi |xi|^2 (closed form)."""
    g, d = 1.0 / node["tau"], node["delay"]
    lo = max(lo, d)
    return max(0.0, math.exp(-g * (lo - d)) - math.exp(-g * (hi - d))) if hi > lo else 0.0


def _gate_overlap(na, nb, lo, hi):
    """|int_lo^hi xi_A xi_B*|^2 (closed form)."""
    ga, gb = 1.0 / na["tau"], 1.0 / nb["tau"]
    dw = TWO_PI * (na["f"] - nb["f"]) * 1e-3
    lo = max(lo, na["delay"], nb["delay"])
    if hi <= lo:
        return 0.0
    z = complex(0.5 * (ga + gb), dw)
    pref = math.sqrt(ga * gb) * math.exp(0.5 * (ga * na["delay"] + gb * nb["delay"]))
    return abs(pref * (np.exp(-z * lo) - np.exp(-z * hi)) / z) ** 2


# ============================================================ the reference against closed forms
def test_reference_lifetimes_detuning_delay():
    for ta, tb in [(8.0, 16.0), (8.0, 8.0), (5.0, 21.0)]:
        r = reference_link(_node(ta, eta=ETA_A), _node(tb, eta=ETA_B))
        assert r["fidelity"] == pytest.approx((1 + _m_lifetimes(ta, tb)) / 2, rel=1e-12, abs=1e-12)
        assert r["success_probability"] == pytest.approx(ETA_A * ETA_B / 2, rel=1e-12)
    for df in (5.0, 20.0, 100.0):
        r = reference_link(_node(8.0, df), _node(8.0))
        assert r["fidelity"] == pytest.approx((1 + _m_detuning(df, 8.0)) / 2, rel=1e-12, abs=1e-12)
        assert r["I12"].real == pytest.approx(_m_detuning(df, 8.0), rel=1e-12, abs=1e-14)
    r = reference_link(_node(8.0), _node(8.0, delay=3.0))
    assert r["fidelity"] == pytest.approx((1 + math.exp(-3.0 / 8.0)) / 2, rel=1e-12)
    assert r["success_probability"] == pytest.approx(0.3 * 0.3 / 2, rel=1e-12)
    # lifetime mismatch and detuning together: |<xi_A|xi_B>|^2 = Ga Gb / ((Ga + Gb)^2/4 + dw^2)
    ga, gb, dw = 1 / 8.0, 1 / 16.0, TWO_PI * 0.02
    r = reference_link(_node(8.0, 20.0), _node(16.0))
    assert r["I12"].real == pytest.approx(ga * gb / ((ga + gb) ** 2 / 4 + dw**2), rel=1e-12)
    assert reference_link(_node(8.0), _node(8.0), mode_overlap=0.9)["fidelity"] == pytest.approx(0.95, rel=1e-13)


@pytest.mark.parametrize("start,window", [(5.0, LONG_WINDOW), (0.0, 12.0), (2.0, 12.0), (-3.0, 7.5)])
def test_reference_gates_against_closed_form(start, window):
    na, nb = _node(8.0, 20.0, 1.0, ETA_A), _node(16.0, 0.0, 3.0, ETA_B)
    r = reference_link(na, nb, window_start=start, window=window)
    lo, hi = start, start + window
    i11 = _gate(na, lo, hi) * _gate(nb, lo, hi)
    i12 = _gate_overlap(na, nb, lo, hi)
    assert r["I11"] == pytest.approx(i11, rel=1e-12) and r["I22"] == pytest.approx(i11, rel=1e-12)
    assert r["I12"].real == pytest.approx(i12, rel=1e-12)
    assert r["success_probability"] == pytest.approx(ETA_A * ETA_B * i11 / 2, rel=1e-12)
    assert r["fidelity"] == pytest.approx(0.5 + i12 / (2 * i11), rel=1e-12)


@pytest.mark.parametrize("tc", [1e-3, 0.7, 2.0, 3.0, 30.0])
def test_reference_coincidence_band_against_closed_form(tc):
    i11, i12 = _band_integrals(8.0, 20.0, tc)
    r = reference_link(_node(8.0, 20.0, eta=ETA_A), _node(8.0, eta=ETA_B), coincidence=tc)
    assert r["I11"] == pytest.approx(i11, rel=1e-12) and r["I22"] == pytest.approx(i11, rel=1e-12)
    assert r["I12"].real == pytest.approx(i12, rel=1e-11)
    assert r["fidelity"] == pytest.approx(0.5 + i12 / (2 * i11), rel=1e-12)
    assert r["success_probability"] == pytest.approx(ETA_A * ETA_B * i11 / 2, rel=1e-12)
    # frequency encoding: 16 rho00 = 2 (I11 - I12) = 4 int e^4 sin^2(pi df u)
    rf = reference_link(_node(8.0, 20.0, eta=ETA_A), _node(8.0, eta=ETA_B), "frequency", coincidence=tc)
    assert rf["fidelity"] == pytest.approx((2 * i11 + 2 * i12) / (8 * i11 - 4 * i12), rel=1e-11)
    assert rf["success_probability"] == pytest.approx(ETA_A * ETA_B * (2 * i11 - i12) / 4, rel=1e-11)
    if tc == 1e-3:
        assert r["fidelity"] > 1 - 1e-7 and rf["fidelity"] > 1 - 1e-7


def test_reference_correction_and_jitter():
    r = reference_link(_node(8.0, 20.0), _node(8.0), corrected=True)
    assert r["fidelity"] == pytest.approx(1.0, abs=1e-13)
    r = reference_link(_node(8.0, 20.0), _node(8.0), corrected=True, jitter_ps=500.0)
    assert r["fidelity"] == pytest.approx(0.5 + 0.5 * math.exp(-((TWO_PI * 0.02 * 0.5) ** 2)), rel=1e-13)
    r = reference_link(_node(8.0, 20.0), _node(16.0), corrected=True)
    assert r["fidelity"] == pytest.approx((1 + _m_lifetimes(8.0, 16.0)) / 2, rel=1e-12)
    # without the correction the jitter changes nothing
    a = reference_link(_node(8.0, 20.0), _node(8.0), jitter_ps=500.0)
    assert a["fidelity"] == pytest.approx((1 + _m_detuning(20.0, 8.0)) / 2, rel=1e-12)


def test_reference_frequency_encoding_closed_form():
    for df, expected in [(5.0, 0.914), (20.0, 0.494)]:
        r = reference_link(_node(8.1, df, eta=ETA_A), _node(8.1, eta=ETA_B), "frequency")
        assert r["fidelity"] == pytest.approx(_f_frequency(df, 8.1), rel=1e-12)
        assert r["fidelity"] == pytest.approx(expected, abs=5e-4)
        lor = _m_detuning(df, 8.1)
        assert r["success_probability"] == pytest.approx(ETA_A * ETA_B * (2 - lor) / 4, rel=1e-12)
        rho = r["rho"] * (2 - lor)  # closed form: diag (1-L)/2, 1/2, 1/2, (1-L)/2; rho_01,10 = -L/2
        np.testing.assert_allclose(rho, np.array([[1 - lor, 0, 0, 0], [0, 1, -lor, 0],
                                                  [0, -lor, 1, 0], [0, 0, 0, 1 - lor]]) / 2, atol=1e-12)


def test_reference_against_scipy_nquad():
    """The band/gate/delay kink handling, against adaptive quadrature (mismatch + delays + gate + band)."""
    na, nb = _node(8.0, 20.0, 1.0), _node(16.0, 0.0, 3.0)
    lo, hi, tc = 2.0, 40.0, 2.5
    xa, xb = _xi(na), _xi(nb)
    r = reference_link(na, nb, window_start=lo, window=hi - lo, coincidence=tc)

    def nq(fun):
        kinks = [1.0, 3.0]
        outer = sorted({k + s * tc for k in (lo, hi, *kinks) for s in (-1, 0, 1)} | set(kinks))
        outer = [p for p in outer if lo < p < hi]

        def inner_lim(t1):
            return [max(lo, t1 - tc), min(hi, t1 + tc)]

        return integrate.nquad(lambda t2, t1: fun(t1, t2), [inner_lim, [lo, hi]],
                               opts=[{"points": kinks, "epsabs": 1e-14, "epsrel": 1e-13, "limit": 200},
                                     {"points": outer, "epsabs": 1e-14, "epsrel": 1e-13, "limit": 200}])[0]

    i11 = nq(lambda t1, t2: abs(xa(t1)) ** 2 * abs(xb(t2)) ** 2)
    i12 = nq(lambda t1, t2: (xa(t1) * np.conj(xb(t1)) * xb(t2) * np.conj(xa(t2))).real)
    assert r["I11"] == pytest.approx(i11, rel=1e-10)
    assert r["I12"].real == pytest.approx(i12, rel=1e-10)


# ================================================================================ ionjax vs reference
def _f(x):
    return float(np.asarray(x))


_LINKS: dict = {}


def _link(encoding="polarization", corrected=False, finite_tc=False):
    """One loaded link per structure; values are set per test with ``Link.set``."""
    key = (encoding, corrected, finite_tc)
    if key not in _LINKS:
        det = {"window_start_ns": 0.0, "window_ns": LONG_WINDOW, "timing_jitter_ps": 0.0}
        if finite_tc:
            det["coincidence_window_ns"] = 10.0
        if corrected:
            det["time_resolved_correction"] = True
        node = {"collection_efficiency": 0.3, "photon_lifetime_ns": 8.0, "photon_frequency_offset_mhz": 0.0,
                "arrival_delay_ns": 0.0}
        cfg = {"protocol": "two_photon", "encoding": encoding, "node_a": dict(node), "node_b": dict(node),
               "detection": det}
        if encoding == "polarization":
            cfg["interference"] = {"mode_overlap": 1.0}
        _LINKS[key] = ij.load_link(cfg)
    return _LINKS[key]


def _values(na, nb, encoding, start, window, tc, jitter_ps, mode_overlap):
    v = {}
    for name, n in (("node_a", na), ("node_b", nb)):
        v[f"{name}.collection_efficiency"] = n["eta"]
        v[f"{name}.photon_lifetime_ns"] = n["tau"]
        v[f"{name}.photon_frequency_offset_mhz"] = n["f"]
        v[f"{name}.arrival_delay_ns"] = n["delay"]
    v["detection.window_start_ns"] = start
    v["detection.window_ns"] = window
    v["detection.timing_jitter_ps"] = jitter_ps
    if np.isfinite(tc):
        v["detection.coincidence_window_ns"] = tc
    if encoding == "polarization":
        v["interference.mode_overlap"] = mode_overlap
    return {k: np.float64(x) for k, x in v.items()}


def _compare(na, nb, encoding="polarization", start=0.0, window=LONG_WINDOW, tc=np.inf, jitter_ps=0.0,
             corrected=False, mode_overlap=1.0):
    """ionjax's fidelity and success probability against the reference (rtol = atol = 1e-8)."""
    ref = reference_link(na, nb, encoding, start, window, tc, jitter_ps, corrected, mode_overlap)
    lk = _link(encoding, corrected, bool(np.isfinite(tc)))
    res = ij.simulate(lk.set(_values(na, nb, encoding, start, window, tc, jitter_ps, mode_overlap)))
    fid, prob = _f(res.fidelity), _f(res.success_probability)
    assert fid == pytest.approx(ref["fidelity"], rel=RTOL, abs=ATOL)
    assert prob == pytest.approx(ref["success_probability"], rel=RTOL, abs=1e-14)
    return fid, prob, ref


def test_lifetime_mismatch():
    fid, prob, _ = _compare(_node(8.0, eta=ETA_A), _node(16.0, eta=ETA_B))
    assert fid == pytest.approx((1 + _m_lifetimes(8.0, 16.0)) / 2, rel=RTOL)  # 0.9444...
    assert prob == pytest.approx(ETA_A * ETA_B / 2, rel=RTOL)


def test_residual_mode_overlap_scales_coherence():
    fid, _, _ = _compare(_node(8.0, eta=ETA_A), _node(16.0, eta=ETA_B), mode_overlap=0.9)
    assert fid == pytest.approx(0.5 + 0.9 * _m_lifetimes(8.0, 16.0) / 2, rel=RTOL)


@pytest.mark.parametrize("df", [5.0, 20.0])
def test_detuning(df):
    fid, prob, _ = _compare(_node(8.0, eta=ETA_A), _node(8.0, -df, eta=ETA_B))
    assert fid == pytest.approx((1 + _m_detuning(df, 8.0)) / 2, rel=RTOL)
    assert prob == pytest.approx(ETA_A * ETA_B / 2, rel=RTOL)


def test_arrival_delay():
    fid, prob, _ = _compare(_node(8.0, eta=ETA_A), _node(8.0, delay=3.0, eta=ETA_B))
    assert fid == pytest.approx((1 + math.exp(-3.0 / 8.0)) / 2, rel=RTOL)
    assert prob == pytest.approx(ETA_A * ETA_B / 2, rel=RTOL)


def test_late_window_start_with_delays():
    na, nb = _node(8.0, eta=ETA_A, delay=1.0), _node(12.0, eta=ETA_B, delay=7.0)
    fid, prob, ref = _compare(na, nb, start=5.0)
    assert prob < ETA_A * ETA_B / 2
    # the gate cuts A's photon only: less acceptance, and the accepted parts overlap as from t = 7 ns on
    hi = 5.0 + LONG_WINDOW
    i11 = _gate(na, 5.0, hi) * _gate(nb, 5.0, hi)
    assert fid == pytest.approx(0.5 + _gate_overlap(na, nb, 5.0, hi) / (2 * i11), rel=RTOL)


def test_finite_window():
    na, nb = _node(8.0, 10.0, eta=ETA_A), _node(16.0, delay=2.0, eta=ETA_B)
    fid, prob, ref = _compare(na, nb, window=12.0)
    full = reference_link(na, nb)
    assert prob < full["success_probability"] and fid != pytest.approx(full["fidelity"], abs=1e-4)


def test_coincidence_window_filters_detuning():
    na, nb = _node(8.0, eta=ETA_A), _node(8.0, -20.0, eta=ETA_B)
    fid, prob, _ = _compare(na, nb, tc=2.0)
    unfiltered = (1 + _m_detuning(20.0, 8.0)) / 2
    assert fid > unfiltered + 0.1 and prob < ETA_A * ETA_B / 2 * 0.5
    i11, i12 = _band_integrals(8.0, 20.0, 2.0)
    assert fid == pytest.approx(0.5 + i12 / (2 * i11), rel=RTOL)


def test_coincidence_window_to_zero():
    na, nb = _node(8.0, eta=ETA_A), _node(8.0, -20.0, eta=ETA_B)
    fid, prob, _ = _compare(na, nb, tc=1e-3)
    assert fid > 1 - 1e-7
    assert prob == pytest.approx(ETA_A * ETA_B * (1 - math.exp(-1e-3 / 8.0)) / 2, rel=RTOL)


def test_corrected_detuning_no_jitter():
    fid, prob, _ = _compare(_node(8.0, 20.0, eta=ETA_A), _node(8.0, eta=ETA_B), corrected=True)
    assert fid == pytest.approx(1.0, abs=ATOL)
    assert prob == pytest.approx(ETA_A * ETA_B / 2, rel=RTOL)


def test_corrected_detuning_with_jitter():
    fid, _, _ = _compare(_node(8.0, 20.0, eta=ETA_A), _node(8.0, eta=ETA_B), corrected=True, jitter_ps=500.0)
    assert fid == pytest.approx(0.5 + 0.5 * math.exp(-((TWO_PI * 20e-3 * 0.5) ** 2)), rel=RTOL)  # 0.99803


def test_corrected_lifetime_mismatch():
    fid, _, _ = _compare(_node(8.0, 20.0, eta=ETA_A), _node(16.0, eta=ETA_B), corrected=True)
    assert fid == pytest.approx((1 + _m_lifetimes(8.0, 16.0)) / 2, rel=RTOL)


def test_jitter_without_correction_changes_nothing():
    fid, _, _ = _compare(_node(8.0, 20.0, eta=ETA_A), _node(8.0, eta=ETA_B), jitter_ps=500.0)
    assert fid == pytest.approx((1 + _m_detuning(20.0, 8.0)) / 2, rel=RTOL)


@pytest.mark.parametrize("df,expected", [(5.0, 0.914), (20.0, 0.494)])
def test_frequency_encoding_detuning(df, expected):
    fid, prob, _ = _compare(_node(8.1, eta=ETA_A), _node(8.1, -df, eta=ETA_B), "frequency")
    assert fid == pytest.approx(_f_frequency(df, 8.1), rel=RTOL, abs=ATOL)
    assert fid == pytest.approx(expected, abs=5e-4)
    assert prob == pytest.approx(ETA_A * ETA_B * (2 - _m_detuning(df, 8.1)) / 4, rel=RTOL)


def test_frequency_encoding_coincidence_window():
    na, nb = _node(8.1, eta=ETA_A), _node(8.1, -20.0, eta=ETA_B)
    fid, prob, _ = _compare(na, nb, "frequency", tc=3.0)
    assert fid > _f_frequency(20.0, 8.1) + 0.2
    i11, i12 = _band_integrals(8.1, 20.0, 3.0)
    assert fid == pytest.approx((2 * i11 + 2 * i12) / (8 * i11 - 4 * i12), rel=RTOL)


# ===================================================================================== gradients
def _ref_fd(key, x, na, nb, **kw):
    """Central difference of the reference fidelity in one parameter."""
    eps = 1e-4

    def fid(v):
        a, b, kk = dict(na), dict(nb), dict(kw)
        if key == "f_b":
            b["f"] = v
        else:
            kk[key] = v
        return reference_link(a, b, **kk)["fidelity"]

    return (fid(x + eps) - fid(x - eps)) / (2 * eps)


def test_gradients_finite():
    """The gradient (forward mode) of the fidelity in the offset, gate start and coincidence window."""
    na, nb = _node(8.0, eta=ETA_A), _node(8.0, eta=ETA_B)
    lk = _link(finite_tc=True).set(_values(na, nb, "polarization", 0.0, LONG_WINDOW, 2.0, 0.0, 1.0))
    keys = ("node_b.photon_frequency_offset_mhz", "detection.window_start_ns", "detection.coincidence_window_ns")

    def fidelity(x):
        return ij.simulate(lk.set({k: x[i] for i, k in enumerate(keys)})).fidelity

    grad = jax.jit(jax.jacfwd(fidelity))  # forward mode (what ij.optimize uses for a few knobs)
    g_f, g_s, g_tc = np.asarray(grad(np.array([0.0, 0.0, 2.0])))
    assert np.all(np.isfinite([g_f, g_s, g_tc]))
    assert g_f == pytest.approx(0.0, abs=1e-8)  # F is even in the detuning
    g_f, g_s, g_tc = np.asarray(grad(np.array([-20.0, 0.0, 2.0])))
    assert np.all(np.isfinite([g_f, g_s, g_tc]))
    assert g_f == pytest.approx(_ref_fd("f_b", -20.0, na, nb, coincidence=2.0), rel=1e-5)
    nb20 = _node(8.0, -20.0, eta=ETA_B)
    assert g_tc == pytest.approx(_ref_fd("coincidence", 2.0, na, nb20), rel=1e-5)
    assert g_tc < 0  # a wider coincidence window lets more dephased pairs in
