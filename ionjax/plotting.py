"""Plots of sweeps, optimizations and fidelity-rate fronts (matplotlib, the ``plot`` extra).

matplotlib is imported only when a plot is made. Figures are built on the Agg canvas directly
(``matplotlib.figure.Figure``), so making a plot never changes pyplot's backend or opens a window;
every function returns the Figure and, given ``path``, writes it as PNG (or any format matplotlib
knows from the suffix).

* :func:`plot_sweep`: a line plot for a 1-D sweep (or one line per value of the second key), a
  heat map for a 2-D product sweep;
* :func:`plot_history`: objective, fidelity and rate per optimizer step, then one panel per free key
  (its value, in the key's units, against the step);

Fidelity never runs past 1 on a plot: colour scales of fidelity end at ``min(max, 1)`` and fidelity
axes at 1 (a fidelity is at most 1; rounding can put a value a few ulp above it). Axes of histories
show plain numbers (no offset notation such as ``+9.99e-1``).
* :func:`plot_fit`: measured data against a fitted model (:class:`~ionjax.fit.FitResult`), with residuals;
* :func:`plot_frontier`: fidelity against rate (a :class:`~ionjax.optimize.ParetoFront`, or arrays),
  optionally with a marked operating point and the points of a sweep behind it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_sweep", "plot_sweep_summary", "plot_history", "plot_frontier", "plot_fit", "figure", "key_units"]

_LABELS = {
    "fidelity": "fidelity",
    "success_probability": "success probability per attempt",
    "rate_hz": "heralded rate (s$^{-1}$)",
}


def figure(width: float = 6.0, height: float = 4.0) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend change)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'ionjax[plot]'.") from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fidelity_norm(data: np.ndarray, log: bool = False) -> Any:
    """A colour normalization for fidelity data that ends at ``min(max(data), 1)``."""
    from matplotlib.colors import LogNorm, Normalize

    finite = np.asarray(data, float)[np.isfinite(data)]
    if finite.size == 0:
        return LogNorm() if log else None
    vmax = min(float(finite.max()), 1.0)
    vmin = min(float(finite.min()), vmax)
    if vmin == vmax:
        vmin = vmax - 1e-3 if not log else vmax / 1.001
    return LogNorm(vmin=vmin, vmax=vmax) if log and vmin > 0 else Normalize(vmin=vmin, vmax=vmax)


def _clamp_fidelity_axis(ax: Any, axis: str = "y") -> None:
    """End a fidelity axis at 1 (keeping its lower limit below the top)."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if hi > 1.0:
        hi = 1.0
        if lo >= hi:
            lo = hi - 0.05
        (ax.set_ylim if axis == "y" else ax.set_xlim)(lo, hi)


def _plain_numbers(ax: Any) -> None:
    """No offset or scientific-offset notation on the axes' linear tick labels."""
    from matplotlib.ticker import ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        fmt = axis.get_major_formatter()
        if isinstance(fmt, ScalarFormatter):
            fmt.set_useOffset(False)


_UNITS = (("_db_per_km", "dB/km"), ("_mhz", "MHz"), ("_hz", "Hz"), ("_ns", "ns"), ("_ps", "ps"), ("_km", "km"),
          ("_rad", "rad"), ("_nm", "nm"), ("_s", "s"))


def key_units(key: str) -> str:
    """The unit of dotted ``key`` from its name's suffix (``detection.window_ns`` -> ``"ns"``), or ``""``."""
    leaf = key.rsplit(".", 1)[-1]
    return next((u for suffix, u in _UNITS if leaf.endswith(suffix)), "")


def _finish(fig: Any, path: str | os.PathLike | None) -> Any:
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=150)
    return fig


def _is_log(values: np.ndarray) -> bool:
    v = np.asarray(values, float)
    if len(v) < 3 or np.any(v <= 0):
        return False
    r = v[1:] / v[:-1]
    return bool(np.allclose(r, r[0], rtol=1e-6) and abs(r[0] - 1) > 1e-9 and v.max() / v.min() > 20)


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    v = np.asarray(v, float)
    if len(v) == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if v[0] else np.array([-0.5, 0.5])
    w = np.log(v) if log else v
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])
    return np.exp(e) if log else e


