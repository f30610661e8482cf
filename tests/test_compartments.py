"""Compartments the per-frame stage missed: the slower segments clump, the faster do not."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import compartments, state_evidence
from andi2kit.constants import CONFINED, FREE
from andi2kit.labels import TrajectoryLabel

T, SLOW, N = 200, 90, 40


def _fov(kind: str, seed: int) -> tuple[list[TrajectoryLabel], list[np.ndarray]]:
    """One FOV of ``N`` particles, each slow (D 0.01 px²/frame) for ``SLOW`` frames and free
    (D 4) for the others, the first half of them slow first, the second half slow last: slow
    in one of ``N / 2`` compartments of radius 1.5 px, two particles per compartment, one
    leaving 20 frames before the other comes (``compartments``); slow anywhere
    (``anywhere``); or bound in pairs, slow at the same time, each sitting on its partner
    (``dimers``)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(10, 118, (N // 2, 2))
    labels, positions = [], []
    for i in range(N):
        first = i < N // 2
        if kind == "compartments":
            rest = centres[i % (N // 2)] + rng.uniform(-1.0, 1.0, 2)
        elif kind == "dimers" and i % 2:
            rest = positions[-1][0 if first else T - 1] + rng.normal(0, 0.3, 2)
        else:
            rest = rng.uniform(10, 118, 2)
        slow = rest + np.cumsum(rng.normal(0, 0.1, (SLOW, 2)), axis=0)
        fast = np.cumsum(rng.normal(0, 2.0, (T - SLOW, 2)), axis=0)
        xy = np.vstack([slow[::-1], slow[0] + fast]) if first else \
            np.vstack([slow[0] + fast[::-1], slow])
        positions.append(xy + rng.normal(0, 0.12, (T, 2)))
        K, cp = ([0.01, 4.0], [SLOW]) if first else ([4.0, 0.01], [T - SLOW])
        labels.append(TrajectoryLabel(i, K, [0.7, 1.0], [FREE, FREE], cp, T))
    return labels, positions


@pytest.mark.parametrize("kind, clumped", [("compartments", True), ("anywhere", False),
                                           ("dimers", False)])
def test_slow_stretches_that_share_a_few_discs_are_compartments(kind, clumped):
    """Forty particles slow for 90 of 200 frames: in twenty small compartments the slow
    stretches of different trajectories lie together far more often than a slow and a fast
    one (contrast ≥ ``CLUMP_CONTRAST``); slow anywhere they do not; bound pairs lie
    together too, but on their partners (``partnered`` over half the slow frames)."""
    total = compartments.SlowClumping()
    for seed in range(3):
        labels, xy = _fov(kind, seed)
        total = total + compartments.slow_clumping(labels, xy, [0] * N, cut=-1.0)
    assert total.slow_frames == 3 * N * SLOW
    # every slow pair counts; of the slow-fast ones, the few that happen to begin where another
    # particle's stretch ended are taken for one particle's pieces
    assert total.slow_pairs == 3 * N * (N - 1) // 2
    assert 0.97 * 3 * N * (N - 1) < total.cross_pairs <= 3 * N * (N - 1)
    assert total.clumped(max_partnered=0.5) is clumped
    if kind == "compartments":
        assert total.contrast > 2 * compartments.CLUMP_CONTRAST
    if kind == "anywhere":
        assert total.contrast < compartments.CLUMP_CONTRAST / 2
    if kind == "dimers":
        assert total.contrast >= compartments.CLUMP_CONTRAST
        assert total.partnered > 0.5 * total.slow_frames


def test_segments_of_other_states_and_short_ones_are_left_out():
    """Only free and confined segments of at least ``MIN_STRETCH`` frames are stretches; an
    immobile or directed segment neither counts nor clumps."""
    short = state_evidence.MIN_STRETCH - 1
    labels = [TrajectoryLabel(0, [0.01, 1.0], [0.5, 1.0], [FREE, FREE], [short], T),
              TrajectoryLabel(1, [0.01, 1.0], [0.0, 1.9], [0, 3], [100], T),
              TrajectoryLabel(2, [0.01], [0.5], [CONFINED], [], T)]
    at = [np.full((T, 2), 50.0)] * 3
    c = compartments.slow_clumping(labels, at, [0, 0, 0], cut=-1.0)
    assert (c.slow_pairs, c.cross_pairs) == (0, 1)
    assert c.slow_frames == short + T


def test_one_particles_pieces_are_not_two_visitors():
    """A track broken and found again (a new trajectory index a few frames later, at the
    same place) is one particle: its pieces never make a pair; two stretches at the same
    place far apart in time, or at the same time, do."""
    still = np.full((T, 2), 50.0)
    piece = [TrajectoryLabel(0, [0.01], [0.5], [FREE], [], 80),
             TrajectoryLabel(1, [0.01], [0.5], [FREE], [], 80)]
    at = [still[:80], still[:80] + 0.5]
    for start, pairs in ((80 + 5, 0), (80 + compartments.REFOUND_FRAMES, 1), (40, 1)):
        c = compartments.slow_clumping(piece, at, [0, start], cut=-1.0)
        assert (c.slow_pairs, c.slow_near) == (pairs, pairs), start


def test_an_experiment_whose_slow_stretches_clump_is_confinement(unet_method):
    """The experiment stage: no frame called confined, so no state decision holds
    confinement, but the positions in the evidence show the slow stretches on a few discs:
    the slower segments become confined (labels and ensemble basis); slowing down anywhere
    stays free."""
    for kind, confined in (("compartments", True), ("anywhere", False)):
        per_fov, evidence = [], []
        for seed in range(3):
            labels, xy = _fov(kind, seed)
            ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {"frames": N * T,
                                                                "trajectories": N}
            evidence.append({"evidence": ev, "partner": {},
                             "probabilities": {str(i): [[0, 0, 1, 0]] * 2 for i in range(N)},
                             "positions": {str(i): p.tolist() for i, p in enumerate(xy)},
                             "starts": {str(i): 0 for i in range(N)}})
            per_fov.append(labels)
        out, basis = unet_method.decide_experiment(per_fov, evidence)
        for lab in (lab for fov in out + basis for lab in fov):
            want = np.where((lab.K < 0.1) & confined, CONFINED, FREE)
            assert lab.state.tolist() == want.tolist(), kind


@pytest.fixture(scope="module")
def unet_method():
    from andi2kit.methods.unet import UNetMethod

    return UNetMethod()


def test_small_slow_compartments_of_andi_datasets_are_found(unet_method, tmp_path):
    """andi-datasets' challenge simulation (two FOVs of 128 px in a 230 px box, as the
    ``compartments`` preset draws them): confinement in 180 compartments of radius 2 px, D 0.03
    inside and 1.5 outside, which the per-frame stage calls free (the code before this step:
    recall 0.0); the pipeline's labels call ≥ 90 % of the frames inside confined (measured
    0.99). Its multi-state look-alike (the same two speeds, switching anywhere) gets none."""
    from andi2kit import io, layout
    from andi2kit.io import read_labels
    from andi2kit.simulation.fov import FovJob, run_fov

    common = {"N": 100, "T": T, "L": 230.4, "Ds": np.array([[1.5, 0.0], [0.03, 0.0]]),
              "alphas": np.array([[1.4, 0.0], [1.0, 0.0]])}
    models = {"confinement": {"model": "confinement", "r": 2.0, "Nc": 180, "trans": 0.2},
              "multi_state": {"model": "multi_state", "return_state_num": True,
                              "M": np.array([[0.98, 0.02], [0.02, 0.98]])}}
    for exp, (model, extra) in enumerate(models.items()):
        per_fov, evidence, truth = [], [], []
        for fov in range(2):
            run_fov(FovJob(str(tmp_path), exp, fov, common | extra, 3, False, 0, 0.12, model))
            df = io.read_trajectories(layout.trajs_path(tmp_path / "public_data", 2, exp, fov))
            labels, ev = unet_method.predict_with_evidence(df)
            per_fov.append(labels)
            evidence.append(ev)
            truth.append({lab.idx: lab for lab in
                          read_labels(layout.labels_path(tmp_path / "ref", 2, exp, fov))})
        out, _ = unet_method.decide_experiment(per_fov, evidence)
        called = np.concatenate([lab.per_frame(lab.state) for fov in out for lab in fov])
        true = np.concatenate([ref[lab.idx].per_frame(ref[lab.idx].state)
                               for fov, ref in zip(out, truth, strict=True) for lab in fov])
        if model == "confinement":
            assert np.mean(true == CONFINED) > 0.3
            assert np.mean(called[true == CONFINED] == CONFINED) >= 0.9
        else:
            assert not np.any(called == CONFINED)


def test_a_track1_experiment_is_judged_from_every_tracked_particle(unet_method):
    """Track 1 labels hold ten VIPs per FOV, too few for two of them to share a compartment;
    the evidence's ``field`` (every tracked particle's label lines, positions and first
    frames) is where the stretches are counted, and the VIPs' slower segments are confined
    from it."""
    per_fov, evidence = [], []
    for seed in range(3):
        labels, xy = _fov("compartments", seed)
        vips = labels[:5] + labels[25:30]  # ten of forty, in ten compartments
        ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {"frames": 10 * T, "trajectories": 10}
        evidence.append({"evidence": ev, "partner": {},
                         "probabilities": {str(v.idx): [[0, 0, 1, 0]] * 2 for v in vips},
                         "positions": {str(v.idx): xy[v.idx].tolist() for v in vips},
                         "starts": {str(v.idx): 0 for v in vips},
                         "field": {"labels": [lab.to_line() for lab in labels],
                                   "positions": {str(i): p.tolist() for i, p in enumerate(xy)},
                                   "starts": {str(i): 0 for i in range(N)}}})
        per_fov.append(vips)
    field = compartments.experiment_clumping(per_fov, evidence, cut=-1.0)
    alone = compartments.experiment_clumping(
        per_fov, [{k: v for k, v in ev.items() if k != "field"} for ev in evidence], cut=-1.0)
    assert field.slow_pairs == 3 * N * (N - 1) // 2 and field.clumped(0.5)
    assert alone.slow_pairs == 3 * 10 * 9 // 2 and not alone.clumped(0.5)
    out, _ = unet_method.decide_experiment(per_fov, evidence, tracked=True)
    assert all(lab.state.tolist() == np.where(lab.K < 0.1, CONFINED, FREE).tolist()
               for fov in out for lab in fov)


def test_a_spot_of_two_is_a_partner():
    """Track 1: a dimer bound inside one spot is one track, no partner track beside it; its
    spot, twice as bright as the frame's typical one, is the partner. Clumped slow stretches
    whose spots hold two particles are dimers, not compartments."""
    labels, xy = _fov("compartments", 0)
    single = [np.ones(T) for _ in labels]
    double = [np.where(lab.per_frame(lab.K) < 0.1, 2.0, 1.0) for lab in labels]
    alone = compartments.slow_clumping(labels, xy, [0] * N, -1.0, single)
    paired = compartments.slow_clumping(labels, xy, [0] * N, -1.0, double)
    assert alone.clumped(0.5) and not paired.clumped(0.5)
    assert paired.partnered == paired.slow_frames


def test_a_confinement_called_where_the_slow_stretches_lie_anywhere_is_not_spread(unet_method):
    """The per-frame stage calls a third of the slow segments confined (enough for the
    experiment to be held confinement): where the slow stretches share a few discs, every
    slower segment becomes confined; where they lie as the fast ones do (multi-state), the
    split is not applied and only the segments called confined stay so."""
    from andi2kit import state_mixture

    for kind, spread in (("compartments", True), ("anywhere", False)):
        per_fov, evidence = [], []
        for seed in range(3):
            labels, xy = _fov(kind, seed)
            for lab in labels[::3]:
                lab.state = np.where(lab.K < 0.1, CONFINED, FREE)
            ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {
                "frames": N * T, "trajectories": N, "confined": N * SLOW / 3,
                "stretch_pairs": 100, "close_pairs": 10}  # the called stretches clump
            evidence.append({"evidence": ev, "partner": {},
                             "probabilities": {str(i): [[0, 0, 1, 0]] * 2 for i in range(N)},
                             "positions": {str(i): p.tolist() for i, p in enumerate(xy)},
                             "starts": {str(i): 0 for i in range(N)}})
            per_fov.append(labels)
        assert state_mixture.decide([e["evidence"] for e in evidence])[CONFINED]
        clumping = sum((compartments.experiment_clumping([p], [e], -1.0)
                        for p, e in zip(per_fov, evidence, strict=True)),
                       compartments.SlowClumping())
        assert clumping.spread_like_fast() is not spread
        out, _ = unet_method.decide_experiment(per_fov, evidence)
        slow = [lab.state[lab.K < 0.1] for fov in out for lab in fov]
        share = np.mean(np.concatenate(slow) == CONFINED)
        assert share == (1.0 if spread else pytest.approx(1 / 3, abs=0.02)), kind
