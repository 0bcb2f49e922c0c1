"""Gradients of the link's fidelity and success probability with respect to every numeric leaf.

``jax.jacrev`` of ``(fidelity, success_probability)`` gives a Link-shaped pytree; each leaf is
compared with a central finite difference of ``ij.simulate`` in that leaf alone. Both are
compared as logarithmic derivatives ``x df/dx`` (relative 1e-5), so leaves of very different
scale (Hz, s, km) share one tolerance; a leaf that the protocol ignores must give exactly 0.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ionjax as ij

INTERIOR = {
    "attempt_rate_hz": 2.0e6,
    "node_a": {"collection_efficiency": 0.35, "fiber_length_km": 3.0, "fiber_attenuation_db_per_km": 0.5,
               "excitation_probability": 0.8, "ion_photon_fidelity": 0.96, "multi_photon_probability": 0.04,
               "photon_lifetime_ns": 9.0, "qubit_t2_s": 2e-4, "time_bin_pulse_error": 0.08,
               "photon_frequency_offset_mhz": -1.0, "arrival_delay_ns": 0.3, "qubit_t1_s": 5e-3,
               "lamb_dicke_parameter": 0.05, "mean_phonon_number": 2.0, "trap_frequency_mhz": 1.1,
               "time_bin_spacing_ns": 300.0, "mode_matching": 0.9, "branching_ratio": 0.95,
               "readout_error": 0.01},
    "node_b": {"collection_efficiency": 0.25, "fiber_length_km": 5.0, "fiber_attenuation_db_per_km": 0.3,
               "excitation_probability": 0.7, "ion_photon_fidelity": 0.93, "multi_photon_probability": 0.06,
               "photon_lifetime_ns": 12.0, "qubit_t2_s": 3e-4, "time_bin_pulse_error": -0.06,
               "photon_frequency_offset_mhz": 3.0, "arrival_delay_ns": 0.7, "qubit_t1_s": 4e-3,
               "lamb_dicke_parameter": 0.04, "mean_phonon_number": 3.0, "trap_frequency_mhz": 0.9,
               "time_bin_spacing_ns": 310.0, "mode_matching": 0.8, "branching_ratio": 0.9,
               "readout_error": 0.02},
    "detection": {"efficiency": 0.75, "dark_count_rate_hz": 5e4, "window_ns": 25.0, "timing_jitter_ps": 3.0,
                  "window_start_ns": 0.5},
    "interference": {"mode_overlap": 0.85, "phase_noise_rad": 0.3},
    "station": {"beam_splitter_reflectivity": 0.45, "beam_splitter_phase_rad": 0.3},
}

IDEAL_NODE = {"collection_efficiency": 1.0, "fiber_length_km": 0.0, "fiber_attenuation_db_per_km": 0.0,
              "excitation_probability": 1.0, "ion_photon_fidelity": 1.0, "multi_photon_probability": 0.0,
              "qubit_t2_s": float("inf"), "time_bin_pulse_error": 0.0}
IDEAL = {
    "node_a": dict(IDEAL_NODE), "node_b": dict(IDEAL_NODE),
    "detection": {"efficiency": 1.0, "dark_count_rate_hz": 0.0, "timing_jitter_ps": 0.0},
    "interference": {"mode_overlap": 1.0, "phase_noise_rad": 0.0},
}

# (protocol, encoding, detector kind): the structures under test
CASES = [("two_photon", "polarization", "threshold"), ("two_photon", "time_bin", "pnr"),
         ("single_photon", "single_photon", "threshold")]


def _config(base, protocol, encoding, kind):
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    cfg["protocol"] = protocol
    cfg.setdefault("detection", {})["kind"] = kind
    if protocol == "two_photon":
        cfg["encoding"] = encoding
    else:  # the bright-state weight p: small (the ideal single-photon point is not p = 1)
        cfg["node_a"]["excitation_probability"] = 0.1
        cfg["node_b"]["excitation_probability"] = 0.12
    return cfg


def _leaf_keys(link):
    return [k for k in link.numeric_keys() if not k.startswith("nodes.")]


def _outputs(link):
    res = ij.simulate(link)
    return jnp.stack([res.fidelity, res.success_probability])


_jacobian = jax.jit(jax.jacfwd(_outputs))  # forward mode: cheaper to compile than reverse mode here


@pytest.mark.parametrize("protocol,encoding,kind", CASES)
def test_gradients_match_finite_differences(protocol, encoding, kind):
    link = ij.load_link(ij.config.without_ignored(_config(INTERIOR, protocol, encoding, kind)))
    jac = _jacobian(link)
    f0 = np.asarray(_outputs(link))
    assert np.all(np.isfinite(f0)) and 0.3 < f0[0] < 0.99 and f0[1] > 1e-5
    keys = _leaf_keys(link)
    assert len(keys) == 52  # 26 + the beam splitter (R, phi) + the photon (22) - 1 moved + readout (2) + dead time
    rel_step = 1e-4
    mismatches = []
    for key in keys:
        if not ij.config.key_applies(key.rpartition(".")[2], link.protocol, link.encoding):
            assert np.all(np.asarray(jac.get(key)) == 0.0), key  # ignored by the structure (and refused if set)
            continue
        x = float(link.get(key))
        if math.isinf(x):  # the coincidence window's default: no filter, flat in it
            assert np.all(np.asarray(jac.get(key)) == 0.0), key
            continue
        if key == "detection.dead_time_ns":  # 0: the time-integrating structure, flat in it (a dead time takes the
            assert np.all(np.asarray(jac.get(key)) == 0.0), key  # click-time path: tests/test_dead_time.py)
            continue
        assert x != 0.0, f"interior point must make {key} non-trivial"
        h = rel_step * abs(x)
        # np.float64: a strongly typed leaf like load_link's (a Python float would retrace the jit)
        fp = np.asarray(_outputs(link.set({key: np.float64(x + h)})))
        fm = np.asarray(_outputs(link.set({key: np.float64(x - h)})))
        fd = x * (fp - fm) / (2 * h)  # x df/dx
        ad = x * np.asarray(jac.get(key))
        assert np.all(np.isfinite(ad)), (key, ad)
        for i, name in enumerate(("fidelity", "success_probability")):
            tol = 1e-5 * abs(fd[i]) + 1e-11 * abs(f0[i])
            if not abs(ad[i] - fd[i]) <= tol:
                mismatches.append((key, name, float(ad[i]), float(fd[i])))
    assert not mismatches, mismatches


@pytest.mark.parametrize("protocol,encoding,kind", CASES)
def test_gradients_sensitive_leaves(protocol, encoding, kind):
    """The knobs that matter have non-zero gradients; the ones the protocol ignores give exactly zero."""
    link = ij.load_link(ij.config.without_ignored(_config(INTERIOR, protocol, encoding, kind)))
    jac = _jacobian(link)
    dfid = {k: float(jac.get(k)[0]) for k in _leaf_keys(link)}
    dsucc = {k: float(jac.get(k)[1]) for k in _leaf_keys(link)}
    for k in ("node_a.ion_photon_fidelity", "node_b.qubit_t2_s", "detection.dark_count_rate_hz",
              "interference.mode_overlap"):
        assert abs(dfid[k]) > 0, k
    assert dfid["attempt_rate_hz"] == 0.0 and dsucc["attempt_rate_hz"] == 0.0
    assert dsucc["node_a.collection_efficiency"] > 0 and dsucc["detection.efficiency"] > 0
    ignored = ["detection.timing_jitter_ps"]  # time-integrating detection: the jitter changes nothing
    if protocol == "two_photon":
        ignored.append("interference.phase_noise_rad")
    if encoding != "time_bin":
        ignored += ["node_a.time_bin_pulse_error", "node_b.time_bin_pulse_error"]
    else:
        assert abs(dfid["node_a.time_bin_pulse_error"]) > 0
    for k in ignored:
        assert dfid[k] == 0.0 and dsucc[k] == 0.0, k


@pytest.mark.parametrize("protocol,encoding,kind", CASES)
def test_gradients_finite_at_the_ideal_point(protocol, encoding, kind):
    link = ij.load_link(ij.config.without_ignored(_config(IDEAL, protocol, encoding, kind)))
    f0 = np.asarray(_outputs(link))
    if protocol == "two_photon":
        assert f0[0] == pytest.approx(1.0, abs=1e-12)
    jac = _jacobian(link)
    bad = {k: np.asarray(jac.get(k)).tolist() for k in _leaf_keys(link) if not np.all(np.isfinite(jac.get(k)))}
    assert not bad, f"non-finite gradients at the ideal point: {bad}"
    # at F = 1 the fidelity cannot rise by lowering an error: d F / d(ion_photon_fidelity) >= 0
    if protocol == "two_photon":
        assert float(jac.get("node_a.ion_photon_fidelity")[0]) >= 0.0
        assert float(jac.get("interference.mode_overlap")[0]) == pytest.approx(0.5, abs=1e-9)


def test_mode_overlap_gradient_finite_at_perfect_overlap():
    """Minimal case of the ideal-point check: F = (1 + M)/2, so dF/dM = 1/2 at M = 1 (and at M < 1)."""
    link = ij.load_link({"detection": {"window_ns": 1e4}})

    def fid(m):
        return ij.simulate(link.set({"interference.mode_overlap": m})).fidelity

    grad = jax.jit(jax.grad(fid))  # one compile for both points
    assert float(grad(jnp.float64(0.9))) == pytest.approx(0.5, abs=1e-12)
    assert float(grad(jnp.float64(1.0))) == pytest.approx(0.5, abs=1e-12)
