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
import math
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
from .elements import ELEMENTS, Element, element_params, make_element, param
from .errors import ConfigError
from .keys import _INF_WORDS, INF, KeySpec, _abbreviate_int, _number, _short, _value_error  # noqa: F401

__all__ = ["Link", "NodeParams", "DetectionParams", "DetectorParams", "InterferenceParams", "StationParams",
           "load_link", "SCHEMA", "KeySpec", "link_to_dict", "key_applies", "key_spec", "without_ignored"]



_LENGTH_INF = ("an infinite fiber never delivers the photon and makes the herald wait infinite (the link "
               "computes NaN); give the length in km")
_ATTENUATION_INF = ("inf x a zero fiber length is undefined (NaN), and over any length > 0 no photon arrives; "
                    "give the loss in dB/km (a large finite value for a blocked path)")
_LIFETIME_INF = ("an infinitely long wavepacket puts no photon into any finite detection window (no heralds, "
                 "and NaN with window_ns = inf); give the lifetime in ns, e.g. 8.0")
_DARK_INF = ("every detector would click in every window (NaN with number-resolving detectors, no heralds with "
             "threshold ones); give the measured rate per detector in Hz")
_ANGLE = dict(lo=-4 * math.pi, hi=4 * math.pi)


def _static(**kw: Any) -> Any:
    return field(metadata=dict(static=True), **kw)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ExcitationParams:
    """A node's ``[node_x.excitation]`` block: the excitation pulse, solved by the Lindblad component
    (:func:`ionjax.components.excitation_emission`) for the emission probability and the second photon."""

    pulse_area_rad: jax.Array = param(math.pi, 0.0, 4 * math.pi, help="pulse area (pi: a pi pulse), rad")
    pulse_duration_ns: jax.Array = param(0.05, 0.0, 1.0e3, lo_open=True,
                                         help="pulse duration (support of sin2/gaussian shapes), ns")
    detuning_mhz: jax.Array = param(0.0, -1.0e5, 1.0e5, help="laser detuning from the line, MHz")
    pulse_shape: str = _static(default="square")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class NodeParams:
    """One ion trap, its fiber, and the ordered ``path`` of optical elements its photon passes through.

    The flat keys stand for the elements they describe, applied first (collection, fiber loss,
    window acceptance, excitation); ``path`` elements follow in file order. Numbers are array leaves;
    ``path_names`` (each element's name) is static.
    """

    collection_efficiency: jax.Array = param(0.05, 0.0, 1.0, help="P(emitted photon coupled into the fiber)")
    fiber_length_km: jax.Array = param(0.0, 0.0, INF, help="fiber from the node to the detection station, km",
                                       inf_refused=_LENGTH_INF)
    fiber_attenuation_db_per_km: jax.Array = param(0.0, 0.0, INF, help="fiber loss, dB/km",
                                                   inf_refused=_ATTENUATION_INF)
    excitation_probability: jax.Array = param(
        1.0, 0.0, 1.0, help="single_photon: bright-state weight p; two_photon: P(emission per attempt)")
    ion_photon_fidelity: jax.Array = param(1.0, 0.0, 1.0, help="ideal state with a Z error on the ion w.p. 1 - F")
    multi_photon_probability: jax.Array = param(
        0.0, 0.0, 1.0, help="P(a second, unpolarized photon in the same attempt); for a single emitter about "
                            "g2(0)/2 (g2(0) = 2 P(2)/P(1)^2 with P(1) ~ 1); [node_x.excitation] computes it")
    photon_lifetime_ns: jax.Array = param(8.0, 0.0, INF, lo_open=True, help="exponential wavepacket lifetime, ns",
                                          inf_refused=_LIFETIME_INF)
    photon_frequency_offset_mhz: jax.Array = param(
        0.0, -1.0e7, 1.0e7, help="this node's photon frequency minus the nominal one, MHz (its own laser, Zeeman "
                                 "shift, ...): the two photons' offset makes them distinguishable")
    arrival_delay_ns: jax.Array = param(
        0.0, -1.0e6, 1.0e6, help="extra delay of this node's photon at the station (path-length or trigger "
                                 "mismatch), ns")
    qubit_t1_s: jax.Array = param(INF, 0.0, INF, lo_open=True,
                                  help="ion qubit relaxation time |1> -> |0> while waiting for the herald, s")
    qubit_t2_s: jax.Array = param(INF, 0.0, INF, lo_open=True,
                                  help="ion qubit coherence time while waiting for the herald, s")
    time_bin_pulse_error: jax.Array = param(0.0, -1.0, 1.0,
                                            help="time_bin: fractional area error of the pi pulse between bins")
    numerical_aperture: jax.Array = param(
        0.6, 0.0, 0.99, help="collection lens NA (used with fiber_coupling): the collected share of the dipole "
                             "emission and, multimode, the polarization mixing of the ion-photon state")
    mode_matching: jax.Array = param(
        1.0, 0.0, 1.0, help="fiber_coupling = single_mode: overlap of the collected beam's radial profile with the "
                            "fiber mode")
    lamb_dicke_parameter: jax.Array = param(
        0.0, 0.0, 10.0, help="single_photon / time_bin: Lamb-Dicke parameter of the emission recoil on the "
                             "ion's motional mode")
    mean_phonon_number: jax.Array = param(0.0, 0.0, 1.0e6, help="thermal mean phonon number of that mode")
    trap_frequency_mhz: jax.Array = param(1.0, 0.0, 1.0e4, lo_open=True,
                                          help="time_bin: that mode's frequency (the recoil phase turns at it), MHz")
    time_bin_spacing_ns: jax.Array = param(0.0, 0.0, 1.0e6,
                                           help="time_bin: delay between the early and late bins, ns (its recoil "
                                                "error vanishes at multiples of the trap period)")
    branching_ratio: jax.Array = param(1.0, 0.0, 1.0,
                                       help="fraction of the excited state's decays that emit into the photon "
                                            "channel (other decays are loss); a species sets it")
    readout_error: jax.Array = param(
        0.0, 0.0, 0.5, help="P(this ion's qubit measurement reads the other outcome), each basis and outcome alike: "
                            "enters measured parity data (ij.expected_counts, ij.fit), not the heralded state")
    path: tuple = ()
    path_names: tuple = _static(default=())
    excitation: ExcitationParams | None = None
    species: str = _static(default="")
    memory_decay: str = _static(default="exponential")
    fiber_coupling: str = _static(default="")
    photon_line: str = _static(default="")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DetectorParams:
    """One detector's own values (``[detection.detectors.NAME]``); None: the ``[detection]`` value."""

    efficiency: jax.Array | None = None
    dark_count_rate_hz: jax.Array | None = None


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DetectionParams:
    """The detectors; ``kind`` ("threshold" | "pnr") and the names of detectors with their own values are static."""

    efficiency: jax.Array = param(1.0, 0.0, 1.0, help="detector quantum efficiency")
    dark_count_rate_hz: jax.Array = param(0.0, 0.0, INF, help="dark counts per detector, Hz", inf_refused=_DARK_INF)
    window_start_ns: jax.Array = param(0.0, -1.0e6, 1.0e6,
                                       help="start of the detection gate, from the nominal emission, ns")
    window_ns: jax.Array = param(100.0, 0.0, INF, lo_open=True,
                                 help="length of the detection gate [window_start_ns, window_start_ns + window_ns], ns",
                                 inf_refused="inf x a zero dark-count rate is undefined (NaN); to accept the whole "
                                             "wavepacket give a window many lifetimes long, e.g. 10 x "
                                             "photon_lifetime_ns")
    coincidence_window_ns: jax.Array = param(
        INF, 0.0, INF, help="two_photon: accept only |t_c - t_d| <= this between the two clicks, ns (inf: no filter)")
    timing_jitter_ps: jax.Array = param(0.0, 0.0, INF,
                                        help="rms timing jitter of each detector, ps (it limits the "
                                             "time-resolved correction; inf: the correction fully dephases "
                                             "photons that differ in frequency)")
    dead_time_ns: jax.Array = param(
        0.0, 0.0, INF, help="time_bin: each detector's dead time after a click, ns; a pattern that needs one "
                            "detector in both bins keeps its late click only if it comes this long after the early "
                            "one (the bins are node_x.time_bin_spacing_ns apart)")
    detectors: tuple = ()
    detector_names: tuple = _static(default=())
    kind: str = _static(default="threshold")
    time_resolved_correction: bool = _static(default=False)
    #: derived (not a key): a finite coincidence window may be set (True where ``coincidence_window_ns`` is finite
    #: or was set to a traced value); the time-integrating methods refuse such a link
    coincidence_filter: bool = _static(default=False)
    #: derived (not a key): a dead time may be set (True where ``dead_time_ns`` is positive or traced)
    dead_time_filter: bool = _static(default=False)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class InterferenceParams:
    """How well the two photons interfere."""

    mode_overlap: jax.Array = param(1.0, 0.0, 1.0,
                                    help="residual overlap of the photons' other degrees of freedom (spatial mode, "
                                         "polarization purity); it multiplies the wavepackets' temporal overlap")
    phase_noise_rad: jax.Array = param(0.0, 0.0, INF, help="single_photon: rms optical phase difference, rad")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class StationParams:
    """The optics of the detection station: one beam splitter per mode pair, of power reflectivity R and
    phase phi, ``[[sqrt(1-R), e^{-i phi} sqrt(R)], [-e^{i phi} sqrt(R), sqrt(1-R)]]`` on ``(a, b)``."""

    beam_splitter_reflectivity: jax.Array = param(0.5, 0.0, 1.0, help="power reflectivity R of the beam splitter")
    beam_splitter_phase_rad: jax.Array = param(0.0, **_ANGLE, help="beam splitter phase phi, rad")


