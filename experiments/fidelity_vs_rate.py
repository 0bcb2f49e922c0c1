"""Each preset's fidelity against its rate as the detection gate and the coincidence window are varied.

Two scans per preset (everything else at the preset's values):

* the gate's start ``detection.window_start_ns`` from 0 to 3 lifetimes (the window's end held): a later
  start drops the early part of both wavepackets (and, with an excitation block, a re-excited photon);
* the coincidence window ``detection.coincidence_window_ns`` from 0.05 to 10 lifetimes (two-photon
  presets): accepting only near-simultaneous clicks filters out the distinguishable part of photons that
  differ in frequency or arrival time, at the cost of rate. The time-resolved path integrates the click
  times exactly (``ionjax.link.timing``).

Run: ``python experiments/fidelity_vs_rate.py [--out DIR] [--points N]`` (writes DIR/fidelity_vs_rate.png
and prints the table). Each scan is one vmapped ``ij.sweep`` (one compile per structure).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import ionjax as ij  # noqa: E402


def scans(name: str, points: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    link = ij.presets.get(name)
    tau = float(link.node_a.photon_lifetime_ns)
    end = float(link.detection.window_start_ns + link.detection.window_ns)
    out = {}
    starts = np.linspace(0.0, min(3.0 * tau, 0.9 * end), points)
    res = ij.sweep(link, {"detection.window_start_ns": starts, "detection.window_ns": end - starts},
                   mode="zip", progress=False)
    out["gate start (ns)"] = (starts, np.asarray(res.rate_hz), np.asarray(res.fidelity))
    if link.protocol == "two_photon":
        windows = np.geomspace(0.05 * tau, 10.0 * tau, points)
        res = ij.sweep(link, {"detection.coincidence_window_ns": windows}, progress=False)
        out["coincidence window (ns)"] = (windows, np.asarray(res.rate_hz), np.asarray(res.fidelity))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="figures", help="folder for fidelity_vs_rate.png (default: figures)")
    ap.add_argument("--points", type=int, default=12, help="points per scan (default 12)")
    ap.add_argument("--presets", nargs="*", default=list(ij.presets.names()), help="presets to scan")
    args = ap.parse_args()
    results = {n: scans(n, args.points) for n in args.presets}
    for name, sc in results.items():
        for what, (x, rate, fid) in sc.items():
            print(f"{name} / {what}")
            for xi, ri, fi in zip(x, rate, fid):
                print(f"  {xi:10.4g}  rate {ri:10.4g} s^-1  F {fi:.5f}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install 'ionjax[plot]'): table only")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, what in zip(axes, ("gate start (ns)", "coincidence window (ns)")):
        for name, sc in results.items():
            if what in sc:
                _, rate, fid = sc[what]
                ax.plot(rate, fid, marker=".", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("rate (s$^{-1}$)")
        ax.set_ylabel("fidelity")
        ax.set_title(f"varying the {what.split(' (')[0]}")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / "fidelity_vs_rate.png", dpi=130)
    print(f"wrote {out / 'fidelity_vs_rate.png'}")


if __name__ == "__main__":
    main()
