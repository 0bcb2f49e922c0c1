"""Property tests (hypothesis): channels are CPTP on random states, POVMs herald with total probability 1."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ionjax.core import (
    PAULI,
    DensityMatrix,
    FockRegister,
    Qudit,
    Space,
    amplitude_damping,
    apply_loss,
    dephasing,
    depolarizing,
    kraus_channel,
    lift_unitary,
    memory_decay,
    occupation,
    pauli_channel,
)

FAST = settings(max_examples=25, deadline=None)
TOL = 1e-12

REG = FockRegister("light", ("h", "v"), 2)
SPACE = Space(Qudit("a", 2), Qudit("b", 3))
SPACE_F = Space(Qudit("ion", 2), REG)

seeds = st.integers(0, 2**31 - 1)
probs = st.floats(0.0, 1.0)


def random_dm(d, seed, rank=None):
    rng = np.random.default_rng(seed)
    rank = d if rank is None else rank
    g = rng.normal(size=(d, rank)) + 1j * rng.normal(size=(d, rank))
    rho = g @ g.conj().T
    return rho / np.trace(rho).real


def random_kraus(d, k, seed):
    """k Kraus operators of a random channel: blocks of a random (k d) x d isometry."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(k * d, d)) + 1j * rng.normal(size=(k * d, d))
    q, _ = np.linalg.qr(g)
    return q.reshape(k, d, d)


@partial(jax.jit, static_argnames=("space", "on"))
def _apply(data, kraus, space, on):
    return DensityMatrix(data, space).apply_kraus(kraus, on).data


def assert_physical(data, tol=TOL):
    data = np.asarray(data)
    assert abs(np.trace(data) - 1.0) < tol
    np.testing.assert_allclose(data, data.conj().T, atol=tol, rtol=0)
    assert np.linalg.eigvalsh(data).min() >= -tol


def apply_everywhere(kraus, d_on, seed, rank=None):
    """Apply a channel on ``a`` (qubit) or ``b`` (qutrit) of a random two-party state; check it stays physical."""
    on = "a" if d_on == 2 else "b"
    rho = random_dm(SPACE.dim, seed, rank)
    out = _apply(rho, kraus, SPACE, on)
    assert_physical(out)
    # a channel on one party leaves the other party's reduced state alone
    other = "b" if on == "a" else "a"
    np.testing.assert_allclose(
        DensityMatrix(out, SPACE).ptrace(keep=other).to_numpy(),
        DensityMatrix(rho, SPACE).ptrace(keep=other).to_numpy(),
        atol=TOL,
    )
    return rho, out


def rho_on_qubit(rho, on="a"):
    return DensityMatrix(rho, SPACE).ptrace(keep=on).to_numpy()


@FAST
@given(p=probs, seed=seeds, rank=st.sampled_from([1, 2, 6]))
def test_dephasing_is_cptp_and_scales_coherence(p, seed, rank):
    rho, out = apply_everywhere(dephasing(p), 2, seed, rank)
    r0, r1 = rho_on_qubit(rho), rho_on_qubit(out)
    np.testing.assert_allclose(np.diag(r1), np.diag(r0), atol=TOL)
    assert abs(r1[0, 1] - (1 - 2 * p) * r0[0, 1]) < TOL


@FAST
@given(p=probs, seed=seeds, dim=st.sampled_from([2, 3]))
def test_depolarizing_is_cptp_and_mixes(p, seed, dim):
    rho, out = apply_everywhere(depolarizing(p, dim), dim, seed)
    on = "a" if dim == 2 else "b"
    want = (1 - p) * rho_on_qubit(rho, on) + p * np.eye(dim) / dim
    np.testing.assert_allclose(rho_on_qubit(out, on), want, atol=TOL)


@FAST
@given(g=probs, seed=seeds)
def test_amplitude_damping_is_cptp(g, seed):
    rho, out = apply_everywhere(amplitude_damping(g), 2, seed)
    r0, r1 = rho_on_qubit(rho), rho_on_qubit(out)
    assert abs(r1[1, 1] - (1 - g) * r0[1, 1]) < TOL
    assert abs(r1[0, 1] - np.sqrt(1 - g) * r0[0, 1]) < TOL


@FAST
@given(
    t=st.floats(0.0, 5.0),
    t1=st.one_of(st.just(np.inf), st.floats(0.1, 10.0)),
    frac=st.floats(0.05, 1.0),
    seed=seeds,
)
def test_memory_decay_is_cptp_with_t1_t2(t, t1, frac, seed):
    t2 = np.inf if (np.isinf(t1) and frac > 0.9) else frac * 2 * min(t1, 5.0)
    rho, out = apply_everywhere(memory_decay(t, t1, t2), 2, seed)
    r0, r1 = rho_on_qubit(rho), rho_on_qubit(out)
    assert abs(r1[1, 1] - np.exp(-t / t1) * r0[1, 1]) < TOL
    assert abs(r1[0, 1] - np.exp(-t / t2) * r0[0, 1]) < TOL


