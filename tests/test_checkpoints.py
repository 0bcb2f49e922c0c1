"""Checkpoints never lose or mix work: every kind of damage to a sweep's or an optimization's checkpoint
is either recomputed (with a warning naming the file) or refused (naming the file), and the final result
equals an uninterrupted run bit for bit."""

import contextlib
import importlib
import json
import os
import stat
import warnings

import numpy as np
import optax
import pytest
from test_sweep import GRID, LINK  # the sweep tests' link and grid (one compiled shape for both files)

import ionjax as ij
from ionjax.optimize import _optimize_batch, optimize, optimizer_fingerprint
from ionjax.sweep import CheckpointWarning, checkpoint_chunk_size, sweep

sweep_mod = importlib.import_module("ionjax.sweep")  # the module (ionjax.sweep is the function)

OTHER = {"detection.window_ns": np.geomspace(6.0, 100.0, 7), "nodes.collection_efficiency": [0.05, 0.1, 0.3]}
CHUNK = 4  # 21 points: 6 chunks, the last padded (one compiled shape for every sweep here)
FIELDS = ("fidelity", "success_probability", "rate_hz", "pattern_probabilities", "pattern_fidelities")
KEY = "detection.window_ns"
OPT_LINK = {
    "node_a": {"collection_efficiency": 0.1}, "node_b": {"collection_efficiency": 0.1},
    "detection": {"efficiency": 0.5, "dark_count_rate_hz": 3.0e4, "window_ns": 20.0},
}
OPT_KW = dict(objective="fidelity_at_rate", min_rate_hz=1000.0, progress=False, checkpoint_every=2)
ADAM = optax.adam(0.05)  # one object: every run with it shares one compiled step


@pytest.fixture(scope="module")
def link():
    return ij.load_link(LINK)


@pytest.fixture(scope="module")
def ref(link):
    return sweep(link, GRID, chunk_size=CHUNK, progress=False)


@pytest.fixture(scope="module")
def ref_other(link):
    return sweep(link, OTHER, chunk_size=CHUNK, progress=False)


def same(a, b):
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def run(link, ck, grid=GRID, **kw):
    return sweep(link, grid, chunk_size=CHUNK, checkpoint_dir=ck, progress=False, **kw)


@pytest.fixture
def saves(saved_chunks):
    """The chunk indices computed (and saved) during the test."""
    return saved_chunks


@contextlib.contextmanager
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        yield


# ----------------------------------------------------------------------------- sweep: size and inputs
def test_a_grid_over_the_limit_is_refused_before_anything_is_allocated(link, monkeypatch):
    def no_meshgrid(*a, **k):
        raise AssertionError("meshgrid was called: the grid was allocated before the size check")

    monkeypatch.setattr(sweep_mod.np, "meshgrid", no_meshgrid)
    big = {KEY: np.linspace(5.0, 100.0, 8193), "detection.efficiency": np.linspace(0.1, 1.0, 8193)}
    with pytest.raises(ij.ConfigError, match=r"67,125,249 points .*MAX_GRID_POINTS.* GiB of host memory"):
        sweep(link, big, progress=False)
    monkeypatch.setattr(sweep_mod, "MAX_GRID_POINTS", 10)
    with pytest.raises(ij.ConfigError, match="11 points"):
        sweep(link, {KEY: np.linspace(5, 10, 11), "detection.efficiency": np.linspace(0.1, 1, 11)}, mode="zip",
              progress=False)


@pytest.mark.parametrize("kw, match", [
    (dict(memory_budget_mb=float("nan")), "memory_budget_mb"),
    (dict(memory_budget_mb=float("inf")), "memory_budget_mb"),
    (dict(memory_budget_mb=0), "memory_budget_mb"),
    (dict(chunk_size=True), "chunk_size"),
    (dict(grid={KEY: [10.0, float("nan")]}), KEY),
    (dict(grid={KEY: []}), "empty"),
    (dict(grid={KEY: [10.0], "detection.efficiency": []}), "detection.efficiency.*empty"),
])
def test_bad_sweep_inputs_are_config_errors(link, kw, match):
    grid = kw.pop("grid", {KEY: [10.0]})
    with pytest.raises(ij.ConfigError, match=match):
        sweep(link, grid, progress=False, **kw)


