"""``ionjax optimize CONFIG --free KEY ... --objective OBJ [--min-rate-hz X] [--min-fidelity F] --steps N --out DIR``.

Tunes the free keys by gradient ascent with optax (see :func:`ionjax.optimize`) and writes
``DIR/optimized_link.toml`` (the optimized link, for ``ionjax simulate``), ``DIR/optimized_link.json``
(the link and a summary), ``DIR/history.csv`` and
``DIR/history.npz`` (and ``DIR/history.png`` with ``--plot``). The optimizer state is checkpointed
under ``DIR/checkpoint``: the same command run again resumes (or extends to a larger --steps).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from ionjax.optimize import OBJECTIVES

    p = sub.add_parser("optimize", help="tune link knobs by gradient descent (optax)",
                       description="Tune the --free keys of a link to maximize fidelity, rate, fidelity at a "
                                   "minimum rate, or rate at a minimum fidelity.")
    p.add_argument("config", nargs="?", help="link TOML file")
    p.add_argument("--preset", help="a preset name instead of a file (see `ionjax presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one entry of the starting link (repeatable)")
    p.add_argument("--free", nargs="+", action="extend", default=[], required=True, metavar="KEY",
                   help="dotted keys to tune, e.g. detection.window_ns nodes.excitation_probability")
    p.add_argument("--objective", choices=OBJECTIVES, default="fidelity")
    p.add_argument("--min-rate-hz", type=float, default=None, help="required rate (objective fidelity_at_rate)")
    p.add_argument("--min-fidelity", type=float, default=None, help="required fidelity (objective rate_at_fidelity)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (default 0.05)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--plot", action="store_true", help="also write history.png")
    p.add_argument("--no-checkpoint", action="store_true", help="do not checkpoint the optimizer state")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import optax

    from ionjax.cli.simulate_cmd import load_from_args
    from ionjax.optimize import optimize

    link = load_from_args(args)
    if not args.lr > 0:
        raise ValueError(f"--lr must be > 0, got {args.lr}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = optimize(link, args.free, args.objective, optimizer=optax.adam(args.lr), steps=args.steps,
                   min_rate_hz=args.min_rate_hz, min_fidelity=args.min_fidelity,
                   checkpoint_dir=None if args.no_checkpoint else out / "checkpoint", progress=not args.quiet)
    res.save(out)
    print(f"objective {res.objective}" + (f" {res.constraint}" if res.constraint else ""))
    print(f"  start : F = {res.initial['fidelity']:.6f}, rate = {res.initial['rate_hz']:.6g} Hz")
    print(f"  best  : F = {res.fidelity:.6f}, rate = {res.rate_hz:.6g} Hz (step {res.best_step})"
          + ("" if res.feasible else "  [constraint NOT met]"))
    for k, v in res.params.items():
        print(f"  {k:40s} {res.initial[k]:.6g} -> {v:.6g}")
    print(f"wrote {out / 'optimized_link.toml'}, {out / 'optimized_link.json'}, {out / 'history.csv'}, "
          f"{out / 'history.npz'}")
    if args.plot:
        from ionjax.plotting import plot_history

        plot_history(res, path=out / "history.png")
        print(f"wrote {out / 'history.png'}")
    return 0
