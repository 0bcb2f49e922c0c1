"""The `ionjax` CLI refuses bad input cleanly (exit 2, the flag or file named, no traceback), reports bugs as
bugs (exit 1, traceback), writes strict JSON, saves results before explaining a missing matplotlib, and
keeps compiled programs in a persistent cache (CLI only).

`main(argv)` returns the exit status and never raises SystemExit (argparse's exits are returned too).
"""

import argparse
import importlib
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import ionjax as ij
from ionjax.cli import build_parser, cache_dir, main
from ionjax.cli._common import to_json
from ionjax.config import SCHEMA

ROOT = Path(__file__).resolve().parents[1]

LINK_TOML = """protocol = "two_photon"
encoding = "polarization"
[node_a]
collection_efficiency = 0.3
[node_b]
collection_efficiency = 0.2
[detection]
dark_count_rate_hz = 50.0
"""

NETWORK_TOML = """nodes = ["alice", "bob"]
[[links]]
between = ["alice", "bob"]
fidelity = 0.95
success_probability = 0.2
attempt_rate_hz = 1.0e6
"""


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    # in-process main() must not point this test process's JAX at a cache directory
    monkeypatch.setenv("IONJAX_NO_COMPILE_CACHE", "1")


@pytest.fixture
def link_file(tmp_path):
    p = tmp_path / "link.toml"
    p.write_text(LINK_TOML)
    return p


def _strict_json(text):
    def bad(c):
        raise ValueError(f"not JSON: {c}")

    return json.loads(text, parse_constant=bad)


def _clean_error(err, *needles):
    assert "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


# ----------------------------------------------------------------------------- 1. README's link.toml
def _default(spec):
    return spec.default if hasattr(spec, "default") else spec[0]


def _readme_blocks(lang):
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_link_toml_is_a_valid_link_with_real_defaults():
    block = next(b for b in _readme_blocks("toml") if "link.toml" in b.splitlines()[0])
    data = tomllib.loads(block)
    link = ij.load_link(data)  # every key is known
    for section, table in data.items():
        if not isinstance(table, dict):
            if section in SCHEMA[""]:
                assert table == _default(SCHEMA[""][section]), section
            continue
        for key, value in table.items():
            if key == "kind":
                assert value == "threshold"
                continue
            if key == "time_resolved_correction":
                assert value is False
                continue
            default = _default(SCHEMA[section][key])
            assert value == default or (math.isinf(default) and math.isinf(value)), (section, key, value, default)
            assert float(link.get(f"{section}.{key}")) == pytest.approx(default)
    for section in ("node_a", "detection", "interference"):  # documents every key of these sections
        assert set(data[section]) - {"kind", "time_resolved_correction"} == set(SCHEMA[section]), section


def test_readme_mentions_version_and_compile_cache():
    text = (ROOT / "README.md").read_text()
    assert "--version" in text and "IONJAX_NO_COMPILE_CACHE" in text and "IONJAX_CACHE_DIR" in text


# ----------------------------------------------------------------------------- 2. errors vs bugs
def test_config_error_exit_2_without_traceback(link_file, capsys):
    assert main(["simulate", str(link_file), "--set", "detection.efficiency=2"]) == 2
    err = capsys.readouterr().err
    _clean_error(err, "ionjax simulate: error:", "detection.efficiency")


def test_both_config_and_preset_is_refused(link_file, capsys):
    assert main(["simulate", str(link_file), "--preset", "oxford_2020"]) == 2
    _clean_error(capsys.readouterr().err, "exactly one of CONFIG", "--preset")
    assert main(["simulate"]) == 2
    _clean_error(capsys.readouterr().err, "exactly one of CONFIG")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), ValueError("internal shape mismatch"), KeyError("x")])
