"""Link configuration: TOML / dict loading, defaults (DESIGN.md), errors, dotted access, round trips."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ionjax as ij
from ionjax import ConfigError

# The DESIGN.md format with its defaults (keys added by the library for the physics: last three groups).
DESIGN_DEFAULTS = {
    "attempt_rate_hz": 1.0e6,
    "node_a.collection_efficiency": 0.05,
    "node_a.fiber_length_km": 0.0,
    "node_a.fiber_attenuation_db_per_km": 0.0,
    "node_a.excitation_probability": 1.0,
    "node_a.ion_photon_fidelity": 1.0,
    "node_a.multi_photon_probability": 0.0,
    "node_a.photon_lifetime_ns": 8.0,
    "node_a.qubit_t2_s": math.inf,
    "detection.efficiency": 1.0,
    "detection.dark_count_rate_hz": 0.0,
    "detection.window_ns": 100.0,
    "interference.mode_overlap": 1.0,
    "interference.phase_noise_rad": 0.0,
}
EXTRA_DEFAULTS = {
    "node_a.time_bin_pulse_error": 0.0,  # an ideal pi pulse
    "detection.timing_jitter_ps": 0.0,
    "node_a.photon_frequency_offset_mhz": 0.0,
    "node_a.arrival_delay_ns": 0.0,
    "detection.window_start_ns": 0.0,
    "detection.coincidence_window_ns": float("inf"),
    "detection.dead_time_ns": 0.0,  # time_bin: one detector in both bins
    "node_a.qubit_t1_s": math.inf,  # Physics of the photon: memory, species, collection, recoil
    "node_a.branching_ratio": 1.0,
    "node_a.readout_error": 0.0,  # measured data: the ion readout
    "node_a.numerical_aperture": 0.6,
    "node_a.mode_matching": 1.0,
    "node_a.lamb_dicke_parameter": 0.0,
    "node_a.mean_phonon_number": 0.0,
    "node_a.trap_frequency_mhz": 1.0,
    "node_a.time_bin_spacing_ns": 0.0,
    "station.beam_splitter_reflectivity": 0.5,  # DESIGN.md "Links as compositions"
    "station.beam_splitter_phase_rad": 0.0,
}

LINK_TOML = """\
protocol = "two_photon"
encoding = "time_bin"
name = "my link"
attempt_rate_hz = 2.5e5

[node_a]
collection_efficiency = 0.3
fiber_length_km = 2.0
fiber_attenuation_db_per_km = 0.5
qubit_t2_s = 0.01
time_bin_pulse_error = -0.05

[node_b]
collection_efficiency = 0.2
qubit_t2_s = "inf"

[detection]
kind = "pnr"
efficiency = 0.8
dark_count_rate_hz = 25
window_ns = 50.0

