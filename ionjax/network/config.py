"""Networks in TOML: links between named nodes, and what to build from them.

The format (a dict of the same shape works too)::

    name = "four-link chain"                 # optional
    nodes = ["alice", "r1", "r2", "r3", "bob"]   # optional: node names (in chain order)

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
    attempt_rate_hz = 1.0e6                  # > 0 (default 1e6)

    [[links]]                                # or a preset (`ionjax presets`), with dotted overrides
    between = ["r2", "r3"]
    preset = "oxford_2020"
    set = { "detection.efficiency" = 0.8 }

    [chain]                                  # a repeater chain over the links, in the order given
    schedule = "nested"                      # "nested" (a power-of-2 number of links) | "sequential"
    n_links = 4                              # only with a single [[links]] entry: use it n times
    cutoff_s = 0.05                          # memory cutoff, > 0 s; "inf" (default) for none
    t2_s = 1.0                               # coherence time of stored qubits, > 0 s; default "inf"
    gate_error = 0.002                       # depolarizing after each swap's CNOT, [0, 1]
    readout_error = 0.001                    # bit flip before each readout, [0, 1]
    swap_success_probability = 1.0           # (0, 1]
    time_step_s = "auto"                     # grid step, > 0 s, or "auto"
    grid_size = 4096                         # time steps, >= 16

    [ghz]                                    # a GHZ state fused at a central node from a star of links
    links = [0, 1]                           # indices into [[links]] (default: all); they must share one node
    n_nodes = 3                              # only with a single [[links]] entry: use it n_nodes - 1 times
    gate_error = 0.0
    readout_error = 0.0
    t2_s = "inf"

    [remote_gate]                            # a CNOT/CZ teleported with the pairs of one link
    gate = "cz"                              # "cnot" | "cz"
    link = 0                                 # index into [[links]] (default 0)
    gate_error = 0.0
    readout_error = 0.0

A file with none of ``[chain]``, ``[ghz]``, ``[remote_gate]`` evaluates a chain
with the defaults. Every problem (an unknown key or section, a node a link
names that is not in ``nodes``, links that do not form a chain, a cutoff <= 0,
no links, a value out of range) is a :class:`~ionjax.errors.ConfigError`
naming the key, the value and the allowed range.
"""

from __future__ import annotations

import copy
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["NetworkSpec", "load_network", "run_network", "format_network"]

INF = math.inf
# key: (default, lo, hi, lo_open, meaning)
_CHAIN_KEYS: dict[str, tuple] = {
    "schedule": ("nested", None, None, False, '"nested" | "sequential"'),
    "n_links": (None, 1, 1 << 20, False, "number of links (with a single [[links]] entry)"),
    "cutoff_s": (INF, 0.0, INF, True, "memory cutoff, s"),
    "t2_s": (INF, 0.0, INF, True, "coherence time of stored qubits, s"),
    "gate_error": (0.0, 0.0, 1.0, False, "depolarizing probability after each swap's CNOT"),
    "readout_error": (0.0, 0.0, 1.0, False, "bit-flip probability before each readout"),
    "swap_success_probability": (1.0, 0.0, 1.0, True, "probability that a Bell measurement succeeds"),
    "time_step_s": ("auto", 0.0, INF, True, 'grid step, s, or "auto"'),
    "grid_size": (4096, 16, 1 << 22, False, "number of time steps"),
}
_GHZ_KEYS: dict[str, tuple] = {
    "links": (None, None, None, False, "indices into [[links]]"),
    "n_nodes": (None, 2, 8, False, "number of nodes (with a single [[links]] entry)"),
    "gate_error": (0.0, 0.0, 1.0, False, "depolarizing probability after the centre's CNOTs"),
    "readout_error": (0.0, 0.0, 1.0, False, "bit-flip probability before each readout"),
    "t2_s": (INF, 0.0, INF, True, "coherence time of stored qubits, s"),
    "time_step_s": ("auto", 0.0, INF, True, 'grid step, s, or "auto"'),
    "grid_size": (1 << 14, 16, 1 << 22, False, "number of time steps"),
}
_GATE_KEYS: dict[str, tuple] = {
    "gate": ("cnot", None, None, False, '"cnot" | "cz"'),
    "link": (0, 0, 1 << 20, False, "index into [[links]]"),
    "gate_error": (0.0, 0.0, 1.0, False, "depolarizing probability after each local two-qubit gate"),
    "readout_error": (0.0, 0.0, 1.0, False, "bit-flip probability before each readout"),
}
_TOP_KEYS = ("name", "nodes", "links", "chain", "ghz", "remote_gate")
_NUMBER_LINK_KEYS = ("between", "name", "fidelity", "success_probability", "attempt_rate_hz")
_PRESET_LINK_KEYS = ("between", "name", "preset", "set")


