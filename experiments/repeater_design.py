"""Compare repeater designs for trapped ions over 10-1000 km: end-to-end rate at a fidelity threshold.

A network architect's question (issue 13): with today's trapped-ion links, which repeater design gives the
highest end-to-end rate at a fidelity of at least ``--min-fidelity`` (default 0.8), at each total distance?

Elementary links are simulated (``ij.simulate``) from the presets, with the fiber set through the link's own
keys (the detection station in the middle, so each node's fiber is half the link length):

* ``1092``: the UMD 2025 88Sr+ node (preset ``umd_2025``, 1092 nm photons), ``nodes.fiber_length_km = L / 2``
  at the library's tabulated single-mode loss near 1092 nm (``ionjax.components.species.FIBER_ATTENUATION``:
  1.5 dB/km, an assumption there; the preset's 4.8 dB/km is fitted to deployed fiber with its connectors);
* ``1550``: the same node with the photon converted to 1550 nm before the fiber: the ``frequency_conversion``
  element of the ``ionq_2026`` preset (efficiency 0.3, 60 noise photons/s: assumptions there), then a ``fiber``
  path element of length ``L / 2`` at the species' default loss after conversion (0.18 dB/km at 1550 nm).

Two node models (``--nodes``): ``umd`` is the preset as published (fitted to 350 ion-photon pairs/s in the lab:
an ion-ion success probability of ~6e-8 per attempt); ``cavity`` is a what-if, marked as such: the same node
with a fiber-coupled photon probability of 0.5 per attempt, as the Innsbruck 40Ca+ cavity node (Krutyanskiy
et al., npj Quantum Inf. 5, 72 (2019)), i.e. ``collection_efficiency = 0.5`` and ``branching_ratio = 1``
(assumption: the cavity, not the 1092 nm branching, decides the photon). ``--set KEY=VALUE`` changes any link
key of every design (dotted keys, as ``ionjax simulate --set``).

Designs, for each total distance D (``repeater_chain`` with ``length_km`` = each link's fiber, so that a round
lasts an emission plus the herald's flight, ``1/R + L/c``):

* ``direct``: one link over D (no memory wait: the cutoff does not matter);
* ``nested``: 2, 4, 8, 16 links of D/N swapped in the doubling schedule (the best N is reported);
* ``nested+pur``: the same with one DEJMPS round on every elementary link (``purification_rounds=(1,)``), and
  ``nested+pur2`` with another round at level 1 (``(1, 1)``: on the pairs of two links);
* each with ``k = 1, 4, 16`` memories per node and link (``multiplexing``). With ``k`` memories the attempt
  schedule is a discrete choice: all ``k`` attempt together each round (``multiplexing = k``), or the rounds
  are pipelined (``pipelined=True``) with ``k // ceil(1 + R L / c)`` parallel streams, where the memories
  suffice for the rounds in flight (``--pipelining free`` allows it always, as ionjax does not count memories).

For each design and distance the memory cutoff is optimized: a few cutoffs (each on its own "auto" grid) give a
feasible start, then Adam (``optax``) on ``log(cutoff)`` minimizes ``-log(rate) - mu log(F - F_min)`` (a log
barrier for the fidelity constraint; a linear penalty where a step leaves the feasible set) with
``time_step_s`` fixed from the start's "auto" run (as experiments/network_chain_cutoff.py does); the best
feasible point is re-evaluated on its own "auto" grid. Memories: ``--memory-t2-s`` (default 1 s, exponential:
an assumption, a decoupled memory qubit; the preset's 10 ms metastable network qubit is
``--memory-t2-s 0.01 --memory-decay gaussian``), swap gate and readout errors 1e-3 (assumption).

Analytic check (printed): Dhara et al., PRA 105, 022623 (2022) (repeaters of multiplexed trapped-ion nodes; the
rates as in shared/REFERENCES.md): without memories (a cutoff shorter than one attempt, so every link must
succeed in the same round) n + 1 links and n swaps of success q deliver at ``R0 = p^(n+1) q^n / tau``, and with
``k`` multiplexed memories each link's round succeeds with ``1 - (1 - p)^k``. :func:`dhara_check` computes
``repeater_chain`` with a cutoff just above half a herald flight (1e-9 rounds more) on a grid of one round and
prints the ratio to the formula.

Run: ``python experiments/repeater_design.py [--quick] [--min-fidelity 0.8] [--out DIR]`` (writes
DIR/repeater_design.png and DIR/repeater_design.json; default DIR experiments/out/repeater_design/).
``--quick``: distances 10, 100, 500 km, N in {2, 4}, k in {1, 4}, no ``nested+pur2``, 6 Adam steps on grids
of 16384 steps (1-2 minutes on 2 CPU cores); the full grid (7 distances, N up to 16, k up to 16, 40 steps,
grids of 65536 steps) takes longer, with a progress bar over the points. Every chain evaluation of a run uses
one grid size (``--grid-size``), so each chain structure compiles once; points the grid does not resolve (the
cutoff under 4 steps, or waiting times beyond its horizon) are not counted as feasible, and a GridWarning
(say, a step of several attempts: a rate error of about 1%) is flagged in the table and kept in the JSON.

What the numbers say by default: the UMD node's links (success ~6e-8 per attempt in the lab) are too slow for
any repeater to help; at F >= 0.8 only purified chains beat a direct link, since one swap of two links of
F = 0.87 (the preset's ion-photon fidelity 0.929) gives about 0.77.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import ionjax as ij  # noqa: E402
from ionjax.components.species import fiber_attenuation_db_per_km  # noqa: E402
from ionjax.network import GridWarning, elementary_link, repeater_chain  # noqa: E402
from ionjax.network.chain import FIBER_LIGHT_SPEED_KM_S  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "repeater_design"
DISTANCES_KM = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
QUICK_DISTANCES_KM = (10.0, 100.0, 500.0)
PHOTONICS = ("1092", "1550")
NODES = ("umd", "cavity")
#: what-if overrides of the ``cavity`` node (see the module docstring)
CAVITY_OVERRIDES = {"nodes.collection_efficiency": 0.5,  # assumption: fiber-coupled photon 0.5 (Krutyanskiy 2019)
                    "nodes.branching_ratio": 1.0}  # assumption: the cavity decides the photon, not the branching
FAMILIES = {"direct": (), "nested": (), "nested+pur": (1,), "nested+pur2": (1, 1)}  # -> purification_rounds
QUICK_FAMILIES = ("direct", "nested", "nested+pur")
#: the barrier's weight (in units of log-rate) and Adam's learning rate on log(cutoff)
BARRIER_MU = 0.02
LEARNING_RATE = 0.15


@dataclass(frozen=True)
class Memory:
    """The repeater's stored qubits and its node operations (``repeater_chain`` keywords)."""

    t2_s: float = 1.0
    t1_s: float = math.inf
    memory_decay: str = "exponential"
    gate_error: float = 1e-3
    readout_error: float = 1e-3
    transfer_error: float = 0.0

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- elementary links
def link_config(node: str, photonics: str, length_km: float, *, loss_1092_db_per_km: float | None = None,
                overrides: dict[str, Any] | None = None) -> ij.Link:
    """The elementary link of ``length_km`` fiber (the station in the middle): a :class:`ionjax.Link`.

    Args:
        node: ``"umd"`` (preset ``umd_2025``) or ``"cavity"`` (the what-if of :data:`CAVITY_OVERRIDES`).
        photonics: ``"1092"`` (fiber at 1092 nm) or ``"1550"`` (``ionq_2026``'s conversion, then telecom fiber).
        length_km: the fiber between the two nodes; each node's own fiber is half of it.
        loss_1092_db_per_km: fiber loss at 1092 nm (default: the library's table near 1091.8 nm).
        overrides: further ``{"dotted.key": value}`` applied to the link (``--set``).
    """
    if node not in NODES:
        raise ValueError(f"node = {node!r} is not known; allowed: {', '.join(NODES)}.")
    if photonics not in PHOTONICS:
        raise ValueError(f"photonics = {photonics!r} is not known; allowed: {', '.join(PHOTONICS)}.")
    data = ij.presets.as_dict("umd_2025")
    half = 0.5 * float(length_km)
    if photonics == "1092":
        loss = fiber_attenuation_db_per_km(1091.8) if loss_1092_db_per_km is None else loss_1092_db_per_km
        for sec in ("node_a", "node_b"):
            data[sec]["fiber_length_km"] = half
            data[sec]["fiber_attenuation_db_per_km"] = loss
    else:
        conversion = next(el for el in ij.presets.as_dict("ionq_2026")["node_a"]["path"]
                          if el["element"] == "frequency_conversion")
        for sec in ("node_a", "node_b"):
            data[sec]["fiber_length_km"] = 0.0
            data[sec].pop("fiber_attenuation_db_per_km", None)  # unused: no flat fiber
            data[sec]["path"] = [dict(conversion), {"element": "fiber", "length_km": half}]  # loss: 1550 default
    keys = dict(CAVITY_OVERRIDES) if node == "cavity" else {}
    keys.update(overrides or {})
    return ij.load_link(data, overrides=keys)


