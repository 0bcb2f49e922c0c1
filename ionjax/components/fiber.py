"""Optical fiber: attenuation, latency, and (see :mod:`ionjax.components.optics`) birefringence.

Conventions (DESIGN.md): transmission ``10^(-alpha_dB_per_km * L_km / 10)``; light
in fiber travels at ``2e5 km/s``; a node whose fiber to the station is ``L``
long waits ``2 L / (2e5 km/s)`` for its herald.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..core.channels import check_probability

__all__ = ["SPEED_OF_LIGHT_IN_FIBER_KM_PER_S", "fiber_transmission", "fiber_latency_s", "herald_wait_s"]

#: Group velocity of light in silica fiber (km/s), the DESIGN.md convention.
SPEED_OF_LIGHT_IN_FIBER_KM_PER_S = 2.0e5


def fiber_transmission(length_km: Any, attenuation_db_per_km: Any) -> jax.Array:
    """Power transmission ``10^(-alpha L / 10)`` of a fiber (dimensionless, in (0, 1])."""
    check_probability("length_km", length_km, 0.0, float("inf"))
    check_probability("attenuation_db_per_km", attenuation_db_per_km, 0.0, float("inf"))
    return 10.0 ** (-jnp.asarray(attenuation_db_per_km) * jnp.asarray(length_km) / 10.0)


def fiber_latency_s(length_km: Any) -> jax.Array:
    """One-way travel time ``L / (2e5 km/s)`` in seconds."""
    check_probability("length_km", length_km, 0.0, float("inf"))
    return jnp.asarray(length_km) / SPEED_OF_LIGHT_IN_FIBER_KM_PER_S


def herald_wait_s(length_km: Any) -> jax.Array:
    """A node's wait for its herald: photon out and message back, ``2 L / (2e5 km/s)`` seconds."""
    return 2.0 * fiber_latency_s(length_km)
