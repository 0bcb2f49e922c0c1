"""The one description of what a link does: for each node, a source and an ordered list of elements acting
on named subsystems; for the station, its optics, detectors and accepted patterns.

Every method (:mod:`ionjax.link.dense`, both pictures, and :mod:`ionjax.link.compiled`) reads the link
through :func:`node_program` and :func:`station_numbers` only, so that each number of the link file enters
the physics in exactly one place:

* node ``X``: the source's density-matrix entries over ``(ion, photon Fock state)``
  (:func:`source_entries`); the ion coherence factor (a Z error of probability ``1 - F_ip``, dephasing
  ``exp(-wait / T2)`` during the herald wait ``2 L / (2e5 km/s)``, ``L`` the flat ``fiber_length_km`` plus
  every ``fiber`` element's ``length_km``); then the photon's elements in order:
  the flat keys as one loss (collection x fiber x gate acceptance, x excitation for two_photon), the
  ``path`` elements in file order, and for node B the wavepacket split of overlap ``M`` (the two wavepackets'
  overlap inside the gate times the residual ``interference.mode_overlap``: :func:`mode_overlap`) and
  (single_photon) the random optical phase between the paths;
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
from ..components.detectors import mean_dark_counts
from ..components.fiber import fiber_transmission, herald_wait_s
from ..components.sources import ENCODING_MODES
from ..components.wavepacket import Wavepacket, angular_frequency_rad_per_ns, gate_acceptance, gated_overlap
from ..core.state import _sqrt0
from ..elements import Element, LossElement, NumberDephasing, Split
from ..elements.polarization import _element

__all__ = ["NodeProgram", "StationNumbers", "node_program", "station_numbers", "source_entries", "photon_modes",
           "analyzer", "ModeMismatch", "PhaseNoise", "path_transmission", "mode_overlap", "wavepacket",
           "Timing", "timing"]

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
        wait_s: the herald wait ``2 L / (2e5 km/s)``.
        relaxation: ``gamma = 1 - exp(-wait / T1)``: the ion's ``|1>`` relaxes to ``|0>`` while it waits.
        memory_coherence: the factor the wait leaves on the ion's coherences: ``exp(-wait / (2 T1))`` times the
            dephasing ``exp(-wait / T2)`` (``memory_decay = "exponential"``) or ``exp(-(wait / T2)^2)``
            (``"gaussian"``: quasi-static noise).
        elements: ``((name, element), ...)`` acting on the photon, in order.
    """

    modes: tuple[str, ...]
    n_max: int
    entries: dict
    z_error: Any
    wait_s: Any
    relaxation: Any
    memory_coherence: Any
    elements: tuple

    @property
    def coherence(self) -> Any:
        """The factor the ion operations leave on every ion coherence (``i != j``)."""
        return (1.0 - 2.0 * self.z_error) * self.memory_coherence

    def ion_entries(self) -> dict:
        """The source's entries after the ion's channels (the Z error, relaxation and dephasing during the wait):
        they act on the ion only, so they commute with everything the photon meets and come first."""
        g, coh = self.relaxation, self.coherence
        out: dict = {}
        for ((i, o1), (j, o2)), v in self.entries.items():
            if i != j:
                out[((i, o1), (j, o2))] = v * coh
            elif i == 0:
                out[((0, o1), (0, o2))] = out.get(((0, o1), (0, o2)), 0.0) + v
            else:
                out[((1, o1), (1, o2))] = v * (1.0 - g)
                out[((0, o1), (0, o2))] = out.get(((0, o1), (0, o2)), 0.0) + v * g
        return out


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


def wavepacket(node: Any) -> Wavepacket:
    """The node's photon wavepacket (:mod:`ionjax.components.wavepacket`)."""
    return Wavepacket(node.photon_lifetime_ns, node.photon_frequency_offset_mhz, node.arrival_delay_ns)


def mode_overlap(link: Any) -> jax.Array:
    """The two photons' overlap inside the detection gate: the temporal one from the wavepackets
    (:func:`ionjax.components.wavepacket.gated_overlap`) times ``interference.mode_overlap`` (the residual
    overlap of the other degrees of freedom: spatial mode, polarization purity)."""
    det = link.detection
    return link.interference.mode_overlap * gated_overlap(wavepacket(link.node_a), wavepacket(link.node_b),
                                                          det.window_start_ns, det.window_ns)


def path_transmission(node: Any, link: Any, gate: bool = True) -> jax.Array:
    """The flat keys' probability that an emitted photon leaves the node's fiber inside the detection gate.

    ``branching x collection x fiber x g_xx`` (``g_xx`` the wavepacket's share in ``[window_start, window_start +
    window]``; ``1 - exp(-window/lifetime)`` for a gate from emission), times ``excitation_probability`` for
    two_photon (path elements and the detectors come on top).
    """
    det = link.detection
    eta = (node.collection_efficiency * node.branching_ratio
           * fiber_transmission(node.fiber_length_km, node.fiber_attenuation_db_per_km))
    if node.fiber_coupling:
        eta = eta * lens_collection(node, link)[0]
    if gate:
        eta = eta * gate_acceptance(wavepacket(node), det.window_start_ns, det.window_ns)
    if link.protocol == "two_photon":
        eta = eta * (emission(node)[0] / node.branching_ratio if node.excitation is not None
                     else node.excitation_probability)
    return eta


