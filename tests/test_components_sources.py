"""Sources, partial distinguishability (HOM), loss, frequency-encoding phases, memory waits."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ionjax.components as C
from ionjax.core import (
    DensityMatrix,
    FockRegister,
    Qudit,
    Space,
    apply_loss,
    bell_state,
    extend_register,
    fidelity,
    memory_decay,
    merge_registers,
)


def fd(f, x, eps=1e-6):
    f = jax.jit(f)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def grad(f):
    return jax.jit(jax.grad(f))


S = 1 / np.sqrt(2)


# ----------------------------------------------------------------------------- ideal sources
@pytest.mark.parametrize("encoding", ["polarization", "frequency"])
def test_ion_photon_state_is_ideal(encoding):
    st = C.ion_photon_state(encoding)
    reg = st.space["photon"]
    ket = np.zeros(2 * reg.dim, complex)
    ket[0 * reg.dim + reg.index((1, 0))] = S
    ket[1 * reg.dim + reg.index((0, 1))] = S
    np.testing.assert_allclose(np.asarray(st.data), np.outer(ket, ket.conj()), atol=1e-15)


def test_time_bin_state_pulse_error():
    st = C.time_bin_state(0.0)
    ideal = C.time_bin_state(0.0)
    assert float(jnp.real(jnp.trace(st.data @ ideal.data))) == pytest.approx(1.0)
    eps = 0.1
    bad = C.time_bin_state(eps)
    reg = bad.space["photon"]
    # weight of the good (one-photon) part is sin^2(theta/2), theta = pi (1 + eps)
    one = [reg.index((1, 0)), reg.index((0, 1))]
    diag = np.real(np.diag(np.asarray(bad.data))).reshape(2, reg.dim)
    assert diag[:, one].sum() == pytest.approx(math.sin(math.pi * (1 + eps) / 2) ** 2)
    assert np.trace(np.asarray(bad.data)).real == pytest.approx(1.0)


def test_time_bin_gradient():
    reg = C.time_bin_state(0.0).space["photon"]
    i0, i1 = reg.index((1, 0)), reg.dim + reg.index((0, 1))

    def good(e):  # weight of the entangled one-photon part: sin^2(pi (1 + e) / 2)
        st = C.time_bin_state(e)
        return jnp.real(st.data[i0, i0] + st.data[i1, i1])

    assert float(good(0.1)) == pytest.approx(math.sin(math.pi * 1.1 / 2) ** 2)
    assert float(grad(good)(0.1)) == pytest.approx(float(fd(good, 0.1)), rel=1e-7)


def test_bright_state_source_and_gradient():
    p = 0.1
    st = C.bright_state_source(p)
    d = np.real(np.diag(np.asarray(st.data)))
    assert d[0] == pytest.approx(1 - p) and d[3] == pytest.approx(p)

    def coh(x):
        return jnp.abs(C.bright_state_source(x).data[0, 3])

    assert float(grad(coh)(p)) == pytest.approx(float(fd(coh, p)), rel=1e-6)


def test_ion_photon_fidelity_knob():
    st = C.apply_ion_photon_fidelity(C.ion_photon_state("polarization"), 0.9)
    reg = st.space["photon"]
    ket = np.zeros(2 * reg.dim, complex)
    ket[reg.index((1, 0))] = S
    ket[reg.dim + reg.index((0, 1))] = S
    f = float(np.real(ket.conj() @ np.asarray(st.data) @ ket))
    assert f == pytest.approx(0.9)
    # gradient finite and exact at the ideal point
    g = grad(lambda x: jnp.real(C.apply_ion_photon_fidelity(C.ion_photon_state("polarization"), x).data[1, 5]))
    assert float(g(1.0)) == pytest.approx(1.0)  # coherence 0.5 (2F - 1)


# ----------------------------------------------------------------------------- loss
@pytest.mark.parametrize("n", [1, 3])
def test_loss_of_fock_state_is_binomial(n):
    reg = FockRegister("r", ("x",), 3)
    st = DensityMatrix.basis(Space(reg), reg.index((n,)))
    eta = 0.37
    out = jax.jit(lambda e: apply_loss(st, "r", "x", e))(eta)
    probs = np.real(np.diag(np.asarray(out.data)))
    want = np.zeros(reg.dim)
    for k in range(n + 1):
        want[reg.index((k,))] = stats.binom.pmf(k, n, eta)
    np.testing.assert_allclose(probs, want, atol=1e-14)


def test_emission_loss_two_modes_is_product_binomial():
    reg = FockRegister("photon", ("h", "v"), 3)
    st = DensityMatrix.basis(Space(Qudit("ion"), reg), (0, reg.index((2, 1))))
    eta = 0.6
    out = jax.jit(lambda e: C.apply_emission_loss(st, e))(eta)
    probs = np.real(np.diag(np.asarray(out.ptrace(keep="photon").data)))
    for i, (a, b) in enumerate(reg.basis):
        assert probs[i] == pytest.approx(stats.binom.pmf(a, 2, eta) * stats.binom.pmf(b, 1, eta), abs=1e-14)

    @jax.jit
    def p_vac(x):
        o = C.apply_emission_loss(st, x).ptrace(keep="photon")
        return jnp.real(o.data[0, 0])

    # d/deta (1 - eta)^3 = -3 (1 - eta)^2
    assert float(grad(p_vac)(eta)) == pytest.approx(-3 * (1 - eta) ** 2, rel=1e-9)


# ----------------------------------------------------------------------------- HOM with mode mismatch
@jax.jit
def _hom_coincidence(m):
    pa, pb = FockRegister("pa", ("a",), 1), FockRegister("pb", ("b",), 1)
    st = DensityMatrix.basis(Space(pa, pb), (1, 1))
    st = C.apply_mode_mismatch(st, m, register="pb")  # b -> sqrt(M) b + sqrt(1-M) b_perp
    st = extend_register(st, "pa", ("a" + C.PERP_SUFFIX,))
    st = merge_registers(st, "pa", "pb", "ph")
    reg = st.space["ph"]
    bs = C.beam_splitter(0.5)
    u = jax.scipy.linalg.block_diag(bs, bs)
    st = C.apply_optics(st, "ph", u, ("a", "b", "a_perp", "b_perp"))
    dets = (("c", ("a", "a_perp")), ("d", ("b", "b_perp")))
    eff = C.pattern_effect(reg, dets, ("c", "d"))
    p, _ = st.herald(eff, on="ph")
    return p


@pytest.mark.parametrize("m", [0.0, 0.3, 0.9, 1.0])
def test_hom_coincidence_is_one_minus_overlap_over_two(m):
    assert float(_hom_coincidence(m)) == pytest.approx((1 - m) / 2, abs=1e-12)


def test_hom_gradient_and_visibility():
    assert float(grad(_hom_coincidence)(0.5)) == pytest.approx(-0.5, abs=1e-10)
    # visibility 1 - P(M) / P(0) = M
    for m in (0.2, 0.75):
        assert 1 - float(_hom_coincidence(m)) / float(_hom_coincidence(0.0)) == pytest.approx(m)


def test_hom_gradient_finite_at_full_overlap():
    assert float(grad(_hom_coincidence)(1.0)) == pytest.approx(-0.5, abs=1e-10)


def test_mode_mismatch_preserves_trace_and_grows_register():
    st = C.apply_mode_mismatch(C.ion_photon_state("polarization"), 0.7)
    assert st.space["photon"].modes == ("h", "v", "h_perp", "v_perp")
    assert float(st.trace()) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- frequency encoding
def test_frequency_phase_coherence_matches_gaussian_average():
    df, sigma_ps = 2.0e9, 30.0
    got = float(C.frequency_phase_coherence(df, sigma_ps))
    x, w = np.polynomial.hermite_e.hermegauss(60)  # probabilists' Hermite: weight exp(-x^2/2)
    w = w / w.sum()
    e = sigma_ps * 1e-12 * x
    # two independent detections: E[exp(i 2 pi df (e_a - e_b))]
    avg = np.sum(w[:, None] * w[None, :] * np.exp(1j * 2 * np.pi * df * (e[:, None] - e[None, :])))
    assert got == pytest.approx(avg.real, rel=1e-10)
    assert abs(avg.imag) < 1e-12
    assert got == pytest.approx(math.exp(-((2 * math.pi * df * sigma_ps * 1e-12) ** 2)))
    assert isinstance(C.frequency_phase_coherence(df, sigma_ps), jax.Array)


def test_frequency_phase_coherence_gradient():
    def f(s):
        return C.frequency_phase_coherence(1.0e9, s)

    assert float(grad(f)(50.0)) == pytest.approx(float(fd(f, 50.0, 1e-4)), rel=1e-7)
    assert float(grad(lambda d: C.frequency_phase_coherence(d, 50.0))(1e9)) == pytest.approx(
        float(fd(lambda d: C.frequency_phase_coherence(d, 50.0), 1e9, 1e2)), rel=1e-6
    )


def test_frequency_encoding_identical_nodes_herald_psi_minus_at_all_times():
    """Colour-blind detection of |0>->w0, |1>->w1 photons from identical nodes: always Psi-."""
    f = np.array([0.0, 12.6e9])
    psi_m = bell_state("psi-")
    rng = np.random.default_rng(1)
    dens = []
    for _ in range(20):
        tc, td = rng.uniform(0, 10, 2)
        amp = np.asarray(C.coincidence_amplitudes(tc, td, f, f))
        norm = np.vdot(amp, amp).real
        dens.append(norm)
        assert norm == pytest.approx(2 * np.sin(np.pi * 12.6e9 * (tc - td) * 1e-9) ** 2, abs=1e-9)  # beat
        if norm > 1e-6:
            assert abs(np.vdot(psi_m, amp)) ** 2 / norm == pytest.approx(1.0, abs=1e-9)


def test_distinguishable_colours_give_the_detection_time_phase():
    """Mode-resolving detection, node A's photons offset by df: (|01> - e^{i phi}|10>)/sqrt2."""
    df = 3.0e6
    fa, fb = np.array([df, df + 10e6]), np.array([0.0, 10e6])
    for tc, td in [(1.0, 7.5), (40.0, 3.0)]:
        amp = np.asarray(C.coincidence_amplitudes(tc, td, fa, fb, resolve_modes=True))
        phi = float(C.frequency_heralded_phase_rad(df, tc, td))
        want = np.array([0, 1, -np.exp(1j * phi), 0]) / np.sqrt(2)
        assert abs(np.vdot(want, amp)) ** 2 / np.vdot(amp, amp).real == pytest.approx(1.0, abs=1e-12)