@dataclass(frozen=True)
class NetworkSpec:
    """A validated network description (plain Python; evaluate with :func:`run_network`).

    Attributes:
        name: the network's name.
        nodes: node names.
        links: one entry per ``[[links]]``: a :class:`~ionjax.config.Link` or a numbers dict.
        link_nodes: each link's two nodes.
        chain, ghz, remote_gate: the validated sections (None where absent).
    """

    name: str
    nodes: tuple[str, ...]
    links: tuple[Any, ...]
    link_nodes: tuple[tuple[str, str], ...]
    chain: dict[str, Any] | None = None
    ghz: dict[str, Any] | None = None
    remote_gate: dict[str, Any] | None = None
    link_labels: tuple[str, ...] = field(default=())


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _unknown(path: str, key: str, allowed: Any) -> ConfigError:
    return ConfigError(f"Unknown key '{path}{key}'." + _did_you_mean(key, allowed)
                       + f" Allowed: {', '.join(allowed)}.")


def _value(path: str, value: Any, spec: tuple) -> Any:
    """Check one value against ``(default, lo, hi, lo_open, meaning)``; ``lo = None``: checked by the caller,
    an integer ``lo``: an integer key; a string default (``"auto"``) is also accepted as is."""
    default, lo, hi, lo_open, meaning = spec
    if lo is None:
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("inf", "+inf", "infinity"):
            value = INF
        elif isinstance(default, str) and low == default:
            return default
        else:
            raise ConfigError(f"{path} must be a number ({meaning}), got {value!r}.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path} must be a number ({meaning}), got {value!r}.")
    if isinstance(lo, int):
        if not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{path} must be an integer ({meaning}), got {value!r}.")
        value = int(value)
    v = float(value)
    if math.isnan(v) or v < lo or v > hi or (lo_open and v == lo):
        lb = "(" if lo_open else "["
        raise ConfigError(f"{path} = {value!r} is out of range: allowed {lb}{lo:g}, {hi:g}] ({meaning}).")
    return value


def _section(name: str, given: Any, spec: dict[str, tuple]) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise ConfigError(f"[{name}] must be a table of keys, got {given!r}.")
    for k in given:
        if k not in spec:
            raise _unknown(f"{name}.", k, list(spec))
    out = {}
    for k, s in spec.items():
        out[k] = _value(f"{name}.{k}", given[k], s) if k in given else s[0]
    return out


def _load_dict(source: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return copy.deepcopy(source)
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"Network file {str(path)!r} does not exist.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Network file {str(path)!r} is not valid TOML: {exc}.") from None


def _parse_override(data: dict[str, Any], key: str, value: Any) -> None:
    from ..config import _parse_value

    section, sep, leaf = key.partition(".")
    if not sep or section not in ("chain", "ghz", "remote_gate"):
        raise ConfigError(f"--set key {key!r} must look like 'chain.KEY', 'ghz.KEY' or 'remote_gate.KEY'.")
    data.setdefault(section, {})[leaf] = _parse_value(value)


