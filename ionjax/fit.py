"""Calibrate a link from measured data: maximum-likelihood fits with uncertainties.

The data (:mod:`ionjax.data`) are multinomial counts: at each setting, the herald counts of the accepted
patterns out of ``attempts`` (the rest herald nothing), and for heralded pairs the four joint outcomes of the
ions measured in a Pauli basis. :func:`expected_counts` gives their cell probabilities from the link (the
same :func:`ionjax.simulate` every other result comes from, ``vmap``-ed over the data's settings);
:func:`sample_counts` draws synthetic data from them; :func:`fit` maximizes the log-likelihood
``l(x) = sum_rows sum_cells n log p(x)`` over the ``free`` knobs::

    res = ij.fit(link, ["heralds.csv", "parity.csv"], free=["node_a.collection_efficiency",
                 "interference.mode_overlap"])
    res.values, res.stderr, res.correlation, res.p_value, res.derived["fidelity"]
    res.predict({"detection.window_ns": 30.0})        # fidelity and rate with propagated errors
    res.profile("interference.mode_overlap")          # a profile-likelihood interval

How:

* each knob moves through the same range bijection :func:`ionjax.optimize` uses (a sigmoid for a bounded
  range, a softplus for a half line), so no step leaves the range;
* the solver is optimistix's BFGS (a well-kept quasi-Newton minimiser with a backtracking Armijo line search),
  driven through its init/step/terminate interface inside one ``jax.lax.while_loop``, with the gradient in
  forward mode: a fit has a handful of knobs, and the compiled link's forward-mode derivative stays one fused
  loop (see :data:`ionjax.optimize.FORWARD_MODE_MAX`). BFGS rather than Gauss-Newton because the objective is
  a likelihood, not a sum of squares (a multinomial's deviance residuals are not smooth where a cell's count
  equals its expectation); optimistix rather than optax because it carries the termination test and the line
  search with the solver;
* the errors come from the observed Fisher information ``I = -d^2 l / dx^2`` at the optimum, in the knobs' own
  units: ``cov = I^-1``. The Hessian is the central difference (step :data:`FD_STEP` in the unconstrained
  coordinates, so no point leaves a range) of the exact forward-mode gradient, accurate to about 1e-8
  (``tests/test_fit.py`` checks it against ``jax.jacfwd(jax.jacfwd(...))``): the exact second derivative
  would need a second compilation of the model with second-order tangents, 3 to 10 times the fit's whole
  compile time on this model, where the gradient's compilation is reused as it is. When ``I`` is
  near-singular
  (the data cannot tell some combination of knobs apart, such as a collection efficiency and a detector
  efficiency from rates alone), a :class:`FitWarning` names the combination, the knobs along it get an
  infinite error, and derived quantities that depend only on the determined combinations keep a finite one;
* the goodness of fit is the deviance ``D = 2 sum n log(n / (N p))`` against the chi-square distribution with
  ``sum_rows (cells - 1) - len(free)`` degrees of freedom;
* derived quantities (fidelity, rate, success probability at the fitted link or at any setting) carry errors
  propagated by the delta method through the model: ``var f = g^T cov g``, ``g = df/dx`` by ``jax.jacfwd``.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .config import STATIC_KEYS, Link, _locate, key_spec, link_to_dict, load_link
from .data import POOLED, Correlations, HeraldCounts, Table, as_tables, check_against
from .errors import ConfigError

__all__ = ["fit", "FitResult", "FitWarning", "expected_counts", "sample_counts", "log_likelihood"]

_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], complex)  # X, Y, Z
_SIGNS = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)  # n_pp, n_pm, n_mp, n_mm (ion A first)
#: A direction of the scaled Fisher matrix (unit diagonal) with an eigenvalue below this fraction of the largest
#: one is taken as not determined by the data: its knobs' errors exceed 1000 times their single-knob errors.
DEGENERACY_THRESHOLD = 1e-6


class FitWarning(UserWarning):
    """A fit result to read with care: knobs the data cannot tell apart, or a solver that did not converge."""


# ----------------------------------------------------------------------------- the problem
@dataclass(frozen=True)
class _Spec:
    """The static structure of a fit's data: the varied keys, and per table its kind and cell layout."""

    keys: tuple[str, ...]
    tables: tuple[tuple[str, tuple[int, ...]], ...]  # ("herald", pattern indices) | ("corr", ())


def _prepare(link: Link, tables: list[Table], free: tuple[str, ...] = ()) -> tuple[_Spec, np.ndarray, tuple, int]:
    """Check the tables against the link and gather them: the static spec, the unique settings ``(U, K)`` over
    the union of the varied keys (a key a table does not vary takes the link's value), per table its arrays
    ``(rows into U, [pattern index per row, basis per row (R, 2)], cells (R, C))``, and the row of the link's
    own setting (added to the grid if no data row has it: the derived quantities are reported there)."""
    from .link.program import analyzer

    names = tuple(p[0] for p in analyzer(link.protocol, link.encoding).patterns)
    for t in tables:
        check_against(t, link, names)
    keys = tuple(dict.fromkeys(k for t in tables for k in t.keys))
    free_leaves = {loc for k in free for loc in map(tuple, _locate(link, k)[0])}
    for k in keys:
        if free_leaves & {tuple(loc) for loc in _locate(link, k)[0]}:
            raise ConfigError(f"{k!r} is varied in the data and also named in `free`: a knob the data set cannot be "
                              "fitted; drop it from `free`.")
    base = {k: float(link.get(k)) if np.ndim(link.get(k)) == 0 else None for k in keys}
    for k, v in base.items():
        if v is None:
            raise ConfigError(f"The link's {k!r} is batched; fit a link with one value per key.")
    settings: dict = {}
    arrays, spec_tables = [], []
    for t in tables:
        rows = []
        for s in t.settings:
            given = dict(zip(t.keys, s))
            row = tuple(float(given.get(k, base[k])) for k in keys)
            rows.append(settings.setdefault(row, len(settings)))
        rows = np.asarray(rows, np.int32)
        if isinstance(t, HeraldCounts):
            spec_tables.append(("herald", tuple(names.index(p) for p in t.patterns)))
            arrays.append((rows, np.asarray(t.cells, float)))
        else:
            pidx = np.array([-1 if p == POOLED else names.index(p) for p in t.patterns], np.int32)
            basis = np.array([["XYZ".index(b[0]), "XYZ".index(b[1])] for b in t.bases], np.int32)
            spec_tables.append(("corr", ()))
            arrays.append((rows, pidx, basis, np.asarray(t.cells, float)))
    point = settings.setdefault(tuple(base[k] for k in keys), len(settings))
    grid = np.array(list(settings), float).reshape(len(settings), len(keys))
    return _Spec(keys, tuple(spec_tables)), grid, tuple(arrays), point


