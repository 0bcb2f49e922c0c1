"""``ionjax sweep CONFIG --vary key=start:stop:num[:log] ... [--zip] --out DIR [--plot] [--chunk-size N]``.

Evaluates the link at every point of the grid (batched, chunked, sharded over the visible devices;
see :func:`ionjax.sweep`) and writes ``DIR/sweep.npz`` and ``DIR/sweep.csv`` (and PNGs with
``--plot``). Finished chunks are checkpointed under ``DIR/checkpoint``: the same command run again
after an interruption resumes where it stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="evaluate a link on a grid of parameters (batched, resumable)",
                       description="Evaluate a link on a grid of dotted keys. Each --vary gives one axis: "
                                   "key=start:stop:num (linear), key=start:stop:num:log (geometric) or "
                                   "key=v1,v2,v3 (explicit values). Axes combine as a Cartesian product, or "
                                   "point by point with --zip.")
    p.add_argument("config", nargs="?", help="link TOML file")
    p.add_argument("--preset", help="a preset name instead of a file (see `ionjax presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one entry of the base link (repeatable)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=START:STOP:NUM[:log]", required=True,
                   help="one grid axis (repeatable), e.g. detection.window_ns=5:200:40:log")
    p.add_argument("--zip", action="store_true", help="pair the i-th values of every axis instead of the product")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--plot", action="store_true", help="also write PNG plots (fidelity and rate)")
    p.add_argument("--chunk-size", type=int, default=None, help="points per compiled batch (default: from memory)")
    p.add_argument("--memory-mb", type=float, default=256.0, help="device memory budget per device (default 256)")
    p.add_argument("--no-checkpoint", action="store_true", help="do not checkpoint finished chunks")
    p.add_argument("--keep-states", action="store_true", help="also store the heralded 4x4 states in the .npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_vary(item: str) -> tuple[str, np.ndarray]:
    """``key=start:stop:num[:log]`` or ``key=v1,v2,...`` -> (key, values)."""
    key, sep, spec = item.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise ValueError(f"--vary takes KEY=START:STOP:NUM[:log] or KEY=V1,V2,..., got {item!r}.")
    if ":" in spec:
        parts = spec.split(":")
        log = len(parts) == 4 and parts[3].strip().lower() in ("log", "geom", "geometric")
        if len(parts) not in (3, 4) or (len(parts) == 4 and not log):
            raise ValueError(f"--vary {item!r}: expected START:STOP:NUM or START:STOP:NUM:log.")
        try:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"--vary {item!r}: START and STOP must be numbers and NUM an integer.") from None
        if num < 1:
            raise ValueError(f"--vary {item!r}: NUM must be >= 1.")
        if log:
            if start <= 0 or stop <= 0:
                raise ValueError(f"--vary {item!r}: a log axis needs START and STOP > 0.")
            return key, np.geomspace(start, stop, num)
        return key, np.linspace(start, stop, num)
    try:
        return key, np.array([float(v) for v in spec.split(",") if v.strip()])
    except ValueError:
        raise ValueError(f"--vary {item!r}: values must be numbers separated by commas.") from None


def run(args: argparse.Namespace) -> int:
    from ionjax.cli.simulate_cmd import load_from_args
    from ionjax.sweep import sweep

    link = load_from_args(args)
    grid: dict[str, np.ndarray] = {}
    for item in args.vary:
        key, values = parse_vary(item)
        if key in grid:
            raise ValueError(f"--vary names {key!r} twice.")
        grid[key] = values
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = sweep(link, grid, mode="zip" if args.zip else "product", chunk_size=args.chunk_size,
                memory_budget_mb=args.memory_mb, checkpoint_dir=None if args.no_checkpoint else out / "checkpoint",
                progress=not args.quiet, keep_states=args.keep_states)
    npz = res.save(out)
    print(repr(res))
    print(f"wrote {npz} and {npz.with_suffix('.csv')}")
    if args.plot:
        from ionjax.plotting import plot_sweep, plot_sweep_summary

        plot_sweep_summary(res, path=out / "sweep.png")
        print(f"wrote {out / 'sweep.png'}")
        for q in ("fidelity", "rate_hz"):
            png = out / f"sweep_{q}.png"
            plot_sweep(res, q, path=png)
            print(f"wrote {png}")
    return 0