_TOP_HELP = ("an infinite attempt rate makes rate_hz infinite; give the attempts per second, e.g. 1e6")
PROTOCOLS = ("two_photon", "single_photon")
ENCODINGS = ("polarization", "time_bin", "frequency")
DETECTOR_KINDS = ("threshold", "pnr")
MEMORY_DECAYS = ("exponential", "gaussian")
FIBER_COUPLINGS = ("single_mode", "multimode")
STATIC_KEYS = ("protocol", "encoding", "name", "detection.kind", "detection.time_resolved_correction")
_SECTIONS = ("node_a", "node_b", "detection", "interference", "station")
_SECTION_CLASSES = {"node_a": NodeParams, "node_b": NodeParams, "detection": DetectionParams,
                    "interference": InterferenceParams, "station": StationParams}
_SECTION_EXTRAS = {"detection": ("kind", "detectors", "time_resolved_correction"),
                   "node_a": ("path", "species", "photon_line", "memory_decay", "fiber_coupling", "excitation"),
                   "node_b": ("path", "species", "photon_line", "memory_decay", "fiber_coupling", "excitation")}

#: Keys a link's structure ignores, with the reason (refused when given a value other than their default).
_APPLIES: dict[str, tuple[Any, str]] = {
    "time_bin_pulse_error": (lambda p, e: e == "time_bin", "only the time_bin encoding has a pi pulse between bins"),
    "phase_noise_rad": (lambda p, e: p == "single_photon",
                        "an optical phase between the paths only matters to the single_photon protocol (a "
                        "two-photon herald is insensitive to it)"),
    "lamb_dicke_parameter": (lambda p, e: e in ("single_photon", "time_bin"),
                             "the recoil of polarization and frequency photons is common to both ion states"),
    "trap_frequency_mhz": (lambda p, e: e == "time_bin", "only the time_bin recoil phase depends on the bin delay"),
    "time_bin_spacing_ns": (lambda p, e: e == "time_bin", "only the time_bin encoding has bins"),
    "coincidence_window_ns": (lambda p, e: p == "two_photon",
                              "a coincidence window needs two clicks (the single_photon herald is one click)"),
    "dead_time_ns": (lambda p, e: e == "time_bin",
                     "only a time_bin herald needs one detector twice (the other encodings' patterns fire two "
                     "different detectors)"),
}