def test_a_bug_shows_its_traceback_and_says_so(link_file, capsys, monkeypatch, exc):
    import ionjax.protocols

    def broken(*a, **k):
        raise exc

    monkeypatch.setattr(ionjax.protocols, "simulate", broken)
    assert main(["simulate", str(link_file)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and type(exc).__name__ in err
    assert "bug in ionjax" in err and "report" in err
    assert f"ionjax simulate {link_file}" in err  # the command line to report


def test_cli_package_raises_no_bare_value_error():
    for path in (ROOT / "ionjax" / "cli").glob("*.py"):
        assert "raise ValueError" not in path.read_text(), path


# ----------------------------------------------------------------------------- 3. config paths
@pytest.mark.parametrize("command", ["simulate", "network"])
def test_directory_as_config(command, tmp_path, capsys):
    assert main([command, str(tmp_path)]) == 2
    _clean_error(capsys.readouterr().err, "is a directory", str(tmp_path))


@pytest.mark.parametrize("command, text", [("simulate", LINK_TOML), ("network", NETWORK_TOML)])
def test_unreadable_config(command, text, tmp_path, capsys, monkeypatch):
    p = tmp_path / "cfg.toml"
    p.write_text(text)
    real_read_bytes, real_read_text = Path.read_bytes, Path.read_text

    def deny(self, *a, **k):
        if Path(self) == p:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self, *a, **k) if not a and not k else real_read_text(self, *a, **k)

    monkeypatch.setattr(Path, "read_bytes", deny)
    monkeypatch.setattr(Path, "read_text", deny)
    assert main([command, str(p)]) == 2
    _clean_error(capsys.readouterr().err, "cannot be read", str(p))


def test_network_json_is_strict(tmp_path, capsys):
    p = tmp_path / "net.toml"
    p.write_text(NETWORK_TOML)
    assert main(["network", str(p), "--json"]) == 0
    _strict_json(capsys.readouterr().out)


# ----------------------------------------------------------------------------- 4. --out
@pytest.mark.parametrize("below", [False, True])
@pytest.mark.parametrize("command", ["sweep", "optimize"])
def test_out_is_a_file(command, below, link_file, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    out = blocker / "sub" if below else blocker
    extra = (["--vary", "detection.window_ns=5:10:2"] if command == "sweep"
             else ["--free", "detection.window_ns", "--steps", "1"])
    assert main([command, str(link_file), *extra, "--out", str(out), "--quiet"]) == 2
    _clean_error(capsys.readouterr().err, "--out", str(out), "not a directory")


# ----------------------------------------------------------------------------- 5. --vary
def _sweep_module():
    return importlib.import_module("ionjax.sweep")  # `ionjax.sweep` is the function


def test_huge_grid_refused_before_allocating(link_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(link_file), "--vary", "detection.window_ns=1:2:1000000000000000",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    _clean_error(err, "1,000,000,000,000,000 points", "PiB", f"{_sweep_module().MAX_GRID_POINTS:,}")
    assert not out.exists()  # refused before anything was made


def test_product_of_axes_counts(link_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_sweep_module(), "MAX_GRID_POINTS", 100)
    assert main(["sweep", str(link_file), "--vary", "detection.window_ns=1:2:20",
                 "--vary", "detection.efficiency=0.1:0.9:6", "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "120 points", "20 x 6", "(100)")


@pytest.mark.parametrize("spec, needle", [
    ("detection.window_ns=1:2:0", "NUM"),
    ("detection.window_ns=1:2:-3", "NUM"),
    ("detection.window_ns=1:2:2.5", "whole number"),
    ("detection.window_ns=1:2:x", "whole number"),
    ("detection.window_ns=0:2:3:log", "log axis"),
    ("detection.window_ns=-1:2:3:log", "log axis"),
    ("detection.window_ns=nan:2:3", "START must be a finite number"),
    ("detection.window_ns=1:inf:3", "STOP must be a finite number"),
    ("detection.window_ns=1,nan", "finite"),
    ("detection.window_ns=abc,1", "must be a number"),
    ("detection.window_ns=,,", "empty"),
    ("detection.window_ns=", "KEY=START:STOP:NUM"),
    ("detection.window_ns=1:2:3:lin", "START:STOP:NUM:log"),
])
def test_bad_vary_specs(spec, needle, link_file, tmp_path, capsys):
    assert main(["sweep", str(link_file), "--vary", spec, "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "--vary", repr(spec) if needle != "KEY=START:STOP:NUM" else spec, needle)


def test_zip_lengths_must_match(link_file, tmp_path, capsys):
    assert main(["sweep", str(link_file), "--zip", "--vary", "detection.window_ns=1:2:3",
                 "--vary", "detection.efficiency=0.5,0.6", "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "--zip", "'detection.window_ns=1:2:3': 3", ": 2")


def test_key_twice(link_file, tmp_path, capsys):
    assert main(["sweep", str(link_file), "--vary", "detection.window_ns=1:2:3",
                 "--vary", "detection.window_ns=4,5", "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "twice")


# ----------------------------------------------------------------------------- 6. --plot without matplotlib
def test_sweep_plot_without_matplotlib_saves_first(link_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "run"
    assert main(["sweep", str(link_file), "--vary", "detection.window_ns=5,10", "--out", str(out),
                 "--plot", "--quiet"]) == 2
    err = capsys.readouterr().err
    _clean_error(err, 'pip install "ionjax[plot]"', 'pip install -e ".[plot]"', "saved")
    assert (out / "sweep.npz").exists() and (out / "sweep.csv").exists()
    assert ij.SweepResult.load(out).fidelity.shape == (2,)


def test_optimize_plot_without_matplotlib_saves_first(link_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "opt"
    assert main(["optimize", str(link_file), "--free", "detection.window_ns", "--steps", "2", "--out", str(out),
                 "--plot", "--quiet"]) == 2
    err = capsys.readouterr().err
    _clean_error(err, 'pip install "ionjax[plot]"', "saved")
    for name in ("optimized_link.toml", "optimized_link.json", "history.csv", "history.npz"):
        assert (out / name).exists(), name
    assert not (out / "history.png").exists()


# ----------------------------------------------------------------------------- 7. numeric flags
@pytest.mark.parametrize("command, args, flag", [
    ("sweep", ["--memory-mb", "nan"], "--memory-mb"),
    ("sweep", ["--memory-mb", "inf"], "--memory-mb"),
    ("sweep", ["--memory-mb", "0"], "--memory-mb"),
    ("sweep", ["--memory-mb", "-1"], "--memory-mb"),
    ("sweep", ["--chunk-size", "0"], "--chunk-size"),
    ("sweep", ["--chunk-size", "2.5"], "--chunk-size"),
    ("optimize", ["--lr", "inf"], "--lr"),
    ("optimize", ["--lr", "nan"], "--lr"),
    ("optimize", ["--lr", "0"], "--lr"),
    ("optimize", ["--lr", "-1"], "--lr"),
    ("optimize", ["--steps", "0"], "--steps"),
    ("optimize", ["--steps", "-5"], "--steps"),
    ("optimize", ["--objective", "fidelity_at_rate", "--min-rate-hz", "nan"], "--min-rate-hz"),
    ("optimize", ["--objective", "rate_at_fidelity", "--min-fidelity", "2"], "--min-fidelity"),
])
def test_bad_numeric_flags(command, args, flag, link_file, tmp_path, capsys):
    extra = (["--vary", "detection.window_ns=5,10"] if command == "sweep" else ["--free", "detection.window_ns"])
    rc = main([command, str(link_file), *extra, *args, "--out", str(tmp_path / "o")])
    assert rc == 2  # argparse's exit status, returned (not raised) by main
    err = capsys.readouterr().err
    _clean_error(err, f"argument {flag}:", repr(args[-1]))
    assert not (tmp_path / "o").exists()


def test_constraint_flags_match_the_objective(link_file, tmp_path, capsys):
    assert main(["optimize", str(link_file), "--free", "detection.window_ns", "--objective", "fidelity_at_rate",
                 "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "needs --min-rate-hz")
    assert main(["optimize", str(link_file), "--free", "detection.window_ns", "--min-fidelity", "0.9",
                 "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "--min-fidelity", "rate_at_fidelity")


# ----------------------------------------------------------------------------- 8. strict JSON
def test_to_json_writes_non_finite_as_null():
    text = to_json({"a": float("nan"), "b": [np.inf, -np.inf, 1.5], "c": np.float64(np.nan),
                    "d": np.array([1.0, np.nan]), "e": np.int64(3), "f": True, "g": None})
    assert _strict_json(text) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [1.0, None], "e": 3,
                                  "f": True, "g": None}


def test_simulate_json_nan_is_null(link_file, capsys, monkeypatch):
    from ionjax.protocols.result import LinkResult

    real = LinkResult.to_dict
    monkeypatch.setattr(LinkResult, "to_dict", lambda self: {**real(self), "fidelity": float("nan"),
                                                              "rate_hz": float("inf")})
    assert main(["simulate", str(link_file), "--json"]) == 0
    d = _strict_json(capsys.readouterr().out)
    assert d["fidelity"] is None and d["rate_hz"] is None


def test_network_json_nan_is_null(tmp_path, capsys, monkeypatch):
    import ionjax.network.config as netcfg

    p = tmp_path / "net.toml"
    p.write_text(NETWORK_TOML)
    monkeypatch.setattr(netcfg, "run_network", lambda spec, **kw: {"links": [{"fidelity": float("nan")}],
                                                                   "chain": {"rate_hz": float("inf")}})
    assert main(["network", str(p), "--json"]) == 0
    assert _strict_json(capsys.readouterr().out) == {"links": [{"fidelity": None}], "chain": {"rate_hz": None}}


# ----------------------------------------------------------------------------- 9. --version
def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"ionjax {metadata.version('ionjax')}"
    assert ij.__version__


# ----------------------------------------------------------------------------- 10. compile cache
def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("IONJAX_NO_COMPILE_CACHE")
    monkeypatch.delenv("IONJAX_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "ionjax" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "ionjax" / "jax"
    monkeypatch.setenv("IONJAX_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("IONJAX_NO_COMPILE_CACHE", "1")
    assert cache_dir() is None


def _recorded_updates(monkeypatch):
    import jax

    calls = {}
    real = jax.config.update

    def record(name, value):
        calls[name] = value
        if name == "jax_enable_x64":
            real(name, value)

    monkeypatch.setattr(jax.config, "update", record)
    return calls


def test_main_sets_the_cache_only_when_wanted(monkeypatch, tmp_path, capsys):
    calls = _recorded_updates(monkeypatch)
    assert main(["presets"]) == 0
    assert "jax_compilation_cache_dir" not in calls  # IONJAX_NO_COMPILE_CACHE=1 (fixture)
    monkeypatch.delenv("IONJAX_NO_COMPILE_CACHE")
    monkeypatch.setenv("IONJAX_CACHE_DIR", str(tmp_path / "c"))
    assert main(["presets"]) == 0
    assert calls["jax_compilation_cache_dir"] == str(tmp_path / "c") and (tmp_path / "c").is_dir()
    assert calls["jax_persistent_cache_min_compile_time_secs"] <= 0.1


def test_uncreatable_cache_dir_is_no_error(monkeypatch, tmp_path, capsys):
    calls = _recorded_updates(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.delenv("IONJAX_NO_COMPILE_CACHE")
    monkeypatch.setenv("IONJAX_CACHE_DIR", str(blocker / "cache"))
    assert main(["presets"]) == 0
    assert "jax_compilation_cache_dir" not in calls
    assert capsys.readouterr().err == ""


def test_cache_is_written_by_the_cli_and_not_by_the_library(tmp_path):
    # a fresh process is the point: JAX's cache settings are global to a process
    code = ("import jax, ionjax\n"
            "assert not jax.config.jax_compilation_cache_dir and not jax.config.jax_enable_x64\n"
            "from ionjax.cli import main\n"
            "rc = main(['simulate', '--preset', 'oxford_2020', '--json'])\n"
            "assert jax.config.jax_compilation_cache_dir\n"
            "raise SystemExit(rc)\n")
    env = {**os.environ, "IONJAX_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}
    env.pop("IONJAX_NO_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("JAX_ENABLE_X64", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _strict_json(r.stdout)
    assert any((tmp_path / "cache").iterdir())


# ----------------------------------------------------------------------------- 11. help everywhere
def _subparsers(parser):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_option_has_help():
    parser = build_parser()
    for name, p in _subparsers(parser).items():
        for action in p._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings or action.dest)


@pytest.mark.parametrize("command", ["simulate", "sweep", "optimize", "network", "presets", "demo"])
def test_subcommand_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ionjax {command}")


# ----------------------------------------------------------------------------- 12. --free swallows CONFIG
def test_free_swallowing_the_config(link_file, tmp_path, capsys):
    assert main(["optimize", "--free", "detection.window_ns", str(link_file), "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, f"--free took {str(link_file)!r}", "Put the file before --free", " -- ")
    # a name ending in .toml that does not exist is caught as well
    assert main(["optimize", "--free", "detection.window_ns", "missing.toml", "--out", str(tmp_path / "o")]) == 2
    _clean_error(capsys.readouterr().err, "'missing.toml'")


def test_free_list_ended_by_double_dash_parses():
    parser = build_parser()
    args = parser.parse_args(["optimize", "--out", "o", "--free", "detection.window_ns", "nodes.excitation_probability",
                              "--", "link.toml"])
    assert args.config == "link.toml" and args.free == ["detection.window_ns", "nodes.excitation_probability"]


# ----------------------------------------------------------------------------- 13. presets as TOML
@pytest.mark.parametrize("name", ij.presets.names())
def test_presets_print_a_link_file_with_the_same_numbers(name, tmp_path, capsys):
    assert main(["presets", name]) == 0
    text = capsys.readouterr().out
    assert ij.presets.reported(name).citation.split(",")[0] in text
    data = tomllib.loads(text)  # a TOML document
    assert data["name"] == name and "node_a" in data and "detection" in data
    path = tmp_path / "l.toml"
    path.write_text(text)
    assert main(["simulate", str(path), "--json"]) == 0
    from_file = _strict_json(capsys.readouterr().out)
    assert main(["simulate", "--preset", name, "--json"]) == 0
    from_preset = _strict_json(capsys.readouterr().out)
    assert from_file == from_preset
    assert "assumption" in text  # the preset's assumptions travel as comments


# ----------------------------------------------------------------------------- 14. no / unknown subcommand
def test_no_subcommand(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    _clean_error(err, "usage: ionjax", "COMMAND", "simulate")


def test_unknown_subcommand(capsys):
    assert main(["simulat"]) == 2
    _clean_error(capsys.readouterr().err, "invalid choice", "simulate")


def test_top_level_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("simulate", "sweep", "optimize", "network", "presets", "demo", "--version"):
        assert name in out
