"""Link configuration: TOML file or dict -> :class:`Link` pytree.

The format (DESIGN.md) with every key, its default, unit and allowed range is
:data:`SCHEMA`. A key left out takes its default; a key the format does not
know is an error (with a suggestion for a misspelling); a value of the wrong
type or out of range is an error naming the key, the value and the range.

A :class:`Link` is a pytree: numbers are array leaves (vmap/grad over any of
them; changing one never recompiles), while ``protocol``, ``encoding`` and
``detection.kind`` are static structure.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from .errors import ConfigError

__all__ = ["Link", "NodeParams", "DetectionParams", "InterferenceParams", "load_link", "SCHEMA", "link_to_dict"]

INF = math.inf

# key: (default, lo, hi, lo_open, unit/help)
_NODE_KEYS: dict[str, tuple[float, float, float, bool, str]] = {
    "collection_efficiency": (0.05, 0.0, 1.0, False, "P(emitted photon coupled into the fiber)"),
    "fiber_length_km": (0.0, 0.0, INF, False, "fiber from the node to the detection station, km"),
    "fiber_attenuation_db_per_km": (0.0, 0.0, INF, False, "fiber loss, dB/km"),
    "excitation_probability": (1.0, 0.0, 1.0, False,
                               "single_photon: bright-state weight p; two_photon: P(emission per attempt)"),
    "ion_photon_fidelity": (1.0, 0.0, 1.0, False, "ideal state with a Z error on the ion w.p. 1 - F"),
    "multi_photon_probability": (0.0, 0.0, 1.0, False, "P(a second, unpolarized photon in the same attempt)"),
    "photon_lifetime_ns": (8.0, 0.0, INF, True, "exponential wavepacket lifetime, ns"),
    "qubit_t2_s": (INF, 0.0, INF, True, "ion qubit coherence time while waiting for the herald, s"),
    "time_bin_pulse_error": (0.0, -1.0, 1.0, False, "time_bin: fractional area error of the pi pulse between bins"),
}
_DETECTION_KEYS = {
    "efficiency": (1.0, 0.0, 1.0, False, "detector quantum efficiency"),
    "dark_count_rate_hz": (0.0, 0.0, INF, False, "dark counts per detector, Hz"),
    "window_ns": (100.0, 0.0, INF, True, "accepted detection window from the start of emission, ns"),
    "timing_jitter_ps": (0.0, 0.0, INF, False, "frequency encoding: rms detector timing jitter, ps"),
}
_INTERFERENCE_KEYS = {
    "mode_overlap": (1.0, 0.0, 1.0, False, "M = |<xi_a|xi_b>|^2 of the two photons' wavepackets"),
    "phase_noise_rad": (0.0, 0.0, INF, False, "single_photon: rms optical phase difference, rad"),
    "frequency_offset_hz": (0.0, 0.0, INF, False,
                            "frequency encoding: difference between the two nodes' photon frequencies, Hz"),
}
_TOP_KEYS = {
    "attempt_rate_hz": (1.0e6, 0.0, INF, True, "entanglement attempts per second, Hz"),
}
PROTOCOLS = ("two_photon", "single_photon")
ENCODINGS = ("polarization", "time_bin", "frequency")
DETECTOR_KINDS = ("threshold", "pnr")

#: The whole format: section -> key -> (default, lo, hi, lo_open, meaning).
SCHEMA = {
    "": _TOP_KEYS,
    "node_a": _NODE_KEYS,
    "node_b": _NODE_KEYS,
    "detection": _DETECTION_KEYS,
    "interference": _INTERFERENCE_KEYS,
}


def _leaf(x: Any) -> jax.Array:
    return jnp.asarray(x, dtype=jax.dtypes.canonicalize_dtype(jnp.float64))


def _static(**kw: Any) -> Any:
    return field(metadata=dict(static=True), **kw)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class NodeParams:
    """One ion trap and its fiber. All fields are array leaves (see :data:`SCHEMA` for units)."""

    collection_efficiency: jax.Array
    fiber_length_km: jax.Array
    fiber_attenuation_db_per_km: jax.Array
    excitation_probability: jax.Array
    ion_photon_fidelity: jax.Array
    multi_photon_probability: jax.Array
    photon_lifetime_ns: jax.Array
    qubit_t2_s: jax.Array
    time_bin_pulse_error: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DetectionParams:
    """The detection station; ``kind`` ("threshold" | "pnr") is static."""

    efficiency: jax.Array
    dark_count_rate_hz: jax.Array
    window_ns: jax.Array
    timing_jitter_ps: jax.Array
    kind: str = _static(default="threshold")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class InterferenceParams:
    """How well the two photons interfere."""

    mode_overlap: jax.Array
    phase_noise_rad: jax.Array
    frequency_offset_hz: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Link:
    """A heralded ion-ion link: static ``protocol``/``encoding``, numeric leaves everywhere else.

    Build one with :func:`load_link`. ``link.get("detection.window_ns")`` reads a
    leaf by dotted key; ``link.set({"detection.window_ns": 50.0})`` returns a copy with
    leaves replaced (values may be traced: this is how sweeps and optimizers vary it).
    ``nodes.KEY`` addresses ``node_a.KEY`` and ``node_b.KEY`` together.
    """

    attempt_rate_hz: jax.Array
    node_a: NodeParams
    node_b: NodeParams
    detection: DetectionParams
    interference: InterferenceParams
    protocol: str = _static(default="two_photon")
    encoding: str = _static(default="polarization")
    name: str = _static(default="")

    # ------------------------------------------------------------- dotted access
    def get(self, key: str) -> jax.Array:
        """The leaf at dotted ``key`` (``"attempt_rate_hz"``, ``"node_a.fiber_length_km"``, ...)."""
        section, leaf = _split_key(key)
        if section == "nodes":
            return getattr(self.node_a, leaf)
        obj = self if section == "" else getattr(self, section)
        return getattr(obj, leaf)

    def set(self, updates: dict[str, Any] | None = None, **kw: Any) -> Link:
        """A copy with the dotted keys in ``updates`` replaced (values may be traced arrays)."""
        updates = dict(updates or {}, **kw)
        out = self
        for key, value in updates.items():
            section, leaf = _split_key(key)
            targets = ("node_a", "node_b") if section == "nodes" else (section,)
            for sec in targets:
                # keep the leaf's dtype (a weakly typed Python float would change the jit cache key)
                obj = out if sec == "" else getattr(out, sec)
                old = getattr(obj, leaf)
                new = jnp.asarray(value, dtype=getattr(old, "dtype", None))
                if sec == "":
                    out = dataclasses.replace(out, **{leaf: new})
                else:
                    out = dataclasses.replace(out, **{sec: dataclasses.replace(obj, **{leaf: new})})
        return out

    def numeric_keys(self) -> tuple[str, ...]:
        """Every dotted key of a numeric leaf."""
        keys = list(_TOP_KEYS)
        for sec, spec in SCHEMA.items():
            if sec:
                keys += [f"{sec}.{k}" for k in spec]
        return tuple(keys)

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form (the TOML shape), with Python floats."""
        return link_to_dict(self)

    def validate(self) -> Link:
        """Check every concrete leaf against its range (ConfigError naming the key); returns self."""
        load_link(link_to_dict(self))
        return self


