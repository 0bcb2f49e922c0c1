"""Throughput of ionjax against a QuTiP whole-space implementation of the same link.

The reference two-photon link of DESIGN.md: two ions, polarization photons, a 50:50 beam splitter
per polarization, four threshold detectors with efficiency and dark counts, multi-photon noise
(a second photon in a non-interfering wavepacket), Z errors on the ions, collection/window loss.

(a) ionjax: ``jax.jit(jax.vmap(...))`` over detection.efficiency and dark_count_rate_hz, forward
    and forward + gradient (``jax.vmap(jax.value_and_grad(...))``), gradient w.r.t. the two batched
    knobs and w.r.t. the whole Link (27 leaves); also with node-level knobs batched.
(b) QuTiP: the same physics with whole-space operators on 2 ions x 4 modes, per-mode cutoff 3
    (0..2 photons): ``qutip.tensor``/``qutip.destroy``, the beam splitters as ``expm`` of the mode
    generator, loss as Kraus operators, the detectors as projectors; one point at a time.

The two agree on a few points (printed). With mode overlap M < 1 each node-B photon is split into
the reference mode and an internal mode: ionjax always carries those 8 modes; a per-mode-cutoff
peer needs 2 * 2 * 3^8 = 26244 dimensions (a 26244 x 26244 complex density matrix is 11 GB), so
QuTiP is not run there.

Run: python benchmarks/bench_link.py [--points N] [--quick]
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import ionjax as ij  # noqa: E402
from ionjax.protocols.heralded import _simulate  # noqa: E402

REFERENCE = {
    "protocol": "two_photon",
    "encoding": "polarization",
    "attempt_rate_hz": 1.0e6,
    "node_a": {"collection_efficiency": 0.12, "photon_lifetime_ns": 8.0, "ion_photon_fidelity": 0.98,
               "multi_photon_probability": 0.01},
    "node_b": {"collection_efficiency": 0.08, "photon_lifetime_ns": 8.0, "ion_photon_fidelity": 0.97,
               "multi_photon_probability": 0.02},
    "detection": {"kind": "threshold", "efficiency": 0.6, "dark_count_rate_hz": 500.0, "window_ns": 30.0},
    "interference": {"mode_overlap": 1.0},
}


# ----------------------------------------------------------------------------- QuTiP peer
class QutipLink:
    """The reference link with QuTiP whole-space operators (2 ions x 4 modes, cutoff ``n_cut`` per mode)."""

    def __init__(self, n_cut: int = 3):
        import qutip as qt

        self.qt = qt
        self.n = n_cut
        self.dims = [2, 2] + [n_cut] * 4  # ion_a, ion_b, a_h, a_v, b_h, b_v
        self.dim = int(np.prod(self.dims))
        a = [self._op(qt.destroy(n_cut), 2 + k) for k in range(4)]
        # 50:50 beam splitters (a_h, b_h) and (a_v, b_v): a^dag -> (c^dag - d^dag)/sqrt2,
        # b^dag -> (c^dag + d^dag)/sqrt2, c at a's position and d at b's (ionjax's convention):
        # U = expm(pi/4 (a^dag b - a b^dag)).
        theta = math.pi / 4
        self.u_bs = ((theta * (a[0].dag() * a[2] - a[0] * a[2].dag())).expm()
                     * (theta * (a[1].dag() * a[3] - a[1] * a[3].dag())).expm())
        self._check_bs()
        z = qt.sigmaz()
        self.z_a, self.z_b = self._op(z, 0), self._op(z, 1)
        self.eye = qt.qeye(self.dims)
        self.eye.dims = [self.dims, self.dims]
        ket_a = (qt.tensor(qt.basis(2, 0), qt.basis(n_cut, 1), qt.basis(n_cut, 0))
                 + qt.tensor(qt.basis(2, 1), qt.basis(n_cut, 0), qt.basis(n_cut, 1))).unit()
        ket = qt.tensor(ket_a, ket_a).permute([0, 3, 1, 2, 4, 5])  # (ion_a, a_h, a_v, ion_b, b_h, b_v) -> dims order
        self.rho0 = qt.ket2dm(ket)
        self.psi_plus = (qt.tensor(qt.basis(2, 0), qt.basis(2, 1)) + qt.tensor(qt.basis(2, 1), qt.basis(2, 0))).unit()
        self.z_ion_a = qt.tensor(qt.sigmaz(), qt.qeye(2))
        # detectors: c_h, c_v (positions of a_h, a_v), d_h, d_v (positions of b_h, b_v)
        self.patterns = [((0, 1), "psi+"), ((2, 3), "psi+"), ((0, 3), "psi-"), ((1, 2), "psi-")]

    def _op(self, single, pos):  # noqa: ANN001, ANN202
        qt = self.qt
        ops = [qt.qeye(d) for d in self.dims]
        ops[pos] = single
        return qt.tensor(*ops)

    def _check_bs(self) -> None:
        qt = self.qt
        vac = qt.tensor(*[qt.basis(d, 0) for d in self.dims])
        a_h, b_h = self._op(qt.destroy(self.n), 2), self._op(qt.destroy(self.n), 4)
        out = self.u_bs * a_h.dag() * vac
        want = ((a_h.dag() - b_h.dag()) * vac) / math.sqrt(2)
        assert (out - want).norm() < 1e-12, "beam splitter convention"

    def _loss(self, eta: float, pos: int) -> list:
        qt = self.qt
        ks = []
        for l in range(self.n):
            k = np.zeros((self.n, self.n))
            for n in range(l, self.n):
                k[n - l, n] = math.sqrt(math.comb(n, l) * eta ** (n - l) * (1 - eta) ** l)
            ks.append(self._op(qt.Qobj(k), pos))
        return ks

    def simulate(self, eta_a: float, eta_b: float, f_a: float, f_b: float, eff: float, p_dark: float,
                 q_a: float, q_b: float) -> dict[str, float]:
        """One point: path transmissions, ion-photon fidelities, detector efficiency and dark-click
        probability, multi-photon noise probabilities (photon at the detectors)."""
        qt = self.qt
        rho = self.rho0
        # Z errors on the ions (Kraus)
        for zz, f in ((self.z_a, f_a), (self.z_b, f_b)):
            rho = f * rho + (1 - f) * zz * rho * zz
        # loss on each mode (Kraus)
        for pos, eta in ((2, eta_a), (3, eta_a), (4, eta_b), (5, eta_b)):
            rho = sum(k * rho * k.dag() for k in self._loss(eta, pos))
        rho = self.u_bs * rho * self.u_bs.dag()
        # detector projectors, averaged over where the noise photons went (4 detectors or nowhere)
        j = 4
        dest_a = [q_a / j] * j + [1 - q_a]
        dest_b = [q_b / j] * j + [1 - q_b]
        n = np.arange(self.n)
        out = {"probs": [], "fids": []}
        total, fsum = 0.0, 0.0
        for fire, target in self.patterns:
            effect = 0
            for da in range(j + 1):
                for db in range(j + 1):
                    extra = np.zeros(j, int)
                    if da < j:
                        extra[da] += 1
                    if db < j:
                        extra[db] += 1
                    dets = []
                    for d in range(j):
                        none = (1 - p_dark) * (1 - eff) ** (n + extra[d])
                        dets.append(qt.Qobj(np.diag(1 - none if d in fire else none)))
                    effect = effect + dest_a[da] * dest_b[db] * qt.tensor(qt.qeye(2), qt.qeye(2), *dets)
            ions = (effect * rho).ptrace([0, 1])
            if target == "psi-":
                ions = self.z_ion_a * ions * self.z_ion_a
            p = float(np.real(ions.tr()))
            f = float(np.real(qt.expect(ions, self.psi_plus))) if p > 0 else 0.0
            out["probs"].append(p)
            out["fids"].append(f / p if p > 0 else 0.0)
            total += p
            fsum += f
        out["fidelity"] = fsum / total if total > 0 else 0.0
        out["success_probability"] = total
        return out


def qutip_args(link: ij.Link) -> dict[str, float]:
    """The QuTiP peer's inputs for an ionjax link (polarization, fiberless, excitation 1, T2 = inf)."""
    from ionjax.protocols.heralded import path_transmission

    eta_a = float(path_transmission(link.node_a, link))
    eta_b = float(path_transmission(link.node_b, link))
    det = link.detection
    p_dark = -math.expm1(-float(det.dark_count_rate_hz) * float(det.window_ns) * 1e-9)
    return dict(eta_a=eta_a, eta_b=eta_b, f_a=float(link.node_a.ion_photon_fidelity),
                f_b=float(link.node_b.ion_photon_fidelity), eff=float(det.efficiency), p_dark=p_dark,
                q_a=float(link.node_a.multi_photon_probability) * eta_a,
                q_b=float(link.node_b.multi_photon_probability) * eta_b)


