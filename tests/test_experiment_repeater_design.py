"""experiments/repeater_design.py, through its functions (not the CLI), cheaply: the Dhara et al. limit without
memories (PRA 105, 022623 (2022): R0 = p^(n+1) q^n / tau, and 1 - (1 - p)^k per round with k memories), one
cutoff optimized under the fidelity constraint, and the elementary links built from the presets' own keys."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

import ionjax as ij
from ionjax.network import elementary_link

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "repeater_design.py"


@pytest.fixture(scope="module")
def rd():
    spec = importlib.util.spec_from_file_location("repeater_design", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while the script runs
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_dhara_formula(rd):
    # 3 links, 2 swaps: p^3 q^2 / tau; k memories: (1 - (1 - p)^k)^3 q^2 / tau
    assert rd.dhara_rate(0.3, 0.9, 1e-5, 3) == pytest.approx(0.3**3 * 0.9**2 / 1e-5, rel=1e-14)
    assert rd.dhara_rate(0.3, 0.9, 1e-5, 3, multiplexing=4) == pytest.approx(
        (1 - 0.7**4) ** 3 * 0.9**2 / 1e-5, rel=1e-14)


@pytest.mark.parametrize("p, k", [(0.5, 1), (0.2, 4)])
def test_dhara_limit_of_the_chain(rd, p, k):
    # a cutoff far below one round: both links must herald in the same round (with latency: tau = 1/R + L/c)
    c = rd.dhara_check((0.95, p, 1e6), 2, swap_success_probability=0.9, multiplexing=k, length_km=2.0)
    assert c["tau_s"] == pytest.approx(1e-6 + 2.0 / 2e5, rel=1e-12)
    assert c["dhara_hz"] == pytest.approx((1 - (1 - p) ** k) ** 2 * 0.9 / c["tau_s"], rel=1e-12)
    assert c["ratio"] == pytest.approx(1.0, abs=1e-6)
    assert c["truncated_mass"] < 1e-9


def test_optimized_point_respects_the_threshold(rd):
    # links of F = 0.97, p = 2e-3 at 1 MHz over 2 km, memories T2 = 50 ms: without a cutoff F < 0.9
    el = elementary_link((0.97, 2e-3, 1e6))
    pt = rd.optimize_cutoff(el, 2, dict(rd.Memory(t2_s=0.05).kwargs(), length_km=2.0), 0.9, steps=4,
                            grid_size=4096)
    assert pt.feasible and 0.9 <= pt.fidelity < pt.fidelity_ceiling
    assert math.isfinite(pt.cutoff_s) and pt.cutoff_s >= 4 * pt.time_step_s
    # the gradient steps improve (or keep) the merit, and the reported point is the best feasible one
    assert pt.rate_hz >= pt.start_rate_hz > 0
    feasible = [rate for _, rate, fid in pt.history if fid >= 0.9]
    assert feasible and max(feasible) >= pt.history[0][1]
    assert pt.history[1][1] >= pt.history[0][1]  # the first Adam step raises the rate: the cutoff grows
    # a design whose ceiling (perfect memories) misses the threshold is refused without a scan
    low = rd.optimize_cutoff(el, 2, dict(rd.Memory(t2_s=0.05).kwargs(), length_km=2.0), 0.99, grid_size=4096)
    assert not low.feasible and low.rate_hz == 0.0 and low.fidelity_ceiling < 0.99


def test_links_take_their_fiber_from_the_link_keys(rd):
    a = rd.link_config("umd", "1092", 20.0)
    assert float(a.node_a.fiber_length_km) == float(a.node_b.fiber_length_km) == 10.0
    assert rd.fiber_length_km(a) == pytest.approx(20.0)
    b = rd.link_config("umd", "1550", 20.0)
    assert [el.kind for el in b.node_a.path] == ["frequency_conversion", "fiber"]
    assert float(b.get("node_a.path.fiber.length_km")) == 10.0
    assert float(b.get("node_a.path.fiber.attenuation_db_per_km")) == pytest.approx(0.18)
    assert float(b.get("node_a.path.frequency_conversion.efficiency")) == pytest.approx(
        float(ij.presets.get("ionq_2026").get("node_a.path.frequency_conversion.efficiency")))
    assert rd.fiber_length_km(b) == pytest.approx(20.0)
    # the success probability falls with the fiber as the physics says (above the dark-count floor): both photons
    # cross half the extra 10 km at the library's 1.5 dB/km near 1092 nm
    assert float(a.node_a.fiber_attenuation_db_per_km) == 1.5
    p = {L: float(ij.simulate(rd.link_config("cavity", "1092", L)).success_probability) for L in (10.0, 20.0)}
    assert p[20.0] / p[10.0] == pytest.approx(10 ** (-1.5 * 10.0 / 10), rel=0.02)
