"""Named sets of experiments (presets) and their andi-datasets parameter dictionaries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from andi2kit.constants import BOX_PX, LOCALISATION_NOISE, MODEL_NAMES, N_FRAMES
from andi2kit.simulation.andi_compat import import_andi
from andi2kit.simulation.priors import (
    draw_compartments,
    draw_dense,
    draw_dimers,
    draw_directed,
    draw_directed_traps,
    draw_fast,
    draw_fast_dimers,
    draw_scattered_dimers,
    draw_short_traps,
    draw_training,
    draw_wide,
)
from andi2kit.training_data import sample_definition

#: andi-datasets' model numbering (``_get_dic_andi2``).
MODEL_NUMBERS = {name: number for number, name in enumerate(MODEL_NAMES, start=1)}


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment: a model of andi-datasets and overrides of its challenge defaults.

    Attributes
    ----------
    model : str
        One of :data:`MODEL_NUMBERS`.
    params : Mapping
        Keys of the andi-datasets dictionary replacing those of ``_get_dic_andi2(model)``
        (``Ds``, ``alphas`` and ``M`` as nested lists; they become arrays).
    """

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    """A named set of experiments.

    Attributes
    ----------
    name, description : str
    experiments : tuple of ExperimentSpec
    fovs : int
        FOVs per experiment.
    num_vip : int
        VIP particles per FOV (Track 1).
    sigma_noise : float
        Localisation noise (px) added to the public trajectories.
    min_N : int
        Experiments with fewer particles are raised to this many (the benchmark's rule).
    seeded_defaults : bool
        Draw the random defaults of ``_get_dic_andi2`` under the run's ``seed`` (every seed is
        a new set of experiments, as the organisers' generator makes them); otherwise under a
        fixed seed (the experiments are the same whatever the run's seed).
    draw : callable, optional
        ``draw(rng, model) -> overrides``: each experiment's overrides are drawn from a
        ``numpy.random.Generator`` seeded by the run's ``seed`` (applied over the spec's own
        ``params``), so every seed is a new set of experiments from the preset's priors.
    """

    name: str
    description: str
    experiments: tuple[ExperimentSpec, ...]
    fovs: int
    num_vip: int = 10
    sigma_noise: float = LOCALISATION_NOISE
    min_N: int = 100
    seeded_defaults: bool = False
    draw: Callable[[np.random.Generator, str], dict[str, Any]] | None = None


def _two(a1: float, va1: float, a2: float, va2: float) -> list[list[float]]:
    return [[a1, va1], [a2, va2]]


_BENCHMARK = (
    ExperimentSpec("multi_state", {
        "alphas": [[1, 1e-4], [1, 0.01], [1, 0.01]],
        "Ds": [[0.15, 0.01], [0.33, 0.001], [0.95, 0.01]],
        "M": [[0.946, 0.024, 0.03], [0.016, 0.92, 0.064], [0.037, 0.14, 0.823]],
    }),
    ExperimentSpec("dimerization", {
        "alphas": _two(1, 0.1, 1.1, 0.01), "Ds": _two(0.28, 0.001, 0.0035, 1e-4),
        "r": 0.5, "Pb": 1, "Pu": 0.1, "N": 750,
    }),
    ExperimentSpec("immobile_traps", {
        "alphas": [1, 0.005], "Ds": [1, 0.1], "Pb": 0.7, "Pu": 1 / 60, "Nt": 500,
    }),
    ExperimentSpec("confinement", {
        "alphas": _two(1, 0.005, 0.2, 0.001), "Ds": _two(1, 0.1, 0.01, 0.001),
        "r": 2, "trans": 0.1, "Nc": 150,
    }),
    ExperimentSpec("dimerization", {
        "alphas": _two(1, 0.005, 0.2, 0.001), "Ds": _two(1, 0.1, 0.01, 0.001),
        "r": 0.35, "Pb": 1, "Pu": 1 / 60, "N": 500,
    }),
    ExperimentSpec("dimerization", {
        "alphas": _two(0.7, 0.1, 1.2, 0.01), "Ds": _two(0.1, 0.1, 1.0, 0.01),
        "r": 1, "Pb": 1, "Pu": 0.05, "N": 100,
    }),
    ExperimentSpec("multi_state", {
        "alphas": _two(0.7, 0.1, 1.2, 0.01), "Ds": _two(0.1, 0.1, 1.0, 0.01),
        "M": [[1 - 1 / 60, 1 / 60], [0.05, 0.95]], "N": 100,
    }),
    ExperimentSpec("single_state", {"alphas": [1, 10], "Ds": [1, 100]}),
    ExperimentSpec("immobile_traps", {
        "alphas": [1.99, 0.01], "Ds": [1, 0.01], "Pb": 0.7, "Pu": 0.2, "Nt": 1000, "r": 1.5,
    }),
)

