"""Physics of the photon beyond the wavepackets (tests/test_wavepackets.py): species defaults, collection
optics, the excitation pulse, memory (T1, Gaussian T2), recoil, and the refusals and gradients that go with
them. Each expected number is derived here independently (closed forms, or the components' own models
checked elsewhere against QuTiP / quadrature)."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

import ionjax as ij
from ionjax.errors import ConfigError

LONG = {"window_ns": 1.0e4}


def _f(x):
    return float(np.asarray(x))


def _link(node_a=None, node_b=None, detection=None, **top):
    d = {"node_a": {"collection_efficiency": 0.3, **(node_a or {})},
         "node_b": {"collection_efficiency": 0.2, **(node_b or {})},
         "detection": {**LONG, **(detection or {})}, **top}
    return ij.load_link(d)


# ----------------------------------------------------------------------------- species
def test_species_sets_cited_defaults_and_explicit_keys_win():
    lk = _link(node_a={"species": "138Ba+", "fiber_length_km": 0.1}, node_b={"species": "138Ba+"})
    assert _f(lk.node_a.photon_lifetime_ns) == 7.92 and _f(lk.node_a.branching_ratio) == 0.7318
    assert _f(lk.node_a.fiber_attenuation_db_per_km) == 30.0
    t = 10 ** (-30.0 * 0.1 / 10)
    res = ij.simulate(lk)
    assert _f(res.success_probability) == pytest.approx(0.3 * 0.7318 * t * 0.2 * 0.7318 / 2, rel=1e-9)
    lk2 = _link(node_a={"species": "40Ca+", "photon_line": "D5/2-P3/2", "photon_lifetime_ns": 5.0})
    assert _f(lk2.node_a.photon_lifetime_ns) == 5.0 and _f(lk2.node_a.branching_ratio) == 0.0587
    assert _f(lk2.node_a.fiber_attenuation_db_per_km) == 3.0  # 854 nm
    # a path fiber after a converter takes the output wavelength's attenuation
    conv = [{"element": "frequency_conversion", "efficiency": 0.3, "output_wavelength_nm": 1550.0},
            {"element": "fiber", "length_km": 10.0}]
    lk3 = _link(node_a={"species": "138Ba+", "path": conv}, node_b={"species": "138Ba+", "path": conv})
    assert _f(lk3.get("node_a.path.fiber.attenuation_db_per_km")) == 0.18
    back = ij.load_link(lk3.to_dict())
    assert back.node_a.species == "138Ba+" and _f(back.node_a.branching_ratio) == 0.7318


def test_species_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"node_a.species.*Did you mean '138Ba\+'"):
        _link(node_a={"species": "Ba139"})
    with pytest.raises(ConfigError, match=r"node_b.photon_line = 'D5/2-P3/2' needs node_b.species"):
        _link(node_b={"photon_line": "D5/2-P3/2"})


# ----------------------------------------------------------------------------- collection
@pytest.mark.parametrize("coupling", ["single_mode", "multimode"])
def test_collection_from_the_dipole_pattern(coupling):
    na = 0.8
    c = math.sqrt(1 - na**2)
    a, b = (8 - (1 + c) ** 3) / 16, (1 - c) ** 3 / 16
    node = {"fiber_coupling": coupling, "numerical_aperture": na, "collection_efficiency": 1.0, "mode_matching": 0.6}
    res = ij.simulate(_link(node_a=node, node_b=node))
    if coupling == "single_mode":  # harmonics 1, 2 filtered: a pure state, A x mode matching collected
        assert _f(res.success_probability) == pytest.approx((a * 0.6) ** 2 / 2, rel=1e-12)
        assert _f(res.fidelity) == pytest.approx(1.0, abs=1e-12)
    else:  # sigma+/sigma- along z: the wrong-handed light B mixes in (Z Phi Z + X Phi X)/2 on the photon
        assert _f(res.success_probability) == pytest.approx((a + b) ** 2 / 2, rel=1e-12)
        # on a maximally entangled ion-photon state a photon Pauli is the ion's: each node is an ion Pauli channel,
        # X and Z with p = B / (2 (A + B)) each; Psi+ survives II, XX, ZZ: F = (1 - 2p)^2 + 2 p^2
        p = b / (2 * (a + b))
        assert _f(res.fidelity) == pytest.approx((1 - 2 * p) ** 2 + 2 * p**2, rel=1e-12)
    with pytest.raises(ConfigError, match="needs node_a.fiber_coupling"):
        _link(node_a={"numerical_aperture": 0.5})


# ----------------------------------------------------------------------------- memory
def test_t1_relaxation_and_gaussian_dephasing():
    wait = 2 * 10.0 / 2e5
    g = 1 - math.exp(-wait / 1e-4)
    # amplitude damping of ion A on Psi+: <Psi+|rho|Psi+> = (1 - g)/4 + 1/4 + 2 sqrt(1 - g)/4
    res = ij.simulate(_link(node_a={"fiber_length_km": 10.0, "qubit_t1_s": 1e-4}))
    assert _f(res.fidelity) == pytest.approx((2 - g + 2 * math.sqrt(1 - g)) / 4 / 1.0, rel=1e-12)
    res = ij.simulate(_link(node_a={"fiber_length_km": 10.0, "qubit_t2_s": 1e-4, "memory_decay": "gaussian"}))
    assert _f(res.fidelity) == pytest.approx((1 + math.exp(-((wait / 1e-4) ** 2))) / 2, rel=1e-12)
    with pytest.raises(ConfigError, match="memory_decay"):
        _link(node_a={"memory_decay": "lorentzian"})


# ----------------------------------------------------------------------------- recoil
def test_recoil_coherence_single_photon_and_time_bin():
    eta, n = 0.1, 5.0
    res = ij.simulate(ij.load_link({"protocol": "single_photon", "detection": LONG,
                                    "node_a": {"excitation_probability": 0.01, "lamb_dicke_parameter": eta,
                                               "mean_phonon_number": n},
                                    "node_b": {"excitation_probability": 0.01}}))
    ideal = ij.simulate(ij.load_link({"protocol": "single_photon", "detection": LONG,
                                      "node_a": {"excitation_probability": 0.01},
                                      "node_b": {"excitation_probability": 0.01}}))
    c = math.exp(-0.5 * eta**2 * (2 * n + 1))
    # the Psi coherence scales by c: F - 1/2 (population part) scales exactly with the coherence term
    state, ref = np.asarray(res.state.data), np.asarray(ideal.state.data)
    assert state[1, 2] == pytest.approx(c * ref[1, 2], rel=1e-12)
    for spacing, trap in ((250.0, 1.0), (1000.0, 1.0)):
        node = {"lamb_dicke_parameter": eta, "mean_phonon_number": n, "trap_frequency_mhz": trap,
                "time_bin_spacing_ns": spacing}
        res = ij.simulate(_link(node_a=node, encoding="time_bin"))
        c = math.exp(-2 * eta**2 * (2 * n + 1) * math.sin(math.pi * trap * 1e-3 * spacing) ** 2)
        assert _f(res.fidelity) == pytest.approx((1 + c) / 2, rel=1e-12)
    with pytest.raises(ConfigError, match="common to both ion states"):
        _link(node_a={"lamb_dicke_parameter": 0.1})


# ----------------------------------------------------------------------------- excitation
def test_excitation_block_sets_emission_and_a_gated_second_photon():
    from ionjax.components import excitation_emission

    node = {"species": "138Ba+", "excitation": {"pulse_duration_ns": 1.0}}
    lk = ij.load_link({"node_a": node, "node_b": node, "detection": {"window_ns": 100.0}})
    out = excitation_emission(math.pi, 1.0, 7.92, 0.7318)
    p1, p2 = float(out.p_emission), float(out.p_second_photon)
    acc = 1 - math.exp(-100.0 / 7.92)
    late = lk.set({"detection.window_start_ns": 1.0, "detection.window_ns": 99.0})
    res = ij.simulate(late)  # the gate opens after the pulse: the extra photon is gated out
    acc_late = math.exp(-1.0 / 7.92) * (1 - math.exp(-99.0 / 7.92))
    assert _f(res.fidelity) == pytest.approx(1.0, abs=1e-12)
    assert _f(res.success_probability) == pytest.approx(0.05**2 * (p1 * acc_late) ** 2 / 2, rel=1e-9)
    early = ij.simulate(lk)
    assert _f(early.fidelity) < 0.99  # the extra photon, emitted during the pulse, is inside the gate
    assert p2 / p1 > 1e-3
    for m in ("compiled", "heisenberg"):
        assert _f(ij.simulate(lk, method=m).fidelity) == pytest.approx(_f(early.fidelity), abs=1e-12)
    # a gate from 0 holds the whole wavepacket: the photons alone give more heralds than the later gate
    assert _f(early.success_probability) > 0.05**2 * (p1 * acc_late) ** 2 / 2
    assert _f(early.success_probability) == pytest.approx(0.05**2 * (p1 * acc) ** 2 / 2, rel=5e-2)
    g = jax.grad(lambda x: ij.simulate(lk.set({"node_a.excitation.pulse_area_rad": x})).success_probability)(3.0)
    assert np.isfinite(float(g)) and float(g) > 0  # more area toward pi: more emission
    assert ij.load_link(lk.to_dict()).node_a.excitation.pulse_duration_ns == 1.0
    with pytest.raises(ConfigError, match="both set it"):
        ij.load_link({"node_a": {**node, "excitation_probability": 0.5}})
    with pytest.raises(ConfigError, match="single_photon protocol's weak excitation"):
        ij.load_link({"protocol": "single_photon", "node_a": node})


# ----------------------------------------------------------------------------- keys and methods
def test_moved_key_and_dense_refusal():
    with pytest.raises(ConfigError, match="moved to each node's photon_frequency_offset_mhz"):
        ij.load_link({"interference": {"frequency_offset_hz": 1e6}})
    lk = _link(detection={"coincidence_window_ns": 2.0})
    assert lk.detection.coincidence_filter
    with pytest.raises(ConfigError, match="only method='compiled' integrates"):
        ij.simulate(lk, method="heisenberg")
    assert not _link().detection.coincidence_filter
    assert _link().set({"detection.coincidence_window_ns": 3.0}).detection.coincidence_filter
    with pytest.raises(ConfigError, match="no phase correction removes"):
        ij.load_link({"encoding": "frequency", "detection": {"time_resolved_correction": True}})


def test_gradients_finite_at_the_boundaries():
    """M = 1, zero offset, zero jitter (with the correction) and window start 0: finite gradients."""
    lk = _link(detection={"time_resolved_correction": True, "coincidence_window_ns": 5.0})
    keys = ["node_b.photon_frequency_offset_mhz", "interference.mode_overlap", "detection.timing_jitter_ps",
            "detection.window_start_ns", "node_b.arrival_delay_ns", "detection.coincidence_window_ns"]
    x0 = np.array([float(lk.get(k)) for k in keys])

    def fid(x):
        return ij.simulate(lk.set(dict(zip(keys, x)))).fidelity

    g = np.asarray(jax.jit(jax.jacfwd(fid))(x0))  # forward mode: what ij.optimize uses for a few knobs
    assert np.all(np.isfinite(g)), dict(zip(keys, g))
    assert g[0] == pytest.approx(0.0, abs=1e-12)  # offset: F is even in it
