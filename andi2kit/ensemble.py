"""Experiment-level ensemble labels from the predicted segments of all its FOVs.

Segments are pooled over the experiment and summarised as a mixture: means and variances
of α and K per state and the fraction of frames spent in each state, written as
``ensemble_labels.txt``. Segments are weighted by their length in frames, as the reference
weights are fractions of time.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from andi2kit.io import EnsembleLabel, TrajectoryLabel

#: Smallest variance written (a zero variance is legal but makes the mixture a spike).
MIN_VAR = 1e-6


def segment_table(labels: Iterable[TrajectoryLabel]) -> np.ndarray:
    """``(n_segments, 4)`` array of ``alpha, K, state, length`` over all trajectories."""
    rows = []
    for lab in labels:
        bounds = np.concatenate(([0], lab.cp, [lab.T]))
        lengths = np.diff(bounds)
        rows.append(np.column_stack([lab.alpha, lab.K, lab.state, lengths]))
    if not rows:
        return np.zeros((0, 4))
    return np.vstack(rows)


def _weighted_moments(v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mean = float(np.average(v, weights=w))
    var = float(np.average((v - mean) ** 2, weights=w))
    return mean, max(var, MIN_VAR)


def single_gaussian(labels: Iterable[TrajectoryLabel]) -> EnsembleLabel:
    """One-state ensemble: length-weighted mean and variance of α and K.

    Parameters
    ----------
    labels : iterable of TrajectoryLabel
        Every predicted trajectory of the experiment.

    Returns
    -------
    EnsembleLabel
        Model ``single_state``, one column, weight 1.

    Raises
    ------
    ValueError
        If there is no segment at all.
    """
    seg = segment_table(labels)
    if seg.shape[0] == 0:
        raise ValueError("no predicted segment to build an ensemble from")
    w = np.maximum(seg[:, 3], 1)
    ma, va = _weighted_moments(seg[:, 0], w)
    mk, vk = _weighted_moments(seg[:, 1], w)
    return EnsembleLabel("single_state", np.array([[ma], [va], [mk], [vk], [1.0]]))
