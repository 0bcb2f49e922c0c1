"""Network node operations on density matrices: swapping, purification, storage, teleported gates, GHZ fusion.

Checked against published closed forms (Werner swapping; DEJMPS, Deutsch et al. 1996; BBPSSW,
Bennett et al. 1996; teleported gates with Werner pairs) and against small dense numpy
implementations written here with whole-space matrices (slow, obviously right).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ionjax as ij
from ionjax.network import (
    bbpssw,
    bbpssw_recurrence,
    bell_diagonal_state,
    bell_probabilities,
    dejmps,
    dejmps_recurrence,
    elementary_link,
    entanglement_swap,
    expected_max_geometric,
    fidelity_from_correlators,
    fuse_ghz,
    ghz,
    ghz_fidelity,
    pauli_correlators,
    remote_gate,
    store,
    swap_factor,
    teleported_gate,
    twirl,
    werner_state,
)

I2 = np.eye(2)
X = np.array([[0, 1], [1, 0]], complex)
Z = np.diag([1.0, -1.0]).astype(complex)
H = np.array([[1, 1], [1, -1]], complex) / np.sqrt(2)
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], complex)
PSI_PLUS = np.array([0, 1, 1, 0], complex) / np.sqrt(2)


def random_state(rng, dim=4):
    g = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    rho = g @ g.conj().T
    return rho / np.trace(rho)


def dm(rho):
    return ij.DensityMatrix(jnp.asarray(rho), ij.network.PAIR_SPACE)


def kron(*ops):
    out = np.eye(1)
    for o in ops:
        out = np.kron(out, o)
    return out


# ----------------------------------------------------------------------------- dense references
def dense_swap(r1, r2, gate_error, readout_error):
    """Whole-space 16 x 16 reference: qubits (a, b1, b2, c)."""
    rho = np.kron(r1, r2)
    u = kron(I2, CNOT, I2)
    rho = u @ rho @ u.conj().T
    t = rho.reshape([2] * 8)  # (a, b1, b2, c, a', b1', b2', c')
    red = np.einsum("axycAxyC->acAC", t)  # Tr_{b1 b2}
    mixed = np.einsum("acAC,xX,yY->axycAXYC", red, I2 / 2, I2 / 2).reshape(16, 16)
    rho = (1 - gate_error) * rho + gate_error * mixed
    u = kron(I2, H, I2, I2)
    rho = u @ rho @ u.conj().T
    for flip in (kron(I2, X, I2, I2), kron(I2, I2, X, I2)):
        rho = (1 - readout_error) * rho + readout_error * flip @ rho @ flip
    out = np.zeros((4, 4), complex)
    t = rho.reshape([2] * 8)
    for m1, m2 in itertools.product((0, 1), repeat=2):
        block = t[:, m1, m2, :, :, m1, m2, :].reshape(4, 4)
        corr = np.kron(I2, (Z if m1 else I2) @ (X if m2 == 0 else I2))
        out += corr @ block @ corr.conj().T
    return out


def test_dense_reference_is_itself_sane():
    # perfect Psi+ pairs swap to Psi+
    p = np.outer(PSI_PLUS, PSI_PLUS.conj())
    out = dense_swap(p, p, 0.0, 0.0)
    assert np.vdot(PSI_PLUS, out @ PSI_PLUS).real == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("gate_error,readout_error", [(0.0, 0.0), (0.03, 0.0), (0.0, 0.05), (0.02, 0.01)])
def test_swap_matches_dense_reference_on_general_states(gate_error, readout_error):
    rng = np.random.default_rng(7)
    r1, r2 = random_state(rng), random_state(rng)
    got = entanglement_swap(dm(r1), dm(r2), gate_error, readout_error)
    np.testing.assert_allclose(np.asarray(got.data), dense_swap(r1, r2, gate_error, readout_error), atol=1e-12)
    assert got.space.names == ("ion_a", "ion_b")


@pytest.mark.parametrize("f1,f2", [(1.0, 1.0), (0.9, 0.8), (0.75, 0.97), (0.5, 0.6), (0.25, 0.99)])
def test_werner_swapping_formula(f1, f2):
    out = entanglement_swap(werner_state(f1), werner_state(f2))
    expected = f1 * f2 + (1 - f1) * (1 - f2) / 3
    assert float(bell_probabilities(out)[2]) == pytest.approx(expected, abs=1e-12)
    # the output is again a Werner pair
    assert np.allclose(np.asarray(out.data), np.asarray(werner_state(expected).data), atol=1e-12)


def test_swap_multiplies_correlators_of_bell_diagonal_pairs():
    rng = np.random.default_rng(3)
    for _ in range(3):
        a, b = (bell_diagonal_state(rng.dirichlet(np.ones(4))) for _ in range(2))
        ge, re = rng.uniform(0, 0.1, size=2)
        out = entanglement_swap(a, b, ge, re)
        expect = swap_factor(ge, re) * pauli_correlators(a) * pauli_correlators(b)
        np.testing.assert_allclose(pauli_correlators(out), expect, atol=1e-12)


def test_swap_factor_closed_form_and_gradient_at_zero():
    e, r = 0.01, 0.02
    np.testing.assert_allclose(swap_factor(e, r), [(1 - e) * (1 - 2 * r), (1 - e) * (1 - 2 * r) ** 2,
                                                   (1 - e) * (1 - 2 * r)], atol=1e-12)
    g = jax.grad(lambda x: fidelity_from_correlators(swap_factor(x, x)))(0.0)
    assert np.isfinite(g) and g == pytest.approx(-0.75 - 2.0, abs=1e-9)


# ----------------------------------------------------------------------------- purification
# ionjax's Psi+ frame: Deutsch et al.'s (A, B, C, D) = (Phi+, Psi-, Psi+, Phi-) of the Phi+ frame
# are the populations of (Psi+, Phi-, Phi+, Psi-) here; ionjax orders (Phi+, Phi-, Psi+, Psi-).
TO_DEUTSCH = [2, 1, 0, 3]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=4, max_size=4))
def test_dejmps_matches_published_recurrence(weights):
    p = np.asarray(weights) / np.sum(weights)
    n, new = dejmps_recurrence(p[TO_DEUTSCH])
    prob, out = dejmps(bell_diagonal_state(p), bell_diagonal_state(p))
    assert float(prob) == pytest.approx(float(n), abs=1e-12)
    np.testing.assert_allclose(np.asarray(bell_probabilities(out))[TO_DEUTSCH], new, atol=1e-12)


def test_dejmps_on_two_different_pairs_matches_general_recurrence():
    # the recurrence for two different Bell-diagonal pairs (Deutsch et al. 1996, Eq. 3 generalized):
    # A' = (A1 A2 + B1 B2)/N, B' = (C1 D2 + D1 C2)/N, C' = (C1 C2 + D1 D2)/N, D' = (A1 B2 + B1 A2)/N
    rng = np.random.default_rng(5)
    p1, p2 = rng.dirichlet(np.ones(4) * 2), rng.dirichlet(np.ones(4) * 2)
    a1, b1, c1, d1 = p1[TO_DEUTSCH]
    a2, b2, c2, d2 = p2[TO_DEUTSCH]
    new = np.array([a1 * a2 + b1 * b2, c1 * d2 + d1 * c2, c1 * c2 + d1 * d2, a1 * b2 + b1 * a2])
    n = new.sum()
    prob, out = dejmps(bell_diagonal_state(p1), bell_diagonal_state(p2))
    assert float(prob) == pytest.approx(n, abs=1e-12)
    np.testing.assert_allclose(np.asarray(bell_probabilities(out))[TO_DEUTSCH], new / n, atol=1e-12)


@pytest.mark.parametrize("f", [0.55, 0.7, 0.85, 0.95, 1.0])
def test_bbpssw_matches_published_recurrence(f):
    n, f_new = bbpssw_recurrence(f)
    prob, out = bbpssw(werner_state(f), werner_state(f))
    assert float(prob) == pytest.approx(float(n), abs=1e-12)
    assert float(bell_probabilities(out)[2]) == pytest.approx(float(f_new), abs=1e-12)
    if 0.5 < f < 1.0:
        assert float(f_new) > f  # purification helps above 1/2


def test_purification_with_errors_is_worse_and_normalized():
    w = werner_state(0.9)
    p0, out0 = dejmps(w, w)
    p1, out1 = dejmps(w, w, gate_error=0.02, readout_error=0.01)
    assert float(jnp.real(out1.trace())) == pytest.approx(1.0, abs=1e-12)
    assert float(bell_probabilities(out1)[2]) < float(bell_probabilities(out0)[2])
    assert 0.0 < float(p1) <= 1.0 and float(p0) > 0.0


# ----------------------------------------------------------------------------- memory, twirl, links
def test_store_dephases_xy_correlators():
    t, t2 = 3e-3, 10e-3
    out = store(werner_state(0.9), t, t2_s=t2)
    w = (4 * 0.9 - 1) / 3
    lam = np.exp(-2 * t / t2)
    np.testing.assert_allclose(pauli_correlators(out), [w * lam, w * lam, w], atol=1e-12)
    g = jax.jit(jax.grad(lambda tt: fidelity_from_correlators(pauli_correlators(store(werner_state(0.9), tt,
                                                                                      t2_s=t2)))))(0.0)
    assert np.isfinite(g) and g == pytest.approx(-w / t2, rel=1e-9)


def test_twirl_keeps_bell_populations():
    rng = np.random.default_rng(1)
    rho = dm(random_state(rng))
    np.testing.assert_allclose(bell_probabilities(twirl(rho)), bell_probabilities(rho), atol=1e-12)


def test_elementary_link_from_numbers_result_and_link():
    el = elementary_link((0.9, 0.01, 2e6))
    assert float(el.fidelity) == pytest.approx(0.9) and float(el.rate_hz) == pytest.approx(2e4)
    assert float(elementary_link({"fidelity": 0.8, "success_probability": 0.1}).attempt_rate_hz) == 1e6
    link = ij.load_link({"node_a": {"collection_efficiency": 0.3}, "node_b": {"collection_efficiency": 0.2},
                         "detection": {"window_ns": 1e5}})
    res = ij.simulate(link)
    for src in (link, res):
        el = elementary_link(src)
        assert float(el.success_probability) == pytest.approx(float(res.success_probability), rel=1e-12)
        assert float(el.fidelity) == pytest.approx(float(res.fidelity), rel=1e-12)
    with pytest.raises(ValueError, match="fidelity"):
        elementary_link((1.2, 0.1))
    with pytest.raises(ValueError, match="Unknown key 'fidelty'"):
        elementary_link({"fidelty": 0.9, "success_probability": 0.1})
    with pytest.raises(ValueError, match="network link must be"):
        elementary_link("link.toml")


# ----------------------------------------------------------------------------- teleported gates
@pytest.mark.parametrize("gate", ["cnot", "cz"])
def test_teleported_gate_with_perfect_pair_is_the_gate(gate):
    res = remote_gate(werner_state(1.0), gate)
    assert float(res.process_fidelity) == pytest.approx(1.0, abs=1e-12)
    assert float(res.average_gate_fidelity) == pytest.approx(1.0, abs=1e-12)
    # the Choi state is that of the gate: (1 x U)|Phi+>|Phi+> on (rc, c, t, rt)
    u = CNOT if gate == "cnot" else np.diag([1, 1, 1, -1]).astype(complex)
    phi = np.array([1, 0, 0, 1]) / np.sqrt(2)
    ket = np.einsum("ab,cd->abdc", phi.reshape(2, 2), phi.reshape(2, 2))
    ket = np.einsum("xyct,actr->axyr", u.reshape(2, 2, 2, 2), ket).reshape(16)
    np.testing.assert_allclose(np.asarray(res.choi.data), np.outer(ket, ket.conj()), atol=1e-12)


@pytest.mark.parametrize("gate", ["cnot", "cz"])
@pytest.mark.parametrize("f", [0.97, 0.8, 0.5])
def test_teleported_gate_with_werner_pair(gate, f):
    res = remote_gate((f, 0.01, 1e6), gate)
    # each Pauli error of the pair becomes a distinct Pauli error of the gate: F_pro = F
    assert float(res.process_fidelity) == pytest.approx(f, abs=1e-12)
    assert float(res.average_gate_fidelity) == pytest.approx((4 * f + 1) / 5, abs=1e-12)
    assert float(res.rate_hz) == pytest.approx(1e4)


def test_teleported_gate_is_trace_preserving_with_errors():
    rng = np.random.default_rng(2)
    choi = teleported_gate(dm(random_state(rng)), "cnot", gate_error=0.02, readout_error=0.01)
    assert choi.space.names == ("rc", "c", "t", "rt")
    refs = choi.ptrace(keep=("rc", "rt"))
    np.testing.assert_allclose(np.asarray(refs.data), np.eye(4) / 4, atol=1e-12)
    f_err = float(remote_gate(werner_state(0.97), "cz", 0.02, 0.01).process_fidelity)
    assert f_err < 0.97


# ----------------------------------------------------------------------------- GHZ
@pytest.mark.parametrize("k", [2, 3])
def test_ghz_fusion_of_werner_pairs(k):
    assert float(ghz_fidelity(fuse_ghz([werner_state(1.0)] * k))) == pytest.approx(1.0, abs=1e-12)
    f = 0.9
    a, b = f, (1 - f) / 3
    # no X-type error on any pair and an even number of Z errors
    expected = ((a + b) ** k + (a - b) ** k) / 2
    state = fuse_ghz([werner_state(f)] * k)
    assert state.space.names == ("center",) + tuple(f"leaf_{i}" for i in range(1, k + 1))
    assert float(ghz_fidelity(state)) == pytest.approx(expected, abs=1e-12)
    assert float(ghz_fidelity(fuse_ghz([werner_state(f)] * k, gate_error=0.02, readout_error=0.01))) < expected


def test_ghz_waiting_average_matches_brute_force_sum():
    p, f, t2_attempts = 0.05, 0.95, 30.0
    r = np.exp(-2.0 / t2_attempts)
    res = ghz((f, p, 1.0), n_nodes=3, t2_s=t2_attempts, time_step_s=1.0, grid_size=1024)
    # the fused fidelity is bilinear in the two pairs' coherence factors lambda_i = r^(M - N_i)
    w = (4 * f - 1) / 3

    def fid(l1, l2):
        pairs = [ij.network.state_from_correlators(jnp.asarray([w * lam, w * lam, w])) for lam in (l1, l2)]
        return float(ghz_fidelity(fuse_ghz(pairs)))

    f00, f10, f01, f11 = fid(0, 0), fid(1, 0), fid(0, 1), fid(1, 1)
    n = np.arange(1, 1500)
    pmf = p * (1 - p) ** (n - 1)
    n1, n2 = np.meshgrid(n, n, indexing="ij")
    joint = np.outer(pmf, pmf)
    m = np.maximum(n1, n2)
    l1, l2 = r ** (m - n1), r ** (m - n2)
    e1, e2, e12 = (joint * l1).sum(), (joint * l2).sum(), (joint * l1 * l2).sum()
    expected = f00 * (1 - e1 - e2 + e12) + f10 * (e1 - e12) + f01 * (e2 - e12) + f11 * e12
    assert float(res.fidelity) == pytest.approx(expected, abs=1e-10)
    assert float(res.mean_waiting_time_s) == pytest.approx(float(expected_max_geometric(p, 2)), rel=1e-12)
