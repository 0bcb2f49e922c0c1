"""An independent dense implementation of every heralded-link protocol, checked against ``ij.simulate``.

Nothing of ionjax's physics is used here: ionjax only supplies the Link numbers and the
result under test. The reference below is written with numpy/scipy from the physical
model stated in ``ionjax/protocols/heralded.py`` and DESIGN.md:

* every subsystem is explicit: ``ion_a (x) ion_b (x)`` one axis per photonic mode with a
  per-mode Fock cutoff (occupations ``0 .. d-1``);
* operators are ordinary matrices on the subsystems they touch, applied to the joint
  tensor by contraction (a whole-space Kronecker matrix would be ``5184 x 5184`` complex
  for the two-photon links: the same numbers, 430 MB);
* a mixed state is an ensemble of unnormalised kets, one per Kraus branch (Z errors and
  memory dephasing on the ions, loss Kraus operators on every mode, Gauss-Hermite
  quadrature over a Gaussian optical phase); the heralded ion state of a pattern is
  ``sum_branches Tr_ph[E psi psi^dag]``;
* the 50:50 beam splitters and the mode-mismatch splitter are ``expm`` of the two-mode
  generator ``a^dag b - a b^dag`` on the cutoff space;
* detectors are diagonal: ``P(outcome | n)`` evaluated on the photon number each detector
  sees (its encoding mode plus the internal-mode copy), multiplied detector by detector;
* the multi-photon noise photon of node X (probability ``multi_photon_probability x path
  transmission``, in its own non-interfering wavepacket, reaching each detector with
  equal probability) is the classical mixture over where it went (exact: it is
  orthogonal to every other photon, so it only adds one to a detector's count).

Smallest exact construction (per-mode cutoff ``d`` is exact for a pair unitary as long as
the pair holds fewer than ``d`` photons, because the truncated generator conserves the
pair's photon number and is exact on the blocks of total number ``< d``):

* each node emits at most one photon per encoding mode (time-bin with a pulse error:
  ``|E L>``, still one per mode), so node-level modes have cutoff 2;
* encoding-mode outputs ``c_m, d_m`` receive up to one photon from each node (HOM
  bunching): cutoff 3;
* node B's photon is split into the reference wavepacket (shared with A) and an
  orthogonal internal mode ``m_perp``; A's photon *is* the reference, so A's internal
  modes stay in vacuum: the internal-mode outputs hold at most one photon, cutoff 2;
* two-photon links: ions 2 x 2, four encoding modes at 3, four internal modes at 2 ->
  ``4 x 81 x 16 = 5184`` amplitudes per ket; single-photon: ``4 x 9 x 4 = 144``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.linalg import expm

import ionjax as ij

SPEED_KM_PER_S = 2.0e5
I2 = np.eye(2)
Z2 = np.diag([1.0, -1.0])
X2 = np.array([[0.0, 1.0], [1.0, 0.0]])
BELL = {
    "psi+": np.array([0, 1, 1, 0]) / np.sqrt(2),
    "psi-": np.array([0, 1, -1, 0]) / np.sqrt(2),
}

# encoding -> (modes, detectors {name: output modes watched}, patterns [(name, firing detectors, target)])
ANALYZERS = {
    "polarization": (("h", "v"), None, None),
    "time_bin": (("early", "late"), None, None),
    "frequency": (("f0", "f1"), {"c": ("c_f0", "c_f1"), "d": ("d_f0", "d_f1")}, [("c+d", ("c", "d"), "psi-")]),
    "single_photon": (("x",), {"c": ("c_x",), "d": ("d_x",)}, [("c", ("c",), "psi+"), ("d", ("d",), "psi-")]),
}


def _analyzer(encoding):
    modes, dets, pats = ANALYZERS[encoding]
    if dets is None:  # polarization / time-bin: one detector per output mode
        m0, m1 = modes
        dets = {f"{p}_{m}": (f"{p}_{m}",) for p in "cd" for m in modes}
        pats = [
            (f"c_{m0}+c_{m1}", (f"c_{m0}", f"c_{m1}"), "psi+"),
            (f"d_{m0}+d_{m1}", (f"d_{m0}", f"d_{m1}"), "psi+"),
            (f"c_{m0}+d_{m1}", (f"c_{m0}", f"d_{m1}"), "psi-"),
            (f"c_{m1}+d_{m0}", (f"c_{m1}", f"d_{m0}"), "psi-"),
        ]
    return modes, dets, pats


# ----------------------------------------------------------------------------- operators
def annihilation(d):
    return np.diag(np.sqrt(np.arange(1.0, d)), 1)


def pair_rotation(d1, d2, theta):
    """``expm(theta (a^dag b - a b^dag))`` on modes (a, b) with cutoffs (d1, d2).

    In the Heisenberg picture ``a^dag -> cos(theta) a^dag - sin(theta) b^dag`` and
    ``b^dag -> sin(theta) a^dag + cos(theta) b^dag``; theta = pi/4 is the 50:50 beam splitter
    of the library's convention, with output c at a's place and d at b's.
    """
    a = np.kron(annihilation(d1), np.eye(d2))
    b = np.kron(np.eye(d1), annihilation(d2))
    return expm(theta * (a.T @ b - a @ b.T))


def loss_kraus(d, eta):
    """Kraus operators of pure loss (transmission eta) on one mode with cutoff d."""
    ops = []
    for k in range(d):
        a_k = np.zeros((d, d))
        for n in range(k, d):
            a_k[n - k, n] = math.sqrt(math.comb(n, k) * eta ** (n - k) * (1.0 - eta) ** k)
        ops.append(a_k)
    return ops


def z_error_kraus(p):
    return [math.sqrt(1.0 - p) * I2, math.sqrt(p) * Z2]


def apply_local(ket, op, axes):
    """Apply the matrix ``op`` (on the subsystems ``axes``, first one slowest) to a ket tensor."""
    axes = list(axes)
    t = np.moveaxis(ket, axes, list(range(len(axes))))
    shape = t.shape
    t = (op @ t.reshape(op.shape[1], -1)).reshape(shape)
    return np.moveaxis(t, list(range(len(axes))), axes)


def branch(kets, kraus, axes):
    out = []
    for ket in kets:
        for k in kraus:
            new = apply_local(ket, k, axes)
            if np.any(new != 0):
                out.append(new)
    return out


def gauss_hermite_phases(rms, n=40):
    """Nodes and weights of the Gaussian average over a phase with standard deviation ``rms``."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return np.sqrt(2.0) * rms * x, w / np.sqrt(np.pi)