def fiber_length_km(link: ij.Link) -> float:
    """The link's fiber between its nodes, from its own keys (flat fiber plus ``fiber`` path elements)."""
    total = 0.0
    for nd in (link.node_a, link.node_b):
        total += float(nd.fiber_length_km) + sum(float(el.length_km) for el in nd.path if el.kind == "fiber")
    return total


# ----------------------------------------------------------------------------- the analytic check
def dhara_rate(p: float, q: float, tau_s: float, n_links: int, multiplexing: int = 1) -> float:
    """Dhara et al., PRA 105, 022623 (2022): ``R0 = P^(n+1) q^n / tau`` for ``n + 1`` links and ``n`` swaps that
    must all succeed in the same round of ``tau`` s, with ``P = 1 - (1 - p)^k`` for ``k`` multiplexed memories."""
    big_p = 1.0 - (1.0 - p) ** multiplexing
    return big_p**n_links * q ** (n_links - 1) / tau_s


def dhara_check(link: Any, n_links: int, *, swap_success_probability: float = 1.0, multiplexing: int = 1,
                length_km: float = 0.0, schedule: str = "nested") -> dict[str, float]:
    """``repeater_chain`` without memories against :func:`dhara_rate`: a grid of one round and a cutoff just
    above half a herald flight (an elementary pair's cutoff counts from its detection at the station, half its
    flight before the nodes know of it), so only pairs of the same round are swapped.

    Args:
        link: anything ``repeater_chain`` takes (a Link, numbers ``(F, p, R)``).
        n_links: the links of the chain (``n + 1``).
        swap_success_probability: ``q``.
        multiplexing: ``k``.
        length_km: each link's fiber: the round is ``tau = 1/R + L/c``.

    Returns:
        ``{"n_links", "p", "q", "k", "tau_s", "rate_hz" (the chain), "dhara_hz", "ratio", "truncated_mass"}``.
    """
    el = elementary_link(link)
    p, rate = float(el.success_probability), float(el.attempt_rate_hz)
    tau = 1.0 / rate + length_km / FIBER_LIGHT_SPEED_KM_S
    expected = dhara_rate(p, swap_success_probability, tau, n_links, multiplexing)
    rounds = 1.0 / (expected * tau)  # mean rounds to a delivery
    grid = 1 << max(12, math.ceil(math.log2(40.0 * rounds + 64)))  # one compiled size for the small checks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)  # the cutoff is (on purpose) far below one step
        cut = 0.5 * length_km / FIBER_LIGHT_SPEED_KM_S + 1e-9 * tau
        res = repeater_chain(el, n_links, schedule=schedule, cutoff_s=cut, time_step_s=tau, grid_size=grid,
                             swap_success_probability=swap_success_probability, multiplexing=multiplexing,
                             length_km=length_km)
    return {"n_links": n_links, "p": p, "q": swap_success_probability, "k": multiplexing, "tau_s": tau,
            "schedule": schedule, "rate_hz": float(res.rate_hz), "dhara_hz": expected,
            "ratio": float(res.rate_hz) / expected, "truncated_mass": float(res.truncated_mass)}