def _load_link_entry(i: int, entry: Any) -> Any:
    from ..config import load_link

    if not isinstance(entry, dict):
        raise ConfigError(f"links[{i}] must be a table, got {entry!r}.")
    body = {k: v for k, v in entry.items() if k != "between"}
    if "fidelity" in entry or "success_probability" in entry:
        for k in entry:
            if k not in _NUMBER_LINK_KEYS:
                raise _unknown(f"links[{i}].", k, _NUMBER_LINK_KEYS)
        for k in ("fidelity", "success_probability"):
            if k not in entry:
                raise ConfigError(f"links[{i}] given as numbers needs {k!r} (and optionally attempt_rate_hz).")
        out = {"fidelity": _value(f"links[{i}].fidelity", entry["fidelity"], (None, 0.0, 1.0, False, "pair fidelity")),
               "success_probability": _value(f"links[{i}].success_probability", entry["success_probability"],
                                             (None, 0.0, 1.0, True, "per attempt")),
               "attempt_rate_hz": _value(f"links[{i}].attempt_rate_hz", entry.get("attempt_rate_hz", 1.0e6),
                                         (None, 0.0, INF, True, "attempts per second"))}
        out = {k: float(v) for k, v in out.items()}
        return out
    try:
        if "preset" in entry:
            from .. import presets

            for k in entry:
                if k not in _PRESET_LINK_KEYS:
                    raise _unknown(f"links[{i}].", k, _PRESET_LINK_KEYS)
            overrides = entry.get("set", {})
            if not isinstance(overrides, dict):
                raise ConfigError(f"links[{i}].set must be a table of dotted keys, got {overrides!r}.")
            return load_link(presets.as_dict(entry["preset"]), overrides=overrides)
        return load_link(body)
    except ConfigError as exc:
        raise ConfigError(f"links[{i}]: {exc}") from None


