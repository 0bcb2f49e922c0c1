"""The density-matrix engine: spaces, states, local operations, Fock registers, channels, metrics.

It knows nothing of ions or photons' physics: subsystems with dimensions,
density matrices, unitaries / Kraus maps / POVM effects applied to named
subsystems by tensor contraction, partial trace and metrics.
"""

from .channels import (
    PAULI,
    amplitude_damping,
    check_probability,
    dephasing,
    depolarizing,
    kraus_channel,
    memory_decay,
    pauli_channel,
)
from .fock import (
    annihilation,
    apply_loss,
    beam_splitter_unitary,
    creation,
    lift_unitary,
    loss_kraus,
    number,
    occupation,
    phase_shifter_unitary,
)
from .metrics import (
    BELL_STATES,
    bell_fidelities,
    bell_state,
    concurrence,
    fidelity,
    log_negativity,
    matrix_function,
    negativity,
    purity,
    trace_distance,
    von_neumann_entropy,
)
from .registers import extend_register, merge_registers, register_embedding, split_modes
from .space import FockRegister, Qudit, Space, fock_basis
from .state import DensityMatrix, complex_dtype, real_dtype, tensor
from .superop import apply_superop, dephasing_superop, kraus_to_superop, memory_decay_superop

__all__ = [
    "BELL_STATES",
    "PAULI",
    "DensityMatrix",
    "FockRegister",
    "Qudit",
    "Space",
    "amplitude_damping",
    "apply_superop",
    "annihilation",
    "apply_loss",
    "beam_splitter_unitary",
    "bell_fidelities",
    "bell_state",
    "check_probability",
    "complex_dtype",
    "concurrence",
    "creation",
    "dephasing",
    "dephasing_superop",
    "depolarizing",
    "extend_register",
    "fidelity",
    "fock_basis",
    "kraus_channel",
    "kraus_to_superop",
    "lift_unitary",
    "log_negativity",
    "loss_kraus",
    "matrix_function",
    "merge_registers",
    "memory_decay",
    "memory_decay_superop",
    "negativity",
    "number",
    "occupation",
    "pauli_channel",
    "phase_shifter_unitary",
    "purity",
    "real_dtype",
    "register_embedding",
    "split_modes",
    "tensor",
    "trace_distance",
    "von_neumann_entropy",
]
