"""Bad input to any ``ionjax`` subcommand gets a clear answer: exit status 2, no traceback, and a
message that names the offending key, flag or file.

Property tests (hypothesis) draw damaged link files (unknown keys at the top, in sections; wrong
types; out-of-range, NaN and hundreds-of-digits values; sections that are not tables; unknown
protocol / encoding / detector names), damaged network files, files that are not UTF-8 TOML
(binary, UTF-16, garbage bytes, a directory, a missing file) and bad flags (``--set``, ``--vary``,
``--memory-mb``, ``--chunk-size``, ``--lr``, ``--steps``, ``--out``, presets, objectives...) from
``tests/_fuzz_inputs.py``, and run ``ionjax.cli.main(argv)`` in-process in an empty directory.
Every drawn input is bad by construction, so nothing is ever simulated. A fixed list of the
cases the issue names runs as plain parametrized tests.

Deterministic: ``derandomize=True`` and no example database, so CI and a laptop draw the same
cases. ``IONJAX_FUZZ_RANDOM=1`` draws fresh random cases instead, ``IONJAX_FUZZ_SCALE=4`` draws
four times as many. The number of cases run is printed at the end of the session.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import pytest
from _fuzz_inputs import (
    BASE_LINKS,
    BASE_NETS,
    DIR,
    FLAG_KINDS,
    LINK_FILE,
    LINK_KINDS,
    NET_FILE,
    NET_KINDS,
    OPTIMIZE,
    PLAIN_FILE,
    SWEEP,
    VALID_LINK,
    VALID_NET,
    Case,
    bad_files,
    bad_flags,
    bad_link_files,
    bad_network_files,
    toml_dumps,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

_RANDOM = os.environ.get("IONJAX_FUZZ_RANDOM", "").strip().lower() in ("1", "true", "yes")
_SCALE = max(0.05, float(os.environ.get("IONJAX_FUZZ_SCALE", "1") or 1))
# No shrinking: every drawn case is already small and printed in full, and a failing case is
# reported at once instead of after minutes of shrinking (the suite's time budget is tight).
FUZZ = settings(deadline=None, derandomize=not _RANDOM, database=None, print_blob=False,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])
#: Seconds one case may take: a bad input is refused before anything is compiled.
CASE_TIME_LIMIT_S = 30.0
COUNTS: Counter[str] = Counter()


def _n(base: int) -> int:
    return max(1, round(base * _SCALE))


class _TookTooLong(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    def alarm(signum, frame):  # noqa: ARG001
        raise _TookTooLong()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_case(case: Case) -> tuple[object, str]:
    """Run ``ionjax`` on ``case`` in a fresh empty directory: (exit status or what went wrong, output)."""
    from ionjax.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="ionjax-fuzz-") as d:
        for name, content in case.files:
            p = Path(d) / name
            if content is None:
                p.mkdir(parents=True)
            else:
                p.write_bytes(content)
        os.chdir(d)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _time_limit(CASE_TIME_LIMIT_S):
                try:
                    rc: object = main(list(case.argv))
                except SystemExit as exc:
                    rc = 0 if exc.code is None else exc.code
        except _TookTooLong:
            rc = f"still running after {CASE_TIME_LIMIT_S:g} s (the input was not refused up front)"
        except Exception as exc:  # noqa: BLE001 - what escapes main() is the failure being tested
            rc = f"raised {type(exc).__name__} out of ionjax.cli.main"
            err.write(traceback.format_exc())
        finally:
            os.chdir(old)
    return rc, out.getvalue() + err.getvalue()


def failure(case: Case) -> str | None:
    """None if ``ionjax`` refused ``case`` cleanly; else what was wrong, with a reproduction."""
    rc, output = run_case(case)
    problems = []
    if rc != 2:
        problems.append(f"exit status {rc!r}, not 2" + (" (the bad input was accepted)" if rc == 0 else ""))
    if "Traceback" in output:
        problems.append("a traceback in the output")
    if not any(all(s in output for s in alt) for alt in case.names):
        want = " or ".join(" + ".join(repr(s) for s in alt) for alt in case.names)
        problems.append(f"the message does not name {want}")
    if not problems:
        return None
    shown = output if len(output) < 3000 else output[:1500] + "\n[...]\n" + output[-1500:]
    return (f"{case.what}: " + "; ".join(problems) + "\n" + case.reproduction()
            + "\n--- output ---\n" + (shown.rstrip() or "(none)"))


def check(case: Case, kind: str) -> None:
    COUNTS[kind] += 1
    problem = failure(case)
    assert problem is None, problem


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    yield
    total = sum(COUNTS.values())
    line = f"test_cli_fuzz: {total} bad inputs run (" + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())) + ")"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None:  # pragma: no cover
        print(line)
        return
    with capman.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


# --------------------------------------------------------------------------------- property tests
@pytest.mark.parametrize("kind", LINK_KINDS)
@settings(FUZZ, max_examples=_n(18))
@given(data=st.data())
def test_bad_link_files_are_refused(kind, data):
    check(data.draw(bad_link_files(kind), label="case"), "link files")


@settings(FUZZ, max_examples=_n(50))
@given(case=bad_files())
def test_files_that_are_not_toml_are_refused(case):
    check(case, "unreadable files")


@pytest.mark.parametrize("kind", NET_KINDS)
@settings(FUZZ, max_examples=_n(10))
@given(data=st.data())
def test_bad_network_files_are_refused(kind, data):
    check(data.draw(bad_network_files(kind), label="case"), "network files")


@pytest.mark.parametrize("which", FLAG_KINDS)
@settings(FUZZ, max_examples=_n(6))
@given(data=st.data())
def test_bad_flags_are_refused(which, data):
    check(data.draw(bad_flags(which), label="case"), "flags")


# ------------------------------------------------------------------------- the named cases
def _link(text: str) -> tuple:
    return ((LINK_FILE, text.encode()),)


def _net(doc: dict) -> tuple:
    return ((NET_FILE, toml_dumps(doc).encode()),)


_VARY = ("--vary", "detection.window_ns=20,40")
_PLAIN = ((PLAIN_FILE, b"x\n"),)
NAMED_CASES = [
    Case(("simulate", DIR), ((DIR,),), "a directory as the link file", ((DIR, None),)),
    Case(("network", DIR), ((DIR,),), "a directory as the network file", ((DIR, None),)),
    Case(("simulate", "missing.toml"), (("missing.toml",),), "a missing link file"),
    Case(("network", "missing.toml"), (("missing.toml",),), "a missing network file"),
    Case(("sweep", "missing.toml", *_VARY, "--out", "o"), (("missing.toml",),), "sweep: a missing link file"),
    Case(("simulate", LINK_FILE), ((LINK_FILE,),), "a UTF-16 link file",
         ((LINK_FILE, VALID_LINK.encode("utf-16")),)),
    Case(("simulate", LINK_FILE), ((LINK_FILE,),), "a binary link file",
         ((LINK_FILE, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),)),
    Case(("network", NET_FILE), ((NET_FILE,),), "a UTF-16 network file", ((NET_FILE, VALID_NET.encode("utf-16")),)),
    Case(("simulate", LINK_FILE), (("detection",),), "detection = []", _link("detection = []\n")),
    Case(("simulate", LINK_FILE), (("node_a",),), "node_a = 3", _link("node_a = 3\n")),
    Case(("simulate", LINK_FILE), (("zq_top",),), "an unknown top-level key", _link("zq_top = 1\n")),
    Case(("simulate", LINK_FILE), (("node_b.zq_key",),), "an unknown key in [node_b]",
         _link("[node_b]\nzq_key = 1\n")),
    Case(("simulate", LINK_FILE), (("detection.efficiency",),), "efficiency as a string",
         _link('[detection]\nefficiency = "high"\n')),
    Case(("simulate", LINK_FILE), (("detection.efficiency",),), "efficiency as a table",
         _link("[detection.efficiency]\nvalue = 0.5\n")),
    Case(("simulate", LINK_FILE), (("node_a.collection_efficiency",),), "NaN",
         _link("[node_a]\ncollection_efficiency = nan\n")),
    Case(("simulate", LINK_FILE), (("attempt_rate_hz",),), "an integer of 400 digits",
         _link("attempt_rate_hz = 1" + "0" * 400 + "\n")),
    Case(("simulate", LINK_FILE), (("attempt_rate_hz",), (LINK_FILE,)), "an integer of 5000 digits (over int's limit)",
         _link("attempt_rate_hz = 1" + "0" * 5000 + "\n")),
    Case(("network", NET_FILE), (("chain.grid_size",), (NET_FILE,)), "network: a 5000-digit integer",
         ((NET_FILE, (VALID_NET + "\n[chain]\ngrid_size = 1" + "0" * 5000 + "\n").encode()),)),
    Case(("simulate", "--preset", "oxford_2020", "--set", "detection.efficiency=1" + "0" * 5000),
         (("detection.efficiency",),), "--set a 5000-digit integer"),
    Case(("simulate", LINK_FILE), (("node_a.fiber_length_km",),), "a negative integer of 400 digits",
         _link("[node_a]\nfiber_length_km = -1" + "0" * 400 + "\n")),
    Case(("simulate", LINK_FILE), (("protocol",),), "an unknown protocol", _link('protocol = "three_photon"\n')),
    Case(("simulate", LINK_FILE), (("encoding",),), "an unknown encoding", _link('encoding = "orbital"\n')),
    Case(("simulate", LINK_FILE), (("detection.kind",), ("kind",)), "an unknown detector kind",
         _link('[detection]\nkind = "bolometer"\n')),
    Case(("simulate", "--preset", "oxford_2020", "--set", "detection.efficiency"), (("--set",),), "--set without ="),
    Case(("simulate", "--preset", "oxford_2020", "--set", "detection.zq_x=1"), (("detection.zq_x",),),
         "--set an unknown key"),
    Case(("simulate", "--preset", "oxford_2020", "--set", "detection.efficiency=2"), (("detection.efficiency",),),
         "--set out of range"),
    Case(("simulate", "--preset", "oxford_2020", "--set", "nodes.fiber_length_km=1" + "0" * 400),
         (("nodes.fiber_length_km",), ("node_a.fiber_length_km",)), "--set a 400-digit integer"),
    Case(SWEEP + ("--vary", "detection.window_ns"), (("--vary",),), "--vary without ="),
    Case(SWEEP + ("--vary", "detection.window_ns=1:2:1000000000000000"), (("--vary",),), "--vary 1e15 points"),
    Case(SWEEP + ("--vary", "detection.window_ns=1:2:1" + "0" * 400), (("--vary",),), "--vary a 401-digit NUM"),
    Case(SWEEP + ("--vary", "detection.window_ns=1:200:1000000", "--vary", "detection.efficiency=0.1:0.9:1000000"),
         (("--vary",),), "--vary 1e12 points in all"),
    Case(SWEEP + ("--vary", "detection.zq_x=1,2"), (("detection.zq_x",),), "--vary an unknown key"),
    Case(SWEEP + _VARY + ("--memory-mb", "nan"), (("--memory-mb",),), "--memory-mb nan"),
    Case(SWEEP + _VARY + ("--memory-mb", "inf"), (("--memory-mb",),), "--memory-mb inf"),
    Case(SWEEP + _VARY + ("--memory-mb", "-1"), (("--memory-mb",),), "--memory-mb -1"),
    Case(SWEEP + _VARY + ("--chunk-size", "0"), (("--chunk-size",),), "--chunk-size 0"),
    Case(SWEEP[:3] + ("--out", PLAIN_FILE) + SWEEP[5:] + _VARY, (("--out",), (PLAIN_FILE,)), "sweep --out a file",
         _PLAIN),
    Case(SWEEP[:3] + ("--out", PLAIN_FILE + "/sub") + SWEEP[5:] + _VARY, (("--out",), (PLAIN_FILE,)),
         "sweep --out below a file", _PLAIN),
    Case(OPTIMIZE + ("--lr", "inf"), (("--lr",),), "--lr inf"),
    Case(OPTIMIZE + ("--lr", "0"), (("--lr",),), "--lr 0"),
    Case(OPTIMIZE + ("--steps", "-1"), (("--steps",),), "--steps -1"),
    Case(OPTIMIZE + ("--objective", "zq_objective"), (("--objective",),), "an unknown objective"),
    Case(OPTIMIZE + ("--objective", "fidelity_at_rate"), (("--min-rate-hz",),), "fidelity_at_rate without a rate"),
    Case(OPTIMIZE[:7] + ("--out", PLAIN_FILE) + OPTIMIZE[9:], (("--out",), (PLAIN_FILE,)), "optimize --out a file",
         _PLAIN),
    Case(("simulate", "--preset", "zq_preset"), (("zq_preset",),), "simulate: an unknown preset"),
    Case(("presets", "zq_preset"), (("zq_preset",),), "presets: an unknown preset"),
    Case(("simulate", "--preset", ""), (("--preset",),), "simulate: an empty preset name"),
    Case(SWEEP[:2] + ("",) + SWEEP[3:] + _VARY, (("--preset",),), "sweep: an empty preset name"),
    Case(("presets", ""), (("preset",),), "presets: an empty preset name"),
    Case(("demo", "--preset", "zq_preset"), (("zq_preset",),), "demo: an unknown preset"),
    Case(("network", NET_FILE), (("zq_preset",),), "network: an unknown preset",
         _net({"links": [{"preset": "zq_preset"}]})),
    Case(("network", NET_FILE), (("links",),), "network: no links", _net({"links": []})),
    Case(("network", NET_FILE), (("chain.cutoff_s",),), "network: chain.cutoff_s = 0",
         _net({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "chain": {"cutoff_s": 0.0}})),
    Case(("network", NET_FILE), (("chain.grid_size",),), "network: a 400-digit grid_size",
         _net({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "chain": {"grid_size": 10**400}})),
    Case(("network", NET_FILE, "--set", "chain.cutoff_s=nan"), (("chain.cutoff_s",),), "network --set nan",
         ((NET_FILE, VALID_NET.encode()),)),
]


@pytest.mark.parametrize("case", NAMED_CASES, ids=[c.what for c in NAMED_CASES])
def test_named_bad_inputs_are_refused(case):
    check(case, "named")


def test_the_undamaged_inputs_are_good():
    """The harness itself: the documents the damage starts from are valid, and valid files run (exit 0)."""
    from ionjax.config import load_link
    from ionjax.network.config import load_network

    for doc in BASE_LINKS:
        load_link(doc)
    for doc in BASE_NETS:
        load_network(doc)
    for argv, files in [(("simulate", LINK_FILE, "--json"), ((LINK_FILE, VALID_LINK.encode()),)),
                        (("network", NET_FILE, "--json"), ((NET_FILE, VALID_NET.encode()),))]:
        rc, output = run_case(Case(argv, (), "a valid input", files))
        assert rc == 0, output
