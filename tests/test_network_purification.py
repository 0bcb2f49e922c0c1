"""Purification inside repeater chains (DEJMPS / BBPSSW at chosen nesting levels), memory transfer and dynamical
decoupling: closed forms, the event-by-event JAX Monte Carlo, gradients and the errors."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ionjax as ij
from ionjax.core.state import DensityMatrix
from ionjax.errors import ConfigError
from ionjax.network import (
    bbpssw,
    bbpssw_recurrence,
    chain_monte_carlo,
    dejmps,
    dejmps_recurrence,
    protocol_tree,
    purification_tensor,
    repeater_chain,
)
from ionjax.network.pairs import PAIR_SPACE, bell_diagonal_state, pair_superoperator, pauli_correlators
from ionjax.network.purify import _kept
from ionjax.network.swap import _swap

GRID = 1024
C_KM_S = 2.0e5  # light in fiber, as the chain's messages


def chain(links, n=None, **kw):
    kw.setdefault("time_step_s", 1.0)
    kw.setdefault("grid_size", GRID)
    return repeater_chain(links, n, **kw)


def random_pair(rng, bell_diagonal=True):
    if bell_diagonal:
        return bell_diagonal_state(jnp.asarray(rng.dirichlet(np.ones(4))))
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    r = a @ a.conj().T
    return DensityMatrix(jnp.asarray(r / np.trace(r)), PAIR_SPACE)


# ----------------------------------------------------------------------------- the maps, from the library's functions
@pytest.mark.parametrize("protocol", ["dejmps", "bbpssw"])
def test_purification_tensor_is_the_density_matrix_protocol(protocol):
    rng = np.random.default_rng(2)
    fn = dejmps if protocol == "dejmps" else bbpssw
    for g, r in [(0.0, 0.0), (0.02, 0.01)]:
        t = purification_tensor(protocol, g, r)
        a, b = random_pair(rng), random_pair(rng)
        u = jnp.concatenate([jnp.ones(1), pauli_correlators(a)])
        v = jnp.concatenate([jnp.ones(1), pauli_correlators(b)])
        out = jnp.einsum("i,j,ijo->o", u, v, t)
        p, kept = fn(a, b, g, r)
        np.testing.assert_allclose(out, np.concatenate([[p], p * pauli_correlators(kept)]), atol=1e-14)


def test_tensor_reproduces_the_published_dejmps_map():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4))  # Phi+, Phi-, Psi+, Psi- of the ionjax (Psi+) frame
    pair = bell_diagonal_state(jnp.asarray(probs))
    u = jnp.concatenate([jnp.ones(1), pauli_correlators(pair)])
    out = jnp.einsum("i,j,ijo->o", u, u, purification_tensor("dejmps"))
    # Deutsch et al.'s (A, B, C, D) = (Phi+, Psi-, Psi+, Phi-) of the Phi+ frame = (Psi+, Phi-, Phi+, Psi-) here
    n, new = dejmps_recurrence(jnp.asarray([probs[2], probs[1], probs[0], probs[3]]))
    assert float(out[0]) == pytest.approx(float(n), abs=1e-14)
    f_new = (1.0 + float(jnp.sum(out[1:] / out[0]))) / 4.0
    assert f_new == pytest.approx(float(new[0]), abs=1e-14)


def test_superoperators_are_exact_on_any_pair():
    rng = np.random.default_rng(4)
    a, b = random_pair(rng, False), random_pair(rng, False)
    va, vb = a.data.reshape(-1), b.data.reshape(-1)
    m = pair_superoperator(partial(_swap, gate_error=0.03, readout_error=0.01))
    ref = _swap(a, b, 0.03, 0.01).data
    np.testing.assert_allclose(jnp.einsum("i,j,ijab->ab", va, vb, m), ref, atol=1e-14)
    m = pair_superoperator(partial(_kept, gate_error=0.03, readout_error=0.01, protocol="dejmps"))
    p, kept = dejmps(a, b, 0.03, 0.01)
    np.testing.assert_allclose(jnp.einsum("i,j,ijab->ab", va, vb, m), p * kept.data, atol=1e-14)


def test_purification_tensor_gradient_is_smooth_where_a_bell_pair_fails_surely():
    # DEJMPS on Phi+ (x) Psi+ succeeds with probability 0 at zero gate error: the unnormalized map has a gradient
    grad = jax.grad(lambda g: purification_tensor("dejmps", g, 0.0)[0, 0, 0])(0.0)
    h = 1e-6
    fd = (purification_tensor("dejmps", h, 0.0)[0, 0, 0] - purification_tensor("dejmps", 0.0, 0.0)[0, 0, 0]) / h
    assert float(grad) == pytest.approx(float(fd), abs=1e-6)


# ----------------------------------------------------------------------------- closed forms
def expected_max_two(p):
    return 2.0 / p - 1.0 / (1.0 - (1.0 - p) ** 2)


@pytest.mark.parametrize("protocol", ["dejmps", "bbpssw"])
def test_one_purified_link_against_the_closed_form(protocol):
    """Two copies of a link, no memory noise, no cutoff: the round starts when the later copy arrives and
    succeeds with N; a failure restarts both, so E[T] = (E[max] + tau) / N with tau the ends' message time,
    and the kept pair is the recurrence's output."""
    f, p = 0.85, 0.3
    res = chain((f, p, 1.0), 1, purification_rounds=(1,), purification=protocol)
    if protocol == "dejmps":
        rest = (1 - f) / 3
        n, new = dejmps_recurrence(jnp.asarray([f, rest, rest, rest]))
        f_new = float(new[0])
    else:
        n, f_new = bbpssw_recurrence(f)
        f_new = float(f_new)
    # the renewal's damped FFT is accurate to ~1e-9
    assert float(res.mean_waiting_time_s) == pytest.approx(expected_max_two(p) / float(n), rel=1e-7)
    assert float(res.fidelity) == pytest.approx(f_new, abs=1e-10)


