"""The fast path, compiled from the link's description (:func:`ionjax.link.program.node_program`) by composing
each element's amplitude rule; nothing here restates what an element does.

Everything between the sources and the detectors is passive linear optics with loss, so it is one transfer
matrix ``L`` from the two sources' modes to the output modes: ``L = D_eta . BS . (T_A (+) T_B)``, each node's
``T_X`` the product of its elements' rules (:data:`RULES`; complex amplitudes allowed). For such a channel
the probability generating function of the photons detected at each detector is exact and closed:

    E[prod_j z_j^{n_j}] = Tr[rho Gamma(K_0 + sum_j z_j K_j)],   K_j = L_j^dag L_j,  K_0 = 1 - L^dag L,

where ``L_j`` are the rows of the modes detector ``j`` watches and ``Gamma(X)`` acts on the ``N``-photon
states of the input modes as ``X`` on each photon: ``<n'|Gamma(X)|n> = per(X[n', n]) / sqrt(n! n'!)``
(Fock-state permanents; ``K_0`` is the lost photons). Each pattern's effect is then
``sum_k W_p(k) [z^k] Gamma(...)`` with the detector weights of :mod:`ionjax.link.weights` for detected
photons, and the heralded ion-ion blocks are contracted with the two sources' entries directly: the ion
indices are touched only there, and only the entries the sources can populate are ever formed.

Random phases common to a node's whole path (the single-photon phase noise, and the beam splitter's phase,
which is a phase ``e^{-i phi}`` on input ``b`` times an invisible phase on output ``d``) commute with every
passive linear element, so they act on the source entries as ``f(N - N')`` of their photon numbers.

All of it is written out at trace time on scalars (:mod:`ionjax.link.scalars`: structural zeros skipped,
constants folded, square roots of transmissions followed symbolically), so that under ``vmap`` XLA fuses the
whole computation, forward and backward, into a few elementwise loops.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import jax.numpy as jnp

from ..components.frequency import frequency_phase_coherence
from ..components.sources import PERP_SUFFIX
from ..elements import Loss, ModePhase, NumberDephasing, Split, UniformLoss, Unitary
from . import scalars as sc
from . import timing as timing_mod
from .program import analyzer, node_program, station_numbers, timing
from .scalars import Amp, Vars
from .weights import can_herald, detected_tables, pattern_weight

__all__ = ["compiled_patterns", "RULES", "NoRule", "supports"]


class NoRule(TypeError):
    """An element factor without an amplitude rule: the link falls back to a dense method."""


# ----------------------------------------------------------------------------- amplitude rules
# A node's transfer matrix: {output mode label: {input mode index: Amp}}; number factors act on the source.
def _rule_unitary(f: Unitary, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    u = jnp.asarray(f.u)
    e = [[u[r, c] for c in range(2)] for r in range(2)]
    out = dict(t)
    for suffix in ("", PERP_SUFFIX):
        h, v = modes[0] + suffix, modes[1] + suffix
        if h not in t:
            continue
        rows = [t[h], t[v]]
        for r, name in enumerate((h, v)):
            out[name] = _combine([(e[r][0], rows[0]), (e[r][1], rows[1])])
    return out


def _rule_loss(f: Loss, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    out = dict(t)
    for label, row in t.items():
        base = label[: -len(PERP_SUFFIX)] if label.endswith(PERP_SUFFIX) else label
        x = f.t_h if base == modes[0] else f.t_v
        out[label] = _scale(row, vars_.var(x))
    return out


def _rule_uniform(f: UniformLoss, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    s = vars_.var(f.t)
    return {label: _scale(row, s) for label, row in t.items()}


def _rule_phase(f: ModePhase, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    m = modes[f.mode]
    ph = jnp.exp(1j * jnp.asarray(f.phase))
    return {label: (_scale(row, Amp({(): ph})) if label in (m, m + PERP_SUFFIX) else row)
            for label, row in t.items()}


def _rule_split(f: Split, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    keep, away = vars_.var(f.overlap), vars_.var(1.0 - jnp.asarray(f.overlap))
    out = {}
    for label, row in t.items():
        out[label] = _scale(row, keep)
        out[label + PERP_SUFFIX] = _scale(row, away)
    return out


def _rule_number_dephasing(f: NumberDephasing, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    g = jnp.exp(-0.5 * jnp.asarray(f.rms_rad) ** 2)
    number.append(lambda dn: _power(g, dn * dn))
    return t


#: factor type -> amplitude rule ``(factor, T, modes, vars, number factors) -> T``.
RULES: dict = {Unitary: _rule_unitary, Loss: _rule_loss, UniformLoss: _rule_uniform, ModePhase: _rule_phase,
               Split: _rule_split, NumberDephasing: _rule_number_dephasing}


def _power(x: Any, n: int) -> Any:
    out: Any = 1.0
    for _ in range(n):
        out = sc.mul(out, x)
    return out


def _scale(row: dict, a: Amp) -> dict:
    return {i: v.times(a) for i, v in row.items()}


def _combine(pairs: list) -> dict:
    """``sum c * row`` over ``(c, row)`` (c a scalar)."""
    out: dict = {}
    for c, row in pairs:
        if c is None:
            continue
        for i, v in row.items():
            w = v.scale(c)
            out[i] = out[i].plus(w) if i in out else w
    return {i: v for i, v in out.items() if v}


def supports(link: Any) -> bool:
    """True if every element of the link has an amplitude rule (else :func:`compiled_patterns` raises NoRule).

    Decided from the structure alone (traced abstractly: no number is computed or checked)."""
    found: list = []

    def probe(lk: Any) -> Any:
        ok = True
        for which in ("a", "b"):
            prog = node_program(lk, which)
            for _, el in prog.elements:
                ok &= getattr(el, "rule", None) is not None or all(type(f) in RULES for f in el.factors_for(prog.modes))
        found.append(ok)
        return jnp.zeros(())

    import jax

    jax.eval_shape(probe, link)
    return found[0]


def _node_transfer(prog: Any, offset: int, vars_: Vars) -> tuple[dict, list]:
    t = {m: {offset + i: Amp.one()} for i, m in enumerate(prog.modes)}
    number: list = []
    for name, el in prog.elements:
        for f in el.factors_for(prog.modes):
            rule = RULES.get(type(f))
            if rule is None:
                raise NoRule(f"element {name!r} ({el.kind}): factor {type(f).__name__} has no amplitude rule")
            t = _apply_rule(el, f, rule, t, prog.modes, vars_, number)
    return t, number


def _apply_rule(el: Any, f: Any, rule: Any, t: dict, modes: tuple, vars_: Vars, number: list) -> dict:
    """Apply one factor of ``el``; an element may state its own rule (``el.rule``) instead of its factors'."""
    own = getattr(el, "rule", None)
    if own is not None:
        return own(f, t, modes, vars_, number)
    return rule(f, t, modes, vars_, number)


