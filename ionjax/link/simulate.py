"""``simulate``: one link's heralded ion-ion state, success probability, rate and fidelity, by a chosen method.

Methods (by instance, class or name; the dynamiqs pattern):

* :class:`Compiled` (``"compiled"``): the fast path compiled from the link's elements
  (:mod:`ionjax.link.compiled`);
* :class:`DenseHeisenberg` (``"heisenberg"``) and :class:`DenseSchrodinger` (``"schrodinger"``): the dense
  reference interpreter (:mod:`ionjax.link.dense`) in either picture;
* :class:`Auto` (``"auto"``, the default): :class:`Compiled` where every element has an amplitude rule, else
  :class:`DenseHeisenberg`.

All give the same numbers (the tests check it to 1e-10 for every element kind and random compositions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..core.metrics import bell_state
from ..core.space import Qudit, Space
from ..core.state import DensityMatrix, complex_dtype
from ..errors import ConfigError
from .compiled import compiled_patterns, supports
from .dense import dense_patterns
from .program import analyzer
from .result import LinkResult, LinkStatus

__all__ = ["simulate", "evaluate", "Method", "Auto", "Compiled", "DenseHeisenberg", "DenseSchrodinger", "METHODS",
           "resolve_method"]

_ION_SPACE = Space(Qudit("ion_a"), Qudit("ion_b"))


@dataclass(frozen=True)
class Method:
    """Base of the simulation methods (hashable: a static argument of the compiled function)."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Compiled(Method):
    """The fast path compiled from the composition (default where it applies)."""

    name: ClassVar[str] = "compiled"


@dataclass(frozen=True)
class DenseHeisenberg(Method):
    """Dense reference: detection effects pulled back through the station onto the node states."""

    name: ClassVar[str] = "heisenberg"


@dataclass(frozen=True)
class DenseSchrodinger(Method):
    """Dense reference: the joint state propagated through the station."""

    name: ClassVar[str] = "schrodinger"


@dataclass(frozen=True)
class Auto(Method):
    """:class:`Compiled` where every element has an amplitude rule, else :class:`DenseHeisenberg`."""

    name: ClassVar[str] = "auto"


METHODS: dict[str, type[Method]] = {c.name: c for c in (Auto, Compiled, DenseHeisenberg, DenseSchrodinger)}


def resolve_method(method: Any = None, picture: str | None = None) -> Method:
    """A :class:`Method` instance from an instance, a class or a name (``picture`` is the older name: its
    ``"heisenberg"`` meant the default fast path, ``"schrodinger"`` the dense one)."""
    if picture is not None:
        if picture not in ("heisenberg", "schrodinger"):
            raise ConfigError(f"Argument `picture` must be one of ('heisenberg', 'schrodinger'), got {picture!r}.")
        if method is not None:
            raise ConfigError("Give `method` or `picture`, not both (picture is the older name).")
        return Auto() if picture == "heisenberg" else DenseSchrodinger()
    if method is None:
        return Auto()
    if isinstance(method, Method):
        return method
    if isinstance(method, type) and issubclass(method, Method):
        return method()
    if isinstance(method, str) and method in METHODS:
        return METHODS[method]()
    raise ConfigError(f"Argument `method` must be one of {', '.join(map(repr, METHODS))} (or ij.method.Compiled(), "
                      f"...), got {method!r}.")


def _concrete(link: Any, method: Method) -> Method:
    if isinstance(method, Auto):
        method = Compiled() if supports(link) else DenseHeisenberg()
    if isinstance(method, Compiled) and not supports(link):
        raise ConfigError("method 'compiled' cannot run this link: an element has no amplitude rule; use "
                          "method='auto' (falls back to the dense path) or 'heisenberg'.")
    det = link.detection
    if not isinstance(method, Compiled) and (det.time_resolved_correction or det.coincidence_filter
                                             or det.dead_time_filter):
        what = ("detection.time_resolved_correction" if det.time_resolved_correction else
                "a finite detection.coincidence_window_ns" if det.coincidence_filter else
                "a detector dead time (detection.dead_time_ns)")
        why = "" if supports(link) else " (and an element of this link has no amplitude rule, so neither can run it)"
        raise ConfigError(f"The dense methods model time-integrating gated detection; {what} needs the click times, "
                          f"which only method='compiled' integrates{why}.")
    return method


def _frame_corrected(link: Any, per: jax.Array) -> jax.Array:
    """Per-pattern heralded blocks ``(P, 4, 4)`` with each pattern's Pauli-frame correction to Psi+ (Z on ion A
    for a Psi- pattern)."""
    an = analyzer(link.protocol, link.encoding)
    sign = np.array([[1.0, -1.0] if p[2] == "psi-" else [1.0, 1.0] for p in an.patterns])
    s = jnp.asarray(sign, per.real.dtype)
    sa = jnp.repeat(s, 2, axis=1)  # ion A index is the slow one of (ion_a, ion_b)
    return per * (sa[:, :, None] * sa[:, None, :]).astype(per.dtype)


