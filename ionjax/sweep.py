"""Batched parameter sweeps: ``vmap`` over points, chunked for memory, sharded over devices, resumable.

:func:`sweep` evaluates a link at every point of a grid of dotted keys::

    res = ij.sweep(link, {"detection.window_ns": np.geomspace(5, 200, 64),
                          "detection.dark_count_rate_hz": [1.0, 10.0, 100.0]})
    res.fidelity.shape            # (64, 3): one axis per key (mode="product")
    res.save("out/")              # out/sweep.npz and out/sweep.csv

How it runs:

* one point is :func:`ionjax.protocols.heralded._simulate` of ``link.set({key: value, ...})``; a
  chunk of points is ``jax.jit(jax.vmap(...))`` of it (compiled once: every chunk has the same
  length, the last one padded by repeating its last point);
* each chunk is sharded over all visible devices (a ``NamedSharding`` over a 1-D mesh on the
  batch axis; the chunk is padded to a multiple of the device count), so the same call uses one
  CPU, every GPU of a machine, or every device of a multi-host job started with
  ``jax.distributed.initialize()``;
* the chunk length follows from ``memory_budget_mb`` (per device) unless ``chunk_size`` is given;
  a checkpointed sweep uses smaller chunks (:func:`checkpoint_chunk_size`) so that an interruption
  loses little;
* with ``checkpoint_dir`` every finished chunk is written atomically (``chunk_000012.npz``) next to
  a manifest holding a hash of the link and the grid: an interrupted sweep started again with the
  same arguments resumes after its last finished chunk and loses nothing already computed, and a
  different sweep refuses to reuse the directory.

Checkpoints never lose or mix work:

* every chunk file carries the hash of its sweep and the range of points it holds; a chunk that
  cannot be read (empty, truncated, random bytes), that belongs to another sweep or that covers
  other points is recomputed, with a :class:`CheckpointWarning` naming the file;
* a missing or damaged ``manifest.json`` (not JSON, wrong fields) is rebuilt with a warning naming it
  (the chunk length is recovered from the chunks that verify); a readable manifest of a different
  sweep is refused (ConfigError);
* ``*.tmp`` files left by a killed run (``chunk_*``, ``manifest.json*``) are removed on the next run;
* every file is written as a normal ``open()`` would (mode ``0o666`` less the umask), never 0600.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import secrets
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .config import STATIC_KEYS, Link, key_spec, link_to_dict, load_link
from .errors import ConfigError

__all__ = ["sweep", "SweepResult", "check_values", "default_chunk_size", "checkpoint_chunk_size",
           "CheckpointWarning", "MAX_GRID_POINTS", "check_grid_size"]

#: Bytes of device memory one point of a chunk needs, with margin (measured: about 600 B for the
#: forward pass of a two-photon link in float64, states included).
BYTES_PER_POINT = 2048
_MAX_CHUNK = 1 << 18
#: The largest grid a sweep accepts (points). Each point keeps about 100 bytes of results on the
#: host (more with ``keep_states``), so this is about 6 GiB; split a larger study into several sweeps.
MAX_GRID_POINTS = 1 << 26
#: A checkpointed sweep is cut into at least this many chunks (when it has the points), so that an
#: interruption loses at most about 1/64 of its work (see :func:`checkpoint_chunk_size`).
CHECKPOINT_CHUNKS = 64
#: ... but a checkpointed chunk holds at least this many points per device: below it the per-chunk
#: costs (dispatch, host transfer, writing the file: about 1-4 ms) start to show.
MIN_CHECKPOINT_CHUNK = 1024
_MODES = ("product", "zip")
_FORMAT_VERSION = 1  # of the sweep hash (unchanged: the hash means what it meant)
_CHUNK_FORMAT = 2  # chunk files carry their sweep's hash and range since 2


class CheckpointWarning(UserWarning):
    """A checkpoint file could not be used as it was (damaged, of another sweep, stale): it names the
    file and what is done instead (the part is recomputed, or the manifest rebuilt)."""


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SweepResult:
    """Results of :func:`sweep` as named numpy arrays.

    Attributes:
        keys: the swept dotted keys, in order.
        axes: ``{key: values}``; ``mode="product"``: each key's 1-D grid (one result axis per key),
            ``mode="zip"``: each key's value at every point (one result axis).
        mode: ``"product"`` or ``"zip"``.
        fidelity, success_probability, rate_hz: arrays of shape :attr:`shape`.
        pattern_probabilities, pattern_fidelities: ``shape + (P,)``.
        pattern_names: names of the ``P`` accepted click patterns.
        state: heralded ion-ion states ``shape + (4, 4)`` (complex) if the sweep kept them, else None.
        link: the base link (every other number).
    """

    keys: tuple[str, ...]
    axes: dict[str, np.ndarray]
    mode: str
    fidelity: np.ndarray
    success_probability: np.ndarray
    rate_hz: np.ndarray
    pattern_probabilities: np.ndarray
    pattern_fidelities: np.ndarray
    pattern_names: tuple[str, ...]
    link: Link | None = None
    state: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.fidelity.shape)

    @property
    def size(self) -> int:
        return int(self.fidelity.size)

    @property
    def status(self) -> np.ndarray:
        """``shape`` int32 codes of :class:`ionjax.LinkStatus` at every point (0 heralded, 1 no_herald).

        A point has no herald exactly where its success probability is 0 (:func:`ionjax.simulate`
        reports P = 0, F = 0 and the zero state there), so the code is read off ``success_probability``.
        """
        return np.where(self.success_probability > 0, 0, 1).astype(np.int32)

    @property
    def heralded(self) -> np.ndarray:
        """``shape`` bool: True where an accepted pattern occurs (F is then a fidelity, not "no answer")."""
        return self.success_probability > 0

    def points(self) -> dict[str, np.ndarray]:
        """``{key: value at every point}``, each of shape :attr:`shape` (the grid, broadcast)."""
        if self.mode == "zip":
            return {k: np.asarray(v) for k, v in self.axes.items()}
        mesh = np.meshgrid(*[self.axes[k] for k in self.keys], indexing="ij")
        return dict(zip(self.keys, mesh))

    def patterns(self) -> dict[str, dict[str, np.ndarray]]:
        """Per accepted pattern: ``{"probability", "fidelity"}`` arrays of shape :attr:`shape`."""
        return {n: {"probability": self.pattern_probabilities[..., i], "fidelity": self.pattern_fidelities[..., i]}
                for i, n in enumerate(self.pattern_names)}

    def best(self, by: str = "fidelity", min_rate_hz: float | None = None,
             min_fidelity: float | None = None) -> dict[str, float]:
        """The point maximizing ``by`` (``"fidelity"`` or ``"rate_hz"``) among those meeting the constraints.

        Points that never herald (:attr:`status` ``no_herald``) are never chosen.

        Returns ``{key: value, ..., "fidelity", "success_probability", "rate_hz"}``; ValueError if no
        point meets the constraints.
        """
        if by not in ("fidelity", "rate_hz", "success_probability"):
            raise ConfigError(f"Argument `by` must be 'fidelity', 'rate_hz' or 'success_probability', got {by!r}.")
        ok = self.heralded.copy()
        if min_rate_hz is not None:
            ok &= self.rate_hz >= min_rate_hz
        if min_fidelity is not None:
            ok &= self.fidelity >= min_fidelity
        if not ok.any():
            raise ConfigError("No point of the sweep meets the constraints "
                             f"(min_rate_hz={min_rate_hz}, min_fidelity={min_fidelity}).")
        vals = np.where(ok, getattr(self, by), -np.inf)
        idx = np.unravel_index(int(np.argmax(vals)), self.shape)
        pts = self.points()
        out = {k: float(pts[k][idx]) for k in self.keys}
        out.update(fidelity=float(self.fidelity[idx]), success_probability=float(self.success_probability[idx]),
                   rate_hz=float(self.rate_hz[idx]))
        return out

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike, csv_file: bool = True) -> Path:
        """Write ``sweep.npz`` (and ``sweep.csv``) into directory ``path`` (or to ``path`` if it ends in .npz).

        Returns the .npz path. The CSV has one row per point: the keys, then fidelity,
        success_probability, rate_hz, then ``probability[<pattern>]`` and ``fidelity[<pattern>]``.
        """
        path = Path(path)
        npz = path if path.suffix == ".npz" else path / "sweep.npz"
        npz.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "keys": np.array(self.keys), "mode": np.array(self.mode),
            "fidelity": self.fidelity, "success_probability": self.success_probability, "rate_hz": self.rate_hz,
            "pattern_probabilities": self.pattern_probabilities, "pattern_fidelities": self.pattern_fidelities,
            "pattern_names": np.array(self.pattern_names),
            "link_json": np.array(json.dumps(link_to_dict(self.link)) if self.link is not None else ""),
        }
        for i, k in enumerate(self.keys):
            arrays[f"axis_{i}"] = np.asarray(self.axes[k])
        if self.state is not None:
            arrays["state"] = self.state
        _atomic_savez(npz, arrays, fsync=True)
        if csv_file:
            self.to_csv(npz.with_suffix(".csv"))
        return npz

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write only the ``.npz`` (``path`` a directory or a file name ending in .npz)."""
        return self.save(path, csv_file=False)

    def save_csv(self, path: str | os.PathLike) -> Path:
        """Write only the CSV, one row per point (same as :meth:`to_csv`)."""
        return self.to_csv(path)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """One row per point (see :meth:`save`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pts = self.points()
        cols = list(self.keys) + ["fidelity", "success_probability", "rate_hz"]
        cols += [f"probability[{n}]" for n in self.pattern_names] + [f"fidelity[{n}]" for n in self.pattern_names]
        data = [pts[k].reshape(-1) for k in self.keys]
        data += [self.fidelity.reshape(-1), self.success_probability.reshape(-1), self.rate_hz.reshape(-1)]
        npat = len(self.pattern_names)
        data += [self.pattern_probabilities.reshape(-1, npat)[:, i] for i in range(npat)]
        data += [self.pattern_fidelities.reshape(-1, npat)[:, i] for i in range(npat)]

        def write(fh: Any) -> None:
            text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
            w = csv.writer(text)
            w.writerow(cols)
            for row in zip(*data):
                w.writerow([repr(float(x)) for x in row])
            text.flush()
            text.detach()

        _atomic_write(path, write)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SweepResult:
        """Read a result written by :meth:`save` (a directory or the .npz file)."""
        path = Path(path)
        npz = path if path.suffix == ".npz" else path / "sweep.npz"
        with np.load(npz, allow_pickle=False) as z:
            keys = tuple(str(k) for k in z["keys"])
            link_json = str(z["link_json"])
            return cls(
                keys=keys, axes={k: z[f"axis_{i}"] for i, k in enumerate(keys)}, mode=str(z["mode"]),
                fidelity=z["fidelity"], success_probability=z["success_probability"], rate_hz=z["rate_hz"],
                pattern_probabilities=z["pattern_probabilities"], pattern_fidelities=z["pattern_fidelities"],
                pattern_names=tuple(str(n) for n in z["pattern_names"]),
                link=load_link(json.loads(link_json)) if link_json else None,
                state=z["state"] if "state" in z.files else None,
            )

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(np.atleast_1d(self.axes[k]))}]" for k in self.keys)
        return (f"SweepResult({self.mode}: {axes}; shape {self.shape}; fidelity "
                f"{np.nanmin(self.fidelity):.4g}..{np.nanmax(self.fidelity):.4g}, rate_hz "
                f"{np.nanmin(self.rate_hz):.4g}..{np.nanmax(self.rate_hz):.4g})")


# ----------------------------------------------------------------------------- validation
def check_values(link: Link, key: str, values: Any) -> np.ndarray:
    """``values`` for dotted ``key`` as a float64 1-D array; ConfigError naming the key for anything invalid.

    The key must be a numeric leaf of ``link`` (``ConfigError`` with a suggestion otherwise); every
    value must be a finite number in the key's allowed range (:data:`ionjax.config.SCHEMA`).
    """
    if key in STATIC_KEYS:
        raise ConfigError(f"{key!r} is static structure of the link (it decides what is compiled), not a number: "
                          "run one sweep per value instead.")
    link.get(key)  # ConfigError for an unknown key, with a suggestion
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"Values of {key!r} must be numbers, got {values!r}.") from None
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ConfigError(f"Values of {key!r} must be a 1-D list of numbers, got shape {arr.shape}.")
    if arr.size == 0:
        raise ConfigError(f"Values of {key!r} are empty: give at least one value.")
    spec = key_spec(link, key)
    _, lo, hi, lo_open, meaning = spec
    bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi) | ((arr == lo) if lo_open else False)
    if np.any(bad):
        v = float(arr[np.argmax(bad)])
        raise ConfigError(f"{key} = {v!r} is out of range: allowed {spec.range_text()} ({meaning}); "
                          f"{int(bad.sum())} of {arr.size} values are invalid (a sweep takes finite values).")
    return arr


def host_bytes_per_point(n_keys: int, n_patterns: int, keep_states: bool) -> int:
    """Bytes of host memory one point of a sweep takes: its coordinates, its results, and the copy made
    when the chunks are joined (float64; the states are 4x4 complex128)."""
    one = 8 * (n_keys + 3 + 2 * n_patterns) + (256 if keep_states else 0)
    return 2 * one


def _count(n: int) -> str:
    """A point count as text: ``1,024``, or ``about 10^400`` for one too long to print."""
    text = f"{n:,}"
    return text if len(text) <= 40 else f"about 10^{len(str(n)) - 1}"


def _fmt_bytes(n: int) -> str:
    """``n`` bytes as text; exact integer arithmetic, so a count of hundreds of digits is fine."""
    n = int(n)
    for k, unit in enumerate(("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")):
        if n < 1024 ** (k + 1) or unit == "EiB":
            whole, frac = divmod(n * 1000 // 1024**k, 1000)
            if len(str(whole)) > 12:
                return f"10^{len(str(whole)) - 1} {unit}"
            return f"{whole + frac / 1000:.3g} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def check_grid_size(counts: Mapping[str, int], mode: str = "product", *, n_patterns: int = 4,
                    keep_states: bool = False, what: str = "Argument `grid`") -> int:
    """The number of points of a grid with ``counts`` values per axis; ConfigError over :data:`MAX_GRID_POINTS`.

    Works on the counts alone (Python ints, any size), so a grid can be refused before anything is
    allocated; ``what`` names the grid in the message (the CLI says ``the --vary grid``).
    """
    n = next(iter(counts.values())) if mode == "zip" else math.prod(counts.values())
    if n <= MAX_GRID_POINTS:
        return n
    need = n * host_bytes_per_point(len(counts), n_patterns, keep_states)
    how = (f"{' x '.join(_count(c) for c in counts.values())} values of {', '.join(counts)}" if mode == "product"
           else f"{', '.join(counts)} zipped")
    raise ConfigError(
        f"{what} has {_count(n)} points ({how}), more than a sweep accepts ({MAX_GRID_POINTS:,}), "
        f"ionjax.sweep.MAX_GRID_POINTS: its results alone would take about {_fmt_bytes(need)} of host memory. "
        "Split it into several sweeps (e.g. one per value of the first key), or use fewer values.")


def _n_patterns(link: Link) -> int:
    from .link import analyzer

    return len(analyzer(link.protocol, link.encoding).patterns)


def _grid_points(link: Link, grid: Mapping[str, Any], mode: str,
                 keep_states: bool = False) -> tuple[tuple[str, ...], dict, np.ndarray, tuple]:
    if mode not in _MODES:
        raise ConfigError(f"Argument `mode` must be 'product' or 'zip', got {mode!r}.")
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError("Argument `grid` must be a non-empty dict {dotted key: values}, "
                          "e.g. {'detection.window_ns': np.linspace(5, 100, 20)}.")
    keys = tuple(grid)
    axes = {k: check_values(link, k, v) for k, v in grid.items()}
    counts = {k: len(v) for k, v in axes.items()}
    if mode == "zip":
        if len(set(counts.values())) != 1:
            raise ConfigError(f"mode='zip' needs value lists of one length, got {counts}.")
        check_grid_size(counts, mode, n_patterns=_n_patterns(link), keep_states=keep_states)
        pts = np.stack([axes[k] for k in keys], axis=1)
        shape = (len(pts),)
    else:
        check_grid_size(counts, mode, n_patterns=_n_patterns(link), keep_states=keep_states)
        mesh = np.meshgrid(*[axes[k] for k in keys], indexing="ij")
        pts = np.stack([m.reshape(-1) for m in mesh], axis=1)
        shape = tuple(len(axes[k]) for k in keys)
    return keys, axes, pts, shape


def default_chunk_size(memory_budget_mb: float, n_devices: int = 1) -> int:
    """Points per chunk for a per-device memory budget (a multiple of ``n_devices``)."""
    ok = isinstance(memory_budget_mb, (int, float, np.integer, np.floating)) and not isinstance(memory_budget_mb, bool)
    if not ok or not (0 < memory_budget_mb < math.inf):
        raise ConfigError(f"Argument `memory_budget_mb` must be a finite number > 0 (MiB per device), got "
                          f"{memory_budget_mb!r}; e.g. 256.")
    per_dev = max(1, int(memory_budget_mb * 2**20 // BYTES_PER_POINT))
    return max(n_devices, min(_MAX_CHUNK, per_dev * n_devices) // n_devices * n_devices)


def checkpoint_chunk_size(n_points: int, memory_budget_mb: float, n_devices: int = 1) -> int:
    """Points per chunk of a checkpointed sweep of ``n_points`` (a multiple of ``n_devices``).

    Enough chunks that an interruption loses little: ``n_points / CHECKPOINT_CHUNKS`` rounded down to a
    power of two per device (so sweeps of similar sizes share one compiled shape, and a sweep has
    between 64 and 128 chunks), at least
    :data:`MIN_CHECKPOINT_CHUNK` and at most the memory budget's :func:`default_chunk_size` per device.

    Why by count and not by elapsed time: the layout then follows from the arguments alone (a lost
    manifest is rebuilt to the same chunks, and a resumed run computes exactly the same batches),
    every chunk still has one shape (compiled once), and the overhead is bounded: at most
    ``CHECKPOINT_CHUNKS`` small chunks per sweep, about 1-4 ms each (dispatch and writing the file).
    The work lost to an interruption is at most one chunk: at most 1/64 of a sweep of up to
    ``64 x default_chunk_size`` points, one memory-budget chunk of a larger one.

    Measured on the shared 2-core CPU (float64, a 100,000-point 2-key sweep of the ``duke_2025``
    preset, medians of 4 runs under load): one 100,000-point chunk 27,000 points/s (26,600 with its
    checkpoint); 98 chunks of 1,024 points 52,500 points/s without files and 40,700 with the
    checkpoint (about 5 ms per chunk file under load, 1.5-4 ms on a quiet machine). Small chunks are
    no slower to compute on a CPU (they stay in cache); the cost is the files, bounded as above.
    """
    cap = default_chunk_size(memory_budget_mb, n_devices) // n_devices
    want = max(1, int(n_points) // (CHECKPOINT_CHUNKS * n_devices))
    per_dev = min(cap, max(MIN_CHECKPOINT_CHUNK, 1 << (want.bit_length() - 1)))
    return per_dev * n_devices


# ----------------------------------------------------------------------------- evaluation
_OUTPUTS = ("fidelity", "success_probability", "rate_hz", "pattern_probabilities", "pattern_fidelities")


@cache
def _batched_fn(keys: tuple[str, ...], keep_states: bool, picture: str) -> Callable:
    from .link import evaluate as _simulate

    def point(base: Link, values: jax.Array) -> dict[str, jax.Array]:
        res = _simulate(base.set({k: values[i] for i, k in enumerate(keys)}), picture)
        out = {k: getattr(res, k) for k in _OUTPUTS}
        if keep_states:
            out["state"] = res.state.data
        return out

    return jax.vmap(point, in_axes=(None, 0))


@cache
def _compiled(keys: tuple[str, ...], keep_states: bool, picture: str, devices: tuple) -> tuple[Callable, Any]:
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(devices), ("batch",))
    batch = NamedSharding(mesh, PartitionSpec("batch"))
    replicated = NamedSharding(mesh, PartitionSpec())
    fn = jax.jit(_batched_fn(keys, keep_states, picture), in_shardings=(replicated, batch),
                 out_shardings=replicated)
    return fn, (batch, replicated)


def _put(x: np.ndarray, sharding: Any) -> jax.Array:
    """A global array with every process holding its addressable shards (single- and multi-host)."""
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _host(x: jax.Array) -> np.ndarray:
    return np.asarray(x.addressable_data(0))


def _atomic_write(path: Path, write: Callable[[Any], None], *, fsync: bool = True) -> None:
    """Write ``path`` atomically: ``write(binary file)`` into a temporary sibling, then ``os.replace``.

    The temporary file is created with mode ``0o666`` less the umask (what ``open(path, "w")`` gives;
    ``tempfile.mkstemp`` would give 0600), so the result has the permissions of a normal file. Its
    name is ``<name>.<pid>-<random>.tmp``; it is removed if writing fails, and one left by a killed
    process is removed by the next run's checkpoint (see :func:`_remove_stale_tmp`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray], *, fsync: bool = True) -> None:
    """``np.savez`` of ``arrays`` to ``path``, atomically (see :func:`_atomic_write`)."""
    _atomic_write(path, lambda fh: np.savez(fh, **arrays), fsync=fsync)