[interference]
mode_overlap = 0.9
"""

LINK_DICT = {
    "protocol": "two_photon",
    "encoding": "time_bin",
    "name": "my link",
    "attempt_rate_hz": 2.5e5,
    "node_a": {"collection_efficiency": 0.3, "fiber_length_km": 2.0, "fiber_attenuation_db_per_km": 0.5,
               "qubit_t2_s": 0.01, "time_bin_pulse_error": -0.05},
    "node_b": {"collection_efficiency": 0.2, "qubit_t2_s": float("inf")},
    "detection": {"kind": "pnr", "efficiency": 0.8, "dark_count_rate_hz": 25, "window_ns": 50.0},
    "interference": {"mode_overlap": 0.9},
}


def _values(link):
    return {k: float(link.get(k)) for k in link.numeric_keys()}


# ----------------------------------------------------------------------------- loading
def test_load_from_dict():
    link = ij.load_link(LINK_DICT)
    assert isinstance(link, ij.Link)
    assert (link.protocol, link.encoding, link.detection.kind, link.name) == ("two_photon", "time_bin", "pnr",
                                                                             "my link")
    v = _values(link)
    assert v["attempt_rate_hz"] == 2.5e5
    assert v["node_a.collection_efficiency"] == 0.3 and v["node_b.collection_efficiency"] == 0.2
    assert v["node_a.time_bin_pulse_error"] == -0.05 and v["node_b.time_bin_pulse_error"] == 0.0
    assert v["node_a.qubit_t2_s"] == 0.01 and v["node_b.qubit_t2_s"] == math.inf
    assert v["detection.dark_count_rate_hz"] == 25.0  # an int is accepted
    assert v["node_b.photon_lifetime_ns"] == 8.0  # left out: the default
    for k in link.numeric_keys():
        assert link.get(k).dtype == jnp.float64, k


def test_load_from_toml_file_matches_dict(tmp_path):
    path = tmp_path / "link.toml"
    path.write_text(LINK_TOML)
    from_file = ij.load_link(path)
    from_str_path = ij.load_link(str(path))
    from_dict = ij.load_link(LINK_DICT)
    assert from_file.to_dict() == from_dict.to_dict() == from_str_path.to_dict()
    res_file, res_dict = ij.simulate(str(path)), ij.simulate(from_dict)
    assert float(res_file.fidelity) == float(res_dict.fidelity)


def test_load_does_not_mutate_its_input():
    d = {"node_a": {"collection_efficiency": 0.3}}
    ij.load_link(d, overrides={"node_a.fiber_length_km": 3.0})
    assert d == {"node_a": {"collection_efficiency": 0.3}}


def test_defaults_equal_design():
    link = ij.load_link({})
    assert (link.protocol, link.encoding, link.detection.kind) == ("two_photon", "polarization", "threshold")
    v = _values(link)
    for key, default in {**DESIGN_DEFAULTS, **EXTRA_DEFAULTS}.items():
        assert v[key] == default, key
        if key.startswith("node_a."):
            assert v["node_b." + key[7:]] == default, key
    assert set(v) == set(DESIGN_DEFAULTS) | set(EXTRA_DEFAULTS) | {
        "node_b." + k[7:] for k in list(DESIGN_DEFAULTS) + list(EXTRA_DEFAULTS) if k.startswith("node_a.")}
    # the SCHEMA table says the same
    for section, spec in ij.config.SCHEMA.items():
        for key, (default, *_rest) in spec.items():
            assert v[f"{section}.{key}" if section else key] == default


def test_single_photon_protocol():
    link = ij.load_link({"protocol": "single_photon", "node_a": {"excitation_probability": 0.1}})
    assert (link.protocol, link.encoding) == ("single_photon", "single_photon")
    assert "encoding" not in link.to_dict()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("config,named,suggestion", [
    ({"attempt_rate": 1e6}, "attempt_rate", "attempt_rate_hz"),
    ({"node_a": {"colection_efficiency": 0.1}}, "node_a.colection_efficiency", "collection_efficiency"),
    ({"node_b": {"qubit_t2": 1.0}}, "node_b.qubit_t2", "qubit_t2_s"),
    ({"detection": {"windw_ns": 10.0}}, "detection.windw_ns", "window_ns"),
    ({"interference": {"mode_overlop": 0.9}}, "interference.mode_overlop", "mode_overlap"),
    ({"node_c": {}}, "node_c", "node_"),  # node_a or node_b
    ({"protocol": "two_foton"}, "two_foton", "two_photon"),
    ({"encoding": "polarisation"}, "polarisation", "polarization"),
    ({"detection": {"kind": "treshold"}}, "treshold", "threshold"),
])
def test_unknown_key_names_it_and_suggests(config, named, suggestion):
    with pytest.raises(ConfigError) as err:
        ij.load_link(config)
    msg = str(err.value)
    assert named in msg
    assert "Did you mean '" + suggestion in msg, msg


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ValueError):
        ij.load_link({"bogus_key_with_no_neighbour": 1})


@pytest.mark.parametrize("config,key", [
    ({"detection": {"window_ns": "fast"}}, "detection.window_ns"),
    ({"detection": {"efficiency": True}}, "detection.efficiency"),
    ({"node_a": {"collection_efficiency": [0.1]}}, "node_a.collection_efficiency"),
    ({"attempt_rate_hz": None}, "attempt_rate_hz"),
    ({"interference": {"mode_overlap": float("nan")}}, "interference.mode_overlap"),
])
def test_wrong_type_names_the_key(config, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ij.load_link(config)


def test_section_must_be_a_table():
    with pytest.raises(ConfigError, match="node_a"):
        ij.load_link({"node_a": 0.5})
    with pytest.raises(ConfigError, match="name"):
        ij.load_link({"name": 3})


@pytest.mark.parametrize("config,key,value,range_text", [
    ({"detection": {"efficiency": 1.5}}, "detection.efficiency", "1.5", "[0, 1]"),
    ({"node_b": {"fiber_length_km": -1.0}}, "node_b.fiber_length_km", "-1.0", "[0, inf)"),  # inf refused
    ({"detection": {"window_ns": 0.0}}, "detection.window_ns", "0.0", "(0, inf)"),
    ({"node_a": {"ion_photon_fidelity": 1.01}}, "node_a.ion_photon_fidelity", "1.01", "[0, 1]"),
    ({"node_a": {"time_bin_pulse_error": -1.5}}, "node_a.time_bin_pulse_error", "-1.5", "[-1, 1]"),
    ({"attempt_rate_hz": 0}, "attempt_rate_hz", "0", "(0, inf)"),
    ({"node_a": {"qubit_t2_s": 0.0}}, "node_a.qubit_t2_s", "0.0", "(0, inf]"),  # inf allowed: no dephasing
    ({"interference": {"phase_noise_rad": -0.1}}, "interference.phase_noise_rad", "-0.1", "[0, inf]"),
])
def test_out_of_range_names_key_value_and_range(config, key, value, range_text):
    with pytest.raises(ConfigError) as err:
        ij.load_link(config)
    msg = str(err.value)
    assert key in msg and value in msg and range_text in msg, msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as err:
        ij.load_link(path)
    assert "nope.toml" in str(err.value)


def test_malformed_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[node_a\ncollection_efficiency = 0.1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ij.load_link(path)


def test_encoding_with_single_photon_refused():
    with pytest.raises(ConfigError, match="encoding") as err:
        ij.load_link({"protocol": "single_photon", "encoding": "polarization"})
    assert "single_photon" in str(err.value)


# ----------------------------------------------------------------------------- overrides, set / get
def test_overrides_parse_command_line_strings():
    link = ij.load_link({}, overrides={"detection.efficiency": "0.8", "nodes.fiber_length_km": "2.5",
                                       "attempt_rate_hz": "1e5", "node_b.qubit_t2_s": "inf"})
    v = _values(link)
    assert v["detection.efficiency"] == 0.8 and v["attempt_rate_hz"] == 1e5
    assert v["node_a.fiber_length_km"] == v["node_b.fiber_length_km"] == 2.5
    assert v["node_b.qubit_t2_s"] == math.inf
    with pytest.raises(ConfigError, match="efficiency"):
        ij.load_link({}, overrides={"detection.efficiency": "2"})
    with pytest.raises(ConfigError, match="Did you mean 'detection'"):
        ij.load_link({}, overrides={"detektion.efficiency": 0.5})


def test_set_get_round_trip():
    link = ij.load_link(LINK_DICT)
    updates = {"detection.window_ns": 40.0, "interference.mode_overlap": 0.7,
               "attempt_rate_hz": 3e5, "node_a.qubit_t2_s": 0.5}
    new = link.set(updates)
    for k, val in updates.items():
        assert float(new.get(k)) == val
    # untouched leaves and static structure are unchanged; the original is not mutated
    assert float(new.get("node_a.collection_efficiency")) == 0.3
    assert (new.protocol, new.encoding, new.detection.kind, new.name) == (link.protocol, link.encoding, "pnr",
                                                                         "my link")
    assert float(link.get("detection.window_ns")) == 50.0
    assert new.set({k: link.get(k) for k in updates}).to_dict() == link.to_dict()
    # keyword form
    assert float(link.set(attempt_rate_hz=7.0).get("attempt_rate_hz")) == 7.0


def test_nodes_alias_sets_both_nodes():
    link = ij.load_link(LINK_DICT)
    new = link.set({"nodes.fiber_length_km": 4.0})
    assert float(new.get("node_a.fiber_length_km")) == float(new.get("node_b.fiber_length_km")) == 4.0
    assert float(new.get("nodes.fiber_length_km")) == 4.0
    assert float(link.get("nodes.collection_efficiency")) == float(link.get("node_a.collection_efficiency"))


def test_get_unknown_key_suggests():
    link = ij.load_link({})
    with pytest.raises(ConfigError, match="Did you mean 'window_ns'"):
        link.get("detection.window")
    with pytest.raises(ConfigError, match="Did you mean 'detection'"):
        link.set({"detecton.window_ns": 1.0})
    with pytest.raises(ConfigError):
        link.get(3)


def test_set_accepts_traced_values():
    link = ij.load_link({"node_a": {"collection_efficiency": 0.3}, "detection": {"window_ns": 1e4}})

    def success(eta):
        return ij.simulate(link.set({"node_b.collection_efficiency": eta})).success_probability

    assert float(jax.grad(success)(jnp.float64(0.2))) == pytest.approx(0.3 / 2, rel=1e-12)


def test_set_keeps_the_leaf_type():
    """``Link.set`` with a plain Python number must give the same abstract leaf as ``load_link``.

    A weakly typed leaf (``jnp.asarray(0.5)``) changes the jit cache key, so every ``set`` of a new
    key recompiles ``simulate`` although only a number changed (DESIGN: changing a number never
    recompiles).
    """
    link = ij.load_link({})
    for key in ("detection.efficiency", "nodes.fiber_length_km", "attempt_rate_hz"):
        new = link.set({key: 0.5})
        assert jax.typeof(new.get(key)) == jax.typeof(link.get(key)), key


def test_validate_catches_out_of_range_leaves():
    link = ij.load_link({})
    assert link.validate() is link
    with pytest.raises(ConfigError, match="detection.efficiency"):  # set checks concrete values itself
        link.set({"detection.efficiency": 1.2})
    # a leaf put in past the checks (set under jit, or a pytree rebuilt by hand) is caught by validate
    bad = jax.jit(lambda e: link.set({"detection.efficiency": e}))(1.2)
    with pytest.raises(ConfigError, match="detection.efficiency = 1.2 is out of range"):
        bad.validate()


# ----------------------------------------------------------------------------- round trips, pytree
@pytest.mark.parametrize("config", [
    LINK_DICT,
    {},
    {"protocol": "single_photon", "node_a": {"excitation_probability": 0.1},
     "interference": {"phase_noise_rad": 0.2}, "detection": {"kind": "pnr"}},
    {"encoding": "frequency", "detection": {"timing_jitter_ps": 4.0, "coincidence_window_ns": 3.0},
     "node_b": {"photon_frequency_offset_mhz": 2.0, "arrival_delay_ns": 0.5}},
    {"encoding": "time_bin", "detection": {"time_resolved_correction": True, "window_start_ns": 1.0}},
])
def test_to_dict_round_trip(config):
    link = ij.load_link(config)
    d = link.to_dict()
    again = ij.load_link(d)
    assert again.to_dict() == d
    assert (again.protocol, again.encoding, again.detection.kind, again.name) == (
        link.protocol, link.encoding, link.detection.kind, link.name)
    assert ij.load_link(link).to_dict() == d  # a Link is accepted (re-validated)
    assert all(isinstance(x, (str, float, bool)) for sec in d.values() if isinstance(sec, dict)
               for x in sec.values())


def test_toml_written_from_to_dict_loads_back(tmp_path):
    link = ij.load_link(LINK_DICT)
    lines = []
    d = link.to_dict()
    for k, val in d.items():
        if not isinstance(val, dict):
            lines.append(f"{k} = {_toml_value(val)}")
    for k, val in d.items():
        if isinstance(val, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in val.items()]
    path = tmp_path / "out.toml"
    path.write_text("\n".join(lines) + "\n")
    assert ij.load_link(path).to_dict() == d


def _toml_value(v):
    if isinstance(v, str):
        return f'"{v}"'
    return "inf" if v == math.inf else repr(v)


def test_link_is_a_pytree_of_numbers_with_static_structure():
    link = ij.load_link(LINK_DICT)
    leaves, treedef = jax.tree_util.tree_flatten(link)
    # 26 + the station's beam splitter (R, phi) + the photon's physics (10 per node, 2 of the detection) - the
    # moved frequency offset
    # + the ions' readout error (2) + the detectors' dead time
    assert len(leaves) == len(link.numeric_keys()) == 52
    assert all(isinstance(x, jax.Array) and x.shape == () for x in leaves)
    rebuilt = jax.tree_util.tree_unflatten(treedef, [np.float64(x) for x in leaves])
    assert (rebuilt.protocol, rebuilt.encoding, rebuilt.detection.kind) == ("two_photon", "time_bin", "pnr")
    # changing only numbers keeps the structure (the jit cache key) equal; changing a static field does not
    other = ij.load_link({**LINK_DICT, "attempt_rate_hz": 1.0})
    assert jax.tree_util.tree_structure(other) == treedef
    polarization = ij.config.without_ignored({**LINK_DICT, "encoding": "polarization"})
    assert jax.tree_util.tree_structure(ij.load_link(polarization)) != treedef
