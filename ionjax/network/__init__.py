"""From links to networks: swapping, purification, repeater chains, GHZ states and teleported gates.

A network element is an :class:`ElementaryLink` (a heralded pair corrected to
``Psi+``, its success probability per attempt and its attempt rate); every
function that takes links accepts a ``Link`` (simulated), a ``LinkResult``, an
``ElementaryLink`` or plain numbers ``(fidelity, success_probability,
attempt_rate_hz)`` of a Werner pair (:func:`elementary_link`).

* Node operations on density matrices, through the engine (named qubits,
  ``apply_unitary`` / ``apply_kraus`` / ``herald``): :func:`entanglement_swap`
  (Bell measurement by CNOT + H + Z readout, gate and readout errors, Pauli-frame
  correction), :func:`dejmps` and :func:`bbpssw` purification with their success
  probabilities, :func:`store` (memory decay of waiting qubits).
* :func:`repeater_chain`: N links swapped in a nested or sequential schedule with a
  memory cutoff; waiting-time distributions exact on a time grid (restart
  protocol of Brand, Coopmans & Elkouss 2020), decoherence averaged over them;
  differentiable in every number including the cutoff; ``log2 N`` FFT joins; the time grid is refined
  until accurate, or a :class:`GridWarning` says what it would need (:func:`grid_error`).
  :func:`chain_monte_carlo` is the event-by-event cross-check; :mod:`.waiting`
  holds the closed forms (``E[max]`` of geometric links, one swap with a cutoff).
* :func:`remote_gate`: a CNOT/CZ teleported with one pair (Eisert et al. 2000); process and
  average gate fidelity.
* :func:`ghz`: a GHZ state over 3 to 8 nodes fused from a star of links.
* :func:`load_network` / :func:`run_network`: the TOML format of ``ionjax network``
  (documented in :mod:`ionjax.network.config`); links may form any graph, and
  :mod:`.graph` finds the paths between two end nodes and the best of them
  (:func:`graph_from_links`, :func:`simple_paths`, :func:`best_path`).

Pairs are ``DensityMatrix`` objects on ``("ion_a", "ion_b")``, shape ``(..., 4, 4)``;
Bell-diagonal pairs are also described by their Pauli correlators ``(..., 3)``
(:func:`pauli_correlators`), which multiply under swapping.
"""

from .chain import SCHEDULES, ChainResult, GridWarning, grid_error, repeater_chain
from .config import NetworkSpec, format_network, load_network, run_network
from .ghz import GHZResult, fuse_ghz, ghz, ghz_fidelity, ghz_ket
from .graph import Graph, GraphPath, PathWarning, best_path, graph_from_links, simple_paths
from .montecarlo import MonteCarloResult, chain_monte_carlo, protocol_tree
from .ops import depolarize, measure, store
from .pairs import (
    PAIR_SPACE,
    ElementaryLink,
    bell_diagonal_state,
    bell_probabilities,
    elementary_link,
    fidelity_from_correlators,
    pauli_correlators,
    state_from_correlators,
    twirl,
    werner_state,
)
from .purify import PURIFICATIONS, bbpssw, bbpssw_recurrence, dejmps, dejmps_recurrence, purification_tensor
from .remote import GATES, RemoteGateResult, remote_gate, teleported_gate
from .swap import entanglement_swap, swap_factor
from .waiting import (
    TwoLinkSwap,
    age_difference_pmf,
    expected_max_geometric,
    geometric_pmf,
    max_geometric_cdf,
    two_link_swap,
)

__all__ = [
    "GATES",
    "PAIR_SPACE",
    "PURIFICATIONS",
    "SCHEDULES",
    "ChainResult",
    "ElementaryLink",
    "GHZResult",
    "Graph",
    "GraphPath",
    "GridWarning",
    "MonteCarloResult",
    "NetworkSpec",
    "PathWarning",
    "RemoteGateResult",
    "TwoLinkSwap",
    "age_difference_pmf",
    "bbpssw",
    "bbpssw_recurrence",
    "bell_diagonal_state",
    "bell_probabilities",
    "best_path",
    "chain_monte_carlo",
    "dejmps",
    "dejmps_recurrence",
    "depolarize",
    "elementary_link",
    "entanglement_swap",
    "expected_max_geometric",
    "fidelity_from_correlators",
    "format_network",
    "fuse_ghz",
    "geometric_pmf",
    "ghz",
    "ghz_fidelity",
    "ghz_ket",
    "graph_from_links",
    "grid_error",
    "load_network",
    "max_geometric_cdf",
    "measure",
    "pauli_correlators",
    "protocol_tree",
    "purification_tensor",
    "remote_gate",
    "repeater_chain",
    "run_network",
    "simple_paths",
    "state_from_correlators",
    "store",
    "swap_factor",
    "teleported_gate",
    "twirl",
    "two_link_swap",
    "werner_state",
]
