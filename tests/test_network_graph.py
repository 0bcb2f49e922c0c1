"""Network files over any graph of links (issue 13): end nodes, given paths, demands, the path search and its
figure of merit, refusals with the reason, `ionjax network --ends`, and numbers links timed by their emission
plus the round trip to the station.

Every chain here runs on the same exact grid (one step per attempt, 1024 steps: the waiting-time tails beyond it
are < 1e-8), so the few compiled shapes (1 and 2 links) are shared across tests.
"""

import json
import math
import warnings

import pytest

from ionjax.cli import main
from ionjax.errors import ConfigError
from ionjax.network import GridWarning, load_network, repeater_chain, run_network
from ionjax.network.chain import FIBER_LIGHT_SPEED_KM_S as C_KM_S
from ionjax.network.graph import (
    PathWarning,
    choose_path,
    graph_from_links,
    line,
    paths_along,
    pieces,
    simple_paths,
    why_not_a_line,
)

DT, G = 1e-6, 1024
GRID = {"time_step_s": DT, "grid_size": G}


def L(a, b, f=0.9, p=0.1, **kw):
    return {"between": [a, b], "fidelity": f, "success_probability": p, **kw}


def direct(*links, **kw):
    """The chain over ``links`` (numbers, 1e6 attempts/s), evaluated directly with repeater_chain."""
    links = [(f, p, 1e6) for f, p in links]
    return repeater_chain(links[0] if len(links) == 1 else links, time_step_s=DT, grid_size=G, **kw)


# a triangle: a slow direct link a-c, or two fast links a-b-c
FAST, SLOW = (0.9, 0.1), (0.99, 0.02)
TRIANGLE = [L("a", "b", *FAST), L("b", "c", *FAST), L("a", "c", *SLOW)]


# ----------------------------------------------------------------------------- the graph layer
def test_graph_layer_paths_lines_and_pieces():
    g = graph_from_links([("a", "b"), ("b", "c"), ("a", "c"), ("a", "b")])
    paths, capped = simple_paths(g, "a", "c")
    # fewest links first; the two parallel a-b links give one path each
    assert [(p.nodes, p.links) for p in paths] == [(("a", "c"), (2,)), (("a", "b", "c"), (0, 1)),
                                                   (("a", "b", "c"), (3, 1))] and not capped
    assert simple_paths(g, "a", "c", max_paths=2) == (paths[:2], True)
    assert [p.links for p in paths_along(g, ["a", "b"])[0]] == [(0,), (3,)]
    assert "parallel links" in why_not_a_line(g) and line(g) is None
    # a complete graph on 4 nodes: 1 + 2 + 2 simple paths between two nodes
    k4 = graph_from_links([(x, y) for i, x in enumerate("abcd") for y in "abcd"[i + 1:]])
    assert [len(p.links) for p in simple_paths(k4, "a", "d")[0]] == [1, 2, 2, 3, 3]
    chain = graph_from_links([("b", "c"), ("c", "d"), ("a", "b")])  # a line listed out of order
    assert line(chain).nodes == ("d", "c", "b", "a") and line(chain).links == (1, 0, 2)
    two = graph_from_links([("a", "b"), ("c", "d")])
    assert pieces(two) == [("a", "b"), ("c", "d")] and simple_paths(two, "a", "d") == ([], False)
    assert "separate pieces" in why_not_a_line(two)
    ring = graph_from_links([("a", "b"), ("b", "c"), ("c", "a")])
    assert "cycle" in why_not_a_line(ring)
    with pytest.raises(ConfigError, match="no link joins 'a' and 'c'"):
        paths_along(chain, ["a", "c"])


