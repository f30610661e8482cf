"""Trapping bouts read off the steps (andi2kit.still_runs), on andi-datasets' own particles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from andi2kit import still_runs
from andi2kit.constants import FREE, IMMOBILE
from andi2kit.labels import TrajectoryLabel, label_filter

T = 200


def _simulate(model: str, seed: int, D: float = 1.0, alpha: float = 1.0, Nt: int = 300,
              L: float = 80, noise: float = 0.12) -> tuple[list[np.ndarray], np.ndarray]:
    """Positions (localisation noise ``noise`` px added: the challenge's 0.12 by default) of
    60 particles in an ``L`` px box (80: crowded), and their per-frame states after the
    organisers' label filter, ``(N, T)``."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    if model == "immobile_traps":
        xy, labels = models_phenom().immobile_traps(
            N=60, T=T, L=L, r=1.0, Pu=0.2, Pb=1, Ds=[D, 0], alphas=[alpha, 0], Nt=Nt)
        # trapped where α is 0 (models_phenom leaves the state 0 for movers of α ≥ 1.9 too;
        # the challenge generator labels them afterwards)
        labels[..., -1] = np.where(labels[..., 0] == 0, IMMOBILE, FREE)
    else:
        xy, labels = models_phenom().single_state(N=60, T=T, L=80, Ds=[D, 0], alphas=[1, 0])
    xy = xy + np.random.default_rng(seed).normal(0, noise, xy.shape)
    states = np.array([label_filter(labels[:, i, -1]) for i in range(xy.shape[1])])
    return [xy[:, i] for i in range(xy.shape[1])], states


def test_trapping_bouts_of_a_few_frames_are_found_in_the_steps():
    """andi-datasets' traps hold a particle where it was caught: bouts of about five frames
    (unbinding probability 0.2) among free particles of D = 1 px²/frame are found frame by
    frame with recall ≥ 0.85 and precision ≥ 0.95 (measured 0.94 and 0.98)."""
    pos, states = _simulate("immobile_traps", seed=3)
    found = np.array(still_runs.still_masks(pos))
    trapped = states == IMMOBILE
    assert trapped.mean() > 0.1  # the simulation holds bouts to find
    recall = (found & trapped).sum() / trapped.sum()
    precision = (found & trapped).sum() / found.sum()
    assert recall >= 0.85 and precision >= 0.95, (recall, precision)


@pytest.mark.parametrize("D, most", [(1.0, 0.005), (0.01, 0.0)])
def test_free_particles_never_stand_still(D, most):
    """Free particles of D = 1 px²/frame have (almost) no still frames (measured 0.05 %);
    those of D = 0.01, whose steps are hardly above the localisation noise, are not decoded
    at all."""
    pos, _ = _simulate("single_state", seed=5, D=D)
    found = np.array(still_runs.still_masks(pos))
    assert found.mean() <= most


def test_slow_particles_are_decoded_over_several_frames():
    """Particles of D = 0.06 px²/frame move per frame about as far as the noise (their steps'
    variance 5x the noise's): one frame's steps find no bout, displacements over up to four
    frames find them with recall ≥ 0.55 and precision ≥ 0.85 (measured 0.65 and 0.92), while
    free particles of that D stand still in ≤ 3 % of their frames (1.75 %)."""
    slow = still_runs.StillRuns(max_lag=4)
    pos, states = _simulate("immobile_traps", seed=3, D=0.06)
    trapped = states == IMMOBILE
    assert not np.any(still_runs.still_masks(pos))
    found = np.array(still_runs.still_masks(pos, slow))
    recall = (found & trapped).sum() / trapped.sum()
    precision = (found & trapped).sum() / found.sum()
    assert recall >= 0.55 and precision >= 0.85, (recall, precision)
    free, _ = _simulate("single_state", seed=5, D=0.06)
    assert np.mean(still_runs.still_masks(free, slow)) <= 0.03


def test_carving_puts_the_bouts_in_the_labels():
    """One free segment per trapped particle (what the model gives when it smooths over the
    bouts) carved by the steps: ≥ 90 % of the frames get their filtered true state
    (measured 96.6 %; one free segment: the free share, 57 %), ≥ 85 % of the true change
    points have one within a frame (92 %), and the moving segments get the particles' own
    K (median 0.99 px²/frame for D = 1)."""
    pos, states = _simulate("immobile_traps", seed=3)
    labels = [TrajectoryLabel(i, [0.3], [0.7], [FREE], [], T) for i in range(len(pos))]
    carved = still_runs.carve(labels, pos)
    right = before = 0
    hits = total = 0
    for lab, st in zip(carved, states, strict=True):
        seg = np.searchsorted(lab.cp, np.arange(T), side="right")
        right += np.sum(lab.state[seg] == st)
        before += np.sum(st == FREE)
        true_cp = np.flatnonzero(np.diff(st) != 0) + 1
        total += true_cp.size
        hits += sum(np.min(np.abs(lab.cp - c)) <= 1 for c in true_cp) if lab.cp.size else 0
        moving = lab.state != IMMOBILE
        if moving.any() and lab.cp.size:
            assert np.all(lab.alpha[~moving] == 0.0)
    assert right / states.size >= 0.9 > before / states.size
    assert hits / total >= 0.85
    moving_K = [lab.K[lab.state == FREE] for lab in carved if (lab.state == FREE).any()]
    assert 0.8 < np.median(np.concatenate(moving_K)) < 1.25  # D = 1 px²/frame


def test_a_trajectory_without_positions_keeps_its_labels():
    """Labels whose positions do not cover the trajectory (evidence missing) are kept."""
    lab = TrajectoryLabel(0, [1.0], [1.0], [FREE], [], T)
    assert still_runs.carve([lab], [np.zeros((0, 2))])[0] is lab


@pytest.mark.parametrize("immobile", [100.0, 0.0])
def test_only_an_experiment_judged_to_hold_traps_is_carved(immobile):
    """The pipeline carves still runs into the labels (and the ensemble's basis) of a Track 2
    experiment whose evidence says it holds traps, and leaves every other one, and tracked
    positions, as the model segmented them — but for traps whose places the positions show
    (:mod:`andi2kit.trap_places`: these particles are andi-datasets' trapped ones), which a
    checkpoint without ``trap_places`` does not look for."""
    from andi2kit import state_evidence
    from andi2kit.methods.unet import UNetMethod

    unet = UNetMethod()
    # the default checkpoint asks for it
    assert unet.decision.still_runs == still_runs.StillRuns()
    pos, _ = _simulate("immobile_traps", seed=3)
    labels = [TrajectoryLabel(i, [0.3], [0.7], [FREE], [], T) for i in range(10)]
    ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {"frames": 1000.0,
                                                       "trajectories": 10.0,
                                                       "immobile": immobile}
    evidence = {"evidence": ev, "partner": {},
                "probabilities": {str(i): [[0.0, 0.0, 1.0, 0.0]] for i in range(10)},
                "positions": {str(i): pos[i].tolist() for i in range(10)}}
    out, basis = unet.decide_experiment([labels], [evidence])
    carved = [lab for lab in out[0] if (lab.state == IMMOBILE).any()]
    # with the calls' evidence, or from the places where different particles stood still
    assert len(carved) >= 5 and [lab.cp.tolist() for lab in basis[0]] == \
        [lab.cp.tolist() for lab in out[0]]
    assert unet.decision.places is not None
    unet.decision = replace(unet.decision, places=None)
    out, _ = unet.decide_experiment([labels], [evidence])
    carved = [lab for lab in out[0] if (lab.state == IMMOBILE).any()]
    if immobile:
        assert len(carved) >= 5
    else:
        assert not carved and all(lab.cp.size == 0 for lab in out[0])
    # tracked positions (Track 1) of Brownian movers are not carved: bridged gaps and merged
    # spots stand still there too
    tracked, _ = unet.decide_experiment([labels], [evidence], tracked=True)
    assert all(lab.cp.size == 0 for lab in tracked[0])


def test_tracked_near_ballistic_movers_are_carved():
    """In Track 1 an experiment held to hold traps is carved where its tracked particles keep
    their heading (α 1.9 between bouts: the field's step correlation ≥ 0.6), and its Brownian
    twin (α 1) is not; the frames carved immobile are trapped (precision ≥ 0.9, measured 0.99;
    recall ≥ 0.8, measured 0.95). The positions carry the tracker's error
    (:data:`~andi2kit.constants.TRACKED_NOISE`), which the carving assumes in Track 1.
    A box of 300 px with 1500 traps, as the ``directed-traps`` preset's density (in the 80 px
    box the particles wrap around every few dozen frames)."""
    from andi2kit import state_evidence
    from andi2kit.constants import TRACKED_NOISE
    from andi2kit.methods.unet import UNetMethod
    from andi2kit.step_alpha import PERSISTENT, field_persistence

    unet = UNetMethod()
    ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {"frames": 1000.0, "trajectories": 10.0,
                                                       "immobile": 100.0}
    for alpha, carved in ((1.9, True), (1.0, False)):
        pos, states = _simulate("immobile_traps", seed=3, alpha=alpha, Nt=1500, L=300,
                                noise=TRACKED_NOISE)
        labels = [TrajectoryLabel(i, [alpha], [0.7], [FREE], [], T) for i in range(10)]
        evidence = {"evidence": ev, "partner": {},
                    "probabilities": {str(i): [[0.0, 0.0, 1.0, 0.0]] for i in range(10)},
                    "positions": {str(i): pos[i].tolist() for i in range(10)},
                    "field": {"positions": {str(i): p.tolist() for i, p in enumerate(pos)}}}
        assert (field_persistence([evidence]) >= PERSISTENT) == carved
        out, _ = unet.decide_experiment([labels], [evidence], tracked=True)
        still = np.array([lab.per_frame(lab.state) == IMMOBILE for lab in out[0]])
        assert still.any() == carved
        if carved:
            trapped = states[:10] == IMMOBILE
            assert trapped[still].mean() >= 0.9 and still[trapped].mean() >= 0.8, (
                trapped[still].mean(), still[trapped].mean())


def test_a_dimers_still_runs_have_their_partner_beside_them():
    """The bound state of dimers can stand almost still, like a trap: but a dimer's still
    runs have another particle within 2 px, a trap's rarely (measured 1.00 and 0.16 on
    these crowded simulations), so a dimerization experiment wrongly judged to hold traps is not
    carved (``max_partnered`` 0.3)."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(2)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(2)
    xy, _ = models_phenom().dimerization(N=60, T=T, L=60, r=0.6, Pu=0.05, Pb=1,
                                         Ds=[[1, 0], [0.001, 0]], alphas=[[1, 0], [0.2, 0]])
    dimers = [xy[:, i] + np.random.default_rng(i).normal(0, 0.12, (T, 2))
              for i in range(xy.shape[1])]
    traps, _ = _simulate("immobile_traps", seed=3)
    starts = [0] * 60
    share = {}
    for name, pos in (("dimers", dimers), ("traps", traps)):
        masks = still_runs.still_masks(pos)
        assert sum(m.sum() for m in masks) > 200  # both stand still for a while
        share[name] = still_runs.partnered_share([pos], [starts], [masks])
    settings = still_runs.StillRuns()
    assert share["traps"] <= settings.max_partnered < share["dimers"], share


def test_trapped_runs_stand_still_where_a_slow_state_spreads():
    """Long still runs of trapped particles scatter about their centre as the noise alone
    does; those of a slow multi-state state (D = 0.005 px²/frame) keep spreading: most of
    the former stand still, few of the latter (measured 0.74 and 0.09)."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    traps, _ = _simulate("immobile_traps", seed=3)
    np.random.seed(6)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(6)
    xy, _ = models_phenom().multi_state(N=60, T=T, L=80, Ds=[[1, 0], [0.005, 0]],
                                        alphas=[[1, 0], [1, 0]],
                                        M=[[0.95, 0.05], [0.05, 0.95]])
    slow = [xy[:, i] + np.random.default_rng(i).normal(0, 0.12, (T, 2))
            for i in range(xy.shape[1])]
    share = {}
    for name, pos in (("traps", traps), ("slow", slow)):
        long, standing = np.sum([still_runs.standing_runs(p) for p in pos], axis=0)
        assert long >= 15, name
        share[name] = standing / long
    assert share["traps"] >= 0.6 and share["slow"] <= 0.2, share


def test_tracked_evidence_reads_still_runs_with_the_trackers_error():
    """Slow movers (D 0.05 px²/frame) between long stops, tracked with the tracker's error
    (0.07 px): their moving steps are 10 still-step variances above that error but not above
    the public 0.12 px's, so the evidence of tracked positions (Track 1) counts
    their still runs (measured 16 of the 20 stops), the same positions read as Track 2's count
    none."""
    import pandas as pd

    from andi2kit.constants import TRACKED_NOISE
    from andi2kit.methods.unet import UNetMethod
    from andi2kit.tensors import to_dense

    rng = np.random.default_rng(4)
    rows = []
    for i in range(10):
        steps = rng.normal(0, np.sqrt(2 * 0.05), (T, 2))  # per axis 2 D
        steps[40:80] = 0.0  # a stop of 40 frames, another of 40
        steps[120:160] = 0.0
        xy = np.cumsum(steps, axis=0) + rng.normal(0, TRACKED_NOISE, (T, 2)) + 50 * i
        rows.append(pd.DataFrame({"traj_idx": i, "frame": np.arange(T),
                                  "x": xy[:, 0], "y": xy[:, 1]}))
    dense = to_dense(pd.concat(rows, ignore_index=True))
    frames = [np.tile([1.0, 0.05, 0, 0, 1, 0, 0], (T, 1)) for _ in range(10)]
    unet = UNetMethod()
    tracked = unet.fov_evidence(dense, frames, [np.ones(T)] * 10, tracked=True)
    public = unet.fov_evidence(dense, frames, None)
    assert tracked["still_runs"] >= 12 and public["still_runs"] == 0, (
        tracked["still_runs"], public["still_runs"])
