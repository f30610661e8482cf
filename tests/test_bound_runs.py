"""Bound runs read from the vector between two trajectories: where a dimer binds and parts, as
the reference labels draw it."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import bound_runs, partner_cuts, partners
from andi2kit.labels import label_filter
from andi2kit.scoring.metrics import ChangePointCounts

T = 200


def _dimers(seed: int, free: float = 1.0, bound: float = 0.05, unbind: float = 0.02
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Positions (0.12 px noise) of 60 particles of andi-datasets' dimerization model (D of
    the ``free`` and the ``bound`` state, px²/frame) and the change points of their labels
    after the organisers' label filter (the reference's)."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    alphas = [[1, 0], [0.8, 0]] if free > bound else [[0.8, 0], [1.2, 0]]
    xy, labels = models_phenom().dimerization(
        N=60, T=T, L=80, r=0.6, Pu=unbind, Pb=1, Ds=[[free, 0], [bound, 0]], alphas=alphas)
    xy = xy + np.random.default_rng(seed).normal(0, 0.12, xy.shape)
    pos = [xy[:, i] for i in range(xy.shape[1])]
    cps = [np.flatnonzero(np.diff(label_filter(labels[:, i, 1].astype(float))) != 0) + 1
           for i in range(xy.shape[1])]
    return pos, cps


def _score(bound: list[np.ndarray], true_cps: list[np.ndarray]) -> tuple[float, float]:
    counts = ChangePointCounts()
    for b, true in zip(bound, true_cps, strict=True):
        counts.add(true, np.asarray(partner_cuts.partner_change_points(b, min_size=3), int))
    return counts.result()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_pair_model_finds_bindings_and_partings_as_the_labels_draw_them(seed):
    pos, true_cps = _dimers(seed)
    frames = [np.arange(T)] * len(pos)
    tolerance = partners.bound_frames(pos, frames)
    rmse_tol, jsc_tol = _score(tolerance, true_cps)
    rmse, jsc = _score(bound_runs.bound_runs(pos, frames, tolerance), true_cps)
    # measured: seed 1 RMSE / JSC 0.166 / 1.000 (the tolerance rule 0.711 / 0.958), seed 2
    # 0.186 / 1.000 (0.604 / 0.906)
    assert jsc > 0.95 and rmse < 0.4
    assert jsc > jsc_tol and rmse < rmse_tol - 0.25


@pytest.mark.parametrize("seed", [1, 2])
def test_pairs_that_move_faster_bound_than_free_are_found_and_judged(seed):
    """Slow free particles (D 0.02) that move fast once bound (D 0.5): the tolerance rule
    takes two slow particles side by side for a pair, the pair model reads their common step
    too; and the share of its bindings that change the motion judges the experiment."""
    pos, true_cps = _dimers(seed, free=0.02, bound=0.5, unbind=0.05)
    frames = [np.arange(T)] * len(pos)
    tolerance = partners.bound_frames(pos, frames)
    runs = bound_runs.bound_runs(pos, frames, tolerance)
    _, jsc_tol = _score(tolerance, true_cps)
    rmse, jsc = _score(runs, true_cps)
    # measured: seed 1 JSC 0.864 (the tolerance rule 0.273), seed 2 0.948 (0.263)
    assert jsc > 0.8 and jsc > jsc_tol + 0.5
    n_tol, changed_tol = partners.binding_changes(pos, tolerance)
    n, changed = partners.binding_changes(pos, runs)
    # measured: 21 of 23 and 18 of 18 bindings changed (the tolerance rule's 21 of 49, 25 of 52)
    assert changed / n >= partners.CHANGED_SHARE > changed_tol / n_tol
    counts = partners.run_counts(pos, runs, prefix="pair_")
    ev = counts | partners.run_counts(pos, tolerance) | {"frames": float(T * len(pos))}
    assert partners.is_dimerization([ev], np.array([False, False, True, True]))
    assert not partners.is_dimerization([partners.run_counts(pos, tolerance)],
                                        np.array([False, False, True, True]))


def _pair(part_at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    a = np.cumsum(rng.normal(0, 0.7, (T, 2)), 0)
    b = a + 40 + np.cumsum(rng.normal(0, 0.7, (T, 2)), 0)
    b[60:150] = a[60:150] + [0.9, 0.3]  # moves with a from frame 60 to 149
    if part_at is not None:  # parts for one step and binds again, 1 px further on
        b[part_at:150] += [1.0, -0.4]
    b[150:] = b[149] + np.cumsum(rng.normal(0, 0.7, (T - 150, 2)), 0)
    noise = rng.normal(0, 0.12, (2, T, 2))
    return a + noise[0], b + noise[1]


@pytest.mark.parametrize("part_at", [None, 100])
def test_a_parting_of_one_frame_is_not_a_change_point(part_at):
    a, b = _pair(part_at)
    t = np.arange(T)
    runs = bound_runs.bound_runs([a, b], [t, t], [np.zeros(T, bool)] * 2)
    for r in runs:
        # bound from the first step made together (into frame 61) to frame 149
        assert partner_cuts.partner_change_points(r, min_size=3) == [61, 150]
    decoded, model, _ = bound_runs.decode([a, b], [t, t], [np.zeros(T, bool)] * 2)
    if part_at is not None:  # the physical path has the parting; the labels' filter drops it
        assert not decoded[0][part_at]
    assert 0 < model.unbind < 0.1


def test_a_particle_bound_to_another_is_not_bound_to_a_passer_by():
    rng = np.random.default_rng(8)
    a = np.cumsum(rng.normal(0, 0.7, (T, 2)), 0)
    b = a + [0.5, 0.0] + rng.normal(0, 0.12, (T, 2))  # bound to a all along
    c = a + 40 + np.cumsum(rng.normal(0, 0.7, (T, 2)), 0)
    c[80:84] = a[80:84] + [1.5, 1.0]  # a few frames beside a, moving as it does
    t = np.arange(T)
    pos = [a + rng.normal(0, 0.12, (T, 2)), b, c + rng.normal(0, 0.12, (T, 2))]
    runs = bound_runs.bound_runs(pos, [t] * 3, [np.zeros(T, bool)] * 3)
    assert runs[0][1:].all() and runs[1][1:].all()
    assert not runs[2].any()


def test_free_variance_reads_the_free_steps_only():
    rng = np.random.default_rng(2)
    steps = rng.normal(0, 1.0, (1200, 2))
    steps[400:800] *= 0.05  # bound: slow
    p = np.cumsum(steps, 0)
    bound = np.zeros(1200, bool)
    bound[400:800] = True  # the steps into these frames
    v_free, v_all = bound_runs.free_variance([p, p], [bound, np.zeros(1200, bool)])
    assert abs(v_free - 1.0) < 0.1
    assert v_all < 0.6
