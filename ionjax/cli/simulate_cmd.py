"""``ionjax simulate CONFIG [--preset NAME] [--json] [--set key=value ...] [--budget]``."""

from __future__ import annotations

import argparse

from ionjax.errors import ConfigError

from ._common import config_file, to_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate one heralded link (TOML file or preset)",
                       description="Simulate one heralded ion-ion link and print its fidelity, success "
                                   "probability, rate and per-pattern breakdown. Give a link TOML file or "
                                   "--preset NAME (`ionjax presets NAME > link.toml` writes a preset as a file).")
    p.add_argument("config", nargs="?", help="link TOML file (or use --preset)")
    p.add_argument("--preset", help="a preset name instead of a file (see `ionjax presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one entry by dotted key, e.g. detection.efficiency=0.8 (repeatable)")
    p.add_argument("--json", action="store_true",
                   help="print JSON instead of a table (fidelity, success_probability, rate_hz, patterns, state; "
                        "a number that is not finite is written as null)")
    p.add_argument("--budget", action="store_true",
                   help="also print the error budget (the fidelity with each imperfection switched off)")
    p.add_argument("--method", choices=("auto", "compiled", "heisenberg", "schrodinger"), default=None,
                   help="how the state is computed: auto (default: the fast path compiled from the link's elements, "
                        "or the dense path where an element has no amplitude rule), compiled, or the dense "
                        "reference in the heisenberg or schrodinger picture; the numbers agree")
    p.add_argument("--picture", choices=("heisenberg", "schrodinger"), default=None,
                   help="older name of --method: heisenberg = auto, schrodinger = schrodinger")
    p.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE (a dotted key, e.g. detection.efficiency=0.8), got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def load_from_args(args: argparse.Namespace):  # noqa: ANN201
    """The Link named by ``config`` or ``--preset``, with ``--set`` overrides."""
    from ionjax import presets
    from ionjax.config import load_link

    overrides = parse_overrides(args.overrides)
    if (args.config is None) == (args.preset is None):
        given = f"both CONFIG {args.config!r} and --preset {args.preset!r}" if args.config else "neither"
        raise ConfigError(f"give exactly one of CONFIG (a link TOML file) or --preset NAME, got {given}; "
                          "`ionjax presets` lists the presets.")
    if args.preset is not None:
        if not args.preset.strip():
            raise ConfigError(f"--preset needs a preset name, got {args.preset!r}; presets: "
                              f"{', '.join(presets.names())}.")
        return load_link(presets.as_dict(args.preset), overrides=overrides)
    return load_link(config_file(args.config, "link file"), overrides=overrides)


def format_result(link, res) -> str:  # noqa: ANN001
    """The result table of one (unbatched) link; a link that never heralds says so instead of "F = 0"."""
    heralded = bool(res.heralded)
    fid = f"{float(res.fidelity):.5f}" if heralded else "n/a (no herald)"
    lines = [
        f"link: {link.name or '(unnamed)'}  protocol {link.protocol}"
        + (f", encoding {link.encoding}" if link.protocol == "two_photon" else "")
        + f", detectors {link.detection.kind}",
        f"  status               {res.status_name}" + ("" if heralded else f": {res.status_message}"),
        f"  fidelity             {fid}   (to {res.target}, after Pauli-frame correction)",
        f"  success probability  {float(res.success_probability):.5e}  per attempt",
        f"  rate                 {float(res.rate_hz):.5g} Hz  at {float(res.attempt_rate_hz):.4g} attempts/s",
        "  accepted patterns:",
        f"    {'pattern':<16} {'heralds':<8} {'probability':>12} {'fidelity':>9}",
    ]
    for name, v in res.patterns.items():
        pf = f"{float(v['fidelity']):9.5f}" if float(v["probability"]) > 0 else f"{'n/a':>9}"
        lines.append(f"    {name:<16} {v['target']:<8} {float(v['probability']):12.4e} {pf}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ionjax.budget import error_budget, format_budget
    from ionjax.protocols import simulate

    link = load_from_args(args)
    if args.method is not None and args.picture is not None:
        raise ConfigError("Give --method or --picture, not both (--picture is the older name).")
    res = simulate(link, args.method, picture=args.picture)
    if args.json:
        d = res.to_dict()
        if args.budget:
            d["error_budget"] = [vars(b) for b in error_budget(link)]
        print(to_json(d))
    else:
        print(format_result(link, res))
        if args.budget:
            print(format_budget(link))
    return 0
