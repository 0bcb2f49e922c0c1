"""Optical elements of a node's path: one small pytree class per kind (numbers are leaves), each saying
what it does once (:meth:`~ionjax.elements.base.Element.factors`), from which follow its amplitude rule
(:meth:`~ionjax.elements.base.Element.jones`) and its dense action on a density matrix
(:meth:`~ionjax.elements.base.Element.apply`).

``ELEMENTS`` maps each kind (the ``element = "..."`` of a link file's ``[[node_x.path]]`` entry) to its
class; :func:`make_element` builds one from such an entry with errors that name it and list its keys.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Element, Loss, ModePhase, NumberDephasing, Split, UniformLoss, Unitary, element_params, param
from .conversion import FrequencyConversion
from .polarization import (
    Birefringence,
    Fiber,
    HalfWavePlate,
    LossElement,
    PhaseShifter,
    PolarizationDependentLoss,
    QuarterWavePlate,
    Rotator,
    WavePlate,
)

__all__ = ["ELEMENTS", "Element", "Loss", "Unitary", "UniformLoss", "ModePhase", "Split", "NumberDephasing",
           "element_params", "make_element", "param", "FrequencyConversion",
           "Birefringence", "Fiber", "HalfWavePlate", "LossElement", "PhaseShifter", "PolarizationDependentLoss",
           "QuarterWavePlate", "Rotator", "WavePlate"]

#: kind -> class, for every element a path may hold.
ELEMENTS: dict[str, type[Element]] = {cls.kind: cls for cls in (
    LossElement, Fiber, WavePlate, HalfWavePlate, QuarterWavePlate, Rotator, Birefringence,
    PolarizationDependentLoss, PhaseShifter, FrequencyConversion)}


def make_element(entry: dict[str, Any], where: str) -> Element:
    """The element described by a ``[[node_x.path]]`` table ``entry`` (``element = KIND`` and its numbers).

    ``where`` names it in errors (``node_b.path[2]`` or ``node_b.path.q1``). ``name`` is not part of the
    element (the path holds the names).
    """
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table with `element = KIND`, got {entry!r}.")
    kind = entry.get("element")
    if kind not in ELEMENTS:
        raise ConfigError(f"{where}.element = {kind!r} is not an element kind; kinds: {', '.join(ELEMENTS)}.")
    rest = {k: v for k, v in entry.items() if k not in ("element", "name")}
    return ELEMENTS[kind].from_dict(rest, where)
