"""Gradient-based tuning of link knobs with optax: fidelity, rate, and each under a constraint on the other.

:func:`optimize` tunes the ``free`` dotted keys of a link::

    res = ij.optimize(link, free=["detection.window_ns", "nodes.excitation_probability"],
                      objective="fidelity_at_rate", min_rate_hz=200.0, steps=300)
    res.link, res.fidelity, res.rate_hz, res.history["fidelity"]

How it works:

* every free key gets a smooth bijection from an unconstrained number ``u`` to its physical range
  (:data:`ionjax.config.SCHEMA`): ``lo + (hi - lo) sigmoid(u)`` for a bounded range (probabilities,
  efficiencies, overlaps), ``lo + s softplus(u)`` for a quantity bounded on one side only (times,
  rates, lengths; ``s`` puts the starting value at ``u = 0``), so no step can leave the range;
* the objective is maximized (optax minimizes its negative) with gradients from ``jax.grad``
  through :func:`ionjax.simulate`; ``"rate"`` is maximized as ``log(rate)``;
* constraints are smooth exact penalties (:func:`penalized_objective`: a softplus of the shortfall
  with a bounded slope ``penalty_weight``), in log-rate for ``min_rate_hz`` and in units of the
  allowed infidelity ``1 - min_fidelity`` for ``min_fidelity``;
* the result is the best iterate seen: the best objective among the iterates that meet the
  constraint (or, if none does, the best penalized objective), with the whole history;
* ``checkpoint_dir`` saves the parameters and the optax state every ``checkpoint_every`` steps
  (leaves of the pytree flattened into an .npz, written atomically) and resumes from them, exactly:
  an interrupted run resumed gives the uninterrupted run's numbers. The checkpoint records the run
  (link, free keys, objective, constraint, penalty, and the optimizer fingerprinted by behaviour,
  :func:`optimizer_fingerprint`); a different run (another ``--lr`` included) is refused, naming what
  differs. A larger ``steps`` continues a finished run; a smaller one returns the longer run's result
  with a :class:`~ionjax.sweep.CheckpointWarning` (``result.steps`` says how many steps it covers).
  A checkpoint that cannot be read (empty, truncated, random bytes) is replaced: the run starts
  afresh with a warning naming the file. Refusing would only make the user delete a file that holds
  nothing recoverable, and the run is deterministic, so the fresh run gives exactly the uninterrupted
  result; a readable checkpoint of another run, by contrast, is refused, never overwritten.
  Stale ``*.tmp`` files of a killed run are removed;
* :func:`pareto_front` traces the fidelity-rate front by solving many constrained problems at once
  (``vmap`` over the constraint values, one compilation).
"""

from __future__ import annotations

import functools
import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._io import to_json
from .config import SCHEMA, STATIC_KEYS, Link, key_spec, link_to_dict, load_link
from .errors import ConfigError

__all__ = [
    "optimize",
    "pareto_front",
    "OptimizeResult",
    "ParetoFront",
    "Bijection",
    "bijection",
    "penalized_objective",
    "OBJECTIVES",
    "link_to_toml",
    "optimizer_fingerprint",
]

OBJECTIVES = ("fidelity", "rate", "fidelity_at_rate", "rate_at_fidelity")
_STATIC_KEYS = STATIC_KEYS

_FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- bijections
@dataclass(frozen=True)
class Bijection:
    """Smooth map from an unconstrained ``u`` to a key's physical range.

    ``kind == "sigmoid"``: ``x = lo + (hi - lo) sigmoid(u)`` (bounded range);
    ``kind == "softplus"``: ``x = lo + scale softplus(u)`` (bounded below only).
    """

    key: str
    kind: str
    lo: float
    hi: float
    scale: float = 1.0

    def forward(self, u: jax.Array) -> jax.Array:
        """Physical value of ``u``."""
        if self.kind == "sigmoid":
            return self.lo + (self.hi - self.lo) * jax.nn.sigmoid(u)
        return self.lo + self.scale * jax.nn.softplus(u)

    def inverse(self, x: float, margin: float | None = None) -> float:
        """The ``u`` of a physical value. Values on or outside the range are pulled inside by ``margin`` (a
        fraction of the range, or of ``scale`` for a half line; default just inside: 1e-6, 1e-9); a larger
        margin keeps the start where the map still has slope (``ij.fit`` uses 1e-3)."""
        if self.kind == "sigmoid":
            m = 1e-6 if margin is None else margin
            t = (float(x) - self.lo) / (self.hi - self.lo)
            t = min(max(t, m), 1.0 - m)
            return math.log(t) - math.log1p(-t)
        y = max((float(x) - self.lo) / self.scale, 1e-9 if margin is None else margin)
        return y + math.log(-math.expm1(-y)) if y > 30 else math.log(math.expm1(y))


