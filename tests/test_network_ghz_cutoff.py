"""GHZ states with a memory cutoff (restart protocol): exact rate and fidelity against an event-by-event Monte
Carlo written here, closed forms (a tiny cutoff: all links in the same step), the results without a cutoff as
they were, gradients with respect to the cutoff, and refused values.

Times are in grid steps where ``time_step_s = 1`` and links attempt at 1 Hz (``(fidelity, p, 1.0)``). All
grids have 1024 steps (and 2 or 3 links mostly), so compiled shapes are shared between the tests.
"""

import json
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ionjax.errors import ConfigError
from ionjax.network import GridWarning, fuse_ghz, ghz, ghz_fidelity, state_from_correlators, werner_state

GRID = 1024


def step_links(ps, f=0.93):
    """Werner links of fidelity ``f`` attempting once per second, success probabilities ``ps``."""
    return [(f, p, 1.0) for p in ps]


def werner_ghz_fidelity(f, lambdas):
    """Fidelity of ``len(lambdas)`` fused Werner pairs, pair ``i`` dephased to ``c_x, c_y -> lambda_i w``.

    Written independently of the library: in the target frame a pair's populations are ``a = (1 + c_x + c_y +
    c_z) / 4`` (none), ``z = (1 - c_x - c_y + c_z) / 4`` (a phase flip), the rest bit flips. Any bit flip leaves
    the GHZ subspace; the phase flips multiply, so ``F = (prod (a + z) + prod (a - z)) / 2`` with ``a + z = (1 +
    c_z) / 2`` and ``a - z = (c_x + c_y) / 2``.
    """
    w = (4.0 * f - 1.0) / 3.0
    lambdas = np.asarray(lambdas, float)
    k = lambdas.shape[-1]
    return (((1.0 + w) / 2.0) ** k + w**k * np.prod(lambdas, axis=-1)) / 2.0


def monte_carlo(ps, f, t2_steps, cutoff, n_tries, seed):
    """Event by event: each try draws the links' geometric waits, fuses if the oldest pair is no older than the
    cutoff when the last arrives, else discards everything at ``min + cutoff`` and restarts. A non-integer
    cutoff is drawn per try: ``floor(c) + 1`` with probability ``frac(c)``.

    Returns:
        ``(mean T, its standard error, mean fidelity, its standard error, fraction of tries that succeed)``.
    """
    rng = np.random.default_rng(seed)
    n = rng.geometric(np.asarray(ps), size=(n_tries, len(ps)))  # steps until each link delivers (>= 1)
    first, last = n.min(axis=1), n.max(axis=1)
    c0 = math.floor(cutoff)
    cut = c0 + (rng.random(n_tries) < cutoff - c0)
    ok = last - first <= cut
    duration = np.where(ok, last, first + cut)
    # a delivered state's waiting time: the failed tries since the last delivery, and its own
    cycle = np.cumsum(ok) - ok
    done = cycle < ok.sum()  # drop the failures after the last success
    t = np.bincount(cycle[done], weights=duration[done])
    lam = np.exp(-2.0 * (last[ok, None] - n[ok]) / t2_steps)  # both qubits of pair i stored last - N_i steps
    fid = werner_ghz_fidelity(f, lam)
    return (t.mean(), t.std(ddof=1) / np.sqrt(t.size), fid.mean(), fid.std(ddof=1) / np.sqrt(fid.size), ok.mean())


# ----------------------------------------------------------------------------- (a) no cutoff: as before
# ghz(...) before the cutoff existed (fused when the last link arrives): fidelity, rate_hz, mean_waiting_time_s,
# time_step_s, state[0, 0], state[0, -1]
BEFORE = [
    (dict(links=(0.95, 0.05, 1e6), n_nodes=3, t2_s=30e-6),
     (0.6567956670043363, 33620.68965517245, 2.9743589743589714e-05, 1e-06, 0.4672222222222218,
      0.18957344478211455)),
    (dict(links=(0.9, 0.02, 1e6), n_nodes=4, t2_s=1e-3, gate_error=0.01, readout_error=0.005),
     (0.648176114113436, 10959.274812005458, 9.124691342756904e-05, 2e-06, 0.3969724325799994,
      0.2512036815334367)),
    (dict(links=[(0.97, 0.1, 1e6), (0.92, 0.03, 5e5), (0.95, 0.05, 2e6)], t2_s=2e-4),
     (0.6370049044223159, 14696.769779531913, 6.804216266575074e-05, 2e-06, 0.44840444444444383,
      0.18860045997787223)),
    (dict(links=(0.93, 0.01, 1e6), n_nodes=5, t2_s=5e-3, time_step_s=4e-6),
     (0.6994908981690796, 4812.552944064567, 0.00020778992181962866, 4e-06, 0.4129991120987647,
      0.28649178607031506)),
    (dict(links=(0.99, 1e-4, 1e6), n_nodes=3, t2_s=0.5),
     (0.9613989845963301, 66.66777785184945, 0.014999749987501025, 0.000512, 0.49335555555555505,
      0.4680434290407752)),
]


