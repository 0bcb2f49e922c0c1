"""Bell-state analyzers: which detectors watch which output modes, and which click patterns herald which Bell state.

The two nodes' photons (input ports ``a`` and ``b``) meet at a 50:50 beam
splitter (:func:`ionjax.core.beam_splitter_unitary`, ``a^dag -> (c^dag - d^dag)/sqrt2``,
``b^dag -> (c^dag + d^dag)/sqrt2``) whose outputs are ``c`` and ``d``. Output mode
``c_<m>`` carries encoding mode ``m`` (and its internal ``_perp`` copy, which
detectors do not resolve). A pattern names the detectors that fire
(threshold: click; photon-number resolving: exactly one count); every other
detector must stay dark.

With the ideal ion-photon state ``(|0>|m0> + |1>|m1>)/sqrt2`` at both nodes:

* polarization (``m = h, v``; a PBS at each output): ``c_h c_v`` and ``d_h d_v`` herald
  Psi+, ``c_h d_v`` and ``c_v d_h`` herald Psi- (Phi+- give two photons in one detector:
  never accepted). Success 1/2 of the two-photon events.
* time_bin (``m = early, late``; the same detector in two time bins): identical table.
* frequency (``m = f0, f1``; detectors do not resolve colour): a ``c d`` coincidence
  heralds Psi-; success 1/4.
* single_photon (one mode ``x``): ``c`` alone heralds Psi+, ``d`` alone Psi-.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BellStateAnalyzer", "bell_state_analyzer"]


@dataclass(frozen=True)
class BellStateAnalyzer:
    """Static description of a detection station.

    Attributes:
        modes: encoding modes ``m`` (input modes ``a_m``, ``b_m``; outputs ``c_m``, ``d_m``).
        detectors: ``(name, output modes watched)`` for each detector.
        patterns: ``(name, detectors that fire, target Bell state)`` for each accepted pattern.
    """

    modes: tuple[str, ...]
    detectors: tuple[tuple[str, tuple[str, ...]], ...]
    patterns: tuple[tuple[str, tuple[str, ...], str], ...]

    @property
    def detector_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.detectors)


def _two_mode(m0: str, m1: str) -> BellStateAnalyzer:
    dets = tuple((f"{p}_{m}", (f"{p}_{m}",)) for p in ("c", "d") for m in (m0, m1))
    c0, c1, d0, d1 = (name for name, _ in dets)
    pats = (
        (f"{c0}+{c1}", (c0, c1), "psi+"),
        (f"{d0}+{d1}", (d0, d1), "psi+"),
        (f"{c0}+{d1}", (c0, d1), "psi-"),
        (f"{c1}+{d0}", (c1, d0), "psi-"),
    )
    return BellStateAnalyzer((m0, m1), dets, pats)


def bell_state_analyzer(encoding: str) -> BellStateAnalyzer:
    """The analyzer for ``"polarization" | "time_bin" | "frequency" | "single_photon"``."""
    if encoding == "polarization":
        return _two_mode("h", "v")
    if encoding == "time_bin":
        return _two_mode("early", "late")
    if encoding == "frequency":
        dets = (("c", ("c_f0", "c_f1")), ("d", ("d_f0", "d_f1")))
        return BellStateAnalyzer(("f0", "f1"), dets, (("c+d", ("c", "d"), "psi-"),))
    if encoding == "single_photon":
        dets = (("c", ("c_x",)), ("d", ("d_x",)))
        return BellStateAnalyzer(("x",), dets, (("c", ("c",), "psi+"), ("d", ("d",), "psi-")))
    raise ValueError(
        f"Argument `encoding` must be 'polarization', 'time_bin', 'frequency' or 'single_photon', got {encoding!r}."
    )
