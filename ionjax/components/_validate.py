"""Argument checks shared by the components (private).

A check runs only when the value is a concrete number; under ``jit``/``vmap``/``grad``
the values are traced and pass unchecked (validate at the edge, trace the physics).
Every message names the argument, the value it got, the allowed range and, where
one is likely, a fix.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..core.channels import check_probability

__all__ = ["check_probability", "check_range", "check_unitary", "is_concrete"]


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds concrete numbers (not a tracer)."""
    if isinstance(x, jax.core.Tracer):
        return False
    try:
        np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError, TypeError):
        return False
    return True


def _fmt(v: np.ndarray) -> str:
    return str(v.tolist()) if v.ndim else repr(float(v)) if np.isrealobj(v) else repr(complex(v))


def check_range(
    name: str,
    value: Any,
    lo: float = -np.inf,
    hi: float = np.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    fix: str = "",
) -> None:
    """ValueError naming ``name`` if a concrete ``value`` is not finite-or-allowed and inside the interval.

    ``lo_open``/``hi_open`` exclude the end points. Infinite values are accepted only where the
    interval reaches infinity on that side (``hi = inf`` admits ``inf``).
    """
    if not is_concrete(value):
        return
    v = np.asarray(value)
    if np.iscomplexobj(v):
        raise ValueError(f"Argument `{name}` must be real, got {_fmt(v)}.")
    bad = np.isnan(v)
    bad |= (v < lo) | (v > hi)
    if lo_open:
        bad |= v == lo
    if hi_open:
        bad |= v == hi
    if np.any(bad):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        msg = f"Argument `{name}` must lie in {left}{lo}, {hi}{right}, got {_fmt(v)}."
        raise ValueError(msg + (f" {fix}" if fix else ""))


def check_unitary(name: str, u: Any, atol: float = 1e-8) -> None:
    """ValueError naming ``name`` if a concrete square matrix ``u`` is not unitary to ``atol``.

    The tolerance is at least ``100 eps`` of ``u``'s precision (about 1.2e-5 in single precision).
    """
    shape = np.shape(u)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"Argument `{name}` must be a square (m, m) matrix, got shape {tuple(shape)}.")
    if not is_concrete(u):
        return
    raw = np.asarray(u)
    if np.issubdtype(raw.dtype, np.inexact):  # single precision gets a single-precision tolerance
        atol = max(atol, 100.0 * float(np.finfo(raw.dtype).eps))
    a = raw.astype(complex)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"Argument `{name}` must be finite, got {a.tolist()}.")
    err = float(np.max(np.abs(a.conj().T @ a - np.eye(shape[0]))))
    if err > atol:
        raise ValueError(
            f"Argument `{name}` must be unitary (max |U^dag U - I| <= {atol:g}), got max |U^dag U - I| = {err:.3g} "
            f"for {a.round(6).tolist()}. Build it from wave plates / beam splitters, or orthonormalize it "
            "(e.g. the Q factor of a QR decomposition)."
        )