def test_purification_message_time_delays_and_decays():
    """With a link of length L the ends learn a round's outcome L/c after it: every try lasts that much longer
    (E[T] = (E[max] dt + L/c) / N; the grid's fractional shift keeps the mean exact), and the kept pair dephases
    meanwhile (its herald's flight before the round, the message after)."""
    f, p, rate, length = 0.85, 0.3, 1e4, 7.0
    tau = length / C_KM_S
    rest = (1 - f) / 3
    n, new = dejmps_recurrence(jnp.asarray([f, rest, rest, rest]))
    res = repeater_chain((f, p, rate), 1, purification_rounds=(1,), length_km=length, time_step_s=1 / rate + tau,
                         grid_size=GRID)
    dt = float(res.time_step_s)
    assert 0 < tau / dt < 1  # a fractional message time
    assert float(res.mean_waiting_time_s) == pytest.approx((expected_max_two(p) * dt + tau) / float(n), rel=1e-7)
    assert float(res.fidelity) == pytest.approx(float(new[0]), abs=1e-10)
    # every try succeeds at its first round (p = 1): both copies are equally old, so only the flights dephase
    t2 = 2e-4
    res = repeater_chain((f, 1.0, rate), 1, purification_rounds=(1,), length_km=length, t2_s=t2,
                         time_step_s=1 / rate + tau, grid_size=GRID)
    lam = math.exp(-2 * tau / t2)  # c_x, c_y of a pair whose two qubits dephased for tau
    c_link = (4 * f - 1) / 3 * np.array([lam, lam, 1.0])
    u = jnp.concatenate([jnp.ones(1), jnp.asarray(c_link)])
    out = jnp.einsum("i,j,ijo->o", u, u, purification_tensor("dejmps"))
    c_kept = np.asarray(out[1:] / out[0]) * np.array([lam, lam, 1.0])
    assert float(res.fidelity) == pytest.approx((1 + c_kept.sum()) / 4, abs=1e-9)
    assert float(res.mean_waiting_time_s) == pytest.approx((dt + tau) / float(out[0]), rel=1e-7)


def test_transfer_error_and_decoupling():
    f, p = 0.9, 0.2
    base = chain((f, p, 1.0), 2, t2_s=50.0)
    eps = 0.02
    moved = chain((f, p, 1.0), 2, t2_s=50.0, transfer_error=eps)
    # each link's correlators times (1 - eps)^2; a swap multiplies the two links' correlators
    c0 = np.asarray(base.correlators)
    np.testing.assert_allclose(np.asarray(moved.correlators), c0 * (1 - eps) ** 4, rtol=1e-9)
    assert float(moved.rate_hz) == pytest.approx(float(base.rate_hz), rel=1e-9)
    dd = chain((f, p, 1.0), 2, t2_s=5.0, decoupling_t2_s=50.0)
    assert float(dd.fidelity) == pytest.approx(float(base.fidelity), abs=1e-12)


# ----------------------------------------------------------------------------- against the event-by-event simulation
MC_CASES = [
    dict(purification_rounds=(1,)),  # both links purified before the swap
    dict(purification_rounds=(0, 1)),  # the swapped pair purified
    dict(purification_rounds=(1,), purification="bbpssw", gate_error=0.01, readout_error=0.005),
]


@pytest.mark.parametrize("kw", MC_CASES)
def test_purified_two_link_chain_against_monte_carlo(kw):
    """The issue's check: purification in a 2-link chain, with memory dephasing, a cutoff that bites and a
    fiber length (message delays), against the JAX Monte Carlo within 4 standard errors."""
    kw = dict(t2_s=20.0, cutoff_s=8.0, time_step_s=1.0, length_km=0.0, **kw)
    grid = chain((0.9, 0.2, 1.0), 2, **kw)
    mc = chain_monte_carlo((0.9, 0.2, 1.0), 2, n_samples=6000, seed=5, **kw)
    assert abs(float(grid.fidelity) - mc.fidelity) < 4 * mc.fidelity_stderr
    assert abs(float(grid.mean_waiting_time_s) - mc.mean_waiting_time_s) < 4 * mc.mean_waiting_time_stderr_s
    assert mc.trajectories_per_s > 0


