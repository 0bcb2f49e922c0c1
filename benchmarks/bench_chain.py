"""Time of one repeater-chain evaluation against the number of segments (2, 4, ..., 1024).

Each chain is compiled once (timed separately: ``lower + compile``), then evaluated
several times with new numbers (no recompilation) and the median is printed. Links
are equal Werner pairs (F = 0.97, p = 1e-3 per attempt at 1 MHz), T2 = 1 s, a 20 ms
cutoff, swap gate error 1e-3; the time grid has GRID steps of 10 us.

Run: python benchmarks/bench_chain.py [--grid 4096] [--repeats 5] [--max-links 1024]
"""

import argparse
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from ionjax.network import repeater_chain  # noqa: E402


def bench(n_links: int, schedule: str, grid: int, repeats: int) -> tuple[float, float, float, float]:
    def f(p: jax.Array, cutoff: jax.Array) -> tuple[jax.Array, jax.Array]:
        r = repeater_chain((0.97, p, 1.0e6), n_links=n_links, schedule=schedule, cutoff_s=cutoff, t2_s=1.0,
                           gate_error=1e-3, time_step_s=1e-5, grid_size=grid)
        return r.fidelity, r.rate_hz

    args = (jnp.asarray(1e-3), jnp.asarray(20e-3))
    t0 = time.perf_counter()
    compiled = jax.jit(f).lower(*args).compile()
    t_compile = time.perf_counter() - t0
    times = []
    for k in range(repeats):
        a = (jnp.asarray(1e-3 * (1 + 0.01 * k)), jnp.asarray(20e-3 * (1 - 0.01 * k)))
        t0 = time.perf_counter()
        fid, rate = compiled(*a)
        fid.block_until_ready()
        times.append(time.perf_counter() - t0)
    return t_compile, statistics.median(times), float(fid), float(rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=int, default=4096, help="time steps of the grid (default 4096)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-links", type=int, default=1024)
    ap.add_argument("--schedules", default="nested,sequential")
    args = ap.parse_args()
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, float64, grid {args.grid} steps")
    for schedule in args.schedules.split(","):
        print(f"\nschedule {schedule}")
        print(f"{'segments':>9} {'compile s':>10} {'run ms':>9} {'ms/segment':>11} {'fidelity':>9} {'rate Hz':>10}")
        n = 2
        while n <= args.max_links:
            tc, tr, fid, rate = bench(n, schedule, args.grid, args.repeats)
            print(f"{n:>9} {tc:>10.2f} {tr * 1e3:>9.2f} {tr * 1e3 / n:>11.4f} {fid:>9.5f} {rate:>10.4g}")
            n *= 2


if __name__ == "__main__":
    main()
