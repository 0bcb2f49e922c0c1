"""Hardening of the link configuration and the Python API (issue 9).

Every bad input to ``ij.load_link`` / ``Link.set`` / ``Link.get`` is a ``ConfigError`` that names the
argument or key, the value and the allowed range, never a bare TypeError / AttributeError /
OverflowError, and never a silently ignored key or a NaN link.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ionjax as ij
from ionjax import ConfigError
from ionjax.config import SCHEMA


def _spec(key):
    section, _, leaf = key.rpartition(".")
    return SCHEMA["node_a" if section == "nodes" else section][leaf]


# ----------------------------------------------------------------------------- 1. the `source` argument
@pytest.mark.parametrize("source", [42, None, [1], b"link.toml", 3.5, ("a.toml",), {1, 2}])
def test_source_of_another_type_is_a_config_error_naming_the_argument(source):
    with pytest.raises(ConfigError) as err:
        ij.load_link(source)
    msg = str(err.value)
    assert "`source`" in msg and type(source).__name__ in msg, msg
    assert "os.PathLike" in msg and "dict" in msg and "Link" in msg, msg


def test_toml_text_given_as_source_is_explained():
    with pytest.raises(ConfigError, match="looks like TOML text") as err:
        ij.load_link('protocol = "two_photon"\n[detection]\nefficiency = 0.5\n')
    assert "tomllib.loads" in str(err.value)


def test_pathlike_sources_are_accepted(tmp_path):
    path = tmp_path / "link.toml"
    path.write_text("[detection]\nefficiency = 0.5\n")

    class MyPath(os.PathLike):
        def __fspath__(self):
            return str(path)

    for source in (path, str(path), MyPath()):
        assert float(ij.load_link(source).get("detection.efficiency")) == 0.5


def test_directory_as_link_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory") as err:
        ij.load_link(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_unreadable_link_file_monkeypatched(tmp_path, monkeypatch):
    path = tmp_path / "secret.toml"
    path.write_text("attempt_rate_hz = 1e5\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "read_bytes", denied)
    with pytest.raises(ConfigError, match="permission denied") as err:
        ij.load_link(path)
    assert "secret.toml" in str(err.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_link_file_chmod(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text("attempt_rate_hz = 1e5\n")
    path.chmod(0)
    with pytest.raises(ConfigError, match="secret.toml"):
        ij.load_link(path)


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",  # binary
    "attempt_rate_hz = 1e5\n".encode("utf-16"),  # UTF-16 with a BOM
    "attempt_rate_hz = 1e5\n".encode("utf-16-le"),  # UTF-16 without one: NUL bytes
    b"[node_a\ncollection_efficiency = 0.1\n",  # invalid TOML
    b"attempt_rate_hz = " + b"9" * 5000 + b"\n",  # an integer tomllib refuses to convert
])
def test_bad_link_file_names_the_file(tmp_path, content):
    path = tmp_path / "weird.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        ij.load_link(path)
    assert "weird.toml" in str(err.value)


# ----------------------------------------------------------------------------- 2. numpy / JAX scalars
SCALARS = [np.float32(0.5), np.float64(0.5), np.array(0.5), np.array(0.5, dtype=np.float32), jnp.asarray(0.5),
           jnp.float32(0.5)]


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: f"{type(v).__name__}-{np.asarray(v).dtype}")
def test_numpy_and_jax_scalars_are_numbers(value):
    ref = ij.load_link({"detection": {"efficiency": 0.5}})
    for link in (ij.load_link({"detection": {"efficiency": value}}),
                 ij.load_link({}, overrides={"detection.efficiency": value}),
                 ij.load_link({}).set({"detection.efficiency": value})):
        leaf = link.get("detection.efficiency")
        assert float(leaf) == 0.5 and jax.typeof(leaf) == jax.typeof(ref.get("detection.efficiency"))
        assert float(ij.simulate(link).success_probability) == float(ij.simulate(ref).success_probability)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.uint8(3), np.array(3), jnp.asarray(3)])
def test_integer_scalars_are_numbers(value):
    assert float(ij.load_link({"attempt_rate_hz": value}).get("attempt_rate_hz")) == 3.0
    assert float(ij.load_link({}, overrides={"attempt_rate_hz": value}).get("attempt_rate_hz")) == 3.0


@pytest.mark.parametrize("value", [np.array([0.5, 0.6]), jnp.array([0.5, 0.6]), np.array([0.5]), np.ones((2, 2))])
def test_arrays_are_refused_by_load_link_naming_the_key(value):
    for kw in (dict(source={"node_a": {"collection_efficiency": value}}),
               dict(source={}, overrides={"node_a.collection_efficiency": value})):
        with pytest.raises(ConfigError, match=r"node_a\.collection_efficiency must be a single number") as err:
            ij.load_link(**kw)
        assert str(tuple(value.shape)) in str(err.value)


@pytest.mark.parametrize("value", [np.complex128(0.5), np.array(0.5 + 0j), 0.5 + 0j, np.array("0.5")])
def test_complex_or_string_arrays_are_refused(value):
    with pytest.raises(ConfigError, match=r"detection\.efficiency"):
        ij.load_link({"detection": {"efficiency": value}})


# ----------------------------------------------------------------------------- 3. huge integers
@pytest.mark.parametrize("value,key", [(10**400, "attempt_rate_hz"), (-(10**300), "node_a.fiber_length_km"),
                                       (10**4000, "detection.window_ns")])
def test_huge_integer_names_key_abbreviated_value_and_range(value, key):
    section, _, leaf = key.rpartition(".")
    config = {leaf: value} if not section else {section: {leaf: value}}
    for kw in (dict(source=config), dict(source={}, overrides={key: value}),
               dict(source={}, overrides={key: str(value)})):
        with pytest.raises(ConfigError) as err:
            ij.load_link(**kw)
        msg = str(err.value)
        assert key in msg and "digits" in msg and _spec(key).range_text() in msg, msg
        assert len(msg) < 400, msg  # abbreviated, not 4000 digits


def test_huge_integer_in_a_toml_file(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("[detection]\ndark_count_rate_hz = " + "7" * 400 + "\n")
    with pytest.raises(ConfigError, match=r"detection\.dark_count_rate_hz = 777777\.\.\.777 \(400 digits\)") as err:
        ij.load_link(path)
    assert "[0, inf)" in str(err.value)


# ----------------------------------------------------------------------------- 4. infinities
INF_KEYS = [(f"{s}.{k}" if s else k) for s, spec in SCHEMA.items() if s != "node_b" for k, v in spec.items()
            if v.hi == math.inf]
REFUSED = [k for k in INF_KEYS if _spec(k).inf_refused]
KEPT = [k for k in INF_KEYS if not _spec(k).inf_refused]

BASES = {
    "polarization": {"encoding": "polarization"},
    "time_bin": {"encoding": "time_bin"},
    "frequency": {"encoding": "frequency"},
    "single_photon": {"protocol": "single_photon", "node_a": {"excitation_probability": 0.1},
                      "node_b": {"excitation_probability": 0.1}},
}
NOISY_NODE = {"fiber_length_km": 1.0, "fiber_attenuation_db_per_km": 0.2, "qubit_t2_s": 0.01}
VARIANTS = {
    "ideal": {},
    "noisy": {"node_a": NOISY_NODE, "node_b": {**NOISY_NODE, "photon_frequency_offset_mhz": 1.0},
              "detection": {"dark_count_rate_hz": 100.0, "timing_jitter_ps": 50.0},
              "interference": {"phase_noise_rad": 0.1}},
}


def _matrix():
    for bname, base in BASES.items():
        for vname, variant in VARIANTS.items():
            for kind in ("threshold", "pnr"):
                config = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
                for sec, vals in variant.items():
                    config[sec] = {**config.get(sec, {}), **vals}
                config["detection"] = {**config.get("detection", {}), "kind": kind}
                yield f"{bname}-{vname}-{kind}", ij.load_link(ij.config.without_ignored(config))


def _node_key(key):
    return "nodes." + key.split(".")[1] if key.startswith("node_a.") else key


def _force(link, key, value):
    """``link`` with ``key`` set to ``value`` bypassing every check (to see what the physics makes of it)."""
    section, _, leaf = _node_key(key).rpartition(".")
    for sec in (("node_a", "node_b") if section == "nodes" else (section,)):
        v = jnp.asarray(value, dtype=jnp.float64)
        if sec == "":
            link = dataclasses.replace(link, **{leaf: v})
        else:
            link = dataclasses.replace(link, **{sec: dataclasses.replace(getattr(link, sec), **{leaf: v})})
    return link


def _outputs(link):
    r = ij.simulate(link)
    return np.array([float(r.fidelity), float(r.success_probability), float(r.rate_hz)])


def test_every_key_that_admits_inf_is_decided():
    """Each inf-admitting key either keeps inf (the physical limit) or refuses it with a reason."""
    assert INF_KEYS and set(REFUSED) | set(KEPT) == set(INF_KEYS)
    assert set(KEPT) == {"node_a.qubit_t2_s", "node_a.qubit_t1_s", "interference.phase_noise_rad",
                         "detection.coincidence_window_ns", "detection.timing_jitter_ps", "detection.dead_time_ns"}
    assert _spec("node_a.qubit_t2_s").default == math.inf  # the default stays
    for key in REFUSED:
        assert _spec(key).range_text().endswith("inf)"), key
    for key in KEPT:
        assert _spec(key).range_text().endswith("inf]"), key


@pytest.mark.parametrize("key", REFUSED)
def test_refused_inf_names_key_range_and_what_to_use(key, tmp_path):
    spec = _spec(key)
    section, _, leaf = key.rpartition(".")
    attempts = [dict(source={section: {leaf: value}} if section else {leaf: value}) for value in
                (math.inf, "inf", np.float64(np.inf), jnp.asarray(jnp.inf))]
    attempts.append(dict(source={}, overrides={key: "inf"}))
    attempts.append(dict(source={}, overrides={_node_key(key): "inf"}))
    path = tmp_path / "inf.toml"
    path.write_text(f"[{section}]\n{leaf} = inf\n" if section else f"{leaf} = inf\n")
    attempts.append(dict(source=path))
    for kw in attempts:
        with pytest.raises(ConfigError) as err:
            ij.load_link(**kw)
        msg = str(err.value)
        assert f"{leaf} = inf is not allowed" in msg and spec.range_text() in msg and spec.inf_refused in msg, msg
    link = ij.load_link({})
    for value in (math.inf, "inf", np.array([1.0, np.inf])):
        with pytest.raises(ConfigError, match=f"{_node_key(key)} = inf"):
            link.set({_node_key(key): value})
    # -inf is below every range
    with pytest.raises(ConfigError, match="out of range"):
        link.set({_node_key(key): -math.inf})


def test_refused_infs_are_bad_in_the_physics():
    """Evidence for each refusal: forced past the checks, inf gives NaN or inf somewhere in the matrix, or
    a link that never heralds (a fidelity of 0 that means nothing) where a large finite value heralds."""
    links = list(_matrix())
    for key in REFUSED:
        bad = []
        for name, link in links:
            out = _outputs(_force(link, key, math.inf))
            if not np.all(np.isfinite(out)):
                bad.append((name, "non-finite"))
            elif out[1] == 0.0 and _outputs(_force(link, key, 1e6))[1] > 0:
                bad.append((name, "never heralds"))
        assert bad, key


@pytest.mark.parametrize("key", KEPT)
def test_kept_inf_is_the_physical_limit_everywhere(key):
    """Across protocols, encodings, detector kinds, with and without dark counts, loss and jitter, inf gives
    finite numbers equal to a very large finite value's."""
    links = list(_matrix())
    if key == "detection.coincidence_window_ns":  # the finite side compiles the time-resolved path: two links
        links = [nl for nl in links if nl[0].startswith("polarization")][:2]
    if key == "detection.dead_time_ns":  # time_bin only, on the click-time path (one link: ~50 s to compile);
        # inf: a detector clicks once per attempt, so the patterns that need one detector twice are empty
        links = [(n, lk.set({"nodes.time_bin_spacing_ns": 300.0})) for n, lk in links
                 if n == "time_bin-noisy-threshold"]
    for name, link in links:
        if not ij.config.key_applies(key.rpartition(".")[2], link.protocol, link.encoding):
            continue  # refused where the structure ignores it
        at_inf = _outputs(link.set({_node_key(key): math.inf}))
        at_large = _outputs(link.set({_node_key(key): 1e12}))
        assert np.all(np.isfinite(at_inf)), (name, at_inf)
        if key == "detection.dead_time_ns":  # the patterns on two detectors still herald
            assert at_inf[1] > 0.0, (name, at_inf)
        np.testing.assert_allclose(at_inf, at_large, rtol=1e-9, atol=1e-15, err_msg=name)


