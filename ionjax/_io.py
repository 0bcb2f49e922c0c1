"""Reading and writing the files a user hands to ionjax, with errors that name the file.

Every user-facing file (a link or network TOML, an output directory) goes through
here so that a directory given as a file, an unreadable file, a file that is not
UTF-8 or not TOML, or an output path below a regular file all end in a
:class:`~ionjax.errors.ConfigError` that names the path and says what to do,
never in a bare ``OSError`` traceback.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["read_toml", "read_text", "prepare_out_dir", "json_safe", "to_json"]


def read_toml(source: str | os.PathLike, what: str = "link file") -> dict[str, Any]:
    """Parse the TOML file ``source``; ``what`` ("link file", "network file") names it in errors.

    Raises:
        ConfigError: the path does not exist, is a directory, cannot be read, is not
            UTF-8 text, or is not valid TOML. The message names the file.
    """
    text = read_text(source, what, "TOML")
    shown = str(Path(source))
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what.capitalize()} {shown!r} is not valid TOML: {exc}.") from None
    except ValueError as exc:  # tomllib: an integer of more than sys.get_int_max_str_digits() digits
        raise ConfigError(f"{what.capitalize()} {shown!r} holds a number that cannot be read ({exc}); numbers in "
                          "a link or network file are ordinary floats or integers.") from None
    except RecursionError:
        raise ConfigError(f"{what.capitalize()} {shown!r} is nested too deeply to be a link or network "
                          "file.") from None


def read_text(source: str | os.PathLike, what: str, fmt: str) -> str:
    """The UTF-8 text of the ``fmt`` ("TOML", "CSV") file ``source``; ``what`` names it in errors.

    Raises:
        ConfigError: the path is not a path, does not exist, is a directory, cannot be read, or is
            not UTF-8 text (or holds NUL bytes: binary, UTF-16). The message names the file.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"A {what} must be given as a path (str or pathlib.Path), got {source!r} "
                          f"of type {type(source).__name__}.")
    path = Path(source)
    shown = str(path)
    if not path.exists():
        raise ConfigError(f"{what.capitalize()} {shown!r} does not exist.")
    if path.is_dir():
        raise ConfigError(f"{what.capitalize()} {shown!r} is a directory; give the path of a {fmt} file.")
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise ConfigError(f"{what.capitalize()} {shown!r} cannot be read (permission denied).") from None
    except OSError as exc:
        raise ConfigError(f"{what.capitalize()} {shown!r} cannot be read: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what.capitalize()} {shown!r} is not a UTF-8 {fmt} file (byte {exc.start} is "
                          f"{raw[exc.start:exc.start + 1]!r}); save it as UTF-8 text.") from None
    if "\x00" in text:
        raise ConfigError(f"{what.capitalize()} {shown!r} is not a UTF-8 {fmt} file (it contains NUL bytes: "
                          "binary, or UTF-16); save it as UTF-8 text.")
    return text


def prepare_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output directory ``path`` (and its parents) and return it.

    Raises:
        ConfigError: ``path`` (or one of its parents) is an existing regular file, or the
            directory cannot be created or written. The message names ``flag`` and the path.
    """
    out = Path(path)
    for p in (out, *out.parents):
        if p.exists() and not p.is_dir():
            which = "is" if p == out else f"lies below {str(p)!r}, which is"
            raise ConfigError(f"{flag} {str(out)!r} {which} a file, not a directory; give a directory path.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {str(out)!r}: the directory cannot be created ({exc.strerror or exc}).") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {str(out)!r}: the directory is not writable.")
    return out


def json_safe(obj: Any, notes: list[str] | None = None, path: str = "") -> Any:
    """``obj`` with numpy/JAX numbers and arrays as Python values and non-finite floats as ``None``.

    With ``notes``, each replaced number appends a line naming where it was (``chain.rate_hz``).
    """

    def go(x: Any, where: str) -> Any:
        if isinstance(x, Mapping):
            return {str(k): go(v, f"{where}.{k}" if where else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [go(v, f"{where}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, (str, bool, int)) or x is None:
            return x
        if isinstance(x, float):
            if math.isfinite(x):
                return x
            if notes is not None:
                notes.append(f"{where} is not finite ({x}); reported as null (undefined).")
            return None
        if isinstance(x, Path):
            return str(x)
        if hasattr(x, "tolist") and hasattr(x, "dtype"):  # numpy / JAX scalars and arrays
            return go(x.tolist(), where)
        if isinstance(x, complex):
            return {"real": go(x.real, f"{where}.real"), "imag": go(x.imag, f"{where}.imag")}
        return x  # json.dumps names the type if it cannot write it (a bug of ours)

    return go(obj, path)


def to_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj``: NaN and +-inf are written as ``null`` (``NaN`` is not JSON)."""
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False)
