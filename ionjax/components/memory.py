"""Ion memory decoherence while a node waits (for its herald, for a swap, for a gate).

The channel is the core's :func:`ionjax.core.memory_decay_superop`: populations relax to
``|0>`` with ``1 - exp(-t/T1)``, coherences decay as ``exp(-t/T2)``. It is applied as a
superoperator (no square roots), so gradients are finite at ``t = 0`` and ``T = inf``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.state import DensityMatrix
from ..core.superop import apply_superop, memory_decay_superop
from ._validate import check_range, is_concrete

__all__ = ["memory_wait"]


def memory_wait(
    state: DensityMatrix, ion: str | tuple[str, ...], wait_s: Any, t1_s: Any = np.inf, t2_s: Any = np.inf
) -> DensityMatrix:
    """Let the qubit(s) ``ion`` of ``state`` idle for ``wait_s`` seconds with ``T1 = t1_s``, ``T2 = t2_s``.

    Args:
        state: any state containing the qubit(s).
        ion: one subsystem name, or several (each decays independently with the same times).
        wait_s: idle time ``>= 0`` (s), e.g. :func:`ionjax.components.herald_wait_s`.
        t1_s, t2_s: relaxation and coherence times ``> 0`` (s; ``inf`` for none), ``T2 <= 2 T1``.

    Shape rule: ``state.data`` ``(..., D, D)`` -> same.
    """
    check_range("wait_s", wait_s, 0.0, np.inf, fix="A wait is a duration >= 0 in seconds.")
    check_range("t1_s", t1_s, 0.0, np.inf, lo_open=True, fix="Use inf for no relaxation.")
    check_range("t2_s", t2_s, 0.0, np.inf, lo_open=True, fix="Use inf for no dephasing.")
    if is_concrete(t1_s) and is_concrete(t2_s) and np.any(np.asarray(t2_s) > 2.0 * np.asarray(t1_s)):
        raise ValueError(
            f"Arguments `t2_s` = {t2_s} and `t1_s` = {t1_s} must satisfy t2_s <= 2 * t1_s for a physical channel."
        )
    names = (ion,) if isinstance(ion, str) else tuple(ion)
    superop = memory_decay_superop(wait_s, t1_s, t2_s)
    for name in names:
        if state.space[name].dim != 2:
            raise ValueError(f"Subsystem {name!r} must be a qubit (dim 2), got dim {state.space[name].dim}.")
        state = apply_superop(state, superop, on=name)
    return state