def test_qubit_t2_inf_is_no_dephasing():
    link = ij.load_link({"node_a": {"fiber_length_km": 10.0}, "node_b": {"fiber_length_km": 10.0},
                         "detection": {"window_ns": 1e3}})
    assert float(link.get("node_a.qubit_t2_s")) == math.inf
    assert float(ij.simulate(link).fidelity) == pytest.approx(1.0, abs=1e-12)
    assert float(ij.simulate(link.set({"nodes.qubit_t2_s": 1e-4})).fidelity) < 0.9


# ----------------------------------------------------------------------------- 5. sections, keys, static values
@pytest.mark.parametrize("section", ["node_a", "node_b", "detection", "interference"])
@pytest.mark.parametrize("value", [[], None, 0.5, "x", [1, 2], True])
def test_a_section_that_is_not_a_table(section, value):
    with pytest.raises(ConfigError, match=rf"\[{section}\] must be a table"):
        ij.load_link({section: value})


def test_empty_section_list_in_a_toml_file(tmp_path):
    path = tmp_path / "link.toml"
    path.write_text("detection = []\n")
    with pytest.raises(ConfigError, match=r"\[detection\] must be a table"):
        ij.load_link(path)


@pytest.mark.parametrize("config,named", [
    ({"node_a": {"kind": "pnr"}}, "node_a.kind"),
    ({"node_b": {"kind": "threshold"}}, "node_b.kind"),
    ({"interference": {"kind": "pnr"}}, "interference.kind"),
    ({"kind": "pnr"}, "'kind'"),
    ({"node_a": {"efficiency": 0.5}}, "node_a.efficiency"),
])
def test_keys_of_another_section_are_refused_with_a_pointer(config, named):
    with pytest.raises(ConfigError, match="Unknown key") as err:
        ij.load_link(config)
    msg = str(err.value)
    assert named in msg and "is a key of [detection]" in msg, msg


