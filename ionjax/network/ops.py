"""Local operations at a network node: gates with errors, noisy readout with feed-forward, storage.

Everything acts on a :class:`~ionjax.core.state.DensityMatrix` through the
engine (``apply_unitary`` / ``apply_kraus`` / ``herald`` on named qubits), and is
smooth in the error rates (mixtures, not square roots of probabilities), so
``jax.grad`` is finite even at zero error.

Error model (the same everywhere in :mod:`ionjax.network`):

* a two-qubit gate is followed by two-qubit depolarizing noise of probability
  ``gate_error``: ``rho -> (1 - e) rho + e I/4 (x) Tr_gate rho``;
* a readout is preceded by a bit flip of probability ``readout_error`` (a noisy
  Z-basis POVM ``{(1-e)|0><0| + e|1><1|, e|0><0| + (1-e)|1><1|}``);
* a stored qubit decays with :func:`ionjax.core.memory_decay` (as its smooth
  superoperator).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import jax.numpy as jnp
import numpy as np

from ..core.state import DensityMatrix
from ..core.superop import apply_superop, memory_decay_superop

__all__ = ["CNOT", "CZ", "H", "X", "Y", "Z", "I2", "gate", "depolarize", "measure", "store"]

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)
H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2.0)
#: Control first.
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
CZ = np.diag([1, 1, 1, -1]).astype(complex)

@cache
def _full_depolarizer(d: int) -> np.ndarray:
    """Kraus operators ``W / d`` (the ``d^2`` Weyl operators): ``rho -> I/d``, the p = 1 case of ``depolarizing``."""
    w = np.exp(2j * np.pi / d)
    shift = np.roll(np.eye(d), 1, axis=0)
    clock = np.diag(w ** np.arange(d))
    ops = [np.linalg.matrix_power(shift, a) @ np.linalg.matrix_power(clock, b) for a in range(d) for b in range(d)]
    return np.stack(ops) / d


def depolarize(state: DensityMatrix, on: tuple[str, ...], p: Any) -> DensityMatrix:
    """``rho -> (1 - p) rho + p (I/d on ``on``) (x) Tr_on rho`` (:func:`ionjax.core.depolarizing`, written as a
    mixture so that it is smooth in ``p``: no square roots)."""
    d = state.space.sub_dim(on)
    mixed = state.apply_kraus(_full_depolarizer(d), on)
    p = jnp.asarray(p)
    return state * (1.0 - p) + mixed * p


def gate(state: DensityMatrix, unitary: Any, on: str | tuple[str, ...], error: Any = 0.0) -> DensityMatrix:
    """Apply ``unitary`` on ``on``; a two-qubit gate is followed by depolarizing noise ``error``."""
    state = state.apply_unitary(unitary, on)
    if isinstance(on, (tuple, list)) and len(on) == 2:
        state = depolarize(state, tuple(on), error)
    return state


def measure(state: DensityMatrix, qubit: str, readout_error: Any = 0.0, basis: str = "z",
            feed_forward: Callable[[DensityMatrix, int], DensityMatrix] | None = None) -> DensityMatrix:
    """Measure ``qubit`` (removed from the state) with a noisy readout, apply ``feed_forward(state, m)``
    to the outcome-``m`` branch, and return the mixture over outcomes ``sum_m p_m rho_m``.

    ``basis="x"`` measures in the X basis (a perfect Hadamard first). The result is the
    unconditional state of the remaining qubits: a trace-preserving channel.
    """
    if basis not in ("z", "x"):
        raise ValueError(f"Argument `basis` must be 'z' or 'x', got {basis!r}.")
    if basis == "x":
        state = state.apply_unitary(H, qubit)
    e = jnp.asarray(readout_error)
    out = None
    for m, effect in ((0, jnp.stack([1.0 - e, e])), (1, jnp.stack([e, 1.0 - e]))):
        p, branch = state.herald(effect, on=qubit)
        if feed_forward is not None:
            branch = feed_forward(branch, m)
        term = branch * p
        out = term if out is None else out + term
    return out


def store(state: DensityMatrix, t_s: Any, t1_s: Any = jnp.inf, t2_s: Any = jnp.inf,
          on: str | tuple[str, ...] | None = None, memory_decay: str = "exponential") -> DensityMatrix:
    """Memory decoherence of stored qubits for ``t_s`` seconds on each qubit of ``on`` (default: every qubit):
    the memory channel of links and chains (:func:`ionjax.link.program.memory_channel`): populations relax to
    ``|0>`` with ``1 - exp(-t/T1)``, coherences decay as ``exp(-t/(2 T1))`` times the dephasing ``exp(-t/T2)``
    (``memory_decay="gaussian"``: ``exp(-(t/T2)^2)``), so ``t2_s`` means what the link file's and
    :func:`ionjax.network.repeater_chain`'s ``t2_s`` mean."""
    from ..link.program import memory_channel

    names = state.space.names if on is None else ((on,) if isinstance(on, str) else tuple(on))
    gamma, coh = memory_channel(t_s, t1_s, t2_s, memory_decay)
    s = memory_decay_superop(t_s, jnp.inf, jnp.inf)  # the identity's layout, filled with this channel
    s = s.at[0, 0, 1, 1].set(gamma).at[1, 1, 1, 1].set(1.0 - gamma).at[0, 1, 0, 1].set(coh).at[1, 0, 1, 0].set(coh)
    for n in names:
        state = apply_superop(state, s, n)
    return state
