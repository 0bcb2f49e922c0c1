"""Elementary links as the network sees them, and Bell-diagonal pair states.

A network element is an :class:`ElementaryLink`: the heralded pair (a
two-qubit :class:`~ionjax.core.state.DensityMatrix` on ``("ion_a", "ion_b")``,
corrected to the target ``Psi+``), its success probability per attempt and its
attempt rate. :func:`elementary_link` makes one from

* a :class:`~ionjax.protocols.result.LinkResult` (its state, success probability, attempt rate);
* a :class:`~ionjax.config.Link` (simulated with :func:`ionjax.protocols.simulate`);
* plain numbers: ``fidelity`` of a Werner pair, ``success_probability`` per attempt and
  ``attempt_rate_hz`` (a tuple, a dict with those keys, or keyword arguments).

Pauli correlators. A Bell-diagonal pair (the Pauli-twirled form of any pair:
same Bell-state populations) is fixed by three numbers, taken relative to
``Psi+``: ``c = (<XX>, <YY>, -<ZZ>)``; ``Psi+`` is ``(1, 1, 1)``, a Werner pair of
fidelity ``F`` is ``w (1, 1, 1)`` with ``w = (4F - 1)/3``, and the fidelity to ``Psi+`` is
``(1 + c_x + c_y + c_z) / 4``. A Pauli error on one qubit flips the signs of two
components, so swapping multiplies correlators componentwise (see
:mod:`ionjax.network.swap`) and dephasing both qubits of a pair for ``t`` scales
``c_x, c_y`` by ``exp(-2 t / T2)``.

Shape rule: correlators are ``(..., 3)``, Bell probabilities ``(..., 4)`` in the
order of :data:`ionjax.core.BELL_STATES` (``Phi+, Phi-, Psi+, Psi-``), states
``(..., 4, 4)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Number
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.channels import check_probability
from ..core.metrics import BELL_STATES
from ..core.space import Qudit, Space
from ..core.state import DensityMatrix, complex_dtype
from ..errors import ConfigError

__all__ = [
    "ElementaryLink",
    "PAIR_SPACE",
    "elementary_link",
    "werner_state",
    "bell_diagonal_state",
    "pair_tensor",
    "pair_superoperator",
    "bell_probabilities",
    "pauli_correlators",
    "state_from_correlators",
    "twirl",
    "fidelity_from_correlators",
    "rename",
    "is_number_tuple",
]

#: The space of a heralded pair: node A's ion first.
PAIR_SPACE = Space(Qudit("ion_a"), Qudit("ion_b"))

_BELL = np.stack([BELL_STATES[k] for k in ("phi+", "phi-", "psi+", "psi-")])  # (4, 4): rows are kets
# Bell probabilities (phi+, phi-, psi+, psi-) -> correlators (<XX>, <YY>, -<ZZ>)
_P_TO_C = np.array([[1.0, -1.0, 1.0, -1.0],
                    [-1.0, 1.0, 1.0, -1.0],
                    [-1.0, -1.0, 1.0, 1.0]])


def _real(x: Any) -> jax.Array:
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.floating)):
        x = x.astype(jnp.finfo(complex_dtype()).dtype)
    return x


def rename(state: DensityMatrix, names: tuple[str, ...]) -> DensityMatrix:
    """The same data on qubits renamed ``names`` (one per subsystem, all of dimension 2)."""
    if len(names) != len(state.space) or any(d != 2 for d in state.space.dims):
        raise ValueError(f"rename takes one new name per qubit of {state.space.names}, got {names}.")
    return DensityMatrix(state.data, Space(*(Qudit(n) for n in names)))


def bell_probabilities(state: Any) -> jax.Array:
    """Populations of ``Phi+, Phi-, Psi+, Psi-`` of a two-qubit state: ``(..., 4)``."""
    r = state.data if isinstance(state, DensityMatrix) else jnp.asarray(state)
    if r.shape[-2:] != (4, 4):
        raise ValueError(f"Argument `state` must be a two-qubit state (..., 4, 4), got {tuple(r.shape)}.")
    kets = jnp.asarray(_BELL, r.dtype)
    return jnp.real(jnp.einsum("bi,...ij,bj->...b", jnp.conj(kets), r, kets))


def pauli_correlators(state: Any) -> jax.Array:
    """``c = (<XX>, <YY>, -<ZZ>)`` of a two-qubit state (``(1, 1, 1)`` for ``Psi+``): ``(..., 3)``."""
    p = bell_probabilities(state)
    return jnp.einsum("cb,...b->...c", jnp.asarray(_P_TO_C, p.dtype), p)


def fidelity_from_correlators(c: Any) -> jax.Array:
    """Fidelity to ``Psi+`` of the Bell-diagonal pair with correlators ``c`` ``(..., 3)``: ``(1 + sum c)/4``."""
    c = _real(c)
    return (1.0 + jnp.sum(c, axis=-1)) / 4.0


def pair_tensor(channel: Any) -> jax.Array:
    """A map of two pairs to one that is bilinear in them (a swap, a purification round kept unnormalized), as a
    tensor ``T`` ``(4, 4, 4)`` on weighted Bell-diagonal pairs: a pair of weight ``w`` and correlators ``c`` is
    ``u = w (1, c_x, c_y, c_z)``, and ``channel(u, v)`` has the twirled output ``out_o = sum_ij u_i v_j T[i, j, o]``
    (its trace first, then its correlators times the trace).

    Args:
        channel: ``channel(pair_1, pair_2) -> DensityMatrix``, pairs batched ``(4, 4)`` over the 16 pairs of
            Bell states (each of trace one), bilinear in them (on trace-one pairs).
    """
    eye = jnp.eye(4)
    bell = bell_diagonal_state(eye).data  # (4, 4, 4): the Bell states Phi+, Phi-, Psi+, Psi-
    first = DensityMatrix(jnp.broadcast_to(bell[:, None], (4, 4, 4, 4)), PAIR_SPACE)
    second = DensityMatrix(jnp.broadcast_to(bell[None, :], (4, 4, 4, 4)), PAIR_SPACE)
    probs = bell_probabilities(channel(first, second))  # (k, l, m): output populations for Bell inputs k, l
    h = jnp.concatenate([jnp.sum(probs, axis=-1, keepdims=True),
                         jnp.einsum("cm,klm->klc", jnp.asarray(_P_TO_C, probs.dtype), probs)], axis=-1)
    # populations of a weighted pair u = (w, w c): the rows of state_from_correlators
    c_to_p = jnp.asarray([[1, 1, -1, -1], [1, -1, 1, -1], [1, 1, 1, 1], [1, -1, -1, 1]], probs.dtype) / 4.0
    return jnp.einsum("ki,lj,klo->ijo", c_to_p, c_to_p, h)


def _state_basis() -> tuple[np.ndarray, np.ndarray]:
    """16 two-qubit density matrices that span the operators ``(16, 4, 4)``, and the dual map ``(16, 16)`` from
    ``vec(rho)`` to the coefficients of ``rho`` in them."""
    kets = [np.eye(4)[i] for i in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            e = np.eye(4)
            kets += [(e[i] + e[j]) / np.sqrt(2), (e[i] + 1j * e[j]) / np.sqrt(2)]
    basis = np.stack([np.outer(k, np.conj(k)) for k in kets]).astype(complex)
    return basis, np.linalg.inv(basis.reshape(16, 16).T)


def pair_superoperator(channel: Any) -> jax.Array:
    """A map of two pairs to one, bilinear in them, as ``M`` ``(16, 16, 4, 4)``: ``out = sum_ij vec(rho_1)_i
    vec(rho_2)_j M[i, j]`` (``vec`` the row-major flattening of a ``(4, 4)`` state). Exact on any pair (no twirl):
    the channel is evaluated on 16 x 16 pairs of density matrices that span the operators.

    Args:
        channel: ``channel(pair_1, pair_2) -> DensityMatrix``, pairs batched ``(16, 16)``, bilinear on density
            matrices (a swap; a purification round kept unnormalized).
    """
    basis, dual = _state_basis()
    b = jnp.asarray(basis)
    first = DensityMatrix(jnp.broadcast_to(b[:, None], (16, 16, 4, 4)), PAIR_SPACE)
    second = DensityMatrix(jnp.broadcast_to(b[None, :], (16, 16, 4, 4)), PAIR_SPACE)
    out = channel(first, second).data  # (n, m, 4, 4)
    d = jnp.asarray(dual, out.dtype)
    return jnp.einsum("ni,mj,nmab->ijab", d, d, out)


def bell_diagonal_state(probabilities: Any) -> DensityMatrix:
    """``sum_k p_k |B_k><B_k|`` from populations ``(..., 4)`` of ``Phi+, Phi-, Psi+, Psi-``."""
    p = _real(probabilities)
    if p.shape[-1:] != (4,):
        raise ValueError(f"Argument `probabilities` must have shape (..., 4) (Phi+, Phi-, Psi+, Psi-), got {p.shape}.")
    kets = jnp.asarray(_BELL, complex_dtype(p.dtype))
    proj = kets[:, :, None] * jnp.conj(kets[:, None, :])  # (4, 4, 4)
    return DensityMatrix(jnp.einsum("...b,bij->...ij", p.astype(kets.dtype), proj), PAIR_SPACE)


def state_from_correlators(c: Any) -> DensityMatrix:
    """The Bell-diagonal pair with correlators ``c = (<XX>, <YY>, -<ZZ>)`` ``(..., 3)``."""
    c = _real(c)
    cx, cy, cz = c[..., 0], c[..., 1], c[..., 2]
    probs = jnp.stack([1 + cx - cy - cz, 1 - cx + cy - cz, 1 + cx + cy + cz, 1 - cx - cy + cz], axis=-1) / 4.0
    return bell_diagonal_state(probs)


def werner_state(fidelity: Any) -> DensityMatrix:
    """``F |Psi+><Psi+| + (1 - F)/3 (the other three Bell states)``; ``fidelity`` ``(...)`` in [0, 1]."""
    check_probability("fidelity", fidelity)
    f = _real(fidelity)
    rest = (1.0 - f) / 3.0
    return bell_diagonal_state(jnp.stack([rest, rest, f, rest], axis=-1))


def twirl(state: DensityMatrix) -> DensityMatrix:
    """The Bell-diagonal part of a pair (Pauli twirl): same Bell populations, no other coherences."""
    return bell_diagonal_state(bell_probabilities(state))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ElementaryLink:
    """A heralded pair source, as a network uses it. A pytree (every field a leaf; may be traced).

    Attributes:
        state: the heralded pair on ``("ion_a", "ion_b")``, corrected to ``Psi+``: data ``(..., 4, 4)``.
        success_probability: probability that an attempt heralds a pair, ``(...)``.
        attempt_rate_hz: attempts per second, ``(...)``.
    """

    state: DensityMatrix
    success_probability: jax.Array
    attempt_rate_hz: jax.Array

    @property
    def fidelity(self) -> jax.Array:
        """Fidelity of the pair to ``Psi+``."""
        return bell_probabilities(self.state)[..., 2]

    @property
    def rate_hz(self) -> jax.Array:
        """Heralded pairs per second, ``attempt_rate_hz * success_probability``."""
        return self.attempt_rate_hz * self.success_probability

    @property
    def correlators(self) -> jax.Array:
        """Pauli correlators of the (twirled) pair, ``(..., 3)``."""
        return pauli_correlators(self.state)


_NUMBER_KEYS = ("fidelity", "success_probability", "attempt_rate_hz")


def is_number_tuple(x: Any) -> bool:
    """True for ``(fidelity, success_probability[, attempt_rate_hz])`` given as numbers (one link, not a list)."""
    return isinstance(x, (tuple, list)) and len(x) in (2, 3) and all(
        isinstance(v, Number) or getattr(v, "ndim", None) == 0 for v in x)


def elementary_link(source: Any = None, *, fidelity: Any = None, success_probability: Any = None,
                    attempt_rate_hz: Any = None) -> ElementaryLink:
    """Normalize a network element to an :class:`ElementaryLink`.

    Args:
        source: an :class:`ElementaryLink` (returned as is), a ``LinkResult``, a ``Link`` (simulated),
            a tuple ``(fidelity, success_probability, attempt_rate_hz)`` or a dict with those keys
            (a Werner pair), or None with the keyword arguments.
        fidelity, success_probability, attempt_rate_hz: the numbers of a Werner-pair link
            (``attempt_rate_hz`` defaults to 1e6).

    Raises:
        ConfigError (a ValueError) for anything else, or numbers out of range.
    """
    from ..config import Link
    from ..protocols.result import LinkResult

    if isinstance(source, ElementaryLink):
        return source
    if isinstance(source, LinkResult):
        return ElementaryLink(source.state, jnp.asarray(source.success_probability),
                              jnp.asarray(source.attempt_rate_hz))
    if isinstance(source, Link):
        from ..protocols import simulate

        return elementary_link(simulate(source))
    if isinstance(source, Mapping):
        extra = [k for k in source if k not in _NUMBER_KEYS]
        if extra:
            raise ConfigError(f"Unknown key {extra[0]!r} in a link given as numbers; allowed: "
                              f"{', '.join(_NUMBER_KEYS)} (or give a Link / LinkResult).")
        fidelity, success_probability = source.get("fidelity"), source.get("success_probability")
        attempt_rate_hz = source.get("attempt_rate_hz")
    elif isinstance(source, (tuple, list)):
        if len(source) not in (2, 3):
            raise ConfigError("A link given as a tuple must be (fidelity, success_probability[, attempt_rate_hz]), "
                              f"got {len(source)} entries.")
        fidelity, success_probability = source[0], source[1]
        attempt_rate_hz = source[2] if len(source) == 3 else None
    elif source is not None:
        raise ConfigError(f"A network link must be a Link, a LinkResult, an ElementaryLink or numbers "
                          f"(fidelity, success_probability, attempt_rate_hz); got {type(source).__name__}.")
    if fidelity is None or success_probability is None:
        raise ConfigError("A link given as numbers needs `fidelity` and `success_probability` "
                          "(and optionally `attempt_rate_hz`, default 1e6).")
    attempt_rate_hz = 1.0e6 if attempt_rate_hz is None else attempt_rate_hz
    try:
        check_probability("fidelity", fidelity)
        check_probability("success_probability", success_probability)
        check_probability("attempt_rate_hz", attempt_rate_hz, 0.0, np.inf)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    state = werner_state(fidelity)
    return ElementaryLink(state, _real(success_probability), _real(attempt_rate_hz))