def test_kind_stays_allowed_in_detection():
    assert ij.load_link({"detection": {"kind": "pnr"}}).detection.kind == "pnr"


@pytest.mark.parametrize("config,named", [
    ({"protocol": ["x"]}, "protocol"),
    ({"protocol": 2}, "protocol"),
    ({"protocol": None}, "protocol"),
    ({"encoding": ["time_bin"]}, "encoding"),
    ({"encoding": {"a": 1}}, "encoding"),
    ({"detection": {"kind": 1}}, "detection.kind"),
    ({"detection": {"kind": ["pnr"]}}, "detection.kind"),
    ({"name": 3}, "name"),
    ({"name": ["link"]}, "name"),
])
def test_non_string_static_values(config, named):
    with pytest.raises(ConfigError, match="must be a string") as err:
        ij.load_link(config)
    assert str(err.value).startswith(named), str(err.value)


def test_protocol_list_in_a_toml_file(tmp_path):
    path = tmp_path / "link.toml"
    path.write_text('protocol = ["x"]\n')
    with pytest.raises(ConfigError, match="protocol must be a string"):
        ij.load_link(path)


@pytest.mark.parametrize("value", [True, False, np.True_, np.array(True)])
def test_a_bool_is_not_a_number(value):
    for config in ({"attempt_rate_hz": value}, {"node_a": {"qubit_t2_s": value}},
                   {"detection": {"efficiency": value}}, {"interference": {"mode_overlap": value}}):
        with pytest.raises(ConfigError, match="must be a number"):
            ij.load_link(config)
    with pytest.raises(ConfigError, match="must be a number"):
        ij.load_link({}).set({"detection.efficiency": value})


