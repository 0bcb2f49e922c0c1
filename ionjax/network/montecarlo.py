"""Event-by-event simulation of repeater chains in JAX: ``vmap`` over trajectories, ``lax.while_loop`` over events.

:func:`chain_monte_carlo` runs the protocol of :func:`ionjax.network.repeater_chain` one trajectory at a time,
with no twirl and no grid algebra: each sample carries its pair's full two-qubit density matrix, memories decay by
the link's memory channel (:func:`ionjax.link.program.memory_channel`: amplitude damping and dephasing), swaps are
the library's Bell measurement (:func:`ionjax.network.entanglement_swap`) and purification rounds the library's
:func:`~ionjax.network.dejmps` / :func:`~ionjax.network.bbpssw`, with their success probabilities drawn. Both
enter as exact superoperators on the two pairs (:func:`ionjax.network.pairs.pair_superoperator`: the library's
density-matrix functions evaluated once on a basis of pair states), so a trajectory's join costs one small
contraction, not a pass through the engine.

The protocol is a tree (:func:`protocol_tree`): leaves are elementary links (a geometric number of rounds), inner
nodes join two sub-blocks by a swap or purify a block with an independent copy. An inner node is a
``lax.while_loop``: both children run from scratch (their own loops), the older pair waits for the younger (and
decays), the cutoff or a failed join restarts both. The loop body is traced once per node of the tree (Python
recursion at trace time); ``jax.vmap`` runs a batch of trajectories in lock step (a finished trajectory idles
until the batch's last one is done).

Scale. Batches of ``batch_size`` trajectories are compiled once and reused; with several devices
(``jax.devices()``: GPUs, or CPU devices from ``XLA_FLAGS=--xla_force_host_platform_device_count=N``) the batch
is sharded over them along one mesh axis (``jax.sharding.NamedSharding``), each device running its share. For a
multi-host run, call ``jax.distributed.initialize()`` on every host first: ``jax.devices()`` then lists every
host's devices, the same sharded batch spans them, and each process must run the same call (same seed and
arguments); the means are gathered to every host.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.state import DensityMatrix
from ..errors import ConfigError
from .chain import (
    FIBER_LIGHT_SPEED_KM_S,
    MEMORY_DECAYS,
    SCHEDULES,
    _check_rounds,
    _check_scalar,
    _levels,
    _link_arrays,
    _message_time,
    _rounds,
)
from .ops import store
from .pairs import PAIR_SPACE, elementary_link, is_number_tuple, pair_superoperator
from .purify import _kept
from .swap import _swap

__all__ = ["MonteCarloResult", "chain_monte_carlo", "protocol_tree"]

#: Trajectories per compiled batch (by default).
DEFAULT_BATCH_SIZE = 8192


@dataclass(frozen=True)
class MonteCarloResult:
    """Sample means and their standard errors from :func:`chain_monte_carlo`.

    Attributes:
        fidelity, fidelity_stderr: mean fidelity of the delivered pairs to ``Psi+`` and its standard error.
        mean_waiting_time_s, mean_waiting_time_stderr_s: mean time from a (re)start to the delivery (s).
        n_samples: delivered pairs simulated.
        trajectories_per_s: trajectories simulated per second of wall time, compilation excluded (0 if unknown).
        n_devices: devices the batches were sharded over.
    """

    fidelity: float
    fidelity_stderr: float
    mean_waiting_time_s: float
    mean_waiting_time_stderr_s: float
    n_samples: int
    trajectories_per_s: float = 0.0
    n_devices: int = 1

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.mean_waiting_time_s

    @property
    def rate_stderr_hz(self) -> float:
        return self.mean_waiting_time_stderr_s / self.mean_waiting_time_s ** 2


def protocol_tree(schedule: str, n_links: int, rounds: tuple[int, ...] = (), lengths_km: Any = None) -> Any:
    """The protocol as a tree of tuples: ``("link", i)``, ``("swap", left, right)`` and ``("purify", block,
    span_km)`` (``rounds[l]`` purifications at nesting level ``l``, as :func:`ionjax.network.repeater_chain`)."""
    lengths = np.zeros(n_links) if lengths_km is None else np.broadcast_to(np.asarray(lengths_km, float), (n_links,))
    rounds = tuple(rounds) + (0,) * (_levels(schedule, n_links) - len(rounds))

    def purified(node: Any, level: int, span: float) -> Any:
        for _ in range(rounds[level]):
            node = ("purify", node, float(span))
        return node

    leaves = [purified(("link", i), 0, lengths[i]) for i in range(n_links)]
    if schedule == "nested":
        blocks = [(leaf, float(lengths[i])) for i, leaf in enumerate(leaves)]
        level = 0
        while len(blocks) > 1:
            level += 1
            blocks = [(purified(("swap", a, b), level, sa + sb), sa + sb)
                      for (a, sa), (b, sb) in zip(blocks[0::2], blocks[1::2], strict=True)]
        return blocks[0][0]
    node, span = leaves[0], float(lengths[0])
    for k in range(1, n_links):
        span += float(lengths[k])
        node = purified(("swap", node, leaves[k]), k, span)
    return node


def _store(rho: jax.Array, t_s: jax.Array, t1_s: Any, t2_s: Any, shape: str) -> jax.Array:
    """Both qubits of a pair ``(4, 4)`` stored for ``t_s``, on the full state (nothing twirled):
    :func:`ionjax.network.store`, the memory channel of links and chains."""
    return store(DensityMatrix(rho, PAIR_SPACE), t_s, t1_s, t2_s, memory_decay=shape).data


def _delay(key: jax.Array, steps: Any) -> jax.Array:
    """A delay of ``steps`` grid steps (a single link's pipelined herald), fractional part drawn (as the grid mixes
    the two whole delays)."""
    whole = math.floor(steps)
    return whole + (jax.random.uniform(key) < steps - whole).astype(jnp.int64 if jax.config.jax_enable_x64
                                                                     else jnp.int32)


def _flatten(tree: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The tree's inner nodes in post-order (children first), each ``{"kind", "span", "children"}`` with a child
    ``("leaf", i)`` or ``("node", j)``; a purification's two copies are two instances of its block."""
    nodes: list[dict[str, Any]] = []

    def visit(node: Any) -> tuple[str, int]:
        if node[0] == "link":
            return ("leaf", node[1])
        if node[0] == "swap":
            kids = (visit(node[1]), visit(node[2]))
            span = 0.0
        else:
            kids = (visit(node[1]), visit(node[1]))
            span = node[2]
        nodes.append({"kind": node[0], "span": span, "children": kids})
        return ("node", len(nodes) - 1)

    top = visit(tree)
    return nodes, [top[1]] if top[0] == "node" else []


