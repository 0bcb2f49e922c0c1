"""Detector POVM effects on a Fock register: one diagonal effect per outcome pattern.

Detectors watch sets of modes and do not resolve them (nor a mode from its ``_perp``
copy, when the copy is listed too). For basis state ``t`` of the register, detector ``j``
receives ``n_j(t)`` photons (the sum over its modes), and the effect of a pattern of
outcomes ``(o_1, ..., o_J)`` is ``prod_j P(o_j | n_j(t))`` with the single-detector tables of
:mod:`ionjax.components.detectors`. Effects are returned as their diagonals ``(D,)``: pass
them to :meth:`ionjax.core.DensityMatrix.herald` (no matrix is formed).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.space import FockRegister
from .detectors import pnr_count_probabilities, threshold_outcomes

__all__ = ["DetectorEffects", "detector_counts", "detector_effects", "pattern_effect"]

_KINDS = ("threshold", "pnr")
Detectors = Sequence[tuple[str, Sequence[str]]] | Mapping[str, Sequence[str]]


class DetectorEffects(NamedTuple):
    """All outcome patterns of a set of detectors and their diagonal effects.

    Attributes:
        names: detector names, in order.
        outcomes: ``(P, J)`` int, outcome of each detector in each pattern (threshold: 0 dark,
            1 click; pnr: count, the last value meaning "that many or more").
        effects: ``(P, D)`` diagonal effects; they sum to 1 over patterns for every basis state.
    """

    names: tuple[str, ...]
    outcomes: np.ndarray
    effects: jax.Array


def _detectors(detectors: Detectors) -> tuple[tuple[str, tuple[str, ...]], ...]:
    items = detectors.items() if isinstance(detectors, Mapping) else detectors
    out = []
    for item in items:
        name, modes = item
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
        out.append((str(name), modes))
    if not out:
        raise ValueError("Argument `detectors` must list at least one (name, modes) pair.")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"Argument `detectors` repeats a name: {names}.")
    return tuple(out)


def detector_counts(register: FockRegister, detectors: Detectors) -> np.ndarray:
    """Photons reaching each detector for each basis state: int ``(D, J)`` (static)."""
    if not isinstance(register, FockRegister):
        raise ValueError(f"Argument `register` must be a FockRegister, got {type(register).__name__}.")
    dets = _detectors(detectors)
    cols = []
    for _, modes in dets:
        idx = [register.mode_index(m) for m in modes]
        cols.append(register.basis[:, idx].sum(axis=1))
    return np.stack(cols, axis=1)


def _tables(kind: str, n_max: int, efficiency: Any, p_dark: Any, k_max: int | None = None) -> jax.Array:
    if kind not in _KINDS:
        raise ValueError(f"Argument `kind` must be one of {_KINDS}, got {kind!r}.")
    if kind == "threshold":
        return threshold_outcomes(n_max, efficiency, p_dark)
    return pnr_count_probabilities(n_max, efficiency, p_dark, k_max=k_max)


def detector_effects(
    register: FockRegister,
    detectors: Detectors,
    kind: str = "threshold",
    efficiency: Any = 1.0,
    p_dark: Any = 0.0,
) -> DetectorEffects:
    """Every outcome pattern of ``detectors`` on ``register`` and its diagonal effect.

    Args:
        register: the FockRegister the detectors look at.
        detectors: ``((name, modes), ...)`` or ``{name: modes}`` (e.g. ``BellStateAnalyzer.detectors``).
        kind: ``"threshold"`` (outcomes 0/1) or ``"pnr"`` (counts ``0..n_max``, the last one "or more").
        efficiency: detector efficiency in ``[0, 1]`` (same for all).
        p_dark: probability of a dark click (threshold) / of at least one dark count (pnr) in the window.

    Returns:
        :class:`DetectorEffects`; ``P = 2^J`` (threshold) or ``(n_max + 1)^J`` (pnr) patterns.
    """
    dets = _detectors(detectors)
    counts = detector_counts(register, dets)
    table = _tables(kind, register.n_max, efficiency, p_dark)  # (K, n_max + 1)
    k = table.shape[0]
    outcomes = np.array(list(itertools.product(range(k), repeat=len(dets))), dtype=np.int64)
    vals = table[outcomes[:, None, :], counts[None, :, :]]  # (P, D, J)
    return DetectorEffects(tuple(n for n, _ in dets), outcomes, jnp.prod(vals, axis=-1))


def pattern_effect(
    register: FockRegister,
    detectors: Detectors,
    fire: Sequence[str],
    kind: str = "threshold",
    efficiency: Any = 1.0,
    p_dark: Any = 0.0,
) -> jax.Array:
    """Diagonal effect ``(D,)`` of "the detectors in ``fire`` fire, all others stay dark".

    Fire means click (threshold) or exactly one count (pnr), as in
    :class:`ionjax.components.BellStateAnalyzer` patterns.
    """
    dets = _detectors(detectors)
    names = [n for n, _ in dets]
    fire = (fire,) if isinstance(fire, str) else tuple(fire)
    for f in fire:
        if f not in names:
            raise ValueError(f"Argument `fire` names {f!r}, which is not one of the detectors {tuple(names)}.")
    counts = detector_counts(register, dets)
    table = _tables(kind, register.n_max, efficiency, p_dark, k_max=max(2, register.n_max))  # row 1: exactly one
    want = np.array([1 if n in fire else 0 for n in names])
    return jnp.prod(table[want[None, :], counts], axis=-1)
