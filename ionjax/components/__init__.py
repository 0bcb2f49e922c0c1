"""Physical building blocks: sources, fiber, optics, detectors. Each is a small pure function, unaware of protocols."""

from .analyzers import BellStateAnalyzer, bell_state_analyzer
from .detectors import (
    dark_click_probability,
    pnr_count_probabilities,
    threshold_no_click,
    threshold_outcomes,
    window_acceptance,
)
from .fiber import SPEED_OF_LIGHT_IN_FIBER_KM_PER_S, fiber_latency_s, fiber_transmission, herald_wait_s
from .sources import (
    ENCODING_MODES,
    PERP_SUFFIX,
    apply_emission_loss,
    apply_ion_photon_fidelity,
    apply_mode_mismatch,
    bright_state_source,
    ion_photon_state,
    time_bin_state,
)

__all__ = [
    "ENCODING_MODES",
    "PERP_SUFFIX",
    "SPEED_OF_LIGHT_IN_FIBER_KM_PER_S",
    "BellStateAnalyzer",
    "apply_emission_loss",
    "apply_ion_photon_fidelity",
    "apply_mode_mismatch",
    "bell_state_analyzer",
    "bright_state_source",
    "dark_click_probability",
    "fiber_latency_s",
    "fiber_transmission",
    "herald_wait_s",
    "ion_photon_state",
    "pnr_count_probabilities",
    "threshold_no_click",
    "threshold_outcomes",
    "time_bin_state",
    "window_acceptance",
]
