"""fBm step prediction with parameters learnt from a track's own steps, and the linker on it."""

import numpy as np
import pytest

from andi2kit.tracking.fbm import FbmPredictor, increment_autocovariance
from andi2kit.tracking.linking import link_motion
from andi2kit.tracking.params import TrackingParams

GRID = np.array([0.1, 0.4, 0.7, 1.0, 1.3, 1.6, 1.9])


def _fgn(alpha: float, K: float, n_steps: int, n_paths: int, rng: np.random.Generator,
         sigma: float = 0.0) -> np.ndarray:
    """Observed fBm increments ``(n_paths, n_steps)`` by Cholesky of their covariance."""
    idx = np.arange(n_steps)
    cov = increment_autocovariance(np.array([alpha]), np.array([K]),
                                   idx[:, None] - idx[None, :], sigma)[0]
    return rng.standard_normal((n_paths, n_steps)) @ np.linalg.cholesky(cov).T


def test_brownian_increments_are_white_and_noise_anticorrelates_them():
    cov = increment_autocovariance(np.array([1.0]), np.array([0.5]), np.arange(4))[0]
    np.testing.assert_allclose(cov, [1.0, 0.0, 0.0, 0.0])
    cov = increment_autocovariance(np.array([1.0]), np.array([0.5]), np.arange(3), sigma=0.1)[0]
    np.testing.assert_allclose(cov, [1.02, -0.01, 0.0])
    cov = increment_autocovariance(np.array([0.2, 1.8]), np.ones(2), np.array([1]))
    assert cov[0, 0] < 0 < cov[1, 0]  # sub: anti-persistent, super: persistent


@pytest.mark.parametrize("alpha", [0.1, 1.0, 1.9])
def test_the_track_learns_its_exponent_and_predicts_better_than_brownian(alpha):
    rng = np.random.default_rng(int(alpha * 10))
    K, r, n = 3.0, 10, 4000
    inc = np.stack([_fgn(alpha, K, r + 1, n, rng), _fgn(alpha, K, r + 1, n, rng)], axis=2)
    pred = FbmPredictor(GRID, np.ones(GRID.size), K0=0.5, a0=2.0, floor=1e-4)
    mean, scale2, weight, dof = pred.predict(inc[:, :r])
    assert weight.shape == (n, GRID.size) and np.allclose(weight.sum(axis=1), 1)
    # the posterior favours the true exponent
    assert GRID[np.argmax(weight.mean(axis=0))] == alpha
    err = inc[:, r] - np.sum(weight[:, :, None] * mean, axis=1)
    if alpha != 1.0:  # the history carries information: a smaller error than "stay put"
        assert np.mean(err ** 2) < 0.8 * np.mean(inc[:, r] ** 2)
    # and its predicted scale is the real error (t with 2 (a0 + r) dof: variance ν/(ν-2) s²)
    best = np.argmax(weight, axis=1)
    s2 = scale2[np.arange(n), best] * dof[0, 0] / (dof[0, 0] - 2)
    assert np.mean(err ** 2) == pytest.approx(np.mean(s2), rel=0.2)  # per axis


def test_a_new_track_is_heavy_tailed_and_a_gap_widens_the_prediction():
    pred = FbmPredictor(GRID, np.ones(GRID.size), K0=0.2, a0=2.0, floor=0.01)
    mean, scale2, weight, dof = pred.predict(np.zeros((1, 0, 2)))
    assert np.all(mean == 0) and np.all(dof == 4)
    np.testing.assert_allclose(weight, 1 / GRID.size)
    past = np.random.default_rng(0).normal(0, 1, (1, 5, 2))
    _, s1, _, _ = pred.predict(past, np.array([1.0]))
    _, s3, _, _ = pred.predict(past, np.array([3.0]))
    assert np.all(s3 > s1)


def test_link_keeps_a_ballistic_particle_passing_a_slow_one():
    # A flies 3 px/frame along y = 50 right through B's place (< 1.2 px away at frame 13);
    # B jitters slowly. Each keeps its own track through the meeting.
    rng = np.random.default_rng(3)
    n = 30
    t = np.arange(n)
    a_pos = np.stack([10.0 + 3.0 * t, np.full(n, 50.0)], axis=1) + rng.normal(0, 0.05, (n, 2))
    b_pos = np.array([49.8, 50.2]) + np.cumsum(rng.normal(0, 0.1, (n, 2)), axis=0)
    assert np.min(np.hypot(*(a_pos - b_pos).T)) < 1.2
    labels = link_motion(np.vstack([a_pos, b_pos]), np.tile(t, 2))
    assert len(np.unique(labels[:n])) == 1 and len(np.unique(labels[n:])) == 1
    assert labels[0] != labels[n]


def test_link_keeps_a_particle_that_jitters_far_around_one_spot():
    # α ≈ 0.1 with K = 8: each frame lands ~4 px from a fixed spot, in any direction. A step
    # of that size is improbable for a fresh Brownian track; learning the exponent, the
    # track expects the particle back at its spot.
    rng = np.random.default_rng(5)
    n = 60
    steps = np.stack([_fgn(0.1, 8.0, n - 1, 1, rng)[0], _fgn(0.1, 8.0, n - 1, 1, rng)[0]], 1)
    pos = np.vstack([[64.0, 64.0], 64.0 + np.cumsum(steps, axis=0)])
    fbm = link_motion(pos, np.arange(n))
    ar1 = link_motion(pos, np.arange(n), TrackingParams(motion="ar1", switch_weight=0.2))
    assert len(np.unique(fbm)) <= 2  # one track (or a break in the first frames)
    assert len(np.unique(fbm)) < len(np.unique(ar1))


def test_motion_setting_is_checked():
    with pytest.raises(ValueError, match="motion"):
        TrackingParams(motion="kalman")
    with pytest.raises(ValueError, match="alpha_grid"):
        TrackingParams(alpha_grid=(0.5, 2.0))
