"""Networks in TOML: links between named nodes (any graph), and what to build from them.

The format (a dict of the same shape works too)::

    name = "four-link chain"                 # optional
    nodes = ["alice", "r1", "r2", "r3", "bob"]   # optional: node names (for a line without ends: in line order)

    [[links]]                                # a link in the ionjax link format (ionjax.config.load_link)
    between = ["alice", "r1"]                # optional: its two nodes (must be in `nodes` if given)
    protocol = "two_photon"
    attempt_rate_hz = 1.0e6
    [links.node_a]
    collection_efficiency = 0.3
    [links.node_b]
    collection_efficiency = 0.3

    [[links]]                                # or numbers: a Werner pair
    between = ["r1", "r2"]
    fidelity = 0.95                          # [0, 1]
    success_probability = 2.0e-4             # (0, 1], per attempt
    length_km = 10.0                         # fiber between its two nodes (station in the middle), default 0
    emission_time_s = 1.0e-6                 # > 0, finite (default 1e-6): an attempt's emission; the round trip
                                             #   to the station is added (below). Or instead:
    # attempt_rate_hz = 1.0e6                # > 0, finite: attempts per second (not with emission_time_s)

    [[links]]                                # or a preset (`ionjax presets`), with dotted overrides
    between = ["r2", "r3"]
    preset = "oxford_2020"
    set = { "detection.efficiency" = 0.8 }

    [chain]                                  # a repeater chain along a path of the links
    ends = ["alice", "bob"]                  # its two end nodes (default: the two ends of a line of links)
    path = ["alice", "r1", "r2", "r3", "bob"]  # optional: the nodes along it (default: the best path is searched)
    figure_of_merit = "rate"                 # how the path is chosen: "rate" (default) | "fidelity"
    min_fidelity = 0.0                       # [0, 1]: "rate" picks the fastest path with at least this fidelity
    max_paths = 256                          # most candidate paths evaluated per pair of ends, [1, 4096]
    schedule = "auto"                        # "nested" (a power-of-2 number of links) | "sequential" | "auto"
    n_links = 4                              # only with a single [[links]] entry: use it n times
    cutoff_s = 0.05                          # memory cutoff, > 0 s; "inf" (default) for none
    t2_s = 1.0                               # dephasing time of stored qubits, > 0 s; default "inf"
    t1_s = 10.0                              # energy relaxation of stored qubits, > 0 s; default "inf"
    memory_decay = "exponential"             # the T2 decay's shape: "exponential" | "gaussian" (quasi-static)
    gate_error = 0.002                       # depolarizing after each swap's CNOT, [0, 1]
    readout_error = 0.001                    # bit flip before each readout, [0, 1]
    swap_success_probability = 1.0           # (0, 1]
    time_step_s = "auto"                     # grid step, > 0 s (finite), or "auto"
    grid_size = "auto"                       # time steps, >= 16, or "auto" (default: refined until accurate)
    multiplexing = 4                         # memory qubits per node and link attempting together (default 1)
    latency = true                           # heralds and swap outcomes travel at 2e5 km/s in fiber (default)
    pipelined = false                        # true: attempts do not wait for their herald (default false)
    purification = "dejmps"                  # protocol of the purification rounds: "dejmps" (default) | "bbpssw"
    purification_rounds = [1, 0]             # rounds per nesting level, integers in [0, 16] (level 0 = the
                                             #   elementary links); default [] (none)
    transfer_error = 0.0                     # depolarizing of moving each network qubit into memory, [0, 1]
    decoupling_t2_s = "inf"                  # > 0 s: dephasing time under dynamical decoupling (replaces t2_s
                                             #   when finite); default "inf"

    [[demands]]                              # or several pairs of end nodes, each joined by its own chain
    ends = ["alice", "bob"]                  #   (with the [chain] settings; not with [chain] ends / path)
    [[demands]]
    ends = ["r1", "bob"]
    path = ["r1", "r2", "r3", "bob"]         # optional, as in [chain]

    [ghz]                                    # a GHZ state fused at a central node from a star of links
    links = [0, 1]                           # indices into [[links]] (default: all); they must share one node
    n_nodes = 3                              # only with a single [[links]] entry: use it n_nodes - 1 times
    gate_error = 0.0
    readout_error = 0.0
    t2_s = "inf"
    cutoff_s = 0.01                          # memory cutoff, > 0 s ("inf", default: none): all links restart
                                             # when the oldest pair reaches it before the last one arrives

    [remote_gate]                            # a CNOT/CZ teleported between two nodes, one pair per gate
    gate = "cz"                              # "cnot" | "cz"
    link = 0                                 # optional index into [[links]]: teleport over that one link
    gate_error = 0.0
    readout_error = 0.0

A file with none of ``[chain]``, ``[[demands]]``, ``[ghz]``, ``[remote_gate]`` evaluates a chain with the
defaults; ``[[demands]]`` without ``[chain]`` evaluate their chains with the ``[chain]`` defaults.

Topology. The links may form any graph (:mod:`ionjax.network.graph`): cycles, branches, stars, separate
pieces, and several links between the same two nodes (parallel links). A link joins two different nodes;
``nodes`` (if given) must list every node of the links and no other. A repeater chain runs between two end
nodes along a *path* (links from one end to the other, no node twice):

* End nodes: ``[chain] ends`` (or ``ionjax network FILE --ends A B``), or one pair per ``[[demands]]`` entry.
  Without them, the links must form one line (connected, no node with three or more links, no cycle, no
  parallel links), and its two ends are the chain's ends: from the end of the lowest-indexed link (the order of
  the links in the file does not matter), or as ``nodes`` lists them if given (in line order, either end
  first; another order is refused). A graph that is not a line, with no ends, is refused, naming why it is not
  a line and the candidate end nodes. End nodes must be nodes of the graph, two different ones, in the same
  piece.
* The path: ``path`` (validated: each node once, consecutive nodes joined by a link, from one end to the
  other; either direction is read from ``ends[0]``), or else every simple path between the ends, fewest links
  first, at most ``max_paths`` (a :class:`~ionjax.network.graph.PathWarning` and a line in ``warnings`` when
  there are more). Parallel links give one candidate each, so a given path over parallel links also takes the
  best of them.
* Choosing: each candidate is evaluated as a repeater chain (its links in path order) and the best by
  ``figure_of_merit`` is chosen: ``"rate"``, the highest end-to-end rate among the candidates whose fidelity
  is at least ``min_fidelity``; ``"fidelity"``, the highest fidelity. When none reaches ``min_fidelity``, the
  most faithful one is shown, with a ``PathWarning``, a line in ``warnings`` and ``meets_min_fidelity =
  false``. Ties go to the higher other figure, then to fewer links, then to the earlier candidate.
* The schedule: left out (``"auto"``), nested for a path with a power-of-2 number of links and sequential
  otherwise. ``"nested"`` given explicitly skips the candidates it cannot run (a note says how many) and is
  refused when it can run none; ``"sequential"`` runs any path.
* Purification (:func:`~ionjax.network.repeater_chain`'s ``purification_rounds``): a path has ``log2 N + 1``
  nesting levels (nested) or ``N`` (sequential) for ``N`` links; candidates with fewer levels than the last
  level with rounds are skipped (a note says how many), and refused when none is left.

The result of a chain (:func:`run_network`'s ``chain``, or each entry of ``demands``) records its ends
(``between``), the chosen ``path`` (node names) and its ``links`` (the index of the link used for each hop;
with ``n_links``, ``n_links`` times 0), and ``candidates``: per candidate path its ``path``, ``links``,
``schedule``, ``fidelity``, ``rate_hz`` and whether it was ``chosen``. :func:`format_network` prints the
chosen path and, when there were several, a table of the candidates.

Attempt times of numbers links. ``attempt_rate_hz`` (if given) is used as is: with ``[chain] latency = true``
an attempt round lasts ``1 / attempt_rate_hz + L / c`` (``c`` =
:data:`~ionjax.network.chain.FIBER_LIGHT_SPEED_KM_S`, ``L`` = ``length_km``). Otherwise an attempt lasts the
emission time plus the round trip to the station in the middle: ``emission_time_s + L / c``. In a chain with
``latency = true`` the link attempts at ``1 / emission_time_s`` and the chain adds ``L / c`` to each round
(``pipelined = true``: rounds follow every ``emission_time_s``, each herald ``L / c`` later); with ``latency =
false`` (and no pipelining) its rate is ``1 / (emission_time_s + L / c)`` directly, so the attempt still lasts
the round trip. The link table, ``[ghz]`` and a remote gate over one link (which model no latency) take
``1 / (emission_time_s + L / c)`` too. A link given in the link format sets its own attempt rate.

The remote gate. Without ``link``, the gate acts between the two ends of the
chain and consumes the end-to-end pair the repeater chain delivers, at the
chain's rate (the chain of ``[chain]``, or one with the ``[chain]`` defaults if
that section is absent; with a single link and no ``n_links``, that link's pair).
It needs one chain: on a graph that is not a line it needs ``[chain] ends`` (or a
single ``[[demands]]`` entry). With ``link = i``, it consumes the pairs of ``links[i]``
between that link's two nodes. The result names the pair (``pair``, e.g.
``"alice-bob"``) and where it comes from (``pair_source``). ``[ghz]`` needs its links to form a star.

The time grid. With ``grid_size`` left out (``"auto"``) and ``time_step_s =
"auto"``, the grid is refined until it is accurate (:mod:`ionjax.network.chain`);
a ``grid_size`` or ``time_step_s`` given explicitly is used as is, and a grid too
coarse or too short for the waiting times is reported: a
:class:`~ionjax.network.chain.GridWarning` (Python) and a line in the result's
``warnings`` list (shown by :func:`format_network`), naming the value that would do.
Each candidate path runs on its own grid; the chosen one's grid warnings are reported as
above, and one more line says when other candidates' grids were too coarse (their
figures, which rank them, may be off).

Every problem (an unknown key or section, a section that is not a table, a value that is not a number, a
boolean, NaN, an integer too large for a float, an infinity where none is allowed, a value out of range, end
nodes or a path the graph does not have, a graph without ends that is not a line, no links) is a
:class:`~ionjax.errors.ConfigError` naming the key (for a link, which one: ``links[1].fidelity``; for a
demand, ``demands[0].ends``), the value and the allowed range, with "Did you mean" for a misspelt key or node.
"""

