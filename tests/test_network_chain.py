"""Repeater chains: exact waiting times, decoherence averaging, Monte Carlo cross-check, gradients, scale."""

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ionjax.errors import ConfigError
from ionjax.network import (
    age_difference_pmf,
    chain_monte_carlo,
    expected_max_geometric,
    repeater_chain,
    swap_factor,
    two_link_swap,
)
from ionjax.network.chain import GridWarning

GRID = 1024


def chain(links, n=None, **kw):
    kw.setdefault("time_step_s", 1.0)
    kw.setdefault("grid_size", GRID)
    return repeater_chain(links, n, **kw)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("p", [0.05, 0.3])
def test_expected_max_formula_against_direct_sum(n, p):
    t = np.arange(0, 20000)
    direct = np.sum(1.0 - (1.0 - (1.0 - p) ** t) ** n)  # E[M] = sum_{t >= 0} P(M > t)
    exact = sum((-1) ** (k + 1) * math.comb(n, k) / (1 - (1 - p) ** k) for k in range(1, n + 1))
    assert float(expected_max_geometric(p, n)) == pytest.approx(exact, rel=1e-12)
    assert exact == pytest.approx(direct, rel=1e-10)


def test_expected_max_of_different_links():
    ps = np.array([0.1, 0.25, 0.05])
    t = np.arange(0, 5000)
    direct = np.sum(1.0 - np.prod(1.0 - (1.0 - ps[:, None]) ** t, axis=0))
    assert float(expected_max_geometric(jnp.asarray(ps))) == pytest.approx(direct, rel=1e-10)


@pytest.mark.parametrize("schedule,n", [("nested", 2), ("nested", 4), ("sequential", 3)])
def test_chain_without_cutoff_waits_for_the_slowest_link(schedule, n):
    # deterministic swaps, no cutoff: the end-to-end pair exists when the last link does
    p = 0.1
    res = chain((0.9, p, 1.0), n, schedule=schedule)
    assert float(res.mean_waiting_time_s) == pytest.approx(float(expected_max_geometric(p, n)), rel=1e-8)
    assert abs(float(res.truncated_mass)) < 1e-9
    # perfect memories: correlators are the product of the links' and the swaps' (w = (4F - 1)/3)
    w = (4 * 0.9 - 1) / 3
    assert float(res.fidelity) == pytest.approx((1 + 3 * w**n) / 4, abs=1e-9)


def test_chain_of_different_links():
    links = [(0.95, 0.1, 1.0), (0.9, 0.2, 1.0)]
    res = chain(links)
    assert float(res.mean_waiting_time_s) == pytest.approx(float(expected_max_geometric(jnp.asarray([0.1, 0.2]))),
                                                           rel=1e-8)
    w1, w2 = (4 * 0.95 - 1) / 3, (4 * 0.9 - 1) / 3
    assert float(res.fidelity) == pytest.approx((1 + 3 * w1 * w2) / 4, abs=1e-9)


def test_age_difference_pmf_against_brute_force():
    p1, p2 = 0.2, 0.07
    n = np.arange(1, 800)
    joint = np.outer(p1 * (1 - p1) ** (n - 1), p2 * (1 - p2) ** (n - 1))
    diff = np.abs(n[:, None] - n[None, :])
    brute = np.bincount(diff.ravel(), weights=joint.ravel(), minlength=50)[:50]
    np.testing.assert_allclose(age_difference_pmf(p1, p2, 50), brute, atol=1e-14)