def bijection(key: str, value: float, link: Link | None = None) -> Bijection:
    """The bijection for dotted ``key`` (its range from the key's spec in ``link``, or from
    :data:`ionjax.config.SCHEMA` for a section key), scaled around ``value``."""
    if link is not None:
        spec = key_spec(link, key)
    else:
        section, _, leaf = key.rpartition(".")
        spec = SCHEMA["node_a" if section == "nodes" else section][leaf]
    _, lo, hi, _, _ = spec
    if math.isfinite(hi):
        return Bijection(key, "sigmoid", float(lo), float(hi))
    span = float(value) - float(lo)
    scale = span / math.log(2.0) if span > 0 and math.isfinite(span) else 1.0
    return Bijection(key, "softplus", float(lo), math.inf, scale)


# ----------------------------------------------------------------------------- objectives
def penalized_objective(objective: str, fidelity: jax.Array, rate_hz: jax.Array, constraint: jax.Array,
                        weight: float = 1.0, sharpness: float = 1000.0) -> tuple[jax.Array, jax.Array]:
    """``(value to maximize, penalty)`` for ``objective`` given a point's fidelity and rate.

    * ``"fidelity"``: ``F``; ``"rate"``: ``log(rate)``;
    * ``"fidelity_at_rate"``: ``F - pen(log(r_min) - log(rate))`` (``constraint = r_min``);
    * ``"rate_at_fidelity"``: ``log(rate) - pen((F_min - F) / (1 - F_min))`` (``constraint = F_min``;
      the shortfall in units of the allowed infidelity).

    ``pen(d) = weight * softplus(sharpness * d) / sharpness``: about ``weight * d`` for a violation
    ``d >> 1 / sharpness`` and vanishing on the feasible side. Its slope is bounded by ``weight`` (an
    exact-penalty price: one unit of the objective per unit of shortfall), which keeps the gradient
    scale steady across the boundary (Adam's moment estimates are not swamped), and the optimum
    stays feasible as long as the objective's slope along the constraint is below ``weight``.
    """
    tiny = jnp.finfo(jnp.result_type(rate_hz)).tiny
    log_rate = jnp.log(jnp.maximum(rate_hz, tiny))
    zero = jnp.zeros_like(fidelity)

    def pen(d: jax.Array) -> jax.Array:
        return weight * jax.nn.softplus(sharpness * d) / sharpness

    if objective == "fidelity":
        return fidelity, zero
    if objective == "rate":
        return log_rate, zero
    if objective == "fidelity_at_rate":
        p = pen(jnp.log(constraint) - log_rate)
        return fidelity - p, p
    if objective == "rate_at_fidelity":
        p = pen((constraint - fidelity) / jnp.maximum(1.0 - constraint, 1e-6))
        return log_rate - p, p
    raise ConfigError(f"Unknown objective {objective!r}; choose one of {OBJECTIVES}.")


# ----------------------------------------------------------------------------- TOML output
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, int):
        return str(v)
    x = float(v)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _toml_table(lines: list, prefix: str, table: dict) -> None:
    """Append ``table`` at dotted ``prefix``: its values, then sub-tables ``[prefix.k]`` and arrays of tables
    ``[[prefix.k]]`` (a node's path)."""
    lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, (dict, list))]
    for k, v in table.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            lines += ["", f"[{name}]"]
            _toml_table(lines, name, v)
        elif isinstance(v, list):
            for entry in v:
                lines += ["", f"[[{name}]]"]
                _toml_table(lines, name, entry)