#: detection keys whose value decides a static flag of DetectionParams: ``{key: (flag, test of a value)}`` (the
#: click-time path is taken where a flag is set; a traced value sets it)
_FILTER_FLAGS = {"coincidence_window_ns": ("coincidence_filter", lambda v: bool(np.any(np.asarray(v) < math.inf))),
                 "dead_time_ns": ("dead_time_filter", lambda v: bool(np.any(np.asarray(v) > 0.0)))}

#: keys that moved, with where they went (named in the unknown-key error)
_MOVED = {"interference.frequency_offset_hz": "each node's photon_frequency_offset_mhz (node_a and node_b: MHz; "
                                              "their difference is the offset)"}


def key_applies(leaf: str, protocol: str, encoding: str) -> bool:
    """False for a key the link's structure (``protocol``, ``encoding``) ignores (see :data:`_APPLIES`)."""
    rule = _APPLIES.get(leaf)
    return rule is None or rule[0](protocol, encoding)


def without_ignored(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a link dict without the keys its structure ignores (which :func:`load_link` refuses when they
    hold anything but their default): e.g. ``time_bin_pulse_error`` on a polarization link."""
    protocol = config.get("protocol", "two_photon")
    encoding = "single_photon" if protocol == "single_photon" else config.get("encoding", "polarization")
    out = _deepcopy(config)
    for sec in ("node_a", "node_b", "detection", "interference"):
        if isinstance(out.get(sec), dict):
            out[sec] = {k: v for k, v in out[sec].items() if key_applies(k, protocol, encoding)}
    return out


def _detector_spec() -> dict[str, KeySpec]:
    full = element_params(DetectionParams)
    return {k: full[k] for k in ("efficiency", "dark_count_rate_hz")}


def _leaf(x: Any) -> jax.Array:
    return jnp.asarray(x, dtype=jax.dtypes.canonicalize_dtype(jnp.float64))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Link:
    """A heralded ion-ion link: static ``protocol``/``encoding``, numeric leaves everywhere else.

    Build one with :func:`load_link`. ``link.get("detection.window_ns")`` reads a leaf by dotted key;
    ``link.set({"detection.window_ns": 50.0})`` returns a copy with leaves replaced (values may be
    traced: this is how sweeps and optimizers vary it). Keys: ``KEY`` (top level), ``SECTION.KEY``,
    ``nodes.KEY`` (``node_a.KEY`` and ``node_b.KEY`` together), ``node_x.path.NAME.KEY`` (a path
    element's number) and ``detection.detectors.NAME.KEY`` (one detector's own efficiency or dark
    counts; reading it without one gives the ``[detection]`` value, setting it gives the detector its own).
    """

    attempt_rate_hz: jax.Array = param(1.0e6, 0.0, INF, lo_open=True, help="entanglement attempts per second, Hz",
                                       inf_refused=_TOP_HELP)
    node_a: NodeParams = None  # type: ignore[assignment]
    node_b: NodeParams = None  # type: ignore[assignment]
    detection: DetectionParams = None  # type: ignore[assignment]
    interference: InterferenceParams = None  # type: ignore[assignment]
    station: StationParams = None  # type: ignore[assignment]
    protocol: str = _static(default="two_photon")
    encoding: str = _static(default="polarization")
    name: str = _static(default="")

    # ------------------------------------------------------------- dotted access
    def get(self, key: str) -> jax.Array:
        """The leaf at dotted ``key`` (``"attempt_rate_hz"``, ``"node_a.fiber_length_km"``,
        ``"node_b.path.q1.angle_rad"``, ...)."""
        loc = _locate(self, key)[0][0]
        value = _follow(self, loc)
        if value is None:  # a detector without its own value: the [detection] one
            return getattr(self.detection, loc[-1])
        return value

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
            locs, spec = _locate(out, key)
            if not isinstance(value, jax.core.Tracer):
                value = _check_value(key, value, spec)
                leaf = locs[0][-1]
                if not key_applies(leaf, out.protocol, out.encoding) and np.any(np.asarray(value) != spec.default):
                    raise ConfigError(f"{key} = {_short(value)} is ignored by this link "
                                      f"({out.protocol}/{out.encoding}): {_APPLIES[leaf][1]}.")
            section, _, leaf = key.partition(".")
            if section == "detection" and leaf in _FILTER_FLAGS:
                flag, test = _FILTER_FLAGS[leaf]
                on = isinstance(value, jax.core.Tracer) or test(value)
                out = dataclasses.replace(out, detection=dataclasses.replace(out.detection, **{flag: on}))
            for loc in locs:
                old = _follow(out, loc)
                if old is None:
                    old = getattr(out.detection, loc[-1])
                # keep the leaf's dtype (a weakly typed Python float would change the jit cache key)
                out = _replace(out, loc, jnp.asarray(value, dtype=getattr(old, "dtype", None)))
        _check_dead_time(out)
        return out

    def numeric_keys(self) -> tuple[str, ...]:
        """Every dotted key of a numeric leaf (path elements and detectors with their own values included)."""
        keys = [k for k in SCHEMA[""]]
        for sec in _SECTIONS:
            keys += [f"{sec}.{k}" for k in SCHEMA[sec]]
        for node in ("node_a", "node_b"):
            n = getattr(self, node)
            for name, el in zip(n.path_names, n.path):
                keys += [f"{node}.path.{name}.{k}" for k in el.params()]
            if n.excitation is not None:
                keys += [f"{node}.excitation.{k}" for k in element_params(ExcitationParams)]
        for name, d in zip(self.detection.detector_names, self.detection.detectors):
            keys += [f"detection.detectors.{name}.{k}" for k in _detector_spec() if getattr(d, k) is not None]
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
                _check_value(key, value, key_spec(self, key))
        return self


#: The whole format: section -> key -> :class:`KeySpec` (unpacks as ``default, lo, hi, lo_open, meaning``),
#: read from the dataclass fields' metadata. Path elements' keys are :data:`ionjax.elements.ELEMENTS`'
#: ``params()``; ``[detection.detectors.NAME]`` takes ``efficiency`` and ``dark_count_rate_hz``.
SCHEMA: dict[str, dict[str, KeySpec]] = {"": element_params(Link),
                                         **{s: element_params(c) for s, c in _SECTION_CLASSES.items()}}


# ----------------------------------------------------------------------------- dotted keys
def _follow(obj: Any, loc: tuple) -> Any:
    for step in loc:
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)
    return obj


def _replace(obj: Any, loc: tuple, value: Any) -> Any:
    if not loc:
        return value
    step, rest = loc[0], loc[1:]
    if isinstance(step, int):
        items = list(obj)
        items[step] = _replace(items[step], rest, value)
        return tuple(items)
    return dataclasses.replace(obj, **{step: _replace(getattr(obj, step), rest, value)})


def _detector_names(encoding: str, protocol: str) -> tuple[str, ...]:
    from .components.analyzers import bell_state_analyzer

    return bell_state_analyzer("single_photon" if protocol == "single_photon" else encoding).detector_names


def _locate(link: Link, key: Any) -> tuple[list[tuple], KeySpec]:
    """The attribute paths of dotted ``key`` in ``link`` (two for ``nodes.KEY``) and its spec.

    A ``detection.detectors.NAME.KEY`` of a detector without its own values is given one (a new,
    all-None :class:`DetectorParams`) in the returned path's link only when set; here its path
    points at the index it will have.
    """
    if not isinstance(key, str):
        raise ConfigError(f"A link key must be a dotted string such as 'detection.window_ns', got {_short(key)} "
                          f"of type {type(key).__name__}.")
    parts = key.split(".")
    if len(parts) == 4 and parts[0] in ("node_a", "node_b") and parts[1] == "path":
        node, _, name, leaf = parts
        n = getattr(link, node)
        if name not in n.path_names:
            have = ", ".join(n.path_names) if n.path_names else "none"
            raise ConfigError(f"Key {key!r}: {node} has no path element named {name!r}; its elements: {have}."
                              + _did_you_mean(name, n.path_names))
        i = n.path_names.index(name)
        el = n.path[i]
        spec = el.params()
        if leaf not in spec:
            raise ConfigError(f"Key {key!r}: element {name!r} ({el.kind}) has no key {leaf!r}; its keys: "
                              f"{', '.join(spec)}." + _did_you_mean(leaf, tuple(spec)))
        return [(node, "path", i, leaf)], spec[leaf]
    if len(parts) == 3 and parts[0] in ("node_a", "node_b", "nodes") and parts[1] == "excitation":
        spec = element_params(ExcitationParams)
        nodes = ("node_a", "node_b") if parts[0] == "nodes" else (parts[0],)
        for nd in nodes:
            if getattr(link, nd).excitation is None:
                raise ConfigError(f"Key {key!r}: {nd} has no [{nd}.excitation] block (give one in the link file).")
        if parts[2] not in spec:
            raise ConfigError(f"Key {key!r}: the excitation block's keys are {', '.join(spec)}."
                              + _did_you_mean(parts[2], tuple(spec)))
        return [(nd, "excitation", parts[2]) for nd in nodes], spec[parts[2]]
    if len(parts) == 4 and parts[:2] == ["detection", "detectors"]:
        name, leaf = parts[2], parts[3]
        names = _detector_names(link.encoding, link.protocol)
        if name not in names:
            raise ConfigError(f"Key {key!r}: this link has no detector {name!r}; its detectors: {', '.join(names)}."
                              + _did_you_mean(name, names))
        spec = _detector_spec()
        if leaf not in spec:
            raise ConfigError(f"Key {key!r}: a detector's own keys are {', '.join(spec)}, not {leaf!r}."
                              + _did_you_mean(leaf, tuple(spec)))
        return [("detection", "detectors", names.index(name), leaf)], spec[leaf]
    if key in STATIC_KEYS:
        raise ConfigError(f"{key!r} is static structure of the link (it decides what is compiled), not a numeric "
                          f"key: read it as link.{key}, and build a changed link with "
                          f"ij.load_link({{**link.to_dict(), ...}}).")
    section, _, leaf = key.rpartition(".")
    sections = ("", "node_a", "node_b", "nodes", *_SECTIONS[2:])
    if "." in section:
        raise ConfigError(f"Key {key!r} has too many dots: a numeric key is 'key' (top level), 'section.key' "
                          f"(sections {', '.join(sections[1:])}), 'node_x.path.NAME.key' or "
                          f"'detection.detectors.NAME.key', e.g. 'detection.window_ns'.")
    if section not in sections:
        raise ConfigError(f"Unknown section {section!r} in key {key!r}; sections are {sections[1:]}."
                          + _did_you_mean(section, sections))
    keys = SCHEMA["node_a" if section == "nodes" else section]
    if leaf not in keys:
        raise ConfigError(f"Unknown numeric key {key!r}." + _did_you_mean(leaf, tuple(keys))
                          + f" Keys of [{section or 'top level'}]: {', '.join(keys)}.")
    if section == "nodes":
        return [("node_a", leaf), ("node_b", leaf)], keys[leaf]
    return [((section, leaf) if section else (leaf,))], keys[leaf]


def key_spec(link: Link, key: str) -> KeySpec:
    """The :class:`KeySpec` (default, range, meaning) of dotted ``key`` in ``link`` (ConfigError if unknown)."""
    return _locate(link, key)[1]


# ----------------------------------------------------------------------------- checking values


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
            if f"{path}.{k}" in _MOVED:
                hint = f" It moved to {_MOVED[f'{path}.{k}']}."
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

    known_top = ("protocol", "encoding", "name", *SCHEMA[""], *_SECTIONS)
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

    given_keys = [(sec, k) for sec in ("node_a", "node_b", "detection", "interference")
                  if isinstance(data.get(sec), Mapping) for k in data[sec]]
    for leaf_sec, leaf in given_keys:
        spec = SCHEMA[leaf_sec].get(leaf)
        if spec is not None and not key_applies(leaf, protocol, encoding):
            v = data[leaf_sec][leaf]
            if _number(f"{leaf_sec}.{leaf}", v, spec) != spec.default:
                raise ConfigError(f"{leaf_sec}.{leaf} = {_short(v)} is ignored by a {protocol}/{encoding} link: "
                                  f"{_APPLIES[leaf][1]}. Remove the key.")

    top = {k: _number(k, data.get(k, s.default), s) for k, s in SCHEMA[""].items()}
    nodes = {n: _node(n, data.get(n, {}), protocol, encoding) for n in ("node_a", "node_b")}
    det = data.get("detection", {})
    detection = _section("detection", det, SCHEMA["detection"])
    kind = _choice("detection.kind", det.get("kind", "threshold"), DETECTOR_KINDS)
    correction = _correction(det.get("time_resolved_correction", False), protocol, encoding)
    names = _detector_names(encoding, protocol)
    detectors = _detectors(det.get("detectors", {}), names)
    interference = _section("interference", data.get("interference", {}), SCHEMA["interference"])
    station = _section("station", data.get("station", {}), SCHEMA["station"])
    link = Link(
        attempt_rate_hz=_leaf(top["attempt_rate_hz"]),
        node_a=nodes["node_a"],
        node_b=nodes["node_b"],
        detection=DetectionParams(kind=kind, detectors=detectors, detector_names=names,
                                  time_resolved_correction=correction,
                                  **{flag: test(detection[k]) for k, (flag, test) in _FILTER_FLAGS.items()},
                                  **{k: _leaf(v) for k, v in detection.items()}),
        interference=InterferenceParams(**{k: _leaf(v) for k, v in interference.items()}),
        station=StationParams(**{k: _leaf(v) for k, v in station.items()}),
        protocol=protocol,
        encoding=encoding,
        name=name,
    )
    check_structure(link)
    _check_dead_time(link)
    return link


def _correction(value: Any, protocol: str, encoding: str) -> bool:
    """``detection.time_resolved_correction``: a bool, for the two_photon polarization and time_bin links."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"detection.time_resolved_correction must be true or false, got {_short(value)} of type "
                          f"{type(value).__name__}.")
    if value and protocol != "two_photon":
        raise ConfigError("detection.time_resolved_correction = true needs the two_photon protocol: the "
                          "single_photon herald is one click, with no click-time difference to correct from.")
    if value and encoding == "frequency":
        raise ConfigError("detection.time_resolved_correction = true does not apply to the frequency encoding: a "
                          "frequency offset between the nodes leaves |00>/|11> weight there (colour-blind "
                          "detectors), which no phase correction removes; use coincidence_window_ns to filter.")
    return bool(value)