def _cell_probabilities(link: Link, spec: _Spec, grid: jax.Array, arrays: tuple) -> list[jax.Array]:
    """Per table, the multinomial cell probabilities ``(R, C)`` of its rows under ``link`` (traceable); see
    :func:`_cells_and_derived`."""
    return _cells_and_derived(link, spec, grid, arrays)[0]


def _cells_and_derived(link: Link, spec: _Spec, grid: jax.Array, arrays: tuple) -> tuple[list[jax.Array], jax.Array]:
    """Per table, the multinomial cell probabilities ``(R, C)`` of its rows under ``link``, and at every setting
    of the grid the fidelity, rate (Hz) and success probability ``(U, 3)`` (traceable).

    Herald counts: each listed pattern's probability per attempt, then ``1 - sum`` (no accepted herald).
    Correlations: ``P(s_A, s_B) = (1 + s_A f_A <A> + s_B f_B <B> + s_A s_B f_A f_B <A B>) / 4`` on the heralded,
    Pauli-frame corrected state of the row's pattern (or the pooled state), with ``f_X = 1 - 2 e_X`` the
    readout contrast of ion X (``node_x.readout_error``).
    """
    from .link import evaluate

    def one(s: jax.Array) -> tuple:
        lk = link.set(dict(zip(spec.keys, s))) if spec.keys else link
        r = evaluate(lk)
        return (r.pattern_probabilities, r.pattern_states, r.state.data,
                jnp.stack([lk.node_a.readout_error, lk.node_b.readout_error]),
                jnp.stack([r.fidelity, r.rate_hz, r.success_probability]))

    probs, states, pooled, readout, derived = jax.vmap(one)(grid)
    real = probs.dtype
    tiny = jnp.finfo(real).tiny
    out = []
    for (kind, pats), arr in zip(spec.tables, arrays):
        rows = arr[0]
        if kind == "herald":
            p = probs[rows][:, jnp.asarray(pats)] if pats else probs[rows][:, :0]
            none = jnp.maximum(1.0 - jnp.sum(p, axis=1, keepdims=True), tiny)
            out.append(jnp.concatenate([p, none], axis=1))
            continue
        _, pidx, basis, _ = arr
        rho = jnp.where((pidx < 0)[:, None, None], pooled[rows],
                        states[rows, jnp.maximum(pidx, 0)]).reshape(-1, 2, 2, 2, 2)  # [a, b, a', b']
        pa = jnp.asarray(_PAULI, rho.dtype)[basis[:, 0]]
        pb = jnp.asarray(_PAULI, rho.dtype)[basis[:, 1]]
        eye = jnp.eye(2, dtype=rho.dtype)
        e_ab = jnp.real(jnp.einsum("rabcd,rca,rdb->r", rho, pa, pb))
        e_a = jnp.real(jnp.einsum("rabcd,rca,db->r", rho, pa, eye))
        e_b = jnp.real(jnp.einsum("rabcd,ca,rdb->r", rho, eye, pb))
        f = 1.0 - 2.0 * readout[rows]  # (R, 2)
        s = jnp.asarray(_SIGNS, real)
        p = (1.0 + s[None, :, 0] * (f[:, 0] * e_a)[:, None] + s[None, :, 1] * (f[:, 1] * e_b)[:, None]
             + (s[:, 0] * s[:, 1])[None, :] * (f[:, 0] * f[:, 1] * e_ab)[:, None]) / 4.0
        out.append(jnp.maximum(p, tiny))
    return out, derived


def _log_likelihood(link: Link, spec: _Spec, grid: jax.Array, arrays: tuple) -> jax.Array:
    """``sum n log p`` over every table, row and cell (cells with ``n = 0`` add nothing)."""
    return _sum_n_log_p(_cell_probabilities(link, spec, grid, arrays), arrays)


def _sum_n_log_p(cells: list, arrays: tuple) -> jax.Array:
    return sum(jnp.sum(jnp.where(arr[-1] > 0, arr[-1] * jnp.log(p), 0.0)) for p, arr in zip(cells, arrays))


def _saturated(arrays: tuple) -> tuple[float, int]:
    """The saturated log-likelihood ``sum n log(n / N)`` and the number of free cell probabilities."""
    ll, dof = 0.0, 0
    for arr in arrays:
        n = np.asarray(arr[-1], float)
        tot = n.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll += float(np.sum(np.where(n > 0, n * np.log(n / np.where(tot > 0, tot, 1.0)), 0.0)))
        dof += int(np.sum(tot[:, 0] > 0)) * (n.shape[1] - 1)
    return ll, dof


def log_likelihood(link: Any, data: Any) -> float:
    """The multinomial log-likelihood ``sum n log p`` of the data under ``link`` (no free knobs)."""
    link = link if isinstance(link, Link) else load_link(link)
    spec, grid, arrays, _ = _prepare(link, as_tables(data))
    return float(_jit_ll(spec)(link, jnp.asarray(grid), _device(arrays)))


@functools.lru_cache(maxsize=16)
def _jit_ll(spec: _Spec) -> Any:
    return _Compiled(lambda link, grid, arrays: _log_likelihood(link, spec, grid, arrays), _FIT_COMPILER_OPTIONS)


def _device(arrays: tuple) -> tuple:
    return tuple(tuple(jnp.asarray(a) for a in arr) for arr in arrays)


# ----------------------------------------------------------------------------- forward model: expected and sampled
def _rows(link: Link, attempts: Any, settings: Mapping[str, Any] | None) -> tuple[tuple[str, ...], np.ndarray,
                                                                               np.ndarray]:
    keys = tuple(settings or {})
    cols = [np.atleast_1d(np.asarray(settings[k], float)) for k in keys]
    n = max([len(c) for c in cols] + [np.size(attempts)])
    for k, c in zip(keys, cols):
        if len(c) not in (1, n):
            raise ConfigError(f"Argument `settings`: {k!r} has {len(c)} values, another has {n}; give each key the "
                              "same number of values (one per row), or one.")
    grid = np.stack([np.broadcast_to(c, (n,)) for c in cols], axis=1) if keys else np.zeros((n, 0))
    att = np.broadcast_to(np.atleast_1d(np.asarray(attempts, float)), (n,)).copy()
    if not np.all(np.isfinite(att)) or np.any(att < 1):
        raise ConfigError(f"Argument `attempts` must be >= 1 (a number or one per row), got {attempts!r}.")
    return keys, grid, att