def link_to_toml(link: Link) -> str:
    """The link as TOML text (``link.to_dict()``: top-level keys, then one table per section, a node's path
    elements as ``[[node_x.path]]`` and per-detector values as ``[detection.detectors.NAME]``).

    ``ionjax.load_link`` reads it back to the same numbers (floats are written with ``repr``).
    """
    lines: list = []
    _toml_table(lines, "", link_to_dict(link))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class OptimizeResult:
    """Result of :func:`optimize`.

    Attributes:
        link: the optimized link (the best iterate by the penalized objective).
        params: ``{key: value}`` of the free keys at the best iterate.
        objective: the objective's name; constraint: ``{"min_rate_hz": ...}`` or ``{"min_fidelity": ...}``.
        value: the penalized objective at the best iterate (``log(rate)`` for rate objectives).
        fidelity, rate_hz, success_probability: at the best iterate.
        best_step: index into the history of the best iterate.
        history: arrays over the evaluated iterates (``steps + 1``: every step and the final point):
            ``step, value, penalty, fidelity, rate_hz, success_probability`` and ``params[key]``.
        initial: fidelity and rate of the starting link.
        steps: the optimizer steps the result covers: the requested ``steps``, or more when
            ``checkpoint_dir`` held a finished run of more steps (its result is returned, with a
            :class:`~ionjax.sweep.CheckpointWarning`).
        resumed_from: the step the run resumed from (0 for a fresh run).
    """

    link: Link
    params: dict[str, float]
    objective: str
    constraint: dict[str, float]
    value: float
    fidelity: float
    rate_hz: float
    success_probability: float
    best_step: int
    history: dict[str, Any]
    free: tuple[str, ...]
    initial: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    resumed_from: int = 0

    @property
    def feasible(self) -> bool:
        """Whether the best iterate meets the constraint (to 1e-6 relative)."""
        if "min_rate_hz" in self.constraint:
            return self.rate_hz >= self.constraint["min_rate_hz"] * (1 - 1e-6)
        if "min_fidelity" in self.constraint:
            return self.fidelity >= self.constraint["min_fidelity"] - 1e-6
        return True

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``optimized_link.toml`` (loadable by :func:`ionjax.load_link`), ``optimized_link.json``
        (link and summary), ``history.csv`` and ``history.npz`` into ``directory``."""
        from .sweep import _atomic_savez, _atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        summary = {"objective": self.objective, "constraint": self.constraint, "free": list(self.free),
                   "params": self.params, "fidelity": self.fidelity, "rate_hz": self.rate_hz,
                   "success_probability": self.success_probability, "value": self.value,
                   "best_step": self.best_step, "steps": self.steps, "resumed_from": self.resumed_from,
                   "initial": self.initial, "link": link_to_dict(self.link)}
        _atomic_write_text(d / "optimized_link.json", to_json(summary))
        _atomic_write_text(d / "optimized_link.toml", link_to_toml(self.link))
        cols = ["step", "value", "penalty", "fidelity", "rate_hz", "success_probability"]
        arrays = {c: np.asarray(self.history[c]) for c in cols}
        arrays.update({f"params[{k}]": np.asarray(v) for k, v in self.history["params"].items()})
        _atomic_savez(d / "history.npz", arrays)
        _atomic_write_text(d / "history.csv", _csv_text(arrays))
        return d

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return (f"OptimizeResult({self.objective}{self.constraint or ''}: F={self.fidelity:.6f}, "
                f"rate={self.rate_hz:.6g} Hz at {ps}; best step {self.best_step})")


@dataclass(frozen=True)
class ParetoFront:
    """Result of :func:`pareto_front`: one constrained optimum per constraint value, sorted by rate.

    Attributes:
        objective: ``"fidelity_at_rate"`` (constraints are minimum rates) or ``"rate_at_fidelity"``.
        constraints: ``(K,)`` the constraint values.
        fidelity, rate_hz, success_probability: ``(K,)`` at each optimum.
        params: ``{key: (K,)}`` the optimized free keys.
        feasible: ``(K,)`` whether each optimum meets its constraint.
        links: the optimized links.
    """

    objective: str
    free: tuple[str, ...]
    constraints: np.ndarray
    fidelity: np.ndarray
    rate_hz: np.ndarray
    success_probability: np.ndarray
    params: dict[str, np.ndarray]
    feasible: np.ndarray
    links: tuple[Link, ...]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the front as CSV (one row per constraint value)."""
        from .sweep import _atomic_write_text

        path = Path(path)
        cols = {"constraint": self.constraints, "fidelity": self.fidelity, "rate_hz": self.rate_hz,
                "success_probability": self.success_probability, "feasible": self.feasible.astype(float),
                **{k: v for k, v in self.params.items()}}
        _atomic_write_text(path, _csv_text(cols))
        return path


def _csv_text(cols: dict[str, Any]) -> str:
    """CSV text: a header of the column names, then one row per index (floats written with repr)."""
    lines = [",".join(cols)] + [",".join(repr(float(x)) for x in row) for row in zip(*cols.values())]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- machinery
def _check_free(link: Link, free: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(free, str):
        free = (free,)
    free = tuple(free)
    if not free:
        raise ConfigError("Argument `free` must name at least one dotted key to tune, e.g. ['detection.window_ns'].")
    for k in free:
        if k in _STATIC_KEYS:
            raise ConfigError(f"{k!r} is static structure of the link, not a number: it cannot be optimized.")
        link.get(k)  # ConfigError with a suggestion for an unknown key
    if len(set(free)) != len(free):
        raise ConfigError(f"Argument `free` names a key twice: {free}.")
    return free


def _check_objective(objective: str, min_rate_hz: float | None, min_fidelity: float | None) -> dict[str, float]:
    if objective not in OBJECTIVES:
        import difflib

        close = difflib.get_close_matches(str(objective), OBJECTIVES, n=1)
        raise ConfigError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}."
                          + (f" Did you mean {close[0]!r}?" if close else ""))
    try:
        min_rate_hz = None if min_rate_hz is None else float(min_rate_hz)
        min_fidelity = None if min_fidelity is None else float(min_fidelity)
    except (TypeError, ValueError):
        raise ConfigError(f"Arguments `min_rate_hz` and `min_fidelity` must be numbers, got {min_rate_hz!r} and "
                          f"{min_fidelity!r}.") from None
    if objective == "fidelity_at_rate":
        if min_rate_hz is None or not (float(min_rate_hz) > 0 and math.isfinite(float(min_rate_hz))):
            raise ConfigError(f"objective 'fidelity_at_rate' needs min_rate_hz > 0 (finite), got {min_rate_hz!r}.")
        return {"min_rate_hz": float(min_rate_hz)}
    if objective == "rate_at_fidelity":
        if min_fidelity is None or not (0.0 < float(min_fidelity) < 1.0):
            raise ConfigError(f"objective 'rate_at_fidelity' needs 0 < min_fidelity < 1, got {min_fidelity!r}.")
        return {"min_fidelity": float(min_fidelity)}
    if min_rate_hz is not None or min_fidelity is not None:
        raise ConfigError(f"objective {objective!r} takes no constraint; use 'fidelity_at_rate' (min_rate_hz) "
                          "or 'rate_at_fidelity' (min_fidelity).")
    return {}


