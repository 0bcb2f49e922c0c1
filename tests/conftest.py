"""Tests run in float64; a few are repeated in complex64 with looser tolerances.

In-process CLI calls (``ionjax.cli.main``) would point JAX's persistent compilation cache at the
user's cache directory; the tests keep it off unless a test turns it on for itself.
"""

import os

import jax
import pytest

os.environ.setdefault("IONJAX_NO_COMPILE_CACHE", "1")
jax.config.update("jax_enable_x64", True)


@pytest.fixture
def saved_chunks(monkeypatch):
    """The sweep chunk indices computed (and saved to a checkpoint) while the test runs, in order."""
    from ionjax.sweep import _Checkpoint

    computed = []
    orig = _Checkpoint.save

    def spy(self, i, data):
        computed.append(i)
        return orig(self, i, data)

    monkeypatch.setattr(_Checkpoint, "save", spy)
    return computed
