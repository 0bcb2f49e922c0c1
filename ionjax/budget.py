"""Error budget: the fidelity with each imperfection switched off in turn.

Each imperfection names the link keys that switch it off and their ideal
values. The gain ``F(without it) - F(link)`` says which knob matters most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Link
from .protocols import simulate

__all__ = ["IMPERFECTIONS", "BudgetLine", "error_budget", "format_budget", "format_scan", "knob_scan"]

#: name -> {dotted key: ideal value}
IMPERFECTIONS: dict[str, dict[str, float]] = {
    "mode mismatch": {"interference.mode_overlap": 1.0},
    "ion-photon infidelity": {"nodes.ion_photon_fidelity": 1.0},
    "dark counts": {"detection.dark_count_rate_hz": 0.0},
    "multi-photon emission": {"nodes.multi_photon_probability": 0.0},
    "memory dephasing": {"nodes.qubit_t2_s": float("inf")},
    "optical phase noise": {"interference.phase_noise_rad": 0.0},
    "time-bin pulse error": {"nodes.time_bin_pulse_error": 0.0},
    "detector timing jitter": {"detection.timing_jitter_ps": 0.0},
    "photon frequency offset": {"node_a.photon_frequency_offset_mhz": 0.0, "node_b.photon_frequency_offset_mhz": 0.0},
    "photon arrival delay": {"node_a.arrival_delay_ns": 0.0, "node_b.arrival_delay_ns": 0.0},
}


@dataclass(frozen=True)
class BudgetLine:
    """Fidelity and success probability with one imperfection (or all) switched off."""

    name: str
    fidelity: float
    success_probability: float
    gain: float


def _applies(link: Link, name: str) -> bool:
    if name == "optical phase noise":
        return link.protocol == "single_photon"
    if name == "time-bin pulse error":
        return link.encoding == "time_bin"
    if name in ("detector timing jitter", "photon frequency offset"):
        return link.encoding == "frequency"
    return True


def error_budget(link: Link) -> list[BudgetLine]:
    """One line per imperfection present in ``link`` (largest gain first), then "all off".

    Only imperfections whose keys differ from ideal are listed.
    """
    base = simulate(link)
    f0 = float(base.fidelity)
    lines = []
    all_off: dict[str, float] = {}
    for name, keys in IMPERFECTIONS.items():
        if not _applies(link, name):
            continue
        present = any(not np.allclose(np.asarray(link.get(k.replace("nodes.", "node_a."))), v)
                      or not np.allclose(np.asarray(link.get(k.replace("nodes.", "node_b."))), v)
                      for k, v in keys.items())
        if not present:
            continue
        all_off.update(keys)
        r = simulate(link.set(keys))
        lines.append(BudgetLine(name, float(r.fidelity), float(r.success_probability), float(r.fidelity) - f0))
    lines.sort(key=lambda b: -b.gain)
    r = simulate(link.set(all_off)) if all_off else base
    lines.append(BudgetLine("all of the above", float(r.fidelity), float(r.success_probability),
                            float(r.fidelity) - f0))
    return lines


def format_budget(link: Link, lines: list[BudgetLine] | None = None) -> str:
    """The budget as a text table."""
    lines = error_budget(link) if lines is None else lines
    f0 = lines[-1].fidelity - lines[-1].gain  # each line's gain is measured from the link's own fidelity
    out = [f"Error budget (fidelity {f0:.4f}): fidelity with each imperfection switched off",
           f"  {'imperfection':<26} {'fidelity':>9} {'gain':>9} {'success prob':>13}"]
    for b in lines:
        out.append(f"  {b.name:<26} {b.fidelity:9.4f} {b.gain:+9.4f} {b.success_probability:13.4e}")
    return "\n".join(out)


def knob_scan(link: Link, key: str, values) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Fidelity, success probability and rate as one knob (dotted ``key``) runs over ``values``.

    One compiled, ``vmap``-batched call. Returns ``{"values", "fidelity", "success_probability", "rate_hz"}``.
    """
    import jax
    import jax.numpy as jnp

    from .link import evaluate as _simulate

    vals = jnp.asarray(values, dtype=jnp.result_type(link.get(key.replace("nodes.", "node_a."))))

    @jax.jit
    def run(v):  # noqa: ANN001, ANN202
        r = _simulate(link.set({key: v}))
        return r.fidelity, r.success_probability, r.rate_hz

    f, p, r = jax.vmap(run)(vals)
    return {"values": np.asarray(vals), "fidelity": np.asarray(f), "success_probability": np.asarray(p),
            "rate_hz": np.asarray(r)}


def format_scan(scan: dict[str, np.ndarray], key: str) -> str:
    """A knob scan as a text table."""
    out = [f"  {key:>34} {'fidelity':>9} {'success prob':>13} {'rate (Hz)':>11}"]
    for v, f, p, r in zip(scan["values"], scan["fidelity"], scan["success_probability"], scan["rate_hz"]):
        out.append(f"  {v:34.4g} {f:9.4f} {p:13.4e} {r:11.4g}")
    return "\n".join(out)
