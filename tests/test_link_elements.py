"""Every path element, generated from the registry: the compiled fast path (built from each factor's amplitude
rule) against the dense reference interpreter (the factors' dense action on density matrices).

1. each kind in ``ELEMENTS`` alone in node B's path of a polarization link, at random numbers inside its keys'
   ranges, on a nontrivial base link (losses, dark counts, multi-photon noise, mode mismatch, ion errors):
   compiled == dense Heisenberg to 1e-10 in fidelity, success probability, per-pattern probabilities and
   fidelities and the heralded state. On the single_photon, frequency and time_bin (pnr) structures every kind
   that fits sits in one path of one link; every kind also meets the polarization structure in the random
   compositions (3), where the dense Schrodinger picture is compared too;
2. derivatives of ``F + P`` w.r.t. the elements' numbers: the compiled path's ``jax.grad`` (reverse mode) along
   a random direction per point == the dense Heisenberg picture's forward-mode derivative (1e-8, relative),
   for each kind alone; on every other link of 1. and 3. the compiled forward-mode derivative likewise;
3. seeded random compositions of polarization elements in both paths, with a non-default station and a detector
   of its own: compiled == Heisenberg == Schrodinger;
4. a deliberately broken amplitude rule (a wave plate whose compiled rule flips the retardance) fails the same
   comparison (through the heralded state: F and P happen to be blind to that error on the base link);
5. closed forms derived here, independent of ionjax: wave plates, a half-wave plate, a rotator, the station's
   beam splitter of any reflectivity and phase, and one detector's own efficiency, on an ideal link.

Runtime. Under ``jit`` every element kind (its own pytree) and structure would compile anew, and the dense
pictures take 10-50 s each to compile on a small CPU. These checks run *without* ``jit``: a ``vmap`` over ``B``
random points, evaluated op by op. Each primitive then compiles once per shape and dtype and is reused by every
later link with the same shapes (``B`` is the same everywhere, and each method always runs in the same mode,
for that reason): the first link of a structure pays a warm-up of 5-20 s, every further one 1-3 s. The file
takes 105-120 s on 2 CPU cores, some 50 s of it those warm-ups (polarization 20, time_bin 13, single_photon
11, Schrodinger 6); :data:`COMBINED` and :data:`N_COMPOSITIONS` are where to trim it.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ionjax as ij
import ionjax.link.compiled as compiled_module
from ionjax.components.sources import ENCODING_MODES
from ionjax.elements import ELEMENTS, Unitary
from ionjax.elements.polarization import WavePlate
from ionjax.errors import ConfigError
from ionjax.link import METHODS, analyzer

try:  # the un-jitted simulate (for use inside vmap / grad)
    from ionjax.link import evaluate
except ImportError:  # pragma: no cover - the older private name
    from ionjax.link.simulate import _simulate as evaluate

B = 3  # random points per batch: the same everywhere, so that op-by-op compiled primitives are reused
TOL = 1e-10
GRAD_TOL = 1e-8
FIELDS = ("fidelity", "success_probability", "pattern_probabilities", "pattern_fidelities", "state")

# structure -> (protocol, encoding, detector kind)
STRUCTURES: dict[str, tuple[str, str, str]] = {
    "polarization": ("two_photon", "polarization", "threshold"),
    "time_bin": ("two_photon", "time_bin", "pnr"),
    "frequency": ("two_photon", "frequency", "threshold"),
    "single_photon": ("single_photon", "single_photon", "threshold"),
}

#: kinds that must sit in both nodes' paths, with these keys equal in both (else the link is refused)
BOTH_NODES: dict[str, tuple[str, ...]] = {"frequency_conversion": ("output_wavelength_nm",)}


# ----------------------------------------------------------------------------- links
def base_config(structure: str) -> dict:
    """A nontrivial link of ``structure``: lossy, noisy, imperfect sources and interference."""
    protocol, encoding, kind = STRUCTURES[structure]
    two = protocol == "two_photon"

    def node(eta: float, fid: float, q: float, length: float, p: float, pulse: float) -> dict:
        out = {"collection_efficiency": eta, "ion_photon_fidelity": fid, "multi_photon_probability": q,
               "fiber_length_km": length, "fiber_attenuation_db_per_km": 0.2, "qubit_t2_s": 0.02,
               "photon_lifetime_ns": 8.0, "excitation_probability": p}
        if encoding == "time_bin":
            out["time_bin_pulse_error"] = pulse
        return out

    cfg: dict[str, Any] = {
        "protocol": protocol,
        "node_a": node(0.32, 0.97, 0.03, 2.0, 0.9 if two else 0.12, 0.05),
        "node_b": node(0.27, 0.96, 0.02, 1.0, 0.85 if two else 0.09, -0.03),
        "detection": {"kind": kind, "efficiency": 0.85, "dark_count_rate_hz": 2.0e4, "window_ns": 60.0},
        "interference": {"mode_overlap": 0.9},
    }
    if two:
        cfg["encoding"] = encoding
    if encoding == "frequency":
        cfg["node_b"]["photon_frequency_offset_mhz"] = 3.0
        cfg["detection"]["timing_jitter_ps"] = 2000.0
    if protocol == "single_photon":
        cfg["interference"]["phase_noise_rad"] = 0.3
    return cfg


def key_range(key: str, spec: Any) -> tuple[float, float]:
    """Where random values of a key are drawn: inside its range, angles within one turn either way, transmissions
    and efficiencies >= 0.2, and physically sensible caps on lengths, losses and noise rates."""
    if key.endswith("_rad"):
        return max(spec.lo, -2 * math.pi), min(spec.hi, 2 * math.pi)
    caps = {"length_km": (0.0, 20.0), "attenuation_db_per_km": (0.0, 0.3), "noise_rate_hz": (0.0, 2.0e5),
            "output_wavelength_nm": (500.0, 1600.0)}
    if key in caps:
        return caps[key]
    lo, hi = spec.lo, spec.hi
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo <= 1.0:  # a probability-like key
        return lo + 0.2 * (hi - lo), hi
    lo = lo if math.isfinite(lo) else -1.0
    return lo + (1e-3 if spec.lo_open else 0.0), min(hi, lo + 10.0)


def random_points(cls: type, rng: np.random.Generator, n: int = B) -> list[dict[str, float]]:
    return [{k: float(rng.uniform(*key_range(k, s))) for k, s in cls.params().items()} for _ in range(n)]


def varied_keys(kind: str, structure: str, point: dict) -> tuple[str, ...] | None:
    """The keys of ``kind`` that can take random values on ``structure`` (None: the kind does not fit it).

    A kind whose default fits but some of whose numbers do not (a fiber's birefringence angles on a photon whose
    qubit is not its polarization) keeps those at their defaults."""
    cls = ELEMENTS[kind]
    modes = ENCODING_MODES[STRUCTURES[structure][1]]
    if cls.from_dict({}, "x").fits(modes) is not None:
        return None
    keys = tuple(k for k in cls.params() if cls.from_dict({k: point[k]}, "x").fits(modes) is None)
    assert cls.from_dict({k: point[k] for k in keys}, "x").fits(modes) is None, (kind, structure, keys)
    return keys


@dataclasses.dataclass
class Case:
    """A link, a batch of values of its varied dotted keys (``values[i]`` is point ``i``) and a random direction
    per point (``tangents``) for the derivatives."""

    link: Any
    keys: tuple[str, ...]
    values: np.ndarray
    names: dict  # element name -> kind
    label: str | None = None  # results are remembered under it (see run)

    @property
    def tangents(self) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(" ".join(self.keys).encode()))
        return rng.normal(size=self.values.shape)

    def point(self, i: int) -> dict[str, float]:
        return dict(zip(self.keys, self.values[i].tolist()))


def element_case(structure: str, path_b: list, seed: int, path_a: list = (), extra: dict | None = None,
                 config: dict | None = None, label: str | None = None) -> Case:
    """Elements in node B's path (and A's) of a ``structure`` link at ``B`` random points.

    ``path_b``/``path_a`` list kinds or ``(kind, static keys)``; a kind of :data:`BOTH_NODES` in B's path goes
    into A's path too. ``extra`` maps further dotted keys to ``(B,)`` values; ``config`` replaces the base link."""
    rng = np.random.default_rng(seed)
    paths: dict[str, list] = {"node_a": [], "node_b": []}
    cols: dict[str, list] = {}
    names: dict[str, str] = {}

    def add(node: str, kind: str, static: dict, name: str, tied: list | None = None) -> list:
        pts = random_points(ELEMENTS[kind], rng)
        for p, q in zip(pts, tied or [{}] * B):
            p.update(q)
        keys = varied_keys(kind, structure, pts[0])
        assert keys is not None, f"{kind} does not fit {structure}"
        paths[node].append({"element": kind, "name": name, **static, **{k: pts[0][k] for k in keys}})
        cols.update({f"{node}.path.{name}.{k}": [p[k] for p in pts] for k in keys})
        names[name] = kind
        return pts

    for node, spec in (("node_b", path_b), ("node_a", path_a)):
        for i, entry in enumerate(spec):
            kind, static = (entry, {}) if isinstance(entry, str) else entry
            pts = add(node, kind, static, f"{node[-1]}{i}_{kind}")
            if node == "node_b" and kind in BOTH_NODES:
                add("node_a", kind, static, f"a{i}b_{kind}", [{k: p[k] for k in BOTH_NODES[kind]} for p in pts])
    cfg = config if config is not None else base_config(structure)
    cfg = {**cfg, "node_a": {**cfg["node_a"], "path": paths["node_a"]},
           "node_b": {**cfg["node_b"], "path": paths["node_b"]}}
    link = ij.load_link(cfg)
    cols.update({k: list(v) for k, v in (extra or {}).items()})
    link = link.set({k: v[0] for k, v in cols.items()})  # point 0 (a detector's own value becomes a leaf)
    values = np.array([cols[k] for k in cols], dtype=np.float64).T
    return Case(link, tuple(cols), values, names, label)