# ----------------------------------------------------------------------------- link numbers
def _numbers(link):
    return {k: float(link.get(k)) for k in link.numeric_keys()}


def _xi(v, node, t):
    """Node's wavepacket sqrt(G) exp(-G (t - d)/2 - i 2 pi f t) (t >= d), t in ns, f in MHz."""
    g = 1.0 / v[f"{node}.photon_lifetime_ns"]
    d = v[f"{node}.arrival_delay_ns"]
    w = 2 * np.pi * 1e-3 * v[f"{node}.photon_frequency_offset_mhz"]
    return np.where(t >= d, np.sqrt(g) * np.exp(-g * (t - d) / 2 - 1j * w * t), 0.0)


def _gate_integral(v, f):
    """int over the gate [window_start, window_start + window] of f(t), by adaptive quadrature from each kink."""
    s = v["detection.window_start_ns"]
    e = s + v["detection.window_ns"]
    kinks = sorted({s, e, *[min(max(v[f"{n}.arrival_delay_ns"], s), e) for n in ("node_a", "node_b")]})
    out = 0j
    for lo, hi in zip(kinks[:-1], kinks[1:]):
        for part in (np.real, np.imag):
            out += (1j if part is np.imag else 1.0) * integrate.quad(lambda t, part=part: part(f(t)), lo, hi, limit=400,
                                                                       epsabs=1e-14, epsrel=1e-12)[0]
    return out


def gated_overlap(v):
    """|g_ab|^2 / (g_aa g_bb): the two wavepackets' overlap inside the gate, numerically."""
    g = {(x, y): _gate_integral(v, lambda t, x=x, y=y: np.conj(_xi(v, x, t)) * _xi(v, y, t))
         for x in ("node_a", "node_b") for y in ("node_a", "node_b")}
    return abs(g["node_a", "node_b"]) ** 2 / (g["node_a", "node_a"].real * g["node_b", "node_b"].real)


