"""Lindblad solver (matrix exponential and diffrax) and excitation-pulse photon statistics."""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import qutip

import ionjax.components as C
from ionjax.core import DensityMatrix, Qudit, Space


def fd(f, x, eps=1e-6):
    f = jax.jit(f)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


G, E, D = 0, 1, 2


def _proj(i, j, n=3):
    m = np.zeros((n, n))
    m[i, j] = 1.0
    return m


def _three_level(omega, delta, tau, b):
    h = omega / 2 * (_proj(E, G) + _proj(G, E)) - delta * _proj(E, E)
    jumps = np.stack([math.sqrt(b / tau) * _proj(G, E), math.sqrt((1 - b) / tau) * _proj(D, E)])
    return h, jumps


def test_decay_is_exponential():
    tau = 7.9
    rho0 = np.diag([0.0, 1.0]).astype(complex)
    jump = math.sqrt(1 / tau) * np.array([[0, 1], [0, 0]], complex)
    ts = jnp.array([0.0, 1.0, 5.0, 20.0])
    out = jax.jit(jax.vmap(lambda t: C.lindblad_evolve(rho0, np.zeros((2, 2)), jump[None], t)))(ts)
    np.testing.assert_allclose(np.real(out[:, 1, 1]), np.exp(-np.asarray(ts) / tau), rtol=1e-12)
    np.testing.assert_allclose(np.real(out[:, 0, 0]), 1 - np.exp(-np.asarray(ts) / tau), atol=1e-15)


def test_rates_argument_equals_scaled_jumps():
    h, jumps = _three_level(0.7, 0.1, 8.0, 0.7)
    unit = np.stack([_proj(G, E), _proj(D, E)])
    a = C.liouvillian(h, jumps)
    b = C.liouvillian(h, unit, rates=jnp.array([0.7 / 8.0, 0.3 / 8.0]))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-15)


def test_three_level_against_qutip_mesolve():
    omega, delta, tau, b = 1.3, 0.4, 7.1, 0.936
    h, jumps = _three_level(omega, delta, tau, b)
    ts = np.array([0.0, 0.5, 2.0, 6.0, 15.0])
    rho0 = np.diag([1.0, 0, 0]).astype(complex)
    ref = qutip.mesolve(
        qutip.Qobj(h), qutip.Qobj(rho0), ts, [qutip.Qobj(j) for j in jumps],
        options={"atol": 1e-12, "rtol": 1e-10},
    )
    ours = jax.jit(jax.vmap(lambda t: C.lindblad_evolve(rho0, h, jumps, t)))(jnp.asarray(ts))
    for k, st in enumerate(ref.states):
        np.testing.assert_allclose(np.asarray(ours[k]), st.full(), atol=1e-6)
    # the same through a DensityMatrix
    dm = C.lindblad_evolve(DensityMatrix(jnp.asarray(rho0), Space(Qudit("ion", 3))), h, jumps, 2.0)
    assert isinstance(dm, DensityMatrix)
    np.testing.assert_allclose(np.asarray(dm.data), ref.states[2].full(), atol=1e-6)


def test_time_dependent_pulse_against_qutip_mesolve():
    area, dur, tau, b = math.pi, 3.0, 7.9, 0.73
    h0 = 0.5 * (_proj(E, G) + _proj(G, E))
    _, jumps = _three_level(0.0, 0.0, tau, b)

    def coeff(t):
        return 2 * area / dur * math.sin(math.pi * t / dur) ** 2 if 0 <= t <= dur else 0.0

    ts = np.linspace(0.0, dur, 4)
    rho0 = np.diag([1.0, 0, 0]).astype(complex)
    ref = qutip.mesolve(
        [qutip.Qobj(np.zeros((3, 3))), [qutip.Qobj(h0), coeff]], qutip.Qobj(rho0), ts,
        [qutip.Qobj(j) for j in jumps], options={"atol": 1e-12, "rtol": 1e-10},
    )

    def ham(t, a):
        return 2 * a / dur * jnp.sin(jnp.pi * t / dur) ** 2 * h0

    ours = C.lindblad_ode(rho0, ham, jumps, dur, ts_ns=ts, args=area)
    for k, st in enumerate(ref.states):
        np.testing.assert_allclose(np.asarray(ours[k]), st.full(), atol=1e-6)


