"""ij.optimize / pareto_front: known optima from a fine ij.sweep grid, bijections, checkpoints, errors, CLI."""

import json
import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ionjax as ij
from ionjax.cli import main as cli_main
from ionjax.optimize import bijection, optimize, pareto_front, penalized_objective
from ionjax.sweep import sweep

# With dark counts, a longer window raises the rate (more of the photon) and lowers the fidelity
# (more dark clicks): the best fidelity at a required rate sits where the rate just meets it.
LINK = {
    "node_a": {"collection_efficiency": 0.1, "photon_lifetime_ns": 8.0},
    "node_b": {"collection_efficiency": 0.1, "photon_lifetime_ns": 8.0},
    "detection": {"efficiency": 0.5, "dark_count_rate_hz": 3.0e4, "window_ns": 20.0},
}
KEY = "detection.window_ns"


@pytest.fixture(scope="module")
def link():
    return ij.load_link(LINK)


@pytest.fixture(scope="module")
def grid(link):
    return sweep(link, {KEY: np.linspace(2.0, 60.0, 3000)}, progress=False)


def test_bijections_cover_the_physical_range():
    for key, x0 in (("detection.efficiency", 0.3), ("detection.window_ns", 30.0), ("nodes.collection_efficiency", 0.0),
                    ("node_a.time_bin_pulse_error", -0.2), ("detection.dark_count_rate_hz", 0.0)):
        b = bijection(key, x0)
        u = np.linspace(-40, 40, 81)
        x = np.asarray(b.forward(jnp.asarray(u)))
        _, lo, hi, _, _ = ij.config.SCHEMA["node_a" if key.startswith("node") else "detection"][key.split(".")[1]]
        assert np.all(x >= lo) and np.all(x <= hi) and np.all(np.diff(x) >= 0)
        assert abs(float(b.forward(b.inverse(x0))) - x0) <= 1e-5 * max(1.0, abs(x0)) + 1e-8
    assert bijection("detection.window_ns", 30.0).kind == "softplus"
    assert bijection("detection.efficiency", 0.3).kind == "sigmoid"
    # the softplus scale puts the starting value at u = 0
    assert bijection("detection.window_ns", 30.0).inverse(30.0) == pytest.approx(0.0, abs=1e-12)
    # a value on the boundary starts just inside
    b = bijection("interference.mode_overlap", 1.0)
    assert 0.999 < float(b.forward(b.inverse(1.0))) < 1.0


def test_penalties_vanish_when_feasible_and_grow_when_not():
    f, r = jnp.asarray(0.9), jnp.asarray(100.0)
    v, p = penalized_objective("fidelity_at_rate", f, r, jnp.asarray(10.0), 1.0, 1000.0)
    assert float(p) < 1e-100 and float(v) == pytest.approx(0.9)
    v, p = penalized_objective("fidelity_at_rate", f, r, jnp.asarray(200.0), 1.0, 1000.0)
    assert float(p) == pytest.approx(math.log(2.0), rel=1e-3)
    v, p = penalized_objective("rate_at_fidelity", f, r, jnp.asarray(0.95), 1.0, 1000.0)
    assert float(p) == pytest.approx(1.0, rel=1e-2) and float(v) == pytest.approx(math.log(100.0) - float(p))
    assert float(penalized_objective("rate", f, r, None, 1.0)[0]) == pytest.approx(math.log(100.0))


def test_fidelity_at_rate_finds_the_grid_optimum(link, grid):
    r_min = 1500.0
    want = grid.best(min_rate_hz=r_min)
    res = optimize(link, [KEY], "fidelity_at_rate", min_rate_hz=r_min, steps=150, progress=False)
    assert res.feasible and res.rate_hz >= r_min
    assert res.fidelity == pytest.approx(want["fidelity"], abs=5e-5)
    assert res.params[KEY] == pytest.approx(want[KEY], rel=5e-3)
    assert res.initial["rate_hz"] < r_min  # it started infeasible (shorter window, higher fidelity)
    assert res.value > res.history["value"][0]
    # the returned link is the optimum
    assert float(ij.simulate(res.link).fidelity) == pytest.approx(res.fidelity, rel=1e-12)
    h = res.history
    assert len(h["value"]) == 151 and h["params"][KEY][0] == pytest.approx(20.0)
    assert h["params"][KEY][res.best_step] == pytest.approx(res.params[KEY])


