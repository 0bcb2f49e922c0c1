"""A 1024-segment repeater chain with T1, T2, latency and multiplexing: it evaluates on the automatic grid, and
``jax.grad`` of its rate and fidelity with respect to the cutoff and the link's numbers is finite and agrees with
central finite differences. (Its speed, under 1 s on a CPU, is measured in benchmarks/bench_network.py.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ionjax.network import repeater_chain
from ionjax.network.chain import GRID_TOLERANCE

N = 1024
KW = dict(t1_s=10.0, t2_s=1.0, length_km=2.0, multiplexing=4, gate_error=1e-5, readout_error=1e-5)
LINK = (0.9999, 0.05, 1e5)  # fidelity, success per attempt, attempts per second
CUT = 5.06e-4  # s: about 25 rounds, a cutoff that bites


@pytest.fixture(scope="module")
def grid():
    res = repeater_chain(LINK, N, cutoff_s=CUT, **KW)  # the automatic grid, refined until accurate
    return res, float(res.time_step_s), int(res.waiting_time_pmf.shape[0])


def test_a_1024_segment_chain_evaluates_accurately(grid):
    res, dt, size = grid
    assert float(res.truncated_mass) < 1e-6 and float(res.grid_error) <= GRID_TOLERANCE
    assert 0.5 < float(res.fidelity) < 1.0 and np.isfinite(float(res.rate_hz)) and float(res.rate_hz) > 0
    # one round is 1/R + L/c = 2e-5 s; the grid steps it exactly
    assert dt == pytest.approx(1 / LINK[2] + KW["length_km"] / 2e5)


@pytest.mark.parametrize("figure", ["rate", "fidelity"])
def test_gradient_of_the_1024_segment_chain_matches_finite_differences(grid, figure):
    _, dt, size = grid

    def f(x):
        cut, p, fid, t2 = x[0], x[1], x[2], x[3]
        r = repeater_chain((fid, p, LINK[2]), N, cutoff_s=cut, time_step_s=dt, grid_size=size,
                           **{**KW, "t2_s": t2})
        return jnp.log(r.rate_hz) if figure == "rate" else r.fidelity

    x0 = jnp.asarray([CUT, LINK[1], LINK[0], KW["t2_s"]])
    g = np.asarray(jax.jit(jax.grad(f))(x0))
    assert np.all(np.isfinite(g))
    fj = jax.jit(f)
    steps = np.array([0.01 * dt, 1e-6, 1e-7, 1e-4])  # the cutoff's step stays between two grid points
    fd = np.array([(float(fj(x0.at[i].add(h))) - float(fj(x0.at[i].add(-h)))) / (2 * h)
                   for i, h in enumerate(steps)])
    scale = np.abs(fd) + np.abs(g)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * float(np.max(scale)))
    if figure == "rate":
        assert g[0] > 0 and g[1] > 0  # a longer cutoff and a likelier link both raise the rate
    else:
        assert g[0] < 0 and g[2] > 0 and g[3] > 0  # ... and a longer cutoff lowers the fidelity