@pytest.mark.parametrize("config", [{1: 2}, {"node_a": {1: 0.5}}, {"detection": {None: 1}}])
def test_non_string_keys_in_the_dict(config):
    with pytest.raises(ConfigError, match="must be strings"):
        ij.load_link(config)


# ----------------------------------------------------------------------------- 6. Link.set checks concrete values
@pytest.mark.parametrize("key,value", [
    ("detection.efficiency", 1.2), ("detection.efficiency", float("nan")), ("detection.window_ns", 0.0),
    ("node_b.fiber_length_km", -3.0), ("attempt_rate_hz", -1), ("interference.mode_overlap", np.float32(1.5)),
    ("node_a.time_bin_pulse_error", "fast"), ("detection.dark_count_rate_hz", -1e-9),
])
def test_set_refuses_bad_concrete_values_as_load_link_does(key, value):
    section, _, leaf = key.rpartition(".")
    with pytest.raises(ConfigError) as from_load:
        ij.load_link({section: {leaf: value}} if section else {leaf: value})
    with pytest.raises(ConfigError) as from_set:
        ij.load_link({}).set({key: value})
    assert str(from_set.value) == str(from_load.value)


def test_set_nodes_alias_names_the_key_given():
    with pytest.raises(ConfigError, match=r"nodes\.collection_efficiency = 2\.0 is out of range"):
        ij.load_link({}).set({"nodes.collection_efficiency": 2.0})