@pytest.mark.parametrize("kwargs, before", BEFORE)
def test_no_cutoff_reproduces_the_results_before_the_cutoff(kwargs, before):
    for res in (ghz(**kwargs, grid_size=GRID), ghz(**kwargs, grid_size=GRID, cutoff_s=np.inf)):
        got = (res.fidelity, res.rate_hz, res.mean_waiting_time_s, res.time_step_s, jnp.real(res.state.data[0, 0]),
               jnp.real(res.state.data[0, -1]))
        np.testing.assert_allclose([float(x) for x in got], before, rtol=1e-12)
        assert float(res.time_step_s) == before[3]
        assert float(res.success_probability) == pytest.approx(1.0, abs=1e-14)
        assert 0.0 <= float(res.truncated_mass) < 1e-12
        assert float(res.cutoff_s) == np.inf


# ----------------------------------------------------------------------------- (b) Monte Carlo
@pytest.mark.parametrize("ps, t2_steps, cutoff", [((0.05, 0.05), 30.0, 13.0), ((0.05, 0.08, 0.05), 40.0, 16.5)])
def test_cutoff_matches_event_by_event_monte_carlo(ps, t2_steps, cutoff):
    f = 0.93
    res = ghz(step_links(ps, f), t2_s=t2_steps, cutoff_s=cutoff, time_step_s=1.0, grid_size=GRID)
    p_try = float(res.success_probability)
    assert 0.3 < p_try < 0.7  # the cutoff bites: about half of the tries fail
    assert float(res.truncated_mass) == 0.0
    mean_t, se_t, fid, se_f, ok = monte_carlo(ps, f, t2_steps, cutoff, 400_000, seed=len(ps))
    assert abs(float(res.mean_waiting_time_s) - mean_t) < 4 * se_t
    assert float(res.rate_hz) == pytest.approx(1.0 / float(res.mean_waiting_time_s), rel=1e-14)
    assert abs(float(res.fidelity) - fid) < 4 * se_f
    assert abs(p_try - ok) < 4 * np.sqrt(p_try * (1 - p_try) / 400_000)
    # the Monte Carlo's closed-form fusion agrees with the library's (unequal dephasing)
    lam = np.array([0.9, 0.55, 0.3])[: len(ps)]
    w = (4 * f - 1) / 3
    pairs = [state_from_correlators(jnp.asarray([w * x, w * x, w])) for x in lam]
    assert float(ghz_fidelity(fuse_ghz(pairs))) == pytest.approx(werner_ghz_fidelity(f, lam), abs=1e-12)


def test_cutoff_improves_the_fidelity_and_costs_rate():
    links = step_links((0.05, 0.05))
    free = ghz(links, t2_s=30.0, time_step_s=1.0, grid_size=GRID)
    cut = ghz(links, t2_s=30.0, cutoff_s=13.0, time_step_s=1.0, grid_size=GRID)
    assert float(cut.fidelity) > float(free.fidelity) + 0.02
    assert float(cut.rate_hz) < float(free.rate_hz)


# ----------------------------------------------------------------------------- (c) a very large cutoff
@pytest.mark.parametrize("big", [1e7, 1e300])
def test_very_large_cutoff_is_no_cutoff(big):
    links = step_links((0.05, 0.08, 0.03))
    free = ghz(links, t2_s=40.0, time_step_s=1.0, grid_size=GRID)
    res = ghz(links, t2_s=40.0, cutoff_s=big, time_step_s=1.0, grid_size=GRID)
    for name in ("fidelity", "rate_hz", "mean_waiting_time_s", "success_probability", "truncated_mass"):
        assert float(getattr(res, name)) == pytest.approx(float(getattr(free, name)), rel=1e-12, abs=1e-15), name
    np.testing.assert_allclose(np.asarray(res.state.data), np.asarray(free.state.data), atol=1e-14)


def test_automatic_step_resolves_a_short_cutoff_and_keeps_a_long_one():
    links = (0.99, 1e-4, 1e6)
    free = ghz(links, n_nodes=3, t2_s=0.5, grid_size=GRID)
    assert float(free.time_step_s) == pytest.approx(512e-6)  # the grid must hold the waits without a cutoff
    short = ghz(links, n_nodes=3, t2_s=0.5, cutoff_s=200e-6, grid_size=GRID)
    assert float(short.time_step_s) == pytest.approx(1e-6)  # ages beyond the cutoff never count
    long = ghz(links, n_nodes=3, t2_s=0.5, cutoff_s=1e3, grid_size=GRID)
    assert float(long.time_step_s) == float(free.time_step_s)
    assert float(long.fidelity) == pytest.approx(float(free.fidelity), rel=1e-12)


