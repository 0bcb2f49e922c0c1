"""ionjax: heralded entanglement between trapped-ion quantum computers, as JAX density matrices.

``import ionjax as ij``::

    link = ij.load_link("link.toml")        # or a dict, or ij.presets.get("oxford_2020")
    res = ij.simulate(link)                 # LinkResult: fidelity, success_probability, rate_hz, state
    g = jax.grad(lambda l: ij.simulate(l).fidelity)(link)

The density-matrix engine lives in :mod:`ionjax.core` (its names are re-exported
here), the physical building blocks in :mod:`ionjax.components`.
"""

from . import components, data, elements, link, method, network, presets
from .budget import error_budget
from .config import Link, load_link
from .core import *  # noqa: F403
from .core import __all__ as _core_all
from .data import load_data
from .errors import ConfigError
from .fit import FitResult, FitWarning, expected_counts, fit, sample_counts
from .link import LinkResult, LinkStatus, simulate
from .network import (
    ChainResult,
    ElementaryLink,
    GHZResult,
    GridWarning,
    RemoteGateResult,
    bbpssw,
    dejmps,
    entanglement_swap,
    ghz,
    load_network,
    remote_gate,
    repeater_chain,
    run_network,
)
from .optimize import OptimizeResult, ParetoFront, optimize, pareto_front
from .sweep import CheckpointWarning, SweepResult, sweep

__version__ = "0.1.0"

__all__ = [
    "ChainResult",
    "CheckpointWarning",
    "ConfigError",
    "FitResult",
    "FitWarning",
    "data",
    "expected_counts",
    "fit",
    "load_data",
    "sample_counts",
    "GridWarning",
    "OptimizeResult",
    "ParetoFront",
    "SweepResult",
    "ElementaryLink",
    "GHZResult",
    "RemoteGateResult",
    "bbpssw",
    "dejmps",
    "entanglement_swap",
    "ghz",
    "load_network",
    "network",
    "optimize",
    "pareto_front",
    "remote_gate",
    "repeater_chain",
    "run_network",
    "Link",
    "LinkResult",
    "LinkStatus",
    "components",
    "error_budget",
    "presets",
    "load_link",
    "simulate",
    "sweep",
    *_core_all,
]