_RESULTS: dict = {}


def run(case: Case, method: str, derivative: str | None = None) -> tuple[Any, Any]:
    """The batched result of ``method`` at every point of ``case``, and a derivative of ``F + P``:

    * ``derivative="grad"``: ``jax.grad`` (reverse mode) w.r.t. the case's values, ``(B, K)``;
    * ``derivative="jvp"``: forward mode along the case's tangents, ``(B,)``.

    Remembered under ``case.label`` (a test that needs the same numbers as another reuses them).
    """
    memo = None if case.label is None else (case.label, method, derivative)
    if memo in _RESULTS:
        return _RESULTS[memo]
    m = METHODS[method]()

    def objective(v: jax.Array) -> tuple[jax.Array, Any]:
        r = evaluate(case.link.set(dict(zip(case.keys, v))), m)
        return r.fidelity + r.success_probability, r

    values = jnp.asarray(case.values)
    if derivative is None:
        out = jax.vmap(lambda v: objective(v)[1])(values), None
    elif derivative == "grad":
        (_, res), g = jax.vmap(jax.value_and_grad(objective, has_aux=True))(values)
        out = res, g
    elif derivative == "jvp":
        (_, res), (d, _) = jax.vmap(lambda v, t: jax.jvp(objective, (v,), (t,)))(values, jnp.asarray(case.tangents))
        out = res, d
    else:
        raise ValueError(derivative)
    if memo is not None:
        _RESULTS[memo] = out
    return out


