"""Change points from a hidden Markov model of a FOV's steps (andi2kit.step_states), on
andi-datasets' own particles."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import step_hmm, step_states
from andi2kit.constants import FREE
from andi2kit.errors import OptionError
from andi2kit.labels import TrajectoryLabel
from andi2kit.scoring.metrics import ChangePointCounts
from andi2kit.segment import Segmenter

T = 200


def _andi(kind: str, seed: int, n: int = 60) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Steps (the step into each frame, 0.12 px noise on the positions) and true change
    points, in the labels' frames, of ``n`` andi-datasets particles: ``multi`` switches
    between D 1 and 0.2 px²/frame (α 1.0 and 0.8) every 10-20 frames; ``single`` is one
    state of D 0.5 (10 % spread between particles) and α ``1.6``, persistent steps."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    if kind == "multi":
        xy, labels = models_phenom().multi_state(
            N=n, T=T, L=1e4, Ds=[[1.0, 0], [0.2, 0]], alphas=[[1.0, 0], [0.8, 0]],
            M=[[0.92, 0.08], [0.05, 0.95]])
    else:
        xy, labels = models_phenom().single_state(N=n, T=T, L=1e4, Ds=[0.5, 0.0025],
                                                  alphas=[1.6, 0.0])
    xy = xy + np.random.default_rng(seed).normal(0, 0.12, xy.shape)
    steps = [np.r_[[[0.0, 0.0]], np.diff(xy[:, i], axis=0)] for i in range(n)]
    cps = [np.flatnonzero(np.any(np.diff(labels[:, i], axis=0) != 0, axis=1)) + 1
           for i in range(n)]
    return steps, cps


def test_short_visits_are_cut_where_the_states_change():
    """andi-datasets multi-state particles whose visits last 12 and 20 frames on average: the
    model finds two states with the definitions' K (within 10 %), and its paths find at
    least 45 % of the change points within 3 frames (multi-state labels mark the step *out*
    of a frame: one frame before the first step of the new state), with at most one in
    five of its cuts false (measured: 405 of 771, 72 of 477; visits of a few frames are
    lost in the noise)."""
    steps, true_cps = _andi("multi", seed=4)
    model = step_states.fit(steps)
    assert model.n_states == 2
    np.testing.assert_allclose(model.K(), [0.2, 1.0], rtol=0.1)
    counts = ChangePointCounts(threshold=3)
    for path, cps in zip(step_hmm.state_paths(steps, model), true_cps, strict=True):
        found = np.asarray(step_states.step_change_points(path, min_size=3), int) - 1
        counts.add(cps, found)
    assert counts.tp >= 0.45 * counts.n_true
    assert counts.fp <= 0.2 * (counts.tp + counts.fp)


def test_a_single_persistent_state_is_not_cut():
    """One state of superdiffusive particles (α 1.6: runs of long and short steps), their K
    spread 10 % between particles: one state, nothing cut (:func:`step_segments`)."""
    steps, _ = _andi("single", seed=5)
    assert step_states.fit(steps).n_states == 1
    labels = [TrajectoryLabel(i, [0.5], [1.6], [FREE], [], T) for i in range(len(steps))]
    frames = [np.tile([1.6, 0.5, FREE, 0, 0, 1, 0], (T, 1)).astype(float) for _ in steps]
    alt, summary = step_states.step_segments(labels, frames, steps,
                                             Segmenter(method="optimal", pen=16.0))
    assert alt == {} and summary["states"] == 1


def test_step_segments_carry_the_values_at_the_cuts():
    """Each trajectory whose cuts differ from the model's gets its segments there, the
    short ones' K from their own steps (:func:`andi2kit.partner_cuts.segments_at`)."""
    steps, true_cps = _andi("multi", seed=6, n=40)
    labels = [TrajectoryLabel(i, [0.6], [0.9], [FREE], [], T) for i in range(len(steps))]
    frames = [np.tile([0.9, 0.6, FREE, 0, 0, 1, 0], (T, 1)).astype(float) for _ in steps]
    alt, summary = step_states.step_segments(labels, frames, steps,
                                             Segmenter(method="optimal", pen=16.0))
    assert summary["states"] == 2 and len(summary["dwell"]) == 2
    assert len(alt) >= 30
    for seg in alt.values():
        n = len(seg["cp"]) + 1
        assert len(seg["K"]) == len(seg["alpha"]) == len(seg["state"]) == n
        assert np.asarray(seg["probabilities"]).shape == (n, 4)
    # short segments of the slow state read K near 0.2, of the fast near 1
    Ks = np.concatenate([seg["K"] for seg in alt.values()])
    assert np.min(Ks) < 0.4 and np.max(Ks) > 0.7


@pytest.mark.parametrize("seed", [7, 8])
def test_particles_of_one_state_with_scattered_K_are_not_cut(seed):
    """One state whose K scatters between particles (andi-datasets draws it per particle:
    0.1-1.4 px²/frame between the 5th and 95th percentiles): the model discretises the
    scatter into states, and a particle between two flips along its path; the cut check
    (``min_gain``) keeps at most one cut per 50 trajectories, where the path alone made one
    per 6-8 (measured: 0.18 and 0.12 per trajectory without, 0.00 and 0.01 with)."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    xy, _ = models_phenom().single_state(N=100, T=T, L=1e4, Ds=[0.5, 0.2], alphas=[1.0, 0.0])
    xy = xy + np.random.default_rng(seed).normal(0, 0.12, xy.shape)
    steps = [np.r_[[[0.0, 0.0]], np.diff(xy[:, i], axis=0)] for i in range(100)]
    labels = [TrajectoryLabel(i, [0.5], [1.0], [FREE], [], T) for i in range(100)]
    frames = [np.tile([1.0, 0.5, FREE, 0, 0, 1, 0], (T, 1)).astype(float) for _ in steps]
    seg = Segmenter(method="optimal", pen=16.0)

    def cuts(min_gain):
        alt, summary = step_states.step_segments(labels, frames, steps, seg,
                                                 step_states.StepStates(min_gain=min_gain))
        assert summary["states"] >= 2
        return sum(len(a["cp"]) for a in alt.values()) / len(steps)

    assert cuts(None) >= 0.1
    assert cuts(0.0) <= 0.02


@pytest.mark.parametrize("bad", [{"max_states": 0}, {"iterations": 2.5}, {"noise": 0.0},
                                 {"min_ratio": 0.5}, {"tracks": (3,)}, {"whiten": "yes"},
                                 {"prior_frames": -1.0}, {"min_gain": float("nan")}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(OptionError, match="step_states"):
        step_states.StepStates(**bad)
