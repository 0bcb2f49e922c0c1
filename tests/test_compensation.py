"""The polarization-compensation use case end to end: 2 km of birefringent fiber (random Euler angles) in
node B's path, undone by a quarter-, a half- and a quarter-wave plate tuned by ``ij.optimize`` from all
angles 0 -- through the Python experiment (experiments/polarization_compensation.py) and through the CLI
(``ionjax optimize``). Each compiles the simulation and its gradient once (about 20-30 s on 2 CPU cores);
the optimizer steps themselves take milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ionjax as ij

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "polarization_compensation.py"
LINK_FILE = ROOT / "experiments" / "polarization_compensation.toml"
FREE = ["node_b.path.q1.angle_rad", "node_b.path.h1.angle_rad", "node_b.path.q2.angle_rad"]
TARGET = 0.999


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("polarization_compensation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_link_file_is_the_use_case():
    link = ij.load_link(LINK_FILE)
    assert link.protocol == "two_photon" and link.encoding == "polarization"
    assert link.node_b.path_names == ("fiber", "q1", "h1", "q2")
    assert [el.kind for el in link.node_b.path] == ["fiber", "quarter_wave_plate", "half_wave_plate",
                                                    "quarter_wave_plate"]
    assert float(link.get("node_b.path.fiber.length_km")) == 2.0
    assert all(float(link.get(k)) == 0.0 for k in FREE)
    assert float(ij.simulate(link).fidelity) < 0.8  # the fiber's rotation is not compensated


def test_python_use_case_reaches_target(experiment, tmp_path):
    assert experiment.FREE == FREE
    # the angles in the file are the ones the script draws from seed 2
    file_angles = {k: float(ij.load_link(LINK_FILE).get(k)) for k in experiment.fiber_angles(2)}
    assert file_angles == experiment.fiber_angles(2)

    r = experiment.main(["--steps", "100", "--out", str(tmp_path)])
    res = r["result"]
    start = float(ij.simulate(ij.load_link(LINK_FILE)).fidelity)
    assert r["start"] == pytest.approx(start, rel=1e-12) and start < 0.8
    assert res.initial["fidelity"] == pytest.approx(start, rel=1e-12)
    assert res.history["fidelity"][0] == pytest.approx(start, rel=1e-12)
    assert all(res.initial[k] == 0.0 for k in FREE)
    assert r["reached"] and res.fidelity >= TARGET
    assert r["reached_step"] is not None and r["reached_step"] <= 100
    assert r["stays_from_step"] is not None  # and stays there to the last step
    assert np.all(res.history["fidelity"][r["stays_from_step"]:] >= TARGET)
    # the returned link really has that fidelity, at most the ceiling of a fiber without birefringence
    assert float(ij.simulate(res.link).fidelity) == pytest.approx(res.fidelity, abs=1e-12)
    assert res.fidelity <= r["ceiling"] + 1e-9
    # the plates invert the fiber's rotation (up to a global phase); the loss is unchanged
    assert r["quality_start"] < 0.9 and r["quality_final"] > 0.9999
    assert res.rate_hz == pytest.approx(r["start_rate_hz"], rel=1e-6)
    # node B's H photon comes back to H after the compensator
    path = experiment.poincare_path(res.link)
    assert [name for name, _ in path] == ["fiber", "q1", "h1", "q2"]
    np.testing.assert_allclose(path[0][1][0], [1.0, 0.0, 0.0], atol=1e-12)
    assert path[-1][1][-1][0] > 0.999
    for fig in r["figures"]:
        assert fig.exists() and fig.stat().st_size > 0


def test_cli_optimize_end_to_end(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "IONJAX_NO_COMPILE_CACHE": "1", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "ionjax", "optimize", str(LINK_FILE), "--free", *FREE,
           "--steps", "150", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"

    start = re.search(r"start : F = ([0-9.]+)", proc.stdout)
    best = re.search(r"best  : F = ([0-9.]+)", proc.stdout)
    assert start and best, proc.stdout
    assert float(start.group(1)) < 0.8
    assert float(best.group(1)) >= TARGET
    for k in FREE:
        assert re.search(rf"{re.escape(k)}\s+0 -> ", proc.stdout), proc.stdout

    summary = json.loads((out / "optimized_link.json").read_text())
    assert summary["fidelity"] >= TARGET and summary["initial"]["fidelity"] < 0.8
    assert set(summary["params"]) == set(FREE)
    # the written link is the optimized one: loaded back, it simulates to the same fidelity
    optimized = ij.load_link(out / "optimized_link.toml")
    assert optimized.node_b.path_names == ("fiber", "q1", "h1", "q2")
    for k, v in summary["params"].items():
        assert float(optimized.get(k)) == pytest.approx(v, abs=1e-12)
    assert float(ij.simulate(optimized).fidelity) == pytest.approx(summary["fidelity"], abs=1e-9)
    assert (out / "history.csv").exists() and (out / "history.npz").exists()