def load_network(source: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> NetworkSpec:
    """Read and validate a network (TOML path or dict; format in the module docstring).

    Args:
        source: a ``.toml`` path or a dict.
        overrides: ``{"chain.cutoff_s": value, ...}`` applied before validation (``--set``).

    Raises:
        ConfigError (a ValueError) naming the key, the value and the allowed range.
    """
    data = _load_dict(source)
    for key, value in (overrides or {}).items():
        _parse_override(data, key, value)
    for k in data:
        if k not in _TOP_KEYS:
            raise _unknown("", k, _TOP_KEYS)
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {name!r}.")
    raw_links = data.get("links", [])
    if not isinstance(raw_links, list) or not raw_links:
        raise ConfigError("A network needs at least one [[links]] entry (a link table, a preset, or numbers "
                          "fidelity / success_probability / attempt_rate_hz); none given.")
    links = tuple(_load_link_entry(i, e) for i, e in enumerate(raw_links))

    nodes = data.get("nodes")
    if nodes is not None and (not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes)
                              or len(set(nodes)) != len(nodes)):
        raise ConfigError(f"nodes must be a list of distinct node names, got {nodes!r}.")
    has_between = [isinstance(e, dict) and "between" in e for e in raw_links]
    link_nodes: list[tuple[str, str]] = []
    if any(has_between):
        known = set(nodes) if nodes is not None else None
        for i, e in enumerate(raw_links):
            b = e.get("between")
            if b is None:
                raise ConfigError(f"links[{i}] has no `between` while other links do: give every link its two "
                                  "nodes, or none (then link i joins nodes i and i + 1).")
            if not isinstance(b, list) or len(b) != 2 or not all(isinstance(x, str) for x in b) or b[0] == b[1]:
                raise ConfigError(f"links[{i}].between must name two different nodes, got {b!r}.")
            for x in b:
                if known is not None and x not in known:
                    raise ConfigError(f"links[{i}].between names the unknown node {x!r}."
                                      + _did_you_mean(x, sorted(known)) + f" Nodes: {', '.join(nodes)}.")
            link_nodes.append((b[0], b[1]))
        if nodes is None:
            nodes = []
            for a, b in link_nodes:
                nodes += [x for x in (a, b) if x not in nodes]
    else:
        n_needed = len(links) + 1
        if nodes is None:
            nodes = [f"n{i}" for i in range(n_needed)]
        elif len(nodes) != n_needed:
            raise ConfigError(f"nodes lists {len(nodes)} nodes, but {len(links)} links without `between` join "
                              f"consecutive nodes and need {n_needed}.")
        link_nodes = [(nodes[i], nodes[i + 1]) for i in range(len(links))]

    sections = {k: data[k] for k in ("chain", "ghz", "remote_gate") if k in data}
    if not sections:
        sections = {"chain": {}}
    chain = ghz = gate = None
    if "chain" in sections:
        chain = _section("chain", sections["chain"], _CHAIN_KEYS)
        if chain["schedule"] not in ("nested", "sequential"):
            raise ConfigError(f"chain.schedule = {chain['schedule']!r} is not known; allowed: nested, sequential."
                              + _did_you_mean(chain["schedule"], ("nested", "sequential")))
        if chain["n_links"] is not None and len(links) > 1 and chain["n_links"] != len(links):
            raise ConfigError(f"chain.n_links = {chain['n_links']} repeats a single link; with {len(links)} "
                              "[[links]] entries leave it out (the chain uses every link in order).")
        n = chain["n_links"] or len(links)
        if chain["schedule"] == "nested" and n & (n - 1):
            raise ConfigError(f"chain.schedule = 'nested' needs a power-of-2 number of links, got {n}; "
                              "use schedule = 'sequential'.")
        if chain["n_links"] is None or len(links) > 1:
            for i in range(len(link_nodes) - 1):
                if not set(link_nodes[i]) & set(link_nodes[i + 1]):
                    raise ConfigError(f"The links do not form a chain: links[{i}] {'-'.join(link_nodes[i])} and "
                                      f"links[{i + 1}] {'-'.join(link_nodes[i + 1])} share no node.")
    if "ghz" in sections:
        ghz = _section("ghz", sections["ghz"], _GHZ_KEYS)
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
        ghz["links"] = idx
        if ghz["n_nodes"] is not None and len(idx) > 1:
            raise ConfigError("ghz.n_nodes repeats a single link; with several links leave it out "
                              "(n_nodes = number of links + 1).")
        if ghz["n_nodes"] is None and len(idx) + 1 > 8:
            raise ConfigError(f"ghz fuses at most 7 links (8 nodes), got {len(idx)}.")
        if len(idx) > 1:
            common = set(link_nodes[idx[0]])
            for i in idx[1:]:
                common &= set(link_nodes[i])
            if not common:
                raise ConfigError(f"ghz.links {idx} do not form a star: no node is shared by all of them "
                                  f"({', '.join('-'.join(link_nodes[i]) for i in idx)}).")
            ghz["center"] = sorted(common)[0]
        elif ghz["n_nodes"] is None:
            ghz["n_nodes"] = 2
    if "remote_gate" in sections:
        gate = _section("remote_gate", sections["remote_gate"], _GATE_KEYS)
        if gate["gate"] not in ("cnot", "cz"):
            raise ConfigError(f"remote_gate.gate = {gate['gate']!r} is not known; allowed: cnot, cz.")
        if not gate["link"] < len(links):
            raise ConfigError(f"remote_gate.link = {gate['link']} is out of range: there are {len(links)} links "
                              f"(0..{len(links) - 1}).")
    labels = tuple("-".join(ln) for ln in link_nodes)
    return NetworkSpec(name, tuple(nodes), links, tuple(link_nodes), chain, ghz, gate, labels)


def _num(x: Any) -> Any:
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else ("-inf" if x < 0 else "nan"))


