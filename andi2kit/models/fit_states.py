"""Fit the per-frame state stage (:mod:`andi2kit.states`) of a checkpoint.

The stage must learn how the U-Net behaves on trajectories it has *not* seen, so it is fitted
on training-data shards simulated with another seed than the U-Net's (``make states``:
``data/states-fit``, seed 11); the offsets are chosen on that folder's last shards, kept out of
the fit; the recalls are reported on a third folder no choice saw (``data/states-test``,
seed 12) at the challenge's σ = 0.12, beside the U-Net's own state head.

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

from andi2kit import states
from andi2kit.constants import LOCALISATION_NOISE, STATE_NAMES
from andi2kit.inference import load_checkpoint
from andi2kit.models.evaluate import confusion_table, frame_metrics
from andi2kit.models.examples import make_examples
from andi2kit.training_data import load_shards, split_shards

logger = logging.getLogger(__name__)


def unet_frames(ckpt, data: dict[str, np.ndarray], rng: np.random.Generator,
                noise: tuple[float, float] | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy steps ``(n, T, 2)``, the U-Net's per-frame values ``(n, T, 7)`` and the true
    states ``(n, T)`` of the shards' trajectories."""
    x, y = make_examples(data, rng, noise, augment=False)
    out = ckpt.model.predict(x, batch_size=32, verbose=0)
    n, T = data["length"].size, data["pos"].shape[1]
    probs = np.asarray(out["state"]).reshape(-1, x.shape[2], 4)[:n, :T]
    frames = np.concatenate([
        np.clip(np.asarray(out["alpha"]).reshape(-1, x.shape[2], 1)[:n, :T], 0, 2),
        10.0 ** np.clip(np.asarray(out["logK"]).reshape(-1, x.shape[2], 1)[:n, :T], -12, 6),
        np.argmax(probs, -1)[..., None].astype(np.float32), probs], axis=-1)
    steps = x.reshape(-1, x.shape[2], 2)[:n, :T]
    truth = y["state"][..., 0].reshape(-1, x.shape[2])[:n, :T]
    return steps, frames, truth


def frames_of(ckpt, paths: list[Path], rng: np.random.Generator,
              noise: tuple[float, float] | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, true states and the U-Net's states of every real frame of ``paths``."""
    X, y, u = [], [], []
    for p in paths:  # shard by shard: the feature arrays of a whole folder would not fit
        d = load_shards([p])
        if "fov" not in d:
            raise ValueError(f"{p}: written before shards recorded each trajectory's FOV; "
                             "simulate it again (`make states`)")
        steps, frames, truth = unet_frames(ckpt, d, rng, noise)
        X.append(states.stage_features(steps, frames, d["length"], d["fov"]))
        inside = np.arange(steps.shape[1])[None, :] < d["length"][:, None]
        y.append(truth[inside].astype(np.int8))
        u.append(frames[..., 2][inside].astype(np.int8))
    return np.concatenate(X), np.concatenate(y), np.concatenate(u)


def subsample(y: np.ndarray, per_state: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``per_state`` frames of each state (all of a rarer one)."""
    keep = []
    for s in range(4):
        idx = np.flatnonzero(y == s)
        keep.append(idx if idx.size <= per_state else rng.choice(idx, per_state, replace=False))
    return np.sort(np.concatenate(keep))


def fit(fit_folder: Path, checkpoint: Path, *, tune_shards: int = 3, per_state: int = 150_000,
        max_iter: int = 300, free_recall: float = 0.95, seed: int = 0) -> tuple:
    """Fit the stage on ``fit_folder`` (offsets chosen on its last ``tune_shards``)."""
    ckpt = load_checkpoint(checkpoint)
    rng = np.random.default_rng(seed)
    fit_paths, tune_paths = split_shards([fit_folder], tune_shards)
    t0 = time.perf_counter()
    X, y, _ = frames_of(ckpt, fit_paths, rng, (0.05, 0.2))
    keep = subsample(y, per_state, rng)
    logger.info("fit frames %s of %s (%.0f s)", keep.size, y.size, time.perf_counter() - t0)
    clf = states.StateClassifier(max_iter=max_iter, random_state=seed).fit(X[keep], y[keep])
    Xt, yt, _ = frames_of(ckpt, tune_paths, rng, (0.05, 0.2))
    clf.offsets = states.choose_offsets(clf.log_proba(Xt), yt, free_recall=free_recall)
    info = {"fit": str(fit_folder), "fit_shards": len(fit_paths), "tune_shards": len(tune_paths),
            "fit_frames": int(keep.size), "per_state_counts_fit": np.bincount(y, minlength=4)
            .tolist(), "max_iter": max_iter, "free_recall_asked": free_recall,
            "tune_recalls": states.recalls(yt, clf.predict(Xt)).round(4).tolist(),
            "fit_seconds": round(time.perf_counter() - t0, 1)}
    return clf, info


def report(clf, test_folder: Path, checkpoint: Path, seed: int = 12345) -> dict:
    """Per-frame state metrics of the U-Net's head and of the stage on ``test_folder`` at
    σ = 0.12."""
    ckpt = load_checkpoint(checkpoint)
    paths = sorted(Path(test_folder).glob("shard_*.npz"))
    X, y, u = frames_of(ckpt, paths, np.random.default_rng(seed), LOCALISATION_NOISE)
    zeros = np.zeros(y.size)
    out = {}
    for name, pred in (("unet", u), ("stage", clf.predict(X))):
        m = frame_metrics(zeros, zeros, zeros, zeros, y, pred)
        out[name] = {"state_accuracy": m["state_accuracy"],
                     "recall": dict(zip(STATE_NAMES, states.recalls(y, pred).round(4).tolist(),
                                        strict=True)),
                     "confusion_normalised": m["confusion_normalised"],
                     "confusion_counts": m["confusion_counts"]}
    out["frames"] = int(y.size)
    out["test"] = str(test_folder)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: fit, report, save into the checkpoint folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", type=Path, default=Path("data/states-fit"))
    ap.add_argument("--test", type=Path, default=Path("data/states-test"))
    ap.add_argument("--checkpoint", type=Path, default=Path("checkpoints/unet-default"))
    ap.add_argument("--per-state", type=int, default=150_000)
    ap.add_argument("--max-iter", type=int, default=300)
    ap.add_argument("--free-recall", type=float, default=0.95)
    ap.add_argument("--dry-run", action="store_true", help="report without saving")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    clf, info = fit(args.fit, args.checkpoint, per_state=args.per_state, max_iter=args.max_iter,
                    free_recall=args.free_recall)
    rep = report(clf, args.test, args.checkpoint)
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