def test_frequency_bad_values():
    with pytest.raises(ValueError, match=r"`timing_jitter_ps`.*-1\.0"):
        C.frequency_phase_coherence(1e9, -1.0)
    with pytest.raises(ValueError, match="frequencies_a_hz"):
        C.coincidence_amplitudes(0.0, 1.0, [0.0], [0.0, 1.0])


# ----------------------------------------------------------------------------- memory
def test_memory_wait_matches_core_channel_and_analytics():
    plus = DensityMatrix.from_ket(jnp.array([S, S]), Space(Qudit("ion")))
    t, t1, t2 = 0.3, 2.0, 1.0
    out = C.memory_wait(plus, "ion", t, t1, t2)
    assert float(jnp.abs(out.data[0, 1])) == pytest.approx(0.5 * math.exp(-t / t2))
    assert float(jnp.real(out.data[1, 1])) == pytest.approx(0.5 * math.exp(-t / t1))
    ref = plus.apply_kraus(memory_decay(t, t1, t2), on="ion")
    np.testing.assert_allclose(np.asarray(out.data), np.asarray(ref.data), atol=1e-14)


def test_memory_wait_two_ions_and_gradient_at_zero():
    psi = DensityMatrix.from_ket(jnp.asarray(bell_state("psi+")), Space(Qudit("a"), Qudit("b")))

    def f(t):
        return fidelity(C.memory_wait(psi, ("a", "b"), t, np.inf, 1.0), jnp.asarray(bell_state("psi+")))

    assert float(f(0.2)) == pytest.approx((1 + math.exp(-0.4)) / 2)
    assert float(grad(f)(0.0)) == pytest.approx(-1.0, rel=1e-6)  # d/dt (1 + e^{-2t})/2 at 0
    assert float(grad(f)(0.2)) == pytest.approx(float(fd(f, 0.2)), rel=1e-6)


def test_memory_wait_bad_values():
    st = C.ion_photon_state("polarization")
    with pytest.raises(ValueError, match=r"`wait_s`.*-1"):
        C.memory_wait(st, "ion", -1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"t2_s <= 2 \* t1_s"):
        C.memory_wait(st, "ion", 1.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="qubit"):
        C.memory_wait(st, "photon", 1.0)


def test_mode_overlap_out_of_range():
    with pytest.raises(ValueError, match=r"`mode_overlap`.*\[0\.0, 1\.0\].*1\.2"):
        C.apply_mode_mismatch(C.ion_photon_state("polarization"), 1.2)


def test_vmap_frequency_coherence():
    out = jax.vmap(C.frequency_phase_coherence, in_axes=(None, 0))(1e9, jnp.array([0.0, 10.0, 100.0]))
    np.testing.assert_allclose(np.asarray(out), np.exp(-((2 * np.pi * 1e9 * np.array([0, 10, 100]) * 1e-12) ** 2)))
