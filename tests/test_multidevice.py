"""The same sweep sharded over 4 (forced host) devices gives the numbers of the 1-device run."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import ionjax as ij
from ionjax.sweep import sweep

LINK = {
    "node_a": {"collection_efficiency": 0.2, "multi_photon_probability": 0.02, "ion_photon_fidelity": 0.98},
    "node_b": {"collection_efficiency": 0.1},
    "detection": {"efficiency": 0.6, "dark_count_rate_hz": 5.0e4},
    "interference": {"mode_overlap": 0.9},
}
GRID = {"detection.window_ns": [4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
        "detection.efficiency": [0.3, 0.6, 0.9]}
CHUNK = 6  # 21 points: chunks of 6 (padded to 8 on 4 devices), the last of 3 padded too

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import ionjax as ij
    from ionjax.sweep import sweep
    link, grid, chunk = json.loads(sys.argv[1])
    res = sweep(ij.load_link(link), grid, chunk_size=chunk, progress=False)
    print(json.dumps({"devices": len(jax.devices()), "padded": res.meta["devices"],
                      "fidelity": res.fidelity.tolist(), "rate_hz": res.rate_hz.tolist(),
                      "pattern_probabilities": res.pattern_probabilities.tolist()}))
""")


def test_four_devices_equal_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([LINK, GRID, CHUNK])], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["devices"] == 4 and got["padded"] == 4

    one = sweep(ij.load_link(LINK), GRID, chunk_size=CHUNK, progress=False, devices=jax.devices()[:1])
    assert one.meta["devices"] == 1
    np.testing.assert_allclose(np.array(got["fidelity"]), one.fidelity, rtol=1e-13, atol=0)
    np.testing.assert_allclose(np.array(got["rate_hz"]), one.rate_hz, rtol=1e-13, atol=0)
    np.testing.assert_allclose(np.array(got["pattern_probabilities"]), one.pattern_probabilities, rtol=1e-13,
                               atol=1e-300)


MC_SCRIPT = textwrap.dedent("""
    import json
    import jax
    jax.config.update("jax_enable_x64", True)
    from ionjax.network import chain_monte_carlo
    mc = chain_monte_carlo((0.9, 0.2, 1.0), 2, t2_s=20.0, cutoff_s=8.0, time_step_s=1.0, n_samples=2048,
                           batch_size=1024, seed=7)
    print(json.dumps({"devices": mc.n_devices, "fidelity": mc.fidelity, "wait": mc.mean_waiting_time_s}))
""")


def test_monte_carlo_sharded_over_four_devices_equals_one_device():
    """The trajectories' keys depend on the seed and the batch only: sharding the batch over 4 devices gives the
    same trajectories, so the same means."""
    from ionjax.network import chain_monte_carlo

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", MC_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["devices"] == 4
    one = chain_monte_carlo((0.9, 0.2, 1.0), 2, t2_s=20.0, cutoff_s=8.0, time_step_s=1.0, n_samples=2048,
                            batch_size=1024, seed=7)
    assert one.n_devices == len(jax.devices())
    assert got["fidelity"] == pytest.approx(one.fidelity, rel=1e-12)
    assert got["wait"] == pytest.approx(one.mean_waiting_time_s, rel=1e-12)
