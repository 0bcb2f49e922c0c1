"""Time-resolved two-photon heralding with photons of different colours.

Model. Node ``X`` (``A`` or ``B``) holds ``(|0> + |1>)/sqrt2``; ion state ``|k>`` emits one
photon in encoding mode ``k`` with angular frequency ``w_Xk = 2 pi f_Xk`` and a common
temporal envelope ``xi(t)``. The two photons meet at the 50:50 beam splitter of
:mod:`ionjax.components.analyzers` (``a^dag -> (c^dag - d^dag)/sqrt2``,
``b^dag -> (c^dag + d^dag)/sqrt2``) and are detected at ``t_c`` (port ``c``) and ``t_d``
(port ``d``). The positive-frequency field at a detector is ``E(t) = sum_w e^{-i w t} a_w``
(times ``xi(t)``), so the amplitude of ion term ``|jk>`` (A in ``j``, B in ``k``) is
``<0| E_d(t_d) E_c(t_c) a^dag_{w_Aj} b^dag_{w_Bk} |0>``. Two detector kinds:

* colour-blind (the ``frequency`` encoding: ``c`` and ``d`` each watch both colours):
  ``amp_jk = [e^{-i(w_Aj t_c + w_Bk t_d)} - e^{-i(w_Aj t_d + w_Bk t_c)}] / 2``.
* mode-resolving (``polarization`` / ``time_bin``: the pattern ``c_0 + d_1``):
  only ``|01>`` (A's photon to ``c``) and ``|10>`` (A's photon to ``d``) contribute:
  ``amp_01 = e^{-i(w_A0 t_c + w_B1 t_d)} / 2``, ``amp_10 = -e^{-i(w_A1 t_d + w_B0 t_c)} / 2``.

Two consequences, both checked in the tests:

1. Frequency encoding with identical nodes (``f_A = f_B``): ``amp_10 = -amp_01`` and
   ``amp_00 = amp_11 = 0`` for every ``(t_c, t_d)``: the herald is exactly Psi-, whatever
   the detection times; the splitting ``df = f_1 - f_0`` only modulates the coincidence
   rate by ``sin^2(pi df (t_c - t_d))`` (the quantum beat). Detector timing jitter does
   not dephase this state.
2. Photons whose colours differ *between the nodes* by ``df = f_A - f_B`` (distinguishable
   memories, G. Vittorini et al., Phys. Rev. A 90, 040302(R) (2014)): with mode-resolving
   detection (polarization, time-bin) the herald is ``(|01> - e^{i phi}|10>)/sqrt2`` with
   ``phi = 2 pi df (t_c - t_d)`` (:func:`frequency_heralded_phase_rad`). The phase is known
   from the recorded times and is undone by a frame change, up to the timing jitter:
   :func:`frequency_phase_coherence` (``detection.time_resolved_correction``). With colour-blind
   detectors (the frequency encoding) the offset instead makes the same-colour terms
   distinguishable: they stop bunching, and the herald holds ``|00>``/``|11>`` weight
   ``sin^2(pi df (t_c - t_d))`` that no phase correction removes (a link computes both exactly,
   :mod:`ionjax.link.timing`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..core.state import complex_dtype
from ._validate import check_range

__all__ = ["frequency_heralded_phase_rad", "frequency_phase_coherence", "coincidence_amplitudes"]


def frequency_heralded_phase_rad(frequency_separation_hz: Any, t_a_ns: Any, t_b_ns: Any) -> jax.Array:
    """Phase ``phi = Delta_omega (t_a - t_b) = 2 pi df (t_a - t_b)`` of the heralded state (rad).

    The state heralded by detections at ``t_a`` (port ``c``) and ``t_b`` (port ``d``) of two
    photons whose frequencies differ by ``df`` is ``(|01> - e^{i phi}|10>)/sqrt2`` (module
    docstring). Times in ns, frequency in Hz; differentiable in all three.
    """
    check_range("frequency_separation_hz", frequency_separation_hz, fix="Give a finite frequency in Hz.")
    check_range("t_a_ns", t_a_ns)
    check_range("t_b_ns", t_b_ns)
    df = jnp.asarray(frequency_separation_hz)
    return 2.0 * jnp.pi * df * (jnp.asarray(t_a_ns) - jnp.asarray(t_b_ns)) * 1e-9


def frequency_phase_coherence(frequency_separation_hz: Any, timing_jitter_ps: Any) -> jax.Array:
    """Coherence ``exp(-(2 pi df)^2 sigma_t^2)`` left after correcting ``phi = 2 pi df (t_a - t_b)``.

    Derivation: each of the two detections reports its time with an independent Gaussian
    error of rms ``sigma_t`` (``timing_jitter_ps``), so the reported difference is off by
    ``e = e_a - e_b ~ N(0, 2 sigma_t^2)`` and the phase correction by ``2 pi df e``, a Gaussian
    of variance ``s^2 = 2 (2 pi df sigma_t)^2``. Averaging the residual ``e^{i 2 pi df e}`` over
    it, ``E[e^{i x}] = exp(-s^2 / 2)`` for ``x ~ N(0, s^2)``, multiplies the coherence of
    ``|01><10|`` by ``exp(-(2 pi df)^2 sigma_t^2)``.

    Args:
        frequency_separation_hz: ``df`` (Hz); only ``|df|`` matters.
        timing_jitter_ps: rms timing jitter of one detection, ``>= 0`` (ps).

    Returns:
        A JAX scalar (or the broadcast shape of the inputs) in ``(0, 1]``.
    """
    check_range("frequency_separation_hz", frequency_separation_hz, fix="Give a finite frequency in Hz.")
    check_range("timing_jitter_ps", timing_jitter_ps, 0.0, jnp.inf, fix="The rms jitter is a duration >= 0 in ps.")
    df = jnp.asarray(frequency_separation_hz)
    # photons of one frequency need no correction, whatever the jitter (inf included: no 0 x inf)
    sigma = jnp.where(df == 0.0, 0.0, jnp.asarray(timing_jitter_ps))
    x = 2.0 * jnp.pi * df * sigma * 1e-12
    return jnp.exp(-(x**2))


def coincidence_amplitudes(
    t_c_ns: Any,
    t_d_ns: Any,
    frequencies_a_hz: Any,
    frequencies_b_hz: Any,
    *,
    resolve_modes: bool = False,
) -> jax.Array:
    """Unnormalized two-ion ket heralded by a ``c`` click at ``t_c`` and a ``d`` click at ``t_d``.

    Args:
        t_c_ns, t_d_ns: detection times (ns).
        frequencies_a_hz, frequencies_b_hz: ``(2,)`` photon frequencies of ion states ``|0>``,
            ``|1>`` at each node (Hz, relative to any common reference: only differences matter).
        resolve_modes: False: colour-blind detectors (``frequency`` encoding); True: the
            detectors resolve the encoding mode and the pattern is ``c_0 + d_1``.

    Returns:
        ``(4,)`` complex amplitudes of ``|00>, |01>, |10>, |11>`` (A first), without the
        envelope factor ``xi(t_c) xi(t_d)`` and the ``1/2`` of the ions' superpositions;
        ``|amp|^2`` summed is the relative coincidence density (module docstring).
    """
    fa = jnp.asarray(frequencies_a_hz)
    fb = jnp.asarray(frequencies_b_hz)
    for name, f in (("frequencies_a_hz", fa), ("frequencies_b_hz", fb)):
        if f.shape != (2,):
            raise ValueError(f"Argument `{name}` must have shape (2,) (colours of |0> and |1>), got {f.shape}.")
    tc = jnp.asarray(t_c_ns) * 1e-9
    td = jnp.asarray(t_d_ns) * 1e-9
    cd = complex_dtype(jnp.result_type(fa.dtype, tc.dtype))
    wa, wb = 2.0 * jnp.pi * fa, 2.0 * jnp.pi * fb

    def ph(x: jax.Array) -> jax.Array:
        return jnp.exp(-1j * x.astype(cd))

    if resolve_modes:
        zero = jnp.zeros((), cd)
        a01 = ph(wa[0] * tc + wb[1] * td) / 2
        a10 = -ph(wa[1] * td + wb[0] * tc) / 2
        return jnp.stack([zero, a01, a10, zero])
    amps = [
        (ph(wa[j] * tc + wb[k] * td) - ph(wa[j] * td + wb[k] * tc)) / 2 for j in (0, 1) for k in (0, 1)
    ]
    return jnp.stack(amps)