@pytest.mark.parametrize("value", [np.array([0.2, 0.9, 1.5, -1.0]), jnp.array([[0.2, 0.9], [1.5, 0.3]]),
                                   [0.2, float("nan")]])
def test_set_checks_batch_arrays_elementwise(value):
    with pytest.raises(ConfigError) as err:
        ij.load_link({}).set({"detection.efficiency": value})
    msg = str(err.value)
    assert msg.startswith("detection.efficiency = ") and "[0, 1]" in msg, msg
    first = np.asarray(value).ravel()[np.argmax(~((np.asarray(value) >= 0) & (np.asarray(value) <= 1)).ravel())]
    assert f"= {float(first)!r} (element" in msg, msg
    assert f"shape {np.asarray(value).shape}" in msg, msg


def test_set_accepts_good_batch_arrays_and_vmap_works_on_them():
    link = ij.load_link({"detection": {"window_ns": 1e3}})
    effs = np.array([0.3, 0.6, 0.9])
    batched = link.set({"detection.efficiency": effs})
    assert batched.get("detection.efficiency").shape == (3,)
    assert batched.validate() is batched
    axes = jax.tree_util.tree_map(lambda x: 0 if x.ndim else None, batched)
    p = jax.vmap(lambda lk: ij.simulate(lk).success_probability, in_axes=(axes,))(batched)
    np.testing.assert_allclose(np.asarray(p), 0.05**2 * effs**2 / 2, rtol=1e-10)


def test_validate_checks_batched_leaves_elementwise():
    link = ij.load_link({})
    bad = dataclasses.replace(link, detection=dataclasses.replace(link.detection,
                                                                  efficiency=jnp.array([0.5, 1.5])))
    with pytest.raises(ConfigError, match=r"detection\.efficiency = 1\.5 \(element 1 of an array of shape \(2,\)"):
        bad.validate()
    with pytest.raises(ConfigError, match="array of shape"):
        bad.to_dict()


