"""``ionjax presets [NAME]``: list the presets of published experiments, or show one."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list presets of published experiments (or show one)")
    p.add_argument("name", nargs="?", help="show this preset's source and settings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ionjax import presets

    if args.name:
        rep = presets.reported(args.name)
        print(presets.describe(args.name))
        print(f"\nreported: F = {rep.fidelity} +- {rep.fidelity_uncertainty}, success probability "
              f"{rep.success_probability}, rate {rep.rate_hz} Hz  [{rep.citation}]")
        print(f"notes: {rep.notes}")
        for key, value in presets.as_dict(args.name).items():
            print(f"  {key} = {value}")
        return 0
    print(f"{'preset':<16} source")
    for name in presets.names():
        print(f"{name:<16} {presets.reported(name).citation}")
    return 0
