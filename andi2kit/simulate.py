"""Simulate challenge-like datasets with the organisers' generator, laid out like the challenge.

Every field of view (FOV) is one independent job: it seeds the global NumPy generator and
``stochastic``'s generator from ``(seed, exp, fov)``, calls
:func:`andi_datasets.datasets_challenge.challenge_phenom_dataset` for that single FOV in a
private temporary folder, and moves the results into::

    OUT/public_data/track_1/exp_<E>/videos_fov_<F>.tiff     (videos only)
    OUT/public_data/track_2/exp_<E>/trajs_fov_<F>.csv       (traj_idx,frame,x,y only)
    OUT/ref/track_<1|2>/exp_<E>/traj_labs_fov_<F>.txt       (per-trajectory truth)
    OUT/ref/track_<1|2>/exp_<E>/ensemble_labels.txt
    OUT/ref/track_1/exp_<E>/vip_idx_fov_<F>.txt             (VIP indices, one integer a line)
    OUT/ref/track_1/exp_<E>/trajs_fov_<F>.csv               (true VIP trajectories, no noise)
    OUT/ref/track_1/exp_<E>/fov_origin_fov_<F>.txt          ("x0,y0": the FOV origin)
    OUT/manifest.json
    OUT/.staging/                                           (per-FOV records, for resuming)

Track 1 files are written only when videos are made (``video=True``).

Numbering
---------
Experiments are ``exp_0 .. exp_{n-1}`` in the order of :func:`experiment_definitions` (the
order of ``file_nonOverlap_reOrg``); ``exp_0`` of the ``benchmark`` preset is experiment 1 of
the paper's tables. FOVs are ``fov_0 .. fov_{m-1}``. Trajectory indices are the organisers':
with videos, the VIP particles are ``0 .. num_vip-1``.

Coordinates
-----------
Trajectories are in absolute coordinates of the simulation box (side ``L = 1.8 * 128`` px),
as in the challenge's public CSVs (``fov_coordinates=False``: with ``True``, andi-datasets
shifts the trajectories but still searches VIPs and renders the video at the absolute FOV, and
with videos it fails with "Could not find suitable VIP particles"). The FOV is the square
``[x0, x0 + 128] x [y0, y0 + 128]`` with the origin ``(x0, y0)`` drawn by andi-datasets
(integers in ``[11, 90)``); it is recorded in the manifest and in ``fov_origin_fov_<F>.txt``.

In the video, DeepTrack puts a trajectory's **x on the image rows** and **y on the columns**,
with pixel centres at integer coordinates::

    row = x - x0        col = y - y0

So a tracker that reports ``(x=col, y=row)`` (trackpy, ``io.decode_vip_frame``) must map back
with ``x_traj = row + x0 = y_tracker + x0`` and ``y_traj = col + y0 = x_tracker + y0``.
Checked on 190 VIPs of 19 simulated FOVs (``demo`` and a 1-FOV ``benchmark`` run): the
page-0 blob centroids (2x2-pixel blobs, so quantised to half pixels) lie 0.38 px on average
(at most 0.66 px) from the true first positions, and intensity-weighted centroids of the
particles on movie pages 1, 51 and 101 show no offset (mean signed error below 0.02 px on
each axis, median distance 0.24 px); with the axes not swapped the error is tens of pixels.
The test suite repeats the page-0 check.

Noise and determinism
---------------------
andi-datasets renders the video from noise-free positions and adds localisation noise to the
CSV afterwards. Here the simulation runs with ``sigma_noise=0``; the public CSV gets
Gaussian noise of the preset's ``sigma_noise`` (0.12 px) from a generator seeded per FOV, and
``ref/track_1/.../trajs_fov_<F>.csv`` keeps the noise-free VIP positions. The same ``seed``
gives byte-identical data files whatever the number of workers.

CSVs are sorted by ``traj_idx`` then ``frame`` (integers); the TIFF is andi-datasets' own
file, moved into place. Files are written through a temporary file and a rename, and a FOV's
staging record is written last, so an interrupted run resumes cleanly.

Cost
----
Without video a FOV takes 0.2-3 s (15 s for the 750-particle dimerization). Rendering grows
with the trajectories in the FOV: 10-30 s for 30-70 trajectories and 150-200 s for the
240-290 of the dense dimerization experiments (measured on a shared 2-core machine), so the
full ``benchmark`` (270 FOVs) needs roughly 4 CPU hours. With ``workers > 1`` the jobs run
in ``spawn`` processes: a script calling :func:`simulate` must guard its entry point with
``if __name__ == "__main__":``.

Organisers' quirks handled here
-------------------------------
* With ``get_video=True`` andi-datasets renumbers the trajectories (VIPs first) in the CSV but
  writes ``traj_labs`` with the indices from before the renumbering. The label lines are
  re-indexed here (each label's length is checked against its trajectory in the CSV).
* The FOV origin is not returned; it is captured from the call to ``segs_inside_fov``, which
  also sets a process-wide ``warnings.filterwarnings('ignore')`` (contained here).
* DeepTrack 1.x needs ``pkg_resources``, gone from recent setuptools; see ``_import_andi``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io as _stdio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import io, layout

__all__ = [
    "PRESETS",
    "ExperimentSpec",
    "Preset",
    "SimulationError",
    "experiment_definitions",
    "fov_origin_path",
    "read_fov_origin",
    "simulate",
]

#: andi-datasets' model numbering (``_get_dic_andi2``).
MODEL_NUMBERS = {
    "single_state": 1,
    "multi_state": 2,
    "immobile_traps": 3,
    "dimerization": 4,
    "confinement": 5,
}

#: Challenge geometry, never changed.
T_FRAMES = 200
FOV_PX = 128

STAGING = ".staging"
MANIFEST = "manifest.json"
_GENERATOR = "andi2kit.simulate"


class SimulationError(RuntimeError):
    """One or more FOVs failed; the message names each experiment and FOV."""


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
    """

    name: str
    description: str
    experiments: tuple[ExperimentSpec, ...]
    fovs: int
    num_vip: int = 10
    sigma_noise: float = 0.12
    min_N: int = 100
    seeded_defaults: bool = False


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
    from andi2kit.training_data import MODELS, sample_definition

    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n_per_model):
        for model in MODELS:
            dic = sample_definition(rng, model)
            params = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                      for k, v in dic.items() if k not in ("model", "T", "L")}
            params["N"] = max(int(params["N"]), 60)
            specs.append(ExperimentSpec(model, params))
    return tuple(specs)


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
        tuple(ExperimentSpec(m) for m in MODEL_NUMBERS for _ in range(2)), fovs=3,
        seeded_defaults=True,
    ),
    "test": Preset(
        "test",
        "2 small experiments (multi-state, traps; 70 particles), 2 FOVs each, for the tests.",
        _TEST, fovs=2, min_N=0,
    ),
}


