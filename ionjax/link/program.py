"""The one description of what a link does: for each node, a source and an ordered list of elements acting
on named subsystems; for the station, its optics, detectors and accepted patterns.

Every method (:mod:`ionjax.link.dense`, both pictures, and :mod:`ionjax.link.compiled`) reads the link
through :func:`node_program` and :func:`station_numbers` only, so that each number of the link file enters
the physics in exactly one place:

* node ``X``: the source's density-matrix entries over ``(ion, photon Fock state)``
  (:func:`source_entries`); the ion coherence factor (a Z error of probability ``1 - F_ip``, dephasing
  ``exp(-wait / T2)`` during the herald wait ``2 L / (2e5 km/s)``, ``L`` the flat ``fiber_length_km`` plus
  every ``fiber`` element's ``length_km``); then the photon's elements in order:
  the flat keys as one loss (collection x fiber x window acceptance, x excitation for two_photon), the
  ``path`` elements in file order, and for node B the wavepacket split of overlap ``M`` and (single_photon)
  the random optical phase between the paths;
* station: a beam splitter ``(R, phi)`` on every mode pair ``(a_m, b_m)``; detector ``j`` watches the
  output modes of its analyzer entry (and their ``_perp`` copies), with its own efficiency and mean dark
  count ``mu_j = R_dark W`` plus the frequency converters' noise photons; a second, unpolarized photon in
  the same attempt (``multi_photon_probability``, in a wavepacket that does not interfere) goes through the
  same optics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..components.analyzers import BellStateAnalyzer, bell_state_analyzer
from ..components.detectors import mean_dark_counts, window_acceptance
from ..components.fiber import fiber_transmission, herald_wait_s
from ..components.frequency import frequency_phase_coherence
from ..components.sources import ENCODING_MODES
from ..core.state import _sqrt0
from ..elements import Element, LossElement, NumberDephasing, Split
from ..elements.polarization import _element

__all__ = ["NodeProgram", "StationNumbers", "node_program", "station_numbers", "source_entries", "photon_modes",
           "analyzer", "ModeMismatch", "PhaseNoise", "path_transmission"]

_S2 = 0.5  # |1/sqrt2|^2


@_element
class ModeMismatch(Element):
    """Node B's photon split into A's wavepacket and an orthogonal internal mode (overlap ``M``)."""

    kind = "mode_mismatch"
    overlap: jax.Array

    def factors(self):  # noqa: ANN201
        return [Split(self.overlap)]


@_element
class PhaseNoise(Element):
    """A Gaussian random optical phase of rms ``rms_rad`` on node B's path (single_photon)."""

    kind = "phase_noise"
    rms_rad: jax.Array

    def factors(self):  # noqa: ANN201
        return [NumberDephasing(self.rms_rad)]


@dataclass(frozen=True)
class NodeProgram:
    """What one node does, in order.

    Attributes:
        modes: the photon's encoding modes (``("h", "v")``, ...).
        n_max: photons the source can emit per attempt.
        entries: ``{((i, occ), (j, occ')): value}``: the source's nonzero density-matrix entries, ion
            ``i, j`` and photon occupation tuples over ``modes``.
        z_error: probability of a Z error on the ion (``1 - ion_photon_fidelity``).
        wait_s, t2_s: the herald wait and the ion's T2 (dephasing ``exp(-wait / T2)`` of its coherences).
        elements: ``((name, element), ...)`` acting on the photon, in order.
    """

    modes: tuple[str, ...]
    n_max: int
    entries: dict
    z_error: Any
    wait_s: Any
    t2_s: Any
    elements: tuple

    @property
    def coherence(self) -> Any:
        """The factor the ion operations leave on every ion coherence (``i != j``)."""
        return (1.0 - 2.0 * self.z_error) * jnp.exp(-self.wait_s / self.t2_s)


@dataclass(frozen=True)
class StationNumbers:
    """The station's numbers, per detector ``j`` (in the analyzer's order).

    Attributes:
        reflectivity, phase_rad: the beam splitter.
        efficiency: ``[eta_j]``; mean_dark: ``[mu_j]`` (dark counts and converter noise in the window).
        multi_photon: ``(q_A, q_B)``: probability of a second photon at each node's source.
    """

    reflectivity: Any
    phase_rad: Any
    efficiency: list
    mean_dark: list
    multi_photon: tuple


def photon_modes(link: Any) -> tuple[str, ...]:
    """The photon's encoding modes of ``link``."""
    return ENCODING_MODES["single_photon" if link.protocol == "single_photon" else link.encoding]


@cache
def analyzer(protocol: str, encoding: str) -> BellStateAnalyzer:
    """The Bell-state analyzer (detectors, accepted patterns and targets) of a link structure."""
    return bell_state_analyzer("single_photon" if protocol == "single_photon" else encoding)


def path_transmission(node: Any, link: Any) -> jax.Array:
    """The flat keys' probability that an emitted photon leaves the node's fiber inside the window.

    ``collection x fiber x (1 - exp(-window/lifetime))``, times ``excitation_probability`` for two_photon
    (path elements and the detectors come on top).
    """
    eta = (node.collection_efficiency
           * fiber_transmission(node.fiber_length_km, node.fiber_attenuation_db_per_km)
           * window_acceptance(link.detection.window_ns, node.photon_lifetime_ns))
    if link.protocol == "two_photon":
        eta = eta * node.excitation_probability
    return eta