def test_coarse_step_for_the_cutoff_warns():
    with pytest.warns(GridWarning, match=r"resolves cutoff_s = 8e-06 s to 2 steps .* time_step_s <= 2e-06"):
        ghz((0.95, 0.05, 1e6), n_nodes=3, cutoff_s=8e-6, time_step_s=4e-6, grid_size=GRID)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridWarning)  # one attempt a step: a cutoff below 4 steps is exact
        ghz((0.95, 0.05, 1e6), n_nodes=3, cutoff_s=2e-6, time_step_s=1e-6, grid_size=GRID)


# ----------------------------------------------------------------------------- (d) a tiny cutoff
@pytest.mark.parametrize("ps", [(0.2, 0.2), (0.3, 0.2, 0.25)])
def test_tiny_cutoff_needs_all_links_in_the_same_step(ps):
    f = 0.9
    res = ghz(step_links(ps, f), t2_s=5.0, cutoff_s=1e-9, time_step_s=1.0, grid_size=GRID)
    q_all = np.prod([1 - p for p in ps])
    p_all = np.prod(ps) / (1 - q_all)  # sum over steps t of prod_i p_i q_i^(t - 1)
    duration = 1 / (1 - q_all)  # a try lasts until the first link delivers
    assert float(res.success_probability) == pytest.approx(p_all, rel=1e-8)
    assert float(res.rate_hz) == pytest.approx(p_all / duration, rel=1e-8)  # = prod_i p_i
    # no pair waits: the fusion of fresh pairs
    fresh = float(ghz_fidelity(fuse_ghz([werner_state(f)] * len(ps))))
    assert float(res.fidelity) == pytest.approx(fresh, abs=1e-8)


# ----------------------------------------------------------------------------- (e) gradients
def _figures(cutoff, ps=(0.05, 0.08, 0.05)):
    res = ghz(step_links(ps), t2_s=40.0, cutoff_s=cutoff, time_step_s=1.0, grid_size=GRID)
    return jnp.stack([res.rate_hz, res.fidelity])


def test_gradient_in_the_cutoff_matches_finite_differences():
    c, h = 12.3, 1e-4
    grad = np.array([float(jax.grad(lambda x, i=i: _figures(x)[i])(c)) for i in range(2)])  # one compilation
    fd = (np.asarray(_figures(c + h)) - np.asarray(_figures(c - h))) / (2 * h)
    assert np.all(np.isfinite(grad)) and grad[0] > 0 and grad[1] < 0  # a longer cutoff: faster, noisier
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # continuous across a whole number of steps
    np.testing.assert_allclose(np.asarray(_figures(12.0 - 1e-9)), np.asarray(_figures(12.0 + 1e-9)), rtol=1e-8)


def test_cutoff_batches_with_vmap():
    cuts = jnp.asarray([4.5, 12.3, jnp.inf])
    batched = np.asarray(jax.vmap(_figures)(cuts))
    np.testing.assert_allclose(batched, np.stack([np.asarray(_figures(float(x))) for x in cuts]), rtol=1e-12)


# ----------------------------------------------------------------------------- (f) refused values
@pytest.mark.parametrize("bad, pattern", [
    (0.0, r"cutoff_s = 0\.0 is out of range: allowed \(0, inf\]"),
    (-1e-6, r"cutoff_s = -1e-06 is out of range: allowed \(0, inf\]"),
    (-np.inf, r"cutoff_s = -inf is out of range: allowed \(0, inf\]"),
    (np.nan, r"cutoff_s = nan is out of range: allowed \(0, inf\]"),
    ("soon", r"cutoff_s must be a number of seconds in \(0, inf\].*'soon'"),
    ([1e-6, 2e-6], r"cutoff_s must be one number .* shape \(2,\); batch with jax\.vmap"),
])
def test_bad_cutoff_is_refused(bad, pattern):
    with pytest.raises(ConfigError, match=pattern):
        ghz((0.95, 0.05, 1e6), n_nodes=3, cutoff_s=bad, grid_size=GRID)


def test_to_dict_carries_the_cutoff_as_json():
    free = ghz(step_links((0.05, 0.05)), time_step_s=1.0, grid_size=GRID).to_dict()
    cut = ghz(step_links((0.05, 0.05)), cutoff_s=13.0, time_step_s=1.0, grid_size=GRID).to_dict()
    assert free["cutoff_s"] == "inf" and free["success_probability"] == pytest.approx(1.0)
    assert cut["cutoff_s"] == 13.0 and 0.3 < cut["success_probability"] < 0.7
    json.dumps([free, cut], allow_nan=False)