def plot_sweep(result: Any, quantity: str = "fidelity", path: str | os.PathLike | None = None,
               log_color: bool | None = None, title: str | None = None) -> Any:
    """Plot ``quantity`` (``"fidelity"``, ``"rate_hz"``, ``"success_probability"``) of a sweep.

    1 key (or ``mode="zip"``): a line against the first key. 2 keys (product): a heat map, keys on
    the x and y axes (log axes where the grid is geometric). 3+ keys: lines against the first key
    at the other keys' first values.
    """
    if quantity not in _LABELS:
        raise ValueError(f"Argument `quantity` must be one of {tuple(_LABELS)}, got {quantity!r}.")
    data = np.asarray(getattr(result, quantity))
    keys = list(result.keys)
    fig = figure()
    ax = fig.add_subplot()
    if result.mode == "zip" or len(keys) == 1 or len(keys) > 2:
        x = np.asarray(result.axes[keys[0]])
        y = data if data.ndim == 1 else data[(slice(None),) + (0,) * (data.ndim - 1)]
        order = np.argsort(x)
        ax.plot(x[order], y[order], marker="." if len(x) < 60 else None)
        ax.set_xlabel(keys[0])
        ax.set_ylabel(_LABELS[quantity])
        if _is_log(np.sort(x)):
            ax.set_xscale("log")
        if quantity != "fidelity" and np.all(y > 0) and y.max() / max(y.min(), 1e-300) > 100:
            ax.set_yscale("log")
        if quantity == "fidelity":
            _clamp_fidelity_axis(ax)
        if len(keys) > 2:
            ax.set_title("at " + ", ".join(f"{k}={result.axes[k][0]:.4g}" for k in keys[1:]), fontsize=8)
    else:
        from matplotlib.colors import LogNorm

        xk, yk = keys
        xv, yv = np.asarray(result.axes[xk]), np.asarray(result.axes[yk])
        xl, yl = _is_log(xv), _is_log(yv)
        if log_color is None:
            log_color = quantity != "fidelity" and np.all(data > 0) and data.max() / max(data.min(), 1e-300) > 100
        norm = _fidelity_norm(data, bool(log_color)) if quantity == "fidelity" else (LogNorm() if log_color else None)
        mesh = ax.pcolormesh(_edges(xv, xl), _edges(yv, yl), data.T, shading="flat", norm=norm, cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=_LABELS[quantity])
        if quantity == "fidelity" and data.size > 3:
            try:
                cs = ax.contour(xv, yv, data.T, colors="w", linewidths=0.6)
                ax.clabel(cs, fontsize=7, fmt="%.3f")
            except (ValueError, TypeError):  # flat or degenerate data: no contours
                pass
        _label_2d(ax, xk, yk, xl, yl)
    name = _link_name(result)
    ax.set_title(title if title is not None else (f"{name}: {quantity}" if name else quantity))
    return _finish(fig, path)


def plot_history(result: Any, path: str | os.PathLike | None = None, title: str | None = None) -> Any:
    """Objective (penalized), fidelity and rate against the optimizer step, then one panel per free key
    (its value in the key's units, e.g. ``detection.window_ns (ns)``), the best step marked.

    Tick labels are plain numbers (no offset notation) and the fidelity axis ends at 1.
    """
    h = result.history
    free = list(h.get("params", {}))
    n = 3 + len(free)
    fig = figure(6.0, 2.0 + 1.5 * n)
    axes = list(np.atleast_1d(fig.subplots(n, 1, sharex=True)))
    steps = np.asarray(h["step"])
    series = [(h["value"], f"objective ({result.objective})"), (h["fidelity"], "fidelity"),
              (h["rate_hz"], "rate (s$^{-1}$)")]
    for key in free:
        unit = key_units(key)
        series.append((h["params"][key], f"{key} ({unit})" if unit else key))
    for ax, (y, label) in zip(axes, series):
        ax.plot(steps, np.asarray(y), lw=1.2)
        ax.axvline(result.best_step, color="0.6", ls=":", lw=1)
        ax.set_ylabel(label, fontsize=8 if len(label) > 24 else None)
        _plain_numbers(ax)
    c = result.constraint
    if "min_rate_hz" in c:
        axes[2].axhline(c["min_rate_hz"], color="C3", ls="--", lw=1, label="required rate")
        axes[2].legend(fontsize=8)
    if "min_fidelity" in c:
        axes[1].axhline(c["min_fidelity"], color="C3", ls="--", lw=1, label="required fidelity")
        axes[1].legend(fontsize=8)
    _clamp_fidelity_axis(axes[1])
    axes[-1].set_xlabel("step")
    params = ", ".join(f"{k} = {v:.4g}" for k, v in result.params.items())
    axes[0].set_title(title if title is not None else f"best: {params}", fontsize=9)
    return _finish(fig, path)


