"""Scalar arithmetic for programs written out at trace time: a value is ``None`` (a structural zero), a
Python number (a constant, folded at trace time) or a JAX scalar (real or complex; under ``vmap`` every
operation is elementwise over the batch, which XLA fuses into a few loops).

:class:`Amp` adds square roots followed symbolically: an amplitude is a sum of terms
``coef * prod_v sqrt(x_v)^(e_v)`` over registered nonnegative variables ``x_v`` (transmissions, the
overlap ``M`` and ``1 - M``, beam-splitter ``R`` and ``1 - R``). A product of two amplitudes adds the
exponents, so a probability ``|sqrt(eta)|^2`` is ``eta`` itself, with its exact derivative everywhere
(``eta = 0`` included), and a coherence keeps ``sqrt(eta_a eta_b)`` (derivative 0 at 0, as
:func:`ionjax.core.apply_loss`).
"""

from __future__ import annotations

import numbers
from typing import Any

import jax.numpy as jnp

from ..core.state import _sqrt0

__all__ = ["add", "mul", "conj", "lin", "is_complex", "Vars", "Amp"]


def is_complex(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, numbers.Number):
        return isinstance(x, complex)
    return jnp.iscomplexobj(x)


def add(*xs: Any) -> Any:
    """Sum, skipping zeros; constants fold."""
    const: Any = 0
    acc = None
    for x in xs:
        if x is None:
            continue
        if isinstance(x, numbers.Number):
            const = const + x
        else:
            acc = x if acc is None else acc + x
    if const != 0:
        acc = const if acc is None else acc + const
    return acc


def mul(a: Any, b: Any) -> Any:
    """Product; a zero on either side is zero; 1 is dropped; constants fold."""
    if a is None or b is None:
        return None
    if isinstance(a, numbers.Number):
        if a == 0:
            return None
        if isinstance(b, numbers.Number):
            v = a * b
            return None if v == 0 else v
        return b if a == 1 else (-b if a == -1 else a * b)
    if isinstance(b, numbers.Number):
        return mul(b, a)
    return a * b


def conj(a: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, numbers.Number):
        return a.conjugate()
    return jnp.conj(a) if jnp.iscomplexobj(a) else a


def lin(pairs: list) -> Any:
    """``sum c * x`` over ``(c, x)``."""
    return add(*[mul(c, x) for c, x in pairs])


class Vars:
    """The registered nonnegative variables of one trace, with memoized monomials."""

    def __init__(self) -> None:
        self.values: list = []
        self._ids: dict = {}
        self._mono: dict = {}

    def var(self, x: Any) -> Amp:
        """The amplitude ``sqrt(x)`` (``x >= 0``; registered once per object)."""
        if isinstance(x, numbers.Number):
            return Amp({(): x ** 0.5}) if x != 1 else Amp.one()
        key = id(x)
        if key not in self._ids:
            self._ids[key] = len(self.values)
            self.values.append(x)
        return Amp({((self._ids[key], 1),): 1.0})

    def monomial(self, mono: tuple) -> Any:
        """``prod_v x_v^(e_v // 2) sqrt(x_v)^(e_v % 2)`` (memoized)."""
        if mono not in self._mono:
            out: Any = 1.0
            for v, e in mono:
                x = self.values[v]
                for _ in range(e // 2):
                    out = mul(out, x)
                if e % 2:
                    out = mul(out, _sqrt0(x))
            self._mono[mono] = out
        return self._mono[mono]


class Amp:
    """A sum of ``coef * monomial`` terms (see the module docstring); ``terms``: ``{monomial: coef}``."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict) -> None:
        self.terms = {m: c for m, c in terms.items() if c is not None}

    @staticmethod
    def one() -> Amp:
        return Amp({(): 1.0})

    def __bool__(self) -> bool:
        return bool(self.terms)

    def scale(self, c: Any) -> Amp:
        return Amp({m: mul(v, c) for m, v in self.terms.items()})

    def times(self, other: Amp) -> Amp:
        out: dict = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                m = _merge(m1, m2)
                out[m] = add(out.get(m), mul(c1, c2))
        return Amp(out)

    def plus(self, other: Amp) -> Amp:
        out = dict(self.terms)
        for m, c in other.terms.items():
            out[m] = add(out.get(m), c)
        return Amp(out)

    def conj(self) -> Amp:
        return Amp({m: conj(c) for m, c in self.terms.items()})

    def value(self, vars_: Vars) -> Any:
        """The amplitude as a scalar (None if zero)."""
        return add(*[mul(c, vars_.monomial(m)) for m, c in self.terms.items()])


def _merge(m1: tuple, m2: tuple) -> tuple:
    d = dict(m1)
    for v, e in m2:
        d[v] = d.get(v, 0) + e
    return tuple(sorted(d.items()))