def _split_key(key: str) -> tuple[str, str]:
    if not isinstance(key, str):
        raise ConfigError(f"A link key must be a dotted string such as 'detection.window_ns', got {key!r}.")
    section, _, leaf = key.rpartition(".")
    sections = ("", "node_a", "node_b", "nodes", "detection", "interference")
    if section not in sections:
        raise ConfigError(f"Unknown section {section!r} in key {key!r}; sections are {sections[1:]}."
                          + _did_you_mean(section, sections))
    spec = SCHEMA["node_a" if section == "nodes" else section]
    if leaf not in spec:
        raise ConfigError(f"Unknown numeric key {key!r}." + _did_you_mean(leaf, tuple(spec))
                          + f" Keys of [{section or 'top level'}]: {', '.join(spec)}.")
    return section, leaf


def _did_you_mean(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _number(path: str, value: Any, spec: tuple[float, float, float, bool, str]) -> float:
    default, lo, hi, lo_open, meaning = spec
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity"):
        value = INF
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path} must be a number ({meaning}), got {value!r} of type {type(value).__name__}.")
    v = float(value)
    if math.isnan(v):
        raise ConfigError(f"{path} must be a number, got nan.")
    bad = v < lo or v > hi or (lo_open and v == lo)
    if bad:
        lo_b = "(" if lo_open else "["
        raise ConfigError(f"{path} = {value!r} is out of range: allowed {lo_b}{lo:g}, {hi:g}] ({meaning}).")
    return v


def _section(path: str, given: Any, spec: dict[str, tuple]) -> dict[str, float]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ConfigError(f"[{path}] must be a table of keys, got {given!r}.")
    extra = [k for k in given if k not in spec and k != "kind"]
    if extra:
        k = extra[0]
        raise ConfigError(f"Unknown key {path}.{k}." + _did_you_mean(k, tuple(spec))
                          + f" Keys of [{path}]: {', '.join(spec)}.")
    return {k: _number(f"{path}.{k}", given.get(k, d[0]), d) for k, d in spec.items()}