def test_choose_path_rules():
    figs = [(0.99, 100.0), (0.9, 1000.0), (float("nan"), float("nan"))]
    assert choose_path(figs, "rate") == (1, True)
    assert choose_path(figs, "fidelity") == (0, True)
    assert choose_path(figs, "rate", min_fidelity=0.95) == (0, True)
    assert choose_path(figs, "rate", min_fidelity=0.999) == (0, False)  # none reaches it: the most faithful
    assert choose_path([(0.9, 5.0), (0.9, 5.0)], "rate", n_links=[3, 2]) == (1, True)  # ties: fewer links
    with pytest.raises(ConfigError, match="figure_of_merit = 'speed' is not known; allowed: rate, fidelity"):
        choose_path(figs, "speed")


# ----------------------------------------------------------------------------- choosing a path
def test_two_candidate_paths_pick_the_better_one():
    res = run_network({"links": TRIANGLE, "chain": {"ends": ["a", "c"], **GRID}})
    c = res["chain"]
    one, two = direct(SLOW), direct(FAST, FAST)
    assert float(two.rate_hz) > float(one.rate_hz)  # the two fast links beat the slow direct one on rate
    assert c["path"] == ["a", "b", "c"] and c["links"] == [0, 1] and c["between"] == ["a", "c"]
    assert c["rate_hz"] == pytest.approx(float(two.rate_hz), rel=1e-12)
    assert c["fidelity"] == pytest.approx(float(two.fidelity), rel=1e-12)
    cands = {tuple(x["path"]): x for x in c["candidates"]}
    assert cands[("a", "c")]["rate_hz"] == pytest.approx(float(one.rate_hz), rel=1e-12)
    assert cands[("a", "c")]["fidelity"] == pytest.approx(float(one.fidelity), rel=1e-12)
    assert [x["chosen"] for x in c["candidates"]] == [False, True] and c["meets_min_fidelity"] is True
    assert res["warnings"] == [] and json.dumps(res, allow_nan=False)
    # by fidelity, the direct link (0.99 against about 0.87 after a swap)
    by_f = run_network({"links": TRIANGLE, "chain": {"ends": ["a", "c"], "figure_of_merit": "fidelity", **GRID}})
    assert by_f["chain"]["path"] == ["a", "c"] and float(one.fidelity) > float(two.fidelity)
    # by rate among the paths with fidelity >= 0.95: only the direct link qualifies
    floor = run_network({"links": TRIANGLE, "chain": {"ends": ["a", "c"], "min_fidelity": 0.95, **GRID}})
    assert floor["chain"]["path"] == ["a", "c"] and floor["chain"]["rate_hz"] == pytest.approx(2e4, rel=1e-7)
    # none reaches 0.999: said so, and the most faithful path is shown
    with pytest.warns(PathWarning, match="no candidate path reaches min_fidelity = 0.999"):
        high = run_network({"links": TRIANGLE, "chain": {"ends": ["c", "a"], "min_fidelity": 0.999, **GRID}})
    assert high["chain"]["meets_min_fidelity"] is False and high["chain"]["path"] == ["c", "a"]
    assert any("min_fidelity = 0.999" in w for w in high["warnings"])


def test_grid_warnings_of_candidates_that_were_not_chosen_are_said():
    # the direct link (p = 0.005) waits beyond the 1024-step grid; the chosen two-link path does not
    links = [L("a", "b", *FAST), L("b", "c", *FAST), L("a", "c", 0.99, 0.005)]
    with pytest.warns(GridWarning, match=r"too short for 1 other candidate path\(s\).* e\.g\. a-c: grid_size = 1024"):
        res = run_network({"links": links, "chain": {"ends": ["a", "c"], **GRID}})
    assert res["chain"]["path"] == ["a", "b", "c"] and len(res["warnings"]) == 1


