"""Graphs of links: which nodes the links join, the paths between two nodes, and the best of them.

A network is a multigraph: nodes are names, and each link (an index into the network's list of links) joins two
different nodes. Several links may join the same two nodes (parallel links), and the links may form cycles,
branches, stars or separate pieces. A repeater chain runs along a *path*: a sequence of links from one end node
to the other that visits no node twice (a simple path; parallel links make different paths over the same nodes).

* :class:`Graph` (build it with :func:`graph_from_links`): the nodes, each link's two nodes, the neighbours of a
  node; :func:`pieces` (the connected pieces), :func:`line` (the nodes and links along it, when the graph is one
  line), :func:`why_not_a_line` (the reason, when it is not).
* :func:`simple_paths`: every simple path between two nodes, fewest links first, at most ``max_paths``
  (:data:`MAX_PATHS`) of them; :func:`paths_along` the paths over a given sequence of nodes (one per choice
  among parallel links).
* :func:`evaluate_paths` evaluates candidate paths with :func:`~ionjax.network.repeater_chain`, and
  :func:`choose_path` picks the best by a figure of merit: ``"rate"`` (the highest end-to-end rate among the
  paths whose fidelity reaches ``min_fidelity``) or ``"fidelity"`` (the highest fidelity). :func:`best_path`
  does both.

Schedules on paths (:func:`path_schedule`): ``"nested"`` needs a power-of-2 number of links, ``"sequential"``
takes any; ``"auto"`` takes nested where the path's number of links is a power of 2 and sequential otherwise.

Everything here except :func:`evaluate_paths` / :func:`best_path` is plain Python (no JAX): the graph is
structure, not numbers. ``ionjax network`` files use it through ``[chain] ends`` / ``path`` and ``[[demands]]``
(:mod:`ionjax.network.config`).

Example:
    >>> g = graph_from_links([("a", "b"), ("b", "c"), ("a", "c")])
    >>> [p.nodes for p in simple_paths(g, "a", "c")[0]]
    [('a', 'c'), ('a', 'b', 'c')]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError

__all__ = ["MAX_PATHS", "FIGURES_OF_MERIT", "Graph", "GraphPath", "PathFigures", "PathChoice", "PathWarning",
           "graph_from_links", "pieces", "line", "why_not_a_line", "simple_paths", "paths_along", "path_schedule",
           "evaluate_paths", "choose_path", "best_path"]

#: Default cap on the candidate paths between two nodes (:func:`simple_paths`).
MAX_PATHS = 256
#: How :func:`choose_path` ranks paths.
FIGURES_OF_MERIT = ("rate", "fidelity")


class PathWarning(UserWarning):
    """The path search was cut short (more candidate paths than the cap), or no path reaches ``min_fidelity``."""


class GraphPath(NamedTuple):
    """A simple path: ``nodes`` from one end to the other (``len(links) + 1`` names) and ``links``, the index of
    the link used for each hop."""

    nodes: tuple[str, ...]
    links: tuple[int, ...]

    @property
    def label(self) -> str:
        """``"a-b-c"``."""
        return "-".join(self.nodes)


@dataclass(frozen=True)
class Graph:
    """Nodes joined by links (a multigraph: parallel links allowed, no link from a node to itself).

    Attributes:
        nodes: node names, in the order given (or of first appearance in the links).
        links: each link's two nodes; a link is its index here.
        adjacency: ``{node: ((link index, other node), ...)}``, links in index order.
    """

    nodes: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    adjacency: dict[str, tuple[tuple[int, str], ...]] = field(repr=False, compare=False, default_factory=dict)

    def neighbours(self, node: str) -> tuple[tuple[int, str], ...]:
        """``(link index, other node)`` for each link at ``node``."""
        return self.adjacency.get(node, ())

    def degree(self, node: str) -> int:
        """Number of links at ``node`` (parallel links counted each)."""
        return len(self.neighbours(node))

    def joining(self, a: str, b: str) -> tuple[int, ...]:
        """The links between ``a`` and ``b`` (several when parallel; empty when none)."""
        return tuple(i for i, other in self.neighbours(a) if other == b)

    def leaves(self) -> tuple[str, ...]:
        """Nodes with exactly one link (the natural end nodes of a chain), in node order."""
        return tuple(x for x in self.nodes if self.degree(x) == 1)

    def show(self, idx: Sequence[int] | None = None) -> str:
        """``"links[0] a-b, links[2] b-d"`` for the links ``idx`` (default: all)."""
        idx = range(len(self.links)) if idx is None else idx
        return ", ".join(f"links[{i}] {'-'.join(self.links[i])}" for i in idx)


def graph_from_links(link_nodes: Sequence[Sequence[str]], nodes: Sequence[str] | None = None) -> Graph:
    """The graph of links: ``link_nodes[i]`` the two nodes link ``i`` joins.

    Args:
        link_nodes: one pair of node names per link.
        nodes: the node names (default: in order of first appearance in ``link_nodes``); every node of a link
            must be listed.

    Raises:
        ConfigError: a link that does not join two different nodes, or names a node not in ``nodes``.
    """
    pairs = []
    for i, ab in enumerate(link_nodes):
        a, b = ab
        if a == b:
            raise ConfigError(f"links[{i}] joins node {a!r} to itself; a link joins two different nodes.")
        pairs.append((str(a), str(b)))
    if nodes is None:
        order: list[str] = []
        for ab in pairs:
            order += [x for x in ab if x not in order]
        nodes = order
    adjacency: dict[str, list[tuple[int, str]]] = {x: [] for x in nodes}
    for i, (a, b) in enumerate(pairs):
        for x in (a, b):
            if x not in adjacency:
                raise ConfigError(f"links[{i}] names the node {x!r}, which is not among the nodes "
                                  f"({', '.join(nodes)}).")
        adjacency[a].append((i, b))
        adjacency[b].append((i, a))
    return Graph(tuple(nodes), tuple(pairs), {x: tuple(v) for x, v in adjacency.items()})


def pieces(graph: Graph) -> list[tuple[str, ...]]:
    """The connected pieces: each a tuple of nodes (in node order); pieces ordered by their first node."""
    seen: dict[str, int] = {}
    out: list[list[str]] = []
    for start in graph.nodes:
        if start in seen:
            continue
        seen[start] = len(out)
        piece, stack = [start], [start]
        while stack:
            for _, y in graph.neighbours(stack.pop()):
                if y not in seen:
                    seen[y] = len(out)
                    piece.append(y)
                    stack.append(y)
        out.append(piece)
    rank = {x: k for k, x in enumerate(graph.nodes)}
    return [tuple(sorted(p, key=rank.__getitem__)) for p in out]


def why_not_a_line(graph: Graph) -> str | None:
    """Why the links do not form one line (a path through every node, each node joined to at most two others,
    no parallel links), naming the links; None when they do."""
    seen: dict[frozenset, int] = {}
    for i, (a, b) in enumerate(graph.links):
        key = frozenset((a, b))
        if key in seen:
            return f"links[{seen[key]}] and links[{i}] both join {a} and {b} (parallel links)"
        seen[key] = i
    for x in graph.nodes:
        if graph.degree(x) >= 3:
            idx = [i for i, _ in graph.neighbours(x)]
            return f"node {x!r} has {len(idx)} links ({graph.show(idx)}): a star or a branch"
    parts = pieces(graph)
    if len(parts) > 1:
        shown = "; ".join(graph.show(sorted({i for x in p for i, _ in graph.neighbours(x)})) for p in parts)
        return f"the links fall into {len(parts)} separate pieces ({shown}): they do not form a chain"
    if len(graph.links) >= len(graph.nodes):  # connected, every degree <= 2, as many links as nodes: a ring
        return f"the links form a cycle ({graph.show()})"
    return None


def line(graph: Graph) -> GraphPath | None:
    """The line the links form (from the end whose link has the lower index), or None when they form no line
    (:func:`why_not_a_line`)."""
    if why_not_a_line(graph) is not None:
        return None
    ends = graph.leaves()  # the end touching the lower link index; for one link, that link's first node
    start = min(ends, key=lambda x: (graph.neighbours(x)[0][0], graph.links[graph.neighbours(x)[0][0]].index(x)))
    nodes, links, prev = [start], [], None
    while len(links) < len(graph.links):
        i, y = next((j, y) for j, y in graph.neighbours(nodes[-1]) if j != prev)
        nodes.append(y)
        links.append(i)
        prev = i
    return GraphPath(tuple(nodes), tuple(links))


def _hops_to(graph: Graph, target: str) -> dict[str, int]:
    """Fewest links from each node to ``target`` (breadth-first; unreachable nodes absent)."""
    dist, frontier = {target: 0}, [target]
    while frontier:
        nxt = []
        for x in frontier:
            for _, y in graph.neighbours(x):
                if y not in dist:
                    dist[y] = dist[x] + 1
                    nxt.append(y)
        frontier = nxt
    return dist


def simple_paths(graph: Graph, source: str, target: str, max_paths: int = MAX_PATHS
                 ) -> tuple[list[GraphPath], bool]:
    """Every simple path from ``source`` to ``target``, fewest links first, up to ``max_paths``.

    Paths with the same number of links come in depth-first order, links in index order at each node (so
    parallel links give one path each). The search deepens one link at a time and prunes every branch that
    cannot reach ``target`` within the depth, so it stops early when the cap is reached.

    Args:
        graph: the graph.
        source, target: two different nodes of the graph.
        max_paths: the cap (>= 1).

    Returns:
        ``(paths, capped)``: the paths (a list of :class:`GraphPath`, empty when the nodes are in separate
        pieces) and whether more paths exist than were returned (then the ``max_paths`` shortest are returned).
    """
    if max_paths < 1:
        raise ConfigError(f"max_paths = {max_paths!r} is out of range: allowed >= 1 (candidate paths to evaluate).")
    dist = _hops_to(graph, target)
    if source not in dist or source == target:
        return [], False
    found: list[GraphPath] = []
    capped = False

    def extend(nodes: list[str], links: list[int], left: int) -> bool:
        """Depth-first, exactly ``left`` more links; returns False once more than ``max_paths`` are found."""
        nonlocal capped
        here = nodes[-1]
        if left == 0:
            if here == target:
                if len(found) == max_paths:
                    capped = True
                    return False
                found.append(GraphPath(tuple(nodes), tuple(links)))
            return True
        for i, y in graph.neighbours(here):
            if y in nodes or dist.get(y, math.inf) > left - 1 or (y == target and left > 1):
                continue
            nodes.append(y)
            links.append(i)
            going = extend(nodes, links, left - 1)
            nodes.pop()
            links.pop()
            if not going:
                return False
        return True

    for depth in range(dist[source], len(graph.nodes)):
        if not extend([source], [], depth):
            break
    return found, capped


def paths_along(graph: Graph, nodes: Sequence[str], max_paths: int = MAX_PATHS) -> tuple[list[GraphPath], bool]:
    """The paths over the node sequence ``nodes`` (one per choice among parallel links), at most ``max_paths``.

    Raises:
        ConfigError: two consecutive nodes that no link joins, or a node visited twice.
    """
    nodes = tuple(nodes)
    twice = sorted({x for x in nodes if nodes.count(x) > 1})
    if twice:
        raise ConfigError(f"the path {'-'.join(nodes)} visits {', '.join(map(repr, twice))} more than once; a "
                          "repeater chain's path visits each node once.")
    hops = []
    for a, b in zip(nodes, nodes[1:]):
        joining = graph.joining(a, b)
        if not joining:
            near = ", ".join(y for _, y in graph.neighbours(a)) or "none"
            raise ConfigError(f"the path {'-'.join(nodes)} is not a path of the graph: no link joins {a!r} and "
                              f"{b!r} (nodes linked to {a!r}: {near}).")
        hops.append(joining)
    out: list[GraphPath] = []
    for links in product(*hops):
        if len(out) == max_paths:
            return out, True
        out.append(GraphPath(nodes, tuple(links)))
    return out, False


def path_schedule(n_links: int, schedule: str = "auto") -> str:
    """The schedule a path of ``n_links`` links runs: ``schedule`` itself, or for ``"auto"`` nested when
    ``n_links`` is a power of 2 and sequential otherwise.

    Raises:
        ConfigError: ``"nested"`` with a number of links that is not a power of 2, or an unknown schedule.
    """
    power_of_2 = n_links >= 1 and not n_links & (n_links - 1)
    if schedule == "auto":
        return "nested" if power_of_2 else "sequential"
    if schedule not in ("nested", "sequential"):
        raise ConfigError(f"schedule = {schedule!r} is not known; allowed: nested, sequential, auto.")
    if schedule == "nested" and not power_of_2:
        raise ConfigError(f"schedule = 'nested' needs a power-of-2 number of links, got {n_links}; use "
                          "'sequential', or 'auto' (nested where it applies).")
    return schedule


class PathFigures(NamedTuple):
    """One candidate path, evaluated: its schedule, the chain's end-to-end ``fidelity`` and ``rate_hz`` (floats;
    NaN when undefined), the :class:`~ionjax.network.ChainResult` and the warnings its evaluation raised
    (``Warning`` instances, e.g. a ``GridWarning``; ``str(w)`` is the message)."""

    path: GraphPath
    schedule: str
    fidelity: float
    rate_hz: float
    result: Any
    warnings: tuple[str, ...] = ()


class PathChoice(NamedTuple):
    """The outcome of :func:`best_path`: the candidates (in the order given), the index of the chosen one, and
    whether its fidelity reaches ``min_fidelity`` (False: none does, and the chosen one is the most faithful)."""

    candidates: tuple[PathFigures, ...]
    best: int
    meets_min_fidelity: bool

    @property
    def chosen(self) -> PathFigures:
        """The chosen candidate."""
        return self.candidates[self.best]


def evaluate_paths(links: Sequence[Any], paths: Sequence[GraphPath], *, schedule: str = "auto",
                   length_km: Sequence[float] | float = 0.0, **chain_kwargs: Any) -> tuple[PathFigures, ...]:
    """Evaluate each path as a repeater chain over its links (:func:`~ionjax.network.repeater_chain`).

    Args:
        links: every link of the graph (anything :func:`repeater_chain` takes as one link), indexed like the
            graph's links.
        paths: the candidates.
        schedule: ``"nested"``, ``"sequential"`` or ``"auto"`` (:func:`path_schedule`, per path).
        length_km: fiber between each link's two nodes, km: one number for all links, or one per link.
        **chain_kwargs: passed to :func:`repeater_chain` (``cutoff_s``, ``t2_s``, ``time_step_s``, ...).

    Returns:
        One :class:`PathFigures` per path, in order. Warnings (``GridWarning``) raised while evaluating a path
        are recorded in its ``warnings``, not raised (:func:`best_path` raises the chosen path's again).
    """
    from .chain import repeater_chain

    lengths = ([float(length_km)] * len(links) if isinstance(length_km, (int, float))
               else [float(x) for x in length_km])
    out = []
    for path in paths:
        sched = path_schedule(len(path.links), schedule)
        sel = [links[i] for i in path.links]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = repeater_chain(sel[0] if len(sel) == 1 else sel, None, schedule=sched,
                                 length_km=lengths[path.links[0]] if len(sel) == 1
                                 else np.asarray([lengths[i] for i in path.links]), **chain_kwargs)
        out.append(PathFigures(path, sched, float(res.fidelity), float(res.rate_hz), res,
                               tuple(w.message for w in caught)))
    return tuple(out)


def _key(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def choose_path(figures: Sequence[tuple[float, float]], figure_of_merit: str = "rate",
                min_fidelity: float = 0.0, n_links: Sequence[int] | None = None) -> tuple[int, bool]:
    """The index of the best candidate, and whether it reaches ``min_fidelity``.

    Args:
        figures: ``(fidelity, rate_hz)`` per candidate (NaN or None: undefined, ranked last).
        figure_of_merit: ``"rate"``: the highest rate among the candidates whose fidelity is at least
            ``min_fidelity`` (ties: higher fidelity); ``"fidelity"``: the highest fidelity (ties: higher rate).
            When no candidate reaches ``min_fidelity``, the one with the highest fidelity (closest to it), and
            False.
        min_fidelity: in [0, 1].
        n_links: links per candidate: remaining ties go to fewer links, then to the earlier candidate.

    Raises:
        ConfigError: an unknown figure of merit, or no candidates.
    """
    if figure_of_merit not in FIGURES_OF_MERIT:
        raise ConfigError(f"figure_of_merit = {figure_of_merit!r} is not known; allowed: "
                          f"{', '.join(FIGURES_OF_MERIT)}.")
    if not figures:
        raise ConfigError("choose_path needs at least one candidate path.")
    fid = [_key(math.nan if f is None else float(f)) for f, _ in figures]
    rate = [_key(math.nan if r is None else float(r)) for _, r in figures]
    size = list(n_links) if n_links is not None else [0] * len(figures)
    ok = [i for i in range(len(figures)) if fid[i] >= min_fidelity]
    if ok and figure_of_merit == "rate":
        return max(ok, key=lambda i: (rate[i], fid[i], -size[i], -i)), True
    pool = ok or list(range(len(figures)))
    return max(pool, key=lambda i: (fid[i], rate[i], -size[i], -i)), bool(ok)


def best_path(links: Sequence[Any], paths: Sequence[GraphPath], *, figure_of_merit: str = "rate",
              min_fidelity: float = 0.0, schedule: str = "auto", length_km: Sequence[float] | float = 0.0,
              **chain_kwargs: Any) -> PathChoice:
    """Evaluate the candidate ``paths`` (:func:`evaluate_paths`) and choose one (:func:`choose_path`).

    Warns:
        GridWarning: the chosen path's grid warnings (the others' are in their ``warnings``).
        PathWarning: when no candidate reaches ``min_fidelity`` (the most faithful one is chosen).

    Example (float64):
        >>> g = graph_from_links([("a", "b"), ("b", "c"), ("a", "c")])
        >>> paths, _ = simple_paths(g, "a", "c")
        >>> links = [(0.99, 0.1, 1e6), (0.99, 0.1, 1e6), (0.9, 0.01, 1e6)]
        >>> choice = best_path(links, paths, time_step_s=1e-6, grid_size=1024)
        >>> choice.chosen.path.nodes, choice.meets_min_fidelity
        (('a', 'b', 'c'), True)
    """
    cands = evaluate_paths(links, paths, schedule=schedule, length_km=length_km, **chain_kwargs)
    best, met = choose_path([(c.fidelity, c.rate_hz) for c in cands], figure_of_merit, min_fidelity,
                            [len(c.path.links) for c in cands])
    for w in cands[best].warnings:
        warnings.warn(str(w), type(w), stacklevel=2)
    if not met:
        warnings.warn(f"no candidate path reaches min_fidelity = {min_fidelity:g}; the most faithful, "
                      f"{cands[best].path.label} (fidelity {cands[best].fidelity:.5g}), is chosen.",
                      PathWarning, stacklevel=2)
    return PathChoice(cands, best, met)