def plot_frontier(front: Any = None, path: str | os.PathLike | None = None, *, rates: Any = None,
                  fidelities: Any = None, operating_point: tuple[float, float] | None = None,
                  operating_label: str = "operating point", sweep: Any = None, label: str = "optimized front",
                  title: str | None = None, ax: Any = None, color: str = "C0") -> Any:
    """Fidelity against heralded rate.

    For a :class:`~ionjax.optimize.ParetoFront` of minimum rates the line is the best fidelity
    against the *required* rate (a non-increasing envelope: below the rate of the unconstrained
    optimum it is flat), and hollow markers show the rates actually reached.

    Args:
        front: a :class:`~ionjax.optimize.ParetoFront` (or give ``rates`` and ``fidelities``).
        path: write the figure there.
        operating_point: ``(rate_hz, fidelity)`` to mark (e.g. a published experiment).
        sweep: a :class:`~ionjax.sweep.SweepResult` whose points are drawn behind the front.
        ax: draw into this Axes instead of a new figure.
    """
    achieved = None
    if front is not None:
        fidelities = front.fidelity
        if getattr(front, "objective", "") == "fidelity_at_rate":
            rates, achieved = front.constraints, front.rate_hz
        else:
            rates = front.rate_hz
    if rates is None or fidelities is None:
        raise ValueError("plot_frontier needs a ParetoFront or both `rates` and `fidelities`.")
    r, f = np.asarray(rates, float), np.asarray(fidelities, float)
    order = np.argsort(r)
    if ax is None:
        fig = figure()
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if sweep is not None:
        ax.scatter(np.asarray(sweep.rate_hz).ravel(), np.asarray(sweep.fidelity).ravel(), s=4, c="0.75",
                   label="sweep points", zorder=1)
    ax.plot(r[order], f[order], "-o", ms=3, lw=1.5, color=color, label=label, zorder=2)
    if achieved is not None:
        ax.plot(np.asarray(achieved, float), f, "o", mfc="none", ms=5, color=color, alpha=0.6, zorder=2,
                label="rate reached")
    if operating_point is not None:
        ax.plot([operating_point[0]], [operating_point[1]], "*", ms=12, color="C3", label=operating_label, zorder=3)
    ax.set_xlabel(("required " if achieved is not None else "") + _LABELS["rate_hz"])
    ax.set_ylabel("fidelity")
    if np.all(r > 0) and r.max() / r.min() > 20:
        ax.set_xscale("log")
    _clamp_fidelity_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_sweep_summary(result: Any, path: str | os.PathLike | None = None, title: str | None = None) -> Any:
    """Fidelity and rate of a sweep in one figure.

    1 key (or ``mode="zip"``): fidelity (left axis) and rate (right axis, log if it spans > 2
    decades) against the first key. 2 keys (product): a heat map of the fidelity with labelled
    contours of the rate. 3+ keys: as 1 key, at the other keys' first values.
    """
    keys = list(result.keys)
    fid, rate = np.asarray(result.fidelity), np.asarray(result.rate_hz)
    fig = figure()
    ax = fig.add_subplot()
    if result.mode == "zip" or len(keys) != 2:
        x = np.asarray(result.axes[keys[0]])
        sel = (slice(None),) + (0,) * (fid.ndim - 1)
        order = np.argsort(x)
        xs, f, r = x[order], fid[sel][order], rate[sel][order]
        ax.plot(xs, f, color="C0", marker="." if len(x) < 60 else None, label="fidelity")
        ax.set_xlabel(keys[0])
        ax.set_ylabel("fidelity", color="C0")
        _clamp_fidelity_axis(ax)
        if _is_log(xs):
            ax.set_xscale("log")
        ax2 = ax.twinx()
        ax2.plot(xs, r, color="C1", ls="--", label="rate")
        ax2.set_ylabel(_LABELS["rate_hz"], color="C1")
        if np.all(r > 0) and r.max() / max(r.min(), 1e-300) > 100:
            ax2.set_yscale("log")
    else:
        xk, yk = keys
        xv, yv = np.asarray(result.axes[xk]), np.asarray(result.axes[yk])
        xl, yl = _is_log(xv), _is_log(yv)
        mesh = ax.pcolormesh(_edges(xv, xl), _edges(yv, yl), fid.T, shading="flat", cmap="viridis",
                             norm=_fidelity_norm(fid))
        fig.colorbar(mesh, ax=ax, label="fidelity")
        if rate.size > 3 and np.ptp(rate) > 0:
            try:
                if np.all(rate > 0) and rate.max() / rate.min() > 100:
                    from matplotlib.ticker import LogLocator

                    cs = ax.contour(xv, yv, rate.T, colors="w", linewidths=0.7, locator=LogLocator())
                else:
                    cs = ax.contour(xv, yv, rate.T, colors="w", linewidths=0.7)
                ax.clabel(cs, fontsize=7, fmt="%.3g Hz")
            except (ValueError, TypeError):  # degenerate data: no contours
                pass
        _label_2d(ax, xk, yk, xl, yl)
    name = _link_name(result)
    default = "fidelity and rate (contours, Hz)" if (result.mode != "zip" and len(keys) == 2) else "fidelity and rate"
    ax.set_title(title if title is not None else (f"{name}: {default}" if name else default), fontsize=9)
    return _finish(fig, path)