def test_given_path_is_used_and_parallel_links_take_the_best():
    # the path names the slow direct link: it is used although a faster path exists
    res = run_network({"links": TRIANGLE, "chain": {"path": ["a", "c"], **GRID}})
    assert res["chain"]["path"] == ["a", "c"] and res["chain"]["links"] == [2]
    assert len(res["chain"]["candidates"]) == 1
    assert res["chain"]["rate_hz"] == pytest.approx(float(direct(SLOW).rate_hz), rel=1e-12)
    # ends and the path written from the other end: the path is read from ends[0]
    back = run_network({"links": TRIANGLE, "chain": {"ends": ["c", "a"], "path": ["a", "b", "c"], **GRID}})
    assert back["chain"]["path"] == ["c", "b", "a"] and back["chain"]["links"] == [1, 0]
    # two links between a and b: the path a-b takes the better one by the figure of merit
    par = [L("a", "b", 0.9, 0.1), L("a", "b", 0.95, 0.2), L("b", "c", 0.9, 0.1)]
    res = run_network({"links": par, "chain": {"path": ["a", "b", "c"], **GRID}})
    assert res["chain"]["links"] == [1, 2] and len(res["chain"]["candidates"]) == 2
    assert res["chain"]["rate_hz"] == pytest.approx(float(direct((0.95, 0.2), (0.9, 0.1)).rate_hz), rel=1e-12)


def test_a_line_without_ends_evaluates_as_before():
    res = run_network({"links": [L("a", "b", *FAST), L("b", "c", 0.95, 0.2)], "chain": GRID})
    ref = direct(FAST, (0.95, 0.2))
    c = res["chain"]
    assert c["path"] == ["a", "b", "c"] and c["links"] == [0, 1] and c["between"] == ["a", "c"]
    assert c["fidelity"] == pytest.approx(float(ref.fidelity), rel=1e-12) and len(c["candidates"]) == 1
    assert c["schedule"] == "nested" and c["parameters"]["schedule"] == "auto"
    # a cycle is a valid graph once its end nodes are given
    ring = run_network({"links": TRIANGLE, "chain": {"ends": ["a", "b"], **GRID}})
    assert ring["chain"]["path"] == ["a", "b"]


def test_demands_give_one_result_each(tmp_path, capsys):
    net = {"links": TRIANGLE, "chain": GRID,
           "demands": [{"ends": ["a", "c"]}, {"ends": ["b", "c"], "path": ["b", "a", "c"]}, {"path": ["a", "b"]}]}
    res = run_network(net)
    assert "chain" not in res and [d["demand"] for d in res["demands"]] == ["demands[0]", "demands[1]",
                                                                              "demands[2]"]
    first, second, third = res["demands"]
    assert first["path"] == ["a", "b", "c"] and first["between"] == ["a", "c"]
    assert second["path"] == ["b", "a", "c"] and second["links"] == [0, 2]
    assert second["rate_hz"] == pytest.approx(float(direct(FAST, SLOW).rate_hz), rel=1e-12)
    assert third["between"] == ["a", "b"] and third["rate_hz"] == pytest.approx(1e5, rel=1e-9)
    p = tmp_path / "net.toml"
    p.write_text("".join(f'[[links]]\nbetween = ["{a}", "{b}"]\nfidelity = {f}\nsuccess_probability = {q}\n'
                         for (a, b), (f, q) in zip((("a", "b"), ("b", "c"), ("a", "c")), (FAST, FAST, SLOW)))
                 + f"[chain]\ntime_step_s = {DT}\ngrid_size = {G}\n"
                 + '[[demands]]\nends = ["a", "c"]\n[[demands]]\nends = ["b", "c"]\n')
    assert main(["network", str(p)]) == 0
    out = capsys.readouterr().out
    assert "demands[0]: repeater chain a-c" in out and "demands[1]: repeater chain b-c" in out
    assert "path                 a-b-c  (links 0, 1)" in out and "candidate paths (2" in out


