"""The same sweep sharded over 4 (forced host) devices gives the numbers of the 1-device run."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

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
