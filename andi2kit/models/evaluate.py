"""Per-frame validation metrics of a model: α MAE, K MSLE, state accuracy and confusion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit.constants import LOCALISATION_NOISE, STATE_NAMES
from andi2kit.inference import load_checkpoint
from andi2kit.io import write_text_atomic
from andi2kit.methods.msd import MSDMethod
from andi2kit.models.examples import TARGETS, make_examples
from andi2kit.training_data import data_folders, load_shards, split_shards


def frame_metrics(alpha_true, alpha_pred, k_true, k_pred, s_true, s_pred) -> dict:
    """Metrics over flat arrays of real frames.

    K MSLE is the challenge's ``mean((log1p K - log1p K̂)²)``; the confusion matrix is
    row-normalised (true state per row), like the paper's Fig. 8.
    """
    s_true = s_true.astype(int)
    s_pred = s_pred.astype(int)
    conf = np.zeros((4, 4), np.int64)
    np.add.at(conf, (s_true, s_pred), 1)
    with np.errstate(invalid="ignore"):
        norm = conf / conf.sum(1, keepdims=True)
    return {
        "frames": int(alpha_true.size),
        "alpha_mae": float(np.mean(np.abs(alpha_true - alpha_pred))),
        "K_msle": float(np.mean((np.log1p(np.maximum(k_true, 0))
                                 - np.log1p(np.maximum(k_pred, 0))) ** 2)),
        "logK_mae": float(np.mean(np.abs(np.log10(np.maximum(k_true, 1e-5))
                                         - np.log10(np.maximum(k_pred, 1e-5))))),
        "state_accuracy": float(np.mean(s_true == s_pred)),
        "confusion_counts": conf.tolist(),
        "confusion_normalised": np.round(np.nan_to_num(norm), 4).tolist(),
    }


def evaluate_frames(model, x: np.ndarray, y: dict[str, np.ndarray]) -> dict:
    """Per-frame metrics of ``model`` on inputs ``x`` with masked targets ``y``."""
    pred = model.predict(x, batch_size=32, verbose=0)
    m = y["alpha"][..., 1] > 0
    return frame_metrics(
        y["alpha"][..., 0][m], pred["alpha"][..., 0][m],
        y["K"][..., 0][m], 10 ** pred["logK"][..., 0][m],
        y["state"][..., 0][m], np.argmax(pred["state"], -1)[m],
    )


def write_metrics(path: str | Path, metrics: dict) -> Path:
    """Write metrics as JSON, atomically."""
    return write_text_atomic(path, json.dumps(metrics, indent=2))


def confusion_table(metrics: dict) -> str:
    """Markdown table of the row-normalised confusion matrix."""
    norm = metrics["confusion_normalised"]
    head = "| true \\ predicted | " + " | ".join(STATE_NAMES) + " |"
    sep = "|---" * (len(STATE_NAMES) + 1) + "|"
    rows = [f"| {STATE_NAMES[i]} | " + " | ".join(f"{v:.2f}" for v in norm[i]) + " |"
            for i in range(4)]
    return "\n".join([head, sep, *rows])


def compare_with_msd(checkpoint: str | Path | None, data: str | Path, shards: int = 1,
                     sigma: float = LOCALISATION_NOISE, seed: int = 12345) -> dict[str, dict]:
    """Per-frame metrics of a checkpoint and of the MSD baseline on held-out shards.

    The last ``shards`` shards of the last ``:``-separated ``data`` folder are used — the
    validation shards of training, never seen by the optimiser — with localisation noise
    ``sigma``. The MSD baseline gives every frame its trajectory's single estimate.
    """
    _, val_paths = split_shards(data_folders(data), shards)
    d = load_shards(val_paths)
    x, y = make_examples(d, np.random.default_rng(seed), sigma, augment=False)
    ckpt = load_checkpoint(checkpoint)
    unet = evaluate_frames(ckpt.model, x, y)

    # the same noisy trajectories, integrated back from the displacements, for the baseline
    n = d["length"].size
    steps = x.reshape(-1, x.shape[2], 2)[:n]
    mask = y["alpha"][..., 1].reshape(-1, x.shape[2])[:n] > 0
    pos = np.cumsum(steps, axis=1)
    idx = np.repeat(np.arange(n), mask.sum(1))
    frame = np.concatenate([np.arange(k) for k in mask.sum(1)])
    table = pd.DataFrame({"traj_idx": idx, "frame": frame,
                          "x": pos[..., 0][mask], "y": pos[..., 1][mask]})
    labs = MSDMethod().predict(table)
    per = np.array([[lab.alpha[0], lab.K[0], lab.state[0]] for lab in labs])
    rep = per[idx]
    lab_true = {k: y[k][..., 0].reshape(-1, x.shape[2])[:n][mask]
                for k in TARGETS}
    msd = frame_metrics(lab_true["alpha"], rep[:, 0], lab_true["K"], rep[:, 1],
                        lab_true["state"], rep[:, 2])
    return {"unet": unet, "msd": msd, "trajectories": int(n), "sigma": sigma}