def test_checkpoint_chunks_are_small_enough_to_save_work():
    assert checkpoint_chunk_size(100_000, 256.0) == 1024  # 98 chunks
    assert checkpoint_chunk_size(3_000, 256.0) == 1024  # the floor
    assert checkpoint_chunk_size(10**8, 256.0) == sweep_mod.default_chunk_size(256.0)  # the memory cap
    assert checkpoint_chunk_size(100_000, 256.0, n_devices=4) % 4 == 0
    for n in (1, 5_000, 70_000, 10**6):
        c = checkpoint_chunk_size(n, 256.0)
        assert c & (c - 1) == 0 and (-(-n // c) >= 64 or c == 1024) and -(-n // c) <= 128 + n // 1024


def test_a_checkpointed_sweep_uses_checkpoint_chunks(link, ref, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_mod, "MIN_CHECKPOINT_CHUNK", CHUNK)
    res = sweep(link, GRID, checkpoint_dir=tmp_path / "ck", progress=False)
    assert res.meta["chunk_size"] == CHUNK and res.meta["n_chunks"] == 6
    same(res, ref)
    assert sweep(link, GRID, progress=False).meta["n_chunks"] == 1  # without a checkpoint: the memory chunk


# ----------------------------------------------------------------------------- sweep: interruption
@pytest.mark.parametrize("k", [1, 4])
def test_keyboard_interrupt_after_k_chunks_resumes_to_the_uninterrupted_result(link, ref, tmp_path, saves, k):
    ck = tmp_path / "ck"

    def interrupt(i):
        if i == k:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(link, ck, _after_chunk=interrupt)
    assert sorted(p.name for p in ck.glob("chunk_*.npz")) == [f"chunk_{i:06d}.npz" for i in range(k + 1)]
    assert not list(ck.glob("*.tmp"))
    saves.clear()
    with no_warnings():
        res = run(link, ck)
    assert saves == list(range(k + 1, 6))  # the finished chunks were loaded, not recomputed
    same(res, ref)


def test_an_interruption_inside_a_chunk_write_leaves_no_tmp_and_resumes(link, ref, tmp_path, monkeypatch):
    ck = tmp_path / "ck"
    calls = []
    orig = np.savez

    def savez(fh, **arrays):
        calls.append(1)
        if len(calls) == 2:
            fh.write(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt
        return orig(fh, **arrays)

    monkeypatch.setattr(sweep_mod.np, "savez", savez)
    with pytest.raises(KeyboardInterrupt):
        run(link, ck)
    monkeypatch.setattr(sweep_mod.np, "savez", orig)
    assert not list(ck.glob("*.tmp")) and len(list(ck.glob("chunk_*.npz"))) == 1
    same(run(link, ck), ref)


# ----------------------------------------------------------------------------- sweep: damaged chunks
def _damage(p, kind, tmp_path, link):
    data = p.read_bytes()
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        p.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif kind == "flipped":  # one byte of the compressed payload: a bad CRC
        b = bytearray(data)
        b[200] ^= 0xFF
        p.write_bytes(bytes(b))
    elif kind == "foreign":  # the same chunk of another sweep
        other = tmp_path / "other"
        run(link, other, grid=OTHER)
        p.write_bytes((other / p.name).read_bytes())
    elif kind == "no_hash":  # a chunk of the old format (results only)
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files if not k.startswith("_")}
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)
    elif kind == "wrong_range":  # a verifying chunk of this sweep under another index
        p.write_bytes((p.parent / "chunk_000001.npz").read_bytes())


@pytest.mark.parametrize("kind, why", [
    ("empty", "cannot be read"), ("truncated", "cannot be read"), ("random", "cannot be read"),
    ("flipped", "cannot be read"), ("foreign", "different sweep"), ("no_hash", "no sweep hash"),
    ("wrong_range", "covers points 4..8"),
])
def test_a_damaged_chunk_is_recomputed_with_a_warning_naming_it(link, ref, tmp_path, saves, kind, why):
    ck = tmp_path / "ck"
    run(link, ck)
    _damage(ck / "chunk_000002.npz", kind, tmp_path, link)
    saves.clear()
    with pytest.warns(CheckpointWarning, match=rf"chunk_000002\.npz.*{why}.*recomputing"):
        res = run(link, ck)
    assert saves == [2]
    same(res, ref)
    with no_warnings():  # the recomputed chunk now verifies
        same(run(link, ck), ref)


def test_a_deleted_manifest_never_lets_another_sweep_reuse_its_chunks(link, ref, ref_other, tmp_path, saves):
    ck = tmp_path / "ck"
    run(link, ck)
    (ck / "manifest.json").unlink()
    saves.clear()
    with pytest.warns(CheckpointWarning) as rec:
        res = run(link, ck, grid=OTHER)
    msgs = [str(w.message) for w in rec]
    assert any("manifest.json" in m and "missing" in m for m in msgs)
    assert sum("different sweep" in m for m in msgs) == 6
    assert saves == list(range(6))
    same(res, ref_other)
    # the directory now belongs to the other sweep (its manifest is back): the first sweep is refused
    with pytest.raises(ij.ConfigError, match="different sweep"):
        run(link, ck)


def test_a_deleted_manifest_of_the_same_sweep_reuses_every_chunk(link, ref, tmp_path, saves):
    ck = tmp_path / "ck"
    run(link, ck)
    (ck / "manifest.json").unlink()
    saves.clear()
    with pytest.warns(CheckpointWarning, match="manifest.json.*missing"):
        res = sweep(link, GRID, checkpoint_dir=ck, progress=False)  # default chunk: recovered from the chunks
    assert saves == [] and res.meta["chunk_size"] == CHUNK
    same(res, ref)


@pytest.mark.parametrize("text, why", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "a JSON list"),
    ('{"hash": 5}', "field 'hash'"),
    ("HASH_OK_BAD_CHUNK", "field 'chunk_size'"),
    ("HASH_OK_WRONG_N", "n_points = 99"),
])
def test_a_corrupt_manifest_is_rebuilt_with_a_warning(link, ref, tmp_path, saves, text, why):
    ck = tmp_path / "ck"
    run(link, ck)
    good = json.loads((ck / "manifest.json").read_text())
    if text == "HASH_OK_BAD_CHUNK":
        text = json.dumps({**good, "chunk_size": "four"})
    elif text == "HASH_OK_WRONG_N":
        text = json.dumps({**good, "n_points": 99})
    (ck / "manifest.json").write_text(text)
    saves.clear()
    with pytest.warns(CheckpointWarning, match=rf"manifest\.json.*{why}.*rebuilding"):
        res = sweep(link, GRID, checkpoint_dir=ck, progress=False)
    assert saves == []  # the chunks verified themselves: nothing was recomputed
    same(res, ref)
    assert json.loads((ck / "manifest.json").read_text()) == good


