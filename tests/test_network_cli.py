"""`ionjax network CONFIG [--json]` and the network TOML format: results, and clear errors for bad input."""

import json

import pytest

from ionjax.cli import main
from ionjax.errors import ConfigError
from ionjax.network import expected_max_geometric, load_network, remote_gate, repeater_chain, run_network

NETWORK_TOML = """name = "three-node test"
nodes = ["alice", "mid", "bob"]

[[links]]
between = ["alice", "mid"]
fidelity = 0.95
success_probability = 0.2
attempt_rate_hz = 1.0e6

[[links]]
between = ["mid", "bob"]
fidelity = 0.9
success_probability = 0.1
attempt_rate_hz = 1.0e6

[chain]
schedule = "nested"
cutoff_s = "inf"
time_step_s = 1.0e-6
grid_size = 1024

[ghz]
t2_s = 1.0e-3
gate_error = 0.01
time_step_s = 1.0e-6
grid_size = 1024

[remote_gate]
gate = "cz"
link = 1
gate_error = 0.01
readout_error = 0.005
"""


@pytest.fixture
def network_file(tmp_path):
    p = tmp_path / "net.toml"
    p.write_text(NETWORK_TOML)
    return p


def test_network_json_matches_python_api(network_file, capsys):
    assert main(["network", str(network_file), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["name"] == "three-node test" and d["nodes"] == ["alice", "mid", "bob"]
    assert [lk["label"] for lk in d["links"]] == ["alice-mid", "mid-bob"]
    assert d["links"][0]["rate_hz"] == pytest.approx(2e5)
    chain = repeater_chain([(0.95, 0.2, 1e6), (0.9, 0.1, 1e6)], time_step_s=1e-6, grid_size=1024)
    assert d["chain"]["fidelity"] == pytest.approx(float(chain.fidelity), rel=1e-12)
    assert d["chain"]["mean_waiting_time_s"] == pytest.approx(
        float(expected_max_geometric([0.2, 0.1])) * 1e-6, rel=1e-8)
    assert d["chain"]["parameters"]["cutoff_s"] == "inf"
    assert d["ghz"]["n_nodes"] == 3 and d["ghz"]["center"] == "mid" and 0.5 < d["ghz"]["fidelity"] < 0.9
    gate = remote_gate((0.9, 0.1, 1e6), "cz", 0.01, 0.005)
    assert d["remote_gate"]["process_fidelity"] == pytest.approx(float(gate.process_fidelity), rel=1e-12)
    assert d["remote_gate"]["average_gate_fidelity"] == pytest.approx(
        (4 * d["remote_gate"]["process_fidelity"] + 1) / 5, rel=1e-12)


def test_network_table_and_set_override(network_file, capsys):
    assert main(["network", str(network_file), "--set", "chain.cutoff_s=2e-6"]) == 0
    out = capsys.readouterr().out
    for text in ("network: three-node test", "alice-mid", "end-to-end fidelity", "GHZ state: 3 nodes, centre mid",
                 "teleported CZ", "process fidelity"):
        assert text in out


def test_single_link_repeated_and_link_tables(tmp_path):
    spec = load_network({
        "links": [{"protocol": "two_photon", "node_a": {"collection_efficiency": 0.3},
                   "node_b": {"collection_efficiency": 0.2}, "detection": {"window_ns": 1e5}}],
        "chain": {"n_links": 3, "schedule": "sequential", "t2_s": 1.0, "cutoff_s": 1e-3, "grid_size": 1024},
    })
    assert spec.nodes == ("n0", "n1") and spec.chain["n_links"] == 3
    res = run_network(spec)
    assert res["chain"]["n_links"] == 3 and res["links"][0]["success_probability"] == pytest.approx(0.03, rel=1e-6)


BAD = [
    ({"nodes": ["a", "b"], "links": [{"between": ["a", "c"], "fidelity": 0.9, "success_probability": 0.1}]},
     r"links\[0\]\.between names the unknown node 'c'"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "chain": {"cutoff_s": 0.0}},
     r"chain\.cutoff_s = 0\.0 is out of range: allowed \(0, inf\]"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "chain": {"cutoff_s": -1.0}},
     r"chain\.cutoff_s = -1\.0 is out of range"),
    ({"links": [], "chain": {}}, "at least one \\[\\[links\\]\\] entry"),
    ({"chain": {}}, "at least one \\[\\[links\\]\\] entry"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "chain": {"cutof_s": 1.0}},
     "Unknown key 'chain.cutof_s'. Did you mean 'cutoff_s'"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "chian": {}},
     "Unknown key 'chian'. Did you mean 'chain'"),
    ({"links": [{"fidelity": 1.9, "success_probability": 0.1}]}, r"links\[0\]\.fidelity = 1\.9 is out of range"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1, "rate": 3}]}, r"Unknown key 'links\[0\]\.rate'"),
    ({"links": [{"node_a": {"colection_efficiency": 0.3}}]}, r"links\[0\]: Unknown key node_a\.colection_efficiency"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}] * 3, "chain": {"schedule": "nested"}},
     "power-of-2"),
    ({"links": [{"between": ["a", "b"], "fidelity": 0.9, "success_probability": 0.1},
                {"between": ["c", "d"], "fidelity": 0.9, "success_probability": 0.1}]},
     "do not form a chain"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "remote_gate": {"gate": "swap"}},
     "remote_gate.gate = 'swap' is not known"),
    ({"links": [{"fidelity": 0.9, "success_probability": 0.1}], "ghz": {"links": [3]}}, r"ghz\.links names links\[3\]"),
]


@pytest.mark.parametrize("data,message", BAD)
def test_bad_network_input_is_a_config_error(data, message):
    with pytest.raises(ConfigError, match=message):
        load_network(data)


def test_cli_bad_input_exits_2_without_traceback(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text('nodes = ["a", "b"]\n[[links]]\nbetween = ["a", "x"]\nfidelity = 0.9\nsuccess_probability = 0.1\n')
    assert main(["network", str(p)]) == 2
    err = capsys.readouterr().err
    assert "unknown node 'x'" in err and "Traceback" not in err
    assert main(["network", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(NETWORK_TOML)
    assert main(["network", str(good), "--set", "chain.cutoff_s=0"]) == 2
    assert "cutoff_s = 0 is out of range" in capsys.readouterr().err