# ----------------------------------------------------------------------------- refusals
STAR = [L("c", "a"), L("c", "b"), L("c", "d")]
REFUSED = [
    # no end nodes on a graph that is not a line: say why, and which nodes could be ends
    ({"links": STAR}, r"node 'c' has 3 links .* a star or a branch, so the chain's end nodes are not known\. Give "
                      r"them: \[chain\] ends = \[\"a\", \"b\"\] \(or --ends a b\), or \[\[demands\]\].*"
                      r"Nodes: c, a, b, d \(with one link: a, b, d\)"),
    ({"links": TRIANGLE, "demands": [{"ends": ["a", "b"]}, {"ends": ["a", "c"]}], "remote_gate": {}},
     r"\[remote_gate\] without `link` consumes the end-to-end pair of one repeater chain, but \[\[demands\]\] "
     r"lists 2 pairs"),
    # end nodes not in the graph (a near miss is named), or the same node twice
    ({"links": STAR, "chain": {"ends": ["a", "x"]}}, r"chain\.ends names the node 'x', which is not in the network"),
    ({"links": [L("alice", "r1"), L("r1", "bob")], "chain": {"ends": ["alice", "bbo"]}}, r"Did you mean 'bob'\?"),
    ({"links": STAR, "chain": {"ends": ["a", "a"]}}, r"chain\.ends = \['a', 'a'\] names the node 'a' twice"),
    ({"links": STAR, "chain": {"ends": ["a"]}}, r"chain\.ends = \['a'\] has 1 node name; give two"),
    ({"links": STAR, "chain": {"ends": "a"}}, r"chain\.ends must be an array of two node names"),
    ({"links": STAR, "demands": [{"ends": ["a", "b"]}, {"ends": ["a", "zz"]}]}, r"demands\[1\]\.ends names the node"),
    # no path between them: the graph is in separate pieces
    ({"links": [L("a", "b"), L("c", "d")], "chain": {"ends": ["a", "d"]}},
     r"no path joins 'a' and 'd'; the links fall into 2 separate pieces \(nodes a, b; c, d\)"),
    # a given path that is not a path of the graph
    ({"links": STAR, "chain": {"path": ["a", "b"]}}, r"chain\.path = \['a', 'b'\]: .* no link joins 'a' and 'b'"),
    ({"links": TRIANGLE, "chain": {"path": ["a", "b", "a", "c"]}}, r"visits 'a' more than once"),
    ({"links": TRIANGLE, "chain": {"ends": ["a", "c"], "path": ["a", "b"]}},
     r"chain\.path = \['a', 'b'\] runs from 'a' to 'b', but chain\.ends = \['a', 'c'\]"),
    # a remote gate over the chain's pair needs the chain's ends
    ({"links": STAR, "remote_gate": {}}, r"\[remote_gate\] without `link` consumes the end-to-end pair .* star .* "
                                         r"\[chain\] ends = .* set remote_gate\.link"),
    # [ghz] still needs a star
    ({"links": [L("a", "b"), L("c", "d")], "ghz": {}}, r"ghz\.links \[0, 1\] do not form a star"),
    # demands: the shape and the keys
    ({"links": STAR, "demands": {"ends": ["a", "b"]}}, r"demands must be an array of tables"),
    ({"links": STAR, "demands": [{"end": ["a", "b"]}]}, r"Unknown key 'demands\[0\]\.end'\. Did you mean 'ends'"),
    ({"links": STAR, "demands": [{}]}, r"demands\[0\] needs `ends`"),
    ({"links": STAR, "chain": {"ends": ["a", "b"]}, "demands": [{"ends": ["a", "d"]}]}, r"both choose end nodes"),
    # the figure of merit and the schedule
    ({"links": STAR, "chain": {"ends": ["a", "b"], "figure_of_merit": "speed"}},
     r"chain\.figure_of_merit = 'speed' is not known; allowed: rate, fidelity"),
    ({"links": STAR, "chain": {"ends": ["a", "b"], "min_fidelity": 1.5}},
     r"chain\.min_fidelity = 1\.5 is out of range"),
    ({"links": STAR, "chain": {"ends": ["a", "b"], "max_paths": 0}}, r"chain\.max_paths = 0 is out of range"),
    ({"links": [L("a", "b"), L("b", "c"), L("c", "d")], "chain": {"ends": ["a", "d"], "schedule": "nested"}},
     r"chain\.schedule = 'nested' needs a power-of-2 number of links, got 3"),
    ({"links": TRIANGLE, "chain": {"ends": ["a", "c"], "n_links": 3}},
     r"chain\.n_links = 3 repeats a single link, but the paths for chain a-c have 1, 2 links"),
    # numbers links: the attempt's timing
    ({"links": [L("a", "b", attempt_rate_hz=1e6, emission_time_s=1e-6)]},
     r"links\[0\] gives both attempt_rate_hz = 1000000\.0 and emission_time_s = 1e-06"),
    ({"links": [L("a", "b", emission_time_s=0.0)]}, r"links\[0\]\.emission_time_s = 0\.0 is out of range"),
    # the engine's keys
    ({"links": STAR[:1], "chain": {"purification": "bbp"}}, r"chain\.purification = 'bbp' is not known; allowed: "
                                                           r"dejmps, bbpssw.*Did you mean 'bbpssw'"),
    ({"links": STAR[:1], "chain": {"purification_rounds": [-1]}},
     r"chain\.purification_rounds\[0\] = -1 must be an integer in \[0, 16\]"),
    ({"links": STAR[:1], "chain": {"purification_rounds": 1}}, r"chain\.purification_rounds must be an array"),
    ({"links": STAR[:1], "chain": {"purification_rounds": [0, 1]}},
     r"purifies at nesting level 1, but every path for chain c-a has levels 0 to 0 only"),
    ({"links": STAR[:1], "chain": {"transfer_error": 2}}, r"chain\.transfer_error = 2 is out of range"),
    ({"links": STAR[:1], "chain": {"decoupling_t2_s": 0}}, r"chain\.decoupling_t2_s = 0 is out of range"),
]


