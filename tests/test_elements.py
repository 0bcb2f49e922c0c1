"""Path elements: each element's amplitude rule (Jones matrix) and dense action, generated from the registry.

Checked against an independent NumPy transcription of DESIGN.md's conventions, written here, and against
the exact one-photon channel ``rho -> J rho J^dag`` (vacuum gains ``Tr[(1 - J^dag J) rho_1]``).
A deliberately wrong rule must fail the same comparison.
"""

import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ionjax.core.space import FockRegister, Qudit, Space
from ionjax.core.state import DensityMatrix
from ionjax.elements import ELEMENTS, Loss, ModePhase, UniformLoss, Unitary, make_element
from ionjax.elements.polarization import WavePlate
from ionjax.errors import ConfigError


def _rz(a):
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def _ry(t):
    return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])


def _r(t):
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _retarder(g, t):
    return _r(t) @ np.diag([np.exp(-0.5j * g), np.exp(0.5j * g)]) @ _r(-t)


def reference_jones(kind, p):
    """DESIGN.md's formulas, transcribed independently of ionjax."""
    if kind == "loss":
        return math.sqrt(p["transmission"]) * np.eye(2)
    if kind == "fiber":
        t = 10 ** (-p["attenuation_db_per_km"] * p["length_km"] / 10)
        return math.sqrt(t) * _rz(p["phi_rad"]) @ _ry(p["theta_rad"]) @ _rz(p["lambda_rad"])
    if kind == "wave_plate":
        return _retarder(p["retardance_rad"], p["angle_rad"])
    if kind == "half_wave_plate":
        return _retarder(np.pi, p["angle_rad"])
    if kind == "quarter_wave_plate":
        return _retarder(np.pi / 2, p["angle_rad"])
    if kind == "rotator":
        return _r(p["angle_rad"])
    if kind == "birefringence":
        return _rz(p["phi_rad"]) @ _ry(p["theta_rad"]) @ _rz(p["lambda_rad"])
    if kind == "polarization_dependent_loss":
        return np.diag([math.sqrt(p["transmission_h"]), math.sqrt(p["transmission_v"])])
    if kind == "phase_shifter":  # on the second mode by default
        return np.diag([1.0, np.exp(1j * p["phase_rad"])])
    if kind == "frequency_conversion":  # a loss; its noise photons act at the detectors
        return math.sqrt(p["efficiency"]) * np.eye(2)
    raise AssertionError(f"no reference for element kind {kind!r}: add one here")


def random_params(cls, rng):
    """A random point inside every key's range (angles within one turn either way, lengths up to 20 km)."""
    out = {}
    for k, p in cls.params().items():
        if k.endswith("_rad"):
            lo, hi = max(p.lo, -2 * np.pi), min(p.hi, 2 * np.pi)
        elif k == "length_km":
            lo, hi = 0.0, 20.0
        else:
            lo, hi = p.lo, min(p.hi, 2.0 * p.lo + 10.0)
        out[k] = float(rng.uniform(lo, hi))
    return out


KINDS = sorted(ELEMENTS)


@pytest.mark.parametrize("kind", KINDS)
def test_amplitude_rule_matches_the_conventions(kind):
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    for _ in range(5):
        p = random_params(ELEMENTS[kind], rng)
        el = make_element({"element": kind, **p}, f"node_b.path.{kind}")
        np.testing.assert_allclose(np.asarray(el.jones()), reference_jones(kind, p), atol=1e-12)


def _one_photon_state(rng):
    """A random state of an ion and <= 2 photons in modes (h, v), with vacuum-photon coherences."""
    space = Space(Qudit("ion"), FockRegister("photon", ("h", "v"), 2))
    a = rng.normal(size=(space.dim, space.dim)) + 1j * rng.normal(size=(space.dim, space.dim))
    rho = a @ a.conj().T
    return DensityMatrix(jnp.asarray(rho / np.trace(rho)), space)