def _check_bases(bases: Sequence[str]) -> tuple[str, ...]:
    if isinstance(bases, str):
        bases = (bases,)
    out = tuple(str(b).upper() for b in bases)
    for b in out:
        if len(b) != 2 or any(x not in "XYZ" for x in b):
            raise ConfigError(f"Argument `bases`: {b!r} is not two letters from X, Y, Z (ion A first, e.g. 'ZZ').")
    return out


def _check_pattern(pattern: Any) -> None:
    if pattern not in ("all", "each"):
        raise ConfigError(f"Argument `pattern` must be 'all' (pooled pairs) or 'each' (a row per pattern), got "
                          f"{pattern!r}.")


def _is_data(x: Any) -> bool:
    """A table, a CSV path, or a list of them (not a list of attempt numbers)."""
    if isinstance(x, (HeraldCounts, Correlations, str, os.PathLike)):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(_is_data(v) for v in x)


def _model_tables(link: Link, attempts: Any, settings: Any, bases: Sequence[str], pattern: str) -> tuple:
    """The herald table and (with ``bases``) the correlation table of an experiment plan, as templates (unit
    counts), with their cell probabilities under ``link``."""
    from .link.program import analyzer

    keys, grid, att = _rows(link, attempts, settings)
    names = tuple(p[0] for p in analyzer(link.protocol, link.encoding).patterns)
    herald = HeraldCounts(keys, grid, att, names, np.zeros((len(att), len(names))))
    tables = [herald]
    bases = _check_bases(bases)
    if bases:
        pats = (POOLED,) if pattern == "all" else names
        rows = [(i, b, p) for i in range(len(att)) for b in bases for p in pats]
        tables.append(Correlations(keys, grid[[r[0] for r in rows]], tuple(r[1] for r in rows),
                                   tuple(r[2] for r in rows), np.ones((len(rows), 4))))
    spec, g, arrays, _ = _prepare(link, tables)
    probs = [np.asarray(p) for p in _jit_cells(spec)(link, jnp.asarray(g), _device(arrays))]
    return tables, probs, bases, names


@functools.lru_cache(maxsize=16)
def _jit_cells(spec: _Spec) -> Any:
    return _Compiled(lambda link, grid, arrays: _cell_probabilities(link, spec, grid, arrays), _FIT_COMPILER_OPTIONS)


def expected_counts(link: Any, attempts: Any, settings: Mapping[str, Any] | None = None, *,
                    bases: Sequence[str] = (), pattern: str = "all") -> list[Table]:
    """Expected counts of an experiment: the multinomial cells of every accepted pattern and of "no accepted
    herald", and (with ``bases``) of the heralded pairs' four joint outcomes in each basis.

    Args:
        link: a :class:`~ionjax.config.Link` (or a dict / TOML path).
        attempts: attempts per setting (a number, or one per row); or measured data (a table, a CSV path or a
            list of them), whose rows and totals are mirrored (the model's expectation for each measured row).
        settings: ``{dotted key: values (R,)}``, the varied settings (``None``: the link as it is, one row).
        bases: Pauli bases measured on the heralded pairs (``["ZZ", "XX", "YY"]``): each heralded pair is
            measured in one of them, chosen uniformly, so a basis gets ``attempts P / len(bases)`` pairs.
        pattern: ``"all"`` (one row per basis over the pooled, Pauli-frame corrected pairs) or ``"each"`` (a row
            per accepted pattern).

    Returns:
        A list of tables of :mod:`ionjax.data` with float ``counts``, each with an attribute-free
        ``probabilities`` companion: ``[HeraldCounts, Correlations]`` (the second only with ``bases``).
        ``table.cells / table.cells.sum(1)`` are the cell probabilities.
    """
    link = link if isinstance(link, Link) else load_link(link)
    if _is_data(attempts):
        tables = as_tables(attempts)
        spec, g, arrays, _ = _prepare(link, tables)
        probs = [np.asarray(p) for p in _jit_cells(spec)(link, jnp.asarray(g), _device(arrays))]
        out = []
        for t, p in zip(tables, probs):
            tot = t.cells.sum(axis=1, keepdims=True)
            exp = p * tot
            out.append(_replace_counts(t, exp[:, :-1] if isinstance(t, HeraldCounts) else exp))
        return out
    _check_pattern(pattern)
    tables, probs, bases, names = _model_tables(link, attempts, settings, bases, pattern)
    herald = tables[0]
    hp = probs[0]
    out = [_replace_counts(herald, hp[:, :-1] * herald.attempts[:, None])]
    if bases:
        corr = tables[1]
        pairs = _pairs_per_row(herald, hp, corr, len(bases), names, pattern)
        out.append(_replace_counts(corr, probs[1] * pairs[:, None]))
    return out


def _pairs_per_row(herald: HeraldCounts, hp: np.ndarray, corr: Correlations, n_bases: int, names: tuple,
                   pattern: str) -> np.ndarray:
    """Expected heralded pairs in each correlation row (``attempts P / len(bases)``)."""
    per_setting = hp[:, :-1] * herald.attempts[:, None] / n_bases  # (R, P)
    reps = len(corr.patterns) // herald.rows
    idx = np.repeat(np.arange(herald.rows), reps)
    if pattern == "all":
        return per_setting.sum(axis=1)[idx]
    return per_setting[idx, [names.index(p) for p in corr.patterns]]


def _replace_counts(t: Table, counts: np.ndarray) -> Table:
    import dataclasses

    return dataclasses.replace(t, counts=np.asarray(counts, float), lines=())


def _generator(key: Any) -> np.random.Generator:
    """numpy's generator seeded by a ``jax.random`` key (new-style or ``PRNGKey``) or an integer."""
    if isinstance(key, (int, np.integer)):
        return np.random.default_rng(int(key))
    k = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key):
        k = jax.random.key_data(k)
    return np.random.default_rng(np.asarray(k, np.uint32).ravel().tolist())