@pytest.mark.parametrize("cutoff", [0.0, 3.0, 3.4, 12.0, np.inf])
def test_two_link_swap_with_cutoff_matches_closed_form(cutoff):
    p, f, t2 = 0.3, 0.9, 10.0
    kw = dict(t2_s=t2, gate_error=0.01, readout_error=0.005)
    if cutoff == 0.0:
        kw["cutoff_s"] = 1e-9  # cutoff > 0 is required: a tiny one allows only simultaneous pairs
    else:
        kw["cutoff_s"] = cutoff
    res = chain((f, p, 1.0), 2, **kw)
    assert abs(float(res.truncated_mass)) < 1e-9
    w = (4 * f - 1) / 3
    cf = two_link_swap(p, p, jnp.full(3, w), jnp.full(3, w), cutoff=kw["cutoff_s"], r=np.exp(-2 / t2),
                       s=swap_factor(0.01, 0.005))
    assert float(res.mean_waiting_time_s) == pytest.approx(float(cf.mean_attempts), rel=1e-8)
    assert float(res.fidelity) == pytest.approx(float(cf.fidelity), abs=1e-9)


def test_two_link_closed_form_against_brute_force():
    p1, p2, c, r = 0.15, 0.1, 4, 0.95
    n = np.arange(1, 600)
    joint = np.outer(p1 * (1 - p1) ** (n - 1), p2 * (1 - p2) ** (n - 1))
    d = np.abs(n[:, None] - n[None, :])
    ok = d <= c
    p_ok = joint[ok].sum()
    e_min = (joint * np.minimum(n[:, None], n[None, :])).sum()
    e_min_dc = (joint * np.minimum(d, c)).sum()
    cf = two_link_swap(p1, p2, jnp.ones(3), jnp.ones(3), cutoff=float(c), r=r)
    assert float(cf.success_probability) == pytest.approx(p_ok, rel=1e-10)
    assert float(cf.mean_attempts) == pytest.approx((e_min + e_min_dc) / p_ok, rel=1e-10)
    assert float(cf.decay) == pytest.approx((joint * r**d)[ok].sum() / p_ok, rel=1e-10)


def test_swap_failure_restarts():
    # a Bell measurement that fails with probability 1 - q restarts both links: E[T] = E[max] / q
    q = 0.5
    res = chain((0.9, 0.1, 1.0), 2, swap_success_probability=q)
    assert float(res.mean_waiting_time_s) == pytest.approx(float(expected_max_geometric(0.1, 2)) / q, rel=1e-8)


# ----------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("schedule,n", [("nested", 4), ("sequential", 3)])
def test_exact_averaging_agrees_with_monte_carlo(schedule, n):
    kw = dict(schedule=schedule, cutoff_s=3.5, t2_s=25.0, gate_error=0.01, readout_error=0.005)
    exact = chain((0.92, 0.2, 1.0), n, **kw)
    mc = chain_monte_carlo((0.92, 0.2, 1.0), n, n_samples=20000, seed=1, **kw)
    assert abs(float(exact.truncated_mass)) < 1e-9
    assert abs(float(exact.mean_waiting_time_s) - mc.mean_waiting_time_s) < 4 * mc.mean_waiting_time_stderr_s
    assert abs(float(exact.fidelity) - mc.fidelity) < 4 * mc.fidelity_stderr
    assert float(exact.rate_hz) == pytest.approx(mc.rate_hz, rel=0.05)


def test_a_tighter_cutoff_trades_rate_for_fidelity():
    loose, tight = (chain((0.95, 0.3, 1.0), 4, cutoff_s=c, t2_s=10.0) for c in (40.0, 2.0))
    assert abs(float(tight.truncated_mass)) < 1e-9
    assert float(tight.fidelity) > float(loose.fidelity)
    assert float(tight.rate_hz) < float(loose.rate_hz)


# ----------------------------------------------------------------------------- gradients
def _figures(p, cutoff, t2):
    r = repeater_chain((0.9, p, 1e6), n_links=4, cutoff_s=cutoff, t2_s=t2, gate_error=0.01, time_step_s=1e-6,
                       grid_size=GRID)
    return jnp.stack([r.fidelity, r.rate_hz])


