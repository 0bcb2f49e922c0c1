"""Fits from measured data (``ionjax.fit``, ``ionjax.data``): the forward model against an independent one, the
Fisher information against its closed form, recovery and coverage on synthetic data, the degeneracy warning,
the profile likelihood against a direct scan, bad data files, and the CLI end to end."""

from __future__ import annotations

import json
import math
import sys
import warnings

import jax
import numpy as np
import pytest

import ionjax as ij
import ionjax.fit  # noqa: F401 - the module (ij.fit is the function)
from ionjax.cli import main
from ionjax.optimize import link_to_toml

F = sys.modules["ionjax.fit"]

ETA_A, ETA_B = 0.2, 0.5
#: the ideal link: p = eta_A eta_B / 2, a quarter on each accepted pattern (the gate accepts everything)
IDEAL = {"node_a": {"collection_efficiency": ETA_A}, "node_b": {"collection_efficiency": ETA_B},
         "detection": {"window_ns": 1e5, "efficiency": 1.0}}
PAULI = {"X": np.array([[0, 1], [1, 0]], complex), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.array([[1, 0], [0, -1]], complex)}


def _ideal(**extra) -> ij.Link:
    return ij.load_link(IDEAL).set(extra) if extra else ij.load_link(IDEAL)


def _herald_table(counts: np.ndarray, attempts: float, link: ij.Link) -> ij.data.HeraldCounts:
    names = ij.simulate(link).pattern_names
    return ij.data.HeraldCounts((), np.zeros((1, 0)), np.array([attempts]), names, np.asarray(counts, float)[None])


# ----------------------------------------------------------------------------- the forward model
def _independent_outcomes(rho: np.ndarray, basis: str, e_a: float, e_b: float) -> np.ndarray:
    """P(s_A, s_B) in the order ++, +-, -+, -- from projectors and explicit confusion matrices."""
    out = []
    for sa in (1, -1):
        for sb in (1, -1):
            pa = (np.eye(2) + sa * PAULI[basis[0]]) / 2
            pb = (np.eye(2) + sb * PAULI[basis[1]]) / 2
            out.append(np.real(np.trace(rho @ np.kron(pa, pb))))
    conf = lambda e: np.array([[1 - e, e], [e, 1 - e]])  # noqa: E731 - P(read | true)
    return np.kron(conf(e_a), conf(e_b)) @ np.array(out)


def test_expected_counts_match_an_independent_model():
    link = ij.load_link({**IDEAL, "interference": {"mode_overlap": 0.8},
                         "node_a": {"collection_efficiency": ETA_A, "ion_photon_fidelity": 0.97,
                                    "readout_error": 0.02},
                         "node_b": {"collection_efficiency": ETA_B, "readout_error": 0.05}})
    bases = ["ZZ", "XX", "YY", "XY", "ZX"]
    herald, corr = ij.expected_counts(link, 1e6, bases=bases, pattern="each")
    res = ij.simulate(link)
    probs = np.asarray(res.pattern_probabilities)
    np.testing.assert_allclose(herald.counts[0], 1e6 * probs, rtol=1e-12)
    np.testing.assert_allclose(herald.cells[0, -1], 1e6 * (1 - probs.sum()), rtol=1e-12)
    # pattern rows: each pattern's pairs are attempts P_pattern / len(bases)
    for i, (b, p) in enumerate(zip(corr.bases, corr.patterns)):
        j = res.pattern_names.index(p)
        rho = np.asarray(res.pattern_states[j])
        want = _independent_outcomes(rho, b, 0.02, 0.05) * 1e6 * probs[j] / len(bases)
        np.testing.assert_allclose(corr.counts[i], want, rtol=1e-10, atol=1e-12)
    # pooled: the state of LinkResult.state
    _, pooled = ij.expected_counts(link, 1e6, bases=["XX"])
    want = _independent_outcomes(np.asarray(res.state.data), "XX", 0.02, 0.05) * 1e6 * probs.sum()
    np.testing.assert_allclose(pooled.counts[0], want, rtol=1e-10)
    # the pooled state is the pattern states weighted by their probabilities
    np.testing.assert_allclose(np.einsum("p,pij->ij", probs, np.asarray(res.pattern_states)) / probs.sum(),
                               np.asarray(res.state.data), atol=1e-14)


