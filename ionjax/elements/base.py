"""What an optical element provides: numbers as pytree leaves, a kind and a name as static structure,
and one description of what it does -- an ordered list of *factors* on the photon's modes.

A factor is one of a few physical primitives, each with two independent meanings:

* its **amplitude rule** (how it maps the photon's mode amplitudes; what the link compiler composes,
  :mod:`ionjax.link.compiled`), and
* its **dense action** on a density matrix through the core engine (:meth:`Element.apply`: the mode
  unitary lifted exactly to every photon number, the loss as its exact channel).

The equivalence tests (``tests/test_link_elements.py``) check, for every element kind and random
compositions, that the two agree; a deliberately wrong rule must fail them.

===================  ==========================================  =============================
factor               amplitude rule (mode transfer)               encodings
===================  ==========================================  =============================
``Unitary(u)``       ``2 x 2`` Jones matrix on ``(h, v)``          polarization
``Loss(t_h, t_v)``   ``diag(sqrt t_h, sqrt t_v)``                  polarization
``UniformLoss(t)``   ``sqrt(t)`` on every mode                    all
``ModePhase(p, i)``  ``e^{i p}`` on the encoding's mode ``i``       all
``Split(M)``         ``m -> sqrt(M) m + sqrt(1 - M) m_perp``       all (node B: mode mismatch)
``NumberDephasing``  ``rho[n, n'] *= exp(-s^2 (n - n')^2 / 2)``    all (a random path phase)
===================  ==========================================  =============================

A new element is one small class: declare its numbers with :func:`param` (default, range, unit and
help in the field metadata) and return its factors from :meth:`Element.factors`.
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

__all__ = ["Element", "param", "Unitary", "Loss", "UniformLoss", "ModePhase", "Split", "NumberDephasing",
           "element_params", "POLARIZATION_FACTORS"]


def param(default: float, lo: float = -math.inf, hi: float = math.inf, help: str = "", lo_open: bool = False,
          inf_refused: str | None = None) -> Any:
    """A dataclass field for a number: an array leaf with its :class:`~ionjax.keys.KeySpec` (default,
    range, meaning with the unit) in the metadata. Elements and the link's sections both declare
    their keys this way; the link format's schema is read from these fields."""
    return field(metadata={"param": KeySpec(default, lo, hi, lo_open, help, inf_refused)})


@dataclass(frozen=True)
class Unitary:
    """The 2x2 mode unitary ``u`` on ``(h, v)`` (column j: the output of input mode j)."""

    u: jax.Array


@dataclass(frozen=True)
class Loss:
    """Power transmissions ``(t_h, t_v)`` of the two polarization modes (pure loss, exact for any photon number)."""

    t_h: jax.Array
    t_v: jax.Array


@dataclass(frozen=True)
class UniformLoss:
    """The same power transmission ``t`` on every mode (commutes with every linear optical element)."""

    t: jax.Array


@dataclass(frozen=True)
class ModePhase:
    """A phase ``e^{i phase}`` on the encoding's mode number ``mode`` (0 or 1)."""

    phase: jax.Array
    mode: int


@dataclass(frozen=True)
class Split:
    """Each mode ``m`` splits into ``sqrt(M) m + sqrt(1 - M) m_perp`` (an orthogonal internal wavepacket;
    detectors do not resolve ``m_perp`` from ``m``). Applied last in a node's path."""

    overlap: jax.Array


@dataclass(frozen=True)
class NumberDephasing:
    """A Gaussian random phase (rms ``rms_rad``) on every mode of the path: ``rho[n, n'] *= exp(-s^2 (N - N')^2 / 2)``
    with ``N`` the total photon number (commutes with every passive linear element)."""

    rms_rad: jax.Array


#: Factors that act on the polarization modes (h, v) and so need the polarization encoding.
POLARIZATION_FACTORS = (Unitary, Loss)


def element_params(cls: type) -> dict[str, KeySpec]:
    """``{field name: KeySpec}`` of a class declared with :func:`param` (its numeric keys, in order)."""
    return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}


