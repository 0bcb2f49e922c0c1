"""Collection optics: how much of a dipole's emission a lens collects, and how it mixes polarization.

Geometry. The quantization axis is ``z``. A lens of numerical aperture ``NA`` (in vacuum,
half-angle ``theta_m = arcsin NA``, ``c = cos theta_m = sqrt(1 - NA^2)``) looks along
``z`` (``axis="parallel"``) or along ``x`` (``axis="perpendicular"``). A transition
radiates like a unit dipole ``d``: ``sigma+-`` ``(x +- i y)/sqrt2``, ``pi`` ``z`` (the phase of
each is a phase of its ion state, absorbed in the ion basis). Its emission per solid angle is
``p(n) = 3/(8 pi) |d_perp(n)|^2`` with ``d_perp = d - (d.n) n``, i.e.
``3/(16 pi) (1 + cos^2 theta)`` for ``sigma`` and ``3/(8 pi) sin^2 theta`` for ``pi``
(``theta`` from ``z``; J. D. Jackson, *Classical Electrodynamics*, 3rd ed., Sec. 9.2).

Collected fractions (integrating ``p`` over the cone; closed forms, checked against
numerical quadrature in the tests):

=============  =================================  ====================================
lens axis      sigma+-                            pi
=============  =================================  ====================================
parallel (z)   ``(4 - 3c - c^3) / 8``             ``(2 - 3c + c^3) / 4``
perpendicular  ``(8 - 9c + c^3) / 16``            ``(4 - 3c - c^3) / 8``
=============  =================================  ====================================

Polarization. An aplanatic lens maps the far field ``E(n) ~ (d.e_theta) e_theta + (d.e_phi) e_phi``
(lens-frame spherical unit vectors) onto the collimated beam as ``(d.e_theta) e_rho + (d.e_phi) e_phi``
(B. Richards and E. Wolf, Proc. R. Soc. A 253, 358 (1959)). Writing it in the lens frame
``J = alpha d_T + beta Q(2 phi) d_T - sin(theta) d_L (cos phi, sin phi)`` with ``d_T`` the dipole's
transverse and ``d_L`` its on-axis component, ``alpha = (1 + cos theta)/2``,
``beta = (cos theta - 1)/2``, ``Q(2 phi) = cos(2 phi) sigma_z + sin(2 phi) sigma_x``: the three
terms carry angular harmonics 0, +-2, +-1, so they add incoherently over the cone. For
*multimode* collection (the detectors integrate over the whole beam; directions are not
resolved) the collected polarization block of two dipoles ``d, d'`` is, exactly,

``G(d, d') = A d_T d_T'^dag + (B/2)(sigma_z d_T d_T'^dag sigma_z + sigma_x d_T d_T'^dag sigma_x)
+ (S/2) d_L d_L'^* I``

with ``A = (8 - (1 + c)^3)/16``, ``B = (1 - c)^3/16``, ``S = (2 - 3c + c^3)/4``. The ion-photon state
from ``sum_k a_k |k> (x) photon of d_k`` is ``rho = sum_kk' a_k a_k'^* |k><k'| (x) G(d_k, d_k')``,
written in the polarization basis ``h, v`` that the paraxial (``NA -> 0``) photons of the two
transitions define (the analysis optics are set for the paraxial beam). ``B`` (wrong-handed
light at large angles) and ``S`` (the on-axis dipole component's radially polarized light)
are the polarization mixing: along ``z`` with ``sigma+/sigma-`` the fidelity is ``A / (A + B)``
(0.9963 at NA = 0.6).

Perpendicular collection of ``sigma`` and ``pi`` light (``z`` seen from the side) is balanced by
the Clebsch-Gordan weights of a ``P1/2, m = +1/2`` decay: amplitudes ``(sqrt(2/3), sqrt(1/3))``
times the paraxial intensities ``(1/2, 1)`` give equal photon amplitudes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.space import FockRegister, Qudit, Space
from ..core.state import DensityMatrix, complex_dtype
from ._validate import check_range, is_concrete

__all__ = [
    "CollectedFractions",
    "DIPOLES",
    "collected_fractions",
    "collection_efficiency_from_na",
    "collected_polarization",
    "collected_ion_photon_state",
    "ion_photon_fidelity_from_na",
]

_S2 = 1.0 / np.sqrt(2.0)
#: Unit dipole vectors (lab frame, quantization axis z) of each transition type.
DIPOLES = {
    "sigma+": np.array([_S2, 1j * _S2, 0.0]),
    "sigma-": np.array([_S2, -1j * _S2, 0.0]),
    "pi": np.array([0.0, 0.0, 1.0], dtype=complex),
}
_AXES = ("parallel", "perpendicular")


class CollectedFractions(NamedTuple):
    """Fractions of ``sigma`` and ``pi`` dipole emission inside the lens's cone (a pytree)."""

    sigma: jax.Array
    pi: jax.Array


def _check_na(na: Any, allow_zero: bool = True) -> jax.Array:
    check_range(
        "na", na, 0.0, 1.0, lo_open=not allow_zero, hi_open=True,
        fix="The numerical aperture of a lens in vacuum is sin(half-angle) < 1; e.g. 0.6.",
    )
    return jnp.asarray(na)