def emission(node: Any) -> tuple[Any, Any]:
    """``(P(a photon on the line), P(a second photon | one))`` of a node's ``[excitation]`` pulse
    (:func:`ionjax.components.excitation_emission`: the driven three-level Lindblad equation with photon
    counting; the branching ratio included)."""
    from ..components.lindblad import excitation_emission

    ex = node.excitation
    out = excitation_emission(ex.pulse_area_rad, ex.pulse_duration_ns, node.photon_lifetime_ns, node.branching_ratio,
                              detuning_rad_per_ns=angular_frequency_rad_per_ns(ex.detuning_mhz),
                              pulse_shape=ex.pulse_shape)
    return out.p_emission, out.p_second_photon / out.p_emission


def multi_photon(node: Any, link: Any) -> Any:
    """The node's second-photon probability as the station sees it (``q``, relative to the main photon's
    gate acceptance, which the optics apply to it).

    Without ``[excitation]``: ``multi_photon_probability``. With it: the second photon needs a decay during the
    pulse ``[0, T]`` and a re-excitation, so the *extra* photon is the one emitted during the pulse (the
    re-excited one carries the entanglement); its emission time is taken uniform over the pulse, so a gate
    that starts later gates it out: ``q = P(2|1) x |[0, T] n gate| / T / g_xx``."""
    if node.excitation is None:
        return node.multi_photon_probability
    det = link.detection
    _, q = emission(node)
    t = node.excitation.pulse_duration_ns
    inside = jnp.clip(jnp.minimum(t, det.window_start_ns + det.window_ns) - jnp.maximum(0.0, det.window_start_ns),
                      0.0, None) / t
    g = gate_acceptance(wavepacket(node), det.window_start_ns, det.window_ns)
    return q * inside / jnp.where(g > 0.0, g, 1.0)


def lens_collection(node: Any, link: Any) -> tuple[Any, Any]:
    """``(P(collected into the fiber), photon block G[k, k', p, p'] | None)`` of a node with ``fiber_coupling``.

    The ion ends in ``|0>`` (``|1>``) by emitting sigma+ (sigma-) light, amplitudes ``1/sqrt2``, seen along the
    quantization axis by a lens of ``numerical_aperture`` (:mod:`ionjax.components.collection`: the collected
    field's three angular harmonics, of weights ``A``, ``B`` (wrong-handed light) and ``S``).

    * ``multimode``: the fiber takes the whole collected field; polarization-encoded photons carry the mixing
      (the state's photon block ``G``), collected with probability ``Tr G``.
    * ``single_mode``: the fiber's fundamental mode has no azimuthal dependence, so it filters out the
      harmonics 1 and 2 (``B``, ``S``) completely: a pure state, collected with probability
      ``A x mode_matching`` (the radial overlap).

    ``collection_efficiency`` then multiplies (the optics after the lens; 1 for an ideal path).
    """
    from ..components.collection import _moments, collected_polarization

    na = node.numerical_aperture
    if node.fiber_coupling == "single_mode":
        a, _, _ = _moments(na)
        return a * node.mode_matching, None
    g = collected_polarization(na)
    p = 0.5 * jnp.real(jnp.trace(g[0, 0]) + jnp.trace(g[1, 1]))
    return p, (g if link.protocol == "two_photon" and link.encoding == "polarization" else None)


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
    if node.fiber_coupling:
        p, g = lens_collection(node, link)
        if g is not None:  # the collected (mixed) polarization state, conditioned on a collected photon
            occ = ((1, 0), (0, 1))
            return modes, 1, {((k, occ[a]), (k2, occ[b])): 0.5 * g[k, k2, a, b] / p
                              for k in (0, 1) for k2 in (0, 1) for a in (0, 1) for b in (0, 1)}
    amps = {(0, (1, 0)): 1.0, (1, (0, 1)): 1.0}
    return modes, 1, {(a, b): _S2 for a in amps for b in amps}


