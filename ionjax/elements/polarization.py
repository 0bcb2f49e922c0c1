"""Polarization optics and loss in a node's path, one small class each (see :mod:`ionjax.elements.base`).

Conventions (DESIGN.md): modes ``(h, v)``; a retarder of retardance G with its fast axis at angle t
from h is ``R(t) diag(e^{-iG/2}, e^{iG/2}) R(-t)``; a fiber's birefringence is the general SU(2)
``Rz(phi) Ry(theta) Rz(lambda)``; transmissions are powers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp

from ..components.fiber import birefringence_unitary, fiber_transmission
from ..components.optics import rotator, wave_plate
from .base import Element, Loss, ModePhase, UniformLoss, Unitary, param

__all__ = ["LossElement", "Fiber", "WavePlate", "HalfWavePlate", "QuarterWavePlate", "Rotator", "Birefringence",
           "PolarizationDependentLoss", "PhaseShifter"]

_ANGLE = dict(lo=-4 * math.pi, hi=4 * math.pi)


def _element(cls: type) -> type:
    return jax.tree_util.register_dataclass(dataclass(frozen=True)(cls))


@_element
class LossElement(Element):
    """Polarization-independent loss (a connector, a filter): power transmission ``transmission``."""

    kind = "loss"
    transmission: jax.Array = param(1.0, 0.0, 1.0, help="power transmission")

    def factors(self):  # noqa: ANN201
        return [UniformLoss(self.transmission)]


@_element
class Fiber(Element):
    """A fiber: loss ``10^(-alpha L / 10)`` and (optionally) birefringence ``Rz(phi) Ry(theta) Rz(lambda)``."""

    kind = "fiber"
    length_km: jax.Array = param(0.0, 0.0, 1.0e5, help="fiber length, km")
    attenuation_db_per_km: jax.Array = param(0.0, 0.0, 1.0e3, help="fiber loss, dB/km")
    theta_rad: jax.Array = param(0.0, **_ANGLE, help="birefringence Euler angle theta, rad")
    phi_rad: jax.Array = param(0.0, **_ANGLE, help="birefringence Euler angle phi, rad")
    lambda_rad: jax.Array = param(0.0, **_ANGLE, help="birefringence Euler angle lambda, rad")

    def factors(self):  # noqa: ANN201
        t = fiber_transmission(self.length_km, self.attenuation_db_per_km)
        return [UniformLoss(t), Unitary(birefringence_unitary(self.theta_rad, self.phi_rad, self.lambda_rad))]

    def factors_for(self, modes):  # noqa: ANN001, ANN201
        """On a photon whose qubit is not its polarization, only the loss acts (the angles must be 0, see fits)."""
        return self.factors() if modes == ("h", "v") else self.factors()[:1]

    def fits(self, modes):  # noqa: ANN001, ANN201
        if modes == ("h", "v"):
            return None
        angles = {k: getattr(self, k) for k in ("theta_rad", "phi_rad", "lambda_rad")}
        if any(not isinstance(v, jax.core.Tracer) and jnp.any(jnp.asarray(v) != 0) for v in angles.values()):
            return ("its birefringence (theta_rad, phi_rad, lambda_rad) rotates polarization, which this photon's "
                    "qubit does not use; leave the angles at 0")
        return None


@_element
class WavePlate(Element):
    """A retarder of retardance ``retardance_rad`` with its fast axis at ``angle_rad`` from h."""

    kind = "wave_plate"
    retardance_rad: jax.Array = param(math.pi, -4 * math.pi, 4 * math.pi, help="retardance, rad")
    angle_rad: jax.Array = param(0.0, **_ANGLE, help="fast-axis angle from h, rad")

    def factors(self):  # noqa: ANN201
        return [Unitary(wave_plate(self.retardance_rad, self.angle_rad))]


@dataclass(frozen=True)
class _FixedRetarder(Element):
    """A wave plate of fixed retardance (the class attribute ``retardance_rad``) at ``angle_rad``."""

    retardance_rad: ClassVar[float]
    angle_rad: jax.Array = param(0.0, **_ANGLE, help="fast-axis angle from h, rad")

    def factors(self):  # noqa: ANN201
        return [Unitary(wave_plate(self.retardance_rad, self.angle_rad))]


@_element
class HalfWavePlate(_FixedRetarder):
    """A half-wave plate (retardance pi) at ``angle_rad``."""

    kind = "half_wave_plate"
    retardance_rad = math.pi


@_element
class QuarterWavePlate(_FixedRetarder):
    """A quarter-wave plate (retardance pi/2) at ``angle_rad``."""

    kind = "quarter_wave_plate"
    retardance_rad = math.pi / 2.0


@_element
class Rotator(Element):
    """A polarization rotation ``R(angle_rad)`` (Faraday or optically active)."""

    kind = "rotator"
    angle_rad: jax.Array = param(0.0, **_ANGLE, help="rotation angle, rad")

    def factors(self):  # noqa: ANN201
        return [Unitary(rotator(self.angle_rad))]


@_element
class Birefringence(Element):
    """A general SU(2) polarization transformation ``Rz(phi) Ry(theta) Rz(lambda)`` (a fiber's, lossless)."""

    kind = "birefringence"
    theta_rad: jax.Array = param(0.0, **_ANGLE, help="Euler angle theta, rad")
    phi_rad: jax.Array = param(0.0, **_ANGLE, help="Euler angle phi, rad")
    lambda_rad: jax.Array = param(0.0, **_ANGLE, help="Euler angle lambda, rad")

    def factors(self):  # noqa: ANN201
        return [Unitary(birefringence_unitary(self.theta_rad, self.phi_rad, self.lambda_rad))]


@_element
class PolarizationDependentLoss(Element):
    """Different power transmissions for h and v."""

    kind = "polarization_dependent_loss"
    transmission_h: jax.Array = param(1.0, 0.0, 1.0, help="power transmission of h")
    transmission_v: jax.Array = param(1.0, 0.0, 1.0, help="power transmission of v")

    def factors(self):  # noqa: ANN201
        return [Loss(self.transmission_h, self.transmission_v)]


@_element
class PhaseShifter(Element):
    """A phase ``e^{i phase_rad}`` on one mode: by default the encoding's second mode (v, late, f1) relative to
    the first, or the photon's only mode (single_photon: the optical path phase). ``mode`` (static, in the file
    ``mode = 1``) picks the mode by its number 0 or 1."""

    kind = "phase_shifter"
    phase_rad: jax.Array = param(0.0, **_ANGLE, help="phase on the mode, rad")
    mode: int = field(default=-1, metadata=dict(static=True))

    def factors(self):  # noqa: ANN201
        return [ModePhase(self.phase_rad, self.mode)]