def test_stale_tmp_files_are_removed_and_nothing_else(link, ref, tmp_path):
    ck = tmp_path / "ck"
    run(link, ck)
    stale = [ck / "chunk_000001.npz.4242-deadbeef.tmp", ck / "chunk_000003.npzab12cd.tmp",
             ck / "manifest.json.tmp", ck / "manifest.json.99-00ff00ff.tmp"]
    for p in stale:
        p.write_bytes(b"half written")
    (ck / "notes.tmp").write_text("mine")
    same(run(link, ck), ref)
    assert not any(p.exists() for p in stale)
    assert (ck / "notes.tmp").read_text() == "mine"


def test_a_checkpoint_dir_that_is_a_file_is_refused(link, tmp_path):
    f = tmp_path / "ck"
    f.write_text("")
    with pytest.raises(ij.ConfigError, match="checkpoint_dir.*ck"):
        run(link, f)


# ----------------------------------------------------------------------------- file modes
def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_every_file_follows_the_umask(link, tmp_path):
    old = os.umask(0o022)
    try:
        ck = tmp_path / "ck"
        res = run(link, ck)
        res.save(tmp_path / "out")
        files = [*ck.iterdir(), *(tmp_path / "out").iterdir()]
        os.umask(0o027)
        res.save(tmp_path / "out2")
        res2 = optimize(OPT_LINK, [KEY], steps=2, checkpoint_dir=tmp_path / "opt" / "checkpoint", **OPT_KW)
        res2.save(tmp_path / "opt")
        files2 = [*(tmp_path / "out2").iterdir(), *(tmp_path / "opt").glob("*.*"),
                  *(tmp_path / "opt" / "checkpoint").iterdir()]
    finally:
        os.umask(old)
    assert {p.name for p in files} >= {"manifest.json", "chunk_000000.npz", "sweep.npz", "sweep.csv"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o644 for p in files}
    assert {p.name for p in files2} >= {"sweep.npz", "optimized_link.json", "optimized_link.toml", "history.npz",
                                        "history.csv", "optimizer_checkpoint.npz"}
    assert {p.name: _mode(p) for p in files2} == {p.name: 0o640 for p in files2}