def test_ideal_link_correlations_are_those_of_psi_plus():
    _, corr = ij.expected_counts(_ideal(), 1e6, bases=["ZZ", "XX", "YY"])
    np.testing.assert_allclose(corr.correlators, [-1.0, 1.0, 1.0], atol=1e-12)


def test_sampled_counts_follow_the_expected_ones():
    link = _ideal(**{"interference.mode_overlap": 0.7})
    settings = {"detection.window_ns": [20.0, 1e5]}
    herald, corr = ij.expected_counts(link, 2e5, settings, bases=["XX", "ZZ"])
    draws = [ij.sample_counts(link, 2e5, jax.random.key(k), settings, bases=["XX", "ZZ"]) for k in range(40)]
    for d in draws:
        h, c = d
        assert np.all(h.counts == np.round(h.counts)) and np.all(c.counts >= 0)
        assert h.keys == ("detection.window_ns",) and c.bases == ("XX", "ZZ", "XX", "ZZ")
    for exp, k in ((herald.counts, 0), (corr.counts, 1)):
        got = np.array([d[k].counts for d in draws])
        sd = np.sqrt(np.maximum(exp, 1.0) / len(draws))
        assert np.all(np.abs(got.mean(axis=0) - exp) < 5 * sd)
    again = ij.sample_counts(link, 2e5, jax.random.key(3), settings, bases=["XX", "ZZ"])
    np.testing.assert_array_equal(again[1].counts, draws[3][1].counts)  # same key, same data


def test_csv_round_trip(tmp_path):
    link = _ideal()
    h, c = ij.sample_counts(link, 1e5, jax.random.key(0), {"detection.window_ns": [10.0, 30.0]}, bases=["ZZ"])
    for t, name in ((h, "h.csv"), (c, "c.csv")):
        t.to_csv(tmp_path / name)
        back = ij.load_data(tmp_path / name)
        assert type(back) is type(t) and back.keys == t.keys
        np.testing.assert_array_equal(back.counts, t.counts)
        np.testing.assert_array_equal(back.settings, t.settings)


# ----------------------------------------------------------------------------- Fisher information, errors
def test_fisher_information_equals_the_closed_form():
    """Herald counts at their expectation: eta_A^ = eta_A exactly, and I = N (eta_B / 2)^2 / (p (1 - p))."""
    n = 1e6
    p = ETA_A * ETA_B / 2
    table = _herald_table(np.full(4, n * p / 4), n, _ideal())
    res = ij.fit(_ideal(**{"node_a.collection_efficiency": 0.3}), table, ["node_a.collection_efficiency"])
    assert res.converged
    assert res.values["node_a.collection_efficiency"] == pytest.approx(ETA_A, rel=1e-7)
    fisher = n * (ETA_B / 2) ** 2 / (p * (1 - p))
    assert res.fisher[0, 0] == pytest.approx(fisher, rel=1e-6)
    assert res.stderr["node_a.collection_efficiency"] == pytest.approx(fisher ** -0.5, rel=1e-6)
    # the rate's error by the delta method: d rate / d eta_A = R eta_B / 2
    rate_err = res.derived["rate_hz"]["stderr"]
    assert rate_err == pytest.approx(1e6 * ETA_B / 2 * fisher ** -0.5, rel=1e-6)
    assert res.deviance == pytest.approx(0.0, abs=1e-6) and res.dof == 4 - 1  # 5 cells, 1 knob


def test_central_difference_hessian_agrees_with_jax_hessian():
    link = _ideal(**{"interference.mode_overlap": 0.9})
    h, c = ij.sample_counts(link, 1e6, jax.random.key(5), {"detection.window_ns": [10.0, 40.0]}, bases=["XX", "ZZ"])
    free = ("node_a.collection_efficiency", "interference.mode_overlap")
    res = ij.fit(link, [h, c], free)
    spec, grid, arrays, _ = F._prepare(link, [h, c], free)

    def ll(x):
        return F._log_likelihood(link.set(dict(zip(free, x))), spec, grid, F._device(arrays))

    exact = -np.asarray(jax.jit(jax.jacfwd(jax.jacfwd(ll)))(np.array([res.values[k] for k in free])))
    np.testing.assert_allclose(res.fisher, exact, rtol=1e-6, atol=1e-9 * np.abs(exact).max())


