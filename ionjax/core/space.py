"""Spaces: ordered, named subsystems with static dimensions.

A :class:`Space` is hashable static metadata. It never holds arrays, so it can
sit in the static part of a pytree and changing a number never recompiles.

Two kinds of subsystem exist:

* :class:`Qudit` -- a ``dim``-level system (``dim=2`` is a qubit: an ion).
* :class:`FockRegister` -- several optical modes sharing a bound ``n_max`` on
  their *total* photon number. The basis is every occupation tuple with
  ``sum <= n_max``, ordered by total photon number and then in reverse
  lexicographic order (so the single-photon states come in mode order):
  for modes ``("a", "b")`` and ``n_max = 2`` the basis is
  ``(0,0), (1,0), (0,1), (2,0), (1,1), (0,2)``. Linear optics conserves the
  total photon number, so it acts exactly on this space, block by block.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

__all__ = ["Qudit", "FockRegister", "Space", "fock_basis"]


@cache
def fock_basis(n_modes: int, n_max: int) -> np.ndarray:
    """Occupation tuples of ``n_modes`` modes with total photon number <= ``n_max``.

    Returns:
        int array of shape ``(D, n_modes)``, ``D = C(n_modes + n_max, n_max)``,
        ordered by total photon number, then reverse-lexicographically.
    """
    if n_modes < 1:
        raise ValueError(f"Argument `n_modes` must be >= 1, got {n_modes}.")
    if n_max < 0:
        raise ValueError(f"Argument `n_max` must be >= 0, got {n_max}.")
    rows: list[tuple[int, ...]] = []
    for n in range(n_max + 1):
        rows.extend(_occupations(n, n_modes))
    out = np.array(rows, dtype=np.int64).reshape(len(rows), n_modes)
    out.setflags(write=False)
    return out


def _occupations(n: int, n_modes: int) -> list[tuple[int, ...]]:
    """All occupation tuples of ``n_modes`` modes with total exactly ``n``, reverse-lexicographic."""
    if n_modes == 1:
        return [(n,)]
    return [(k,) + rest for k in range(n, -1, -1) for rest in _occupations(n - k, n_modes - 1)]


@dataclass(frozen=True)
class Qudit:
    """A ``dim``-level subsystem (``dim = 2``: a qubit)."""

    name: str
    dim: int = 2

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"Qudit {self.name!r}: `dim` must be an integer >= 1, got {self.dim!r}.")


@dataclass(frozen=True)
class FockRegister:
    """Optical modes sharing a bound ``n_max`` on their total photon number.

    Args:
        name: the subsystem's name.
        modes: names of the modes, in order (at least one).
        n_max: bound on the total photon number of all modes together.
    """

    name: str
    modes: tuple[str, ...]
    n_max: int = 2

    def __post_init__(self) -> None:
        _check_name(self.name)
        object.__setattr__(self, "modes", tuple(self.modes))
        if not self.modes:
            raise ValueError(f"FockRegister {self.name!r}: `modes` must name at least one mode.")
        if len(set(self.modes)) != len(self.modes):
            raise ValueError(f"FockRegister {self.name!r}: mode names must be unique, got {self.modes}.")
        if not isinstance(self.n_max, int) or self.n_max < 0:
            raise ValueError(f"FockRegister {self.name!r}: `n_max` must be an integer >= 0, got {self.n_max!r}.")

    @property
    def n_modes(self) -> int:
        return len(self.modes)

    @property
    def dim(self) -> int:
        return math.comb(self.n_modes + self.n_max, self.n_max)

    @property
    def basis(self) -> np.ndarray:
        """Occupations, int array ``(dim, n_modes)``."""
        return fock_basis(self.n_modes, self.n_max)

    def mode_index(self, mode: str) -> int:
        """Position of ``mode`` in :attr:`modes` (ValueError naming it if absent)."""
        try:
            return self.modes.index(mode)
        except ValueError:
            raise ValueError(
                f"Mode {mode!r} is not in register {self.name!r}; its modes are {self.modes}."
                + _suggest(mode, self.modes)
            ) from None

    def index(self, occupation: tuple[int, ...] | dict[str, int]) -> int:
        """Basis index of an occupation tuple (or a ``{mode: n}`` dict)."""
        if isinstance(occupation, dict):
            occ = [0] * self.n_modes
            for mode, n in occupation.items():
                occ[self.mode_index(mode)] = int(n)
            occupation = tuple(occ)
        occupation = tuple(int(n) for n in occupation)
        if len(occupation) != self.n_modes:
            raise ValueError(
                f"Argument `occupation` must have {self.n_modes} entries (one per mode of {self.name!r}), "
                f"got {occupation}."
            )
        table = _index_table(self.n_modes, self.n_max)
        if occupation not in table:
            raise ValueError(
                f"Occupation {occupation} is not in register {self.name!r} "
                f"(entries must be >= 0 and sum to <= n_max = {self.n_max})."
            )
        return table[occupation]


@cache
def _index_table(n_modes: int, n_max: int) -> dict[tuple[int, ...], int]:
    return {tuple(int(x) for x in row): i for i, row in enumerate(fock_basis(n_modes, n_max))}


Subsystem = Qudit | FockRegister


@dataclass(frozen=True)
class Space:
    """Ordered, named subsystems. Hashable; static under ``jit``.

    ``Space(Qudit("ion_a"), Qudit("ion_b"), FockRegister("light", ("h", "v"), 2))``
    """

    subsystems: tuple[Subsystem, ...]

    def __init__(self, *subsystems: Subsystem) -> None:
        if len(subsystems) == 1 and isinstance(subsystems[0], (tuple, list)):
            subsystems = tuple(subsystems[0])
        for s in subsystems:
            if not isinstance(s, (Qudit, FockRegister)):
                raise ValueError(f"Space takes Qudit or FockRegister subsystems, got {s!r}.")
        names = [s.name for s in subsystems]
        if len(set(names)) != len(names):
            raise ValueError(f"Subsystem names in a Space must be unique, got {names}.")
        object.__setattr__(self, "subsystems", tuple(subsystems))

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.subsystems)

    @cached_property
    def dims(self) -> tuple[int, ...]:
        return tuple(s.dim for s in self.subsystems)

    @property
    def dim(self) -> int:
        return int(np.prod(self.dims, dtype=np.int64)) if self.subsystems else 1

    def __len__(self) -> int:
        return len(self.subsystems)

    def __getitem__(self, name: str) -> Subsystem:
        return self.subsystems[self.index(name)]

    def index(self, name: str) -> int:
        """Position of subsystem ``name``; ValueError naming it (and a suggestion) if absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(
                f"Subsystem {name!r} is not in this Space; it has {self.names}." + _suggest(name, self.names)
            ) from None

    def indices(self, names: str | tuple[str, ...] | list[str], argname: str = "on") -> tuple[int, ...]:
        """Positions of several subsystems, in the order given (no repeats)."""
        if isinstance(names, str):
            names = (names,)
        names = tuple(names)
        if not names:
            raise ValueError(f"Argument `{argname}` must name at least one subsystem of {self.names}.")
        if len(set(names)) != len(names):
            raise ValueError(f"Argument `{argname}` names a subsystem twice: {names}.")
        return tuple(self.index(n) for n in names)

    def sub_dim(self, names: str | tuple[str, ...] | list[str]) -> int:
        return int(np.prod([self.dims[i] for i in self.indices(names)], dtype=np.int64))

    def select(self, names: str | tuple[str, ...] | list[str]) -> Space:
        """The Space of the named subsystems, in the order given."""
        return Space(*(self.subsystems[i] for i in self.indices(names, "keep")))

    def __add__(self, other: Space) -> Space:
        return Space(*(self.subsystems + other.subsystems))


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"A subsystem name must be a non-empty string, got {name!r}.")


def _suggest(name: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
