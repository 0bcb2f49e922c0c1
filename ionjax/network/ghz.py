"""GHZ states across several nodes, fused from heralded pairs at a central node, with a memory cutoff.

A star: the centre node holds one half ``c_i`` of each of ``k`` pairs, leaf node
``i`` the other half ``l_i`` (``k = n_nodes - 1`` links). Fusion, in B's frame
changed by X (``Psi+ -> Phi+``): the centre keeps ``c_1`` and, for ``i = 2 .. k``,
applies ``CNOT(c_1 -> c_i)`` (then depolarizing ``gate_error``), reads ``c_i`` in
the Z basis (bit flip ``readout_error``) and sends the result ``m`` to leaf ``i``,
which applies ``X^m``. The result is the ``n_nodes``-qubit GHZ state
``(|0...0> + |1...1>)/sqrt2`` on ``("center", "leaf_1", ..., "leaf_k")``, one
qubit per node.

:func:`ghz` adds the waiting (restart protocol, as the joins of :mod:`ionjax.network.chain`). A *try*:
the ``k`` links are attempted in parallel from scratch; link ``i`` delivers after ``N_i`` steps
(geometric, ``P(N_i = t) = p_i q_i^(t - 1)``, ``q_i = 1 - p_i`` per step). If all have delivered and the
oldest pair is no older than the cutoff ``c`` when the last arrives (``max N - min N <= c``), the pairs
are fused at ``max N``; otherwise, at ``min N + c`` (the oldest pair's age reaches the cutoff) all stored
pairs are discarded and all ``k`` links restart. The waiting time ``T`` is the sum of the failed tries'
durations ``min N + c`` and the successful one's ``max N``; tries are independent, so (Wald)
``E[T] = E[min(max N, min N + c)] / P(success)``, and the delivered state is the successful try's.

Exact, by memorylessness: ``min N ~ Geometric(1 - Q)`` (``Q = prod q_i``) is independent of the offsets
``D_i = N_i - min N``, which are independent ``G_i`` (``P(G_i = d) = p_i q_i^d``, ``d >= 0``) restricted to
``min G = 0`` (probability ``1 - Q``). Success is ``max D <= c``, with ``(1 - Q) P(max D <= c) =
prod_i (1 - q_i^(c+1)) - prod_i (q_i - q_i^(c+1))`` (summed as a telescoping sum of positive terms), and
``(1 - Q) E[min(max D, c)] = sum_{S != {}} (-1)^(|S|+1) Q_S (1 - Q_{not S}) (1 - Q_S^c) / (1 - Q_S)``
(inclusion-exclusion over subsets ``S`` of links, ``Q_S = prod_{i in S} q_i``): the rate ``1 / E[T]`` is
a closed form, computed on the attempt grid of the fastest link whatever the time grid.

Pair ``i`` waits ``max D - D_i`` steps before the fusion and dephases (``t2_s``; both qubits, by the
memory channel :func:`ionjax.link.program.memory_channel`, coherence factor
``lambda(d) = coherence(d dt)^2``). The pairs are Pauli-twirled (Bell-diagonal; same Bell populations),
for which a dephased pair is ``(1 - lambda) rho_dephased + lambda rho``; the fused state is multilinear
in the pairs, so its average is a sum over which pairs stay coherent (set ``S``), with weights
``E[prod_{i in S} lambda_i prod_{i not in S} (1 - lambda_i); success]``. On the time grid
(``b = max D = 0 .. grid_size - 1``) each link's contribution at ``b`` splits into "earliest"
(``D_i = 0``: ``p_i l(b)``), "latest" (``D_i = b``: ``p_i q_i^b l(0)``) and "between"
(``sum_{0 < d < b} p_i q_i^d l(b - d)``, an FFT convolution), ``l`` being ``lambda`` or ``1 - lambda``;
``max D = b`` and ``min D = 0`` keep the products with at least one "earliest" and one "latest" link (a
recursion over the links with positive terms only), summed over ``b`` with the kernel
``w(b) = clip(c - b + 1, 0, 1)``.

A non-integer cutoff (in steps) is a random cutoff per try, ``floor(c)`` or ``floor(c) + 1`` with
probabilities ``1 - frac(c)`` and ``frac(c)`` (as in :mod:`ionjax.network.chain` and
:func:`ionjax.network.two_link_swap`): ``P(success)``, ``E[duration]`` and the successful try's weighted
state are linear in ``frac(c)``, so rate and fidelity are continuous in ``cutoff_s``, with a gradient.
``cutoff_s -> 0+`` asks all links to deliver in the same step; ``cutoff_s = inf`` (the default) never
discards and fuses when the last link arrives.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.state import DensityMatrix, tensor
from ..errors import ConfigError
from ..link.program import memory_channel
from .chain import TRUNCATION_TOLERANCE, GridWarning
from .ops import CNOT, X, gate, measure
from .pairs import PAIR_SPACE, elementary_link, is_number_tuple, pauli_correlators, rename, state_from_correlators

__all__ = ["GHZResult", "ghz_ket", "ghz_fidelity", "fuse_ghz", "ghz"]


def ghz_ket(n: int) -> np.ndarray:
    """``(|0...0> + |1...1>)/sqrt2`` on ``n`` qubits, shape ``(2**n,)``."""
    k = np.zeros(2**n, complex)
    k[0] = k[-1] = 1 / np.sqrt(2)
    return k


def fuse_ghz(pairs: list[DensityMatrix], gate_error: Any = 0.0, readout_error: Any = 0.0) -> DensityMatrix:
    """Fuse ``k >= 1`` pairs (each ``(4, 4)``, centre qubit first, target ``Psi+``) into a ``k + 1``-qubit GHZ state.

    Returns:
        The state on ``("center", "leaf_1", ..., "leaf_k")``.
    """
    if len(pairs) < 1:
        raise ValueError("fuse_ghz needs at least one pair.")
    for i, p in enumerate(pairs):
        if not isinstance(p, DensityMatrix) or p.space.dims != (2, 2):
            raise ValueError(f"pairs[{i}] must be a two-qubit DensityMatrix, got {p!r}.")
    return _fuse(list(pairs), gate_error, readout_error)


@jax.jit
def _fuse(pairs: list[DensityMatrix], gate_error: Any, readout_error: Any) -> DensityMatrix:
    rho = rename(pairs[0], ("center", "leaf_1")).apply_unitary(X, "leaf_1")
    for i, pair in enumerate(pairs[1:], start=2):
        leaf = f"leaf_{i}"
        rho = tensor(rho, rename(pair, ("c_new", leaf)).apply_unitary(X, leaf))
        rho = gate(rho, CNOT, ("center", "c_new"), gate_error)
        rho = measure(rho, "c_new", readout_error,
                      feed_forward=lambda st, m, leaf=leaf: st.apply_unitary(X, leaf) if m else st)
    return rho


def ghz_fidelity(state: DensityMatrix) -> jax.Array:
    """Fidelity of an ``n``-qubit state to :func:`ghz_ket` ``(n)``."""
    n = len(state.space)
    k = jnp.asarray(ghz_ket(n), state.data.dtype)
    return jnp.real(jnp.einsum("i,...ij,j->...", jnp.conj(k), state.data, k))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class GHZResult:
    """A GHZ state fused from links. A pytree; arrays unbatched unless vmapped.

    Attributes:
        fidelity: average fidelity of the delivered state to the GHZ state.
        rate_hz: GHZ states per second (``1 / mean_waiting_time_s``; the links restart after each).
        mean_waiting_time_s: expected time from a (re)start of the links to the fused state, s (exact, a
            closed form on the attempt grid of the fastest link; with a cutoff, the failed tries included).
        state: the average delivered state on ``("center", "leaf_1", ...)``, ``(2**n_nodes, 2**n_nodes)``.
        time_step_s: the time grid's step, s.
        truncated_mass: probability that a delivered state's links arrived further apart than the grid covers
            (the fidelity ignores those; keep it small).
        cutoff_s: the memory cutoff used, s (``inf``: none).
        success_probability: probability that one try (all links from scratch) ends in a fusion: 1 without a
            cutoff.
        n_nodes: number of nodes (static).
    """

    fidelity: jax.Array
    rate_hz: jax.Array
    mean_waiting_time_s: jax.Array
    state: DensityMatrix
    time_step_s: jax.Array
    truncated_mass: jax.Array
    cutoff_s: jax.Array
    success_probability: jax.Array
    n_nodes: int = field(metadata=dict(static=True), default=3)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (floats; ``cutoff_s`` is the string ``"inf"`` when there is none)."""
        cut = float(self.cutoff_s)
        return {"n_nodes": self.n_nodes, "fidelity": float(self.fidelity), "rate_hz": float(self.rate_hz),
                "mean_waiting_time_s": float(self.mean_waiting_time_s), "time_step_s": float(self.time_step_s),
                "truncated_mass": float(self.truncated_mass), "cutoff_s": cut if np.isfinite(cut) else "inf",
                "success_probability": float(self.success_probability)}