def load_link(source: str | Path | dict[str, Any] | Link, overrides: dict[str, Any] | None = None) -> Link:
    """Read a link from a TOML file path, a dict of the same shape, or a Link (re-validated).

    Args:
        source: path to a ``.toml`` file, or a dict, or a :class:`Link`.
        overrides: optional ``{"dotted.key": value}`` applied before validation
            (``--set`` on the command line). Values may be strings from the command line.

    Raises:
        ConfigError (a ValueError): missing file, malformed TOML, unknown key (with a
        suggestion), wrong type, out-of-range value. The message names the key and range.
    """
    if isinstance(source, Link):
        data = link_to_dict(source)
    elif isinstance(source, dict):
        data = _deepcopy(source)
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"Link file {str(path)!r} does not exist.")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Link file {str(path)!r} is not valid TOML: {exc}.") from None
    for key, value in (overrides or {}).items():
        _apply_override(data, key, value)

    known_top = {"protocol", "encoding", "name", "attempt_rate_hz", "node_a", "node_b", "detection", "interference"}
    extra = [k for k in data if k not in known_top]
    if extra:
        raise ConfigError(f"Unknown key {extra[0]!r}." + _did_you_mean(extra[0], sorted(known_top))
                          + f" Top-level keys: {', '.join(sorted(known_top))}.")
    protocol = data.get("protocol", "two_photon")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol = {protocol!r} is not known; allowed: {', '.join(PROTOCOLS)}."
                          + _did_you_mean(str(protocol), PROTOCOLS))
    if protocol == "single_photon":
        if "encoding" in data and data["encoding"] not in (None, "single_photon"):
            raise ConfigError(f"encoding = {data['encoding']!r} does not apply to protocol 'single_photon' "
                              "(the qubit is the photon number); remove the key.")
        encoding = "single_photon"
    else:
        encoding = data.get("encoding", "polarization")
        if encoding not in ENCODINGS:
            raise ConfigError(f"encoding = {encoding!r} is not known; allowed: {', '.join(ENCODINGS)}."
                              + _did_you_mean(str(encoding), ENCODINGS))
    det = data.get("detection", {}) or {}
    kind = det.get("kind", "threshold") if isinstance(det, dict) else "threshold"
    if kind not in DETECTOR_KINDS:
        raise ConfigError(f"detection.kind = {kind!r} is not known; allowed: {', '.join(DETECTOR_KINDS)}."
                          + _did_you_mean(str(kind), DETECTOR_KINDS))
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {name!r}.")

    top = {k: _number(k, data.get(k, s[0]), s) for k, s in _TOP_KEYS.items()}
    nodes = {n: _section(n, data.get(n), _NODE_KEYS) for n in ("node_a", "node_b")}
    detection = _section("detection", det, _DETECTION_KEYS)
    interference = _section("interference", data.get("interference"), _INTERFERENCE_KEYS)
    return Link(
        attempt_rate_hz=_leaf(top["attempt_rate_hz"]),
        node_a=NodeParams(**{k: _leaf(v) for k, v in nodes["node_a"].items()}),
        node_b=NodeParams(**{k: _leaf(v) for k, v in nodes["node_b"].items()}),
        detection=DetectionParams(kind=kind, **{k: _leaf(v) for k, v in detection.items()}),
        interference=InterferenceParams(**{k: _leaf(v) for k, v in interference.items()}),
        protocol=protocol,
        encoding=encoding,
        name=name,
    )


def _deepcopy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (_deepcopy(v) if isinstance(v, dict) else v) for k, v in d.items()}


def _parse_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    t = text.strip()
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    if t.lower() in ("inf", "+inf", "infinity"):
        return INF
    return t


def _apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    value = _parse_value(value)
    parts = key.split(".")
    if len(parts) == 1:
        data[key] = value
        return
    if len(parts) != 2:
        raise ConfigError(f"--set key {key!r} must look like 'section.key' or 'key'.")
    section, leaf = parts
    sections = ("node_a", "node_b", "nodes", "detection", "interference")
    if section not in sections:
        raise ConfigError(f"Unknown section {section!r} in {key!r}; sections are {', '.join(sections)}."
                          + _did_you_mean(section, sections))
    for sec in (("node_a", "node_b") if section == "nodes" else (section,)):
        sub = data.setdefault(sec, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"[{sec}] must be a table of keys.")
        sub[leaf] = value


def link_to_dict(link: Link) -> dict[str, Any]:
    """The dict form of ``link`` (concrete leaves only)."""

    def sec(obj: Any, spec: dict[str, tuple]) -> dict[str, Any]:
        return {k: float(getattr(obj, k)) for k in spec}

    d: dict[str, Any] = {"protocol": link.protocol}
    if link.protocol == "two_photon":
        d["encoding"] = link.encoding
    if link.name:
        d["name"] = link.name
    d["attempt_rate_hz"] = float(link.attempt_rate_hz)
    d["node_a"] = sec(link.node_a, _NODE_KEYS)
    d["node_b"] = sec(link.node_b, _NODE_KEYS)
    d["detection"] = {"kind": link.detection.kind, **sec(link.detection, _DETECTION_KEYS)}
    d["interference"] = sec(link.interference, _INTERFERENCE_KEYS)
    return d
