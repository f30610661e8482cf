"""Ensemble labels (andi2kit.ensemble) against andi-datasets' own ensembles."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit.constants import CONFINED, DIRECTED, FREE, IMMOBILE
from andi2kit.ensemble import gaussian_mixture, two_state_weights
from andi2kit.labels import TrajectoryLabel


def _organisers_weights(model: str, frames: dict[int, int]) -> np.ndarray:
    """The weights andi-datasets' ``extract_ensemble`` writes for per-frame states counted
    as ``frames`` (our state numbers are its ``lab_state`` indices)."""
    from andi_datasets.utils_challenge import extract_ensemble

    labels = np.concatenate([np.full(n, s, float) for s, n in frames.items()])
    dic = {"model": model, "alphas": np.array([[1.9, 0.01], [0.5, 0.01]]),
           "Ds": np.array([[1.0, 0.01], [0.1, 0.01]])}
    if model == "immobile_traps":
        dic.update(alphas=np.array([1.9, 0.01]), Ds=np.array([1.0, 0.01]))
    w = extract_ensemble(labels, dic)[-1]
    return w / w.sum()


@pytest.mark.parametrize("model, slow", [("immobile_traps", IMMOBILE),
                                         ("confinement", CONFINED)])
def test_two_state_weights_are_the_organisers(model, slow):
    """A trap or confinement experiment whose moving frames are partly directed: the weights
    leave the directed frames out, as andi-datasets' ``extract_ensemble`` does, whether the
    moving segments form one column or two."""
    frames = {slow: 400, FREE: 350, DIRECTED: 250}
    seg = np.array([[0.1 if slow == CONFINED else 0.0, 0.01, slow, 400],
                    [1.85, 1.0, FREE, 350], [1.95, 1.0, DIRECTED, 250]])
    theirs = _organisers_weights(model, frames)
    # andi-datasets writes [immobile, free] for traps and [free, confined] for confinement
    slow_share = theirs[0] if model == "immobile_traps" else theirs[1]
    for weights, slow_columns in (([600.0, 400.0], [False, True]),
                                  ([350.0, 250.0, 400.0], [False, False, True])):
        ours = two_state_weights(np.array(weights), np.array(slow_columns), seg)
        ours = ours / ours.sum()
        assert ours[np.array(slow_columns)].sum() == pytest.approx(slow_share)


def test_a_trap_experiment_without_directed_frames_keeps_its_frame_weights():
    """Trapped and free segments: the ensemble's trapped state weighs its share of frames."""
    labels = [TrajectoryLabel(i, [1.0, 1e-3, 1.0], [1.0 + 0.01 * (i % 5), 0.0, 1.0],
                              [FREE, IMMOBILE, FREE], [40, 60], 100) for i in range(60)]
    ens = gaussian_mixture(labels)
    assert ens.model == "immobile_traps"
    slow = np.argmin(ens.matrix[2])
    assert ens.matrix[0, slow] == pytest.approx(0.0, abs=1e-9)
    assert ens.matrix[4, slow] == pytest.approx(0.2)


def test_directed_frames_leave_the_weights_of_a_trap_experiment():
    """The same experiment with half its particles directed (α 1.95): the trapped state's
    weight is its frames over the trapped and free ones."""
    labels = [TrajectoryLabel(i, [1.0, 1e-3, 1.0], [1.95 if i % 2 else 1.5, 0.0, 1.95
                                                    if i % 2 else 1.5],
                              [DIRECTED if i % 2 else FREE, IMMOBILE,
                               DIRECTED if i % 2 else FREE], [40, 60], 100) for i in range(60)]
    ens = gaussian_mixture(labels)
    slow = np.argmin(ens.matrix[2])
    trapped, free = 60 * 20, 30 * 80  # the directed particles' 2,400 frames count in neither
    assert ens.matrix[4, slow] == pytest.approx(trapped / (trapped + free))
