"""``ionjax presets [NAME]``: list the presets of published experiments, or print one as a link file."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list presets of published experiments (or print one as a link file)",
                       description="Without NAME, list the presets and their papers. With NAME, print the "
                                   "preset as a TOML link file (source, reported numbers and assumptions as "
                                   "comments): `ionjax presets oxford_2020 > link.toml && ionjax simulate "
                                   "link.toml` gives the preset's numbers.")
    p.add_argument("name", nargs="?", help="print this preset as a TOML link file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ionjax import presets

    if args.name is not None:
        print(presets.to_toml(args.name), end="")  # ConfigError naming the preset if it is unknown (or empty)
        return 0
    print(f"{'preset':<16} source")
    for name in presets.names():
        print(f"{name:<16} {presets.reported(name).citation}")
    print("\n`ionjax presets NAME > link.toml` writes one as a link file; `ionjax simulate --preset NAME` runs it.")
    return 0