# --------------------------------------------------------------------------------------------
# definitions
# --------------------------------------------------------------------------------------------


def _get_preset(preset: str) -> Preset:
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}") from None


def _import_andi() -> types.ModuleType:
    """Import ``andi_datasets.datasets_challenge`` with DeepTrack importable.

    DeepTrack 1.x imports ``pkg_resources``, which recent setuptools no longer ships; without
    it andi-datasets silently imports without DeepTrack and fails later when making videos.
    A minimal stand-in (``working_set`` keys only, which is all DeepTrack reads) is put in
    ``sys.modules`` just for DeepTrack's import.
    """
    if "deeptrack" not in sys.modules:
        with contextlib.suppress(ImportError):
            _import_deeptrack()
    from andi_datasets import datasets_challenge, utils_videos

    if not hasattr(utils_videos, "dt") and "deeptrack" in sys.modules:
        utils_videos.dt = sys.modules["deeptrack"]  # andi-datasets was imported before us
    return datasets_challenge


def _import_deeptrack() -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pkg_resources  # noqa: F401

            shim = None
        except ImportError:
            import importlib.metadata as md

            shim = types.ModuleType("pkg_resources")
            shim.working_set = [  # type: ignore[attr-defined]
                types.SimpleNamespace(key=(d.metadata["Name"] or "").lower())
                for d in md.distributions()
            ]
            sys.modules["pkg_resources"] = shim
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import deeptrack
        finally:
            if shim is not None and sys.modules.get("pkg_resources") is shim:
                del sys.modules["pkg_resources"]
    return deeptrack


