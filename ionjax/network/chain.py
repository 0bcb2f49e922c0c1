"""Repeater chains: N elementary links swapped into one end-to-end pair, with memory decoherence and a cutoff.

Protocol (swap as soon as possible, with a memory cutoff and restarts, as in
Brand, Coopmans & Elkouss, IEEE JSAC 38, 619 (2020) and Li, Coopmans & Elkouss,
IEEE TQE 2, 1 (2021)). A *block* is a stretch of the chain that delivers one
pair. Two neighbouring blocks are joined by an attempt: both blocks run from
scratch at the same time; when both have delivered, the older pair has waited
``D`` (the age difference) and is swapped with the younger one at their common
node if ``D <= cutoff``. Otherwise the older pair is discarded when its age
reaches the cutoff, and both blocks start again; a failed Bell measurement
(probability ``1 - swap_success_probability``) also restarts both. The
schedule says which blocks are joined:

* ``"nested"`` (doubling; N a power of 2): links 1+2, 3+4, ..., then pairs of those, and so on;
* ``"sequential"``: a growing block of links 1..k is joined with link k+1.

Time is a grid of ``grid_size`` steps of ``time_step_s`` (by default ``"auto"``:
the attempt period of the fastest link, doubled until the grid holds all but
1e-10 of the waiting-time distribution). A link succeeds in a step with
probability ``1 - (1 - p)^(R dt)`` (exact when ``dt = 1/R``; coarser steps round
ages to the step).

How fine the grid must be. A step of ``m = R dt`` attempts rounds each delivery up
to the end of its step: one link's mean wait on the grid is ``m p / (1 - (1 - p)^m)``
attempts instead of ``1 / p``, a relative excess ``e = m p / (1 - (1 - p)^m) - 1``
(``~ (m - 1) p / 2``; 0 at ``m = 1``). :func:`grid_error` returns the largest ``e`` over the
links, times 4 with a finite cutoff: an estimated bound on the chain's relative rate error
(calibrated against attempt-level grids, the error was below ``e / 2`` without a cutoff and
up to ``3 e`` with one, where rounding also moves age differences across the cutoff).
With ``grid_size`` left out (``None``) and
``time_step_s="auto"``, the grid starts at :data:`DEFAULT_GRID_SIZE` steps and is doubled
(up to :data:`MAX_AUTO_GRID_SIZE`) until that estimate is ``<= GRID_TOLERANCE`` (1%) and the step
resolves the cutoff (``dt <= cutoff / 4``). A ``grid_size`` or ``time_step_s`` given
explicitly is used as is, with a :class:`GridWarning` that names the value it
would need when the grid is too coarse (the estimate above ``GRID_TOLERANCE``), resolves the cutoff
to fewer than 4 steps, or misses more than ``1e-6`` of the waiting-time
distribution beyond its horizon (``truncated_mass``; the rate is then too high).

Each block is its waiting-time distribution ``P(T = t)`` and its
correlator-weighted distribution ``Q(t) = P(T = t) E[c | T = t]`` (Pauli
correlators, :mod:`ionjax.network.pairs`; pairs are taken Bell-diagonal, i.e.
Pauli-twirled, which keeps their Bell populations). Joining two blocks is exact
on the grid:

* success at ``t`` with age difference ``d``: ``P_A(t - d) P_B(t)`` (and ``A <-> B``), with
  correlators ``s * c_A * c_B * (r^d, r^d, 1)``, ``r = exp(-2 dt / T2)`` (both qubits of the
  older pair dephase; ``s`` the swap factor of :func:`ionjax.network.swap_factor`);
* failure (the cutoff fires) at ``t_A + c`` with weight ``P_A(t_A) P(T_B > t_A + c)``;
* restarts: ``T(z) = S(z) / (1 - F(z))``, the renewal equation, solved with a damped FFT.

All windowed sums are FFT convolutions with the kernel ``w(d) = clip(c - d + 1, 0, 1)``,
so a non-integer cutoff is the exact average of the cutoffs ``floor(c)`` and
``floor(c) + 1`` (weights ``1 - frac``, ``frac``): results are continuous and piecewise
linear in the cutoff, with a gradient. Cost per join: ``O(L log L)``; a chain costs
``log2 N`` joins (nested, equal links: a ``lax.scan`` over levels) or ``N - 1``
(sequential: a ``lax.scan`` over links). The pair state stays a two-qubit object.

Joins as bilinear maps. A swap and a purification round are both maps of two pairs to one, bilinear in them;
on weighted Bell-diagonal pairs ``u = P (1, c)`` each is a tensor ``T`` ``(4, 4, 4)``
(:func:`ionjax.network.pairs.pair_tensor`), derived from the library's density-matrix functions
(:func:`ionjax.network.entanglement_swap`, :func:`~ionjax.network.dejmps`, :func:`~ionjax.network.bbpssw`)
evaluated on the 16 pairs of Bell states; its first output is the join's success probability, which for a
purification depends on the pairs (and so on the age difference). The windowed sums above are linear in ``u``,
so a join stays exact on the grid: success ``B(u_A win, u_B) + B(u_A, u_B win) - B(u_A, u_B)``, the join's own
failure ``attempt - success_0``, then the renewal.

Purification (``purification_rounds[l]`` rounds at nesting level ``l``): a round purifies a block's pair with an
independent copy made at the same time (a second set of memories), with the nodes' ``gate_error`` and
``readout_error``; the two ends compare their readouts, so success and failure are known one light time of the
block's fiber later (a delay on the grid) and the kept pair decays meanwhile. Pairs enter a round twirled
(Bell-diagonal), exact without T1; with T1 the single-qubit terms the twirl drops are second order as for swaps
(the Monte Carlo keeps them). Memory transfer (``transfer_error``) depolarizes both qubits of each link's pair
once; dynamical decoupling (``decoupling_t2_s``) replaces the dephasing time.

The end-to-end figures: the pair is delivered at ``T``; rate ``1 / E[T]`` (the chain
restarts after each delivery), fidelity ``(1 + sum E[c]) / 4``. The delivered state is
the Bell-diagonal average pair. :func:`ionjax.network.chain_monte_carlo` simulates the same protocol
event by event (JAX, full two-qubit states) as a cross-check.

Memory noise, the link's memory channel (:func:`ionjax.link.program.memory_channel`): a stored qubit's
population relaxes to ``|0>`` with ``t1_s``, and its coherence decays as ``exp(-t / (2 T1))`` times the
dephasing with ``t2_s`` (exponential, or Gaussian for quasi-static noise). On a Bell-diagonal pair stored for
``t`` (both qubits) that is ``c_x, c_y -> a c_x`` and ``c_z -> (1 - gamma)^2 c_z - gamma^2`` (``gamma = 1 -
e^{-t/T1}``), exact. Amplitude damping also creates single-qubit ``<Z>`` terms, which the Bell-diagonal form
drops; they re-enter a later swap's ``<ZZ>`` only as a product of the two outer qubits' terms, so the dropped
part is second order: at most ``gamma_A gamma_C / 4`` in fidelity per swap (``gamma`` each outer qubit's
relaxation probability before it). A swap of a stored pair with a fresh one (one swap, no herald delay) is
exact. The Gaussian shape counts each wait from zero (exact for one swap without latency; deeper, or with the
herald's travel before the wait, it underestimates the decay of qubits already aged).

Time and messages (``length_km``, ``latency``, ``pipelined``): a link's herald reaches its nodes ``L / c``
after the emission (``c`` = :data:`FIBER_LIGHT_SPEED_KM_S`); a round lasts ``1/R + L/c`` (the nodes wait), or
with pipelining rounds follow at ``R`` and each delivery is shifted by ``L / c`` on the grid; the pair's
qubits decay during the flight, and the end qubits while the last join's swap outcome travels to the farther
end (:func:`_message_time`). An elementary pair's cutoff counts from its true herald, the detection at the
station, half its flight before the nodes learn of it (its window is shorter by ``L / 2c``); a swapped or
purified pair's counts from its making. ``multiplexing = k`` memories per node
and link attempt together: a round heralds with ``1 - (1 - p)^k`` and the first success is used (exact).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.state import DensityMatrix
from ..errors import ConfigError
from ..link.program import memory_channel
from .ops import depolarize
from .pairs import (
    PAIR_SPACE,
    elementary_link,
    fidelity_from_correlators,
    is_number_tuple,
    pair_tensor,
    pauli_correlators,
    state_from_correlators,
    werner_state,
)
from .purify import PURIFICATIONS, purification_tensor
from .swap import _swap, swap_factor
from .waiting import geometric_pmf

__all__ = ["ChainResult", "GridWarning", "repeater_chain", "grid_error",
           "SCHEDULES", "FIBER_LIGHT_SPEED_KM_S", "DEFAULT_GRID_SIZE", "MAX_AUTO_GRID_SIZE", "GRID_TOLERANCE"]

SCHEDULES = ("nested", "sequential")
MEMORY_DECAYS = ("exponential", "gaussian")
#: Light in optical fiber, km/s (group index ~1.5): herald and swap messages travel at this speed.
FIBER_LIGHT_SPEED_KM_S = 2.0e5
#: Steps of the time grid when ``grid_size`` is left out (the automatic grid starts here).
DEFAULT_GRID_SIZE = 4096
#: The automatic grid stops doubling here (and warns if that is still too coarse).
MAX_AUTO_GRID_SIZE = 1 << 18
#: Largest accepted rounding excess of one link's mean wait on the grid (see :func:`grid_error`).
GRID_TOLERANCE = 0.01
#: Largest probability beyond the grid's horizon accepted without a warning.
TRUNCATION_TOLERANCE = 1e-6
_AUTO_TAIL = 1e-10
# with a cutoff, a step's rounding also moves age differences across the cutoff: calibrated against attempt-level
# grids, the rate error was up to ~3x one link's excess (without a cutoff, below half of it)
_CUTOFF_FACTOR = 4.0


class GridWarning(UserWarning):
    """The time grid is too coarse or too short for the waiting times: results are biased (the message says
    which value of ``grid_size`` / ``time_step_s`` would do)."""
_swap_factor = swap_factor  # jitted: compiled once, shared by every chain shape


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ChainResult:
    """End-to-end figures of a repeater chain. A pytree; arrays unbatched unless vmapped.

    Attributes:
        fidelity: average fidelity of the delivered pair to ``Psi+``.
        rate_hz: end-to-end pairs per second, ``1 / mean_waiting_time_s``.
        mean_waiting_time_s: expected time from a (re)start of the chain to the delivered pair.
        correlators: average Pauli correlators ``(3,)`` of the delivered pair.
        state: the average delivered pair (Bell-diagonal) on ``("ion_a", "ion_b")``.
        waiting_time_pmf: ``(grid_size,)``: probability that the pair arrives in step ``t``.
        time_step_s: the grid step.
        truncated_mass: probability beyond the grid (``1 - sum(waiting_time_pmf)``): keep it small.
        swap_factor: the factor ``(3,)`` of one noisy swap.
        grid_error: :func:`grid_error`, an estimated bound on the rate's relative error from the step (keep it
            below ``GRID_TOLERANCE``).
        n_links: number of elementary links (static).
        schedule: ``"nested"`` or ``"sequential"`` (static).
    """

    fidelity: jax.Array
    rate_hz: jax.Array
    mean_waiting_time_s: jax.Array
    correlators: jax.Array
    state: DensityMatrix
    waiting_time_pmf: jax.Array
    time_step_s: jax.Array
    truncated_mass: jax.Array
    swap_factor: jax.Array
    grid_error: jax.Array | None = None
    n_links: int = field(metadata=dict(static=True), default=1)
    schedule: str = field(metadata=dict(static=True), default="nested")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (floats; ``None`` where a figure is not finite, e.g. nothing on the grid)."""
        return {
            "n_links": self.n_links,
            "schedule": self.schedule,
            "fidelity": _finite(self.fidelity),
            "rate_hz": _finite(self.rate_hz),
            "mean_waiting_time_s": _finite(self.mean_waiting_time_s),
            "correlators": [_finite(x) for x in np.asarray(self.correlators)],
            "time_step_s": _finite(self.time_step_s),
            "grid_size": int(self.waiting_time_pmf.shape[-1]),
            "truncated_mass": _finite(self.truncated_mass),
            "grid_error": _finite(self.grid_error) if self.grid_error is not None else None,
        }


