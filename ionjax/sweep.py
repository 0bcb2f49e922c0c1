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
* with ``checkpoint_dir`` every finished chunk is written atomically (``chunk_000012.npz``) next to
  a manifest holding a hash of the link and the grid: an interrupted sweep started again with the
  same arguments resumes after its last finished chunk and loses nothing already computed, and a
  different sweep refuses to reuse the directory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .config import SCHEMA, Link, link_to_dict, load_link
from .errors import ConfigError

__all__ = ["sweep", "SweepResult", "check_values", "default_chunk_size", "MAX_GRID_POINTS"]

#: Bytes of device memory one point of a chunk needs, with margin (measured: about 600 B for the
#: forward pass of a two-photon link in float64, states included).
BYTES_PER_POINT = 2048
_MAX_CHUNK = 1 << 18
#: The largest grid a sweep accepts (points). Each point keeps about 100 bytes of results on the
#: host (more with ``keep_states``), so this is about 6 GiB; split a larger study into several sweeps.
MAX_GRID_POINTS = 1 << 26
_MODES = ("product", "zip")
_FORMAT_VERSION = 1


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

        Returns ``{key: value, ..., "fidelity", "success_probability", "rate_hz"}``; ValueError if no
        point meets the constraints.
        """
        if by not in ("fidelity", "rate_hz", "success_probability"):
            raise ValueError(f"Argument `by` must be 'fidelity', 'rate_hz' or 'success_probability', got {by!r}.")
        ok = np.ones(self.shape, bool)
        if min_rate_hz is not None:
            ok &= self.rate_hz >= min_rate_hz
        if min_fidelity is not None:
            ok &= self.fidelity >= min_fidelity
        if not ok.any():
            raise ValueError("No point of the sweep meets the constraints "
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
        _atomic_savez(npz, arrays)
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
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for row in zip(*data):
                w.writerow([repr(float(x)) for x in row])
        os.replace(tmp, path)
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
def _spec(key: str) -> tuple[float, float, float, bool, str]:
    section, _, leaf = key.rpartition(".")
    return SCHEMA["node_a" if section == "nodes" else section][leaf]


def check_values(link: Link, key: str, values: Any) -> np.ndarray:
    """``values`` for dotted ``key`` as a float64 1-D array; ConfigError naming the key for anything invalid.

    The key must be a numeric leaf of ``link`` (``ConfigError`` with a suggestion otherwise); every
    value must be a finite number in the key's allowed range (:data:`ionjax.config.SCHEMA`).
    """
    if key in ("protocol", "encoding", "name", "detection.kind"):
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
    _, lo, hi, lo_open, meaning = _spec(key)
    bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi) | ((arr == lo) if lo_open else False)
    if np.any(bad):
        v = float(arr[np.argmax(bad)])
        lo_b = "(" if lo_open else "["
        raise ConfigError(f"{key} = {v!r} is out of range: allowed {lo_b}{lo:g}, {hi:g}] ({meaning}); "
                          f"{int(bad.sum())} of {arr.size} values are invalid.")
    return arr


def _grid_points(link: Link, grid: Mapping[str, Any], mode: str) -> tuple[tuple[str, ...], dict, np.ndarray, tuple]:
    if mode not in _MODES:
        raise ConfigError(f"Argument `mode` must be 'product' or 'zip', got {mode!r}.")
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError("Argument `grid` must be a non-empty dict {dotted key: values}, "
                          "e.g. {'detection.window_ns': np.linspace(5, 100, 20)}.")
    keys = tuple(grid)
    axes = {k: check_values(link, k, v) for k, v in grid.items()}
    if mode == "zip":
        lens = {k: len(v) for k, v in axes.items()}
        if len(set(lens.values())) != 1:
            raise ConfigError(f"mode='zip' needs value lists of one length, got {lens}.")
        pts = np.stack([axes[k] for k in keys], axis=1)
        shape = (len(pts),)
    else:
        mesh = np.meshgrid(*[axes[k] for k in keys], indexing="ij")
        pts = np.stack([m.reshape(-1) for m in mesh], axis=1)
        shape = tuple(len(axes[k]) for k in keys)
    return keys, axes, pts, shape


def default_chunk_size(memory_budget_mb: float, n_devices: int = 1) -> int:
    """Points per chunk for a per-device memory budget (a multiple of ``n_devices``)."""
    if not memory_budget_mb or memory_budget_mb <= 0:
        raise ConfigError(f"Argument `memory_budget_mb` must be > 0, got {memory_budget_mb!r}.")
    per_dev = max(1, int(memory_budget_mb * 2**20 // BYTES_PER_POINT))
    return max(n_devices, min(_MAX_CHUNK, per_dev * n_devices) // n_devices * n_devices)


# ----------------------------------------------------------------------------- evaluation
_OUTPUTS = ("fidelity", "success_probability", "rate_hz", "pattern_probabilities", "pattern_fidelities")


@cache
def _batched_fn(keys: tuple[str, ...], keep_states: bool, picture: str) -> Callable:
    from .protocols.heralded import _simulate

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


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sweep_hash(link: Link, keys: Sequence[str], pts: np.ndarray, mode: str, keep_states: bool, picture: str) -> str:
    """Hash identifying a sweep: the base link, the keys, every point, the mode and what is kept."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": _FORMAT_VERSION, "link": link_to_dict(link), "keys": list(keys), "mode": mode,
                         "keep_states": keep_states, "picture": picture}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(pts, dtype=np.float64).tobytes())
    return h.hexdigest()