def _multinomial(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Multinomial draws ``(..., C)`` of ``n (...)`` trials over the cells ``p (..., C)`` (renormalized)."""
    p = np.clip(np.asarray(p, float), 0.0, None)
    p = p / p.sum(axis=-1, keepdims=True)
    return rng.multinomial(np.asarray(n, np.int64), p).astype(float)


def sample_counts(link: Any, attempts: Any, key: jax.Array, settings: Mapping[str, Any] | None = None, *,
                  bases: Sequence[str] = (), pattern: str = "all") -> list[Table]:
    """Synthetic data drawn from the model: the tables :func:`expected_counts` describes, with integer counts.

    At each setting the herald counts are one multinomial draw over the accepted patterns and "no herald";
    with ``bases``, each pattern's heralded pairs are split uniformly over the bases (a multinomial draw) and
    each basis's outcomes drawn from that pattern's state; pooled rows (``pattern="all"``) add the patterns'
    outcomes, which samples the pooled state exactly. ``key`` is a ``jax.random`` key (or an integer): it seeds
    numpy's generator, which draws on the host (the same key gives the same data).
    """
    link = link if isinstance(link, Link) else load_link(link)
    _check_pattern(pattern)
    # one evaluation of the model: the herald cells and every (setting, basis, pattern)'s outcome probabilities
    tables, probs, bases, names = _model_tables(link, attempts, settings, bases, "each")
    herald = tables[0]
    rng = _generator(key)
    cells = _multinomial(rng, herald.attempts, probs[0])
    out = [_replace_counts(herald, cells[:, :-1])]
    if not bases:
        return out
    n_b, n_p = len(bases), len(names)
    # each pattern's pairs over the bases, then each (setting, basis, pattern)'s outcomes from that pattern's state
    split = _multinomial(rng, cells[:, :-1], np.full(cells[:, :-1].shape + (n_b,), 1.0 / n_b))  # (R, P, B)
    n_pairs = np.transpose(split, (0, 2, 1)).reshape(-1)  # (R, B, P) flattened like the correlation rows
    draws = _multinomial(rng, n_pairs, probs[1])
    if pattern == "each":
        out.append(_replace_counts(tables[1], draws))
        return out
    pooled = draws.reshape(herald.rows, n_b, n_p, 4).sum(axis=2).reshape(-1, 4)
    out.append(Correlations(herald.keys, np.repeat(herald.settings, n_b, axis=0),
                            tuple(b for _ in range(herald.rows) for b in bases), (POOLED,) * (herald.rows * n_b),
                            pooled))
    return out


# ----------------------------------------------------------------------------- the fit
#: Step in the knobs' unconstrained coordinates of the central difference that turns the exact (forward-mode)
#: gradient into the Hessian: its error is of order ``FD_STEP^2`` relative (1e-8).
FD_STEP = 1e-4


def _forward(u: Any, b: Any, xp: Any = jnp) -> tuple[Any, Any, Any]:
    """Physical values of the unconstrained ``u`` and their first two derivatives, through each knob's
    bijection; ``b`` rows ``(lo, hi, scale, is_sigmoid)``: ``lo + (hi - lo) sigmoid(u)`` or
    ``lo + scale softplus(u)``. A knob held at ``v`` has ``lo = hi = v`` and ``is_sigmoid = 1``. ``xp``:
    ``jax.numpy`` (traced, in the solver) or ``numpy`` (on the host, between solver calls)."""
    lo, hi, scale, sig = b[..., 0], b[..., 1], b[..., 2], b[..., 3] > 0.5
    span = xp.where(sig, hi - lo, scale)
    s = 0.5 * (1.0 + xp.tanh(0.5 * u))
    x = lo + xp.where(sig, span * s, span * xp.logaddexp(0.0, u))
    dx = xp.where(sig, span * s * (1 - s), span * s)
    d2x = xp.where(sig, span * s * (1 - s) * (1 - 2 * s), span * s * (1 - s))
    return x, dx, d2x


@functools.lru_cache(maxsize=32)
def _solver(free: tuple[str, ...], spec: _Spec, rtol: float, atol: float) -> Any:
    """The compiled fit: optimistix BFGS over the unconstrained knobs, whose objective is one traced model.

    The model (:func:`_cells_and_derived`, ``vmap``-ed over the settings) and its forward-mode Jacobian in the
    knobs give the log-likelihood and its exact gradient (handed to BFGS by a ``custom_jvp``, so the model is
    traced once), and the derived fidelity, rate and success probability at each setting with their Jacobians.
    These travel as BFGS's ``aux`` and belong to the point ``aux["u"]`` (the last accepted iterate, which the fit
    reports). The same compilation, with every knob held (:func:`_bounds`), evaluates the model at any point: the
    Hessian (central differences of the exact gradient), the profile likelihood (one knob held) and predictions
    at the data's keys reuse it, so a fit compiles once per (free keys, data structure).
    """
    import optimistix as optx

    n = len(free)

    def model(x: jax.Array, link: Link, grid: jax.Array, arrays: tuple) -> tuple[jax.Array, jax.Array]:
        lk = link.set(dict(zip(free, x)))
        cells, derived = _cells_and_derived(lk, spec, grid, arrays)
        return _sum_n_log_p(cells, arrays), derived

    def value_and_jacobian(x: jax.Array, c: tuple) -> tuple:
        primal, tangent = jax.vmap(lambda t: jax.jvp(lambda y: model(y, *c), (x,), (t,)))(jnp.eye(n, dtype=x.dtype))
        (ll, der), (dll, dder) = jax.tree_util.tree_map(lambda a: a[0], primal), tangent
        return ll, der, dll, jnp.moveaxis(dder, 0, -1)

    def core(u: jax.Array, args: tuple) -> tuple:
        link, grid, arrays, bounds, offset, norm = args
        x, x_u, _ = _forward(u, bounds)
        ll, der, dll, dder = value_and_jacobian(x, (link, grid, arrays))
        aux = {"u": u, "x": x, "ll": ll, "grad": dll, "derived": der, "derived_jac": dder}
        return -(ll - offset) / norm, -dll * x_u / norm, aux

    @jax.custom_jvp
    def objective(u: jax.Array, args: tuple) -> tuple:
        f, _, aux = core(u, args)
        return f, aux

    @objective.defjvp
    def objective_jvp(primals: tuple, tangents: tuple) -> tuple:
        (u, args), (du, _) = primals, tangents
        f, g, aux = core(u, args)
        return (f, aux), (jnp.dot(g, du), jax.tree_util.tree_map(jnp.zeros_like, aux))

    solver = optx.BFGS(rtol=rtol, atol=atol)
    options = {"autodiff_mode": "fwd"}
    tags: frozenset = frozenset()

    def solve(u0: jax.Array, link: Link, grid: jax.Array, arrays: tuple, bounds: jax.Array, offset: jax.Array,
              norm: jax.Array, max_steps: jax.Array) -> tuple:
        # optimistix's BFGS driven through its init / step / terminate interface (optimistix.minimise's own loop,
        # less its shape pass over the objective: the shapes are known here, and that pass would trace the model
        # a second time, a third of the compile)
        import equinox as eqx

        args = (link, grid, arrays, bounds, offset, norm)
        dt = u0.dtype
        sds = jax.ShapeDtypeStruct
        aux_struct = {"u": sds((n,), dt), "x": sds((n,), dt), "ll": sds((), dt), "grad": sds((n,), dt),
                      "derived": sds((grid.shape[0], 3), dt), "derived_jac": sds((grid.shape[0], 3, n), dt)}
        state = solver.init(objective, u0, args, options, sds((), dt), aux_struct, tags)
        dynamic, static = eqx.partition(state, eqx.is_array)
        aux0 = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), aux_struct)

        def cond(c: tuple) -> jax.Array:
            _, k, _, _, done, result = c
            return (~done) & (result == optx.RESULTS.successful) & (k < max_steps)

        def body(c: tuple) -> tuple:
            y, k, dyn, _, _, _ = c
            y, st, aux = solver.step(objective, y, args, options, eqx.combine(static, dyn), tags)
            done, result = solver.terminate(objective, y, args, options, st, tags)
            return y, k + 1, eqx.partition(st, eqx.is_array)[0], aux, done, result

        done0, result0 = solver.terminate(objective, u0, args, options, state, tags)
        _, steps, _, aux, done, result = jax.lax.while_loop(cond, body, (u0, 0, dynamic, aux0, done0, result0))
        return aux, done & (result == optx.RESULTS.successful), steps

    return _Compiled(solve, _FIT_COMPILER_OPTIONS)


#: XLA options of the fit's compilation: the fit's model is a long program of scalar operations, whose LLVM
#: optimization is a third of the compile time; without it a solve is slower but still well under a second
#: (``benchmarks/bench_fit.py``, the 4-knob calibration on 2 cores: compile about 13 s -> 9.4-9.9 s, a fit after
#: compilation about 0.04 s -> 0.34 s).
_FIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


class _Compiled:
    """``jax.jit(fn)`` compiled with XLA ``options``, once per argument structure and shapes."""

    def __init__(self, fn: Any, options: Mapping[str, Any]) -> None:
        self._jit, self._options, self._cache = jax.jit(fn), dict(options), {}

    def __call__(self, *args: Any) -> Any:
        leaves, tree = jax.tree_util.tree_flatten(args)
        key = (tree, tuple((np.shape(v), jnp.result_type(v)) for v in leaves))
        if key not in self._cache:
            self._cache[key] = self._jit.lower(*args).compile(compiler_options=self._options)
        return self._cache[key](*args)


def _bounds(link: Link, free: tuple[str, ...], held: Mapping[str, float] | None = None) -> np.ndarray:
    """``(n, 4)`` rows ``(lo, hi, scale, is_sigmoid)`` of each knob's bijection (:func:`ionjax.optimize.bijection`);
    a knob in ``held`` is held at its value."""
    from .optimize import bijection

    rows = []
    for k in free:
        if held and k in held:
            rows.append([held[k], held[k], 1.0, 1.0])
            continue
        b = bijection(k, float(link.get(k)), link)
        rows.append([b.lo, b.hi if b.kind == "sigmoid" else 0.0, b.scale, 1.0 if b.kind == "sigmoid" else 0.0])
    return np.array(rows, float)


def _u0(link: Link, free: tuple[str, ...]) -> np.ndarray:
    """The unconstrained start of each knob; a start on (or within 0.1% of) the end of a range is moved 0.1%
    inside, where the bijection still has slope (at the end itself the gradient vanishes and BFGS cannot move)."""
    from .optimize import bijection

    return np.array([bijection(k, float(link.get(k)), link).inverse(float(link.get(k)), margin=1e-3) for k in free])


def _check_free(link: Link, free: Sequence[str] | str) -> tuple[str, ...]:
    from .optimize import _check_free as check

    free = check(link, free)
    for k in free:
        if np.ndim(link.get(k)) != 0:
            raise ConfigError(f"The link's {k!r} is batched; fit a link with one value per key.")
        if not math.isfinite(float(link.get(k))):
            raise ConfigError(f"{k!r} = {float(link.get(k))} cannot start a fit; give it a finite starting value "
                              "(link.set or --set).")
    return free


@dataclass(frozen=True)
class _Problem:
    """A fit's data gathered against its link (:func:`_prepare`), with the compiled solver."""

    free: tuple[str, ...]
    spec: _Spec
    grid: np.ndarray
    arrays: tuple
    point: int  # the grid row of the link's own setting (where the derived quantities are reported)
    rtol: float
    max_steps: int

    @functools.cached_property
    def _on_device(self) -> tuple:
        """The data on the device, the saturated log-likelihood (the objective's zero) and the solver, made once
        for every call of :meth:`run` (a fit, its Hessian, a profile, predictions)."""
        sat, _ = _saturated(self.arrays)
        return (jnp.asarray(self.grid), _device(self.arrays), jnp.asarray(sat),
                _solver(self.free, self.spec, self.rtol, 1e-10))

    def run(self, start: Link, u0: np.ndarray, bounds: np.ndarray, grid: np.ndarray | None = None) -> tuple:
        """``(aux, converged, steps)`` of the solver from ``u0`` (see :func:`_solver`)."""
        g, arrays, sat, solve = self._on_device
        # the objective is half the deviance, l_sat - l: zero for a perfect fit; unscaled (BFGS's first step is the
        # gradient, and its line search backtracks from there: a per-event scale stalls it on a flat start)
        aux, ok, steps = solve(jnp.asarray(u0), start, g if grid is None else jnp.asarray(grid), arrays,
                               jnp.asarray(bounds), sat, jnp.asarray(1.0), jnp.asarray(self.max_steps, jnp.int32))
        return jax.tree_util.tree_map(np.asarray, aux), bool(ok), int(steps)

    def at(self, start: Link, x: np.ndarray) -> dict[str, np.ndarray]:
        """The model at the knobs' values ``x`` (every knob held): ``aux`` of :func:`_solver`."""
        return self.run(start, np.zeros(len(self.free)), _bounds(start, self.free, held=dict(zip(self.free, x))))[0]

    def hessian(self, start: Link, u: np.ndarray) -> np.ndarray:
        """``d^2 l / dx^2`` ``(n, n)`` at ``x(u)``, in the knobs' own units: the central difference, in the
        unconstrained coordinates (so no point leaves a range), of the exact forward-mode gradient."""
        b = _bounds(start, self.free)
        n = len(self.free)
        h = FD_STEP
        g_u = np.zeros((2, n, n))
        for j in range(n):
            for side, sgn in enumerate((1.0, -1.0)):
                uj = np.array(u, float)
                uj[j] += sgn * h
                xj, dxj, _ = _forward(uj, b, np)
                g_u[side, j] = self.at(start, xj)["grad"] * dxj
        h_u = (g_u[0] - g_u[1]) / (2 * h)  # [j, i] = d(dL/du_i)/du_j
        h_u = 0.5 * (h_u + h_u.T)
        x, x_u, x_uu = _forward(np.asarray(u, float), b, np)
        grad = self.at(start, x)["grad"]
        safe = np.where(x_u != 0, x_u, 1.0)
        return (h_u - np.diag(x_uu * grad)) / np.outer(safe, safe)  # L_uu = x_u x_u^T l_xx + diag(x_uu l_x)