#: Up to this many free knobs :func:`optimize` differentiates in forward mode (``jax.jacfwd``), above it in
#: reverse mode: the compiled link is one fused loop forward, and its forward-mode derivative stays one
#: loop, while XLA splits the reverse pass into about a hundred (benchmarks/bench_link.py measures both).
FORWARD_MODE_MAX = 4


@functools.lru_cache(maxsize=32)
def _make_step(free: tuple[str, ...], bij: tuple[Bijection, ...], objective: str, weight: float,
               sharpness: float, opt: Any) -> tuple[Callable, Callable]:
    from .link import evaluate as _simulate

    def metrics(u: jax.Array, base: Link, constraint: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        x = [b.forward(u[i]) for i, b in enumerate(bij)]
        res = _simulate(base.set(dict(zip(free, x))))
        value, pen = penalized_objective(objective, res.fidelity, res.rate_hz, constraint, weight, sharpness)
        aux = {"value": value, "penalty": pen, "fidelity": res.fidelity, "rate_hz": res.rate_hz,
               "success_probability": res.success_probability, "x": jnp.stack(x)}
        return -value, aux

    if len(free) <= FORWARD_MODE_MAX:  # forward mode: one fused pass carrying len(free) tangents
        def value_and_grad(u: jax.Array, base: Link, constraint: jax.Array) -> tuple:
            g, aux = jax.jacfwd(metrics, has_aux=True)(u, base, constraint)
            return (-aux["value"], aux), g
    else:
        value_and_grad = jax.value_and_grad(metrics, has_aux=True)
    vg = jax.vmap(value_and_grad, in_axes=(0, None, 0))

    def step(u: jax.Array, state: Any, base: Link, constraint: jax.Array) -> tuple:
        (_, aux), g = vg(u, base, constraint)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, state = jax.vmap(opt.update)(g, state, u)
        return u + updates, state, aux

    def evaluate(u: jax.Array, base: Link, constraint: jax.Array) -> dict[str, jax.Array]:
        return jax.vmap(metrics, in_axes=(0, None, 0))(u, base, constraint)[1]

    return jax.jit(step), jax.jit(evaluate)


@functools.cache
def _default_optimizer() -> Any:
    import optax

    return optax.adam(0.05)


_CKPT_NAME = "optimizer_checkpoint.npz"
_HIST_KEYS = ("value", "penalty", "fidelity", "rate_hz", "success_probability", "x")


def optimizer_fingerprint(optimizer: Any, n_params: int, dtype: Any = jnp.float64) -> tuple[dict, np.ndarray]:
    """What identifies an optax ``GradientTransformation`` by its behaviour: ``(structure, probe)``.

    An optax optimizer is a pair of functions, so it is fingerprinted by what it does: ``structure``
    is the tree structure, shapes and dtypes of ``init(params)``; ``probe`` ``(3, n_params)`` holds the
    updates it makes to three fixed, deterministic gradients from a fixed start. Another kind of
    optimizer shows in the structure; another learning rate, schedule or hyperparameter shows in the
    probe. Probes are compared with a tolerance (``1000 eps``), so the same optimizer on another
    device or XLA version still matches.

    Raises:
        ConfigError: ``optimizer.init`` or ``optimizer.update(grads, state, params)`` fails (an
            optimizer that needs extra arguments cannot be used by :func:`optimize` either).
    """
    i = np.arange(n_params)
    params = jnp.asarray(0.25 + 0.5 * np.sin(1.0 + 0.7 * i), dtype)
    try:
        state = optimizer.init(params)
        leaves, treedef = jax.tree_util.tree_flatten(state)
        structure = {"state": str(treedef),
                     "leaves": [[list(np.shape(x)), str(np.asarray(x).dtype)] for x in leaves]}
        probe = []
        for k in range(3):
            g = jnp.asarray((0.5 + k) * np.cos(0.3 + 1.3 * i + 2.1 * k), dtype)
            upd, state = optimizer.update(g, state, params)
            params = params + upd
            probe.append(np.asarray(upd, np.float64))
    except Exception as exc:  # noqa: BLE001 - any failure of a user's optimizer
        raise ConfigError(f"Argument `optimizer` ({optimizer!r}) failed on a probe gradient: "
                          f"{type(exc).__name__}: {exc}. optimize calls optimizer.init(params) and "
                          "optimizer.update(grads, state, params): give an optax GradientTransformation "
                          "such as optax.adam(0.05).") from exc
    return structure, np.stack(probe)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(d, list):
        out = {}
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: d}


