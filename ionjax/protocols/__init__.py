"""Protocols: the heralded-link result and its status codes (the link itself: :mod:`ionjax.link`)."""

from ..link import node_state, path_transmission, simulate
from .result import LinkResult, LinkStatus

__all__ = ["LinkResult", "LinkStatus", "node_state", "path_transmission", "simulate"]
