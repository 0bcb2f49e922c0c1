"""Species data: values, lookup, errors."""

import dataclasses
import math

import pytest

import ionjax.components as C


@pytest.mark.parametrize(
    "name,wavelength,tau,branching",
    [("138Ba+", 493.5, 7.9, 0.73), ("137Ba+", 493.5, 7.9, 0.73), ("171Yb+", 369.5, 8.1, 0.995),
     ("88Sr+", 421.7, 7.4, 0.944), ("40Ca+", 397.0, 7.1, 0.936)],
)
def test_photon_line_values(name, wavelength, tau, branching):
    sp = C.get_species(name)
    assert sp.name == name
    assert sp.wavelength_nm == pytest.approx(wavelength, abs=0.1)
    assert sp.p_lifetime_ns == pytest.approx(tau, abs=0.05)
    assert sp.branching_ratio == pytest.approx(branching, abs=0.002)
    assert sp.emission.reference  # every number is cited


def test_calcium_cavity_line_and_derived_numbers():
    ca = C.get_species("40Ca+")
    line = ca.line("P3/2-D5/2")
    assert line.wavelength_nm == pytest.approx(854.4, abs=0.1)
    assert line.branching_ratio == pytest.approx(0.0587)
    assert ca.line("D5/2-P3/2") is line
    yb = C.get_species("171Yb+")
    assert yb.emission.linewidth_hz == pytest.approx(19.6e6, rel=0.01)
    assert yb.emission.frequency_hz == pytest.approx(299792458 / 369.525e-9)
    assert yb.emission.partial_rate_per_ns == pytest.approx(yb.branching_ratio / 8.12)
    assert yb.hyperfine_qubit and C.get_species("137Ba+").hyperfine_qubit
    assert not C.get_species("138Ba+").hyperfine_qubit
    for sp in C.SPECIES.values():
        for t in sp.lines:
            assert t.reference and 0 <= t.branching_ratio <= 1
        # branching ratios out of each upper level sum to at most 1
        for upper in {t.upper for t in sp.lines}:
            assert sum(t.branching_ratio for t in sp.lines if t.upper == upper) <= 1 + 1e-4  # measured values, rounded
    assert math.isclose(C.get_species("88Sr+").p_lifetime_ns, 7.39)


@pytest.mark.parametrize("alias", ["138Ba+", "138ba", "Ba138", "ba-138+", " 138 Ba + "])
def test_name_aliases(alias):
    assert C.get_species(alias) is C.SPECIES["138Ba+"]


def test_unknown_species_suggests():
    with pytest.raises(ValueError, match=r"Unknown species '139Ba\+'.*Did you mean '13[78]Ba\+'"):
        C.get_species("139Ba+")
    with pytest.raises(ValueError, match="known species"):
        C.get_species("Xe+")
    with pytest.raises(ValueError, match="Did you mean 'S1/2-P1/2'"):
        C.get_species("171Yb+").line("S1/2-P3/2")


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        C.get_species("40Ca+").mass_number = 41
