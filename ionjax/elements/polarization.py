"""Polarization optics and loss in a node's path, one small class each (see :mod:`ionjax.elements.base`).

Conventions (DESIGN.md): modes ``(h, v)``; a retarder of retardance G with its fast axis at angle t
from h is ``R(t) diag(e^{-iG/2}, e^{iG/2}) R(-t)``; a fiber's birefringence is the general SU(2)
``Rz(phi) Ry(theta) Rz(lambda)``; transmissions are powers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp

from ..components.fiber import birefringence_unitary, fiber_transmission
from ..components.optics import rotator, wave_plate
from .base import Element, Loss, Unitary, param

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
        return [Loss(self.transmission, self.transmission)]


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
        return [Loss(t, t), Unitary(birefringence_unitary(self.theta_rad, self.phi_rad, self.lambda_rad))]


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
    """A phase ``e^{i phase_rad}`` on the v mode relative to h (a phase on one mode of the pair)."""

    kind = "phase_shifter"
    phase_rad: jax.Array = param(0.0, **_ANGLE, help="phase of v relative to h, rad")

    def factors(self):  # noqa: ANN201
        p = jnp.asarray(self.phase_rad)
        one = jnp.ones_like(p)
        return [Unitary(jnp.diag(jnp.stack([one, jnp.exp(1j * p)])))]