def experiment_definitions(preset: str, seed: int = 0) -> list[dict]:
    """The andi-datasets parameter dictionaries of a preset's experiments.

    Each starts from ``_get_dic_andi2(model)`` (the challenge defaults: T = 200, L = 1.8 * 128,
    N = 50) and applies the preset's overrides; N is then raised to the preset's ``min_N``
    (100 for ``benchmark`` and ``demo``). The random defaults of ``_get_dic_andi2`` are drawn
    under a fixed seed, or under ``seed`` for a preset with ``seeded_defaults``, and the global
    NumPy state is restored, so the result is deterministic.
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
    spec = _get_preset(preset)
    dc = _import_andi()
    # andi-datasets draws from NumPy's legacy global generator: seed it, then restore it
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed if spec.seeded_defaults else 0)  # noqa: NPY002
        dics = []
        for exp in spec.experiments:
            dic = dc._get_dic_andi2(MODEL_NUMBERS[exp.model])
            for key, value in exp.params.items():
                dic[key] = np.array(value, dtype=float) if key in ("Ds", "alphas", "M") else value
            dic["N"] = max(int(dic["N"]), spec.min_N)
            if dic["T"] != T_FRAMES or dic["L"] != 1.8 * FOV_PX:
                raise AssertionError("andi-datasets defaults changed: T or L is not 200, 230.4")
            dics.append(dic)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return dics


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(_jsonable(obj), sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# paths
# --------------------------------------------------------------------------------------------


def fov_origin_path(ref: str | Path, exp: int, fov: int) -> Path:
    """``ref/track_1/exp_<E>/fov_origin_fov_<F>.txt``: the FOV origin ``x0,y0``."""
    return layout.exp_dir(ref, 1, exp) / f"fov_origin_fov_{fov}.txt"


def read_fov_origin(path: str | Path) -> np.ndarray:
    """Read a ``fov_origin_fov_<F>.txt`` file.

    Returns
    -------
    numpy.ndarray
        ``array([x0, y0])`` (float): video pixel ``(row, col) = (x - x0, y - y0)``.
    """
    text = Path(path).read_text().strip()
    try:
        x0, y0 = (float(v) for v in text.split(","))
    except ValueError:
        raise io.InputError(f"{path}: expected 'x0,y0', got {text!r}") from None
    return np.array([x0, y0])


def _staging_record(out: Path, exp: int, fov: int) -> Path:
    return out / STAGING / f"exp_{exp}" / f"fov_{fov}.json"


def _fov_outputs(out: Path, exp: int, fov: int, video: bool) -> list[Path]:
    public, ref = out / "public_data", out / "ref"
    paths = [layout.trajs_path(public, 2, exp, fov), layout.labels_path(ref, 2, exp, fov)]
    if video:
        paths += [
            layout.video_path(public, exp, fov),
            layout.labels_path(ref, 1, exp, fov),
            layout.vip_path(ref, exp, fov),
            layout.trajs_path(ref, 1, exp, fov),
            fov_origin_path(ref, exp, fov),
        ]
    return paths


# --------------------------------------------------------------------------------------------
# one FOV
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    out: str
    exp: int
    fov: int
    dic: dict
    seed: int
    video: bool
    num_vip: int
    sigma_noise: float
    key: str


def _fov_seeds(seed: int, exp: int, fov: int) -> dict[str, int]:
    words = np.random.SeedSequence([seed, exp, fov]).generate_state(4)
    return {
        "numpy": int(words[0]),
        "stochastic": int(words[1]),
        "noise": int(words[2]),
        "python": int(words[3]),
    }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence andi-datasets' prints, tqdm bars and warnings (and undo its global filters)."""
    sink = _stdio.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _record_fov_origin(dc: types.ModuleType, found: list) -> Iterator[None]:
    """Capture the FOV origin andi-datasets draws (it is not returned)."""
    original = dc.segs_inside_fov

    def spy(traj, fov_origin, fov_length, cutoff_length):
        if not found:
            found.append([int(v) for v in np.asarray(fov_origin)])
        return original(traj, fov_origin, fov_length, cutoff_length)

    dc.segs_inside_fov = spy
    try:
        yield
    finally:
        dc.segs_inside_fov = original


