"""ij.sweep: equals point-by-point simulate, chunking and resuming change nothing, errors name the key."""

import json
import os

import jax
import numpy as np
import pytest

import ionjax as ij
from ionjax.cli import main as cli_main
from ionjax.sweep import SweepResult, default_chunk_size, sweep

LINK = {
    "node_a": {"collection_efficiency": 0.2, "ion_photon_fidelity": 0.97, "multi_photon_probability": 0.02},
    "node_b": {"collection_efficiency": 0.15, "multi_photon_probability": 0.01},
    "detection": {"efficiency": 0.6, "dark_count_rate_hz": 2.0e4, "window_ns": 30.0},
    "interference": {"mode_overlap": 0.93},
}
GRID = {"detection.window_ns": np.geomspace(5.0, 120.0, 7), "nodes.collection_efficiency": [0.05, 0.1, 0.3]}
FIELDS = ("fidelity", "success_probability", "rate_hz", "pattern_probabilities", "pattern_fidelities")


@pytest.fixture(scope="module")
def link():
    return ij.load_link(LINK)


@pytest.fixture(scope="module")
def full(link):
    return sweep(link, GRID, progress=False)


def assert_same(a, b, rtol=1e-13):
    for f in FIELDS:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=rtol, atol=1e-300, err_msg=f)


def test_product_sweep_equals_point_by_point_simulate(link, full):
    assert full.shape == (7, 3) and full.keys == tuple(GRID)
    assert full.pattern_probabilities.shape == (7, 3, 4)
    pts = full.points()
    for i in range(7):
        for j in range(3):
            res = ij.simulate(link.set({"detection.window_ns": pts["detection.window_ns"][i, j],
                                        "nodes.collection_efficiency": pts["nodes.collection_efficiency"][i, j]}))
            for f in FIELDS:
                np.testing.assert_allclose(getattr(full, f)[i, j], np.asarray(getattr(res, f)), rtol=1e-12)
    assert full.patterns()["c_h+d_v"]["probability"].shape == (7, 3)


def test_zip_sweep_pairs_values_and_keeps_states(link):
    w, m = [10.0, 20.0, 40.0], [0.5, 0.8, 1.0]
    res = sweep(link, {"detection.window_ns": w, "interference.mode_overlap": m}, mode="zip", keep_states=True,
                progress=False)
    assert res.shape == (3,) and res.state.shape == (3, 4, 4)
    for i in range(3):
        ref = ij.simulate(link.set({"detection.window_ns": w[i], "interference.mode_overlap": m[i]}))
        np.testing.assert_allclose(res.fidelity[i], float(ref.fidelity), rtol=1e-12)
        np.testing.assert_allclose(res.state[i], np.asarray(ref.state.data), atol=1e-14)


