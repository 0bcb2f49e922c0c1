"""Lindblad master equation for small ion level systems, and the photons an excitation pulse makes.

Units: time in ns, Hamiltonians in rad/ns (``hbar = 1``), rates in 1/ns.

``d rho/dt = -i [H, rho] + sum_k (L_k rho L_k^dag - {L_k^dag L_k, rho}/2)``

Two solvers:

* piecewise-constant Hamiltonians (:func:`lindblad_evolve`, :func:`lindblad_evolve_piecewise`):
  exact, ``vec(rho(t)) = expm(L t) vec(rho(0))`` with the Liouvillian ``L`` (:func:`liouvillian`)
  and :func:`jax.scipy.linalg.expm`. Differentiable, ``jit``/``vmap`` friendly.
* time-dependent Hamiltonians (:func:`lindblad_ode`): adaptive Runge-Kutta through
  `diffrax <https://docs.kidger.site/diffrax/>`_, an optional dependency
  (``pip install 'ionjax[ode]'``), imported only when called.

:func:`excitation_emission` uses them to count the photons an excitation pulse of finite
length makes (the source of ``multi_photon_probability``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.state import DensityMatrix, complex_dtype
from ._validate import check_probability, check_range

__all__ = [
    "liouvillian",
    "lindblad_evolve",
    "lindblad_evolve_piecewise",
    "lindblad_ode",
    "ExcitationEmission",
    "excitation_emission",
    "multi_photon_probability",
    "PULSE_SHAPES",
]

PULSE_SHAPES = ("square", "sin2", "gaussian")


def _jumps(jump_ops: Any, d: int, dtype: Any) -> jax.Array:
    if jump_ops is None:
        return jnp.zeros((0, d, d), dtype)
    j = jnp.asarray(jump_ops)
    if j.ndim == 2:
        j = j[None]
    if j.ndim != 3 or j.shape[1:] != (d, d):
        raise ValueError(f"Argument `jump_ops` must have shape (k, {d}, {d}), got {tuple(jnp.shape(jump_ops))}.")
    return j.astype(jnp.result_type(j.dtype, dtype))


def _square(name: str, a: Any) -> jax.Array:
    a = jnp.asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"Argument `{name}` must be a square (d, d) matrix, got shape {tuple(a.shape)}.")
    return a


def _rates(rates: Any, k: int, dtype: Any) -> jax.Array:
    if rates is None:
        return jnp.ones((k,), dtype)
    r = jnp.asarray(rates)
    if r.shape != (k,):
        raise ValueError(f"Argument `rates` must have shape ({k},) (one per jump operator), got {tuple(r.shape)}.")
    check_range("rates", r, 0.0, np.inf, fix="Rates are >= 0 (1/ns).")
    return r.astype(dtype)


def liouvillian(hamiltonian: Any, jump_ops: Any = None, rates: Any = None) -> jax.Array:
    """The Lindblad generator as a ``(d^2, d^2)`` matrix on row-major ``vec(rho) = rho.reshape(d*d)``.

    ``vec(A rho B) = (A (x) B^T) vec(rho)``, so
    ``L = -i (H (x) I - I (x) H^T) + sum_k g_k [L_k (x) L_k^* - (L_k^dag L_k (x) I + I (x) (L_k^dag L_k)^T)/2]``.

    Args:
        hamiltonian: ``(d, d)`` (rad/ns).
        jump_ops: ``(k, d, d)`` jump operators (None for none).
        rates: ``(k,)`` rates ``g_k`` (1/ns) multiplying each dissipator; default 1 (then put
            ``sqrt(rate)`` into ``jump_ops``). Rates enter linearly, so gradients stay finite
            where a rate is 0.
    """
    h = _square("hamiltonian", hamiltonian)
    d = h.shape[0]
    cd = complex_dtype(h.dtype)
    h = h.astype(cd)
    js = _jumps(jump_ops, d, cd)
    g = _rates(rates, js.shape[0], cd)
    eye = jnp.eye(d, dtype=cd)
    out = -1j * (jnp.kron(h, eye) - jnp.kron(eye, h.T))
    if js.shape[0]:
        ldl = jnp.einsum("k,kba,kbc->ac", g, jnp.conj(js), js)
        out = out + jnp.einsum("k,kac,kbe->abce", g, js, jnp.conj(js)).reshape(d * d, d * d)
        out = out - 0.5 * (jnp.kron(ldl, eye) + jnp.kron(eye, ldl.T))
    return out


def _as_array(rho0: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    if isinstance(rho0, DensityMatrix):
        if rho0.batch_shape:
            raise ValueError(f"Argument `rho0` must be one state (vmap for batches), got batch {rho0.batch_shape}.")
        space = rho0.space
        return rho0.data, lambda r: DensityMatrix(r, space)
    r = _square("rho0", rho0)
    return r.astype(complex_dtype(r.dtype)), lambda x: x


def lindblad_evolve(rho0: Any, hamiltonian: Any, jump_ops: Any, t_ns: Any, rates: Any = None) -> Any:
    """``rho(t)`` under a constant Hamiltonian and jump operators, exactly (matrix exponential).

    Args:
        rho0: ``(d, d)`` array or an unbatched :class:`~ionjax.core.DensityMatrix` (returned as the same type).
        hamiltonian: ``(d, d)`` Hermitian (rad/ns).
        jump_ops: ``(k, d, d)`` (``sqrt(rate)`` included, or see ``rates``; None for none).
        t_ns: duration ``>= 0`` (ns). For several times, ``jax.vmap`` over it.
        rates: optional ``(k,)`` rates multiplying each dissipator (see :func:`liouvillian`).
    """
    check_range("t_ns", t_ns, 0.0, np.inf, fix="Durations are >= 0 ns.")
    rho, wrap = _as_array(rho0)
    d = rho.shape[-1]
    lv = liouvillian(hamiltonian, jump_ops, rates)
    if lv.shape[0] != d * d:
        raise ValueError(f"Argument `hamiltonian` is {int(np.sqrt(lv.shape[0]))}-dimensional but `rho0` is {d}.")
    prop = jax.scipy.linalg.expm(lv * jnp.asarray(t_ns).astype(lv.dtype))
    return wrap((prop @ rho.astype(lv.dtype).reshape(d * d)).reshape(d, d))


def lindblad_evolve_piecewise(rho0: Any, hamiltonians: Any, jump_ops: Any, durations_ns: Any) -> Any:
    """``rho`` after segments ``k = 0..K-1``, each with a constant ``H_k`` for ``durations_ns[k]`` (exact).

    Args:
        rho0: ``(d, d)`` array or an unbatched DensityMatrix.
        hamiltonians: ``(K, d, d)``.
        jump_ops: ``(J, d, d)`` for all segments or ``(K, J, d, d)`` per segment (None for none).
        durations_ns: ``(K,)`` durations ``>= 0``.

    Returns:
        The final state (same type as ``rho0``). Runs as one ``lax.scan``: compiles once for any K.
    """
    check_range("durations_ns", durations_ns, 0.0, np.inf, fix="Durations are >= 0 ns.")
    rho, wrap = _as_array(rho0)
    d = rho.shape[-1]
    hs = jnp.asarray(hamiltonians)
    ts = jnp.asarray(durations_ns)
    if hs.ndim != 3 or hs.shape[1:] != (d, d):
        raise ValueError(f"Argument `hamiltonians` must have shape (K, {d}, {d}), got {tuple(hs.shape)}.")
    if ts.shape != hs.shape[:1]:
        raise ValueError(f"Argument `durations_ns` must have shape ({hs.shape[0]},), got {tuple(ts.shape)}.")
    cd = complex_dtype(jnp.result_type(hs.dtype, rho.dtype))
    js = jnp.zeros((0, d, d), cd) if jump_ops is None else jnp.asarray(jump_ops).astype(cd)
    per_segment = js.ndim == 4
    if not per_segment:
        js = _jumps(js, d, cd)

    def step(r: jax.Array, seg: tuple) -> tuple[jax.Array, None]:
        h, t, j = seg
        lv = liouvillian(h, j if per_segment else js)
        return (jax.scipy.linalg.expm(lv * t.astype(cd)) @ r.reshape(d * d)).reshape(d, d), None

    segs = (hs.astype(cd), ts, js if per_segment else jnp.zeros((hs.shape[0],), cd))
    out, _ = jax.lax.scan(step, rho.astype(cd), segs)
    return wrap(out)


def lindblad_ode(
    rho0: Any,
    hamiltonian: Callable[[jax.Array, Any], jax.Array],
    jump_ops: Any,
    t1_ns: Any,
    *,
    t0_ns: Any = 0.0,
    ts_ns: Any = None,
    args: Any = None,
    rates: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 100_000,
    solver: Any = None,
) -> Any:
    """``rho(t)`` under a time-dependent Hamiltonian ``H(t, args)``, by an adaptive ODE solver (diffrax).

    Args:
        rho0: ``(d, d)`` array or an unbatched DensityMatrix.
        hamiltonian: ``H(t_ns, args) -> (d, d)`` (rad/ns); pass traced numbers through ``args``.
        jump_ops: ``(k, d, d)`` constant jump operators (None for none).
        t1_ns: final time; ``t0_ns``: initial time (default 0).
        ts_ns: times at which to return the state (``(n,)``); default: only ``t1_ns``.
        args: passed to ``hamiltonian``.
        rates: optional ``(k,)`` rates multiplying each dissipator (see :func:`liouvillian`).
        rtol, atol: tolerances of the PID step-size controller.
        solver: a diffrax solver (default ``diffrax.Dopri8()``).

    Returns:
        The state at ``t1_ns`` (same type as ``rho0``), or ``(n, d, d)`` states at ``ts_ns``
        (a batched DensityMatrix if ``rho0`` was one). Differentiable (diffrax's default adjoint).

    Raises:
        ImportError: if diffrax is not installed.
    """
    try:
        import diffrax
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "lindblad_ode needs the optional dependency diffrax: pip install 'ionjax[ode]' (or diffrax). "
            "Piecewise-constant pulses need no extra: use lindblad_evolve_piecewise."
        ) from exc
    rho, wrap = _as_array(rho0)
    d = rho.shape[-1]
    cd = rho.dtype
    js = _jumps(jump_ops, d, cd)
    g = _rates(rates, js.shape[0], cd)
    ldl = jnp.einsum("k,kba,kbc->ac", g, jnp.conj(js), js)
    gjs = g[:, None, None] * js
    real = jnp.finfo(cd).dtype

    def rhs(t: jax.Array, y: tuple, a: Any) -> tuple:
        r = y[0] + 1j * y[1]
        h = jnp.asarray(hamiltonian(t, a)).astype(cd)
        dr = -1j * (h @ r - r @ h) + jnp.einsum("kab,bc,kdc->ad", gjs, r, jnp.conj(js)) - 0.5 * (ldl @ r + r @ ldl)
        return jnp.real(dr), jnp.imag(dr)

    saveat = diffrax.SaveAt(t1=True) if ts_ns is None else diffrax.SaveAt(ts=jnp.asarray(ts_ns, real))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        diffrax.Dopri8() if solver is None else solver,
        t0=jnp.asarray(t0_ns, real),
        t1=jnp.asarray(t1_ns, real),
        dt0=None,
        y0=(jnp.real(rho), jnp.imag(rho)),
        args=args,
        saveat=saveat,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    out = sol.ys[0] + 1j * sol.ys[1]
    if ts_ns is None:
        out = out[0]
    return wrap(out)


# ----------------------------------------------------------------------------- excitation
class ExcitationEmission(NamedTuple):
    """Photons on the ``P -> S`` line from one excitation pulse (and the decay that follows). A pytree.

    Attributes:
        p_emission: probability of at least one photon.
        p_second_photon: probability of two or more (re-excitation after a decay during the pulse).
    """

    p_emission: jax.Array
    p_second_photon: jax.Array


# levels: g (S), e (P), s (the other lower level, e.g. D); counter n = 0, 1, 2 (2 means ">= 2")
_NL, _NC = 3, 3
_G, _E, _S = 0, 1, 2


def _op(atom: np.ndarray, counter: np.ndarray) -> np.ndarray:
    return np.kron(atom, counter)


def _ket(i: int, n: int) -> np.ndarray:
    v = np.zeros(n)
    v[i] = 1.0
    return v


_P_GE = np.outer(_ket(_G, _NL), _ket(_E, _NL))  # |g><e|
_P_SE = np.outer(_ket(_S, _NL), _ket(_E, _NL))
_P_EE = np.outer(_ket(_E, _NL), _ket(_E, _NL))
_RAISE = np.zeros((_NC, _NC))
_RAISE[1, 0] = _RAISE[2, 1] = _RAISE[2, 2] = 1.0  # n -> n + 1, saturating at 2
_DRIVE = _op(_P_GE + _P_GE.T, np.eye(_NC))  # |e><g| + |g><e|
_DETUNE = _op(_P_EE, np.eye(_NC))
_J_LINE = _op(_P_GE, _RAISE)  # decay on the photon line: counts
_J_OTHER = _op(_P_SE, np.eye(_NC))  # decay to the other level: not counted


def _pulse_rabi(shape: str, t: jax.Array, area: jax.Array, dur: jax.Array) -> jax.Array:
    """Rabi frequency ``Omega(t)`` (rad/ns) on ``[0, T]`` with ``int Omega dt = area``."""
    inside = (t >= 0) & (t <= dur)
    if shape == "sin2":
        om = 2.0 * area / dur * jnp.sin(jnp.pi * t / dur) ** 2
    elif shape == "gaussian":
        sigma = dur / 6.0
        norm = sigma * jnp.sqrt(2.0 * jnp.pi) * jax.scipy.special.erf(3.0 / jnp.sqrt(2.0))
        om = area / norm * jnp.exp(-((t - dur / 2.0) ** 2) / (2.0 * sigma**2))
    else:
        om = area / dur * jnp.ones_like(t)
    return jnp.where(inside, om, 0.0)


def excitation_emission(
    pulse_area_rad: Any,
    pulse_duration_ns: Any,
    lifetime_ns: Any,
    branching: Any = 1.0,
    *,
    detuning_rad_per_ns: Any = 0.0,
    pulse_shape: str = "square",
    method: str | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> ExcitationEmission:
    """Probability of a photon, and of a second one, from an excitation pulse of finite length.

    Model: levels ``g`` (S), ``e`` (P, lifetime ``tau``) and ``s`` (the other lower level, e.g. D).
    A pulse of area ``int Omega dt = pulse_area_rad`` drives ``g <-> e``
    (``H = Omega(t)/2 (|e><g| + |g><e|) - Delta |e><e|``); ``e`` decays to ``g`` at rate
    ``b / tau`` emitting on the photon line, and to ``s`` at ``(1 - b)/tau`` (no photon counted, no
    re-excitation). The ion starts in ``g``.

    Method (photon counting by an extra counter level): the atom is tensored with a counter
    ``n = 0, 1, 2+``; the photon-line jump operator is ``sqrt(b/tau) |g><e| (x) (n -> n + 1)``
    (saturating at 2), the other jump leaves ``n`` alone. The counter-augmented Lindblad
    equation is exact photon counting: the counter's populations are the probabilities of
    ``n`` emissions (its coherences are never created). The pulse (``[0, T]``) is solved
    exactly (square: matrix exponential) or by diffrax (``"sin2"``, ``"gaussian"``). After the
    pulse ``e`` only decays, which adds one photon with probability ``b``, so the final
    distribution follows in closed form from ``rho(T)``:
    ``P(n) = P_g(n) + P_s(n) + (1 - b) P_e(n) + b P_e(n - 1)``.
    A second photon needs a decay to ``g`` during the pulse followed by re-excitation: for a
    short square pi pulse ``P(2) ~ b^2 T / (8 tau)``.

    Args:
        pulse_area_rad: pulse area (``pi``: a pi pulse).
        pulse_duration_ns: ``T > 0``: duration of the square pulse / support of ``"sin2"`` and
            ``"gaussian"`` (truncated Gaussian of rms ``T/6`` centred at ``T/2``).
        lifetime_ns: lifetime ``tau > 0`` of ``e``.
        branching: ``b`` in ``[0, 1]``, fraction of decays on the photon line.
        detuning_rad_per_ns: laser detuning ``Delta`` (rad/ns).
        pulse_shape: ``"square"`` | ``"sin2"`` | ``"gaussian"``.
        method: ``"expm"`` (square pulses only; default for them) or ``"ode"`` (diffrax; default otherwise).

    Returns:
        :class:`ExcitationEmission` ``(p_emission, p_second_photon)``, JAX scalars, differentiable.

    Example:
        >>> import jax.numpy as jnp
        >>> from ionjax.components import excitation_emission, get_species
        >>> ba = get_species("138Ba+")
        >>> out = excitation_emission(jnp.pi, 0.05, ba.p_lifetime_ns, ba.branching_ratio)
        >>> bool(abs(out.p_emission - ba.branching_ratio) < 0.01)
        True
    """
    check_range("pulse_area_rad", pulse_area_rad, fix="Give the pulse area in rad (pi for a pi pulse).")
    check_range("pulse_duration_ns", pulse_duration_ns, 0.0, np.inf, lo_open=True, fix="Durations are > 0 ns.")
    check_range("lifetime_ns", lifetime_ns, 0.0, np.inf, lo_open=True, fix="Lifetimes are > 0 ns.")
    check_probability("branching", branching)
    check_range("detuning_rad_per_ns", detuning_rad_per_ns)
    if pulse_shape not in PULSE_SHAPES:
        raise ValueError(f"Argument `pulse_shape` must be one of {PULSE_SHAPES}, got {pulse_shape!r}.")
    if method is None:
        method = "expm" if pulse_shape == "square" else "ode"
    if method not in ("expm", "ode"):
        raise ValueError(f"Argument `method` must be 'expm' or 'ode', got {method!r}.")
    if method == "expm" and pulse_shape != "square":
        raise ValueError(f"method='expm' solves square pulses only; use method='ode' for {pulse_shape!r}.")

    area = jnp.asarray(pulse_area_rad)
    dur = jnp.asarray(pulse_duration_ns)
    tau = jnp.asarray(lifetime_ns)
    b = jnp.asarray(branching)
    delta = jnp.asarray(detuning_rad_per_ns)
    real = jnp.result_type(area, dur, tau, b, delta, float)
    cd = complex_dtype(real)
    jumps = jnp.asarray(np.stack([_J_LINE, _J_OTHER]), cd)
    rates = jnp.stack([b / tau, (1.0 - b) / tau])
    d = _NL * _NC
    rho0 = jnp.zeros((d, d), cd).at[0, 0].set(1.0)  # |g, n=0>

    def ham(om: jax.Array) -> jax.Array:
        return (om / 2.0).astype(cd) * jnp.asarray(_DRIVE, cd) - delta.astype(cd) * jnp.asarray(_DETUNE, cd)

    if method == "expm":
        rho_t = lindblad_evolve(rho0, ham(area / dur), jumps, dur, rates=rates)
    else:
        def h_t(t: jax.Array, a: tuple) -> jax.Array:
            ar, du = a
            return ham(_pulse_rabi(pulse_shape, t, ar, du))

        rho_t = lindblad_ode(rho0, h_t, jumps, dur, args=(area, dur), rates=rates, rtol=rtol, atol=atol)
    pops = jnp.real(jnp.diagonal(rho_t)).reshape(_NL, _NC)  # [level, n]
    pe = pops[_E]
    settled = pops[_G] + pops[_S] + (1.0 - b) * pe
    p1 = settled[1] + b * pe[0]
    p2 = settled[2] + b * (pe[1] + pe[2])
    return ExcitationEmission(p_emission=p1 + p2, p_second_photon=p2)


def multi_photon_probability(
    pulse_area_rad: Any, pulse_duration_ns: Any, lifetime_ns: Any, branching: Any = 1.0, **kwargs: Any
) -> jax.Array:
    """``P(second photon | first photon)`` of an excitation pulse: a physical value for the
    ``multi_photon_probability`` knob (see :func:`excitation_emission`, same arguments)."""
    out = excitation_emission(pulse_area_rad, pulse_duration_ns, lifetime_ns, branching, **kwargs)
    return out.p_second_photon / jnp.where(out.p_emission > 0, out.p_emission, 1.0)
