"""Tests run in float64; a few are repeated in complex64 with looser tolerances.

In-process CLI calls (``ionjax.cli.main``) would point JAX's persistent compilation cache at the
user's cache directory; the tests keep it off unless a test turns it on for itself.
"""

import os

import jax

os.environ.setdefault("IONJAX_NO_COMPILE_CACHE", "1")
jax.config.update("jax_enable_x64", True)