# ----------------------------------------------------------------------------- optimizer checkpoints
@pytest.fixture(scope="module")
def opt_link():
    return ij.load_link(OPT_LINK)


@pytest.fixture(scope="module")
def opt_ref(opt_link):
    return optimize(opt_link, [KEY], steps=6, **OPT_KW)


def same_run(a, b):
    for k in ("value", "penalty", "fidelity", "rate_hz", "success_probability"):
        np.testing.assert_array_equal(a.history[k], b.history[k], err_msg=k)
    np.testing.assert_array_equal(a.history["params"][KEY], b.history["params"][KEY])
    assert a.params == b.params and a.best_step == b.best_step


class Stop(Exception):
    pass


def test_an_interrupted_optimization_resumes_bit_for_bit(opt_link, opt_ref, tmp_path):
    ck = tmp_path / "ck"

    def boom(step, metrics):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, callback=boom, **OPT_KW)
    with no_warnings():
        res = optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW)
    assert res.resumed_from == 4 and res.steps == 6
    same_run(res, opt_ref)


@pytest.mark.parametrize("kind", ["empty", "truncated", "random", "flipped", "no_run"])
def test_a_damaged_optimizer_checkpoint_starts_afresh_with_a_warning(opt_link, opt_ref, tmp_path, kind):
    ck = tmp_path / "ck"
    optimize(opt_link, [KEY], steps=4, checkpoint_dir=ck, **OPT_KW)
    p = ck / "optimizer_checkpoint.npz"
    if kind == "no_run":
        with open(p, "wb") as fh:
            np.savez(fh, step=np.array(4))
    else:
        _damage(p, kind, tmp_path, None)
    with pytest.warns(CheckpointWarning, match=r"optimizer_checkpoint\.npz.*starting the optimization afresh"):
        res = optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW)
    assert res.resumed_from == 0
    same_run(res, opt_ref)
    with no_warnings():  # the checkpoint was replaced and verifies
        same_run(optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW), opt_ref)


def test_an_inconsistent_optimizer_checkpoint_starts_afresh(opt_link, opt_ref, tmp_path):
    ck = tmp_path / "ck"
    optimize(opt_link, [KEY], steps=4, checkpoint_dir=ck, **OPT_KW)
    p = ck / "optimizer_checkpoint.npz"
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["hist_value"] = arrays["hist_value"][:2]  # a history shorter than its step
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.warns(CheckpointWarning, match="inconsistent"):
        same_run(optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW), opt_ref)


def test_an_old_format_optimizer_checkpoint_is_refused_naming_it(opt_link, tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    with open(ck / "optimizer_checkpoint.npz", "wb") as fh:
        np.savez(fh, hash=np.array("0" * 64), step=np.array(3))
    with pytest.raises(ij.ConfigError, match=r"optimizer_checkpoint\.npz.*older ionjax.*delete it"):
        optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW)