def node_program(link: Any, which: str, timed: bool = False) -> NodeProgram:
    """The ordered description of node ``which`` (``"a"`` or ``"b"``) of ``link`` (see the module docstring).

    ``timed=False`` folds the detection gate into the node: the flat loss holds the gate acceptance ``g_xx`` and
    node B's split holds the gated temporal overlap (a time-integrating detector sees only these: exact for
    every pattern). ``timed=True`` leaves the photon's temporal mode to the caller, which reads it from
    :func:`timing` (the compiled method, which also integrates over the click times): the flat loss is then
    collection x fiber (x excitation) and node B's split holds the residual ``interference.mode_overlap`` only.
    """
    if which not in ("a", "b"):
        raise ValueError(f"Argument `which` must be 'a' or 'b', got {which!r}.")
    node = link.node_a if which == "a" else link.node_b
    modes, n_max, entries = source_entries(link, node)
    length = node.fiber_length_km  # the photon's whole way to the station: the flat fiber and path fibers
    for el in node.path:
        if el.kind == "fiber":
            length = length + el.length_km
    wait = herald_wait_s(length)
    elements: list = [("flat", LossElement(path_transmission(node, link, gate=not timed)))]
    elements += list(zip(node.path_names, node.path))
    if which == "b":
        overlap = link.interference.mode_overlap if timed else mode_overlap(link)
        elements.append(("mode_overlap", ModeMismatch(overlap)))
        if link.protocol == "single_photon":
            elements.append(("phase_noise", PhaseNoise(link.interference.phase_noise_rad)))
    relax, coh = memory_channel(wait, node.qubit_t1_s, node.qubit_t2_s, node.memory_decay)
    coh = coh * recoil_coherence(node, link)
    return NodeProgram(modes, n_max, entries, 1.0 - node.ion_photon_fidelity, wait, relax, coh, tuple(elements))


def recoil_coherence(node: Any, link: Any) -> Any:
    """The ion coherence the photon's recoil leaves (Saha et al., Nat. Commun. 16 (2025); Apolin & Nadlinger,
    arXiv:2503.16837): an emission at time ``t`` kicks the motional mode by ``D(i eta e^{i w t})``, and a thermal
    state of mean ``n`` has ``|Tr D(beta) rho| = exp(-|beta|^2 (2 n + 1) / 2)``.

    * single_photon: only ``|1>`` emits: ``exp(-eta^2 (2 n + 1) / 2)``;
    * time_bin: ``|0>`` emits early, ``|1>`` a bin spacing ``Delta`` later: ``beta = eta (1 - e^{i w Delta})``,
      ``exp(-2 eta^2 (2 n + 1) sin^2(w Delta / 2))``, 1 at multiples of the trap period;
    * polarization, frequency: both ion states emit at once, the kick is common: 1.
    """
    if link.protocol == "single_photon":
        return jnp.exp(-0.5 * node.lamb_dicke_parameter**2 * (2.0 * node.mean_phonon_number + 1.0))
    if link.encoding == "time_bin":
        phase = 0.5 * angular_frequency_rad_per_ns(node.trap_frequency_mhz) * node.time_bin_spacing_ns
        return jnp.exp(-2.0 * node.lamb_dicke_parameter**2 * (2.0 * node.mean_phonon_number + 1.0)
                       * jnp.sin(phase) ** 2)
    return 1.0


def memory_channel(wait_s: Any, t1_s: Any, t2_s: Any, decay: str = "exponential") -> tuple[Any, Any]:
    """``(gamma, coherence)`` of a qubit memory over ``wait_s`` (:class:`NodeProgram`); finite gradients at
    ``wait = 0`` and ``T = inf``."""
    t = jnp.asarray(wait_s)
    inv_t1 = 1.0 / jnp.asarray(t1_s)
    x = t / jnp.asarray(t2_s)
    dephase = jnp.exp(-(x * x)) if decay == "gaussian" else jnp.exp(-x)
    return -jnp.expm1(-t * inv_t1), jnp.exp(-0.5 * t * inv_t1) * dephase


@dataclass(frozen=True)
class Timing:
    """The photons' temporal modes and the time-resolved detection (:mod:`ionjax.link.timing`).

    Attributes:
        rates, omegas, delays: ``(G_a, G_b)`` (1/ns), ``(w_a, w_b)`` (rad/ns), ``(d_a, d_b)`` (ns).
        start, end: the gate ``[start, end]`` (ns); window: ``end - start``.
        coincidence: the coincidence window ``T_c`` (ns; inf: none).
        correction: static: the time-resolved phase correction is applied.
        jitter_ps: each detector's rms timing jitter (ps).
        dead_time: each detector's dead time after a click (ns); bin_spacing: the time_bin bins' spacing
            ``Delta`` (ns; the two nodes' mean, which must agree for the late bins to interfere).
    """

    rates: tuple
    omegas: tuple
    delays: tuple
    start: Any
    end: Any
    window: Any
    coincidence: Any
    correction: bool
    jitter_ps: Any
    dead_time: Any
    bin_spacing: Any


def timing(link: Any) -> Timing:
    """The link's :class:`Timing`."""
    det = link.detection
    w = [wavepacket(n) for n in (link.node_a, link.node_b)]
    return Timing(tuple(1.0 / jnp.asarray(x.lifetime_ns) for x in w),
                  tuple(angular_frequency_rad_per_ns(x.offset_mhz) for x in w),
                  tuple(jnp.asarray(x.delay_ns) for x in w),
                  det.window_start_ns, det.window_start_ns + det.window_ns, det.window_ns,
                  det.coincidence_window_ns, det.time_resolved_correction, det.timing_jitter_ps, det.dead_time_ns,
                  0.5 * (link.node_a.time_bin_spacing_ns + link.node_b.time_bin_spacing_ns))


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
                          (multi_photon(link.node_a, link), multi_photon(link.node_b, link)))