def _differences(old: dict, new: dict, old_probe: np.ndarray, new_probe: np.ndarray, eps: float) -> list[str]:
    """What differs between two runs' descriptions, in words (empty: the same run)."""
    diffs = []
    fo, fn = _flat(old.get("link")), _flat(new["link"])
    keys = [k for k in sorted(set(fo) | set(fn)) if fo.get(k) != fn.get(k)]
    if keys:
        shown = ", ".join(f"{k}: {fo.get(k)!r} -> {fn.get(k)!r}" for k in keys[:4])
        diffs.append(f"the link ({shown}{', ...' if len(keys) > 4 else ''})")
    if old.get("free") != new["free"]:
        diffs.append(f"the free keys ({old.get('free')} -> {new['free']})")
    if old.get("objective") != new["objective"]:
        diffs.append(f"the objective ({old.get('objective')!r} -> {new['objective']!r})")
    if old.get("constraint_key") != new["constraint_key"] or old.get("constraints") != new["constraints"]:
        diffs.append(f"the constraint ({old.get('constraint_key')} {old.get('constraints')} -> "
                     f"{new['constraint_key']} {new['constraints']})")
    if old.get("penalty") != new["penalty"]:
        diffs.append(f"penalty_weight/penalty_sharpness ({old.get('penalty')} -> {new['penalty']})")
    if old.get("optimizer") != new["optimizer"]:
        diffs.append("the optimizer (another kind, or a schedule where there was none: its state has another "
                     "structure)")
    elif (np.shape(old_probe) != np.shape(new_probe)
          or not np.allclose(old_probe, new_probe, rtol=1000 * eps, atol=0.0, equal_nan=True)):
        diffs.append("the optimizer's hyperparameters (learning rate, schedule, ...: its updates to a fixed "
                     "probe gradient differ)")
    return diffs