from __future__ import annotations

import copy
import difflib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._io import json_safe, read_toml
from ..errors import ConfigError
from .graph import (
    FIGURES_OF_MERIT,
    MAX_PATHS,
    Graph,
    GraphPath,
    PathWarning,
    choose_path,
    evaluate_paths,
    graph_from_links,
    line,
    paths_along,
    pieces,
    simple_paths,
    why_not_a_line,
)
from .purify import PURIFICATIONS

__all__ = ["NetworkSpec", "Demand", "load_network", "run_network", "format_network", "DEFAULT_EMISSION_TIME_S"]

INF = math.inf


class _Key(NamedTuple):
    """One key of a section: default, range (``lo``/``hi``; an ``int`` ``lo`` makes an integer key),
    open ends, meaning, and ``choices`` for a string key."""

    default: Any
    lo: Any = None
    hi: Any = None
    lo_open: bool = False
    hi_open: bool = False
    meaning: str = ""
    choices: tuple[str, ...] = ()


def _prob(meaning: str, lo_open: bool = False) -> _Key:
    return _Key(0.0 if not lo_open else 1.0, 0.0, 1.0, lo_open, False, meaning)


_CHAIN_KEYS: dict[str, _Key] = {
    "schedule": _Key("auto", meaning="how links are joined; auto: nested for a power-of-2 number of links, "
                     "else sequential", choices=("nested", "sequential", "auto")),
    "n_links": _Key(None, 1, 1 << 20, meaning="number of links (with a single [[links]] entry)"),
    "ends": _Key(None, meaning="the chain's two end nodes"),
    "path": _Key(None, meaning="the nodes along the chain, end to end"),
    "figure_of_merit": _Key("rate", meaning="how the path between the ends is chosen", choices=FIGURES_OF_MERIT),
    "min_fidelity": _prob("least end-to-end fidelity of a path chosen by rate"),
    "max_paths": _Key(MAX_PATHS, 1, 1 << 12, meaning="most candidate paths evaluated per pair of end nodes"),
    "cutoff_s": _Key(INF, 0.0, INF, True, False, 'memory cutoff, s; "inf" for none'),
    "t2_s": _Key(INF, 0.0, INF, True, False, 'coherence time of stored qubits, s; "inf" for none'),
    "t1_s": _Key(INF, 0.0, INF, True, False, 'energy relaxation time of stored qubits, s; "inf" for none'),
    "memory_decay": _Key("exponential", meaning="shape of the T2 decay", choices=("exponential", "gaussian")),
    "gate_error": _prob("depolarizing probability after each swap's CNOT"),
    "readout_error": _prob("bit-flip probability before each readout"),
    "swap_success_probability": _prob("probability that a Bell measurement succeeds", lo_open=True),
    "time_step_s": _Key("auto", 0.0, INF, True, True, 'grid step, s, or "auto"'),
    "grid_size": _Key("auto", 16, 1 << 22, meaning='number of time steps, or "auto"'),
    "multiplexing": _Key(1, 1, 1 << 16, meaning="memory qubits per node and link attempting together per round"),
    "latency": _Key(True, meaning="heralds and swap outcomes travel at 2e5 km/s in fiber (true | false)"),
    "pipelined": _Key(False, meaning="attempts follow without waiting for their herald (true | false)"),
    "purification": _Key("dejmps", meaning="protocol of the purification rounds", choices=PURIFICATIONS),
    "purification_rounds": _Key((), meaning="purification rounds per nesting level, level 0 = the elementary "
                                "links"),
    "transfer_error": _prob("depolarizing probability of moving each node's network qubit into its memory qubit"),
    "decoupling_t2_s": _Key(INF, 0.0, INF, True, False, 'dephasing time under dynamical decoupling, s (replaces '
                            't2_s when finite); "inf" for none'),
}
#: Most purification rounds at one nesting level (``chain.purification_rounds``).
MAX_PURIFICATION_ROUNDS = 16
_GHZ_KEYS: dict[str, _Key] = {
    "links": _Key(None, meaning="indices into [[links]]"),
    "n_nodes": _Key(None, 2, 8, meaning="number of nodes (with a single [[links]] entry)"),
    "gate_error": _prob("depolarizing probability after the centre's CNOTs"),
    "readout_error": _prob("bit-flip probability before each readout"),
    "t2_s": _Key(INF, 0.0, INF, True, False, 'coherence time of stored qubits, s; "inf" for none'),
    "cutoff_s": _Key(INF, 0.0, INF, True, False, 'memory cutoff, s; "inf" for none'),
    "time_step_s": _Key("auto", 0.0, INF, True, True, 'grid step, s, or "auto"'),
    "grid_size": _Key(1 << 14, 16, 1 << 22, meaning="number of time steps"),
}
_GATE_KEYS: dict[str, _Key] = {
    "gate": _Key("cnot", meaning="the teleported gate", choices=("cnot", "cz")),
    "link": _Key(None, 0, 1 << 20, meaning="index into [[links]]; leave out for the end-to-end pair"),
    "gate_error": _prob("depolarizing probability after each local two-qubit gate"),
    "readout_error": _prob("bit-flip probability before each readout"),
}
_SECTIONS = {"chain": _CHAIN_KEYS, "ghz": _GHZ_KEYS, "remote_gate": _GATE_KEYS}
_TOP_KEYS = ("name", "nodes", "links", "chain", "demands", "ghz", "remote_gate")
_DEMAND_KEYS = ("ends", "path")
_NUMBER_LINK_KEYS = ("between", "name", "fidelity", "success_probability", "attempt_rate_hz", "emission_time_s",
                     "length_km")
_PRESET_LINK_KEYS = ("between", "name", "preset", "set")
_NUMBER_LINK_SPECS = {
    "fidelity": _Key(None, 0.0, 1.0, False, False, "pair fidelity"),
    "success_probability": _Key(None, 0.0, 1.0, True, False, "per attempt"),
    "attempt_rate_hz": _Key(None, 0.0, INF, True, True, "attempts per second"),
    "emission_time_s": _Key(None, 0.0, INF, True, True, "an attempt's emission, s (the round trip is added)"),
    "length_km": _Key(0.0, 0.0, INF, False, True, "fiber between the link's two nodes, km"),
}
#: An attempt's emission time when a numbers link gives neither ``attempt_rate_hz`` nor ``emission_time_s``, s.
DEFAULT_EMISSION_TIME_S = 1.0e-6


