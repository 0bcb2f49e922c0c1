"""Every path element, generated from the registry: the compiled fast path (built from each factor's amplitude
rule) against the dense reference interpreter (the factors' dense action on density matrices), in both pictures.

1. each kind in ``ELEMENTS``, on every link structure it fits, at random numbers inside its keys' ranges, on a
   nontrivial base link: compiled == dense Heisenberg (== dense Schrodinger on polarization / single_photon)
   to 1e-10 in fidelity, success probability, per-pattern probabilities and fidelities and the heralded state;
2. gradients of ``F + P`` w.r.t. every element's numbers: compiled == dense Heisenberg;
3. seeded random compositions of polarization elements in both paths, with a non-default station and a detector
   of its own: compiled == Heisenberg == Schrodinger;
4. a deliberately broken amplitude rule (a wave plate whose compiled rule flips the retardance) must fail the
   same comparison;
5. closed forms derived here, independent of ionjax: wave plates, a rotator, the station's beam splitter of any
   reflectivity and one detector's own efficiency on an ideal link.

Runtime. Every distinct link structure (each element kind is its own pytree) would compile anew under ``jit``,
and the dense pictures take 10-50 s each to compile on a small CPU. So the checks run *without* ``jit``: a
``vmap`` over a batch of ``B`` random points, evaluated op by op. Each primitive then compiles once per shape and
is reused by every kind and structure of the same shapes (``B`` is the same everywhere for that reason): the first
link of a structure pays that warm-up, every further one costs about a second.
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
except ImportError:  # pragma: no cover - older name
    from ionjax.link.simulate import _simulate as evaluate

B = 3  # random points per batch: the same everywhere, so that op-by-op compiled primitives are reused
TOL = 1e-10
GRAD_TOL = 1e-8
FIELDS = ("fidelity", "success_probability", "pattern_probabilities", "pattern_fidelities", "state")

# structure -> (protocol, encoding, detector kind, dense pictures compared with the compiled path)
STRUCTURES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "polarization": ("two_photon", "polarization", "threshold", ("heisenberg", "schrodinger")),
    "time_bin": ("two_photon", "time_bin", "pnr", ("heisenberg",)),
    "frequency": ("two_photon", "frequency", "threshold", ("heisenberg",)),
    "single_photon": ("single_photon", "single_photon", "threshold", ("heisenberg", "schrodinger")),
}

#: kinds that must sit in both nodes' paths, with these keys equal in both (else the link is refused)
BOTH_NODES: dict[str, tuple[str, ...]] = {"frequency_conversion": ("output_wavelength_nm",)}


# ----------------------------------------------------------------------------- links
def base_config(structure: str, path_b: list, path_a: list = ()) -> dict:
    """A nontrivial link of ``structure``: lossy, noisy, imperfect sources and interference."""
    protocol, encoding, kind, _ = STRUCTURES[structure]
    two = protocol == "two_photon"

    def node(eta: float, fid: float, q: float, length: float, p: float, path: list) -> dict:
        out = {"collection_efficiency": eta, "ion_photon_fidelity": fid, "multi_photon_probability": q,
               "fiber_length_km": length, "fiber_attenuation_db_per_km": 0.2, "qubit_t2_s": 0.02,
               "photon_lifetime_ns": 8.0, "excitation_probability": p, "path": list(path)}
        if encoding == "time_bin":
            out["time_bin_pulse_error"] = 0.05 if eta > 0.29 else -0.03
        return out

    cfg: dict[str, Any] = {
        "protocol": protocol,
        "node_a": node(0.32, 0.97, 0.03, 2.0, 0.9 if two else 0.12, path_a),
        "node_b": node(0.27, 0.96, 0.02, 1.0, 0.85 if two else 0.09, path_b),
        "detection": {"kind": kind, "efficiency": 0.85, "dark_count_rate_hz": 2.0e4, "window_ns": 60.0},
        "interference": {"mode_overlap": 0.9},
    }
    if two:
        cfg["encoding"] = encoding
    if encoding == "frequency":
        cfg["interference"]["frequency_offset_hz"] = 1.0e7
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
    """A link and a batch of values of its varied dotted keys (``values[i]`` is point ``i``)."""

    link: Any
    keys: tuple[str, ...]
    values: np.ndarray
    names: dict  # element name -> kind

    @property
    def tangents(self) -> np.ndarray:
        """A random direction per point (seeded by the keys)."""
        rng = np.random.default_rng(zlib.crc32(" ".join(self.keys).encode()))
        return rng.normal(size=self.values.shape)

    def point(self, i: int) -> dict[str, float]:
        return dict(zip(self.keys, self.values[i].tolist()))


def element_case(structure: str, path_b: list, seed: int, path_a: list = (), extra: dict | None = None,
                 config: dict | None = None) -> Case:
    """Elements in node B's path (and A's) of a ``structure`` link at ``B`` random points.

    ``path_b``/``path_a`` list kinds or ``(kind, static keys)``; kinds of :data:`BOTH_NODES` in B's path go
    into A's path too. ``extra`` maps further dotted keys to ``(B,)`` values; ``config`` replaces the base
    link's dict."""
    rng = np.random.default_rng(seed)
    paths: dict[str, list] = {"node_a": [], "node_b": []}
    cols: dict[str, list] = {}
    names: dict[str, str] = {}

    def add(node: str, kind: str, static: dict, name: str, tied: dict | None = None) -> list:
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
            name = f"{node[-1]}{i}_{kind}"
            pts = add(node, kind, static, name)
            if node == "node_b" and kind in BOTH_NODES:
                add("node_a", kind, static, f"a{i}b_{kind}", [{k: p[k] for k in BOTH_NODES[kind]} for p in pts])
    cfg = config if config is not None else base_config(structure, [], [])
    cfg = {**cfg, "node_a": {**cfg["node_a"], "path": paths["node_a"]},
           "node_b": {**cfg["node_b"], "path": paths["node_b"]}}
    link = ij.load_link(cfg)
    cols.update({k: list(v) for k, v in (extra or {}).items()})
    link = link.set({k: v[0] for k, v in cols.items()})  # point 0 (a detector's own value becomes a leaf)
    values = np.array([cols[k] for k in cols], dtype=np.float64).T
    return Case(link, tuple(cols), values, names)