def _species_defaults(sec: str, given: Mapping[str, Any]) -> tuple[dict[str, Any], str, str, float | None]:
    """``(given with the species' defaults filled in, species, photon_line, wavelength_nm)``.

    ``species`` (:data:`ionjax.components.species.SPECIES`) and its ``photon_line`` (default: the species' own)
    set ``photon_lifetime_ns`` (the line's upper-level lifetime), ``branching_ratio`` (the line's share of the
    decays) and ``fiber_attenuation_db_per_km`` (:func:`ionjax.components.species.fiber_attenuation_db_per_km`
    at the line's wavelength); a key given explicitly keeps its value."""
    from .components.species import fiber_attenuation_db_per_km, get_species

    name = given.get("species", "")
    line_name = given.get("photon_line", "")
    for key, v in (("species", name), ("photon_line", line_name)):
        if not isinstance(v, str):
            raise ConfigError(f"{sec}.{key} must be a string, got {_short(v)} of type {type(v).__name__}.")
    if not name:
        if line_name:
            raise ConfigError(f"{sec}.photon_line = {line_name!r} needs {sec}.species (the ion whose line it is).")
        return dict(given), "", "", None
    try:
        sp = get_species(name)
        line = sp.line(line_name) if line_name else sp.emission
    except ValueError as exc:
        raise ConfigError(f"{sec}.species / photon_line: {exc}") from None
    out = dict(given)
    out.setdefault("photon_lifetime_ns", line.upper_lifetime_ns)
    out.setdefault("branching_ratio", line.branching_ratio)
    if "fiber_attenuation_db_per_km" not in out:
        try:
            out["fiber_attenuation_db_per_km"] = fiber_attenuation_db_per_km(line.wavelength_nm)
        except ValueError as exc:
            raise ConfigError(f"{sec}: {exc}") from None
    return out, sp.name, line.name, line.wavelength_nm