class Demand(NamedTuple):
    """A pair of end nodes to join with a repeater chain, and the candidate paths between them.

    Attributes:
        label: where it comes from: ``"chain"`` (``[chain] ends`` / ``path``, or the line the links form) or
            ``"demands[j]"``.
        ends: the two end nodes, in order.
        path: the nodes of the path given in the file (None: searched).
        candidates: the paths to evaluate (:class:`~ionjax.network.graph.GraphPath`); one when the links form
            a line or the path is given without parallel links.
    """

    label: str
    ends: tuple[str, str]
    path: tuple[str, ...] | None
    candidates: tuple[GraphPath, ...]


@dataclass(frozen=True)
class NetworkSpec:
    """A validated network description (plain Python; evaluate with :func:`run_network`).

    Attributes:
        name: the network's name.
        nodes: node names (in chain order when the links form a chain).
        links: one entry per ``[[links]]``: a :class:`~ionjax.config.Link` or a numbers dict.
        link_nodes: each link's two nodes.
        chain, ghz, remote_gate: the validated sections (None where absent). ``remote_gate["pair"]`` says
            which pair the gate consumes: ``"end-to-end"`` or ``"link"``.
        link_labels: ``"a-b"`` per link.
        chain_implied: True when ``[chain]`` was not given but is evaluated (with its defaults): no section at
            all, ``[[demands]]``, or a remote gate over the end-to-end pair.
        demands: the pairs of end nodes the chain joins (:class:`Demand`): one, from ``[chain]`` or the line of
            links, or one per ``[[demands]]`` entry; empty without a chain.
        demands_given: True when the file has ``[[demands]]`` (the result lists ``demands``, not ``chain``).
        graph: the :class:`~ionjax.network.graph.Graph` of the links.
        notes: what loading had to say (a capped path search, candidates a nested schedule cannot run); also
            warned as :class:`~ionjax.network.graph.PathWarning` and listed in the result's ``warnings``.
    """

    name: str
    nodes: tuple[str, ...]
    links: tuple[Any, ...]
    link_nodes: tuple[tuple[str, str], ...]
    chain: dict[str, Any] | None = None
    ghz: dict[str, Any] | None = None
    remote_gate: dict[str, Any] | None = None
    link_labels: tuple[str, ...] = field(default=())
    chain_implied: bool = False
    demands: tuple[Demand, ...] = ()
    demands_given: bool = False
    graph: Graph | None = None
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- values
def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _unknown(path: str, key: str, allowed: Any) -> ConfigError:
    return ConfigError(f"Unknown key '{path}{key}'." + _did_you_mean(key, allowed)
                       + f" Allowed: {', '.join(allowed)}.")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return f"a {type(value).__name__}"


def _range_text(k: _Key) -> str:
    lb, rb = ("(" if k.lo_open else "["), (")" if k.hi_open else "]")
    return f"{lb}{k.lo:g}, {k.hi:g}{rb}"


