"""The result of simulating a heralded link, and its status codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from ..core.state import DensityMatrix

__all__ = ["LinkResult", "LinkStatus"]


class LinkStatus(enum.IntEnum):
    """Status codes of a :class:`LinkResult` (the ``status`` leaf holds these integers; diffrax ``RESULTS``).

    ``no_herald`` is "no answer", not "answer 0": no accepted pattern has a probability the working
    precision can represent (exactly zero, or below the smallest normal number, e.g. underflow of
    ``eta_A eta_B`` over a long lossy fiber in float32). The heralded state and its fidelity are then
    undefined; the result reports ``fidelity = 0``, ``pattern_fidelities = 0``, the zero state (trace
    0), ``success_probability = rate_hz = 0`` and zero pattern probabilities, all with finite (zero)
    gradients, so that sweeps and optimizers are not poisoned by NaN. Tell such a point from a real
    ``F = 0`` by ``status`` (or :attr:`LinkResult.heralded`), never by the fidelity.

    Example:
        >>> from ionjax.protocols import LinkStatus
        >>> LinkStatus(1).name, LinkStatus.no_herald.message.split(":")[0]
        ('no_herald', 'no accepted herald pattern has a nonzero probability')
    """

    heralded = 0
    no_herald = 1

    @property
    def message(self) -> str:
        """A sentence saying what the status means."""
        return _MESSAGES[self]


_MESSAGES = {
    LinkStatus.heralded: "heralded: the accepted patterns occur and the heralded state is defined",
    LinkStatus.no_herald: ("no accepted herald pattern has a nonzero probability: the success probability is 0 "
                           "(or underflows the working precision), so there is no heralded state; fidelity and "
                           "state are reported as 0. Check the transmission (collection, fiber loss, window, "
                           "excitation), the detector efficiency and the dark counts, or work in float64."),
}


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LinkResult:
    """A heralded ion-ion link's numbers. A pytree: every array may carry leading batch axes ``(...)``.

    Attributes:
        fidelity: success-weighted average over accepted patterns of the fidelity of the heralded
            state to that pattern's target Bell state, ``(...)``; 0 where ``status`` is ``no_herald``.
        success_probability: probability per attempt that an accepted pattern occurs, ``(...)``.
        rate_hz: heralded pairs per second, ``attempt_rate_hz * success_probability``, ``(...)``.
        state: the heralded ion-ion state (``ion_a``, ``ion_b``) after each pattern's Pauli-frame
            correction to :attr:`target`, averaged over accepted patterns; data ``(..., 4, 4)``; the
            zero matrix where ``status`` is ``no_herald``.
        pattern_probabilities: ``(..., P)`` probability per attempt of each accepted pattern.
        pattern_fidelities: ``(..., P)`` fidelity of each pattern's state to its own target (0 for a
            pattern that does not occur).
        pattern_states: ``(..., P, 4, 4)`` each accepted pattern's normalized heralded ion-ion state after its
            Pauli-frame correction to :attr:`target` (ion A first); the zero matrix for a pattern that does
            not occur. :attr:`state` is their average weighted by :attr:`pattern_probabilities`.
        attempt_rate_hz: ``(...)``.
        status: ``(...)`` int32 codes of :class:`LinkStatus` (0 ``heralded``, 1 ``no_herald``).
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
    status: jax.Array
    pattern_states: jax.Array
    pattern_names: tuple[str, ...] = field(metadata=dict(static=True), default=())
    pattern_targets: tuple[str, ...] = field(metadata=dict(static=True), default=())
    target: str = field(metadata=dict(static=True), default="psi+")

    @property
    def heralded(self) -> jax.Array:
        """``(...)`` bool: True where an accepted pattern occurs (``status == LinkStatus.heralded``)."""
        return self.status == LinkStatus.heralded

    @property
    def status_name(self) -> str:
        """``"heralded"`` or ``"no_herald"`` of an unbatched result (ValueError if batched)."""
        return self._status().name

    @property
    def status_message(self) -> str:
        """The :attr:`LinkStatus.message` of an unbatched result (ValueError if batched)."""
        return self._status().message

    def _status(self) -> LinkStatus:
        code = np.asarray(self.status)
        if code.ndim:
            raise ValueError(f"`status_name` / `status_message` need an unbatched result, got status of shape "
                             f"{code.shape}; use `res.status` (codes of ionjax.LinkStatus) or `res.heralded`.")
        return LinkStatus(int(code))

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
        """JSON-friendly dict of an unbatched result (floats; the state as real/imag lists).

        ``"status"`` is ``"heralded"`` or ``"no_herald"`` (then fidelity and state are 0: no answer).
        """
        data = np.asarray(self.state.data)
        return {
            "status": self.status_name,
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
