"""CLI (`ionjax simulate | presets | demo`), presets of published experiments, and the error budget."""

import json

import numpy as np
import pytest

import ionjax as ij
from ionjax.cli import main

LINK_TOML = """protocol = "two_photon"
encoding = "polarization"
[node_a]
collection_efficiency = 0.3
photon_lifetime_ns = 1.0
[node_b]
collection_efficiency = 0.2
photon_lifetime_ns = 1.0
[detection]
window_ns = 1.0e5
dark_count_rate_hz = 50.0
[interference]
mode_overlap = 0.9
"""


@pytest.fixture
def link_file(tmp_path):
    p = tmp_path / "link.toml"
    p.write_text(LINK_TOML)
    return p


def test_simulate_json_matches_python_api(link_file, capsys):
    assert main(["simulate", str(link_file), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    res = ij.simulate(ij.load_link(str(link_file)))
    assert d["fidelity"] == pytest.approx(float(res.fidelity), rel=1e-12)
    assert d["success_probability"] == pytest.approx(float(res.success_probability), rel=1e-12)
    assert d["rate_hz"] == pytest.approx(float(res.rate_hz), rel=1e-12)
    assert set(d["patterns"]) == set(res.pattern_names)
    total = sum(v["probability"] for v in d["patterns"].values())
    assert total == pytest.approx(d["success_probability"], rel=1e-12)


def test_simulate_set_override(link_file, capsys):
    main(["simulate", str(link_file), "--json", "--set", "detection.efficiency=0.5"])
    d = json.loads(capsys.readouterr().out)
    ref = ij.simulate(ij.load_link(str(link_file), overrides={"detection.efficiency": 0.5}))
    assert d["success_probability"] == pytest.approx(float(ref.success_probability), rel=1e-12)
    # without dark counts, detectors at efficiency 0.5 cut the two-photon success by exactly 4
    main(["simulate", str(link_file), "--json", "--set", "detection.dark_count_rate_hz=0"])
    d0 = json.loads(capsys.readouterr().out)
    main(["simulate", str(link_file), "--json", "--set", "detection.dark_count_rate_hz=0",
          "--set", "detection.efficiency=0.5"])
    d1 = json.loads(capsys.readouterr().out)
    assert d1["success_probability"] / d0["success_probability"] == pytest.approx(0.25, rel=1e-10)


def test_table_output_and_budget(link_file, capsys):
    assert main(["simulate", str(link_file), "--budget"]) == 0
    out = capsys.readouterr().out
    assert "fidelity" in out and "mode mismatch" in out and "dark counts" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--set", "detection.efficiency=1.3"], "detection.efficiency"),
        (["--set", "detection.efficency=0.5"], "Did you mean 'efficiency'"),
        (["--set", "detection.efficiency=abc"], "must be a number"),
        (["--set", "nosuch.key=1"], "Unknown section"),
        (["--set", "noequals"], "KEY=VALUE"),
    ],
)
def test_bad_input_exit_2_no_traceback(link_file, capsys, args, needle):
    assert main(["simulate", str(link_file), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_missing_and_malformed_files(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("protocol = \n[node_a")
    assert main(["simulate", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_presets_list_and_show(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ij.presets.names():
        assert name in out
    assert main(["presets", "oxford_2020"]) == 0
    assert "Stephenson" in capsys.readouterr().out
    assert main(["simulate", "--preset", "oxford_2O20"]) == 2
    assert "Did you mean 'oxford_2020'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ij.presets.names())
def test_presets_cite_and_reproduce_their_papers(name):
    doc = ij.presets.describe(name)
    rep = ij.presets.reported(name)
    assert rep.citation.split()[1].rstrip(".") in doc or rep.citation.split(",")[0] in doc
    res = ij.simulate(ij.presets.get(name))
    if rep.fidelity is not None:
        # each reported number has one fitted knob (experiments/presets_from_papers.py): it is reproduced
        assert abs(float(res.fidelity) - rep.fidelity) <= 1e-3
    if rep.success_probability is not None:
        assert float(res.success_probability) == pytest.approx(rep.success_probability, rel=1e-3)
    if rep.rate_hz is not None:
        assert float(res.rate_hz) == pytest.approx(rep.rate_hz, rel=1e-3)


def test_error_budget_switches_each_imperfection_off():
    link = ij.presets.get("oxford_2020")
    lines = ij.error_budget(link)
    by_name = {b.name: b for b in lines}
    # each line is the fidelity of the link with that knob at its ideal value
    mm = by_name["mode mismatch"]
    assert mm.fidelity == pytest.approx(float(ij.simulate(link.set({"interference.mode_overlap": 1.0})).fidelity))
    assert by_name["all of the above"].fidelity == pytest.approx(1.0, abs=1e-9)
    gains = [b.gain for b in lines[:-1]]
    assert gains == sorted(gains, reverse=True)
    assert np.all(np.array(gains) >= -1e-12)


def test_demo_prints_real_numbers(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    res = ij.simulate(ij.presets.get("duke_2025"))
    assert f"{float(res.fidelity):.5f}" in out
    assert "Error budget" in out


def test_compare_text_names_the_paper():
    text = ij.presets.compare("innsbruck_2023")
    assert "Krutyanskiy" in text and "paper" in text and "Error budget" in text
