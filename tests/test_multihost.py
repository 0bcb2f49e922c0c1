"""A sweep across two JAX processes (``jax.distributed`` on 127.0.0.1, CPU backend) equals the one-process sweep.

Each process owns one CPU device; the chunks are sharded over both (a global mesh of 2 devices),
every process gets the full result, and only process 0 writes checkpoint files. CPU collectives
across processes use gloo, which the installed jaxlib ships.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from test_multidevice import GRID, LINK  # the same link and grid as the forced-device test

import ionjax as ij
from ionjax.sweep import sweep

CHUNK = 6  # 21 points: 4 chunks of 6 (the last one padded), each split over the 2 processes' devices

WORKER = textwrap.dedent("""
    import json, sys
    import jax
    pid, port, ckdir, payload = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
                               initialization_timeout=120)
    jax.config.update("jax_enable_x64", True)
    import ionjax as ij
    from ionjax.sweep import sweep
    link, grid, chunk = json.loads(payload)
    res = sweep(ij.load_link(link), grid, chunk_size=chunk, progress=False, checkpoint_dir=ckdir)
    print(json.dumps({"pid": pid, "processes": jax.process_count(), "devices": len(jax.devices()),
                      "local": len(jax.local_devices()), "padded": res.meta["devices"],
                      "fidelity": res.fidelity.tolist(), "rate_hz": res.rate_hz.tolist(),
                      "pattern_probabilities": res.pattern_probabilities.tolist()}))
    jax.distributed.shutdown()
""")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(tmp_path):
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    ckdir = tmp_path / "checkpoint"
    payload = json.dumps([LINK, GRID, CHUNK])
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(pid), str(port), str(ckdir), payload], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for pid in (0, 1)]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)
            outs.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("the two-process sweep did not finish in 300 s")
    for rc, _out, err in outs:
        assert rc == 0, err[-3000:]
    got = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in outs]
    for g in got:
        assert g["processes"] == 2 and g["devices"] == 2 and g["local"] == 1 and g["padded"] == 2

    one = sweep(ij.load_link(LINK), GRID, chunk_size=CHUNK, progress=False, devices=jax.devices()[:1])
    for g in got:  # every process holds the full result, equal to the one-process run
        np.testing.assert_allclose(np.array(g["fidelity"]), one.fidelity, rtol=1e-13, atol=0)
        np.testing.assert_allclose(np.array(g["rate_hz"]), one.rate_hz, rtol=1e-13, atol=0)
        np.testing.assert_allclose(np.array(g["pattern_probabilities"]), one.pattern_probabilities, rtol=1e-13,
                                   atol=1e-300)
    # process 0 wrote the checkpoint; a one-process rerun on it resumes to the same numbers
    assert (ckdir / "manifest.json").exists()
    again = sweep(ij.load_link(LINK), GRID, chunk_size=CHUNK, progress=False, checkpoint_dir=ckdir,
                  devices=jax.devices()[:1])
    np.testing.assert_allclose(again.fidelity, one.fidelity, rtol=1e-13, atol=0)
