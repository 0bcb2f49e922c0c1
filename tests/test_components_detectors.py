"""Detectors: dark clicks, window acceptance, threshold and PNR tables, POVM effects on a register."""

import math

import jax
import numpy as np
import pytest
from scipy import stats

import ionjax.components as C
from ionjax.core import DensityMatrix, FockRegister, Space


def fd(f, x, eps=1e-6):
    f = jax.jit(f)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def test_dark_click_probability():
    r, w = 250.0, 1000.0  # Hz, ns
    assert float(C.dark_click_probability(r, w)) == pytest.approx(1 - math.exp(-r * w * 1e-9), rel=1e-12)
    assert float(C.dark_click_probability(0.0, w)) == 0.0
    g = jax.grad(C.dark_click_probability)(r, w)
    assert float(g) == pytest.approx(w * 1e-9 * math.exp(-r * w * 1e-9), rel=1e-12)


def test_window_acceptance():
    assert float(C.window_acceptance(16.0, 8.0)) == pytest.approx(1 - math.exp(-2))
    g = jax.grad(C.window_acceptance, argnums=1)(16.0, 8.0)
    assert float(g) == pytest.approx(float(fd(lambda t: C.window_acceptance(16.0, t), 8.0)), rel=1e-7)


def test_threshold_tables():
    eta, pd = 0.7, 0.01
    t = np.asarray(C.threshold_outcomes(3, eta, pd))
    for n in range(4):
        assert t[0, n] == pytest.approx((1 - pd) * (1 - eta) ** n)
    np.testing.assert_allclose(t.sum(axis=0), 1.0)


def test_pnr_table_against_binomial_poisson_convolution():
    eta, pd, n_max, k_max = 0.6, 0.05, 3, 4
    tab = np.asarray(C.pnr_count_probabilities(n_max, eta, pd, k_max=k_max))
    lam = -math.log(1 - pd)
    for n in range(n_max + 1):
        pk = [sum(stats.binom.pmf(j, n, eta) * stats.poisson.pmf(k - j, lam) for j in range(k + 1))
              for k in range(k_max)]
        np.testing.assert_allclose(tab[:k_max, n], pk, atol=1e-14)
        assert tab[k_max, n] == pytest.approx(1 - sum(pk))
    assert tab[0, 0] == pytest.approx(1 - pd)  # no dark count: same as threshold


def test_detector_effects_are_complete_and_match_brute_force():
    reg = FockRegister("out", ("c_h", "c_v", "d_h"), 2)
    dets = {"c": ("c_h", "c_v"), "d": ("d_h",)}
    for kind in ("threshold", "pnr"):
        de = C.detector_effects(reg, dets, kind, 0.8, 0.02)
        np.testing.assert_allclose(np.asarray(de.effects).sum(axis=0), 1.0, atol=1e-14)
        assert de.names == ("c", "d")
    de = C.detector_effects(reg, dets, "threshold", 0.8, 0.02)
    t = reg.index((1, 1, 0))  # two photons at c, none at d
    p_click_c = 1 - 0.98 * 0.2**2
    p_dark_d = 0.98
    row = [i for i, o in enumerate(de.outcomes) if tuple(o) == (1, 0)][0]
    assert float(de.effects[row, t]) == pytest.approx(p_click_c * p_dark_d)
    # pattern_effect is the same row
    np.testing.assert_allclose(
        np.asarray(C.pattern_effect(reg, dets, ("c",), "threshold", 0.8, 0.02)), np.asarray(de.effects[row])
    )


def test_pnr_pattern_effect_rejects_two_photons():
    reg = FockRegister("out", ("c", "d"), 2)
    dets = (("c", ("c",)), ("d", ("d",)))
    e = np.asarray(C.pattern_effect(reg, dets, ("c",), "pnr"))
    assert e[reg.index((1, 0))] == 1.0 and e[reg.index((2, 0))] == 0.0
    e = np.asarray(C.pattern_effect(reg, dets, ("c",), "threshold"))
    assert e[reg.index((2, 0))] == 1.0


def test_heralding_with_effects_gives_detection_probabilities():
    reg = FockRegister("out", ("a",), 2)
    st = DensityMatrix.basis(Space(reg), reg.index((2,)))
    eta, pd = 0.5, 0.1

    def p_click(e):
        de = C.detector_effects(reg, {"x": ("a",)}, "threshold", e, pd)
        return st.herald(de.effects[1], on="out")[0]

    assert float(p_click(eta)) == pytest.approx(1 - (1 - pd) * (1 - eta) ** 2)
    assert float(jax.grad(p_click)(eta)) == pytest.approx(2 * (1 - pd) * (1 - eta))
    assert float(jax.grad(p_click)(eta)) == pytest.approx(float(fd(p_click, eta)), rel=1e-7)


def test_pnr_gradient():
    def f(e):
        return C.pnr_count_probabilities(2, e, 0.03)[1, 2]

    assert float(jax.grad(f)(0.4)) == pytest.approx(float(fd(f, 0.4)), rel=1e-7)


def test_bad_numbers():
    with pytest.raises(ValueError, match=r"`efficiency` must lie in \[0\.0, 1\.0\], got 1\.3"):
        C.threshold_no_click(2, 1.3, 0.0)
    with pytest.raises(ValueError, match=r"`efficiency`.*1\.3"):
        C.detector_effects(FockRegister("r", ("a",), 1), {"x": "a"}, "pnr", 1.3, 0.0)
    with pytest.raises(ValueError, match=r"`dark_count_rate_hz`.*-5"):
        C.dark_click_probability(-5.0, 10.0)
    with pytest.raises(ValueError, match="kind"):
        C.detector_effects(FockRegister("r", ("a",), 1), {"x": "a"}, "bolometer")
    with pytest.raises(ValueError, match="Did you mean 'a'"):
        C.detector_effects(FockRegister("r", ("a",), 1), {"x": "aa"})
    with pytest.raises(ValueError, match="not one of the detectors"):
        C.pattern_effect(FockRegister("r", ("a",), 1), {"x": "a"}, ("y",))


def test_window_acceptance_needs_a_positive_lifetime():
    with pytest.raises(ValueError, match=r"`photon_lifetime_ns` must lie in \(0\.0, inf\], got 0\.0"):
        C.window_acceptance(10.0, 0.0)