# Demo and test: benchmark experiments that render quickly, chosen to cover change points
# (multi-state, traps, confinement) and every ensemble-file shape.
_DEMO = (_BENCHMARK[0], _BENCHMARK[2], _BENCHMARK[3], _BENCHMARK[5], _BENCHMARK[7])
_TEST = (
    ExperimentSpec("multi_state", {
        "alphas": _two(0.7, 0.1, 1.2, 0.01), "Ds": _two(0.1, 0.1, 1.0, 0.01),
        "M": [[0.98, 0.02], [0.02, 0.98]], "N": 70,
    }),
    ExperimentSpec("immobile_traps", {
        "alphas": [1, 0.005], "Ds": [1, 0.1], "Pb": 0.7, "Pu": 0.05, "Nt": 500, "N": 70,
    }),
)



def _validation_experiments(n_per_model: int = 2, seed: int = 99) -> tuple[ExperimentSpec, ...]:
    """Random definitions from the training-data priors (never the benchmark's), for tuning."""
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n_per_model):
        for model in MODEL_NAMES:
            dic = sample_definition(rng, model)
            params = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                      for k, v in dic.items() if k not in ("model", "T", "L")}
            params["N"] = max(int(params["N"]), 60)
            specs.append(ExperimentSpec(model, params))
    return tuple(specs)


#: Two experiments of each andi-datasets model (the drawn presets' layout).
_TWO_PER_MODEL = tuple(ExperimentSpec(m) for m in MODEL_NUMBERS for _ in range(2))


def _five_each(*models: str) -> tuple[ExperimentSpec, ...]:
    """Five experiments of each model, in that order."""
    return tuple(ExperimentSpec(m) for m in models for _ in range(5))


#: Named presets. ``benchmark`` follows the organisers' 9 definitions (30 FOVs, 10 VIPs).
PRESETS: dict[str, Preset] = {
    "benchmark": Preset(
        "benchmark",
        "The 9 experiment definitions of the AnDi 2 benchmark (paper Tables 3-4), 30 FOVs each.",
        _BENCHMARK, fovs=30,
    ),
    "demo": Preset(
        "demo",
        "5 benchmark experiments (multi-state, traps, confinement, dimerization, single state),"
        " 1 FOV each: a few minutes with videos on 2 cores.",
        _DEMO, fovs=2,
    ),
    "validation": Preset(
        "validation",
        "10 random experiments (2 per model) drawn from the training-data priors, 4 FOVs each:"
        " for tuning segmentation and ensembles without touching the benchmark.",
        _validation_experiments(), fovs=4, min_N=0,
    ),
    "challenge": Preset(
        "challenge",
        "10 experiments (2 per model) with andi-datasets' own random defaults"
        " (_get_dic_andi2, drawn anew for every seed), 3 FOVs each with videos: unseen"
        " experiments like the challenge's; tune on one seed, report on another.",
        _TWO_PER_MODEL, fovs=3,
        seeded_defaults=True,
    ),
    "wide": Preset(
        "wide",
        "10 experiments (2 per model) drawn under the run's seed from wide priors (D 0.05-3"
        " px²/frame, D_slow/D_fast 0.005-0.3, α 0.2-1.9, dwell times 5-300 frames, traps,"
        " dimer radii and compartments from small to large; andi2kit.simulation.priors),"
        " 3 FOVs each: does the pipeline generalise beyond challenge-like experiments?",
        _TWO_PER_MODEL, fovs=3,
        draw=draw_wide,
    ),
    "directed": Preset(
        "directed",
        "10 experiments (2 per model) from the wide priors with the fast (or only) state's α"
        " drawn from 1.8-1.999, across andi-datasets' 1.9 line between free and directed"
        " motion, 3 FOVs each: are directed states called where they are?",
        _TWO_PER_MODEL, fovs=3,
        draw=draw_directed,
    ),
    "compartments": Preset(
        "compartments",
        "10 experiments from the wide priors, 5 of confinement in many small compartments"
        " (radius 1.5-4 px, 100-200 of them: more than the particles, so that confined"
        " stretches seldom share one) and 5 of multi-state motion (a slow state entered and"
        " left, the look-alike of confinement), 3 FOVs each: is confinement told from a slow"
        " state when compartments do not clump?",
        _five_each("confinement", "multi_state"),
        fovs=3,
        draw=draw_compartments,
    ),
    "traps": Preset(
        "traps",
        "10 experiments from the wide priors, 5 of immobile traps that hold a particle for a"
        " few frames at a time (500-1500 traps of radius 1-2 px, unbinding probability"
        " 0.1-0.3 per frame) and 5 of single-state motion (the look-alike: no stops), 3 FOVs"
        " each: are short trapping bouts called immobile, and never where there are none?",
        _five_each("immobile_traps", "single_state"),
        fovs=3,
        draw=draw_short_traps,
    ),
    "directed-traps": Preset(
        "directed-traps",
        "10 experiments from the wide priors, 5 of immobile traps that hold a particle for a"
        " few frames at a time (as in ``traps``) and 5 of single-state motion, the (only)"
        " state's α drawn from 1.8-1.999, across andi-datasets' 1.9 line between free and"
        " directed motion, 3 FOVs each: are stops of nearly ballistic particles found, and"
        " the motion between them called directed where it is?",
        _five_each("immobile_traps", "single_state"),
        fovs=3,
        draw=draw_directed_traps,
    ),
    "fast": Preset(
        "fast",
        "10 experiments from the wide priors, 5 of single-state and 5 of multi-state motion"
        " whose (fast) state has D 1-20 px²/frame (2-9 px per frame), 3 FOVs each with"
        " videos: does the tracker keep particles that move several pixels per frame?",
        _five_each("single_state", "multi_state"),
        fovs=3,
        draw=draw_fast,
    ),
    "dense": Preset(
        "dense",
        "10 experiments (2 per model) from the wide priors in crowded fields (300-800"
        " particles in the box, 90-250 in view), 3 FOVs each with videos: does the tracker"
        " keep VIPs whose neighbours are a few pixels away?",
        _TWO_PER_MODEL, fovs=3,
        draw=draw_dense,
    ),
    "dimers": Preset(
        "dimers",
        "10 experiments from the wide priors with 100-800 particles in the box, 5 of"
        " dimerization (binding radius 0.3-1.5 px, unbinding probability 0.005-0.3 per"
        " frame) and 5 of multi-state motion (changes of motion without a partner), 3 FOVs"
        " each: are bindings and partings cut to the frame, and only where partners are?",
        _five_each("dimerization", "multi_state"),
        fovs=3,
        draw=draw_dimers,
    ),
    "fast-dimers": Preset(
        "fast-dimers",
        "The dimers preset with each dimerization experiment's states swapped: bound pairs"
        " move faster than free particles (D_free / D_bound 0.005-0.3), 5 dimerization and 5"
        " multi-state experiments, 3 FOVs each: is dimerization told apart whichever state"
        " is the faster?",
        _five_each("dimerization", "multi_state"),
        fovs=3,
        draw=draw_fast_dimers,
    ),
    "scattered-dimers": Preset(
        "scattered-dimers",
        "The dimers preset with every state's D scattered widely between particles (relative"
        " spread about 30-300 %) and a dimerization experiment's bound state the faster one"
        " half of the time, 5 dimerization and 5 multi-state experiments, 3 FOVs each: is"
        " dimerization told apart where the free particles' K differ tenfold?",
        _five_each("dimerization", "multi_state"),
        fovs=3,
        draw=draw_scattered_dimers,
    ),
    "training": Preset(
        "training",
        "10 experiments (2 per model) drawn under the run's seed from the per-frame model's"
        " training priors (andi2kit.training_data.sample_definition: what the U-Net and the"
        " state stage learnt from), 3 FOVs each: the held-out per-frame recall of the"
        " submitted states on experiments like those.",
        _TWO_PER_MODEL, fovs=3,
        draw=draw_training,
    ),
    "test": Preset(
        "test",
        "2 small experiments (multi-state, traps; 70 particles), 2 FOVs each, for the tests.",
        _TEST, fovs=2, min_N=0,
    ),
}