def test_profile_interval_agrees_with_a_direct_scan():
    link = _ideal()
    (h,) = ij.sample_counts(link, 4e3, jax.random.key(11))  # about 200 heralds: visibly asymmetric
    res = ij.fit(link, h, ["node_a.collection_efficiency"])
    lo, hi = res.profile("node_a.collection_efficiency")
    x0 = res.values["node_a.collection_efficiency"]
    # the scan: the log-likelihood on a fine grid, with nothing to re-fit (one knob)
    xs = np.linspace(x0 - 4 * res.stderr["node_a.collection_efficiency"],
                     x0 + 4 * res.stderr["node_a.collection_efficiency"], 2001)
    lls = np.array([F.log_likelihood(link.set({"node_a.collection_efficiency": x}), h) for x in xs])
    inside = xs[2 * (res.log_likelihood - lls) <= 1.0]
    step = xs[1] - xs[0]
    assert lo == pytest.approx(inside.min(), abs=step) and hi == pytest.approx(inside.max(), abs=step)
    assert hi - x0 != pytest.approx(x0 - lo, rel=1e-3)  # a profile, not the symmetric curvature interval


# ----------------------------------------------------------------------------- recovery and coverage
TRUE = {"node_a.collection_efficiency": 0.9, "nodes.photon_lifetime_ns": 8.5, "detection.dark_count_rate_hz": 2000.0,
        "interference.mode_overlap": 0.93}
WINDOWS = {"detection.window_ns": [5.0, 10.0, 15.0, 25.0, 40.0, 60.0]}


def test_four_knobs_recovered_within_four_standard_errors():
    link = ij.load_link(ij.presets.as_dict("duke_2024"))
    data = ij.sample_counts(link.set(TRUE), 1e7, jax.random.key(2026), WINDOWS, bases=["ZZ", "XX", "YY"])
    start = link.set({"node_a.collection_efficiency": 0.8, "nodes.photon_lifetime_ns": 8.0,
                      "detection.dark_count_rate_hz": 500.0, "interference.mode_overlap": 0.9})
    res = ij.fit(start, data, list(TRUE))
    assert res.converged and not res.degenerate
    for k, v in TRUE.items():
        assert abs(res.values[k] - v) < 4 * res.stderr[k], (k, res.values[k], res.stderr[k])
    assert 0.001 < res.p_value  # a correct model fits
    truth = ij.simulate(link.set(TRUE))
    d = res.derived
    assert abs(d["fidelity"]["value"] - float(truth.fidelity)) < 4 * d["fidelity"]["stderr"]
    assert abs(d["rate_hz"]["value"] - float(truth.rate_hz)) < 4 * d["rate_hz"]["stderr"]
    # predict at a new window: the fitted link's own numbers, with the delta-method error of an independent
    # finite-difference gradient
    pred = res.predict({"detection.window_ns": 30.0})
    at = ij.simulate(res.link.set({"detection.window_ns": 30.0}))
    assert pred["rate_hz"]["value"] == pytest.approx(float(at.rate_hz), rel=1e-10)
    g = []
    for k in res.free:
        h = 1e-6 * max(abs(res.values[k]), 1.0)
        up = ij.simulate(res.link.set({k: res.values[k] + h, "detection.window_ns": 30.0})).fidelity
        dn = ij.simulate(res.link.set({k: res.values[k] - h, "detection.window_ns": 30.0})).fidelity
        g.append((float(up) - float(dn)) / (2 * h))
    g = np.array(g)
    assert pred["fidelity"]["stderr"] == pytest.approx(math.sqrt(g @ res.covariance @ g), rel=1e-4)


def test_one_sigma_intervals_cover_the_truth_about_68_percent():
    link = _ideal()
    start = _ideal(**{"node_a.collection_efficiency": 0.25})
    covered = []
    for k in range(200):
        (h,) = ij.sample_counts(link, 2e4, jax.random.key(k))
        res = ij.fit(start, h, ["node_a.collection_efficiency"], warn=False)
        assert res.converged
        covered.append(abs(res.values["node_a.collection_efficiency"] - ETA_A)
                       <= res.stderr["node_a.collection_efficiency"])
    assert 0.60 <= np.mean(covered) <= 0.76, np.mean(covered)


