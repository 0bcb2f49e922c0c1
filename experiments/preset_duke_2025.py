"""Paper vs ionjax for the duke_2025 preset, its error budget, and a scan of its dominant knob.

The detection window trades rate for fidelity: a short window cuts the photon's tail (rate) while
dark counts grow with the window; at 10 Hz dark counts the fidelity barely moves.

Run: python experiments/preset_duke_2025.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import ionjax as ij  # noqa: E402
from ionjax.budget import format_scan, knob_scan  # noqa: E402

KNOB = "detection.window_ns"
VALUES = [5.0, 10.0, 20.0, 40.0, 80.0, 160.0]

if __name__ == "__main__":
    print(ij.presets.compare("duke_2025"))
    print(f"\nScan of {KNOB}:")
    print(format_scan(knob_scan(ij.presets.get("duke_2025"), KNOB, VALUES), KNOB))