def get_preset(preset: str) -> Preset:
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}") from None


def experiment_definitions(preset: str, seed: int = 0) -> list[dict]:
    """The andi-datasets parameter dictionaries of a preset's experiments.

    Each starts from ``_get_dic_andi2(model)`` (the challenge defaults: T = 200, L = 1.8 * 128,
    N = 50) and applies the preset's overrides; N is then raised to the preset's ``min_N``
    (100 for ``benchmark`` and ``demo``). The random defaults of ``_get_dic_andi2`` are drawn
    under a fixed seed, or under ``seed`` for a preset with ``seeded_defaults``, and the global
    NumPy state is restored, so the result is deterministic. A preset with ``draw`` (``wide``)
    then applies overrides drawn under ``seed`` from its own generator.
    Per-FOV geometry (``comp_center`` of confinement, ``traps_pos`` of traps) is drawn in each
    FOV's job and is not part of the definition.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS`.
    seed : int
        The run's seed; used only by presets with ``seeded_defaults``.

    Returns
    -------
    list of dict
        One dictionary per experiment, in ``exp_0, exp_1, ...`` order; ``Ds``, ``alphas``
        and ``M`` are NumPy arrays, as andi-datasets expects.
    """
    spec = get_preset(preset)
    dc = import_andi()
    # andi-datasets draws from NumPy's legacy global generator: seed it, then restore it
    state = np.random.get_state()  # noqa: NPY002
    rng = np.random.default_rng([seed, 11]) if spec.draw is not None else None
    try:
        np.random.seed(seed if spec.seeded_defaults else 0)  # noqa: NPY002
        dics = []
        for exp in spec.experiments:
            dic = dc._get_dic_andi2(MODEL_NUMBERS[exp.model])
            params = dict(exp.params)
            if spec.draw is not None:
                params.update(spec.draw(rng, exp.model))
            for key, value in params.items():
                dic[key] = np.array(value, dtype=float) if key in ("Ds", "alphas", "M") else value
            dic["N"] = max(int(dic["N"]), spec.min_N)
            if dic["T"] != N_FRAMES or dic["L"] != BOX_PX:
                raise AssertionError("andi-datasets defaults changed: T or L is not 200, 230.4")
            dics.append(dic)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return dics