# ----------------------------------------------------------------------------- timing helpers
def timed(fn, *args, reps: int = 5) -> tuple[float, float]:  # noqa: ANN001
    """(first call incl. compile, best of ``reps`` later calls) in seconds."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return first, best


def knob_fns(link: ij.Link, keys: tuple[str, ...]) -> dict[str, object]:
    def fid(*vals):  # noqa: ANN002, ANN202
        return _simulate(link.set(dict(zip(keys, vals)))).fidelity

    def fid_link(*vals):  # noqa: ANN002, ANN202
        return jax.value_and_grad(lambda l: _simulate(l).fidelity)(link.set(dict(zip(keys, vals))))

    argnums = tuple(range(len(keys)))
    return {
        "forward": jax.jit(jax.vmap(fid)),
        "forward+grad (knobs)": jax.jit(jax.vmap(jax.value_and_grad(fid, argnums=argnums))),
        "forward+grad (whole Link)": jax.jit(jax.vmap(fid_link)),
    }


def run_ionjax(link: ij.Link, keys: tuple[str, ...], values: list[np.ndarray], label: str) -> dict[str, dict]:
    out = {}
    args = [jnp.asarray(v) for v in values]
    n = len(values[0])
    for name, fn in knob_fns(link, keys).items():
        tracemalloc.start()
        first, best = timed(fn, *args)
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mem = fn.lower(*args).compile().memory_analysis()
        xla_bytes = (mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes) if mem else 0
        out[name] = {"us_per_point": best / n * 1e6, "compile_s": first - best, "xla_mb": xla_bytes / 2**20,
                     "py_peak_mb": py_peak / 2**20}
        print(f"  {label:28s} {name:26s} {best / n * 1e6:9.4f} us/pt   compile {first - best:5.2f} s   "
              f"XLA buffers {xla_bytes / 2**20:7.1f} MB   python peak {py_peak / 2**20:6.1f} MB", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=65536, help="batch size of the ionjax runs (default 65536)")
    ap.add_argument("--qutip-points", type=int, default=None, help="QuTiP points to time (default 8, --quick 3)")
    ap.add_argument("--quick", action="store_true", help="fewer points (a smoke run)")
    args = ap.parse_args()
    n = min(args.points, 4096) if args.quick else args.points
    nq = args.qutip_points or (3 if args.quick else 8)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({len(jax.devices())} device(s)), float64")

    base = ij.load_link(REFERENCE)
    rng = np.random.default_rng(0)
    eff = rng.uniform(0.3, 0.9, n)
    dark = 10 ** rng.uniform(0, 4, n)

    # ---------------------------------------------------------------- (b) QuTiP, and agreement
    import qutip as qt

    print(f"\nQuTiP {qt.__version__}: whole-space operators, dims {[2, 2, 3, 3, 3, 3]} = 324 (M = 1)")
    t0 = time.perf_counter()
    peer = QutipLink()
    setup = time.perf_counter() - t0
    worst = 0.0
    times = []
    for i in range(nq):
        link = base.set({"detection.efficiency": eff[i], "detection.dark_count_rate_hz": dark[i]})
        t0 = time.perf_counter()
        q = peer.simulate(**qutip_args(link))
        times.append(time.perf_counter() - t0)
        r = ij.simulate(link)
        d = max(abs(q["fidelity"] - float(r.fidelity)),
                abs(q["success_probability"] - float(r.success_probability)) / float(r.success_probability),
                float(np.max(np.abs(np.array(q["probs"]) - np.asarray(r.pattern_probabilities))
                             / np.asarray(r.pattern_probabilities))))
        worst = max(worst, d)
        if i < 3:
            print(f"  point {i}: eff {eff[i]:.3f}, dark {dark[i]:8.2f} Hz: F qutip {q['fidelity']:.12f} ionjax "
                  f"{float(r.fidelity):.12f}; P qutip {q['success_probability']:.10e} ionjax "
                  f"{float(r.success_probability):.10e}")
    qutip_s = float(np.median(times))
    print(f"  largest relative difference over {nq} points: {worst:.2e}")
    print(f"  QuTiP: {qutip_s * 1e3:.1f} ms/point (median of {nq}; one-off setup incl. expm {setup * 1e3:.0f} ms)")
    assert worst < 1e-8, f"QuTiP and ionjax disagree: {worst}"

    # ---------------------------------------------------------------- (a) ionjax
    print(f"\nionjax: jit(vmap) over {n} points")
    keys = ("detection.efficiency", "detection.dark_count_rate_hz")
    res = {}
    res["M=1"] = run_ionjax(base, keys, [eff, dark], "detector knobs, M = 1")
    base_m = base.set({"interference.mode_overlap": 0.9})
    res["M<1"] = run_ionjax(base_m, keys, [eff, dark], "detector knobs, M = 0.9")
    node_keys = ("detection.window_ns", "interference.mode_overlap", "nodes.collection_efficiency")
    node_vals = [rng.uniform(5, 100, n), rng.uniform(0.5, 1.0, n), rng.uniform(0.01, 0.3, n)]
    res["node"] = run_ionjax(base_m, node_keys, node_vals, "node knobs (window, M, eta)")

    d8 = 2 * 2 * 3**8
    print(f"\nM < 1 (8 modes): a per-mode-cutoff peer needs dims [2, 2] + [3] * 8 = {d8}; its density matrix "
          f"alone is {d8**2 * 16 / 2**30:.1f} GiB (complex128), every Kraus product ~{2 * d8**3 / 1e12:.0f} Tflop: "
          "not run (it would not fit in a few seconds per point, nor in memory).")

    # ---------------------------------------------------------------- summary
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\nSummary ('x QuTiP' = QuTiP time per point / ionjax time per point; 'vs fwd' = time / forward time)")
    print(f"{'case':28s} {'mode':26s} {'us/point':>10s} {'x QuTiP':>10s} {'vs fwd':>8s} {'compile s':>10s}")
    for case, rows in res.items():
        fwd = rows["forward"]["us_per_point"]
        for name, row in rows.items():
            us = row["us_per_point"]
            print(f"{case:28s} {name:26s} {us:10.4f} {qutip_s * 1e6 / us:10.0f} {us / fwd:8.1f} "
                  f"{row['compile_s']:10.2f}")
    print(f"{'QuTiP (M = 1, one point)':28s} {'forward':26s} {qutip_s * 1e6:10.0f} {1:10.0f}")
    print(f"\npeak resident memory of this process (incl. QuTiP and all compilations): {rss:.0f} MB")
    fwd = res["M=1"]["forward"]["us_per_point"]
    print(f"targets: ionjax >= 3000x QuTiP: {qutip_s * 1e6 / fwd:.0f}x; gradient <= 3x forward: "
          f"{res['M=1']['forward+grad (knobs)']['us_per_point'] / fwd:.1f}x (knobs), "
          f"{res['M=1']['forward+grad (whole Link)']['us_per_point'] / fwd:.1f}x (whole Link); compile < 10 s: "
          f"{max(r['compile_s'] for rows in res.values() for r in rows.values()):.1f} s (largest)")


if __name__ == "__main__":
    main()