def _node(sec: str, given: Any, protocol: str, encoding: str) -> NodeParams:
    """One ``[node_x]`` table (its flat keys and its ``[[node_x.path]]`` list) as :class:`NodeParams`."""
    species, line, wavelength = "", "", None
    if isinstance(given, Mapping):
        given, species, line, wavelength = _species_defaults(sec, given)
    flat = _section(sec, given, SCHEMA[sec])
    entries = given.get("path", []) if isinstance(given, Mapping) else []
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"{sec}.path must be a list of element tables ([[{sec}.path]] in TOML), got "
                          f"{_short(entries)} of type {type(entries).__name__}.")
    names: list[str] = []
    elements: list[Element] = []
    counts: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"{sec}.path[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table with `element = KIND`, got {_short(entry)}.")
        kind = entry.get("element")
        name = entry.get("name")
        if name is None:
            if kind in ELEMENTS:
                counts[kind] = counts.get(kind, 0) + 1
                name = kind if counts[kind] == 1 else f"{kind}_{counts[kind]}"
        elif not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{where}.name = {_short(name)} must be a word of letters, digits and _ (it becomes "
                              f"part of dotted keys such as {sec}.path.NAME.angle_rad).")
        if name in names:
            raise ConfigError(f"{where}.name = {name!r} is used twice in {sec}.path; give each element its own name.")
        entry = dict(entry)
        if wavelength is not None and kind == "fiber" and "attenuation_db_per_km" not in entry:
            from .components.species import fiber_attenuation_db_per_km

            try:  # the species' default at the photon's wavelength here (after any conversion)
                entry["attenuation_db_per_km"] = fiber_attenuation_db_per_km(wavelength)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        el = make_element(entry, f"{sec}.path.{name}" if name else where)
        if kind == "frequency_conversion" and wavelength is not None:
            wavelength = float(el.output_wavelength_nm)
        names.append(name)
        elements.append(el)
    decay = _choice(f"{sec}.memory_decay", given.get("memory_decay", "exponential") if isinstance(given, Mapping)
                    else "exponential", MEMORY_DECAYS)
    coupling = given.get("fiber_coupling", "") if isinstance(given, Mapping) else ""
    if coupling == "" and flat["numerical_aperture"] != SCHEMA[sec]["numerical_aperture"].default:
        raise ConfigError(f"{sec}.numerical_aperture needs {sec}.fiber_coupling = \"single_mode\" or \"multimode\" "
                          "(how the collected light enters the fiber).")
    if coupling:
        coupling = _choice(f"{sec}.fiber_coupling", coupling, FIBER_COUPLINGS)
        if flat["numerical_aperture"] <= 0.0:
            raise ConfigError(f"{sec}.numerical_aperture = {flat['numerical_aperture']} collects nothing; with "
                              f"fiber_coupling it must be in (0, 0.99].")
    excitation = _excitation(sec, given.get("excitation") if isinstance(given, Mapping) else None)
    if excitation is not None and protocol != "two_photon":
        raise ConfigError(f"[{sec}.excitation] models the two_photon protocol's full excitation pulse; the "
                          "single_photon protocol's weak excitation is excitation_probability (the bright-state "
                          "weight p).")
    if excitation is not None and isinstance(given, Mapping):
        for k in ("excitation_probability", "multi_photon_probability"):
            if k in given:
                raise ConfigError(f"{sec}.{k} and [{sec}.excitation] both set it: the excitation block computes "
                                  f"{k} from the pulse (Lindblad); remove one.")
    return NodeParams(**{k: _leaf(v) for k, v in flat.items()}, path=tuple(elements), path_names=tuple(names),
                      excitation=excitation, species=species, photon_line=line, memory_decay=decay,
                      fiber_coupling=coupling)