def test_piecewise_equals_sequential_segments():
    h1, jumps = _three_level(1.0, 0.0, 8.0, 0.9)
    h2, _ = _three_level(0.0, 0.3, 8.0, 0.9)
    rho0 = np.diag([1.0, 0, 0]).astype(complex)
    seq = C.lindblad_evolve(C.lindblad_evolve(rho0, h1, jumps, 1.5), h2, jumps, 4.0)
    pw = C.lindblad_evolve_piecewise(rho0, np.stack([h1, h2]), jumps, np.array([1.5, 4.0]))
    np.testing.assert_allclose(np.asarray(pw), np.asarray(seq), atol=1e-13)
    per = C.lindblad_evolve_piecewise(rho0, np.stack([h1, h2]), np.stack([jumps, jumps]), np.array([1.5, 4.0]))
    np.testing.assert_allclose(np.asarray(per), np.asarray(seq), atol=1e-13)


# ----------------------------------------------------------------------------- excitation / emission
_ee = jax.jit(C.excitation_emission, static_argnames=("pulse_shape", "method"))


def test_short_pi_pulse_emits_once_and_rarely_twice():
    tau, dur = 8.0, 0.08
    for b in (1.0, 0.73):
        out = _ee(math.pi, dur, tau, b)
        assert float(out.p_emission) == pytest.approx(b, abs=1e-4)
        # first order in T/tau: P(2) = b^2 T / (8 tau)
        assert float(out.p_second_photon) == pytest.approx(b * b * dur / (8 * tau), rel=0.01)


def test_mean_photon_number_against_plain_three_level_qutip():
    """Independent of the counter: <n> = b Gamma int_0^T rho_ee dt + b rho_ee(T) (plain mesolve)."""
    area, dur, tau, b = 1.2 * math.pi, 0.2, 7.4, 0.944
    h, jumps = _three_level(area / dur, 0.0, tau, b)
    ts = np.linspace(0, dur, 401)
    ref = qutip.mesolve(qutip.Qobj(h), qutip.fock_dm(3, G), ts, [qutip.Qobj(j) for j in jumps],
                        e_ops=[qutip.fock_dm(3, E)], options={"atol": 1e-12, "rtol": 1e-10})
    pe = np.asarray(ref.expect[0])
    from scipy.integrate import simpson

    mean = b / tau * simpson(pe, x=ts) + b * pe[-1]
    out = _ee(area, dur, tau, b)
    # the counter saturates at 2: it misses P(>= 3) = O((T/tau)^2), about 1e-6 here
    counted = float(out.p_emission + out.p_second_photon)
    assert counted == pytest.approx(mean, abs=1e-5)
    assert counted <= mean + 1e-9


def test_shaped_pulse_ode_path_against_qutip_counter_model():
    """Gaussian pulse through diffrax vs QuTiP on the same counter-augmented system, then the decay tail."""
    area, dur, tau, b = math.pi, 2.0, 7.9, 0.73
    sigma = dur / 6
    norm = sigma * math.sqrt(2 * math.pi) * math.erf(3 / math.sqrt(2))

    def coeff(t):
        return area / norm * math.exp(-((t - dur / 2) ** 2) / (2 * sigma**2)) if 0 <= t <= dur else 0.0

    raise_n = np.zeros((3, 3))
    raise_n[1, 0] = raise_n[2, 1] = raise_n[2, 2] = 1.0
    drive = np.kron(0.5 * (_proj(E, G) + _proj(G, E)), np.eye(3))
    jumps = [math.sqrt(b / tau) * np.kron(_proj(G, E), raise_n),
             math.sqrt((1 - b) / tau) * np.kron(_proj(D, E), np.eye(3))]
    rho0 = np.zeros((9, 9))
    rho0[0, 0] = 1.0
    ref = qutip.mesolve([qutip.Qobj(np.zeros((9, 9))), [qutip.Qobj(drive), coeff]], qutip.Qobj(rho0), [0.0, dur],
                        [qutip.Qobj(j) for j in jumps], options={"atol": 1e-12, "rtol": 1e-10})
    pops = np.real(np.diag(ref.states[-1].full())).reshape(3, 3)
    settled = pops[G] + pops[D] + (1 - b) * pops[E]
    p2 = settled[2] + b * (pops[E, 1] + pops[E, 2])
    p1 = settled[1] + b * pops[E, 0]
    out = C.excitation_emission(area, dur, tau, b, pulse_shape="gaussian")
    assert float(out.p_emission) == pytest.approx(p1 + p2, abs=1e-6)
    assert float(out.p_second_photon) == pytest.approx(p2, abs=1e-6)
    assert float(out.p_emission) == pytest.approx(b, abs=0.01)


