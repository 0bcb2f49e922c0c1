"""Bad input gives a ValueError that names the offending argument."""

import numpy as np
import pytest

from ionjax.core import (
    DensityMatrix,
    FockRegister,
    Qudit,
    Space,
    amplitude_damping,
    apply_loss,
    bell_state,
    concurrence,
    dephasing,
    depolarizing,
    fidelity,
    kraus_channel,
    lift_unitary,
    memory_decay,
    pauli_channel,
)

REG = FockRegister("light", ("horizontal", "vertical"), 2)
SPACE = Space(Qudit("ion_a"), Qudit("ion_b", 3), REG)


@pytest.fixture(scope="module")
def state():
    return DensityMatrix(np.eye(SPACE.dim, dtype=complex) / SPACE.dim, SPACE)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.ptrace(keep="ion_c"),
        lambda s: s.ptrace(drop=("ion_a", "ion_c")),
        lambda s: s.apply_unitary(np.eye(2), "ion_c"),
        lambda s: s.apply_kraus(dephasing(0.1), "ion_c"),
        lambda s: s.herald(np.ones(2), "ion_c"),
        lambda s: s.expect(np.eye(2), "ion_c"),
        lambda s: s.permute(("ion_c", "ion_b", "light")),
        lambda s: apply_loss(s, "ion_c", "horizontal", 0.5),
    ],
)
def test_unknown_subsystem_is_named_with_suggestion(state, call):
    with pytest.raises(ValueError, match=r"'ion_c'.*Did you mean 'ion_[ab]'\?"):
        call(state)


def test_unknown_mode_is_named_with_suggestion(state):
    with pytest.raises(ValueError, match=r"'horizontl'.*Did you mean 'horizontal'\?"):
        apply_loss(state, "light", "horizontl", 0.5)
    with pytest.raises(ValueError, match=r"'lihgt'.*Did you mean 'light'\?"):
        SPACE.index("lihgt")
    # no close match: no suggestion, but still the name
    with pytest.raises(ValueError, match=r"'zzz' is not in this Space") as err:
        SPACE.index("zzz")
    assert "Did you mean" not in str(err.value)


def test_operator_dimension_mismatch_names_argument(state):
    with pytest.raises(ValueError, match=r"`op`.*\(\.\.\., 3, 3\).*ion_b.*\(2, 2\)"):
        state.apply_unitary(np.eye(2), "ion_b")
    with pytest.raises(ValueError, match=r"`op`.*\(\.\.\., 6, 6\)"):
        state.apply_unitary(np.eye(5), ("ion_a", "ion_b"))
    with pytest.raises(ValueError, match=r"`kraus`.*\(k, 3, 3\)"):
        state.apply_kraus(dephasing(0.1), "ion_b")
    with pytest.raises(ValueError, match=r"`kraus`.*\(k, 2, 2\)"):
        state.apply_kraus(np.eye(2), "ion_a")  # a single matrix is not a Kraus stack
    with pytest.raises(ValueError, match=r"`op`"):
        state.expect(np.eye(4), "ion_b")
    with pytest.raises(ValueError, match=r"`effect`"):
        state.herald(np.eye(4), "ion_b")
    with pytest.raises(ValueError, match=r"`u`.*\(2, 2\)"):
        lift_unitary(REG, np.eye(3))


def test_non_square_and_mismatched_data():
    with pytest.raises(ValueError, match=r"`data`.*square"):
        DensityMatrix(np.zeros((4, 3)), Space(Qudit("a"), Qudit("b")))
    with pytest.raises(ValueError, match=r"`data`.*square"):
        DensityMatrix(np.zeros(4), Space(Qudit("a"), Qudit("b")))
    with pytest.raises(ValueError, match=r"`data`.*\(\.\.\., 4, 4\)"):
        DensityMatrix(np.eye(3), Space(Qudit("a"), Qudit("b")))
    with pytest.raises(ValueError, match=r"`ket`.*\(\.\.\., 6\)"):
        DensityMatrix.from_ket(np.ones(4), Space(Qudit("a"), Qudit("b", 3)))
    with pytest.raises(ValueError, match=r"`space`"):
        DensityMatrix(np.eye(2), (2,))