class _Checkpoint:
    """Finished chunks of one sweep in a directory: ``manifest.json`` and ``chunk_NNNNNN.npz``."""

    def __init__(self, directory: str | os.PathLike, digest: str, n_points: int, chunk_size: int, keys: tuple):
        self.dir = Path(directory)
        self.writer = jax.process_index() == 0
        manifest = self.dir / "manifest.json"
        if manifest.exists():
            old = json.loads(manifest.read_text())
            if old.get("hash") != digest:
                raise ConfigError(
                    f"Checkpoint directory {str(self.dir)!r} holds a different sweep (its link, keys or grid "
                    "differ): refusing to resume it. Use another directory, or delete this one to start over.")
            self.chunk_size = int(old["chunk_size"])
        else:
            self.chunk_size = chunk_size
            if self.writer:
                self.dir.mkdir(parents=True, exist_ok=True)
                text = json.dumps({"hash": digest, "n_points": n_points, "chunk_size": chunk_size,
                                   "keys": list(keys), "format": _FORMAT_VERSION}, indent=1)
                tmp = manifest.with_name("manifest.json.tmp")
                tmp.write_text(text)
                os.replace(tmp, manifest)

    def path(self, i: int) -> Path:
        return self.dir / f"chunk_{i:06d}.npz"

    def load(self, i: int, length: int) -> dict[str, np.ndarray] | None:
        p = self.path(i)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError):  # a damaged file: recompute the chunk
            return None
        if any(len(v) != length for v in out.values()):
            return None
        return out

    def save(self, i: int, data: dict[str, np.ndarray]) -> None:
        if self.writer:
            _atomic_savez(self.path(i), data)


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
    picture: str = "heisenberg",
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
            default from ``memory_budget_mb``.
        memory_budget_mb: device memory one chunk may use, per device (see :data:`BYTES_PER_POINT`).
        checkpoint_dir: write each finished chunk there and resume from it (see the module docstring).
        progress: show a tqdm progress bar.
        devices: devices to shard over (default: all of ``jax.devices()``).
        keep_states: also return the heralded states ``(..., 4, 4)``.
        picture: ``"heisenberg"`` (default) or ``"schrodinger"``, as in :func:`ionjax.simulate`.
        callback: called as ``callback(chunk_index, n_chunks)`` after each chunk is finished (and
            checkpointed); an exception raised there stops the sweep (finished chunks stay on disk).

    Returns:
        :class:`SweepResult`.

    Raises:
        ConfigError: unknown key, static key, a value out of range, lists of different lengths in
            ``zip`` mode, or a checkpoint directory that holds a different sweep.

    Example:
        >>> import numpy as np, ionjax as ij
        >>> res = ij.sweep({"detection": {"dark_count_rate_hz": 100.0}},
        ...                {"detection.window_ns": [10.0, 20.0, 40.0]}, progress=False)
        >>> res.fidelity.shape
        (3,)
    """
    from tqdm.auto import tqdm

    from .protocols.heralded import _PICTURES

    if picture not in _PICTURES:
        raise ConfigError(f"Argument `picture` must be one of {_PICTURES}, got {picture!r}.")
    if not isinstance(link, Link):
        link = load_link(link)
    keys, axes, pts, shape = _grid_points(link, grid, mode)
    devs = tuple(devices) if devices is not None else tuple(jax.devices())
    if not devs:
        raise ConfigError("Argument `devices` is empty.")
    ndev = len(devs)
    if chunk_size is None:
        chunk = default_chunk_size(memory_budget_mb, ndev)
    else:
        if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
            raise ConfigError(f"Argument `chunk_size` must be a positive integer, got {chunk_size!r}.")
        chunk = int(chunk_size)
    n = len(pts)
    chunk = min(chunk, n)
    ckpt = None
    if checkpoint_dir is not None:
        digest = sweep_hash(link, keys, pts, mode, keep_states, picture)
        ckpt = _Checkpoint(checkpoint_dir, digest, n, chunk, keys)
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
    from .protocols.heralded import link_structure

    st = link_structure(link.encoding, link.detection.kind)
    names = tuple(p[0] for p in st.analyzer.patterns)
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