# ----------------------------------------------------------------------------- the comparison
def _field(res: Any, name: str) -> np.ndarray:
    return np.asarray(res.state.data if name == "state" else getattr(res, name))


def differences(a: Any, b: Any) -> dict[str, float]:
    """``{field: max |a - b|}`` over the batch (NaN where either is not finite)."""
    out = {}
    for f in FIELDS:
        x, y = _field(a, f), _field(b, f)
        assert x.shape == y.shape, (f, x.shape, y.shape)
        d = np.abs(x - y)
        out[f] = float(np.max(d)) if np.all(np.isfinite(d)) else math.nan
    return out


def assert_same(a: Any, b: Any, what: str, case: Case | None = None, tol: float = TOL) -> None:
    """The equivalence check: every field of ``a`` and ``b`` within ``tol`` (a NaN fails)."""
    d = differences(a, b)
    bad = {k: v for k, v in d.items() if not v <= tol}
    if bad:
        where = ""
        if case is not None:
            worst = int(np.argmax(np.abs(_field(a, "fidelity") - _field(b, "fidelity"))))
            where = f"\n  worst fidelity at point {worst}: {case.point(worst)}"
        raise AssertionError(f"{what}: max |difference| exceeds {tol:g} in "
                             + ", ".join(f"{k} ({v:.3g})" for k, v in bad.items())
                             + f"; all fields: {d}{where}")


