"""GHZ states across several nodes, fused from heralded pairs at a central node.

A star: the centre node holds one half ``c_i`` of each of ``k`` pairs, leaf node
``i`` the other half ``l_i`` (``k = n_nodes - 1`` links). Fusion, in B's frame
changed by X (``Psi+ -> Phi+``): the centre keeps ``c_1`` and, for ``i = 2 .. k``,
applies ``CNOT(c_1 -> c_i)`` (then depolarizing ``gate_error``), reads ``c_i`` in
the Z basis (bit flip ``readout_error``) and sends the result ``m`` to leaf ``i``,
which applies ``X^m``. The result is the ``n_nodes``-qubit GHZ state
``(|0...0> + |1...1>)/sqrt2`` on ``("center", "leaf_1", ..., "leaf_k")``, one
qubit per node.

:func:`ghz` adds the waiting: the ``k`` links are attempted in parallel and fused
when the last one arrives (after ``max`` of ``k`` geometric waits; no cutoff); each earlier
pair's qubits dephase meanwhile (``t2_s``). The pairs are Pauli-twirled
(Bell-diagonal; same Bell populations), for which a pair dephased by
``lambda = exp(-2 t / T2)`` is ``(1 - lambda) rho_dephased + lambda rho``; the fused state
is multilinear in the pairs, so its average is a sum over which pairs are
dephased, with weights ``E[prod_i lambda_i or (1 - lambda_i)]`` computed exactly as finite
sums over the distribution of the max (on a grid of attempts).
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
from .chain import TRUNCATION_TOLERANCE, GridWarning
from .ops import CNOT, X, gate, measure
from .pairs import PAIR_SPACE, elementary_link, is_number_tuple, pauli_correlators, rename, state_from_correlators
from .waiting import expected_max_geometric

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
    """A GHZ state fused from links. A pytree.

    Attributes:
        fidelity: average fidelity of the delivered state to the GHZ state.
        rate_hz: GHZ states per second (``1 / mean_waiting_time_s``; links restart after each).
        mean_waiting_time_s: expected time until all links have delivered (exact, by inclusion-exclusion
            over the links' geometric waits in attempts of the fastest link).
        state: the average delivered state on ``("center", "leaf_1", ...)``.
        time_step_s: the time grid's step.
        truncated_mass: probability that the links need longer than the grid.
        n_nodes: number of nodes (static).
    """

    fidelity: jax.Array
    rate_hz: jax.Array
    mean_waiting_time_s: jax.Array
    state: DensityMatrix
    time_step_s: jax.Array
    truncated_mass: jax.Array
    n_nodes: int = field(metadata=dict(static=True), default=3)

    def to_dict(self) -> dict[str, Any]:
        return {"n_nodes": self.n_nodes, "fidelity": float(self.fidelity), "rate_hz": float(self.rate_hz),
                "mean_waiting_time_s": float(self.mean_waiting_time_s), "time_step_s": float(self.time_step_s),
                "truncated_mass": float(self.truncated_mass)}


def _weights(p_step: jax.Array, log_r: jax.Array, grid_size: int) -> tuple[jax.Array, jax.Array]:
    """Weights ``(2^k,)`` of "pair i kept coherent (bit 1) or fully dephased (bit 0)", and the probability
    beyond the grid.

    ``E[prod_{i in T} lambda_i]`` with ``lambda_i = r^(M - N_i)``, ``M = max N_i``: over the grid
    ``m = 1..L``, ``sum_m prod_i G_i(m) - prod_i r_i G_i(m - 1)`` where ``G_i(m) = E[lambda_i; N_i <= m]``.
    """
    k = p_step.shape[0]
    m = jnp.arange(grid_size + 1, dtype=p_step.dtype)
    qlog = jnp.log1p(-jnp.clip(p_step, 0.0, 1.0 - 1e-15))
    cdf = -jnp.expm1(m[None, :] * qlog[:, None])  # P(N_i <= m), (k, L + 1)

    # G(m) = sum_{j <= m} P(N = j) r^(m - j): a causal convolution (FFT)
    pmf = jnp.where(m >= 1, p_step[:, None] * jnp.exp(jnp.maximum(m - 1, 0)[None, :] * qlog[:, None]), 0.0)
    r = jnp.exp(log_r)
    n_fft = 2 * (grid_size + 1)
    g_coh = jnp.fft.irfft(jnp.fft.rfft(pmf, n_fft) * jnp.fft.rfft(jnp.exp(log_r * m), n_fft), n_fft)[:, : grid_size + 1]
    moments = []
    for subset in itertools.product((0, 1), repeat=k):
        sel = jnp.asarray(subset, bool)
        g = jnp.where(sel[:, None], g_coh, cdf)
        shift = jnp.where(sel, r, 1.0)
        prod_now = jnp.prod(g[:, 1:], axis=0)
        prod_before = jnp.prod(shift[:, None] * g[:, :-1], axis=0)
        moments.append(jnp.sum(prod_now - prod_before))
    moments = jnp.stack(moments)  # E[prod_{i in T} lambda_i], T as bit patterns
    # weight of "exactly the set S coherent": sum_{T >= S} (-1)^{|T - S|} E[prod_T lambda]
    pats = np.array(list(itertools.product((0, 1), repeat=k)))
    mob = np.array([[(-1.0) ** int((t - s).sum()) if np.all(t >= s) else 0.0 for t in pats] for s in pats])
    weights = jnp.asarray(mob, moments.dtype) @ moments
    return weights, 1.0 - jnp.prod(cdf[:, -1])


def ghz(links: Any, n_nodes: int | None = None, *, gate_error: Any = 0.0, readout_error: Any = 0.0,
        t2_s: Any = jnp.inf, time_step_s: Any = "auto", grid_size: int = 1 << 14) -> GHZResult:
    """A GHZ state over ``n_nodes`` nodes fused from ``n_nodes - 1`` links at a central node.

    Args:
        links: one link (used ``n_nodes - 1`` times) or a list of ``n_nodes - 1`` links (each a ``Link``,
            ``LinkResult``, :class:`~ionjax.network.ElementaryLink` or numbers).
        n_nodes: number of nodes (>= 2); default ``len(links) + 1``.
        gate_error, readout_error: the centre's CNOT depolarizing probability and readout bit flip.
        t2_s: coherence time of stored qubits while the links wait for each other (``inf``: none).
        time_step_s: the time grid's step, or ``"auto"``: the attempt period of the fastest link, doubled
            until the grid covers all but 1e-12 of the waiting time (needs concrete numbers; under
            ``jit``/``grad``/``vmap`` pass a number). Steps longer than an attempt round ages to the step.
        grid_size: number of time steps (static); probability beyond the grid is dropped
            (``truncated_mass``; a :class:`~ionjax.network.chain.GridWarning` above 1e-6 names the size needed).
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
    rate = jnp.stack([jnp.asarray(e.attempt_rate_hz) for e in els])
    p = jnp.stack([jnp.asarray(e.success_probability) for e in els])
    corr = jnp.stack([pauli_correlators(e.state) for e in els])
    if isinstance(time_step_s, str):
        if time_step_s != "auto":
            raise ConfigError(f"time_step_s must be a number of seconds or 'auto', got {time_step_s!r}.")
        if any(isinstance(x, jax.core.Tracer) for x in (p, rate)):
            raise ConfigError("time_step_s='auto' needs concrete link numbers, but they are traced (inside jit, "
                              "grad or vmap); pass time_step_s explicitly (e.g. 1 / attempt_rate_hz).")
        pn, rn = np.asarray(p, float), np.asarray(rate, float)
        dt0 = 1.0 / rn.max()
        lam = float(np.min(-np.log1p(-np.clip(pn, 0.0, 1.0 - 1e-15)) * rn))
        need = (np.log(len(els)) + 28.0) / lam  # P(max > need) <= 1e-12
        time_step_s = dt0 * 2.0 ** max(0, int(np.ceil(np.log2(max(need / (grid_size * dt0), 1.0)))))
    res = _ghz_core(p, rate, corr, jnp.asarray(gate_error), jnp.asarray(readout_error), jnp.asarray(t2_s),
                    jnp.asarray(time_step_s, jnp.result_type(float)), grid_size=grid_size)
    if not isinstance(res.truncated_mass, jax.core.Tracer) and float(res.truncated_mass) > TRUNCATION_TOLERANCE:
        dt = float(res.time_step_s)
        pn, rn = np.clip(np.asarray(p, float), 0.0, 1.0 - 1e-15), np.asarray(rate, float)
        per_step = float(np.min(-np.log1p(-pn) * rn)) * dt  # slowest link: -log P(no success) per step
        need = 1 << max(4, int(np.ceil(np.log2((np.log(len(els)) + 28.0) / per_step))))
        warnings.warn(f"grid_size = {grid_size} steps of {dt:.3g} s misses probability "
                      f"{float(res.truncated_mass):.2g} that the links need longer (tolerance "
                      f"{TRUNCATION_TOLERANCE:g}); the fidelity ignores those waits. Use grid_size >= {need} "
                      "(or time_step_s='auto').", GridWarning, stacklevel=2)
    return res


@partial(jax.jit, static_argnames=("grid_size",))
def _ghz_core(p: jax.Array, rate: jax.Array, corr: jax.Array, gate_error: jax.Array, readout_error: jax.Array,
              t2_s: jax.Array, dt: jax.Array, *, grid_size: int) -> GHZResult:
    k = p.shape[0]
    p_step = -jnp.expm1(rate * dt * jnp.log1p(-jnp.clip(p, 0.0, 1.0 - 1e-15)))
    log_r = -2.0 * dt / t2_s
    weights, truncated = _weights(p_step, log_r, grid_size)
    coh = state_from_correlators(corr).data  # (k, 4, 4)
    deph = state_from_correlators(corr * jnp.asarray([0.0, 0.0, 1.0], corr.dtype)).data
    pats = np.array(list(itertools.product((0, 1), repeat=k)), bool)  # (2^k, k): which pairs stay coherent
    pairs = [DensityMatrix(jnp.where(pats[:, i, None, None], coh[i], deph[i]), PAIR_SPACE) for i in range(k)]
    fused = fuse_ghz(pairs, gate_error, readout_error)  # batch (2^k,)
    out = DensityMatrix(jnp.einsum("s,sij->ij", weights.astype(fused.data.dtype), fused.data), fused.space)
    out = out * (1.0 / jnp.sum(weights))
    # the mean is exact at the attempt level (inclusion-exclusion), whatever the grid step
    dt0 = 1.0 / jnp.max(rate)
    mean_t = expected_max_geometric(-jnp.expm1(rate * dt0 * jnp.log1p(-jnp.clip(p, 0.0, 1.0 - 1e-15)))) * dt0
    return GHZResult(ghz_fidelity(out), 1.0 / mean_t, mean_t, out, dt, truncated, k + 1)