def fit(link: Any, data: Any, free: Sequence[str] | str, *, max_steps: int = 500, rtol: float = 1e-8,
        warn: bool = True) -> FitResult:
    """Maximum-likelihood fit of the ``free`` knobs of ``link`` to measured counts.

    Args:
        link: the starting :class:`~ionjax.config.Link` (or a dict / TOML path); its values start the fit and
            hold every knob that is not free.
        data: a CSV path, a table of :mod:`ionjax.data`, or a list of either (herald counts and correlations).
        free: dotted keys to fit (``"node_a.collection_efficiency"``, ``"nodes.photon_lifetime_ns"``, ...). A
            key the data vary cannot be free.
        max_steps: BFGS iterations at most; rtol: its relative tolerance on the knobs and the objective.
        warn: issue :class:`FitWarning` (degenerate knobs, no convergence); the result records them either way.

    Returns:
        :class:`FitResult`.

    Raises:
        ConfigError: an unknown or static key, a key both free and varied, or data the link cannot describe.
    """
    link = link if isinstance(link, Link) else load_link(link)
    free = _check_free(link, free)
    tables = as_tables(data)
    spec, grid, arrays, point = _prepare(link, tables, free)
    prob = _Problem(free, spec, grid, arrays, point, float(rtol), int(max_steps))
    aux, ok, steps = prob.run(link, _u0(link, free), _bounds(link, free))
    x = aux["x"]
    fitted = link.set(dict(zip(free, map(float, x))))
    fisher = -prob.hessian(link, np.asarray(aux["u"]))
    fisher = 0.5 * (fisher + fisher.T)
    sat, cells = _saturated(arrays)
    ll = float(aux["ll"])
    deviance = max(2.0 * (sat - ll), 0.0)
    dof = cells - len(free)
    p_value = float(jax.scipy.special.gammaincc(dof / 2.0, deviance / 2.0)) if dof > 0 else float("nan")
    unc = _Uncertainty.of(fisher, x, free)
    notes = []
    if not ok:
        notes.append(f"the solver (optimistix BFGS) stopped after {steps} steps without meeting its tolerance; raise "
                     "max_steps or start nearer the optimum")
    for k, xi, (lo, hi, scale, sig) in zip(free, x, _bounds(link, free)):
        lo, hi = key_spec(link, k).lo, key_spec(link, k).hi
        t = (xi - lo) / (hi - lo) if sig else (xi - lo) / scale  # where it sits on its bijection's scale
        if t < 1e-6 or (sig and t > 1.0 - 1e-6):
            notes.append(f"{k} = {xi:.6g} is at the end of its range [{lo:g}, {hi:g}]: the maximum is on the "
                         "boundary, where the errors from the curvature do not apply")
    notes += unc.notes
    if warn:
        for n_ in notes:
            warnings.warn(f"ij.fit: {n_}.", FitWarning, stacklevel=2)
    ranges = {k: (key_spec(link, k).lo, key_spec(link, k).hi) for k in free}
    res = FitResult(link=fitted, free=free, values=dict(zip(free, map(float, x))),
                    stderr=dict(zip(free, map(float, unc.stderr))), covariance=unc.covariance,
                    correlation=unc.correlation, fisher=fisher, ranges=ranges, log_likelihood=ll,
                    deviance=deviance, dof=dof, p_value=p_value, converged=ok, steps=steps, notes=tuple(notes),
                    tables=tuple(tables), _start=link, _unc=unc, _problem=prob, _u=np.asarray(aux["u"]))
    object.__setattr__(res, "derived", res._derived(aux["derived"][point], aux["derived_jac"][point], scalar=True))
    return res