def one_photon_channel(rho, jones):
    """The exact channel on the <= 1-photon sector (basis vac, h, v of the register), per ion block."""
    reg = FockRegister("photon", ("h", "v"), 2)
    d = reg.dim
    idx = {tuple(b): i for i, b in enumerate(reg.basis)}
    vac, h, v = idx[(0, 0)], idx[(1, 0)], idx[(0, 1)]
    r = rho.reshape(2, d, 2, d)
    sub = r[:, [vac, h, v]][:, :, :, [vac, h, v]]
    big = np.zeros((3, 3), complex)
    big[0, 0] = 1.0
    big[1:, 1:] = jones
    out = np.einsum("ab,ibjc,dc->iajd", big, sub, big.conj())
    leak = np.eye(2) - jones.conj().T @ jones
    out[:, 0, :, 0] += np.einsum("xy,iyjx->ij", leak, sub[:, 1:, :, 1:])
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_dense_action_is_the_exact_channel_of_the_rule(kind):
    rng = np.random.default_rng(1 + zlib.crc32(kind.encode()))
    rho = _one_photon_state(rng)
    p = random_params(ELEMENTS[kind], rng)
    el = make_element({"element": kind, **p}, "x")
    out = np.asarray(el.apply(rho, "photon", ("h", "v")).data)
    reg = rho.space["photon"]
    idx = {tuple(b): i for i, b in enumerate(reg.basis)}
    keep = [idx[(0, 0)], idx[(1, 0)], idx[(0, 1)]]
    # the <= 1-photon sector also receives the 2-photon part's losses: compare on an input without it
    r1 = np.asarray(rho.data).reshape(2, reg.dim, 2, reg.dim).copy()
    two = [i for i, b in enumerate(reg.basis) if sum(b) == 2]
    r1[:, two] = 0.0
    r1[:, :, :, two] = 0.0
    r1 = r1 / np.einsum("iaia->", r1)
    rho1 = DensityMatrix(jnp.asarray(r1.reshape(rho.data.shape)), rho.space)
    got = np.asarray(el.apply(rho1, "photon", ("h", "v")).data).reshape(2, reg.dim, 2, reg.dim)
    ref = one_photon_channel(r1.reshape(rho.data.shape), np.asarray(el.jones()))
    np.testing.assert_allclose(got[:, keep][:, :, :, keep], ref, atol=1e-12)
    assert np.abs(np.trace(out)) == pytest.approx(1.0, abs=1e-12)  # trace preserving, 2 photons included


def test_a_wrong_rule_fails_the_comparison():
    """The tests above would notice a broken element: a wave plate whose rule has the retardance's sign flipped."""

    @jax.tree_util.register_dataclass
    class Broken(WavePlate):
        def factors(self):
            u = WavePlate(-self.retardance_rad, self.angle_rad).factors()[0].u
            return [Unitary(u)]

    p = {"retardance_rad": 1.1, "angle_rad": 0.4}
    el = Broken(**{k: jnp.asarray(v) for k, v in p.items()})
    assert not np.allclose(np.asarray(el.jones()), reference_jones("wave_plate", p), atol=1e-6)
    rho = _one_photon_state(np.random.default_rng(3))
    good = np.asarray(make_element({"element": "wave_plate", **p}, "x").apply(rho, "photon", ("h", "v")).data)
    bad = np.asarray(el.apply(rho, "photon", ("h", "v")).data)
    assert np.max(np.abs(good - bad)) > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_of_the_rule_match_finite_differences(kind):
    rng = np.random.default_rng(7 + zlib.crc32(kind.encode()))
    p = random_params(ELEMENTS[kind], rng)
    el = make_element({"element": kind, **p}, "x")
    probe = jnp.asarray(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))

    def f(e):
        return jnp.real(jnp.sum(e.jones() * probe))

    g = jax.grad(f)(el)
    for k in ELEMENTS[kind].params():
        h = 1e-6
        up = jax.tree_util.tree_map(lambda x: x, el)
        object.__setattr__(up, k, getattr(el, k) + h)
        dn = jax.tree_util.tree_map(lambda x: x, el)
        object.__setattr__(dn, k, getattr(el, k) - h)
        fd = (float(f(up)) - float(f(dn))) / (2 * h)
        assert float(getattr(g, k)) == pytest.approx(fd, rel=1e-5, abs=1e-7), k


def test_registry_and_errors():
    for kind, cls in ELEMENTS.items():
        assert cls.kind == kind and cls.params(), kind
        for k, p in cls.params().items():
            assert p.lo <= p.default <= p.hi and p.meaning, (kind, k)
        assert all(isinstance(f, (Unitary, Loss, UniformLoss, ModePhase))
                   for f in make_element({"element": kind}, "x").factors())
    with pytest.raises(ConfigError, match=r"node_b.path\[0\].element = 'mirror'.*wave_plate"):
        make_element({"element": "mirror"}, "node_b.path[0]")
    with pytest.raises(ConfigError, match=r"node_b.path.q1.angel_rad .*quarter_wave_plate.*angle_rad \(default 0\)"):
        make_element({"element": "quarter_wave_plate", "angel_rad": 0.1}, "node_b.path.q1")
    with pytest.raises(ConfigError, match=r"node_b.path.l.transmission = 1.5 is out of range: allowed \[0, 1\]"):
        make_element({"element": "loss", "transmission": 1.5}, "node_b.path.l")
    with pytest.raises(ConfigError, match="must be a number"):
        make_element({"element": "rotator", "angle_rad": "north"}, "node_b.path.r")
    with pytest.raises(ConfigError, match="must be a table"):
        make_element(["wave_plate"], "node_b.path[1]")