def path_transmission(v, node, protocol):
    eta = (
        v[f"{node}.collection_efficiency"]
        * 10.0 ** (-v[f"{node}.fiber_attenuation_db_per_km"] * v[f"{node}.fiber_length_km"] / 10.0)
        * _gate_integral(v, lambda t: abs(_xi(v, node, t)) ** 2).real
    )
    if protocol == "two_photon":
        eta *= v[f"{node}.excitation_probability"]
    return eta


def memory_coherence(v, node):
    wait_s = 2.0 * v[f"{node}.fiber_length_km"] / SPEED_KM_PER_S
    return math.exp(-wait_s / v[f"{node}.qubit_t2_s"])


def detector_tables(kind, efficiency, mean_dark, n_max):
    """``(P(quiet | n), P(fire | n))`` for n = 0..n_max photons at one detector.

    From the mean dark count ``mu = R W`` (Poisson, ``P(none) = exp(-mu)``), with scipy's Poisson law, so
    that the reference holds for any dark-count rate (``1 - exp(-mu)`` rounds to 1 above ``mu ~ 37``).
    """
    n = np.arange(n_max + 1)
    if kind == "threshold":
        quiet = math.exp(-mean_dark) * (1.0 - efficiency) ** n
        return quiet, 1.0 - quiet

    def p_counts(k):
        out = np.zeros(n_max + 1)
        for nn in n:
            for i in range(min(nn, k) + 1):  # i detected photons, k - i dark counts
                out[nn] += (math.comb(int(nn), i) * efficiency**i * (1.0 - efficiency) ** (nn - i)
                            * stats.poisson.pmf(k - i, mean_dark))
        return out

    return p_counts(0), p_counts(1)  # a firing PNR detector registers exactly one count


# ----------------------------------------------------------------------------- node states
def node_kets(link, v, node, modes):
    """Ensemble of kets of one node: axes ``[ion, m..]`` (A) or ``[ion, m.., m_perp..]`` (B), cutoff 2."""
    k = len(modes)
    protocol = link.protocol
    if protocol == "single_photon":
        p = v[f"{node}.excitation_probability"]
        ket = np.zeros((2, 2), complex)
        ket[0, 0], ket[1, 1] = math.sqrt(1.0 - p), math.sqrt(p)
    elif link.encoding == "time_bin":
        # ion (|0> + |1>)/sqrt2; |0> emits early; pi(1 + eps) rotation; |0> emits late; frame Z X
        theta = math.pi * (1.0 + v[f"{node}.time_bin_pulse_error"])
        ket = np.zeros((2, 2, 2), complex)
        ket[0, 0, 0] = ket[1, 0, 0] = 1 / np.sqrt(2)
        p0, p1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
        create = annihilation(2).T
        ket = apply_local(ket, np.kron(p0, create) + np.kron(p1, I2), [0, 1])
        rot = np.array([[math.cos(theta / 2), -math.sin(theta / 2)], [math.sin(theta / 2), math.cos(theta / 2)]])
        ket = apply_local(ket, rot, [0])
        ket = apply_local(ket, np.kron(p0, create) + np.kron(p1, I2), [0, 2])
        ket = apply_local(ket, Z2 @ X2, [0])
    else:  # polarization, frequency: (|0>|m0> + |1>|m1>)/sqrt2
        ket = np.zeros((2, 2, 2), complex)
        ket[0, 1, 0] = ket[1, 0, 1] = 1 / np.sqrt(2)
    kets = [ket]
    kets = branch(kets, z_error_kraus(1.0 - v[f"{node}.ion_photon_fidelity"]), [0])
    kets = branch(kets, z_error_kraus((1.0 - memory_coherence(v, node)) / 2.0), [0])
    eta = path_transmission(v, node, protocol)
    for i in range(k):
        kets = branch(kets, loss_kraus(2, eta), [1 + i])
    if node == "node_a":
        return kets
    # node B: add internal modes, split b_m -> sqrt(M) b_m + sqrt(1 - M) b_m_perp
    vacuum = np.zeros((2,) * k)
    vacuum[(0,) * k] = 1.0
    kets = [np.multiply.outer(kt, vacuum) for kt in kets]
    split = pair_rotation(2, 2, -math.acos(math.sqrt(min(1.0, v["interference.mode_overlap"] * gated_overlap(v)))))
    for i in range(k):
        kets = [apply_local(kt, split, [1 + i, 1 + k + i]) for kt in kets]
    if protocol == "single_photon":  # Gaussian optical phase on B's path: exp(i phi n_B)
        n_b = sum(np.indices(kets[0].shape)[1:])
        phis, ws = gauss_hermite_phases(v["interference.phase_noise_rad"])
        kets = [math.sqrt(w) * np.exp(1j * phi * n_b) * kt for kt in kets for phi, w in zip(phis, ws)]
    return kets