def _value(path: str, value: Any, k: _Key) -> Any:
    """Check one value against its :class:`_Key`; a string default (``"auto"``) is also accepted as is."""
    if isinstance(k.default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false ({k.meaning}), got {_kind(value)}: {value!r}.")
        return value
    if k.choices:
        if not isinstance(value, str) or value not in k.choices:
            raise ConfigError(f"{path} = {value!r} is not known; allowed: {', '.join(k.choices)} ({k.meaning})."
                              + _did_you_mean(value, k.choices))
        return value
    if k.lo is None:
        return value
    is_int = isinstance(k.lo, int)
    auto = f" or {k.default!r}" if isinstance(k.default, str) else ""
    want = ("an integer" if is_int else "a number") + auto
    if isinstance(value, str):
        low = value.strip().lower()
        if isinstance(k.default, str) and low == k.default:
            return k.default
        if low in ("inf", "+inf", "infinity") and not is_int:
            value = INF
        else:
            raise ConfigError(f"{path} must be {want} ({k.meaning}), got the string {value!r}.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path} must be {want} ({k.meaning}), got {_kind(value)}: {value!r}.")
    try:
        v = float(value)
    except OverflowError:
        raise ConfigError(f"{path} is an integer with {len(str(abs(value)))} digits, too large to be a number; "
                          f"allowed {_range_text(k)} ({k.meaning}).") from None
    if math.isnan(v):
        raise ConfigError(f"{path} = nan is not a number; allowed {_range_text(k)} ({k.meaning}).")
    if is_int:
        if not (isinstance(value, int) or v.is_integer()):
            raise ConfigError(f"{path} must be {want} ({k.meaning}), got {value!r}.")
        value = int(value)
    if v < k.lo or v > k.hi or (k.lo_open and v == k.lo) or (k.hi_open and v == k.hi):
        fix = " Give a finite number." if math.isinf(v) and k.hi_open else ""
        raise ConfigError(f"{path} = {value!r} is out of range: allowed {_range_text(k)} ({k.meaning}).{fix}")
    return value


def _section(name: str, given: Any, spec: dict[str, _Key]) -> dict[str, Any]:
    if isinstance(given, list) and given and all(isinstance(x, dict) for x in given):
        raise ConfigError(f"[{name}] must be one table, got an array of {len(given)} tables ([[{name}]]); "
                          f"write [{name}] once.")
    if not isinstance(given, dict):
        raise ConfigError(f"[{name}] must be a table of keys, got {_kind(given)}: {given!r}; write it as a "
                          f"[{name}] section.")
    for k in given:
        if k not in spec:
            raise _unknown(f"{name}.", k, list(spec))
    return {k: (_value(f"{name}.{k}", given[k], s) if k in given else s.default) for k, s in spec.items()}


def _check_numbers(obj: Any, path: str) -> None:
    """Refuse, anywhere in the file, NaN and integers too large for a float (naming the key)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_numbers(v, f"{path}[{i}]")
    elif isinstance(obj, int) and not isinstance(obj, bool):
        try:
            float(obj)
        except OverflowError:
            raise ConfigError(f"{path} is an integer with {len(str(abs(obj)))} digits, too large to be a number "
                              "(a float holds up to about 1.8e308); give a value in the key's range.") from None
    elif isinstance(obj, float) and math.isnan(obj):
        raise ConfigError(f"{path} = nan is not a number; give a number in the key's range.")


def _load_dict(source: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return copy.deepcopy(source)
    return read_toml(source, "network file")


def _parse_override(data: dict[str, Any], key: str, value: Any) -> None:
    from ..config import _parse_value

    section, sep, leaf = key.partition(".")
    if not sep or section not in _SECTIONS:
        raise ConfigError(f"--set key {key!r} must look like 'chain.KEY', 'ghz.KEY' or 'remote_gate.KEY'.")
    sec = data.setdefault(section, {})
    if not isinstance(sec, dict):
        raise ConfigError(f"--set {key}: [{section}] in the file is not a table ({_kind(sec)}).")
    if isinstance(value, (list, tuple)):  # chain.ends from --ends
        sec[leaf] = list(value)
        return
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):  # TOML's booleans
        sec[leaf] = value.strip().lower() == "true"
        return
    sec[leaf] = _parse_value(value)


# ----------------------------------------------------------------------------- links
def _load_link_entry(i: int, entry: Any) -> Any:
    from ..config import load_link

    if not isinstance(entry, dict):
        raise ConfigError(f"links[{i}] must be a table ([[links]] entry), got {_kind(entry)}: {entry!r}.")
    if "name" in entry and not isinstance(entry["name"], str):
        raise ConfigError(f"links[{i}].name must be a string, got {_kind(entry['name'])}: {entry['name']!r}.")
    body = {k: v for k, v in entry.items() if k != "between"}
    if "fidelity" in entry or "success_probability" in entry:
        for k in entry:
            if k not in _NUMBER_LINK_KEYS:
                raise _unknown(f"links[{i}].", k, _NUMBER_LINK_KEYS)
        for k in ("fidelity", "success_probability"):
            if k not in entry:
                raise ConfigError(f"links[{i}] given as numbers needs {k!r} (and optionally attempt_rate_hz).")
        out = {k: (float(_value(f"links[{i}].{k}", entry[k], s)) if k in entry else s.default)
               for k, s in _NUMBER_LINK_SPECS.items()}
        if out["attempt_rate_hz"] is not None and out["emission_time_s"] is not None:
            raise ConfigError(f"links[{i}] gives both attempt_rate_hz = {entry['attempt_rate_hz']!r} and "
                              f"emission_time_s = {entry['emission_time_s']!r}; give one: attempt_rate_hz "
                              "(attempts per second; an attempt round then lasts 1/attempt_rate_hz + L/c with "
                              "[chain] latency) or emission_time_s (the round trip to the station is added).")
        return out
    if "preset" in entry:
        for k in entry:
            if k not in _PRESET_LINK_KEYS:
                raise _unknown(f"links[{i}].", k, _PRESET_LINK_KEYS)
    try:
        if "preset" in entry:
            from .. import presets

            overrides = entry.get("set", {})
            if not isinstance(overrides, dict):
                raise ConfigError(f"links[{i}].set must be a table of dotted keys, got {overrides!r}.")
            if not isinstance(entry["preset"], str):
                raise ConfigError(f"links[{i}].preset must be a preset name (a string), got {entry['preset']!r}.")
            return load_link(presets.as_dict(entry["preset"]), overrides=overrides)
        return load_link(body)
    except ConfigError as exc:
        raise ConfigError(f"links[{i}]: {exc}") from None
    except (TypeError, OverflowError, AttributeError) as exc:  # a wrong type deep in a link table
        raise ConfigError(f"links[{i}]: a value has the wrong type or size ({exc}); check the link's keys "
                          "against the link format (ionjax.config).") from None


def _link_nodes(raw_links: list[Any], nodes: list[str] | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Each link's two nodes, and the node list (given or derived); checks names, not the topology."""
    has_between = ["between" in e for e in raw_links]
    if not any(has_between):
        n_needed = len(raw_links) + 1
        if nodes is None:
            nodes = [f"n{i}" for i in range(n_needed)]
        elif len(nodes) != n_needed:
            raise ConfigError(f"nodes lists {len(nodes)} nodes, but {len(raw_links)} links without `between` join "
                              f"consecutive nodes and need {n_needed}; give each link its `between`.")
        return nodes, [(nodes[i], nodes[i + 1]) for i in range(len(raw_links))]
    known = set(nodes) if nodes is not None else None
    link_nodes: list[tuple[str, str]] = []
    for i, e in enumerate(raw_links):
        b = e.get("between")
        if b is None:
            raise ConfigError(f"links[{i}] has no `between` while other links do: give every link its two "
                              "nodes, or none (then link i joins nodes i and i + 1).")
        if not isinstance(b, list) or len(b) != 2 or not all(isinstance(x, str) and x for x in b):
            raise ConfigError(f"links[{i}].between must name two nodes, e.g. [\"alice\", \"bob\"], got {b!r}.")
        if b[0] == b[1]:
            raise ConfigError(f"links[{i}].between = {b!r} joins node {b[0]!r} to itself; a link joins two "
                              "different nodes.")
        for x in b:
            if known is not None and x not in known:
                raise ConfigError(f"links[{i}].between names the unknown node {x!r}."
                                  + _did_you_mean(x, sorted(known)) + f" Nodes: {', '.join(nodes)}; add it to "
                                  "nodes or fix the name.")
        link_nodes.append((b[0], b[1]))
    if nodes is None:
        nodes = []
        for a, b in link_nodes:
            nodes += [x for x in (a, b) if x not in nodes]
    else:
        used = {x for ab in link_nodes for x in ab}
        lonely = [x for x in nodes if x not in used]
        if lonely:
            raise ConfigError(f"nodes lists {', '.join(map(repr, lonely))}, which no link joins (a disconnected "
                              "node); remove it from nodes or add a link to it.")
    return nodes, link_nodes


def _show(idx: Any, link_nodes: Any) -> str:
    return ", ".join(f"links[{i}] {'-'.join(link_nodes[i])}" for i in idx)


def _toml_list(names: Any) -> str:
    return "[" + ", ".join(f'"{x}"' for x in names) + "]"


def _node_names(key: str, value: Any, graph: Graph, exactly: int | None = None) -> tuple[str, ...]:
    """Check a list of node names (``chain.ends``, ``demands[0].path``): strings, nodes of the graph, no repeats."""
    what = "two node names, the chain's ends" if exactly == 2 else "at least two node names, end to end"
    example = _toml_list(graph.nodes[:2] if exactly == 2 else graph.nodes[:3])
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise ConfigError(f"{key} must be an array of {what}, e.g. {key.rpartition('.')[2]} = {example}; got "
                          f"{_kind(value)}: {value!r}.")
    if (exactly is not None and len(value) != exactly) or len(value) < 2:
        raise ConfigError(f"{key} = {value!r} has {len(value)} node name{'s' if len(value) != 1 else ''}; give "
                          f"{what}, e.g. {example}.")
    for x in value:
        if x not in graph.nodes:
            raise ConfigError(f"{key} names the node {x!r}, which is not in the network."
                              + _did_you_mean(x, graph.nodes) + f" Nodes: {', '.join(graph.nodes)}.")
    twice = sorted({x for x in value if value.count(x) > 1})
    if twice:
        if exactly == 2:
            raise ConfigError(f"{key} = {value!r} names the node {twice[0]!r} twice; a chain joins two different "
                              f"end nodes (nodes: {', '.join(graph.nodes)}).")
        raise ConfigError(f"{key} = {value!r} visits {', '.join(map(repr, twice))} more than once; a repeater "
                          "chain's path visits each node once.")
    return tuple(value)


def _demand(label: str, ends: Any, path: Any, graph: Graph, max_paths: int) -> tuple[Demand, list[str]]:
    """One pair of end nodes (and the path if given), checked against the graph, with its candidate paths and
    what the search had to say (a capped search)."""
    key = "chain" if label == "chain" else label
    notes: list[str] = []
    if ends is not None:
        ends = _node_names(f"{key}.ends", ends, graph, exactly=2)
    if path is not None:
        path = _node_names(f"{key}.path", path, graph)
        if ends is None:
            ends = (path[0], path[-1])
        elif (path[0], path[-1]) == ends[::-1]:
            path = path[::-1]  # the same path, read from the first end
        elif (path[0], path[-1]) != ends:
            raise ConfigError(f"{key}.path = {list(path)!r} runs from {path[0]!r} to {path[-1]!r}, but {key}.ends "
                              f"= {list(ends)!r} (or --ends) names other end nodes; make the path start and end "
                              f"at the ends, or leave {key}.path out to search the paths between the ends.")
    parts = pieces(graph)
    where = {x: k for k, piece in enumerate(parts) for x in piece}
    a, b = ends
    if where[a] != where[b]:
        shown = "; ".join(", ".join(piece) for piece in parts)
        raise ConfigError(f"{key}.ends = {list(ends)!r}: no path joins {a!r} and {b!r}; the links fall into "
                          f"{len(parts)} separate pieces (nodes {shown}). Choose two ends in one piece, or add "
                          "the link that joins the pieces.")
    if path is not None:
        try:
            cands, capped = paths_along(graph, path, max_paths)
        except ConfigError as exc:
            raise ConfigError(f"{key}.path = {list(path)!r}: {exc}") from None
    else:
        cands, capped = simple_paths(graph, a, b, max_paths)
    if capped:
        notes.append(f"{label} {a}-{b}: more than {max_paths} candidate paths; only the {max_paths} with the fewest "
                     "links are evaluated (raise chain.max_paths, or give the path).")
    return Demand(label, ends, path, tuple(cands)), notes


def _no_ends_error(graph: Graph, reason: str, why: str) -> ConfigError:
    leaves = graph.leaves()
    pick = leaves[:2] if len(leaves) >= 2 else graph.nodes[:2]
    one = f" (with one link: {', '.join(leaves)})" if leaves else ""
    return ConfigError(f"{why}, but {reason}, so the chain's end nodes are not known. Give them: [chain] ends = "
                       f"{_toml_list(pick)} (or --ends {' '.join(pick)}), or [[demands]] with one `ends` per "
                       f"pair. Nodes: {', '.join(graph.nodes)}{one}.")


def _demands(data: dict[str, Any], chain: dict[str, Any], graph: Graph, nodes: list[str], nodes_given: bool,
             n_links: int, why: str) -> tuple[list[Demand], list[str], list[str]]:
    """The pairs of end nodes the chain joins, with their candidate paths; the node list (in line order when the
    links form a line and no ends are given); notes. ``n_links``: links of the chain when one link is repeated."""
    raw = data.get("demands")
    entries: list[tuple[str, Any, Any]] = []
    demands: list[Demand] = []
    notes: list[str] = []
    if raw is not None:
        if chain["ends"] is not None or chain["path"] is not None:
            given = " and ".join(f"chain.{k} = {chain[k]!r}" for k in ("ends", "path") if chain[k] is not None)
            raise ConfigError(f"{given} (or --ends) and [[demands]] both choose end nodes; give one of them: "
                              "[chain] ends for one pair, [[demands]] for several.")
        if isinstance(raw, dict):
            raise ConfigError("demands must be an array of tables ([[demands]], one per pair of end nodes), got one "
                              "table ([demands]); write [[demands]] before each pair.")
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"demands must be a non-empty array of tables ([[demands]] with ends = [a, b]), got "
                              f"{_kind(raw)}: {raw!r}.")
        for j, d in enumerate(raw):
            if not isinstance(d, dict):
                raise ConfigError(f"demands[{j}] must be a table ([[demands]] with ends = [a, b]), got "
                                  f"{_kind(d)}: {d!r}.")
            for k in d:
                if k not in _DEMAND_KEYS:
                    raise _unknown(f"demands[{j}].", k, _DEMAND_KEYS)
            if "ends" not in d and "path" not in d:
                raise ConfigError(f"demands[{j}] needs `ends` (the two end nodes, e.g. ends = "
                                  f"{_toml_list(graph.nodes[:2])}) or `path`.")
            entries.append((f"demands[{j}]", d.get("ends"), d.get("path")))
    elif chain["ends"] is not None or chain["path"] is not None:
        entries.append(("chain", chain["ends"], chain["path"]))
    else:  # no ends given: the line the links form, end to end
        ln = line(graph)
        if ln is None:
            raise _no_ends_error(graph, why_not_a_line(graph) or "", why)
        if nodes_given and len(graph.links) > 1:
            if list(ln.nodes) == nodes[::-1]:
                ln = GraphPath(ln.nodes[::-1], ln.links[::-1])  # the same line, read from the other end
            elif list(ln.nodes) != nodes:
                raise ConfigError(f"nodes = {nodes!r} does not follow the links: they form the chain "
                                  f"{'-'.join(ln.nodes)}. List nodes in chain order, nodes = {list(ln.nodes)!r} "
                                  "(or leave nodes out), or give the end nodes: [chain] ends = "
                                  f"{_toml_list([nodes[0], nodes[-1]])}.")
        if len(graph.links) > 1:
            nodes = list(ln.nodes)
        demands.append(Demand("chain", (ln.nodes[0], ln.nodes[-1]), None, (ln,)))
    for label, ends, path in entries:
        d, more = _demand(label, ends, path, graph, chain["max_paths"])
        demands.append(d)
        notes += more
    if chain["schedule"] == "nested":  # the nested schedule runs only paths of 2^k links
        kept = []
        for d in demands:
            ok = tuple(p for p in d.candidates if _power_of_2(n_links or len(p.links)))
            if not ok:
                n = sorted({n_links or len(p.links) for p in d.candidates})
                which = (f"got {n[0]}" if len(d.candidates) == 1 else
                         f"but every path for {d.label} {'-'.join(d.ends)} has {', '.join(map(str, n))} links")
                raise ConfigError(f"chain.schedule = 'nested' needs a power-of-2 number of links, {which}; use "
                                  "schedule = 'sequential', or leave schedule out (nested where the number of "
                                  "links is a power of 2, sequential otherwise).")
            if len(ok) < len(d.candidates):
                notes.append(f"{d.label} {'-'.join(d.ends)}: {len(d.candidates) - len(ok)} candidate path(s) "
                             "skipped: chain.schedule = 'nested' needs a power-of-2 number of links (leave "
                             "schedule out to run them sequentially).")
            kept.append(d._replace(candidates=ok))
        demands = kept
    need = _levels_needed(chain["purification_rounds"])
    if need > 1:  # a path has as many levels as its schedule makes (chain._levels): a short path may have fewer
        from .chain import _levels
        from .graph import path_schedule

        kept = []
        for d in demands:
            def levels(p: GraphPath) -> int:
                n = n_links or len(p.links)
                return _levels(path_schedule(n, chain["schedule"]), n)

            ok = tuple(p for p in d.candidates if levels(p) >= need)
            if not ok:
                have = sorted({levels(p) for p in d.candidates})
                raise ConfigError(f"chain.purification_rounds = {chain['purification_rounds']} purifies at nesting "
                                  f"level {need - 1}, but every path for {d.label} {'-'.join(d.ends)} has levels 0 "
                                  f"to {have[-1] - 1} only (nested: log2 N + 1 levels for N links, sequential: N); "
                                  "drop the higher levels, or choose ends further apart.")
            if len(ok) < len(d.candidates):
                notes.append(f"{d.label} {'-'.join(d.ends)}: {len(d.candidates) - len(ok)} candidate path(s) "
                             f"skipped: they have fewer nesting levels than chain.purification_rounds purifies "
                             f"({need}).")
            kept.append(d._replace(candidates=ok))
        demands = kept
    return demands, nodes, notes