def _check_axis(axis: str) -> str:
    if axis not in _AXES:
        raise ValueError(f"Argument `axis` must be one of {_AXES}, got {axis!r}.")
    return axis


def _moments(na: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(A, B, S)`` of the module docstring."""
    c = jnp.sqrt(1.0 - na**2)
    a = (8.0 - (1.0 + c) ** 3) / 16.0
    b = (1.0 - c) ** 3 / 16.0
    s = (2.0 - 3.0 * c + c**3) / 4.0
    return a, b, s


def collected_fractions(na: Any, axis: str = "parallel") -> CollectedFractions:
    """Collected fractions of ``sigma`` and ``pi`` emission for a lens of numerical aperture ``na``.

    Args:
        na: numerical aperture in ``[0, 1)`` (vacuum).
        axis: ``"parallel"`` (lens along the quantization axis) or ``"perpendicular"``.

    Returns:
        :class:`CollectedFractions` of JAX scalars (closed forms in the module table).
    """
    na = _check_na(na)
    _check_axis(axis)
    c = jnp.sqrt(1.0 - na**2)
    along_sigma = (4.0 - 3.0 * c - c**3) / 8.0
    along_pi = (2.0 - 3.0 * c + c**3) / 4.0
    if axis == "parallel":
        return CollectedFractions(along_sigma, along_pi)
    return CollectedFractions((8.0 - 9.0 * c + c**3) / 16.0, along_sigma)


def collection_efficiency_from_na(na: Any, axis: str = "parallel") -> jax.Array:
    """Fraction of ``sigma`` emission a lens of numerical aperture ``na`` collects.

    Along the quantization axis ``(4 - 3c - c^3)/8`` with ``c = sqrt(1 - NA^2)``: 0.136 at NA = 0.6,
    and ``3 NA^2 / 8`` for small NA. Multiply by the fiber coupling to get the link's
    ``collection_efficiency``.
    """
    return collected_fractions(na, axis).sigma


def _dipole(d: str | Any) -> np.ndarray:
    if isinstance(d, str):
        if d not in DIPOLES:
            raise ValueError(f"Unknown transition {d!r}; choose one of {tuple(DIPOLES)} or give a 3-vector.")
        return DIPOLES[d]
    v = np.asarray(d, dtype=complex)
    if v.shape != (3,) or not np.isclose(np.linalg.norm(v), 1.0):
        raise ValueError(f"A dipole must be 'sigma+', 'sigma-', 'pi' or a unit 3-vector, got {d!r}.")
    return v


def _lens_frame(d: np.ndarray, axis: str) -> np.ndarray:
    """Components of lab-frame ``d`` along the lens frame ``(X, Y, L)`` (``L`` = lens axis)."""
    if axis == "parallel":
        return d
    # lens along x: X = z, Y = -y, L = x (right-handed)
    return np.array([d[2], -d[1], d[0]])


def _g_block(na: jax.Array, d1: np.ndarray, d2: np.ndarray) -> jax.Array:
    """``G(d1, d2)`` (lens-frame dipoles), ``(2, 2)``."""
    a, b, s = _moments(na)
    cd = complex_dtype(jnp.result_type(na))
    t1, t2 = d1[:2], d2[:2]
    outer = np.outer(t1, t2.conj())
    sz = np.diag([1.0, -1.0])
    sx = np.array([[0.0, 1.0], [1.0, 0.0]])
    mixed = 0.5 * (sz @ outer @ sz + sx @ outer @ sx)
    lon = d1[2] * np.conj(d2[2]) * np.eye(2)
    return (a.astype(cd) * jnp.asarray(outer, cd) + b.astype(cd) * jnp.asarray(mixed, cd)
            + (s / 2.0).astype(cd) * jnp.asarray(lon, cd))


def _basis(dips: list[np.ndarray], transitions: tuple[Any, ...], axis: str) -> np.ndarray:
    """``W`` with rows ``h^dag, v^dag``: ``h, v`` the paraxial polarizations of the two transitions."""
    vecs = []
    for d, name in zip(dips, transitions):
        t = d[:2]
        n = np.linalg.norm(t)
        if n < 1e-9:
            raise ValueError(
                f"Transition {name!r} does not radiate along the lens axis ({axis}); choose the other `axis`."
            )
        vecs.append(t / n)
    if abs(np.vdot(vecs[0], vecs[1])) > 1e-6:
        raise ValueError(
            f"Transitions {transitions} give the same paraxial polarization for a lens {axis} to the quantization "
            "axis, so the photon cannot carry the qubit: use sigma+/sigma- with axis='parallel', or sigma/pi with "
            "axis='perpendicular'."
        )
    return np.stack([vecs[0].conj(), vecs[1].conj()])


def collected_polarization(
    na: Any, transitions: tuple[Any, Any] = ("sigma+", "sigma-"), axis: str = "parallel"
) -> jax.Array:
    """Collected polarization blocks ``G[k, k'] = W G(d_k, d_k') W^dag`` in the paraxial ``(h, v)`` basis.

    Returns:
        ``(2, 2, 2, 2)`` complex: ``[k, k', p, p']`` (ion state ``k`` row, ``k'`` column;
        polarization ``p, p'`` in ``h, v``). ``trace(G[k, k])`` is the collected fraction of
        transition ``k``.
    """
    na = _check_na(na)
    _check_axis(axis)
    if len(transitions) != 2:
        raise ValueError(f"Argument `transitions` must name two transitions (ion |0>, |1>), got {transitions!r}.")
    dips = [_lens_frame(_dipole(t), axis) for t in transitions]
    w = _basis(dips, tuple(transitions), axis)
    cd = complex_dtype(jnp.result_type(na))
    wj = jnp.asarray(w, cd)
    rows = []
    for d1 in dips:
        rows.append(jnp.stack([wj @ _g_block(na, d1, d2) @ jnp.conj(wj.T) for d2 in dips]))
    return jnp.stack(rows)


def collected_ion_photon_state(
    na: Any,
    transitions: tuple[Any, Any] = ("sigma+", "sigma-"),
    axis: str = "parallel",
    amplitudes: Any = (_S2, _S2),
    *,
    include_vacuum: bool = False,
) -> DensityMatrix:
    """Polarization-encoded ion-photon state after multimode collection by a lens of aperture ``na``.

    The ion ends in ``|k>`` by emitting on ``transitions[k]`` with amplitude ``amplitudes[k]``:
    the source state is ``sum_k a_k |k> (x) |photon of d_k>``; the lens keeps the part in its
    cone (module docstring), written in the paraxial basis ``h`` (of ``transitions[0]``) and
    ``v`` (of ``transitions[1]``). Physical counterpart of the phenomenological
    ``ion_photon_fidelity`` knob.

    Args:
        na: numerical aperture in ``(0, 1)``.
        transitions: the two transitions (``"sigma+"``, ``"sigma-"``, ``"pi"``, or unit 3-vectors).
        axis: ``"parallel"`` or ``"perpendicular"`` lens axis relative to the quantization axis.
        amplitudes: ``(a_0, a_1)``, ``sum |a_k|^2 = 1`` (e.g. Clebsch-Gordan coefficients).
        include_vacuum: False (default): the state conditioned on a collected photon (trace 1,
            vacuum empty). True: the unconditional state; the vacuum holds the uncollected
            emission, with the ion coherence that the missed light leaves.

    Returns:
        DensityMatrix on ``Space(Qudit("ion"), FockRegister("photon", ("h", "v"), 1))``.
    """
    na = _check_na(na, allow_zero=False)
    amps = jnp.asarray(amplitudes)
    if amps.shape != (2,):
        raise ValueError(f"Argument `amplitudes` must have shape (2,), got {tuple(amps.shape)}.")
    if is_concrete(amps):
        norm = float(np.sum(np.abs(np.asarray(amps)) ** 2))
        if abs(norm - 1.0) > 1e-9:
            raise ValueError(
                f"Argument `amplitudes` must satisfy sum |a_k|^2 = 1, got {np.asarray(amps).tolist()} "
                f"(sum {norm:.6g}). Divide by its norm."
            )
    g = collected_polarization(na, transitions, axis)
    cd = g.dtype
    amps = amps.astype(cd)
    coef = amps[:, None] * jnp.conj(amps)[None, :]  # (k, k')
    photon = coef[:, :, None, None] * g  # (k, k', p, p')
    sp = Space(Qudit("ion"), FockRegister("photon", ("h", "v"), 1))
    rho = jnp.zeros((2, 3, 2, 3), cd)
    rho = rho.at[:, 1:, :, 1:].set(jnp.transpose(photon, (0, 2, 1, 3)))
    if include_vacuum:
        dips = [_dipole(t) for t in transitions]
        overlap = jnp.asarray(np.array([[np.vdot(d2, d1) for d2 in dips] for d1 in dips]), cd)
        missed = coef * (overlap - jnp.trace(g, axis1=2, axis2=3))
        rho = rho.at[:, 0, :, 0].set(missed)
        return DensityMatrix(rho.reshape(6, 6), sp)
    rho = rho.reshape(6, 6)
    return DensityMatrix(rho / jnp.real(jnp.trace(rho)), sp)


def ion_photon_fidelity_from_na(
    na: Any,
    transitions: tuple[Any, Any] = ("sigma+", "sigma-"),
    axis: str = "parallel",
    amplitudes: Any = (_S2, _S2),
) -> jax.Array:
    """Fidelity of the collected state to ``(|0>|h> + |1>|v>)/sqrt2``: a physical value for ``ion_photon_fidelity``.

    For ``sigma+/sigma-`` along the quantization axis it is ``A / (A + B)`` (module docstring):
    ``1 - NA^4/48 + O(NA^6)``.
    """
    rho = collected_ion_photon_state(na, transitions, axis, amplitudes)
    # (|0,h> + |1,v>)/sqrt2: indices ion*3 + photon, h = 1, v = 2
    return 0.5 * jnp.real(rho.data[1, 1] + rho.data[5, 5] + rho.data[1, 5] + rho.data[5, 1])