def test_goodness_of_fit_is_the_chi_square_tail():
    from scipy.stats import chi2

    link = _ideal()
    (h,) = ij.sample_counts(link, 1e5, jax.random.key(1))
    res = ij.fit(link, h, ["node_a.collection_efficiency"])
    assert res.dof == 4 - 1
    assert res.p_value == pytest.approx(chi2.sf(res.deviance, res.dof), rel=1e-8)
    # the deviance of the saturated model from the fitted cell probabilities, computed here
    (exp,) = ij.expected_counts(res.link, h)
    n, m = h.cells, exp.cells
    assert res.deviance == pytest.approx(2 * np.sum(np.where(n > 0, n * np.log(n / m), 0.0)), rel=1e-8)


def test_degenerate_knobs_are_named_and_the_product_keeps_its_error():
    """From rates alone, collection and detector efficiency enter only as their product."""
    link = _ideal(**{"detection.efficiency": 0.8})
    (h,) = ij.sample_counts(link, 1e6, jax.random.key(4), {"detection.window_ns": [10.0, 40.0]})
    with pytest.warns(ij.FitWarning, match=r"node_a\.collection_efficiency.*detection\.efficiency.*apart"):
        res = ij.fit(link, h, ["node_a.collection_efficiency", "detection.efficiency"])
    assert res.degenerate
    assert any("only node_a.collection_efficiency x detection.efficiency" in n or
               "only detection.efficiency x node_a.collection_efficiency" in n for n in res.notes), res.notes
    assert all(math.isinf(s) for s in res.stderr.values())
    assert math.isfinite(res.derived["rate_hz"]["stderr"]) and res.derived["rate_hz"]["stderr"] > 0


def test_fit_refuses_what_it_cannot_do():
    link = _ideal()
    (h,) = ij.sample_counts(link, 1e5, jax.random.key(0), {"detection.window_ns": [10.0, 40.0]})
    with pytest.raises(ij.ConfigError, match="varied in the data and also named in `free`"):
        ij.fit(link, h, ["detection.window_ns"])
    with pytest.raises(ij.ConfigError, match="static structure"):
        ij.fit(link, h, ["detection.kind"])
    with pytest.raises(ij.ConfigError, match="Did you mean"):
        ij.fit(link, h, ["node_a.colection_efficiency"])
    with pytest.raises(ij.ConfigError, match="No data given"):
        ij.fit(link, [], ["node_a.collection_efficiency"])


# ----------------------------------------------------------------------------- bad data files
HEAD = "detection.window_ns,attempts,c_h+c_v,d_h+d_v,c_h+d_v,c_v+d_h\n"
BAD = {
    "no kind": ("detection.window_ns,c_h+c_v\n10,5\n", r"no 'attempts' column .* no 'basis' column"),
    "both kinds": ("attempts,basis\n1,ZZ\n", "both an 'attempts' and a 'basis' column"),
    "negative": (HEAD + "10,1000,5,-1,3,2\n", r"line 2, column 'd_h\+d_v': the count -1 is negative"),
    "non-integer": (HEAD + "10,1000,5,1.5,3,2\n", r"line 2, column 'd_h\+d_v': the count 1.5 is not an integer"),
    "not a number": (HEAD + "10,1000,5,x,3,2\n", r"line 2, column 'd_h\+d_v': 'x' is not a count"),
    "too many": (HEAD + "10,10,5,5,3,2\n", "add up to 15, more than the 10 attempts"),
    "conflict": (HEAD + "10,1000,5,1,3,2\n10,1000,6,1,3,2\n", r"lines 2 and 3: the same setting \(detection"),
    "ragged": (HEAD + "10,1000,5,1,3\n", "line 2: 5 fields, but the header has 6"),
    "empty": ("", "is empty"),
    "header only": (HEAD, "has a header but no data rows"),
    "bad basis": ("basis,pattern,n_pp,n_pm,n_mp,n_mm\nZW,all,1,2,3,4\n", r"'ZW' is not two letters from X, Y, Z"),
    "missing outcome": ("basis,pattern,n_pp,n_pm,n_mp\nZZ,all,1,2,3\n", "missing column 'n_mm'"),
    "pooled and per pattern": ("basis,pattern,n_pp,n_pm,n_mp,n_mm\nZZ,all,1,2,3,4\nZZ,c_h+c_v,1,2,3,4\n",
                               "would count twice"),
    "no patterns": ("detection.window_ns,attempts\n10,100\n", "no pattern columns after 'attempts'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_files_are_refused_naming_the_problem(tmp_path, case):
    text, message = BAD[case]
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ij.ConfigError, match=message) as info:
        ij.load_data(path)
    if case not in ("empty",):
        assert "data.csv" in str(info.value)


@pytest.mark.parametrize("text,message", [
    (HEAD.replace("c_v+d_h", "c_v+d_x") + "10,1000,5,1,3,2\n",
     r"'c_v\+d_x' is not an accepted pattern .* Did you mean"),
    (HEAD.replace("detection.window_ns", "detection.windw_ns") + "10,1000,5,1,3,2\n", "Did you mean"),
    (HEAD.replace("detection.window_ns", "detection.kind") + "10,1000,5,1,3,2\n", "static structure"),
    (HEAD + "-10,1000,5,1,3,2\n", r"detection.window_ns.*range"),
])
def test_data_the_link_cannot_describe_is_refused(tmp_path, text, message):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ij.ConfigError, match=message):
        ij.fit(_ideal(), path, ["node_a.collection_efficiency"])


