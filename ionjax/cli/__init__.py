"""The ``ionjax`` command: ``simulate | sweep | optimize | fit | network | presets | demo``.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func`` (``args -> exit status``); shared helpers
(argument checkers, ``--out``, JSON, ``--plot``) are in :mod:`ionjax.cli._common`.

:func:`main` returns the exit status and never raises ``SystemExit`` (argparse's own
exits, for ``--help``, ``--version`` and usage errors, are turned into the return value),
so ``main([...])`` can be called in-process; the console script passes it to ``sys.exit``:

- 0: done (also ``--help`` and ``--version``);
- 2: a mistake the user can fix: a usage error (argparse: ``ionjax CMD: error: argument
  --FLAG: ...``) or a :class:`~ionjax.errors.ConfigError` (a bad key, value, flag or file),
  printed as ``ionjax CMD: error: ...`` on stderr, with no traceback;
- 1: a bug in ionjax (any other exception): the traceback and where to report it;
  or a file that could not be written (disk full and the like), without a traceback;
- 130: interrupted (Ctrl-C).

Compiled programs are kept in JAX's persistent compilation cache, so a repeated command
does not compile again: ``$IONJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/ionjax/jax``, else
``~/.cache/ionjax/jax``; ``IONJAX_NO_COMPILE_CACHE=1`` switches it off. The library itself
never changes JAX's settings; only :func:`main` does (float64, the cache).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import shlex
import sys
import traceback
import warnings
from pathlib import Path

_SUBCOMMANDS = ("simulate", "presets", "demo", "sweep", "optimize", "fit", "network")

#: Compiles that take at least this long (s) are written to the persistent cache. JAX's default
#: (1 s) would skip most of a link's compiles, which take 0.05-1 s each on a laptop CPU.
CACHE_MIN_COMPILE_TIME_S = 0.0


_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def version() -> str:
    """ionjax's version: the installed distribution's, else ``ionjax.__version__``."""
    from importlib import metadata

    try:
        return metadata.version("ionjax")
    except metadata.PackageNotFoundError:
        from ionjax import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ionjax",
        description="Simulate heralded entanglement between trapped-ion quantum computers.",
        epilog="Run `ionjax COMMAND --help` for a command's options. Exit status: 0 done, 2 bad input "
               "(the message names what to fix), 1 a bug in ionjax (please report it).",
    )
    parser.add_argument("--version", action="version", version=f"ionjax {version()}",
                        help="print ionjax's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ionjax.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"ionjax.cli.{name}_cmd":
                continue
            raise
        module.register(sub)
        sub.choices[name].set_defaults(_parser=sub.choices[name])
    return parser


def cache_dir() -> Path | None:
    """The persistent compilation cache directory the CLI uses (None: switched off)."""
    if os.environ.get("IONJAX_NO_COMPILE_CACHE", "").strip().lower() not in ("", "0", "false", "no"):
        return None
    explicit = os.environ.get("IONJAX_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ionjax" / "jax"


def _setup_compile_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (if it can be created).

    A directory that cannot be created or written means no cache, not an error. A cache
    directory set through JAX's own ``JAX_COMPILATION_CACHE_DIR`` is kept unless
    ``IONJAX_CACHE_DIR`` is given.
    """
    import jax

    path = cache_dir()
    if path is None:
        return None
    if jax.config.jax_compilation_cache_dir and not os.environ.get("IONJAX_CACHE_DIR", "").strip():
        path = Path(jax.config.jax_compilation_cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            return None
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_TIME_S)
    return path


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ionjax`` console script; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2; argparse printed it)
        return _status(exc.code)
    if args.command is None:
        parser.print_usage(sys.stderr)
        names = ", ".join(_SUBCOMMANDS)
        print(f"ionjax: error: give a COMMAND: one of {names}. `ionjax --help` explains them.", file=sys.stderr)
        return 2

    import jax

    from ionjax.errors import ConfigError

    from ._common import check_swallowed_config

    jax.config.update("jax_enable_x64", True)  # the CLI runs in float64 (the library follows JAX's setting)
    _setup_compile_cache()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)
            check_swallowed_config(args, args._parser)
            return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"ionjax {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"ionjax {args.command}: interrupted; finished work is kept where the command checkpoints.",
              file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            _report_bug(args.command, argv)
            return 1
        # writing results failed for a reason outside ionjax (disk full, quota, read-only file system)
        where = f" {str(exc.filename)!r}" if exc.filename else ""
        print(f"ionjax {args.command}: error: could not write{where}: {exc.strerror or exc}. Finished work is kept "
              "where the command checkpoints; free space (or choose another --out) and run it again.",
              file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - anything else is a bug of ours: say so, with the traceback
        _report_bug(args.command, argv)
        return 1


def _warning_printer(command: str):  # noqa: ANN202
    """``warnings.showwarning`` for the CLI: ``ionjax CMD: warning: MESSAGE`` on stderr, no source line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        print(f"ionjax {command}: warning: {message}", file=sys.stderr if file is None else file)

    return show


def _report_bug(command: str, argv: list[str]) -> None:
    traceback.print_exc()
    print(f"\nionjax {command}: this is a bug in ionjax {version()}, not a problem with your input. Please "
          f"report it on the ionjax issue tracker with the traceback above and the command line:\n"
          f"  {shlex.join(['ionjax', *argv])}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