def _label_2d(ax, xk: str, yk: str, x_log: bool, y_log: bool) -> None:  # noqa: ANN001
    """Axis labels and log scales of a 2-D sweep plot."""
    ax.set_xlabel(xk)
    ax.set_ylabel(yk)
    if x_log:
        ax.set_xscale("log")
    if y_log:
        ax.set_yscale("log")


def _link_name(result) -> str:  # noqa: ANN001
    """The swept link's name, or ''."""
    return getattr(result.link, "name", "") if getattr(result, "link", None) is not None else ""


def plot_fit(result: Any, path: str | os.PathLike | None = None, title: str | None = None) -> Any:
    """The data of a :class:`~ionjax.fit.FitResult` against the fitted model, one panel per measured quantity,
    each with its residuals below.

    Herald counts: each pattern's heralds per attempt (binomial error bars) against the first varied key (or
    the row). Correlations: each basis's (and pattern's) correlator ``<sigma_A sigma_B>`` (binomial error
    bars). Residuals are in standard deviations, ``(n - N p) / sqrt(N p (1 - p))``.
    """
    from .data import HeraldCounts
    from .fit import expected_counts

    tables = list(result.tables)
    model = expected_counts(result.link, tables)
    panels = []  # (title, x, xlabel, measured, error, expected, residual)
    for t, m in zip(tables, model):
        x, xlabel = (t.settings[:, 0], _with_unit(t.keys[0])) if t.keys else (np.arange(t.rows), "row")
        if isinstance(t, HeraldCounts):
            n_att = t.attempts
            for j, p in enumerate(t.patterns):
                meas, exp = t.counts[:, j] / n_att, m.counts[:, j] / n_att
                err = np.sqrt(np.maximum(meas * (1 - meas), 1e-300) / n_att)
                sd = np.sqrt(np.maximum(exp * (1 - exp) * n_att, 1e-300))
                panels.append((f"herald {p}", x, xlabel, meas, err, exp, (t.counts[:, j] - m.counts[:, j]) / sd,
                               "heralds per attempt"))
        else:
            groups = dict.fromkeys(zip(t.bases, t.patterns))
            for b, p in groups:
                rows = [i for i in range(t.rows) if t.bases[i] == b and t.patterns[i] == p]
                n = t.counts[rows].sum(axis=1)
                meas, exp = t.correlators[rows], m.correlators[rows]
                err = np.sqrt(np.maximum(1 - meas ** 2, 1e-12) / np.maximum(n, 1))
                sd = np.sqrt(np.maximum(1 - exp ** 2, 1e-12) / np.maximum(n, 1))
                panels.append((f"{b} ({p})", x[rows], xlabel, meas, err, exp, (meas - exp) / sd,
                               "<sigma_A sigma_B>"))
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig = figure(4.0 * cols, 3.6 * nrows)
    grid = fig.add_gridspec(2 * nrows, cols, height_ratios=[3, 1] * nrows)
    for k, (name, x, xlabel, meas, err, exp, res, ylabel) in enumerate(panels):
        r, c = divmod(k, cols)
        ax = fig.add_subplot(grid[2 * r, c])
        axr = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
        order = np.argsort(x)
        ax.errorbar(x, meas, yerr=err, fmt="o", ms=3, color="C0", label="data")
        ax.plot(np.asarray(x)[order], np.asarray(exp)[order], "-", color="C3", lw=1.2, label="fit")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        axr.axhline(0.0, color="0.6", lw=0.8)
        axr.plot(x, res, "o", ms=3, color="C0")
        axr.set_ylabel("resid. (sd)", fontsize=8)
        axr.set_xlabel(xlabel, fontsize=8)
        if k == 0:
            ax.legend(fontsize=8)
    fig.suptitle(title if title is not None else
                 f"fit: deviance {result.deviance:.3g} on {result.dof} dof (p = {result.p_value:.3g})", fontsize=10)
    return _finish(fig, path)


def _with_unit(key: str) -> str:
    unit = key_units(key)
    return f"{key} ({unit})" if unit else key