@pytest.mark.parametrize("data,message", REFUSED)
def test_unsupported_input_is_refused_with_the_reason(data, message):
    with pytest.raises(ConfigError, match=message):
        load_network(data)


def test_skipped_and_capped_candidates_are_said():
    # a-b-c (2 links) or a-x-y-c (3 links): nested runs only the first, and says so
    links = [L("a", "b"), L("b", "c"), L("a", "x"), L("x", "y"), L("y", "c")]
    with pytest.warns(PathWarning, match=r"1 candidate path\(s\) skipped: chain\.schedule = 'nested'"):
        spec = load_network({"links": links, "chain": {"ends": ["a", "c"], "schedule": "nested"}})
    assert [p.nodes for p in spec.demands[0].candidates] == [("a", "b", "c")]
    auto = load_network({"links": links, "chain": {"ends": ["a", "c"]}})
    assert len(auto.demands[0].candidates) == 2 and auto.notes == ()
    # a complete graph on 4 nodes has 5 paths between two nodes; a cap of 3 keeps the shortest
    k4 = [L(x, y) for i, x in enumerate("abcd") for y in "abcd"[i + 1:]]
    with pytest.warns(PathWarning, match=r"more than 3 candidate paths; only the 3 with the fewest links"):
        spec = load_network({"links": k4, "chain": {"ends": ["a", "d"], "max_paths": 3}})
    assert [len(p.links) for p in spec.demands[0].candidates] == [1, 2, 2]
    assert len(spec.notes) == 1
    # purification at level 1 needs a path of at least 2 links (nested): the direct link is skipped
    with pytest.warns(PathWarning, match=r"skipped: they have fewer nesting levels"):
        spec = load_network({"links": TRIANGLE, "chain": {"ends": ["a", "c"], "purification_rounds": [0, 1]}})
    assert [p.nodes for p in spec.demands[0].candidates] == [("a", "b", "c")]


# ----------------------------------------------------------------------------- the CLI
def _triangle_file(tmp_path, extra=""):
    p = tmp_path / "tri.toml"
    p.write_text("".join(f'[[links]]\nbetween = ["{a}", "{b}"]\nfidelity = {f}\nsuccess_probability = {q}\n'
                         for (a, b), (f, q) in zip((("a", "b"), ("b", "c"), ("a", "c")), (FAST, FAST, SLOW)))
                 + f"[chain]\ntime_step_s = {DT}\ngrid_size = {G}\n" + extra)
    return p