def test_traced_values_are_not_checked_by_set():
    """Under jit/vmap/grad ``set`` cannot inspect the value; documented, and sweeps/optimizers rely on it."""
    link = ij.load_link({})
    out = jax.jit(lambda e: link.set({"detection.efficiency": e}).get("detection.efficiency"))(2.0)
    assert float(out) == 2.0
    assert "not checked" in ij.Link.set.__doc__ and "Tracer" in ij.Link.set.__doc__
    vals = jax.vmap(lambda e: link.set({"nodes.fiber_length_km": e}).get("node_b.fiber_length_km"))(
        jnp.array([-1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(vals), [-1.0, 2.0])
    g = jax.grad(lambda e: link.set({"attempt_rate_hz": e}).get("attempt_rate_hz") * 3.0)(-5.0)
    assert float(g) == 3.0


def test_load_link_refuses_traced_values_with_a_pointer_to_set():
    with pytest.raises(ConfigError, match=r"traced JAX value.*link\.set"):
        jax.jit(lambda e: ij.load_link({"detection": {"efficiency": e}}).get("detection.efficiency"))(0.5)


def test_set_inf_string_where_inf_is_allowed():
    link = ij.load_link({"node_a": {"qubit_t2_s": 1.0}}).set({"node_a.qubit_t2_s": "inf"})
    assert float(link.get("node_a.qubit_t2_s")) == math.inf


@pytest.mark.parametrize("updates", [5, [("detection.efficiency", 0.5)], "detection.efficiency=0.5"])
def test_set_updates_must_be_a_dict(updates):
    with pytest.raises(ConfigError, match="`updates`"):
        ij.load_link({}).set(updates)


# ----------------------------------------------------------------------------- 7. keys of get / set / overrides
@pytest.mark.parametrize("key", ["node_b.path.x.y", "a.b.c", "detection.window_ns.x", 3, None, ("detection",),
                                 b"detection.efficiency", 1.5])
def test_bad_keys_for_get_and_set(key):
    link = ij.load_link({})
    with pytest.raises(ConfigError):
        link.get(key)
    with pytest.raises(ConfigError):
        link.set({key: 0.5})
    if isinstance(key, str) and key.count(".") > 1:
        # a path key names its element: node_b has none here
        with pytest.raises(ConfigError, match="too many dots|no path element named 'x'"):
            link.get(key)


@pytest.mark.parametrize("key", ["protocol", "encoding", "name", "detection.kind"])
def test_static_keys_are_not_numeric_keys(key):
    with pytest.raises(ConfigError, match="static structure"):
        ij.load_link({}).get(key)
    with pytest.raises(ConfigError, match="static structure"):
        ij.load_link({}).set({key: 1.0})


@pytest.mark.parametrize("key", ["node_b.path.x.y", 3, None, ("a", "b")])
def test_bad_override_keys(key):
    with pytest.raises(ConfigError):
        ij.load_link({}, overrides={key: 1.0})


@pytest.mark.parametrize("overrides", [[("detection.efficiency", 0.5)], "detection.efficiency=0.5", 3])
def test_overrides_must_be_a_dict(overrides):
    with pytest.raises(ConfigError, match="`overrides`"):
        ij.load_link({}, overrides=overrides)


# ----------------------------------------------------------------------------- 8. nothing valid changes
def test_schema_entries_unpack_as_before():
    """sweep/optimize unpack ``default, lo, hi, lo_open, meaning = spec``; the inf refusal does not move ``hi``."""
    for spec in SCHEMA.values():
        for s in spec.values():
            default, lo, hi, lo_open, meaning = s
            assert (default, lo, hi, lo_open, meaning) == (s.default, s.lo, s.hi, s.lo_open, s.meaning) == tuple(s)
            assert s[1] == lo and isinstance(meaning, str)
    assert _spec("node_a.fiber_length_km").hi == math.inf


@pytest.mark.parametrize("name", ij.presets.names())
def test_presets_load_round_trip_and_simulate(name):
    link = ij.presets.get(name)
    assert link.validate() is link
    again = ij.load_link(link.to_dict())
    assert again.to_dict() == link.to_dict()
    assert again.set({k: link.get(k) for k in link.numeric_keys()}).to_dict() == link.to_dict()
