"""Hypothesis strategies for bad ``ionjax`` inputs (used by ``tests/test_cli_fuzz.py``).

Each strategy draws a :class:`Case`: the files to put in an empty working directory, the
``ionjax`` arguments, and the names the error message must contain (any one alternative; an
alternative is a tuple of substrings that must all appear). Every case is bad by
construction: a value outside its key's range, a type no key takes, a name no key has, a file
that is not a TOML file... so a correct ``ionjax`` refuses it before it simulates anything.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from ionjax.config import DETECTOR_KINDS, ENCODINGS, PROTOCOLS, SCHEMA

LINK_FILE = "bad-link.toml"
NET_FILE = "bad-net.toml"
DIR = "is-a-dir.toml"  # a directory where a file goes
PLAIN_FILE = "plain-file"  # a regular file where a directory goes


@dataclass(frozen=True)
class Case:
    """One bad input: ``ionjax ARGV`` run in a directory holding ``files`` (None: a directory)."""

    argv: tuple[str, ...]
    names: tuple[tuple[str, ...], ...]  # the message names one of these (each: substrings that all appear)
    what: str
    files: tuple[tuple[str, bytes | None], ...] = field(default=())

    def reproduction(self) -> str:
        lines = [f"$ ionjax {shlex.join(self.argv)}"]
        for name, content in self.files:
            if content is None:
                lines.append(f"  ({name}: a directory)")
                continue
            try:
                text = content.decode("utf-8")
                shown = text if len(text) < 1500 and "\x00" not in text else repr(content[:300]) + " ..."
            except UnicodeDecodeError:
                shown = repr(content[:300]) + (" ..." if len(content) > 300 else "")
            lines.append(f"  --- {name} ---\n" + "\n".join("  " + ln for ln in shown.splitlines()))
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- TOML
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (datetime.date, datetime.datetime, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def _is_aot(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def toml_dumps(doc: dict[str, Any]) -> str:
    """``doc`` as TOML: scalars first, then ``[tables]`` and ``[[arrays of tables]]``; checked to round-trip."""
    lines: list[str] = []

    def emit(table: dict[str, Any], prefix: str) -> None:
        for k, v in table.items():
            if not isinstance(v, dict) and not _is_aot(v):
                lines.append(f"{_key(k)} = {_value(v)}")
        for k, v in table.items():
            if isinstance(v, dict):
                lines.append(f"\n[{prefix}{_key(k)}]")
                emit(v, f"{prefix}{_key(k)}.")
        for k, v in table.items():
            if _is_aot(v):
                for item in v:
                    lines.append(f"\n[[{prefix}{_key(k)}]]")
                    emit(item, f"{prefix}{_key(k)}.")

    emit(doc, "")
    text = "\n".join(lines) + "\n"
    assert _canon(tomllib.loads(text)) == _canon(doc), text  # the writer is right, or the case is not the one meant
    return text


def _canon(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return "<nan>"
    if isinstance(v, dict):
        return {k: _canon(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_canon(x) for x in v]
    return v


# ----------------------------------------------------------------------------------------- values
_INFISH = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "auto", "nan", "+nan", "-nan")


def _not_a_number_text(s: str) -> bool:
    t = s.strip().lower()
    if t in _INFISH:
        return False
    try:
        float(t)
    except ValueError:
        return True
    return False


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)
bad_strings = st.one_of(
    st.sampled_from(["", " ", "high", "0.5 ns", "1,5", "one", "true", "null", "None", "[1]", "1e", "--", "ÿ", "∞"]),
    st.text(min_size=1, max_size=12).filter(_not_a_number_text),
)
scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), words)
dates = st.one_of(st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 1, 1)),
                  st.just(datetime.datetime(1979, 5, 27, 7, 32)), st.just(datetime.time(7, 32)))


def non_numbers() -> st.SearchStrategy:
    """Values of a type no numeric key takes: strings, bools, arrays, tables, dates."""
    return st.one_of(
        bad_strings,
        st.booleans(),
        st.lists(scalars, max_size=3),
        st.dictionaries(words, scalars, max_size=2),
        dates,
    )


def huge_ints(min_digits: int = 310, max_digits: int = 700) -> st.SearchStrategy:
    """Integers with hundreds of digits (by default beyond any float: |n| > 10**309 > 1.8e308)."""
    return st.builds(lambda d, lead, neg: (-1 if neg else 1) * (lead * 10 ** (d - 1) + 12345),
                     st.integers(min_digits, max_digits), st.integers(1, 9), st.booleans())


def out_of_range(lo: float, hi: float, lo_open: bool, hi_open: bool, integer: bool = False) -> st.SearchStrategy:
    """Numbers outside ``[lo, hi]`` (or at an open end); NaN; a huge integer."""
    options = [st.just(math.nan), huge_ints()]
    if integer:
        if math.isfinite(lo):
            options.append(st.integers(int(lo) - 10**6, int(lo) - 1))
        if math.isfinite(hi):
            options.append(st.integers(int(hi) + 1, int(hi) + 10**6))
        options.append(st.floats(lo + 0.01, lo + 5.0).filter(lambda x: not x.is_integer()))  # not an integer
    else:
        if math.isfinite(lo):
            options.append(st.floats(1e-3, 1e12).map(lambda d: lo - d))
            options.append(st.just(-math.inf))
            if lo_open:
                options.append(st.just(float(lo)))
        if math.isfinite(hi):
            options.append(st.floats(1e-3, 1e12).map(lambda d: hi + d))
            options.append(st.just(math.inf))
            if hi > 0:
                options.append(huge_ints(20, 300).map(abs))  # many digits, still a float, above the range
        elif hi_open:
            options.append(st.just(math.inf))
    return st.one_of(options)


def _spec(sec: str, key: str) -> tuple[float, float, bool, bool]:
    s = SCHEMA[sec][key]
    return float(s[1]), float(s[2]), bool(s[3]), bool(getattr(s, "hi_open", False))


# ------------------------------------------------------------------------------------ link damage
SECTIONS = ("node_a", "node_b", "detection", "interference")
BASE_LINKS = (
    {"name": "fuzz base", "protocol": "two_photon", "encoding": "polarization", "attempt_rate_hz": 1.0e6,
     "node_a": {"collection_efficiency": 0.1}, "node_b": {"collection_efficiency": 0.1},
     "detection": {"kind": "threshold", "efficiency": 0.9, "window_ns": 50.0},
     "interference": {"mode_overlap": 0.95}},
    {"protocol": "two_photon", "encoding": "time_bin", "detection": {"kind": "pnr", "dark_count_rate_hz": 10.0}},
    {"protocol": "single_photon", "node_a": {"excitation_probability": 0.1},
     "node_b": {"excitation_probability": 0.1}, "interference": {"phase_noise_rad": 0.1}},
    {},
)
NUMERIC_KEYS = tuple((sec, k) for sec, spec in SCHEMA.items() for k in spec)  # "" is the top level


def _dotted(sec: str, key: str) -> str:
    return f"{sec}.{key}" if sec else key


def _put(doc: dict[str, Any], sec: str, key: str, value: Any) -> None:
    if sec:
        doc.setdefault(sec, {})
        doc[sec] = dict(doc[sec]) if isinstance(doc[sec], dict) else {}
        doc[sec][key] = value
    else:
        doc[key] = value


def _copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_copy(v) for v in d]
    return d


LINK_KINDS = ("unknown_key", "wrong_type", "out_of_range", "huge_int", "nan", "not_a_table", "bad_name",
              "bad_static_type")


@st.composite
def link_damage(draw: Any, kind: str | None = None) -> tuple[dict[str, Any], str, tuple[tuple[str, ...], ...]]:
    """(a bad link dict, what is wrong, the names its error must contain); ``kind`` in :data:`LINK_KINDS`."""
    doc = _copy(draw(st.sampled_from(BASE_LINKS)))
    kind = kind or draw(st.sampled_from(LINK_KINDS))
    if kind == "unknown_key":
        sec = draw(st.sampled_from(("",) + SECTIONS))
        key = "zq_" + draw(words)
        _put(doc, sec, key, draw(st.one_of(scalars, st.just(0.5))))
        return doc, f"unknown key {_dotted(sec, key)}", ((_dotted(sec, key),),)
    if kind in ("wrong_type", "out_of_range", "huge_int", "nan"):
        sec, key = draw(st.sampled_from(NUMERIC_KEYS))
        lo, hi, lo_open, hi_open = _spec(sec, key)
        value = draw({"wrong_type": non_numbers(), "out_of_range": out_of_range(lo, hi, lo_open, hi_open),
                      "huge_int": huge_ints(), "nan": st.just(math.nan)}[kind])
        _put(doc, sec, key, value)
        return doc, f"{kind} {_dotted(sec, key)} = {_value(value)[:40]}", ((_dotted(sec, key),),)
    if kind == "not_a_table":
        sec = draw(st.sampled_from(SECTIONS))
        doc[sec] = draw(st.one_of(st.just([]), st.lists(scalars, min_size=1, max_size=3), st.integers(),
                                  st.floats(allow_nan=False), words, st.booleans(), dates,
                                  st.just([{"efficiency": 0.5}])))
        return doc, f"[{sec}] is not a table", ((sec,),)
    if kind == "bad_name":
        which = draw(st.sampled_from(["protocol", "encoding", "kind"]))
        allowed = {"protocol": PROTOCOLS, "encoding": ENCODINGS + ("single_photon",), "kind": DETECTOR_KINDS}[which]
        value = draw(words.filter(lambda w: w.lower() not in allowed))
        if which == "kind":
            _put(doc, "detection", "kind", value)
            return doc, f"detection.kind = {value!r}", (("detection.kind",), ("kind", value))
        if which == "encoding":
            doc["protocol"] = doc.get("protocol", "two_photon")
        doc[which] = value
        return doc, f"{which} = {value!r}", ((which,),)
    # bad_static_type: protocol / encoding / kind / name of a type no name has
    which = draw(st.sampled_from(["protocol", "encoding", "kind", "name"]))
    value = draw(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(words, max_size=2),
                           st.dictionaries(words, words, max_size=1), dates))
    if which == "kind":
        _put(doc, "detection", "kind", value)
        return doc, f"detection.kind = {_value(value)[:30]}", (("detection.kind",), ("kind",))
    if which == "encoding" and doc.get("protocol") == "single_photon":
        doc["protocol"] = "two_photon"
    doc[which] = value
    return doc, f"{which} = {_value(value)[:30]}", ((which,),)


LINK_COMMANDS = {
    "simulate": ("simulate", LINK_FILE),
    "sweep": ("sweep", LINK_FILE, "--vary", "detection.window_ns=20,40", "--out", "out", "--quiet",
              "--no-checkpoint"),
    "optimize": ("optimize", LINK_FILE, "--free", "detection.window_ns", "--steps", "2", "--out", "out",
                 "--quiet", "--no-checkpoint"),
}


@st.composite
def bad_link_files(draw: Any, kind: str | None = None) -> Case:
    """A damaged link file, given to simulate / sweep / optimize, or as a [[links]] table of a network file."""
    doc, what, names = draw(link_damage(kind))
    cmd = draw(st.sampled_from(sorted(LINK_COMMANDS) + ["network"]))
    if cmd == "network":
        net = {"links": [doc, {"fidelity": 0.9, "success_probability": 0.01}]}
        return Case(("network", NET_FILE), names, f"network [[links]] 0: {what}",
                    ((NET_FILE, toml_dumps(net).encode()),))
    return Case(LINK_COMMANDS[cmd], names, f"link file: {what}", ((LINK_FILE, toml_dumps(doc).encode()),))


# ------------------------------------------------------------------------------------------ files
VALID_LINK = toml_dumps(BASE_LINKS[0])
VALID_NET = toml_dumps({"links": [{"fidelity": 0.9, "success_probability": 0.01}]})


@st.composite
def bad_file_bytes(draw: Any, valid: str) -> tuple[bytes, str]:
    """Bytes that are not a UTF-8 TOML document (or are, but not valid TOML)."""
    kind = draw(st.sampled_from(["utf16", "utf16_nobom", "binary", "garbage", "nul", "latin1", "not_toml",
                                 "truncated"]))
    if kind == "utf16":
        return valid.encode("utf-16"), "UTF-16 (with BOM)"
    if kind == "utf16_nobom":
        return valid.encode("utf-16-le"), "UTF-16-LE (no BOM)"
    if kind == "binary":
        return draw(st.sampled_from([b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\x7fELF\x02\x01\x01\x00",
                                     b"PK\x03\x04\x14\x00\x00\x00", b"\x1f\x8b\x08\x00\x00\x00"])), "binary"
    if kind == "garbage":
        raw = draw(st.binary(min_size=0, max_size=64))
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + b"\xff" + raw[at:], "random bytes (never UTF-8: 0xff)"
    if kind == "nul":
        at = draw(st.integers(0, len(valid)))
        return (valid[:at] + "\x00" + valid[at:]).encode(), "a NUL byte in the text"
    if kind == "latin1":
        return ('name = "Zürich–Genève"\n' + valid.replace('name = "fuzz base"\n', "")).encode("latin-1",
                                                                                                 "replace"), "Latin-1"
    if kind == "not_toml":
        junk = draw(st.sampled_from(["protocol = ", "[node_a", "x = = 1", "= 3", "[[", "a = 'unterminated",
                                     "a.b = 1\na = 2", "k = 1\nk = 2", "{", "attempt_rate_hz = 1_000__0"]))
        return (valid + "\n" + junk + "\n").encode(), f"not TOML ({junk!r})"
    cut = draw(st.integers(1, 20))
    text = valid.rstrip()
    return (text[: len(text) - cut] + '"\n').encode(), "truncated mid-value"


@st.composite
def bad_files(draw: Any) -> Case:
    """A link/network 'file' that is binary, UTF-16, garbage, not TOML, a directory, or missing."""
    network = draw(st.booleans())
    name = NET_FILE if network else LINK_FILE
    argv = ("network", name) if network else draw(st.sampled_from(list(LINK_COMMANDS.values())))
    kind = draw(st.sampled_from(["bytes", "bytes", "bytes", "directory", "missing"]))
    if kind == "directory":
        argv = tuple(DIR if a == name else a for a in argv)
        return Case(argv, ((DIR,),), "a directory given as the file", ((DIR, None),))
    if kind == "missing":
        missing = "no-such-" + draw(words) + ".toml"
        argv = tuple(missing if a == name else a for a in argv)
        return Case(argv, ((missing,),), "a file that does not exist")
    content, what = draw(bad_file_bytes(VALID_NET if network else VALID_LINK))
    return Case(argv, ((name,),), f"file content: {what}", ((name, content),))


# ---------------------------------------------------------------------------------- network damage
BASE_NETS = (
    {"name": "fuzz chain", "nodes": ["a", "b", "c"],
     "links": [{"between": ["a", "b"], "fidelity": 0.95, "success_probability": 0.01},
               {"between": ["b", "c"], "fidelity": 0.9, "success_probability": 0.02, "attempt_rate_hz": 1.0e6}],
     "chain": {"schedule": "nested", "cutoff_s": 0.05, "t2_s": 1.0}},
    {"links": [{"preset": "oxford_2020", "set": {"detection.efficiency": 0.8}},
               {"fidelity": 0.9, "success_probability": 0.01}],
     "chain": {"schedule": "sequential"}, "remote_gate": {"gate": "cz", "link": 0}},
    {"links": [{"protocol": "two_photon", "node_a": {"collection_efficiency": 0.3}},
               {"fidelity": 0.9, "success_probability": 0.01}],
     "ghz": {"links": [0, 1], "gate_error": 0.01}},
)
INF = math.inf
# section -> key -> (lo, hi, lo_open, hi_open, integer); bad values are drawn outside these
NET_NUMBERS = {
    "chain": {"cutoff_s": (0.0, INF, True, False, False), "t2_s": (0.0, INF, True, False, False),
              "gate_error": (0.0, 1.0, False, False, False), "readout_error": (0.0, 1.0, False, False, False),
              "swap_success_probability": (0.0, 1.0, True, False, False),
              "time_step_s": (0.0, INF, True, False, False), "grid_size": (16, 1 << 22, False, False, True),
              "n_links": (1, 1 << 20, False, False, True)},
    "ghz": {"gate_error": (0.0, 1.0, False, False, False), "readout_error": (0.0, 1.0, False, False, False),
            "t2_s": (0.0, INF, True, False, False), "time_step_s": (0.0, INF, True, False, False),
            "cutoff_s": (0.0, INF, True, False, False),
            "grid_size": (16, 1 << 22, False, False, True), "n_nodes": (2, 8, False, False, True)},
    "remote_gate": {"gate_error": (0.0, 1.0, False, False, False), "readout_error": (0.0, 1.0, False, False, False),
                    "link": (0, 1 << 20, False, False, True)},
}
LINK_NUMBERS = {"fidelity": (0.0, 1.0, False, False, False), "success_probability": (0.0, 1.0, True, False, False),
                "attempt_rate_hz": (0.0, INF, True, False, False)}


def _net_bad_value(draw: Any, spec: tuple) -> Any:
    lo, hi, lo_open, hi_open, integer = spec
    value = draw(st.one_of(out_of_range(lo, hi, lo_open, hi_open, integer), non_numbers()))
    if integer and isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        value = -1  # an integer in range is not bad (cannot happen: out_of_range draws outside)
    return value


NET_KINDS = ("top_unknown", "section_unknown", "section_value", "section_not_table", "bad_choice", "links_shape",
             "number_link", "preset_link", "nodes", "between", "ghz_links")


@st.composite
def network_damage(draw: Any, kind: str | None = None) -> tuple[dict[str, Any], str, tuple[tuple[str, ...], ...]]:
    """(a bad network dict, what is wrong, the names its error must contain); ``kind`` in :data:`NET_KINDS`."""
    net = _copy(draw(st.sampled_from(BASE_NETS)))
    sections = [s for s in ("chain", "ghz", "remote_gate") if s in net]
    kind = kind or draw(st.sampled_from(NET_KINDS))
    if kind == "top_unknown":
        key = "zq_" + draw(words)
        net[key] = draw(scalars)
        return net, f"unknown top-level key {key}", ((key,),)
    if kind == "section_unknown":
        sec = draw(st.sampled_from(["chain", "ghz", "remote_gate"]))
        key = "zq_" + draw(words)
        net.setdefault(sec, {})[key] = draw(scalars)
        return net, f"unknown key {sec}.{key}", ((f"{sec}.{key}",), (sec, key))
    if kind == "section_value":
        sec = draw(st.sampled_from(sections))
        key = draw(st.sampled_from(sorted(NET_NUMBERS[sec])))
        value = _net_bad_value(draw, NET_NUMBERS[sec][key])
        net[sec][key] = value
        return net, f"{sec}.{key} = {_value(value)[:40]}", ((f"{sec}.{key}",),)
    if kind == "section_not_table":
        sec = draw(st.sampled_from(["chain", "ghz", "remote_gate"]))
        net[sec] = draw(st.one_of(st.just([]), st.integers(), words, st.booleans(), st.lists(scalars, min_size=1)))
        return net, f"[{sec}] is not a table", ((sec,),)
    if kind == "bad_choice":
        if "remote_gate" in net and draw(st.booleans()):
            value = draw(st.one_of(words.filter(lambda w: w.lower() not in ("cnot", "cz")), st.integers()))
            net["remote_gate"]["gate"] = value
            return net, f"remote_gate.gate = {value!r}", (("remote_gate.gate",),)
        value = draw(st.one_of(words.filter(lambda w: w.lower() not in ("nested", "sequential")), st.integers(),
                               st.lists(words, max_size=1)))
        net.setdefault("chain", {})["schedule"] = value
        return net, f"chain.schedule = {value!r}", (("chain.schedule",),)
    if kind == "links_shape":
        net["links"] = draw(st.one_of(st.just([]), st.just({}), st.integers(), words,
                                      st.lists(st.one_of(st.integers(), words), min_size=1, max_size=2),
                                      st.dictionaries(words, scalars, min_size=1, max_size=2)))
        net.pop("nodes", None)
        return net, f"links = {_value(net['links'])[:40]}", (("links",),)
    if kind == "number_link":
        i = draw(st.sampled_from([i for i, e in enumerate(net["links"]) if "fidelity" in e]))
        if draw(st.booleans()):
            key = "zq_" + draw(words)
            net["links"][i][key] = 1.0
            return net, f"unknown key links[{i}].{key}", ((f"links[{i}].{key}",), (f"links[{i}]", key))
        key = draw(st.sampled_from(sorted(LINK_NUMBERS)))
        value = _net_bad_value(draw, LINK_NUMBERS[key])
        net["links"][i][key] = value
        return net, f"links[{i}].{key} = {_value(value)[:40]}", ((f"links[{i}].{key}",), (f"links[{i}]", key))
    if kind == "preset_link":
        entry: dict[str, Any] = {"preset": "oxford_2020"}
        sub = draw(st.sampled_from(["unknown_preset", "preset_type", "unknown_key", "set_type", "set_key",
                                    "set_value"]))
        names: tuple[tuple[str, ...], ...]
        if sub == "unknown_preset":
            p = "zq_" + draw(words)
            entry["preset"] = p
            names = ((p,),)
        elif sub == "preset_type":
            entry["preset"] = draw(st.one_of(st.integers(), st.booleans(), st.lists(words, max_size=2)))
            names = (("links[0].preset",), ("links[0]", "preset"))
        elif sub == "unknown_key":
            key = "zq_" + draw(words)
            entry[key] = 1
            names = ((f"links[0].{key}",), ("links[0]", key))
        elif sub == "set_type":
            entry["set"] = draw(st.one_of(st.integers(), words, st.lists(scalars, max_size=2)))
            names = (("links[0].set",), ("links[0]", "set"))
        elif sub == "set_key":
            key = draw(st.sampled_from(["detection.zq_", "zq_section.efficiency", "nodes.zq_", "zq_"])) + draw(words)
            entry["set"] = {key: 0.5}
            names = ((key,), ("links[0]", key.rpartition(".")[2]))
        else:
            sec, key = draw(st.sampled_from(NUMERIC_KEYS))
            lo, hi, lo_open, hi_open = _spec(sec, key)
            value = draw(st.one_of(out_of_range(lo, hi, lo_open, hi_open), non_numbers()))
            entry["set"] = {_dotted(sec, key): value}
            names = ((_dotted(sec, key),),)
        net["links"][0] = entry
        net.pop("nodes", None)
        for e in net["links"]:
            e.pop("between", None)
        return net, f"preset link: {sub} {entry}", names
    if kind == "nodes":
        net["nodes"] = draw(st.one_of(words, st.integers(), st.just(["a", "a", "b"]),
                                      st.lists(st.integers(), min_size=1, max_size=3), st.just({"a": 1})))
        for e in net["links"]:
            e.pop("between", None)
        return net, f"nodes = {_value(net['nodes'])[:40]}", (("nodes",),)
    if kind == "between":
        net["nodes"] = ["a", "b", "c"]
        net["links"] = [dict(e, between=b) for e, b in zip(net["links"], (["a", "b"], ["b", "c"]))]
        i = draw(st.integers(0, 1))
        bad = draw(st.one_of(st.just(["a", "zq_nowhere"]), st.just(["b", "b"]), st.just(["a"]),
                             st.just(["a", "b", "c"]), words.map(lambda w: "zq_" + w), st.integers(),
                             st.just([1, 2])))
        net["links"][i]["between"] = bad
        return net, f"links[{i}].between = {_value(bad)}", ((f"links[{i}].between",), (f"links[{i}]", "between"),
                                                            ("zq_nowhere",))
    # ghz_links
    net.pop("chain", None)
    bad = draw(st.one_of(st.just([]), st.just([5]), st.just([-1]), st.just([0, 9]), st.just([True]),
                         st.just([0.5]), words, st.integers(), st.just({"a": 0})))
    net["ghz"] = {"links": bad}
    return net, f"ghz.links = {_value(bad)}", (("ghz.links",),)


@st.composite
def bad_network_files(draw: Any, kind: str | None = None) -> Case:
    net, what, names = draw(network_damage(kind))
    return Case(("network", NET_FILE), names, f"network file: {what}", ((NET_FILE, toml_dumps(net).encode()),))


# ------------------------------------------------------------------------------------ CLI flags
SWEEP = ("sweep", "--preset", "oxford_2020", "--out", "out", "--quiet", "--no-checkpoint")
OPTIMIZE = ("optimize", "--preset", "oxford_2020", "--free", "detection.window_ns", "--steps", "2", "--out", "out",
            "--quiet", "--no-checkpoint")
GOOD_VARY = ("--vary", "detection.window_ns=20,40")
_BOUNDED = tuple((s, k) for s, k in NUMERIC_KEYS if math.isfinite(_spec(s, k)[1]) or _spec(s, k)[2])
_KEYS_WITH_LO = tuple((s, k) for s, k in NUMERIC_KEYS if math.isfinite(_spec(s, k)[0]))


def _num_text(x: Any) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(x)


SET_KINDS = ("malformed", "unknown_key", "unknown_section", "too_deep", "bad_value", "bad_text", "bad_static")
VARY_KINDS = ("malformed", "unknown_key", "static_key", "out_of_range", "huge", "huge_product", "twice", "empty")


@st.composite
def bad_set(draw: Any, kind: str | None = None) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """A bad ``--set KEY=VALUE`` for a link, and the names its error must contain; ``kind`` in :data:`SET_KINDS`."""
    kind = kind or draw(st.sampled_from(SET_KINDS))
    if kind == "malformed":
        item = draw(st.sampled_from(["detection.efficiency", "=0.5", " =0.5", "", "detection.efficiency0.8"]))
        return item, (("--set",),)
    if kind == "unknown_key":
        sec = draw(st.sampled_from(("",) + SECTIONS + ("nodes",)))
        key = "zq_" + draw(words)
        dotted = _dotted(sec, key)
        alt = ((f"node_a.{key}",),) if sec == "nodes" else ()
        return f"{dotted}=0.5", ((dotted,),) + alt
    if kind == "unknown_section":
        sec = "zq_" + draw(words)
        return f"{sec}.efficiency=0.5", ((f"{sec}.efficiency",), (sec,))
    if kind == "too_deep":
        key = draw(st.sampled_from(["detection.efficiency.x", "node_a.b.c", "a.b.c.d"]))
        return f"{key}=1", ((key,),)
    if kind == "bad_value":
        sec, key = draw(st.sampled_from(NUMERIC_KEYS))
        if draw(st.booleans()) and sec in ("node_a", "node_b"):
            sec = "nodes"
        lo, hi, lo_open, hi_open = _spec("node_a" if sec == "nodes" else sec, key)
        value = draw(out_of_range(lo, hi, lo_open, hi_open))
        dotted = _dotted(sec, key)
        alt = ((f"node_a.{key}",), (f"node_b.{key}",)) if sec == "nodes" else ()
        return f"{dotted}={_num_text(value)}", ((dotted,),) + alt
    if kind == "bad_text":
        sec, key = draw(st.sampled_from(NUMERIC_KEYS))
        text = draw(st.sampled_from(["", "abc", "true", "[1]", "{}", "0.5ns", "1,5", "nan", "-nan", "0x1g", "∞"]))
        dotted = _dotted(sec, key)
        return f"{dotted}={text}", ((dotted,),)
    which = draw(st.sampled_from(["protocol", "encoding", "detection.kind"]))
    value = "zq_" + draw(words)
    return f"{which}={value}", ((which,),)


@st.composite
def bad_vary(draw: Any, kind: str | None = None) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Bad ``--vary`` arguments (argv words) and the names the error must contain; ``kind`` in :data:`VARY_KINDS`."""
    key = "detection.window_ns"
    kind = kind or draw(st.sampled_from(VARY_KINDS))
    if kind == "malformed":
        form = draw(st.sampled_from(["spec", "spec", "spec", "no_key", "no_equals", "no_value"]))
        spec = draw(st.sampled_from(["1:2", "1:2:3:4:5", "a:2:3", "1:b:3", "1:2:x", "1:2:0", "1:2:-3", "1:2:2.5",
                                     "1:2:3:lin", "0:2:3:log", "-1:2:3:log", "1,x", "1,,x", "nan:10:3", "10:inf:3",
                                     "1:2:nan", ":", "::", "1;2", "[1,2]"]))
        item = {"spec": f"{key}={spec}", "no_key": "=10,20", "no_equals": key, "no_value": f"{key}="}[form]
        return ("--vary", item), (("--vary",), (item,))
    if kind == "unknown_key":
        bad = draw(st.sampled_from(["detection.zq_", "zq_sec.window_ns", "zq_", "nodes.zq_"])) + draw(words)
        return ("--vary", f"{bad}=1,2"), ((bad,),)
    if kind == "static_key":
        bad = draw(st.sampled_from(["protocol", "encoding", "detection.kind", "name"]))
        return ("--vary", f"{bad}=1,2"), ((bad,),)
    if kind == "out_of_range":
        sec, k = draw(st.sampled_from(_KEYS_WITH_LO))
        lo, hi, lo_open, hi_open = _spec(sec, k)
        bad = draw(out_of_range(lo, hi, lo_open, hi_open).filter(lambda v: not (isinstance(v, int)
                                                                                and abs(v) > 10**300)))
        dotted = _dotted(sec, k)
        good = lo + 1e-3 if not math.isfinite(hi) else (lo + hi) / 2
        if draw(st.booleans()):
            item = f"{dotted}={good!r},{_num_text(bad)}"
        else:
            item = f"{dotted}={_num_text(bad)}:{good!r}:3"
        return ("--vary", item), ((dotted,), ("--vary",))
    if kind == "huge":
        num = draw(st.sampled_from([10**15, 10**400, 10**13, 10**18, 10**30, 2**64, 10**4000]))
        return ("--vary", f"{key}=1:2:{num}"), (("--vary",), (key,))
    if kind == "huge_product":
        n = draw(st.integers(10**6, 10**7))  # >= 1e12 points
        return ("--vary", f"{key}=1:200:{n}", "--vary", f"detection.efficiency=0.1:0.9:{n}"), (("--vary",),)
    if kind == "twice":
        return ("--vary", f"{key}=10,20", "--vary", f"{key}=30,40"), ((key,), ("--vary",))
    item = draw(st.sampled_from([f"{key}=,", f"{key}= , ", f"{key}=,,"]))
    return ("--vary", item), (("--vary",), (key,))