def test_cli_ends(tmp_path, capsys):
    p = _triangle_file(tmp_path)
    assert main(["network", str(p), "--ends", "a", "c", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["chain"]["path"] == ["a", "b", "c"] and d["chain"]["parameters"]["ends"] == ["a", "c"]
    assert main(["network", str(p), "--ends", "c", "a"]) == 0
    out = capsys.readouterr().out
    assert "repeater chain c-a" in out and "path                 c-b-a" in out and "candidate paths (2" in out
    # --ends replaces the file's [chain] ends
    q = _triangle_file(tmp_path, 'ends = ["a", "b"]\n')
    assert main(["network", str(q), "--ends", "a", "c", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chain"]["between"] == ["a", "c"]


@pytest.mark.parametrize("argv,message", [
    ((), "the links form a cycle"),
    (("--ends", "a", "zz"), "chain.ends names the node 'zz', which is not in the network"),
    (("--ends", "a", "a"), "names the node 'a' twice"),
    (("--ends", "a", "bb"), "Did you mean 'b'?"),
])
def test_cli_bad_ends_exit_2_without_traceback(tmp_path, capsys, argv, message):
    p = _triangle_file(tmp_path)
    assert main(["network", str(p), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ionjax network: error:") and message in err and "Traceback" not in err
    if not argv:
        assert "--ends a b" in err


# ----------------------------------------------------------------------------- attempt timing
def test_emission_time_default_rate():
    res = run_network({"links": [L("a", "b")], "ghz": {"grid_size": 256}})
    lk = res["links"][0]
    assert lk["attempt_rate_hz"] == pytest.approx(1e6) and lk["emission_time_s"] == 1e-6
    assert lk["rate_hz"] == pytest.approx(1e5)
    given = run_network({"links": [L("a", "b", attempt_rate_hz=2e5, length_km=10.0)], "ghz": {"grid_size": 256}})
    assert given["links"][0]["attempt_rate_hz"] == 2e5 and "emission_time_s" not in given["links"][0]


@pytest.mark.parametrize("chain", [{}, {"latency": False}])
def test_single_link_rate_with_its_round_trip(chain):
    """1 / (p^-1 (t_emit + L/c)) on the exact grid (one step per attempt round), with latency (the chain adds
    L/c to each round of 1/emission_time_s) and without (the link's rate includes the round trip)."""
    p, t_emit, length = 0.1, 2e-6, 30.0
    period = t_emit + length / C_KM_S
    res = run_network({"links": [L("a", "b", 0.9, p, emission_time_s=t_emit, length_km=length)],
                       "chain": {"time_step_s": period, "grid_size": G, **chain}})
    want = 1.0 / (period / p)
    assert res["chain"]["rate_hz"] == pytest.approx(want, rel=1e-9)
    assert res["links"][0]["rate_hz"] == pytest.approx(want, rel=1e-12)  # the link on its own: the same
    assert res["links"][0]["attempt_rate_hz"] == pytest.approx(1.0 / period, rel=1e-12)
    assert math.isclose(res["chain"]["time_step_s"], period) and res["warnings"] == []


def test_engine_keys_reach_the_chain():
    kw = dict(purification="bbpssw", purification_rounds=(1,), transfer_error=0.01, decoupling_t2_s=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_network({"links": [L("a", "b", 0.9, 0.1)],
                           "chain": {**GRID, "t2_s": 1e-4, **dict(kw, purification_rounds=[1, 0])}})
        ref = direct((0.9, 0.1), t2_s=1e-4, **kw)
        plain = direct((0.9, 0.1), t2_s=1e-4)
    assert res["chain"]["fidelity"] == pytest.approx(float(ref.fidelity), rel=1e-12)
    assert res["chain"]["rate_hz"] == pytest.approx(float(ref.rate_hz), rel=1e-12)
    assert res["chain"]["rate_hz"] < float(plain.rate_hz)  # a purification round costs a second pair
    assert res["chain"]["parameters"]["purification_rounds"] == [1, 0]