def _reindex_labels(text: str, df: pd.DataFrame, source: str) -> str:
    """Put the label lines on the CSV's trajectory indices, sorted by index.

    The organisers' CSV keeps its rows in the original trajectory order while the indices may
    have been renumbered (VIPs first): the k-th block of rows is the k-th label line.
    """
    new_of_old = pd.unique(df["traj_idx"].to_numpy())
    lengths = df.groupby("traj_idx", sort=False).size()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) != len(new_of_old):
        raise RuntimeError(f"{source}: {len(lines)} label lines for {len(new_of_old)} trajectories")
    out = {}
    for k, line in enumerate(lines):
        idx, rest = line.split(",", 1)
        if int(float(idx)) != k:
            raise RuntimeError(f"{source}: label line {k + 1} has index {idx}, expected {k}")
        new = int(new_of_old[k])
        if int(float(rest.rsplit(",", 1)[1])) != int(lengths[new_of_old[k]]):
            raise RuntimeError(f"{source}: label of trajectory {new} does not match its length")
        out[new] = f"{new},{rest}"
    return "".join(out[i] + "\n" for i in sorted(out))


def _check_labels(text: str, df: pd.DataFrame, source: str) -> None:
    """Check every label line frame by frame against its trajectory's per-frame truth.

    A label's segments must give, at each frame of the trajectory with the same index, the
    ``D``, ``alpha`` and ``state`` columns of that frame: a label that describes another
    trajectory (andi-datasets' renumbering) or a misplaced change point fails here.
    """
    truth = {int(k): g for k, g in df.groupby("traj_idx", sort=False)}
    for line in text.splitlines():
        values = np.array([float(v) for v in line.split(",")])
        idx, body = int(values[0]), values[1:]
        g = truth[idx]
        K, alpha, state = body[0:-1:4], body[1:-1:4], body[2:-1:4]
        ends = np.concatenate([body[3:-1:4], body[-1:]]).astype(np.int64)
        seg = np.searchsorted(ends, np.arange(len(g)), side="right")
        if ends[-1] != len(g) or not (
            np.allclose(g["D"].to_numpy(), K[seg], rtol=1e-6, atol=1e-12)
            and np.allclose(g["alpha"].to_numpy(), alpha[seg], rtol=1e-6, atol=1e-12)
            and np.array_equal(g["state"].to_numpy().astype(np.int64), state[seg].astype(np.int64))
        ):
            raise RuntimeError(f"{source}: the label of trajectory {idx} does not describe its "
                               "frames (K, alpha or state differ)")


