"""Fit the per-frame state stage (:mod:`andi2kit.states`) of a checkpoint.

The stage must learn how the U-Net behaves on trajectories it has *not* seen, so it is fitted
on training-data shards simulated with another seed than the U-Net's (``make states``:
``data/states-fit``, seed 11); its offsets give back the fit frames' own state mix (or, with
``--offsets recall``, are chosen on that folder's last shards for per-frame recall targets);
the recalls are reported on a third folder no choice saw (``data/states-test``, seed 12) at
the challenge's σ = 0.12, beside the U-Net's own state head.

``make states`` saves the stage into the default checkpoint (``states.pkl``, committed): each
experiment then keeps only the states it is judged to hold (:mod:`andi2kit.state_mixture`),
which removes the stage's confined calls on slow free particles (docs/states.md).

Usage::

    python -m andi2kit.models.fit_states --fit data/states-fit --test data/states-test \\
        --checkpoint checkpoints/unet-default
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from andi2kit import state_offsets, states
from andi2kit.constants import COLUMN, LOCALISATION_NOISE, STATE_NAMES
from andi2kit.errors import InputError
from andi2kit.inference import DEFAULT_CHECKPOINT, frame_values, load_checkpoint
from andi2kit.models.evaluate import confusion_table, frame_metrics
from andi2kit.models.examples import make_examples
from andi2kit.training_data import data_folders, load_shards, split_shards

logger = logging.getLogger(__name__)


def unet_frames(ckpt, data: dict[str, np.ndarray], rng: np.random.Generator,
                noise: tuple[float, float] | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy steps ``(n, T, 2)``, the U-Net's per-frame values ``(n, T, 7)`` and the true
    states ``(n, T)`` of the shards' trajectories."""
    x, y = make_examples(data, rng, noise, augment=False)
    n, T = data["length"].size, data["pos"].shape[1]
    frames = frame_values(ckpt.model.predict(x, batch_size=32, verbose=0))
    frames = frames.reshape(-1, x.shape[2], frames.shape[-1])[:n, :T]
    steps = x.reshape(-1, x.shape[2], 2)[:n, :T]
    truth = y["state"][..., 0].reshape(-1, x.shape[2])[:n, :T]
    return steps, frames, truth


def frames_of(ckpt, paths: list[Path], rng: np.random.Generator,
              noise: tuple[float, float] | float) -> tuple:
    """Features, true states and the U-Net's states of every real frame of ``paths``."""
    X, y, u = [], [], []
    for p in paths:  # shard by shard: a whole folder's features would not fit
        d = load_shards([p])
        if "fov" not in d:
            raise ValueError(f"{p}: written before shards recorded each trajectory's FOV; "
                             "simulate it again (`make states`)")
        steps, frames, truth = unet_frames(ckpt, d, rng, noise)
        X.append(states.stage_features(steps, frames, d["length"], d["fov"]))
        inside = np.arange(steps.shape[1])[None, :] < d["length"][:, None]
        y.append(truth[inside].astype(np.int8))
        u.append(frames[..., COLUMN["state"]][inside].astype(np.int8))
    return np.concatenate(X), np.concatenate(y), np.concatenate(u)


def shards(folder: str | Path) -> list[Path]:
    """The shard files of a folder.

    Raises
    ------
    ValueError
        If it holds none.
    """
    paths = sorted(Path(folder).glob("shard_*.npz"))
    if not paths:
        raise ValueError(f"{folder}: no shard_*.npz here (`make states` simulates them)")
    return paths