def _rounds(value: Any) -> list[int]:
    """``chain.purification_rounds``: a list of integers in [0, MAX_PURIFICATION_ROUNDS], one per nesting level."""
    key, top = "chain.purification_rounds", MAX_PURIFICATION_ROUNDS
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be an array of integers >= 0, one per nesting level (level 0 = the "
                          f"elementary links), e.g. [1, 0]; got {_kind(value)}: {value!r}.")
    for i, r in enumerate(value):
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= top:
            raise ConfigError(f"{key}[{i}] = {r!r} must be an integer in [0, {top}] (purification rounds at "
                              f"nesting level {i}).")
    return list(value)


def _levels_needed(rounds: Sequence[int]) -> int:
    """Nesting levels ``purification_rounds`` purifies at (trailing zeros purify nothing)."""
    return max((i + 1 for i, r in enumerate(rounds) if r), default=0)


def _power_of_2(n: int) -> bool:
    return n >= 1 and not n & (n - 1)


# ----------------------------------------------------------------------------- load
def load_network(source: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> NetworkSpec:
    """Read and validate a network (TOML path or dict; format in the module docstring).

    Args:
        source: a ``.toml`` path or a dict.
        overrides: ``{"chain.cutoff_s": value, ...}`` applied before validation (``--set``); a list value is
            set as is (``{"chain.ends": ["alice", "bob"]}``, ``--ends``).

    Raises:
        ConfigError (a ValueError) naming the key (or the file), the value and the allowed range.
    """
    data = _load_dict(source)
    for key, value in (overrides or {}).items():
        _parse_override(data, key, value)
    for k in data:
        if k not in _TOP_KEYS:
            raise _unknown("", k, _TOP_KEYS)
    _check_numbers(data, "")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {_kind(name)}: {name!r}.")
    raw_links = data.get("links", [])
    if isinstance(raw_links, dict):
        raise ConfigError("links must be an array of tables ([[links]], one per link), got one table ([links]); "
                          "write [[links]] before each link.")
    if not isinstance(raw_links, list) or not raw_links:
        raise ConfigError("A network needs at least one [[links]] entry (a link table, a preset, or numbers "
                          f"fidelity / success_probability / attempt_rate_hz); got {raw_links!r}.")
    links = tuple(_load_link_entry(i, e) for i, e in enumerate(raw_links))

    nodes = data.get("nodes")
    nodes_given = nodes is not None and any("between" in e for e in raw_links)
    if nodes is not None:
        if not isinstance(nodes, list) or not nodes or not all(isinstance(x, str) and x for x in nodes):
            raise ConfigError(f"nodes must be a list of node names (strings), got {nodes!r}.")
        dup = sorted({x for x in nodes if nodes.count(x) > 1})
        if dup:
            raise ConfigError(f"nodes lists {', '.join(map(repr, dup))} more than once; node names must be distinct.")
        nodes = list(nodes)
    nodes, link_nodes = _link_nodes(raw_links, nodes)
    graph = graph_from_links(link_nodes, nodes)

    for sec in ("chain", "ghz", "remote_gate"):
        if sec in data:
            _section(sec, data[sec], _SECTIONS[sec])  # type and key checks first, in file order
    chain_implied = chain_implied_by_default = not any(k in data for k in _SECTIONS)
    chain = ghz = gate = None
    if "remote_gate" in data:
        gate = _section("remote_gate", data["remote_gate"], _GATE_KEYS)
        if gate["link"] is not None and not gate["link"] < len(links):
            raise ConfigError(f"remote_gate.link = {gate['link']} is out of range: there are {len(links)} links "
                              f"(0..{len(links) - 1}); leave it out for the end-to-end pair of the chain.")
        n_chain = len(links)
        if len(links) == 1 and isinstance(data.get("chain"), dict):
            n_chain = data["chain"].get("n_links") or 1
        if gate["link"] is not None:
            gate["pair"] = "link"
        elif n_chain == 1:
            gate["pair"], gate["link"] = "link", 0
        else:
            gate["pair"] = "end-to-end"
            chain_implied = chain_implied or "chain" not in data
    if "demands" in data and "chain" not in data:
        chain_implied = True  # [[demands]] are joined by repeater chains ([chain] defaults)
    demands: list[Demand] = []
    notes: list[str] = []
    if "chain" in data or chain_implied:
        chain = _section("chain", data.get("chain", {}), _CHAIN_KEYS)
        chain["purification_rounds"] = _rounds(chain["purification_rounds"])
        if chain["n_links"] is not None and len(links) > 1 and chain["n_links"] != len(links):
            raise ConfigError(f"chain.n_links = {chain['n_links']} repeats a single link; with {len(links)} "
                              "[[links]] entries leave it out (the chain runs along a path of the links).")
        for_gate = "chain" not in data and "demands" not in data and not chain_implied_by_default
        why = ("[remote_gate] without `link` consumes the end-to-end pair of the repeater chain" if for_gate
               else "[chain] evaluates a repeater chain between two end nodes")
        try:
            demands, nodes, notes = _demands(data, chain, graph, nodes, nodes_given,
                                             chain["n_links"] if len(links) == 1 else 0, why)
        except ConfigError as exc:
            if for_gate:
                raise ConfigError(f"{exc} Or set remote_gate.link to teleport over one link.") from None
            raise
        if chain["n_links"] is not None and len(links) > 1:
            for d in demands:
                other = sorted({len(p.links) for p in d.candidates if len(p.links) != chain["n_links"]})
                if other:
                    raise ConfigError(f"chain.n_links = {chain['n_links']} repeats a single link, but the paths for "
                                      f"{d.label} {'-'.join(d.ends)} have {', '.join(map(str, other))} links; leave "
                                      "n_links out (the chain runs along a path of the links).")
        if gate is not None and gate["pair"] == "end-to-end" and len(demands) != 1:
            raise ConfigError(f"[remote_gate] without `link` consumes the end-to-end pair of one repeater chain, but "
                              f"[[demands]] lists {len(demands)} pairs; keep one demand (or give [chain] ends), or "
                              "set remote_gate.link to teleport over one link.")
        for m in notes:
            warnings.warn(m, PathWarning, stacklevel=2)
    if "ghz" in data:
        ghz = _section("ghz", data["ghz"], _GHZ_KEYS)
        idx = ghz["links"]
        if idx is None:
            idx = list(range(len(links)))
        if not isinstance(idx, list) or not idx or not all(isinstance(i, int) and not isinstance(i, bool)
                                                           for i in idx):
            raise ConfigError(f"ghz.links must be a non-empty list of indices into [[links]], got {idx!r}.")
        for i in idx:
            if not 0 <= i < len(links):
                raise ConfigError(f"ghz.links names links[{i}], but there are {len(links)} links "
                                  f"(0..{len(links) - 1}).")
        dup = sorted({i for i in idx if idx.count(i) > 1})
        if dup:
            raise ConfigError(f"ghz.links = {idx} lists links[{dup[0]}] more than once; each link of the star once.")
        ghz["links"] = idx
        if ghz["n_nodes"] is not None and len(idx) > 1:
            raise ConfigError("ghz.n_nodes repeats a single link; with several links leave it out "
                              "(n_nodes = number of links + 1).")
        if ghz["n_nodes"] is None and len(idx) + 1 > 8:
            raise ConfigError(f"ghz fuses at most 7 links (8 nodes), got {len(idx)}.")
        if len(idx) > 1:
            seen: dict[frozenset, int] = {}
            for i in idx:
                key = frozenset(link_nodes[i])
                if key in seen:
                    raise ConfigError(f"ghz.links {idx}: links[{seen[key]}] and links[{i}] both join "
                                      f"{' and '.join(link_nodes[i])} (parallel links); a GHZ star needs one link "
                                      "per leaf node.")
                seen[key] = i
            common = set(link_nodes[idx[0]])
            for i in idx[1:]:
                common &= set(link_nodes[i])
            if not common:
                raise ConfigError(f"ghz.links {idx} do not form a star: no node is shared by all of them "
                                  f"({_show(idx, link_nodes)}).")
            ghz["center"] = sorted(common)[0]
        elif ghz["n_nodes"] is None:
            ghz["n_nodes"] = 2
    labels = tuple("-".join(ln) for ln in link_nodes)
    return NetworkSpec(name, tuple(nodes), links, tuple(link_nodes), chain, ghz, gate, labels,
                       chain_implied and chain is not None and "chain" not in data, tuple(demands),
                       "demands" in data and chain is not None, graph, tuple(notes))


# ----------------------------------------------------------------------------- run
def _num(x: Any) -> Any:
    """A parameter for JSON: finite numbers as is, infinities as the strings ``"inf"`` / ``"-inf"``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return x
    x = float(x) if isinstance(x, float) else x
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _collect(fn: Any, sink: list[str]) -> Any:
    """Run ``fn()``; its warnings go to ``sink`` and are warned again (GridWarning and the like)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    for w in caught:
        sink.append(str(w.message))
        warnings.warn(str(w.message), w.category, stacklevel=3)
    return out


def _link_length(link: Any) -> float:
    """Fiber between a link's two nodes, km: a numbers link's ``length_km``; a link file's two fibers to the
    station (``node_a.fiber_length_km + node_b.fiber_length_km``)."""
    if isinstance(link, dict):
        return float(link.get("length_km", 0.0))
    return float(np.asarray(link.node_a.fiber_length_km)) + float(np.asarray(link.node_b.fiber_length_km))


def _attempt_rate(link: dict[str, Any], round_trip: bool) -> float:
    """A numbers link's attempts per second: ``attempt_rate_hz`` if given; else ``1 / emission_time_s``, or with
    ``round_trip`` ``1 / (emission_time_s + L / c)`` (the attempt waits for its herald, ``L / c`` after the
    emission with the station in the middle; ``c`` = :data:`~ionjax.network.chain.FIBER_LIGHT_SPEED_KM_S`)."""
    from .chain import FIBER_LIGHT_SPEED_KM_S

    if link.get("attempt_rate_hz") is not None:
        return float(link["attempt_rate_hz"])
    t = link.get("emission_time_s") or DEFAULT_EMISSION_TIME_S
    return 1.0 / (t + float(link.get("length_km", 0.0)) / FIBER_LIGHT_SPEED_KM_S) if round_trip else 1.0 / t


def _numbers(link: dict[str, Any], round_trip: bool) -> tuple[float, float, float]:
    return float(link["fidelity"]), float(link["success_probability"]), _attempt_rate(link, round_trip)


def _chain_figures(spec: NetworkSpec, demand: Demand, links: list[Any], lengths: list[float]) -> tuple[Any, ...]:
    """Every candidate path of ``demand`` evaluated (:class:`~ionjax.network.graph.PathFigures`); a single
    [[links]] entry is repeated ``chain.n_links`` times."""
    from .chain import repeater_chain
    from .graph import PathFigures, path_schedule

    c = spec.chain
    assert c is not None
    kw = dict(_protocol_kw(c), time_step_s=c["time_step_s"],
              grid_size=None if c["grid_size"] == "auto" else c["grid_size"])
    if len(links) > 1:
        return evaluate_paths(links, demand.candidates, schedule=c["schedule"], length_km=lengths, **kw)
    n = c["n_links"] or 1
    schedule = path_schedule(n, c["schedule"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = repeater_chain(links[0], c["n_links"], schedule=schedule, length_km=lengths[0], **kw)
    path = GraphPath(demand.candidates[0].nodes, (0,) * n)
    return (PathFigures(path, schedule, float(res.fidelity), float(res.rate_hz), res,
                        tuple(w.message for w in caught)),)


def _protocol_kw(c: dict[str, Any]) -> dict[str, Any]:
    """The [chain] keys that describe the protocol (what :func:`~ionjax.network.repeater_chain` and
    :func:`~ionjax.network.chain_monte_carlo` share; not the grid)."""
    return dict(cutoff_s=c["cutoff_s"], t2_s=c["t2_s"], gate_error=c["gate_error"], readout_error=c["readout_error"],
                swap_success_probability=c["swap_success_probability"], multiplexing=c["multiplexing"],
                latency=c["latency"], pipelined=c["pipelined"], t1_s=c["t1_s"], memory_decay=c["memory_decay"],
                purification=c["purification"], purification_rounds=_trimmed(c["purification_rounds"]),
                transfer_error=c["transfer_error"], decoupling_t2_s=c["decoupling_t2_s"])


def _monte_carlo(c: dict[str, Any], links: list[Any], chosen: Any, n_entry: int | None, lengths: list[float],
                 n_samples: int) -> dict[str, Any]:
    """The chosen path's chain simulated event by event (:func:`~ionjax.network.chain_monte_carlo`) on the grid
    of its exact result: the cross-check ``ionjax network --monte-carlo N`` prints."""
    from .montecarlo import chain_monte_carlo

    sel = [links[i] for i in chosen.path.links] if n_entry is None else links[0]
    length = [lengths[i] for i in chosen.path.links] if n_entry is None else lengths[0]
    mc = chain_monte_carlo(sel, n_entry, schedule=chosen.schedule, time_step_s=float(chosen.result.time_step_s),
                           n_samples=n_samples, length_km=length, **_protocol_kw(c))
    return {"n_samples": mc.n_samples, "fidelity": mc.fidelity, "fidelity_stderr": mc.fidelity_stderr,
            "rate_hz": mc.rate_hz, "rate_stderr_hz": mc.rate_stderr_hz,
            "mean_waiting_time_s": mc.mean_waiting_time_s,
            "mean_waiting_time_stderr_s": mc.mean_waiting_time_stderr_s,
            "trajectories_per_s": mc.trajectories_per_s, "n_devices": mc.n_devices}


def _trimmed(rounds: Sequence[int]) -> tuple[int, ...]:
    """``purification_rounds`` without the trailing zeros (which purify nothing; a shorter path has fewer levels)."""
    return tuple(rounds[:_levels_needed(rounds)])


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def run_network(spec: NetworkSpec | str | Path | dict[str, Any], monte_carlo_samples: int = 0) -> dict[str, Any]:
    """Evaluate a network: every link, then the chain(s) / GHZ state / remote gate it asks for.

    ``monte_carlo_samples > 0`` also simulates each chosen chain event by event
    (:func:`~ionjax.network.chain_monte_carlo`, that many delivered pairs, on the exact result's grid): its
    result gains ``monte_carlo`` (fidelity, rate and their standard errors, trajectories per second).

    For each pair of end nodes (``[chain]``, or each ``[[demands]]`` entry), every candidate path is evaluated
    as a repeater chain and the best by ``chain.figure_of_merit`` is chosen (:mod:`ionjax.network.graph`).

    Returns:
        A dict valid as JSON (no NaN or infinities: a parameter ``"inf"`` is the string, an undefined figure
        ``None``): ``name``, ``nodes``, ``links`` (per link: nodes, fidelity, success probability, rates),
        ``chain`` (or, with ``[[demands]]``, ``demands``: a list with one chain result per demand) / ``ghz`` /
        ``remote_gate`` results with their parameters (``remote_gate`` names the pair it consumes, ``pair``,
        and ``pair_source``), and ``warnings``: the list of grid and path-search warnings (empty when all is
        fine). A chain result holds the chain's figures (:meth:`~ionjax.network.ChainResult.to_dict`),
        ``between`` (its end nodes), ``path`` (the nodes of the chosen path), ``links`` (the index of the link
        used for each hop), ``candidates`` (per candidate path: ``path``, ``links``, ``schedule``,
        ``fidelity``, ``rate_hz``, ``chosen``), ``meets_min_fidelity`` and its ``parameters``.

    Warns:
        GridWarning: a grid set in the file is too coarse or too short (also listed in ``warnings``).
        PathWarning: no candidate path reaches ``chain.min_fidelity``, or the path search was capped.
    """
    from .chain import GridWarning
    from .ghz import ghz as ghz_fn
    from .pairs import elementary_link
    from .remote import remote_gate

    if not isinstance(spec, NetworkSpec):
        spec = load_network(spec)
    lengths = [_link_length(x) for x in spec.links]
    # the links on their own (table, GHZ, a remote gate over one link): an attempt lasts its round trip
    els = [elementary_link(_numbers(x, True) if isinstance(x, dict) else x) for x in spec.links]
    out: dict[str, Any] = {"name": spec.name, "nodes": list(spec.nodes), "links": []}
    notes: list[str] = list(spec.notes)
    for x, label, nodes, el, length in zip(spec.links, spec.link_labels, spec.link_nodes, els, lengths):
        entry = {"between": list(nodes), "label": label, "fidelity": float(el.fidelity), "length_km": length,
                 "success_probability": float(el.success_probability),
                 "attempt_rate_hz": float(el.attempt_rate_hz), "rate_hz": float(el.rate_hz)}
        if isinstance(x, dict) and x.get("attempt_rate_hz") is None:
            entry["emission_time_s"] = x.get("emission_time_s") or DEFAULT_EMISSION_TIME_S
        out["links"].append(entry)
    chain_res = None
    if spec.chain is not None:
        c = spec.chain
        # in the chain, repeater_chain adds the herald's flight to each round (latency), or rounds follow
        # without waiting (pipelined): an emission-time link attempts every emission_time_s
        wait = not (c["latency"] or c["pipelined"])
        chain_els = [elementary_link(_numbers(x, wait)) if isinstance(x, dict) and x.get("attempt_rate_hz") is None
                     else el for x, el in zip(spec.links, els)]
        results = []
        for dem in spec.demands:
            where = "chain" if not spec.demands_given else f"{dem.label} ({'-'.join(dem.ends)})"
            figs = _chain_figures(spec, dem, chain_els, lengths)
            best, met = choose_path([(f.fidelity, f.rate_hz) for f in figs], c["figure_of_merit"],
                                    c["min_fidelity"], [len(f.path.links) for f in figs])
            chosen = figs[best]
            for w in chosen.warnings:
                warnings.warn(str(w), type(w), stacklevel=2)
            chain_warn = [f"{where}: {w}" for w in chosen.warnings]
            others = [f for k, f in enumerate(figs) if k != best and f.warnings]
            if others:
                m = (f"{where}: the grid is also too coarse or too short for {len(others)} other candidate path(s), "
                     f"so the figures that rank them may be off; e.g. {others[0].path.label}: {others[0].warnings[0]}")
                warnings.warn(m, GridWarning, stacklevel=2)
                chain_warn.append(m)
            if not met:
                m = (f"{where}: no candidate path reaches min_fidelity = {c['min_fidelity']:g}; the most faithful, "
                     f"{chosen.path.label} (fidelity {_f(_finite_or_none(chosen.fidelity), '.5g')}), is shown.")
                warnings.warn(m, PathWarning, stacklevel=2)
                chain_warn.append(m)
            d = chosen.result.to_dict()
            if spec.demands_given:
                d["demand"] = dem.label
            d["between"] = list(dem.ends)
            d["path"] = list(chosen.path.nodes)
            d["links"] = list(chosen.path.links)
            d["candidates"] = [{"path": list(f.path.nodes), "links": list(f.path.links), "schedule": f.schedule,
                                "fidelity": _finite_or_none(f.fidelity), "rate_hz": _finite_or_none(f.rate_hz),
                                "chosen": k == best} for k, f in enumerate(figs)]
            d["meets_min_fidelity"] = met
            if monte_carlo_samples:
                d["monte_carlo"] = _monte_carlo(c, chain_els, chosen, c["n_links"] if len(chain_els) == 1 else None,
                                                lengths, monte_carlo_samples)
            d["parameters"] = {k: _num(v) for k, v in c.items()}
            d["defaults"] = spec.chain_implied  # [chain] not in the file: evaluated with its defaults
            d["warnings"] = chain_warn
            notes += chain_warn
            results.append(d)
            chain_res = chosen.result
        if spec.demands_given:
            out["demands"] = results
        else:
            out["chain"] = results[0]
    if spec.ghz is not None:
        g = spec.ghz
        sel = [els[i] for i in g["links"]]
        if g["n_nodes"] is not None and len(sel) == 1:
            links, n_nodes = sel[0], g["n_nodes"]
        else:
            links, n_nodes = sel, None
        ghz_warn: list[str] = []
        res = _collect(lambda: ghz_fn(links, n_nodes, gate_error=g["gate_error"], readout_error=g["readout_error"],
                                      t2_s=g["t2_s"], cutoff_s=g["cutoff_s"], time_step_s=g["time_step_s"],
                                      grid_size=g["grid_size"]),
                       ghz_warn)
        d = res.to_dict()
        d["center"] = g.get("center")
        d["parameters"] = {k: _num(v) for k, v in g.items() if k != "center"}
        d["warnings"] = [f"ghz: {m}" for m in ghz_warn]
        notes += d["warnings"]
        out["ghz"] = d
    if spec.remote_gate is not None:
        r = spec.remote_gate
        if r["pair"] == "end-to-end":
            assert chain_res is not None  # load_network sets [chain] (or its defaults) for the end-to-end pair
            res = remote_gate(chain_res, r["gate"], r["gate_error"], r["readout_error"])
            chain_d = out["chain"] if "chain" in out else out["demands"][0]
            ends = chain_d["between"]
            copies = (f"{chain_res.n_links} copies of links[0]" if len(els) == 1
                      else f"{chain_res.n_links} links, path {'-'.join(chain_d['path'])}")
            source = (f"end-to-end pair of the {chain_res.schedule} repeater chain ({copies}"
                      + (", [chain] defaults" if spec.chain_implied else "") + ")")
        else:
            i = r["link"]
            res = remote_gate(els[i], r["gate"], r["gate_error"], r["readout_error"])
            ends = list(spec.link_nodes[i])
            source = f"links[{i}], one heralded pair per gate (no repeater)"
        d = res.to_dict()
        d["pair"] = "-".join(ends)
        d["between"] = ends
        d["pair_source"] = source
        d["parameters"] = {k: _num(v) for k, v in r.items()}
        out["remote_gate"] = d
    out["warnings"] = notes
    safe_notes: list[str] = []
    out = json_safe(out, safe_notes)
    out["warnings"] += safe_notes
    return out


def _f(x: Any, fmt: str) -> str:
    return "undefined" if x is None else format(x, fmt)


def _chain_lines(c: dict[str, Any], title: str) -> list[str]:
    """The table of one chain result (``run_network``'s ``chain`` or one of its ``demands``)."""
    pr = c["parameters"]
    ends = "-".join(c.get("between", []))
    lines = [
        f"{title}{(' ' + ends) if ends else ''}: {c['n_links']} links, {c['schedule']} schedule, "
        f"cutoff {pr['cutoff_s']} s, T2 {pr['t2_s']} s, T1 {pr.get('t1_s', 'inf')} s, "
        f"swap gate error {pr['gate_error']}, "
        f"readout error {pr['readout_error']}" + ("  ([chain] defaults)" if c.get("defaults") else ""),
    ]
    if c.get("path"):
        idx = c["links"]
        used = (f"{len(idx)} copies of links[0]" if len(idx) > 1 and len(set(idx)) == 1
                else "links " + ", ".join(map(str, idx)))
        lines.append(f"  path                 {'-'.join(c['path'])}  ({used})")
    lines += [
        f"  memories             {pr.get('multiplexing', 1)} per node and link; messages "
        + (("at 2e5 km/s, " + ("pipelined attempts" if pr.get("pipelined")
                                else "each attempt waits for its herald"))
           if pr.get("latency", True) else "instantaneous"),
        f"  end-to-end fidelity  {_f(c['fidelity'], '.5f')}   (to psi+)",
        f"  rate                 {_f(c['rate_hz'], '.5g')} Hz   (mean waiting time "
        f"{_f(c['mean_waiting_time_s'], '.4g')} s)",
        f"  time grid            {c['grid_size']} steps of {_f(c['time_step_s'], '.4g')} s"
        + (" (chosen automatically)" if pr.get("grid_size") == "auto" else "")
        + f", probability beyond it {_f(c['truncated_mass'], '.1e')}"
        + (f", rounding <= {100 * c['grid_error']:.3g}%" if c.get("grid_error") is not None else ""),
    ]
    if pr.get("purification_rounds") and any(pr["purification_rounds"]):
        lines.insert(2, f"  purification         {pr['purification']}, rounds per nesting level "
                        f"{list(pr['purification_rounds'])} (level 0 = the links)")
    mc = c.get("monte_carlo")
    if mc:
        lines.append(f"  Monte Carlo          fidelity {mc['fidelity']:.5f} +- {mc['fidelity_stderr']:.1e}, rate "
                     f"{mc['rate_hz']:.5g} +- {mc['rate_stderr_hz']:.2g} Hz ({mc['n_samples']} pairs, "
                     f"{mc['trajectories_per_s']:.3g} trajectories/s on {mc['n_devices']} device(s))")
    cands = c.get("candidates", [])
    if len(cands) > 1:
        fom = pr.get("figure_of_merit", "rate")
        rule = (f"highest rate with fidelity >= {pr.get('min_fidelity', 0)}" if fom == "rate"
                else "highest fidelity")
        width = max(24, *(len("-".join(x["path"])) for x in cands))
        lines.append(f"  candidate paths ({len(cands)}; chosen: {rule})"
                     + ("" if c.get("meets_min_fidelity", True) else "; none reaches the fidelity, the most "
                        "faithful is chosen"))
        lines.append(f"    {'':1} {'path':<{width}} {'links':<12} {'schedule':<10} {'fidelity':>9} {'rate':>14}")
        for x in cands:
            rate = _f(x["rate_hz"], "10.4g") + " Hz" if x["rate_hz"] is not None else "undefined"
            lines.append(f"    {'*' if x['chosen'] else ' '} {'-'.join(x['path']):<{width}} "
                         f"{','.join(map(str, x['links'])):<12} {x['schedule']:<10} {_f(x['fidelity'], '9.5f'):>9} "
                         f"{rate:>14}")
    return lines


def format_network(res: dict[str, Any]) -> str:
    """A readable table of :func:`run_network`'s result."""
    lines = [f"network: {res.get('name') or '(unnamed)'}  ({len(res['nodes'])} nodes, {len(res['links'])} links)",
             f"  {'#':>3} {'link':<24} {'fidelity':>9} {'p_success':>11} {'rate':>12}"]
    for i, lk in enumerate(res["links"]):
        lines.append(f"  {i:>3} {lk['label']:<24} {lk['fidelity']:9.5f} {lk['success_probability']:11.4e} "
                     f"{lk['rate_hz']:9.4g} Hz")
    if "chain" in res:
        lines += _chain_lines(res["chain"], "repeater chain")
    for d in res.get("demands", []):
        lines += _chain_lines(d, f"{d.get('demand', 'demand')}: repeater chain")
    if "ghz" in res:
        g = res["ghz"]
        lines += [
            f"GHZ state: {g['n_nodes']} nodes" + (f", centre {g['center']}" if g.get("center") else ""),
            f"  fidelity             {_f(g['fidelity'], '.5f')}   (to (|0..0> + |1..1>)/sqrt2)",
            f"  rate                 {_f(g['rate_hz'], '.5g')} Hz   (mean waiting time "
            f"{_f(g['mean_waiting_time_s'], '.4g')} s)",
        ]
        if g.get("cutoff_s") not in (None, "inf"):
            lines.append(f"  cutoff               {_f(g['cutoff_s'], '.4g')} s   (a try succeeds with probability "
                         f"{_f(g.get('success_probability'), '.4g')})")
    if "remote_gate" in res:
        r = res["remote_gate"]
        lines += [
            f"teleported {r['gate'].upper()} over {r.get('pair', '?')} (pair fidelity {_f(r['pair_fidelity'], '.5f')})",
            f"  pair                 {r.get('pair', '?')}, {r.get('pair_source', '')}",
            f"  process fidelity     {_f(r['process_fidelity'], '.5f')}",
            f"  average gate fidel.  {_f(r['average_gate_fidelity'], '.5f')}",
            f"  gates per second     {_f(r['rate_hz'], '.5g')}   (one pair each)",
        ]
    for w in res.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines)