# ----------------------------------------------------------------------------- Gamma coefficients
# Each detected photon is kept as a label (detector a, node of its bra mode, node of its ket mode): its temporal
# factor (the density of its click time, or its gated overlap) is applied after the sum, when the causes of the
# clicks are known. A coefficient's key is (k, sig): k the detected counts per detector (clipped at cap), sig
# the sorted tuple of detected labels.
def _gamma_coefficients(rows: tuple, cols: tuple, k_opt: list, e_lost: list, node: Any, norm: float, useful: Any,
                        cap: int) -> dict:
    """``{(k, sig): coefficient}`` of ``<n'|Gamma(E_0 + sum_a z_a K_a)|n>`` (module docstring): ``rows``/``cols`` list
    the modes of ``n'``/``n`` with repetition; ``k_opt[a][r][c]`` (``a >= 1``) the optics of detector ``a`` without
    the temporal factor, ``e_lost[r][c]`` the single-photon effect of not being detected. Counts for which
    ``useful(k)`` is False are dropped as they appear, and each count is clipped at ``cap``."""
    n_det = len(k_opt) - 1
    out: dict = {}
    zero = ((0,) * n_det, ())
    for perm in itertools.permutations(range(len(rows))):
        poly = {zero: 1.0}
        for t, c in enumerate(cols):
            r = rows[perm[t]]
            new: dict = {}
            for a in range(n_det + 1):
                x = e_lost[r][c] if a == 0 else k_opt[a][r][c]
                if x is None:
                    continue
                for (k, sig), v in poly.items():
                    if a == 0:
                        key = (k, sig)
                    else:
                        kk = k[: a - 1] + (min(k[a - 1] + 1, cap),) + k[a:]
                        if not useful(kk):
                            continue
                        key = (kk, tuple(sorted(sig + ((a - 1, node(r), node(c)),))) if node else ())
                    new[key] = sc.add(new.get(key), sc.mul(v, x))
            poly = {k: v for k, v in new.items() if v is not None}
            if not poly:
                break
        for k, v in poly.items():
            out[k] = sc.add(out.get(k), sc.mul(v, norm))
    return {k: v for k, v in out.items() if v is not None}