def _excitation(sec: str, given: Any) -> ExcitationParams | None:
    """The ``[node_x.excitation]`` block (None when absent)."""
    if given is None:
        return None
    if not isinstance(given, Mapping):
        raise ConfigError(f"[{sec}.excitation] must be a table (pulse_area_rad, pulse_duration_ns, detuning_mhz, "
                          f"pulse_shape), got {_short(given)}.")
    from .components.lindblad import PULSE_SHAPES

    spec = element_params(ExcitationParams)
    for k in given:
        if k not in spec and k != "pulse_shape":
            raise ConfigError(f"Unknown key {sec}.excitation.{k}; its keys: {', '.join((*spec, 'pulse_shape'))}."
                              + _did_you_mean(str(k), tuple(spec)))
    shape = _choice(f"{sec}.excitation.pulse_shape", given.get("pulse_shape", "square"), PULSE_SHAPES)
    vals = {k: _leaf(_number(f"{sec}.excitation.{k}", given.get(k, s.default), s)) for k, s in spec.items()}
    return ExcitationParams(**vals, pulse_shape=shape)


def _detectors(given: Any, names: tuple[str, ...]) -> tuple[DetectorParams, ...]:
    if not isinstance(given, Mapping):
        raise ConfigError(f"[detection.detectors] must be a table of detector tables ([detection.detectors.NAME]), "
                          f"got {_short(given)}.")
    spec = _detector_spec()
    for name, vals in given.items():
        if name not in names:
            raise ConfigError(f"detection.detectors.{name}: this link has no detector {name!r}; its detectors: "
                              f"{', '.join(names)}." + _did_you_mean(str(name), names))
        if not isinstance(vals, Mapping):
            raise ConfigError(f"[detection.detectors.{name}] must be a table (efficiency, dark_count_rate_hz), got "
                              f"{_short(vals)}.")
        for k in vals:
            if k not in spec:
                raise ConfigError(f"Unknown key detection.detectors.{name}.{k}; a detector's own keys are "
                                  f"{', '.join(spec)}." + _did_you_mean(str(k), tuple(spec)))
    out = []
    for name in names:
        vals = given.get(name, {})
        out.append(DetectorParams(**{k: _leaf(_number(f"detection.detectors.{name}.{k}", vals[k], spec[k]))
                                     for k in spec if k in vals}))
    return tuple(out)


