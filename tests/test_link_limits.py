"""Analytic limits of the heralded-link protocols (DESIGN.md conventions), pictures, vmap and float32."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ionjax as ij

LONG_WINDOW = 1.0e4  # ns: >> photon lifetime (8 ns), window acceptance = 1 to machine precision
PSI_PLUS = np.array([0, 1, 1, 0]) / np.sqrt(2)


def _link(protocol="two_photon", encoding="polarization", kind="threshold", node_a=None, node_b=None,
          detection=None, interference=None):
    d = {
        "protocol": protocol,
        "node_a": {"collection_efficiency": 0.3, **(node_a or {})},
        "node_b": {"collection_efficiency": 0.2, **(node_b or {})},
        "detection": {"kind": kind, "window_ns": LONG_WINDOW, **(detection or {})},
        "interference": dict(interference or {}),
    }
    if protocol == "two_photon":
        d["encoding"] = encoding
    return ij.load_link(ij.config.without_ignored(d))


# np.float64 values in ``Link.set`` below: strongly typed like load_link's leaves, so no retracing
def _f(x):
    return float(np.asarray(x))


# ----------------------------------------------------------------------------- ideal two-photon link
TWO_MODE = {"polarization": ("h", "v"), "time_bin": ("early", "late")}


@pytest.mark.parametrize("kind", ["threshold", "pnr"])
@pytest.mark.parametrize("encoding", ["polarization", "time_bin"])
def test_ideal_two_photon_link(encoding, kind):
    res = ij.simulate(_link(encoding=encoding, kind=kind))
    assert _f(res.fidelity) == pytest.approx(1.0, abs=1e-12)
    assert _f(res.success_probability) == pytest.approx(0.3 * 0.2 / 2, rel=1e-12)
    m0, m1 = TWO_MODE[encoding]
    assert res.pattern_names == (f"c_{m0}+c_{m1}", f"d_{m0}+d_{m1}", f"c_{m0}+d_{m1}", f"c_{m1}+d_{m0}")
    assert res.pattern_targets == ("psi+", "psi+", "psi-", "psi-")
    np.testing.assert_allclose(np.asarray(res.pattern_fidelities), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(res.pattern_probabilities), 0.3 * 0.2 / 8, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.state.data), np.outer(PSI_PLUS, PSI_PLUS), atol=1e-12)
    assert _f(res.rate_hz) == pytest.approx(1e6 * 0.3 * 0.2 / 2, rel=1e-12)
    assert res.patterns[f"c_{m0}+d_{m1}"]["target"] == "psi-"


def test_two_photon_success_includes_excitation_and_window():
    # eta_X = collection x fiber x (1 - exp(-W / tau)) x excitation
    link = _link(node_a={"excitation_probability": 0.5, "fiber_length_km": 2.0, "fiber_attenuation_db_per_km": 1.5},
                 node_b={"photon_lifetime_ns": 10.0}, detection={"window_ns": 12.0})
    eta_a = 0.3 * 0.5 * 10 ** (-0.3) * (1 - math.exp(-12.0 / 8.0))
    eta_b = 0.2 * (1 - math.exp(-12.0 / 10.0))
    res = ij.simulate(link)
    assert _f(res.success_probability) == pytest.approx(eta_a * eta_b / 2, rel=1e-12)
    # lifetimes 8 and 10 ns inside a 12 ns gate: M = |g_ab|^2 / (g_aa g_bb), g_ab = sqrt(G_a G_b) (1 - e^{-k W}) / k
    ga, gb, w = 1 / 8.0, 1 / 10.0, 12.0
    k = (ga + gb) / 2
    m = ga * gb * ((1 - math.exp(-k * w)) / k) ** 2 / ((1 - math.exp(-ga * w)) * (1 - math.exp(-gb * w)))
    assert _f(res.fidelity) == pytest.approx((1 + m) / 2, abs=1e-12)


@pytest.mark.parametrize("encoding", ["polarization", "time_bin"])
def test_mode_overlap_fidelity(encoding):
    base = _link(encoding=encoding)
    for m in (0.0, 0.3, 0.75, 0.95):
        res = ij.simulate(base.set({"interference.mode_overlap": np.float64(m)}))
        assert _f(res.fidelity) == pytest.approx((1 + m) / 2, abs=1e-12)
        assert _f(res.success_probability) == pytest.approx(0.03, rel=1e-12)


def test_ideal_link_closed_form_with_every_node_error():
    """F = (1 + M (2F_A - 1)(2F_B - 1) c_A c_B) / 2 with ideal detectors (memory, Z errors, overlap)."""
    fa, fb, m, la, lb, t2a, t2b = 0.97, 0.9, 0.8, 3.0, 7.0, 2e-4, 5e-4
    link = _link(node_a={"ion_photon_fidelity": fa, "fiber_length_km": la, "fiber_attenuation_db_per_km": 0.5,
                         "qubit_t2_s": t2a},
                 node_b={"ion_photon_fidelity": fb, "fiber_length_km": lb, "fiber_attenuation_db_per_km": 0.3,
                         "qubit_t2_s": t2b},
                 interference={"mode_overlap": m})
    ca, cb = math.exp(-2 * la / 2e5 / t2a), math.exp(-2 * lb / 2e5 / t2b)
    res = ij.simulate(link)
    assert _f(res.fidelity) == pytest.approx((1 + m * (2 * fa - 1) * (2 * fb - 1) * ca * cb) / 2, abs=1e-12)
    eta_a, eta_b = 0.3 * 10 ** (-0.15), 0.2 * 10 ** (-0.21)
    assert _f(res.success_probability) == pytest.approx(eta_a * eta_b / 2, rel=1e-12)


@pytest.mark.parametrize("length_km,t2_s", [(0.0, 1e-4), (5.0, 1e-4), (20.0, 1e-3), (50.0, 2e-4)])
def test_memory_dephasing_closed_form(length_km, t2_s):
    """Both ions dephase for their herald wait 2 L / (2e5 km/s): F = (1 + exp(-t_A/T2) exp(-t_B/T2)) / 2."""
    link = _link(node_a={"fiber_length_km": length_km, "qubit_t2_s": t2_s},
                 node_b={"fiber_length_km": length_km / 2, "qubit_t2_s": 2 * t2_s})
    t_a, t_b = 2 * length_km / 2e5, length_km / 2e5
    expected = (1 + math.exp(-t_a / t2_s) * math.exp(-t_b / (2 * t2_s))) / 2
    assert _f(ij.simulate(link).fidelity) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------- frequency encoding
def test_frequency_encoding_success_and_offset():
    res = ij.simulate(_link(encoding="frequency"))
    assert _f(res.success_probability) == pytest.approx(0.3 * 0.2 / 4, rel=1e-12)
    assert _f(res.fidelity) == pytest.approx(1.0, abs=1e-12)
    assert res.pattern_names == ("c+d",) and res.pattern_targets == ("psi-",)
    # identical nodes: the colour splitting's phase is common to |01> and |10>; jitter changes nothing
    res = ij.simulate(_link(encoding="frequency", detection={"timing_jitter_ps": 7.0}))
    assert _f(res.fidelity) == pytest.approx(1.0, abs=1e-12)
    # a node-to-node offset df makes the photons distinguishable to colour-blind detectors: same-colour terms
    # stop bunching (|00>, |11> weight (1 - L)/2 each, L = 1/(1 + (2 pi df tau)^2)), which no phase correction
    # removes: F = (1 + L) / (2 (2 - L)), P = eta_A eta_B (2 - L) / 4 (tau = 8.1 ns: 5 MHz 0.914, 20 MHz 0.494)
    for df_mhz, expected in ((5.0, 0.914), (20.0, 0.494)):
        res = ij.simulate(_link(encoding="frequency", node_a={"photon_lifetime_ns": 8.1},
                                node_b={"photon_lifetime_ns": 8.1, "photon_frequency_offset_mhz": df_mhz}))
        lo = 1.0 / (1.0 + (2 * math.pi * df_mhz * 1e-3 * 8.1) ** 2)
        assert _f(res.fidelity) == pytest.approx((1 + lo) / (2 * (2 - lo)), abs=1e-12)
        assert _f(res.fidelity) == pytest.approx(expected, abs=5e-4)
        assert _f(res.success_probability) == pytest.approx(0.3 * 0.2 * (2 - lo) / 4, rel=1e-12)


def test_frequency_encoding_mode_overlap():
    """Same-colour (Phi) photons stop bunching when distinguishable: F = (1 + M) / (2 (2 - M))."""
    base = _link(encoding="frequency")
    for m in (0.2, 0.7, 0.9):
        res = ij.simulate(base.set({"interference.mode_overlap": np.float64(m)}))
        assert _f(res.fidelity) == pytest.approx((1 + m) / (2 * (2 - m)), abs=1e-12)
        assert _f(res.success_probability) == pytest.approx(0.06 * (2 - m) / 4, rel=1e-12)


# ----------------------------------------------------------------------------- single photon
def _single(p, eta, kind="threshold", m=1.0, sigma=0.0):
    return _link("single_photon", kind=kind,
                 node_a={"collection_efficiency": eta, "excitation_probability": p},
                 node_b={"collection_efficiency": eta, "excitation_probability": p},
                 interference={"mode_overlap": m, "phase_noise_rad": sigma})


@pytest.mark.parametrize("kind", ["threshold", "pnr"])
@pytest.mark.parametrize("p,eta,m,sigma", [(0.1, 0.05, 1.0, 0.0), (0.3, 0.6, 1.0, 0.0), (0.2, 0.4, 0.7, 0.3)])
def test_single_photon_closed_form(kind, p, eta, m, sigma):
    """One click from |01> + |10> (coherence sqrt(M) exp(-sigma^2/2)); |11> gives false heralds.

    P(c) = eta p (1 - p) + p^2 eta (1 - eta) [+ p^2 eta^2 (1 + M) / 4 for threshold: both photons in c].
    """
    res = ij.simulate(_single(p, eta, kind, m, sigma))
    one = eta * p * (1 - p)
    p_c = one + p**2 * eta * (1 - eta) + (p**2 * eta**2 * (1 + m) / 4 if kind == "threshold" else 0.0)
    good = one * (1 + math.sqrt(m) * math.exp(-(sigma**2) / 2)) / 2
    assert _f(res.success_probability) == pytest.approx(2 * p_c, rel=1e-12)
    assert _f(res.fidelity) == pytest.approx(good / p_c, abs=1e-12)
    assert res.pattern_names == ("c", "d") and res.pattern_targets == ("psi+", "psi-")
    np.testing.assert_allclose(np.asarray(res.pattern_probabilities), p_c, rtol=1e-12)


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_single_photon_small_eta_limit(p):
    eta = 1e-6
    res = ij.simulate(_single(p, eta))
    assert _f(res.fidelity) == pytest.approx(1 - p, abs=1e-5)
    assert _f(res.success_probability) / (2 * p * eta) == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- dark counts
def _p_dark(rate_hz, window_ns):
    return 1 - math.exp(-rate_hz * window_ns * 1e-9)


@pytest.mark.parametrize("encoding", ["polarization", "time_bin"])
def test_dark_counts_only_heralds(encoding):
    """No photon reaches the station: every herald is two dark clicks, the ions are unentangled: F = 1/4."""
    rate, window = 2e5, 100.0
    pd = _p_dark(rate, window)
    lam = -math.log(1 - pd)
    det = {"dark_count_rate_hz": rate, "window_ns": window}
    zero = {"collection_efficiency": 0.0}
    res = ij.simulate(_link(encoding=encoding, node_a=zero, node_b=zero, detection=det))
    assert _f(res.fidelity) == pytest.approx(0.25, abs=1e-12)
    assert _f(res.success_probability) == pytest.approx(4 * pd**2 * (1 - pd) ** 2, rel=1e-10)
    res = ij.simulate(_link(encoding=encoding, kind="pnr", node_a=zero, node_b=zero, detection=det))
    assert _f(res.fidelity) == pytest.approx(0.25, abs=1e-12)
    assert _f(res.success_probability) == pytest.approx(4 * (lam * math.exp(-lam)) ** 2 * math.exp(-2 * lam),
                                                        rel=1e-10)


def test_dark_counts_only_heralds_single_photon_and_frequency():
    rate, window = 3e5, 100.0
    pd = _p_dark(rate, window)
    det = {"dark_count_rate_hz": rate, "window_ns": window}
    p = 0.2
    node = {"collection_efficiency": 0.0, "excitation_probability": p}
    res = ij.simulate(_link("single_photon", node_a=node, node_b=node, detection=det))
    # product state diag((1-p), p) x diag((1-p), p): <Psi+|rho|Psi+> = p (1 - p)
    assert _f(res.fidelity) == pytest.approx(p * (1 - p), abs=1e-12)
    assert _f(res.success_probability) == pytest.approx(2 * pd * (1 - pd), rel=1e-10)
    res = ij.simulate(_link(encoding="frequency", node_a=node, node_b=node, detection=det))
    assert _f(res.fidelity) == pytest.approx(0.25, abs=1e-12)
    assert _f(res.success_probability) == pytest.approx(pd**2, rel=1e-10)


def test_dark_counts_with_lossless_photons():
    """eta = 1: Psi events herald correctly unless a third detector clicks; Phi events bunch into one detector
    and herald |00>/|11> (fidelity 0) when one dark click completes a pattern: F = 1 / (1 + 2 p_dark)."""
    rate = 1e4  # with the long window: p_dark = 1 - exp(-0.1)
    pd = _p_dark(rate, LONG_WINDOW)
    one = {"collection_efficiency": 1.0}
    det = {"dark_count_rate_hz": rate}
    res = ij.simulate(_link(node_a=one, node_b=one, detection=det))
    assert _f(res.fidelity) == pytest.approx(1 / (1 + 2 * pd), abs=1e-12)
    assert _f(res.success_probability) == pytest.approx((1 - pd) ** 2 * (0.5 + pd), rel=1e-12)
    # a photon-number-resolving station rejects the bunched pairs: F = 1
    res = ij.simulate(_link(kind="pnr", node_a=one, node_b=one, detection=det))
    assert _f(res.fidelity) == pytest.approx(1.0, abs=1e-12)
    assert _f(res.success_probability) == pytest.approx((1 - pd) ** 4 / 2, rel=1e-12)


# ----------------------------------------------------------------------------- time-bin pulse error
def test_time_bin_pulse_error_lowers_fidelity():
    base = _link(encoding="time_bin", node_a={"collection_efficiency": 0.8}, node_b={"collection_efficiency": 0.7})
    fids = []
    for eps in (0.0, 0.05, 0.1, 0.2):
        fids.append(_f(ij.simulate(base.set({"nodes.time_bin_pulse_error": np.float64(eps)})).fidelity))
    assert fids[0] == pytest.approx(1.0, abs=1e-12)
    assert all(a > b + 1e-6 for a, b in zip(fids, fids[1:])), fids
    # eps -> -eps flips the sign of the no-photon / two-photon branch: the same as the total photon-number
    # parity, which commutes with the beam splitters and the detectors
    for eps in (0.05, 0.2):
        plus = ij.simulate(base.set({"nodes.time_bin_pulse_error": np.float64(eps)}))
        minus = ij.simulate(base.set({"nodes.time_bin_pulse_error": np.float64(-eps)}))
        assert _f(plus.fidelity) == pytest.approx(_f(minus.fidelity), abs=1e-12)
        assert _f(plus.success_probability) == pytest.approx(_f(minus.success_probability), rel=1e-12)
    # one node's error alone also lowers the fidelity
    assert _f(ij.simulate(base.set({"node_b.time_bin_pulse_error": np.float64(0.1)})).fidelity) < 1 - 1e-6


# ----------------------------------------------------------------------------- pictures agree
PICTURE_CASES = [("two_photon", "polarization", "threshold"), ("two_photon", "time_bin", "pnr"),
                 ("two_photon", "frequency", "pnr"), ("single_photon", "single_photon", "threshold")]

_prob = st.floats(0.05, 0.95)


@st.composite
def _numbers(draw):
    def node():
        return {"collection_efficiency": draw(_prob), "fiber_length_km": draw(st.floats(0.0, 10.0)),
                "fiber_attenuation_db_per_km": draw(st.floats(0.0, 1.0)), "excitation_probability": draw(_prob),
                "ion_photon_fidelity": draw(st.floats(0.7, 1.0)),
                "multi_photon_probability": draw(st.floats(0.0, 0.2)),
                "photon_lifetime_ns": draw(st.floats(2.0, 30.0)), "qubit_t2_s": draw(st.floats(1e-5, 1e-2)),
                "time_bin_pulse_error": draw(st.floats(-0.3, 0.3))}

    return {
        "node_a": node(), "node_b": node(),
        "detection": {"efficiency": draw(_prob), "dark_count_rate_hz": draw(st.floats(0.0, 1e6)),
                      "window_ns": draw(st.floats(5.0, 200.0)), "timing_jitter_ps": draw(st.floats(0.0, 10.0))},
        "interference": {"mode_overlap": draw(st.floats(0.0, 1.0)), "phase_noise_rad": draw(st.floats(0.0, 1.0))},
    }


@pytest.mark.parametrize("protocol,encoding,kind", PICTURE_CASES)
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers=_numbers())
def test_heisenberg_and_schrodinger_pictures_agree(protocol, encoding, kind, numbers):
    cfg = {"protocol": protocol, **numbers}
    cfg["detection"] = {**cfg["detection"], "kind": kind}
    if protocol == "two_photon":
        cfg["encoding"] = encoding
    link = ij.load_link(ij.config.without_ignored(cfg))
    h = ij.simulate(link, picture="heisenberg")
    s = ij.simulate(link, picture="schrodinger")
    assert _f(h.fidelity) == pytest.approx(_f(s.fidelity), abs=1e-10)
    assert _f(h.success_probability) == pytest.approx(_f(s.success_probability), rel=1e-10, abs=1e-15)
    np.testing.assert_allclose(np.asarray(h.pattern_probabilities), np.asarray(s.pattern_probabilities),
                               rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(np.asarray(h.state.data), np.asarray(s.state.data), atol=1e-10)


def test_unknown_picture_is_refused():
    with pytest.raises(ValueError, match="picture"):
        ij.simulate(_link(), picture="interaction")


# ----------------------------------------------------------------------------- vmap
def test_vmap_over_a_leaf_equals_a_loop():
    link = _link(node_a={"ion_photon_fidelity": 0.95}, detection={"dark_count_rate_hz": 1e4, "window_ns": 50.0},
                 interference={"mode_overlap": 0.9})
    effs = jnp.linspace(0.3, 1.0, 5)

    @jax.vmap
    def batched(eff):
        res = ij.simulate(link.set({"detection.efficiency": eff}))
        return res.fidelity, res.success_probability, res.state.data

    fb, pb, sb = batched(effs)
    for i, eff in enumerate(np.asarray(effs)):
        res = ij.simulate(link.set({"detection.efficiency": np.float64(eff)}))
        assert _f(fb[i]) == pytest.approx(_f(res.fidelity), abs=1e-13)
        assert _f(pb[i]) == pytest.approx(_f(res.success_probability), rel=1e-13)
        np.testing.assert_allclose(np.asarray(sb[i]), np.asarray(res.state.data), atol=1e-13)
    # and the efficiency matters (the batch is not a constant)
    assert np.ptp(np.asarray(pb)) > 1e-3


# ----------------------------------------------------------------------------- float32
F32_CONFIGS = {
    "polarization": {"encoding": "polarization",
                     "node_a": {"collection_efficiency": 0.3, "ion_photon_fidelity": 0.95, "fiber_length_km": 2.0,
                                "fiber_attenuation_db_per_km": 0.4, "qubit_t2_s": 1e-4,
                                "multi_photon_probability": 0.05},
                     "node_b": {"collection_efficiency": 0.2},
                     "detection": {"dark_count_rate_hz": 1e5, "efficiency": 0.7, "window_ns": 30.0},
                     "interference": {"mode_overlap": 0.9}},
    "single_photon": {"protocol": "single_photon",
                      "node_a": {"collection_efficiency": 0.2, "excitation_probability": 0.1},
                      "node_b": {"collection_efficiency": 0.3, "excitation_probability": 0.15},
                      "detection": {"dark_count_rate_hz": 1e4},
                      "interference": {"mode_overlap": 0.95, "phase_noise_rad": 0.2}},
}

_F32_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("ignore")
import jax
assert not jax.config.jax_enable_x64
import ionjax as ij
out = {}
for name, cfg in json.loads(sys.argv[1]).items():
    res = ij.simulate(ij.load_link(ij.config.without_ignored(cfg)))
    out[name] = [str(res.fidelity.dtype), float(res.fidelity), float(res.success_probability)]
print(json.dumps(out))
"""


def test_float32_agrees_with_float64():
    """A process with x64 disabled (the float32 default of JAX) gives the float64 numbers to 1e-4."""
    env = {**os.environ, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _F32_SCRIPT, json.dumps(F32_CONFIGS)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, cfg in F32_CONFIGS.items():
        dtype, fid32, p32 = out[name]
        assert dtype == "float32"
        ref = ij.simulate(ij.load_link(ij.config.without_ignored(cfg)))
        assert fid32 == pytest.approx(_f(ref.fidelity), abs=1e-4), name
        assert p32 == pytest.approx(_f(ref.success_probability), rel=1e-4), name