def test_purification_raises_fidelity_and_costs_rate():
    plain = chain((0.8, 0.2, 1.0), 4, t2_s=500.0)
    pur = chain((0.8, 0.2, 1.0), 4, t2_s=500.0, purification_rounds=(1, 0, 1))
    assert float(pur.fidelity) > float(plain.fidelity) + 0.05
    assert float(pur.rate_hz) < float(plain.rate_hz)
    assert float(pur.truncated_mass) < 1e-6


def test_gradient_with_purification_matches_finite_differences():
    def rate(cut):
        return chain((0.9, 0.2, 1.0), 2, t2_s=30.0, cutoff_s=cut, purification_rounds=(1,)).rate_hz

    g = float(jax.grad(rate)(6.3))
    h = 1e-4
    fd = (float(rate(6.3 + h)) - float(rate(6.3 - h))) / (2 * h)
    assert math.isfinite(g) and g == pytest.approx(fd, rel=1e-5)


def test_protocol_tree():
    assert protocol_tree("nested", 2, (1,)) == ("swap", ("purify", ("link", 0), 0.0), ("purify", ("link", 1), 0.0))
    assert protocol_tree("sequential", 2, (0, 1), [1.0, 2.0]) == ("purify", ("swap", ("link", 0), ("link", 1)), 3.0)


@pytest.mark.parametrize("kw, match", [
    (dict(purification="pumping", purification_rounds=(1,)), "purification = 'pumping'"),
    (dict(purification_rounds=(-1,)), r"purification_rounds\[0\] = -1"),
    (dict(purification_rounds=(1.5,)), r"purification_rounds\[0\] = 1.5"),
    (dict(purification_rounds=(0, 0, 0, 1)), "has 4 levels, but a nested chain of 4 links has 3"),
    (dict(transfer_error=1.5), "transfer_error = 1.5"),
    (dict(decoupling_t2_s=0.0), "decoupling_t2_s = 0"),
])
def test_bad_purification_input_is_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        chain((0.9, 0.2, 1.0), 4, **kw)
    with pytest.raises(ConfigError, match=match):
        chain_monte_carlo((0.9, 0.2, 1.0), 4, n_samples=10, **kw)


def test_monte_carlo_input_errors():
    with pytest.raises(ConfigError, match="n_samples"):
        chain_monte_carlo((0.9, 0.2, 1.0), 2, n_samples=1)
    assert ij.network.MonteCarloResult(0.9, 0.0, 2.0, 0.1, 10).rate_stderr_hz == pytest.approx(0.025)


def test_cli_network_monte_carlo_cross_check(tmp_path, capsys):
    from ionjax.cli import main

    f = tmp_path / "net.toml"
    f.write_text("[[links]]\nfidelity = 0.9\nsuccess_probability = 0.2\nattempt_rate_hz = 1.0\n"
                 "[chain]\nn_links = 2\nt2_s = 20.0\ncutoff_s = 8.0\ntime_step_s = 1.0\ngrid_size = 1024\n"
                 "purification_rounds = [1]\n")
    assert main(["network", str(f), "--monte-carlo", "3000", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)["chain"]
    mc = res["monte_carlo"]
    assert mc["n_samples"] == 3000
    assert abs(res["fidelity"] - mc["fidelity"]) < 4 * mc["fidelity_stderr"]
    assert abs(res["mean_waiting_time_s"] - mc["mean_waiting_time_s"]) < 4 * mc["mean_waiting_time_stderr_s"]
    assert main(["network", str(f), "--monte-carlo", "1"]) == 2
    assert "--monte-carlo must be an integer" in capsys.readouterr().err


def test_cutoff_counts_from_the_true_herald_against_monte_carlo():
    """Unequal links with their heralds' flights (pipelined): an elementary pair's cutoff counts from its
    detection at the station, half a flight before the nodes learn of it; the grid and the event-by-event
    simulation agree within 4 standard errors, and the shorter windows cost rate."""
    links = [(0.9, 0.2, 1.0), (0.92, 0.3, 1.0), (0.88, 0.25, 1.0)]
    kw = dict(schedule="sequential", t2_s=30.0, cutoff_s=6.5, time_step_s=1.0, pipelined=True,
              length_km=[3 * C_KM_S, 1 * C_KM_S, 6 * C_KM_S])  # flights of 3, 1 and 6 rounds
    grid = chain(links, **kw)
    mc = chain_monte_carlo(links, n_samples=12000, seed=2, **kw)
    assert abs(float(grid.fidelity) - mc.fidelity) < 4 * mc.fidelity_stderr
    assert abs(float(grid.mean_waiting_time_s) - mc.mean_waiting_time_s) < 4 * mc.mean_waiting_time_stderr_s
    # the same heralds counted from their arrival would keep pairs longer: a cutoff 1.5 rounds longer (the
    # middle link's half flight is 0.5, the others' longer) cannot be slower
    longer = chain(links, **{**kw, "cutoff_s": 8.0})
    assert float(longer.rate_hz) > float(grid.rate_hz)
