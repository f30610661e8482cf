"""A state's α from its pooled MSD: fBm near the noise floor and near ballistic motion."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from andi2kit.constants import CONFINED, FREE, LOCALISATION_NOISE
from andi2kit.labels import TrajectoryLabel
from andi2kit.pooled_msd import (
    PooledMsd,
    fit_noisy_msd,
    median_msd_of_segments,
    msd_of_segments,
)


def _fbm(rng, n: int, T: int, alpha: float, K: float) -> np.ndarray:
    """``(n, T, 2)`` fBm positions with MSD ``4 K t^α``, with the challenge's noise."""
    t = np.arange(1, T + 1, dtype=float)
    cov = K * (t[:, None] ** alpha + t[None] ** alpha - np.abs(t[:, None] - t[None]) ** alpha)
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(T))
    walk = np.einsum("ts,nsd->ntd", chol, rng.normal(size=(n, T, 2)))
    return walk + rng.normal(0, LOCALISATION_NOISE, walk.shape)


def _experiment(rng, slow_alpha=1.5, slow_K=0.008, said=1.1, slow_state=FREE, n=60, T=100):
    """Slow one-segment trajectories whose α is said ``said`` (the model's bias), and as
    many fast ones (α 0.8, K 0.5) said right."""
    slow = _fbm(rng, n, T, slow_alpha, slow_K)
    fast = _fbm(rng, n, T, 0.8, 0.5)
    labels = [TrajectoryLabel(i, slow_K, said + rng.normal(0, 0.03), slow_state, T=T)
              for i in range(n)]
    labels += [TrajectoryLabel(n + i, 0.5, 0.8 + rng.normal(0, 0.03), FREE, T=T)
               for i in range(n)]
    return labels, [*slow, *fast]


def test_the_pooled_msd_of_a_slow_state_recovers_its_alpha():
    rng = np.random.default_rng(3)
    labels, positions = _experiment(rng)
    out = PooledMsd()(labels, positions)
    slow = np.array([lab.alpha[0] for lab in out[:60]])
    before = np.array([lab.alpha[0] for lab in labels[:60]])
    assert abs(slow.mean() - 1.5) < 0.1 < abs(before.mean() - 1.5)
    # the segments' own differences are kept: a shift, not a replacement
    assert np.allclose(slow - before, slow[0] - before[0])
    # fast states keep the model's α; K, states and change points never change
    assert all(np.array_equal(a.alpha, b.alpha) for a, b in zip(labels[60:], out[60:],
                                                                   strict=True))
    assert all(np.array_equal(a.K, b.K) and np.array_equal(a.state, b.state)
               and np.array_equal(a.cp, b.cp) for a, b in zip(labels, out, strict=True))


def test_a_segment_of_another_K_mixed_into_a_state_keeps_its_alpha():
    """One mixture component (``max_states`` 1) holds a slow state and a few fast, short
    segments: the slow state's shift moves its own segments, and the fast ones only without
    ``shift_own_K``."""
    rng = np.random.default_rng(3)
    labels, positions = _experiment(rng, n=60)
    labels, positions = labels[:60], positions[:60]
    fast = _fbm(rng, 4, 8, 0.8, 0.5)
    labels += [TrajectoryLabel(60 + i, 0.5, 0.8, FREE, T=8) for i in range(4)]
    positions += list(fast)
    mixed = PooledMsd(max_states=1)(labels, positions)
    own = PooledMsd(max_states=1, shift_own_K=True)(labels, positions)
    for out in (mixed, own):
        assert abs(np.mean([lab.alpha[0] for lab in out[:60]]) - 1.5) < 0.1
    assert all(abs(lab.alpha[0] - 0.8) > 0.2 for lab in mixed[60:])
    assert all(lab.alpha[0] == 0.8 for lab in own[60:])


