"""Tests run in float64; a few are repeated in complex64 with looser tolerances.

In-process CLI calls (``ionjax.cli.main``) would point JAX's persistent compilation cache at the
user's cache directory; the tests keep it off unless a test turns it on for itself.

Compile once per shape, across processes too: the session's processes (the xdist workers, and the
subprocesses tests start, through ``JAX_COMPILATION_CACHE_DIR``) share one persistent compilation cache
in a fresh temporary directory, removed at the end of the session. A program compiled once (by another
worker, in a subprocess, or by another test's new ``jax.jit`` of the same program, e.g. each
``ij.optimize`` with a new optax optimizer) is then loaded, not compiled again; the numbers are the
same executable's. ``IONJAX_TEST_COMPILE_CACHE=DIR`` uses (and keeps) ``DIR`` instead,
``IONJAX_TEST_COMPILE_CACHE=0`` switches it off.

``IONJAX_TEST_FAST_COMPILE=1`` (opt-in, for a quick local loop; not what CI runs) compiles with XLA's
older CPU loop emitters (``--xla_cpu_use_fusion_emitters=false``): the long scalar programs of the
click-time links compile 3-5x faster, but the numbers differ from the default compiler's in the last
bits (about 2% of outputs, relative 1e-14), so the default suite checks the compiler users get.
"""

import atexit
import os
import shutil
import tempfile

import jax
import pytest

os.environ.setdefault("IONJAX_NO_COMPILE_CACHE", "1")
jax.config.update("jax_enable_x64", True)
_FAST = "--xla_cpu_use_fusion_emitters=false"
if os.environ.get("IONJAX_TEST_FAST_COMPILE", "").strip() not in ("", "0") and _FAST not in os.environ.get(
        "XLA_FLAGS", ""):  # (before the backend starts; xdist's workers inherit it)
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), _FAST]))


def _session_compile_cache() -> None:
    path = os.environ.get("IONJAX_TEST_COMPILE_CACHE")
    if path is None:  # the first process of the session (xdist's controller): the workers inherit the variable
        path = tempfile.mkdtemp(prefix="ionjax-test-jax-cache-")
        os.environ["IONJAX_TEST_COMPILE_CACHE"] = path
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    if path.strip() in ("", "0"):
        return
    # (the environment: for the subprocesses tests start; no XLA-internal GPU autotuning caches under it:
    # their path would enter every cache key)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    os.environ["JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES"] = "none"
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")


_session_compile_cache()


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
