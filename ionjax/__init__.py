"""ionjax: heralded entanglement between trapped-ion quantum computers, as JAX density matrices.

``import ionjax as ij``. The engine lives in :mod:`ionjax.core`; its names are
re-exported here.
"""

from .core import *  # noqa: F403
from .core import __all__ as _core_all

__version__ = "0.1.0"

__all__ = list(_core_all)