def test_stale_optimizer_tmp_files_are_removed(opt_link, tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    stale = [ck / "optimizer_checkpoint.npz.77-0badf00d.tmp", ck / "optimizer_checkpoint.npzq1w2e3.tmp"]
    for p in stale:
        p.write_bytes(b"x")
    optimize(opt_link, [KEY], steps=2, checkpoint_dir=ck, **OPT_KW)
    assert not any(p.exists() for p in stale)


@pytest.mark.parametrize("change, match", [
    (dict(optimizer="adam_0.06"), "learning rate"),
    (dict(optimizer="sgd_0.05"), "another kind"),
    (dict(optimizer="cosine"), "the optimizer"),
    (dict(min_rate_hz=2000.0), r"constraint \(min_rate_hz \[1000.0\] -> min_rate_hz \[2000.0\]\)"),
    (dict(objective="fidelity", min_rate_hz=None), "objective.*'fidelity_at_rate' -> 'fidelity'"),
    (dict(free=["nodes.collection_efficiency"]), "free keys"),
    (dict(link={"detection.efficiency": 0.55}), r"link \(detection.efficiency: 0.5 -> 0.55\)"),
    (dict(penalty_weight=2.0), "penalty_weight"),
])
def test_resuming_a_different_run_is_refused_naming_what_differs(opt_link, tmp_path, change, match):
    ck = tmp_path / "ck"
    optimize(opt_link, [KEY], steps=2, checkpoint_dir=ck, optimizer=ADAM, **OPT_KW)
    kw = {**OPT_KW, "optimizer": ADAM}
    lk, free = opt_link, [KEY]
    for k, v in change.items():
        if k == "optimizer":
            kw[k] = {"adam_0.06": optax.adam(0.06), "sgd_0.05": optax.sgd(0.05),
                     "cosine": optax.adam(optax.cosine_decay_schedule(0.05, 100))}[v]
        elif k == "link":
            lk = opt_link.set(v)
        elif k == "free":
            free = v
        else:
            kw[k] = v
    with pytest.raises(ij.ConfigError, match=rf"optimizer_checkpoint\.npz.*different optimization.*{match}"):
        optimize(lk, free, steps=4, checkpoint_dir=ck, **kw)
    # the same optimizer, built again, is accepted (checked before anything is compiled)
    _, _, info = _optimize_batch(
        opt_link, (KEY,), "fidelity_at_rate", np.array([1000.0]), optax.adam(0.05), 2, (1.0, 1000.0), ck, 2,
        False, None, "", "min_rate_hz")
    assert info == {"steps": 2, "resumed_from": 2}


def test_optimizer_fingerprints_tell_optimizers_apart():
    s1, p1 = optimizer_fingerprint(optax.adam(0.05), 2)
    s2, p2 = optimizer_fingerprint(optax.adam(0.05), 2)
    assert s1 == s2 and np.array_equal(p1, p2) and p1.shape == (3, 2)
    _, p3 = optimizer_fingerprint(optax.adam(0.0501), 2)
    assert not np.allclose(p1, p3, rtol=1e-9, atol=0)
    s4, _ = optimizer_fingerprint(optax.sgd(0.05), 2)
    assert s4 != s1
    with pytest.raises(ij.ConfigError, match="optimizer"):
        optimizer_fingerprint(optax.GradientTransformation(lambda p: (), lambda g, s, p: 1 / 0), 2)


def test_more_steps_continue_a_finished_run_exactly(opt_link, opt_ref, tmp_path):
    ck = tmp_path / "ck"
    five = optimize(opt_link, [KEY], steps=3, checkpoint_dir=ck, **OPT_KW)
    assert five.steps == 3 and five.resumed_from == 0 and len(five.history["value"]) == 4
    with no_warnings():
        six = optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW)
    assert six.steps == 6 and six.resumed_from == 3
    same_run(six, opt_ref)


def test_fewer_steps_on_a_finished_run_say_so(opt_link, opt_ref, tmp_path):
    ck = tmp_path / "ck"
    optimize(opt_link, [KEY], steps=6, checkpoint_dir=ck, **OPT_KW)
    with pytest.warns(CheckpointWarning, match=r"optimizer_checkpoint\.npz.*finished run of 6 steps.*the 2 requested"):
        res = optimize(opt_link, [KEY], steps=2, checkpoint_dir=ck, **OPT_KW)
    assert res.steps == 6 and res.resumed_from == 6
    same_run(res, opt_ref)
