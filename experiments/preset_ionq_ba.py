"""Paper vs ionjax for the ionq_ba preset: fidelity, success probability, rate, and the error budget.

Run: python experiments/preset_ionq_ba.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import ionjax as ij  # noqa: E402

if __name__ == "__main__":
    print(ij.presets.compare("ionq_ba"))