def test_the_median_msd_of_slow_segments_is_hardly_moved_by_a_few_fast_frames():
    # slow segments (α 1.5, K 0.005) into which a misplaced change point let 3 frames of a
    # state a hundred times faster: the mean MSD's K triples, the median's stays near
    rng = np.random.default_rng(5)
    pure = list(_fbm(rng, 60, 80, 1.5, 0.005))
    mixed = []
    for xy in pure:
        jump = np.cumsum(rng.normal(0, np.sqrt(2 * 0.5), (3, 2)), axis=0)
        mixed.append(np.vstack([xy[:40], xy[40:43] + jump, xy[43:] + jump[-1]]))
    fits = {name: fit_noisy_msd(*pool(pieces, 8, 2))
            for name, pool, pieces in (("mean pure", msd_of_segments, pure),
                                       ("mean mixed", msd_of_segments, mixed),
                                       ("median mixed", median_msd_of_segments, mixed))}
    assert abs(fits["mean pure"][0] - 1.5) < 0.15
    assert fits["mean mixed"][1] > 2 * 0.005
    alpha, K = fits["median mixed"]
    assert abs(K / 0.005 - 1) < 0.5 and abs(alpha - 1.5) < 0.2
    # with the median, the state's pooled α is used where the mean's K is refused
    labels = [TrajectoryLabel(i, 0.005, 1.1, FREE, T=80) for i in range(60)]
    labels += [TrajectoryLabel(60 + i, 0.5, 0.8, FREE, T=80) for i in range(60)]
    positions = [*mixed, *_fbm(rng, 60, 80, 0.8, 0.5)]
    by_mean = PooledMsd()(labels, positions)
    by_median = PooledMsd(median=True)(labels, positions)
    assert by_mean[0].alpha[0] == 1.1
    assert abs(by_median[0].alpha[0] - 1.5) < 0.2


def test_a_state_below_the_noise_is_checked_with_the_noise_in():
    # a state that moves less than the noise (K 0.0005, α 1.8) whose segments say K five
    # times the truth, as the U-Net's do: the fit's K (near the truth) fails a 4x check on K
    # alone; on K plus the noise's variance the two agree and the fitted α is used
    rng = np.random.default_rng(8)
    labels, positions = _experiment(rng, slow_alpha=1.8, slow_K=0.0005, T=120)
    labels = [replace(lab, K=np.full_like(lab.K, 0.0025)) if lab.idx < 60 else lab
              for lab in labels]
    alpha, K = fit_noisy_msd(*median_msd_of_segments(
        [xy[2:-2] for xy in positions[:60]], 8, 0))
    assert K / 0.0025 < 1 / 4 and abs(alpha - 1.8) < 0.3
    on_K = PooledMsd(median=True, K_ratio=4)(labels, positions)
    with_noise = PooledMsd(median=True, K_ratio=4, check_noise=True)(labels, positions)
    assert all(np.array_equal(a.alpha, b.alpha) for a, b in zip(labels, on_K, strict=True))
    assert abs(np.mean([lab.alpha[0] for lab in with_noise[:60]]) - 1.8) < 0.3
    # a state said slow whose positions move 25 times faster is still refused
    labels, positions = _experiment(rng, slow_K=0.2)
    labels = [replace(lab, K=np.full_like(lab.K, 0.008)) if lab.idx < 60 else lab
              for lab in labels]
    out = PooledMsd(check_noise=True)(labels, positions)
    assert all(np.array_equal(a.alpha, b.alpha) for a, b in zip(labels, out, strict=True))