def assert_nontrivial(res: Any, what: str) -> None:
    p = np.asarray(res.success_probability)
    assert np.all(np.asarray(res.status) == 0) and np.all(p > 1e-6), f"{what}: no herald, P = {p}"
    assert np.all(np.isfinite(np.asarray(res.state.data))), f"{what}: non-finite state"


def along(case: Case, derivative: Any) -> np.ndarray:
    """A derivative of ``run`` as the derivative along each point's tangent, ``(B,)``."""
    d = np.asarray(derivative)
    return np.sum(d * case.tangents, axis=1) if d.ndim == 2 else d


def assert_same_derivatives(case: Case, d_ref: Any, d: Any, what: str, tol: float = GRAD_TOL) -> None:
    """Two derivatives of ``F + P`` (``grad`` or ``jvp``, see :func:`run`) agree along every point's tangent."""
    x, y = along(case, d_ref), along(case, d)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y)), f"{what}: non-finite derivative {x}, {y}"
    err = np.abs(x - y) / (1.0 + np.abs(y))
    if not np.all(err <= tol):
        i = int(np.argmax(err))
        raise AssertionError(f"{what}: d(F + P) at point {i} ({case.point(i)}) along {case.tangents[i]}: "
                             f"{x[i]!r} vs {y[i]!r} (relative error {err[i]:.3g} > {tol:g}); full derivative "
                             f"of the first: {np.asarray(d_ref)[i]}")


def compare(case: Case, what: str, schrodinger: bool = False, compiled: str = "jvp") -> Any:
    """compiled (``compiled`` = "grad" or "jvp") == Heisenberg (forward mode), values and derivatives, and ==
    Schrodinger (values) if asked. Returns the compiled result."""
    ref, d_ref = run(case, "compiled", compiled)
    assert_nontrivial(ref, what)
    assert np.max(np.abs(along(case, d_ref))) > 1e-6, f"{what}: F + P does not depend on the numbers: {d_ref}"
    res, d = run(case, "heisenberg", "jvp")
    assert_same(ref, res, f"{what}: compiled vs heisenberg", case)
    assert_same_derivatives(case, d_ref, d, f"{what}: compiled ({compiled}) vs heisenberg")
    if schrodinger:
        res, _ = run(case, "schrodinger")
        assert_same(ref, res, f"{what}: compiled vs schrodinger", case)
    return ref


# ----------------------------------------------------------------------------- 1. and 2. every kind
def fits(kind: str, structure: str) -> bool:
    return varied_keys(kind, structure, random_points(ELEMENTS[kind], np.random.default_rng(0), 1)[0]) is not None


#: every kind fits the polarization structure: each is checked alone there; on the others every kind that fits
#: sits in one path of one link (each structure pays a warm-up of 10-20 s: one link each). The single-photon
#: protocol's path elements (loss, phase shifter, conversion) are the frequency link's, and its own physics (the
#: path phase) is checked against an independent dense model in tests/test_link_dense.py.
PER_KIND = "polarization"
COMBINED = ("frequency", "time_bin")
KINDS = sorted(ELEMENTS)
POLARIZATION_KINDS = sorted(k for k in ELEMENTS if fits(k, PER_KIND))


def test_registry_cases_cover_every_kind():
    assert POLARIZATION_KINDS == KINDS, "every kind acts on a polarization photon (else give it its own structure)"
    assert {PER_KIND, *COMBINED, "single_photon"} == set(STRUCTURES)  # single_photon: see COMBINED
    assert any(fits(k, "single_photon") for k in KINDS)
    for structure in COMBINED:
        assert any(fits(k, structure) for k in KINDS), structure
    assert not fits("wave_plate", "time_bin") and fits("fiber", "time_bin")  # fiber: its loss only
    for kind in BOTH_NODES:  # in one path only: refused
        with pytest.raises(ConfigError, match="wavelength"):
            ij.load_link({**base_config("polarization"),
                          "node_b": {**base_config("polarization")["node_b"], "path": [{"element": kind}]}})


