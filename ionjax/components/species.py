"""Atomic data of the ion species used in photonic links.

Each :class:`Species` is a frozen dataclass of plain numbers (static data, not a pytree):
look one up with :func:`get_species` and pass its numbers to the components, e.g.
``excitation_emission(pi, 1.0, sp.p_lifetime_ns, sp.branching_ratio)``.

Wavelengths are vacuum wavelengths from the NIST Atomic Spectra Database
(A. Kramida, Yu. Ralchenko, J. Reader and NIST ASD Team, NIST ASD v5,
https://physics.nist.gov/asd; air wavelengths converted with the refractive index
of standard air, about 1.00028 in the blue). Lifetimes and branching ratios are
measured values; each is cited next to its number below. Isotope shifts of these
lines (below 1 GHz) and hyperfine structure are not resolved here: 138Ba+ and
137Ba+ share the electronic numbers.

==========  =========  =================  ===================  ======================
species     line       wavelength (nm)    upper lifetime (ns)  branching to lower
==========  =========  =================  ===================  ======================
138Ba+      S1/2-P1/2  493.545            7.92                 0.7318
137Ba+      S1/2-P1/2  493.545            7.92                 0.7318
171Yb+      S1/2-P1/2  369.525            8.12                 0.995
88Sr+       S1/2-P1/2  421.671            7.39                 0.944
40Ca+       S1/2-P1/2  396.959            7.098                0.93565
40Ca+       D5/2-P3/2  854.444            6.924                0.0587
==========  =========  =================  ===================  ======================
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

__all__ = ["Transition", "Species", "SPECIES", "get_species", "SPEED_OF_LIGHT_M_PER_S", "FIBER_ATTENUATION",
           "fiber_attenuation_db_per_km"]

#: Speed of light in vacuum (m/s), exact (SI).
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0


@dataclass(frozen=True)
class Transition:
    """One dipole line ``upper -> lower`` of an ion.

    Attributes:
        lower: lower level, e.g. ``"S1/2"``.
        upper: upper level, e.g. ``"P1/2"``.
        wavelength_nm: vacuum wavelength (nm).
        upper_lifetime_ns: radiative lifetime of the upper level (all decay channels), ns.
        branching_ratio: fraction of the upper level's decays that go to ``lower``.
        reference: where the lifetime and branching ratio come from.
    """

    lower: str
    upper: str
    wavelength_nm: float
    upper_lifetime_ns: float
    branching_ratio: float
    reference: str = ""

    def __post_init__(self) -> None:
        if not (self.wavelength_nm > 0 and self.upper_lifetime_ns > 0):
            raise ValueError(
                f"Transition {self.name}: `wavelength_nm` and `upper_lifetime_ns` must be > 0, got "
                f"{self.wavelength_nm} and {self.upper_lifetime_ns}."
            )
        if not 0.0 <= self.branching_ratio <= 1.0:
            raise ValueError(
                f"Transition {self.name}: `branching_ratio` must lie in [0, 1], got {self.branching_ratio}."
            )

    @property
    def name(self) -> str:
        """``"lower-upper"``, e.g. ``"S1/2-P1/2"``."""
        return f"{self.lower}-{self.upper}"

    @property
    def frequency_hz(self) -> float:
        """Optical frequency ``c / lambda`` (Hz)."""
        return SPEED_OF_LIGHT_M_PER_S / (self.wavelength_nm * 1e-9)

    @property
    def decay_rate_per_ns(self) -> float:
        """Total decay rate of the upper level ``Gamma = 1 / tau`` (1/ns)."""
        return 1.0 / self.upper_lifetime_ns

    @property
    def partial_rate_per_ns(self) -> float:
        """Decay rate into this line, ``branching / tau`` (1/ns)."""
        return self.branching_ratio / self.upper_lifetime_ns

    @property
    def linewidth_hz(self) -> float:
        """Natural linewidth (FWHM) of the upper level, ``Gamma / (2 pi)`` (Hz)."""
        return 1.0 / (2.0 * math.pi * self.upper_lifetime_ns * 1e-9)


@dataclass(frozen=True)
class Species:
    """An ion species and the lines a photonic link uses.

    Attributes:
        name: canonical name, e.g. ``"138Ba+"``.
        element: element symbol.
        mass_number: isotope mass number.
        nuclear_spin: nuclear spin ``I`` (0 for even isotopes; a half-integer gives a hyperfine qubit).
        lines: the tabulated lines.
        photon_line: name of the line whose photons carry the ion-photon entanglement.
    """

    name: str
    element: str
    mass_number: int
    nuclear_spin: float
    lines: tuple[Transition, ...]
    photon_line: str

    def __post_init__(self) -> None:
        self.line(self.photon_line)

    def line(self, name: str) -> Transition:
        """The line called ``name`` (``"S1/2-P1/2"``; ``"P1/2-S1/2"`` is accepted too)."""
        for t in self.lines:
            if name in (t.name, f"{t.upper}-{t.lower}"):
                return t
        names = tuple(t.name for t in self.lines)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Species {self.name}: no line {name!r}; it has {names}.{hint}")

    @property
    def emission(self) -> Transition:
        """The photon line (see :attr:`photon_line`)."""
        return self.line(self.photon_line)

    @property
    def wavelength_nm(self) -> float:
        """Vacuum wavelength of the photon line (nm)."""
        return self.emission.wavelength_nm

    @property
    def p_lifetime_ns(self) -> float:
        """Lifetime of the photon line's upper (P) level (ns); the photon wavepacket's 1/e time."""
        return self.emission.upper_lifetime_ns

    @property
    def branching_ratio(self) -> float:
        """Fraction of the upper level's decays that emit on the photon line."""
        return self.emission.branching_ratio

    @property
    def hyperfine_qubit(self) -> bool:
        """True for odd isotopes (nonzero nuclear spin): a clock-state hyperfine qubit exists."""
        return self.nuclear_spin > 0


