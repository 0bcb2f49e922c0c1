"""Protocols: components composed into heralded links, returning a :class:`LinkResult`."""

from .heralded import LinkStructure, link_structure, node_state, path_transmission, pattern_weights, simulate
from .result import LinkResult, LinkStatus

__all__ = ["LinkResult", "LinkStatus", "LinkStructure", "link_structure", "node_state", "path_transmission",
           "pattern_weights", "simulate"]
