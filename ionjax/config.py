"""Link configuration: TOML file or dict -> :class:`Link` pytree.

The format (DESIGN.md) with every key, its default, unit and allowed range is
:data:`SCHEMA`. A key left out takes its default; a key the format does not
know is an error (with a suggestion for a misspelling); a value of the wrong
type or out of range is an error naming the key, the value and the range.
Every bad input is a :class:`~ionjax.errors.ConfigError`: a ``source`` that is
not a path, dict or Link; a file that cannot be read as TOML (through
:func:`ionjax._io.read_toml`, naming the file); a section that is not a table;
a bool, string, array or NaN where a number belongs; an integer too large for a
float; an inf where the key refuses it (:attr:`KeySpec.inf_refused` says why).
Numbers may be Python, numpy or JAX scalars (0-d arrays included).

A :class:`Link` is a pytree: numbers are array leaves (vmap/grad over any of
them; changing one never recompiles), while ``protocol``, ``encoding`` and
``detection.kind`` are static structure.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._io import read_toml
from .errors import ConfigError
from .keys import _INF_WORDS, INF, KeySpec, _abbreviate_int, _number, _short, _value_error  # noqa: F401

__all__ = ["Link", "NodeParams", "DetectionParams", "InterferenceParams", "load_link", "SCHEMA", "KeySpec",
           "link_to_dict"]



_S = KeySpec
_LENGTH_INF = ("an infinite fiber never delivers the photon and makes the herald wait infinite (the link "
               "computes NaN); give the length in km")
_ATTENUATION_INF = ("inf x a zero fiber length is undefined (NaN), and over any length > 0 no photon arrives; "
                    "give the loss in dB/km (a large finite value for a blocked path)")
_LIFETIME_INF = ("an infinitely long wavepacket puts no photon into any finite detection window (no heralds, "
                 "and NaN with window_ns = inf); give the lifetime in ns, e.g. 8.0")
_NODE_KEYS: dict[str, KeySpec] = {
    "collection_efficiency": _S(0.05, 0.0, 1.0, False, "P(emitted photon coupled into the fiber)"),
    "fiber_length_km": _S(0.0, 0.0, INF, False, "fiber from the node to the detection station, km", _LENGTH_INF),
    "fiber_attenuation_db_per_km": _S(0.0, 0.0, INF, False, "fiber loss, dB/km", _ATTENUATION_INF),
    "excitation_probability": _S(1.0, 0.0, 1.0, False,
                                 "single_photon: bright-state weight p; two_photon: P(emission per attempt)"),
    "ion_photon_fidelity": _S(1.0, 0.0, 1.0, False, "ideal state with a Z error on the ion w.p. 1 - F"),
    "multi_photon_probability": _S(0.0, 0.0, 1.0, False, "P(a second, unpolarized photon in the same attempt)"),
    "photon_lifetime_ns": _S(8.0, 0.0, INF, True, "exponential wavepacket lifetime, ns", _LIFETIME_INF),
    "qubit_t2_s": _S(INF, 0.0, INF, True, "ion qubit coherence time while waiting for the herald, s"),
    "time_bin_pulse_error": _S(0.0, -1.0, 1.0, False, "time_bin: fractional area error of the pi pulse between bins"),
}
_DETECTION_KEYS: dict[str, KeySpec] = {
    "efficiency": _S(1.0, 0.0, 1.0, False, "detector quantum efficiency"),
    "dark_count_rate_hz": _S(0.0, 0.0, INF, False, "dark counts per detector, Hz",
                             "every detector would click in every window (NaN with number-resolving detectors, "
                             "no heralds with threshold ones); give the measured rate per detector in Hz"),
    "window_ns": _S(100.0, 0.0, INF, True, "accepted detection window from the start of emission, ns",
                    "inf x a zero dark-count rate is undefined (NaN); to accept the whole wavepacket give a "
                    "window many lifetimes long, e.g. 10 x photon_lifetime_ns"),
    "timing_jitter_ps": _S(0.0, 0.0, INF, False, "frequency encoding: rms detector timing jitter, ps",
                           "the frequency encoding's phase correction multiplies the jitter by the frequency "
                           "offset, and inf x 0 is NaN; give the rms jitter in ps (one much longer than "
                           "1 / frequency_offset_hz already gives the fully dephased limit)"),
}
_INTERFERENCE_KEYS: dict[str, KeySpec] = {
    "mode_overlap": _S(1.0, 0.0, 1.0, False, "M = |<xi_a|xi_b>|^2 of the two photons' wavepackets"),
    "phase_noise_rad": _S(0.0, 0.0, INF, False, "single_photon: rms optical phase difference, rad"),
    "frequency_offset_hz": _S(0.0, 0.0, INF, False,
                              "frequency encoding: difference between the two nodes' photon frequencies, Hz",
                              "the frequency encoding's phase correction multiplies the offset by the timing "
                              "jitter, and inf x 0 is NaN; give the offset in Hz"),
}
_TOP_KEYS: dict[str, KeySpec] = {
    "attempt_rate_hz": _S(1.0e6, 0.0, INF, True, "entanglement attempts per second, Hz",
                          "an infinite attempt rate makes rate_hz infinite; give the attempts per second, "
                          "e.g. 1e6"),
}
del _S
PROTOCOLS = ("two_photon", "single_photon")
ENCODINGS = ("polarization", "time_bin", "frequency")
DETECTOR_KINDS = ("threshold", "pnr")
STATIC_KEYS = ("protocol", "encoding", "name", "detection.kind")

#: The whole format: section -> key -> :class:`KeySpec` (unpacks as ``default, lo, hi, lo_open, meaning``).
SCHEMA: dict[str, dict[str, KeySpec]] = {
    "": _TOP_KEYS,
    "node_a": _NODE_KEYS,
    "node_b": _NODE_KEYS,
    "detection": _DETECTION_KEYS,
    "interference": _INTERFERENCE_KEYS,
}
_SECTIONS = ("node_a", "node_b", "detection", "interference")
_SECTION_EXTRAS = {"detection": ("kind",)}  # static keys a section holds besides its numbers


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

    def set(self, updates: Mapping[str, Any] | None = None, **kw: Any) -> Link:
        """A copy with the dotted keys in ``updates`` (and ``kw``) replaced; the original is unchanged.

        Concrete values (Python, numpy or JAX numbers, ``"inf"``, 0-d arrays, and arrays with batch
        axes, checked elementwise) are checked exactly as :func:`load_link` checks them: a NaN, an
        out-of-range value or a refused inf raises a ConfigError naming the key, the (first) bad
        value and the allowed range. Traced values (``jax.core.Tracer``: inside ``jit``, ``vmap`` or
        ``grad``, which is how :func:`ionjax.sweep` and :func:`ionjax.optimize` call ``set``)
        cannot be inspected and are not checked: keep them in range yourself (``ij.sweep`` checks
        its grid before tracing; ``ij.optimize`` maps its free keys into their ranges).

        Raises:
            ConfigError: an unknown key (with a suggestion), a static key, or a bad concrete value.
        """
        if updates is None:
            updates = {}
        elif not isinstance(updates, Mapping):
            raise ConfigError(f"Argument `updates` of Link.set must be a dict {{dotted key: value}}, e.g. "
                              f"{{'detection.efficiency': 0.8}}; got {_short(updates)} of type "
                              f"{type(updates).__name__}.")
        out = self
        for key, value in {**updates, **kw}.items():
            section, leaf = _split_key(key)
            if not isinstance(value, jax.core.Tracer):
                value = _check_value(key, value, _spec(section, leaf))
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
        """Check the static structure and every concrete leaf (elementwise where batched); returns self.

        The checks and messages are :func:`load_link`'s; traced leaves are skipped (see :meth:`set`).
        """
        _check_static(self.protocol, self.encoding, self.detection.kind, self.name)
        for key in self.numeric_keys():
            value = self.get(key)
            if not isinstance(value, jax.core.Tracer):
                _check_value(key, value, _spec(*_split_key(key)))
        return self


# ----------------------------------------------------------------------------- checking values


def _spec(section: str, leaf: str) -> KeySpec:
    return SCHEMA["node_a" if section == "nodes" else section][leaf]


def _split_key(key: Any) -> tuple[str, str]:
    if not isinstance(key, str):
        raise ConfigError(f"A link key must be a dotted string such as 'detection.window_ns', got {_short(key)} "
                          f"of type {type(key).__name__}.")
    if key in STATIC_KEYS:
        raise ConfigError(f"{key!r} is static structure of the link (it decides what is compiled), not a numeric "
                          f"key: read it as link.{key}, and build a changed link with "
                          f"ij.load_link({{**link.to_dict(), ...}}).")
    section, _, leaf = key.rpartition(".")
    sections = ("", "node_a", "node_b", "nodes", "detection", "interference")
    if "." in section:
        raise ConfigError(f"Key {key!r} has too many dots: a numeric key is 'key' (top level) or 'section.key', "
                          f"with sections {', '.join(sections[1:])}, e.g. 'detection.window_ns'.")
    if section not in sections:
        raise ConfigError(f"Unknown section {section!r} in key {key!r}; sections are {sections[1:]}."
                          + _did_you_mean(section, sections))
    keys = SCHEMA["node_a" if section == "nodes" else section]
    if leaf not in keys:
        raise ConfigError(f"Unknown numeric key {key!r}." + _did_you_mean(leaf, tuple(keys))
                          + f" Keys of [{section or 'top level'}]: {', '.join(keys)}.")
    return section, leaf


def _did_you_mean(word: Any, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_value(path: str, value: Any, spec: KeySpec) -> Any:
    """A concrete ``value`` for ``Link.set``, checked: a scalar as :func:`_number`, an array elementwise.

    Returns the value to store (the float for a string such as ``"inf"``, else ``value`` itself).
    """
    if isinstance(value, (list, tuple)) or (isinstance(value, (np.ndarray, jax.Array)) and value.ndim > 0):
        _check_elements(path, value, spec)
        return value
    v = _number(path, value, spec)
    return v if isinstance(value, str) else value


def _check_elements(path: str, value: Any, spec: KeySpec) -> None:
    """Check an array of values for key ``path`` elementwise (ConfigError naming the first bad element)."""
    if isinstance(value, (list, tuple)) and any(isinstance(x, (bool, np.bool_))
                                                for x in np.asarray(value, dtype=object).flat):
        raise ConfigError(f"{path} must be an array of real numbers ({spec.meaning}), got bools in "
                          f"{_short(value)}; allowed {spec.range_text()}.")
    try:
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{path} must be a number or an array of numbers ({spec.meaning}), got "
                          f"{_short(value)}.") from None
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        what = "bools" if arr.dtype.kind == "b" else f"dtype {arr.dtype}"
        raise ConfigError(f"{path} must be an array of real numbers ({spec.meaning}), got {what} "
                          f"(shape {arr.shape}); allowed {spec.range_text()}.")
    arr = arr.astype(np.float64, copy=False)
    _, lo, hi, lo_open, _ = spec
    bad = np.isnan(arr) | (arr < lo) | (arr > hi)
    if lo_open:
        bad |= arr == lo
    if spec.hi_open:
        bad |= arr == INF
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        v = float(arr[idx])
        where = (f" (element {idx[0] if len(idx) == 1 else idx} of an array of shape {arr.shape}; "
                 f"{int(bad.sum())} of {arr.size} elements are invalid)")
        err = _value_error(path, v, repr(v), spec, where)
        assert err is not None  # bad says so
        raise err


def _choice(path: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path} must be a string, one of {', '.join(map(repr, allowed))}; got {_short(value)} "
                          f"of type {type(value).__name__}.")
    if value not in allowed:
        raise ConfigError(f"{path} = {value!r} is not known; allowed: {', '.join(allowed)}."
                          + _did_you_mean(value, allowed))
    return value


def _check_static(protocol: Any, encoding: Any, kind: Any, name: Any) -> None:
    _choice("protocol", protocol, PROTOCOLS)
    if protocol == "single_photon":
        if encoding != "single_photon":
            raise ConfigError(f"encoding = {_short(encoding)} does not apply to protocol 'single_photon' (the qubit "
                              "is the photon number); remove the key.")
    else:
        _choice("encoding", encoding, ENCODINGS)
    _choice("detection.kind", kind, DETECTOR_KINDS)
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {_short(name)} of type {type(name).__name__}.")


def _section(path: str, given: Any, spec: dict[str, KeySpec]) -> dict[str, float]:
    if not isinstance(given, Mapping):
        first = next(iter(spec))
        raise ConfigError(f"[{path}] must be a table of keys (a dict), got {_short(given)} of type "
                          f"{type(given).__name__}: write its keys under a [{path}] header (e.g. {first} = ...), "
                          "or leave the section out for its defaults.")
    extras = _SECTION_EXTRAS.get(path, ())
    for k in given:
        if not isinstance(k, str):
            raise ConfigError(f"Keys of [{path}] must be strings, got {_short(k)} of type {type(k).__name__}.")
        if k not in spec and k not in extras:
            elsewhere = [s for s in ("", *_SECTIONS) if s != path and k in (*SCHEMA[s], *_SECTION_EXTRAS.get(s, ()))]
            hint = f" ({k!r} is a key of [{elsewhere[0] or 'top level'}].)" if elsewhere else ""
            raise ConfigError(f"Unknown key {path}.{k}." + _did_you_mean(k, tuple(spec)) + hint
                              + f" Keys of [{path}]: {', '.join((*spec, *extras))}.")
    return {k: _number(f"{path}.{k}", given.get(k, s.default), s) for k, s in spec.items()}


# ----------------------------------------------------------------------------- loading
def load_link(source: str | os.PathLike | Mapping[str, Any] | Link,
              overrides: Mapping[str, Any] | None = None) -> Link:
    """Read a link from a TOML file path, a dict of the same shape, or a Link (re-validated).

    Args:
        source: path to a ``.toml`` file (``str`` or ``os.PathLike``), or a dict of the TOML
            shape, or a :class:`Link`.
        overrides: optional ``{"dotted.key": value}`` applied before validation
            (``--set`` on the command line). Values may be strings from the command line.

    Values may be Python, numpy or JAX real numbers (0-d arrays included) or ``"inf"`` where the
    key's range admits inf (:data:`SCHEMA`); a Link leaf is one number.

    Raises:
        ConfigError (a ValueError): a ``source`` of another type; a file that is missing, a
        directory, unreadable, not UTF-8 or not TOML (naming the file); an unknown key (with a
        suggestion); a section that is not a table; a wrong type; NaN; an out-of-range value or a
        refused inf. The message names the key, the value and the allowed range.
    """
    if isinstance(source, Link):
        data = link_to_dict(source)
    elif isinstance(source, Mapping):
        data = _deepcopy(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_link_file(source)
    else:
        raise ConfigError(f"Argument `source` of load_link must be a path to a TOML link file (str or "
                          f"os.PathLike), a dict of the TOML shape, or a Link; got {_short(source)} of type "
                          f"{type(source).__name__}.")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"Argument `overrides` of load_link must be a dict {{dotted key: value}}, e.g. "
                              f"{{'detection.efficiency': 0.8}}; got {_short(overrides)} of type "
                              f"{type(overrides).__name__}.")
        for key, value in overrides.items():
            _apply_override(data, key, value)

    known_top = ("protocol", "encoding", "name", "attempt_rate_hz", *_SECTIONS)
    for k in data:
        if not isinstance(k, str):
            raise ConfigError(f"Top-level keys of a link must be strings, got {_short(k)} of type {type(k).__name__}.")
        if k not in known_top:
            elsewhere = [s for s in _SECTIONS if k in SCHEMA[s] or k in _SECTION_EXTRAS.get(s, ())]
            hint = f" ({k!r} is a key of [{elsewhere[0]}].)" if elsewhere else ""
            raise ConfigError(f"Unknown key {k!r}." + _did_you_mean(k, sorted(known_top)) + hint
                              + f" Top-level keys: {', '.join(sorted(known_top))}.")
    protocol = _choice("protocol", data.get("protocol", "two_photon"), PROTOCOLS)
    if protocol == "single_photon":
        if data.get("encoding") not in (None, "single_photon"):
            raise ConfigError(f"encoding = {_short(data['encoding'])} does not apply to protocol 'single_photon' "
                              "(the qubit is the photon number); remove the key.")
        encoding = "single_photon"
    else:
        encoding = _choice("encoding", data.get("encoding", "polarization"), ENCODINGS)
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {_short(name)} of type {type(name).__name__}.")

    top = {k: _number(k, data.get(k, s.default), s) for k, s in _TOP_KEYS.items()}
    nodes = {n: _section(n, data.get(n, {}), _NODE_KEYS) for n in ("node_a", "node_b")}
    det = data.get("detection", {})
    detection = _section("detection", det, _DETECTION_KEYS)
    kind = _choice("detection.kind", det.get("kind", "threshold"), DETECTOR_KINDS)
    interference = _section("interference", data.get("interference", {}), _INTERFERENCE_KEYS)
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


def _read_link_file(source: str | os.PathLike) -> dict[str, Any]:
    if isinstance(source, str) and not Path(source).exists() and ("\n" in source or _TOML_TEXT.match(source)):
        raise ConfigError(f"Argument `source` of load_link looks like TOML text, not a path ({_short(source)}): "
                          "pass the parsed dict (tomllib.loads(text)) or the path of a file holding it.")
    try:
        return read_toml(source, "link file")
    except ConfigError:
        raise
    except ValueError as exc:  # tomllib: an integer beyond sys.get_int_max_str_digits() digits
        raise ConfigError(f"Link file {str(Path(source))!r} cannot be read as TOML: {exc}.") from None


_TOML_TEXT = re.compile(r"\s*(\[|[A-Za-z_][\w.]*\s+=\s+)")


def _deepcopy(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (_deepcopy(v) if isinstance(v, Mapping) else v) for k, v in d.items()}


def _parse_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    t = text.strip()
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    if t.lower() in _INF_WORDS:
        return INF
    return t


def _apply_override(data: dict[str, Any], key: Any, value: Any) -> None:
    if not isinstance(key, str):
        raise ConfigError(f"Override keys (overrides / --set) must be dotted strings such as 'detection.efficiency', "
                          f"got {_short(key)} of type {type(key).__name__}.")
    value = _parse_value(value)
    parts = key.split(".")
    if len(parts) == 1:
        data[key] = value
        return
    sections = ("node_a", "node_b", "nodes", "detection", "interference")
    if len(parts) != 2:
        raise ConfigError(f"Override key {key!r} (overrides / --set) has too many dots: a link key is 'key' (top "
                          f"level) or 'section.key' with sections {', '.join(sections)}, e.g. "
                          "'detection.efficiency'.")
    section, leaf = parts
    if section not in sections:
        raise ConfigError(f"Unknown section {section!r} in {key!r}; sections are {', '.join(sections)}."
                          + _did_you_mean(section, sections))
    for sec in (("node_a", "node_b") if section == "nodes" else (section,)):
        sub = data.setdefault(sec, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"[{sec}] must be a table of keys, got {_short(sub)} of type {type(sub).__name__}; "
                              f"cannot apply the override {key!r}.")
        sub[leaf] = value


def link_to_dict(link: Link) -> dict[str, Any]:
    """The dict form of ``link`` (concrete scalar leaves only: ConfigError naming a traced or batched leaf)."""

    def num(key: str, x: Any) -> float:
        if isinstance(x, jax.core.Tracer):
            raise ConfigError(f"{key} is a traced JAX value (inside jit, vmap or grad): the dict / TOML form of a "
                              "link needs concrete numbers; convert it outside the transformation.")
        if np.ndim(x) != 0:
            raise ConfigError(f"{key} holds an array of shape {np.shape(x)} (a batch of values): the dict / TOML "
                              "form holds one number per key; pick one point first, e.g. "
                              "jax.tree_util.tree_map(lambda x: x[i], link).")
        return float(x)

    def sec(name: str, obj: Any, spec: dict[str, KeySpec]) -> dict[str, Any]:
        return {k: num(f"{name}.{k}", getattr(obj, k)) for k in spec}

    d: dict[str, Any] = {"protocol": link.protocol}
    if link.protocol == "two_photon":
        d["encoding"] = link.encoding
    if link.name:
        d["name"] = link.name
    d["attempt_rate_hz"] = num("attempt_rate_hz", link.attempt_rate_hz)
    d["node_a"] = sec("node_a", link.node_a, _NODE_KEYS)
    d["node_b"] = sec("node_b", link.node_b, _NODE_KEYS)
    d["detection"] = {"kind": link.detection.kind, **sec("detection", link.detection, _DETECTION_KEYS)}
    d["interference"] = sec("interference", link.interference, _INTERFERENCE_KEYS)
    return d