class Element:
    """Base of every element. Subclasses are frozen dataclasses registered as pytrees (numbers are
    leaves) and set the class attribute ``kind``.

    Provides :meth:`jones` (the polarization transfer matrix, for elements on ``(h, v)``) and
    :meth:`apply` (the dense action), both from :meth:`factors`.
    """

    kind: ClassVar[str] = ""

    def factors(self) -> list[Any]:  # pragma: no cover - every element overrides it
        raise NotImplementedError(f"element {type(self).__name__} does not say what it does (factors())")

    def factors_for(self, modes: tuple[str, ...]) -> list[Any]:
        """The factors acting on a photon with encoding ``modes`` (default: :meth:`factors`)."""
        return self.factors()

    def fits(self, modes: tuple[str, ...]) -> str | None:
        """None if the element can act on a photon with encoding ``modes``, else the reason it cannot."""
        fs = self.factors_for(modes)
        if modes != ("h", "v") and any(isinstance(f, POLARIZATION_FACTORS) for f in fs):
            return "it acts on the polarization modes (h, v)"
        for f in fs:
            if isinstance(f, ModePhase) and not -len(modes) <= f.mode < len(modes):
                return f"mode = {f.mode} is not a mode number of this photon: 0 to {len(modes) - 1} for {modes}"
        return None

    def jones(self) -> jax.Array:
        """The ``(2, 2)`` transfer matrix on ``(h, v)`` (later factors applied last): unitary for lossless
        elements, a contraction for lossy ones."""
        out = None
        for f in self.factors_for(("h", "v")):
            if isinstance(f, Unitary):
                m = jnp.asarray(f.u)
            elif isinstance(f, Loss):
                m = jnp.diag(jnp.stack([jnp.sqrt(jnp.asarray(f.t_h)), jnp.sqrt(jnp.asarray(f.t_v))]))
            elif isinstance(f, UniformLoss):
                m = jnp.sqrt(jnp.asarray(f.t)) * jnp.eye(2)
            elif isinstance(f, ModePhase):
                p = jnp.asarray(f.phase)
                m = jnp.diag(jnp.stack([jnp.ones_like(p), jnp.ones_like(p)]).astype(complex_dtype(p.dtype))
                             .at[f.mode].set(jnp.exp(1j * p)))
            else:
                raise TypeError(f"{type(f).__name__} has no Jones matrix")
            m = m.astype(complex_dtype(m.real.dtype))
            out = m if out is None else m @ out
        return out

    def apply(self, state: DensityMatrix, register: str, modes: tuple[str, ...]) -> DensityMatrix:
        """The element acting on the encoding ``modes`` of ``register`` in ``state`` (exact, every photon number).

        ``modes`` are the photon's encoding modes (``("h", "v")`` for polarization); a :class:`Split`
        adds their ``_perp`` copies to the register. ``state.data`` may carry batch axes.
        """
        from ..components.optics import apply_optics
        from ..components.sources import apply_mode_mismatch

        for f in self.factors_for(tuple(modes)):
            if isinstance(f, Unitary):
                state = apply_optics(state, register, f.u, modes)
            elif isinstance(f, Loss):
                state = apply_loss(state, register, modes[0], f.t_h)
                state = apply_loss(state, register, modes[1], f.t_v)
            elif isinstance(f, UniformLoss):
                for m in state.space[register].modes:
                    state = apply_loss(state, register, m, f.t)
            elif isinstance(f, ModePhase):
                p = jnp.asarray(f.phase)
                state = apply_optics(state, register, jnp.exp(1j * p).reshape(1, 1), (modes[f.mode],))
            elif isinstance(f, Split):
                state = apply_mode_mismatch(state, f.overlap, register)
            elif isinstance(f, NumberDephasing):
                state = _number_dephasing(state, register, f.rms_rad)
            else:
                raise TypeError(f"unknown factor {type(f).__name__}")
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
        static = {f.name: f.default for f in dataclasses.fields(cls) if f.metadata.get("static")}
        extra = [k for k in entry if k not in spec and k not in static]
        if extra:
            keys = ", ".join([f"{k} (default {p.default:g})" for k, p in spec.items()]
                             + [f"{k} (default {v!r})" for k, v in static.items()])
            raise ConfigError(f"Unknown key {where}.{extra[0]} of a {cls.kind!r} element; its keys are: {keys}.")
        fixed = {}
        for k, default in static.items():
            v = entry.get(k, default)
            if type(v) is not type(default):
                raise ConfigError(f"{where}.{k} must be of type {type(default).__name__} (like its default "
                                  f"{default!r}), got {v!r} of type {type(v).__name__}.")
            fixed[k] = v
        real = jax.dtypes.canonicalize_dtype(jnp.float64)
        return cls(**{k: jnp.asarray(check_number(f"{where}.{k}", entry.get(k, p.default), p), dtype=real)
                      for k, p in spec.items()}, **fixed)

    def to_dict(self, where: str = "") -> dict[str, Any]:
        """The file form: ``element = kind`` and every key (numbers as Python floats; static keys as they are).

        ConfigError naming ``where`` for a traced or batched number (the file holds one number per key)."""
        from ..config import _concrete_float

        out: dict[str, Any] = {"element": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v if f.metadata.get("static") else _concrete_float(f"{where}.{f.name}", v)
        return out


def _number_dephasing(state: DensityMatrix, register: str, rms_rad: Any) -> DensityMatrix:
    """``rho[(.., n, ..), (.., n', ..)] *= exp(-s^2 (N - N')^2 / 2)``, ``N`` the register's total photon number."""
    sp = state.space
    n = sp[register].basis.sum(axis=1)
    diff2 = (n[:, None] - n[None, :]) ** 2
    factor = jnp.exp(-0.5 * jnp.asarray(rms_rad) ** 2 * diff2)
    pos = sp.index(register)
    before = int(math.prod(sp.dims[:pos]))
    after = int(math.prod(sp.dims[pos + 1:]))
    full = jnp.kron(jnp.kron(jnp.ones((before, before)), factor), jnp.ones((after, after)))
    return DensityMatrix(state.data * full.astype(state.data.dtype), sp)