# ----------------------------------------------------------------------------- the link
def dense_simulate(link):
    """Reference numbers: per-pattern ``probs``, ``fids`` and ``targets``; ``fidelity``, ``success``, ``state``.

    Each pattern's ion state is Pauli-frame corrected to Psi+ (Z on ion A for Psi- patterns), as in
    DESIGN.md; ``state`` is their sum over the accepted patterns, normalised.
    """
    v = _numbers(link)
    enc = link.encoding
    modes, dets, pats = _analyzer(enc)
    k = len(modes)
    kets_a = node_kets(link, v, "node_a", modes)
    kets_b = node_kets(link, v, "node_b", modes)

    # joint axes: ion_a, ion_b, a_m (k, cutoff 3), b_m (k, 3), a_perp (k, 2), b_perp (k, 2)
    pad_a = [(0, 0)] + [(0, 1)] * k
    pad_b = [(0, 0)] + [(0, 1)] * k + [(0, 0)] * k
    vac_a_perp = np.zeros((2,) * k)
    vac_a_perp[(0,) * k] = 1.0
    perm = [0, k + 1] + list(range(1, k + 1)) + list(range(k + 2, 2 * k + 2)) \
        + list(range(3 * k + 2, 4 * k + 2)) + list(range(2 * k + 2, 3 * k + 2))
    bs3 = pair_rotation(3, 3, np.pi / 4)
    bs2 = pair_rotation(2, 2, np.pi / 4)
    outs = []
    for ka in kets_a:
        ka = np.pad(ka, pad_a)
        for kb in kets_b:
            kb = np.pad(kb, pad_b)
            ket = np.multiply.outer(np.multiply.outer(ka, kb), vac_a_perp).transpose(perm)
            for i in range(k):
                ket = apply_local(ket, bs3, [2 + i, 2 + k + i])
                ket = apply_local(ket, bs2, [2 + 2 * k + i, 2 + 3 * k + i])
            outs.append(ket.reshape(4, -1))
    psi = np.stack(outs)  # (branches, ion_a ion_b, photonic basis)

    # photons each detector sees, for every photonic basis state
    ph_dims = (3,) * (2 * k) + (2,) * (2 * k)
    occ = np.indices(ph_dims).reshape(len(ph_dims), -1)
    axis_of = {}
    for i, m in enumerate(modes):
        axis_of[f"c_{m}"] = (i, 2 * k + i)  # encoding mode and its internal copy
        axis_of[f"d_{m}"] = (k + i, 3 * k + i)
    det_names = list(dets)
    counts = np.stack([sum(occ[ax] for out in dets[name] for ax in axis_of[out]) for name in det_names])
    n_det = len(det_names)

    det_eff = v["detection.efficiency"]
    mean_dark = v["detection.dark_count_rate_hz"] * v["detection.window_ns"] * 1e-9
    quiet, fire = detector_tables(link.detection.kind, det_eff, mean_dark, int(counts.max()) + 2)
    q = [v[f"{nd}.multi_photon_probability"] * path_transmission(v, nd, link.protocol)
         for nd in ("node_a", "node_b")]
    dest = [[(j, qq / n_det) for j in range(n_det)] + [(None, 1.0 - qq)] for qq in q]

    results = {}
    for name, firing, target in pats:
        w = np.zeros(occ.shape[1])
        for (ja, pa), (jb, pb) in itertools.product(*dest):
            extra = np.zeros(n_det, dtype=int)
            for j in (ja, jb):
                if j is not None:
                    extra[j] += 1
            prod = np.ones(occ.shape[1])
            for j, dn in enumerate(det_names):
                table = fire if dn in firing else quiet
                prod = prod * table[counts[j] + extra[j]]
            w += pa * pb * prod
        rho = np.einsum("bin,n,bjn->ij", psi, w, psi.conj())
        if target == "psi-":  # Pauli frame: Z on ion A maps Psi- to Psi+
            zz = np.kron(Z2, I2)
            rho = zz @ rho @ zz
        results[name] = rho
    probs = {n: float(np.trace(r).real) for n, r in results.items()}
    total = sum(probs.values())
    state = sum(results.values()) / total
    fids = {n: float((BELL["psi+"] @ r @ BELL["psi+"]).real) / probs[n] for n, r in results.items()}
    fid = float((BELL["psi+"] @ state @ BELL["psi+"]).real)
    targets = {name: target for name, _, target in pats}
    return dict(probs=probs, fids=fids, fidelity=fid, success=total, state=state, targets=targets)


