"""Training data for the per-frame models: FOV-cropped trajectories with per-frame labels.

Each job simulates one "experiment box" with andi-datasets' phenomenological models
(``datasets_phenom().create_dataset``) in the challenge geometry (box side 1.8·128 px,
T = 200 frames), with parameters drawn from broad priors over all five models (never from
the benchmark definitions), then cuts the trajectories by four overlapping 128-px FOV windows
the way the challenge does (``segs_inside_fov``, at least 20 frames), and filters the labels
with the organisers' ``label_filter`` so that they match the reference definitions. As in the
paper, several FOVs come from one simulated field.

Positions are stored noise-free; localisation noise is added at training time
(:mod:`andi2kit.models.train`), so that one shard serves several noise levels.

Shards are ``.npz`` files holding ``pos (n, 200, 2)`` float32 (NaN after each trajectory's
end), ``labels (n, 200, 3)`` float32 (α, K, state per frame), ``length (n,)``,
``model (n,)`` (index into :data:`~andi2kit.constants.MODEL_NAMES`) and ``fov (n,)`` (which
FOV window of which box of the shard the trajectory came from: ``4 * box + window``;
shards written before it existed lack it); ``manifest.json`` beside them lists the shards,
the seed and the package versions.
"""

from __future__ import annotations

import contextlib
import io as _stdio
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from andi2kit.constants import BOX_PX, FOV_PX, MODEL_NAMES, N_FRAMES
from andi2kit.errors import InputError
from andi2kit.execution import imap_unordered, parallel
from andi2kit.io import write_text_atomic
from andi2kit.labels import label_filter
from andi2kit.progress import progress_bar
from andi2kit.versions import package_versions

MIN_LEN = 20


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return 10 ** rng.uniform(np.log10(lo), np.log10(hi), size)


def _state(rng: np.random.Generator, slow: bool = False,
           fast_alpha: tuple[float, float] | None = None) -> tuple[list, list]:
    """(alpha mean, var), (K mean, var) of one diffusive state from broad priors
    (``fast_alpha``: a moving state's α uniform in this range instead)."""
    if slow:
        a = float(rng.uniform(0.05, 1.2))
        k = float(_loguniform(rng, 1e-3, 0.3))
    else:
        if fast_alpha is None:
            # α: mostly around Brownian, with tails to both ends (incl. directed, α ≥ 1.9)
            a = float(np.clip(rng.choice([rng.normal(1.0, 0.35), rng.uniform(0.05, 1.99)]),
                              0.02, 1.99))
        else:
            a = float(rng.uniform(*fast_alpha))
        k = float(rng.choice([_loguniform(rng, 1e-3, 20), rng.uniform(1e-4, 4)]))
    return [a, float(rng.uniform(0, 0.05))], [k, float(k * k * rng.uniform(0, 0.1))]


#: Traps of ``short_traps`` boxes: count, radius (px) and unbinding probability per frame
#: (bouts of 2.5-20 frames on average): many stops, each short.
SHORT_TRAPS = {"Nt": (200, 1500), "r": (0.5, 2.0), "Pu": (0.05, 0.4)}


def sample_definition(rng: np.random.Generator, model: str | None = None,
                      fast_alpha: tuple[float, float] | None = None,
                      short_traps: bool = False) -> dict:
    """A random andi-datasets parameter dictionary for one simulated box.

    Parameters
    ----------
    rng : numpy.random.Generator
    model : str, optional
        Force a model; otherwise drawn uniformly from :data:`~andi2kit.constants.MODEL_NAMES`.
    fast_alpha : (float, float), optional
        Range of the α of every moving (not slow) state, uniform: boxes whose free
        particles are near-ballistic, rare under the default prior.
    short_traps : bool
        ``immobile_traps`` boxes get many traps that hold a particle for a few frames
        (:data:`SHORT_TRAPS`), rare under the default prior.
    """
    model = model or MODEL_NAMES[int(rng.integers(len(MODEL_NAMES)))]
    # few particles per box and many boxes: parameter diversity matters more than volume
    dic: dict = {"model": model, "T": N_FRAMES, "L": BOX_PX, "N": int(rng.integers(25, 60))}
    if model == "single_state":
        a, k = _state(rng, fast_alpha=fast_alpha)
        dic.update(alphas=np.array(a), Ds=np.array(k))
    elif model == "multi_state":
        n = int(rng.choice([2, 2, 3, 4]))
        states = [_state(rng, slow=(i > 0 and rng.random() < 0.5), fast_alpha=fast_alpha)
                  for i in range(n)]
        stay = rng.uniform(0.9, 0.995, n)
        M = rng.dirichlet(np.ones(n), size=n)
        for i in range(n):
            M[i, i] = 0
            M[i] = M[i] / M[i].sum() * (1 - stay[i])
            M[i, i] = stay[i]
        dic.update(alphas=np.array([s[0] for s in states]), Ds=np.array([s[1] for s in states]),
                   M=M, return_state_num=True)
    elif model == "immobile_traps":
        a, k = _state(rng, fast_alpha=fast_alpha)
        dic.update(alphas=np.array(a), Ds=np.array(k), Nt=int(rng.integers(100, 1000)),
                   r=float(rng.uniform(0.3, 1.6)), Pb=float(rng.uniform(0.5, 1.0)),
                   Pu=float(_loguniform(rng, 0.005, 0.3)))
        if short_traps:
            dic.update(Nt=round(float(_loguniform(rng, *SHORT_TRAPS["Nt"]))),
                       r=float(rng.uniform(*SHORT_TRAPS["r"])),
                       Pu=float(_loguniform(rng, *SHORT_TRAPS["Pu"])))
    elif model == "dimerization":
        fast, slow = _state(rng, fast_alpha=fast_alpha), _state(rng, slow=True)
        dic.update(alphas=np.array([fast[0], slow[0]]), Ds=np.array([fast[1], slow[1]]),
                   N=int(rng.integers(60, 250)), r=float(rng.uniform(0.3, 1.2)),
                   Pb=float(rng.uniform(0.5, 1.0)), Pu=float(_loguniform(rng, 0.005, 0.2)),
                   return_state_num=True)
    else:  # confinement
        free, conf = _state(rng, fast_alpha=fast_alpha), _state(rng, slow=True)
        dic.update(alphas=np.array([free[0], conf[0]]), Ds=np.array([free[1], conf[1]]),
                   r=float(rng.uniform(1.0, 6.0)), Nc=int(rng.integers(30, 200)),
                   trans=float(rng.uniform(0.0, 0.3)))
    return dic


