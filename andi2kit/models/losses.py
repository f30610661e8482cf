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


LOSSES = {"alpha": alpha_mae, "logK": k_msle, "state": state_ce}
