"""Fiber: attenuation, latency, birefringence and its compensation, optical phase noise."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ionjax.components as C
from ionjax.core import DensityMatrix, FockRegister, Space, fidelity


def fd(f, x, eps=1e-6):
    f = jax.jit(f)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def test_transmission_latency_and_wait():
    assert float(C.fiber_transmission(10.0, 0.2)) == pytest.approx(10 ** (-0.2))
    assert float(C.fiber_transmission(0.0, 3.0)) == 1.0
    assert float(C.fiber_latency_s(2.0)) == pytest.approx(1e-5)
    assert float(C.herald_wait_s(2.0)) == pytest.approx(2e-5)
    g = jax.grad(C.fiber_transmission)(5.0, 0.3)
    assert float(g) == pytest.approx(-0.3 * math.log(10) / 10 * 10 ** (-0.15))
    assert float(g) == pytest.approx(float(fd(lambda x: C.fiber_transmission(x, 0.3), 5.0)), rel=1e-7)


def test_fiber_loss_on_a_register_equals_emission_loss():
    st = C.ion_photon_state("polarization")
    a = C.apply_fiber_loss(st, "photon", 12.0, 0.25)
    b = C.apply_emission_loss(st, C.fiber_transmission(12.0, 0.25))
    np.testing.assert_allclose(np.asarray(a.data), np.asarray(b.data), atol=1e-15)


@pytest.mark.parametrize(
    "fn,args,name",
    [(C.fiber_transmission, (-1.0, 0.2), "length_km"), (C.fiber_transmission, (1.0, -0.2), "attenuation_db_per_km"),
     (C.fiber_latency_s, (-3.0,), "length_km")],
)
def test_bad_fiber_numbers(fn, args, name):
    with pytest.raises(ValueError, match=rf"`{name}` must lie in \[0\.0, inf\], got -"):
        fn(*args)


def _rz(a):
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def _ry(t):
    return np.array([[math.cos(t / 2), -math.sin(t / 2)], [math.sin(t / 2), math.cos(t / 2)]])


def test_birefringence_is_euler_su2():
    rng = np.random.default_rng(7)
    for th, ph, la in rng.uniform(-3, 3, size=(5, 3)):
        u = np.asarray(C.birefringence_unitary(th, ph, la))
        np.testing.assert_allclose(u, _rz(ph) @ _ry(th) @ _rz(la), atol=1e-14)
        np.testing.assert_allclose(u.conj().T @ u, np.eye(2), atol=1e-14)
        assert np.linalg.det(u) == pytest.approx(1.0)


@settings(max_examples=12, deadline=None)
@given(st.tuples(*[st.floats(-3.1, 3.1)] * 3))
def test_two_wave_plates_compensate_the_axis(angles):
    u = C.birefringence_unitary(*angles)
    comp = C.compensate(u)
    total = np.asarray(C.half_wave_plate(comp.hwp_angle_rad) @ C.quarter_wave_plate(comp.qwp_angle_rad) @ u)
    np.testing.assert_allclose(total, np.asarray(comp.unitary), atol=1e-14)
    assert abs(total[0, 0]) == pytest.approx(1.0, abs=1e-12)
    assert abs(total[1, 0]) < 1e-12
    assert np.angle(total[1, 1] / total[0, 0]) == pytest.approx(float(comp.residual_phase_rad), abs=1e-10)


def test_compensated_link_restores_the_ion_photon_state():
    ideal = C.ion_photon_state("polarization")
    ket = np.zeros(6, complex)
    ket[1] = ket[5] = 1 / math.sqrt(2)
    u = C.birefringence_unitary(1.1, -0.4, 2.0)
    bent = C.apply_optics(ideal, "photon", u, ("h", "v"))
    assert float(fidelity(bent, jnp.asarray(ket))) < 0.9
    comp = C.compensate(u)
    plates = C.half_wave_plate(comp.hwp_angle_rad) @ C.quarter_wave_plate(comp.qwp_angle_rad)
    fixed = C.apply_optics(bent, "photon", plates, ("h", "v"))
    # the residual phase of v is a Z rotation: undo it on the ion (a frame change)
    r = float(comp.residual_phase_rad)
    fixed = fixed.apply_unitary(np.diag([1.0, np.exp(-1j * r)]), on="ion")
    assert float(fidelity(fixed, jnp.asarray(ket))) == pytest.approx(1.0, abs=1e-12)


def test_birefringence_gradient():
    ideal = C.ion_photon_state("polarization")
    ket = np.zeros(6, complex)
    ket[1] = ket[5] = 1 / math.sqrt(2)

    def f(theta):
        out = C.apply_optics(ideal, "photon", C.birefringence_unitary(theta, 0.3, -0.2), ("h", "v"))
        return fidelity(out, jnp.asarray(ket))

    assert float(jax.jit(jax.grad(f))(0.7)) == pytest.approx(float(fd(f, 0.7)), rel=1e-7)

    def g(a):  # compensation quality is differentiable in the fiber's angles too
        return jnp.abs(C.compensate(C.birefringence_unitary(a, 0.3, -0.2)).unitary[0, 0])

    assert float(jax.grad(g)(0.7)) == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------- phase noise
def _two_path_state():
    reg = FockRegister("p", ("a", "b"), 2)
    rng = np.random.default_rng(5)
    psi = rng.normal(size=reg.dim) + 1j * rng.normal(size=reg.dim)
    return DensityMatrix.from_ket(jnp.asarray(psi / np.linalg.norm(psi)), Space(reg))


def test_phase_noise_equals_average_over_random_phases():
    st = _two_path_state()
    s = 0.7
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    shift = jax.jit(lambda phi: C.apply_optics(st, "p", C.phase_shifter(phi), ("b",)).data)
    avg = sum(wi * np.asarray(shift(s * xi)) for xi, wi in zip(x, w))
    got = C.apply_phase_noise(st, "p", "b", s)
    np.testing.assert_allclose(np.asarray(got.data), avg, atol=1e-12)


def test_phase_noise_single_photon_coherence_and_gradient():
    st = C.bright_state_source(0.5)  # (|0,vac> + |1,1>)/sqrt2
    out = C.apply_phase_noise(st, "photon", "x", 0.3)
    assert float(jnp.abs(out.data[0, 3])) == pytest.approx(0.5 * math.exp(-0.045))

    def coh(s):
        return jnp.real(C.apply_phase_noise(st, "photon", "x", s).data[0, 3])

    assert float(jax.grad(coh)(0.0)) == 0.0  # finite at no noise
    assert float(jax.grad(coh)(0.3)) == pytest.approx(float(fd(coh, 0.3)), rel=1e-7)
    with pytest.raises(ValueError, match=r"`rms_rad` must lie in \[0\.0, inf\], got -0\.1"):
        C.apply_phase_noise(st, "photon", "x", -0.1)
    with pytest.raises(ValueError, match="not a FockRegister"):
        C.apply_phase_noise(st, "ion", "x", 0.1)


def test_scale_register_coherences_acts_on_the_register_only():
    st = C.ion_photon_state("polarization")
    f = np.arange(9.0).reshape(3, 3)
    out = C.scale_register_coherences(st, "photon", f)
    want = np.asarray(st.data) * np.kron(np.ones((2, 2)), f)
    np.testing.assert_allclose(np.asarray(out.data), want)
