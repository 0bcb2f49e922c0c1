"""Heralded ion-ion links (two-photon and single-photon protocols): kept as the older import path.

The link's description, its dense interpreter and its compiled fast path live in :mod:`ionjax.link`.
"""

from ..link import node_state, path_transmission, simulate
from ..link.simulate import _simulate

__all__ = ["simulate", "node_state", "path_transmission", "_simulate"]
