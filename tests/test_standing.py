"""Segments standing at the noise in an experiment of traps (andi2kit.standing), on
andi-datasets' own particles."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import standing, still_runs
from andi2kit.constants import FREE, IMMOBILE
from andi2kit.labels import TrajectoryLabel, label_filter

T = 200


def _traps(seed: int, D: float, alpha: float, Pu: float = 0.2
           ) -> tuple[list[np.ndarray], np.ndarray]:
    """Positions (σ = 0.12 px) of 60 particles among andi-datasets' traps and their per-frame
    states after the organisers' label filter."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    xy, labels = models_phenom().immobile_traps(
        N=60, T=T, L=80, r=1.0, Pu=Pu, Pb=1, Ds=[D, 0], alphas=[alpha, 0], Nt=300)
    labels[..., -1] = np.where(labels[..., 0] == 0, IMMOBILE, FREE)
    xy = xy + np.random.default_rng(seed).normal(0, 0.12, xy.shape)
    states = np.array([label_filter(labels[:, i, -1]) for i in range(xy.shape[1])])
    return [xy[:, i] for i in range(xy.shape[1])], states


def _called_free(states: np.ndarray) -> list[TrajectoryLabel]:
    """The true segments, every one called free with α 1.2 (a stage that missed the traps)."""
    out = []
    for i, s in enumerate(states):
        cp = np.flatnonzero(np.diff(s)) + 1
        n = cp.size + 1
        out.append(TrajectoryLabel(i, np.full(n, 0.05), np.full(n, 1.2), np.full(n, FREE),
                                   cp, s.size))
    return out


def test_slow_movers_traps_are_found_where_the_still_runs_cannot_read_them():
    """Superdiffusive movers of D = 0.06 px²/frame (steps' mean square about 4 times the
    noise's) among traps letting go after about 5 frames: the still runs decode nothing
    (below their 10×), yet the trapped segments the segmentation found stand at the noise —
    ≥ 75 % of the trapped frames become immobile with α 0, ≤ 2 % of the free ones (measured
    0.83 and 0.004; the misses are bouts of 1–2 frames and short ones whose noise scatters
    above the cut, 1.88 times the noise here)."""
    pos, states = _traps(seed=3, D=0.06, alpha=1.5, Pu=0.2)
    trapped = states == IMMOBILE
    assert trapped.mean() > 0.2
    assert not np.any(still_runs.still_masks(pos))
    out = standing.immobile_where_standing([_called_free(states)], [pos], 0.12)[0]
    called = np.array([lab.per_frame(lab.state) for lab in out]) == IMMOBILE
    alpha = np.array([lab.per_frame(lab.alpha) for lab in out])
    assert called[trapped].mean() >= 0.75 and called[~trapped].mean() <= 0.02, (
        called[trapped].mean(), called[~trapped].mean())
    assert np.all(alpha[called] == 0.0)


def test_neighbouring_immobile_segments_become_one():
    lab = TrajectoryLabel(0, [1.0, 0.01, 0.02, 1.0], [1.0, 1.0, 1.0, 1.0], [2, 2, 0, 2],
                          [50, 70, 100], 150)
    rng = np.random.default_rng(0)
    xy = np.cumsum(rng.normal(0, 1.0, (150, 2)), 0)
    xy[50:100] = xy[49]
    xy[100:] += xy[49] - xy[99]
    out = standing.immobile_where_standing([[lab]], [[xy + rng.normal(0, 0.12, xy.shape)]],
                                           0.12)[0][0]
    assert out.cp.tolist() == [50, 100] and out.state.tolist() == [2, 0, 2]
    assert out.K[1] == pytest.approx((0.01 * 20 + 0.02 * 30) / 50)


@pytest.mark.parametrize("D", [0.01, 0.5])
def test_free_particles_are_left_moving(D):
    """Free particles cut into pieces: those of D = 0.5 stand far above the noise (no piece
    becomes immobile); those of D = 0.01 move too little above it to tell (ρ < 3: nothing
    is tested)."""
    pos, states = _traps(seed=5, D=D, alpha=1.0, Pu=1.0)
    labels = [TrajectoryLabel(i, [D] * 4, [1.0] * 4, [FREE] * 4, [50, 100, 150], T)
              for i in range(len(pos))]
    out = standing.immobile_where_standing([labels], [pos], 0.12)[0]
    moving = ~np.isin(states, [IMMOBILE])
    called = np.array([lab.per_frame(lab.state) for lab in out]) == IMMOBILE
    assert called[moving].mean() <= 0.01


def test_a_label_without_its_positions_is_left_alone():
    lab = TrajectoryLabel(0, [0.01], [1.0], [FREE], [], 40)
    assert np.isnan(standing.noise_ratios(lab, np.zeros((10, 2)), 0.12)).all()
    assert standing.immobile_where_standing([[lab]], [[np.zeros((0, 2))]], 0.12) == [[lab]]


@pytest.mark.parametrize("bad", [{"min_rho": 1.0}, {"min_rho": float("nan")},
                                 {"min_length": 1}, {"min_moving": True},
                                 {"min_length": 2.5}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="standing"):
        standing.Standing(**bad)


def test_a_trajectory_that_never_moves_is_left_alone():
    """A trajectory standing at the noise from its first frame to its last may be stuck in a
    compartment too small to move in: it keeps its state, while a standing segment between
    moving ones of the same experiment becomes immobile."""
    rng = np.random.default_rng(2)
    still = rng.normal(0, 0.12, (100, 2)) + 50.0
    xy = np.cumsum(rng.normal(0, 1.0, (100, 2)), 0)
    xy[40:60] = xy[39]
    xy[60:] += xy[39] - xy[59]
    moving = [xy + rng.normal(0, 0.12, xy.shape) for _ in range(3)]
    labels = [TrajectoryLabel(0, [0.001], [1.0], [FREE], [], 100)]
    labels += [TrajectoryLabel(i, [1.0, 0.01, 1.0], [1.0] * 3, [FREE] * 3, [40, 60], 100)
               for i in (1, 2, 3)]
    out = standing.immobile_where_standing([labels], [[still, *moving]], 0.12)[0]
    assert out[0].state.tolist() == [FREE]
    assert [lab.state.tolist() for lab in out[1:]] == [[FREE, IMMOBILE, FREE]] * 3


def test_standing_segments_never_left_are_not_traps():
    """Particles that stop and stay stopped to the end of their trajectories (stuck in
    compartments too small to move in) keep their states; the same stops left again are
    trapping bouts."""
    rng = np.random.default_rng(4)

    def stops(left: bool) -> tuple[list[TrajectoryLabel], list[np.ndarray]]:
        labels, pos = [], []
        for i in range(12):
            xy = np.cumsum(rng.normal(0, 1.0, (100, 2)), 0)
            xy[60:] = xy[59]
            cp = [60]
            if left:
                xy[80:] += np.cumsum(rng.normal(0, 1.0, (20, 2)), 0)
                cp = [60, 80]
            labels.append(TrajectoryLabel(i, [1.0] * (len(cp) + 1), [1.0] * (len(cp) + 1),
                                          [FREE] * (len(cp) + 1), cp, 100))
            pos.append(xy + rng.normal(0, 0.12, xy.shape))
        return labels, pos

    labels, pos = stops(left=False)
    assert standing.immobile_where_standing([labels], [pos], 0.12) == [labels]
    labels, pos = stops(left=True)
    out = standing.immobile_where_standing([labels], [pos], 0.12)[0]
    assert all(lab.state.tolist() == [FREE, IMMOBILE, FREE] for lab in out)