def test_chunked_equals_unchunked(link, full):
    for chunk in (1, 4, 5, 21, 100):
        part = sweep(link, GRID, chunk_size=chunk, progress=False)
        assert part.meta["n_chunks"] == -(-21 // min(chunk, 21))
        assert_same(part, full)


def test_chunk_size_from_memory_budget():
    assert default_chunk_size(1.0) == 2**20 // 2048
    assert default_chunk_size(1.0, n_devices=3) % 3 == 0
    assert default_chunk_size(1e6) == 2**18  # capped
    with pytest.raises(ij.ConfigError):
        default_chunk_size(0)


class Stop(Exception):
    pass


def test_interrupted_sweep_resumes_and_loses_nothing(link, full, tmp_path):
    ck = tmp_path / "ck"
    seen = []

    def boom(i, n):
        seen.append(i)
        if i == 2:
            raise Stop

    with pytest.raises(Stop):
        sweep(link, GRID, chunk_size=4, checkpoint_dir=ck, progress=False, callback=boom)
    files = sorted(p.name for p in ck.glob("chunk_*.npz"))
    assert files == ["chunk_000000.npz", "chunk_000001.npz", "chunk_000002.npz"]
    stamps = {f: os.stat(ck / f).st_mtime_ns for f in files}
    manifest = json.loads((ck / "manifest.json").read_text())
    assert manifest["chunk_size"] == 4 and manifest["n_points"] == 21

    # resume (a different chunk_size request is overridden by the checkpoint's)
    res = sweep(link, GRID, chunk_size=7, checkpoint_dir=ck, progress=False)
    assert_same(res, full)
    assert res.meta["chunk_size"] == 4
    assert {f: os.stat(ck / f).st_mtime_ns for f in files} == stamps  # finished chunks were not recomputed
    assert len(list(ck.glob("chunk_*.npz"))) == 6
    assert not list(ck.glob("*.tmp"))

    # a damaged chunk file is recomputed, not trusted, with a warning naming it
    from ionjax.sweep import CheckpointWarning

    (ck / "chunk_000003.npz").write_bytes(b"garbage")
    with pytest.warns(CheckpointWarning, match="chunk_000003.npz"):
        assert_same(sweep(link, GRID, checkpoint_dir=ck, progress=False), full)


def test_a_different_sweep_refuses_the_checkpoint(link, tmp_path):
    ck = tmp_path / "ck"
    sweep(link, {"detection.window_ns": [10.0, 20.0]}, checkpoint_dir=ck, progress=False)
    with pytest.raises(ij.ConfigError, match="different sweep"):
        sweep(link, {"detection.window_ns": [10.0, 30.0]}, checkpoint_dir=ck, progress=False)
    with pytest.raises(ij.ConfigError, match="different sweep"):
        sweep(link.set({"detection.efficiency": 0.5}), {"detection.window_ns": [10.0, 20.0]}, checkpoint_dir=ck,
              progress=False)


@pytest.mark.parametrize("grid, match", [
    ({"detection.windw_ns": [1.0]}, "window_ns"),
    ({"detecton.window_ns": [1.0]}, "detection"),
    ({"detection.window_ns": [10.0, -1.0]}, r"detection.window_ns = -1.0 is out of range"),
    ({"detection.efficiency": [0.5, 1.5]}, "detection.efficiency"),
    ({"nodes.collection_efficiency": [np.nan]}, "nodes.collection_efficiency"),
    ({"detection.kind": [1.0]}, "static"),
    ({"detection.window_ns": "abc"}, "must be numbers"),
    ({"detection.window_ns": []}, "empty"),
    ({}, "non-empty"),
])
def test_bad_keys_and_values_name_them(link, grid, match):
    with pytest.raises(ij.ConfigError, match=match):
        sweep(link, grid, progress=False)


def test_bad_arguments(link):
    with pytest.raises(ij.ConfigError, match="same length|one length"):
        sweep(link, {"detection.window_ns": [1.0, 2.0], "detection.efficiency": [0.5]}, mode="zip", progress=False)
    with pytest.raises(ij.ConfigError, match="mode"):
        sweep(link, {"detection.window_ns": [1.0]}, mode="outer", progress=False)
    with pytest.raises(ij.ConfigError, match="chunk_size"):
        sweep(link, {"detection.window_ns": [1.0]}, chunk_size=0, progress=False)
    with pytest.raises(ij.ConfigError):
        ij.load_link({"detection": {"windw_ns": 3}})


def test_save_load_and_csv(full, tmp_path):
    npz = full.save(tmp_path / "out")
    back = SweepResult.load(tmp_path / "out")
    assert_same(back, full, rtol=0)
    assert back.keys == full.keys and back.pattern_names == full.pattern_names
    assert back.link.to_dict() == full.link.to_dict()
    rows = (npz.with_suffix(".csv")).read_text().strip().splitlines()
    assert len(rows) == 1 + full.size
    header = rows[0].split(",")
    assert header[:5] == ["detection.window_ns", "nodes.collection_efficiency", "fidelity", "success_probability",
                          "rate_hz"]
    first = [float(x) for x in rows[1].split(",")]
    assert first[2] == full.fidelity[0, 0] and first[4] == full.rate_hz[0, 0]


def test_best_respects_constraints(full):
    b = full.best(min_rate_hz=float(np.median(full.rate_hz)))
    ok = full.rate_hz >= np.median(full.rate_hz)
    assert b["fidelity"] == full.fidelity[ok].max() and b["rate_hz"] >= np.median(full.rate_hz)
    with pytest.raises(ValueError, match="No point"):
        full.best(min_fidelity=1.5)


def test_results_are_float64_numpy(full):
    assert jax.config.jax_enable_x64
    assert isinstance(full.fidelity, np.ndarray) and full.fidelity.dtype == np.float64


def test_cli_sweep_writes_results_and_plots(tmp_path, capsys):
    cfg = tmp_path / "link.toml"
    cfg.write_text('[detection]\ndark_count_rate_hz = 1000.0\nefficiency = 0.6\n[interference]\nmode_overlap = 0.95\n')
    out = tmp_path / "run"
    rc = cli_main(["sweep", str(cfg), "--vary", "detection.window_ns=5:100:6:log",
                   "--vary", "interference.mode_overlap=0.8,0.9,1.0", "--out", str(out), "--plot", "--quiet",
                   "--chunk-size", "5"])
    assert rc == 0
    for name in ("sweep.npz", "sweep.csv", "sweep.png", "sweep_fidelity.png", "sweep_rate_hz.png",
                 "checkpoint/manifest.json"):
        assert (out / name).exists(), name
    res = SweepResult.load(out)
    assert res.shape == (6, 3)
    np.testing.assert_allclose(res.axes["detection.window_ns"], np.geomspace(5, 100, 6))
    # the same command again resumes from the checkpoint and gives the same numbers
    assert cli_main(["sweep", str(cfg), "--vary", "detection.window_ns=5:100:6:log",
                     "--vary", "interference.mode_overlap=0.8,0.9,1.0", "--out", str(out), "--quiet"]) == 0
    np.testing.assert_array_equal(SweepResult.load(out).fidelity, res.fidelity)
    capsys.readouterr()
    assert cli_main(["sweep", str(cfg), "--vary", "detection.window_ns=5:100", "--out", str(out)]) == 2
    assert "START:STOP:NUM" in capsys.readouterr().err
    assert cli_main(["sweep", str(cfg), "--vary", "detection.windw_ns=5:100:3", "--out", str(out)]) == 2
    assert "window_ns" in capsys.readouterr().err


def test_plots_are_written(full, tmp_path):
    from ionjax.plotting import plot_frontier, plot_sweep

    one = sweep(full.link, {"detection.window_ns": [5.0, 10.0, 20.0]}, progress=False)
    for res, name in ((full, "heat.png"), (one, "line.png")):
        fig = plot_sweep(res, "fidelity", path=tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000 and fig.axes
    plot_sweep(full, "rate_hz", path=tmp_path / "rate.png")
    from ionjax.plotting import plot_sweep_summary

    for res, name in ((full, "sum2.png"), (one, "sum1.png")):
        plot_sweep_summary(res, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000
    plot_frontier(rates=[1.0, 2.0, 3.0], fidelities=[0.9, 0.8, 0.7], operating_point=(2.0, 0.85), sweep=full,
                  path=tmp_path / "front.png")
    assert (tmp_path / "front.png").exists()
    with pytest.raises(ValueError):
        plot_sweep(full, "nonsense")


def test_after_chunk_hook_interrupts_and_resume_skips_finished_chunks(link, full, tmp_path, saved_chunks):
    ck, calls = tmp_path / "ck", []

    def stop_after_1(i):
        calls.append(i)
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        sweep(link, GRID, chunk_size=5, checkpoint_dir=ck, progress=False, _after_chunk=stop_after_1)
    assert calls == [0, 1]
    del saved_chunks[:]  # count only what the resumed run computes
    computed = saved_chunks
    res = sweep(link, GRID, chunk_size=5, checkpoint_dir=ck, progress=False, _after_chunk=calls.append)
    assert calls == [0, 1, 0, 1, 2, 3, 4] and computed == [2, 3, 4]  # chunks 0 and 1 were loaded, not recomputed
    assert_same(res, full)


def test_save_npz_and_save_csv(full, tmp_path):
    npz = full.save_npz(tmp_path / "a.npz")
    assert npz.exists() and not (tmp_path / "a.csv").exists()
    assert_same(SweepResult.load(npz), full, rtol=0)
    csv_path = full.save_csv(tmp_path / "a.csv")
    rows = csv_path.read_text().splitlines()
    assert len(rows) == 1 + full.size and rows[0].startswith("detection.window_ns,nodes.collection_efficiency,fidelity")


def test_fidelity_colour_scales_and_axes_end_at_one(full):
    from dataclasses import replace

    from matplotlib.colors import Normalize

    from ionjax.plotting import plot_frontier, plot_sweep, plot_sweep_summary

    over = replace(full, fidelity=np.minimum(full.fidelity + 0.5, 1.0 + 1e-12))  # rounding above 1
    for fig in (plot_sweep(over, "fidelity"), plot_sweep_summary(over)):
        mesh = fig.axes[0].collections[0]
        assert isinstance(mesh.norm, Normalize) and mesh.norm.vmax <= 1.0
        assert fig.axes[-1].get_ylim()[1] <= 1.0  # the colour bar
    one = replace(over, keys=over.keys[:1], axes={k: over.axes[k] for k in over.keys[:1]},
                  fidelity=over.fidelity[:, 0], success_probability=over.success_probability[:, 0],
                  rate_hz=over.rate_hz[:, 0])
    assert plot_sweep(one, "fidelity").axes[0].get_ylim()[1] <= 1.0
    assert plot_sweep_summary(one).axes[0].get_ylim()[1] <= 1.0
    assert plot_frontier(rates=[1.0, 2.0], fidelities=[1.0, 0.99]).axes[0].get_ylim()[1] <= 1.0
