"""Remote gates: a CNOT or CZ teleported between two processors, consuming one heralded pair.

Protocol (Eisert, Jacobs, Papadopoulos & Plenio, PRA 62, 052317 (2000)):
node A holds the control ``c`` and its half ``a`` of the pair, node B the
other half ``b`` and the target ``t``.

1. A: ``CNOT(c -> a)``; read ``a`` in the Z basis (``m1``), send ``m1`` to B; B applies
   ``X^m1`` to ``b`` (now ``b`` carries a copy of the control: the "cat-entangler").
2. B: the controlled gate from ``b`` to ``t`` (``CNOT`` or ``CZ``); read ``b`` in the X basis
   (``m2``), send ``m2`` to A; A applies ``Z^m2`` to ``c`` (the "disentangler").

The pair targets ``Psi+``; B's frame is changed by X on ``b`` (free) so that the
protocol sees ``Phi+``. Each local two-qubit gate is followed by depolarizing
noise ``gate_error``, each readout preceded by a bit flip ``readout_error``.

Figures of merit: the process (entanglement) fidelity
``F_pro = <chi| (id x E)(|Phi+><Phi+|) |chi>`` with the ideal Choi state ``chi``
of the gate on the two qubits (``d = 4``), and the average gate fidelity
``F_avg = (d F_pro + 1) / (d + 1)``. With perfect gates and a Werner pair of
fidelity ``F``, every pair error becomes a distinct Pauli error on the output, so
``F_pro = F``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.space import Qudit, Space
from ..core.state import DensityMatrix, tensor
from .ops import CNOT, CZ, X, Z, gate, measure
from .pairs import elementary_link, rename

__all__ = ["RemoteGateResult", "teleported_gate", "remote_gate", "GATES"]

GATES = {"cnot": CNOT, "cz": CZ}
_D = 4


def _bell_ket() -> np.ndarray:
    """``|Phi+>`` on two qubits."""
    k = np.zeros(4, complex)
    k[0] = k[3] = 1 / np.sqrt(2)
    return k


def _ideal_choi(u: np.ndarray) -> np.ndarray:
    """Choi ket on (rc, c, t, rt) of the gate ``u`` acting on (c, t)."""
    phi = _bell_ket()
    ket = np.einsum("ab,cd->abdc", phi.reshape(2, 2), phi.reshape(2, 2))  # (rc, c, t, rt)
    return np.einsum("xyct,actr->axyr", u.reshape(2, 2, 2, 2), ket).reshape(16)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class RemoteGateResult:
    """A teleported gate's figures. A pytree.

    Attributes:
        process_fidelity: ``F_pro``, the fidelity of the Choi state to the ideal gate's.
        average_gate_fidelity: ``(4 F_pro + 1) / 5``.
        choi: the Choi state on ``("rc", "c", "t", "rt")`` (references ``rc``, ``rt`` of control ``c`` and
            target ``t``).
        rate_hz: gates per second the link supports (one pair per gate): its heralded pair rate (a chain's
            end-to-end rate; NaN for a bare pair state).
        pair_fidelity: fidelity of the consumed pair to ``Psi+``.
        gate: ``"cnot"`` or ``"cz"`` (static).
    """

    process_fidelity: jax.Array
    average_gate_fidelity: jax.Array
    choi: DensityMatrix
    rate_hz: jax.Array
    pair_fidelity: jax.Array
    gate: str = field(metadata=dict(static=True), default="cnot")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary; ``rate_hz`` is None when unknown (a pair given as a bare state)."""
        rate = float(self.rate_hz)
        return {"gate": self.gate, "process_fidelity": float(self.process_fidelity),
                "average_gate_fidelity": float(self.average_gate_fidelity),
                "rate_hz": rate if np.isfinite(rate) else None, "pair_fidelity": float(self.pair_fidelity)}


def _check_gate(name: str) -> np.ndarray:
    if name not in GATES:
        raise ValueError(f"Argument `gate` must be one of {tuple(GATES)}, got {name!r}.")
    return GATES[name]