def _atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 ``text`` to ``path``, atomically (see :func:`_atomic_write`)."""
    data = text.encode("utf-8")
    _atomic_write(path, lambda fh: fh.write(data))


def _remove_stale_tmp(directory: Path, prefixes: Sequence[str]) -> list[Path]:
    """Remove the ``*.tmp`` files in ``directory`` whose names start with one of ``prefixes`` (left by a
    killed run; only files this module writes, never anything else in the directory)."""
    removed = []
    if not directory.is_dir():
        return removed
    for p in directory.glob("*.tmp"):
        if p.name.startswith(tuple(prefixes)) and p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def sweep_hash(link: Link, keys: Sequence[str], pts: np.ndarray, mode: str, keep_states: bool, picture: str) -> str:
    """Hash identifying a sweep: the base link, the keys, every point, the mode and what is kept."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": _FORMAT_VERSION, "link": link_to_dict(link), "keys": list(keys), "mode": mode,
                         "keep_states": keep_states, "picture": picture}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(pts, dtype=np.float64).tobytes())
    return h.hexdigest()


class _Checkpoint:
    """Finished chunks of one sweep in a directory: ``manifest.json`` and ``chunk_NNNNNN.npz``.

    Each chunk file holds its results and ``_sweep_hash``, ``_chunk_index``, ``_lo``, ``_hi``,
    ``_chunk_size`` (the sweep it belongs to and its points), so it is used only by the sweep that
    wrote it, whatever happened to the manifest.
    """

    _TMP_PREFIXES = ("chunk_", "manifest.json")

    def __init__(self, directory: str | os.PathLike, digest: str, n_points: int, chunk_size: int, keys: tuple,
                 outputs: tuple[str, ...] = _OUTPUTS):
        from ._io import prepare_out_dir

        self.dir = Path(directory)
        self.digest = digest
        self.n_points = n_points
        self.outputs = outputs
        self.writer = jax.process_index() == 0
        if self.writer:
            prepare_out_dir(self.dir, "checkpoint_dir")  # ConfigError naming it if it is a file, unwritable
            _remove_stale_tmp(self.dir, self._TMP_PREFIXES)
        manifest = self.dir / "manifest.json"
        old, problem = self._read_manifest(manifest)
        if old is not None and old["hash"] != digest:
            raise ConfigError(
                f"Checkpoint directory {str(self.dir)!r} holds a different sweep (its link, keys or grid "
                "differ): refusing to resume it. Use another directory, or delete this one to start over.")
        if old is not None and old["n_points"] == n_points:
            self.chunk_size = old["chunk_size"]
            return
        if old is not None:
            problem = f"it gives n_points = {old['n_points']} for a sweep of {n_points} points"
        if not problem and any(self.dir.glob("chunk_*.npz")):
            problem = "missing, but chunk files are there"
        recovered = self._recover_chunk_size() if problem else None
        self.chunk_size = recovered or chunk_size
        if problem and self.writer:
            warnings.warn(
                f"Checkpoint manifest {str(manifest)!r} is unusable ({problem}): rebuilding it (chunk length "
                f"{self.chunk_size}). The chunk files carry their sweep's hash: those of this sweep are reused, "
                "any other is recomputed.", CheckpointWarning, stacklevel=3)
        if self.writer:
            text = json.dumps({"hash": digest, "n_points": n_points, "chunk_size": self.chunk_size,
                               "keys": list(keys), "format": _FORMAT_VERSION, "chunk_format": _CHUNK_FORMAT},
                              indent=1)
            _atomic_write_text(manifest, text)

    @staticmethod
    def _read_manifest(path: Path) -> tuple[dict | None, str]:
        """``(manifest, "")``, ``(None, "")`` if there is none, ``(None, what is wrong)`` if it is damaged."""
        if not path.exists():
            return None, ""
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return None, f"not valid JSON: {exc}"
        if not isinstance(old, dict):
            return None, f"a JSON {type(old).__name__}, not an object"
        h, c, n = old.get("hash"), old.get("chunk_size"), old.get("n_points")
        if not (isinstance(h, str) and len(h) == 64):
            return None, f"field 'hash' is {h!r}, not a 64-digit hex digest"
        for name, v in (("chunk_size", c), ("n_points", n)):
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                return None, f"field {name!r} is {v!r}, not a positive integer"
        return {"hash": h, "chunk_size": c, "n_points": n}, ""

    def _recover_chunk_size(self) -> int | None:
        """The chunk length of this sweep's chunk files (the first that verifies), or None."""
        for p in sorted(self.dir.glob("chunk_*.npz")):
            with contextlib.suppress(Exception):
                with np.load(p, allow_pickle=False) as z:
                    if str(z["_sweep_hash"]) == self.digest:
                        c = int(z["_chunk_size"])
                        if c >= 1:
                            return c
        return None

    def path(self, i: int) -> Path:
        return self.dir / f"chunk_{i:06d}.npz"

    def _reject(self, p: Path, why: str) -> None:
        warnings.warn(f"Checkpoint chunk {str(p)!r} {why}: recomputing it.", CheckpointWarning, stacklevel=4)

    def load(self, i: int, length: int) -> dict[str, np.ndarray] | None:
        """The results of chunk ``i`` (``length`` points) if its file is there and verifies, else None."""
        p = self.path(i)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}  # reads every member: a bad CRC or a truncation shows here
        except Exception as exc:  # noqa: BLE001 - empty, truncated, random bytes: any failure to read
            self._reject(p, f"cannot be read ({type(exc).__name__}: {exc})")
            return None
        lo, hi = i * self.chunk_size, i * self.chunk_size + length
        try:
            out.pop("_format", None)
            digest = str(out.pop("_sweep_hash"))
            where = (int(out.pop("_chunk_index")), int(out.pop("_lo")), int(out.pop("_hi")),
                     int(out.pop("_chunk_size")))
        except (KeyError, TypeError, ValueError):
            self._reject(p, "carries no sweep hash (written by an older ionjax or another program)")
            return None
        if digest != self.digest:
            self._reject(p, "belongs to a different sweep (its hash differs from this sweep's)")
            return None
        if where != (i, lo, hi, self.chunk_size):
            self._reject(p, f"covers points {where[1]}..{where[2]} (chunk {where[0]} of length {where[3]}), "
                            f"not {lo}..{hi}")
            return None
        if set(out) != set(self.outputs) or any(len(v) != length for v in out.values()):
            self._reject(p, f"holds {sorted(out)} with lengths {[len(v) for v in out.values()]}, not "
                            f"{sorted(self.outputs)} of {length} points")
            return None
        return out

    def save(self, i: int, data: dict[str, np.ndarray]) -> None:
        """Write chunk ``i`` with its sweep's hash and range (no fsync: a chunk damaged by a crash of the
        machine fails to verify and is recomputed)."""
        if self.writer:
            length = len(next(iter(data.values())))
            meta = {"_sweep_hash": np.array(self.digest), "_chunk_index": np.array(i),
                    "_lo": np.array(i * self.chunk_size), "_hi": np.array(i * self.chunk_size + length),
                    "_chunk_size": np.array(self.chunk_size), "_format": np.array(_CHUNK_FORMAT)}
            _atomic_savez(self.path(i), {**data, **meta}, fsync=False)