def test_rate_at_fidelity_finds_the_grid_optimum(link, grid):
    want = grid.best("rate_hz", min_fidelity=0.9)
    res = optimize(link, [KEY], "rate_at_fidelity", min_fidelity=0.9, steps=150, progress=False,
                   optimizer=optax.adam(optax.cosine_decay_schedule(0.1, 150)))
    assert res.feasible and res.fidelity >= 0.9
    assert res.rate_hz == pytest.approx(want["rate_hz"], rel=1e-3)


def test_unconstrained_objectives_improve(link):
    res = optimize(link, [KEY, "nodes.collection_efficiency"], "rate", steps=40, progress=False)
    assert res.rate_hz > 1.5 * res.initial["rate_hz"]
    assert np.all(np.diff(res.history["rate_hz"][:10]) > 0)
    res = optimize(link.set({"detection.window_ns": 50.0}), KEY, "fidelity", steps=40, progress=False)
    assert res.fidelity > res.initial["fidelity"] + 0.01 and res.params[KEY] < 50.0


def test_pareto_front_traces_the_tradeoff(link, grid):
    rates = [300.0, 800.0, 1500.0]
    front = pareto_front(link, [KEY], rates=rates, steps=200, progress=False,
                         optimizer=optax.adam(optax.cosine_decay_schedule(0.1, 200)))
    assert np.all(front.feasible) and np.all(np.diff(front.rate_hz) > 0) and np.all(np.diff(front.fidelity) < 0)
    for r, f in zip(front.constraints, front.fidelity):
        assert f == pytest.approx(grid.best(min_rate_hz=r)["fidelity"], abs=1e-4)
    assert len(front.links) == 3 and front.params[KEY].shape == (3,)


class Stop(Exception):
    pass


def test_checkpoint_resume_equals_uninterrupted_run(link, tmp_path):
    kw = dict(objective="fidelity_at_rate", min_rate_hz=1000.0, steps=12, progress=False, checkpoint_every=4)
    ref = optimize(link, [KEY], **kw)

    def boom(step, metrics):
        if step == 9:
            raise Stop

    ck = tmp_path / "ck"
    with pytest.raises(Stop):
        optimize(link, [KEY], checkpoint_dir=ck, callback=boom, **kw)
    assert (ck / "optimizer_checkpoint.npz").exists()
    with np.load(ck / "optimizer_checkpoint.npz") as z:
        assert int(z["step"]) == 8
    res = optimize(link, [KEY], checkpoint_dir=ck, **kw)
    for k in ("value", "fidelity", "rate_hz"):
        np.testing.assert_allclose(res.history[k], ref.history[k], rtol=1e-12)
    assert res.params == pytest.approx(ref.params, rel=1e-12)
    with pytest.raises(ij.ConfigError, match="different optimization"):
        optimize(link, ["nodes.collection_efficiency"], checkpoint_dir=ck, **kw)


@pytest.mark.parametrize("kw, match", [
    (dict(free=["detection.windw_ns"]), "window_ns"),
    (dict(free=["detection.kind"]), "static"),
    (dict(free=[]), "at least one"),
    (dict(free=[KEY], objective="fidelty"), "Did you mean 'fidelity'"),
    (dict(free=[KEY], objective="fidelity_at_rate"), "min_rate_hz"),
    (dict(free=[KEY], objective="rate_at_fidelity", min_fidelity=1.5), "min_fidelity"),
    (dict(free=[KEY], objective="fidelity", min_rate_hz=10.0), "takes no constraint"),
    (dict(free=[KEY], steps=-1), "steps"),
    (dict(free=[KEY], optimizer="adam"), "optax"),
])
def test_bad_arguments_are_config_errors(link, kw, match):
    with pytest.raises(ij.ConfigError, match=match):
        optimize(link, progress=False, **kw)


def test_pareto_needs_one_kind_of_constraint(link):
    with pytest.raises(ij.ConfigError):
        pareto_front(link, [KEY], progress=False)
    with pytest.raises(ij.ConfigError):
        pareto_front(link, [KEY], rates=[1.0], fidelities=[0.9], progress=False)