def simulate_box(dic: dict, seed: int) -> dict[str, np.ndarray]:
    """Simulate one box and cut it by four FOV windows.

    Returns
    -------
    dict
        ``pos, labels, length`` arrays as stored in a shard and ``fov``, the FOV window
        (0–3) each trajectory was cut by.
    """
    # andi-datasets (and its stochastic) take seconds to import: only simulating needs them
    import stochastic
    from andi_datasets.datasets_phenom import datasets_phenom
    from andi_datasets.utils_trajectories import segs_inside_fov

    np.random.seed(seed % 2**32)  # noqa: NPY002 (andi-datasets draws from the global RNG)
    stochastic.random.seed(seed % 2**32)
    with warnings.catch_warnings(), contextlib.redirect_stdout(_stdio.StringIO()), \
            contextlib.redirect_stderr(_stdio.StringIO()):
        warnings.simplefilter("ignore")
        trajs, labels = datasets_phenom().create_dataset(dics=dict(dic))
    trajs = np.asarray(trajs)[..., :2]  # (T, N, 2)
    labels = np.asarray(labels)[..., :3]  # alpha, D, state (drop the state number)
    pos_out, lab_out, len_out, fov_out = [], [], [], []
    lo, hi = 0.0, BOX_PX - FOV_PX
    for window, origin in enumerate(((lo, lo), (lo, hi), (hi, lo), (hi, hi))):
        for n in range(trajs.shape[1]):
            segs = segs_inside_fov(trajs[:, n], fov_origin=np.array(origin), fov_length=FOV_PX,
                                   cutoff_length=MIN_LEN)
            for a, b in segs if segs is not None else []:
                p = np.full((N_FRAMES, 2), np.nan, np.float32)
                lab = np.zeros((N_FRAMES, 3), np.float32)
                p[: b - a] = trajs[a:b, n]
                for j in range(3):
                    lab[: b - a, j] = label_filter(labels[a:b, n, j])
                pos_out.append(p)
                lab_out.append(lab)
                len_out.append(b - a)
                fov_out.append(window)
    if not pos_out:
        return {"pos": np.zeros((0, N_FRAMES, 2), np.float32),
                "labels": np.zeros((0, N_FRAMES, 3), np.float32),
                "length": np.zeros(0, np.int16), "fov": np.zeros(0, np.int32)}
    return {"pos": np.stack(pos_out), "labels": np.stack(lab_out),
            "length": np.array(len_out, np.int16), "fov": np.array(fov_out, np.int32)}


@dataclass
class _ShardJob:
    path: Path
    seeds: list[int]
    models: list[str | None]
    fast_alpha: tuple[float, float] | None = None
    short_traps: bool = False


def _make_shard(job: _ShardJob) -> tuple[Path, int, float]:
    t0 = time.perf_counter()
    parts = {"pos": [], "labels": [], "length": [], "model": [], "fov": []}
    for b, (seed, model) in enumerate(zip(job.seeds, job.models, strict=True)):
        rng = np.random.default_rng(seed)
        dic = sample_definition(rng, model, job.fast_alpha, job.short_traps)
        box = simulate_box(dic, seed)
        for k in ("pos", "labels", "length"):
            parts[k].append(box[k])
        parts["fov"].append(4 * b + box["fov"])
        parts["model"].append(np.full(len(box["length"]), MODEL_NAMES.index(dic["model"]), np.int8))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    tmp = job.path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(job.path)
    return job.path, int(arrays["length"].size), time.perf_counter() - t0