def _choose_out(draw: Any) -> tuple[tuple[str, ...], tuple, tuple[tuple[str, ...], ...]]:
    sub = draw(st.sampled_from(["", "/sub", "/a/b"]))
    out = PLAIN_FILE + sub
    return ("--out", out), ((PLAIN_FILE, b"not a directory\n"),), (("--out",), (PLAIN_FILE,))


def _replace_out(argv: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    i = argv.index("--out")
    return argv[:i] + new + argv[i + 2:]


FLAG_KINDS = (
    *(f"simulate:set-{k}" for k in SET_KINDS), "simulate:preset", "simulate:both", "simulate:neither",
    "simulate:picture", "simulate:unknown_flag",
    *(f"sweep:vary-{k}" for k in VARY_KINDS), "sweep:memory", "sweep:chunk", "sweep:out", "sweep:set", "sweep:preset",
    "optimize:lr", "optimize:steps", "optimize:min_rate", "optimize:min_fid", "optimize:missing_constraint",
    "optimize:objective", "optimize:free", "optimize:out", "optimize:set", "optimize:preset",
    "network:unknown_key", "network:no_section", "network:bad_value", "network:bad_choice",
    "presets:name", "demo:preset", "top:subcommand", "top:flag",
)


@st.composite
def bad_flags(draw: Any, which: str | None = None) -> Case:
    """Bad command-line flags for every subcommand; ``which`` in :data:`FLAG_KINDS` ("command:kind")."""
    cmd, _, kind = (which or draw(st.sampled_from(FLAG_KINDS))).partition(":")
    kind, _, sub = kind.partition("-")
    if cmd == "simulate":
        if kind == "set":
            item, names = draw(bad_set(sub or None))
            return Case(("simulate", "--preset", "oxford_2020", "--set", item), names, f"--set {item!r}")
        if kind == "preset":
            p = "zq_" + draw(words)
            return Case(("simulate", "--preset", p), ((p,),), "unknown preset")
        if kind == "both":
            return Case(("simulate", LINK_FILE, "--preset", "oxford_2020"), (("--preset",), (LINK_FILE,)),
                        "a file and --preset", ((LINK_FILE, VALID_LINK.encode()),))
        if kind == "neither":
            return Case(("simulate", "--json"), (("--preset",), ("CONFIG",), ("config",)), "no file, no preset")
        if kind == "picture":
            v = "zq_" + draw(words)
            return Case(("simulate", "--preset", "oxford_2020", "--picture", v), (("--picture",),), "--picture")
        flag = "--zq-" + draw(words).replace("_", "-")
        return Case(("simulate", "--preset", "oxford_2020", flag), ((flag,),), "unknown flag")
    if cmd == "sweep":
        if kind == "vary":
            words_, names = draw(bad_vary(sub or None))
            return Case(SWEEP + words_, names, f"--vary {' '.join(words_[1::2])!r}")
        if kind == "memory":
            v = draw(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "-0.5", "-1e300", "abc", "", "1e400"]))
            return Case(SWEEP + GOOD_VARY + ("--memory-mb", v), (("--memory-mb",),), f"--memory-mb {v}")
        if kind == "chunk":
            v = draw(st.one_of(st.sampled_from(["0", "-1", "abc", "1.5", "nan", ""]),
                               st.integers(-10**6, 0).map(str)))
            return Case(SWEEP + GOOD_VARY + ("--chunk-size", v), (("--chunk-size",),), f"--chunk-size {v}")
        if kind == "out":
            new, files, names = _choose_out(draw)
            return Case(_replace_out(SWEEP, new) + GOOD_VARY, names, f"--out {new[1]}", files)
        if kind == "set":
            item, names = draw(bad_set())
            return Case(SWEEP + GOOD_VARY + ("--set", item), names, f"--set {item!r}")
        p = "zq_" + draw(words)
        argv = tuple(p if a == "oxford_2020" else a for a in SWEEP) + GOOD_VARY
        return Case(argv, ((p,),), "unknown preset")
    if cmd == "optimize":
        if kind == "lr":
            v = draw(st.sampled_from(["inf", "-inf", "nan", "0", "-0", "-0.05", "abc", "", "1e400"]))
            return Case(OPTIMIZE + ("--lr", v), (("--lr",),), f"--lr {v}")
        if kind == "steps":
            v = draw(st.one_of(st.sampled_from(["-1", "abc", "1.5", "nan", ""]),
                               st.integers(-10**9, -1).map(str)))
            return Case(OPTIMIZE + ("--steps", v), (("--steps",),), f"--steps {v}")
        if kind == "min_rate":
            v = draw(st.sampled_from(["nan", "inf", "-inf", "-1", "-1e-9", "abc"]))
            return Case(OPTIMIZE + ("--objective", "fidelity_at_rate", "--min-rate-hz", v), (("--min-rate-hz",),),
                        f"--min-rate-hz {v}")
        if kind == "min_fid":
            v = draw(st.sampled_from(["nan", "inf", "-inf", "-0.1", "1.5", "abc"]))
            return Case(OPTIMIZE + ("--objective", "rate_at_fidelity", "--min-fidelity", v),
                        (("--min-fidelity",),), f"--min-fidelity {v}")
        if kind == "missing_constraint":
            obj, flag = draw(st.sampled_from([("fidelity_at_rate", "--min-rate-hz"),
                                              ("rate_at_fidelity", "--min-fidelity")]))
            return Case(OPTIMIZE + ("--objective", obj), ((flag,),), f"--objective {obj} without {flag}")
        if kind == "objective":
            v = draw(st.one_of(words.filter(lambda w: w not in ("fidelity", "rate")).map(lambda w: "zq_" + w),
                               st.sampled_from(["", "Fidelity", "rate_hz"])))
            return Case(OPTIMIZE + ("--objective", v), (("--objective",),), f"--objective {v!r}")
        if kind == "free":
            bad = draw(st.sampled_from(["detection.zq_x", "zq_sec.window_ns", "protocol", "detection.kind",
                                        "nodes.zq_y", "zq_z"]))
            argv = tuple(bad if a == "detection.window_ns" else a for a in OPTIMIZE)
            return Case(argv, ((bad,),), f"--free {bad}")
        if kind == "out":
            new, files, names = _choose_out(draw)
            return Case(_replace_out(OPTIMIZE, new), names, f"--out {new[1]}", files)
        if kind == "set":
            item, names = draw(bad_set())
            return Case(OPTIMIZE + ("--set", item), names, f"--set {item!r}")
        p = "zq_" + draw(words)
        return Case(tuple(p if a == "oxford_2020" else a for a in OPTIMIZE), ((p,),), "unknown preset")
    if cmd == "network":
        files = ((NET_FILE, VALID_NET.encode()),)
        if kind == "unknown_key":
            sec = draw(st.sampled_from(["chain", "ghz", "remote_gate"]))
            key = f"{sec}.zq_{draw(words)}"
            return Case(("network", NET_FILE, "--set", f"{key}=1"), ((key,),), f"--set {key}=1", files)
        if kind == "no_section":
            key = draw(st.sampled_from(["cutoff_s", "links.x", "zq.cutoff_s", "chain", "nodes"]))
            return Case(("network", NET_FILE, "--set", f"{key}=1"), (("--set",), (key,)), f"--set {key}=1", files)
        if kind == "bad_value":
            sec = draw(st.sampled_from(["chain", "remote_gate"]))
            key = draw(st.sampled_from(sorted(NET_NUMBERS[sec])))
            if (sec, key) == ("chain", "n_links"):
                key = "grid_size"
            spec = NET_NUMBERS[sec][key]
            value = draw(st.one_of(out_of_range(*spec), st.sampled_from(["abc", "", "true", "[1]"])))
            item = f"{sec}.{key}={_num_text(value)}"
            return Case(("network", NET_FILE, "--set", item), ((f"{sec}.{key}",),), f"--set {item}", files)
        key, v = draw(st.sampled_from([("chain.schedule", "sideways"), ("remote_gate.gate", "swap"),
                                       ("chain.schedule", "1")]))
        return Case(("network", NET_FILE, "--set", f"{key}={v}"), ((key,),), f"--set {key}={v}", files)
    if cmd == "presets":
        p = draw(st.one_of(words.map(lambda w: "zq_" + w), st.sampled_from(["oxford", "oxford_2021", " "])))
        return Case(("presets", p), ((p.strip() or "preset",),), f"presets {p!r}")
    if cmd == "demo":
        p = "zq_" + draw(words)
        return Case(("demo", "--preset", p), ((p,),), f"demo --preset {p}")
    if kind == "subcommand":
        c = "zq" + draw(words)
        return Case((c,), ((c,),), "unknown subcommand")
    flag = "--zq-" + draw(words).replace("_", "-")
    return Case((flag, "presets"), ((flag,),), "unknown top-level flag")