def dhara_checks(cavity_link: ij.Link | None = None) -> list[dict[str, float]]:
    """The checks printed by the script: numeric links of ``p = 0.6`` at 1 MHz over 2 km (``tau`` = 11 us) with
    ``q = 0.9``, 2 to 8 links, ``k = 1`` and ``k = 4``, nested and sequential; and, when given, a simulated
    link (2 links, ``k = 1, 4``)."""
    out = []
    for n, k, sched in ((2, 1, "nested"), (4, 1, "nested"), (8, 1, "nested"), (3, 1, "sequential"),
                        (2, 4, "nested"), (4, 4, "nested")):
        p = 0.6 if k == 1 else 0.25
        out.append(dhara_check((0.95, p, 1e6), n, swap_success_probability=0.9, multiplexing=k, length_km=2.0,
                               schedule=sched))
    if cavity_link is not None:
        for k in (1, 4):
            out.append(dhara_check(cavity_link, 2, multiplexing=k, length_km=fiber_length_km(cavity_link)))
    return out


# ----------------------------------------------------------------------------- one design point
@dataclass
class Point:
    """The best feasible operating point of one design at one distance (``rate_hz = 0`` where none is)."""

    n_links: int
    rounds: tuple[int, ...]
    memories: int
    multiplexing: int = 1
    pipelined: bool = False
    cutoff_s: float = math.nan
    rate_hz: float = 0.0
    fidelity: float = math.nan
    fidelity_ceiling: float = math.nan
    feasible: bool = False
    time_step_s: float = math.nan
    grid_size: int = 0
    grid_warning: str = ""
    start_rate_hz: float = 0.0
    history: list[tuple[float, float, float]] = field(default_factory=list)  # (cutoff_s, rate, F) per Adam step
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        d["history"] = [[_json_num(x) for x in row] for row in self.history]
        return d