def run(case: Case, method: str, derivative: str | None = None) -> tuple[Any, Any]:
    """The batched result of ``method`` at every point of ``case``, and a derivative of ``F + P``:

    * ``derivative="grad"``: ``jax.grad`` (reverse mode), ``(B, K)``, w.r.t. the case's values;
    * ``derivative="jvp"``: forward mode along the case's tangents, ``(B,)`` (the same shapes as the values:
      the op-by-op compiled primitives of the forward pass are reused).
    """
    m = METHODS[method]()

    def result(v: jax.Array) -> Any:
        return evaluate(case.link.set(dict(zip(case.keys, v))), m)

    def objective(v: jax.Array) -> tuple[jax.Array, Any]:
        r = result(v)
        return r.fidelity + r.success_probability, r

    values = jnp.asarray(case.values)
    if derivative is None:
        return jax.vmap(result)(values), None
    if derivative == "grad":
        (_, res), g = jax.vmap(jax.value_and_grad(objective, has_aux=True))(values)
        return res, g
    if derivative == "jvp":
        (_, res), (d, _) = jax.vmap(lambda v, t: jax.jvp(objective, (v,), (t,)))(values, jnp.asarray(case.tangents))
        return res, d
    raise ValueError(derivative)


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


def assert_same_derivatives(case: Case, grad: Any, jvp: Any, what: str, tol: float = GRAD_TOL) -> None:
    """The compiled path's ``jax.grad`` along each point's tangent equals the dense forward-mode derivative."""
    grad, jvp = np.asarray(grad), np.asarray(jvp)
    along = np.sum(grad * case.tangents, axis=1)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(jvp)), f"{what}: non-finite derivative {grad}, {jvp}"
    err = np.abs(along - jvp) / (1.0 + np.abs(jvp))
    if not np.all(err <= tol):
        i = int(np.argmax(err))
        raise AssertionError(f"{what}: d(F + P) at point {i} ({case.point(i)}) along {case.tangents[i]}: compiled "
                             f"grad . t = {along[i]!r} (grad {grad[i]}) vs dense {jvp[i]!r} (relative error "
                             f"{err[i]:.3g} > {tol:g})")


