"""Paper vs ionjax for the oxford_2020 preset, its error budget, and a scan of its dominant knob.

Mode matching and the ion-photon state dominate the Oxford budget; the scan shows how much better
wavepacket overlap would buy (F = (1 + M)/2 scaling, times the ion-photon coherence).

Run: python experiments/preset_oxford_2020.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import ionjax as ij  # noqa: E402
from ionjax.budget import format_scan, knob_scan  # noqa: E402

KNOB = "interference.mode_overlap"
VALUES = [0.90, 0.93, 0.955, 0.97, 0.985, 1.0]

if __name__ == "__main__":
    print(ij.presets.compare("oxford_2020"))
    print(f"\nScan of {KNOB}:")
    print(format_scan(knob_scan(ij.presets.get("oxford_2020"), KNOB, VALUES), KNOB))