def test_gradients_wrt_link_cutoff_and_memory_match_finite_differences():
    x0 = (0.05, 20.3e-6, 2e-4)  # a cutoff of 20.3 attempts: away from the kinks at whole attempts
    _, pullback = jax.vjp(_figures, *x0)
    rows = [pullback(jnp.asarray([1.0, 0.0])), pullback(jnp.asarray([0.0, 1.0]))]  # d fidelity, d rate
    jac = [np.array([rows[0][i], rows[1][i]]) for i in range(3)]
    steps = (1e-6, 1e-8, 1e-9)
    for i, h in enumerate(steps):
        assert np.all(np.isfinite(np.asarray(jac[i])))
        up = list(x0)
        down = list(x0)
        up[i] += h
        down[i] -= h
        fd = (np.asarray(_figures(*up)) - np.asarray(_figures(*down))) / (2 * h)
        np.testing.assert_allclose(np.asarray(jac[i]), fd, rtol=1e-4)
    # more memory time: better fidelity; a looser cutoff: more rate, less fidelity
    assert jac[2][0] > 0 and jac[1][1] > 0 and jac[1][0] < 0


def test_vmap_over_cutoffs():
    rates = jax.vmap(lambda c: _figures(0.05, c, 2e-4)[1])(jnp.asarray([5.5e-6, 10.5e-6, 20.3e-6]))
    assert np.all(np.diff(np.asarray(rates)) > 0)  # a looser cutoff: fewer restarts
    np.testing.assert_allclose(rates[-1], _figures(0.05, 20.3e-6, 2e-4)[1], rtol=1e-12)


# ----------------------------------------------------------------------------- scale and auto grid
def test_1024_segments_in_well_under_a_second():
    f = jax.jit(lambda p, c: repeater_chain((0.97, p, 1e6), n_links=1024, cutoff_s=c, t2_s=1.0, gate_error=1e-3,
                                            time_step_s=1e-5, grid_size=4096).rate_hz)
    f(1e-3, 20e-3).block_until_ready()  # compile
    t0 = time.perf_counter()
    rate = f(1.1e-3, 19e-3).block_until_ready()
    elapsed = time.perf_counter() - t0
    assert np.isfinite(rate) and elapsed < 0.5


def test_auto_time_step_covers_slow_links():
    p = 2e-4
    with pytest.warns(GridWarning, match="grid_size = 1024"):  # 128 attempts a step: ~1% rounding, said so
        res = repeater_chain((0.95, p, 1e6), n_links=2, grid_size=GRID)
    assert float(res.time_step_s) > 1e-6  # coarser than one attempt
    assert abs(float(res.truncated_mass)) < 1e-9
    # coarse steps round each delivery up to the end of its step: at most one step late
    exact = float(expected_max_geometric(p, 2)) / 1e6
    assert exact <= float(res.mean_waiting_time_s) <= exact + float(res.time_step_s)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_gives_clear_errors():
    with pytest.raises(ConfigError, match="power-of-2"):
        repeater_chain((0.9, 0.1), n_links=3)
    with pytest.raises(ConfigError, match=r"cutoff_s = 0.0 is out of range: allowed \(0, inf\]"):
        repeater_chain((0.9, 0.1), n_links=2, cutoff_s=0.0)
    with pytest.raises(ConfigError, match="at least one link"):
        repeater_chain([], schedule="sequential")
    with pytest.raises(ConfigError, match="schedule = 'nestd'"):
        repeater_chain((0.9, 0.1), n_links=2, schedule="nestd")
    with pytest.raises(ConfigError, match="n_links must be an integer >= 1"):
        repeater_chain((0.9, 0.1), n_links=0)
    with pytest.raises(ConfigError, match="needs concrete numbers"):
        jax.jit(lambda c: repeater_chain((0.9, 0.1), n_links=2, cutoff_s=c).fidelity)(1e-3)
    with pytest.raises(ValueError, match="success_probability"):
        repeater_chain((0.9, 1.5), n_links=2)
