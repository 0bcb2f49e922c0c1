"""``ionjax optimize CONFIG --free KEY ... --objective OBJ [--min-rate-hz X] [--min-fidelity F] --steps N --out DIR``.

Tunes the free keys by gradient ascent with optax (see :func:`ionjax.optimize`) and writes
``DIR/optimized_link.toml`` (the optimized link, for ``ionjax simulate``), ``DIR/optimized_link.json``
(the link and a summary), ``DIR/history.csv`` and
``DIR/history.npz`` (and ``DIR/history.png`` with ``--plot``). The optimizer state is checkpointed
under ``DIR/checkpoint``: the same command run again resumes (or extends to a larger --steps).
"""

from __future__ import annotations

import argparse

from ionjax.errors import ConfigError

from ._common import integer, number, out_dir, plot_or_explain, warn_if_plotting_missing

_OBJECTIVE_HELP = {
    "fidelity": "maximize the fidelity",
    "rate": "maximize the (log) rate",
    "fidelity_at_rate": "maximize the fidelity at a rate >= --min-rate-hz",
    "rate_at_fidelity": "maximize the rate at a fidelity >= --min-fidelity",
}


#: Most steps one command takes (the history is kept in memory; about 1 s per 1,000 steps on a laptop CPU).
MAX_STEPS = 10_000_000


def register(sub: argparse._SubParsersAction) -> None:
    from ionjax.optimize import OBJECTIVES

    p = sub.add_parser("optimize", help="tune link knobs by gradient descent (optax)",
                       description="Tune the --free keys of a link to maximize fidelity, rate, fidelity at a "
                                   "minimum rate, or rate at a minimum fidelity. Writes DIR/optimized_link.toml "
                                   "(for `ionjax simulate`), DIR/optimized_link.json, DIR/history.csv and "
                                   "DIR/history.npz; the same command run again resumes from DIR/checkpoint. "
                                   "Give CONFIG before --free (or end the --free list with --).")
    p.add_argument("config", nargs="?", help="link TOML file (or use --preset)")
    p.add_argument("--preset", help="a preset name instead of a file (see `ionjax presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one entry of the starting link (repeatable)")
    p.add_argument("--free", nargs="+", action="extend", default=[], required=True, metavar="KEY",
                   help="dotted keys to tune, e.g. detection.window_ns nodes.excitation_probability (takes every "
                        "following word up to the next option)")
    p.add_argument("--objective", choices=OBJECTIVES, default="fidelity",
                   help="what to maximize: " + "; ".join(f"{k}: {_OBJECTIVE_HELP.get(k, k)}" for k in OBJECTIVES)
                        + " (default fidelity)")
    p.add_argument("--min-rate-hz", type=number("--min-rate-hz", lo=0.0, lo_open=True,
                                                meaning="required heralded rate, Hz", example="100"),
                   default=None, metavar="HZ", help="required rate, Hz, > 0 (objective fidelity_at_rate)")
    p.add_argument("--min-fidelity", type=number("--min-fidelity", lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                                                 meaning="required fidelity", example="0.9"),
                   default=None, metavar="F", help="required fidelity, in (0, 1) (objective rate_at_fidelity)")
    p.add_argument("--steps", type=integer("--steps", lo=1, hi=MAX_STEPS, meaning="number of gradient steps",
                                             example="200"),
                   default=200, metavar="N", help=f"number of gradient steps, 1 to {MAX_STEPS:,} (default 200)")
    p.add_argument("--lr", type=number("--lr", lo=0.0, lo_open=True, meaning="Adam learning rate", example="0.05"),
                   default=0.05, help="Adam learning rate, > 0 (default 0.05)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--plot", action="store_true",
                   help='also write history.png; needs matplotlib: pip install "ionjax[plot]"')
    p.add_argument("--no-checkpoint", action="store_true", help="do not checkpoint the optimizer state")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check_constraint_flags(args: argparse.Namespace) -> None:
    need = {"fidelity_at_rate": ("--min-rate-hz", "min_rate_hz", "100"),
            "rate_at_fidelity": ("--min-fidelity", "min_fidelity", "0.9")}
    if args.objective in need:
        flag, dest, example = need[args.objective]
        if getattr(args, dest) is None:
            raise ConfigError(f"--objective {args.objective} needs {flag}, which was not given; e.g. {flag} {example}.")
    for obj, (flag, dest, _) in need.items():
        if getattr(args, dest) is not None and args.objective != obj:
            raise ConfigError(f"{flag} {getattr(args, dest):g} applies only to --objective {obj}, but the objective "
                              f"is {args.objective}; drop {flag} or use --objective {obj}.")


def run(args: argparse.Namespace) -> int:
    import optax

    from ionjax.cli.simulate_cmd import load_from_args
    from ionjax.optimize import optimize

    _check_constraint_flags(args)
    link = load_from_args(args)
    out = out_dir(args.out, "--out")
    if args.plot:
        warn_if_plotting_missing("optimize")
    res = optimize(link, args.free, args.objective, optimizer=optax.adam(args.lr), steps=args.steps,
                   min_rate_hz=args.min_rate_hz, min_fidelity=args.min_fidelity,
                   checkpoint_dir=None if args.no_checkpoint else out / "checkpoint", progress=not args.quiet)
    res.save(out)
    print(f"objective {res.objective}" + (f" {res.constraint}" if res.constraint else ""))
    if res.steps != args.steps:
        print(f"  note  : {out / 'checkpoint'} holds a finished {res.steps}-step run, longer than --steps "
              f"{args.steps}: showing that run (use another --out for a new one)")
    elif res.resumed_from:
        print(f"  resumed from step {res.resumed_from} of {res.steps} ({out / 'checkpoint'})")
    print(f"  start : F = {res.initial['fidelity']:.6f}, rate = {res.initial['rate_hz']:.6g} Hz")
    print(f"  best  : F = {res.fidelity:.6f}, rate = {res.rate_hz:.6g} Hz (step {res.best_step})"
          + ("" if res.feasible else "  [constraint NOT met]"))
    if not res.rate_hz > 0:
        print("  no herald: no accepted click pattern occurs at the best point (F = 0 there means no answer, "
              "and its gradient gives no direction); start from settings where the link heralds")
    for k, v in res.params.items():
        print(f"  {k:40s} {res.initial[k]:.6g} -> {v:.6g}")
    written = f"{out / 'optimized_link.toml'}, {out / 'optimized_link.json'}, {out / 'history.csv'}, " \
              f"{out / 'history.npz'}"
    print(f"wrote {written}")
    if args.plot:
        def draw() -> None:
            from ionjax.plotting import plot_history

            plot_history(res, path=out / "history.png")
            print(f"wrote {out / 'history.png'}")

        replot = ("run the same command again: it resumes from the checkpoint with no steps left and only draws"
                  if not args.no_checkpoint else "run the same command again (it optimizes again: --no-checkpoint)")
        plot_or_explain(draw, written, replot)
    return 0
