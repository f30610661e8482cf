"""Model inputs and masked per-frame targets from training-data shards.

The targets hold what they are named for: ``alpha`` (α), ``K`` (K itself, not its log) and
``state`` (the state code). The model's K head, ``logK``, predicts log10 K and its loss
(:func:`andi2kit.models.losses.k_msle`) compares it with K; :func:`keras_targets` pairs each
target with the output it trains.
"""

from __future__ import annotations

import numpy as np

from andi2kit.tensors import FRAMES, ROWS, SCALE, displacements

#: Per-frame targets, in the order of the shards' ``labels`` columns.
TARGETS = ("alpha", "K", "state")

#: The model output each target trains (the K head predicts log10 K).
OUTPUT_OF_TARGET = {"alpha": "alpha", "K": "logK", "state": "state"}


def keras_targets(y: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``y`` of :func:`make_examples` keyed by model output, as ``model.fit`` expects."""
    return {OUTPUT_OF_TARGET[name]: value for name, value in y.items()}


def make_examples(data: dict[str, np.ndarray], rng: np.random.Generator,
                  noise: tuple[float, float] | float, augment: bool = True
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Model inputs and masked targets from shard arrays.

    Parameters
    ----------
    data : dict
        ``pos (n, 200, 2)`` noise-free, ``labels (n, 200, 3)``, ``length (n,)``.
    rng : numpy.random.Generator
    noise : float or (float, float)
        Localisation noise σ, fixed or drawn uniformly per trajectory.
    augment : bool
        Random rotation and shuffled packing.

    Returns
    -------
    x : numpy.ndarray
        ``(chunks, 64, 208, 2)``.
    y : dict
        One entry per name of :data:`TARGETS` (``alpha``, ``K``, ``state``), each
        ``(chunks, 64, 208, 2)`` = (target, mask); :func:`keras_targets` keys them by model
        output.
    """
    n = data["length"].size
    order = rng.permutation(n) if augment else np.arange(n)
    pos = data["pos"][order].astype(np.float64)
    lab = data["labels"][order]
    length = data["length"][order].astype(int)
    if augment:
        th = rng.uniform(0, 2 * np.pi, n)
        c, s = np.cos(th)[:, None], np.sin(th)[:, None]
        pos = np.stack([c * pos[..., 0] - s * pos[..., 1], s * pos[..., 0] + c * pos[..., 1]], -1)
    sigma = (rng.uniform(*noise, n) if isinstance(noise, tuple) else np.full(n, noise))
    pos = pos + rng.normal(size=pos.shape) * sigma[:, None, None]
    T = pos.shape[1]
    chunks = -(-n // ROWS)
    x = np.zeros((chunks * ROWS, FRAMES, 2), np.float32)
    mask = np.zeros((chunks * ROWS, FRAMES), np.float32)
    x[:n, :T] = displacements(pos) / SCALE
    mask[:n, :T] = np.arange(T)[None, :] < length[:, None]
    x[:n, :T] *= mask[:n, :T, None]
    y = {}
    for j, key in enumerate(TARGETS):
        t = np.zeros((chunks * ROWS, FRAMES), np.float32)
        t[:n, :T] = np.nan_to_num(lab[..., j]) * mask[:n, :T]
        y[key] = np.stack([t, mask], -1).reshape(chunks, ROWS, FRAMES, 2)
    return x.reshape(chunks, ROWS, FRAMES, 2), y