@pytest.mark.parametrize("kind", KINDS)
def test_element_compiled_matches_dense(kind):
    """Values (every field, every point) and derivatives: the compiled path's ``jax.grad`` of ``F + P`` w.r.t.
    the element's numbers, along a random direction per point, == the dense Heisenberg forward-mode derivative."""
    label = f"{kind}/{PER_KIND}"
    case = element_case(PER_KIND, [kind], zlib.crc32(label.encode()), label=label)
    compare(case, f"{kind} on {PER_KIND}", compiled="grad")


@pytest.mark.parametrize("structure", COMBINED)
def test_every_fitting_kind_in_one_path(structure):
    kinds = [k for k in KINDS if fits(k, structure)]
    case = element_case(structure, kinds, zlib.crc32(structure.encode()))
    compare(case, f"{' -> '.join(kinds)} on {structure}")


# ----------------------------------------------------------------------------- 3. random compositions
POLARIZATION_POOL = [(k, {}) for k in POLARIZATION_KINDS] + [("phase_shifter", {"mode": 0})]
N_COMPOSITIONS = 3


def compositions(seed: int = 2028) -> list[tuple[list, list]]:
    """Seeded random ``(path_b, path_a)``: 2-4 elements in B's path and 0-2 in A's, drawn from a shuffled cycle
    of the pool so that every pool entry is in some composition."""
    rng = np.random.default_rng(seed)
    order = [POLARIZATION_POOL[i] for i in rng.permutation(len(POLARIZATION_POOL))]
    sizes = [(int(rng.integers(2, 5)), int(rng.integers(0, 3))) for _ in range(N_COMPOSITIONS)]
    out, pos = [], 0
    for nb, na in sizes:
        take = [order[(pos + i) % len(order)] for i in range(nb + na)]
        pos += nb + na
        b, a = take[:nb], take[nb:]
        for i, entry in enumerate(a):  # a kind that needs both paths goes into B's (and so into A's too)
            if entry[0] in BOTH_NODES:
                j = next(j for j, e in enumerate(b) if e[0] not in BOTH_NODES)
                a[i], b[j] = b[j], entry
        out.append((b, a))
    return out


COMPOSITIONS = compositions()


def test_compositions_cover_the_pool():
    used = {(k, tuple(sorted(s.items()))) for path_b, path_a in COMPOSITIONS for k, s in path_b + path_a}
    assert used == {(k, tuple(sorted(s.items()))) for k, s in POLARIZATION_POOL}, used
    assert all(2 <= len(b) <= 4 and 0 <= len(a) <= 2 for b, a in COMPOSITIONS)


def describe(path: list) -> str:
    return " -> ".join(k + (f"{s}" if s else "") for k, s in path) or "(none)"


@pytest.mark.parametrize("index", range(N_COMPOSITIONS))
def test_random_composition_all_methods_agree(index):
    path_b, path_a = COMPOSITIONS[index]
    rng = np.random.default_rng(100 + index)
    detector = str(rng.choice(analyzer("two_photon", "polarization").detector_names))
    extra = {"station.beam_splitter_reflectivity": rng.uniform(0.35, 0.45, B),
             "station.beam_splitter_phase_rad": rng.uniform(0.6, 0.8, B),
             f"detection.detectors.{detector}.efficiency": rng.uniform(0.6, 0.8, B),
             f"detection.detectors.{detector}.dark_count_rate_hz": rng.uniform(2e4, 6e4, B)}
    case = element_case("polarization", path_b, 200 + index, path_a=path_a, extra=extra)
    compare(case, f"composition {index}: node_b {describe(path_b)}; node_a {describe(path_a)}; own detector "
                  f"{detector}", schrodinger=True)


# ----------------------------------------------------------------------------- 4. a broken rule is noticed
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BrokenWavePlate(WavePlate):
    """A wave plate whose compiled amplitude rule flips the retardance's sign (its dense action is the intact one).

    (Transposing the Jones matrix would not do: a retarder's ``R(t) D R(-t)`` is symmetric.)"""

    def rule(self, factor, t, modes, vars_, number):  # noqa: ANN001, ANN201
        assert isinstance(factor, Unitary)
        wrong = Unitary(WavePlate(-self.retardance_rad, self.angle_rad).factors()[0].u)
        return compiled_module.RULES[Unitary](wrong, t, modes, vars_, number)


