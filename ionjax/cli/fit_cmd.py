"""``ionjax fit LINK DATA [DATA ...] --free KEY ... [--out DIR] [--plot] [--profile KEY ...]``.

Fits the free knobs of a link to measured counts by maximum likelihood (see :func:`ionjax.fit`), prints the
knobs with their errors and ranges, the fitted fidelity and rate with errors and the goodness of fit, and with
``--out`` writes ``DIR/fitted_link.toml`` (for ``ionjax simulate``) and ``DIR/fit.json`` (and ``DIR/fit.png``
with ``--plot``). With ``--preset NAME`` every positional file is data.
"""

from __future__ import annotations

import argparse
import os

from ionjax.errors import ConfigError

from ._common import config_file, integer, out_dir, plot_or_explain, warn_if_plotting_missing


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit link knobs to measured counts (maximum likelihood, with errors)",
                       description="Fit the --free keys of a link to measured herald counts and heralded-pair "
                                   "correlations (CSV files, DESIGN.md 'Measured data') by maximum likelihood. "
                                   "Prints each knob with its standard error and range, the fitted fidelity and "
                                   "rate with errors, and the goodness of fit; --out DIR writes "
                                   "DIR/fitted_link.toml and DIR/fit.json. Give the files before --free (or end "
                                   "the --free list with --).")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="the link TOML file, then one or more data CSV files (with --preset: data files only)")
    p.add_argument("--preset", help="a preset name as the starting link (see `ionjax presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one entry of the starting link (repeatable)")
    p.add_argument("--free", nargs="+", action="extend", default=[], required=True, metavar="KEY",
                   help="dotted keys to fit, e.g. node_a.collection_efficiency interference.mode_overlap")
    p.add_argument("--profile", nargs="+", action="extend", default=[], metavar="KEY",
                   help="also print the 68%% profile-likelihood interval of these free keys")
    p.add_argument("--max-steps", type=integer("--max-steps", lo=1, hi=100_000, meaning="solver iterations",
                                               example="500"),
                   default=500, metavar="N", help="BFGS iterations at most, 1 to 100,000 (default 500)")
    p.add_argument("--out", default=None, metavar="DIR", help="write fitted_link.toml and fit.json here")
    p.add_argument("--plot", action="store_true",
                   help='also write DIR/fit.png (data against the fit, with residuals); needs --out and '
                        'matplotlib: pip install "ionjax[plot]"')
    p.set_defaults(func=run)


def _split_files(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    for flag, items in (("--free", args.free), ("--profile", args.profile)):
        for item in items:
            if item.lower().endswith((".toml", ".csv")) or os.path.isfile(item):
                raise ConfigError(f"{flag} took {item!r} as one of its keys: {flag} takes every word that follows it "
                                  f"up to the next option. Put the files first (ionjax fit LINK.toml DATA.csv "
                                  f"{flag} KEY ...) or end the list with --.")
    files = list(args.files)
    if args.preset is not None:
        if not files:
            raise ConfigError("give at least one data CSV file after --preset NAME.")
        return None, files
    if len(files) < 2:
        raise ConfigError("give the link TOML file and at least one data CSV file (ionjax fit LINK.toml DATA.csv "
                          f"--free KEY ...), or --preset NAME and data files; got {len(files)} file(s).")
    return files[0], files[1:]


def run(args: argparse.Namespace) -> int:
    from ionjax.cli.simulate_cmd import load_from_args
    from ionjax.fit import fit

    link_file, data = _split_files(args)
    if args.plot and args.out is None:
        raise ConfigError("--plot writes DIR/fit.png: give --out DIR as well.")
    for k in args.profile:
        if k not in args.free:
            raise ConfigError(f"--profile {k}: not one of the --free keys ({', '.join(args.free)}).")
    args.config = None if link_file is None else str(config_file(link_file, "link file"))
    link = load_from_args(args)
    out = out_dir(args.out, "--out") if args.out is not None else None
    if args.plot:
        warn_if_plotting_missing("fit")
    res = fit(link, data, args.free, max_steps=args.max_steps)
    print(f"fit of {len(res.free)} knob(s) to {', '.join(data)}")
    print(res.summary())
    for k in args.profile:
        lo, hi = res.profile(k)
        print(f"profile 68% interval of {k}: [{lo:.6g}, {hi:.6g}]")
    if out is not None:
        res.save(out)
        written = f"{out / 'fitted_link.toml'}, {out / 'fit.json'}"
        print(f"wrote {written}")
        if args.plot:
            def draw() -> None:
                from ionjax.plotting import plot_fit

                plot_fit(res, path=out / "fit.png")
                print(f"wrote {out / 'fit.png'}")

            plot_or_explain(draw, written, "run the same command again")
    return 0
