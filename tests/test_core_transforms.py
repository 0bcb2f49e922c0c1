"""jit / vmap / grad agree with eager code and finite differences; a complex64 subset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ionjax.core import (
    DensityMatrix,
    FockRegister,
    Qudit,
    Space,
    amplitude_damping,
    apply_loss,
    apply_superop,
    beam_splitter_unitary,
    bell_state,
    concurrence,
    dephasing,
    dephasing_superop,
    depolarizing,
    fidelity,
    lift_unitary,
    loss_kraus,
    memory_decay,
    memory_decay_superop,
    negativity,
    occupation,
    trace_distance,
    von_neumann_entropy,
)

REG = FockRegister("light", ("a", "b"), 2)
SPACE = Space(Qudit("ion"), REG)
QQ = Space(Qudit("A"), Qudit("B"))
PHI = bell_state("phi+")
PSI = bell_state("psi+")


def rand_dm(d, seed, rank=None):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(d, rank or d)) + 1j * rng.normal(size=(d, rank or d))
    r = g @ g.conj().T
    return r / np.trace(r).real


def central_diff(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / (2 * h)


def ion_photon_pair():
    """(|0>|1,0> + |1>|0,1>)/sqrt2: an ion entangled with which mode its photon is in."""
    psi = np.zeros(SPACE.dim, complex)
    psi[SPACE.dims[1] * 0 + REG.index((1, 0))] = 1
    psi[SPACE.dims[1] * 1 + REG.index((0, 1))] = 1
    return DensityMatrix.from_ket(psi / np.sqrt(2), SPACE)


def pipeline(data, p, eta, r):
    """Linear optics, loss, ion dephasing, herald on 'one photon in a': a small link in miniature."""
    s = DensityMatrix(data, SPACE)
    s = s.apply_unitary(lift_unitary(REG, beam_splitter_unitary(r)), "light")
    s = apply_loss(s, "light", "a", eta)
    s = s.apply_kraus(dephasing(p), "ion")
    click = (occupation(REG, "a") == 1).astype(float)
    prob, ion = s.herald(click, "light")
    return prob, fidelity(ion, np.array([1, 1]) / np.sqrt(2)), von_neumann_entropy(ion)


pipeline_jit = jax.jit(pipeline)


# ---------------------------------------------------------------- jit / vmap


def test_jit_matches_eager():
    data = ion_photon_pair().data * 0.9 + 0.1 * rand_dm(SPACE.dim, 0)
    args = (np.float64(0.1), np.float64(0.7), np.float64(0.3))
    eager = pipeline(data, *args)
    comp = pipeline_jit(data, *args)
    for e, c in zip(eager, comp):
        np.testing.assert_allclose(np.asarray(c), np.asarray(e), atol=1e-13)
    # the physics: p = eta * (R/2 + T/2) = eta / 2 ; with R = 1/2 the which-path info is erased
    prob, fid, _ = pipeline_jit(ion_photon_pair().data, np.float64(0.0), np.float64(0.7), np.float64(0.5))
    assert float(prob) == pytest.approx(0.35, abs=1e-14)
    assert float(fid) == pytest.approx(1.0, abs=1e-14)


def test_vmap_over_batched_data_and_parameters():
    batch = np.stack([rand_dm(SPACE.dim, s) for s in range(4)])
    ps = np.linspace(0.0, 0.5, 4)
    etas = np.linspace(0.2, 1.0, 4)
    rs = np.full(4, 0.3)
    out = jax.jit(jax.vmap(pipeline))(batch, ps, etas, rs)
    for i in range(4):
        one = pipeline_jit(batch[i], ps[i], etas[i], rs[i])
        for o, x in zip(out, one):
            np.testing.assert_allclose(np.asarray(o)[i], np.asarray(x), atol=1e-13)
    # vmap over a channel parameter only, on one state, against the closed form
    bell = DensityMatrix.from_ket(PHI, QQ)
    vals = jax.jit(jax.vmap(lambda t: fidelity(bell.apply_kraus(memory_decay(t, 1.0, 0.5), "B"), PHI)))(ps)
    # F = (<00|rho|00> + <11|rho|11>)/2 + Re<00|rho|11> = (1 + e^{-t/T1})/4 + e^{-t/T2}/2
    np.testing.assert_allclose(np.asarray(vals), (1 + np.exp(-ps / 1.0)) / 4 + np.exp(-ps / 0.5) / 2, atol=1e-13)


def test_batched_state_data_maps_over_leading_axes():
    batch = np.stack([[rand_dm(4, 3 * i + j) for j in range(3)] for i in range(2)])  # (2, 3, 4, 4)
    dm = DensityMatrix(batch, QQ)
    assert dm.batch_shape == (2, 3)
    k = depolarizing(0.3)
    out = dm.apply_kraus(k, "B")
    u_batch = np.stack([np.linalg.qr(rand_dm(2, 40 + j))[0] for j in range(3)])  # (3, 2, 2) broadcasts
    uo = dm.apply_unitary(u_batch, "A")
    for i in range(2):
        for j in range(3):
            one = DensityMatrix(batch[i, j], QQ)
            np.testing.assert_allclose(out.data[i, j], one.apply_kraus(k, "B").data, atol=1e-14)
            np.testing.assert_allclose(uo.data[i, j], one.apply_unitary(u_batch[j], "A").data, atol=1e-14)
            np.testing.assert_allclose(dm.ptrace(keep="A").data[i, j], one.ptrace(keep="A").data, atol=1e-14)
    np.testing.assert_allclose(out.trace(), np.ones((2, 3)), atol=1e-14)
    f = fidelity(out, PHI)
    assert f.shape == (2, 3)
    assert float(f[1, 2]) == pytest.approx(float(fidelity(out.data[1, 2], PHI)), abs=1e-14)
    # batched density matrices against one target matrix: read as a matrix, not as a batch of kets
    target = np.outer(PHI, PHI.conj())
    np.testing.assert_allclose(fidelity(out.data, target), f, atol=1e-10)
    assert negativity(out).shape == (2, 3) and concurrence(out).shape == (2, 3)
    # jit and vmap straight over the DensityMatrix pytree
    vm = jax.jit(jax.vmap(lambda s: s.apply_kraus(k, "B")))(DensityMatrix(batch[0], QQ))
    np.testing.assert_allclose(vm.data, out.data[0], atol=1e-14)
    assert vm.space == QQ


# ---------------------------------------------------------------- gradients vs finite differences


def value_and_grad(f):
    """One compiled program per function: values for finite differences and the reverse-mode gradient."""
    vg = jax.jit(jax.value_and_grad(f))

    def call(x):
        v, g = vg(np.float64(x))
        return float(v), float(g)

    return call


def check_grad(vg, x, rtol=1e-6, atol=1e-8, h=1e-5):
    """``vg`` from value_and_grad: gradient at x against central differences; returns (value, gradient)."""
    v, g = vg(x)
    fd = (vg(x + h)[0] - vg(x - h)[0]) / (2 * h)
    assert np.isfinite(g)
    assert g == pytest.approx(fd, rel=rtol, abs=atol)
    return v, g


def test_grad_of_fidelity_after_dephasing():
    bell = DensityMatrix.from_ket(PHI, QQ)
    f = value_and_grad(lambda p: fidelity(bell.apply_kraus(dephasing(p), "A"), PHI))
    v, g = check_grad(f, 0.2)
    assert v == pytest.approx(0.8, abs=1e-14) and g == pytest.approx(-1.0, abs=1e-12)  # F = 1 - p
    mixed = DensityMatrix(0.7 * bell.data + 0.3 * rand_dm(4, 1), QQ)
    target = rand_dm(4, 2)
    fm = value_and_grad(lambda p: fidelity(mixed.apply_kraus(dephasing(p), "B"), target))
    check_grad(fm, 0.3)
    # Kraus form at the ideal point p = 0: finite, not NaN
    assert np.isfinite(fm(0.0)[1])
    # superoperator form: the same channel, and an exact gradient at p = 0 too
    fs = value_and_grad(lambda p: fidelity(apply_superop(mixed, dephasing_superop(p), "B"), target))
    assert fs(0.3)[0] == pytest.approx(fm(0.3)[0], abs=1e-13)
    assert fs(0.3)[1] == pytest.approx(fm(0.3)[1], rel=1e-9)
    check_grad(fs, 0.0)


def test_grad_of_memory_decay_with_only_t2():
    # t1 = inf: the relaxation probability is identically 0; its Kraus root must not poison the gradient
    bell = DensityMatrix.from_ket(PHI, QQ)
    f = value_and_grad(lambda t: fidelity(bell.apply_kraus(memory_decay(t, jnp.inf, 2.0), "A"), PHI))
    _, g = check_grad(f, 0.5)
    assert g == pytest.approx(-0.5 * np.exp(-0.25) / 2.0, rel=1e-10)  # F = (1 + e^{-t/T2}) / 2
    _, g2 = check_grad(value_and_grad(lambda t: fidelity(bell.apply_kraus(memory_decay(t, 1.0, 0.5), "A"), PHI)), 0.3)
    sup = value_and_grad(lambda t: fidelity(apply_superop(bell, memory_decay_superop(t, 1.0, 0.5), "A"), PHI))
    assert g2 == pytest.approx(sup(0.3)[1], rel=1e-10)


def test_grad_of_herald_probability_wrt_eta():
    st = DensityMatrix(0.8 * ion_photon_pair().data + 0.2 * rand_dm(SPACE.dim, 5), SPACE)
    click = (occupation(REG, "a") >= 1).astype(float)
    p_click = value_and_grad(lambda eta: apply_loss(st, "light", "a", eta).herald(click, "light")[0])
    v, g = check_grad(p_click, 0.6)
    # at eta = 0 and eta = 1 the elementwise form has finite gradients matching one-sided differences
    h = 1e-6
    assert p_click(1.0)[1] == pytest.approx((p_click(1.0)[0] - p_click(1.0 - h)[0]) / h, rel=1e-5)
    assert p_click(0.0)[1] == pytest.approx((p_click(h)[0] - p_click(0.0)[0]) / h, rel=1e-5)
    # Kraus form gives the same value and gradient in the interior
    pk = value_and_grad(lambda eta: st.apply_kraus(loss_kraus(REG, "a", eta), "light").herald(click, "light")[0])
    assert pk(0.6)[0] == pytest.approx(v, abs=1e-14)
    assert pk(0.6)[1] == pytest.approx(g, rel=1e-10)


def test_grad_of_lift_unitary_wrt_reflectivity():
    i11, i20 = REG.index((1, 1)), REG.index((2, 0))
    bunch = value_and_grad(lambda r: jnp.abs(lift_unitary(REG, beam_splitter_unitary(r))[i20, i11]) ** 2)
    for r in (0.2, 0.5, 0.8):
        v, g = check_grad(bunch, r)
        assert v == pytest.approx(2 * r * (1 - r), abs=1e-14)
        assert g == pytest.approx(2 - 4 * r, abs=1e-10)
    # derivative of the whole (complex) lifted matrix, forward mode, vs finite differences
    lift_r = jax.jit(lambda r: lift_unitary(REG, beam_splitter_unitary(r, 0.4)))
    jac = np.asarray(jax.jit(jax.jacfwd(lift_r))(np.float64(0.3)))
    np.testing.assert_allclose(jac, np.asarray(central_diff(lift_r, np.float64(0.3))), atol=1e-8)


def test_grad_of_metrics_between_mixed_states():
    a, b, c = rand_dm(4, 11), rand_dm(4, 12), rand_dm(4, 13)
    bell = np.outer(PSI, PSI.conj())

    def metrics(x):
        return jnp.stack([
            von_neumann_entropy((1 - x) * a + x * b),
            concurrence((1 - x) * bell + x * a),
            fidelity((1 - x) * a + x * b, c),  # Uhlmann fidelity between full-rank mixed states
            fidelity(c, (1 - x) * a + x * b),
            negativity((1 - x) * bell + x * a),
            trace_distance((1 - x) * a + x * b, c),
        ])

    f = jax.jit(metrics)
    jac = jax.jit(jax.jacrev(metrics))
    for x in (0.3, 0.7):
        assert float(concurrence(0.7 * bell + 0.3 * a)) > 0.05  # not at the max(0, .) kink
        g = np.asarray(jac(x))
        fd = np.asarray(central_diff(f, x))
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
        assert np.all(np.abs(g) > 1e-3)  # every metric actually depends on x here


def test_gradients_finite_at_pure_and_rank_deficient_states():
    pure = np.outer(PHI, PHI.conj())
    r2 = rand_dm(4, 21, rank=2)
    mixed = rand_dm(4, 22)

    def cases(x):
        return jnp.stack([
            fidelity((1 - x) * mixed + x * r2, pure),  # the target is pure, as a matrix
            fidelity((1 - x) * mixed + x * r2, PHI),  # ... and as a ket
            fidelity((1 - x) * r2 + x * mixed, pure),  # both rank-deficient at x = 0
            fidelity(pure, (1 - x) * r2 + x * mixed),
            fidelity((1 - x) * pure + x * np.outer(PSI, PSI.conj()), pure),  # pure vs pure
            concurrence((1 - x) * pure + x * mixed),
            von_neumann_entropy((1 - x) * pure + x * mixed),
            negativity((1 - x) * pure + x * mixed),
            concurrence((1 - x) * pure + x * np.eye(4) / 4),
        ])

    g = np.asarray(jax.jit(jax.jacrev(cases))(np.float64(0.0)))
    assert np.all(np.isfinite(g)), g
    # where the derivative exists it is right: F(rho_x, |phi+>) is linear in x
    want = float(np.real(PHI.conj() @ (r2 - mixed) @ PHI))
    assert g[0] == pytest.approx(want, rel=1e-8)
    assert g[1] == pytest.approx(want, rel=1e-12)
    # |<phi+|rho_x|phi+>| for a pure-state mixture: F = 1 - x
    assert g[4] == pytest.approx(-1.0, abs=1e-6)
    # concurrence of (1-x) Phi+ + x I/4 is 1 - 3x/4 - 3|x|/4 (the three small l_i are sqrt(x^2/16)):
    # at the pure point the gradient is the mean of the one-sided slopes -3/2 and 0
    assert g[8] == pytest.approx(-0.75, rel=1e-8)


# ---------------------------------------------------------------- complex64


def test_complex64_pipeline_keeps_precision_and_agrees():
    data64 = (0.9 * ion_photon_pair().data + 0.1 * rand_dm(SPACE.dim, 3)).astype(jnp.complex64)
    f32 = np.float32
    out32 = pipeline_jit(data64, f32(0.1), f32(0.7), f32(0.3))
    out64 = pipeline_jit(np.asarray(data64, np.complex128), np.float64(0.1), np.float64(0.7), np.float64(0.3))
    for a, b in zip(out32, out64):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5)


def _ops_suite(rho, p):
    dm = DensityMatrix(rho, QQ)
    x = np.array([[0, 1], [1, 0]], complex)  # numpy complex128: must not promote a complex64 state
    other = rand_dm(4, 8).astype(np.complex64)
    states = [
        dm.apply_kraus(dephasing(p), "A"),
        dm.apply_kraus(amplitude_damping(p), "B"),
        dm.apply_kraus(memory_decay(p, 1.0, 0.5), "B"),
        dm.apply_kraus(depolarizing(p), "A"),
        dm.apply_unitary(x, "A"),
        dm.herald(np.array([1.0, 0.0]), "A")[1],
    ]
    reals = [
        concurrence(dm), von_neumann_entropy(dm), negativity(dm), fidelity(dm, PHI), fidelity(dm, other),
        trace_distance(dm, other), dm.herald(np.array([1.0, 0.0]), "A")[0],
    ]
    return [s.data for s in states] + [dm.ptrace(keep="B").data, dm.expect(np.diag([1.0, -1.0]), "A")], reals


ops_suite = jax.jit(_ops_suite)


def test_complex64_operations_stay_complex64():
    rho = rand_dm(4, 7)
    mats32, reals32 = ops_suite(jnp.asarray(rho, jnp.complex64), np.float32(0.2))
    mats64, reals64 = ops_suite(jnp.asarray(rho, jnp.complex128), np.float64(0.2))
    for a, b in zip(mats32, mats64):
        assert a.dtype == jnp.complex64 and b.dtype == jnp.complex128
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    for a, b in zip(reals32, reals64):
        assert a.dtype == jnp.float32 and b.dtype == jnp.float64
        assert float(a) == pytest.approx(float(b), abs=1e-5)
    assert float(reals64[0]) > 0.0 or float(reals64[2]) >= 0.0


@jax.jit
def _fock_suite(data, eta, r):
    st = DensityMatrix(data, SPACE)
    big = lift_unitary(REG, beam_splitter_unitary(r, 0.2 * jnp.ones_like(r)))
    lo = apply_loss(st, "light", "a", eta).apply_unitary(big, "light")
    lk = st.apply_kraus(loss_kraus(REG, "a", eta), "light").apply_unitary(big, "light")
    g = jax.grad(lambda x: jnp.abs(lift_unitary(REG, beam_splitter_unitary(x))[3, 4]) ** 2)(r)
    return big, lo.data, lk.data, g


def test_complex64_fock():
    data = ion_photon_pair().data
    b32, lo32, lk32, g32 = _fock_suite(data.astype(jnp.complex64), np.float32(0.6), np.float32(0.3))
    b64, lo64, lk64, g64 = _fock_suite(data, np.float64(0.6), np.float64(0.3))
    for a, b in ((b32, b64), (lo32, lo64), (lk32, lk64)):
        assert a.dtype == jnp.complex64
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    np.testing.assert_allclose(np.asarray(lo64), np.asarray(lk64), atol=1e-14)
    assert g32.dtype == jnp.float32
    assert float(g32) == pytest.approx(2 - 4 * 0.3, abs=1e-5)
    assert float(g64) == pytest.approx(2 - 4 * 0.3, abs=1e-12)