def run_network(spec: NetworkSpec | str | Path | dict[str, Any]) -> dict[str, Any]:
    """Evaluate a network: every link, then the chain / GHZ state / remote gate it asks for.

    Returns:
        A JSON-friendly dict: ``name``, ``links`` (per link: nodes, fidelity, success probability,
        rates), and ``chain`` / ``ghz`` / ``remote_gate`` results with their parameters.
    """
    from .chain import repeater_chain
    from .ghz import ghz as ghz_fn
    from .pairs import elementary_link
    from .remote import remote_gate

    if not isinstance(spec, NetworkSpec):
        spec = load_network(spec)
    els = [elementary_link(x) for x in spec.links]
    out: dict[str, Any] = {"name": spec.name, "nodes": list(spec.nodes), "links": []}
    for label, nodes, el in zip(spec.link_labels, spec.link_nodes, els):
        out["links"].append({"between": list(nodes), "label": label, "fidelity": float(el.fidelity),
                             "success_probability": float(el.success_probability),
                             "attempt_rate_hz": float(el.attempt_rate_hz), "rate_hz": float(el.rate_hz)})
    if spec.chain is not None:
        c = spec.chain
        links = els[0] if len(els) == 1 else els
        res = repeater_chain(links, c["n_links"] if len(els) == 1 else None, schedule=c["schedule"],
                             cutoff_s=c["cutoff_s"], t2_s=c["t2_s"], gate_error=c["gate_error"],
                             readout_error=c["readout_error"], swap_success_probability=c["swap_success_probability"],
                             time_step_s=c["time_step_s"], grid_size=c["grid_size"])
        d = res.to_dict()
        d["parameters"] = {k: (_num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                           for k, v in c.items()}
        out["chain"] = d
    if spec.ghz is not None:
        g = spec.ghz
        sel = [els[i] for i in g["links"]]
        if g["n_nodes"] is not None and len(sel) == 1:
            links, n_nodes = sel[0], g["n_nodes"]
        else:
            links, n_nodes = sel, None
        res = ghz_fn(links, n_nodes, gate_error=g["gate_error"], readout_error=g["readout_error"], t2_s=g["t2_s"],
                     time_step_s=g["time_step_s"], grid_size=g["grid_size"])
        d = res.to_dict()
        d["center"] = g.get("center")
        d["parameters"] = {k: (_num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                           for k, v in g.items() if k != "center"}
        out["ghz"] = d
    if spec.remote_gate is not None:
        r = spec.remote_gate
        res = remote_gate(els[r["link"]], r["gate"], r["gate_error"], r["readout_error"])
        d = res.to_dict()
        d["parameters"] = dict(r)
        out["remote_gate"] = d
    return out


def format_network(res: dict[str, Any]) -> str:
    """A readable table of :func:`run_network`'s result."""
    lines = [f"network: {res.get('name') or '(unnamed)'}  ({len(res['nodes'])} nodes, {len(res['links'])} links)",
             f"  {'#':>3} {'link':<24} {'fidelity':>9} {'p_success':>11} {'rate':>12}"]
    for i, lk in enumerate(res["links"]):
        lines.append(f"  {i:>3} {lk['label']:<24} {lk['fidelity']:9.5f} {lk['success_probability']:11.4e} "
                     f"{lk['rate_hz']:9.4g} Hz")
    if "chain" in res:
        c, pr = res["chain"], res["chain"]["parameters"]
        lines += [
            f"repeater chain: {c['n_links']} links, {c['schedule']} schedule, cutoff {pr['cutoff_s']} s, "
            f"T2 {pr['t2_s']} s, swap gate error {pr['gate_error']}, readout error {pr['readout_error']}",
            f"  end-to-end fidelity  {c['fidelity']:.5f}   (to psi+)",
            f"  rate                 {c['rate_hz']:.5g} Hz   (mean waiting time {c['mean_waiting_time_s']:.4g} s)",
            f"  time grid            {c['grid_size']} steps of {c['time_step_s']:.4g} s, "
            f"probability beyond it {c['truncated_mass']:.1e}",
        ]
    if "ghz" in res:
        g = res["ghz"]
        lines += [
            f"GHZ state: {g['n_nodes']} nodes" + (f", centre {g['center']}" if g.get("center") else ""),
            f"  fidelity             {g['fidelity']:.5f}   (to (|0..0> + |1..1>)/sqrt2)",
            f"  rate                 {g['rate_hz']:.5g} Hz   (mean waiting time {g['mean_waiting_time_s']:.4g} s)",
        ]
    if "remote_gate" in res:
        r = res["remote_gate"]
        lines += [
            f"teleported {r['gate'].upper()} (pair fidelity {r['pair_fidelity']:.5f})",
            f"  process fidelity     {r['process_fidelity']:.5f}",
            f"  average gate fidel.  {r['average_gate_fidelity']:.5f}",
            f"  gates per second     {r['rate_hz']:.5g}   (one heralded pair each)",
        ]
    return "\n".join(lines)
