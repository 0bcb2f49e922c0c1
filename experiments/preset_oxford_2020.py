"""Paper vs ionjax for the oxford_2020 preset: fidelity, success probability, rate, and the error budget.

Run: python experiments/preset_oxford_2020.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import ionjax as ij  # noqa: E402

if __name__ == "__main__":
    print(ij.presets.compare("oxford_2020"))