def _cutoff_parts(cut: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(finite, floor(c), frac(c))`` of a cutoff ``c`` in steps (``0, 0`` where ``c = inf``; safe for grad)."""
    finite = jnp.isfinite(cut)
    c0 = jnp.floor(jnp.where(finite, cut, 0.0))
    return finite, c0, jnp.where(finite, cut - c0, 0.0)


def _one_minus_pow(log_x: jax.Array, n: jax.Array, finite: jax.Array) -> jax.Array:
    """``1 - x^n`` (``1`` where not ``finite``, i.e. ``n = inf``), from ``log x``."""
    return jnp.where(finite, -jnp.expm1(jnp.where(finite, n, 0.0) * log_x), 1.0)


def _success_mass(log_q: jax.Array, cut: jax.Array, n_steps: int | None = None) -> tuple[jax.Array, jax.Array]:
    """``(1 - Q) P(max D <= c)`` (see the module docstring) for ``log q`` ``(k,)`` per step and a cutoff ``c`` in
    steps (non-integer: mixed; ``inf``: ``1 - Q``), as ``sum_j prod_{i<j} (q_i - q_i^(c+1)) p_j prod_{i>j}
    (1 - q_i^(c+1))``, positive terms only; and the part of it with ``max D >= n_steps`` (0 without ``n_steps``)."""
    finite, c0, frac = _cutoff_parts(cut)
    q, p = jnp.exp(log_q), -jnp.expm1(log_q)

    def at(c: jax.Array, fin: jax.Array) -> jax.Array:
        upto = _one_minus_pow(log_q, c + 1.0, fin)  # P(G_i <= c)
        inner = q * _one_minus_pow(log_q, c, fin)  # P(1 <= G_i <= c)
        before = jnp.concatenate([jnp.ones((1,), q.dtype), jnp.cumprod(inner)[:-1]])
        after = jnp.concatenate([jnp.cumprod(upto[::-1])[::-1][1:], jnp.ones((1,), q.dtype)])
        return jnp.sum(before * p * after)

    lo, hi = at(c0, finite), at(c0 + 1.0, finite)
    mass = (1.0 - frac) * lo + frac * hi
    if n_steps is None:
        return mass, jnp.zeros_like(mass)
    last = jnp.asarray(n_steps - 1.0, q.dtype)
    true = jnp.ones((), bool)
    lo_in = at(jnp.where(finite, jnp.minimum(c0, last), last), true)
    hi_in = at(jnp.where(finite, jnp.minimum(c0 + 1.0, last), last), true)
    return mass, (1.0 - frac) * (lo - lo_in) + frac * (hi - hi_in)


def _renewal(log_q: jax.Array, cut: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(E[T], P(success))`` in steps for links with ``log q`` ``(k,)`` per step and a cutoff ``c`` in steps."""
    k = log_q.shape[0]
    finite, c0, frac = _cutoff_parts(cut)
    subsets = np.array([s for s in itertools.product((0, 1), repeat=k) if any(s)], float)  # (2^k - 1, k)
    sign = np.where(subsets.sum(1) % 2 == 1, 1.0, -1.0)
    log_qs = jnp.asarray(subsets, log_q.dtype) @ log_q  # log Q_S
    log_rest = jnp.asarray(1.0 - subsets, log_q.dtype) @ log_q  # log Q_{not S}
    base = jnp.asarray(sign, log_q.dtype) * jnp.exp(log_qs) * -jnp.expm1(log_rest) / -jnp.expm1(log_qs)

    def spread(c: jax.Array) -> jax.Array:  # (1 - Q) E[min(max D, c)]
        return jnp.sum(base * _one_minus_pow(log_qs, c, finite))

    one_minus_q = -jnp.expm1(jnp.sum(log_q))
    spread_mix = (1.0 - frac) * spread(c0) + frac * spread(c0 + 1.0)
    mass, _ = _success_mass(log_q, cut)
    return (1.0 + spread_mix) / mass, mass / one_minus_q


def _weights(log_q: jax.Array, cut: jax.Array, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Weights ``(2^k,)`` of "pair i kept coherent (bit 1) or fully dephased (bit 0)" in a successful try, as
    ``(1 - Q) E[prod_S lambda_i prod_{not S} (1 - lambda_i); max D <= c, max D < grid]``, and the fraction of
    the successful tries beyond the grid.

    Args:
        log_q: ``(k,)``, log of each link's failure probability per step.
        cut: the cutoff in steps (float; ``inf`` for none).
        lam: ``(L,)``, a pair's coherence factor after ``d = 0 .. L - 1`` steps (``lam[0] = 1``).
    """
    k, n_steps = log_q.shape[0], lam.shape[0]
    dtype = lam.dtype
    p = -jnp.expm1(log_q)
    b = jnp.arange(n_steps, dtype=dtype)
    pmf = p[:, None] * jnp.exp(b[None, :] * log_q[:, None])  # P(G_i = d), (k, L)
    kern = jnp.stack([1.0 - lam, lam])  # l(d): dephased (bit 0), coherent (bit 1), (2, L)
    # "between": sum_{0 < d < b} P(G_i = d) l(b - d), a causal convolution (FFT), (2, k, L)
    n_fft = 2 * n_steps
    inner = jnp.where(b >= 1, pmf, 0.0)
    conv = jnp.fft.irfft(jnp.fft.rfft(inner, n_fft)[None] * jnp.fft.rfft(jnp.where(b >= 1, kern, 0.0), n_fft)[:, None],
                         n_fft)[..., :n_steps]
    between = jnp.where(b >= 2, jnp.maximum(conv, 0.0), 0.0)
    latest = pmf[None] * kern[:, None, :1]  # D_i = b
    earliest = p[None, :, None] * kern[:, None, :]  # D_i = 0
    pats = np.array(list(itertools.product((0, 1), repeat=k)), int)  # (2^k, k): which pairs stay coherent
    # words over the links of {between, latest, earliest} with >= 1 latest (max D = b) and >= 1 earliest (min D = 0)
    none_ = jnp.ones((len(pats), n_steps), dtype)
    only_late = only_early = both = jnp.zeros((len(pats), n_steps), dtype)
    for i in range(k):
        x, a, e = between[pats[:, i], i], latest[pats[:, i], i], earliest[pats[:, i], i]
        both = both * (x + a + e) + only_late * e + only_early * a
        only_late, only_early = only_late * (x + a) + none_ * a, only_early * (x + e) + none_ * e
        none_ = none_ * x
    at_zero = jnp.prod(p * kern[pats, 0], axis=-1)  # b = 0: all D_i = 0
    per_b = jnp.where(b == 0, at_zero[:, None], both)
    weights = per_b @ jnp.clip(cut - b + 1.0, 0.0, 1.0)
    mass, beyond = _success_mass(log_q, cut, n_steps)
    return weights, beyond / mass


def _check_cutoff(cutoff_s: Any) -> Any:
    if isinstance(cutoff_s, jax.core.Tracer):
        return cutoff_s
    try:
        v = np.asarray(cutoff_s, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"cutoff_s must be a number of seconds in (0, inf] (inf: no cutoff), got {cutoff_s!r}."
                          ) from None
    if v.ndim:
        raise ConfigError(f"cutoff_s must be one number of seconds, got shape {v.shape}; batch with jax.vmap.")
    if not v > 0:  # also NaN
        raise ConfigError(f"cutoff_s = {float(v)} is out of range: allowed (0, inf] s (inf: no cutoff); a pair "
                          "older than the cutoff is discarded, so give a positive number of seconds.")
    return cutoff_s


def ghz(links: Any, n_nodes: int | None = None, *, gate_error: Any = 0.0, readout_error: Any = 0.0,
        t2_s: Any = jnp.inf, cutoff_s: Any = jnp.inf, time_step_s: Any = "auto",
        grid_size: int = 1 << 14) -> GHZResult:
    """A GHZ state over ``n_nodes`` nodes fused from ``n_nodes - 1`` links at a central node.

    Protocol (see the module docstring): the ``k = n_nodes - 1`` links are attempted in parallel from scratch;
    if all ``k`` have arrived with the oldest pair no older than ``cutoff_s`` when the last arrives, they are
    fused then; otherwise, when the oldest pair's age reaches ``cutoff_s``, all stored pairs are discarded and
    all ``k`` links restart. The rate is exact (closed form); the fidelity averages the dephasing exactly over
    the successful try's waits on the time grid.

    Args:
        links: one link (used ``n_nodes - 1`` times) or a list of ``n_nodes - 1`` links (each a ``Link``,
            ``LinkResult``, :class:`~ionjax.network.ElementaryLink` or numbers).
        n_nodes: number of nodes (2 to 8); default ``len(links) + 1``.
        gate_error, readout_error: the centre's CNOT depolarizing probability and readout bit flip.
        t2_s: coherence time of stored qubits while the links wait for each other, s (``inf``: none); a pair
            stored ``t`` keeps ``lambda = coherence(t)^2`` (:func:`ionjax.link.program.memory_channel`,
            exponential: ``exp(-2 t / T2)``).
        cutoff_s: memory cutoff, s, in ``(0, inf]`` (default ``inf``: no cutoff, fuse when the last link
            arrives). A scalar; a traced value has a gradient (a non-integer number of steps mixes the two
            neighbouring whole cutoffs).
        time_step_s: the time grid's step, s, or ``"auto"``: the attempt period of the fastest link, doubled
            until the grid covers all but 1e-12 of the waiting time (or the cutoff, when shorter); needs
            concrete numbers (under ``jit``/``grad``/``vmap`` pass a number). Steps longer than an attempt
            round ages to the step.
        grid_size: number of time steps (static); probability beyond the grid is dropped
            (``truncated_mass``; a :class:`~ionjax.network.chain.GridWarning` above 1e-6 names the size needed).

    Returns:
        :class:`GHZResult`; ``state`` has shape ``(2**n_nodes, 2**n_nodes)`` (unbatched; batch with ``jax.vmap``).

    Raises:
        ConfigError (a ValueError): no links, a wrong ``n_nodes``, ``cutoff_s`` not in ``(0, inf]``, or
        ``time_step_s="auto"`` with traced numbers.

    Warns:
        GridWarning: with concrete numbers, when the grid misses more than 1e-6 of the delivered states, or a
        step longer than an attempt resolves the cutoff to fewer than 4 steps.
    """
    if isinstance(links, (list, tuple)) and not is_number_tuple(links):
        if len(links) == 0:
            raise ConfigError("ghz needs at least one link; `links` is empty.")
        els = [elementary_link(x) for x in links]
        if n_nodes is not None and n_nodes != len(els) + 1:
            raise ConfigError(f"n_nodes = {n_nodes} needs {n_nodes - 1} links, got {len(els)}.")
        n_nodes = len(els) + 1
    else:
        if n_nodes is None or isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 2:
            raise ConfigError(f"n_nodes must be an integer >= 2 (with a single link), got {n_nodes!r}.")
        els = [elementary_link(links)] * (n_nodes - 1)
    if n_nodes > 8:
        raise ConfigError(f"ghz simulates the full {n_nodes}-qubit state; n_nodes must be <= 8, got {n_nodes}.")
    cutoff_s = _check_cutoff(cutoff_s)
    rate = jnp.stack([jnp.asarray(e.attempt_rate_hz) for e in els])
    p = jnp.stack([jnp.asarray(e.success_probability) for e in els])
    corr = jnp.stack([pauli_correlators(e.state) for e in els])
    concrete = not any(isinstance(x, jax.core.Tracer) for x in (p, rate, cutoff_s))
    if isinstance(time_step_s, str):
        if time_step_s != "auto":
            raise ConfigError(f"time_step_s must be a number of seconds or 'auto', got {time_step_s!r}.")
        if not concrete:
            raise ConfigError("time_step_s='auto' needs concrete link numbers and cutoff_s, but they are traced "
                              "(inside jit, grad or vmap); pass time_step_s explicitly (e.g. 1 / attempt_rate_hz).")
        pn, rn = np.asarray(p, float), np.asarray(rate, float)
        dt0 = 1.0 / rn.max()
        lam = float(np.min(-np.log1p(-np.clip(pn, 0.0, 1.0 - 1e-15)) * rn))
        need = (np.log(len(els)) + 28.0) / lam  # P(max > need) <= 1e-12
        need = min(need, float(cutoff_s) + 2.0 * dt0)  # ages beyond the cutoff never count
        time_step_s = dt0 * 2.0 ** max(0, int(np.ceil(np.log2(max(need / (grid_size * dt0), 1.0)))))
    fdt = jnp.result_type(float)
    res = _ghz_core(p, rate, corr, jnp.asarray(gate_error), jnp.asarray(readout_error), jnp.asarray(t2_s),
                    jnp.asarray(time_step_s, fdt), jnp.asarray(cutoff_s, fdt), grid_size=grid_size)
    if concrete and not isinstance(res.truncated_mass, jax.core.Tracer):
        _warn_grid(res, np.asarray(p, float), np.asarray(rate, float), float(cutoff_s), grid_size)
    return res


def _warn_grid(res: GHZResult, p: np.ndarray, rate: np.ndarray, cut: float, grid_size: int) -> None:
    dt = float(res.time_step_s)
    if float(res.truncated_mass) > TRUNCATION_TOLERANCE:
        pn = np.clip(p, 0.0, 1.0 - 1e-15)
        per_step = float(np.min(-np.log1p(-pn) * rate)) * dt  # slowest link: -log P(no success) per step
        steps = (np.log(len(p)) + 28.0) / per_step
        need = 1 << max(4, int(np.ceil(np.log2(min(steps, cut / dt + 2.0)))))
        warnings.warn(f"grid_size = {grid_size} steps of {dt:.3g} s misses probability "
                      f"{float(res.truncated_mass):.2g} that the links need longer (tolerance "
                      f"{TRUNCATION_TOLERANCE:g}); the fidelity ignores those waits. Use grid_size >= {need} "
                      "(or time_step_s='auto').", GridWarning, stacklevel=3)
    dt0 = 1.0 / float(rate.max())
    if np.isfinite(cut) and dt > dt0 * (1.0 + 1e-9) and cut < 4.0 * dt:
        warnings.warn(f"time_step_s = {dt:.3g} s resolves cutoff_s = {cut:.3g} s to {cut / dt:.2g} steps (fewer "
                      "than 4): the fidelity rounds the pairs' ages to the step (the rate is exact). Use "
                      f"time_step_s <= {max(dt0, cut / 4.0):.3g} (or time_step_s='auto').", GridWarning, stacklevel=3)


@partial(jax.jit, static_argnames=("grid_size",))
def _ghz_core(p: jax.Array, rate: jax.Array, corr: jax.Array, gate_error: jax.Array, readout_error: jax.Array,
              t2_s: jax.Array, dt: jax.Array, cutoff_s: jax.Array, *, grid_size: int) -> GHZResult:
    k = p.shape[0]
    log_fail = jnp.log1p(-jnp.clip(p, 0.0, 1.0 - 1e-15))  # log(1 - p) per attempt
    steps = jnp.arange(grid_size, dtype=dt.dtype)
    _, coherence = memory_channel(steps * dt, jnp.inf, t2_s)
    weights, truncated = _weights(rate * dt * log_fail, cutoff_s / dt, coherence * coherence)
    coh = state_from_correlators(corr).data  # (k, 4, 4)
    deph = state_from_correlators(corr * jnp.asarray([0.0, 0.0, 1.0], corr.dtype)).data
    pats = np.array(list(itertools.product((0, 1), repeat=k)), bool)  # (2^k, k): which pairs stay coherent
    pairs = [DensityMatrix(jnp.where(pats[:, i, None, None], coh[i], deph[i]), PAIR_SPACE) for i in range(k)]
    fused = fuse_ghz(pairs, gate_error, readout_error)  # batch (2^k,)
    out = DensityMatrix(jnp.einsum("s,sij->ij", weights.astype(fused.data.dtype), fused.data), fused.space)
    out = out * (1.0 / jnp.sum(weights))
    # the waiting time is exact at the attempt level (closed form), whatever the grid step
    dt0 = 1.0 / jnp.max(rate)
    mean_steps, p_success = _renewal(rate * dt0 * log_fail, cutoff_s / dt0)
    mean_t = mean_steps * dt0
    return GHZResult(ghz_fidelity(out), 1.0 / mean_t, mean_t, out, dt, truncated, cutoff_s, p_success, k + 1)
