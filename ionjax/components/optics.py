"""Linear optics as ``m x m`` mode unitaries, and their exact action on a Fock register.

Convention (that of :func:`ionjax.core.lift_unitary`): a mode unitary ``U`` maps
``a_j^dag -> sum_i U[i, j] a_i^dag``, so on one photon it is the Jones / scattering matrix
itself, column ``j`` the output of input mode ``j``. Every function returns a JAX array, is
differentiable in its angles and reflectivities, and takes JAX values (``vmap`` over them).

Polarization optics act on the mode pair ``(h, v)``. A wave plate of retardance ``Gamma``
with its fast axis at ``theta`` from ``h`` is
``R(theta) diag(e^{-i Gamma/2}, e^{+i Gamma/2}) R(-theta)`` with
``R(theta) = [[cos, -sin], [sin, cos]]`` (the symmetric-phase Jones convention, E. Collett,
*Field Guide to Polarization*, SPIE (2005); also Wikipedia "Jones calculus"): determinant 1,
so a plate in one path adds no phase relative to the other paths. Half-wave plate
(``Gamma = pi``): ``-i [[cos 2t, sin 2t], [sin 2t, -cos 2t]]``, which at ``22.5 deg`` maps
``H`` to diagonal. Quarter-wave plate: ``Gamma = pi/2``.

:func:`apply_optics` acts with an ``m x m`` unitary on ``m`` named modes of a register
(identity on the others), exactly, through the block-diagonal lift.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.fock import beam_splitter_unitary, lift_unitary
from ..core.space import FockRegister
from ..core.state import DensityMatrix, complex_dtype
from ._validate import check_probability, check_range, check_unitary

__all__ = [
    "beam_splitter",
    "phase_shifter",
    "wave_plate",
    "half_wave_plate",
    "quarter_wave_plate",
    "rotator",
    "polarizing_beam_splitter",
    "mode_unitary",
    "embed_unitary",
    "apply_optics",
]


def _cd(*xs: Any) -> Any:
    return complex_dtype(jnp.result_type(*[jnp.asarray(x) for x in xs], float))


def beam_splitter(reflectivity: Any = 0.5, phase_rad: Any = 0.0) -> jax.Array:
    """2x2 beam splitter of power reflectivity ``R`` and phase ``phi`` (modes ``(a, b)``).

    ``[[sqrt(T), e^{-i phi} sqrt(R)], [-e^{i phi} sqrt(R), sqrt(T)]]``, ``T = 1 - R`` (the core's
    :func:`ionjax.core.beam_splitter_unitary`): for ``R = 1/2`` two photons ``|1,1>`` bunch to
    ``(|2,0> - |0,2>)/sqrt2``. Gradients in ``R`` are finite inside ``(0, 1)``.
    """
    check_probability("reflectivity", reflectivity)
    check_range("phase_rad", phase_rad)
    r = jnp.asarray(reflectivity, jnp.result_type(reflectivity, float))
    return beam_splitter_unitary(r, jnp.asarray(phase_rad, r.dtype))


def phase_shifter(phase_rad: Any) -> jax.Array:
    """1x1 mode unitary ``[[e^{i phi}]]``: ``|n> -> e^{i n phi} |n>``."""
    check_range("phase_rad", phase_rad)
    p = jnp.asarray(phase_rad, jnp.result_type(phase_rad, float))
    return jnp.exp(1j * p).reshape(1, 1).astype(_cd(p))


def _rot(theta: jax.Array, cd: Any) -> jax.Array:
    c, s = jnp.cos(theta), jnp.sin(theta)
    return jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])]).astype(cd)


def wave_plate(retardance_rad: Any, angle_rad: Any) -> jax.Array:
    """Jones matrix (modes ``(h, v)``) of a retarder: ``R(theta) diag(e^{-i G/2}, e^{i G/2}) R(-theta)``.

    Args:
        retardance_rad: ``Gamma`` (``pi``: half-wave, ``pi/2``: quarter-wave).
        angle_rad: fast-axis angle ``theta`` from ``h`` (rad).
    """
    check_range("retardance_rad", retardance_rad)
    check_range("angle_rad", angle_rad)
    g = jnp.asarray(retardance_rad, jnp.result_type(retardance_rad, angle_rad, float))
    t = jnp.asarray(angle_rad, g.dtype)
    cd = _cd(g)
    ph = jnp.exp(1j * g / 2.0).astype(cd)
    core = jnp.stack([jnp.stack([jnp.conj(ph), jnp.zeros((), cd)]), jnp.stack([jnp.zeros((), cd), ph])])
    return _rot(t, cd) @ core @ _rot(-t, cd)


def half_wave_plate(angle_rad: Any) -> jax.Array:
    """Half-wave plate at ``angle_rad``: ``-i [[cos 2t, sin 2t], [sin 2t, -cos 2t]]`` (H at 22.5 deg -> D)."""
    return wave_plate(jnp.pi, angle_rad)


def quarter_wave_plate(angle_rad: Any) -> jax.Array:
    """Quarter-wave plate at ``angle_rad`` (at 45 deg it maps H to circular)."""
    return wave_plate(jnp.pi / 2.0, angle_rad)


def rotator(angle_rad: Any) -> jax.Array:
    """Polarization rotation by ``angle_rad`` (a Faraday or optically active rotator): ``R(theta)``."""
    check_range("angle_rad", angle_rad)
    t = jnp.asarray(angle_rad, jnp.result_type(angle_rad, float))
    return _rot(t, _cd(t))


def polarizing_beam_splitter(reflection_phase_rad: Any = 0.0) -> jax.Array:
    """4x4 polarizing beam splitter on modes ``(1_h, 1_v, 2_h, 2_v)`` (two ports, two polarizations).

    Transmits ``h`` (``1_h -> 1_h``, ``2_h -> 2_h``) and reflects ``v`` into the other port with
    phase ``e^{i phi}`` (``1_v -> e^{i phi} 2_v``, ``2_v -> e^{i phi} 1_v``).
    """
    check_range("reflection_phase_rad", reflection_phase_rad)
    p = jnp.asarray(reflection_phase_rad, jnp.result_type(reflection_phase_rad, float))
    cd = _cd(p)
    e = jnp.exp(1j * p).astype(cd)
    u = jnp.zeros((4, 4), cd)
    return u.at[0, 0].set(1.0).at[2, 2].set(1.0).at[3, 1].set(e).at[1, 3].set(e)


def mode_unitary(matrix: Any, atol: float = 1e-8) -> jax.Array:
    """A general ``m x m`` mode unitary, checked: ValueError if ``max |U^dag U - I| > atol``.

    The check runs on concrete numbers only (under ``jit`` the matrix passes unchecked).
    """
    check_unitary("matrix", matrix, atol)
    u = jnp.asarray(matrix)
    return u.astype(_cd(u.real if jnp.iscomplexobj(u) else u))


def embed_unitary(register: FockRegister, unitary: Any, modes: tuple[str, ...] | list[str] | str) -> jax.Array:
    """The register's full ``n_modes x n_modes`` mode unitary: ``unitary`` on ``modes`` (in that order), 1 elsewhere."""
    if isinstance(modes, str):
        modes = (modes,)
    modes = tuple(modes)
    if not isinstance(register, FockRegister):
        raise ValueError(f"Argument `register` must be a FockRegister, got {type(register).__name__}.")
    u = jnp.asarray(unitary)
    m = len(modes)
    if u.shape != (m, m):
        raise ValueError(
            f"Argument `unitary` must have shape ({m}, {m}) to act on modes {modes}, got {tuple(u.shape)}."
        )
    if len(set(modes)) != m:
        raise ValueError(f"Argument `modes` names a mode twice: {modes}.")
    idx = np.array([register.mode_index(x) for x in modes])
    cd = complex_dtype(u.dtype)
    full = jnp.eye(register.n_modes, dtype=cd)
    return full.at[idx[:, None], idx[None, :]].set(u.astype(cd))