def _mode_blocks(mats: list) -> list:
    """The input modes grouped into blocks that no matrix connects (e.g. the two time bins): ``Gamma`` of a
    block-diagonal matrix is the product of the blocks' ``Gamma``."""
    n = len(mats[0])
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for km in mats:
        for r in range(n):
            for c in range(n):
                if km[r][c] is not None:
                    parent[find(r)] = find(c)
    groups: dict = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [frozenset(g) for g in groups.values()]


def _gamma_blocks(rows: tuple, cols: tuple, blocks: list, memo: dict, k_opt: list, e_lost: list, node: Any,
                  useful: Any, cap: int) -> dict:
    """:func:`_gamma_coefficients` of ``(rows, cols)`` as the product over mode blocks (each block memoized)."""
    out: dict | None = None
    for b in blocks:
        rb, cb = tuple(r for r in rows if r in b), tuple(c for c in cols if c in b)
        if len(rb) != len(cb):
            return {}
        if not rb:
            continue
        if (rb, cb) not in memo:
            norm = 1.0 / math.sqrt(math.prod(math.factorial(rb.count(x)) for x in set(rb))
                                   * math.prod(math.factorial(cb.count(x)) for x in set(cb)))
            memo[(rb, cb)] = _gamma_coefficients(rb, cb, k_opt, e_lost, node, norm, useful, cap)
        part = memo[(rb, cb)]
        if out is None:
            out = dict(part)
            continue
        new: dict = {}
        for (k1, s1), v1 in out.items():
            for (k2, s2), v2 in part.items():
                k = tuple(min(x + y, cap) for x, y in zip(k1, k2))
                if useful(k):
                    key = (k, tuple(sorted(s1 + s2)))
                    new[key] = sc.add(new.get(key), sc.mul(v1, v2))
        out = {k: v for k, v in new.items() if v is not None}
    if out is None:  # no photons: <vac|Gamma|vac> = 1
        return {((0,) * (len(k_opt) - 1), ()): 1.0}
    return out


def _expand(occ: tuple, offset: int) -> tuple:
    return tuple(offset + i for i, n in enumerate(occ) for _ in range(n))