def _json_num(x: float) -> float | str | None:
    return x if math.isfinite(x) else (None if math.isnan(x) else "inf")


def _evaluate(el: Any, n: int, cutoff: Any, chain_kw: dict[str, Any], grid_size: int, *,
              time_step_s: Any = "auto") -> tuple[Any, str]:
    """``repeater_chain`` on ``grid_size`` steps (``time_step_s="auto"``: the step that covers the waiting
    times) and the text of any GridWarning it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GridWarning)
        res = repeater_chain(el, n, cutoff_s=cutoff, time_step_s=time_step_s, grid_size=grid_size, **chain_kw)
    msg = "; ".join(str(w.message) for w in caught if issubclass(w.category, GridWarning))
    return res, msg


def resolved(res: Any, cutoff: float) -> bool:
    """Whether the grid resolves the cutoff (>= 4 steps) and holds the waiting times (all but 1e-4): the numbers
    are trustworthy (within a few % of the rate; a GridWarning may still name a finer grid)."""
    dt = float(res.time_step_s)
    return (not math.isfinite(cutoff) or cutoff >= 4.0 * dt) and float(res.truncated_mass) <= 1e-4 \
        and math.isfinite(float(res.rate_hz))


def fidelity_ceiling(el: Any, n: int, chain_kw: dict[str, Any]) -> float:
    """The chain's fidelity with perfect memories (an upper bound over all cutoffs): one small grid suffices, as
    without memory decay the delivered pair does not depend on the waiting times."""
    kw = {**chain_kw, "t2_s": math.inf, "t1_s": math.inf}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)
        # a step longer than any message of the chain: every delay is within one step of the 64
        step = 1.0 / float(el.attempt_rate_hz) + n * float(kw.get("length_km", 0.0)) / FIBER_LIGHT_SPEED_KM_S
        res = repeater_chain(el, n, cutoff_s=math.inf, time_step_s=step, grid_size=64, **kw)
    return float(res.fidelity)


def optimize_cutoff(el: Any, n: int, chain_kw: dict[str, Any], min_fidelity: float, *, steps: int = 20,
                    n_scan: int = 6, grid_size: int = 1 << 15) -> Point:
    """The cutoff of largest rate with fidelity >= ``min_fidelity``, for one chain (``chain_kw``: the keywords of
    ``repeater_chain`` other than the cutoff and the grid). Every evaluation is on ``grid_size`` steps (one
    compilation per chain structure), its step chosen by ``time_step_s="auto"``.

    1. the ceiling (perfect memories): infeasible if below ``min_fidelity``;
    2. no cutoff (the largest rate): done if feasible;
    3. ``n_scan`` cutoffs from the memory's scale and the link's mean wait, each on its "auto" step: the best
       feasible one that the grid resolves (:func:`resolved`) is the start;
    4. Adam on ``log(cutoff)`` with the barrier ``-log(rate) - mu log((F - F_min) / (1 - F_min))`` (a penalty
       beyond the constraint), ``time_step_s`` fixed from the start's "auto" run;
    5. the best feasible, resolved Adam iterate, re-evaluated on its own "auto" step (kept if still feasible
       and better than the start).
    """
    pt = Point(n_links=n, rounds=tuple(chain_kw.get("purification_rounds", ())), memories=0,
               multiplexing=chain_kw.get("multiplexing", 1), pipelined=chain_kw.get("pipelined", False))
    pt.fidelity_ceiling = fidelity_ceiling(el, n, chain_kw)
    if pt.fidelity_ceiling < min_fidelity:
        pt.note = "ceiling below the threshold"
        return pt

    def take(res: Any, cutoff: float, msg: str) -> None:
        pt.cutoff_s, pt.rate_hz, pt.fidelity = cutoff, float(res.rate_hz), float(res.fidelity)
        pt.time_step_s, pt.grid_size = float(res.time_step_s), int(res.waiting_time_pmf.shape[-1])
        pt.grid_warning, pt.feasible = msg, True

    res, msg = _evaluate(el, n, math.inf, chain_kw, grid_size)
    if float(res.fidelity) >= min_fidelity:
        take(res, math.inf, msg)
        pt.start_rate_hz = pt.rate_hz
        pt.note = "no cutoff needed"
        return pt
    if n == 1:  # a single link never waits in memory: the cutoff changes nothing
        pt.note = "link fidelity below the threshold"
        return pt
    # 3. the scan: from the memory's scale (the fidelity margin times T2) and the link's mean wait
    p_round = 1.0 - (1.0 - float(el.success_probability)) ** pt.multiplexing
    flight = float(chain_kw.get("length_km", 0.0)) / FIBER_LIGHT_SPEED_KM_S
    round_s = 1.0 / float(el.attempt_rate_hz) + (0.0 if pt.pipelined else flight)
    wait = round_s / p_round
    t2 = float(chain_kw.get("t2_s", math.inf))
    scale = t2 * (pt.fidelity_ceiling - min_fidelity) if math.isfinite(t2) else 10.0 * wait
    if wait / 50.0 > 3.0 * scale:
        # not resolved on the grid; a 2-link chain with cutoff c << wait delivers at about 2 c / wait^2
        pt.note = (f"links too slow for the memories (mean link wait {wait:.3g} s >> T2 x (F max - F_min) = "
                   f"{scale:.3g} s): rate below ~{6.0 * scale / wait**2:.1g} /s, not computed")
        return pt
    lo = max(4.0 * round_s, wait / 50.0, scale / 30.0)
    hi = max(lo * 10.0, min(scale * 3.0, 30.0 * wait))
    best, unresolved = None, None
    for c in np.geomspace(lo, hi, n_scan):
        r, m = _evaluate(el, n, float(c), chain_kw, grid_size)
        if float(r.fidelity) < min_fidelity:
            continue
        if not resolved(r, float(c)):
            unresolved = unresolved or (float(c), float(r.time_step_s), float(r.rate_hz))
        elif best is None or float(r.rate_hz) > float(best[0].rate_hz):
            best = (r, float(c), m)
    if best is None:
        pt.note = f"no cutoff in [{lo:.3g}, {hi:.3g}] s meets the threshold"
        if unresolved is not None:
            pt.note = (f"the grid does not resolve the feasible cutoffs (cutoff {unresolved[0]:.3g} s, step "
                       f"{unresolved[1]:.3g} s: rate ~{unresolved[2]:.1g} /s, unreliable; raise --grid-size)")
        return pt
    take(*best)
    pt.start_rate_hz = pt.rate_hz
    # 4. Adam on log(cutoff) on the start's grid
    dt, f_min = pt.time_step_s, float(min_fidelity)

    def loss(x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
        r = repeater_chain(el, n, cutoff_s=jnp.exp(x), time_step_s=dt, grid_size=grid_size, **chain_kw)
        gap = (r.fidelity - f_min) / (1.0 - f_min)
        ok = gap > 0
        barrier = jnp.where(ok, -BARRIER_MU * jnp.log(jnp.where(ok, gap, 1.0)), 10.0 * (-gap) / BARRIER_MU)
        return -jnp.log(r.rate_hz) + barrier, (r.rate_hz, r.fidelity, r.truncated_mass)

    grad = jax.value_and_grad(loss, has_aux=True)
    opt = optax.adam(LEARNING_RATE)
    x = jnp.log(pt.cutoff_s)
    state = opt.init(x)
    best_c, best_rate = None, -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)  # checked by resolved() and the final "auto" run
        for _ in range(steps + 1):
            (_, (rate, fid, lost)), g = grad(x)
            c, rate, fid = float(jnp.exp(x)), float(rate), float(fid)
            pt.history.append((c, rate, fid))
            if fid >= f_min and rate > best_rate and c >= 4.0 * dt and float(lost) <= 1e-4:
                best_c, best_rate = c, rate
            if not np.isfinite(float(g)):
                break
            upd, state = opt.update(g, state)
            x = optax.apply_updates(x, upd)
    # 5. the best iterate on its own "auto" step
    if best_c is not None and best_c != pt.cutoff_s:
        r, m = _evaluate(el, n, best_c, chain_kw, grid_size)
        if float(r.fidelity) >= f_min and resolved(r, best_c) and float(r.rate_hz) > pt.rate_hz:
            take(r, best_c, m)
    return pt


def schedules(memories: int, length_km: float, attempt_rate_hz: float, pipelining: str) -> list[tuple[int, bool]]:
    """The attempt schedules ``(multiplexing, pipelined)`` that ``memories`` memories per node and link allow:
    all at once each round, or pipelined rounds with ``memories // ceil(1 + R L / c)`` parallel streams (where
    that is >= 1, or always with ``pipelining="free"``; none with ``"off"``)."""
    out = [(memories, False)]
    if pipelining == "off":
        return out
    in_flight = math.ceil(1.0 + attempt_rate_hz * length_km / FIBER_LIGHT_SPEED_KM_S - 1e-9)
    streams = memories // in_flight if pipelining == "if-memories" else memories
    if streams >= 1 and length_km > 0:
        out.append((streams, True))
    return out


def design_point(el: Any, n: int, rounds: tuple[int, ...], memories: int, length_km: float, memory: Memory,
                 min_fidelity: float, *, steps: int = 20, pipelining: str = "if-memories",
                 grid_size: int = 1 << 15) -> Point:
    """The best point over the attempt schedules (:func:`schedules`) of one design at one distance."""
    best = None
    for mux, pipe in schedules(memories, length_km, float(el.attempt_rate_hz), pipelining):
        kw = dict(memory.kwargs(), multiplexing=mux, pipelined=pipe, length_km=length_km, purification_rounds=rounds)
        pt = optimize_cutoff(el, n, kw, min_fidelity, steps=steps, grid_size=grid_size)
        pt.memories = memories
        if best is None or pt.rate_hz > best.rate_hz:
            best = pt
    return best


# ----------------------------------------------------------------------------- the comparison
def run(*, nodes: tuple[str, ...] = NODES, photonics: tuple[str, ...] = PHOTONICS,
        distances_km: tuple[float, ...] = DISTANCES_KM, n_links: tuple[int, ...] = (2, 4, 8),
        memories: tuple[int, ...] = (1, 4, 16), families: tuple[str, ...] = tuple(FAMILIES),
        min_fidelity: float = 0.8, steps: int = 40, memory: Memory = Memory(), pipelining: str = "if-memories",
        loss_1092_db_per_km: float | None = None, overrides: dict[str, Any] | None = None,
        grid_size: int = 1 << 16, progress: bool = True) -> list[dict[str, Any]]:
    """Every design at every distance: a list of rows (JSON-ready dicts), one per (node, photonics, family,
    memories, distance, N)."""
    from tqdm.auto import tqdm

    jobs = []
    for nd in nodes:
        for ph in photonics:
            for dist in distances_km:
                for fam in families:
                    for n in ((1,) if fam == "direct" else n_links):
                        for k in memories:
                            jobs.append((nd, ph, dist, fam, n, k))
    links: dict[tuple[str, str, float], tuple[Any, Any]] = {}
    rows = []
    for nd, ph, dist, fam, n, k in tqdm(jobs, desc="design points", unit="pt", disable=not progress,
                                        dynamic_ncols=True):
        length = dist / n
        key = (nd, ph, length)
        if key not in links:
            link = link_config(nd, ph, length, loss_1092_db_per_km=loss_1092_db_per_km, overrides=overrides)
            res = ij.simulate(link)
            links[key] = (link, elementary_link(res))
        link, el = links[key]
        if abs(fiber_length_km(link) - length) > 1e-9 * max(1.0, length):  # pragma: no cover
            raise RuntimeError(f"This is a bug in experiments/repeater_design.py: the link holds "
                               f"{fiber_length_km(link)} km of fiber, not {length} km.")
        pt = design_point(el, n, FAMILIES[fam], k, length, memory, min_fidelity, steps=steps, pipelining=pipelining,
                          grid_size=grid_size)
        rows.append({"node": nd, "photonics": ph, "family": fam, "distance_km": dist, "link_length_km": length,
                     "link_fidelity": float(el.fidelity), "link_success_probability": float(el.success_probability),
                     **pt.to_dict()})
    return rows


def best_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (node, photonics, family, memories, distance): the row of the best N (largest rate; where none is
    feasible, the deepest chain whose ceiling meets the threshold, as its note says most)."""
    def rank(r: dict[str, Any]) -> tuple:
        return (r["rate_hz"], r["note"] != "ceiling below the threshold", r["n_links"])

    best: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["node"], r["photonics"], r["family"], r["memories"], r["distance_km"])
        if key not in best or rank(r) > rank(best[key]):
            best[key] = r
    return list(best.values())


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'node':<7} {'photons':<7} {'design':<11} {'k':>3} {'D km':>6} {'N':>3} {'sched':<6} "
            f"{'cutoff s':>9} {'rate Hz':>10} {'F':>7} {'F max':>7}  note")
    lines = [head, "-" * len(head)]
    for r in rows:
        cut = r["cutoff_s"]
        cut_s = "-" if cut is None else ("inf" if cut == "inf" else f"{cut:.3g}")
        rate_s = f"{r['rate_hz']:.3g}" if r["feasible"] else "none"
        fid = r["fidelity"]
        ceil_ = r["fidelity_ceiling"]
        sched = ("pipe" if r["pipelined"] else "round") + (f"x{r['multiplexing']}" if r["multiplexing"] > 1 else "")
        note = r["note"] + (" [grid warning]" if r["grid_warning"] else "")
        lines.append(f"{r['node']:<7} {r['photonics']:<7} {r['family']:<11} {r['memories']:>3} "
                     f"{r['distance_km']:>6g} {r['n_links']:>3} {sched:<6} {cut_s:>9} {rate_s:>10} "
                     f"{'-' if fid is None else format(fid, '.4f'):>7} "
                     f"{'-' if ceil_ is None else format(ceil_, '.4f'):>7}  {note}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, min_fidelity: float) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install 'ionjax[plot]'): no figure")
        return False
    panels = sorted({(r["node"], r["photonics"]) for r in rows}, key=lambda x: (NODES.index(x[0]), x[1]))
    ncol = min(2, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.0 * ncol, 4.6 * nrow), squeeze=False, sharex=True, sharey=True)
    styles = {"direct": "-", "nested": "--", "nested+pur": ":", "nested+pur2": "-."}
    markers = {1: "o", 4: "s", 16: "^"}
    dists = [r["distance_km"] for r in rows]
    for ax, (nd, ph) in zip(axes.flat, panels):
        sel = [r for r in rows if r["node"] == nd and r["photonics"] == ph]
        for fam in FAMILIES:
            for k in sorted({r["memories"] for r in sel}):
                pts = sorted((r["distance_km"], r["rate_hz"], r["n_links"]) for r in sel
                             if r["family"] == fam and r["memories"] == k and r["feasible"] and r["rate_hz"] > 0)
                if not pts:
                    continue
                d, rate, n = zip(*pts)
                ax.plot(d, rate, styles[fam], marker=markers.get(k, "x"), label=f"{fam}, k={k}")
                if fam != "direct":
                    for di, ri, ni in pts:
                        ax.annotate(f"{ni}", (di, ri), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(min(dists) / 1.3, max(dists) * 1.3)
        node_s = "UMD 2025 node (preset)" if nd == "umd" else "cavity node (what-if)"
        ax.set_title(f"{node_s}, {'1092 nm fiber' if ph == '1092' else 'converted to 1550 nm'}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        if ax.lines:
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, f"no design reaches F >= {min_fidelity:g}", transform=ax.transAxes, ha="center")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("total distance (km)")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"rate at F >= {min_fidelity:g} (s$^{{-1}}$)")
    fig.suptitle("88Sr+ repeater designs (numbers: links N of the best nested chain)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return True


def _parse_set(items: list[str]) -> dict[str, Any]:
    out = {}
    for it in items:
        key, sep, value = it.partition("=")
        if not sep or not key:
            raise ij.ConfigError(f"--set {it!r} must be KEY=VALUE, e.g. --set nodes.ion_photon_fidelity=0.97.")
        out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--min-fidelity", type=float, default=0.8, help="fidelity threshold (default 0.8)")
    ap.add_argument("--quick", action="store_true", help="reduced grid: 3 distances, N in {2, 4}, k in {1, 4}")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps per point (default 40; quick 6)")
    ap.add_argument("--nodes", nargs="+", choices=NODES, default=list(NODES))
    ap.add_argument("--photonics", nargs="+", choices=PHOTONICS, default=list(PHOTONICS))
    ap.add_argument("--distances", nargs="+", type=float, default=None, help="total distances, km")
    ap.add_argument("--memory-t2-s", type=float, default=1.0, help="stored qubits' T2 (default 1 s)")
    ap.add_argument("--memory-t1-s", type=float, default=math.inf, help="stored qubits' T1 (default inf)")
    ap.add_argument("--memory-decay", choices=("exponential", "gaussian"), default="exponential")
    ap.add_argument("--gate-error", type=float, default=1e-3, help="swap / purification CNOT error (1e-3)")
    ap.add_argument("--readout-error", type=float, default=1e-3, help="readout bit flip (1e-3)")
    ap.add_argument("--transfer-error", type=float, default=0.0, help="network -> memory qubit transfer error")
    ap.add_argument("--loss-1092", type=float, default=None,
                    help=f"fiber loss at 1092 nm, dB/km (default {fiber_attenuation_db_per_km(1091.8):g}: the "
                         "library's table)")
    ap.add_argument("--pipelining", choices=("if-memories", "free", "off"), default="if-memories",
                    help="consider pipelined rounds where the memories suffice (default), always, or never")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a link key of every design (e.g. nodes.ion_photon_fidelity=0.97)")
    ap.add_argument("--grid-size", type=int, default=None,
                    help="time-grid steps of every chain evaluation (default 65536; quick 16384)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not 0.25 < args.min_fidelity < 1.0:
        ap.error(f"--min-fidelity = {args.min_fidelity} must be in (0.25, 1).")
    steps = args.steps if args.steps is not None else (6 if args.quick else 40)
    distances = tuple(args.distances) if args.distances else (QUICK_DISTANCES_KM if args.quick else DISTANCES_KM)
    n_links = (2, 4) if args.quick else (2, 4, 8, 16)
    families = QUICK_FAMILIES if args.quick else tuple(FAMILIES)
    memories = (1, 4) if args.quick else (1, 4, 16)
    grid_size = args.grid_size or ((1 << 14) if args.quick else (1 << 16))
    memory = Memory(t2_s=args.memory_t2_s, t1_s=args.memory_t1_s, memory_decay=args.memory_decay,
                    gate_error=args.gate_error, readout_error=args.readout_error, transfer_error=args.transfer_error)
    try:
        overrides = _parse_set(args.set)
        link_config("cavity", "1092", 1.0, overrides=overrides)  # check the overrides before the long run
    except (ij.ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    t0 = time.perf_counter()
    print("Dhara et al., PRA 105, 022623 (2022): R0 = p^(n+1) q^n / tau without memories (cutoff 1e-9 rounds), "
          "P = 1 - (1 - p)^k multiplexed")
    checks = dhara_checks(link_config("cavity", "1092", 2.0, overrides=overrides))
    for c in checks:
        print(f"  {c['schedule']:<10} links {c['n_links']}  p {c['p']:.4g}  q {c['q']:g}  k {c['k']}  "
              f"tau {c['tau_s'] * 1e6:.3g} us: chain {c['rate_hz']:.6g} Hz, formula {c['dhara_hz']:.6g} Hz, "
              f"ratio {c['ratio']:.9f}")
    rows = run(nodes=tuple(args.nodes), photonics=tuple(args.photonics), distances_km=distances, n_links=n_links,
               memories=memories, families=families, min_fidelity=args.min_fidelity, steps=steps, memory=memory,
               pipelining=args.pipelining, loss_1092_db_per_km=args.loss_1092, overrides=overrides,
               grid_size=grid_size, progress=not args.no_progress)
    best = best_rows(rows)
    elapsed = time.perf_counter() - t0
    print(f"\nbest rate at F >= {args.min_fidelity:g} (N: links of the best chain; 'none': no cutoff meets it; "
          f"F max: with perfect memories)")
    print(format_table(best))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig_path = out / "repeater_design.png"
    wrote = plot(best, fig_path, args.min_fidelity)
    summary = {
        "min_fidelity": args.min_fidelity, "quick": args.quick, "steps": steps, "grid_size": grid_size,
        "memory": memory.kwargs(),
        "loss_1092_db_per_km": args.loss_1092 if args.loss_1092 is not None else fiber_attenuation_db_per_km(1091.8),
        "cavity_overrides": CAVITY_OVERRIDES, "overrides": overrides, "pipelining": args.pipelining,
        "dhara_checks": checks, "best": best, "rows": rows, "elapsed_s": elapsed,
    }
    (out / "repeater_design.json").write_text(json.dumps(_jsonable(summary), indent=1, allow_nan=False))
    print(f"\nwrote {out / 'repeater_design.json'}" + (f" and {fig_path}" if wrote else "")
          + f" ({elapsed:.0f} s)")
    return summary


def _jsonable(x: Any) -> Any:
    """Plain JSON: floats that are not finite become ``"inf"`` / ``"-inf"`` / null, tuples lists."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else (None if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


if __name__ == "__main__":
    main()
