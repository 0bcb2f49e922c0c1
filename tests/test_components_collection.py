"""Collection optics: NA -> collected sigma/pi fractions and polarization mixing, against quadrature."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import ionjax.components as C
from ionjax.core import fidelity


def fd(f, x, eps=1e-6):
    f = jax.jit(f)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


LAB = {"sigma+": np.array([1, 1j, 0]) / np.sqrt(2), "sigma-": np.array([1, -1j, 0]) / np.sqrt(2),
       "pi": np.array([0, 0, 1], complex)}
# lens frames (X, Y, L) as lab vectors
FRAMES = {
    "parallel": (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])),
    "perpendicular": (np.array([0, 0, 1.0]), np.array([0, -1.0, 0]), np.array([1.0, 0, 0])),
}


def _direction(axis, a, b):
    x, y, lz = FRAMES[axis]
    n = math.sin(a) * math.cos(b) * x + math.sin(a) * math.sin(b) * y + math.cos(a) * lz
    ea = math.cos(a) * math.cos(b) * x + math.cos(a) * math.sin(b) * y - math.sin(a) * lz
    eb = -math.sin(b) * x + math.cos(b) * y
    return n, ea, eb


def _pattern_fraction(d, axis, na):
    """3/(8 pi) * integral over the cone of |d - (d.n) n|^2, by scipy dblquad."""
    tm = math.asin(na)

    def f(b, a):
        n, _, _ = _direction(axis, a, b)
        return 3 / (8 * np.pi) * (1 - abs(np.dot(d, n)) ** 2) * math.sin(a)

    return integrate.dblquad(f, 0, tm, 0, 2 * np.pi, epsabs=1e-12, epsrel=1e-12)[0]


@pytest.mark.parametrize("axis", ["parallel", "perpendicular"])
@pytest.mark.parametrize("na", [0.2, 0.6, 0.9])
def test_collected_fractions_match_quadrature(axis, na):
    got = C.collected_fractions(na, axis)
    assert float(got.sigma) == pytest.approx(_pattern_fraction(LAB["sigma+"], axis, na), rel=1e-9)
    assert float(got.pi) == pytest.approx(_pattern_fraction(LAB["pi"], axis, na), rel=1e-9)
    assert float(C.collection_efficiency_from_na(na, axis)) == pytest.approx(float(got.sigma))


def test_full_sphere_limits_and_small_na():
    c = C.collected_fractions(1 - 1e-15)
    assert float(c.sigma) == pytest.approx(0.5, abs=1e-6) and float(c.pi) == pytest.approx(0.5, abs=1e-6)
    na = 1e-3
    assert float(C.collection_efficiency_from_na(na)) == pytest.approx(3 * na**2 / 8, rel=1e-5)
    assert float(C.collected_fractions(0.0).sigma) == 0.0


def _jones(d, axis, a, b):
    """Collimated field (lens X, Y components) after an aplanatic lens, computed from the far field."""
    _, ea, eb = _direction(axis, a, b)
    return np.dot(d, ea) * np.array([math.cos(b), math.sin(b)]) + np.dot(d, eb) * np.array([-math.sin(b), math.cos(b)])


def _g_quadrature(d1, d2, axis, na):
    tm = math.asin(na)

    def inner(a):
        def f(b):
            j1, j2 = _jones(d1, axis, a, b), _jones(d2, axis, a, b)
            m = np.outer(j1, j2.conj()) * 3 / (8 * np.pi) * math.sin(a)
            return np.concatenate([m.real.ravel(), m.imag.ravel()])

        return integrate.quad_vec(f, 0, 2 * np.pi, epsabs=1e-13, epsrel=1e-11)[0]

    v = integrate.quad_vec(inner, 0, tm, epsabs=1e-13, epsrel=1e-11)[0]
    return (v[:4] + 1j * v[4:]).reshape(2, 2)


@pytest.mark.parametrize(
    "transitions,axis,na",
    [(("sigma+", "sigma-"), "parallel", 0.6), (("sigma+", "pi"), "perpendicular", 0.5), (("pi", "sigma-"),
                                                                                        "perpendicular", 0.7)],
)
def test_polarization_blocks_match_quadrature(transitions, axis, na):
    got = np.asarray(C.collected_polarization(na, transitions, axis))
    dl = [LAB[t] for t in transitions]
    x, y, _ = FRAMES[axis]
    par = [np.array([np.dot(d, x), np.dot(d, y)]) for d in dl]
    w = np.stack([(p / np.linalg.norm(p)).conj() for p in par])
    for k in range(2):
        for kk in range(2):
            want = w @ _g_quadrature(dl[k], dl[kk], axis, na) @ w.conj().T
            np.testing.assert_allclose(got[k, kk], want, atol=1e-10)


def test_state_fidelity_closed_form_and_small_na_limit():
    na = 0.6
    c = math.sqrt(1 - na**2)
    a, b = (8 - (1 + c) ** 3) / 16, (1 - c) ** 3 / 16
    assert float(C.ion_photon_fidelity_from_na(na)) == pytest.approx(a / (a + b), rel=1e-12)
    assert float(C.ion_photon_fidelity_from_na(0.6)) == pytest.approx(0.99632, abs=1e-5)
    assert 1 - float(C.ion_photon_fidelity_from_na(0.05)) == pytest.approx(0.05**4 / 48, rel=0.01)
    cg = (math.sqrt(2 / 3), math.sqrt(1 / 3))  # P1/2 m=+1/2 decay, seen from the side: balanced
    side = C.ion_photon_fidelity_from_na(1e-3, ("sigma+", "pi"), "perpendicular", cg)
    assert float(side) == pytest.approx(1, abs=1e-6)
    # cross-check the knob against the core metric
    st = C.collected_ion_photon_state(0.4)
    ket = np.zeros(6, complex)
    ket[1] = ket[5] = 1 / np.sqrt(2)
    assert float(fidelity(st, jnp.asarray(ket))) == pytest.approx(float(C.ion_photon_fidelity_from_na(0.4)))


def test_state_with_vacuum_is_a_density_matrix_and_keeps_the_ion_marginal():
    for transitions, axis, amps in [(("sigma+", "sigma-"), "parallel", (0.6, 0.8)),
                                    (("sigma+", "pi"), "perpendicular", (math.sqrt(2 / 3), math.sqrt(1 / 3)))]:
        st = C.collected_ion_photon_state(0.7, transitions, axis, amps, include_vacuum=True)
        rho = np.asarray(st.data)
        assert np.trace(rho).real == pytest.approx(1.0)
        assert np.allclose(rho, rho.conj().T)
        assert np.linalg.eigvalsh(rho).min() > -1e-12
        ion = np.asarray(st.ptrace(keep="ion").data)
        # all the light, collected or not, carries orthogonal dipoles: the ion ends in a mixture
        np.testing.assert_allclose(ion, np.diag(np.abs(amps) ** 2), atol=1e-12)
        p_coll = np.trace(np.asarray(st.ptrace(keep="photon").data)[1:, 1:]).real
        fr = C.collected_fractions(0.7, axis)
        frs = [float(fr.sigma) if t.startswith("sigma") else float(fr.pi) for t in transitions]
        assert p_coll == pytest.approx(sum(a**2 * f for a, f in zip(amps, frs)))


def test_gradients_against_finite_differences():
    for axis in ("parallel", "perpendicular"):
        for part in ("sigma", "pi"):
            def f(x, axis=axis, part=part):
                return getattr(C.collected_fractions(x, axis), part)

            assert float(jax.grad(f)(0.5)) == pytest.approx(float(fd(f, 0.5)), rel=1e-7)

    def fid(x):
        return C.ion_photon_fidelity_from_na(x)

    assert float(jax.jit(jax.grad(fid))(0.6)) == pytest.approx(float(fd(fid, 0.6)), rel=1e-6)


@pytest.mark.parametrize("na", [1.0, 1.3, -0.1, float("nan")])
def test_bad_numerical_aperture(na):
    with pytest.raises(ValueError, match=r"`na` must lie in \[0\.0, 1\.0\)"):
        C.collected_fractions(na)
    with pytest.raises(ValueError, match="`na`"):
        C.collected_ion_photon_state(na)


def test_bad_structure():
    with pytest.raises(ValueError, match="same paraxial polarization"):
        C.collected_ion_photon_state(0.5, ("sigma+", "sigma-"), "perpendicular")
    with pytest.raises(ValueError, match="does not radiate along the lens axis"):
        C.collected_ion_photon_state(0.5, ("sigma+", "pi"), "parallel")
    with pytest.raises(ValueError, match="axis"):
        C.collected_fractions(0.5, "sideways")
    with pytest.raises(ValueError, match=r"`amplitudes`.*sum"):
        C.collected_ion_photon_state(0.5, amplitudes=(1.0, 1.0))
    with pytest.raises(ValueError, match="`na`.*0.0"):
        C.collected_ion_photon_state(0.0)


def test_vmap_over_numerical_aperture():
    nas = jnp.linspace(0.1, 0.8, 4)
    fr = jax.vmap(C.collected_fractions)(nas)
    assert fr.sigma.shape == (4,)
    assert float(fr.pi[2]) == pytest.approx(float(C.collected_fractions(nas[2]).pi))
    fids = jax.vmap(C.ion_photon_fidelity_from_na)(nas)
    assert np.all(np.diff(np.asarray(fids)) < 0)  # more aperture, more mixing
