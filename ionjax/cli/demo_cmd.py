"""``ionjax demo``: the IonQ/Duke-style Ba+ preset, its result table and error budget."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="simulate the IonQ-style Ba+ link and print its error budget")
    p.add_argument("--preset", default="duke_2025", help="preset to run (default duke_2025)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ionjax import presets
    from ionjax.budget import format_budget
    from ionjax.cli.simulate_cmd import format_result
    from ionjax.protocols import simulate

    link = presets.get(args.preset)
    rep = presets.reported(args.preset)
    res = simulate(link)
    print(presets.describe(args.preset).splitlines()[0])
    print()
    print(format_result(link, res))
    print(f"  reported             F = {rep.fidelity}, rate {rep.rate_hz} Hz  [{rep.citation}]")
    print()
    print(format_budget(link))
    return 0