@dataclass(frozen=True)
class _Uncertainty:
    """The covariance from the observed Fisher matrix, with the undetermined directions handled."""

    covariance: np.ndarray
    correlation: np.ndarray
    stderr: np.ndarray
    scale: np.ndarray  # sqrt of the Fisher diagonal (1 where it is 0)
    values: np.ndarray  # eigenvalues of the scaled Fisher matrix
    vectors: np.ndarray
    flat: np.ndarray  # bool per eigenvector: not determined
    notes: tuple[str, ...]

    @classmethod
    def of(cls, fisher: np.ndarray, x: np.ndarray, free: tuple[str, ...]) -> _Uncertainty:
        diag = np.diag(fisher).copy()
        d = np.sqrt(np.where(diag > 0, diag, 1.0))
        scaled = fisher / np.outer(d, d)
        w, v = np.linalg.eigh(scaled)
        top = max(float(np.max(w)), 1e-300)  # the best-determined direction (a negative one is not determined)
        flat = (w <= DEGENERACY_THRESHOLD * top) | (diag[np.argmax(np.abs(v), axis=0)] <= 0)
        keep = ~flat
        cov_s = (v[:, keep] / w[keep]) @ v[:, keep].T
        cov = cov_s / np.outer(d, d)
        touched = np.any(np.abs(v[:, flat]) > 1e-3, axis=1) if flat.any() else np.zeros(len(free), bool)
        var = np.where(touched, np.inf, np.diag(cov))
        stderr = np.sqrt(np.maximum(var, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
        corr[touched, :] = np.nan
        corr[:, touched] = np.nan
        np.fill_diagonal(corr, 1.0)
        notes = tuple(_degeneracy_note(v[:, k] / d, x, free) for k in np.flatnonzero(flat))
        return cls(cov, corr, stderr, d, w, v, flat, notes)

    def variance(self, grad: np.ndarray) -> np.ndarray:
        """``g^T cov g`` for gradients ``(..., n)``; infinite where ``g`` has a component along an undetermined
        direction (beyond 1e-6 of its size)."""
        gs = np.asarray(grad, float) / self.scale  # in the scaled coordinates
        proj = gs @ self.vectors  # (..., n)
        keep = ~self.flat
        var = np.sum(proj[..., keep] ** 2 / self.values[keep], axis=-1)
        size = np.linalg.norm(gs, axis=-1)
        bad = np.any(np.abs(proj[..., self.flat]) > 1e-6 * np.maximum(size, 1e-300)[..., None], axis=-1) \
            if self.flat.any() else np.zeros(var.shape, bool)
        return np.where(bad, np.inf, var)


def _degeneracy_note(direction: np.ndarray, x: np.ndarray, free: tuple[str, ...]) -> str:
    """Say which combination of knobs the data leave undetermined (a flat direction of the likelihood)."""
    rel = np.where(x != 0, direction / np.where(x != 0, x, 1.0), direction)  # as relative changes d(log x)
    rel = rel / np.max(np.abs(rel))
    big = [i for i in range(len(free)) if abs(rel[i]) > 0.05]
    if len(big) == 1:
        return (f"the data do not constrain {free[big[0]]} (the likelihood is flat along it at the optimum); its "
                "error is infinite: add data that depend on it, or fix it")
    moves = " with ".join(f"{free[i]} {'up' if rel[i] > 0 else 'down'} by {abs(rel[i]):.2g} x" for i in big)
    text = (f"the data cannot tell {', '.join(free[i] for i in big)} apart: moving {moves} (relative changes) leaves "
            "the likelihood flat, so their errors are infinite")
    if len(big) == 2:
        i, j = big
        a, b = rel[j], -rel[i]  # x_i^a x_j^b is constant along the flat direction
        if b != 0:
            a, b = 1.0, b / a
            text += (f"; only {free[i]} x {free[j]}" if abs(b - 1) < 0.02 else
                     f"; only {free[i]} / {free[j]}" if abs(b + 1) < 0.02 else
                     f"; only {free[i]} x {free[j]}^{b:.3g}") + " is determined"
    return text + " (fix one of them from another measurement, or add data that separate them)"


@dataclass(frozen=True)
class FitResult:
    """The result of :func:`fit`.

    Attributes:
        link: the fitted link (the starting link with the free knobs at their maximum-likelihood values).
        free: the fitted keys; values / stderr: ``{key: value}`` in the keys' own units (``inf`` error: not
            determined by the data, see ``notes``).
        covariance, correlation: ``(n, n)`` from the inverse observed Fisher information; fisher: ``(n, n)``
            the observed Fisher information ``-d^2 l / dx^2`` at the optimum.
        ranges: ``{key: (lo, hi)}`` each knob's allowed range.
        log_likelihood: ``l`` at the optimum; deviance: ``2 (l_saturated - l)``; dof: cells minus
            constraints minus knobs; p_value: ``P(chi2_dof >= deviance)``.
        derived: ``{"fidelity" | "rate_hz" | "success_probability": {"value", "stderr"}}`` at the fitted link.
        converged, steps: the solver's outcome; notes: what to read with care (also issued as FitWarning).
        tables: the data fitted.
    """

    link: Link
    free: tuple[str, ...]
    values: dict[str, float]
    stderr: dict[str, float]
    covariance: np.ndarray
    correlation: np.ndarray
    fisher: np.ndarray
    ranges: dict[str, tuple[float, float]]
    log_likelihood: float
    deviance: float
    dof: int
    p_value: float
    converged: bool
    steps: int
    notes: tuple[str, ...]
    tables: tuple[Table, ...]
    derived: dict[str, dict[str, Any]] = field(default_factory=dict)
    _start: Link = field(default=None, repr=False)  # type: ignore[assignment]
    _unc: _Uncertainty = field(default=None, repr=False)  # type: ignore[assignment]
    _problem: _Problem = field(default=None, repr=False)  # type: ignore[assignment]
    _u: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def degenerate(self) -> bool:
        """True when some combination of the knobs is not determined by the data."""
        return bool(self._unc.flat.any())

    def _derived(self, values: np.ndarray, jac: np.ndarray, scalar: bool) -> dict[str, dict[str, Any]]:
        """``{name: {"value", "stderr"}}`` from derived values ``(R, 3)`` or ``(3,)`` and their Jacobians."""
        out = {}
        for i, name in enumerate(("fidelity", "rate_hz", "success_probability")):
            v = np.asarray(values[..., i], float)
            err = np.sqrt(self._unc.variance(np.asarray(jac[..., i, :], float)))
            out[name] = {"value": float(v) if scalar else v, "stderr": float(err) if scalar else err}
        return out

    def predict(self, settings: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Fidelity, rate and success probability with propagated errors at the fitted link, or at ``settings``
        (``{dotted key: value or values (R,)}``, applied on top of the fitted link).

        Settings of the keys the data vary reuse the fit's compiled model (every knob held at its fitted
        value); other keys compile a predictor once per set of keys and number of rows.

        Returns:
            ``{"fidelity" | "rate_hz" | "success_probability": {"value": v, "stderr": s}}``: floats for scalar
            settings, arrays ``(R,)`` for arrays.
        """
        keys = tuple(settings or {})
        if not keys:
            return {k: dict(v) for k, v in self.derived.items()}
        for k in keys:
            if k in STATIC_KEYS:
                raise ConfigError(f"predict: {k!r} is static structure, not a number.")
            if k in self.free:
                raise ConfigError(f"predict: {k!r} is a fitted knob; its value comes from the fit.")
        scalar = all(np.ndim(settings[k]) == 0 for k in keys)
        _, grid, _ = _rows(self.link, 1.0, settings)
        self.link.set({k: grid[:, i] for i, k in enumerate(keys)})  # checked: names, ranges
        prob = self._problem
        if set(keys) <= set(prob.spec.keys):  # the fit's own model, every knob held
            full = np.repeat(prob.grid[prob.point][None], len(grid), axis=0)
            for i, k in enumerate(keys):
                full[:, prob.spec.keys.index(k)] = grid[:, i]
            u = len(prob.grid)
            vals, jacs = [], []
            held = _bounds(self.link, self.free, held=self.values)
            for c in range(0, len(full), u):
                chunk = full[c:c + u]
                pad = np.concatenate([chunk, np.repeat(chunk[-1:], u - len(chunk), axis=0)])
                aux, _, _ = prob.run(self.link, self._u, held, grid=pad)
                vals.append(aux["derived"][:len(chunk)])
                jacs.append(aux["derived_jac"][:len(chunk)])
            vals, jac = np.concatenate(vals), np.concatenate(jacs)
        else:
            f = _predictor(self.free, keys)
            vals, jac = (np.asarray(a) for a in f(jnp.asarray([self.values[k] for k in self.free]), self.link,
                                                  jnp.asarray(grid)))
        if scalar:
            vals, jac = vals[0], jac[0]
        return self._derived(vals, jac, scalar)

    def profile(self, key: str, level: float = 0.6827, *, tol: float = 1e-3) -> tuple[float, float]:
        """The profile-likelihood interval of ``key`` at confidence ``level``: the values where
        ``2 (l_max - max_{others} l) = chi2_1(level)`` (the other free knobs re-fitted at each trial value,
        by the fit's own compiled solver with ``key`` held).

        The ends are bracketed (steps of the standard error, doubled) and found by bisection to ``tol``
        standard errors; an end beyond the key's range is the range's end.
        """
        if key not in self.free:
            raise ConfigError(f"profile: {key!r} is not a fitted knob; fitted: {', '.join(self.free)}.")
        if not 0.0 < float(level) < 1.0:
            raise ConfigError(f"profile: level must be in (0, 1), got {level!r}.")
        q = float(2.0 * jax.scipy.special.erfinv(float(level)) ** 2)  # chi2_1 quantile
        x0, s0 = self.values[key], self.stderr[key]
        lo_r, hi_r = self.ranges[key]
        if not math.isfinite(s0):
            return (lo_r, hi_r)
        prob = self._problem
        warm = {"u": self._u}  # each re-fit starts from the last one (the trial values move in small steps)

        def drop(v: float) -> float:
            aux, _, _ = prob.run(self.link, warm["u"], _bounds(self.link, self.free, held={key: v}))
            warm["u"] = aux["u"]
            return 2.0 * (self.log_likelihood - float(aux["ll"])) - q

        ends = []
        for sign, edge in ((-1.0, lo_r), (1.0, hi_r)):
            warm["u"] = self._u
            inner, step = x0, s0
            for _ in range(60):
                outer = x0 + sign * step
                if (outer - edge) * sign >= 0 or _ == 59:  # beyond the range (or a likelihood that stays flat)
                    if not math.isfinite(edge) or drop(edge - sign * 1e-9 * max(abs(edge), 1.0)) < 0:
                        ends.append(edge)
                        break
                    outer = edge - sign * 1e-9 * max(abs(edge), 1.0)
                if drop(outer) >= 0:
                    while abs(outer - inner) > tol * s0:
                        mid = 0.5 * (inner + outer)
                        if drop(mid) >= 0:
                            outer = mid
                        else:
                            inner = mid
                    ends.append(0.5 * (inner + outer))
                    break
                inner, step = outer, 2.0 * step
        return (ends[0], ends[1])

    def summary(self) -> str:
        """The result as a table: knob, value, error, range; fidelity and rate; goodness of fit."""
        lines = [f"{'knob':42s} {'value':>14s} {'± error':>12s}   range"]
        for k in self.free:
            lo, hi = self.ranges[k]
            lines.append(f"{k:42s} {self.values[k]:14.6g} {self.stderr[k]:12.3g}   [{lo:g}, {hi:g}]")
        d = self.derived
        lines.append(f"fidelity  {d['fidelity']['value']:.6f} ± {d['fidelity']['stderr']:.2g}")
        lines.append(f"rate      {d['rate_hz']['value']:.6g} ± {d['rate_hz']['stderr']:.3g} Hz")
        lines.append(f"deviance  {self.deviance:.4g} on {self.dof} degrees of freedom, p = {self.p_value:.3g}"
                     + ("" if self.converged else "   [solver did not converge]"))
        lines += [f"warning: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The ``fit.json`` form (``DESIGN.md``, "Measured data")."""
        return {"parameters": {k: {"value": self.values[k], "stderr": self.stderr[k], "range": list(self.ranges[k])}
                               for k in self.free},
                "correlation": self.correlation.tolist(), "deviance": self.deviance, "dof": self.dof,
                "p_value": self.p_value,
                "derived": {n: {"value": float(v["value"]), "stderr": float(v["stderr"])}
                            for n, v in self.derived.items()},
                "log_likelihood": self.log_likelihood, "converged": self.converged, "steps": self.steps,
                "notes": list(self.notes), "data": [t.source for t in self.tables]}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``fitted_link.toml`` (for :func:`ionjax.load_link`) and ``fit.json`` into ``directory``."""
        from ._io import to_json
        from .optimize import link_to_toml
        from .sweep import _atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(d / "fitted_link.toml", link_to_toml(self.link))
        _atomic_write_text(d / "fit.json", to_json({**self.to_dict(), "link": link_to_dict(self.link)}))
        return d

    def __repr__(self) -> str:
        vs = ", ".join(f"{k}={self.values[k]:.6g}±{self.stderr[k]:.2g}" for k in self.free)
        return f"FitResult({vs}; deviance {self.deviance:.4g}/{self.dof}, p={self.p_value:.3g})"


@functools.lru_cache(maxsize=32)
def _predictor(free: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    from .link import evaluate

    def f(x: jax.Array, link: Link, grid: jax.Array) -> jax.Array:
        def one(s: jax.Array) -> jax.Array:
            lk = link.set({**dict(zip(free, x)), **dict(zip(keys, s))})
            r = evaluate(lk)
            return jnp.stack([r.fidelity, r.rate_hz, r.success_probability])

        return jax.vmap(one)(grid)

    return jax.jit(lambda x, link, grid: (f(x, link, grid), jax.jacfwd(f)(x, link, grid)))
