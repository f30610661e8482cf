"""Masked per-frame losses: ``y_true[..., 0]`` is the target, ``y_true[..., 1]`` the frame mask.

Padded frames (after a trajectory's end, or rows without a trajectory) must not count, so each
loss is a mask-weighted mean over real frames.
"""

from __future__ import annotations

import keras
from keras import ops

#: K below this is treated as this in the log-K term (immobile segments have K = 0).
K_FLOOR = 1e-5
LN10 = 2.302585092994046


def _masked_mean(err, mask):
    return ops.sum(err * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="andi2kit")
def alpha_mae(y_true, y_pred):
    """Mean absolute error of α over real frames."""
    return _masked_mean(ops.abs(y_pred[..., 0] - y_true[..., 0]), y_true[..., 1])


@keras.saving.register_keras_serializable(package="andi2kit")
def k_msle(y_true, y_pred):
    """MSLE of K (the challenge metric, ``(log1p K - log1p K̂)²``) from a log10-K output,
    plus 0.05 × the absolute log10 error, which keeps small K distinguishable (MSLE alone has
    almost no gradient below K ≈ 0.01, where immobile and confined states live)."""
    k_true = y_true[..., 0]
    log_pred = ops.clip(y_pred[..., 0], -6.0, 3.0)
    k_pred = ops.exp(log_pred * LN10)
    msle = ops.square(ops.log1p(k_pred) - ops.log1p(k_true))
    log_err = ops.abs(log_pred - ops.log(ops.maximum(k_true, K_FLOOR)) / LN10)
    return _masked_mean(msle + 0.05 * log_err, y_true[..., 1])


@keras.saving.register_keras_serializable(package="andi2kit")
def state_ce(y_true, y_pred):
    """Sparse categorical cross-entropy of the state over real frames."""
    labels = ops.cast(y_true[..., 0], "int32")
    ce = keras.losses.sparse_categorical_crossentropy(labels, y_pred)
    return _masked_mean(ce, y_true[..., 1])


def checked_state_weights(weights) -> list[float]:
    """``weights`` as one positive float per state code (immobile, confined, free, directed).

    Raises
    ------
    ValueError
        If there are not 4 of them, or one is not a positive number.

    Examples
    --------
    >>> checked_state_weights([5, 3, 1, 3])
    [5.0, 3.0, 1.0, 3.0]
    >>> checked_state_weights([1, 2])
    Traceback (most recent call last):
    ...
    ValueError: [1, 2]: expected 4 positive numbers (immobile, confined, free, directed)
    """
    try:
        out = [float(w) for w in weights]
    except (TypeError, ValueError):
        out = []
    if len(out) != 4 or not all(w > 0 for w in out):
        raise ValueError(f"{weights!r}: expected 4 positive numbers "
                         "(immobile, confined, free, directed)")
    return out


@keras.saving.register_keras_serializable(package="andi2kit")
class WeightedStateCE(keras.losses.Loss):
    """State cross-entropy over real frames, each frame weighted by its true state's weight
    (a mean weighted so: with every weight 1 it is :func:`state_ce`). Rare states weighted up
    (class-balanced) trade free frames called slower for slower frames recalled.

    Parameters
    ----------
    weights : sequence of float
        One weight per state code (immobile, confined, free, directed), each > 0.

    Examples
    --------
    >>> import numpy as np
    >>> y_true = np.array([[[0, 1], [2, 1], [2, 0]]], "float32")
    >>> y_pred = np.array([[[0.5, 0, 0.5, 0], [0.1, 0, 0.9, 0], [1, 0, 0, 0]]], "float32")
    >>> round(float(WeightedStateCE([1, 1, 1, 1])(y_true, y_pred)), 4) == round(
    ...     float(state_ce(y_true, y_pred)), 4)
    True
    >>> round(float(WeightedStateCE([3, 1, 1, 1])(y_true, y_pred)), 4)  # (3·ln2 + ln(1/0.9))/4
    0.5462
    """

    def __init__(self, weights, name: str = "state_ce_weighted", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weights = checked_state_weights(weights)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true[..., 0], "int32")
        ce = keras.losses.sparse_categorical_crossentropy(labels, y_pred)
        w = ops.take(ops.convert_to_tensor(self.weights, dtype=ce.dtype), labels)
        return _masked_mean(ce, w * y_true[..., 1])

    def get_config(self) -> dict:
        return {"name": self.name, "weights": self.weights}


LOSSES = {"alpha": alpha_mae, "logK": k_msle, "state": state_ce}


def losses(state_weights=None) -> dict:
    """The per-head losses: :data:`LOSSES`, with :class:`WeightedStateCE` for the state head
    when ``state_weights`` are given (and not all 1)."""
    if state_weights is None or all(float(w) == 1.0 for w in state_weights):
        return dict(LOSSES)
    return {**LOSSES, "state": WeightedStateCE(state_weights)}
