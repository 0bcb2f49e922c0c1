"""Network files never give a silent wrong answer: bad files, bad values, unsupported topologies, the remote
gate's pair, coarse grids, and JSON-valid output (issue 9)."""

import json
import warnings
from pathlib import Path

import pytest

from ionjax.cli import main
from ionjax.errors import ConfigError
from ionjax.network import expected_max_geometric, load_network, remote_gate, repeater_chain, run_network
from ionjax.network.chain import GridWarning


def L(a, b, f=0.9, p=0.1):
    return {"between": [a, b], "fidelity": f, "success_probability": p}


def cli_error(tmp_path, capsys, text_or_bytes, *extra):
    """Run `ionjax network FILE` on the contents; return stderr, asserting exit 2 and no traceback."""
    path = tmp_path / "net.toml"
    if isinstance(text_or_bytes, bytes):
        path.write_bytes(text_or_bytes)
    else:
        path.write_text(text_or_bytes)
    assert main(["network", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("ionjax network: error:")
    return err


# ----------------------------------------------------------------------------- 1. files
def test_directory_binary_and_utf16_files_name_the_file(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"Network file .* is a directory"):
        load_network(tmp_path)
    assert main(["network", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "directory" in err and "Traceback" not in err
    err = cli_error(tmp_path, capsys, b"\x00\x01\xff\xfe binary")
    assert "net.toml" in err and "not a UTF-8 TOML file" in err
    err = cli_error(tmp_path, capsys, 'name = "x"\n'.encode("utf-16"))
    assert "net.toml" in err and "UTF-8" in err
    err = cli_error(tmp_path, capsys, "[[links]\nfidelity = ")
    assert "net.toml" in err and "not valid TOML" in err


def test_unreadable_file_names_the_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "locked.toml"
    path.write_text("[[links]]\nfidelity = 0.9\nsuccess_probability = 0.1\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # tests run as root: chmod would not stop them
    with pytest.raises(ConfigError, match=r"Network file .*locked\.toml.* cannot be read \(permission denied\)"):
        load_network(path)
    assert main(["network", str(path)]) == 2
    err = capsys.readouterr().err
    assert "locked.toml" in err and "permission denied" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- 2. values
ONE = [{"fidelity": 0.9, "success_probability": 0.1}]
BAD_VALUES = [
    ({"links": [L("a", "b"), {"between": ["b", "c"], "fidelity": 10**400, "success_probability": 0.1}]},
     r"links\[1\]\.fidelity is an integer with 401 digits, too large"),
    ({"links": ONE, "chain": {"grid_size": 10**500}}, r"chain\.grid_size is an integer with 501 digits"),
    ({"links": ONE, "chain": {"n_links": 10**400}}, r"chain\.n_links is an integer with 401 digits"),
    ({"links": [{"node_a": {"collection_efficiency": 10**400}}]},
     r"links\[0\]\.node_a\.collection_efficiency is an integer with 401 digits"),
    ({"links": ONE, "ghz": {"links": [10**400]}}, r"ghz\.links\[0\] is an integer with 401 digits"),
    ({"links": ONE, "chain": {"cutoff_s": float("nan")}}, r"chain\.cutoff_s = nan is not a number"),
    ({"links": [{"fidelity": float("nan"), "success_probability": 0.1}]}, r"links\[0\]\.fidelity = nan"),
    ({"links": ONE, "chain": {"time_step_s": float("inf")}},
     r"chain\.time_step_s = inf is out of range: allowed \(0, inf\)"),
    ({"links": ONE, "ghz": {"time_step_s": "inf"}}, r"ghz\.time_step_s = inf is out of range"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1, "attempt_rate_hz": float("inf")}]},
     r"links\[0\]\.attempt_rate_hz = inf is out of range: allowed \(0, inf\)"),
    ({"links": ONE, "chain": {"grid_size": "inf"}}, r"chain\.grid_size must be an integer or 'auto'"),
    ({"links": [{"fidelity": True, "success_probability": 0.1}]}, r"links\[0\]\.fidelity must be a number.*boolean"),
    ({"links": ONE, "chain": {"gate_error": False}}, r"chain\.gate_error must be a number.*boolean"),
    ({"links": ONE, "remote_gate": {"link": True}}, r"remote_gate\.link must be an integer.*boolean"),
    ({"links": ONE, "ghz": {"links": [True]}}, r"ghz\.links must be a non-empty list of indices"),
    ({"links": ONE, "chain": {"schedule": 3}}, r"chain\.schedule = 3 is not known; allowed: nested, sequential"),
    ({"links": ONE, "chain": {"grid_size": 100.5}}, r"chain\.grid_size must be an integer"),
    ({"links": ONE, "chain": 3}, r"\[chain\] must be a table of keys, got an integer"),
    ({"links": ONE, "ghz": "x"}, r"\[ghz\] must be a table of keys"),
    ({"links": ONE, "remote_gate": [{"gate": "cz"}]}, r"\[remote_gate\] must be one table.*\[\[remote_gate\]\]"),
    ({"links": {"fidelity": 0.9, "success_probability": 0.1}}, r"links must be an array of tables"),
    ({"links": [3]}, r"links\[0\] must be a table"),
    ({"links": ONE, "name": 3}, r"name must be a string"),
    ({"links": ONE, "chain": {"bogus": 1}}, r"Unknown key 'chain\.bogus'"),
    ({"links": ONE, "ghz": {"n_node": 3}}, r"Unknown key 'ghz\.n_node'. Did you mean 'n_nodes'"),
    ({"links": ONE, "remote_gate": {"gat": "cz"}}, r"Unknown key 'remote_gate\.gat'. Did you mean 'gate'"),
    ({"links": ONE, "nodez": []}, r"Unknown key 'nodez'. Did you mean 'nodes'"),
    ({"links": [L("a", "b"), dict(L("b", "c"), rate=3)]}, r"Unknown key 'links\[1\]\.rate'"),
    ({"links": [{"preset": "oxford_2020", "sett": {}}]}, r"^Unknown key 'links\[0\]\.sett'. Did you mean 'set'"),
    ({"links": [{"node_a": {"colection_efficiency": 0.3}}]}, r"links\[0\]: Unknown key node_a\.colection"),
]


@pytest.mark.parametrize("data,message", BAD_VALUES)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        load_network(data)


@pytest.mark.parametrize("text,message", [
    ("[[links]]\nfidelity = 1" + "0" * 400 + "\nsuccess_probability = 0.1\n", "links[0].fidelity is an integer"),
    ("[[links]]\nfidelity = 0.9\nsuccess_probability = 0.1\n[chain]\ncutoff_s = nan\n", "chain.cutoff_s = nan"),
    ("[[links]]\nfidelity = 0.9\nsuccess_probability = 0.1\n[chain]\ntime_step_s = inf\n",
     "chain.time_step_s = inf is out of range"),
    ("[[links]]\nfidelity = true\nsuccess_probability = 0.1\n", "links[0].fidelity must be a number"),
    ('chain = 3\n[[links]]\nfidelity = 0.9\nsuccess_probability = 0.1\n', "[chain] must be a table"),
    ("[[links]]\nfidelity = 0.9\nsuccess_probability = 0.1\n[ghz]\nbogus = 1\n", "Unknown key 'ghz.bogus'"),
])
def test_bad_values_through_the_cli(tmp_path, capsys, text, message):
    assert message in cli_error(tmp_path, capsys, text)


def test_set_override_with_a_huge_integer_or_nan(tmp_path, capsys):
    text = "[[links]]\nfidelity = 0.9\nsuccess_probability = 0.1\n"
    assert "chain.grid_size is an integer with 400 digits" in cli_error(
        tmp_path, capsys, text, "--set", "chain.grid_size=" + "9" * 400)
    assert "chain.t2_s = nan" in cli_error(tmp_path, capsys, text, "--set", "chain.t2_s=nan")


# ----------------------------------------------------------------------------- 3. topology
TOPOLOGY = [
    ({"links": [L("a", "b"), L("b", "c"), L("c", "a")], "chain": {"schedule": "sequential"}},
     r"form a cycle \(links\[0\] a-b, links\[1\] b-c, links\[2\] c-a\), so the chain's end nodes are not "
     r"known\. Give them: \[chain\] ends = "),
    ({"links": [L("a", "b"), L("b", "c"), L("b", "d")], "chain": {"schedule": "sequential"}},
     r"node 'b' has 3 links \(links\[0\] a-b, links\[1\] b-c, links\[2\] b-d\): a star"),
    ({"links": [L("a", "b"), L("b", "c"), L("b", "d"), L("d", "e")]}, r"node 'b' has 3 links"),
    ({"links": [L("a", "b"), L("b", "a")]}, r"links\[0\] and links\[1\] both join b and a \(parallel links\)"),
    ({"links": [L("a", "a")]}, r"links\[0\]\.between = \['a', 'a'\] joins node 'a' to itself"),
    ({"nodes": ["a", "b"], "links": [L("a", "c")]}, r"links\[0\]\.between names the unknown node 'c'"),
    ({"nodes": ["a", "b", "c"], "links": [L("a", "b")]}, r"nodes lists 'c', which no link joins"),
    ({"links": [L("a", "b"), L("c", "d")]}, r"fall into 2 separate pieces \(links\[0\] a-b; links\[1\] c-d\)"),
    ({"nodes": ["a", "c", "b"], "links": [L("a", "b"), L("b", "c")]},
     r"nodes = \['a', 'c', 'b'\] does not follow the links: they form the chain a-b-c"),
    ({"links": [L("a", "b"), L("b", "c"), L("b", "d")], "ghz": {}, "remote_gate": {}},
     r"\[remote_gate\] without `link` consumes the end-to-end pair .* star .* set remote_gate\.link"),
    ({"links": [L("c", "a"), L("c", "a")], "ghz": {}}, r"parallel links"),
    ({"links": [L("c", "a"), L("c", "b")], "ghz": {"links": [1, 1]}}, r"lists links\[1\] more than once"),
]


@pytest.mark.parametrize("data,message", TOPOLOGY)
def test_graphs_without_end_nodes_and_bad_names_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        load_network(data)


def test_topology_errors_through_the_cli(tmp_path, capsys):
    text = "".join(f'[[links]]\nbetween = ["{a}", "{b}"]\nfidelity = 0.9\nsuccess_probability = 0.1\n'
                   for a, b in (("a", "b"), ("b", "c"), ("c", "a")))
    err = cli_error(tmp_path, capsys, text, "--set", "chain.schedule=sequential")
    assert "cycle" in err and "links[2] c-a" in err and "[chain] ends" in err and "--ends" in err


def test_chains_that_are_accepted():
    # a link written backwards, and nodes listed from the other end: the same chain
    assert load_network({"links": [L("b", "a"), L("b", "c")]}).nodes == ("a", "b", "c")
    assert load_network({"nodes": ["c", "b", "a"], "links": [L("a", "b"), L("b", "c")]}).nodes == ("c", "b", "a")
    # links of a line listed out of order (refused before graphs): the chain runs along the line
    spec = load_network({"links": [L("a", "b"), L("c", "d"), L("b", "c")], "chain": {"schedule": "sequential"}})
    assert spec.nodes == ("a", "b", "c", "d") and spec.demands[0].candidates[0].links == (0, 2, 1)
    # a star is fine for [ghz] alone
    spec = load_network({"links": [L("c", "a"), L("c", "b"), L("c", "d")], "ghz": {}})
    assert spec.chain is None and spec.ghz["center"] == "c"


# ----------------------------------------------------------------------------- 4. the remote gate's pair
CHAIN2 = {"nodes": ["alice", "mid", "bob"], "links": [L("alice", "mid", 0.95, 0.2), L("mid", "bob", 0.9, 0.1)],
          "chain": {"time_step_s": 1e-6, "grid_size": 1024}, "remote_gate": {"gate": "cz"}}


def test_remote_gate_uses_the_end_to_end_pair_of_the_chain(capsys, tmp_path):
    res = run_network(CHAIN2)
    r = res["remote_gate"]
    assert r["pair"] == "alice-bob" and r["between"] == ["alice", "bob"]
    assert "end-to-end pair of the nested repeater chain" in r["pair_source"]
    # perfect gates and a Bell-diagonal pair: F_pro = F_pair, and the swapped pair has w = w1 w2 (no memory
    # noise, no cutoff), so F_pro = (1 + 3 w1 w2) / 4 -- not link 0's 0.95 or link 1's 0.9
    w1, w2 = (4 * 0.95 - 1) / 3, (4 * 0.9 - 1) / 3
    assert r["process_fidelity"] == pytest.approx((1 + 3 * w1 * w2) / 4, abs=1e-9)
    assert r["pair_fidelity"] == pytest.approx(res["chain"]["fidelity"], abs=1e-12)
    # one end-to-end pair per gate: the chain's rate, 1 / E[max of the two links' waits]
    assert r["rate_hz"] == pytest.approx(1e6 / float(expected_max_geometric([0.2, 0.1])), rel=1e-8)
    # with gate errors, the same as teleporting with the chain's delivered pair
    noisy = run_network({**CHAIN2, "remote_gate": {"gate": "cnot", "gate_error": 0.01, "readout_error": 0.005}})
    chain = repeater_chain([(0.95, 0.2, 1e6), (0.9, 0.1, 1e6)], time_step_s=1e-6, grid_size=1024)
    ref = remote_gate(chain, "cnot", 0.01, 0.005)
    assert noisy["remote_gate"]["process_fidelity"] == pytest.approx(float(ref.process_fidelity), rel=1e-12)
    assert noisy["remote_gate"]["process_fidelity"] < (1 + 3 * w1 * w2) / 4
    # the table says which pair
    p = tmp_path / "net.toml"
    p.write_text('nodes = ["alice", "mid", "bob"]\n'
                 + "".join(f'[[links]]\nbetween = ["{a}", "{b}"]\nfidelity = {f}\nsuccess_probability = {q}\n'
                           for a, b, f, q in (("alice", "mid", 0.95, 0.2), ("mid", "bob", 0.9, 0.1)))
                 + '[chain]\ntime_step_s = 1e-6\ngrid_size = 1024\n[remote_gate]\ngate = "cz"\n')
    assert main(["network", str(p)]) == 0
    out = capsys.readouterr().out
    assert "teleported CZ over alice-bob" in out and "end-to-end pair of the nested repeater chain" in out


def test_remote_gate_without_chain_section_and_with_an_explicit_link():
    res = run_network({k: v for k, v in CHAIN2.items() if k != "chain"})
    assert res["chain"]["defaults"] is True and "[chain] defaults" in res["remote_gate"]["pair_source"]
    w1, w2 = (4 * 0.95 - 1) / 3, (4 * 0.9 - 1) / 3
    assert res["remote_gate"]["process_fidelity"] == pytest.approx((1 + 3 * w1 * w2) / 4, abs=1e-9)
    one = run_network({**CHAIN2, "remote_gate": {"gate": "cz", "link": 1}})["remote_gate"]
    assert one["pair"] == "mid-bob" and one["pair_source"].startswith("links[1]")
    assert one["process_fidelity"] == pytest.approx(0.9, abs=1e-9) and one["rate_hz"] == pytest.approx(1e5)
    single = run_network({"links": ONE, "remote_gate": {}})["remote_gate"]
    assert single["pair"] == "n0-n1" and single["pair_source"].startswith("links[0]")


# ----------------------------------------------------------------------------- 5. the time grid
SLOW = {"links": [{"fidelity": 0.95, "success_probability": 0.005, "attempt_rate_hz": 1e6}],
        "chain": {"n_links": 2, "cutoff_s": 40e-6, "t2_s": 1e-3}}


def test_default_grid_is_refined_until_the_rate_is_right():
    # 4096 steps would hold 4 attempts each (a 2% rate error); the automatic grid refines to one attempt a step
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridWarning)
        res = run_network(SLOW)
    c = res["chain"]
    assert c["grid_size"] > 4096 and c["time_step_s"] == pytest.approx(1e-6) and res["warnings"] == []
    assert c["parameters"]["grid_size"] == "auto"
    # independent reference: the exact attempt-level grid (step = one attempt), long enough
    ref = repeater_chain((0.95, 0.005, 1e6), 2, cutoff_s=40e-6, t2_s=1e-3, time_step_s=1e-6, grid_size=1 << 15)
    assert float(ref.truncated_mass) < 1e-9
    assert c["rate_hz"] == pytest.approx(float(ref.rate_hz), rel=1e-2)
    assert c["fidelity"] == pytest.approx(float(ref.fidelity), abs=1e-3)


def test_default_grid_matches_the_closed_form_without_cutoff():
    # no cutoff: E[T] = E[max of 4 geometric waits] exactly; the default grid (coarser than an attempt) within 1%
    res = run_network({"links": [{"fidelity": 0.95, "success_probability": 1e-3}], "chain": {"n_links": 4}})
    exact = float(expected_max_geometric(1e-3, 4)) / 1e6
    assert res["chain"]["time_step_s"] > 1e-6 and res["warnings"] == []
    assert res["chain"]["mean_waiting_time_s"] == pytest.approx(exact, rel=1e-2)


def test_coarse_grid_warns_in_python_the_dict_and_the_cli(tmp_path, capsys):
    coarse = {**SLOW, "chain": {**SLOW["chain"], "grid_size": 16}}
    with pytest.warns(GridWarning, match=r"grid_size = 16 .* too coarse .* raise grid_size to >= \d+"):
        res = run_network(coarse)
    assert any("grid_size = 16" in w and "grid_size to >=" in w for w in res["warnings"])
    assert res["chain"]["warnings"] == res["warnings"]
    p = tmp_path / "coarse.toml"
    p.write_text("[[links]]\nfidelity = 0.95\nsuccess_probability = 0.005\n[chain]\nn_links = 2\n"
                 "cutoff_s = 40e-6\nt2_s = 1e-3\ngrid_size = 16\n")
    # the CLI shows each warning once, in its output (not again as a Python warning on stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["network", str(p)]) == 0
    assert not [w for w in caught if issubclass(w.category, GridWarning)]
    captured = capsys.readouterr()
    assert "warning: chain: grid_size = 16" in captured.out and "GridWarning" not in captured.err
    assert main(["network", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert any("grid_size = 16" in w for w in d["warnings"])


def test_short_grid_warns_with_the_size_it_needs():
    # an explicit step of one attempt and 16 steps: most of the waiting time lies beyond the grid
    with pytest.warns(GridWarning, match=r"misses probability .* Use grid_size >= \d+"):
        res = run_network({"links": ONE, "chain": {"n_links": 2, "time_step_s": 1e-6, "grid_size": 16}})
    assert res["chain"]["truncated_mass"] > 1e-3 and len(res["warnings"]) == 1


# ----------------------------------------------------------------------------- 6. JSON
def test_results_are_valid_json():
    nets = [CHAIN2, {k: v for k, v in CHAIN2.items() if k != "chain"},
            {"links": ONE, "chain": {"n_links": 2, "cutoff_s": "inf", "grid_size": 1024, "time_step_s": 1e-6}},
            {"links": [L("c", "a"), L("c", "b")], "ghz": {"t2_s": "inf", "grid_size": 256}}]
    for net in nets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GridWarning)
            res = run_network(net)
        json.dumps(res, allow_nan=False)  # raises on NaN / Infinity
    assert run_network(nets[2])["chain"]["parameters"]["cutoff_s"] == "inf"  # the input's spelling, a string


def test_a_bare_pair_has_an_unknown_rate_not_nan():
    from ionjax.network import werner_state

    d = remote_gate(werner_state(0.9)).to_dict()
    assert d["rate_hz"] is None and json.dumps(d, allow_nan=False)


def test_short_ghz_grid_warns():
    star = {"links": [L("c", "a", 0.9, 0.01), L("c", "b", 0.9, 0.01)], "ghz": {"time_step_s": 1e-6, "grid_size": 64}}
    with pytest.warns(GridWarning, match=r"grid_size = 64 steps .* Use grid_size >= 4096"):
        res = run_network(star)
    assert res["warnings"] and res["warnings"][0].startswith("ghz: grid_size = 64")