def _check_dead_time(link: Link) -> None:
    """A dead time is compared with the bins' spacing: refuse one given without that spacing (concrete values)."""
    det = link.detection
    if not det.dead_time_filter:
        return
    vals = [det.dead_time_ns, link.node_a.time_bin_spacing_ns, link.node_b.time_bin_spacing_ns]
    if any(isinstance(v, jax.core.Tracer) for v in vals):
        return
    if np.any(np.asarray(vals[0]) > 0.0) and np.all(np.asarray(vals[1]) == 0.0) and np.all(np.asarray(vals[2]) == 0.0):
        raise ConfigError(f"detection.dead_time_ns = {_short(vals[0])} needs the bins' spacing: set "
                          "node_a.time_bin_spacing_ns and node_b.time_bin_spacing_ns (ns, > 0; e.g. 1000), the delay "
                          "between the early and the late bin that the dead time is compared with.")


def check_structure(link: Link) -> None:
    """Refuse path elements that do not fit the photon's encoding, and nodes whose photons reach the station
    at different wavelengths (frequency conversion in one node only, or to different wavelengths)."""
    from .components.sources import ENCODING_MODES

    modes = ENCODING_MODES["single_photon" if link.protocol == "single_photon" else link.encoding]
    waves = {}
    for sec in ("node_a", "node_b"):
        n = getattr(link, sec)
        waves[sec] = None
        for name, el in zip(n.path_names, n.path):
            why = el.fits(modes)
            if why is not None:
                raise ConfigError(f"{sec}.path.{name} ({el.kind}) does not fit the {link.encoding} photon, whose "
                                  f"modes are {', '.join(modes)}: {why}.")
            if el.kind == "frequency_conversion":
                w = el.output_wavelength_nm
                waves[sec] = None if isinstance(w, jax.core.Tracer) or np.ndim(w) else float(w)
    a, b = waves["node_a"], waves["node_b"]
    if a != b:
        def say(w: float | None) -> str:
            return "its own wavelength (no frequency_conversion)" if w is None else f"{w:g} nm"
        raise ConfigError(f"The two photons reach the station at different wavelengths (node_a: {say(a)}; node_b: "
                          f"{say(b)}) and cannot interfere: convert both to the same output_wavelength_nm.")


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
    if len(parts) == 4 and parts[0] in ("node_a", "node_b") and parts[1] == "path":
        sec, _, name, leaf = parts
        entries = (data.get(sec) or {}).get("path", [])
        counts: dict = {}
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            kind = entry.get("element")
            counts[kind] = counts.get(kind, 0) + 1
            default = kind if counts[kind] == 1 else f"{kind}_{counts[kind]}"
            if entry.get("name", default) == name:
                entry[leaf] = value
                return
        raise ConfigError(f"Override {key!r} (overrides / --set): {sec} has no path element named {name!r}.")
    if len(parts) == 3 and parts[0] in ("node_a", "node_b", "nodes") and parts[1] == "excitation":
        for nd in ("node_a", "node_b") if parts[0] == "nodes" else (parts[0],):
            node = data.setdefault(nd, {})
            if not isinstance(node, dict):
                raise ConfigError(f"[{nd}] must be a table of keys; cannot apply the override {key!r}.")
            node.setdefault("excitation", {})[parts[2]] = value
        return
    if len(parts) == 4 and parts[:2] == ["detection", "detectors"]:
        det = data.setdefault("detection", {})
        if not isinstance(det, dict):
            raise ConfigError(f"[detection] must be a table of keys; cannot apply the override {key!r}.")
        det.setdefault("detectors", {}).setdefault(parts[2], {})[parts[3]] = value
        return
    sections = ("node_a", "node_b", "nodes", "detection", "interference", "station")
    if len(parts) != 2:
        raise ConfigError(f"Override key {key!r} (overrides / --set) has too many dots: a link key is 'key' (top "
                          f"level), 'section.key' with sections {', '.join(sections)}, 'node_x.path.NAME.key' or "
                          "'detection.detectors.NAME.key', e.g. 'detection.efficiency'.")
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


