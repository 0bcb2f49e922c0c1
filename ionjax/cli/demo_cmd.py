"""``ionjax demo``: a worked example with real computed numbers."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run a worked example and print its results")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ionjax as ij

    space = ij.Space(ij.Qudit("ion_a"), ij.Qudit("ion_b"))
    bell = ij.DensityMatrix.from_ket(ij.bell_state("phi+"), space)
    t2_s = 0.5

    @jax.jit
    def after_wait(t_s):
        rho = bell.apply_kraus(ij.memory_decay(t_s, 10.0, t2_s), on="ion_a")
        rho = rho.apply_kraus(ij.memory_decay(t_s, 10.0, t2_s), on="ion_b")
        return ij.fidelity(rho, ij.bell_state("phi+")), ij.concurrence(rho)

    waits = jnp.array([0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0])
    fids, concs = jax.vmap(after_wait)(waits)
    print("Bell pair Phi+ stored in two ion memories (T1 = 10 s, T2 = 0.5 s each)")
    print(f"{'wait (s)':>10} {'fidelity':>10} {'concurrence':>12}")
    for t, f, c in zip(np.asarray(waits), np.asarray(fids), np.asarray(concs)):
        print(f"{t:10.3f} {f:10.5f} {c:12.5f}")
    return 0
