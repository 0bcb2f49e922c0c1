"""Calibrate a link from (simulated) measured counts, and see how the errors shrink with the data.

The experiment: the ``duke_2024`` preset (138Ba+ polarization photons, O'Reilly et al. PRL 2024) with four
knobs at hidden true values: node A's collection efficiency 0.9, both nodes' photon lifetime 8.5 ns, a dark
count rate of 2000 Hz per detector and a mode overlap of 0.93. At six detection windows ``detection.window_ns``
(5 to 60 ns), 1e7 attempts each, ``ij.sample_counts`` draws the herald counts of every accepted pattern and
the heralded pairs' parities in the bases ZZ, XX and YY (pooled over the patterns, after each one's Pauli-frame
correction). ``ij.fit`` then fits the four knobs from a start away from the truth (0.8, 8 ns, 500 Hz, 0.9).

Printed: per knob the true value, the fitted value with its standard error, and the pull
``(fitted - true) / stderr`` (about N(0, 1) for a well-behaved fit); the fitted fidelity and rate at the
preset's own window (with errors propagated through the model) against ``ij.simulate`` of the true link.

Then the same sample + fit at 1e5, 1e6, 1e7 and 1e8 attempts per window (one compile serves them all: the data
keep their shapes): each knob's relative error against the attempts on log-log axes, with the 1/sqrt(N) line,
and the fitted slope of log(stderr) against log(N) per knob (-0.5 for errors from the Fisher information).
With little data a knob's maximum can sit on the end of its range (no dark counts, a perfect overlap), where
the errors from the curvature do not apply: a knob pinned there (nearer the end than a tenth of its error) or
with an infinite error is left out of the plot and the slopes at that level, and the reason printed.

Writes into ``--out`` (default ``experiments/out/calibrate_link``): ``heralds.csv`` and ``parity.csv`` (the
1e7 data, readable by ``ionjax fit``), ``fitted_link.toml`` and ``fit.json`` (``FitResult.save``), ``fit.png``
(data against the fit, ``ionjax.plotting.plot_fit``) and ``errors_vs_attempts.png``.

Run: ``python experiments/calibrate_link.py [--out DIR] [--seed S] [--quick]`` (``--quick``: attempt levels
1e6 and 1e7 only). About half a minute on 2 CPU cores, most of it the fit's one compilation.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import ionjax as ij  # noqa: E402

#: The hidden true values of the four knobs, and where the fit starts.
TRUE = {"node_a.collection_efficiency": 0.9, "nodes.photon_lifetime_ns": 8.5,
        "detection.dark_count_rate_hz": 2000.0, "interference.mode_overlap": 0.93}
START = {"node_a.collection_efficiency": 0.8, "nodes.photon_lifetime_ns": 8.0,
         "detection.dark_count_rate_hz": 500.0, "interference.mode_overlap": 0.9}
WINDOWS_NS = np.array([5.0, 10.0, 15.0, 25.0, 40.0, 60.0])
BASES = ("ZZ", "XX", "YY")
ATTEMPTS = 1e7
LEVELS = (1e5, 1e6, 1e7, 1e8)
QUICK_LEVELS = (1e6, 1e7)


def measure(truth: ij.Link, attempts: float, key: jax.Array) -> list:
    """The experiment: herald counts and pooled parities at each window, ``attempts`` per window."""
    return ij.sample_counts(truth, attempts, key, {"detection.window_ns": WINDOWS_NS}, bases=list(BASES))


def calibrate(start: ij.Link, tables: list, warn: bool = True) -> ij.FitResult:
    """The four knobs fitted to the data (tables or CSV paths), from ``start``."""
    return ij.fit(start, tables, free=list(TRUE), warn=warn)


def slope(attempts: np.ndarray, err: np.ndarray) -> float:
    """The least-squares slope of log(err) against log(attempts) over the finite errors (NaN with fewer than 2)."""
    ok = np.isfinite(err) & (err > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(attempts[ok]), np.log(err[ok]), 1)[0])


def report(res: ij.FitResult, truth: ij.Link) -> None:
    """Print the knobs against the truth (with their pulls), and the fitted fidelity and rate against the true
    link's."""
    print(f"{'knob':32s} {'true':>10s} {'fitted':>12s} {'± stderr':>10s} {'pull':>7s}")
    pulls = []
    for k, v in TRUE.items():
        x, s = res.values[k], res.stderr[k]
        pull = (x - v) / s if s > 0 else float("nan")
        pulls.append(pull)
        print(f"{k:32s} {v:10.6g} {x:12.6g} {s:10.3g} {pull:+7.2f}")
    sim = ij.simulate(truth)
    for name, label, true_v in (("fidelity", "fidelity", float(sim.fidelity)),
                                ("rate_hz", "rate (Hz)", float(sim.rate_hz))):
        d = res.derived[name]
        pull = (d["value"] - true_v) / d["stderr"]
        print(f"{label:32s} {true_v:10.6g} {d['value']:12.6g} {d['stderr']:10.3g} {pull:+7.2f}")
    print(f"deviance {res.deviance:.4g} on {res.dof} degrees of freedom, p = {res.p_value:.3g}; "
          f"{res.steps} BFGS steps, converged: {res.converged}")
    print(f"every knob's pull within ±4: {'yes' if np.all(np.abs(pulls) <= 4.0) else 'NO'}")


