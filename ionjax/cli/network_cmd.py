"""``ionjax network CONFIG [--json] [--ends A B] [--set section.key=value ...]``: repeater chains, GHZ states
and remote gates built from links. The TOML format is documented in :mod:`ionjax.network.config`.

``--ends A B`` sets the repeater chain's two end nodes (``[chain] ends``, replacing the file's); the best path
between them is searched (or ``[chain] path`` is used, if the file gives one between the same ends)."""

from __future__ import annotations

import argparse

from ._common import config_file, to_json
from .simulate_cmd import parse_overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("network", help="repeater chain / GHZ state / teleported gate from links (TOML file)",
                       description="Evaluate a network of heralded links described in TOML: a repeater chain "
                                   "([chain]; the links may form any graph: between its end nodes, [chain] ends "
                                   "or --ends, along the best path; [[demands]] for several pairs), a GHZ state "
                                   "([ghz]) and a teleported gate ([remote_gate]). "
                                   "The format is documented in ionjax.network.config.")
    p.add_argument("config", help="network TOML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one entry, e.g. chain.cutoff_s=0.01 (repeatable)")
    p.add_argument("--ends", nargs=2, metavar=("A", "B"), default=None,
                   help="the repeater chain's two end nodes (overrides [chain] ends); the best path between them "
                        "is chosen by [chain] figure_of_merit")
    p.add_argument("--monte-carlo", dest="monte_carlo", type=_samples, default=0, metavar="N",
                   help="also simulate each chosen chain event by event (N delivered pairs, JAX Monte Carlo) as a "
                        "cross-check of the exact figures")
    p.add_argument("--json", action="store_true",
                   help="print JSON instead of a table (a number that is not finite is written as null)")
    p.set_defaults(func=run)


def _samples(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 2 or n > 10**8:
        raise argparse.ArgumentTypeError(f"--monte-carlo must be an integer in [2, 1e8] (delivered pairs), got "
                                         f"{text!r}")
    return n


def run(args: argparse.Namespace) -> int:
    import warnings

    from ionjax.network import GridWarning
    from ionjax.network.config import format_network, load_network, run_network
    from ionjax.network.graph import PathWarning

    overrides: dict = parse_overrides(args.overrides)
    if args.ends is not None:
        overrides["chain.ends"] = list(args.ends)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)  # the table and the JSON carry them ("warning:" lines)
        warnings.simplefilter("ignore", PathWarning)
        spec = load_network(config_file(args.config, "network file"), overrides=overrides)
        res = run_network(spec, monte_carlo_samples=args.monte_carlo)
    if args.json:
        print(to_json(res))
    else:
        print(format_network(res))
    return 0
