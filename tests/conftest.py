"""Tests run in float64; a few are repeated in complex64 with looser tolerances."""

import jax

jax.config.update("jax_enable_x64", True)
