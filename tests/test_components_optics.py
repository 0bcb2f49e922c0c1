"""Linear optics: Jones matrices, beam splitters, PBS, general unitaries, exact lift onto a register."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import qutip
import scipy.linalg

import ionjax.components as C
from ionjax.core import DensityMatrix, FockRegister, Space, beam_splitter_unitary

H = np.array([1, 0], complex)
V = np.array([0, 1], complex)
DIAG = np.array([1, 1], complex) / np.sqrt(2)


def fd(f, x, eps=1e-6):
    f = jax.jit(f)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def overlap2(a, b):
    return abs(np.vdot(a, b)) ** 2


def test_half_wave_plate_jones():
    assert overlap2(DIAG, np.asarray(C.half_wave_plate(math.pi / 8)) @ H) == pytest.approx(1.0)  # 22.5 deg: H -> D
    assert overlap2(V, np.asarray(C.half_wave_plate(math.pi / 4)) @ H) == pytest.approx(1.0)  # 45 deg: H -> V
    for t in (0.0, 0.3, -1.1):
        want = -1j * np.array([[math.cos(2 * t), math.sin(2 * t)], [math.sin(2 * t), -math.cos(2 * t)]])
        np.testing.assert_allclose(np.asarray(C.half_wave_plate(t)), want, atol=1e-15)


def test_quarter_wave_plate_jones():
    for t in (0.0, 0.4, math.pi / 4):
        c, s = math.cos(t), math.sin(t)
        want = np.exp(-1j * math.pi / 4) * np.array(
            [[c * c + 1j * s * s, (1 - 1j) * s * c], [(1 - 1j) * s * c, s * s + 1j * c * c]]
        )
        np.testing.assert_allclose(np.asarray(C.quarter_wave_plate(t)), want, atol=1e-15)
    out = np.asarray(C.quarter_wave_plate(math.pi / 4)) @ H  # H -> circular
    assert abs(out[0]) == pytest.approx(abs(out[1]))
    assert abs(np.angle(out[1] / out[0])) == pytest.approx(math.pi / 2)
    # two quarter-wave plates at the same angle make a half-wave plate
    np.testing.assert_allclose(
        np.asarray(C.quarter_wave_plate(0.3) @ C.quarter_wave_plate(0.3)), np.asarray(C.half_wave_plate(0.3)),
        atol=1e-15,
    )


@pytest.mark.parametrize(
    "u",
    [C.half_wave_plate(0.2), C.quarter_wave_plate(1.0), C.wave_plate(0.7, -0.4), C.rotator(0.5),
     C.beam_splitter(0.3, 0.8), C.polarizing_beam_splitter(0.4), C.phase_shifter(1.3)],
)
def test_all_elements_are_unitary(u):
    u = np.asarray(u)
    np.testing.assert_allclose(u.conj().T @ u, np.eye(len(u)), atol=1e-14)


def test_wave_plates_have_unit_determinant():
    for u in (C.half_wave_plate(0.2), C.quarter_wave_plate(1.0), C.wave_plate(0.7, -0.4)):
        assert np.linalg.det(np.asarray(u)) == pytest.approx(1.0)


def test_beam_splitter_matches_core_and_bunches():
    np.testing.assert_allclose(np.asarray(C.beam_splitter(0.3, 0.2)), np.asarray(beam_splitter_unitary(0.3, 0.2)))
    reg = FockRegister("p", ("a", "b"), 2)
    st = DensityMatrix.basis(Space(reg), reg.index((1, 1)))
    out = jax.jit(lambda s: C.apply_optics(s, "p", C.beam_splitter(0.5), ("a", "b")))(st)
    d = np.real(np.diag(np.asarray(out.data)))
    assert d[reg.index((1, 1))] == pytest.approx(0.0, abs=1e-15)  # Hong-Ou-Mandel
    assert d[reg.index((2, 0))] == pytest.approx(0.5) and d[reg.index((0, 2))] == pytest.approx(0.5)


def test_polarizing_beam_splitter_routes_polarizations():
    reg = FockRegister("p", ("1h", "1v", "2h", "2v"), 1)
    modes = reg.modes
    pbs = C.polarizing_beam_splitter()
    for src, dst in [("1h", "1h"), ("1v", "2v"), ("2h", "2h"), ("2v", "1v")]:
        st = DensityMatrix.basis(Space(reg), reg.index({src: 1}))
        out = C.apply_optics(st, "p", pbs, modes)
        assert float(jnp.real(out.data[reg.index({dst: 1}), reg.index({dst: 1})])) == pytest.approx(1.0)


def test_lift_agrees_with_qutip_generator():
    """A random 3-mode unitary on <= 2 photons vs exp(i sum K_ij a_i^dag a_j) in QuTiP (cutoff 3)."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    u, _ = np.linalg.qr(z)
    k = -1j * scipy.linalg.logm(u)
    reg = FockRegister("p", ("x", "y", "z"), 2)
    psi = rng.normal(size=reg.dim) + 1j * rng.normal(size=reg.dim)
    psi /= np.linalg.norm(psi)
    ours = C.apply_optics(DensityMatrix.from_ket(jnp.asarray(psi), Space(reg)), "p", C.mode_unitary(u), reg.modes)
    cut = 3
    a = [qutip.tensor(*[qutip.destroy(cut) if i == j else qutip.qeye(cut) for j in range(3)]) for i in range(3)]
    g = sum(k[i, j] * a[i].dag() * a[j] for i in range(3) for j in range(3))
    big = (1j * g).expm().full()
    idx = [np.ravel_multi_index(tuple(occ), (cut,) * 3) for occ in reg.basis]
    psi_big = np.zeros(cut**3, complex)
    psi_big[idx] = psi
    out = (big @ psi_big)[idx]
    np.testing.assert_allclose(np.asarray(ours.data), np.outer(out, out.conj()), atol=1e-10)