_BA_P12 = (
    "Lifetime 7.92(8) ns: E. H. Pinnington, R. W. Berends and M. Lumsden, J. Phys. B 28, 2095 (1995). "
    "Branching P1/2 -> S1/2 0.7318: K. J. Arnold et al., Phys. Rev. A 100, 032503 (2019)."
)
_BA_LINES = (
    Transition("S1/2", "P1/2", 493.545, 7.92, 0.7318, _BA_P12),
    Transition("D3/2", "P1/2", 649.869, 7.92, 1.0 - 0.7318, _BA_P12),
)
_YB_P12 = (
    "Lifetime 8.12(2) ns and branching P1/2 -> D3/2 0.00501(15) (so 0.995 to S1/2): S. Olmschenk et al., "
    "Phys. Rev. A 80, 022502 (2009)."
)
_SR_P12 = (
    "Lifetime 7.39(7) ns: E. H. Pinnington, R. W. Berends and M. Lumsden, J. Phys. B 28, 2095 (1995). "
    "Branching P1/2 -> S1/2 0.944: H. Zhang et al., New J. Phys. 18, 123021 (2016)."
)
_CA_P12 = (
    "Lifetime 7.098(20) ns: J. Jin and D. A. Church, Phys. Rev. Lett. 70, 3213 (1993). "
    "Branching P1/2 -> S1/2 0.93565(7): M. Ramm et al., Phys. Rev. Lett. 111, 023004 (2013)."
)
_CA_P32 = (
    "Lifetime 6.924(19) ns: J. Jin and D. A. Church, Phys. Rev. Lett. 70, 3213 (1993). "
    "Branching P3/2 -> S1/2 0.9347(3), -> D5/2 0.0587(2), -> D3/2 0.00661(4): R. Gerritsma et al., "
    "Eur. Phys. J. D 50, 13 (2008). The 854 nm P3/2 -> D5/2 photon is the cavity line of Innsbruck's "
    "ion-cavity nodes (e.g. V. Krutyanskiy et al., Phys. Rev. Lett. 130, 050803 (2023))."
)

