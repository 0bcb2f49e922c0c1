"""Cost of compositions: the compiled fast path of a link with path elements against the reference link,
the gradient against the forward pass, and the dense reference against the compiled path, in one run.

Links (DESIGN.md's reference two-photon link, ``benchmarks/bench_link.py``'s ``REFERENCE``):

* ``reference``: no path elements (real amplitudes);
* ``composition``: node B's photon through a birefringent fiber (general SU(2)), a quarter-, a half- and a
  quarter-wave plate and a polarization-dependent loss (complex amplitudes).

For each, with every leaf of the Link batched (``jax.vmap`` over a batch of Links, 1024 points by default):
forward points/s, the whole-Link gradient (reverse mode) and, for three knobs, forward mode (``jax.jacfwd``,
what :func:`ionjax.optimize` uses for up to ``FORWARD_MODE_MAX`` knobs); the compile times; the number of
jaxpr equations and of XLA fusions (what bounds the reverse pass on CPU); and the dense Heisenberg
reference's points/s as the peer. Prints ratios.

Run: python benchmarks/bench_compositions.py [--points N] [--reps R]
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_link import REFERENCE  # noqa: E402  (DESIGN.md's reference link, as bench_link runs it)

import ionjax as ij  # noqa: E402
from ionjax.link import evaluate as _simulate  # noqa: E402
from ionjax.optimize import FORWARD_MODE_MAX  # noqa: E402

PATH = [
    {"element": "birefringence", "name": "fiber_b", "theta_rad": 1.9, "phi_rad": 0.8, "lambda_rad": -1.2},
    {"element": "quarter_wave_plate", "name": "q1", "angle_rad": 0.3},
    {"element": "half_wave_plate", "name": "h1", "angle_rad": -0.2},
    {"element": "quarter_wave_plate", "name": "q2", "angle_rad": 0.7},
    {"element": "polarization_dependent_loss", "name": "pdl", "transmission_h": 0.95, "transmission_v": 0.85},
]
KNOBS = ("node_b.path.q1.angle_rad", "node_b.path.h1.angle_rad", "node_b.path.q2.angle_rad")


def batched(link: ij.Link, n: int) -> ij.Link:
    rng = np.random.default_rng(0)
    leaves, tdef = jax.tree_util.tree_flatten(link)
    return jax.tree_util.tree_unflatten(tdef, [jnp.asarray(x) * jnp.asarray(1 + 1e-6 * rng.random(n)) for x in leaves])


def timed(fn, arg, reps: int) -> tuple[float, float]:  # noqa: ANN001
    t = time.perf_counter()
    jax.block_until_ready(fn(arg))
    compile_s = time.perf_counter() - t
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(arg))
        best = min(best, time.perf_counter() - t)
    return compile_s, best


def fusions(fn, arg) -> int:  # noqa: ANN001
    txt = fn.lower(arg).compile().as_text()
    return txt[txt.index("ENTRY"):].count(" fusion(")


def run(label: str, link: ij.Link, n: int, reps: int, dense: bool) -> dict:
    bl = batched(link, n)

    def loss(lk: ij.Link) -> jax.Array:
        r = _simulate(lk)
        return r.fidelity + r.success_probability

    def loss_knobs(x: jax.Array, lk: ij.Link) -> jax.Array:
        return loss(lk.set(dict(zip(KNOBS, x))))

    fwd = jax.jit(jax.vmap(loss))
    rev = jax.jit(jax.vmap(jax.grad(loss)))
    out: dict = {}
    for name, fn in (("forward", fwd), ("gradient (reverse, all leaves)", rev)):
        c, t = timed(fn, bl, reps)
        out[name] = (c, t)
        print(f"  {label:12} {name:34} compile {c:6.2f} s  {n / t:10.3g} points/s  ({t * 1e3:7.3f} ms)")
    if label == "composition":
        x = jnp.stack([bl.get(k) for k in KNOBS], axis=1)
        jf = jax.jit(jax.vmap(lambda xx, lk: jax.jacfwd(loss_knobs)(xx, lk)))
        jr = jax.jit(jax.vmap(lambda xx, lk: jax.grad(loss_knobs)(xx, lk)))
        for name, fn in (("3 knobs, forward mode (jacfwd)", jf), ("3 knobs, reverse mode (grad)", jr)):
            c, t = timed(lambda a, fn=fn: fn(x, a), bl, reps)
            out[name] = (c, t)
            print(f"  {label:12} {name:34} compile {c:6.2f} s  {n / t:10.3g} points/s  ({t * 1e3:7.3f} ms)")
    if dense:
        dn = jax.jit(jax.vmap(lambda lk: _simulate(lk, "heisenberg").fidelity))
        c, t = timed(dn, bl, max(1, reps // 2))
        out["dense heisenberg (peer)"] = (c, t)
        print(f"  {label:12} {'dense heisenberg (peer)':34} compile {c:6.2f} s  {n / t:10.3g} points/s  "
              f"({t * 1e3:7.3f} ms)")
    eq_f = len(jax.make_jaxpr(jax.vmap(loss))(bl).eqns)
    eq_g = len(jax.make_jaxpr(jax.vmap(jax.grad(loss)))(bl).eqns)
    print(f"  {label:12} jaxpr equations: forward {eq_f}, gradient {eq_g}; XLA fusions: forward "
          f"{fusions(fwd, bl)}, gradient {fusions(rev, bl)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-dense", action="store_true", help="skip the dense peer")
    args = ap.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {args.points} points, every Link leaf batched")
    ref = ij.load_link(REFERENCE)
    comp = ij.load_link({**REFERENCE, "node_b": {**REFERENCE["node_b"], "path": PATH}})
    r = run("reference", ref, args.points, args.reps, not args.no_dense)
    c = run("composition", comp, args.points, args.reps, not args.no_dense)
    fw = "forward"
    gr = "gradient (reverse, all leaves)"
    print("\nratios (time per point):")
    print(f"  composition / reference, forward          {c[fw][1] / r[fw][1]:6.2f}  (goal <= 3)")
    print(f"  reference gradient / forward              {r[gr][1] / r[fw][1]:6.2f}  (goal <= 3)")
    print(f"  composition gradient / forward            {c[gr][1] / c[fw][1]:6.2f}")
    jf = "3 knobs, forward mode (jacfwd)"
    print(f"  composition 3-knob jacfwd / forward       {c[jf][1] / c[fw][1]:6.2f}  (optimize uses forward mode "
          f"for <= {FORWARD_MODE_MAX} knobs)")
    print(f"  composition 3-knob grad / forward         {c['3 knobs, reverse mode (grad)'][1] / c[fw][1]:6.2f}")
    if not args.no_dense:
        print(f"  dense heisenberg / compiled, reference    {r['dense heisenberg (peer)'][1] / r[fw][1]:6.1f}")
        print(f"  dense heisenberg / compiled, composition  {c['dense heisenberg (peer)'][1] / c[fw][1]:6.1f}")
    print(f"  compile of the whole-Link gradient: reference {r[gr][0]:.2f} s, composition {c[gr][0]:.2f} s "
          "(goal < 5 s)")


if __name__ == "__main__":
    main()
