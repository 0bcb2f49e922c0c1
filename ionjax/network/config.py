"""Networks in TOML: links between named nodes, and what to build from them.

The format (a dict of the same shape works too)::

    name = "four-link chain"                 # optional
    nodes = ["alice", "r1", "r2", "r3", "bob"]   # optional: node names, in chain order

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
    attempt_rate_hz = 1.0e6                  # > 0, finite (default 1e6)
    length_km = 10.0                         # fiber between its two nodes (station in the middle), default 0

    [[links]]                                # or a preset (`ionjax presets`), with dotted overrides
    between = ["r2", "r3"]
    preset = "oxford_2020"
    set = { "detection.efficiency" = 0.8 }

    [chain]                                  # a repeater chain over the links, in the order given
    schedule = "nested"                      # "nested" (a power-of-2 number of links) | "sequential"
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

    [ghz]                                    # a GHZ state fused at a central node from a star of links
    links = [0, 1]                           # indices into [[links]] (default: all); they must share one node
    n_nodes = 3                              # only with a single [[links]] entry: use it n_nodes - 1 times
    gate_error = 0.0
    readout_error = 0.0
    t2_s = "inf"

    [remote_gate]                            # a CNOT/CZ teleported between two nodes, one pair per gate
    gate = "cz"                              # "cnot" | "cz"
    link = 0                                 # optional index into [[links]]: teleport over that one link
    gate_error = 0.0
    readout_error = 0.0

A file with none of ``[chain]``, ``[ghz]``, ``[remote_gate]`` evaluates a chain
with the defaults.

Topology. Only chains are supported for now (a later issue adds general
graphs): a repeater chain, and a remote gate without ``link``, need links that
form one line, listed along it (the schedule joins them in the order given).
A cycle, a node with three or more links (a star or a branch), two links
between the same two nodes (parallel links), links in two separate pieces, or
links listed out of chain order are refused with the offending links named.
``nodes`` (if given) must list every node of the links and no other, in chain
order (either end first); a link between a node and itself, or naming a node not
in ``nodes``, is refused. ``[ghz]`` needs its links to form a star instead.

The remote gate. Without ``link``, the gate acts between the two ends of the
chain and consumes the end-to-end pair the repeater chain delivers, at the
chain's rate (the chain of ``[chain]``, or one with the ``[chain]`` defaults if
that section is absent; with a single link and no ``n_links``, that link's pair).
With ``link = i``, it consumes the pairs of ``links[i]`` between that link's two
nodes. The result names the pair (``pair``, e.g. ``"alice-bob"``) and where it
comes from (``pair_source``).

The time grid. With ``grid_size`` left out (``"auto"``) and ``time_step_s =
"auto"``, the grid is refined until it is accurate (:mod:`ionjax.network.chain`);
a ``grid_size`` or ``time_step_s`` given explicitly is used as is, and a grid too
coarse or too short for the waiting times is reported: a
:class:`~ionjax.network.chain.GridWarning` (Python) and a line in the result's
``warnings`` list (shown by :func:`format_network`), naming the value that would do.

Every problem (an unknown key or section, a section that is not a table, a
value that is not a number, a boolean, NaN, an integer too large for a float, an
infinity where none is allowed, a value out of range, a topology that is not
supported, no links) is a :class:`~ionjax.errors.ConfigError` naming the key
(for a link, which one: ``links[1].fidelity``), the value and the allowed range.
"""

from __future__ import annotations

import copy
import difflib
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._io import json_safe, read_toml
from ..errors import ConfigError

