"""``ionjax sweep CONFIG --vary key=start:stop:num[:log] ... [--zip] --out DIR [--plot] [--chunk-size N]``.

Evaluates the link at every point of the grid (batched, chunked, sharded over the visible devices;
see :func:`ionjax.sweep`) and writes ``DIR/sweep.npz`` and ``DIR/sweep.csv`` (and PNGs with
``--plot``). Finished chunks are checkpointed under ``DIR/checkpoint``: the same command run again
after an interruption resumes where it stopped.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np

from ionjax.errors import ConfigError

from ._common import integer, number, out_dir, plot_or_explain, warn_if_plotting_missing


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="evaluate a link on a grid of parameters (batched, resumable)",
                       description="Evaluate a link on a grid of dotted keys. Each --vary gives one axis: "
                                   "key=start:stop:num (linear), key=start:stop:num:log (geometric) or "
                                   "key=v1,v2,v3 (explicit values). Axes combine as a Cartesian product, or "
                                   "point by point with --zip. Writes DIR/sweep.npz and DIR/sweep.csv; the "
                                   "same command run again resumes from DIR/checkpoint.")
    p.add_argument("config", nargs="?", help="link TOML file (or use --preset)")
    p.add_argument("--preset", help="a preset name instead of a file (see `ionjax presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one entry of the base link (repeatable)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=START:STOP:NUM[:log]", required=True,
                   help="one grid axis (repeatable), e.g. detection.window_ns=5:200:40:log or "
                        "nodes.collection_efficiency=0.05,0.1")
    p.add_argument("--zip", action="store_true",
                   help="pair the i-th values of every axis (all of one length) instead of the product")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--plot", action="store_true",
                   help='also write PNG plots (fidelity and rate); needs matplotlib: pip install "ionjax[plot]"')
    p.add_argument("--chunk-size", type=integer("--chunk-size", lo=1, meaning="points per compiled batch",
                                                example="4096"),
                   default=None, metavar="N", help="points per compiled batch, >= 1 (default: from --memory-mb)")
    p.add_argument("--memory-mb", type=number("--memory-mb", lo=0.0, lo_open=True,
                                              meaning="device memory budget per device, MB", example="256"),
                   default=256.0, metavar="MB", help="device memory budget per device, MB, > 0 (default 256)")
    p.add_argument("--no-checkpoint", action="store_true", help="do not checkpoint finished chunks")
    p.add_argument("--keep-states", action="store_true", help="also store the heralded 4x4 states in the .npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _finite(item: str, what: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"--vary {item!r}: {what} must be a number, got {text.strip()!r}.") from None
    if not math.isfinite(v):
        raise ConfigError(f"--vary {item!r}: {what} must be a finite number, got {text.strip()!r}.")
    return v


def parse_vary_spec(item: str) -> tuple[str, int, Callable[[], np.ndarray]]:
    """``key=start:stop:num[:log]`` or ``key=v1,v2,...`` -> (key, number of values, make the values).

    The values are not allocated until ``make()`` is called, so the size of the grid can be checked first.

    Raises:
        ConfigError: naming ``--vary`` and the spec.
    """
    key, sep, spec = item.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise ConfigError(f"--vary takes KEY=START:STOP:NUM[:log] or KEY=V1,V2,..., got {item!r}; "
                          "e.g. --vary detection.window_ns=5:200:40:log.")
    if ":" in spec:
        parts = spec.split(":")
        log = len(parts) == 4 and parts[3].strip().lower() in ("log", "geom", "geometric")
        if len(parts) not in (3, 4) or (len(parts) == 4 and not log):
            raise ConfigError(f"--vary {item!r}: expected START:STOP:NUM or START:STOP:NUM:log, "
                              "e.g. detection.window_ns=5:200:40:log.")
        start = _finite(item, "START", parts[0])
        stop = _finite(item, "STOP", parts[1])
        text = parts[2].strip()
        try:
            num = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f.is_integer()):
                raise ConfigError(f"--vary {item!r}: NUM (the number of values) must be a whole number >= 1, "
                                  f"got {text!r}.") from None
            num = int(f)
        if num < 1:
            raise ConfigError(f"--vary {item!r}: NUM (the number of values) must be >= 1, got {num}.")
        if log and (start <= 0 or stop <= 0):
            raise ConfigError(f"--vary {item!r}: a log axis needs START > 0 and STOP > 0, got {start:g} and "
                              f"{stop:g}; use a linear axis (drop ':log') to include zero or negative values.")
        if log:
            return key, num, lambda: np.geomspace(start, stop, num)
        return key, num, lambda: np.linspace(start, stop, num)
    texts = [v for v in spec.split(",") if v.strip()]
    if not texts:
        raise ConfigError(f"--vary {item!r}: the list of values is empty; give at least one number.")
    values = np.array([_finite(item, "every value", v) for v in texts])
    return key, len(values), lambda: values


def parse_vary(item: str) -> tuple[str, np.ndarray]:
    """``key=start:stop:num[:log]`` or ``key=v1,v2,...`` -> (key, values) (one axis; see :func:`parse_vary_spec`)."""
    from ionjax.sweep import MAX_GRID_POINTS

    key, num, make = parse_vary_spec(item)
    if num > MAX_GRID_POINTS:
        raise ConfigError(f"--vary {item!r} has {num:,} values, more than a sweep accepts ({MAX_GRID_POINTS:,}).")
    return key, make()


def build_grid(items: list[str], zip_: bool, keep_states: bool = False) -> dict[str, np.ndarray]:
    """The sweep grid of the ``--vary`` specs, refused before any allocation when it is too large."""
    from ionjax.sweep import check_grid_size

    specs: dict[str, tuple[str, int, Callable[[], np.ndarray]]] = {}
    for item in items:
        key, num, make = parse_vary_spec(item)
        if key in specs:
            raise ConfigError(f"--vary names {key!r} twice ({specs[key][0]!r} and {item!r}); give each key once.")
        specs[key] = (item, num, make)
    if zip_:
        lens = {it: n for it, n, _ in specs.values()}
        if len(set(lens.values())) > 1:
            shown = ", ".join(f"{it!r}: {n}" for it, n in lens.items())
            raise ConfigError(f"--zip pairs the i-th values of every --vary, so all need the same number of values; "
                              f"got {shown}. Give them one length, or drop --zip for the Cartesian product.")
    check_grid_size({key: num for key, (_, num, _) in specs.items()}, "zip" if zip_ else "product",
                    keep_states=keep_states, what="the --vary grid")
    return {key: make() for key, (_, _, make) in specs.items()}


def run(args: argparse.Namespace) -> int:
    from ionjax.cli.simulate_cmd import load_from_args
    from ionjax.sweep import sweep

    link = load_from_args(args)
    grid = build_grid(args.vary, args.zip, args.keep_states)
    out = out_dir(args.out, "--out")
    if args.plot:
        warn_if_plotting_missing("sweep")
    res = sweep(link, grid, mode="zip" if args.zip else "product", chunk_size=args.chunk_size,
                memory_budget_mb=args.memory_mb, checkpoint_dir=None if args.no_checkpoint else out / "checkpoint",
                progress=not args.quiet, keep_states=args.keep_states)
    npz = res.save(out)
    print(repr(res))
    print(f"wrote {npz} and {npz.with_suffix('.csv')}")
    if args.plot:
        def draw() -> None:
            from ionjax.plotting import plot_sweep, plot_sweep_summary

            plot_sweep_summary(res, path=out / "sweep.png")
            print(f"wrote {out / 'sweep.png'}")
            for q in ("fidelity", "rate_hz"):
                png = out / f"sweep_{q}.png"
                plot_sweep(res, q, path=png)
                print(f"wrote {png}")

        replot = ("run the same command again: it finds every chunk in the checkpoint and only draws"
                  if not args.no_checkpoint else
                  f"plot them in Python: ionjax.plotting.plot_sweep_summary(ionjax.SweepResult.load({str(out)!r}), "
                  "path='sweep.png')")
        plot_or_explain(draw, f"{npz} and {npz.with_suffix('.csv')}", replot)
    return 0