# ----------------------------------------------------------------------------- 1. and 2. every kind
def fits(kind: str, structure: str) -> bool:
    return varied_keys(kind, structure, random_points(ELEMENTS[kind], np.random.default_rng(0), 1)[0]) is not None


def fits_fully(kind: str, structure: str) -> bool:
    """Every number of ``kind`` acts on ``structure``'s photon (a fiber's angles need polarization)."""
    point = random_points(ELEMENTS[kind], np.random.default_rng(0), 1)[0]
    return varied_keys(kind, structure, point) == tuple(ELEMENTS[kind].params())


def kind_structures(kind: str) -> list[str]:
    """Where ``kind`` is checked alone: on the cheapest structure that all its numbers act on (frequency, else
    polarization), and on every cheap structure that only part of them act on. Every kind also meets the
    polarization structure in the random compositions, and the single_photon and time_bin structures in
    :data:`COMBINED` (all kinds that fit there, in one path)."""
    if fits_fully(kind, "frequency"):
        return ["frequency"]
    return [s for s in ("polarization", "frequency") if fits(kind, s)]


#: structures on which every kind that fits sits in one path of one link (each pays a long warm-up)
COMBINED = ("single_photon", "time_bin")
KIND_CASES = [(kind, s) for kind in sorted(ELEMENTS) for s in kind_structures(kind)]
POLARIZATION_KINDS = sorted(k for k in ELEMENTS if fits(k, "polarization"))


def test_registry_cases_cover_every_kind():
    assert {s for _, s in KIND_CASES} | set(COMBINED) | {"polarization"} == set(STRUCTURES)
    assert {k for k, _ in KIND_CASES} == set(ELEMENTS)
    assert POLARIZATION_KINDS == sorted(ELEMENTS)  # every kind acts on a polarization photon
    for kind in BOTH_NODES:  # in one path only: refused
        with pytest.raises(ConfigError, match="wavelength"):
            ij.load_link(base_config("polarization", [{"element": kind, "name": "x"}]))


@pytest.mark.parametrize("kind,structure", KIND_CASES, ids=[f"{k}-{s}" for k, s in KIND_CASES])
def test_element_compiled_matches_dense(kind, structure):
    """Values (every field, every point) and derivatives: the compiled path's ``jax.grad`` of ``F + P`` w.r.t.
    the element's numbers along a random direction per point == the dense Heisenberg picture's forward-mode
    derivative."""
    case = element_case(structure, [kind], zlib.crc32(f"{kind}/{structure}".encode()))
    what = f"{kind} on {structure}"
    ref, grad = run(case, "compiled", "grad")
    assert_nontrivial(ref, what)
    assert np.max(np.abs(np.asarray(grad))) > 1e-6, f"{what}: F + P does not depend on the element: {grad}"
    res, jvp = run(case, "heisenberg", "jvp")
    assert_same(ref, res, f"{what}: compiled vs heisenberg", case)
    assert_same_derivatives(case, grad, jvp, f"{what}: compiled vs heisenberg")


@pytest.mark.parametrize("structure", COMBINED)
def test_every_fitting_kind_in_one_path(structure):
    kinds = sorted(k for k in ELEMENTS if fits(k, structure))
    case = element_case(structure, kinds, zlib.crc32(structure.encode()))
    what = f"{' -> '.join(kinds)} on {structure}"
    ref, _ = run(case, "compiled")
    assert_nontrivial(ref, what)
    for method in STRUCTURES[structure][3]:
        res, _ = run(case, method)
        assert_same(ref, res, f"{what}: compiled vs {method}", case)


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
        for i, entry in enumerate(a):  # a kind that needs both paths is put in B's (and so also in A's)
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
    what = f"composition {index}: node_b {describe(path_b)}; node_a {describe(path_a)}; own detector {detector}"
    ref, _ = run(case, "compiled")
    assert_nontrivial(ref, what)
    for method in ("heisenberg", "schrodinger"):
        res, _ = run(case, method)
        assert_same(ref, res, f"{what}: compiled vs {method}", case)