__all__ = ["NetworkSpec", "load_network", "run_network", "format_network"]

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
    "schedule": _Key("nested", meaning="how links are joined", choices=("nested", "sequential")),
    "n_links": _Key(None, 1, 1 << 20, meaning="number of links (with a single [[links]] entry)"),
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
}
_GHZ_KEYS: dict[str, _Key] = {
    "links": _Key(None, meaning="indices into [[links]]"),
    "n_nodes": _Key(None, 2, 8, meaning="number of nodes (with a single [[links]] entry)"),
    "gate_error": _prob("depolarizing probability after the centre's CNOTs"),
    "readout_error": _prob("bit-flip probability before each readout"),
    "t2_s": _Key(INF, 0.0, INF, True, False, 'coherence time of stored qubits, s; "inf" for none'),
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
_TOP_KEYS = ("name", "nodes", "links", "chain", "ghz", "remote_gate")
_NUMBER_LINK_KEYS = ("between", "name", "fidelity", "success_probability", "attempt_rate_hz", "length_km")
_PRESET_LINK_KEYS = ("between", "name", "preset", "set")
_NUMBER_LINK_SPECS = {
    "fidelity": _Key(None, 0.0, 1.0, False, False, "pair fidelity"),
    "success_probability": _Key(None, 0.0, 1.0, True, False, "per attempt"),
    "attempt_rate_hz": _Key(1.0e6, 0.0, INF, True, True, "attempts per second"),
    "length_km": _Key(0.0, 0.0, INF, False, True, "fiber between the link's two nodes, km"),
}
_ONLY_CHAINS = ("Only chains (a line of links, each node joined to at most two others) are supported for now; "
                "a later issue adds general graphs.")


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
            all, or a remote gate over the end-to-end pair.
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
        return {k: float(_value(f"links[{i}].{k}", entry.get(k, s.default), s))
                for k, s in _NUMBER_LINK_SPECS.items()}
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


def _chain_path(link_nodes: list[tuple[str, str]], nodes: list[str] | None, why: str) -> list[str]:
    """The nodes along the chain the links form, from the end of ``links[0]`` (or as ``nodes`` lists them, which
    may be that order reversed); refuse any other topology or order."""
    n = len(link_nodes)
    seen: dict[frozenset, int] = {}
    for i, (a, b) in enumerate(link_nodes):
        key = frozenset((a, b))
        if key in seen:
            raise ConfigError(f"{why}, but links[{seen[key]}] and links[{i}] both join {a} and {b} (parallel "
                              f"links). {_ONLY_CHAINS} Remove one of them, or purify first.")
        seen[key] = i
    touching: dict[str, list[int]] = {}
    for i, ab in enumerate(link_nodes):
        for x in ab:
            touching.setdefault(x, []).append(i)
    for x, idx in touching.items():
        if len(idx) >= 3:
            raise ConfigError(f"{why}, but node {x!r} has {len(idx)} links ({_show(idx, link_nodes)}): a star or "
                              f"a branch, not a chain. {_ONLY_CHAINS} For a GHZ state over a star use [ghz].")
    # connected pieces (union-find over nodes)
    parent = {x: x for x in touching}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in link_nodes:
        parent[root(a)] = root(b)
    pieces: dict[str, list[int]] = {}
    for i, (a, _) in enumerate(link_nodes):
        pieces.setdefault(root(a), []).append(i)
    if len(pieces) > 1:
        shown = "; ".join(_show(idx, link_nodes) for idx in pieces.values())
        raise ConfigError(f"{why}, but the links fall into {len(pieces)} separate pieces ({shown}): they do not "
                          "form a chain. Add the link that joins them, or remove the extra ones.")
    if n == len(touching):  # connected, every degree <= 2, as many links as nodes: a ring
        raise ConfigError(f"{why}, but the links form a cycle ({_show(range(n), link_nodes)}). {_ONLY_CHAINS} "
                          "Remove one link to make a line.")
    # a line: walk it from one end
    end = next(x for x, idx in touching.items() if len(idx) == 1)
    path, order, prev = [end], [], None
    while len(order) < n:
        i = next(j for j in touching[path[-1]] if j != prev)
        a, b = link_nodes[i]
        path.append(b if a == path[-1] else a)
        order.append(i)
        prev = i
    if order != list(range(n)) and order[::-1] != list(range(n)):
        if order[0] > order[-1]:
            order, path = order[::-1], path[::-1]
        raise ConfigError(f"{why}: the links form a chain but are not listed along it (the schedule joins them in "
                          f"the order given). List them in chain order: {_show(order, link_nodes)} "
                          f"(nodes {', '.join(path)}).")
    if order[0] != 0:
        path = path[::-1]  # links[0] first
    if nodes is None or nodes == path:
        return path
    if nodes == path[::-1]:
        return nodes  # the same chain, read from the other end
    raise ConfigError(f"nodes = {nodes!r} does not follow the links: they form the chain {'-'.join(path)}. "
                      f"List nodes in chain order, nodes = {path!r} (or leave nodes out).")


# ----------------------------------------------------------------------------- load
def load_network(source: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> NetworkSpec:
    """Read and validate a network (TOML path or dict; format in the module docstring).

    Args:
        source: a ``.toml`` path or a dict.
        overrides: ``{"chain.cutoff_s": value, ...}`` applied before validation (``--set``).

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
    if "chain" in data or chain_implied:
        chain = _section("chain", data.get("chain", {}), _CHAIN_KEYS)
        if chain["n_links"] is not None and len(links) > 1 and chain["n_links"] != len(links):
            raise ConfigError(f"chain.n_links = {chain['n_links']} repeats a single link; with {len(links)} "
                              "[[links]] entries leave it out (the chain uses every link in order).")
        if len(links) > 1:
            for_gate = "chain" not in data and not chain_implied_by_default
            why = ("[remote_gate] without `link` consumes the end-to-end pair of the repeater chain" if for_gate
                   else "[chain] evaluates a repeater chain over the links")
            try:
                nodes = _chain_path(link_nodes, nodes if nodes_given else None, why)
            except ConfigError as exc:
                if for_gate:
                    raise ConfigError(f"{exc} Or set remote_gate.link to teleport over one link.") from None
                raise
        n = chain["n_links"] or len(links)
        if chain["schedule"] == "nested" and n & (n - 1):
            raise ConfigError(f"chain.schedule = 'nested' needs a power-of-2 number of links, got {n}; "
                              "use schedule = 'sequential'"
                              + (" (add a [chain] section with it)." if "chain" not in data else "."))
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
                       chain_implied and chain is not None and "chain" not in data)


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


def run_network(spec: NetworkSpec | str | Path | dict[str, Any]) -> dict[str, Any]:
    """Evaluate a network: every link, then the chain / GHZ state / remote gate it asks for.

    Returns:
        A dict valid as JSON (no NaN or infinities: a parameter ``"inf"`` is the string, an undefined figure
        ``None``): ``name``, ``nodes``, ``links`` (per link: nodes, fidelity, success probability, rates),
        ``chain`` / ``ghz`` / ``remote_gate`` results with their parameters (``remote_gate`` names the pair it
        consumes, ``pair``, and ``pair_source``), and ``warnings``: the list of grid warnings (empty when the
        grids are fine).

    Warns:
        GridWarning: a grid set in the file is too coarse or too short (also listed in ``warnings``).
    """
    from .chain import repeater_chain
    from .ghz import ghz as ghz_fn
    from .pairs import elementary_link
    from .remote import remote_gate

    if not isinstance(spec, NetworkSpec):
        spec = load_network(spec)
    lengths = [_link_length(x) for x in spec.links]
    els = [elementary_link({k: v for k, v in x.items() if k != "length_km"} if isinstance(x, dict) else x)
           for x in spec.links]
    out: dict[str, Any] = {"name": spec.name, "nodes": list(spec.nodes), "links": []}
    notes: list[str] = []
    for label, nodes, el, length in zip(spec.link_labels, spec.link_nodes, els, lengths):
        out["links"].append({"between": list(nodes), "label": label, "fidelity": float(el.fidelity),
                             "length_km": length,
                             "success_probability": float(el.success_probability),
                             "attempt_rate_hz": float(el.attempt_rate_hz), "rate_hz": float(el.rate_hz)})
    chain_res = None
    if spec.chain is not None:
        c = spec.chain
        links = els[0] if len(els) == 1 else els
        chain_warn: list[str] = []
        chain_res = _collect(lambda: repeater_chain(
            links, c["n_links"] if len(els) == 1 else None, schedule=c["schedule"], cutoff_s=c["cutoff_s"],
            t2_s=c["t2_s"], gate_error=c["gate_error"], readout_error=c["readout_error"],
            swap_success_probability=c["swap_success_probability"], time_step_s=c["time_step_s"],
            grid_size=None if c["grid_size"] == "auto" else c["grid_size"], multiplexing=c["multiplexing"],
            length_km=lengths[0] if len(els) == 1 else np.asarray(lengths), latency=c["latency"],
            pipelined=c["pipelined"], t1_s=c["t1_s"], memory_decay=c["memory_decay"]), chain_warn)
        d = chain_res.to_dict()
        d["between"] = [spec.nodes[0], spec.nodes[-1]] if len(els) > 1 else list(spec.link_nodes[0])
        d["parameters"] = {k: _num(v) for k, v in c.items()}
        d["defaults"] = spec.chain_implied  # [chain] not in the file: evaluated with its defaults
        d["warnings"] = [f"chain: {m}" for m in chain_warn]
        notes += d["warnings"]
        out["chain"] = d
    if spec.ghz is not None:
        g = spec.ghz
        sel = [els[i] for i in g["links"]]
        if g["n_nodes"] is not None and len(sel) == 1:
            links, n_nodes = sel[0], g["n_nodes"]
        else:
            links, n_nodes = sel, None
        ghz_warn: list[str] = []
        res = _collect(lambda: ghz_fn(links, n_nodes, gate_error=g["gate_error"], readout_error=g["readout_error"],
                                      t2_s=g["t2_s"], time_step_s=g["time_step_s"], grid_size=g["grid_size"]),
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
            ends = out["chain"]["between"]
            copies = (f"{chain_res.n_links} copies of links[0]" if len(els) == 1
                      else f"{chain_res.n_links} links")
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


def format_network(res: dict[str, Any]) -> str:
    """A readable table of :func:`run_network`'s result."""
    lines = [f"network: {res.get('name') or '(unnamed)'}  ({len(res['nodes'])} nodes, {len(res['links'])} links)",
             f"  {'#':>3} {'link':<24} {'fidelity':>9} {'p_success':>11} {'rate':>12}"]
    for i, lk in enumerate(res["links"]):
        lines.append(f"  {i:>3} {lk['label']:<24} {lk['fidelity']:9.5f} {lk['success_probability']:11.4e} "
                     f"{lk['rate_hz']:9.4g} Hz")
    if "chain" in res:
        c, pr = res["chain"], res["chain"]["parameters"]
        ends = "-".join(c.get("between", []))
        lines += [
            f"repeater chain{(' ' + ends) if ends else ''}: {c['n_links']} links, {c['schedule']} schedule, "
            f"cutoff {pr['cutoff_s']} s, T2 {pr['t2_s']} s, T1 {pr.get('t1_s', 'inf')} s, "
            f"swap gate error {pr['gate_error']}, "
            f"readout error {pr['readout_error']}" + ("  ([chain] defaults)" if c.get("defaults") else ""),
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
    if "ghz" in res:
        g = res["ghz"]
        lines += [
            f"GHZ state: {g['n_nodes']} nodes" + (f", centre {g['center']}" if g.get("center") else ""),
            f"  fidelity             {_f(g['fidelity'], '.5f')}   (to (|0..0> + |1..1>)/sqrt2)",
            f"  rate                 {_f(g['rate_hz'], '.5g')} Hz   (mean waiting time "
            f"{_f(g['mean_waiting_time_s'], '.4g')} s)",
        ]
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