def apply_optics(
    state: DensityMatrix, register: str, unitary: Any, modes: tuple[str, ...] | list[str] | str
) -> DensityMatrix:
    """Apply an ``m x m`` mode unitary to ``modes`` of ``register`` in ``state`` (exactly, all photon numbers).

    ``modes[i]`` is the unitary's row/column ``i``; other modes are untouched. Shape rule:
    ``state.data`` ``(..., D, D)`` -> same (the unitary may carry no batch axes; vmap for those).

    Example:
        >>> import ionjax as ij
        >>> from ionjax.components import apply_optics, half_wave_plate
        >>> reg = ij.FockRegister("photon", ("h", "v"), 1)
        >>> st = ij.DensityMatrix.basis(ij.Space(reg), reg.index((1, 0)))
        >>> out = apply_optics(st, "photon", half_wave_plate(3.141592653589793 / 8), ("h", "v"))
        >>> [round(float(x), 6) for x in out.data.diagonal().real]
        [0.0, 0.5, 0.5]
    """
    reg = state.space[register]
    if not isinstance(reg, FockRegister):
        raise ValueError(f"Subsystem {register!r} is not a FockRegister; apply_optics acts on photonic modes.")
    full = embed_unitary(reg, unitary, modes)
    lifted = lift_unitary(reg, full.astype(complex_dtype(state.data.dtype)))
    return state.apply_unitary(lifted, on=register)