def teleported_gate(pair: DensityMatrix, gate_name: str = "cnot", gate_error: Any = 0.0,
                    readout_error: Any = 0.0) -> DensityMatrix:
    """The Choi state of a gate teleported with ``pair`` (``(4, 4)`` on A, B; target ``Psi+``).

    Returns:
        The Choi state on ``("rc", "c", "t", "rt")``: the channel applied to half of ``|Phi+>_{rc,c}``
        and half of ``|Phi+>_{t,rt}``.
    """
    _check_gate(gate_name)
    if not isinstance(pair, DensityMatrix) or pair.space.dims != (2, 2):
        raise ValueError(f"Argument `pair` must be a two-qubit DensityMatrix, got {pair!r}.")
    return _teleport(pair, gate_error, readout_error, gate_name=gate_name)


@partial(jax.jit, static_argnames=("gate_name",))
def _teleport(pair: DensityMatrix, gate_error: Any, readout_error: Any, *, gate_name: str) -> DensityMatrix:
    u = GATES[gate_name]
    cd = pair.data.dtype
    phi = jnp.asarray(_bell_ket(), cd)
    ref_c = DensityMatrix.from_ket(phi, Space(Qudit("rc"), Qudit("c")))
    ref_t = DensityMatrix.from_ket(phi, Space(Qudit("t"), Qudit("rt")))
    rho = tensor(ref_c, rename(pair, ("a", "b")), ref_t)  # (rc, c, a, b, t, rt)
    rho = rho.apply_unitary(X, "b")  # Psi+ -> Phi+ frame
    rho = gate(rho, CNOT, ("c", "a"), gate_error)
    rho = measure(rho, "a", readout_error, feed_forward=lambda st, m: st.apply_unitary(X, "b") if m else st)
    rho = gate(rho, u, ("b", "t"), gate_error)
    rho = measure(rho, "b", readout_error, basis="x",
                  feed_forward=lambda st, m: st.apply_unitary(Z, "c") if m else st)
    return rho  # (rc, c, t, rt)


def remote_gate(link: Any, gate: str = "cnot", gate_error: Any = 0.0, readout_error: Any = 0.0) -> RemoteGateResult:
    """Process and average gate fidelity of a CNOT/CZ teleported with the pairs of ``link``.

    Args:
        link: a ``Link``, ``LinkResult``, :class:`~ionjax.network.ElementaryLink`, numbers
            ``(fidelity, success_probability[, attempt_rate_hz])``, a
            :class:`~ionjax.network.ChainResult` (the end-to-end pair of a repeater chain, at its rate), or a
            two-qubit ``DensityMatrix`` (a pair; the rate is then unknown, NaN).
        gate: ``"cnot"`` or ``"cz"``.
        gate_error: depolarizing probability after each of the two local two-qubit gates.
        readout_error: bit-flip probability of each of the two readouts.
    """
    from .chain import ChainResult

    u = _check_gate(gate)
    if isinstance(link, ChainResult):
        pair, rate = link.state, link.rate_hz
    elif isinstance(link, DensityMatrix):
        pair, rate = link, jnp.asarray(jnp.nan)
    else:
        el = elementary_link(link)
        pair, rate = el.state, el.rate_hz
    choi = teleported_gate(pair, gate, gate_error, readout_error)
    ideal = jnp.asarray(_ideal_choi(u), choi.data.dtype)
    f_pro = jnp.real(jnp.einsum("i,...ij,j->...", jnp.conj(ideal), choi.data, ideal))
    pair_f = jnp.real(jnp.einsum("i,...ij,j->...", jnp.asarray([0, 1, 1, 0], pair.data.dtype) / np.sqrt(2),
                                 pair.data, jnp.asarray([0, 1, 1, 0], pair.data.dtype) / np.sqrt(2)))
    return RemoteGateResult(f_pro, (_D * f_pro + 1.0) / (_D + 1.0), choi, rate, pair_f, gate)
