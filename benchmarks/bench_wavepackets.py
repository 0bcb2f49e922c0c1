"""Cost of time-resolved detection: the compiled path with a coincidence window and the time-resolved
correction (click times integrated exactly, ``ionjax.link.timing``) against the time-integrating compiled
path of the same link, and the dense Heisenberg reference of the time-integrating link as the peer.

Links: DESIGN.md's reference two-photon link (``benchmarks/bench_link.py``'s ``REFERENCE``) with node B's
photon 10 MHz off and 8 vs 10 ns lifetimes, in three detection set-ups:

* ``gated``: the gate only (time-integrating; the gated overlap folded into the optics);
* ``filtered``: plus a coincidence window of 2 ns;
* ``corrected``: plus the time-resolved phase correction (200 ps jitter).

For each (every leaf of the Link batched with ``jax.vmap``, 1024 points by default): compile time, forward
points/s, and the whole-Link reverse-mode gradient's compile time and points/s. Prints ratios to ``gated``.

Run: python benchmarks/bench_wavepackets.py [--points N] [--reps R] [--encoding polarization|time_bin]
"""

from __future__ import annotations

import argparse
import copy
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_link import REFERENCE  # noqa: E402

import ionjax as ij  # noqa: E402
from ionjax.link import evaluate as _simulate  # noqa: E402


def _link(encoding: str, extra: dict) -> ij.Link:
    d = copy.deepcopy(REFERENCE)
    d["encoding"] = encoding
    d["node_a"]["photon_lifetime_ns"] = 8.0
    d["node_b"]["photon_lifetime_ns"] = 10.0
    d["node_b"]["photon_frequency_offset_mhz"] = 10.0
    d["detection"] = {**d.get("detection", {}), **extra}
    return ij.load_link(d)


def _batch(link: ij.Link, n: int) -> ij.Link:
    rng = np.random.default_rng(0)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x * (1.0 + 1e-3 * rng.standard_normal(n)), x.dtype), link)


def _time(fn, arg, reps: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(arg))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(reps):
        jax.block_until_ready(fn(arg))
    return compile_s, (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--encoding", default="polarization", choices=["polarization", "time_bin"])
    ap.add_argument("--grad", action="store_true", help="also the reverse-mode gradient (its compile is slow for "
                                                        "the time-resolved set-ups: minutes on 2 CPU cores)")
    args = ap.parse_args()
    setups = {"gated": {}, "filtered": {"coincidence_window_ns": 2.0},
              "corrected": {"coincidence_window_ns": 2.0, "time_resolved_correction": True, "timing_jitter_ps": 200.0}}
    fwd = jax.jit(jax.vmap(lambda lk: _simulate(lk, "compiled").fidelity))
    grad = jax.jit(jax.vmap(jax.grad(lambda lk: _simulate(lk, "compiled").fidelity)))
    rows = {}
    for name, extra in setups.items():
        batch = _batch(_link(args.encoding, extra), args.points)
        c_f, t_f = _time(fwd, batch, args.reps)
        c_g, t_g = _time(grad, batch, args.reps) if args.grad else (float("nan"), float("nan"))
        rows[name] = (c_f, args.points / t_f, c_g, args.points / t_g)
    dense = jax.jit(jax.vmap(lambda lk: _simulate(lk, "heisenberg").fidelity))
    c_d, t_d = _time(dense, _batch(_link(args.encoding, {}), args.points), args.reps)
    print(f"{args.encoding}, {args.points} points, float64, {jax.devices()[0].platform}")
    print(f"{'set-up':10s} {'compile s':>9s} {'points/s':>10s} {'grad compile s':>14s} {'grad points/s':>13s}"
          f" {'fwd vs gated':>12s}")
    base = rows["gated"][1]
    for name, (c_f, p_f, c_g, p_g) in rows.items():
        print(f"{name:10s} {c_f:9.2f} {p_f:10.3g} {c_g:14.2f} {p_g:13.3g} {base / p_f:11.2f}x")
    print(f"{'dense':10s} {c_d:9.2f} {args.points / t_d:10.3g}   (Heisenberg, gated link: compiled is "
          f"{rows['gated'][1] / (args.points / t_d):.1f}x faster)")


if __name__ == "__main__":
    main()