def subsample(y: np.ndarray, per_state: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``per_state`` frames of each state (all of a rarer one)."""
    keep = []
    for s in range(4):
        idx = np.flatnonzero(y == s)
        keep.append(idx if idx.size <= per_state else rng.choice(idx, per_state, replace=False))
    return np.sort(np.concatenate(keep))


def fit(fit_folder: Path | list[Path], checkpoint: Path, *, tune_shards: int = 3,
        per_state: int = 150_000, max_iter: int = 300, min_samples_leaf: int = 20,
        free_recall: float = 0.95, seed: int = 0, offsets: str = "prior",
        prior: Path | list[Path] | None = None) -> tuple:
    """Fit the stage on ``fit_folder``.

    ``offsets``: ``"prior"`` gives back the state mix of the fit frames of the ``prior``
    folders (default: all fit folders; the trees were fitted with class-balanced weights;
    the experiment-level decision, :mod:`andi2kit.state_mixture`, then removes the states an
    experiment does not hold); ``"recall"`` chooses them on the last ``tune_shards`` for the
    per-frame recall targets (:func:`andi2kit.state_offsets.choose_offsets`). A folder of
    near-ballistic boxes (``make-train-data --fast-alpha``) widens what the trees have seen
    without being a prior: leave it out of ``prior``.
    """
    if offsets not in ("prior", "recall"):
        raise ValueError(f"offsets must be 'prior' or 'recall', got {offsets!r}")
    folders = data_folders(fit_folder)
    prior_folders = folders if prior is None else data_folders(prior)
    if not set(prior_folders) <= set(folders):
        raise ValueError(f"prior folders {':'.join(map(str, prior_folders))} are not all "
                         f"among the fit folders {':'.join(map(str, folders))}")
    ckpt = load_checkpoint(checkpoint, stage=False)  # a stage already there is refitted
    rng = np.random.default_rng(seed)
    fit_paths, tune_paths = split_shards(folders, tune_shards)
    t0 = time.perf_counter()
    in_prior = [p for p in fit_paths if p.parent in prior_folders]
    X, y, _ = frames_of(ckpt, in_prior, rng, (0.05, 0.2))
    counts = np.bincount(y, minlength=4).astype(float)
    rest = [p for p in fit_paths if p.parent not in prior_folders]
    if rest:
        Xr, yr, _ = frames_of(ckpt, rest, rng, (0.05, 0.2))
        X, y = np.concatenate([X, Xr]), np.concatenate([y, yr])
    keep = subsample(y, per_state, rng)
    logger.info("fit frames %s of %s (%.0f s)", keep.size, y.size, time.perf_counter() - t0)
    clf = states.StateClassifier(max_iter=max_iter, min_samples_leaf=min_samples_leaf,
                                 random_state=seed).fit(X[keep], y[keep])
    Xt, yt, _ = frames_of(ckpt, tune_paths, rng, (0.05, 0.2))
    clf.offsets = (state_offsets.prior_offsets(counts) if offsets == "prior" else
                   state_offsets.choose_offsets(clf.log_proba(Xt), yt, free_recall=free_recall))
    info = {"offsets_from": offsets, "fit": ":".join(map(str, folders)),
            "prior": ":".join(map(str, prior_folders)),
            "per_state_counts_prior": counts.astype(int).tolist(),
            "fit_shards": len(fit_paths),
            "tune_shards": len(tune_paths),
            "fit_frames": int(keep.size), "min_samples_leaf": min_samples_leaf,
            "per_state_counts_fit": np.bincount(y, minlength=4)
            .tolist(), "max_iter": max_iter, "free_recall_asked": free_recall,
            "tune_recalls": state_offsets.recalls(yt, clf.predict(Xt)).round(4).tolist(),
            "fit_seconds": round(time.perf_counter() - t0, 1)}
    return clf, info


def report(clf, test_folder: Path, checkpoint: Path, seed: int = 12345) -> dict:
    """Per-frame state metrics of the U-Net's head and of the stage on ``test_folder`` at
    σ = 0.12."""
    ckpt = load_checkpoint(checkpoint, stage=False)  # a stage already there is refitted
    paths = shards(test_folder)
    X, y, u = frames_of(ckpt, paths, np.random.default_rng(seed), LOCALISATION_NOISE)
    zeros = np.zeros(y.size)
    out = {}
    for name, pred in (("unet", u), ("stage", clf.predict(X))):
        m = frame_metrics(zeros, zeros, zeros, zeros, y, pred)
        rec = state_offsets.recalls(y, pred).round(4).tolist()
        out[name] = {"state_accuracy": m["state_accuracy"],
                     "recall": dict(zip(STATE_NAMES, rec, strict=True)),
                     "confusion_normalised": m["confusion_normalised"],
                     "confusion_counts": m["confusion_counts"]}
    out["frames"] = int(y.size)
    out["test"] = str(test_folder)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: fit, report, save into the checkpoint folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", default="data/states-fit",
                    help="folder(s) of shards, ':'-separated; the last shards tune the offsets")
    ap.add_argument("--prior", default=None,
                    help="fit folder(s), ':'-separated, whose state mix the prior offsets give "
                         "back (default: all of --fit)")
    ap.add_argument("--test", type=Path, default=Path("data/states-test"))
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                    help="checkpoint folder the stage is saved into")
    ap.add_argument("--per-state", type=int, default=120_000)
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--min-samples-leaf", type=int, default=5000)
    ap.add_argument("--free-recall", type=float, default=0.95)
    ap.add_argument("--offsets", choices=("prior", "recall"), default="prior",
                    help="prior: the fit frames' state mix; recall: chosen for the per-frame "
                         "recall targets")
    ap.add_argument("--dry-run", action="store_true", help="report without saving")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        clf, info = fit(args.fit, args.checkpoint, per_state=args.per_state,
                        max_iter=args.max_iter, min_samples_leaf=args.min_samples_leaf,
                        free_recall=args.free_recall, offsets=args.offsets,
                        prior=args.prior)
        rep = report(clf, args.test, args.checkpoint)
    except (InputError, ValueError) as exc:  # no or old shards, no model: one line, no trace
        ap.exit(2, f"{ap.prog}: error: {exc}\n")
    for name in ("unet", "stage"):
        print(f"\n{name}: accuracy {rep[name]['state_accuracy']:.3f}, recall "
              + ", ".join(f"{k} {v:.2f}" for k, v in rep[name]["recall"].items()))
        print(confusion_table(rep[name]))
    info["test_report"] = rep
    print(json.dumps({k: v for k, v in info.items() if k != "test_report"}, indent=1))
    if not args.dry_run:
        print("saved", states.save(clf, args.checkpoint, info))


if __name__ == "__main__":
    main()
