"""Entanglement purification (distillation) of two pairs into one: DEJMPS and BBPSSW.

Both protocols work on two pairs shared by nodes A and B: pair 1 ``(a1, b1)``
is kept, pair 2 ``(a2, b2)`` is sacrificed. Each node applies a CNOT from its
pair-1 qubit to its pair-2 qubit (a *bilateral* CNOT; depolarizing noise
``gate_error`` after each), both read their pair-2 qubit in the Z basis (bit flip
``readout_error``), and they keep pair 1 if the two results agree.

The textbook protocols are written for ``Phi+``; ionjax pairs target ``Psi+``.
Node B's frame is changed by a (free, classical) Pauli X on its qubits before
and after, which maps ``Psi+ <-> Phi+`` and ``Psi- <-> Phi-``.

* DEJMPS (Deutsch et al., PRL 77, 2818 (1996)): before the CNOTs, A applies
  ``Rx(pi/2)`` and B ``Rx(-pi/2)`` to each of their qubits. On Bell-diagonal
  pairs with coefficients ``(A, B, C, D)`` of ``(Phi+, Psi-, Psi+, Phi-)`` in the
  ``Phi+`` frame, which are ``(Psi+, Phi-, Phi+, Psi-)`` in the ionjax frame:
  ``N = (A + B)^2 + (C + D)^2``, ``A' = (A^2 + B^2)/N``, ``B' = 2CD/N``,
  ``C' = (C^2 + D^2)/N``, ``D' = 2AB/N``; success probability ``N``.
* BBPSSW (Bennett et al., PRL 76, 722 (1996)): each pair is first twirled to a
  Werner pair of the same fidelity ``F`` (random bilateral rotations), and the
  output is twirled again:
  ``F' = (F^2 + ((1-F)/3)^2) / N``, ``N = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2``.

Both return ``(success_probability, pair)`` with the kept pair on
``("ion_a", "ion_b")`` conditioned on success.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.state import DensityMatrix, tensor
from .ops import CNOT, X, gate
from .pairs import PAIR_SPACE, bell_diagonal_state, bell_probabilities, pair_tensor, rename, werner_state

__all__ = ["dejmps", "bbpssw", "dejmps_recurrence", "bbpssw_recurrence", "PURIFICATIONS", "purification_tensor"]

#: The purification protocols a repeater chain can use.
PURIFICATIONS = ("dejmps", "bbpssw")

_RX_P = np.array([[1, -1j], [-1j, 1]], dtype=complex) / np.sqrt(2.0)  # Rx(pi/2) = (1 - i X)/sqrt2
_RX_M = np.array([[1, 1j], [1j, 1]], dtype=complex) / np.sqrt(2.0)  # Rx(-pi/2)


def _check(name: str, p: Any) -> None:
    if not isinstance(p, DensityMatrix) or p.space.dims != (2, 2):
        raise ValueError(f"Argument `{name}` must be a two-qubit DensityMatrix (a pair), got {p!r}.")


@partial(jax.jit, static_argnames=("rotate", "normalize"))
def _bilateral_step(pair_1: DensityMatrix, pair_2: DensityMatrix, gate_error: Any, readout_error: Any,
                    rotate: bool, normalize: bool = True) -> tuple[jax.Array, DensityMatrix]:
    rho = tensor(rename(pair_1, ("a1", "b1")), rename(pair_2, ("a2", "b2")))
    for q in ("b1", "b2"):  # Psi+ frame -> Phi+ frame
        rho = rho.apply_unitary(X, q)
    if rotate:
        for q in ("a1", "a2"):
            rho = rho.apply_unitary(_RX_P, q)
        for q in ("b1", "b2"):
            rho = rho.apply_unitary(_RX_M, q)
    rho = gate(rho, CNOT, ("a1", "a2"), gate_error)
    rho = gate(rho, CNOT, ("b1", "b2"), gate_error)
    e = jnp.asarray(readout_error)
    r0, r1 = jnp.stack([1.0 - e, e]), jnp.stack([e, 1.0 - e])  # P(read 0 | z), P(read 1 | z)
    agree = jnp.kron(r0, r0) + jnp.kron(r1, r1)  # diagonal effect on (a2, b2)
    p, kept = rho.herald(agree, on=("a2", "b2"), normalize=normalize)
    kept = kept.apply_unitary(X, "b1")  # back to the Psi+ frame
    return p, DensityMatrix(kept.data, PAIR_SPACE)


def dejmps(pair_1: DensityMatrix, pair_2: DensityMatrix, gate_error: Any = 0.0,
           readout_error: Any = 0.0) -> tuple[jax.Array, DensityMatrix]:
    """One DEJMPS round (Deutsch et al. 1996) on two pairs, each ``(..., 4, 4)`` on (A, B).

    Returns:
        ``(p, pair)``: success probability ``(...)`` and the kept pair given success.
    """
    _check("pair_1", pair_1)
    _check("pair_2", pair_2)
    return _bilateral_step(pair_1, pair_2, gate_error, readout_error, rotate=True)


def bbpssw(pair_1: DensityMatrix, pair_2: DensityMatrix, gate_error: Any = 0.0,
           readout_error: Any = 0.0) -> tuple[jax.Array, DensityMatrix]:
    """One BBPSSW round (Bennett et al. 1996): twirl both pairs to Werner form, bilateral CNOT,
    keep on agreement, twirl the output to Werner form again.

    Returns:
        ``(p, pair)``: success probability ``(...)`` and the kept (Werner) pair given success.
    """
    _check("pair_1", pair_1)
    _check("pair_2", pair_2)
    w1 = werner_state(bell_probabilities(pair_1)[..., 2])
    w2 = werner_state(bell_probabilities(pair_2)[..., 2])
    p, out = _bilateral_step(w1, w2, gate_error, readout_error, rotate=False)
    return p, werner_state(jnp.clip(bell_probabilities(out)[..., 2], 0.0, 1.0))


def _kept(pair_1: DensityMatrix, pair_2: DensityMatrix, gate_error: Any, readout_error: Any,
          protocol: str) -> DensityMatrix:
    """The kept pair of one round, unnormalized (trace = the success probability): bilinear in the pairs (on
    pairs of trace one, which is all :func:`ionjax.network.pairs.pair_tensor` feeds it)."""
    if protocol == "dejmps":
        return _bilateral_step(pair_1, pair_2, gate_error, readout_error, rotate=True, normalize=False)[1]
    w1 = werner_state(bell_probabilities(pair_1)[..., 2])
    w2 = werner_state(bell_probabilities(pair_2)[..., 2])
    out = bell_probabilities(_bilateral_step(w1, w2, gate_error, readout_error, rotate=False, normalize=False)[1])
    f = out[..., 2]
    rest = (jnp.sum(out, axis=-1) - f) / 3.0  # the output's Werner twirl, linear in the unnormalized pair
    return bell_diagonal_state(jnp.stack([rest, rest, f, rest], axis=-1))


@partial(jax.jit, static_argnames=("protocol",))
def purification_tensor(protocol: str = "dejmps", gate_error: Any = 0.0, readout_error: Any = 0.0) -> jax.Array:
    """One round of ``protocol`` (:func:`dejmps` or :func:`bbpssw`, with their gate and readout errors) as a
    bilinear map on Bell-diagonal pairs: ``T`` ``(4, 4, 4)`` with ``out_o = sum_ij u_i v_j T[i, j, o]`` for
    weighted pairs ``u = w (1, c_x, c_y, c_z)`` (:func:`ionjax.network.pairs.pair_tensor`); ``out_0`` is the
    success probability (times the weights) and ``out[1:]`` the kept pair's correlators times it. Derived from
    the density-matrix protocol itself, evaluated on the 16 pairs of Bell states; the kept pair is taken
    Bell-diagonal (twirled), as the repeater chain keeps its pairs."""
    if protocol not in PURIFICATIONS:
        raise ValueError(f"protocol = {protocol!r} is not known; allowed: {', '.join(PURIFICATIONS)}.")
    return pair_tensor(partial(_kept, gate_error=gate_error, readout_error=readout_error, protocol=protocol))


def dejmps_recurrence(coefficients: Any) -> tuple[jax.Array, jax.Array]:
    """The published DEJMPS map on Bell-diagonal coefficients ``(..., 4)`` = ``(A, B, C, D)``
    (Deutsch et al. order: ``Phi+, Psi-, Psi+, Phi-`` of the ``Phi+`` frame).

    Returns:
        ``(N, (A', B', C', D'))``: the success probability and the new coefficients.
    """
    c = jnp.asarray(coefficients)
    a, b, cc, d = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    n = (a + b) ** 2 + (cc + d) ** 2
    return n, jnp.stack([a**2 + b**2, 2 * cc * d, cc**2 + d**2, 2 * a * b], axis=-1) / n[..., None]


def bbpssw_recurrence(fidelity: Any) -> tuple[jax.Array, jax.Array]:
    """The published BBPSSW map on a Werner pair's fidelity: ``(N, F')``."""
    f = jnp.asarray(fidelity)
    r = (1.0 - f) / 3.0
    n = f**2 + 2 * f * r + 5 * r**2
    return n, (f**2 + r**2) / n
