"""Per-frame inference: trajectories of FOVs → α, K, state (and class probabilities) per frame.

Loads a checkpoint folder once (:func:`load_checkpoint`), packs every FOV into model tensors
(:mod:`andi2kit.tensors`) and runs the model over all chunks of all FOVs in one batch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit.tensors import FOVTensor, pack, to_dense, unpack

#: The checkpoint `andi2kit run --method unet` loads unless told otherwise.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "unet-default"

FRAME_COLUMNS = ("traj_idx", "frame", "alpha", "K", "state", "p0", "p1", "p2", "p3")


@dataclass
class Checkpoint:
    """A loaded model with its configuration."""

    model: object
    path: Path
    config: dict


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Load ``model.keras`` of a checkpoint folder.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``model.keras``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import andi2kit.models.attention_unet  # noqa: F401  (registers custom layers)
    import andi2kit.models.losses  # noqa: F401  (registers custom losses)

    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    file = path / "model.keras" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no trained model (train one with `andi2kit train`)")
    cfg_file = file.parent / "config.json"
    config = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    return Checkpoint(model=keras.models.load_model(file), path=file.parent, config=config)


def predict_tensors(ckpt: Checkpoint, tensors: list[FOVTensor],
                    batch_size: int = 32) -> list[list[np.ndarray]]:
    """Run the model on packed FOVs; per FOV, per trajectory a ``(T, 7)`` array.

    Columns: α, K, state (argmax), p(immobile), p(confined), p(free), p(directed).
    """
    if not tensors:
        return []
    x = np.concatenate([t.x for t in tensors])
    out = ckpt.model.predict(x, batch_size=batch_size, verbose=0)
    probs = np.asarray(out["state"])
    frames = np.concatenate([
        np.clip(np.asarray(out["alpha"]), 0, 2),
        10.0 ** np.clip(np.asarray(out["logK"]), -12, 6),
        np.argmax(probs, -1)[..., None].astype(np.float32),
        probs,
    ], axis=-1)
    results, k = [], 0
    for t in tensors:
        n = t.x.shape[0]
        results.append(unpack(t, frames[k:k + n]))
        k += n
    return results


def frames_table(tensor: FOVTensor, per_traj: list[np.ndarray]) -> pd.DataFrame:
    """Per-frame predictions of one FOV as a table with :data:`FRAME_COLUMNS`."""
    rows = []
    for i, arr in enumerate(per_traj):
        T = arr.shape[0]
        block = np.column_stack([np.full(T, tensor.idx[i]), tensor.start[i] + np.arange(T), arr])
        rows.append(block)
    df = pd.DataFrame(np.vstack(rows), columns=FRAME_COLUMNS)
    return df.astype({"traj_idx": np.int64, "frame": np.int64, "state": np.int64})


def predict(trajs: pd.DataFrame | list[pd.DataFrame], checkpoint: Checkpoint | str | Path
            | None = None) -> pd.DataFrame | list[pd.DataFrame]:
    """Per-frame α, K, state and state probabilities of every trajectory.

    Parameters
    ----------
    trajs : DataFrame or list of DataFrame
        One FOV (``traj_idx, frame, x, y``) or several (one batched model call).
    checkpoint : Checkpoint or path, optional
        Loaded checkpoint or its folder (default: the committed default model).

    Returns
    -------
    DataFrame or list of DataFrame
        Columns :data:`FRAME_COLUMNS`, one row per frame of every trajectory.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    single = isinstance(trajs, pd.DataFrame)
    fovs = [trajs] if single else list(trajs)
    tensors = [pack(to_dense(df)) for df in fovs]
    tables = [frames_table(t, p) for t, p in zip(tensors, predict_tensors(ckpt, tensors),
                                                  strict=True)]
    return tables[0] if single else tables