# ----------------------------------------------------------------------------- 4. a broken rule is noticed
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BrokenWavePlate(WavePlate):
    """A wave plate whose compiled amplitude rule flips the retardance's sign (its dense action is right)."""

    def rule(self, factor, t, modes, vars_, number):  # noqa: ANN001, ANN201
        wrong = Unitary(WavePlate(-self.retardance_rad, self.angle_rad).factors()[0].u)
        assert isinstance(factor, Unitary)
        return compiled_module.RULES[Unitary](wrong, t, modes, vars_, number)


def test_a_broken_rule_fails_the_comparison():
    case = element_case("polarization", ["wave_plate"], zlib.crc32(b"wave_plate/polarization"))
    good = case.link
    (el,) = good.node_b.path
    broken = BrokenWavePlate(**{f.name: getattr(el, f.name) for f in dataclasses.fields(el)})
    bad = dataclasses.replace(good, node_b=dataclasses.replace(good.node_b, path=(broken,)))
    bad_case = dataclasses.replace(case, link=bad)
    ref, _ = run(case, "compiled")
    res, _ = run(case, "heisenberg")
    assert_same(ref, res, "the intact wave plate")  # the same points pass
    wrong, _ = run(bad_case, "compiled")
    dense, _ = run(bad_case, "heisenberg")  # the dense action is unchanged
    assert_same(res, dense, "the broken plate's dense action is the intact one")
    with pytest.raises(AssertionError, match="exceeds"):
        assert_same(wrong, dense, "broken rule", bad_case)
    assert max(differences(wrong, dense).values()) > 1e-6


# ----------------------------------------------------------------------------- 5. closed forms
METHOD_NAMES = ("compiled", "heisenberg", "schrodinger")


def ideal_config(path_b: list = ()) -> dict:
    """Polarization link without loss or noise: every photon is detected, the ideal P is 1/2."""
    return {"protocol": "two_photon", "encoding": "polarization",
            "node_a": {"collection_efficiency": 1.0}, "node_b": {"collection_efficiency": 1.0, "path": list(path_b)},
            "detection": {"window_ns": 1.0e5}}


def ideal_case(path_b: list, values: dict) -> Case:
    link = ij.load_link(ideal_config(path_b))
    keys = tuple(values)
    vals = np.array([values[k] for k in keys], dtype=np.float64).T
    link = link.set({k: v[0] for k, v in values.items()})
    return Case(link, keys, vals, {})


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


def check_methods(case: Case, *args: Any, methods: tuple = METHOD_NAMES, what: str = "", **kw: Any) -> None:
    for m in methods:
        check_closed_form(run(case, m)[0], *args, what=f"{what} ({m})", **kw)


# With the ideal sources and a unitary Jones matrix J on node B's photon, the accepted patterns keep the
# (h_a v_b, v_a h_b) part: ion state J_vh|00> + J_vv|01> + J_hh|10> + J_hv|11> (after the Pauli frame), norm^2 2,
# so P = 1/2 and F = |<Psi+|.>|^2 / 2 = |J_hh + J_vv|^2 / 4 = |tr J|^2 / 4.
def test_wave_plates_closed_form():
    g = np.array([0.0, 0.5, np.pi])
    case = ideal_case([{"element": "wave_plate", "name": "wp"}],
                      {"node_b.path.wp.retardance_rad": g, "node_b.path.wp.angle_rad": np.array([1.3, 0.0, 0.0])})
    # tr J = 2 cos(G / 2) at any angle: F = cos^2(G / 2) = (1 + cos G) / 2: 1 at G = 0, 0 at G = pi;
    # dF/dG = -sin(G) / 2 (at G = 0.5: -0.2397), F does not depend on the angle and P = 1/2 on neither
    fidelity = (1.0 + np.cos(g)) / 2.0
    expected = np.stack([-np.sin(g) / 2.0, np.zeros(B)], axis=1)
    res, grad = run(case, "compiled", "grad")
    check_closed_form(res, fidelity, what="wave plate (compiled)")
    np.testing.assert_allclose(np.asarray(grad), expected, atol=1e-10, err_msg="compiled jax.grad")
    assert abs(np.asarray(grad)[1, 0] + np.sin(0.5) / 2.0) < 1e-10
    res, jvp = run(case, "heisenberg", "jvp")
    check_closed_form(res, fidelity, what="wave plate (heisenberg)")
    np.testing.assert_allclose(np.asarray(jvp), np.sum(expected * case.tangents, axis=1), atol=1e-10,
                               err_msg="heisenberg forward mode")
    res, _ = run(case, "schrodinger")
    check_closed_form(res, fidelity, what="wave plate (schrodinger)")