def test_a_broken_rule_fails_the_comparison():
    label = "wave_plate/polarization"  # the numbers of test_element_compiled_matches_dense[wave_plate-polarization]
    case = element_case("polarization", ["wave_plate"], zlib.crc32(label.encode()), label=label)
    (el,) = case.link.node_b.path
    broken = BrokenWavePlate(**{f.name: getattr(el, f.name) for f in dataclasses.fields(el)})
    bad = dataclasses.replace(case.link, node_b=dataclasses.replace(case.link.node_b, path=(broken,)))
    bad_case = dataclasses.replace(case, link=bad, label=None)
    # its dense action and factors are the intact plate's, so the intact dense result is the reference
    assert BrokenWavePlate.apply is WavePlate.apply and BrokenWavePlate.factors is WavePlate.factors
    good, d_good = run(case, "compiled", "grad")
    dense, d_dense = run(case, "heisenberg", "jvp")
    assert_same(good, dense, "the intact wave plate", case)  # the comparison passes on the intact plate
    wrong, _ = run(bad_case, "compiled", "grad")
    with pytest.raises(AssertionError, match="exceeds"):
        assert_same(wrong, dense, "broken rule", bad_case)
    d = differences(wrong, dense)
    # flipping the retardance conjugates B's Jones matrix; on this link (real sources, station phase 0) that
    # conjugates the heralded state and leaves F and P alone: only the state comparison can see it
    assert d["state"] > 1e-6, d


# ----------------------------------------------------------------------------- 5. closed forms
def ideal_case(path_b: list, values: dict) -> Case:
    """Polarization link without loss or noise (collection 1, a window of 1e5 lifetimes, ideal everything)."""
    cfg = {"protocol": "two_photon", "encoding": "polarization", "node_a": {"collection_efficiency": 1.0},
           "node_b": {"collection_efficiency": 1.0, "path": list(path_b)}, "detection": {"window_ns": 1.0e5}}
    link = ij.load_link(cfg)
    keys = tuple(values)
    link = link.set({k: v[0] for k, v in values.items()})
    return Case(link, keys, np.array([values[k] for k in keys], dtype=np.float64).T, {})


def check_closed_form(res: Any, fidelity: Any, success: Any = 0.5, patterns: Any = None,
                      pattern_fidelities: Any = None, what: str = "") -> None:
    np.testing.assert_allclose(np.asarray(res.fidelity), fidelity, atol=1e-12, err_msg=f"{what}: F")
    np.testing.assert_allclose(np.asarray(res.success_probability), success, atol=1e-12, err_msg=f"{what}: P")
    if patterns is not None:
        np.testing.assert_allclose(np.asarray(res.pattern_probabilities), patterns, atol=1e-12,
                                   err_msg=f"{what}: pattern probabilities")
    if pattern_fidelities is not None:
        np.testing.assert_allclose(np.asarray(res.pattern_fidelities), pattern_fidelities, atol=1e-12,
                                   err_msg=f"{what}: pattern fidelities")


#: every method, each in the mode it runs in everywhere in this file
MODES = (("compiled", "jvp"), ("heisenberg", "jvp"), ("schrodinger", None))


def check_methods(case: Case, *args: Any, what: str = "", methods: tuple = MODES, **kw: Any) -> dict:
    out = {}
    for m, mode in methods:
        out[m] = run(case, m, mode)
        check_closed_form(out[m][0], *args, what=f"{what} ({m})", **kw)
    return out


