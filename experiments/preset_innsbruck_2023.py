"""Paper vs ionjax for the innsbruck_2023 preset, its error budget, and a scan of its dominant knob.

With 60 us cavity-photon windows and a 4e-5 success probability, dark counts are a leading
imperfection of the 230 m link; the scan shows the fidelity against the dark-count rate.

Run: python experiments/preset_innsbruck_2023.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import ionjax as ij  # noqa: E402
from ionjax.budget import format_scan, knob_scan  # noqa: E402

KNOB = "detection.dark_count_rate_hz"
VALUES = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]

if __name__ == "__main__":
    print(ij.presets.compare("innsbruck_2023"))
    print(f"\nScan of {KNOB}:")
    print(format_scan(knob_scan(ij.presets.get("innsbruck_2023"), KNOB, VALUES), KNOB))
