"""The result of simulating a heralded link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from ..core.state import DensityMatrix

__all__ = ["LinkResult"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LinkResult:
    """A heralded ion-ion link's numbers. A pytree: every array may carry leading batch axes ``(...)``.

    Attributes:
        fidelity: success-weighted average over accepted patterns of the fidelity of the heralded
            state to that pattern's target Bell state, ``(...)``.
        success_probability: probability per attempt that an accepted pattern occurs, ``(...)``.
        rate_hz: heralded pairs per second, ``attempt_rate_hz * success_probability``, ``(...)``.
        state: the heralded ion-ion state (``ion_a``, ``ion_b``) after each pattern's Pauli-frame
            correction to :attr:`target`, averaged over accepted patterns; data ``(..., 4, 4)``.
        pattern_probabilities: ``(..., P)`` probability per attempt of each accepted pattern.
        pattern_fidelities: ``(..., P)`` fidelity of each pattern's state to its own target.
        attempt_rate_hz: ``(...)``.
        pattern_names: names of the ``P`` accepted click patterns (static).
        pattern_targets: each pattern's target Bell state before correction (static).
        target: the Bell state every pattern is corrected to (static).
    """

    fidelity: jax.Array
    success_probability: jax.Array
    rate_hz: jax.Array
    state: DensityMatrix
    pattern_probabilities: jax.Array
    pattern_fidelities: jax.Array
    attempt_rate_hz: jax.Array
    pattern_names: tuple[str, ...] = field(metadata=dict(static=True), default=())
    pattern_targets: tuple[str, ...] = field(metadata=dict(static=True), default=())
    target: str = field(metadata=dict(static=True), default="psi+")

    @property
    def patterns(self) -> dict[str, dict[str, Any]]:
        """Per accepted pattern: ``{"probability", "fidelity", "target"}`` (arrays ``(...)``)."""
        return {
            name: {
                "probability": self.pattern_probabilities[..., i],
                "fidelity": self.pattern_fidelities[..., i],
                "target": self.pattern_targets[i],
            }
            for i, name in enumerate(self.pattern_names)
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of an unbatched result (floats; the state as real/imag lists)."""
        data = np.asarray(self.state.data)
        return {
            "fidelity": float(self.fidelity),
            "success_probability": float(self.success_probability),
            "rate_hz": float(self.rate_hz),
            "attempt_rate_hz": float(self.attempt_rate_hz),
            "target": self.target,
            "patterns": {
                name: {"probability": float(v["probability"]), "fidelity": float(v["fidelity"]),
                       "target": v["target"]}
                for name, v in self.patterns.items()
            },
            "state_real": data.real.tolist(),
            "state_imag": data.imag.tolist(),
        }
