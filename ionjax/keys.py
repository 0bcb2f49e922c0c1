"""Numeric keys of the link and element formats: :class:`KeySpec` (default, range, meaning) and the one
check every number a user gives goes through (:func:`check_number`), so a link key and an element
key are refused with the same message: the key, the value and the allowed range."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from .errors import ConfigError

__all__ = ["KeySpec", "check_number", "INF"]

INF = math.inf
_INF_WORDS = ("inf", "+inf", "infinity", "+infinity")

@dataclass(frozen=True)
class KeySpec:
    """One numeric key of the format: its default, allowed range, meaning (with unit).

    Unpacks as the 5-tuple ``default, lo, hi, lo_open, meaning = spec`` (and indexes like it).
    The range is ``[lo, hi]``, open at ``lo`` when ``lo_open``. Where ``hi`` is inf, inf itself is
    allowed unless ``inf_refused`` gives the reason it is not (the range is then ``[lo, inf)``):
    every such key was tried at inf through :func:`ionjax.simulate` (both protocols, every
    encoding, both detector kinds, with and without dark counts and fiber loss), and inf is kept
    only where it is the physical limit (``qubit_t2_s = inf``: no dephasing; ``phase_noise_rad =
    inf``: a uniformly random phase), refused where it gives NaN or a meaningless number.
    """

    default: float
    lo: float
    hi: float
    lo_open: bool
    meaning: str
    inf_refused: str | None = None

    def __iter__(self):  # noqa: ANN204 - the 5-tuple callers unpack
        return iter((self.default, self.lo, self.hi, self.lo_open, self.meaning))

    def __getitem__(self, i: int) -> Any:
        return tuple(self)[i]

    @property
    def hi_open(self) -> bool:
        """True where the upper bound is excluded (inf refused)."""
        return self.hi == INF and self.inf_refused is not None

    def range_text(self) -> str:
        """The allowed range as text: ``[0, 1]``, ``(0, inf]``, ``[0, inf)``."""
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"



def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters (a 500-digit integer, a long list, a long string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _abbreviate_int(value)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _abbreviate_int(value: int) -> str:
    """``123456...789 (400 digits)`` for a long integer, the digits themselves for a short one."""
    try:
        text = str(abs(value))
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    sign = "-" if value < 0 else ""
    return sign + (text if len(text) <= 20 else f"{text[:6]}...{text[-3:]} ({len(text)} digits)")


def _value_error(path: str, v: float, shown: str, spec: KeySpec, where: str = "") -> ConfigError | None:
    """The ConfigError for the float ``v`` (shown as ``shown``) at key ``path``, or None if ``v`` is allowed."""
    default, lo, hi, lo_open, meaning = spec
    if math.isnan(v):
        return ConfigError(f"{path} = nan{where} is not a number: allowed {spec.range_text()} ({meaning}).")
    if v == INF and spec.hi_open:
        return ConfigError(f"{path} = inf{where} is not allowed: allowed {spec.range_text()} ({meaning}); "
                           f"{spec.inf_refused}.")
    if v < lo or v > hi or (lo_open and v == lo):
        return ConfigError(f"{path} = {shown}{where} is out of range: allowed {spec.range_text()} ({meaning}).")
    return None


def _number(path: str, value: Any, spec: KeySpec) -> float:
    """The scalar ``value`` of key ``path`` as a float, or a ConfigError naming the key, the value and the range.

    Accepts Python, numpy and JAX real numbers (0-d arrays included) and the strings ``"inf"``,
    ``"+inf"``, ``"infinity"``; refuses bools, other strings, arrays with axes, NaN, out-of-range values.
    """
    meaning = spec.meaning
    if isinstance(value, jax.core.Tracer):
        raise ConfigError(f"{path} is a traced JAX value (inside jit, vmap or grad); load_link needs concrete "
                          f"numbers. Load the link once outside the transformation and vary the number with "
                          f"link.set({{{path!r}: x}}).")
    if isinstance(value, str):
        if value.strip().lower() not in _INF_WORDS:
            raise ConfigError(f"{path} must be a number ({meaning}), got {_short(value)} of type str; allowed "
                              f"{spec.range_text()}.")
        v, shown = INF, "inf"
    elif isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{path} must be a number ({meaning}), got the bool {value!r}; allowed "
                          f"{spec.range_text()} (write 1.0 or 0.0 if that is what you mean).")
    elif isinstance(value, (np.ndarray, jax.Array)):
        if value.ndim != 0:
            raise ConfigError(f"{path} must be a single number ({meaning}), got an array of shape "
                              f"{tuple(value.shape)}; to vary it over several values use ij.sweep, or "
                              f"link.set under jax.vmap.")
        if value.dtype.kind == "b":
            raise ConfigError(f"{path} must be a number ({meaning}), got a bool array {value!r}; allowed "
                              f"{spec.range_text()}.")
        if value.dtype.kind not in "iuf":
            raise ConfigError(f"{path} must be a real number ({meaning}), got a 0-d array of dtype {value.dtype}; "
                              f"allowed {spec.range_text()}.")
        v = float(value)
        shown = repr(v)
    elif isinstance(value, numbers.Real):
        try:
            v = float(value)
        except OverflowError:
            raise ConfigError(f"{path} = {_short(value)} is out of range: allowed {spec.range_text()} ({meaning}); "
                              "it is too large for a floating-point number.") from None
        shown = _short(value) if type(value) in (int, float) else repr(v)  # a 300-digit int abbreviated
    else:
        raise ConfigError(f"{path} must be a number ({meaning}), got {_short(value)} of type "
                          f"{type(value).__name__}; allowed {spec.range_text()}.")
    err = _value_error(path, v, shown, spec)
    if err is not None:
        raise err
    return v



check_number = _number