def plot_errors(levels: np.ndarray, rel: dict[str, np.ndarray], path: Path) -> None:
    from ionjax.plotting import figure

    fig = figure(6.0, 4.2)
    ax = fig.add_subplot()
    for i, (k, r) in enumerate(rel.items()):
        ok = np.isfinite(r)
        ax.loglog(levels[ok], r[ok], "o-", color=f"C{i}", label=k)
    finite = np.concatenate([r[np.isfinite(r)] for r in rel.values()])
    if finite.size:  # the 1/sqrt(N) guide, through the knobs' geometric mean at the largest level
        top = levels[-1]
        at_top = [r[-1] for r in rel.values() if np.isfinite(r[-1])] or list(finite)
        c = float(np.exp(np.mean(np.log(at_top)))) * np.sqrt(top)
        grid = np.geomspace(levels[0], levels[-1], 50)
        ax.loglog(grid, c / np.sqrt(grid), "k--", lw=1.0, label=r"$\propto 1/\sqrt{N}$")
    ax.set_xlabel("attempts per window N")
    ax.set_ylabel("relative standard error (stderr / true value)")
    ax.set_title(f"duke_2024, {len(WINDOWS_NS)} windows, parities in {'/'.join(BASES)}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=130)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="experiments/out/calibrate_link",
                    help="folder for the data, the fit and the plots (default: experiments/out/calibrate_link)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated data (default 0)")
    ap.add_argument("--quick", action="store_true", help="attempt levels 1e6 and 1e7 only")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    base = ij.load_link(ij.presets.as_dict("duke_2024"))
    truth, start = base.set(TRUE), base.set(START)
    key = jax.random.key(args.seed)

    # ---------------------------------------------------------------- the calibration at 1e7 attempts per window
    heralds, parity = measure(truth, ATTEMPTS, key)
    heralds.to_csv(out / "heralds.csv")
    parity.to_csv(out / "parity.csv")
    t0 = time.perf_counter()
    res = calibrate(start, [out / "heralds.csv", out / "parity.csv"])  # the fit reads the files back, as from a lab
    print(f"duke_2024: {len(WINDOWS_NS)} windows x {ATTEMPTS:.0e} attempts, parities in {', '.join(BASES)} "
          f"(seed {args.seed}); fit in {time.perf_counter() - t0:.1f} s (with its compilation)\n")
    report(res, truth)
    res.save(out)
    try:
        from ionjax.plotting import plot_fit

        plot_fit(res, out / "fit.png")
        plotted = True
    except ImportError:
        print("matplotlib not installed (pip install 'ionjax[plot]'): no plots")
        plotted = False

    # ---------------------------------------------------------------- errors against the number of attempts
    levels = np.array(QUICK_LEVELS if args.quick else LEVELS, float)
    rel = {k: np.full(len(levels), np.nan) for k in TRUE}
    print("\nrelative standard error (stderr / true value) against attempts per window")
    print(f"{'attempts':>9s} " + " ".join(f"{k.split('.')[-1]:>22s}" for k in TRUE) + "  steps  time")
    for i, n in enumerate(levels):
        t0 = time.perf_counter()
        if n == ATTEMPTS:
            r = res  # the calibration above
        else:
            r = calibrate(start, measure(truth, n, jax.random.fold_in(key, i + 1)), warn=False)
        dt = time.perf_counter() - t0
        left = []
        for k in TRUE:
            x, s = r.values[k], r.stderr[k]
            edges = [e for e in r.ranges[k] if math.isfinite(e) and abs(x - e) <= 0.1 * s]
            if math.isfinite(s) and not edges:
                rel[k][i] = s / abs(TRUE[k])
            else:
                why = "an infinite error" if not math.isfinite(s) else f"pinned at its range's end {edges[0]:g}"
                left.append(f"{k} = {x:.4g} ± {s:.2g}: {why}")
        when = "(above)" if r is res else f"{dt:.1f} s"
        print(f"{n:9.0e} " + " ".join(f"{rel[k][i]:22.3g}" for k in TRUE) + f"  {r.steps:5d}  {when}")
        for text in left:
            print(f"          left out: {text}")
    print("\nslope of log(stderr) vs log(N) (1/sqrt(N) errors: -0.5)")
    for k in TRUE:
        print(f"  {k:32s} {slope(levels, rel[k]):+.3f}")
    if plotted:
        plot_errors(levels, rel, out / "errors_vs_attempts.png")
    written = ", ".join(sorted(p.name for p in out.iterdir()))
    print(f"\nwrote {written} into {out} ({time.perf_counter() - t_all:.0f} s in all)")


if __name__ == "__main__":
    main()