def test_apply_optics_mode_order_and_identity_elsewhere():
    reg = FockRegister("p", ("a", "b", "c"), 2)
    rng = np.random.default_rng(0)
    psi = rng.normal(size=reg.dim) + 1j * rng.normal(size=reg.dim)
    st = DensityMatrix.from_ket(jnp.asarray(psi / np.linalg.norm(psi)), Space(reg))
    u = np.asarray(C.beam_splitter(0.3, 0.7))
    perm = np.array([[0, 1], [1, 0]])
    one = C.apply_optics(st, "p", u, ("a", "c"))
    two = C.apply_optics(st, "p", perm @ u @ perm, ("c", "a"))
    np.testing.assert_allclose(np.asarray(one.data), np.asarray(two.data), atol=1e-13)
    full = C.embed_unitary(reg, u, ("a", "c"))
    np.testing.assert_allclose(np.asarray(full)[1], [0, 1, 0])


def test_gradients_against_finite_differences():
    reg = FockRegister("p", ("h", "v"), 2)
    two_h = DensityMatrix.basis(Space(reg), reg.index((2, 0)))
    one = DensityMatrix.basis(Space(FockRegister("q", ("a", "b"), 1)), 1)

    def outputs(x):
        theta, phi, r, t = x[0], x[1], x[2], x[3]
        s = C.apply_optics(two_h, "p", C.half_wave_plate(theta), ("h", "v"))
        p_hh = jnp.real(s.data[reg.index((2, 0)), reg.index((2, 0))])  # both stay h: cos^4(2 theta)
        m = C.apply_optics(one, "q", C.beam_splitter(0.5), ("a", "b"))  # Mach-Zehnder: sin^2(phi / 2)
        m = C.apply_optics(m, "q", C.phase_shifter(phi), ("a",))
        m = C.apply_optics(m, "q", C.beam_splitter(0.5), ("a", "b"))
        refl = jnp.real(C.apply_optics(one, "q", C.beam_splitter(r, 0.4), ("a", "b")).data[2, 2])  # = R
        qwp = jnp.abs(C.quarter_wave_plate(t)[0, 1]) ** 2
        return jnp.stack([p_hh, jnp.real(m.data[1, 1]), refl, qwp])

    x0 = jnp.array([0.31, 0.8, 0.3, 0.2])
    f = jax.jit(outputs)
    jac = np.asarray(jax.jit(jax.jacfwd(outputs))(x0))
    vals = np.asarray(f(x0))
    assert vals[0] == pytest.approx(math.cos(0.62) ** 4)
    assert vals[1] == pytest.approx(math.sin(0.4) ** 2)
    assert vals[2] == pytest.approx(0.3)
    assert jac[0, 0] == pytest.approx(-8 * math.cos(0.62) ** 3 * math.sin(0.62), rel=1e-10)
    assert jac[2, 2] == pytest.approx(1.0)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6
        num = (np.asarray(f(x0 + e)) - np.asarray(f(x0 - e))) / 2e-6
        np.testing.assert_allclose(jac[:, i], num, rtol=1e-6, atol=1e-9)


def test_bad_numbers():
    with pytest.raises(ValueError, match=r"`reflectivity` must lie in \[0\.0, 1\.0\], got 1\.3"):
        C.beam_splitter(1.3)
    with pytest.raises(ValueError, match=r"`matrix` must be unitary.*max \|U\^dag U - I\|"):
        C.mode_unitary(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        C.mode_unitary(np.ones((2, 3)))
    with pytest.raises(ValueError, match="angle_rad"):
        C.half_wave_plate(float("nan"))
    reg = FockRegister("p", ("h", "v"), 1)
    st = DensityMatrix.basis(Space(reg), 0)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        C.apply_optics(st, "p", np.eye(3), ("h", "v"))
    with pytest.raises(ValueError, match="Did you mean 'h'"):
        C.apply_optics(st, "p", np.eye(1), ("hh",))


def test_vmap_over_angles():
    us = jax.vmap(C.half_wave_plate)(jnp.linspace(0, 1, 5))
    assert us.shape == (5, 2, 2)
    np.testing.assert_allclose(np.asarray(us[2]), np.asarray(C.half_wave_plate(0.5)), atol=1e-15)


def test_single_precision_inputs_give_single_precision_unitaries():
    f32 = jnp.float32
    for u in (C.half_wave_plate(f32(0.3)), C.beam_splitter(f32(0.3)), C.phase_shifter(f32(0.2))):
        assert u.dtype == jnp.complex64