def test_a_repeated_identical_row_is_counted_once(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(HEAD + "10,1000,5,1,3,2\n10,1000,5,1,3,2\n")
    with pytest.warns(UserWarning, match="line 3 repeats line 2 exactly"):
        t = ij.load_data(path)
    assert t.rows == 1


# ----------------------------------------------------------------------------- CLI
def test_cli_fit_end_to_end(tmp_path, capsys):
    link = _ideal(**{"interference.mode_overlap": 0.9})
    h, c = ij.sample_counts(link, 1e6, jax.random.key(8), {"detection.window_ns": [10.0, 40.0]}, bases=["XX", "ZZ"])
    h.to_csv(tmp_path / "heralds.csv")
    c.to_csv(tmp_path / "parity.csv")
    (tmp_path / "link.toml").write_text(link_to_toml(_ideal()))
    out = tmp_path / "out"
    argv = [str(tmp_path / "link.toml"), str(tmp_path / "heralds.csv"), str(tmp_path / "parity.csv"), "--free",
            "node_a.collection_efficiency", "interference.mode_overlap", "--out", str(out), "--plot",
            "--profile", "interference.mode_overlap"]
    assert main(["fit", *argv]) == 0
    text = capsys.readouterr().out
    for word in ("node_a.collection_efficiency", "± error", "fidelity", "rate", "deviance", "profile 68%"):
        assert word in text
    fitted = ij.load_link(out / "fitted_link.toml")
    report = json.loads((out / "fit.json").read_text())
    assert set(report) >= {"parameters", "correlation", "deviance", "dof", "p_value", "derived"}
    v = report["parameters"]["interference.mode_overlap"]
    assert float(fitted.get("interference.mode_overlap")) == pytest.approx(v["value"], rel=1e-12)
    assert abs(v["value"] - 0.9) < 4 * v["stderr"] and v["range"] == [0.0, 1.0]
    assert set(report["derived"]) >= {"fidelity", "rate_hz"}
    assert (out / "fit.png").stat().st_size > 10_000
    # mistakes: exit 2, a message, no traceback
    (tmp_path / "bad.csv").write_text(HEAD + "10,1000,5,-1,3,2\n")
    for bad, message in (
        ([str(tmp_path / "link.toml"), str(tmp_path / "bad.csv"), "--free", "node_a.collection_efficiency"],
         "negative"),
        ([str(tmp_path / "link.toml"), "--free", "node_a.collection_efficiency"], "at least one data CSV"),
        (["--free", "node_a.collection_efficiency", str(tmp_path / "link.toml"), str(tmp_path / "heralds.csv")],
         "took"),
        ([str(tmp_path / "link.toml"), str(tmp_path / "heralds.csv"), "--free", "node_a.collection_efficiency",
          "--plot"], "--plot writes DIR/fit.png"),
    ):
        assert main(["fit", *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_fit_api_warns_and_records_nonconvergence():
    link = _ideal()
    (h,) = ij.sample_counts(link, 1e5, jax.random.key(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ij.fit(link, h, ["node_a.collection_efficiency"])
    assert res.converged
    with pytest.warns(ij.FitWarning, match="stopped after 1 steps"):
        res = ij.fit(_ideal(**{"node_a.collection_efficiency": 0.6}), h, ["node_a.collection_efficiency"],
                     max_steps=1)
    assert not res.converged