@pytest.mark.parametrize("kind,fidelity", [("half_wave_plate", 0.0), ("quarter_wave_plate", 0.5)])
def test_fixed_retarders_closed_form(kind, fidelity):
    """tr J = 2 cos(G / 2): a half-wave plate (G = pi) at any angle gives F = 0, a quarter-wave plate 1/2."""
    case = ideal_case([{"element": kind, "name": "p"}], {"node_b.path.p.angle_rad": np.array([0.0, 0.3, -2.0])})
    check_methods(case, np.full(B, fidelity), what=kind, methods=METHOD_NAMES if fidelity == 0.0 else METHOD_NAMES[:2])


def test_rotator_closed_form():
    """R(t) = [[cos t, -sin t], [sin t, cos t]]: tr = 2 cos t, F = cos^2 t."""
    t = np.array([0.0, 0.4, 2.5])
    case = ideal_case([{"element": "rotator", "name": "r"}], {"node_b.path.r.angle_rad": t})
    check_methods(case, np.cos(t) ** 2, what="rotator", methods=METHOD_NAMES[:2])


def test_station_beam_splitter_and_detector_efficiency_closed_form():
    """Beam splitter a -> t c - e^{i phi} r d, b -> e^{-i phi} r c + t d (t = sqrt(1-R), r = sqrt R), detector
    c_h of efficiency eta, ideal sources. The h_a v_b and v_a h_b photons are distinguishable by polarization;

    * c_h + c_v: amplitudes t r e^{-i phi} on both, Psi+: P = t^2 r^2 / 2 (times eta: it uses c_h), F = 1;
      d_h + d_v likewise without eta;
    * c_h + d_v: t^2 |01> - r^2 |10> (Psi-, Z on ion A): P = (t^4 + r^4) / 4 (times eta), F = 1 / (2 (t^4 + r^4));
      c_v + d_h likewise without eta;
    * h h and v v pairs only reach same-polarization detectors (c_h + d_h ...): never accepted.

    So P = (1 + eta) / 4 at R = 1/2, and F = 2 R (1 - R) + 1/2 for every eta and phi.
    """
    r2 = np.array([0.5, 0.3, 0.85])
    eta = np.array([0.6, 0.8, 0.45])
    phi = np.array([0.0, 0.7, -1.9])
    case = ideal_case([], {"station.beam_splitter_reflectivity": r2, "station.beam_splitter_phase_rad": phi,
                           "detection.detectors.c_h.efficiency": eta})
    assert analyzer("two_photon", "polarization").patterns[0][1] == ("c_h", "c_v")
    t2 = 1.0 - r2
    same, cross = t2 * r2 / 2.0, (t2**2 + r2**2) / 4.0
    patterns = np.stack([eta * same, same, eta * cross, cross], axis=1)
    f_cross = 1.0 / (2.0 * (t2**2 + r2**2))
    check_methods(case, 2.0 * r2 * (1.0 - r2) + 0.5, patterns.sum(axis=1), patterns,
                  np.stack([np.ones(B), np.ones(B), f_cross, f_cross], axis=1), what="station")
    np.testing.assert_allclose(patterns[0].sum(), (1.0 + eta[0]) / 4.0, atol=1e-15)
