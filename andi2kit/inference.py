"""Per-frame inference: trajectories of FOVs → α, K, state (and class probabilities) per frame.

Loads a checkpoint folder once (:func:`load_checkpoint`), packs every FOV into model tensors
(:mod:`andi2kit.tensors`) and runs the model over all chunks of all FOVs in one batch; on
request (``symmetries``) once per turn of the steps by a right angle, its readings averaged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import states
from andi2kit.constants import COLUMN, FRAME_VALUES, PROBABILITIES  # noqa: F401 (re-exported)
from andi2kit.errors import InputError, OptionError
from andi2kit.tensors import FOVTensor, pack, to_dense, unpack

#: The checkpoint `andi2kit run --method unet` loads unless told otherwise: package data
#: (``andi2kit/checkpoints/unet-default``), so that it is there after ``pip install .`` too.
DEFAULT_CHECKPOINT = Path(os.fspath(files("andi2kit") / "checkpoints" / "unet-default"))

#: Columns of the per-frame table of a FOV (:func:`frames_table`, ``andi2kit predict``).
FRAME_COLUMNS = ("traj_idx", "frame", *FRAME_VALUES)

#: The steps ``(Δx, Δy)`` turned and mirrored: ``(sign x, sign y, swap)`` maps them to
#: ``(sign x · Δ_a, sign y · Δ_b)`` with ``(a, b) = (y, x)`` when swapped. The first four are
#: the turns by 0, 180, 270 and 90 degrees, the last four their mirror images.
TURNS = ((1, 1, False), (-1, -1, False), (1, -1, True), (-1, 1, True),
         (-1, 1, False), (1, -1, False), (1, 1, True), (-1, -1, True))
#: How many of :data:`TURNS` the model reads each FOV in by default (its outputs averaged:
#: α, log10 K and the state probabilities). Four turns measured and not made the default
#: (U-Net pipeline, RMSE CP / JSC / α MAE / K MSLE, one reading → four; `andi2kit simulate
#: DIR --preset challenge --seed S`): Track 2 tuning seeds 0 and 2 0.537 / 0.920 / 0.0686 /
#: 0.0028 → 0.519 / 0.920 / 0.0685 / 0.0026 and 0.465 / 0.915 / 0.0698 / 0.0037 → 0.455 /
#: 0.913 / 0.0683 / 0.0034, but Track 1 tuning seed 0 0.610 / 0.819 / 0.0845 / 0.0096 →
#: 0.657 / 0.816 / 0.0856 / 0.0091, and the report seed 1 lost on both tracks (Track 2 α
#: 0.0711 → 0.0722, K 0.0028 → 0.0032, a dimerization experiment's K 0.0042 → 0.0096; Track
#: 1 α 0.0921 → 0.0934). The segmentation penalty, the state stage and the experiment
#: decisions were all set on single readings and were not set again for four.
SYMMETRIES = 1


@dataclass
class Checkpoint:
    """A loaded model with its configuration."""

    model: object
    path: Path
    config: dict
    #: The per-frame state stage saved beside the model (:mod:`andi2kit.states`), or None.
    states: object | None = None


def checkpoint_file(path: str | Path | None = None) -> Path:
    """The ``model.keras`` of a checkpoint folder (or the file itself; default:
    :data:`DEFAULT_CHECKPOINT`).

    Raises
    ------
    InputError
        If there is no such file.
    """
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    file = path / "model.keras" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{file}: no trained model here (--checkpoint takes a folder with "
                         "model.keras; train one with `andi2kit train`)")
    return file


def read_json(path: Path) -> dict:
    """A checkpoint's JSON settings file ({} when absent).

    Raises
    ------
    InputError
        If the file is not a JSON object.
    """
    if not path.is_file():
        return {}
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def load_checkpoint(path: str | Path | None = None, stage: bool = True) -> Checkpoint:
    """Load ``model.keras`` of a checkpoint folder, and its state stage (``states.pkl``,
    :mod:`andi2kit.states`) unless ``stage`` is False.

    Raises
    ------
    InputError
        If the folder has no ``model.keras``, it cannot be loaded (corrupt, another
        format), its ``config.json`` is not a JSON object, or (``stage``) its state stage
        does not match its recorded hash or features.
    """
    file = checkpoint_file(path)
    config = read_json(file.parent / "config.json")
    # TensorFlow (Keras) takes seconds to import: it loads with the first checkpoint
    import absl.logging
    import keras

    import andi2kit.models.attention_unet  # noqa: F401  (registers custom layers; imports Keras)
    import andi2kit.models.losses  # noqa: F401  (registers custom losses; imports Keras)

    absl.logging.set_verbosity(absl.logging.ERROR)
    try:
        model = keras.models.load_model(file)
    except Exception as exc:  # keras raises many types for a file it cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{file}: cannot load the model ({first[:200]})") from exc
    return Checkpoint(model=model, path=file.parent, config=config,
                      states=states.load(file.parent) if stage else None)


def frame_values(out: dict) -> np.ndarray:
    """The model's outputs (``alpha``, ``logK``, ``state`` heads, ``(..., 1|4)``) as the
    :data:`FRAME_VALUES` columns ``(..., 7)``: α clipped to [0, 2], K, argmax state and the
    state probabilities."""
    probs = np.asarray(out["state"])
    return np.concatenate([
        np.clip(np.asarray(out["alpha"]), 0, 2),
        10.0 ** np.clip(np.asarray(out["logK"]), -12, 6),
        np.argmax(probs, -1)[..., None].astype(np.float32),
        probs,
    ], axis=-1)


def check_symmetries(symmetries: int) -> int:
    """``symmetries`` if it is a number of :data:`TURNS` the model can read: 1, 2, 4 or 8.

    Raises
    ------
    OptionError
        Otherwise, naming the option.
    """
    if isinstance(symmetries, bool) or symmetries not in (1, 2, 4, 8):
        raise OptionError(f"symmetries must be 1, 2, 4 or 8, got {symmetries!r}")
    return int(symmetries)


def read_turned(model, x: np.ndarray, symmetries: int = SYMMETRIES, batch_size: int = 32
                ) -> dict[str, np.ndarray]:
    """The model's outputs on the steps ``x`` (``(..., 2)``), averaged over the first
    ``symmetries`` of :data:`TURNS` (α, log10 K and the state probabilities).

    Examples
    --------
    A model that reads the first step's Δx alone is made blind to the direction:

    >>> class FirstDx:
    ...     def predict(self, x, batch_size, verbose):
    ...         v = x[..., :1, :1]
    ...         return {"alpha": v, "logK": v, "state": v}
    >>> x = np.array([[[3.0, 1.0]]])
    >>> float(read_turned(FirstDx(), x, 1)["alpha"].squeeze())
    3.0
    >>> float(read_turned(FirstDx(), x, 4)["alpha"].squeeze())
    0.0
    """
    if check_symmetries(symmetries) == 1:  # the model's own outputs, as they are
        return dict(model.predict(x, batch_size=batch_size, verbose=0))
    total: dict[str, np.ndarray] | None = None
    for sx, sy, swap in TURNS[:symmetries]:
        turned = (x[..., ::-1] if swap else x) * np.array([sx, sy], dtype=x.dtype)
        out = {k: np.asarray(v, dtype=np.float64)
               for k, v in model.predict(turned, batch_size=batch_size, verbose=0).items()}
        total = out if total is None else {k: total[k] + out[k] for k in total}
    return {k: v / symmetries for k, v in total.items()}


def predict_tensors(ckpt: Checkpoint, tensors: list[FOVTensor], batch_size: int = 32,
                    symmetries: int = SYMMETRIES) -> list[list[np.ndarray]]:
    """Run the model on packed FOVs (its outputs averaged over ``symmetries`` turns of the
    steps, :func:`read_turned`); per FOV, per trajectory a ``(T, 7)`` array with the
    columns :data:`FRAME_VALUES` (state and its probabilities from the checkpoint's state
    stage, :mod:`andi2kit.states`, when it has one)."""
    if not tensors:
        return []
    x = np.concatenate([t.x for t in tensors])
    frames = frame_values(read_turned(ckpt.model, x, symmetries, batch_size))
    results, k = [], 0
    for t in tensors:
        n = t.x.shape[0]
        per_traj = unpack(t, frames[k:k + n])
        if ckpt.states is not None:
            per_traj = states.restate(ckpt.states, unpack(t, t.x), per_traj)
        results.append(per_traj)
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
            | None = None, symmetries: int = SYMMETRIES) -> pd.DataFrame | list[pd.DataFrame]:
    """Per-frame α, K, state and state probabilities of every trajectory.

    Parameters
    ----------
    trajs : DataFrame or list of DataFrame
        One FOV (``traj_idx, frame, x, y``) or several (one batched model call).
    checkpoint : Checkpoint or path, optional
        Loaded checkpoint or its folder (default: the committed default model).
    symmetries : int
        Turns of the steps the model reads each trajectory in, its outputs averaged
        (:data:`SYMMETRIES`; 1: once, fastest).

    Returns
    -------
    DataFrame or list of DataFrame
        Columns :data:`FRAME_COLUMNS`, one row per frame of every trajectory.
    """
    check_symmetries(symmetries)
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    single = isinstance(trajs, pd.DataFrame)
    fovs = [trajs] if single else list(trajs)
    tensors = [pack(to_dense(df)) for df in fovs]
    tables = [frames_table(t, p) for t, p in zip(
        tensors, predict_tensors(ckpt, tensors, symmetries=symmetries), strict=True)]
    return tables[0] if single else tables
