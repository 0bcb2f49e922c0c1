"""The ``ionjax`` command: ``simulate | sweep | optimize | network | presets | demo``.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func`` (``args -> exit status``). Errors a
user can fix (a bad key, an out-of-range value, a missing file) are
:class:`ionjax.errors.ConfigError` or ``ValueError``: printed without a
traceback, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_SUBCOMMANDS = ("simulate", "presets", "demo", "sweep", "optimize", "network")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ionjax",
        description="Simulate heralded entanglement between trapped-ion quantum computers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ionjax.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"ionjax.cli.{name}_cmd":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ionjax`` console script."""
    import jax

    jax.config.update("jax_enable_x64", True)  # the CLI runs in float64 (the library follows JAX's setting)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"ionjax {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"ionjax {args.command}: interrupted; finished work is kept where the command checkpoints.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
