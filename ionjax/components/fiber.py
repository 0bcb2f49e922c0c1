"""Optical fiber: attenuation, latency, birefringence and phase noise.

Conventions (DESIGN.md): transmission ``10^(-alpha_dB_per_km * L_km / 10)``; light
in fiber travels at ``2e5 km/s``; a node whose fiber to the station is ``L``
long waits ``2 L / (2e5 km/s)`` for its herald.

Birefringence is a polarization unitary (:func:`birefringence_unitary`, three
differentiable angles) that :func:`compensate` undoes with two wave plates
(:mod:`ionjax.components.optics`); optical phase noise between two paths is
:func:`apply_phase_noise`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.channels import check_probability
from ..core.fock import apply_loss
from ..core.space import FockRegister
from ..core.state import DensityMatrix, complex_dtype
from ._validate import check_range, check_unitary

__all__ = [
    "SPEED_OF_LIGHT_IN_FIBER_KM_PER_S",
    "fiber_transmission",
    "fiber_latency_s",
    "herald_wait_s",
    "apply_fiber_loss",
    "birefringence_unitary",
    "Compensation",
    "compensate",
    "apply_phase_noise",
    "scale_register_coherences",
]

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


# ----------------------------------------------------------------------------- loss on a register
def apply_fiber_loss(
    state: DensityMatrix,
    register: str,
    length_km: Any,
    attenuation_db_per_km: Any,
    modes: tuple[str, ...] | None = None,
) -> DensityMatrix:
    """Pure loss ``10^(-alpha L / 10)`` on ``modes`` (default: every mode) of ``register``.

    Shape rule: ``state.data`` ``(..., D, D)`` -> same.
    """
    eta = fiber_transmission(length_km, attenuation_db_per_km)
    reg = state.space[register]
    if not isinstance(reg, FockRegister):
        raise ValueError(f"Subsystem {register!r} is not a FockRegister.")
    for m in reg.modes if modes is None else modes:
        state = apply_loss(state, register, m, eta)
    return state


# ----------------------------------------------------------------------------- birefringence
def birefringence_unitary(theta_rad: Any, phi_rad: Any, lambda_rad: Any) -> jax.Array:
    """A fiber's polarization transformation as a general SU(2) on ``(h, v)`` (three Euler angles).

    ``U = Rz(phi) Ry(theta) Rz(lambda)`` with ``Rz(a) = diag(e^{-ia/2}, e^{ia/2})`` and
    ``Ry(t) = [[cos t/2, -sin t/2], [sin t/2, cos t/2]]``:
    ``[[e^{-i(phi+lambda)/2} c, -e^{-i(phi-lambda)/2} s], [e^{i(phi-lambda)/2} s, e^{i(phi+lambda)/2} c]]``
    (``c, s = cos, sin(theta/2)``). Every SU(2) is one of these; differentiable in the angles,
    so a drifting fiber can be fitted or compensated by gradient descent. Determinant 1: no
    phase relative to other paths.
    """
    for name, v in (("theta_rad", theta_rad), ("phi_rad", phi_rad), ("lambda_rad", lambda_rad)):
        check_range(name, v)
    th = jnp.asarray(theta_rad, jnp.result_type(theta_rad, phi_rad, lambda_rad, float))
    ph, la = jnp.asarray(phi_rad, th.dtype), jnp.asarray(lambda_rad, th.dtype)
    cd = complex_dtype(th.dtype)
    c, s = jnp.cos(th / 2).astype(cd), jnp.sin(th / 2).astype(cd)
    ep = jnp.exp(0.5j * (ph + la)).astype(cd)
    em = jnp.exp(0.5j * (ph - la)).astype(cd)
    return jnp.stack([jnp.stack([jnp.conj(ep) * c, -jnp.conj(em) * s]), jnp.stack([em * s, ep * c])])


class Compensation(NamedTuple):
    """Two wave plates that undo a fiber's rotation of the ``h`` axis (a pytree).

    Attributes:
        qwp_angle_rad, hwp_angle_rad: fast-axis angles of the quarter- then half-wave plate.
        residual_phase_rad: the phase of ``v`` relative to ``h`` that remains (two plates fix the
            axis, not this phase: correct it with a third plate, a phase plate, or a frame change
            of the ion).
        unitary: ``HWP @ QWP @ U_fiber``, ``diag(e^{i a}, e^{i (a + residual)})``.
    """

    qwp_angle_rad: jax.Array
    hwp_angle_rad: jax.Array
    residual_phase_rad: jax.Array
    unitary: jax.Array


def compensate(fiber_unitary: Any) -> Compensation:
    """Quarter- and half-wave plate angles that map the fiber's output of ``h`` back to ``h``.

    Method: ``p = U |h>`` is elliptical, major axis at ``psi = atan2(S2, S1)/2`` (Stokes
    parameters). A quarter-wave plate with its fast axis on the major axis makes it linear,
    at angle ``beta``; a half-wave plate at ``beta/2`` turns that to ``h``. Unitarity then maps
    ``v`` to ``v`` up to the returned residual phase. Differentiable in ``fiber_unitary``
    (except where ``p`` is circular and ``psi`` is undefined).

    Example:
        >>> import jax.numpy as jnp
        >>> from ionjax.components import birefringence_unitary, compensate
        >>> comp = compensate(birefringence_unitary(1.0, 0.3, -0.7))
        >>> round(float(jnp.abs(comp.unitary[0, 0])), 5)
        1.0
    """
    from .optics import half_wave_plate, quarter_wave_plate

    u = jnp.asarray(fiber_unitary)
    if u.shape != (2, 2):
        raise ValueError(f"Argument `fiber_unitary` must be a (2, 2) polarization unitary, got {tuple(u.shape)}.")
    check_unitary("fiber_unitary", u)
    u = u.astype(complex_dtype(u.dtype))
    a, b = u[0, 0], u[1, 0]
    s1 = jnp.abs(a) ** 2 - jnp.abs(b) ** 2
    s2 = 2.0 * jnp.real(jnp.conj(a) * b)
    psi = 0.5 * jnp.arctan2(s2, s1)
    q = quarter_wave_plate(psi).astype(u.dtype)
    lin = q @ u[:, 0]  # linear up to a global phase
    ref = jnp.where(jnp.abs(lin[0]) > jnp.abs(lin[1]), lin[0], lin[1])
    ref = ref / jnp.abs(ref)
    real = jnp.real(lin * jnp.conj(ref))
    beta = jnp.arctan2(real[1], real[0])
    h = half_wave_plate(beta / 2.0).astype(u.dtype)
    total = h @ q @ u
    residual = jnp.angle(total[1, 1] * jnp.conj(total[0, 0]))
    return Compensation(psi, beta / 2.0, residual, total)


# ----------------------------------------------------------------------------- phase noise
def apply_phase_noise(state: DensityMatrix, register: str, mode: str, rms_rad: Any) -> DensityMatrix:
    """Gaussian optical phase noise (rms ``rms_rad``) on ``mode``: dephasing between paths.

    A random phase ``phi ~ N(0, s^2)`` on the mode multiplies ``rho[t, t']`` by ``e^{i phi (n_t - n_t')}``
    (``n`` the mode's photon number); its average is ``exp(-s^2 (n_t - n_t')^2 / 2)``. Applied as that
    elementwise factor on the register's indices, so it is exact and smooth in ``s``
    (finite gradient at ``s = 0``). Shape rule: ``state.data`` ``(..., D, D)`` -> same.
    """
    check_range("rms_rad", rms_rad, 0.0, jnp.inf, fix="An rms phase is >= 0 (rad).")
    reg = state.space[register]
    if not isinstance(reg, FockRegister):
        raise ValueError(f"Subsystem {register!r} is not a FockRegister; phase noise acts on photonic modes.")
    n = reg.basis[:, reg.mode_index(mode)].astype(float)
    diff2 = (n[:, None] - n[None, :]) ** 2
    s = jnp.asarray(rms_rad, jnp.real(state.data).dtype)
    factor = jnp.exp(-0.5 * s**2 * jnp.asarray(diff2, s.dtype))
    return scale_register_coherences(state, register, factor)


def scale_register_coherences(state: DensityMatrix, register: str, factor: Any) -> DensityMatrix:
    """Multiply ``rho`` elementwise by ``factor[t, t']`` on the indices of ``register`` (identity elsewhere).

    A diagonal superoperator (dephasing of any kind in the register's basis). ``factor`` ``(D_r, D_r)``
    (``D_r`` the register's dimension); shape rule ``(..., D, D)`` -> same.
    """
    sp = state.space
    pos = sp.index(register)
    dr = sp.dims[pos]
    f = jnp.asarray(factor)
    if f.shape != (dr, dr):
        raise ValueError(f"Argument `factor` must have shape ({dr}, {dr}) for register {register!r}, got {f.shape}.")
    n = len(sp)
    shape = [1] * (2 * n)
    shape[pos] = shape[n + pos] = dr
    # broadcast the factor over the tensor view (..., d_1..d_n, d_1..d_n)
    pre = int(np.prod(sp.dims[:pos], dtype=np.int64))
    post = int(np.prod(sp.dims[pos + 1:], dtype=np.int64))
    data = state.data
    batch = data.shape[:-2]
    t = data.reshape(batch + (pre, dr, post, pre, dr, post))
    t = t * f.astype(data.dtype)[None, :, None, None, :, None]
    return DensityMatrix(t.reshape(data.shape), sp)