def source_entries(link: Any, node: Any) -> tuple[tuple[str, ...], int, dict]:
    """``(modes, n_max, entries)`` of the node's ideal ion-photon source (see :class:`NodeProgram`).

    polarization / frequency: ``(|0>|m0> + |1>|m1>)/sqrt2``; time_bin with pulse error ``e``:
    ``[s (|0>|E> + |1>|L>) + c (|0>|vac> - |1>|E L>)] / sqrt2``, ``theta = pi (1 + e)``, ``c, s = cos,
    sin(theta/2)`` (:func:`ionjax.components.time_bin_state`); single_photon:
    ``sqrt(1-p)|0>|vac> + sqrt(p)|1>|1>`` entry by entry (exact polynomials in ``p``, the coherence
    ``sqrt(p (1-p))`` with a finite derivative at ``p = 0, 1``, as
    :func:`ionjax.components.bright_state_source`).
    """
    real = jnp.result_type(node.collection_efficiency)
    if link.protocol == "single_photon":
        p = jnp.asarray(node.excitation_probability, real)
        coh = _sqrt0(p * (1.0 - p))
        vac, one = (0, (0,)), (1, (1,))
        return ("x",), 1, {(vac, vac): 1.0 - p, (one, one): p, (vac, one): coh, (one, vac): coh}
    modes = ENCODING_MODES[link.encoding]
    if link.encoding == "time_bin":
        theta = jnp.pi * (1.0 + jnp.asarray(node.time_bin_pulse_error, real))
        c, s = jnp.cos(theta / 2), jnp.sin(theta / 2)
        r2 = 1.0 / np.sqrt(2.0)
        amps = {(0, (1, 0)): s * r2, (1, (0, 1)): s * r2, (0, (0, 0)): c * r2, (1, (1, 1)): -c * r2}
        return modes, 2, {(a, b): va * vb for a, va in amps.items() for b, vb in amps.items()}
    amps = {(0, (1, 0)): 1.0, (1, (0, 1)): 1.0}
    return modes, 1, {(a, b): _S2 for a in amps for b in amps}


def node_program(link: Any, which: str) -> NodeProgram:
    """The ordered description of node ``which`` (``"a"`` or ``"b"``) of ``link`` (see the module docstring)."""
    if which not in ("a", "b"):
        raise ValueError(f"Argument `which` must be 'a' or 'b', got {which!r}.")
    node = link.node_a if which == "a" else link.node_b
    modes, n_max, entries = source_entries(link, node)
    length = node.fiber_length_km  # the photon's whole way to the station: the flat fiber and path fibers
    for el in node.path:
        if el.kind == "fiber":
            length = length + el.length_km
    wait = herald_wait_s(length)
    elements: list = [("flat", LossElement(path_transmission(node, link)))]
    elements += list(zip(node.path_names, node.path))
    if which == "b":
        elements.append(("mode_overlap", ModeMismatch(link.interference.mode_overlap)))
        if link.protocol == "single_photon":
            elements.append(("phase_noise", PhaseNoise(link.interference.phase_noise_rad)))
    return NodeProgram(modes, n_max, entries, 1.0 - node.ion_photon_fidelity, wait, node.qubit_t2_s,
                       tuple(elements))


def frequency_coherence(link: Any) -> jax.Array | None:
    """Coherence left on ion A after the heralded frequency phase is corrected (None: no such phase).

    Frequency encoding: the heralded phase ``2 pi df (t_a - t_b)`` is corrected from the recorded detection
    times up to the detectors' timing jitter; the residual Gaussian phase dephases the pair, coherence
    ``exp(-(2 pi df sigma_t)^2)`` (:func:`ionjax.components.frequency.frequency_phase_coherence`).
    """
    if link.encoding != "frequency" or link.protocol != "two_photon":
        return None
    return frequency_phase_coherence(link.interference.frequency_offset_hz, link.detection.timing_jitter_ps)


def station_numbers(link: Any) -> StationNumbers:
    """The station's numbers (see :class:`StationNumbers`): per-detector values override ``[detection]``;
    each frequency converter's ``noise_rate_hz`` adds ``noise_rate_hz W / J`` incident noise photons on each
    of the ``J`` detectors (Poissonian, incoherent: exactly extra dark counts, detected with the detector's
    efficiency)."""
    det = link.detection
    names = analyzer(link.protocol, link.encoding).detector_names
    own = dict(zip(det.detector_names, det.detectors))
    noise_hz = None
    for node in (link.node_a, link.node_b):
        for el in node.path:
            if el.kind == "frequency_conversion":
                noise_hz = el.noise_rate_hz if noise_hz is None else noise_hz + el.noise_rate_hz
    eff, mu = [], []
    for name in names:
        d = own.get(name)
        e = d.efficiency if d is not None and d.efficiency is not None else det.efficiency
        r = d.dark_count_rate_hz if d is not None and d.dark_count_rate_hz is not None else det.dark_count_rate_hz
        m = mean_dark_counts(r, det.window_ns)
        if noise_hz is not None:
            m = m + e * mean_dark_counts(noise_hz, det.window_ns) / len(names)
        eff.append(e)
        mu.append(m)
    return StationNumbers(link.station.beam_splitter_reflectivity, link.station.beam_splitter_phase_rad, eff, mu,
                          (link.node_a.multi_photon_probability, link.node_b.multi_photon_probability))