def sweep(
    link: Link | dict | str,
    grid: Mapping[str, Any],
    mode: str = "product",
    *,
    chunk_size: int | None = None,
    memory_budget_mb: float = 256.0,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    devices: Sequence[Any] | None = None,
    keep_states: bool = False,
    method: Any = None,
    picture: str | None = None,
    callback: Callable[[int, int], None] | None = None,
    _after_chunk: Callable[[int], None] | None = None,
) -> SweepResult:
    """Evaluate ``link`` at every point of ``grid`` (batched, chunked, sharded, resumable).

    Args:
        link: the base link (a :class:`~ionjax.config.Link`, a dict or a TOML path); keys not in
            ``grid`` keep its values.
        grid: ``{dotted key: values}``, e.g. ``{"detection.window_ns": np.linspace(5, 100, 20)}``;
            ``"nodes.KEY"`` sets ``node_a.KEY`` and ``node_b.KEY`` together.
        mode: ``"product"`` (every combination; one result axis per key, in ``grid``'s order) or
            ``"zip"`` (the i-th values of every key together; one result axis).
        chunk_size: points per compiled batch (rounded up to a multiple of the device count); by
            default from ``memory_budget_mb`` (:func:`default_chunk_size`), and with ``checkpoint_dir``
            smaller, so that an interruption loses at most about 1/64 of the sweep
            (:func:`checkpoint_chunk_size`). Resuming uses the checkpoint's chunk length.
        memory_budget_mb: device memory one chunk may use, per device (see :data:`BYTES_PER_POINT`).
        checkpoint_dir: write each finished chunk there and resume from it (see the module docstring:
            damaged or foreign chunk files are recomputed with a :class:`CheckpointWarning`).
        progress: show a tqdm progress bar.
        devices: devices to shard over (default: all of ``jax.devices()``).
        keep_states: also return the heralded states ``(..., 4, 4)``.
        method: the simulation method, as in :func:`ionjax.simulate` (default ``"auto"``); ``picture`` is
            its older name (``"heisenberg"``: auto, ``"schrodinger"``).
        callback: called as ``callback(chunk_index, n_chunks)`` after each chunk is finished (and
            checkpointed); an exception raised there stops the sweep (finished chunks stay on disk).

    Returns:
        :class:`SweepResult`.

    Raises:
        ConfigError: unknown key, static key, a value out of range (NaN included), an empty value list,
            lists of different lengths in ``zip`` mode, a grid of more than :data:`MAX_GRID_POINTS`
            points (refused before anything is allocated), a bad ``chunk_size`` or
            ``memory_budget_mb``, or a checkpoint directory that holds a different sweep.

    Example:
        >>> import numpy as np, ionjax as ij
        >>> res = ij.sweep({"detection": {"dark_count_rate_hz": 100.0}},
        ...                {"detection.window_ns": [10.0, 20.0, 40.0]}, progress=False)
        >>> res.fidelity.shape
        (3,)
    """
    from tqdm.auto import tqdm

    from .link.simulate import resolve_method

    picture = resolve_method(method, picture).name  # the method's name (a static, hashable key)
    if not isinstance(link, Link):
        link = load_link(link)
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool)
                                   or chunk_size < 1):
        raise ConfigError(f"Argument `chunk_size` must be a positive integer, got {chunk_size!r}.")
    default_chunk_size(memory_budget_mb)  # ConfigError for a bad budget, before any work
    keys, axes, pts, shape = _grid_points(link, grid, mode, keep_states)
    devs = tuple(devices) if devices is not None else tuple(jax.devices())
    if not devs:
        raise ConfigError("Argument `devices` is empty: give at least one device (default: jax.devices()).")
    ndev = len(devs)
    n = len(pts)
    if chunk_size is not None:
        chunk = int(chunk_size)
    elif checkpoint_dir is not None:
        chunk = checkpoint_chunk_size(n, memory_budget_mb, ndev)
    else:
        chunk = default_chunk_size(memory_budget_mb, ndev)
    chunk = min(chunk, n)
    ckpt = None
    if checkpoint_dir is not None:
        digest = sweep_hash(link, keys, pts, mode, keep_states, picture)
        outputs = _OUTPUTS + (("state",) if keep_states else ())
        ckpt = _Checkpoint(checkpoint_dir, digest, n, chunk, keys, outputs)
        chunk = ckpt.chunk_size
    padded = math.ceil(chunk / ndev) * ndev  # every chunk runs at this length (one compilation)
    n_chunks = math.ceil(n / chunk)
    fn, (batch_sharding, replicated) = _compiled(keys, keep_states, picture, devs)
    real = jnp.result_type(link.attempt_rate_hz)
    base = jax.tree_util.tree_map(lambda x: _put(np.asarray(x), replicated), link)

    parts: list[dict[str, np.ndarray]] = []
    bar = tqdm(total=n, unit="pt", disable=not progress, desc="sweep", dynamic_ncols=True)
    try:
        for i in range(n_chunks):
            lo, hi = i * chunk, min(n, (i + 1) * chunk)
            done = ckpt.load(i, hi - lo) if ckpt is not None else None
            if done is None:
                x = pts[lo:hi]
                if len(x) < padded:
                    x = np.concatenate([x, np.repeat(x[-1:], padded - len(x), axis=0)])
                out = fn(base, _put(x.astype(real), batch_sharding))
                done = {k: _host(v)[: hi - lo] for k, v in out.items()}
                if ckpt is not None:
                    ckpt.save(i, done)
            parts.append(done)
            bar.update(hi - lo)
            if callback is not None:
                callback(i, n_chunks)
            if _after_chunk is not None:  # test hook: raise here to simulate an interruption
                _after_chunk(i)
    finally:
        bar.close()

    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    from .link import analyzer

    names = tuple(p[0] for p in analyzer(link.protocol, link.encoding).patterns)
    return SweepResult(
        keys=keys, axes=axes, mode=mode,
        fidelity=cat["fidelity"].reshape(shape), success_probability=cat["success_probability"].reshape(shape),
        rate_hz=cat["rate_hz"].reshape(shape),
        pattern_probabilities=cat["pattern_probabilities"].reshape(shape + (-1,)),
        pattern_fidelities=cat["pattern_fidelities"].reshape(shape + (-1,)),
        pattern_names=names, link=link,
        state=cat["state"].reshape(shape + (4, 4)) if keep_states else None,
        meta={"chunk_size": chunk, "n_chunks": n_chunks, "devices": ndev, "picture": picture},
    )
