"""Cost of ``ij.fit``: its compile time, the time of a fit after compilation, and a scipy peer in the same run.

The problem is ``experiments/calibrate_link.py``'s: the ``duke_2024`` preset with four free knobs (node A's
collection efficiency, the photon lifetime, the dark count rate, the mode overlap), data drawn at their true
values (0.9, 8.5 ns, 2000 Hz, 0.93) at six detection windows (5 to 60 ns), 1e7 attempts each, with pooled parities
in ZZ, XX and YY; every fit starts from (0.8, 8 ns, 500 Hz, 0.9).

Measured, in one process:

* ``ij.fit``: compile time (the first call's time less the second's), the median time of ``--reps`` fits after
  compilation (a fit includes its errors: the Hessian from the exact gradient, derived fidelity and rate), and
  its BFGS steps;
* the peer: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the same negative log-likelihood
  (``ionjax.fit._log_likelihood``, less the same constant, the saturated log-likelihood, that ij.fit subtracts),
  with value and gradient from one ``jax.jit(jax.jacfwd(...))`` (forward mode, as ij.fit), the knobs in units of
  their starting values and bounded by their ranges: its compile time, median time per fit (optimum only, no
  errors) and final log-likelihood against ij.fit's;
* ``FitResult.profile`` of the mode overlap (a profile-likelihood interval: re-fits with the knob held) and
  ``FitResult.predict`` at a window the data do not have (35 ns; it reuses the fit's compilation).

Prints the ratios and whether the requirements hold: a fit after compilation under 5 s, the compile under 10 s.

Run: python benchmarks/bench_fit.py [--reps R] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.optimize  # noqa: E402

import ionjax as ij  # noqa: E402
import ionjax.fit  # noqa: E402, F401  (the module; ``ionjax.fit`` the attribute is the function)
from ionjax.config import key_spec  # noqa: E402

F = sys.modules["ionjax.fit"]

TRUE = {"node_a.collection_efficiency": 0.9, "nodes.photon_lifetime_ns": 8.5,
        "detection.dark_count_rate_hz": 2000.0, "interference.mode_overlap": 0.93}
START = {"node_a.collection_efficiency": 0.8, "nodes.photon_lifetime_ns": 8.0,
         "detection.dark_count_rate_hz": 500.0, "interference.mode_overlap": 0.9}
WINDOWS_NS = np.array([5.0, 10.0, 15.0, 25.0, 40.0, 60.0])
BASES = ["ZZ", "XX", "YY"]
FIT_LIMIT_S, COMPILE_LIMIT_S = 5.0, 10.0
#: L-BFGS-B at scipy's default tolerances (ftol 2.2e-9, gtol 1e-5), which end at ij.fit's optimum (the printed
#: log-likelihood difference); tighter ones only add line-search evaluations that end ABNORMAL at the same point.
PEER_OPTIONS = {"maxiter": 2000}


def _timed(fn, *args, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def _saturated(arrays: tuple) -> float:
    """The saturated log-likelihood ``sum n log(n / N)`` (each row's cells ``n``, ``N`` their total)."""
    total = 0.0
    for arr in arrays:
        n = np.asarray(arr[-1], float)
        frac = n / np.maximum(n.sum(axis=1, keepdims=True), 1.0)
        total += float(np.sum(n * np.log(np.where(n > 0, frac, 1.0))))
    return total


def peer(start: ij.Link, tables: list, free: tuple[str, ...], reps: int) -> dict:
    """scipy's L-BFGS-B on ij.fit's negative log-likelihood, gradient by jax.jit(jax.jacfwd)."""
    spec, grid, arrays, _ = F._prepare(start, tables, free)
    grid, dev = jnp.asarray(grid), F._device(arrays)
    sat = _saturated(arrays)
    x0 = np.array([float(start.get(k)) for k in free])

    def half_deviance(z: jax.Array, link: ij.Link, grid: jax.Array, arrays: tuple) -> tuple:
        lk = link.set(dict(zip(free, z * x0)))
        f = sat - F._log_likelihood(lk, spec, grid, arrays)
        return f, f

    grad_and_value = jax.jit(jax.jacfwd(half_deviance, has_aux=True))

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        g, f = grad_and_value(jnp.asarray(z), start, grid, dev)
        return float(f), np.asarray(g, float)

    bounds = []
    for k, s in zip(free, x0):
        ks = key_spec(start, k)
        lo = ks.lo + (1e-6 * s if ks.lo_open else 0.0)
        bounds.append((lo / s, ks.hi / s if np.isfinite(ks.hi) else None))
    z0 = np.ones(len(free))
    t_first, _ = _timed(fun, z0)
    t_second, _ = _timed(fun, z0)

    def solve() -> scipy.optimize.OptimizeResult:
        return scipy.optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                                       options=PEER_OPTIONS)

    times, res = [], None
    for _ in range(reps):
        dt, res = _timed(solve)
        times.append(dt)
    return {"compile_s": t_first - t_second, "fit_s": statistics.median(times), "nit": res.nit, "nfev": res.nfev,
            "ll": sat - res.fun, "x": dict(zip(free, res.x * x0)), "message": str(res.message)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="fits timed after compilation (median; default 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated data (default 0)")
    args = ap.parse_args()
    base = ij.load_link(ij.presets.as_dict("duke_2024"))
    truth, start = base.set(TRUE), base.set(START)
    free = tuple(TRUE)
    tables = ij.sample_counts(truth, 1e7, jax.random.key(args.seed), {"detection.window_ns": WINDOWS_NS},
                              bases=BASES)
    print(f"duke_2024, {len(free)} knobs, {len(WINDOWS_NS)} windows x 1e7 attempts, parities {'/'.join(BASES)}; "
          f"jax {jax.__version__} float64 on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores, "
          f"scipy {scipy.__version__}")

    # (a), (b): ij.fit
    t_first, res = _timed(ij.fit, start, tables, free=free)
    t_second, _ = _timed(ij.fit, start, tables, free=free)
    times = [_timed(ij.fit, start, tables, free=free)[0] for _ in range(args.reps)]
    fit_s, compile_s = statistics.median(times), t_first - t_second
    print(f"\nij.fit    first call {t_first:7.2f} s, second {t_second:6.3f} s -> compile {compile_s:6.2f} s; "
          f"after compile: median {fit_s:.3f} s of {args.reps} (min {min(times):.3f}, max {max(times):.3f}); "
          f"{res.steps} BFGS steps, converged {res.converged}, log-likelihood {res.log_likelihood:.6f}")

    # (c): the scipy peer
    p = peer(start, tables, free, args.reps)
    print(f"L-BFGS-B  compile {p['compile_s']:6.2f} s; after compile: median {p['fit_s']:.3f} s of {args.reps}; "
          f"{p['nit']} iterations, {p['nfev']} evaluations ({p['message']}); log-likelihood {p['ll']:.6f}")
    print(f"\n{'knob':32s} {'ij.fit':>14s} {'L-BFGS-B':>14s}")
    for k in free:
        print(f"{k:32s} {res.values[k]:14.8g} {p['x'][k]:14.8g}")
    print(f"log-likelihood: L-BFGS-B - ij.fit = {p['ll'] - res.log_likelihood:+.3e}")
    print(f"ratios: L-BFGS-B / ij.fit time per fit {p['fit_s'] / fit_s:.2f}x, "
          f"compile {p['compile_s'] / compile_s:.2f}x")

    # FitResult.profile and predict
    key = "interference.mode_overlap"
    t_prof, interval = _timed(res.profile, key)
    print(f"\nprofile({key!r}): {t_prof:.2f} s, 68% interval [{interval[0]:.6g}, {interval[1]:.6g}] "
          f"(value {res.values[key]:.6g} ± {res.stderr[key]:.2g})")
    t_p1, pred = _timed(res.predict, {"detection.window_ns": 35.0})
    t_p2, _ = _timed(res.predict, {"detection.window_ns": 35.0})
    fid, rate = pred["fidelity"], pred["rate_hz"]
    print(f"predict(window 35 ns): first {t_p1:.3f} s, again {t_p2:.3f} s; fidelity {fid['value']:.5f} "
          f"± {fid['stderr']:.2g}, rate {rate['value']:.4g} ± {rate['stderr']:.2g} Hz")

    ok_fit, ok_compile = fit_s < FIT_LIMIT_S, compile_s < COMPILE_LIMIT_S
    print(f"\nrequirement: fit after compile < {FIT_LIMIT_S:g} s: {fit_s:.3f} s {'PASS' if ok_fit else 'FAIL'}")
    print(f"requirement: compile < {COMPILE_LIMIT_S:g} s: {compile_s:.2f} s {'PASS' if ok_compile else 'FAIL'}")


if __name__ == "__main__":
    main()