# With ideal sources and a unitary Jones matrix J on node B's photon, the accepted patterns keep the
# (h_a v_b, v_a h_b) part: ion state J_vh|00> + J_vv|01> + J_hh|10> + J_hv|11> (after the Pauli frame; the
# patterns that herald Psi- have h_a v_b - v_a h_b and Z on ion A), of norm^2 2 out of 4: P = 1/2 and
# F = |<Psi+|.>|^2 / 2 = |J_hh + J_vv|^2 / 4 = |tr J|^2 / 4.
def test_wave_plates_closed_form():
    """A retarder R(t) diag(e^{-iG/2}, e^{iG/2}) R(-t) has tr J = 2 cos(G / 2) at any angle: F = (1 + cos G) / 2
    (1 at G = 0, 0 at G = pi), dF/dG = -sin(G) / 2, and F does not depend on the angle."""
    g = np.array([0.0, 0.5, np.pi])
    case = ideal_case([{"element": "wave_plate", "name": "wp"}],
                      {"node_b.path.wp.retardance_rad": g, "node_b.path.wp.angle_rad": np.array([1.3, 0.0, 0.0])})
    expected = np.stack([-np.sin(g) / 2.0, np.zeros(B)], axis=1)  # d(F + P)/d(G, angle); P = 1/2 throughout
    res = check_methods(case, (1.0 + np.cos(g)) / 2.0, what="wave plate",
                        methods=(("compiled", "grad"), ("heisenberg", "jvp")))
    grad = np.asarray(res["compiled"][1])
    np.testing.assert_allclose(grad, expected, atol=1e-10, err_msg="compiled jax.grad")
    assert abs(grad[1, 0] - (-np.sin(0.5) / 2.0)) < 1e-10, grad
    np.testing.assert_allclose(np.asarray(res["heisenberg"][1]), along(case, expected), atol=1e-10,
                               err_msg="heisenberg forward mode")


def test_half_wave_plate_closed_form():
    """tr J = 2 cos(pi / 2) = 0: F = 0 at every angle (at angle 0, J = -i Z turns Psi+ into Psi-), P = 1/2."""
    case = ideal_case([{"element": "half_wave_plate", "name": "p"}],
                      {"node_b.path.p.angle_rad": np.array([0.0, 0.3, -2.0])})
    check_methods(case, np.zeros(B), what="half-wave plate")


def test_rotator_closed_form():
    """R(t) = [[cos t, -sin t], [sin t, cos t]]: tr J = 2 cos t, F = cos^2 t, P = 1/2."""
    t = np.array([0.0, 0.4, 2.5])
    case = ideal_case([{"element": "rotator", "name": "r"}], {"node_b.path.r.angle_rad": t})
    check_methods(case, np.cos(t) ** 2, what="rotator", methods=MODES[:2])


def test_station_beam_splitter_and_detector_efficiency_closed_form():
    """Beam splitter a -> t c - e^{i phi} r d, b -> e^{-i phi} r c + t d (t = sqrt(1-R), r = sqrt R), detector
    c_h of efficiency eta, ideal sources (|0>h + |1>v at each node). The h_a v_b and v_a h_b photons are told
    apart by their polarization:

    * c_h + c_v: amplitude t r e^{-i phi} on both, Psi+: P = t^2 r^2 / 2, times eta (it needs c_h), F = 1;
      d_h + d_v: -t r e^{i phi} on both, P = t^2 r^2 / 2, F = 1;
    * c_h + d_v: t^2 |01> - r^2 |10> (Psi-, then Z on ion A): P = (t^4 + r^4) / 4, times eta,
      F = (t^2 + r^2)^2 / (2 (t^4 + r^4)) = 1 / (2 (t^4 + r^4)); c_v + d_h likewise, without eta;
    * h h and v v pairs reach only same-polarization detectors (c_h + d_h, ...): never accepted.

    So P = (1 + eta) / 4 at R = 1/2 (1/2 for eta = 1, any R), and F = 2 R (1 - R) + 1/2 for every eta and phi.
    """
    r2 = np.array([0.5, 0.3, 0.85])
    eta = np.array([0.6, 0.8, 0.45])
    phi = np.array([0.0, 0.7, -1.9])
    case = ideal_case([], {"station.beam_splitter_reflectivity": r2, "station.beam_splitter_phase_rad": phi,
                           "detection.detectors.c_h.efficiency": eta})
    assert [p[1] for p in analyzer("two_photon", "polarization").patterns] == [
        ("c_h", "c_v"), ("d_h", "d_v"), ("c_h", "d_v"), ("c_v", "d_h")]
    t2 = 1.0 - r2
    same, cross = t2 * r2 / 2.0, (t2**2 + r2**2) / 4.0
    patterns = np.stack([eta * same, same, eta * cross, cross], axis=1)
    f_cross = 1.0 / (2.0 * (t2**2 + r2**2))
    assert patterns[0].sum() == pytest.approx((1.0 + eta[0]) / 4.0, abs=1e-15)
    check_methods(case, 2.0 * r2 * (1.0 - r2) + 0.5, patterns.sum(axis=1), patterns,
                  np.stack([np.ones(B), np.ones(B), f_cross, f_cross], axis=1), what="station")