class _OptCheckpoint:
    """The optimizer checkpoint of one run: ``optimizer_checkpoint.npz`` in a directory.

    It holds the run's description (``run``: link, free keys, objective, constraint, penalty, the
    optimizer's state structure, as JSON; ``optimizer_probe``: its updates to fixed probe gradients,
    see :func:`optimizer_fingerprint`), then ``step``, ``u``, the optax state leaves ``state_i`` and the
    history ``hist_*``.
    """

    def __init__(self, directory: str | os.PathLike, run: dict, probe: np.ndarray, eps: float):
        from ._io import prepare_out_dir
        from .sweep import _remove_stale_tmp

        self.dir = Path(directory)
        self.path = self.dir / _CKPT_NAME
        self.run, self.probe, self.eps = run, probe, eps
        self.run_json = json.dumps(run, sort_keys=True)
        self.writer = jax.process_index() == 0
        if self.writer:
            prepare_out_dir(self.dir, "checkpoint_dir")
            _remove_stale_tmp(self.dir, (_CKPT_NAME,))

    def _fresh(self, why: str) -> None:
        from .sweep import CheckpointWarning

        warnings.warn(f"Optimizer checkpoint {str(self.path)!r} {why}: starting the optimization afresh (the "
                      "run is deterministic, so the result equals an uninterrupted run; the file is replaced at "
                      "the first checkpoint).", CheckpointWarning, stacklevel=5)

    def load(self, state_template: Any, u_shape: tuple) -> tuple | None:
        """``(step, u, state, history)`` of the checkpoint, or None (none, or damaged: with a warning).

        Raises:
            ConfigError: the checkpoint is of a different run (naming what differs), or of an older
                format that cannot be checked.
        """
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}  # every member: a truncation or bad CRC shows here
        except Exception as exc:  # noqa: BLE001 - empty, truncated, random bytes
            self._fresh(f"cannot be read ({type(exc).__name__}: {exc})")
            return None
        if "run" not in data:
            if "hash" in data:
                raise ConfigError(
                    f"Optimizer checkpoint {str(self.path)!r} was written by an older ionjax that did not record "
                    "the optimizer, so it cannot be checked to be this run: delete it (or its directory) to "
                    "start over, or use another checkpoint directory.")
            self._fresh("holds no run description (it is not an ionjax optimizer checkpoint)")
            return None
        try:
            old = json.loads(str(data["run"]))
            old_probe = np.asarray(data["optimizer_probe"], np.float64)
            if not isinstance(old, dict):
                raise ValueError("not a JSON object")
        except (KeyError, ValueError) as exc:
            self._fresh(f"has a damaged run description ({exc})")
            return None
        diffs = _differences(old, self.run, old_probe, self.probe, self.eps)
        if diffs:
            raise ConfigError(
                f"Optimizer checkpoint {str(self.path)!r} holds a different optimization: "
                + "; ".join(diffs) + " differ from this run's. Resuming it would mix two runs: use another checkpoint "
                f"directory (another --out), or delete {str(self.path)!r} to start over.")
        try:
            step = int(data["step"])
            u = np.asarray(data["u"])
            leaves, treedef = jax.tree_util.tree_flatten(state_template)
            new_leaves = []
            for i, x in enumerate(leaves):
                v = data[f"state_{i}"]
                if v.shape != np.shape(x):
                    raise ValueError(f"state_{i} has shape {v.shape}, not {np.shape(x)}")
                new_leaves.append(jnp.asarray(v, dtype=jnp.asarray(x).dtype))
            if f"state_{len(leaves)}" in data:
                raise ValueError("it has more optimizer-state leaves than this optimizer")
            hist = {k: list(data[f"hist_{k}"]) for k in _HIST_KEYS}
            if step < 0 or u.shape != u_shape or any(len(v) != step for v in hist.values()):
                raise ValueError(f"step {step}, u of shape {u.shape} (want {u_shape}), history lengths "
                                 f"{[len(v) for v in hist.values()]}")
        except (KeyError, ValueError, TypeError) as exc:
            self._fresh(f"is incomplete or inconsistent ({exc})")
            return None
        return step, u, jax.tree_util.tree_unflatten(treedef, new_leaves), hist

    def save(self, step: int, u: np.ndarray, state: Any, hist: dict[str, list]) -> None:
        from .sweep import _atomic_savez

        if not self.writer:
            return
        arrays = {"run": np.array(self.run_json), "optimizer_probe": self.probe, "format": np.array(_FORMAT_VERSION),
                  "step": np.array(step), "u": np.asarray(u)}
        arrays.update({f"state_{i}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(state))})
        arrays.update({f"hist_{k}": np.asarray(v) for k, v in hist.items()})
        _atomic_savez(self.path, arrays)


def _optimize_batch(link: Link, free: tuple[str, ...], objective: str, constraints: np.ndarray, optimizer: Any,
                    steps: int, weight: tuple[float, float], checkpoint_dir: str | os.PathLike | None,
                    checkpoint_every: int, progress: bool, callback: Callable[[int, dict], None] | None,
                    desc: str, constraint_key: str = "") -> tuple:
    """Run the batch of problems; returns ``(history, bijections, info)``, ``info`` with ``steps`` (the
    steps the history covers) and ``resumed_from`` (the checkpoint's step, 0 for a fresh run)."""
    from tqdm.auto import tqdm

    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ConfigError(f"Argument `steps` must be an integer >= 0, got {steps!r}.")
    steps = int(steps)
    if not all(isinstance(w, (int, float, np.integer, np.floating)) and not isinstance(w, bool)
               and 0 < w < math.inf for w in weight):
        raise ConfigError(f"Arguments `penalty_weight` and `penalty_sharpness` must be finite numbers > 0, got "
                          f"{weight!r}; the defaults are 1.0 and 1000.0.")
    opt = optimizer if optimizer is not None else _default_optimizer()
    if not hasattr(opt, "init") or not hasattr(opt, "update"):
        raise ConfigError(f"Argument `optimizer` must be an optax GradientTransformation, got {opt!r}.")
    real = jnp.result_type(link.attempt_rate_hz)
    bij = tuple(bijection(k, float(link.get(k)), link) for k in free)
    u0 = np.array([b.inverse(float(link.get(k))) for k, b in zip(free, bij)], dtype=real)
    n_prob = len(constraints)
    u = jnp.asarray(np.tile(u0, (n_prob, 1)))
    cons = jnp.asarray(constraints, real)
    state = jax.vmap(opt.init)(u)
    step_fn, eval_fn = _make_step(free, bij, objective, float(weight[0]), float(weight[1]), opt)

    hist: dict[str, list] = {k: [] for k in _HIST_KEYS}
    start = 0
    ckpt = None
    if checkpoint_dir is not None:
        structure, probe = optimizer_fingerprint(opt, len(free), real)
        run = {"format": _FORMAT_VERSION, "link": link_to_dict(link), "free": list(free), "objective": objective,
               "constraint_key": constraint_key, "constraints": [float(c) for c in np.atleast_1d(constraints)],
               "penalty": [float(w) for w in weight], "optimizer": structure}
        ckpt = _OptCheckpoint(checkpoint_dir, run, probe, float(jnp.finfo(real).eps))
        loaded = ckpt.load(state, (n_prob, len(free)))
        if loaded is not None:
            start, u_np, state, hist = loaded
            u = jnp.asarray(u_np, real)
            if start > steps:
                from .sweep import CheckpointWarning

                warnings.warn(
                    f"Optimizer checkpoint {str(ckpt.path)!r} holds a finished run of {start} steps, more than the "
                    f"{steps} requested: returning its {start}-step result (result.steps == {start}, "
                    f"result.resumed_from == {start}). For a {steps}-step run use another checkpoint directory, "
                    "or delete this one.", CheckpointWarning, stacklevel=4)
    total = max(steps, start)

    def record(aux: dict[str, jax.Array]) -> None:
        for k in hist:
            hist[k].append(np.asarray(aux[k]))

    bar = tqdm(total=total, initial=start, unit="step", disable=not progress, desc=desc, dynamic_ncols=True)
    try:
        for t in range(start, steps):
            u, state, aux = step_fn(u, state, link, cons)
            record(aux)
            if progress and n_prob == 1:
                bar.set_postfix(F=f"{float(aux['fidelity'][0]):.5f}", rate=f"{float(aux['rate_hz'][0]):.4g}",
                                refresh=False)
            bar.update(1)
            if callback is not None:
                callback(t, {k: np.asarray(v) for k, v in aux.items()})
            if ckpt is not None and ((t + 1) % checkpoint_every == 0 or t + 1 == steps):
                ckpt.save(t + 1, np.asarray(u), state, hist)
    finally:
        bar.close()
    if len(hist["value"]) == total:  # the final point (after the last update), once
        record(eval_fn(u, link, cons))
    h = {k: np.stack(v) for k, v in hist.items()}  # (T, K) and x: (T, K, n_free)
    return h, bij, {"steps": total, "resumed_from": start}


def _result_for(link: Link, free: tuple[str, ...], h: dict[str, np.ndarray], k: int, objective: str,
                constraint: dict[str, float], initial: dict[str, float], info: dict | None = None) -> OptimizeResult:
    value = np.where(np.isfinite(h["value"][:, k]), h["value"][:, k], -np.inf)
    fid, rate = h["fidelity"][:, k], h["rate_hz"][:, k]
    if "min_rate_hz" in constraint:  # best raw objective among the feasible iterates
        ok, raw = rate >= constraint["min_rate_hz"], fid
    elif "min_fidelity" in constraint:
        ok, raw = fid >= constraint["min_fidelity"], np.log(np.maximum(rate, np.finfo(float).tiny))
    else:
        ok, raw = np.ones_like(value, bool), value
    ok &= np.isfinite(raw)
    best = int(np.argmax(np.where(ok, raw, -np.inf))) if ok.any() else int(np.argmax(value))
    x = h["x"][best, k]
    params = {key: float(x[i]) for i, key in enumerate(free)}
    history = {"step": np.arange(len(value)), "value": h["value"][:, k], "penalty": h["penalty"][:, k],
               "fidelity": h["fidelity"][:, k], "rate_hz": h["rate_hz"][:, k],
               "success_probability": h["success_probability"][:, k],
               "params": {key: h["x"][:, k, i] for i, key in enumerate(free)}}
    return OptimizeResult(
        link=link.set(params), params=params, objective=objective, constraint=constraint,
        value=float(h["value"][best, k]), fidelity=float(h["fidelity"][best, k]),
        rate_hz=float(h["rate_hz"][best, k]), success_probability=float(h["success_probability"][best, k]),
        best_step=best, history=history, free=free, initial=initial, steps=int((info or {}).get("steps", 0)),
        resumed_from=int((info or {}).get("resumed_from", 0)))


def optimize(
    link: Link | dict | str,
    free: Sequence[str] | str,
    objective: str = "fidelity",
    optimizer: Any = None,
    steps: int = 200,
    *,
    min_rate_hz: float | None = None,
    min_fidelity: float | None = None,
    penalty_weight: float = 1.0,
    penalty_sharpness: float = 1000.0,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 10,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
) -> OptimizeResult:
    """Tune the ``free`` keys of ``link`` by gradient ascent on ``objective`` (optax).

    Args:
        link: the starting link (Link, dict or TOML path); the free keys start at its values.
        free: dotted keys to tune (``"nodes.KEY"`` tunes both nodes' KEY together).
        objective: ``"fidelity"``, ``"rate"``, ``"fidelity_at_rate"`` (needs ``min_rate_hz``) or
            ``"rate_at_fidelity"`` (needs ``min_fidelity``); see :func:`penalized_objective`.
        optimizer: an optax ``GradientTransformation`` (default ``optax.adam(0.05)``) acting on the
            unconstrained parameters (see the module docstring).
        steps: number of gradient steps (with a checkpoint of a finished run: more continue it; fewer
            return its longer result with a warning, see :attr:`OptimizeResult.steps`).
        min_rate_hz, min_fidelity: the constraint of the constrained objectives.
        penalty_weight, penalty_sharpness: slope bound and sharpness of the constraint penalty
            (:func:`penalized_objective`); raise the weight if the optimum violates the constraint.
        checkpoint_dir: save parameters, optimizer state and history every ``checkpoint_every`` steps
            and resume from them (a different run, another optimizer or learning rate included, is
            refused naming what differs; an unreadable checkpoint is replaced with a warning).
        progress: show a tqdm progress bar.
        callback: ``callback(step, metrics)`` after every step (numpy metrics of the evaluated point).

    Returns:
        :class:`OptimizeResult` (the best iterate and the history).

    Raises:
        ConfigError: unknown or static key, unknown objective, a missing, stray or NaN constraint, bad
            ``steps``/``checkpoint_every``/penalty, or a checkpoint of a different run.
    """
    if not isinstance(link, Link):
        link = load_link(link)
    free = _check_free(link, free)
    constraint = _check_objective(objective, min_rate_hz, min_fidelity)
    cval = next(iter(constraint.values()), 1.0)
    if not (isinstance(checkpoint_every, (int, np.integer)) and not isinstance(checkpoint_every, bool)
            and checkpoint_every >= 1):
        raise ConfigError(f"Argument `checkpoint_every` must be an integer >= 1, got {checkpoint_every!r}.")
    from .link.simulate import simulate

    r0 = simulate(link)
    initial = {"fidelity": float(r0.fidelity), "rate_hz": float(r0.rate_hz), **{k: float(link.get(k)) for k in free}}
    h, _, info = _optimize_batch(link, free, objective, np.array([cval]), optimizer, steps,
                                 (penalty_weight, penalty_sharpness), checkpoint_dir, checkpoint_every, progress,
                                 callback, desc=f"optimize {objective}",
                                 constraint_key=next(iter(constraint), ""))
    return _result_for(link, free, h, 0, objective, constraint, initial, info)


def _constraint_values(arg: str, values: Any, ok: Callable[[float], bool], allowed: str, example: str) -> np.ndarray:
    """``values`` of :func:`pareto_front`'s ``arg`` as a 1-D float array; ConfigError naming ``arg`` otherwise."""
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise ConfigError(f"Argument `{arg}` must be a list of numbers, got {values!r}; e.g. {example}.") from None
    if arr.ndim != 1:
        raise ConfigError(f"Argument `{arg}` must be a 1-D list of numbers, got shape {arr.shape}; e.g. {example}.")
    if arr.size == 0:
        raise ConfigError(f"Argument `{arg}` is empty: a front needs at least one value; e.g. {example}.")
    for i, v in enumerate(arr):
        if not ok(float(v)):
            raise ConfigError(f"Argument `{arg}`[{i}] = {float(v)!r} is invalid: allowed are {allowed}; "
                              f"e.g. {example}.")
    return arr


def pareto_front(
    link: Link | dict | str,
    free: Sequence[str] | str,
    rates: Sequence[float] | None = None,
    fidelities: Sequence[float] | None = None,
    *,
    optimizer: Any = None,
    steps: int = 300,
    penalty_weight: float = 1.0,
    penalty_sharpness: float = 1000.0,
    progress: bool = True,
) -> ParetoFront:
    """Trace the fidelity-rate front: the best fidelity at each required rate (or the best rate at
    each required fidelity), tuning the ``free`` keys.

    Give exactly one of ``rates`` (minimum rates, Hz: maximize fidelity at each) or ``fidelities``
    (minimum fidelities: maximize rate at each). All problems run together (``vmap`` over the
    constraint values; one compilation), each from ``link``'s values.

    Returns:
        :class:`ParetoFront`, sorted by rate.

    Raises:
        ConfigError: neither or both of ``rates`` and ``fidelities``; an empty list; a NaN, infinite or
            out-of-range value (naming ``rates[i]`` / ``fidelities[i]``); the errors of :func:`optimize`.
    """
    if not isinstance(link, Link):
        link = load_link(link)
    free = _check_free(link, free)
    if (rates is None) == (fidelities is None):
        raise ConfigError("pareto_front needs exactly one of `rates` (minimum rates, Hz) or `fidelities`.")
    if rates is not None:
        objective, key, arg = "fidelity_at_rate", "min_rate_hz", "rates"
        values = _constraint_values("rates", rates, lambda v: 0 < v < math.inf, "finite rates > 0 (Hz)",
                                    "rates=[100.0, 1000.0]")
    else:
        objective, key, arg = "rate_at_fidelity", "min_fidelity", "fidelities"
        values = _constraint_values("fidelities", fidelities, lambda v: 0 < v < 1, "fidelities in (0, 1)",
                                    "fidelities=[0.9, 0.95]")
    h, _, info = _optimize_batch(link, free, objective, values, optimizer, steps, (penalty_weight, penalty_sharpness),
                                 None, 1, progress, None, desc=f"pareto ({len(values)} {arg})")
    results = [_result_for(link, free, h, k, objective, {key: float(v)}, {}, info) for k, v in enumerate(values)]
    order = np.argsort([r.rate_hz for r in results], kind="stable")
    results = [results[i] for i in order]
    return ParetoFront(
        objective=objective, free=free, constraints=values[order],
        fidelity=np.array([r.fidelity for r in results]), rate_hz=np.array([r.rate_hz for r in results]),
        success_probability=np.array([r.success_probability for r in results]),
        params={k: np.array([r.params[k] for r in results]) for k in free},
        feasible=np.array([r.feasible for r in results]), links=tuple(r.link for r in results))
