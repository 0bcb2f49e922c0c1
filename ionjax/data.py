"""Measured data of a link, as tables: per-pattern herald counts and heralded-pair correlation counts.

The file format is CSV, one row per setting, with a header row (``DESIGN.md``, "Measured data"):

* **herald counts** (:class:`HeraldCounts`): the varied dotted keys, then ``attempts``, then one column per
  accepted pattern name (``c_h+d_v``, ...) holding its count::

      detection.window_ns,attempts,c_h+d_v,c_v+d_h
      20,10000000,1234,1198

* **heralded-pair correlations** (:class:`Correlations`): the varied keys, then ``basis`` (two letters from
  X, Y, Z, ion A first), ``pattern`` (a pattern name, or ``all`` for the pooled pairs after the Pauli-frame
  correction), then ``n_pp``, ``n_pm``, ``n_mp``, ``n_mm`` (counts of the ions' outcomes +1/-1, ion A
  first)::

      detection.window_ns,basis,pattern,n_pp,n_pm,n_mp,n_mm
      20,ZZ,all,11,502,489,9

A file holds one kind. :func:`load_data` reads either and checks the file itself (columns, counts that are
non-negative integers, settings that repeat with other counts); :func:`check_against` checks a table against
a link (the keys are numeric keys of the link, the values in their ranges, the patterns accepted by it).
Each table writes itself back with ``to_csv``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["HeraldCounts", "Correlations", "load_data", "check_against", "as_tables", "OUTCOMES", "BASIS_LETTERS",
           "POOLED"]

#: The four outcome columns of a correlation table: ion A's outcome first, ``p`` for +1 and ``m`` for -1.
OUTCOMES = ("n_pp", "n_pm", "n_mp", "n_mm")
BASIS_LETTERS = "XYZ"
#: The ``pattern`` of a correlation row over every accepted pattern (after each one's Pauli-frame correction).
POOLED = "all"


@dataclass(frozen=True)
class HeraldCounts:
    """Per-pattern herald counts out of ``attempts`` at each setting.

    Attributes:
        keys: the varied dotted keys ``(K,)``.
        settings: ``(R, K)`` their values per row (in the keys' own units).
        attempts: ``(R,)`` attempts per row.
        patterns: the pattern columns ``(Q,)`` (a subset of the link's accepted patterns; the others count as
            "no accepted herald" with the attempts that herald nothing).
        counts: ``(R, Q)`` herald counts (integers for measured data, expected values from
            :func:`ionjax.expected_counts`).
        source: the file it came from (for messages), or ``""``.
    """

    keys: tuple[str, ...]
    settings: np.ndarray
    attempts: np.ndarray
    patterns: tuple[str, ...]
    counts: np.ndarray
    source: str = ""
    lines: tuple[int, ...] = field(default=(), repr=False)

    kind = "herald counts"

    @property
    def rows(self) -> int:
        return int(self.attempts.shape[0])

    @property
    def cells(self) -> np.ndarray:
        """``(R, Q + 1)``: the pattern counts, then the attempts with no accepted herald (the multinomial cells)."""
        return np.concatenate([self.counts, (self.attempts - self.counts.sum(axis=1))[:, None]], axis=1)

    def cell_names(self) -> tuple[str, ...]:
        return (*self.patterns, "no herald")

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The table as CSV text (written to ``path`` when given); :func:`load_data` reads it back."""
        head = [*self.keys, "attempts", *self.patterns]
        body = [[*map(_num, s), _num(a), *map(_num, c)] for s, a, c in zip(self.settings, self.attempts, self.counts)]
        return _write(path, head, body)


@dataclass(frozen=True)
class Correlations:
    """Counts of the heralded ions' joint outcomes in Pauli bases.

    Attributes:
        keys: the varied dotted keys ``(K,)``; settings: ``(R, K)`` their values per row.
        bases: ``(R,)`` two letters from X, Y, Z each, ion A first (``"ZZ"``, ``"XY"``, ...).
        patterns: ``(R,)`` the pattern each row's pairs were heralded by, or ``"all"`` (pooled, after each
            pattern's Pauli-frame correction to Psi+).
        counts: ``(R, 4)`` outcome counts in the order ``n_pp, n_pm, n_mp, n_mm`` (ion A first).
        source: the file it came from, or ``""``.
    """

    keys: tuple[str, ...]
    settings: np.ndarray
    bases: tuple[str, ...]
    patterns: tuple[str, ...]
    counts: np.ndarray
    source: str = ""
    lines: tuple[int, ...] = field(default=(), repr=False)

    kind = "correlations"

    @property
    def rows(self) -> int:
        return int(self.counts.shape[0])

    @property
    def cells(self) -> np.ndarray:
        """``(R, 4)``: the outcome counts (the multinomial cells of each row)."""
        return self.counts

    def cell_names(self) -> tuple[str, ...]:
        return OUTCOMES

    @property
    def correlators(self) -> np.ndarray:
        """``(R,)`` the measured ``<sigma_A sigma_B> = (n_pp - n_pm - n_mp + n_mm) / n``."""
        n = self.counts.sum(axis=1)
        e = self.counts[:, 0] - self.counts[:, 1] - self.counts[:, 2] + self.counts[:, 3]
        return np.where(n > 0, e / np.where(n > 0, n, 1), 0.0)

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The table as CSV text (written to ``path`` when given); :func:`load_data` reads it back."""
        head = [*self.keys, "basis", "pattern", *OUTCOMES]
        body = [[*map(_num, s), b, p, *map(_num, c)]
                for s, b, p, c in zip(self.settings, self.bases, self.patterns, self.counts)]
        return _write(path, head, body)


Table = HeraldCounts | Correlations


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _write(path: str | os.PathLike | None, head: list, body: list) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(body)
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


# ----------------------------------------------------------------------------- reading
def load_data(source: str | os.PathLike) -> Table:
    """Read one measured-data CSV file (either kind; see the module docstring).

    Raises:
        ConfigError: the file is missing or unreadable; a required column is missing; a count is negative,
            not an integer or not a number; a setting is not a number; the pattern counts of a row exceed
            its attempts; two rows give the same setting (and basis and pattern) with different counts. The
            message names the file, the line and the column. Rows that repeat with the same counts are
            dropped with a warning.
    """
    from ._io import read_text

    shown = str(Path(source)) if isinstance(source, (str, os.PathLike)) else repr(source)
    text = read_text(source, "data file", "CSV").removeprefix("\ufeff")  # a byte-order mark from a spreadsheet
    rows = [(i + 1, r) for i, r in enumerate(csv.reader(io.StringIO(text))) if any(c.strip() for c in r)]
    if not rows:
        raise ConfigError(f"Data file {shown!r} is empty; it needs a header row and one row per setting "
                          "(see DESIGN.md, 'Measured data').")
    _, header = rows[0]
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise ConfigError(f"Data file {shown!r}: column {twice[0]!r} appears twice in the header.")
    body = rows[1:]
    if not body:
        raise ConfigError(f"Data file {shown!r} has a header but no data rows.")
    for line, r in body:
        if len(r) != len(header):
            raise ConfigError(f"Data file {shown!r}, line {line}: {len(r)} fields, but the header has {len(header)}.")
    has_att, has_basis = "attempts" in header, "basis" in header
    if has_att == has_basis:
        raise ConfigError(
            f"Data file {shown!r}: "
            + ("it has both an 'attempts' and a 'basis' column; a file holds one kind of data."
               if has_att else "no 'attempts' column (herald counts: KEYS..., attempts, PATTERN...) and no "
                               "'basis' column (correlations: KEYS..., basis, pattern, n_pp, n_pm, n_mp, n_mm)."))
    return (_read_herald if has_att else _read_correlations)(shown, header, body)


def _cell(shown: str, line: int, col: str, text: str, *, count: bool) -> float:
    t = text.strip()
    try:
        x = float(t)
    except ValueError:
        what = "a count (a non-negative integer)" if count else "a number"
        raise ConfigError(f"Data file {shown!r}, line {line}, column {col!r}: {t!r} is not {what}.") from None
    if not math.isfinite(x):
        raise ConfigError(f"Data file {shown!r}, line {line}, column {col!r}: {t!r} is not a finite number.")
    if count:
        if x < 0:
            raise ConfigError(f"Data file {shown!r}, line {line}, column {col!r}: the count {t} is negative; counts "
                              "are integers >= 0.")
        if not x.is_integer():
            raise ConfigError(f"Data file {shown!r}, line {line}, column {col!r}: the count {t} is not an integer.")
    return x


def _read_herald(shown: str, header: list, body: list) -> HeraldCounts:
    i = header.index("attempts")
    keys, pats = tuple(header[:i]), tuple(header[i + 1:])
    if not pats:
        raise ConfigError(f"Data file {shown!r}: no pattern columns after 'attempts'; give one column per accepted "
                          "pattern (e.g. c_h+d_v) holding its count.")
    lines, sets, att, cnt = [], [], [], []
    for line, r in body:
        s = [_cell(shown, line, k, r[j], count=False) for j, k in enumerate(keys)]
        a = _cell(shown, line, "attempts", r[i], count=True)
        c = [_cell(shown, line, p, r[i + 1 + j], count=True) for j, p in enumerate(pats)]
        if a < 1:
            raise ConfigError(f"Data file {shown!r}, line {line}, column 'attempts': {r[i].strip()} attempts; a row "
                              "needs at least 1.")
        if sum(c) > a:
            raise ConfigError(f"Data file {shown!r}, line {line}: the pattern counts add up to {sum(c):.0f}, more than "
                              f"the {a:.0f} attempts.")
        lines.append(line), sets.append(s), att.append(a), cnt.append(c)
    keep = _unique(shown, lines, [tuple(s) for s in sets], [tuple(c) + (a,) for c, a in zip(cnt, att)], keys, ())
    return HeraldCounts(keys, np.array([sets[k] for k in keep], float).reshape(len(keep), len(keys)),
                        np.array([att[k] for k in keep], float), pats, np.array([cnt[k] for k in keep], float),
                        shown, tuple(lines[k] for k in keep))


def _read_correlations(shown: str, header: list, body: list) -> Correlations:
    i = header.index("basis")
    keys = tuple(header[:i])
    need = ["basis", "pattern", *OUTCOMES]
    if header[i:] != need:
        missing = [c for c in need if c not in header]
        raise ConfigError(f"Data file {shown!r}: "
                          + (f"missing column {missing[0]!r}; " if missing else "")
                          + "a correlation file has the varied keys, then exactly the columns "
                          + ", ".join(need) + f" (got {', '.join(header[i:])}).")
    lines, sets, bases, pats, cnt = [], [], [], [], []
    for line, r in body:
        s = [_cell(shown, line, k, r[j], count=False) for j, k in enumerate(keys)]
        b, p = r[i].strip().upper(), r[i + 1].strip()
        if len(b) != 2 or any(x not in BASIS_LETTERS for x in b):
            raise ConfigError(f"Data file {shown!r}, line {line}, column 'basis': {r[i].strip()!r} is not two letters "
                              "from X, Y, Z (ion A first, e.g. ZZ, XX, XY).")
        if not p:
            raise ConfigError(f"Data file {shown!r}, line {line}, column 'pattern' is empty; give a pattern name or "
                              f"{POOLED!r}.")
        c = [_cell(shown, line, o, r[i + 2 + j], count=True) for j, o in enumerate(OUTCOMES)]
        lines.append(line), sets.append(s), bases.append(b), pats.append(p), cnt.append(c)
    ident = [(tuple(s), b, p) for s, b, p in zip(sets, bases, pats)]
    keep = _unique(shown, lines, ident, [tuple(c) for c in cnt], keys, ("basis", "pattern"))
    by_setting: dict = {}
    for k in keep:
        by_setting.setdefault((tuple(sets[k]), bases[k]), []).append(k)
    for (_, b), ks in by_setting.items():
        kinds = {pats[k] == POOLED for k in ks}
        if len(kinds) == 2:
            a = next(k for k in ks if pats[k] == POOLED)
            o = next(k for k in ks if pats[k] != POOLED)
            raise ConfigError(f"Data file {shown!r}, lines {lines[o]} and {lines[a]}: basis {b} at the same setting "
                              f"has rows per pattern and a pooled {POOLED!r} row; the pooled pairs are those same "
                              "pairs, so they would count twice. Keep one or the other.")
    return Correlations(keys, np.array([sets[k] for k in keep], float).reshape(len(keep), len(keys)),
                        tuple(bases[k] for k in keep), tuple(pats[k] for k in keep),
                        np.array([cnt[k] for k in keep], float), shown, tuple(lines[k] for k in keep))


def _unique(shown: str, lines: list, ident: list, values: list, keys: tuple, extra: tuple) -> list[int]:
    """The rows to keep: a setting repeated with other counts is an error, one repeated with the same is dropped."""
    seen: dict = {}
    keep = []
    for k, (i, v) in enumerate(zip(ident, values)):
        if i in seen:
            j = seen[i]
            where = ", ".join(f"{n} = {x:g}" for n, x in zip(keys, i[0] if extra else i)) or "the link's own setting"
            if extra:
                where += ", " + ", ".join(f"{n} {x}" for n, x in zip(extra, i[1:]))
            if values[j] != v:
                raise ConfigError(f"Data file {shown!r}, lines {lines[j]} and {lines[k]}: the same setting ({where}) "
                                  "with different counts. One row per setting: if they are separate runs, add their "
                                  "counts (and attempts) into one row.")
            warnings.warn(f"Data file {shown!r}, line {lines[k]} repeats line {lines[j]} exactly ({where}); it is "
                          "counted once.", UserWarning, stacklevel=4)
            continue
        seen[i] = k
        keep.append(k)
    return keep


def as_tables(data: Any) -> list[Table]:
    """A list of tables from a table, a path, or a list of either (paths are read with :func:`load_data`)."""
    if isinstance(data, (HeraldCounts, Correlations, str, os.PathLike)):
        data = [data]
    try:
        items = list(data)
    except TypeError:
        raise ConfigError(f"The data must be a CSV path, a table (ij.data.HeraldCounts / Correlations) or a list of "
                          f"them; got {type(data).__name__}.") from None
    if not items:
        raise ConfigError("No data given: pass at least one CSV file or table.")
    out = []
    for d in items:
        if isinstance(d, (str, os.PathLike)):
            d = load_data(d)
        if not isinstance(d, (HeraldCounts, Correlations)):
            raise ConfigError(f"Each data item must be a CSV path or a table (ij.data.HeraldCounts / Correlations), "
                              f"got {type(d).__name__}.")
        out.append(d)
    return out


def check_against(table: Table, link: Any, analyzer_patterns: tuple[str, ...]) -> None:
    """Refuse a table the link cannot describe: an unknown or static key, a setting out of its key's range or a
    pattern the link does not accept (each named, with the allowed values)."""
    from .config import STATIC_KEYS, _did_you_mean

    where = f"Data file {table.source!r}" if table.source else f"The {table.kind} table"
    for j, k in enumerate(table.keys):
        if k in STATIC_KEYS:
            raise ConfigError(f"{where}: column {k!r} is static structure of the link, not a number; a fit varies "
                              "numeric keys only (give one data file per structure).")
        try:
            link.get(k)
            link.set({k: table.settings[:, j]})
        except ConfigError as exc:
            raise ConfigError(f"{where}, column {k!r}: {exc}") from None
    names = set(analyzer_patterns)
    pats = table.patterns if isinstance(table, HeraldCounts) else tuple(p for p in table.patterns if p != POOLED)
    for p in pats:
        if p not in names:
            col = "column" if isinstance(table, HeraldCounts) else "pattern"
            raise ConfigError(f"{where}: {col} {p!r} is not an accepted pattern of this link "
                              f"({link.protocol}/{link.encoding}, {link.detection.kind}); accepted: "
                              f"{', '.join(analyzer_patterns)}"
                              + ("" if isinstance(table, HeraldCounts) else f" (or {POOLED!r} for pooled pairs)")
                              + "." + _did_you_mean(p, sorted(names)))
