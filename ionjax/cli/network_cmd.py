"""``ionjax network CONFIG [--json] [--set section.key=value ...]``: repeater chains, GHZ states and
remote gates built from links. The TOML format is documented in :mod:`ionjax.network.config`."""

from __future__ import annotations

import argparse

from ._common import config_file, to_json
from .simulate_cmd import parse_overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("network", help="repeater chain / GHZ state / teleported gate from links (TOML file)",
                       description="Evaluate a network of heralded links described in TOML: a repeater chain "
                                   "([chain]), a GHZ state ([ghz]) and a teleported gate ([remote_gate]). "
                                   "The format is documented in ionjax.network.config.")
    p.add_argument("config", help="network TOML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one entry, e.g. chain.cutoff_s=0.01 (repeatable)")
    p.add_argument("--json", action="store_true",
                   help="print JSON instead of a table (a number that is not finite is written as null)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    from ionjax.network import GridWarning
    from ionjax.network.config import format_network, load_network, run_network

    spec = load_network(config_file(args.config, "network file"), overrides=parse_overrides(args.overrides))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)  # the table and the JSON carry them ("warning:" lines)
        res = run_network(spec)
    if args.json:
        print(to_json(res))
    else:
        print(format_network(res))
    return 0