def _representable(p: jax.Array) -> jax.Array:
    """True where a probability is at least the smallest normal number of its dtype (a ratio by it is exact)."""
    return p >= jnp.finfo(p.dtype).tiny


@jax.custom_jvp
def _ratio(u: jax.Array, p: jax.Array) -> jax.Array:
    """``u / p`` where ``p`` is representable (:func:`_representable`), else 0; ``p`` broadcasts against ``u``.

    The derivative is written as ``(du - (u / p) dp) / p``: the quotient rule's ``u dp / p^2`` would
    overflow (``p^2`` below the smallest number) long before the ratio and its derivative do, e.g. in
    float32 for ``p < 1e-19``. Where ``p`` is not representable the derivative is 0 (finite).
    """
    ok = _representable(p)
    return jnp.where(ok, u / jnp.where(ok, p, 1.0), 0.0)


@_ratio.defjvp
def _ratio_jvp(primals: tuple, tangents: tuple) -> tuple:
    (u, p), (du, dp) = primals, tangents
    ok = _representable(p)
    safe = jnp.where(ok, p, 1.0)
    q = jnp.where(ok, u / safe, 0.0)
    return q, jnp.where(ok, (du - q * dp) / safe, 0.0)


def evaluate(link: Any, method: Any = None) -> LinkResult:
    """:func:`simulate` without its own jit and input conversion: for use inside ``jit``, ``vmap`` and ``grad``
    (sweeps and optimizers call this; ``link`` must be a :class:`~ionjax.config.Link`)."""
    method = _concrete(link, resolve_method(method) if not isinstance(method, Method) else method)
    per = compiled_patterns(link) if isinstance(method, Compiled) else dense_patterns(link, method.name)
    per = _frame_corrected(link, per)
    real = jnp.result_type(link.node_a.collection_efficiency)
    per = per.astype(complex_dtype(real))
    probs = jnp.real(jnp.trace(per, axis1=-2, axis2=-1)).astype(real)
    target = jnp.asarray(bell_state("psi+"), per.dtype)
    unnorm_f = jnp.real(jnp.einsum("i,pij,j->p", jnp.conj(target), per, target)).astype(real)
    total = jnp.sum(probs)
    ok = _representable(total)  # else no answer: LinkStatus.no_herald (see there for what is reported)
    probs = jnp.where(ok, probs, 0.0)
    total = jnp.where(ok, total, 0.0)
    pat_f = _ratio(unnorm_f, probs)
    fid = _ratio(jnp.sum(unnorm_f), total)
    state = _ratio(jnp.sum(per, axis=0), total)
    pattern_states = _ratio(per, probs[:, None, None])
    an = analyzer(link.protocol, link.encoding)
    return LinkResult(
        fidelity=fid,
        success_probability=total,
        rate_hz=link.attempt_rate_hz * total,
        state=DensityMatrix(state, _ION_SPACE),
        pattern_probabilities=probs,
        pattern_states=pattern_states,
        pattern_fidelities=pat_f,
        attempt_rate_hz=link.attempt_rate_hz,
        status=jnp.where(ok, int(LinkStatus.heralded), int(LinkStatus.no_herald)).astype(jnp.int32),
        pattern_names=tuple(p[0] for p in an.patterns),
        pattern_targets=tuple(p[2] for p in an.patterns),
        target="psi+",
    )


_simulate = evaluate  # the older private name
_simulate_jit = jax.jit(evaluate, static_argnames=("method",))


def simulate(link: Any, method: Any = None, *, picture: str | None = None) -> LinkResult:
    """Simulate one heralded link: its heralded ion-ion state, success probability, rate and fidelity.

    Args:
        link: a :class:`~ionjax.config.Link` (or a dict / TOML path, passed to
            :func:`~ionjax.config.load_link`). Its leaves may be traced: ``simulate`` works under
            ``jit``, ``vmap`` and ``grad``.
        method: ``"auto"`` (default), ``"compiled"``, ``"heisenberg"`` or ``"schrodinger"``, or an
            instance or class of :mod:`ionjax.method` (see the module docstring). Same numbers.
        picture: the older name: ``"heisenberg"`` is ``"auto"``, ``"schrodinger"`` is ``"schrodinger"``.

    Returns:
        :class:`~ionjax.protocols.result.LinkResult`; unbatched (batch with ``jax.vmap``).

    Example:
        >>> import ionjax as ij
        >>> res = ij.simulate(ij.load_link({"node_a": {"collection_efficiency": 0.3},
        ...                                 "node_b": {"collection_efficiency": 0.2},
        ...                                 "detection": {"window_ns": 1e5}}))
        >>> round(float(res.success_probability), 6)   # eta_A eta_B / 2
        0.03
    """
    m = resolve_method(method, picture)
    from ..config import Link, load_link

    if not isinstance(link, Link):
        link = load_link(link)
    return _simulate_jit(link, method=_concrete(link, m))