def _trajectory(key: jax.Array, tree: Any, *, p_step: np.ndarray, states: jax.Array, delay: np.ndarray,
                cut: float, t1: float, t2: float, shape: str, dt: float, gate_error: float, readout_error: float,
                q_swap: float, purification: str, message_s: float, herald_steps: np.ndarray
                ) -> tuple[jax.Array, jax.Array]:
    """One delivered end-to-end pair: ``(steps until delivery, fidelity to Psi+)``.

    One ``lax.while_loop`` over events for the whole tree: every inner node has two slots for its children's
    pairs (a leaf fills its slot at once with a fresh link: a geometric number of rounds); a node whose two
    slots are full, and whose own output slot in its parent is free, makes one attempt per iteration (the older
    pair decays for the age difference; the cutoff, a failed swap or a failed purification restarts it: the
    slots are emptied, the time spent is kept). Subtrees work in parallel, each node counting its own time since
    its last delivery, which is exact (a node's deliveries are independent and identically distributed). A
    trajectory thus needs about as many iterations as its attempts along the tree's depth, not their product.
    """
    int_t = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    real_t = jnp.finfo(states.dtype).dtype
    nodes, root = _flatten(tree)
    # the library's swap and purification round, as exact superoperators on the pairs (derived once)
    swap_op = pair_superoperator(partial(_swap, gate_error=gate_error, readout_error=readout_error))
    pur_op = pair_superoperator(partial(_kept, gate_error=gate_error, readout_error=readout_error,
                                        protocol=purification))
    if not root:  # a single link
        k1, k2 = jax.random.split(key)
        t = jax.random.geometric(k1, p_step[0], dtype=int_t) + _delay(k2, delay[0])
        return t.astype(int_t), _end_fidelity(states[0], message_s, t1, t2, shape)
    m = len(nodes)
    is_pur = np.array([nd["kind"] == "purify" for nd in nodes])
    # (M, 256, 16): (vec rho_a (x) vec rho_b) -> vec out, one matrix per node
    ops = jnp.where(jnp.asarray(is_pur)[:, None, None], pur_op.reshape(256, 16)[None], swap_op.reshape(256, 16)[None])
    msg_s = np.array([nd["span"] / FIBER_LIGHT_SPEED_KM_S for nd in nodes])
    leaf = np.array([[c[0] == "leaf" for c in nd["children"]] for nd in nodes])  # (M, 2)
    leaf_i = np.array([[c[1] if c[0] == "leaf" else 0 for c in nd["children"]] for nd in nodes])
    slot_p = jnp.asarray(np.where(leaf, p_step[leaf_i], 0.5))
    slot_delay = np.where(leaf, delay[leaf_i], 0.0)
    slot_whole = jnp.asarray(np.floor(slot_delay), int_t)
    slot_frac = jnp.asarray(slot_delay - np.floor(slot_delay))
    slot_state = states[leaf_i]  # (M, 2, 4, 4) (unused where the child is a node)
    parent = np.full(m, m)  # the root writes into row m, the output
    which = np.zeros(m, int)
    for j, nd in enumerate(nodes):
        for k, c in enumerate(nd["children"]):
            if c[0] == "node":
                parent[c[1]], which[c[1]] = j, k
    finite = math.isfinite(cut)
    slot_age = jnp.asarray(np.where(leaf, 0.5 * herald_steps[leaf_i], 0.0))
    msg_whole = jnp.asarray(np.floor(msg_s / dt), int_t)
    msg_frac = jnp.asarray(msg_s / dt - np.floor(msg_s / dt))
    store_each = jax.vmap(_store, in_axes=(0, 0, None, None, None))
    msg_t = jnp.asarray(msg_s, real_t)
    leaf_j, is_pur_j = jnp.asarray(leaf), jnp.asarray(is_pur)

    def body(carry: tuple) -> tuple:
        key, full, t_slot, rho_slot, acc = carry
        key, k_geo, k_del, k_cut, k_u, k_msg = jax.random.split(key, 6)
        # leaves fill their empty slots with fresh links
        fresh = ~full[:m] & leaf_j
        t_leaf = (jax.random.geometric(k_geo, slot_p, dtype=int_t) + slot_whole
                  + (jax.random.uniform(k_del, (m, 2)) < slot_frac).astype(int_t))
        t_slot = t_slot.at[:m].set(jnp.where(fresh, t_leaf, t_slot[:m]))
        rho_slot = rho_slot.at[:m].set(jnp.where(fresh[..., None, None], slot_state, rho_slot[:m]))
        full = full.at[:m].set(full[:m] | fresh)
        # nodes with both pairs, whose output slot is free, attempt
        active = full[:m, 0] & full[:m, 1] & ~full[parent, which]
        ta, tb = t_slot[:m, 0], t_slot[:m, 1]
        diff = jnp.abs(ta - tb)
        if finite:  # an elementary pair's cutoff counts from its true herald, half its flight before arrival
            c_eff = cut - jnp.where(ta < tb, slot_age[:, 0], slot_age[:, 1])
            whole_c = jnp.floor(c_eff)
            cutk = whole_c.astype(int_t) + (jax.random.uniform(k_cut, (m,)) < c_eff - whole_c).astype(int_t)
            ok = diff <= cutk
            dur = jnp.where(ok, jnp.maximum(ta, tb), jnp.minimum(ta, tb) + cutk)
        else:
            ok = jnp.ones((m,), bool)
            dur = jnp.maximum(ta, tb)
        wait = diff.astype(real_t) * dt
        ra, rb = rho_slot[:m, 0], rho_slot[:m, 1]
        a_older = (ta < tb)[:, None, None]
        ra = jnp.where(a_older, store_each(ra, wait, t1, t2, shape), ra)
        rb = jnp.where(a_older, rb, store_each(rb, wait, t1, t2, shape))
        pairs = (ra.reshape(m, 16, 1) * rb.reshape(m, 1, 16)).reshape(m, 256)
        out = jnp.einsum("ml,mlo->mo", pairs, ops).reshape(m, 4, 4)
        p_keep = jnp.where(is_pur_j, jnp.real(jnp.trace(out, axis1=-2, axis2=-1)), q_swap)
        kept = jnp.where(is_pur_j[:, None, None], out / jnp.where(p_keep > 0, p_keep, 1.0)[:, None, None], out)
        kept = jnp.where(is_pur_j[:, None, None], store_each(kept, msg_t, t1, t2, shape), kept)
        # a purification's outcome is known (success or not) one light time of its span later
        dur = dur + jnp.where(ok & is_pur_j,
                              msg_whole + (jax.random.uniform(k_msg, (m,)) < msg_frac).astype(int_t), 0)
        success = active & ok & (jax.random.uniform(k_u, (m,)) < p_keep)
        total = acc + dur
        acc = jnp.where(active, jnp.where(success, 0, total), acc)
        # a success delivers into the parent's slot; every attempt empties its own slots
        rows = jnp.asarray(parent)
        cols = jnp.asarray(which)
        t_slot = t_slot.at[rows, cols].set(jnp.where(success, total, t_slot[rows, cols]))
        rho_slot = rho_slot.at[rows, cols].set(jnp.where(success[:, None, None], kept, rho_slot[rows, cols]))
        full = full.at[rows, cols].set(full[rows, cols] | success)
        full = full.at[:m].set(full[:m] & ~active[:, None])
        return key, full, t_slot, rho_slot, acc

    init = (key, jnp.zeros((m + 1, 2), bool), jnp.zeros((m + 1, 2), int_t),
            jnp.zeros((m + 1, 2, 4, 4), states.dtype), jnp.zeros((m,), int_t))
    _, _, t_slot, rho_slot, _ = jax.lax.while_loop(lambda c: ~c[1][m, 0], body, init)
    return t_slot[m, 0], _end_fidelity(rho_slot[m, 0], message_s, t1, t2, shape)