def test_a_near_ballistic_state_estimated_low_is_lifted_over_the_directed_line():
    rng = np.random.default_rng(6)
    fast = _fbm(rng, 60, 100, 1.97, 0.5)
    slower = _fbm(rng, 60, 100, 0.8, 0.05)
    labels = [TrajectoryLabel(i, 0.5, 1.86 + rng.normal(0, 0.02), FREE, T=100) for i in range(60)]
    labels += [TrajectoryLabel(60 + i, 0.05, 0.8, FREE, T=100) for i in range(60)]
    out = PooledMsd()(labels, [*fast, *slower])
    assert abs(np.mean([lab.alpha[0] for lab in out[:60]]) - 1.97) < 0.05
    assert all(lab.alpha[0] == 0.8 for lab in out[60:])  # K 0.05, α 0.8: neither kind
    # with the high-α rule off, the model's α stays
    off = PooledMsd(high_alpha=2.5)(labels, [*fast, *slower])
    assert all(np.array_equal(a.alpha, b.alpha) for a, b in zip(labels, off, strict=True))


def test_slow_confined_segments_are_fitted_and_disagreeing_fits_left_alone():
    """A slow state called confined has not felt a compartment's walls by lag 8: its α is
    recovered as a free one's (left alone with ``slow_confined`` off); a fit whose K
    disagrees with the state's changes nothing."""
    rng = np.random.default_rng(4)
    labels, positions = _experiment(rng, slow_state=CONFINED)
    out = PooledMsd()(labels, positions)
    assert abs(np.mean([lab.alpha[0] for lab in out[:60]]) - 1.5) < 0.1
    assert all(np.array_equal(a.state, b.state) for a, b in zip(labels, out, strict=True))
    off = PooledMsd(slow_confined=False)(labels, positions)
    assert all(np.array_equal(a.alpha, b.alpha) for a, b in zip(labels, off, strict=True))
    # a state said slow whose positions move 25 times faster: its fit's K disagrees
    labels, positions = _experiment(rng, slow_K=0.2)
    labels = [TrajectoryLabel(lab.idx, 0.008 if lab.idx < 60 else 0.5, lab.alpha, FREE,
                              T=lab.T) for lab in labels]
    assert all(np.array_equal(a.alpha, b.alpha)
               for a, b in zip(labels, PooledMsd()(labels, positions), strict=True))


def test_segments_are_cut_at_the_change_points():
    rng = np.random.default_rng(5)
    slow, fast = _fbm(rng, 60, 80, 1.5, 0.008), _fbm(rng, 60, 80, 0.8, 0.5)
    # each trajectory: 80 slow frames, then fast frames continuing from the last position
    positions = [np.vstack([s, s[-1] + f]) for s, f in zip(slow, fast, strict=True)]
    labels = [TrajectoryLabel(i, [0.008, 0.5], [1.1, 0.8], [FREE, FREE], [80], 160)
              for i in range(60)]
    out = PooledMsd()(labels, positions)
    assert abs(np.mean([lab.alpha[0] for lab in out]) - 1.5) < 0.1
    assert all(lab.alpha[1] == 0.8 for lab in out)


def test_fit_and_pooled_msd_on_known_curves():
    lags = np.arange(1, 9)
    for alpha, K in ((0.3, 0.005), (1.0, 0.02), (1.8, 0.003)):
        a, k = fit_noisy_msd(lags, 4 * K * lags ** alpha + 4 * LOCALISATION_NOISE ** 2,
                             np.full(8, 100.0))
        assert a == pytest.approx(alpha, abs=1e-3) and k == pytest.approx(K, rel=1e-2)
    # a straight line at one px per frame: MSD lag² ; NaN positions are skipped
    line = np.column_stack([np.arange(12.0), np.zeros(12)])
    line[5] = np.nan
    lags, msd, n = msd_of_segments([line], 4, trim=2)
    assert lags.tolist() == [1, 2, 3, 4] and np.allclose(msd, lags ** 2)
    assert n.tolist() == [5, 4, 3, 3]


@pytest.mark.parametrize("bad", [{"max_K": 0}, {"high_alpha": 0}, {"K_ratio": 1.0}, {"max_lag": 1},
                                 {"noise": -0.1}, {"min_length": 1}, {"median": "no"},
                                 {"check_noise": 1}, {"slow_confined": None}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        PooledMsd(**bad)