def _run_fov(job: _Job) -> dict:
    """Simulate one FOV and move its files into place; returns the staging record."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(job.out)
    dc = _import_andi()
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    seeds = _fov_seeds(job.seed, job.exp, job.fov)
    np.random.seed(seeds["numpy"])  # noqa: NPY002 (the generator andi-datasets uses)
    stochastic.random.seed(seeds["stochastic"])
    random.seed(seeds["python"])

    dic = copy.deepcopy(job.dic)
    if dic["model"] == "confinement":
        dic["comp_center"] = models_phenom._distribute_circular_compartments(
            Nc=dic["Nc"], r=dic["r"], L=dic["L"]
        )
    elif dic["model"] == "immobile_traps":
        dic["traps_pos"] = np.random.rand(dic["Nt"], 2) * dic["L"]  # noqa: NPY002

    tmp_root = out / STAGING / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"exp_{job.exp}_fov_{job.fov}_", dir=tmp_root))
    origin: list = []
    try:
        with _quiet(), _record_fov_origin(dc, origin):
            result = dc.challenge_phenom_dataset(
                dics=[dic], num_fovs=1, return_timestep_labs=True, save_data=True, path=tmp,
                get_video=job.video, num_vip=job.num_vip if job.video else None,
                sigma_noise=0.0,
            )
        df = result[0][0]
        ensemble = np.asarray(result[-1][0], dtype=float)
        record = _place_outputs(job, tmp, df, origin[0], seeds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    model = dic["model"]
    num_states = dic["alphas"].shape[0] if model == "multi_state" else (
        1 if model == "single_state" else 2)
    record.update(
        exp=job.exp, fov=job.fov, key=job.key, seed=job.seed, video=job.video,
        model=model, num_states=int(num_states), ensemble=ensemble.reshape(5, -1).tolist(),
        wall_s=round(time.perf_counter() - t0, 3), cpu_s=round(time.process_time() - c0, 3),
    )
    io.write_text_atomic(_staging_record(out, job.exp, job.fov), json.dumps(record, indent=1))
    return record


def _place_outputs(job: _Job, tmp: Path, df: pd.DataFrame, origin: list, seeds: dict) -> dict:
    out, exp, fov = Path(job.out), job.exp, job.fov
    public, ref = out / "public_data", out / "ref"
    raw = "exp_0_fov_0"

    df = df.astype({"traj_idx": np.int64, "frame": np.int64})
    labels = _reindex_labels(
        (tmp / f"traj_labs_{raw}.txt").read_text(), df, f"exp {exp} fov {fov}"
    )
    df = df.sort_values(["traj_idx", "frame"], kind="stable").reset_index(drop=True)
    _check_labels(labels, df, f"exp {exp} fov {fov}")

    noisy = df.loc[:, list(io.TRAJ_COLUMNS)].copy()
    noise = np.random.default_rng(seeds["noise"]).normal(0.0, job.sigma_noise, (len(df), 2))
    noisy[["x", "y"]] = noisy[["x", "y"]].to_numpy() + noise
    io.write_trajectories(layout.trajs_path(public, 2, exp, fov), noisy)
    io.write_text_atomic(layout.labels_path(ref, 2, exp, fov), labels)

    record: dict[str, Any] = {"seeds": seeds, "fov_origin": origin,
                              "n_trajectories": int(df["traj_idx"].nunique())}
    if job.video:
        vips = np.atleast_1d(np.loadtxt(tmp / f"vip_idx_{raw}.txt")).astype(int).tolist()
        truth = df[df["traj_idx"].isin(vips)]
        cols = [*io.TRAJ_COLUMNS, "alpha", "D", "state"]
        io.write_text_atomic(layout.trajs_path(ref, 1, exp, fov), truth[cols].to_csv(index=False))
        io.write_text_atomic(layout.vip_path(ref, exp, fov), "".join(f"{v}\n" for v in vips))
        io.write_text_atomic(fov_origin_path(ref, exp, fov), f"{origin[0]},{origin[1]}\n")
        io.write_text_atomic(layout.labels_path(ref, 1, exp, fov), labels)
        dest = layout.video_path(public, exp, fov)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / f"videos_{raw}.tiff", dest)  # same file system: atomic
        record["vip_idx"] = vips
    return record


def _run_fov_safe(job: _Job) -> tuple[int, int, dict | None, str | None]:
    try:
        return job.exp, job.fov, _run_fov(job), None
    except Exception as exc:  # reported to the parent, which keeps going
        return job.exp, job.fov, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


# --------------------------------------------------------------------------------------------
# ensemble
# --------------------------------------------------------------------------------------------


def _write_ensemble(out: Path, exp: int, records: list[dict], video: bool) -> None:
    """Aggregate per-FOV ensembles exactly as ``file_nonOverlap_reOrg`` does."""
    records = sorted(records, key=lambda r: r["fov"])
    matrix = np.array(records[-1]["ensemble"], dtype=float)  # parameters: from the last FOV
    num_states = records[-1]["num_states"]
    if num_states > 1:
        counts = np.sum([np.array(r["ensemble"], dtype=float)[-1] for r in records], axis=0)
        matrix[-1] = counts / counts.sum()
    else:
        matrix[-1] = 1
    ens = io.EnsembleLabel(model=records[-1]["model"], matrix=matrix)
    for track in (1, 2) if video else (2,):
        io.write_ensemble(layout.ensemble_path(out / "ref", track, exp), ens)


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def _versions() -> dict[str, str | None]:
    from andi2kit.versions import package_versions

    return {"python": sys.version.split()[0],
            **package_versions(("andi-datasets", "numpy", "deeptrack", "stochastic", "andi2kit"))}


def _prepare_out(out: Path, run_info: dict, force: bool) -> None:
    run_file = out / STAGING / "run.json"
    ours = run_file.is_file() or (out / MANIFEST).is_file()
    if not ours and ((out / "public_data").exists() or (out / "ref").exists()):
        raise ValueError(
            f"{out} already holds public_data/ or ref/ not made by simulate(); "
            "choose an empty folder"
        )
    if run_file.is_file():
        previous = json.loads(run_file.read_text())
        if previous != run_info and not force:
            changed = sorted(k for k in run_info if previous.get(k) != run_info[k])
            raise ValueError(
                f"{out} holds a simulation with different {', '.join(changed)}; "
                "pass force=True to replace it, or use another folder"
            )
        if previous != run_info:
            force = True
    if force and ours:
        for name in ("public_data", "ref", STAGING):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / MANIFEST).unlink(missing_ok=True)
    io.write_text_atomic(run_file, json.dumps(run_info, indent=1))


def _is_done(out: Path, job: _Job) -> dict | None:
    rec_path = _staging_record(out, job.exp, job.fov)
    if not rec_path.is_file():
        return None
    try:
        record = json.loads(rec_path.read_text())
    except json.JSONDecodeError:
        return None
    if record.get("key") != job.key:
        return None
    if not all(p.is_file() for p in _fov_outputs(out, job.exp, job.fov, job.video)):
        return None
    return record


def simulate(
    out: str | Path,
    preset: str,
    *,
    fovs: int | None = None,
    workers: int = 1,
    seed: int = 0,
    video: bool = True,
    video_fovs: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Simulate a preset's experiments into the challenge layout under ``out``.

    Parameters
    ----------
    out : path-like
        Output folder (created). See the module docstring for its content.
    preset : str
        A key of :data:`PRESETS` (``"benchmark"``, ``"demo"``, ``"test"``).
    fovs : int, optional
        FOVs per experiment; the preset's count when None.
    workers : int
        Processes simulating FOVs in parallel (1: in this process).
    seed : int
        Base seed; every FOV's seeds derive from ``(seed, exp, fov)``, so results do not depend
        on ``workers`` or on the order of execution.
    video : bool
        Render the Track 1 videos (10-30 s per FOV, up to 200 s for the densest) and write
        the Track 1 files.
    video_fovs : int, optional
        With ``video``, render videos only for FOVs ``0 .. video_fovs - 1`` of each experiment
        (the rest get Track 2 files only); None: every FOV. Track 1 then has fewer FOVs than
        Track 2. A rerun with a larger value renders the missing videos (the trajectories of
        a FOV are the same with or without its video).
    force : bool
        Start over: remove this folder's earlier simulation output and simulate every FOV.
        Without it, FOVs whose outputs all exist are skipped (resuming an interrupted run).
    progress : bool
        Show a progress bar over FOVs.

    Returns
    -------
    Path
        ``out/manifest.json``.

    Raises
    ------
    ValueError
        On an unknown preset, bad counts, or a folder holding a different simulation.
    SimulationError
        After all other FOVs are done, if any FOV failed (the message names them).
    """
    spec = _get_preset(preset)
    n_fovs = spec.fovs if fovs is None else int(fovs)
    if n_fovs < 1 or workers < 1 or seed < 0 or (video_fovs is not None and video_fovs < 1):
        raise ValueError("fovs, video_fovs and workers must be >= 1 and seed >= 0")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    dics = experiment_definitions(preset, seed)
    defs_json = _jsonable(dics)
    key = _digest([defs_json, seed, video, spec.num_vip, spec.sigma_noise])
    run_info = {"generator": _GENERATOR, "preset": preset, "seed": seed, "video": video,
                "definitions": _digest(defs_json)}
    _prepare_out(out, run_info, force)
    extra = sorted(p.relative_to(out / STAGING).as_posix()
                   for p in (out / STAGING).glob("exp_*/fov_*.json")
                   if int(p.stem.split("_")[1]) >= n_fovs)
    if extra:  # a smaller fovs than an earlier run: its extra FOVs would stay in the data
        raise ValueError(
            f"{out} holds more FOVs than fovs={n_fovs} (e.g. {extra[0]}); "
            "pass force=True to start over, or a larger fovs"
        )

    jobs = [
        _Job(str(out), e, f, dic, seed, video and (video_fovs is None or f < video_fovs),
             spec.num_vip, spec.sigma_noise, key)
        for f in range(n_fovs) for e, dic in enumerate(dics)
    ]  # FOV-major: an interrupted run leaves every experiment with the same number of FOVs
    records: dict[tuple[int, int], dict] = {}
    skipped: set[tuple[int, int]] = set()
    for job in jobs:
        if not force and (rec := _is_done(out, job)) is not None:
            records[job.exp, job.fov] = rec
            skipped.add((job.exp, job.fov))
    todo = [j for j in jobs if (j.exp, j.fov) not in records]
    errors: dict[tuple[int, int], str] = {}

    def finish(exp: int, fov: int, rec: dict | None, err: str | None) -> None:
        if err is not None:
            errors[exp, fov] = err
            return
        records[exp, fov] = rec
        if all((exp, f) in records for f in range(n_fovs)):
            _write_ensemble(out, exp, [records[exp, f] for f in range(n_fovs)], video)

    for exp in range(len(dics)):  # experiments finished in an earlier run
        if all((exp, f) in records for f in range(n_fovs)):
            _write_ensemble(out, exp, [records[exp, f] for f in range(n_fovs)], video)

    with _progress_bar(progress, len(jobs), len(jobs) - len(todo)) as advance:
        if workers == 1 or len(todo) <= 1:
            for job in todo:
                finish(*_run_fov_safe(job))
                advance(job)
        else:
            _run_parallel(todo, workers, finish, advance)

    manifest = {
        "generator": _GENERATOR,
        "preset": preset,
        "description": spec.description,
        "seed": seed,
        "video": video,
        "fovs_per_experiment": n_fovs,
        "video_fovs_per_experiment": (min(n_fovs, video_fovs or n_fovs) if video else 0),
        "num_vip": spec.num_vip if video else None,
        "sigma_noise": spec.sigma_noise,
        "T": T_FRAMES,
        "fov_px": FOV_PX,
        "numbering": "exp_0..exp_{n-1} in definition order; fov_0..fov_{m-1}",
        "coordinates": "absolute box coordinates; video pixel (row, col) = (x - x0, y - y0)",
        "per_fov_geometry": "drawn in each FOV's job after seeding: confinement comp_center from "
        "models_phenom._distribute_circular_compartments(Nc, r, L); immobile_traps traps_pos "
        "uniform in [0, L)^2",
        "definitions": [{"exp": e, **d} for e, d in enumerate(defs_json)],
        "versions": _versions(),
        "fovs": [
            {"exp": e, "fov": f, "skipped": (e, f) in skipped,
             **{k: records[e, f].get(k) for k in ("seeds", "fov_origin", "wall_s", "cpu_s",
                                                   "n_trajectories")}}
            for (e, f) in sorted(records)
        ],
        "failed": [{"exp": e, "fov": f, "error": errors[e, f].splitlines()[0]}
                   for (e, f) in sorted(errors)],
        "wall_s": round(time.time() - started, 3),
    }
    manifest_path = io.write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(out / STAGING / "tmp", ignore_errors=True)
    if errors:
        detail = "\n\n".join(f"exp {e} fov {f}: {errors[e, f]}" for (e, f) in sorted(errors))
        names = ", ".join(f"exp_{e}/fov_{f}" for (e, f) in sorted(errors))
        raise SimulationError(
            f"{len(errors)} FOV(s) failed ({names}); the others are in {out}. "
            f"Rerun the same command to retry only those.\n\n{detail}"
        )
    return manifest_path


def _run_parallel(todo: list[_Job], workers: int, finish, advance) -> None:
    # SIGTERM and Ctrl-C stop every worker (andi2kit.workers); their files are only temporary
    from andi2kit.workers import imap_unordered

    for job, res, exc in imap_unordered(_run_fov_safe, todo, workers):
        if exc is None:
            finish(*res)
        else:  # the worker process itself died
            finish(job.exp, job.fov, None, f"{type(exc).__name__}: {exc}")
        advance(job)


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, completed: int) -> Iterator:
    if not enabled:
        yield lambda job: None
        return
    from rich.console import Console

    from andi2kit.progress import progress_bar

    # a console bound to the stream now: andi-datasets' output is redirected during jobs
    with progress_bar(True, console=Console(file=sys.stderr), redirect=False) as bar:
        task = bar.add_task("simulating", total=total, completed=completed)

        def advance(job: _Job) -> None:
            bar.update(task, advance=1,
                       description=f"simulating (last: exp_{job.exp}/fov_{job.fov})")

        yield advance
