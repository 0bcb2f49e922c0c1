"""Networks at scale: a 1024-segment chain with T1, T2, latency and multiplexing, and the JAX Monte Carlo.

1. The chain (equal links F = 0.9999, p = 0.05 per attempt at 100 kHz, 2 km each, 4 memories per node and
   link, T1 = 10 s, T2 = 1 s, a 0.5 ms cutoff) on its automatic grid: compile time, then the median time of one
   evaluation and of one ``jax.grad`` (cutoff and link numbers) with new numbers each time. Peer in the same run:
   the same chain without T1 (the dephasing-only case: the grid's earlier scope), as a ratio.
2. The event-by-event Monte Carlo (``vmap`` + ``lax.while_loop``, sharded over ``jax.devices()``): trajectories
   per second for 2- and 4-link chains, plain and with one DEJMPS round on the elementary links. Peer: the exact
   grid for the same chain; the ratio is the Monte Carlo's time to a fidelity standard error of 1e-3 over the
   grid's time.

Run: python benchmarks/bench_network.py [--repeats 5] [--samples 32768]
"""

import argparse
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from ionjax.network import chain_monte_carlo, repeater_chain  # noqa: E402

N = 1024
LINK = (0.9999, 0.05, 1e5)
FULL = dict(t1_s=10.0, t2_s=1.0, length_km=2.0, multiplexing=4, gate_error=1e-5, readout_error=1e-5)
PLAIN = dict(t2_s=1.0, length_km=2.0, multiplexing=4, gate_error=1e-5, readout_error=1e-5)
CUT = 5.06e-4


def timed(fn, args_list):
    out = fn(*args_list[0])
    jax.block_until_ready(out)
    times = []
    for a in args_list[1:]:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*a))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_chain(kw, repeats):
    ref = repeater_chain(LINK, N, cutoff_s=CUT, **kw)
    dt, size = float(ref.time_step_s), int(ref.waiting_time_pmf.shape[0])

    def rate(cut, p, f):
        r = repeater_chain((f, p, LINK[2]), N, cutoff_s=cut, time_step_s=dt, grid_size=size, **kw)
        return jnp.log(r.rate_hz), r.fidelity

    args = [(jnp.asarray(CUT * (1 + 0.01 * k)), jnp.asarray(0.05 * (1 - 0.01 * k)), jnp.asarray(LINK[0]))
            for k in range(repeats + 1)]
    t0 = time.perf_counter()
    ev = jax.jit(rate).lower(*args[0]).compile()
    t_compile = time.perf_counter() - t0
    t_eval = timed(ev, args)
    grad = jax.jit(jax.grad(lambda *a: rate(*a)[0], argnums=(0, 1, 2)))
    t_grad = timed(grad, args)
    return t_compile, t_eval, t_grad, float(ref.fidelity), float(ref.rate_hz), size


def bench_mc(n_links, rounds, samples):
    kw = dict(t2_s=20.0, cutoff_s=8.0, time_step_s=1.0, purification_rounds=rounds)
    link = (0.9, 0.2, 1.0)
    t0 = time.perf_counter()
    grid = repeater_chain(link, n_links, grid_size=2048, **kw)
    jax.block_until_ready(grid.fidelity)
    t0 = time.perf_counter()
    grid = repeater_chain(link, n_links, grid_size=2048, **kw)
    jax.block_until_ready(grid.fidelity)
    t_grid = time.perf_counter() - t0
    mc = chain_monte_carlo(link, n_links, n_samples=samples, batch_size=samples // 4, seed=1, **kw)
    n_needed = (mc.fidelity_stderr * mc.n_samples ** 0.5 / 1e-3) ** 2
    return mc, float(grid.fidelity), n_needed / mc.trajectories_per_s / t_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=32768, help="Monte Carlo trajectories per case")
    args = ap.parse_args()
    dev = jax.devices()
    print(f"JAX {jax.__version__} on {len(dev)} x {dev[0].platform} ({dev[0].device_kind}), float64")
    print(f"\n1. {N}-segment nested chain (automatic grid)")
    print(f"{'case':>34} {'grid':>7} {'compile s':>10} {'eval ms':>9} {'grad ms':>9} {'fidelity':>9} {'rate Hz':>9}")
    rows = {}
    for name, kw in (("T1 + T2 + latency + multiplexing 4", FULL), ("peer: no T1", PLAIN)):
        tc, te, tg, fid, rate, size = bench_chain(kw, args.repeats)
        rows[name] = te
        print(f"{name:>34} {size:>7} {tc:>10.2f} {te * 1e3:>9.2f} {tg * 1e3:>9.2f} {fid:>9.5f} {rate:>9.4g}")
    full, plain = rows.values()
    print(f"ratio full / peer evaluation time: {full / plain:.2f}  (under 1 s: {'yes' if full < 1 else 'NO'})")
    print("\n2. JAX Monte Carlo (F = 0.9 links, p = 0.2, T2 = 20 rounds, cutoff 8 rounds)")
    print(f"{'links':>6} {'purification':>13} {'traj/s':>10} {'MC fidelity':>12} {'grid fidelity':>14} "
          f"{'MC time to 1e-3 / grid time':>28}")
    for n_links, rounds in ((2, ()), (4, ()), (2, (1,)), (4, (1,))):
        mc, gf, ratio = bench_mc(n_links, rounds, args.samples)
        print(f"{n_links:>6} {str(rounds or '-'):>13} {mc.trajectories_per_s:>10.4g} "
              f"{mc.fidelity:>8.4f}+-{mc.fidelity_stderr:.1e} {gf:>10.4f} {ratio:>28.3g}")


if __name__ == "__main__":
    main()