@FAST
@given(t=st.floats(0.0, 5.0), t1=st.floats(0.1, 10.0), seed=seeds)
def test_memory_decay_t1_only_is_t1_limited(t, t1, seed):
    # t2 = inf means no pure dephasing: coherences decay only through relaxation
    rho, out = apply_everywhere(memory_decay(t, t1), 2, seed)
    r0, r1 = rho_on_qubit(rho), rho_on_qubit(out)
    assert abs(r1[0, 1] - np.exp(-t / (2 * t1)) * r0[0, 1]) < TOL


@FAST
@given(w=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4), seed=seeds)
def test_pauli_channel_is_cptp(w, seed):
    w = np.asarray(w) + 1e-3
    p = w / w.sum()
    rho, out = apply_everywhere(pauli_channel(p[1], p[2], p[3]), 2, seed)
    r = rho_on_qubit(rho)
    want = sum(pk * PAULI[k] @ r @ PAULI[k].conj().T for pk, k in zip(p, "IXYZ"))
    np.testing.assert_allclose(rho_on_qubit(out), want, atol=TOL)


@FAST
@given(k=st.integers(1, 5), dim=st.sampled_from([2, 3]), seed=seeds)
def test_random_kraus_channel_is_cptp(k, dim, seed):
    ops = random_kraus(dim, k, seed)
    checked = kraus_channel(ops)
    np.testing.assert_allclose(np.asarray(checked), ops, atol=0)
    apply_everywhere(checked, dim, seed + 1, rank=1)


@FAST
@given(seed=seeds, eta=probs, r=probs)
def test_photon_number_povm_sums_to_one(seed, eta, r):
    """Projectors on every register basis state, and on each photon number of mode h, are complete POVMs."""
    rho = random_dm(SPACE_F.dim, seed)
    bs = np.array([[np.sqrt(1 - r), np.sqrt(r)], [-np.sqrt(r), np.sqrt(1 - r)]])
    p_all, p_h, ion_sum = _number_herald(rho, eta, bs)
    assert abs(float(np.sum(p_all)) - 1.0) < TOL
    assert abs(float(np.sum(p_h)) - 1.0) < TOL
    assert np.all(np.asarray(p_all) >= -TOL)
    # sum_k p_k rho_k reassembles the unconditioned ion state
    want = DensityMatrix(rho, SPACE_F).ptrace(keep="ion").to_numpy()
    np.testing.assert_allclose(np.asarray(ion_sum), want, atol=TOL)


@jax.jit
def _number_herald(rho, eta, bs):
    s = DensityMatrix(rho, SPACE_F).apply_unitary(lift_unitary(REG, bs), "light")
    s = apply_loss(s, "light", "h", eta)
    effects = np.eye(REG.dim)  # one diagonal effect per basis state: (D, D) read as a batch of (D,)
    p_all, cond = jax.vmap(lambda e: s.herald(e, "light"))(effects)
    ion_sum = jnp.einsum("k,kij->ij", p_all, cond.data)
    n_h = occupation(REG, "h")
    by_n = np.stack([(n_h == n).astype(float) for n in range(REG.n_max + 1)])
    p_h, _ = s.herald(by_n, "light")
    return p_all, p_h, ion_sum


@FAST
@given(seed=seeds, k=st.integers(2, 4))
def test_random_complete_povm_sums_to_one(seed, k):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, 3, 3)) + 1j * rng.normal(size=(k, 3, 3))
    e = np.einsum("kba,kbc->kac", a.conj(), a)
    w, v = np.linalg.eigh(e.sum(0))
    s_inv = v @ np.diag(w**-0.5) @ v.conj().T
    effects = s_inv @ e @ s_inv
    rho = random_dm(SPACE.dim, seed + 1)
    dm = DensityMatrix(rho, SPACE)
    ps, conds = [], []
    for ek in effects:
        p, cond = dm.herald(ek, "b")
        if float(p) > 1e-6:
            assert_physical(cond.data, tol=1e-10)
        ps.append(float(p))
        conds.append(float(p) * cond.to_numpy())
    assert abs(sum(ps) - 1.0) < 1e-12
    np.testing.assert_allclose(sum(conds), dm.ptrace(keep="a").to_numpy(), atol=1e-12)
