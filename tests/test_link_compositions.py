"""The link format of compositions (DESIGN.md, "Links as compositions"): path elements, their names and
dotted keys, the station, per-detector values, refusals, and the same keys through --set, --vary and --free."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

import ionjax as ij
from ionjax.cli import main
from ionjax.errors import ConfigError
from ionjax.optimize import link_to_toml

PATH = [{"element": "quarter_wave_plate", "name": "q1", "angle_rad": 0.1},
        {"element": "half_wave_plate", "angle_rad": 0.2},
        {"element": "half_wave_plate", "angle_rad": 0.3},
        {"element": "fiber", "length_km": 2.0, "attenuation_db_per_km": 0.3, "theta_rad": 1.0}]


def _link(**extra):
    d = {"node_a": {"collection_efficiency": 0.3}, "node_b": {"collection_efficiency": 0.2, "path": PATH},
         "detection": {"window_ns": 1e4}}
    d.update(extra)
    return ij.load_link(d)


def test_names_default_to_kind_then_kind_n_and_every_number_is_a_key():
    link = _link()
    assert link.node_b.path_names == ("q1", "half_wave_plate", "half_wave_plate_2", "fiber")
    assert float(link.get("node_b.path.half_wave_plate_2.angle_rad")) == 0.3
    assert float(link.get("node_b.path.fiber.length_km")) == 2.0
    keys = link.numeric_keys()
    for k in ("node_b.path.q1.angle_rad", "node_b.path.fiber.theta_rad", "station.beam_splitter_reflectivity",
              "station.beam_splitter_phase_rad"):
        assert k in keys
    assert len(jax.tree_util.tree_leaves(link)) == len(keys)


def test_set_and_dict_round_trip():
    link = _link().set({"node_b.path.q1.angle_rad": 0.7, "detection.detectors.d_v.dark_count_rate_hz": 30.0})
    again = ij.load_link(link.to_dict())
    assert float(again.get("node_b.path.q1.angle_rad")) == 0.7
    assert float(again.get("detection.detectors.d_v.dark_count_rate_hz")) == 30.0
    assert float(again.get("detection.detectors.c_h.dark_count_rate_hz")) == 0.0  # inherits [detection]
    np.testing.assert_allclose(float(ij.simulate(again).fidelity), float(ij.simulate(link).fidelity), atol=1e-14)


def test_the_path_changes_the_answer_and_set_is_traceable():
    link = _link()
    f = jax.jit(lambda a: ij.link.evaluate(link.set({"node_b.path.half_wave_plate.angle_rad": a})).fidelity)
    vals = jax.vmap(f)(np.linspace(0.0, 1.0, 5))
    assert np.ptp(np.asarray(vals)) > 1e-3


@pytest.mark.parametrize("key, match", [
    ("node_b.path.q3.angle_rad", r"node_b has no path element named 'q3'; its elements: q1, half_wave_plate"),
    ("node_b.path.q1.retardance_rad", r"element 'q1' \(quarter_wave_plate\) has no key 'retardance_rad'; its keys: "
                                      r"angle_rad"),
    ("node_a.path.q1.angle_rad", r"node_a has no path element named 'q1'; its elements: none"),
    ("detection.detectors.x_h.efficiency", r"no detector 'x_h'; its detectors: c_h, c_v, d_h, d_v"),
    ("detection.detectors.c_h.window_ns", r"a detector's own keys are efficiency, dark_count_rate_hz"),
    ("station.reflectivity", r"Unknown numeric key 'station.reflectivity'"),
])
def test_bad_keys_name_the_element_and_list_its_keys(key, match):
    with pytest.raises(ConfigError, match=match):
        _link().get(key)
    with pytest.raises(ConfigError, match=match):
        _link().set({key: 0.1})


def test_values_are_checked_with_the_elements_ranges():
    with pytest.raises(ConfigError, match=r"node_b.path.q1.angle_rad = 99.0 is out of range"):
        _link().set({"node_b.path.q1.angle_rad": 99.0})
    with pytest.raises(ConfigError,
                       match=r"station.beam_splitter_reflectivity = 1.5 is out of range: allowed \[0, 1\]"):
        _link(station={"beam_splitter_reflectivity": 1.5})
    with pytest.raises(ConfigError, match=r"detection.detectors.c_h.efficiency = -0.1 is out of range"):
        _link(detection={"detectors": {"c_h": {"efficiency": -0.1}}})


@pytest.mark.parametrize("entry, match", [
    ({"element": "mirror"}, r"node_b.path\[0\].element = 'mirror' is not an element kind"),
    ({"element": "wave_plate", "angel_rad": 0.1}, r"node_b.path.wave_plate.angel_rad .*its keys are"),
    ({"element": "wave_plate", "name": "a.b"}, r"name = 'a.b' must be a word"),
    ("wave_plate", r"node_b.path\[0\] must be a table"),
])
def test_bad_path_entries(entry, match):
    with pytest.raises(ConfigError, match=match):
        ij.load_link({"node_b": {"path": [entry]}})


def test_duplicate_names_are_refused():
    with pytest.raises(ConfigError, match="used twice"):
        ij.load_link({"node_b": {"path": [{"element": "rotator", "name": "r"}, {"element": "loss", "name": "r"}]}})


@pytest.mark.parametrize("encoding", ["time_bin", "frequency"])
def test_an_element_that_does_not_fit_the_encoding_is_refused(encoding):
    with pytest.raises(ConfigError, match=rf"node_b.path.wave_plate \(wave_plate\) does not fit the {encoding} "
                                          r"photon, whose modes are .*polarization modes"):
        ij.load_link({"encoding": encoding, "node_b": {"path": [{"element": "wave_plate"}]}})
    with pytest.raises(ConfigError, match="birefringence"):
        ij.load_link({"encoding": encoding, "node_b": {"path": [{"element": "fiber", "theta_rad": 0.3}]}})
    # a plain fiber, a loss and a phase shifter fit every photon
    ij.load_link({"encoding": encoding, "node_b": {"path": [{"element": "fiber", "length_km": 1.0},
                                                            {"element": "loss"}, {"element": "phase_shifter"}]}})


def test_single_photon_phase_shifter_needs_mode_0():
    with pytest.raises(ConfigError, match="mode = 1 is not a mode number"):
        ij.load_link({"protocol": "single_photon", "node_b": {"path": [{"element": "phase_shifter", "mode": 1}]}})
    with pytest.raises(ConfigError, match=r"mode must be of type int"):
        ij.load_link({"node_b": {"path": [{"element": "phase_shifter", "mode": "v"}]}})


@pytest.mark.parametrize("cfg, match", [
    ({"node_a": {"time_bin_pulse_error": 0.1}}, "only the time_bin encoding has a pi pulse"),
    ({"interference": {"phase_noise_rad": 0.2}}, "only matters to the single_photon protocol"),
    ({"protocol": "single_photon", "detection": {"coincidence_window_ns": 5.0}}, "needs two clicks"),
])
def test_keys_the_structure_ignores_are_refused_with_the_reason(cfg, match):
    with pytest.raises(ConfigError, match=match):
        ij.load_link(cfg)
    d = {k: v for k, v in cfg.items() if k in ("encoding", "protocol")}
    link = ij.load_link(d)
    key = next(f"{s}.{k}" for s, v in cfg.items() if isinstance(v, dict) for k in v)
    with pytest.raises(ConfigError, match=match):
        link.set({key: 0.3})
    ij.load_link({**d, **{s: {k: ij.config.SCHEMA[s][k].default for k in v} for s, v in cfg.items()
                          if isinstance(v, dict)}})  # defaults pass
    assert ij.config.without_ignored(cfg) != cfg


def test_frequency_conversion_wavelengths_must_match():
    conv = {"element": "frequency_conversion", "efficiency": 0.5, "output_wavelength_nm": 1550.0}
    with pytest.raises(ConfigError, match="different wavelengths"):
        ij.load_link({"node_a": {"path": [conv]}})
    with pytest.raises(ConfigError, match="node_a: 1550 nm; node_b: 1310 nm"):
        ij.load_link({"node_a": {"path": [conv]}, "node_b": {"path": [{**conv, "output_wavelength_nm": 1310.0}]}})
    base = {"node_a": {"collection_efficiency": 0.3}, "node_b": {"collection_efficiency": 0.3},
            "detection": {"window_ns": 1e4}}
    both = ij.load_link({**base, "node_a": {**base["node_a"], "path": [conv]},
                         "node_b": {**base["node_b"], "path": [conv]}})
    plain = ij.load_link(base)
    # efficiency 0.5 at each node: success x 1/4, the same state
    assert float(ij.simulate(both).success_probability) == pytest.approx(
        0.25 * float(ij.simulate(plain).success_probability), rel=1e-12)
    assert float(ij.simulate(both).fidelity) == pytest.approx(float(ij.simulate(plain).fidelity), abs=1e-12)


def test_conversion_noise_is_extra_dark_counts():
    """noise_rate_hz R at each converter adds R W / J incident noise photons per detector (J = 4), detected with
    the detector's efficiency: the same link as extra dark counts eta (R_a + R_b) / 4 per detector."""
    conv = {"element": "frequency_conversion", "efficiency": 0.8, "noise_rate_hz": 2e5}
    base = {"node_a": {"collection_efficiency": 0.3}, "node_b": {"collection_efficiency": 0.3},
            "detection": {"window_ns": 500.0, "efficiency": 0.7, "dark_count_rate_hz": 100.0}}
    noisy = ij.load_link({**base, "node_a": {**base["node_a"], "path": [conv]},
                          "node_b": {**base["node_b"], "path": [conv]}})
    dark = {**base["detection"], "dark_count_rate_hz": 100.0 + 0.7 * (2e5 + 2e5) / 4}
    quiet = {**conv, "noise_rate_hz": 0.0}
    ref = ij.load_link({**base, "detection": dark, "node_a": {**base["node_a"], "path": [quiet]},
                        "node_b": {**base["node_b"], "path": [quiet]}})
    for method in ("compiled", "heisenberg"):
        a, b = ij.simulate(noisy, method), ij.simulate(ref, method)
        assert float(a.success_probability) == pytest.approx(float(b.success_probability), rel=1e-12)
        assert float(a.fidelity) == pytest.approx(float(b.fidelity), abs=1e-12)


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_set_vary_and_errors_reach_path_keys(tmp_path, capsys):
    path = tmp_path / "link.toml"
    path.write_text(link_to_toml(_link()))
    code, out, _ = _cli(capsys, "simulate", str(path), "--json", "--set", "node_b.path.q1.angle_rad=0.5")
    assert code == 0
    f_cli = json.loads(out)["fidelity"]
    assert f_cli == pytest.approx(float(ij.simulate(_link().set({"node_b.path.q1.angle_rad": 0.5})).fidelity),
                                  abs=1e-12)
    code, _, err = _cli(capsys, "simulate", str(path), "--set", "node_b.path.q9.angle_rad=0.5")
    assert code == 2 and "no path element named 'q9'" in err and "Traceback" not in err
    code, _, err = _cli(capsys, "simulate", str(path), "--set", "node_b.path.q1.angle_rad=99")
    assert code == 2 and "node_b.path.q1.angle_rad = 99" in err
    code, out, err = _cli(capsys, "sweep", str(path), "--vary", "node_b.path.q1.angle_rad=0:1:3",
                          "--out", str(tmp_path / "sw"), "--quiet")
    assert code == 0, err
    code, _, err = _cli(capsys, "sweep", str(path), "--vary", "node_b.path.nope.angle_rad=0:1:3",
                        "--out", str(tmp_path / "sw2"), "--quiet")
    assert code == 2 and "no path element named 'nope'" in err


def test_methods_by_name_class_and_instance():
    link = _link()
    ref = float(ij.simulate(link).fidelity)
    for m in ("compiled", ij.method.Compiled, ij.method.DenseHeisenberg(), "auto"):
        assert float(ij.simulate(link, m).fidelity) == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ConfigError, match="Argument `method` must be one of"):
        ij.simulate(link, "fast")
    assert math.isfinite(ref)


def test_a_path_fiber_counts_toward_the_herald_wait():
    """The photon's way to the station is the flat fiber plus every path fiber: both make the ion wait."""
    flat = ij.load_link({"node_b": {"fiber_length_km": 3.0, "qubit_t2_s": 1e-4}, "detection": {"window_ns": 1e4}})
    path = ij.load_link({"node_b": {"qubit_t2_s": 1e-4, "path": [{"element": "fiber", "length_km": 3.0}]},
                         "detection": {"window_ns": 1e4}})
    # coherence exp(-2 L / (2e5 km/s) / T2) on ion B: F = (1 + c) / 2 on an otherwise ideal link
    c = math.exp(-2 * 3.0 / 2e5 / 1e-4)
    for link in (flat, path):
        assert float(ij.simulate(link).fidelity) == pytest.approx((1 + c) / 2, abs=1e-12)
