"""Entanglement swapping at an ion node: a Bell measurement by local gates, with the Pauli-frame correction.

Pair 1 joins node A's ion ``a`` and the middle node's ion ``b1``; pair 2 joins
the middle node's ``b2`` and node C's ``c``. The middle node applies
``CNOT(b1 -> b2)`` (then depolarizing noise ``gate_error`` on both), a Hadamard
on ``b1``, and reads ``b1``, ``b2`` in the Z basis (each flipped with probability
``readout_error``). The outcome ``(m1, m2)`` is sent to node C, which applies
``Z^m1 X^(1 - m2)``: for two ``Psi+`` pairs the result is ``Psi+`` on ``(a, c)`` for
every outcome. The Bell measurement is deterministic: no outcome is discarded.

With perfect gates, two Werner pairs give ``F' = F1 F2 + (1 - F1)(1 - F2)/3``. In
general, for Bell-diagonal pairs the Pauli correlators multiply:
``c' = s * c1 * c2`` (:mod:`ionjax.network.pairs`), where the swap factor
``s = swap_factor(gate_error, readout_error)`` collects the node's errors.
"""

from __future__ import annotations

from typing import Any

import jax

from ..core.state import DensityMatrix, tensor
from .ops import CNOT, H, X, Z, gate, measure
from .pairs import PAIR_SPACE, pauli_correlators, rename, werner_state

__all__ = ["entanglement_swap", "swap_factor"]


def _correct_c(state: DensityMatrix, m1: int, m2: int) -> DensityMatrix:
    if m2 == 0:
        state = state.apply_unitary(X, "c")
    if m1 == 1:
        state = state.apply_unitary(Z, "c")
    return state


def entanglement_swap(pair_1: DensityMatrix, pair_2: DensityMatrix, gate_error: Any = 0.0,
                      readout_error: Any = 0.0) -> DensityMatrix:
    """Swap ``pair_1`` (A, B) and ``pair_2`` (B, C) into a pair (A, C) at the middle node B.

    Args:
        pair_1, pair_2: two-qubit states ``(4, 4)`` (first qubit on the left), each corrected to
            ``Psi+`` (the output of a link); batch axes must match or broadcast.
        gate_error: depolarizing probability after the CNOT of the Bell measurement.
        readout_error: bit-flip probability of each of the two readouts.

    Returns:
        The pair on ``("ion_a", "ion_b")`` = (A, C) after the Pauli-frame correction, averaged over the
        four outcomes (trace one).
    """
    for name, p in (("pair_1", pair_1), ("pair_2", pair_2)):
        if not isinstance(p, DensityMatrix) or p.space.dims != (2, 2):
            raise ValueError(f"Argument `{name}` must be a two-qubit DensityMatrix, got {p!r}.")
    return _swap(pair_1, pair_2, gate_error, readout_error)


@jax.jit
def _swap(pair_1: DensityMatrix, pair_2: DensityMatrix, gate_error: Any, readout_error: Any) -> DensityMatrix:
    rho = tensor(rename(pair_1, ("a", "b1")), rename(pair_2, ("b2", "c")))
    rho = gate(rho, CNOT, ("b1", "b2"), gate_error)
    rho = rho.apply_unitary(H, "b1")

    def after_m1(st: DensityMatrix, m1: int) -> DensityMatrix:
        return measure(st, "b2", readout_error, feed_forward=lambda s2, m2: _correct_c(s2, m1, m2))

    rho = measure(rho, "b1", readout_error, feed_forward=after_m1)
    return DensityMatrix(rho.data, PAIR_SPACE)


@jax.jit
def swap_factor(gate_error: Any = 0.0, readout_error: Any = 0.0) -> jax.Array:
    """The factor ``s`` ``(3,)`` by which one noisy swap multiplies Bell-diagonal correlators:
    the correlators of :func:`entanglement_swap` applied to two perfect ``Psi+`` pairs (jitted).

    In closed form ``s = (1 - g) ((1 - 2r), (1 - 2r)^2, (1 - 2r))`` for gate error ``g`` and readout error ``r``:
    a flipped first readout leaves a Z error (flips ``<XX>``, ``<YY>``), a flipped second one an X error
    (flips ``<YY>``, ``<ZZ>``), and the depolarized branch leaves a maximally mixed pair."""
    ideal = werner_state(1.0)
    return pauli_correlators(_swap(ideal, ideal, gate_error, readout_error))
