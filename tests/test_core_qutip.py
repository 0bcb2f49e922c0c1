"""Cross-checks of the core engine against QuTiP at 1e-10 on random (seeded) states and channels."""

import numpy as np
import pytest

qutip = pytest.importorskip("qutip")

from ionjax.core import (  # noqa: E402
    DensityMatrix,
    FockRegister,
    Qudit,
    Space,
    concurrence,
    fidelity,
    kraus_channel,
    log_negativity,
    negativity,
    purity,
    tensor,
    trace_distance,
    von_neumann_entropy,
)

TOL = 1e-10
SEEDS = range(3)

# Three subsystems of mixed dims, the middle one a Fock register (2 modes, <= 2 photons: dim 6).
REG = FockRegister("light", ("h", "v"), 2)
SPACE3 = Space(Qudit("ion_a", 2), REG, Qudit("ion_b", 3))
DIMS3 = [2, 6, 3]


def rand_dm(dims, seed, **kw):
    return qutip.rand_dm(dims, seed=seed, **kw)


def state(qobj, space=SPACE3):
    return DensityMatrix.from_qutip(qobj, space)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "keep",
    [("ion_a",), ("light",), ("ion_b",), ("ion_a", "light"), ("ion_a", "ion_b"), ("light", "ion_b")],
)
def test_ptrace_keep_matches_qutip(seed, keep):
    q = rand_dm(DIMS3, seed)
    ours = state(q).ptrace(keep=keep)
    sel = [SPACE3.index(n) for n in keep]
    ref = q.ptrace(sel)
    assert ours.space.names == keep
    assert ours.space.dims == tuple(ref.dims[0])
    np.testing.assert_allclose(ours.to_numpy(), ref.full(), atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("drop", [("ion_a",), ("light",), ("ion_b",), ("ion_a", "ion_b"), ("light", "ion_a")])
def test_ptrace_drop_matches_qutip(seed, drop):
    q = rand_dm(DIMS3, seed)
    ours = state(q).ptrace(drop=drop)
    sel = [i for i, n in enumerate(SPACE3.names) if n not in drop]
    np.testing.assert_allclose(ours.to_numpy(), q.ptrace(sel).full(), atol=TOL, rtol=0)
    assert ours.space.names == tuple(SPACE3.names[i] for i in sel)


@pytest.mark.parametrize("seed", SEEDS)
def test_ptrace_keep_reordered_matches_qutip_permute(seed):
    q = rand_dm(DIMS3, seed)
    ours = state(q).ptrace(keep=("ion_b", "ion_a"))
    ref = q.ptrace([0, 2]).permute([1, 0])
    np.testing.assert_allclose(ours.to_numpy(), ref.full(), atol=TOL, rtol=0)
    assert ours.space.dims == (3, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_permute_matches_qutip(seed):
    q = rand_dm(DIMS3, seed)
    ours = state(q).permute(("ion_b", "ion_a", "light"))
    np.testing.assert_allclose(ours.to_numpy(), q.permute([2, 0, 1]).full(), atol=TOL, rtol=0)
    assert ours.space.dims == (3, 2, 6)


@pytest.mark.parametrize("seed", SEEDS)
def test_ptrace_of_pure_product_state(seed):
    # tensor() must order subsystems as qutip.tensor does; tracing a factor gives the other back.
    a, b = rand_dm([2], seed), rand_dm([3], seed + 50)
    sa = DensityMatrix.from_qutip(a, Space(Qudit("a", 2)))
    sb = DensityMatrix.from_qutip(b, Space(Qudit("b", 3)))
    joint = tensor(sa, sb)
    np.testing.assert_allclose(joint.to_numpy(), qutip.tensor(a, b).full(), atol=TOL, rtol=0)
    np.testing.assert_allclose(joint.ptrace(keep="b").to_numpy(), b.full(), atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dims", [[2, 2], [2, 3], [4]])
def test_fidelity_matches_qutip_squared(seed, dims):
    r, s = rand_dm(dims, seed), rand_dm(dims, seed + 100)
    ref = qutip.fidelity(r, s) ** 2  # qutip returns the square root
    assert float(fidelity(r.full(), s.full())) == pytest.approx(ref, abs=TOL)
    assert float(fidelity(s.full(), r.full())) == pytest.approx(ref, abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_fidelity_to_ket_matches_qutip(seed):
    r, k = rand_dm([2, 3], seed), qutip.rand_ket([2, 3], seed=seed + 7)
    # qutip.fidelity to a ket goes through sqrtm of a rank-1 matrix and is only good to ~1e-8;
    # <psi|rho|psi> with qutip's own arithmetic is exact.
    ref = float(np.real(r.matrix_element(k, k)))
    assert qutip.fidelity(r, k) ** 2 == pytest.approx(ref, abs=1e-7)
    assert float(fidelity(r.full(), k.full()[:, 0])) == pytest.approx(ref, abs=TOL)
    # a ket as a (rank-1) density matrix gives the same number through the matrix square roots
    assert float(fidelity(r.full(), (k * k.dag()).full())) == pytest.approx(ref, abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrence_matches_qutip(seed):
    r = rand_dm([2, 2], seed)
    assert float(concurrence(r.full())) == pytest.approx(qutip.concurrence(r), abs=TOL)
    # an entangled mixture, where concurrence is not clipped at zero
    k = qutip.rand_ket([2, 2], seed=seed)
    mix = 0.85 * k * k.dag() + 0.15 * r
    ref = qutip.concurrence(mix)
    assert ref > 0.05
    assert float(concurrence(mix.full())) == pytest.approx(ref, abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dims", [[2, 2], [2, 3], [6]])
def test_entropy_matches_qutip(seed, dims):
    r = rand_dm(dims, seed)
    assert float(von_neumann_entropy(r.full())) == pytest.approx(qutip.entropy_vn(r, 2), abs=TOL)
    assert float(von_neumann_entropy(r.full(), base=np.e)) == pytest.approx(qutip.entropy_vn(r), abs=TOL)
    assert float(purity(r.full())) == pytest.approx((r * r).tr().real, abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dims", [(2, 2), (2, 3), (3, 2)])
def test_negativity_matches_qutip(seed, dims):
    k = qutip.rand_ket(list(dims), seed=seed)
    r = 0.8 * k * k.dag() + 0.2 * rand_dm(list(dims), seed + 3)
    ref = qutip.negativity(r, 1)
    assert ref > 1e-3
    dm = DensityMatrix.from_qutip(r, Space(Qudit("a", dims[0]), Qudit("b", dims[1])))
    assert float(negativity(dm)) == pytest.approx(ref, abs=TOL)
    assert float(negativity(r.full(), dims=dims)) == pytest.approx(ref, abs=TOL)
    # independent reference through qutip.partial_transpose on the first subsystem
    eig = qutip.partial_transpose(r, [1, 0]).eigenenergies()
    assert float(negativity(dm)) == pytest.approx(float(np.sum(np.abs(eig)) - 1) / 2, abs=TOL)
    assert float(log_negativity(dm)) == pytest.approx(qutip.negativity(r, 0, logarithmic=True), abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_trace_distance_matches_qutip(seed):
    r, s = rand_dm([2, 3], seed), rand_dm([2, 3], seed + 11)
    assert float(trace_distance(r.full(), s.full())) == pytest.approx(qutip.tracedist(r, s), abs=TOL)


def _full_kraus(ops, position):
    eyes = [qutip.qeye(d) for d in DIMS3]
    out = []
    for k in ops:
        factors = list(eyes)
        factors[position] = k
        out.append(qutip.tensor(*factors))
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("on", ["ion_a", "light", "ion_b"])
def test_kraus_on_subsystem_matches_full_operator(seed, on):
    pos = SPACE3.index(on)
    d = DIMS3[pos]
    ops = qutip.rand_kraus_map([d], seed=seed)
    q = rand_dm(DIMS3, seed + 20)
    ref = sum(K * q * K.dag() for K in _full_kraus(ops, pos))
    kraus = kraus_channel(np.stack([k.full() for k in ops]))
    ours = state(q).apply_kraus(kraus, on=on)
    np.testing.assert_allclose(ours.to_numpy(), ref.full(), atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_channel_from_rand_super_on_two_subsystems(seed):
    # a channel on (ion_b, ion_a): operator ordering must follow `on`, not the space's order
    ops = qutip.to_kraus(qutip.rand_super([3, 2], seed=seed))
    q = rand_dm(DIMS3, seed + 30)
    moved = q.permute([2, 0, 1])  # (ion_b, ion_a, light)
    full = [qutip.tensor(qutip.Qobj(k.full(), dims=[[3, 2], [3, 2]]), qutip.qeye(6)) for k in ops]
    ref = sum(K * moved * K.dag() for K in full).permute([1, 2, 0])  # back to (ion_a, light, ion_b)
    kraus = kraus_channel(np.stack([k.full() for k in ops]))
    ours = state(q).apply_kraus(kraus, on=("ion_b", "ion_a"))
    np.testing.assert_allclose(ours.to_numpy(), ref.full(), atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_unitary_and_expect_match_qutip(seed):
    q = rand_dm(DIMS3, seed)
    u = qutip.rand_unitary([6], seed=seed)
    ref = _full_kraus([u], 1)[0]
    ours = state(q).apply_unitary(u.full(), on="light")
    np.testing.assert_allclose(ours.to_numpy(), (ref * q * ref.dag()).full(), atol=TOL, rtol=0)
    h = qutip.rand_herm([3], seed=seed)
    full_h = _full_kraus([h], 2)[0]
    assert complex(state(q).expect(h.full(), "ion_b")) == pytest.approx(complex((full_h * q).tr()), abs=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_herald_matches_qutip_projection(seed):
    q = rand_dm(DIMS3, seed)
    e = qutip.rand_dm([6], seed=seed + 40)  # a POVM effect (0 <= E <= 1) on the register
    full_e = _full_kraus([e], 1)[0]
    p_ref = (full_e * q).tr().real
    cond_ref = (full_e * q).ptrace([0, 2]) / p_ref
    p, cond = state(q).herald(e.full(), on="light")
    assert float(p) == pytest.approx(p_ref, abs=TOL)
    np.testing.assert_allclose(cond.to_numpy(), cond_ref.full(), atol=TOL, rtol=0)
    assert cond.space.names == ("ion_a", "ion_b")


@pytest.mark.parametrize("seed", SEEDS)
def test_qutip_round_trip_keeps_dims(seed):
    q = rand_dm(DIMS3, seed)
    dm = DensityMatrix.from_qutip(q, SPACE3)
    back = dm.to_qutip()
    assert back.dims == [DIMS3, DIMS3]
    np.testing.assert_allclose(back.full(), q.full(), atol=0, rtol=0)
    # without a space the dims become qudits q0, q1, q2
    auto = DensityMatrix.from_qutip(q)
    assert auto.space.dims == tuple(DIMS3)
    assert auto.space.names == ("q0", "q1", "q2")
    # kets become |psi><psi|
    k = qutip.rand_ket([2, 3], seed=seed)
    dk = DensityMatrix.from_qutip(k)
    np.testing.assert_allclose(dk.to_numpy(), (k * k.dag()).full(), atol=1e-15, rtol=0)
    assert dk.to_qutip().dims == [[2, 3], [2, 3]]
