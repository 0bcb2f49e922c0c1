"""Exponential photon wavepackets, gated detection, and the overlap of two photons inside the gate.

Node ``x``'s photon arrives at the station in the temporal mode (DESIGN.md, "Physics of the photon")

    xi_x(t) = sqrt(G_x) exp(-G_x (t - d_x) / 2 - i w_x t)   for t >= d_x (0 before),

``G_x = 1 / photon_lifetime_ns``, ``w_x = 2 pi photon_frequency_offset_mhz`` (rad/us = 1e-3 rad/ns) and
``d_x = arrival_delay_ns``; times in ns from the nominal emission. Detectors are gated: only clicks in
``[s, s + W]`` (``window_start_ns``, ``window_ns``) count; a photon arriving outside the gate is not detected.

A gated, time-integrating detector sees a photon only through the Gram matrix of the two wavepackets inside
the gate, ``g_xy = int_gate xi_x^* xi_y dt``:

* ``g_xx`` is node ``x``'s gate acceptance (the old ``1 - exp(-W/tau)`` for ``s = d = 0``);
* the photons interfere as if node B's photon were split into node A's gated mode, with overlap
  ``M_t = |g_ab|^2 / (g_aa g_bb)``, and an orthogonal part (:func:`gated_overlap`). This reproduces every
  single-photon effect ``K_j g_{n(r) n(c)}`` exactly, so it is exact for any number of photons and clicks.

Closed forms (``l = max(s, d_a, d_b)``, ``w = max(s + W - l, 0)``, ``k = (G_a + G_b)/2``,
``delta = w_a - w_b``):

    |g_ab|^2 = G_a G_b exp(-G_a (l - d_a) - G_b (l - d_b)) [expm1(-k w)^2 + 4 e^{-k w} sin^2(delta w / 2)]
               / (k^2 + delta^2),
    g_xx = exp(-G_x (l_x - d_x)) (1 - exp(-G_x w_x)),   l_x = max(s, d_x),

with the whole-wavepacket limits (``s <= d``, ``W -> inf``) ``4 tau_a tau_b / (tau_a + tau_b)^2`` for two
lifetimes, ``1 / (1 + (2 pi df tau)^2)`` for an offset and ``exp(-d / tau)`` for a delay (all exact).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Wavepacket", "angular_frequency_rad_per_ns", "gate_acceptance", "gated_overlap", "MAX_LIFETIMES"]

#: beyond this many lifetimes a gate holds the whole tail to every precision; spans are clipped there (with the
#: gradient stopped) so that ``span / tau^2`` in a derivative cannot overflow against ``exp(-span/tau) = 0``.
MAX_LIFETIMES = 100.0


class Wavepacket(NamedTuple):
    """One photon's temporal mode: ``lifetime_ns`` (> 0), ``offset_mhz`` (frequency minus nominal, MHz),
    ``delay_ns`` (arrival delay at the station, ns). Fields may be JAX scalars (traced)."""

    lifetime_ns: Any
    offset_mhz: Any = 0.0
    delay_ns: Any = 0.0


def angular_frequency_rad_per_ns(offset_mhz: Any) -> jax.Array:
    """``2 pi f`` in rad/ns for ``f`` in MHz."""
    return 2.0 * jnp.pi * 1e-3 * jnp.asarray(offset_mhz)


def _span(lo: Any, hi: Any, rate: Any) -> jax.Array:
    """``max(hi - lo, 0)``, clipped at :data:`MAX_LIFETIMES` / ``rate`` (gradient stopped there)."""
    w = jnp.maximum(hi - lo, 0.0)
    cap = MAX_LIFETIMES / rate
    far = w >= cap
    return jnp.where(far, jax.lax.stop_gradient(jnp.minimum(w, cap)), w)


def gate_acceptance(x: Wavepacket, start_ns: Any, window_ns: Any) -> jax.Array:
    """``g_xx``: the probability that the photon ``x`` arrives inside the gate ``[start, start + window]``."""
    g = 1.0 / jnp.asarray(x.lifetime_ns)
    lo = jnp.maximum(start_ns, x.delay_ns)
    return jnp.exp(-g * (lo - x.delay_ns)) * -jnp.expm1(-g * _span(lo, start_ns + window_ns, g))


def gated_overlap(a: Wavepacket, b: Wavepacket, start_ns: Any, window_ns: Any) -> jax.Array:
    """``M_t = |g_ab|^2 / (g_aa g_bb)`` in ``[0, 1]`` (module docstring); 1 where a photon never enters the gate
    (nothing is then detected from it, so its overlap does not matter)."""
    ga, gb = 1.0 / jnp.asarray(a.lifetime_ns), 1.0 / jnp.asarray(b.lifetime_ns)
    delta = angular_frequency_rad_per_ns(a.offset_mhz) - angular_frequency_rad_per_ns(b.offset_mhz)
    end = start_ns + window_ns
    la, lb = jnp.maximum(start_ns, a.delay_ns), jnp.maximum(start_ns, b.delay_ns)
    lab = jnp.maximum(la, lb)
    k = 0.5 * (ga + gb)
    w = _span(lab, end, jnp.minimum(ga, gb))
    e = jnp.exp(-k * w)
    shape = jnp.expm1(-k * w) ** 2 + 4.0 * e * jnp.sin(0.5 * delta * w) ** 2
    den = -jnp.expm1(-ga * _span(la, end, ga)) * -jnp.expm1(-gb * _span(lb, end, gb))
    # the start factors exp(-G_x (l - d_x)) of g_ab over those of g_xx: exp(-G_a (l - l_a) - G_b (l - l_b))
    start = jnp.exp(-ga * (lab - la) - gb * (lab - lb))
    ok = den > 0.0
    # G_a G_b / (k^2 + delta^2) as (G_a/k)(G_b/k) / (1 + (delta/k)^2): no tiny k^2 (lifetimes ~1e9 ns in float32)
    q = delta / k
    ratio = (ga / k) * (gb / k) * shape * start / ((1.0 + q * q) * jnp.where(ok, den, 1.0))
    return jnp.where(ok, jnp.minimum(ratio, 1.0), 1.0)