def _end_fidelity(rho: jax.Array, message_s: float, t1: float, t2: float, shape: str) -> jax.Array:
    """Fidelity to ``Psi+`` of the delivered pair after the end qubits wait ``message_s`` for the swap outcomes."""
    rho = _store(rho, jnp.asarray(message_s), t1, t2, shape)
    psi = jnp.asarray([0, 1, 1, 0], rho.dtype) / math.sqrt(2.0)
    return jnp.real(jnp.conj(psi) @ rho @ psi)


def chain_monte_carlo(links: Any, n_links: int | None = None, *, schedule: str = "nested", cutoff_s: float = np.inf,
                      t2_s: float = np.inf, gate_error: float = 0.0, readout_error: float = 0.0,
                      swap_success_probability: float = 1.0, time_step_s: float | None = None,
                      n_samples: int = 20000, seed: int = 0, t1_s: float = np.inf,
                      memory_decay: str = "exponential", multiplexing: int = 1, length_km: Any = 0.0,
                      latency: bool = True, pipelined: bool = False, purification: str = "dejmps",
                      purification_rounds: Any = (), transfer_error: float = 0.0,
                      decoupling_t2_s: float = np.inf, batch_size: int | None = None,
                      progress: bool = False) -> MonteCarloResult:
    """Event-by-event simulation (JAX) of the protocol of :func:`ionjax.network.repeater_chain`, on the same grid.

    Each sample carries its pair's full two-qubit state: it checks what the grid's Bell-diagonal form drops (the
    single-qubit ``<Z>`` terms of T1; the twirl before a purification round).

    Args:
        as :func:`ionjax.network.repeater_chain` (concrete numbers); ``time_step_s`` defaults to the round of the
            fastest link (one attempt per step: the grid's exact case).
        n_samples: delivered end-to-end pairs to simulate (>= 2).
        seed: random seed (the same seed gives the same samples on the same devices and batch size).
        batch_size: trajectories per compiled batch (default :data:`DEFAULT_BATCH_SIZE`, at most ``n_samples``;
            rounded up to a multiple of the device count).
        progress: show a progress bar over the batches (tqdm).

    Returns:
        :class:`MonteCarloResult`, with the trajectories per second.
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule = {schedule!r} is not known; allowed: {', '.join(SCHEDULES)}.")
    if memory_decay not in MEMORY_DECAYS:
        raise ConfigError(f"memory_decay = {memory_decay!r} is not known; allowed: {', '.join(MEMORY_DECAYS)}.")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ConfigError(f"n_samples must be an integer >= 2, got {n_samples!r}.")
    p, rate, _, n, homogeneous = _link_arrays(links, n_links)
    if n > 256:
        raise ConfigError(f"chain_monte_carlo is a cross-check for small chains (n_links <= 256), got {n}.")
    if schedule == "nested" and n & (n - 1):
        raise ConfigError(f"The nested schedule needs a power-of-2 number of links, got n_links = {n}.")
    rounds = _check_rounds(purification, purification_rounds, schedule, n)
    _check_scalar("transfer_error", transfer_error, 0.0, 1.0)
    _check_scalar("decoupling_t2_s", decoupling_t2_s, 0.0, np.inf, lo_open=True)
    for name, v in (("t1_s", t1_s), ("t2_s", t2_s), ("cutoff_s", cutoff_s)):
        _check_scalar(name, v, 0.0, np.inf, lo_open=True)
    for name, v in (("gate_error", gate_error), ("readout_error", readout_error)):
        _check_scalar(name, v, 0.0, 1.0)
    _check_scalar("swap_success_probability", swap_success_probability, 0.0, 1.0, lo_open=True)
    states = _link_states(links, n_links)
    p, rate = np.asarray(p, float), np.asarray(rate, float)
    if homogeneous:
        p, rate, states = np.repeat(p, n), np.repeat(rate, n), np.repeat(states, n, axis=0)
    lengths = np.broadcast_to(np.asarray(length_km, float), (n,)).copy() if latency else np.zeros(n)
    p, rate, flight, delay_s = _rounds(p, rate, lengths, multiplexing, pipelined)
    dt = 1.0 / float(np.max(rate)) if time_step_s is None else float(time_step_s)
    p_step = -np.expm1(rate * dt * np.log1p(-np.clip(p, 0.0, 1.0 - 1e-15)))
    t1 = float(t1_s)
    t2 = float(decoupling_t2_s) if math.isfinite(float(decoupling_t2_s)) else float(t2_s)
    # each link's pair: moved into memory (transfer error), then aged by its herald's flight
    states = _depolarized(states, float(transfer_error))
    states = jnp.stack([_store(jnp.asarray(states[i]), jnp.asarray(flight[i]), t1, t2, memory_decay)
                        for i in range(n)])
    tree = protocol_tree(schedule, n, rounds, lengths)
    message = float(_message_time(jnp.asarray(lengths), schedule))
    traj = partial(_trajectory, tree=tree, p_step=p_step, states=states, delay=delay_s / dt, cut=float(cutoff_s) / dt,
                   t1=t1, t2=t2, shape=memory_decay, dt=dt, gate_error=float(gate_error),
                   readout_error=float(readout_error), q_swap=float(swap_success_probability),
                   purification=purification, message_s=message, herald_steps=np.asarray(flight) / dt)
    steps, fid, speed, n_dev = _run_batches(traj, n_samples, seed, batch_size, progress)
    sq = math.sqrt(n_samples)
    return MonteCarloResult(float(fid.mean()), float(fid.std() / sq), float(steps.mean() * dt),
                            float(steps.std() * dt / sq), n_samples, speed, n_dev)


def _run_batches(traj: Any, n_samples: int, seed: int, batch_size: int | None,
                 progress: bool) -> tuple[np.ndarray, np.ndarray, float, int]:
    """``traj(key) -> (steps, fidelity)`` over ``n_samples`` keys, in sharded batches of one compiled shape."""
    devices = jax.devices()
    n_dev = len(devices)
    size = min(int(batch_size or DEFAULT_BATCH_SIZE), n_samples)
    size = -(-size // n_dev) * n_dev
    mesh = jax.sharding.Mesh(np.asarray(devices), ("trajectories",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("trajectories"))
    run = jax.jit(jax.vmap(traj), in_shardings=sharding, out_shardings=sharding)
    n_batches = -(-n_samples // size)
    root = jax.random.key(seed)
    out_t, out_f = [], []
    batches = range(n_batches)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="trajectories", unit="batch")
    t_run, n_run = 0.0, 0
    for b in batches:
        keys = jax.device_put(jax.random.split(jax.random.fold_in(root, b), size), sharding)
        start = time.perf_counter()
        t, f = run(keys)
        t, f = np.asarray(t), np.asarray(f)
        if b > 0 or n_batches == 1:  # the first of several batches carries the compilation
            t_run += time.perf_counter() - start
            n_run += size
        out_t.append(t)
        out_f.append(f)
    steps = np.concatenate(out_t)[:n_samples].astype(float)
    fid = np.concatenate(out_f)[:n_samples]
    return steps, fid, (n_run / t_run if t_run > 0 else 0.0), n_dev


def _depolarized(states: np.ndarray, error: float) -> np.ndarray:
    """Pairs ``(K, 4, 4)`` after both qubits' transfer into memory (the grid's :func:`_transfer_factor`, here on
    the full state: ``rho -> (1 - e) rho + e I/2 (x) Tr rho`` on each qubit)."""
    if error == 0.0:
        return states
    from .ops import depolarize

    pair = DensityMatrix(jnp.asarray(states), PAIR_SPACE)
    for q in PAIR_SPACE.names:
        pair = depolarize(pair, (q,), error)
    return np.asarray(pair.data)


def _link_states(links: Any, n_links: int | None) -> np.ndarray:
    """The links' pair states ``(K, 4, 4)`` (as :func:`ionjax.network.chain._link_arrays` orders them)."""
    single = not isinstance(links, (list, tuple)) or is_number_tuple(links)
    els = [elementary_link(links)] if single else [elementary_link(x) for x in links]
    data = [np.asarray(e.state.data, complex) for e in els]
    return data[0] if data[0].ndim == 3 else np.stack(data)