def compiled_patterns(link: Any) -> Any:
    """Each accepted pattern's unnormalized heralded ion-ion block ``(P, 4, 4)`` (ion A first; its trace is the
    pattern's probability per attempt), written out on scalars, before the Pauli-frame correction (which
    :func:`ionjax.link.simulate.evaluate` applies to every method's blocks alike)."""
    an = analyzer(link.protocol, link.encoding)
    vars_ = Vars()
    # time-resolved acceptance (a coincidence window, the phase correction): each detected photon keeps the label of
    # its temporal mode until the clicks' causes are known (:class:`_ClickWeights`); otherwise the gate is folded
    # into the optics (the gate acceptance and the gated overlap: exact for time-integrating detection)
    det = link.detection
    resolved = det.time_resolved_correction or det.coincidence_filter or det.dead_time_filter
    prog_a, prog_b = node_program(link, "a", timed=resolved), node_program(link, "b", timed=resolved)
    m = len(prog_a.modes)
    t_a, num_a = _node_transfer(prog_a, 0, vars_)
    t_b, num_b = _node_transfer(prog_b, m, vars_)
    st = station_numbers(link)
    tm = timing(link)
    # the beam splitter's phase: e^{-i phi} per photon on input b (its e^{i phi} on output d is not seen)
    phi = jnp.asarray(st.phase_rad)
    num_b = num_b + [lambda dn: _power(jnp.exp(-1j * phi) if dn > 0 else jnp.exp(1j * phi), abs(dn))]
    t_bs, r_bs = vars_.var(1.0 - jnp.asarray(st.reflectivity)), vars_.var(st.reflectivity)
    minus_r = r_bs.scale(-1.0)
    labels = list(dict.fromkeys([*t_a, *t_b]))
    out_rows: dict = {}
    for lab in labels:
        ra, rb = t_a.get(lab, {}), t_b.get(lab, {})
        out_rows["c_" + lab] = _sum_rows(_scale(ra, t_bs), _scale(rb, r_bs))
        out_rows["d_" + lab] = _sum_rows(_scale(ra, minus_r), _scale(rb, t_bs))
    n_in = 2 * m
    k_opt: list = [None]  # k_opt[j + 1][r][c] = (L_j^dag L_j)[r][c]: detector j's optics, no temporal factor
    for j, (_, watched) in enumerate(an.detectors):
        eta = vars_.var(st.efficiency[j])
        rows = [_scale(out_rows[o + s], eta) for o in watched for s in ("", PERP_SUFFIX) if o + s in out_rows]
        kj = [[None] * n_in for _ in range(n_in)]
        for r in range(n_in):
            for c in range(r, n_in):
                acc = None
                for row in rows:
                    if r in row and c in row:
                        term = row[r].conj().times(row[c])
                        acc = term if acc is None else acc.plus(term)
                v = acc.value(vars_) if acc is not None else None
                if r == c:
                    v = _re(v)  # |L_or|^2 summed: real
                kj[r][c] = v
                kj[c][r] = sc.conj(v) if r != c else v
        k_opt.append(kj)
    n_det = len(an.detectors)

    # temporal modes: input mode r belongs to node(r); a photon's click-time density at the detector is
    # f_{node(r') node(r)} (bra r', ket r), and its gated overlap G is that density's integral over the gate
    def node(r: int) -> int:
        return 0 if r < m else 1

    if resolved:
        dens = [[timing_mod.photon_density(tm.rates[x], tm.omegas[x], tm.delays[x], tm.rates[y], tm.omegas[y],
                                           tm.delays[y], tm.start, tm.end) for y in (0, 1)] for x in (0, 1)]
        gram = [[timing_mod.gram(dens[x][y], tm.end) for y in (0, 1)] for x in (0, 1)]
    else:  # already in the optics
        dens, gram = None, [[1.0, 1.0], [1.0, 1.0]]
    e_det = [None] + [[[sc.mul(kj[r][c], gram[node(r)][node(c)]) for c in range(n_in)] for r in range(n_in)]
                      for kj in k_opt[1:]]
    e_lost = [[sc.add(1.0 if r == c else None, *[sc.mul(-1.0, e_det[a][r][c]) for a in range(1, n_det + 1)])
               for c in range(n_in)] for r in range(n_in)]

    # second photons: node X's is maximally mixed over X's modes and does not interfere; reaching detector j in
    # the gate with probability q Tr[E_j^XX] / m (q Tr[K_j^XX] / m times its density f_XX as a click's cause)
    def noise_optics(x: int) -> list:
        off = x * m
        return [sc.mul(st.multi_photon[x] / m, sc.add(*[k_opt[a][off + i][off + i] for i in range(m)]))
                for a in range(1, n_det + 1)]

    noise_k = [noise_optics(0), noise_optics(1)]
    noise_p = [[sc.mul(v, gram[x][x]) for v in noise_k[x]] for x in (0, 1)]
    noise_none = [sc.add(1.0, *[sc.mul(-1.0, v) for v in noise_p[x]]) for x in (0, 1)]

    kind = link.detection.kind
    cap = 1 if kind == "threshold" else 2  # a threshold detector fires alike for 1 and more photons
    fire = [tuple(d in p[1] for d in an.detector_names) for p in an.patterns]
    useful_memo: dict = {}

    def useful(k: tuple) -> bool:
        if k not in useful_memo:
            useful_memo[k] = can_herald(kind, fire, k)
        return useful_memo[k]

    # source entries after the ion's channels, with the number factors
    ent_a = _entries(prog_a, num_a)
    ent_b = _entries(prog_b, num_b)

    # S[(ik),(jl)][(k, sig)] = sum rho_A rho_B [z^k] <nA' nB'|Gamma|nA nB>, upper triangle (r <= c) only
    blocks = _mode_blocks([*k_opt[1:], e_lost])
    block_memo: dict = {}
    gamma_memo: dict = {}
    s_acc: dict = {}
    for ((i, oa), (j, oa2)), va in ent_a.items():
        for ((k, ob), (l, ob2)), vb in ent_b.items():
            r, c = 2 * i + k, 2 * j + l
            if r > c:
                continue
            if sum(oa) + sum(ob) != sum(oa2) + sum(ob2):
                continue
            key = (oa + ob, oa2 + ob2)
            if key not in gamma_memo:
                gamma_memo[key] = _gamma_blocks(_expand(oa2 + ob2, 0), _expand(oa + ob, 0), blocks, block_memo,
                                                k_opt if resolved else e_det, e_lost, node if resolved else None,
                                                useful, cap)
            coef = sc.mul(va, vb)
            if coef is None:
                continue
            acc = s_acc.setdefault((r, c), {})
            for kv, g in gamma_memo[key].items():
                acc[kv] = sc.add(acc.get(kv), sc.mul(coef, g))

    if resolved:
        weigh = _ClickWeights(link, an, st, tm, dens, gram, noise_k, noise_p, noise_none, kind)
    else:
        table = detected_tables(kind, st.mean_dark)
        r_x = [[noise_none[x], *noise_p[x]] for x in (0, 1)]
        product = [pattern_weight(f, table, r_x[0], r_x[1]) for f in fire]

        def weigh(fired: list, kv: tuple, da: int) -> Any:
            return product[fire.index(tuple(d in fired for d in range(n_det)))](kv[0])
    real = jnp.result_type(link.node_a.collection_efficiency)
    zero = jnp.zeros((), real)
    cd = (zero + 0j).dtype
    blocks_out = []
    for p in range(len(an.patterns)):
        fired = [d for d in range(n_det) if fire[p][d]]
        out = {}
        for (r, c), acc in s_acc.items():
            da = r // 2 - c // 2  # ion A's bit, ket minus bra
            out[(r, c)] = sc.add(*[sc.mul(weigh(fired, kv, da), x) for kv, x in acc.items()])
        mat = []
        for r in range(4):
            row = []
            for c in range(4):
                v = out.get((r, c)) if r <= c else sc.conj(out.get((c, r)))
                if v is not None and r == c:
                    v = _re(v)  # a diagonal entry is a probability: real
                row.append(jnp.asarray(zero if v is None else v).astype(cd))
            mat.append(jnp.stack(row))
        blocks_out.append(jnp.stack(mat))
    return jnp.stack(blocks_out)


