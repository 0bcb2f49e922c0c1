"""Each Bell-state-analyzer pattern heralds its stated Bell state (ideal sources, 50:50 beam splitters)."""

import jax
import jax.numpy as jnp
import pytest

import ionjax.components as C
from ionjax.core import DensityMatrix, FockRegister, Qudit, Space, bell_state, fidelity, merge_registers, tensor


def _node(st, ion, prefix):
    reg = st.space["photon"]
    sp = Space(Qudit(ion), FockRegister(f"photon_{prefix}", tuple(f"{prefix}_{m}" for m in reg.modes), reg.n_max))
    return DensityMatrix(st.data, sp)


def _after_beam_splitters(sa, sb, modes):
    joint = tensor(_node(sa, "ion_a", "a"), _node(sb, "ion_b", "b"))
    joint = merge_registers(joint, "photon_a", "photon_b", "photons").permute(("ion_a", "ion_b", "photons"))
    for m in modes:  # output c_m sits where a_m was, d_m where b_m was
        joint = C.apply_optics(joint, "photons", C.beam_splitter(0.5), (f"a_{m}", f"b_{m}"))
    return joint


def _detectors(an):
    return tuple((name, tuple(o.replace("c_", "a_", 1).replace("d_", "b_", 1) for o in outs))
                 for name, outs in an.detectors)


@pytest.mark.parametrize("encoding,success", [("polarization", 0.5), ("time_bin", 0.5), ("frequency", 0.25)])
def test_two_photon_patterns_herald_their_bell_states(encoding, success):
    an = C.bell_state_analyzer(encoding)
    st = C.ion_photon_state(encoding)
    joint = jax.jit(lambda s: _after_beam_splitters(s, s, an.modes))(st)
    reg = joint.space["photons"]
    dets = _detectors(an)
    total = 0.0
    for name, fire, target in an.patterns:
        p, ions = joint.herald(C.pattern_effect(reg, dets, fire), on="photons")
        assert float(p) > 0, name
        assert float(fidelity(ions, jnp.asarray(bell_state(target)))) == pytest.approx(1.0, abs=1e-12), name
        total += float(p)
    assert total == pytest.approx(success)


def test_single_photon_patterns():
    p = 0.1
    an = C.bell_state_analyzer("single_photon")
    st = C.bright_state_source(p)
    joint = jax.jit(lambda s: _after_beam_splitters(s, s, an.modes))(st)
    reg = joint.space["photons"]
    dets = _detectors(an)
    for name, fire, target in an.patterns:
        # number-resolving detectors reject the bunched |11> photon pair: exact Bell state
        prob, ions = joint.herald(C.pattern_effect(reg, dets, fire, "pnr"), on="photons")
        assert float(prob) == pytest.approx(p * (1 - p))
        assert float(fidelity(ions, jnp.asarray(bell_state(target)))) == pytest.approx(1.0, abs=1e-12), name
        # threshold detectors accept it: F = p(1-p) / (p(1-p) + p^2/2)
        prob, ions = joint.herald(C.pattern_effect(reg, dets, fire, "threshold"), on="photons")
        assert float(fidelity(ions, jnp.asarray(bell_state(target)))) == pytest.approx((1 - p) / (1 - p / 2))


def test_unknown_encoding():
    with pytest.raises(ValueError, match="encoding"):
        C.bell_state_analyzer("orbital")