def _concrete_float(key: str, x: Any) -> float:
    """``float(x)`` of a concrete scalar leaf; ConfigError naming ``key`` for a traced or batched one."""
    if isinstance(x, jax.core.Tracer):
        raise ConfigError(f"{key} is a traced JAX value (inside jit, vmap or grad): the dict / TOML form of a "
                          "link needs concrete numbers; convert it outside the transformation.")
    if np.ndim(x) != 0:
        raise ConfigError(f"{key} holds an array of shape {np.shape(x)} (a batch of values): the dict / TOML "
                          "form holds one number per key; pick one point first, e.g. "
                          "jax.tree_util.tree_map(lambda x: x[i], link).")
    return float(x)


def link_to_dict(link: Link) -> dict[str, Any]:
    """The dict form of ``link`` (concrete scalar leaves only: ConfigError naming a traced or batched leaf)."""

    num = _concrete_float

    def sec(name: str, obj: Any, spec: dict[str, KeySpec]) -> dict[str, Any]:
        return {k: num(f"{name}.{k}", getattr(obj, k)) for k in spec
                if key_applies(k, link.protocol, link.encoding)}

    def node(name: str, n: NodeParams) -> dict[str, Any]:
        out = sec(name, n, SCHEMA[name])
        if n.species:
            out = {"species": n.species, "photon_line": n.photon_line, **out}
        if n.memory_decay != "exponential":
            out["memory_decay"] = n.memory_decay
        if n.excitation is not None:
            ex = n.excitation
            out["excitation"] = {k: num(f"{name}.excitation.{k}", getattr(ex, k))
                                 for k in element_params(ExcitationParams)}
            out["excitation"]["pulse_shape"] = ex.pulse_shape
            out.pop("excitation_probability", None)
            out.pop("multi_photon_probability", None)
        if n.fiber_coupling:
            out["fiber_coupling"] = n.fiber_coupling
        else:
            out.pop("numerical_aperture", None)
            out.pop("mode_matching", None)
        if n.path:
            out["path"] = []
            for nm, el in zip(n.path_names, n.path):
                entry = el.to_dict(f"{name}.path.{nm}")
                out["path"].append({"element": entry.pop("element"), "name": nm, **entry})
        return out

    d: dict[str, Any] = {"protocol": link.protocol}
    if link.protocol == "two_photon":
        d["encoding"] = link.encoding
    if link.name:
        d["name"] = link.name
    d["attempt_rate_hz"] = num("attempt_rate_hz", link.attempt_rate_hz)
    d["node_a"] = node("node_a", link.node_a)
    d["node_b"] = node("node_b", link.node_b)
    d["detection"] = {"kind": link.detection.kind, **sec("detection", link.detection, SCHEMA["detection"])}
    if link.detection.time_resolved_correction:
        d["detection"]["time_resolved_correction"] = True
    own = {nm: {k: num(f"detection.detectors.{nm}.{k}", getattr(dp, k)) for k in _detector_spec()
                if getattr(dp, k) is not None}
           for nm, dp in zip(link.detection.detector_names, link.detection.detectors)}
    own = {k: v for k, v in own.items() if v}
    if own:
        d["detection"]["detectors"] = own
    d["interference"] = sec("interference", link.interference, SCHEMA["interference"])
    d["station"] = sec("station", link.station, SCHEMA["station"])
    return d
