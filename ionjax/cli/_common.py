"""Helpers every ``ionjax`` subcommand shares.

- argparse ``type=`` checkers (:func:`number`, :func:`integer`): a bad value ends in
  argparse's own ``ionjax CMD: error: argument --FLAG: ...`` and exit status 2, with the
  value, the allowed range and an example;
- :func:`config_file` (a link or network file the user named: ``ConfigError`` naming it
  when it is a directory, unreadable, not UTF-8 or not TOML) and :func:`out_dir` (``--out``);
- :func:`to_json` (JSON with non-finite numbers written as ``null``; never ``NaN``);
- the ``--plot`` guard (:func:`plotting_missing`, :func:`plot_or_explain`): results are
  saved first, then a missing matplotlib is explained with the install command;
- :func:`check_swallowed_config` (``--free a b link.toml`` took the file as a key).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ionjax._io import json_safe, to_json  # noqa: F401  (the subcommands' JSON; kept in _io for the library)
from ionjax.errors import ConfigError

__all__ = [
    "number",
    "integer",
    "config_file",
    "out_dir",
    "to_json",
    "json_safe",
    "plotting_missing",
    "warn_if_plotting_missing",
    "plot_or_explain",
    "check_swallowed_config",
    "PLOT_INSTALL_HINT",
]

PLOT_INSTALL_HINT = ('pip install "ionjax[plot]" (or, in a clone of the repository, pip install -e ".[plot]")')


# ----------------------------------------------------------------------------- argparse types
def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "finite"


def number(flag: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False, meaning: str = "", example: str = "") -> Callable[[str], float]:
    """An argparse ``type=`` for a finite float in a range; the error names the value, range and an example.

    ``flag`` is used only in the fix ("e.g. --lr 0.05"); argparse itself prefixes "argument --lr:".
    """

    def parse(text: str) -> float:
        allowed = _range_text(lo, hi, lo_open, hi_open)
        what = f" ({meaning})" if meaning else ""
        fix = f"; e.g. {flag} {example}" if example else ""
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {allowed}{what}, got {text!r}{fix}.") from None
        bad = (not math.isfinite(v) or (lo is not None and (v < lo or (lo_open and v == lo)))
               or (hi is not None and (v > hi or (hi_open and v == hi))))
        if bad:
            raise argparse.ArgumentTypeError(f"must be a finite number {allowed}{what}, got {text!r}{fix}.")
        return v

    parse.__name__ = "number"
    return parse


def integer(flag: str, *, lo: int = 1, hi: int | None = None, meaning: str = "",
            example: str = "") -> Callable[[str], int]:
    """An argparse ``type=`` for an integer in ``[lo, hi]`` (``hi`` None: no upper bound)."""

    def parse(text: str) -> int:
        what = f" ({meaning})" if meaning else ""
        fix = f"; e.g. {flag} {example}" if example else ""
        try:
            v = int(text.strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}{what}, got {text!r}{fix}.") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}{what}, got {text!r}{fix}.")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"must be an integer in [{lo}, {hi:,}]{what}, got {_short_int(text)}"
                                             f"{fix}.")
        return v

    parse.__name__ = "integer"
    return parse


def _short_int(text: str) -> str:
    t = text.strip()
    return repr(t) if len(t) <= 24 else f"'{t[:6]}...{t[-3:]}' ({len(t)} digits)"


# ----------------------------------------------------------------------------- files
def config_file(path: str | os.PathLike, what: str = "link file") -> Path:
    """Check that the file the user named can be read as TOML; returns it as a Path.

    Raises:
        ConfigError: naming the file, when it does not exist, is a directory, cannot be read,
            or is not UTF-8 TOML (see :func:`ionjax._io.read_toml`).
    """
    from ionjax._io import read_toml

    read_toml(path, what)
    return Path(path)


def out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output directory (ConfigError naming ``flag`` for a file, a path below a file, unwritable)."""
    from ionjax._io import prepare_out_dir

    return prepare_out_dir(path, flag)


# ----------------------------------------------------------------------------- JSON
# ----------------------------------------------------------------------------- --plot
def plotting_missing() -> bool:
    """True when matplotlib cannot be imported (the ``plot`` extra is not installed)."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        return True
    return False


def warn_if_plotting_missing(command: str) -> None:
    """Say at the start of a long command that ``--plot`` will not be able to draw."""
    if plotting_missing():
        print(f"ionjax {command}: note: --plot needs matplotlib, which is not installed; the results will be "
              f"saved and the plots skipped. Install it with {PLOT_INSTALL_HINT}.", file=sys.stderr)


def plot_or_explain(draw: Callable[[], None], saved: str, replot: str) -> None:
    """Run ``draw()`` (which writes the plots); if matplotlib is missing, raise a ConfigError saying so.

    Call it only after the results are saved: ``saved`` says where they are, ``replot`` how to
    plot them later without recomputing.
    """
    if not plotting_missing():
        try:
            draw()
            return
        except ImportError as exc:
            if "matplotlib" not in str(exc) and not (exc.name or "").startswith("matplotlib"):
                raise
    raise ConfigError(f"--plot needs matplotlib, which is not installed. The results are saved ({saved}); "
                      f"only the plots are missing. Install plotting with {PLOT_INSTALL_HINT}, then {replot}.")


# ----------------------------------------------------------------------------- nargs="+" options
def _looks_like_file(item: str) -> bool:
    return item.lower().endswith(".toml") or os.path.isfile(item)


def check_swallowed_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse ``--free a b link.toml``: a list option took the positional CONFIG as one of its items.

    Applies when the command takes ``config`` (and ``--preset``), neither was given, and an item of an
    ``nargs="+"``/``"*"`` option ends in ``.toml`` or is an existing file.
    """
    if not hasattr(args, "config") or args.config is not None or getattr(args, "preset", None) is not None:
        return
    for action in parser._actions:
        if not action.option_strings or action.nargs not in ("+", "*"):
            continue
        items = getattr(args, action.dest, None) or []
        for item in items:
            if isinstance(item, str) and _looks_like_file(item):
                flag = max(action.option_strings, key=len)
                others = [x for x in items if x != item]
                fixed = " ".join(others) or "KEY"
                raise ConfigError(
                    f"no CONFIG file was given, but {flag} took {item!r} as one of its values: {flag} takes "
                    f"every word that follows it up to the next option. Put the file before {flag} "
                    f"(ionjax {args.command} {item} {flag} {fixed} ...) or end the list with -- "
                    f"({flag} {fixed} -- {item}).")
