"""Photon-number-bounded Fock register: basis, ladder operators, exact linear optics, loss."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from ionjax.core import (
    DensityMatrix,
    FockRegister,
    Qudit,
    Space,
    annihilation,
    apply_loss,
    beam_splitter_unitary,
    creation,
    fock_basis,
    lift_unitary,
    loss_kraus,
    number,
    occupation,
    phase_shifter_unitary,
)

EXACT = 1e-14

# Compiled once per (register, shape): eager JAX would compile every small primitive separately.
apply_loss = jax.jit(apply_loss, static_argnames=("register", "mode"))
loss_kraus = jax.jit(loss_kraus, static_argnums=(0, 1))
lift_unitary = jax.jit(lift_unitary, static_argnums=0)


def random_unitary(m, seed):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
    h = (h + h.conj().T) / 2
    return h, scipy.linalg.expm(-1j * h)


def ket(reg, occ):
    v = np.zeros(reg.dim, complex)
    v[reg.index(occ)] = 1.0
    return v


# ---------------------------------------------------------------- basis


def test_basis_order_is_documented_one():
    assert [tuple(r) for r in fock_basis(2, 2)] == [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    reg = FockRegister("r", ("a", "b", "c", "d"), 2)
    assert reg.dim == math.comb(6, 2) == len(reg.basis) == 15
    assert FockRegister("r", tuple("abcdefgh"), 2).dim == 45
    # single-photon states come in mode order
    assert [reg.index({m: 1}) for m in reg.modes] == [1, 2, 3, 4]
    assert all(reg.index(tuple(row)) == i for i, row in enumerate(reg.basis))
    totals = reg.basis.sum(axis=1)
    assert np.all(np.diff(totals) >= 0) and totals.max() == 2


# ---------------------------------------------------------------- ladder operators


@pytest.mark.parametrize("n_modes,n_max", [(1, 4), (2, 3), (3, 2)])
def test_number_is_adag_a_exactly(n_modes, n_max):
    reg = FockRegister("r", tuple(f"m{i}" for i in range(n_modes)), n_max)
    total = np.zeros((reg.dim, reg.dim))
    for k, m in enumerate(reg.modes):
        a, ad = annihilation(reg, m), creation(reg, m)
        np.testing.assert_array_equal(ad, a.T)
        np.testing.assert_allclose(ad @ a, number(reg, m), atol=EXACT, rtol=0)
        np.testing.assert_array_equal(np.diag(number(reg, m)), reg.basis[:, k])
        total += number(reg, m)
        # [a, a^dag] = 1 on every state below the top block (the top block is truncated)
        below = reg.basis.sum(axis=1) < n_max
        comm = a @ ad - ad @ a
        np.testing.assert_allclose(comm[np.ix_(below, below)], np.eye(below.sum()), atol=EXACT, rtol=0)
    np.testing.assert_array_equal(np.diag(total), occupation(reg, reg.modes))
    np.testing.assert_array_equal(np.diag(total), reg.basis.sum(axis=1))


def test_annihilation_matrix_elements():
    reg = FockRegister("r", ("a", "b"), 3)
    a = annihilation(reg, "a")
    b = annihilation(reg, "b")
    np.testing.assert_allclose(a @ ket(reg, (3, 0)), np.sqrt(3) * ket(reg, (2, 0)), atol=EXACT)
    np.testing.assert_allclose(b @ ket(reg, (1, 2)), np.sqrt(2) * ket(reg, (1, 1)), atol=EXACT)
    np.testing.assert_allclose(a @ ket(reg, (0, 2)), 0.0, atol=EXACT)
    np.testing.assert_allclose(a @ b - b @ a, 0.0, atol=EXACT)  # different modes commute
    np.testing.assert_allclose(creation(reg, "b") @ ket(reg, (1, 1)), np.sqrt(2) * ket(reg, (1, 2)), atol=EXACT)
    np.testing.assert_allclose(creation(reg, "b") @ ket(reg, (1, 2)), 0.0, atol=EXACT)  # past n_max
    np.testing.assert_array_equal(occupation(reg, "b"), reg.basis[:, 1])


# ---------------------------------------------------------------- linear optics


def test_hong_ou_mandel_convention_exact():
    reg = FockRegister("r", ("a", "b"), 2)
    out = lift_unitary(reg, beam_splitter_unitary(0.5)) @ ket(reg, (1, 1))
    want = (ket(reg, (2, 0)) - ket(reg, (0, 2))) / np.sqrt(2)
    np.testing.assert_allclose(np.asarray(out), want, atol=EXACT, rtol=0)
    # and the coincidence probability is exactly zero through herald with a number-resolving effect
    space = Space(Qudit("ion"), reg)
    st = DensityMatrix.from_ket(np.kron([1, 0], ket(reg, (1, 1))), space)
    st = st.apply_unitary(lift_unitary(reg, beam_splitter_unitary(0.5)), "r")
    coinc = (reg.basis[:, 0] == 1) & (reg.basis[:, 1] == 1)
    p, _ = st.herald(coinc.astype(float), "r")
    assert abs(float(p)) < 1e-15
    p20, _ = st.herald((reg.basis[:, 0] == 2).astype(float), "r")
    assert float(p20) == pytest.approx(0.5, abs=EXACT)


def test_beam_splitter_one_photon_block_and_unitarity():
    for r, phi in [(0.5, 0.0), (0.2, 0.7), (0.9, -2.1)]:
        u = np.asarray(beam_splitter_unitary(r, phi))
        np.testing.assert_allclose(u @ u.conj().T, np.eye(2), atol=EXACT)
        assert abs(u[1, 0]) ** 2 == pytest.approx(r, abs=EXACT)
        reg = FockRegister("r", ("a", "b"), 3)
        big = np.asarray(lift_unitary(reg, u))
        np.testing.assert_allclose(big[1:3, 1:3], u, atol=EXACT)
        np.testing.assert_allclose(big[0, 0], 1.0, atol=EXACT)


def test_phase_shifter_lift_is_exp_i_n_phi():
    reg = FockRegister("r", ("a",), 4)
    big = np.asarray(lift_unitary(reg, phase_shifter_unitary(0.3)))
    np.testing.assert_allclose(big, np.diag(np.exp(1j * 0.3 * np.arange(5))), atol=EXACT)


def per_mode_cutoff_lift(h, n_max):
    """expm(-i sum_ij H_ij a_i^dag a_j) on a per-mode-cutoff space (each mode 0..n_max)."""
    m = h.shape[0]
    c = n_max + 1
    a1 = np.diag(np.sqrt(np.arange(1, c)), 1)
    ops = []
    for i in range(m):
        factors = [np.eye(c)] * m
        factors[i] = a1
        op = factors[0]
        for f in factors[1:]:
            op = np.kron(op, f)
        ops.append(op)
    gen = sum(h[i, j] * ops[i].conj().T @ ops[j] for i in range(m) for j in range(m))
    return scipy.linalg.expm(-1j * gen), c


@pytest.mark.parametrize("m,n_max", [(3, 2), (3, 3), (4, 2), (4, 3)])
def test_lift_matches_per_mode_cutoff_construction(m, n_max):
    h, u = random_unitary(m, seed=10 * m + n_max)
    reg = FockRegister("r", tuple(f"m{i}" for i in range(m)), n_max)
    ours = np.asarray(lift_unitary(reg, u))
    full, c = per_mode_cutoff_lift(h, n_max)
    idx = np.ravel_multi_index(tuple(reg.basis.T), (c,) * m)
    # the generator conserves the total number, so on states with total <= n_max the cutoff is exact
    np.testing.assert_allclose(ours, full[np.ix_(idx, idx)], atol=1e-11, rtol=0)
    np.testing.assert_allclose(ours @ ours.conj().T, np.eye(reg.dim), atol=1e-12)
    # block diagonal in the total photon number
    tot = reg.basis.sum(axis=1)
    assert np.all(np.abs(ours[tot[:, None] != tot[None, :]]) == 0)


@pytest.mark.parametrize("m,n_max", [(2, 3), (3, 2), (4, 2)])
def test_lift_is_a_homomorphism(m, n_max):
    reg = FockRegister("r", tuple(f"m{i}" for i in range(m)), n_max)
    _, u = random_unitary(m, 1)
    _, v = random_unitary(m, 2)
    lu, lv, luv = (np.asarray(lift_unitary(reg, x)) for x in (u, v, u @ v))
    np.testing.assert_allclose(luv, lu @ lv, atol=1e-12, rtol=0)
    np.testing.assert_allclose(np.asarray(lift_unitary(reg, u.conj().T)), lu.conj().T, atol=1e-12)
    np.testing.assert_allclose(np.asarray(lift_unitary(reg, np.eye(m))), np.eye(reg.dim), atol=EXACT)
    # Heisenberg rule U_hat a_j^dag U_hat^dag = sum_i U_ij a_i^dag, checked where a^dag is not truncated
    below = reg.basis.sum(axis=1) < n_max
    for j, mj in enumerate(reg.modes):
        lhs = lu @ creation(reg, mj) @ lu.conj().T
        rhs = sum(u[i, j] * creation(reg, mi) for i, mi in enumerate(reg.modes))
        np.testing.assert_allclose(lhs[:, below], rhs[:, below], atol=1e-12)


# ---------------------------------------------------------------- loss


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("eta", [0.0, 0.37, 1.0])
def test_loss_of_fock_state_is_binomial(n, eta):
    reg = FockRegister("r", ("a", "b"), 3)
    space = Space(Qudit("ion"), reg)
    st = DensityMatrix.from_ket(np.kron([0, 1], ket(reg, (n, 0))), space)
    via_apply = apply_loss(st, "r", "a", eta)
    via_kraus = st.apply_kraus(loss_kraus(reg, "a", eta), "r")
    np.testing.assert_allclose(via_apply.to_numpy(), via_kraus.to_numpy(), atol=EXACT)
    light = np.real(np.diag(via_apply.ptrace(keep="r").to_numpy()))
    for k in range(n + 1):
        binom = math.comb(n, k) * eta**k * (1 - eta) ** (n - k)
        assert light[reg.index((k, 0))] == pytest.approx(binom, abs=EXACT)
    assert float(via_apply.trace()) == pytest.approx(1.0, abs=EXACT)
    # the ion is untouched
    np.testing.assert_allclose(via_apply.ptrace(keep="ion").to_numpy(), np.diag([0, 1]), atol=EXACT)


def test_loss_on_a_superposition_and_other_mode():
    reg = FockRegister("r", ("a", "b"), 3)
    space = Space(reg, Qudit("ion"))
    psi = (ket(reg, (0, 0)) + ket(reg, (1, 1)) + ket(reg, (0, 2))) / np.sqrt(3)
    st = DensityMatrix.from_ket(np.kron(psi, [1, 0]), space)
    eta = 0.6
    out = apply_loss(st, "r", "b", eta)
    ref = st.apply_kraus(loss_kraus(reg, "b", eta), "r")
    np.testing.assert_allclose(out.to_numpy(), ref.to_numpy(), atol=EXACT)
    rho = out.ptrace(keep="r").to_numpy()
    i00, i11, i02 = reg.index((0, 0)), reg.index((1, 1)), reg.index((0, 2))
    # coherence between |0,0> and |0,2> survives with amplitude eta^(2/2)
    assert rho[i00, i02] == pytest.approx(eta / 3, abs=EXACT)
    assert rho[i00, i11] == pytest.approx(np.sqrt(eta) / 3, abs=EXACT)
    # the mode-a occupation is unchanged by loss on mode b
    na = np.diag(number(reg, "a"))
    assert float(np.real(np.sum(na * np.diag(rho)))) == pytest.approx(1 / 3, abs=EXACT)
    nb = np.diag(number(reg, "b"))
    assert float(np.real(np.sum(nb * np.diag(rho)))) == pytest.approx(eta * (1 + 2) / 3, abs=EXACT)


@pytest.mark.parametrize("eta", [0.0, 0.25, 1.0])
def test_loss_kraus_complete_and_composes(eta):
    reg = FockRegister("r", ("a", "b", "c"), 3)
    k = np.asarray(loss_kraus(reg, "c", eta))
    assert k.shape == (4, reg.dim, reg.dim)
    np.testing.assert_allclose(np.einsum("kba,kbc->ac", k.conj(), k), np.eye(reg.dim), atol=EXACT)
    # loss eta1 then eta2 equals loss eta1 * eta2
    space = Space(reg)
    rng = np.random.default_rng(0)
    v = rng.normal(size=reg.dim) + 1j * rng.normal(size=reg.dim)
    st = DensityMatrix.from_ket(v / np.linalg.norm(v), space)
    two = apply_loss(apply_loss(st, "r", "c", 0.7), "r", "c", 0.5)
    one = apply_loss(st, "r", "c", 0.35)
    np.testing.assert_allclose(two.to_numpy(), one.to_numpy(), atol=1e-14)


def test_loss_commutes_with_a_uniform_lossless_network():
    # uniform loss on all modes commutes with any linear-optics unitary
    reg = FockRegister("r", ("a", "b", "c"), 2)
    space = Space(reg)
    rng = np.random.default_rng(3)
    v = rng.normal(size=reg.dim) + 1j * rng.normal(size=reg.dim)
    st = DensityMatrix.from_ket(v / np.linalg.norm(v), space)
    big = lift_unitary(reg, random_unitary(3, 5)[1])

    def lose(s):
        for m in reg.modes:
            s = apply_loss(s, "r", m, 0.6)
        return s

    a = lose(st.apply_unitary(big, "r"))
    b = lose(st).apply_unitary(big, "r")
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-13)
    assert jnp.allclose(a.trace(), 1.0)


def test_numpy_lift_equals_the_jax_lift():
    """The static-structure lift (NumPy) and the differentiable one run the same recursion: same matrix."""
    from ionjax.core.fock import lift_unitary, lift_unitary_numpy
    from ionjax.core.space import FockRegister

    rng = np.random.default_rng(7)
    for m, n in [(1, 3), (2, 2), (4, 2), (8, 4)]:
        q, _ = np.linalg.qr(rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m)))
        reg = FockRegister("p", tuple(f"m{i}" for i in range(m)), n)
        np.testing.assert_allclose(lift_unitary_numpy(reg, q), np.asarray(lift_unitary(reg, q)), atol=1e-13)
        with pytest.raises(ValueError, match="shape"):
            lift_unitary_numpy(reg, np.eye(m + 1))