class _ClickWeights:
    """``(fired detectors, (k, sig), Delta_a) -> weight``: the probability that the fired detectors fire, within the
    accepted click times, and every other detector stays dark, given the detected main photons ``(k, sig)``.

    Each fired detector's click has one cause (:mod:`ionjax.link.timing`): the first of its detected photons in
    ``sig`` order (the others contribute their gated overlap), else a second photon (``multi_photon``), else a
    dark count. Two causes' times are integrated exactly over the gate, the coincidence window and (under the
    correction) the phase ``exp(-i (w_a - w_b) Delta_a (t_1 - t_2))``, ``t_1`` at the detector that watches
    mode 0, with the jitter's residual ``exp(-((w_a - w_b) sigma)^2 Delta_a^2)``. This is exact whenever each
    fired detector receives one particle (and for every event without a coincidence window or correction); when
    a threshold detector receives several (a photon and a dark count, two photons), its click time is taken as
    the cause's, not the earliest arrival's.

    Dead time (time_bin): a pattern that fires one physical detector in both bins (``c_early+c_late``,
    ``d_early+d_late``) has its clicks at ``t_1`` and ``Delta + t_2`` (``Delta`` the bins' spacing, each time from
    its bin's nominal emission); whichever comes first leaves the detector blind for ``tau_dead``, so the pattern
    keeps only ``|Delta + t_2 - t_1| >= tau_dead``: the coincidence band minus the band
    ``Delta - tau_dead < t_1 - t_2 < Delta + tau_dead`` (both integrated exactly; nothing is removed at
    ``tau_dead = 0``, and for gates shorter than ``Delta - tau_dead`` the dead time has no effect). A
    detector left blind by a click also misses the extra clicks that would have vetoed a pattern; that changes
    a pattern's weight only through a third cause (a dark count or second photon on top of both clicks), which
    is not modelled.
    """

    def __init__(self, link: Any, an: Any, st: Any, tm: Any, dens: list, gram: list, noise_k: list, noise_p: list,
                 noise_none: list, kind: str) -> None:
        self.kind, self.tm, self.dens, self.gram = kind, tm, dens, gram
        self.noise_k, self.noise_p, self.noise_none = noise_k, noise_p, noise_none
        self.n_det = len(an.detectors)
        self.no_dark = [jnp.exp(-mu) for mu in st.mean_dark]
        self.dark = [timing_mod.dark_density(mu / tm.window, tm.start, tm.window, kind) for mu in st.mean_dark]
        self.dark_p = [timing_mod.gate_integral(d, tm.end) for d in self.dark]
        self.watches0 = [any(o.endswith("_" + an.modes[0]) for o in w) for _, w in an.detectors]
        self.delta = tm.omegas[0] - tm.omegas[1]
        # the bands on t_1 - t_2: the coincidence window, and (one physical detector in both bins; time_bin
        # detector names "<port>_<bin>") the part of it its dead time removes
        self.dead_time = link.detection.dead_time_filter and link.encoding == "time_bin"
        self.port = [name.split("_")[0] for name, _ in an.detectors]
        # (as [-T_c, Delta + tau] minus [-T_c, Delta - tau]: no degenerate band, so the derivative in tau at
        # tau = 0 is the one-sided one)
        t_c = tm.coincidence
        self.bands = {"window": (-t_c, t_c)}
        if self.dead_time:
            self.bands["dead_hi"] = (-t_c, jnp.minimum(t_c, tm.bin_spacing + tm.dead_time))
            self.bands["dead_lo"] = (-t_c, jnp.maximum(-t_c, tm.bin_spacing - tm.dead_time))
        self.memo: dict = {}  # (fired, (k, sig), da) -> weight
        self.coeff_memo: dict = {}  # (fired, (k, sig)) -> {causes: weight}
        self.tf_memo: dict = {}  # (oriented causes, da) -> time factor
        self._batch()

    def _batch(self) -> None:
        """Every two-click integral a pattern can need, in one vectorized :func:`band_integral` (the densities'
        numbers stacked; a dark cause always the outer variable)."""
        causes = ([("photon", (x, y)) for x in (0, 1) for y in (0, 1)] + [("noise", (x, x)) for x in (0, 1)]
                  + [("dark", j) for j in range(self.n_det)])
        das = (-1, 0, 1) if self.tm.correction else (0,)
        keys, cols = [], []
        for c1 in causes:
            for c2 in causes:
                if c1[0] == "dark" and c2[0] == "dark":
                    continue
                for da in das:
                    for band, (lo, hi) in self.bands.items():
                        d1, d2, sgn = self._density(c1), self._density(c2), 1.0
                        if not d2.safe:  # the band on t_2 - t_1 is [-hi, -lo]
                            d1, d2, sgn, lo, hi = d2, d1, -1.0, -hi, -lo
                        keys.append(((c1, c2), da, band))
                        cols.append((d1, d2, sgn * da, lo, hi))
        tm = self.tm

        def stack(xs: list) -> Any:
            return jnp.stack([jnp.asarray(x) for x in xs])

        d1 = timing_mod.Density(*[stack([c[0][i] for c in cols]) for i in range(3)], False)
        d2 = timing_mod.Density(*[stack([c[1][i] for c in cols]) for i in range(3)], True)
        kappa = self.delta * jnp.asarray([c[2] for c in cols], dtype=float) if tm.correction else 0.0
        values = timing_mod.band_integral(d1, d2, tm.end, stack([c[3] for c in cols]), stack([c[4] for c in cols]),
                                          kappa)
        self.batch = {k: values[i] for i, k in enumerate(keys)}

    def __call__(self, fired: list, kv: tuple, da: int) -> Any:
        da = da if self.tm.correction else 0
        key = (tuple(fired), kv, da)
        if key not in self.memo:
            coeffs = self._coefficients(tuple(fired), kv)
            self.memo[key] = sc.add(*[sc.mul(w, self._time_factor(fired, list(causes), da))
                                      for causes, w in coeffs.items()])
        return self.memo[key]

    def _coefficients(self, fired: tuple, kv: tuple) -> dict:
        """``{causes: weight}`` (without the time factor), summed over where the second photons went."""
        key = (fired, kv)
        if key in self.coeff_memo:
            return self.coeff_memo[key]
        k, sig = kv
        out: dict = {}
        if not any(k[j] for j in range(self.n_det) if j not in fired):
            by_det: dict = {}
            for a, x, y in sig:
                by_det.setdefault(a, []).append((x, y))
            dark_rest: Any = 1.0
            for j in range(self.n_det):
                if j not in fired:
                    dark_rest = sc.mul(dark_rest, self.no_dark[j])
            dests = (-1, *fired)
            for d_a in dests:
                for d_b in dests:
                    got = self._placement(fired, by_det, (d_a, d_b))
                    if got is not None:
                        causes, w = got
                        out[causes] = sc.add(out.get(causes), sc.mul(w, dark_rest))
        self.coeff_memo[key] = {c: w for c, w in out.items() if w is not None}
        return self.coeff_memo[key]

    def _placement(self, fired: tuple, by_det: dict, dests: tuple) -> tuple | None:
        """``(causes, weight)`` with node X's second photon at detector ``dests[X]`` (-1: none; else a fired one)."""
        w: Any = 1.0
        for x, d in enumerate(dests):
            if d < 0:
                w = sc.mul(w, self.noise_none[x])
        causes = []
        for j in fired:
            noise_here = [x for x, d in enumerate(dests) if d == j]
            photons = by_det.get(j, [])
            if self.kind == "pnr":
                if len(photons) + len(noise_here) > 1:
                    return None
                if photons or noise_here:
                    w = sc.mul(w, self.no_dark[j])
            if photons:
                for x, y in photons[1:]:
                    w = sc.mul(w, self.gram[x][y])
                for x in noise_here:
                    w = sc.mul(w, self.noise_p[x][j])
                causes.append(("photon", photons[0]))
            elif noise_here:
                w = sc.mul(w, self.noise_k[noise_here[0]][j])
                for x in noise_here[1:]:
                    w = sc.mul(w, self.noise_p[x][j])
                causes.append(("noise", (noise_here[0], noise_here[0])))
            else:
                causes.append(("dark", j))
            if w is None:
                return None
        return tuple(causes), w

    def _density(self, cause: tuple) -> Any:
        what, lab = cause
        if what == "dark":
            return self.dark[lab]
        return self.dens[lab[0]][lab[1]]

    def _time_factor(self, fired: list, causes: list, da: int) -> Any:
        pairs = sorted(zip(fired, causes), key=lambda jc: not self.watches0[jc[0]])  # t_1: mode 0's detector
        dead = self.dead_time and len(fired) == 2 and self.port[fired[0]] == self.port[fired[1]]
        key = (tuple(c for _, c in pairs), da, dead)
        if key in self.tf_memo:
            return self.tf_memo[key]
        tm = self.tm
        if len(causes) == 1:
            what, lab = causes[0]
            out = self.dark_p[lab] if what == "dark" else self.gram[lab[0]][lab[1]]
        else:
            (_, c1), (_, c2) = pairs
            kappa = self.delta * da if tm.correction else 0.0
            bands = ("window", "dead_hi", "dead_lo") if dead else ("window",)
            if c1[0] == "dark" and c2[0] == "dark":
                vals = [timing_mod.uniform_pair_fraction(tm.window, *self.bands[b], kappa) for b in bands]
            else:
                vals = [self.batch[((c1, c2), da, b)] for b in bands]
            out = vals[0] if not dead else vals[0] - vals[1] + vals[2]
            if c1[0] == "dark" and c2[0] == "dark":
                out = sc.mul(sc.mul(self.dark_p[c1[1]], self.dark_p[c2[1]]), out)
            if tm.correction and da:  # the correction's residual from the jitter
                out = out * frequency_phase_coherence(self.delta * 1e9 / (2.0 * jnp.pi), tm.jitter_ps)
        self.tf_memo[key] = out
        return out


def _re(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, complex):
        return x.real
    return jnp.real(x) if sc.is_complex(x) else x


def _sum_rows(a: dict, b: dict) -> dict:
    out = dict(a)
    for i, v in b.items():
        out[i] = out[i].plus(v) if i in out else v
    return {i: v for i, v in out.items() if v}


def _entries(prog: Any, number: list) -> dict:
    out = {}
    for ((i, o1), (j, o2)), v in prog.ion_entries().items():
        dn = sum(o1) - sum(o2)
        if dn:
            for f in number:
                v = sc.mul(v, f(dn))
        if v is not None:
            out[((i, o1), (j, o2))] = v
    return out