def _finite(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


# ----------------------------------------------------------------------------- inputs
def _link_arrays(links: Any, n_links: int | None) -> tuple[jax.Array, jax.Array, jax.Array, int, bool]:
    """(p (K,), rate (K,), correlators (K, 3), N, homogeneous) with K = 1 or N."""
    single = not isinstance(links, (list, tuple)) or is_number_tuple(links)
    if single:
        el = elementary_link(links)
        c = pauli_correlators(el.state)
        p = jnp.asarray(el.success_probability)
        rate = jnp.asarray(el.attempt_rate_hz)
        if p.ndim == 1:  # a stacked ElementaryLink: one entry per link
            if n_links is not None and n_links != p.shape[0]:
                raise ConfigError(f"n_links = {n_links} does not match the {p.shape[0]} stacked links.")
            return p, jnp.broadcast_to(rate, p.shape), c, int(p.shape[0]), False
        if n_links is None:
            n_links = 1
        return p[None], rate[None], c[None], _check_n(n_links), True
    if len(links) == 0:
        raise ConfigError("A repeater chain needs at least one link; `links` is empty.")
    if n_links is not None and n_links != len(links):
        raise ConfigError(f"n_links = {n_links} does not match the {len(links)} links given "
                          "(give one link and n_links, or a list of links).")
    els = [elementary_link(x) for x in links]
    p = jnp.stack([jnp.asarray(e.success_probability) for e in els])
    rate = jnp.stack([jnp.asarray(e.attempt_rate_hz) for e in els])
    c = jnp.stack([pauli_correlators(e.state) for e in els])
    return p, rate, c, len(els), len(els) == 1


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n_links must be an integer >= 1, got {n!r}.")
    return int(n)


def _is_concrete(*xs: Any) -> bool:
    return not any(isinstance(leaf, jax.core.Tracer) for x in xs for leaf in jax.tree_util.tree_leaves(x))


def _check_scalar(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> None:
    if not _is_concrete(value):
        return
    v = np.asarray(value, dtype=float)
    bad = np.isnan(v) | (v < lo) | (v > hi) | ((v == lo) if lo_open else False)
    if np.any(bad):
        lb = "(" if lo_open else "["
        raise ConfigError(f"{name} = {v if v.ndim else float(v)} is out of range: allowed {lb}{lo:g}, {hi:g}].")


# ----------------------------------------------------------------------------- the grid algorithm
def _damping(n_fft: int, dtype: Any) -> float:
    tail = 1e-12 if jnp.finfo(dtype).bits >= 64 else 1e-6
    return math.log(tail) / n_fft  # log rho


def _delayed(pmf: jax.Array, q: jax.Array, steps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The blocks ``(K, L)``, ``(K, L, 3)`` delayed by ``steps`` ``(K,)`` grid steps (:func:`_shift` per block)."""
    return jax.vmap(_shift)(pmf, steps), jax.vmap(_shift)(q, steps)


def _link_block(p_step: jax.Array, c: jax.Array, n_steps: int) -> tuple[jax.Array, jax.Array]:
    pmf = geometric_pmf(p_step, n_steps)
    return pmf, pmf[..., :, None] * c[..., None, :]


def _pair_decay(t: jax.Array, t1_s: jax.Array, t2_s: jax.Array, shape: str) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Both qubits of a Bell-diagonal pair stored for ``t`` s, with the link's memory channel
    (:func:`ionjax.link.program.memory_channel`: relaxation ``gamma = 1 - exp(-t / T1)`` to ``|0>``, coherence
    ``exp(-t / (2 T1))`` times the dephasing ``exp(-t / T2)`` or ``exp(-(t / T2)^2)``): ``c_x, c_y -> a c_x``
    (``a`` the two coherences' product), ``c_z -> b c_z - g`` with ``b = (1 - gamma)^2``, ``g = gamma^2``
    (``<ZZ> -> (1 - gamma)^2 <ZZ> + gamma^2``, exact for a Bell-diagonal pair, whose single-qubit ``<Z>`` are 0)."""
    gamma, coherence = memory_channel(t, t1_s, t2_s, shape)
    return coherence * coherence, (1.0 - gamma) ** 2, gamma * gamma


def _stored(c: jax.Array, t: jax.Array, t1_s: jax.Array, t2_s: jax.Array, shape: str) -> jax.Array:
    """Correlators ``(..., 3)`` after :func:`_pair_decay` for ``t`` ``(...)`` s."""
    a, b, g = _pair_decay(t, t1_s, t2_s, shape)
    return jnp.stack([a * c[..., 0], a * c[..., 1], b * c[..., 2] - g], axis=-1)


def _kernels(cut: jax.Array, dt: jax.Array, t1_s: jax.Array, t2_s: jax.Array, shape: str, n_steps: int,
             dtype: Any) -> jax.Array:
    """FFTs ``(5, L + 1)`` of the kernels ``w(d)`` (allowed age difference), ``g(d)`` (the cutoff fires after
    ``d`` steps), and ``w(d)`` times the stored pair's decay over ``d`` steps (:func:`_pair_decay`): ``a(d)``
    (on ``c_x, c_y``), ``b(d)`` (on ``c_z``) and ``g(d)`` (subtracted from ``c_z``, on the pmf)."""
    d = jnp.arange(n_steps, dtype=dtype)
    w = jnp.clip(cut - d + 1.0, 0.0, 1.0)
    g = w - jnp.clip(cut - d, 0.0, 1.0)
    a, b, gz = _pair_decay(d * dt, t1_s, t2_s, shape)
    return jnp.fft.rfft(jnp.stack([w, g, w * a, w * b, w * gz]), 2 * n_steps)


def _side(pmf: jax.Array, q: jax.Array, fk: jax.Array) -> jax.Array:
    """One block's windowed sums ``(5, L)``: ``P*w, P*g, Q_x*(w a), Q_y*(w a), Q_z*(w b) - P*(w g)``."""
    n_steps = pmf.shape[-1]
    fs = jnp.fft.rfft(jnp.stack([pmf, q[:, 0], q[:, 1], q[:, 2]]), 2 * n_steps)
    prods = jnp.stack([fs[0] * fk[0], fs[0] * fk[1], fs[1] * fk[2], fs[2] * fk[2], fs[3] * fk[3] - fs[0] * fk[4]])
    return jnp.fft.irfft(prods, 2 * n_steps)[:, :n_steps]


def _bilinear(u: jax.Array, v: jax.Array, tensor: jax.Array) -> jax.Array:
    """``out_o = sum_ij u_i v_j T[i, j, o]`` for weighted pairs ``(L, 4)`` (:func:`.pairs.pair_tensor`)."""
    return jnp.einsum("li,lj,ijo->lo", u, v, tensor)


def _shift(x: jax.Array, steps: jax.Array) -> jax.Array:
    """``x`` ``(L, ...)`` moved ``steps`` (a traced scalar, >= 0) grid steps later; a fractional shift mixes the
    two neighbouring whole shifts (continuous, with a gradient)."""
    n_steps = x.shape[0]
    whole = jnp.floor(steps)
    frac = steps - whole
    idx = jnp.arange(n_steps) - whole.astype(jnp.int32)

    def at(k: jax.Array) -> jax.Array:
        got = jnp.take(x, jnp.clip(k, 0, n_steps - 1), axis=0)
        return jnp.where((k >= 0).reshape((-1,) + (1,) * (x.ndim - 1)), got, 0.0)

    return (1.0 - frac) * at(idx) + frac * at(idx - 1)


def _merge(pa: jax.Array, qa: jax.Array, sa: jax.Array, pb: jax.Array, qb: jax.Array, sb: jax.Array,
           tensor: jax.Array, message: tuple[jax.Array, jax.Array, jax.Array, jax.Array] | None = None
           ) -> tuple[jax.Array, jax.Array]:
    """Join two blocks (pmf ``(L,)``, correlator-weighted pmf ``(L, 3)``, windowed sums ``(5, L)``) by a swap or a
    purification round: the bilinear map ``tensor`` ``(4, 4, 4)`` (:func:`ionjax.network.pairs.pair_tensor`)
    on the weighted pairs ``(P, Q)``, whose first output is the probability that the join succeeds.

    A join is attempted at ``t`` when a block delivered at ``t`` meets one delivered ``d <= cut`` steps earlier
    (that one's pair decayed over ``d``: the windowed sums); ``d = 0`` is counted once (hence the ``- a b`` terms;
    the kernels are 1 at ``d = 0``). It fails when the cutoff fires first, or with the join's own failure
    probability. ``message = (steps, a, b, g)``: the outcome is known ``steps`` later (a purification's
    exchange between the two ends) and the kept pair decays meanwhile (:func:`_pair_decay`'s factors).
    """
    n_steps = pa.shape[-1]
    n_fft = 2 * n_steps
    ua, ub = jnp.concatenate([pa[:, None], qa], axis=1), jnp.concatenate([pb[:, None], qb], axis=1)
    wa = jnp.stack([sa[0], sa[2], sa[3], sa[4]], axis=-1)
    wb = jnp.stack([sb[0], sb[2], sb[3], sb[4]], axis=-1)
    out = _bilinear(wa, ub, tensor) + _bilinear(ua, wb, tensor) - _bilinear(ua, ub, tensor)  # (L, 4)
    attempt = pb * sa[0] + pa * sb[0] - pa * pb
    tail_a, tail_b = 1.0 - jnp.cumsum(pa), 1.0 - jnp.cumsum(pb)
    failed = attempt - out[:, 0]  # the join's own failure (a Bell measurement, a purification's disagreement)
    if message is not None:
        steps, a, b, g = message
        out = jnp.stack([out[:, 0], a * out[:, 1], a * out[:, 2], b * out[:, 3] - g * out[:, 0]], axis=-1)
        out, failed = _shift(out, steps), _shift(failed, steps)
    fail = tail_b * sa[1] + tail_a * sb[1] + failed
    # renewal T = S / (1 - F) by a damped FFT (rho^t suppresses the wrap-around)
    log_rho = _damping(n_fft, pa.dtype)
    damp = jnp.exp(log_rho * jnp.arange(n_steps, dtype=pa.dtype))
    num = jnp.fft.rfft(out.T * damp, n_fft)
    den = 1.0 - jnp.fft.rfft(fail * damp, n_fft)
    res = jnp.fft.irfft(num / den, n_fft)[:, :n_steps] / damp
    return res[0], res[1:].T


def _levels(schedule: str, n_links: int) -> int:
    """Nesting levels at which a chain's blocks can be purified: level 0 holds the elementary links; nested: level
    ``l`` the blocks of ``2^l`` links (``log2 N + 1`` levels), sequential: level ``k`` the growing block of ``k + 1``
    links (``N`` levels)."""
    return int(math.log2(n_links)) + 1 if schedule == "nested" else n_links


@partial(jax.jit, static_argnames=("n_links", "homogeneous", "schedule", "grid_size", "memory_decay",
                                   "purification", "rounds"))
def _chain_core(p: jax.Array, rate: jax.Array, c: jax.Array, herald_s: jax.Array, message_s: jax.Array,
                delay_s: jax.Array, lengths: jax.Array, cutoff_s: jax.Array, t1_s: jax.Array, t2_s: jax.Array,
                gate_error: jax.Array, readout_error: jax.Array, q_swap: jax.Array, dt: jax.Array, *,
                n_links: int, homogeneous: bool, schedule: str, grid_size: int, memory_decay: str,
                purification: str = "dejmps", rounds: tuple[int, ...] = ()) -> ChainResult:
    dtype = jnp.result_type(p.dtype, dt.dtype, jnp.float32)
    p, rate, c = p.astype(dtype), rate.astype(dtype), c.astype(dtype)
    p_step = -jnp.expm1(rate * dt * jnp.log1p(-jnp.clip(p, 0.0, 1.0 - 1e-15)))
    # each link's pair has aged by its herald's travel before the nodes know of it
    c = _stored(c, herald_s.astype(dtype), t1_s, t2_s, memory_decay)
    finite = jnp.isfinite(cutoff_s)
    cut = jnp.where(finite, jnp.minimum(jnp.where(finite, cutoff_s, 0.0) / dt, grid_size + 1.0), grid_size + 1.0)
    s = _swap_factor(gate_error, readout_error).astype(dtype)
    t_swap = (q_swap * pair_tensor(partial(_swap, gate_error=gate_error, readout_error=readout_error))).astype(dtype)
    fk = _kernels(cut, dt, t1_s, t2_s, memory_decay, grid_size, dtype)
    side = partial(_side, fk=fk)
    # an elementary pair's cutoff counts from its true herald (the detection at the station, in the middle),
    # half its flight before the nodes learn of it: its window is that much shorter
    age = 0.5 * herald_s.astype(dtype) / dt
    cut0 = jnp.where(finite, jnp.maximum(cut - age, -1.0), cut)
    fk0 = jax.vmap(lambda x: _kernels(x, dt, t1_s, t2_s, memory_decay, grid_size, dtype))(cut0)  # (K, 5, L + 1)

    def link_sides(pm: jax.Array, qm: jax.Array) -> jax.Array:
        """Windowed sums ``(K, 5, L)`` of elementary links (their own cutoff windows)."""
        return jax.vmap(_side)(pm, qm, jnp.broadcast_to(fk0, (pm.shape[0],) + fk0.shape[1:]))

    swap = partial(_merge, tensor=t_swap)
    blocks = _link_block(p_step, c, grid_size)  # (K, L), (K, L, 3)
    blocks = _delayed(*blocks, delay_s / dt)  # pipelined attempts: each herald is known a fixed delay later
    lengths = lengths.astype(dtype)
    if any(rounds):
        t_pur = purification_tensor(purification, gate_error, readout_error).astype(dtype)

        def purify(pmf: jax.Array, q: jax.Array, span_km: jax.Array, sd: jax.Array) -> tuple[jax.Array, jax.Array]:
            # the two ends compare their readouts: the kept pair is known (and decays) a light time later
            wait = span_km / FIBER_LIGHT_SPEED_KM_S
            return _merge(pmf, q, sd, pmf, q, sd, t_pur, (wait / dt, *_pair_decay(wait, t1_s, t2_s, memory_decay)))

        pmf, q = _purified_chain(blocks, lengths, side, link_sides, swap, purify, rounds, n_links, homogeneous,
                                 schedule)
    elif n_links == 1:
        pmf, q = blocks[0][0], blocks[1][0]
    elif schedule == "nested" and homogeneous:
        sd0 = link_sides(*blocks)[0]
        first = swap(blocks[0][0], blocks[1][0], sd0, blocks[0][0], blocks[1][0], sd0)

        def level(carry: tuple, _: Any) -> tuple:
            sd = side(*carry)
            return swap(*carry, sd, *carry, sd), None

        (pmf, q), _ = jax.lax.scan(level, first, None, length=int(math.log2(n_links)) - 1)
    elif schedule == "nested":
        pm, qm = blocks
        sd = link_sides(pm, qm)
        while pm.shape[0] > 1:
            pm, qm = jax.vmap(swap)(pm[0::2], qm[0::2], sd[0::2], pm[1::2], qm[1::2], sd[1::2])
            sd = jax.vmap(side)(pm, qm)
        pmf, q = pm[0], qm[0]
    else:  # sequential: the growing block joins link k + 1; the links' windowed sums are computed once
        sides = link_sides(*blocks)
        k1 = 0 if homogeneous else 1
        first = swap(blocks[0][0], blocks[1][0], sides[0], blocks[0][k1], blocks[1][k1], sides[k1])
        if homogeneous:
            link = (blocks[0][0], blocks[1][0], sides[0])

            def step(carry: tuple, _: Any) -> tuple:
                return swap(*carry, side(*carry), *link), None

            (pmf, q), _ = jax.lax.scan(step, first, None, length=n_links - 2)
        else:
            def step(carry: tuple, link: tuple) -> tuple:
                return swap(*carry, side(*carry), *link), None

            (pmf, q), _ = jax.lax.scan(step, first, (blocks[0][2:], blocks[1][2:], sides[2:]))
    total = jnp.sum(pmf)
    safe = jnp.where(total > 0, total, 1.0)
    # the swap outcomes reach the end nodes after the delivery: the end qubits dephase meanwhile
    corr = _stored(jnp.sum(q, axis=0) / safe, message_s.astype(dtype), t1_s, t2_s, memory_decay)
    steps = jnp.arange(grid_size, dtype=dtype)
    mean_t = jnp.sum(steps * pmf) / safe * dt
    return ChainResult(
        fidelity=fidelity_from_correlators(corr),
        rate_hz=1.0 / mean_t,
        mean_waiting_time_s=mean_t,
        correlators=corr,
        state=state_from_correlators(corr),
        waiting_time_pmf=pmf,
        time_step_s=dt,
        truncated_mass=jnp.maximum(1.0 - total, 0.0),  # round-off can make 1 - total slightly negative
        swap_factor=s,
        grid_error=_rounding_excess(jnp.clip(p, 0.0, 1.0 - 1e-15), rate * dt, p_step)
        * jnp.where(finite, _CUTOFF_FACTOR, 1.0),
        n_links=n_links,
        schedule=schedule,
    )


def _purified_chain(blocks: tuple[jax.Array, jax.Array], lengths: jax.Array, side: Any, link_sides: Any,
                    swap: Any, purify: Any, rounds: tuple[int, ...], n_links: int, homogeneous: bool,
                    schedule: str) -> tuple[jax.Array, jax.Array]:
    """The schedule with ``rounds[l]`` purification rounds at nesting level ``l`` (:func:`_levels`; unrolled):
    each round purifies the level's block with an independent copy of it (made at the same time, on a second set
    of memories), then the blocks are swapped as without purification. Elementary links join with their own
    cutoff windows (``link_sides``); a purified or swapped pair's cutoff counts from its making (``side``)."""
    rounds = tuple(rounds) + (0,) * (_levels(schedule, n_links) - len(rounds))
    pm, qm = blocks
    span = lengths
    sides = link_sides  # raw links until they are purified
    if schedule == "nested":
        for level, r in enumerate(rounds):
            for _ in range(r):
                pm, qm = jax.vmap(purify)(pm, qm, span, sides(pm, qm))
                sides = jax.vmap(side)
            if level == len(rounds) - 1:
                break
            sd = sides(pm, qm)
            sides = jax.vmap(side)
            if homogeneous:
                pm, qm = jax.vmap(swap)(pm, qm, sd, pm, qm, sd)
                span = 2.0 * span
            else:
                pm, qm = jax.vmap(swap)(pm[0::2], qm[0::2], sd[0::2], pm[1::2], qm[1::2], sd[1::2])
                span = span[0::2] + span[1::2]
        return pm[0], qm[0]
    links_p, links_q = pm, qm
    for _ in range(rounds[0]):
        links_p, links_q = jax.vmap(purify)(links_p, links_q, span, sides(links_p, links_q))
        sides = jax.vmap(side)
    link_sd = sides(links_p, links_q)
    k_of = (lambda k: 0) if homogeneous else (lambda k: k)
    pmf, q = links_p[0], links_q[0]
    block_sd = link_sd[0]
    total = span[0]
    for k in range(1, n_links):
        j = k_of(k)
        pmf, q = swap(pmf, q, block_sd, links_p[j], links_q[j], link_sd[j])
        total = total + span[j]
        for _ in range(rounds[k]):
            pmf, q = purify(pmf, q, total, side(pmf, q))
        block_sd = side(pmf, q)
    return pmf, q


def _rounding_excess(p: Any, m: Any, p_step: Any) -> Any:
    """``max_i |m_i p_i / p_step_i - 1|``: how much the grid lengthens one link's mean wait (works on numpy and
    jax arrays)."""
    xp = jnp if isinstance(p_step, jax.Array) else np
    ratio = m * p / xp.where(p_step > 0, p_step, 1.0)
    return xp.max(xp.abs(xp.where(p_step > 0, ratio, 1.0) - 1.0))


def grid_error(links: Any, time_step_s: Any, n_links: int | None = None, cutoff_s: Any = np.inf) -> float:
    """An estimated bound on the relative rate error of a repeater chain on a grid of step ``time_step_s`` (see
    the module docstring): the largest excess of one link's mean wait, ``max_i m_i p_i / (1 - (1 - p_i)^m_i) - 1``
    with ``m_i = attempt_rate_hz_i * time_step_s``, times 4 with a finite cutoff.

    0 when the step is one attempt of every link. Links as for :func:`repeater_chain`.
    """
    p, rate, _, _, _ = _link_arrays(links, n_links)
    p = np.clip(np.asarray(p, float), 0.0, 1.0 - 1e-15)
    m = np.asarray(rate, float) * float(time_step_s)
    factor = _CUTOFF_FACTOR if np.isfinite(float(cutoff_s)) else 1.0
    return float(_rounding_excess(p, m, -np.expm1(m * np.log1p(-p)))) * factor


def repeater_chain(links: Any, n_links: int | None = None, *, schedule: str = "nested", cutoff_s: Any = jnp.inf,
                   t2_s: Any = jnp.inf, gate_error: Any = 0.0, readout_error: Any = 0.0,
                   swap_success_probability: Any = 1.0, time_step_s: Any = "auto",
                   grid_size: int | None = None, multiplexing: int = 1, length_km: Any = 0.0,
                   latency: bool = True, pipelined: bool = False, t1_s: Any = jnp.inf,
                   memory_decay: str = "exponential", purification: str = "dejmps",
                   purification_rounds: Any = (), transfer_error: Any = 0.0,
                   decoupling_t2_s: Any = jnp.inf) -> ChainResult:
    """End-to-end fidelity and rate of a repeater chain, with exact waiting-time statistics on a grid.

    Args:
        links: one link repeated ``n_links`` times, or a list of N links. A link is a ``Link``, a
            ``LinkResult``, an :class:`~ionjax.network.ElementaryLink` (one with leading axis N gives
            N different links) or numbers ``(fidelity, success_probability[, attempt_rate_hz])``.
        n_links: number of links (with a single link); default 1.
        schedule: ``"nested"`` (N a power of 2) or ``"sequential"``.
        cutoff_s: memory cutoff in seconds (float; a traced value has a gradient); ``inf`` for none. An
            elementary pair's age counts from its herald at the station (``L / 2c`` before its nodes know it).
        t2_s: dephasing time of a stored qubit (its coherence decays by ``exp(-t / T2)``, or ``exp(-(t/T2)^2)``
            with ``memory_decay="gaussian"``, quasi-static noise, on top of ``exp(-t / (2 T1))``: the link
            file's node keys mean the same); ``inf`` for none.
        t1_s: energy relaxation time of a stored qubit (amplitude damping to ``|0>``); ``inf`` for none. The
            pairs stay Bell-diagonal (see the module docstring for what that drops).
        memory_decay: ``"exponential"`` or ``"gaussian"``, the shape of the T2 decay.
        gate_error, readout_error: a swap's CNOT depolarizing probability and readout bit flip.
        swap_success_probability: probability that a Bell measurement succeeds (1 for ions).
        multiplexing: memory qubits (or time-multiplexed modes) per node and link attempting together in each
            round; the chain takes the first success, so a round heralds with ``1 - (1 - p)^k`` (exact).
        length_km: fiber between each link's two nodes, km (scalar or one per link; the detection station in
            the middle). With ``latency``, light takes ``L / c`` (``c`` = :data:`FIBER_LIGHT_SPEED_KM_S`) from
            an emission to its herald at the nodes, and the pair's qubits dephase for it; swap outcomes travel to
            the end nodes from the node of the last join, and the end qubits dephase while they do.
            A link simulated from a link file whose nodes set ``qubit_t2_s`` has already dephased its ions
            during the herald's wait: the chain then ages them again for ``L / c`` with its own memory (a
            double count of order ``2 L / (c T2)``); leave the link's ``qubit_t2_s`` at inf when the chain's
            memories model the wait.
        latency: False: messages are instantaneous (``length_km`` is ignored).
        pipelined: False (default): an attempt round lasts ``1 / attempt_rate_hz + L / c`` (the nodes wait for
            the herald before trying again). True: rounds follow at ``attempt_rate_hz`` and each herald is known
            ``L / c`` later (needs as many memories as rounds in flight; ionjax does not count them).
        purification: ``"dejmps"`` (default) or ``"bbpssw"``, the protocol of the purification rounds
            (:func:`ionjax.network.dejmps` / :func:`~ionjax.network.bbpssw`, with ``gate_error`` and
            ``readout_error``).
        purification_rounds: rounds per nesting level (integers >= 0; level 0 = the elementary links; nested:
            level ``l`` = blocks of ``2^l`` links, up to the end-to-end pair at ``log2 N``; sequential: level
            ``k`` = the growing block of ``k + 1`` links); missing levels have none. A round purifies a block's
            pair with an independent copy (made at the same time on a second set of memories); the ends compare
            readouts, so the kept pair is known, and decays, one light time of the block's fiber later.
        transfer_error: depolarizing probability of moving each node's network qubit into its memory qubit
            (another species) after the herald, e.g. a swap gate's error; ``t1_s``/``t2_s`` are then the
            memory's. Each link's pair gets it on both qubits (:func:`ionjax.network.depolarize`).
        decoupling_t2_s: effective dephasing time under dynamical decoupling; when finite it replaces ``t2_s``
            for every stored qubit.
        time_step_s: the grid step in seconds, or ``"auto"`` (needs concrete numbers; under
            ``jit``/``grad``/``vmap`` pass a number, e.g. the ``time_step_s`` of an ``"auto"`` result).
        grid_size: number of time steps (static, >= 16), or None (default): with ``time_step_s="auto"``,
            :data:`DEFAULT_GRID_SIZE` doubled until the step rounds no link's mean wait by more than
            ``GRID_TOLERANCE`` and resolves the cutoff (see the module docstring); with a numeric
            ``time_step_s``, :data:`DEFAULT_GRID_SIZE`.

    Returns:
        :class:`ChainResult` (unbatched; batch with ``jax.vmap``).

    Raises:
        ConfigError (a ValueError): no links, N not a power of 2 for ``"nested"``, a cutoff <= 0, values
        out of range, or ``time_step_s="auto"`` with traced numbers.

    Warns:
        GridWarning: with concrete numbers, when the grid is too coarse (:func:`grid_error` above
        ``GRID_TOLERANCE``), resolves the cutoff to fewer than 4 steps, or misses more than ``1e-6`` of the
        waiting-time distribution; the message names the ``grid_size`` / ``time_step_s`` that would do.

    Example (float64):
        >>> from ionjax.network import repeater_chain
        >>> res = repeater_chain((0.95, 0.1, 1e6), n_links=4, t2_s=1e-3, cutoff_s=20e-6)
        >>> round(float(res.fidelity), 3), round(float(res.rate_hz)), float(res.time_step_s)
        (0.804, 42923, 1e-06)
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule = {schedule!r} is not known; allowed: {', '.join(SCHEDULES)}.")
    auto_grid = grid_size is None
    if auto_grid:
        grid_size = DEFAULT_GRID_SIZE
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 16:
        raise ConfigError(f"grid_size must be an integer >= 16 (or None: chosen automatically), got {grid_size!r}.")
    grid_size = int(grid_size)
    p, rate, c, n, homogeneous = _link_arrays(links, n_links)
    if schedule == "nested" and n & (n - 1):
        raise ConfigError(f"The nested schedule needs a power-of-2 number of links, got n_links = {n}; "
                          "use schedule='sequential' or pad the chain.")
    _check_scalar("cutoff_s", cutoff_s, 0.0, np.inf, lo_open=True)
    _check_scalar("t2_s", t2_s, 0.0, np.inf, lo_open=True)
    _check_scalar("t1_s", t1_s, 0.0, np.inf, lo_open=True)
    if memory_decay not in MEMORY_DECAYS:
        raise ConfigError(f"memory_decay = {memory_decay!r} is not known; allowed: {', '.join(MEMORY_DECAYS)}.")
    _check_scalar("gate_error", gate_error, 0.0, 1.0)
    _check_scalar("readout_error", readout_error, 0.0, 1.0)
    _check_scalar("swap_success_probability", swap_success_probability, 0.0, 1.0, lo_open=True)
    _check_scalar("success_probability", p, 0.0, 1.0, lo_open=True)
    if isinstance(multiplexing, bool) or not isinstance(multiplexing, (int, np.integer)) or multiplexing < 1:
        raise ConfigError(f"multiplexing must be an integer >= 1 (memory qubits attempting per round), got "
                          f"{multiplexing!r}.")
    _check_scalar("length_km", length_km, 0.0, np.inf)
    _check_scalar("transfer_error", transfer_error, 0.0, 1.0)
    _check_scalar("decoupling_t2_s", decoupling_t2_s, 0.0, np.inf, lo_open=True)
    rounds = _check_rounds(purification, purification_rounds, schedule, n)
    fdt = jnp.result_type(float)
    p, rate, c = (jnp.asarray(x, fdt) for x in (p, rate, c))
    c = c * _transfer_factor(jnp.asarray(transfer_error, fdt))
    t2_s = jnp.where(jnp.isfinite(decoupling_t2_s), decoupling_t2_s, t2_s)
    if np.ndim(length_km) and np.shape(length_km) not in ((n,), (1,)):
        raise ConfigError(f"length_km must be one number or one per link ({n}), got shape {np.shape(length_km)}.")
    lengths = jnp.broadcast_to(jnp.asarray(length_km, fdt), (n,)) if latency else jnp.zeros((n,), fdt)
    if homogeneous and _is_concrete(lengths) and np.ptp(np.asarray(lengths)) > 0:
        raise ConfigError("length_km gives different lengths for copies of one link; give a list of links.")
    p, rate, flight_k, delay = _rounds(p, rate, lengths[:1] if homogeneous else lengths, multiplexing, pipelined)
    args = (flight_k, _message_time(lengths, schedule), delay, lengths[:1] if homogeneous else lengths,
            jnp.asarray(cutoff_s, fdt), jnp.asarray(t1_s, fdt), jnp.asarray(t2_s, fdt),
            jnp.asarray(gate_error, fdt), jnp.asarray(readout_error, fdt), jnp.asarray(swap_success_probability, fdt))

    def core(dt: Any, size: int) -> ChainResult:
        return _chain_core(p, rate, c, *args, jnp.asarray(dt, fdt), n_links=n, homogeneous=homogeneous,
                           schedule=schedule, grid_size=size, memory_decay=memory_decay, purification=purification,
                           rounds=rounds)

    concrete = _is_concrete(p, rate, c, *args)
    if isinstance(time_step_s, str):
        if time_step_s != "auto":
            raise ConfigError(f"time_step_s must be a number of seconds or 'auto', got {time_step_s!r}.")
        if not concrete:
            raise ConfigError(
                "time_step_s='auto' needs concrete numbers, but some are traced (inside jit, grad or vmap). "
                "Pass time_step_s explicitly, e.g. the time_step_s of repeater_chain(...) run once outside.")
        pn, rn = np.asarray(p), np.asarray(rate)
        res = _auto(core, pn, rn, n, grid_size)
        cut = float(cutoff_s)
        while auto_grid and grid_size < MAX_AUTO_GRID_SIZE:
            dt = float(res.time_step_s)
            target = _dt_target(pn, rn, cut)
            if dt <= target * (1 + 1e-9):
                break
            grid_size = min(MAX_AUTO_GRID_SIZE, max(2 * grid_size, _pow2_at_least(grid_size * dt / target)))
            res = _auto(core, pn, rn, n, grid_size)
        _warn_grid(res, pn, rn, cut, grid_size, auto_grid, auto_dt=True)
        return res
    _check_scalar("time_step_s", time_step_s, 0.0, np.inf, lo_open=True)
    if concrete and _is_concrete(time_step_s) and not np.isfinite(float(time_step_s)):
        raise ConfigError(f"time_step_s = {float(time_step_s)} is out of range: allowed (0, inf) s; give a number "
                          "of seconds or 'auto'.")
    res = core(time_step_s, grid_size)
    if concrete and _is_concrete(time_step_s):
        _warn_grid(res, np.asarray(p), np.asarray(rate), float(cutoff_s), grid_size, auto_grid, auto_dt=False)
    return res


def _check_rounds(purification: str, rounds: Any, schedule: str, n: int) -> tuple[int, ...]:
    """``purification_rounds`` as a tuple of ints, trailing zeros dropped (a static argument)."""
    if purification not in PURIFICATIONS:
        raise ConfigError(f"purification = {purification!r} is not known; allowed: {', '.join(PURIFICATIONS)}.")
    levels = _levels(schedule, n)
    vals = list(np.atleast_1d(np.asarray(rounds, dtype=object))) if not isinstance(rounds, (list, tuple)) \
        else list(rounds)
    for i, r in enumerate(vals):
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
            raise ConfigError(f"purification_rounds[{i}] = {r!r} must be an integer >= 0 (rounds at nesting level "
                              f"{i}).")
    if len(vals) > levels:
        raise ConfigError(f"purification_rounds has {len(vals)} levels, but a {schedule} chain of {n} links has "
                          f"{levels} (0 to {levels - 1}; level 0 = the elementary links).")
    while vals and vals[-1] == 0:
        vals.pop()
    return tuple(int(r) for r in vals)


@jax.jit
def _transfer_factor(error: jax.Array) -> jax.Array:
    """Factor ``(3,)`` on a pair's correlators when both its qubits are moved into memory with depolarizing
    probability ``error`` each (:func:`ionjax.network.depolarize` on a perfect pair)."""
    pair = werner_state(1.0)
    for q in PAIR_SPACE.names:
        pair = depolarize(pair, (q,), error)
    return pauli_correlators(pair)


def _rounds(p: Any, rate: Any, lengths: Any, multiplexing: int, pipelined: bool) -> tuple[Any, Any, Any, Any]:
    """Per link (numpy or jax arrays): the success per round with ``multiplexing`` memories, the rounds per
    second, the herald's flight ``L / c`` (s) and the delivery's delay (s; pipelined rounds only)."""
    xp = jnp if any(isinstance(x, jax.Array) for x in (p, rate, lengths)) else np
    flight = lengths / FIBER_LIGHT_SPEED_KM_S
    if multiplexing > 1:
        p = -xp.expm1(multiplexing * xp.log1p(-xp.clip(p, 0.0, 1.0 - 1e-15)))
    if not pipelined:
        rate = 1.0 / (1.0 / rate + flight)
    return p, rate, flight, flight if pipelined else xp.zeros_like(flight)


def _message_time(lengths: jax.Array, schedule: str) -> jax.Array:
    """Seconds from the last join's swap to its outcome at the farther end node (the middle node for
    ``"nested"``, the last inner node for ``"sequential"``; 0 for one link). Exact when the earlier swaps'
    outcomes arrive first (they are made earlier: by a link's waiting time, usually much longer than the
    chain's light time); otherwise the end nodes wait longer than this."""
    n = lengths.shape[0]
    if n == 1:
        return jnp.zeros((), lengths.dtype)
    j = n // 2 if schedule == "nested" else n - 1
    x = jnp.sum(lengths[:j])
    return jnp.maximum(x, jnp.sum(lengths) - x) / FIBER_LIGHT_SPEED_KM_S


def _dt_target(p: np.ndarray, rate: np.ndarray, cutoff: float) -> float:
    """The largest step the automatic grid accepts: rounding excess <= GRID_TOLERANCE, cutoff in >= 4 steps
    (never below one attempt of the fastest link, which is exact)."""
    dt0 = 1.0 / float(np.max(rate))
    pc = np.clip(p, 1e-300, 1.0 - 1e-15)
    tol = GRID_TOLERANCE / (_CUTOFF_FACTOR if math.isfinite(cutoff) else 1.0)
    lo, hi = dt0, dt0 * (1.0 + 2.0 * tol / float(np.min(pc))) * 4.0
    for _ in range(60):  # bisection on the exact excess (monotone in the step)
        mid = math.sqrt(lo * hi)
        m = rate * mid
        if _rounding_excess(pc, m, -np.expm1(m * np.log1p(-pc))) <= tol:
            lo = mid
        else:
            hi = mid
    target = lo
    if math.isfinite(cutoff):
        target = min(target, cutoff / 4.0)
    return max(target, dt0)


def _pow2_at_least(x: float) -> int:
    return 1 << max(4, math.ceil(math.log2(max(x, 16.0))))


def _warn_grid(res: ChainResult, p: np.ndarray, rate: np.ndarray, cutoff: float, grid_size: int, auto_grid: bool,
               auto_dt: bool) -> None:
    """GridWarning for a grid that is too coarse, resolves the cutoff badly, or is too short."""
    dt = float(res.time_step_s)
    err = float(res.grid_error)
    how = "time_step_s='auto' chose" if auto_dt else "time_step_s ="
    if err > GRID_TOLERANCE * (1 + 1e-9):
        target = _dt_target(p, rate, cutoff)
        if auto_dt:
            need = _pow2_at_least(grid_size * dt / target)
            fix = (f"raise grid_size to >= {need}" if not auto_grid else
                   f"the automatic grid stopped at its largest size {grid_size} (it would need grid_size >= {need})")
        else:
            fix = f"use time_step_s <= {target:.3g} s (with a grid_size that covers the waiting times), or 'auto'"
        warnings.warn(f"grid_size = {grid_size} with {how} {dt:.3g} s is too coarse for this chain: a step holds "
                      f"{float(np.max(rate)) * dt:.3g} attempts, and rounding deliveries to a step makes the rate "
                      f"wrong by up to about {100 * err:.3g}% (tolerance {100 * GRID_TOLERANCE:g}%); {fix}.",
                      GridWarning, stacklevel=3)
    if math.isfinite(cutoff) and dt > cutoff / 4 and dt > 1.0 / float(np.max(rate)) * (1 + 1e-9):
        if auto_dt:
            need = _pow2_at_least(grid_size * dt * 4 / cutoff)
            fix = f"raise grid_size to >= {need}" + (" (above the automatic grid's largest size)" if auto_grid else "")
        else:
            fix = f"use time_step_s <= {cutoff / 4:.3g} s"
        warnings.warn(f"grid_size = {grid_size} with {how} {dt:.3g} s resolves the cutoff {cutoff:.3g} s only to "
                      f"{cutoff / dt:.2g} steps (ages are rounded to a step); {fix} for accuracy.",
                      GridWarning, stacklevel=3)
    lost = float(res.truncated_mass)
    if lost > TRUNCATION_TOLERANCE:
        lam = float(np.min(-np.log1p(-np.clip(p, 0.0, 1.0 - 1e-15)) * rate))
        tau = max(float(res.mean_waiting_time_s) if math.isfinite(float(res.mean_waiting_time_s)) else 0.0, 1 / lam)
        horizon = grid_size * dt + tau * math.log(max(lost, 1e-300) / _AUTO_TAIL)
        need = _pow2_at_least(horizon / dt)
        warnings.warn(f"grid_size = {grid_size} steps of {dt:.3g} s (a horizon of {grid_size * dt:.3g} s) misses "
                      f"probability {lost:.2g} of the waiting time beyond its end (tolerance "
                      f"{TRUNCATION_TOLERANCE:g}): the mean waiting time is underestimated and the rate overestimated. "
                      f"Use grid_size >= {need} (or a longer time_step_s, or time_step_s='auto').",
                      GridWarning, stacklevel=3)


def _auto(core: Any, p: np.ndarray, rate: np.ndarray, n: int, grid_size: int) -> ChainResult:
    dt0 = 1.0 / float(np.max(rate))
    lam = float(np.min(-np.log1p(-np.clip(p, 0.0, 1.0 - 1e-15)) * rate))  # slowest link, successes per second
    need = (math.log(n) - math.log(_AUTO_TAIL)) / lam
    k = max(0, math.ceil(math.log2(max(need / (grid_size * dt0), 1.0))))
    res = None
    for _ in range(48):
        res = core(dt0 * 2.0**k, grid_size)
        if float(res.truncated_mass) <= _AUTO_TAIL * 10:
            return res
        k += 1
    return res
