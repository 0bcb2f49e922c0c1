"""Classical latency and multiplexed memories in repeater chains, against closed forms.

A link of length L (detection station in the middle) hears of an attempt's success L / c after the emission
(c = 2e5 km/s in fiber: L/2 there, L/2 back). Without pipelining a round lasts 1/R + L/c, so one link
delivers at rate 1 / (p^-1 (1/R + L/c)); with k memories attempting per round, p -> 1 - (1 - p)^k. With
pipelined rounds every 1/R, a delivery is the geometric wait plus the fixed L/c. Meanwhile the pair's
qubits dephase: X and Y correlators times exp(-2 (L/c) / T2); the swap outcomes reach the end nodes from
the node of the last join, and the end qubits dephase for that travel too.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ionjax as ij
from ionjax.errors import ConfigError
from ionjax.network import expected_max_geometric, repeater_chain
from ionjax.network.chain import FIBER_LIGHT_SPEED_KM_S as C_KM_S
from ionjax.network.pairs import fidelity_from_correlators

P, R, F = 0.01, 1.0e5, 0.95


@pytest.mark.parametrize("length", [0.0, 10.0, 250.0])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_single_link_rate_with_round_trip_and_multiplexing(length, k):
    """1 / (p_k^-1 (1/R + L/c)), p_k = 1 - (1 - p)^k: on the exact grid (one step per round) and the auto grid."""
    period = 1.0 / R + length / C_KM_S
    p_k = 1.0 - (1.0 - P) ** k
    want = p_k / period
    exact = repeater_chain((F, P, R), length_km=length, multiplexing=k, time_step_s=period, grid_size=1 << 13)
    assert float(exact.rate_hz) == pytest.approx(want, rel=1e-7)
    auto = repeater_chain((F, P, R), length_km=length, multiplexing=k)
    assert float(auto.rate_hz) == pytest.approx(want, rel=1e-2)


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("k", [1, 4])
def test_multiplexed_chain_without_cutoff_waits_for_the_slowest_link(n, k):
    """No cutoff: the chain delivers when the last link does, E[max of n geometric(p_k)] rounds."""
    length = 20.0
    period = 1.0 / R + length / C_KM_S
    p_k = 1.0 - (1.0 - P) ** k
    res = repeater_chain((F, P, R), n_links=n, length_km=length, multiplexing=k, time_step_s=period,
                         grid_size=1 << 14)
    # (the renewal equation's damped FFT is exact to ~1e-9)
    assert float(res.mean_waiting_time_s) == pytest.approx(float(expected_max_geometric(p_k, n)) * period, rel=1e-7)


@pytest.mark.parametrize("length", [0.0, 30.0, 37.3])
def test_pipelined_link_delivers_a_light_time_later(length):
    """Pipelined: rounds every 1/R; E[T] = 1/(p R) + L/c, also for a delay that is not a whole step."""
    res = repeater_chain((F, P, R), length_km=length, pipelined=True, time_step_s=1.0 / R, grid_size=1 << 13)
    assert float(res.mean_waiting_time_s) == pytest.approx(1.0 / (P * R) + length / C_KM_S, rel=1e-7)


def test_herald_travel_dephases_the_stored_pair():
    t2, length = 2e-3, 40.0
    d = math.exp(-2.0 * (length / C_KM_S) / t2)
    res = repeater_chain((F, P, R), length_km=length, t2_s=t2)
    off = repeater_chain((F, P, R), length_km=length, t2_s=t2, latency=False)
    assert float(off.fidelity) == pytest.approx(F, rel=1e-12)
    corr = np.asarray(off.correlators) * np.array([d, d, 1.0])
    np.testing.assert_allclose(np.asarray(res.correlators), corr, rtol=1e-12)
    assert float(res.fidelity) == pytest.approx(float(fidelity_from_correlators(jnp.asarray(corr))), rel=1e-12)
    assert float(off.rate_hz) == pytest.approx(P * R, rel=1e-2)


@pytest.mark.parametrize("schedule,n", [("nested", 2), ("nested", 4), ("sequential", 3)])
def test_swap_messages_dephase_the_end_qubits(schedule, n):
    """X correlators multiply through swaps: with latency they carry each link's herald decay and the end
    qubits' wait for the last join's outcome, on top of the same chain with instantaneous messages at the
    same round time."""
    t2, length = 5e-3, 25.0
    period = 1.0 / R + length / C_KM_S
    kw = dict(n_links=n, schedule=schedule, t2_s=t2, time_step_s=period, grid_size=1 << 13)
    lat = repeater_chain((F, P, R), length_km=length, **kw)
    ref = repeater_chain((F, P, 1.0 / period), latency=False, **kw)
    np.testing.assert_allclose(float(lat.mean_waiting_time_s), float(ref.mean_waiting_time_s), rtol=1e-12)
    j = n // 2 if schedule == "nested" else n - 1
    message = max(j, n - j) * length / C_KM_S
    d_link, d_end = math.exp(-2.0 * (length / C_KM_S) / t2), math.exp(-2.0 * message / t2)
    np.testing.assert_allclose(np.asarray(lat.correlators)[:2], np.asarray(ref.correlators)[:2] * d_link**n * d_end,
                               rtol=1e-10)
    np.testing.assert_allclose(np.asarray(lat.correlators)[2], np.asarray(ref.correlators)[2], rtol=1e-10)


def test_gradient_in_length_is_finite_and_matches_difference():
    def rate(length):
        return repeater_chain((F, P, R), n_links=2, length_km=length, pipelined=True, t2_s=1e-2,
                              time_step_s=1.0 / R, grid_size=1 << 12).fidelity

    g = float(jax.grad(rate)(jnp.float64(31.3)))
    fd = (float(rate(31.3 + 1e-2)) - float(rate(31.3 - 1e-2))) / 2e-2  # inside one step of the delay
    assert math.isfinite(g) and g == pytest.approx(fd, rel=1e-5)


def test_bad_latency_and_multiplexing_inputs():
    with pytest.raises(ConfigError, match="multiplexing"):
        repeater_chain((F, P, R), multiplexing=0)
    with pytest.raises(ConfigError, match="multiplexing"):
        repeater_chain((F, P, R), multiplexing=2.5)
    with pytest.raises(ConfigError, match="length_km"):
        repeater_chain((F, P, R), length_km=-1.0)
    with pytest.raises(ConfigError, match="length_km"):
        repeater_chain([(F, P, R)] * 2, length_km=np.array([1.0, 2.0, 3.0]), schedule="sequential")


# ----------------------------------------------------------------------------------------- network files
def _net(chain=None, **link):
    return {"links": [{"fidelity": F, "success_probability": P, "attempt_rate_hz": R, **link}],
            "chain": {"n_links": 2, **(chain or {})}}


def test_network_file_keys_reach_the_chain():
    res = ij.network.run_network(_net({"multiplexing": 4}, length_km=20.0))
    period = 1.0 / R + 20.0 / C_KM_S
    want = 1.0 / (float(expected_max_geometric(1.0 - (1.0 - P) ** 4, 2)) * period)
    assert res["chain"]["rate_hz"] == pytest.approx(want, rel=2e-2)
    assert res["links"][0]["length_km"] == 20.0
    assert res["chain"]["parameters"]["multiplexing"] == 4 and res["chain"]["parameters"]["latency"] is True
    off = ij.network.run_network(_net({"multiplexing": 4, "latency": False}, length_km=20.0))
    assert off["chain"]["rate_hz"] > 1.5 * res["chain"]["rate_hz"]
    piped = ij.network.run_network(_net({"pipelined": True}, length_km=20.0))
    assert piped["chain"]["parameters"]["pipelined"] is True


def test_a_link_files_length_is_its_two_fibers():
    net = {"links": [{"protocol": "two_photon", "attempt_rate_hz": 1e5,
                      "node_a": {"fiber_length_km": 3.0}, "node_b": {"fiber_length_km": 4.5}}],
           "chain": {"n_links": 2}}
    assert ij.network.run_network(net)["links"][0]["length_km"] == pytest.approx(7.5)


@pytest.mark.parametrize("key,value,match", [
    ("latency", "yes", "chain.latency must be true or false"),
    ("pipelined", 1, "chain.pipelined must be true or false"),
    ("multiplexing", 0, "chain.multiplexing = 0 is out of range"),
    ("multiplexing", 1.5, "chain.multiplexing must be an integer"),
])
def test_bad_chain_keys(key, value, match):
    with pytest.raises(ConfigError, match=match):
        ij.network.load_network(_net({key: value}))


def test_bad_link_length():
    with pytest.raises(ConfigError, match=r"links\[0\].length_km = -2.0 is out of range"):
        ij.network.load_network(_net(length_km=-2.0))


def test_cli_set_booleans(tmp_path, capsys):
    from ionjax.cli import main

    path = tmp_path / "net.toml"
    path.write_text(f"[[links]]\nfidelity = {F}\nsuccess_probability = {P}\nattempt_rate_hz = {R}\n"
                    "length_km = 10.0\n[chain]\nn_links = 2\n")
    assert main(["network", str(path), "--set", "chain.latency=false"]) == 0
    assert "messages instantaneous" in capsys.readouterr().out
    assert main(["network", str(path), "--set", "chain.latency=maybe"]) == 2
    assert "chain.latency must be true or false" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ T1 and T2 memories
# Independent dense model (numpy): qubits stored for t undergo amplitude damping (gamma = 1 - exp(-t/T1)) and
# pure dephasing, exp(-t/T2) (or exp(-(t/T2)^2): Gaussian) on a coherence on top of the damping's; the swap
# projects the middle qubits onto each Bell state, traces them out and applies the Pauli on C that maps the
# ideal outcome to Psi+ (found by brute force on ideal pairs).
_PAULI = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]
_PSI_PLUS = np.array([0, 1, 1, 0]) / math.sqrt(2)
_BELLS = [np.array([1, 0, 0, 1]) / math.sqrt(2), np.array([1, 0, 0, -1]) / math.sqrt(2), _PSI_PLUS,
          np.array([0, 1, -1, 0]) / math.sqrt(2)]


def _werner(f):
    psi = np.outer(_PSI_PLUS, _PSI_PLUS)
    return f * psi + (1 - f) / 3 * (np.eye(4) - psi)


def _store_qubit(rho, t, t1, t2, gaussian, which, n=2):
    gamma = 1.0 - math.exp(-t / t1)
    coh = math.exp(-((t / t2) ** 2) if gaussian else -t / t2)
    lam = (1.0 - coh) / 2.0  # phase flip probability
    kraus = [np.array([[1, 0], [0, math.sqrt(1 - gamma)]]), np.array([[0, math.sqrt(gamma)], [0, 0]])]
    kraus = [k2 @ k1 for k1 in kraus for k2 in (math.sqrt(1 - lam) * np.eye(2), math.sqrt(lam) * _PAULI[3])]
    out = np.zeros_like(rho)
    for k in kraus:
        ops = [np.eye(2)] * n
        ops[which] = k
        full = ops[0]
        for o in ops[1:]:
            full = np.kron(full, o)
        out = out + full @ rho @ full.conj().T
    return out


def _swap(r1, r2):
    rho = np.kron(r1, r2).reshape([2] * 8)  # qubits A, B1, B2, C (ket), then the same (bra)
    out = np.zeros((4, 4), complex)
    for bell in _BELLS:
        b = bell.reshape(2, 2)
        m = np.einsum("xy,axycbzwd,zw->acbd", b.conj(), rho, b).reshape(4, 4)  # <bell|_{B1B2} rho |bell>
        best = max(range(4), key=lambda i, b=b: _fid(_corr_c(_ideal_outcome(b), i)))  # the correction on C
        out = out + _corr_c(m, best)
    return out


def _ideal_outcome(b):
    psi = np.outer(_PSI_PLUS, _PSI_PLUS)
    rho = np.kron(psi, psi).reshape([2] * 8)
    return np.einsum("xy,axycbzwd,zw->acbd", b.conj(), rho, b).reshape(4, 4)


def _corr_c(m, i):
    u = np.kron(np.eye(2), _PAULI[i])
    return u @ m @ u.conj().T


def _fid(m):
    return float(np.real(_PSI_PLUS @ m @ _PSI_PLUS) / np.real(np.trace(m)))


def _one_swap_reference(f, p, dt, t1, t2, gaussian=False):
    """E[F] of a two-link chain (no cutoff): the older pair waits the age difference d steps."""
    q = 1.0 - p
    total, norm = 0.0, 0.0
    for d in range(0, 4000):
        w = p * p * q**d / (1 - q * q) * (2.0 if d else 1.0)
        if w < 1e-18:
            break
        old = _werner(f)
        for qubit in (0, 1):
            old = _store_qubit(old, d * dt, t1, t2, gaussian, qubit)
        total += w * _fid(_swap(old, _werner(f)))
        norm += w
    return total / norm


@pytest.mark.parametrize("t1,t2,gaussian", [(2e-3, 1.5e-3, False), (1e-3, 5e-3, False), (3e-3, 1e-3, True),
                                           (5e-4, np.inf, False)])
def test_t1_t2_one_swap_against_dense_model(t1, t2, gaussian):
    p, rate = 0.02, 1e5
    res = repeater_chain((F, p, rate), n_links=2, t1_s=t1, t2_s=t2, memory_decay="gaussian" if gaussian else
                         "exponential", time_step_s=1.0 / rate, grid_size=1 << 13, latency=False)
    ref = _one_swap_reference(F, p, 1.0 / rate, t1, t2, gaussian)
    assert float(res.fidelity) == pytest.approx(ref, rel=1e-9)
    no_t1 = repeater_chain((F, p, rate), n_links=2, t2_s=t2, time_step_s=1.0 / rate, grid_size=1 << 13,
                           memory_decay="gaussian" if gaussian else "exponential", latency=False)
    assert float(res.fidelity) < float(no_t1.fidelity)  # relaxation costs on top of the dephasing


def test_bad_memory_inputs():
    with pytest.raises(ConfigError, match="t1_s"):
        repeater_chain((F, P, R), n_links=2, t1_s=0.0)
    with pytest.raises(ConfigError, match="memory_decay"):
        repeater_chain((F, P, R), n_links=2, memory_decay="lorentzian")
    with pytest.raises(ConfigError, match="chain.memory_decay"):
        ij.network.load_network(_net({"memory_decay": "linear"}))


# ------------------------------------------------------------------------- against the event-by-event model
def _within(grid, mc, sigmas=4.0):
    assert abs(float(grid.fidelity) - mc.fidelity) <= sigmas * mc.fidelity_stderr + 1e-12, (grid.fidelity, mc)
    assert abs(float(grid.mean_waiting_time_s) - mc.mean_waiting_time_s) <= sigmas * mc.mean_waiting_time_stderr_s


_MC_CASES = [dict(t1_s=50.0, t2_s=20.0, cutoff_s=8.0),
             dict(t2_s=5.0, length_km=0.6e5, pipelined=True, multiplexing=3),
             dict(t1_s=30.0, t2_s=8.0, length_km=0.4e5, multiplexing=2, readout_error=0.01)]


@pytest.mark.parametrize("kw,n", [(kw, n) for kw in _MC_CASES for n in (2, 4)]
                         + [(dict(t1_s=40.0, t2_s=10.0, memory_decay="gaussian", gate_error=0.01), 2)])
def test_memories_latency_multiplexing_against_monte_carlo(kw, n):
    """The exact-state Monte Carlo (amplitude damping on the density matrix, exact swaps) within 4 standard
    errors, where relaxation is weak enough that the dropped second-order terms are below the noise (the
    Gaussian shape for one swap, where both count its wait from zero: module docstring)."""
    grid = repeater_chain((0.92, 0.2, 1.0), n, time_step_s=1.0, grid_size=1024, **kw)
    mc = ij.network.chain_monte_carlo((0.92, 0.2, 1.0), n, n_samples=20000, seed=3, time_step_s=1.0, **kw)
    _within(grid, mc)


def test_what_the_bell_diagonal_form_drops_is_within_its_bound():
    """Strong relaxation during the heralds' flight (gamma = 1 - e^-0.5 per qubit): the Monte Carlo sees the
    single-qubit <Z> terms the grid drops, and the difference stays within gamma_A gamma_C / 4 per swap."""
    kw = dict(t1_s=1.0, length_km=1e5)
    grid = repeater_chain((0.92, 0.2, 1.0), 2, time_step_s=1.0, grid_size=1024, **kw)
    mc = ij.network.chain_monte_carlo((0.92, 0.2, 1.0), 2, n_samples=20000, seed=1, time_step_s=1.0, **kw)
    gap = abs(float(grid.fidelity) - mc.fidelity)
    gamma = 1.0 - math.exp(-0.5)
    assert 4 * mc.fidelity_stderr < gap <= gamma * gamma / 4 + 4 * mc.fidelity_stderr