def test_cli_optimize_writes_results(tmp_path, capsys):
    cfg = tmp_path / "link.toml"
    cfg.write_text("[node_a]\ncollection_efficiency = 0.1\n[node_b]\ncollection_efficiency = 0.1\n"
                   "[detection]\nefficiency = 0.5\ndark_count_rate_hz = 30000.0\nwindow_ns = 20.0\n")
    out = tmp_path / "opt"
    rc = cli_main(["optimize", str(cfg), "--free", KEY, "--objective", "fidelity_at_rate", "--min-rate-hz", "1000",
                   "--steps", "30", "--out", str(out), "--plot", "--quiet"])
    assert rc == 0
    summary = json.loads((out / "optimized_link.json").read_text())
    assert summary["rate_hz"] >= 1000.0 and summary["objective"] == "fidelity_at_rate"
    assert (out / "history.png").exists() and (out / "history.csv").read_text().startswith("step,value")
    back = ij.load_link(out / "optimized_link.toml")
    assert float(back.get(KEY)) == pytest.approx(summary["params"][KEY], rel=1e-15)
    text = capsys.readouterr().out
    assert "detection.window_ns" in text and "best" in text
    assert cli_main(["optimize", str(cfg), "--free", KEY, "--objective", "fidelity_at_rate", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "min_rate_hz" in err or "min-rate-hz" in err


def test_link_to_toml_round_trips(link):
    import tomllib

    from ionjax.optimize import link_to_toml

    for lk in (link.set({"nodes.qubit_t2_s": 0.5, "detection.window_ns": 1.0 / 3.0}), link,
               ij.presets.get("duke_2025")):
        text = link_to_toml(lk)
        assert ij.load_link(tomllib.loads(text)).to_dict() == lk.to_dict()
    assert "qubit_t2_s = inf" in link_to_toml(link)


def test_history_plot_shows_free_keys_in_their_units_without_offsets(link):
    from ionjax.plotting import key_units, plot_history

    res = optimize(link, [KEY, "nodes.collection_efficiency"], "fidelity", steps=6, progress=False)
    fig = plot_history(res)
    fig.canvas.draw()
    axes = fig.axes
    assert len(axes) == 5
    assert axes[3].get_ylabel() == "detection.window_ns (ns)" and axes[4].get_ylabel() == "nodes.collection_efficiency"
    np.testing.assert_array_equal(axes[3].lines[0].get_ydata(), res.history["params"][KEY])
    assert all(ax.yaxis.get_offset_text().get_text() == "" for ax in axes)
    assert axes[1].get_ylim()[1] <= 1.0
    assert (key_units("node_a.fiber_attenuation_db_per_km"), key_units("nodes.qubit_t2_s"),
            key_units("attempt_rate_hz"), key_units("detection.efficiency")) == ("dB/km", "s", "Hz", "")


@pytest.mark.parametrize("kw, match", [
    (dict(rates=[]), "`rates` is empty"),
    (dict(fidelities=[]), "`fidelities` is empty"),
    (dict(rates=[100.0, float("nan")]), r"`rates`\[1\] = nan"),
    (dict(rates=[float("inf")]), r"`rates`\[0\] = inf"),
    (dict(fidelities=[0.9, 1.0]), r"`fidelities`\[1\] = 1.0"),
    (dict(rates=[[1.0, 2.0]]), "1-D"),
    (dict(rates="fast"), "list of numbers"),
])
def test_pareto_refuses_empty_and_nan_constraints(link, kw, match):
    with pytest.raises(ij.ConfigError, match=match):
        pareto_front(link, [KEY], progress=False, **kw)


@pytest.mark.parametrize("kw, match", [
    (dict(objective="fidelity_at_rate", min_rate_hz=float("nan")), "min_rate_hz"),
    (dict(objective="fidelity_at_rate", min_rate_hz="abc"), "must be numbers"),
    (dict(objective="rate_at_fidelity", min_fidelity=float("nan")), "min_fidelity"),
    (dict(penalty_weight=float("nan")), "penalty_weight"),
    (dict(penalty_sharpness=float("inf")), "penalty_sharpness"),
    (dict(checkpoint_every=True), "checkpoint_every"),
    (dict(steps=2.0), "steps"),
])
def test_optimize_refuses_nan_and_bad_numbers(link, kw, match):
    with pytest.raises(ij.ConfigError, match=match):
        optimize(link, [KEY], progress=False, **kw)