def test_from_qutip_dims_mismatch():
    qutip = pytest.importorskip("qutip")
    with pytest.raises(ValueError, match=r"`space`.*\(2, 2\).*\[3, 2\]"):
        DensityMatrix.from_qutip(qutip.rand_dm([3, 2], seed=1), Space(Qudit("a"), Qudit("b")))


def test_non_physical_kraus_set():
    with pytest.raises(ValueError, match=r"`kraus` is not trace preserving.*0\.2"):
        kraus_channel(np.stack([np.eye(2), np.sqrt(0.2) * np.eye(2)]))
    with pytest.raises(ValueError, match=r"`kraus` is not trace preserving"):
        kraus_channel(0.9 * np.eye(3)[None])
    with pytest.raises(ValueError, match=r"`kraus`.*\(k, d, d\)"):
        kraus_channel(np.zeros((2, 2, 3)))
    # within tolerance is accepted; a valid set passes unchanged
    ok = np.stack([np.sqrt(0.3) * np.eye(2), np.sqrt(0.7) * np.diag([1, -1])])
    np.testing.assert_array_equal(np.asarray(kraus_channel(ok)), ok)


@pytest.mark.parametrize(
    "call,arg",
    [
        (lambda: dephasing(1.3), "p"),
        (lambda: dephasing(-0.1), "p"),
        (lambda: dephasing(np.nan), "p"),
        (lambda: depolarizing(1.5, 3), "p"),
        (lambda: amplitude_damping(2.0), "gamma"),
        (lambda: pauli_channel(0.1, -0.2, 0.1), "py"),
        (lambda: memory_decay(-1.0, 1.0, 1.0), "t_s"),
        (lambda: memory_decay(1.0, 0.0, 1.0), "t1_s"),
        (lambda: dephasing(np.array([0.1, 1.2])), "p"),
    ],
)
def test_probability_out_of_range_names_argument(call, arg):
    with pytest.raises(ValueError, match=rf"Argument `{arg}` must"):
        call()


def test_joint_constraints():
    with pytest.raises(ValueError, match=r"`px \+ py \+ pz`.*1\.2"):
        pauli_channel(0.4, 0.4, 0.4)
    with pytest.raises(ValueError, match=r"t2_s <= 2 \* t1_s"):
        memory_decay(1.0, 1.0, 3.0)
    memory_decay(1.0, 1.0)  # t2 = inf: T1-limited, allowed


def test_space_and_register_construction_errors():
    with pytest.raises(ValueError, match=r"unique.*'a'"):
        Space(Qudit("a"), Qudit("a", 3))
    with pytest.raises(ValueError, match=r"`dim`"):
        Qudit("a", 0)
    with pytest.raises(ValueError, match=r"`n_max`"):
        FockRegister("r", ("x",), -1)
    with pytest.raises(ValueError, match=r"mode names must be unique"):
        FockRegister("r", ("x", "x"))
    with pytest.raises(ValueError, match=r"Occupation \(2, 1\).*n_max = 2"):
        REG.index((2, 1))
    with pytest.raises(ValueError, match=r"exactly one of `keep` or `drop`"):
        DensityMatrix(np.eye(2) / 2, Space(Qudit("a"))).ptrace()
    with pytest.raises(ValueError, match=r"`on` names a subsystem twice"):
        DensityMatrix(np.eye(4) / 4, Space(Qudit("a"), Qudit("b"))).apply_unitary(np.eye(4), ("a", "a"))
    with pytest.raises(ValueError, match=r"`order` must list every subsystem"):
        DensityMatrix(np.eye(4) / 4, Space(Qudit("a"), Qudit("b"))).permute(("b",))


def test_metric_shape_errors():
    with pytest.raises(ValueError, match=r"`rho`.*two-qubit"):
        concurrence(np.eye(3) / 3)
    with pytest.raises(ValueError, match=r"`rho`.*`sigma`"):
        fidelity(np.eye(4) / 4, np.eye(2) / 2)
    with pytest.raises(ValueError, match=r"Unknown Bell state 'phi0'"):
        bell_state("phi0")
