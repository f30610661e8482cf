"""Post-processing of per-frame predictions: smoothing, change points, segment values."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit.errors import OptionError
from andi2kit.segment import (
    OptimalPartition,
    Segmenter,
    labels_from_frames,
    segment_values,
    smooth_states,
)


def frames_with_step(T: int, cp: int | None, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Synthetic per-frame predictions: α 1.0 → 0.3, K 1 → 0.01, state 2 → 1 at ``cp``."""
    rng = np.random.default_rng(seed)
    after = np.zeros(T, bool) if cp is None else np.arange(T) >= cp
    alpha = np.where(after, 0.3, 1.0) + rng.normal(0, noise, T)
    logk = np.where(after, -2.0, 0.0) + rng.normal(0, noise, T)
    state = np.where(after, 1, 2)
    probs = np.zeros((T, 4))
    probs[np.arange(T), state] = 0.9
    probs += 0.025
    return np.column_stack([alpha, 10**logk, state, probs])


@pytest.mark.parametrize("method", ["optimal", "pelt", "binseg", "bottomup", "window"])
@pytest.mark.parametrize("cp", [30, 100, 170])
def test_clean_step_found_within_two_frames(method, cp):
    # BottomUp merges greedily and splits this step in two below pen 4
    seg = Segmenter(method=method, pen=4.0 if method == "bottomup" else 2.0)
    found = seg.change_points(frames_with_step(200, cp, seed=cp))
    assert len(found) == 1 and abs(found[0] - cp) <= 2


@pytest.mark.parametrize("method", ["optimal", "pelt", "binseg", "bottomup", "window"])
def test_constant_signal_has_no_change_point(method):
    assert Segmenter(method=method, pen=2.0).change_points(frames_with_step(200, None)) == []


def test_segment_values_and_label():
    lab = Segmenter(method="optimal", pen=2.0)(7, frames_with_step(120, 50))
    assert lab.idx == 7 and lab.T == 120 and lab.cp.tolist() == [50]
    np.testing.assert_allclose(lab.alpha, [1.0, 0.3], atol=0.05)
    np.testing.assert_allclose(np.log10(lab.K), [0.0, -2.0], atol=0.05)
    assert lab.state.tolist() == [2, 1]


def test_smooth_states():
    s = np.array([2, 2, 2, 2, 0, 2, 2, 2, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1])
    out = smooth_states(s, 3)
    assert out.tolist() == [2] * 14 + [1] * 4
    assert smooth_states(np.array([0, 1]), 3).size == 2


def test_optimal_partition_matches_pelt_on_clear_steps():
    import ruptures as rpt

    rng = np.random.default_rng(1)
    sig = np.concatenate([rng.normal(0, 0.1, (60, 2)), rng.normal(1, 0.1, (80, 2)),
                          rng.normal(-1, 0.1, (60, 2))])
    ours = OptimalPartition(3).fit(sig).predict(1.0)
    assert ours == rpt.Pelt(model="l2", min_size=3, jump=1).fit(sig).predict(pen=1.0)
    assert ours == [60, 140, 200]


def test_labels_from_frames():
    a = np.r_[np.ones(30), np.full(20, 0.5)]
    K = np.r_[np.ones(40), np.full(10, 0.1)]
    s = np.full(50, 2)
    lab = labels_from_frames(3, a, K, s)
    assert lab.cp.tolist() == [30, 40] and lab.alpha.tolist() == [1, 0.5, 0.5]
    assert lab.K.tolist() == [1, 1, 0.1] and lab.T == 50
    one = segment_values(a, K, s, [])
    assert one.cp.size == 0 and one.alpha[0] == 1.0


def test_refine_moves_change_points_to_the_variance_change():
    from andi2kit.segment import refine_change_points

    rng = np.random.default_rng(3)
    T, true_cp = 120, 57
    sd = np.where(np.arange(T) < true_cp, 1.0, 0.1)  # fast then almost immobile
    steps = rng.normal(0, 1, (T, 2)) * sd[:, None]
    for guess in (54, 55, 59, 60):
        assert refine_change_points(steps, [guess], window=3) == [true_cp]
    # a change point farther than the window only moves within it
    assert abs(refine_change_points(steps, [50], window=3)[0] - 50) <= 3
    # no change in variance: a high required gain keeps the point
    flat = rng.normal(0, 1, (T, 2))
    assert refine_change_points(flat, [60], window=3, min_gain=10.0) == [60]
    # segments never shrink below min_size
    assert refine_change_points(steps, [4, 57], window=3, min_size=3)[0] >= 4


def test_far_refinement_moves_only_where_the_steps_say_so():
    # the per-frame model places a tenfold drop in K 2-3 frames early; the ±1 refinement
    # cannot reach the steps' change, the far pass (gated by its gain) can
    rng = np.random.default_rng(7)
    T, true_cp = 150, 80
    near = Segmenter(method="optimal", pen=2.0, refine=1)
    far = Segmenter(method="optimal", pen=2.0, refine=1, refine_far=3, refine_far_gain=2.0)
    held = Segmenter(method="optimal", pen=2.0, refine=1, refine_far=3, refine_far_gain=2.0,
                     refine_far_min_K=0.05)
    hits = {"near": 0, "far": 0}
    moved_on_flat = held_as_near = 0
    for k in range(40):
        guess = true_cp - 2 - k % 2
        frames = frames_with_step(T, guess, seed=k)
        sd = np.where(np.arange(T) < true_cp, 1.0, np.sqrt(0.1))
        steps = rng.normal(0, 1, (T, 2)) * sd[:, None]
        hits["near"] += near(0, frames, steps).cp.tolist() == [true_cp]
        hits["far"] += far(0, frames, steps).cp.tolist() == [true_cp]
        held_as_near += held(0, frames, steps).cp.tolist() == near(0, frames, steps).cp.tolist()
        # steps of one variance throughout: the gain gate leaves the model's point within ±1
        flat = rng.normal(0, 1, (T, 2))
        moved_on_flat += abs(far(0, frames, flat).cp[0] - guess) > 1
    assert hits["near"] == 0
    assert hits["far"] >= 24, hits
    assert moved_on_flat <= 8, moved_on_flat
    # beside a segment slower than refine_far_min_K (0.01 after the drop) a point stays
    # where refine put it
    assert held_as_near == 40
    for bad in ({"refine_far": -1}, {"refine_far": 2.5}, {"refine_far_gain": float("nan")},
                {"refine_far_min_K": -0.1}):
        with pytest.raises(OptionError, match="refine_far"):
            Segmenter(method="optimal", **bad)