def make_training_data(out: str | Path, *, boxes: int = 400, boxes_per_shard: int = 20,
                       seed: int = 1, workers: int = 1, progress: bool = True,
                       fast_alpha: tuple[float, float] | None = None,
                       short_traps: bool = False) -> Path:
    """Generate training shards (resumable: existing shards are kept).

    Parameters
    ----------
    out : path-like
        Folder for ``shard_*.npz`` and ``manifest.json``.
    boxes : int
        Simulated boxes in all (each gives roughly 100–400 trajectories).
    boxes_per_shard : int
        Boxes per shard file.
    seed : int
        Base seed; box ``i`` uses ``SeedSequence([seed, i])``.
    workers : int
        Parallel processes.
    progress : bool
        Show a progress bar.
    fast_alpha : (float, float), optional
        α range of every moving state (:func:`sample_definition`); default: the broad prior.
    short_traps : bool
        Every box an ``immobile_traps`` one with short trapping bouts
        (:func:`sample_definition`): examples of a regime the broad prior rarely draws.

    Returns
    -------
    Path
        The manifest.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # shards are resumed only when they were drawn the same way
    options = {"seed": seed, "boxes_per_shard": boxes_per_shard,
               "fast_alpha": None if fast_alpha is None else [float(a) for a in fast_alpha],
               "short_traps": bool(short_traps)}
    options_file, manifest_file = out / "options.json", out / "manifest.json"
    before = None
    if options_file.is_file():
        before = json.loads(options_file.read_text())
    elif manifest_file.is_file():  # written before options.json existed
        m = json.loads(manifest_file.read_text())
        before = {k: m.get(k) for k in options if k in m or k != "short_traps"}
    if before is not None:
        before.setdefault("short_traps", False)  # folders drawn before the option existed
        if before != options:
            raise InputError(f"{out}: its shards were drawn with {before}, not {options}; "
                             "use another folder or delete it")
    elif any(out.glob("shard_*.npz")):
        raise InputError(f"{out}: holds shards of unknown options; use another folder")
    write_text_atomic(options_file, json.dumps(options))
    jobs = []
    n_shards = -(-boxes // boxes_per_shard)
    for s in range(n_shards):
        ids = range(s * boxes_per_shard, min(boxes, (s + 1) * boxes_per_shard))
        seeds = [int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) for i in ids]
        # models cycle so that every shard holds all five
        models = ["immobile_traps" if short_traps else MODEL_NAMES[i % len(MODEL_NAMES)]
                  for i in ids]
        jobs.append(_ShardJob(out / f"shard_{s:04d}.npz", seeds, models,
                              None if fast_alpha is None else tuple(fast_alpha), short_traps))
    todo = [j for j in jobs if not j.path.is_file()]
    t0 = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task("training data (shards)", total=len(todo))
        if parallel(workers, len(todo)):  # SIGTERM, Ctrl-C stop every worker (execution)
            for _job, _res, exc in imap_unordered(_make_shard, todo, workers):
                if exc is not None:
                    raise exc
                bar.advance(task)
        else:
            for j in todo:
                _make_shard(j)
                bar.advance(task)
    counts = {j.path.name: int(np.load(j.path)["length"].size) for j in jobs}
    manifest = {
        "generator": "andi2kit.training_data", "seed": seed, "boxes": boxes,
        "boxes_per_shard": boxes_per_shard, "shards": counts,
        "fast_alpha": options["fast_alpha"], "short_traps": options["short_traps"],
        "trajectories": int(sum(counts.values())),
        "wall_s_this_call": round(time.perf_counter() - t0, 1), "versions": _versions(),
    }
    return write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2))


def _versions() -> dict[str, str | None]:
    return package_versions(("andi-datasets", "numpy", "stochastic"))


def data_folders(spec: str | Path | list[Path]) -> list[Path]:
    """Shard folders of a ``:``-separated string (or a list of them).

    >>> [str(f) for f in data_folders("data/train:data/train2")]
    ['data/train', 'data/train2']
    """
    return [Path(f) for f in (spec if isinstance(spec, list) else str(spec).split(":"))]


def split_shards(folders: list[Path], val_shards: int) -> tuple[list[Path], list[Path]]:
    """Training and validation shard paths; the last ``val_shards`` of the last folder are
    held out."""
    paths = [p for f in folders for p in sorted(Path(f).glob("shard_*.npz"))]
    if len(paths) <= val_shards:
        raise ValueError(f"{', '.join(map(str, folders))}: {len(paths)} shard(s); need more "
                         f"than {val_shards} (validation shards are held out; run "
                         "`andi2kit make-train-data`)")
    return paths[:-val_shards], paths[-val_shards:]


def load_shards(paths: list[Path]) -> dict[str, np.ndarray]:
    """Concatenate shard files into one set of arrays."""
    parts = [dict(np.load(p)) for p in paths]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
