"""Detector weights: the probability that an accepted click pattern is seen, given how many photons reach
each detector, with the multi-photon noise photons mixed in exactly.

A pattern names the detectors that must fire (threshold: click; pnr: exactly one count); every other
detector must stay dark. Given ``k_j`` photons at detector ``j`` the weight is
``sum_{d_A, d_B} r_A(d_A) r_B(d_B) prod_j T_{f_j, j}(k_j + [d_A = j] + [d_B = j])``, where node ``X``'s
second photon reached detector ``d_X`` (or none) with probability ``r_X(d_X)`` and ``T_{f, j}(k)`` is
detector ``j``'s table (``f``: must fire or stay dark).

Two sets of tables: :func:`photon_tables` for photons *incident* on a detector of efficiency ``eta_j``
(the dense methods), and :func:`detected_tables` for photons already *detected* (the compiled method,
which folds each efficiency into the optics). Both take the mean dark count ``mu_j`` (exact for any rate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from ..components.detectors import _pnr_lists, _threshold_lists
from .scalars import add, mul

__all__ = ["photon_tables", "detected_tables", "pattern_weight", "detected_is_zero", "can_herald"]

Table = Callable[[int, int, int], Any]  # (detector j, fire 0/1, photons k) -> scalar | None


def photon_tables(kind: str, efficiency: list, mean_dark: list, max_count: int) -> Table:
    """Tables of ``P(dark | k)``, ``P(fire | k)`` for ``k = 0..max_count`` photons incident on detector ``j``."""
    rows = []
    for eta, mu in zip(efficiency, mean_dark):
        if kind == "pnr":
            r = _pnr_lists(max_count, eta, mu, 2)
            rows.append((r[0], r[1]))
        else:
            rows.append(_threshold_lists(max_count, eta, jnp.exp(-mu), -jnp.expm1(-mu)))
    return lambda j, f, k: rows[j][f][k]


def detected_tables(kind: str, mean_dark: list) -> Table:
    """The same for ``k`` photons *detected* (efficiency 1): dark ``e^{-mu} [k = 0]``; threshold fire
    ``1 - e^{-mu}`` at ``k = 0``, else 1; pnr fire ``mu e^{-mu}`` at 0, ``e^{-mu}`` at 1, else 0. (So a threshold
    detector's weights are the same for every ``k >= 1``: counts may be clipped at 1.)"""
    no_dark = [jnp.exp(-mu) for mu in mean_dark]
    p_dark = [-jnp.expm1(-mu) for mu in mean_dark]
    one_dark = [mu * nd for mu, nd in zip(mean_dark, no_dark)]

    def table(j: int, f: int, k: int) -> Any:
        if not f:
            return no_dark[j] if k == 0 else None
        if kind == "pnr":
            return one_dark[j] if k == 0 else (no_dark[j] if k == 1 else None)
        return p_dark[j] if k == 0 else 1.0

    return table


def detected_is_zero(kind: str, fire: int, k: int) -> bool:
    """True where :func:`detected_tables` is structurally zero (a dark detector that saw a photon; a number-resolving
    detector that saw two or more): such a count makes the whole pattern's weight zero."""
    return (not fire and k > 0) or (kind == "pnr" and fire and k > 1)


def can_herald(kind: str, fires: list, k: tuple) -> bool:
    """False if detected counts ``k`` (or more) can give none of the patterns ``fires`` (static; second photons only
    add counts, so they cannot help)."""
    return any(all(not detected_is_zero(kind, int(f[j]), k[j]) for j in range(len(k))) for f in fires)


def pattern_weight(fire: tuple, table: Table, r_a: list, r_b: list) -> Callable[[tuple], Any]:
    """``k -> weight`` of the pattern whose detectors ``fire[j]`` must fire (memoized; ``k`` a tuple of counts).

    ``r_x = [P(no second photon at a detector), P(at detector 0), ...]`` for node ``x``.
    """
    n = len(fire)
    memo_f: dict = {}
    memo_h: dict = {}

    def f_of(k: tuple) -> Any:
        if k not in memo_f:
            v: Any = 1.0
            for j in range(n):
                v = mul(v, table(j, int(fire[j]), k[j]))
                if v is None:
                    break
            memo_f[k] = v
        return memo_f[k]

    def bump(k: tuple, d: int) -> tuple:
        return k if d < 0 else k[:d] + (k[d] + 1,) + k[d + 1:]

    def h_of(k: tuple) -> Any:  # sum over B's second photon
        if k not in memo_h:
            memo_h[k] = add(*[mul(r_b[d + 1], f_of(bump(k, d))) for d in range(-1, n)])
        return memo_h[k]

    def weight(k: tuple) -> Any:
        return add(*[mul(r_a[d + 1], h_of(bump(k, d))) for d in range(-1, n)])

    return weight
