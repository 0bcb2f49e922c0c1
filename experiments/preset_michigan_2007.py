"""Paper vs ionjax for the michigan_2007 preset, its error budget, and a scan of its dominant knob.

Frequency-encoded photons 12.6 GHz apart herald a state whose phase depends on the detection-time
difference; timing jitter washes it out. The scan shows fidelity against jitter.

Run: python experiments/preset_michigan_2007.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import ionjax as ij  # noqa: E402
from ionjax.budget import format_scan, knob_scan  # noqa: E402

KNOB = "detection.timing_jitter_ps"
VALUES = [0.0, 3.0, 6.0, 11.0, 20.0, 40.0]

if __name__ == "__main__":
    print(ij.presets.compare("michigan_2007"))
    print(f"\nScan of {KNOB}:")
    print(format_scan(knob_scan(ij.presets.get("michigan_2007"), KNOB, VALUES), KNOB))