# ----------------------------------------------------------------------------- parameter points
def _point(rng, protocol, encoding, kind, multi_photon):
    def u(lo, hi):
        return float(rng.uniform(lo, hi))

    node = lambda: {  # noqa: E731
        "collection_efficiency": u(0.2, 0.8),
        "fiber_length_km": u(0.5, 4.0),
        "fiber_attenuation_db_per_km": u(0.2, 1.5),
        "excitation_probability": u(0.5, 1.0) if protocol == "two_photon" else u(0.05, 0.35),
        "ion_photon_fidelity": u(0.85, 0.99),
        "multi_photon_probability": u(0.02, 0.15) if multi_photon else 0.0,
        "photon_lifetime_ns": u(5.0, 20.0),
        "qubit_t2_s": u(5e-5, 1e-3),
        "time_bin_pulse_error": u(-0.25, 0.25) if encoding == "time_bin" else 0.0,
        "photon_frequency_offset_mhz": u(-4.0, 4.0),
        "arrival_delay_ns": u(0.0, 3.0),
    }
    d = {
        "protocol": protocol,
        "node_a": node(),
        "node_b": node(),
        "detection": {"kind": kind, "efficiency": u(0.4, 0.95), "dark_count_rate_hz": u(1e4, 2e5),
                      "window_ns": u(10.0, 60.0), "window_start_ns": u(0.0, 2.0), "timing_jitter_ps": u(1.0, 8.0)},
        "interference": {"mode_overlap": u(0.5, 0.98),
                         "phase_noise_rad": u(0.05, 0.6) if protocol == "single_photon" else 0.0},
    }
    if protocol == "two_photon":
        d["encoding"] = encoding
    return d


CASES = [("two_photon", "polarization"), ("two_photon", "time_bin"), ("two_photon", "frequency"),
         ("single_photon", "single_photon")]
N_POINTS = 5


def _points():
    out = []
    for ci, (protocol, encoding) in enumerate(CASES):
        rng = np.random.default_rng(1234 + ci)
        for i in range(N_POINTS):
            kind = "threshold" if i % 2 == 0 else "pnr"
            out.append(pytest.param(_point(rng, protocol, encoding, kind, multi_photon=i > 0),
                                    id=f"{encoding}-{kind}-{i}{'-nomulti' if i == 0 else ''}"))
    return out


def _compare(link, atol=1e-10, p_atol=1e-14):
    ref = dense_simulate(link)
    res = ij.simulate(link)
    names = list(res.pattern_names)
    assert sorted(names) == sorted(ref["probs"]), (names, list(ref["probs"]))
    assert dict(zip(names, res.pattern_targets)) == ref["targets"]
    np.testing.assert_allclose([float(p) for p in res.pattern_probabilities], [ref["probs"][n] for n in names],
                               rtol=1e-8, atol=p_atol)
    np.testing.assert_allclose([float(f) for f in res.pattern_fidelities], [ref["fids"][n] for n in names],
                               rtol=1e-8, atol=atol)
    assert float(res.success_probability) == pytest.approx(ref["success"], rel=1e-8, abs=p_atol)
    assert float(res.fidelity) == pytest.approx(ref["fidelity"], rel=1e-8, abs=atol)
    np.testing.assert_allclose(np.asarray(res.state.data), ref["state"], rtol=1e-8, atol=atol)
    return ref, res


