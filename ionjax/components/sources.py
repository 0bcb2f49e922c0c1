"""Ion-photon entangled sources and the node-level imperfections applied to them.

Every source returns a :class:`~ionjax.core.DensityMatrix` on
``Space(Qudit("ion"), FockRegister("photon", modes, n_max))``, the photon's
modes named by the encoding:

=================  ===================  ===========================================
encoding           modes                ideal state
=================  ===================  ===========================================
``polarization``   ``("h", "v")``       ``(|0>|H> + |1>|V>)/sqrt2``
``time_bin``       ``("early","late")`` ``(|0>|E> + |1>|L>)/sqrt2``
``frequency``      ``("f0", "f1")``     ``(|0>|w0> + |1>|w1>)/sqrt2``
``single_photon``  ``("x",)``           ``sqrt(1-p)|0>|vac> + sqrt(p)|1>|1>``
=================  ===================  ===========================================

Frequency encoding: :func:`frequency_heralded_phase_rad` and :func:`frequency_phase_coherence`
(defined in :mod:`ionjax.components.frequency`, re-exported here) give the detection-time
phase of a two-photon herald and what timing jitter leaves of it. A physical polarization
source (collection-optics mixing) is :func:`ionjax.components.collected_ion_photon_state`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.channels import check_probability
from ..core.fock import apply_loss
from ..core.registers import extend_register, split_modes
from ..core.space import FockRegister, Qudit, Space
from ..core.state import DensityMatrix, _sqrt0, complex_dtype
from ..core.superop import apply_superop, dephasing_superop
from .frequency import frequency_heralded_phase_rad, frequency_phase_coherence

__all__ = [
    "frequency_heralded_phase_rad",
    "frequency_phase_coherence",
    "ENCODING_MODES",
    "ion_photon_state",
    "time_bin_state",
    "bright_state_source",
    "apply_ion_photon_fidelity",
    "apply_emission_loss",
    "apply_mode_mismatch",
    "PERP_SUFFIX",
]

ENCODING_MODES = {
    "polarization": ("h", "v"),
    "time_bin": ("early", "late"),
    "frequency": ("f0", "f1"),
    "single_photon": ("x",),
}

#: Suffix of the internal (orthogonal-wavepacket) copy of a mode, see :func:`apply_mode_mismatch`.
PERP_SUFFIX = "_perp"

_S = 1.0 / np.sqrt(2.0)


def _space(modes: tuple[str, ...], n_max: int) -> Space:
    return Space(Qudit("ion"), FockRegister("photon", modes, n_max))


def _ket(space: Space, amps: dict[tuple[int, tuple[int, ...]], Any], dtype: Any) -> jax.Array:
    reg = space["photon"]
    ket = jnp.zeros(space.dim, dtype)
    for (ion, occ), amp in amps.items():
        ket = ket.at[ion * reg.dim + reg.index(occ)].set(jnp.asarray(amp).astype(dtype))
    return ket


def ion_photon_state(encoding: str, *, time_bin_pulse_error: Any = 0.0, dtype: Any = None) -> DensityMatrix:
    """The ideal maximally entangled ion-photon state of ``encoding`` (see the module table).

    For ``time_bin`` see :func:`time_bin_state` (a pulse error there is a knob).
    """
    if encoding == "time_bin":
        return time_bin_state(time_bin_pulse_error, dtype=dtype)
    if encoding not in ("polarization", "frequency"):
        raise ValueError(
            f"Argument `encoding` must be one of 'polarization', 'time_bin', 'frequency', got {encoding!r}."
        )
    modes = ENCODING_MODES[encoding]
    sp = _space(modes, 1)
    cd = complex_dtype(dtype)
    return DensityMatrix.from_ket(_ket(sp, {(0, (1, 0)): _S, (1, (0, 1)): _S}, cd), sp)


def time_bin_state(pulse_error: Any = 0.0, *, dtype: Any = None) -> DensityMatrix:
    """Time-bin ion-photon state with a fractional pi-pulse area error ``pulse_error``.

    Sequence: ion in ``(|0> + |1>)/sqrt2``; ``|0>`` is excited and emits an early photon;
    a rotation of area ``theta = pi (1 + pulse_error)`` swaps the qubit; ``|0>`` emits a late
    photon; a fixed ion frame change ``Z X`` follows. With
    ``c = cos(theta/2)``, ``s = sin(theta/2)`` the state is
    ``[s (|0>|E> + |1>|L>) + c (|0>|vac> - |1>|E L>)] / sqrt2``: a pulse error leaves the
    ion unentangled with no photon or with two.
    """
    check_probability("pulse_error", pulse_error, -1.0, 1.0)
    theta = jnp.pi * (1.0 + jnp.asarray(pulse_error))
    c, s = jnp.cos(theta / 2), jnp.sin(theta / 2)
    sp = _space(ENCODING_MODES["time_bin"], 2)
    cd = complex_dtype(dtype if dtype is not None else jnp.asarray(pulse_error).dtype)
    amps = {(0, (1, 0)): s * _S, (1, (0, 1)): s * _S, (0, (0, 0)): c * _S, (1, (1, 1)): -c * _S}
    return DensityMatrix.from_ket(_ket(sp, amps, cd), sp)


def bright_state_source(excitation_probability: Any, *, dtype: Any = None) -> DensityMatrix:
    """Single-photon (single-click) source: ``sqrt(1-p)|0>|vac> + sqrt(p)|1>|1>``; ``|1>`` emits.

    Built entry by entry (``1 - p``, ``p`` and the coherence ``sqrt(p (1 - p))``), not from the ket:
    the populations are then exact polynomials in ``p`` with exact gradients at ``p = 0`` and ``p = 1``,
    and the coherence's derivative there (infinite) is taken as 0, as :func:`ionjax.core.apply_loss`
    does for ``sqrt(eta)``, so that gradients stay finite.
    """
    check_probability("excitation_probability", excitation_probability)
    p = jnp.asarray(excitation_probability)
    sp = _space(ENCODING_MODES["single_photon"], 1)
    cd = complex_dtype(dtype if dtype is not None else p.dtype)
    real = jnp.zeros((), cd).real.dtype
    p = p.astype(real)
    reg = sp["photon"]
    a, b = reg.index((0,)), reg.dim + reg.index((1,))  # |0>|vac>, |1>|1>
    coh = _sqrt0(p * (1.0 - p))
    entries = {(a, a): 1.0 - p, (b, b): p, (a, b): coh, (b, a): coh}
    zero = jnp.zeros((), real)
    rows = [jnp.stack([entries.get((r, c), zero) for c in range(sp.dim)]) for r in range(sp.dim)]
    return DensityMatrix(jnp.stack(rows).astype(cd), sp)


def apply_ion_photon_fidelity(state: DensityMatrix, fidelity: Any, ion: str = "ion") -> DensityMatrix:
    """Phenomenological ion-photon infidelity: a Z error on the ion with probability ``1 - fidelity``.

    Applied as a superoperator, so the gradient is finite at ``fidelity = 1``.
    """
    check_probability("ion_photon_fidelity", fidelity)
    return apply_superop(state, dephasing_superop(1.0 - jnp.asarray(fidelity)), on=ion)


def apply_emission_loss(state: DensityMatrix, transmission: Any, register: str = "photon") -> DensityMatrix:
    """The same pure loss ``transmission`` on every mode of ``register`` (uniform loss)."""
    check_probability("transmission", transmission)
    reg = state.space[register]
    for m in reg.modes:
        state = apply_loss(state, register, m, transmission)
    return state


def apply_mode_mismatch(state: DensityMatrix, mode_overlap: Any, register: str = "photon") -> DensityMatrix:
    """Split each photon into the reference wavepacket and an orthogonal internal mode.

    Each mode ``m`` gets a copy ``m + "_perp"``; the photon becomes
    ``sqrt(M) |m> + sqrt(1 - M) |m_perp>`` with ``M = |<xi_a|xi_b>|^2``. Applied to one
    node of a pair, this makes the two photons' overlap exactly ``M``; detectors do not
    resolve the internal mode. The register grows from ``m`` to ``2 m`` modes.

    Coherences between different numbers of internal-mode photons are dropped (see
    :func:`ionjax.core.split_modes`): no detector or linear optics here can see them, and
    so every entry is smooth in ``M`` and gradients are finite at ``M = 1``.
    """
    check_probability("mode_overlap", mode_overlap)
    reg = state.space[register]
    modes = reg.modes
    perp = tuple(m + PERP_SUFFIX for m in modes)
    state = extend_register(state, register, perp)
    return split_modes(state, register, modes, perp, mode_overlap)
