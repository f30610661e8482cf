"""fBm step prediction and the known-motion linker (the ideal-motion diagnostic)."""

import numpy as np
import pandas as pd
import pytest

from andi2kit import io
from andi2kit.tracking.fbm import increment_autocovariance, predict_increment
from andi2kit.tracking.limits import true_motion
from andi2kit.tracking.linking import link_known_motion, link_motion
from andi2kit.tracking.params import TrackingParams


def _fgn(alpha: float, K: float, n_steps: int, n_paths: int, sigma: float,
         rng: np.random.Generator) -> np.ndarray:
    """Observed increments ``(n_paths, n_steps)`` of fBm by Cholesky of their covariance."""
    idx = np.arange(n_steps)
    cov = increment_autocovariance(np.array([alpha]), np.array([K]),
                                   idx[:, None] - idx[None, :], sigma)[0]
    return rng.standard_normal((n_paths, n_steps)) @ np.linalg.cholesky(cov).T


def test_brownian_increments_are_white_and_noise_anticorrelates_them():
    cov = increment_autocovariance(np.array([1.0]), np.array([0.5]), np.arange(4))[0]
    np.testing.assert_allclose(cov, [1.0, 0.0, 0.0, 0.0])
    cov = increment_autocovariance(np.array([1.0]), np.array([0.5]), np.arange(3), sigma=0.1)[0]
    np.testing.assert_allclose(cov, [1.02, -0.01, 0.0])
    mean, var = predict_increment(np.ones((1, 5, 2)), np.array([1.0]), np.array([0.5]))
    np.testing.assert_allclose(mean, 0.0, atol=1e-9)
    np.testing.assert_allclose(var, 1.0)


@pytest.mark.parametrize("alpha", [0.2, 0.6, 1.5, 1.9])
def test_prediction_variance_is_the_real_error(alpha):
    rng = np.random.default_rng(int(alpha * 10))
    K, sigma, k = 2.0, 0.1, 8
    inc = _fgn(alpha, K, k + 1, 20000, sigma, rng)
    past = np.stack([inc[:, :k], np.zeros((len(inc), k))], axis=2)
    a, kk = np.full(len(inc), alpha), np.full(len(inc), K)
    mean, var = predict_increment(past, a, kk, sigma)
    err = inc[:, k] - mean[:, 0]
    assert abs(err.mean()) < 0.05
    assert err.var() == pytest.approx(var[0], rel=0.05)
    # the history helps whenever the increments are correlated
    assert var[0] < (0.75 if abs(alpha - 1) > 0.5 else 0.95) * (2 * K + 2 * sigma ** 2)
    assert np.all(var == var[0])


def test_known_motion_keeps_a_ballistic_particle_passing_a_slow_one():
    # A flies 3 px/frame along y = 50 right through B's place (0.8 px away at frame 13);
    # B jitters slowly. Each keeps its own track through the meeting.
    rng = np.random.default_rng(3)
    n = 30
    t = np.arange(n)
    a_pos = np.stack([10.0 + 3.0 * t, np.full(n, 50.0)], axis=1) + rng.normal(0, 0.05, (n, 2))
    b_pos = np.array([49.8, 50.2]) + np.cumsum(rng.normal(0, 0.1, (n, 2)), axis=0)
    assert np.min(np.hypot(*(a_pos - b_pos).T)) < 1.2
    pos = np.vstack([a_pos, b_pos])
    frames = np.tile(t, 2)
    who = np.repeat([0, 1], n)
    alpha = np.where(who == 0, 1.95, 1.0)  # A: near-ballistic fBm, 2 K = 9 px² first step
    K = np.where(who == 0, 4.5, 0.005)
    labels = link_known_motion(pos, frames, alpha, K, TrackingParams(switch_weight=0.0),
                               sigma=0.05)
    for p in (0, 1):
        assert len(np.unique(labels[who == p])) == 1
    assert labels[who == 0][0] != labels[who == 1][0]
    # same shape and convention as the motion linker
    assert link_motion(pos, frames).shape == labels.shape


def test_true_motion_reads_each_rows_segment():
    parts = pd.DataFrame({"traj_idx": [0] * 5 + [1] * 3,
                          "frame": [0, 1, 2, 3, 4, 10, 11, 12], "x": 0.0, "y": 0.0})
    labels = [io.TrajectoryLabel(0, K=[1.0, 0.1], alpha=[1.0, 0.5], state=[2, 2], cp=[3], T=5),
              io.TrajectoryLabel(1, K=[2.0], alpha=[1.5], state=[2], T=3)]
    alpha, K = true_motion(parts, labels)
    np.testing.assert_allclose(alpha, [1, 1, 1, 0.5, 0.5, 1.5, 1.5, 1.5])
    np.testing.assert_allclose(K, [1, 1, 1, 0.1, 0.1, 2, 2, 2])
    with pytest.raises(io.InputError, match="trajectory 1"):
        true_motion(parts, labels[:1])