def test_multi_photon_probability_is_conditional():
    mp = jax.jit(C.multi_photon_probability)(math.pi, 0.08, 8.0, 1.0)
    out = _ee(math.pi, 0.08, 8.0, 1.0)
    assert float(mp) == pytest.approx(float(out.p_second_photon / out.p_emission))


def test_excitation_gradients_against_finite_differences():
    def f(x):  # (area, duration, lifetime, branching) -> (p_emission, p_second_photon)
        return jnp.stack(C.excitation_emission(x[0], x[1], x[2], x[3]))

    x0 = jnp.array([2.5, 1.0, 8.0, 0.9])
    jac = np.asarray(jax.jit(jax.jacfwd(f))(x0))
    jf = jax.jit(f)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-5
        num = (np.asarray(jf(x0 + e)) - np.asarray(jf(x0 - e))) / 2e-5
        np.testing.assert_allclose(jac[:, i], num, rtol=1e-5, atol=1e-10)
    # branching = 1: finite (rates enter linearly, no square roots)
    assert np.all(np.isfinite(np.asarray(jax.jit(jax.jacfwd(f))(x0.at[3].set(1.0)))))


def test_ode_gradient():
    import diffrax

    h0 = 0.5 * (_proj(E, G) + _proj(G, E))
    _, jumps = _three_level(0.0, 0.0, 8.0, 0.9)
    rho0 = np.diag([1.0, 0, 0]).astype(complex)

    def ham(t, a):
        return 2 * a * jnp.sin(jnp.pi * t) ** 2 * h0

    def f(area):
        out = C.lindblad_ode(rho0, ham, jumps, 1.0, args=area, solver=diffrax.Tsit5(), rtol=1e-10, atol=1e-12)
        return jnp.real(out[E, E])

    def ref(area):  # the same quantity from QuTiP
        h = [qutip.Qobj(np.zeros((3, 3))), [qutip.Qobj(h0), lambda t: 2 * area * math.sin(math.pi * t) ** 2]]
        res = qutip.mesolve(h, qutip.Qobj(rho0), [0.0, 1.0], [qutip.Qobj(j) for j in jumps],
                            options={"atol": 1e-13, "rtol": 1e-12})
        return res.states[-1].full()[E, E].real

    num = (ref(2.0 + 1e-4) - ref(2.0 - 1e-4)) / 2e-4
    assert float(jax.jit(jax.grad(f))(2.0)) == pytest.approx(num, rel=1e-5)


def test_bad_values():
    with pytest.raises(ValueError, match=r"`lifetime_ns` must lie in \(0\.0, inf\], got -1\.0"):
        C.excitation_emission(math.pi, 1.0, -1.0)
    with pytest.raises(ValueError, match=r"`branching`.*1\.3"):
        C.excitation_emission(math.pi, 1.0, 8.0, 1.3)
    with pytest.raises(ValueError, match="pulse_shape"):
        C.excitation_emission(math.pi, 1.0, 8.0, pulse_shape="triangle")
    with pytest.raises(ValueError, match="method='ode'"):
        C.excitation_emission(math.pi, 1.0, 8.0, pulse_shape="sin2", method="expm")
    with pytest.raises(ValueError, match=r"`t_ns`.*-2"):
        C.lindblad_evolve(np.eye(2) / 2, np.zeros((2, 2)), None, -2.0)
    with pytest.raises(ValueError, match="jump_ops"):
        C.liouvillian(np.zeros((2, 2)), np.zeros((1, 3, 3)))


def test_missing_diffrax_gives_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffrax", None)
    with pytest.raises(ImportError, match=r"ionjax\[ode\]"):
        C.lindblad_ode(np.eye(2) / 2, lambda t, a: np.zeros((2, 2)), None, 1.0)