@pytest.mark.parametrize("config", _points())
def test_dense_reference_agrees(config):
    link = ij.load_link(ij.config.without_ignored(config))
    ref, _ = _compare(link)
    # the points are non-trivial: the heralded state is neither perfect nor fully mixed
    assert 0.3 < ref["fidelity"] < 0.995
    assert ref["success"] > 1e-6


def test_reference_beam_splitter_is_exact_below_the_cutoff():
    """The truncated ``expm`` is exact on pairs holding fewer photons than the cutoff (checked against cutoff 6)."""
    small, big = pair_rotation(3, 3, np.pi / 4), pair_rotation(6, 6, np.pi / 4)
    low = [(i, j) for i in range(3) for j in range(3) if i + j <= 2]
    idx_s = [3 * i + j for i, j in low]
    idx_b = [6 * i + j for i, j in low]
    np.testing.assert_allclose(small[np.ix_(idx_s, idx_s)], big[np.ix_(idx_b, idx_b)], atol=1e-13)
    # Hong-Ou-Mandel: |1,1> -> (|2,0> - |0,2>)/sqrt2; a^dag|0> -> (|1,0> - |0,1>)/sqrt2 (c at a, d at b)
    np.testing.assert_allclose(small[:, 3 * 1 + 1], (np.eye(9)[6] - np.eye(9)[2]) / np.sqrt(2), atol=1e-13)
    np.testing.assert_allclose(small[:, 3], (np.eye(9)[3] - np.eye(9)[1]) / np.sqrt(2), atol=1e-13)
    np.testing.assert_allclose(small[:, 1], (np.eye(9)[3] + np.eye(9)[1]) / np.sqrt(2), atol=1e-13)


def test_dense_reference_ideal_limits():
    """Sanity of the reference itself: ideal links give the textbook numbers."""
    ideal = {"node_a": {"collection_efficiency": 1.0}, "node_b": {"collection_efficiency": 1.0},
             "detection": {"window_ns": 1e4}}
    ref = dense_simulate(ij.load_link(ideal))
    assert ref["fidelity"] == pytest.approx(1.0, abs=1e-12)
    assert ref["success"] == pytest.approx(0.5, abs=1e-12)
    ref = dense_simulate(ij.load_link({**ideal, "encoding": "frequency"}))
    assert ref["fidelity"] == pytest.approx(1.0, abs=1e-12)
    assert ref["success"] == pytest.approx(0.25, abs=1e-12)
    ref = dense_simulate(ij.load_link({**ideal, "interference": {"mode_overlap": 0.6}}))
    assert ref["fidelity"] == pytest.approx(0.8, abs=1e-12)


def test_dense_reference_multi_photon_is_visible():
    """The multi-photon noise changes the numbers at the test points (so that part is exercised)."""
    config = _point(np.random.default_rng(7), "two_photon", "polarization", "threshold", multi_photon=True)
    link = ij.load_link(ij.config.without_ignored(config))
    with_noise = dense_simulate(link)
    without = dense_simulate(link.set({"nodes.multi_photon_probability": 0.0}))
    assert with_noise["fidelity"] < without["fidelity"] - 1e-4
    _compare(link)


@pytest.mark.parametrize("mean_dark", [40.0, 100.0])
@pytest.mark.parametrize("protocol,encoding", [("two_photon", "polarization"), ("two_photon", "time_bin"),
                                               ("single_photon", "single_photon")])
def test_dense_reference_agrees_at_large_dark_counts(protocol, encoding, mean_dark):
    """PNR detectors at 40 and 100 mean dark counts per window (``1 - exp(-R W)`` is 1 in float64 there):
    the probabilities, tiny as they are, agree with the scipy-Poisson reference to 1e-8 relative."""
    config = _point(np.random.default_rng(99), protocol, encoding, "pnr", multi_photon=True)
    config["detection"]["window_ns"] = 50.0
    config["detection"]["dark_count_rate_hz"] = mean_dark / 50e-9
    ref, res = _compare(ij.load_link(ij.config.without_ignored(config)), p_atol=0.0)
    assert 0.0 < ref["success"] < 1e-30
    assert int(res.status) == 0