#: Known species by canonical name.
SPECIES: dict[str, Species] = {
    "138Ba+": Species("138Ba+", "Ba", 138, 0.0, _BA_LINES, "S1/2-P1/2"),
    "137Ba+": Species("137Ba+", "Ba", 137, 1.5, _BA_LINES, "S1/2-P1/2"),
    "133Ba+": Species("133Ba+", "Ba", 133, 0.5, _BA_LINES, "S1/2-P1/2"),
    "171Yb+": Species(
        "171Yb+", "Yb", 171, 0.5, (Transition("S1/2", "P1/2", 369.525, 8.12, 1.0 - 0.00501, _YB_P12),), "S1/2-P1/2"
    ),
    "88Sr+": Species(
        "88Sr+",
        "Sr",
        88,
        0.0,
        (
            Transition("S1/2", "P1/2", 421.671, 7.39, 0.944, _SR_P12),
            Transition("D3/2", "P1/2", 1091.79, 7.39, 1.0 - 0.944, _SR_P12),
        ),
        "S1/2-P1/2",
    ),
    "40Ca+": Species(
        "40Ca+",
        "Ca",
        40,
        0.0,
        (
            Transition("S1/2", "P1/2", 396.959, 7.098, 0.93565, _CA_P12),
            Transition("D3/2", "P1/2", 866.452, 7.098, 1.0 - 0.93565, _CA_P12),
            Transition("S1/2", "P3/2", 393.478, 6.924, 0.9347, _CA_P32),
            Transition("D5/2", "P3/2", 854.444, 6.924, 0.0587, _CA_P32),
            Transition("D3/2", "P3/2", 850.035, 6.924, 0.00661, _CA_P32),
        ),
        "S1/2-P1/2",
    ),
}


def _key(name: str) -> str:
    """Canonical lookup key: ``"138Ba+"``, ``"ba138"``, ``"Ba-138+"``, ``"138 ba"`` -> ``"138ba"``."""
    s = re.sub(r"[\s_\-+]", "", str(name)).lower()
    m = re.fullmatch(r"([a-z]+)(\d+)", s)
    return f"{m.group(2)}{m.group(1)}" if m else s


_BY_KEY = {_key(k): v for k, v in SPECIES.items()}


def get_species(name: str) -> Species:
    """The :class:`Species` called ``name`` (``"138Ba+"``; case, ``+``, and ``"Ba138"`` order are forgiven).

    Raises:
        ValueError: for an unknown name, listing the known ones and the closest match.

    Example:
        >>> from ionjax.components import get_species
        >>> get_species("171Yb+").wavelength_nm
        369.525
    """
    if isinstance(name, Species):
        return name
    key = _key(name)
    if key in _BY_KEY:
        return _BY_KEY[key]
    close = difflib.get_close_matches(key, list(_BY_KEY), n=1, cutoff=0.5)
    hint = f" Did you mean {_BY_KEY[close[0]].name!r}?" if close else ""
    raise ValueError(f"Unknown species {name!r}; known species are {tuple(SPECIES)}.{hint}")


#: Typical single-mode fiber attenuation (dB/km) at the ion-photon wavelengths: ``nm -> (dB/km, source)``.
FIBER_ATTENUATION: dict[float, tuple[float, str]] = {
    369.5: (100.0, "assumption: UV single-mode fiber (solarization-resistant), order of magnitude; short links only"),
    422.0: (30.0, "assumption: 405-460 nm single-mode fiber class (e.g. Thorlabs S405-XP, 460HP), datasheet order"),
    493.5: (30.0, "assumption: 460HP-class single-mode fiber at 488 nm, datasheet order (not confirmed here)"),
    854.4: (3.0, "V. Krutyanskiy et al., npj Quantum Inf. 5, 72 (2019): about 3 dB/km at 854 nm"),
    1091.8: (1.5, "assumption: HI1060-class single-mode fiber near 1060 nm, datasheet order (not confirmed here)"),
    1550.0: (0.18, "V. Krutyanskiy et al., npj Quantum Inf. 5, 72 (2019): 0.18 dB/km at 1550 nm (SMF-28 class)"),
}
_ATTENUATION_TOLERANCE_NM = 25.0


def fiber_attenuation_db_per_km(wavelength_nm: float) -> float:
    """The tabulated fiber attenuation nearest ``wavelength_nm`` (within 25 nm; see :data:`FIBER_ATTENUATION`).

    Raises:
        ValueError: no tabulated wavelength within 25 nm (give ``fiber_attenuation_db_per_km`` explicitly).
    """
    nearest = min(FIBER_ATTENUATION, key=lambda w: abs(w - wavelength_nm))
    if abs(nearest - wavelength_nm) > _ATTENUATION_TOLERANCE_NM:
        raise ValueError(f"no tabulated fiber attenuation near {wavelength_nm:g} nm (tabulated: "
                         f"{', '.join(f'{w:g}' for w in FIBER_ATTENUATION)} nm); give fiber_attenuation_db_per_km")
    return FIBER_ATTENUATION[nearest][0]
