"""What an optical element provides: numbers as pytree leaves, a kind and a name as static structure,
and one description of what it does -- an ordered list of factors on the photon's two polarization
modes ``(h, v)``, each a mode unitary or a per-mode loss.

From that one description follow both the element's amplitude rule (its Jones matrix, the product of
the factors: what a compiler composes) and its dense action on a density matrix through the core
engine (the unitary lifted exactly to every photon number, the loss as its exact channel). Nothing
is written twice.

A new element is one small class: declare its numbers with :func:`param` (default, range, unit, help
in the field metadata) and return its factors from :meth:`Element.factors`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..core.fock import apply_loss
from ..core.state import DensityMatrix, complex_dtype
from ..errors import ConfigError
from ..keys import KeySpec, check_number

__all__ = ["Element", "param", "Unitary", "Loss", "element_params"]


def param(default: float, lo: float = -math.inf, hi: float = math.inf, help: str = "", lo_open: bool = False) -> Any:
    """A dataclass field for an element's number: an array leaf with its :class:`~ionjax.keys.KeySpec`
    (the same spec and check as the link format's keys) in the metadata; ``help`` ends with the unit."""
    return field(metadata={"param": KeySpec(default, lo, hi, lo_open, help)})


@dataclass(frozen=True)
class Unitary:
    """A factor: the 2x2 mode unitary ``u`` on ``(h, v)`` (column j: the output of input mode j)."""

    u: jax.Array


@dataclass(frozen=True)
class Loss:
    """A factor: power transmissions ``(t_h, t_v)`` of the two modes (pure loss, exact for any photon number)."""

    t_h: jax.Array
    t_v: jax.Array


def element_params(cls: type) -> dict[str, KeySpec]:
    """``{field name: KeySpec}`` of an element class (its numeric keys, in declaration order)."""
    return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}


class Element:
    """Base of every element. Subclasses are frozen dataclasses registered as pytrees (numbers are
    leaves; ``name`` is static) and set the class attribute ``kind``.

    Provides :meth:`jones` (the amplitude rule, ``(2, 2)`` complex) and :meth:`apply` (the dense action),
    both from :meth:`factors`.
    """

    kind: ClassVar[str] = ""

    def factors(self) -> list[Unitary | Loss]:  # pragma: no cover - every element overrides it
        raise NotImplementedError(f"element {type(self).__name__} does not say what it does (factors())")

    def jones(self) -> jax.Array:
        """The amplitude rule: the ``(2, 2)`` transfer matrix on ``(h, v)``, later factors applied last.

        Unitary for lossless elements, a contraction (singular values <= 1) for lossy ones.
        """
        out = None
        for f in self.factors():
            if isinstance(f, Unitary):
                m = jnp.asarray(f.u)
            else:
                t_h, t_v = jnp.asarray(f.t_h), jnp.asarray(f.t_v)
                m = jnp.diag(jnp.stack([jnp.sqrt(t_h), jnp.sqrt(t_v)]))
            m = m.astype(complex_dtype(m.real.dtype))
            out = m if out is None else m @ out
        return out

    def apply(self, state: DensityMatrix, register: str, modes: tuple[str, str]) -> DensityMatrix:
        """The element acting on ``modes = (h_mode, v_mode)`` of ``register`` in ``state`` (exact, every photon number).

        ``state`` may carry batch axes; the shape of ``state.data`` is unchanged.
        """
        from ..components.optics import apply_optics

        for f in self.factors():
            if isinstance(f, Unitary):
                state = apply_optics(state, register, f.u, modes)
            else:
                state = apply_loss(state, register, modes[0], f.t_h)
                state = apply_loss(state, register, modes[1], f.t_v)
        return state

    @classmethod
    def params(cls) -> dict[str, KeySpec]:
        """This kind's numeric keys with their defaults, ranges, units and help."""
        return element_params(cls)

    @classmethod
    def from_dict(cls, entry: dict[str, Any], where: str) -> Element:
        """Build from a link file's ``[[node_x.path]]`` entry (``element`` and ``name`` already removed).

        ``where`` (e.g. ``node_b.path.q1``) names the element in errors, which list its keys.
        """
        spec = cls.params()
        extra = [k for k in entry if k not in spec]
        if extra:
            keys = ", ".join(f"{k} (default {p.default:g})" for k, p in spec.items())
            raise ConfigError(f"Unknown key {where}.{extra[0]} of a {cls.kind!r} element; its keys are: {keys}.")
        real = jax.dtypes.canonicalize_dtype(jnp.float64)
        return cls(**{k: jnp.asarray(check_number(f"{where}.{k}", entry.get(k, p.default), p), dtype=real)
                      for k, p in spec.items()})
