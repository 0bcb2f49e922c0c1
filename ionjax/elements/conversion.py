"""Quantum frequency conversion of the photon (for example 493 nm or 854 nm to 1550 nm telecom light)."""

from __future__ import annotations

import jax

from .base import Element, UniformLoss, param
from .polarization import _element

__all__ = ["FrequencyConversion"]


@_element
class FrequencyConversion(Element):
    """A frequency converter: end-to-end ``efficiency`` (a loss on every mode), ``noise_rate_hz`` noise photons
    per second (Raman and pump leakage) that reach the detectors, and the ``output_wavelength_nm`` it delivers.

    The noise photons are incoherent with the signal and Poissonian: they add to every detector's dark counts,
    ``noise_rate_hz / J`` on each of the ``J`` detectors, detected with that detector's efficiency
    (:func:`ionjax.link.program.station_numbers`). Both nodes' photons must reach the station at the same
    wavelength to interfere: a link whose nodes deliver different wavelengths is refused.
    """

    kind = "frequency_conversion"
    efficiency: jax.Array = param(1.0, 0.0, 1.0, help="P(photon converted and transmitted)")
    noise_rate_hz: jax.Array = param(0.0, 0.0, 1.0e12, help="noise photons per second reaching the detectors, Hz")
    output_wavelength_nm: jax.Array = param(1550.0, 100.0, 1.0e4, lo_open=True, help="output wavelength, nm")

    def factors(self):  # noqa: ANN201
        return [UniformLoss(self.efficiency)]

