"""Which states an experiment holds: evidence per FOV, one decision per experiment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from andi2kit import layout, state_evidence, state_mixture, states
from andi2kit.constants import CONFINED, DIRECTED, FREE, IMMOBILE
from andi2kit.labels import TrajectoryLabel
from andi2kit.state_evidence import fov_evidence
from andi2kit.state_mixture import Decision, decide

T = 200


def _fov(rng, n: int, kind: str) -> tuple[list, list, list]:
    """Calls, positions and frames of ``n`` trajectories in a 128 px FOV: each starts with a
    confined stretch of 60 frames, placed as ``kind`` says (``"compartments"``: the stretches
    of all trajectories inside four disks of radius 5, anywhere in them at each frame;
    ``"anywhere"``: one random place each; ``"dimers"``: trajectories in pairs that sit on
    each other while slow)."""
    calls, pos, frames = [], [], []
    centres = rng.uniform(20, 108, size=(4, 2))
    for k in range(n):
        c = np.full(T, FREE)
        c[:60] = CONFINED
        xy = rng.uniform(0, 128, size=2) + np.cumsum(rng.normal(0, 1.0, size=(T, 2)), 0)
        if kind == "compartments":
            r, phi = 5 * np.sqrt(rng.uniform(size=60)), rng.uniform(0, 2 * np.pi, 60)
            where = centres[k % 4] + np.column_stack([r * np.cos(phi), r * np.sin(phi)])
        elif kind == "dimers":
            where = rng.uniform(0, 128, size=2) if k % 2 == 0 else pos[-1][0]
        else:
            where = rng.uniform(0, 128, size=2)
        xy[:60] = where + rng.normal(0, 0.3, size=(60, 2))
        calls.append(c)
        pos.append(xy)
        frames.append(np.arange(T))
    return calls, pos, frames


@pytest.mark.parametrize("kind, holds_confined", [
    ("compartments", True), ("anywhere", False), ("dimers", False)])
def test_confinement_is_told_from_slow_free_states_by_where_the_stretches_lie(kind,
                                                                              holds_confined):
    rng = np.random.default_rng(3)
    evidence = [fov_evidence(*_fov(rng, 12, kind)) for _ in range(3)]
    assert evidence[0]["confined"] == 12 * 60 and evidence[0]["switches"] == 12
    held = decide(evidence)
    assert held[CONFINED] == holds_confined
    assert held[FREE] and held[3] and not held[IMMOBILE]


def test_many_small_compartments_clump_at_short_range():
    """Compartments of radius 2 px on a 20 px grid, two particles in each: the confined
    stretches of a compartment's two particles are centred within 3 px, no others within
    10 px, so they clump at short range only (2 % of the pairs) and that holds confinement;
    without the short-range count it is missed."""
    rng = np.random.default_rng(5)
    grid = np.array([(20.0 + 20 * i, 20.0 + 20 * j) for i in range(6) for j in range(4)])
    calls, pos, frames = [], [], []
    for k in range(48):
        c = np.full(T, FREE)
        c[:60] = CONFINED
        xy = rng.uniform(0, 128, size=2) + np.cumsum(rng.normal(0, 1.0, size=(T, 2)), 0)
        r, phi = 2 * np.sqrt(rng.uniform(size=60)), rng.uniform(0, 2 * np.pi, 60)
        xy[:60] = grid[k % 24] + np.column_stack([r * np.cos(phi), r * np.sin(phi)])
        calls.append(c)
        pos.append(xy)
        frames.append(np.arange(T))
    ev = fov_evidence(calls, pos, frames)
    assert ev["stretch_pairs"] == 48 * 47 / 2
    assert ev["near_pairs"] == ev["close_pairs"] == 24
    assert decide([ev])[CONFINED]
    assert not decide([ev], Decision(min_near=np.inf))[CONFINED]


def test_dimers_are_partnered_and_a_switching_state_is_not_a_compartment():
    rng = np.random.default_rng(4)
    dimers = fov_evidence(*_fov(rng, 12, "dimers"))
    assert dimers["partnered"] / dimers["confined"] > 0.4  # the odd ones sit on the even ones
    calls, pos, frames = _fov(rng, 12, "compartments")
    flicker = [np.where((np.arange(T) // 20) % 2 == 1, CONFINED, FREE) for _ in calls]
    ev = fov_evidence(flicker, pos, frames)
    assert ev["switches"] / ev["trajectories"] > 5
    assert not decide([ev])[CONFINED]


@pytest.mark.parametrize("kind, partnered", [
    ("large dimer", True), ("shared trap", False), ("compartment mates", False)])
def test_a_partner_is_one_that_moves_with_the_particle(kind, partnered):
    """A bound pair 2.2 px apart shares its steps (andi-datasets' dimers): it moves with a
    partner; two particles jittering in one trap, or walking independently in one small
    compartment, do not."""
    rng = np.random.default_rng(6)
    n = 200
    noise = lambda: rng.normal(0, 0.12, (n, 2))  # noqa: E731

    def fold(x: np.ndarray, size: float) -> np.ndarray:  # reflecting walls at 0 and size
        return size - np.abs(np.mod(x, 2 * size) - size)

    walk = 50 + np.cumsum(rng.normal(0, 0.5, (n, 2)), 0)
    if kind == "large dimer":
        pos = [walk + noise(), walk + [2.2, 0.0] + noise()]
    elif kind == "shared trap":
        pos = [np.full((n, 2), 50.0) + noise(), np.full((n, 2), 50.3) + noise()]
    else:
        pos = [50 + fold(np.cumsum(rng.normal(0, 0.5, (n, 2)), 0), 2.0) + noise()
               for _ in range(2)]
    frames = [np.arange(n)] * 2
    ev = fov_evidence([np.full(n, IMMOBILE)] * 2, pos, frames)
    share = ev["immobile_partnered"] / (2 * n)
    assert share > 0.8 if partnered else share < 0.2
    assert decide([ev], Decision(max_still_ratio=np.inf))[IMMOBILE] == (not partnered)
    # and of those not partnered, the trapped pair stands still, the compartment mates walk
    assert decide([ev])[IMMOBILE] == (kind == "shared trap")
    if kind == "large dimer":  # as confined calls too, though 2.2 px apart
        ev = fov_evidence([np.full(n, CONFINED)] * 2, pos, frames)
        assert ev["partnered"] / (2 * n) > 0.8


def test_a_confined_spot_of_two_has_a_partner_an_immobile_one_does_not():
    """Track 1: slow frames whose spot reads twice as bright hold a bound partner (a dimer
    called confined is no compartment); two particles in one trap share a spot too, so
    brightness makes no immobile partner."""
    rng = np.random.default_rng(7)
    n = 200
    pos = [50 + np.cumsum(rng.normal(0, 0.1, (n, 2)), 0)]
    frames = [np.arange(n)]
    bright = [np.where(np.arange(n) < 150, 1.95, 1.0)]
    ev = fov_evidence([np.full(n, CONFINED)], pos, frames, bright)
    assert ev["partnered"] == 150
    assert fov_evidence([np.full(n, CONFINED)], pos, frames)["partnered"] == 0
    ev = fov_evidence([np.full(n, IMMOBILE)], pos, frames, bright)
    assert ev["immobile_partnered"] == 0


def test_immobile_and_confined_are_never_both_held():
    ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {
        "frames": 1000.0, "immobile": 50.0, "confined": 200.0, "trajectories": 10.0,
        "switches": 2.0, "stretch_pairs": 10.0, "close_pairs": 5.0}
    assert decide([ev]).tolist() == [False, True, True, True]
    assert decide([ev | {"immobile": 300.0}]).tolist() == [True, False, True, True]
    assert decide([ev], Decision(min_immobile=0.1)).tolist() == [False, True, True, True]


def _slow_stretches(rng, n: int, leave: bool, slow_step: float = 0.0) -> dict[str, float]:
    """Evidence of ``n`` trajectories that are called immobile from a random frame on, for
    20–60 frames (``leave``: a trap lets them go) or to their last frame; while called
    immobile they stand still (``slow_step`` 0, as a trap holds them) or diffuse with that
    step (px per axis), seen with 0.12 px of localisation noise."""
    calls, pos, frames = [], [], []
    for _ in range(n):
        c = np.full(T, FREE)
        start = int(rng.integers(20, 120))
        c[start:start + int(rng.integers(20, 60)) if leave else T] = IMMOBILE
        steps = rng.normal(0, 1.0, (T, 2)) * np.where(c == IMMOBILE, slow_step, 1.0)[:, None]
        calls.append(c)
        pos.append(rng.uniform(0, 128, size=2) + np.cumsum(steps, 0)
                   + rng.normal(0, 0.12, (T, 2)))
        frames.append(np.arange(T))
    return fov_evidence(calls, pos, frames)


@pytest.mark.parametrize("leave, held", [(True, IMMOBILE), (False, CONFINED)])
def test_slow_stretches_that_are_never_left_are_compartments_not_traps(leave, held):
    """A particle too slow to cross its compartment looks immobile; a trap lets it go."""
    ev = _slow_stretches(np.random.default_rng(3), 20, leave)
    assert ev["immobile_entries"] == 20
    assert ev["immobile_exits"] == (20 if leave else 0)
    assert np.flatnonzero(decide([ev])[:2]).tolist() == [held]
    # too few stretches entered to tell: the calls stand
    few = _slow_stretches(np.random.default_rng(3), 5, leave)
    assert np.flatnonzero(decide([few])[:2]).tolist() == [IMMOBILE]


@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize("slow_step, held", [(0.0, True), (0.4, False)])
def test_slow_stretches_that_diffuse_are_no_traps(slow_step, held, seed):
    """A trapped particle stands still; one that keeps diffusing while called immobile (a
    slow state of a multi-state experiment) is no trap."""
    ev = _slow_stretches(np.random.default_rng(seed), 60, True, slow_step)
    assert ev["still_pairs"] >= Decision().min_still_pairs
    assert decide([ev])[IMMOBILE] == held
    assert decide([ev], Decision(max_still_ratio=np.inf))[IMMOBILE]


def _bouts(rng: np.random.Generator, n: int, slow_step: float
           ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``n`` Brownian movers (1 px per axis per frame), each with one bout of 20–60 frames
    moving ``slow_step`` per axis per frame (0: trapped), all called free."""
    calls, pos, frames = [], [], []
    for _ in range(n):
        bout = np.zeros(T, bool)
        start = int(rng.integers(20, 120))
        bout[start:start + int(rng.integers(20, 60))] = True
        steps = rng.normal(0, 1.0, (T, 2)) * np.where(bout, slow_step, 1.0)[:, None]
        calls.append(np.full(T, FREE))
        pos.append(np.cumsum(steps, 0) + rng.normal(0, 0.12, (T, 2)))
        frames.append(np.arange(T))
    return calls, pos, frames


@pytest.mark.parametrize("slow_step, held", [(0.0, True), (0.06, False)])
def test_traps_the_state_calls_missed_are_found_standing_still(slow_step, held):
    """Bouts the state stage calls free (a trap among near-ballistic particles): long still
    runs read off the steps that stand still make the experiment hold traps; runs that keep
    spreading (a slow state, 0.06 px per axis per frame) do not, nor do too few runs."""
    calls, pos, frames = _bouts(np.random.default_rng(7), 20, slow_step)
    ev = fov_evidence(calls, pos, frames)
    assert ev["immobile"] == 0 and ev["still_runs"] >= Decision().min_standing_runs
    assert decide([ev])[IMMOBILE] == held
    few = fov_evidence(calls[:5], pos[:5], frames[:5])
    assert not decide([few])[IMMOBILE]


@pytest.mark.parametrize("slow_step, held", [(0.0, True), (0.06, False)])
def test_a_few_runs_that_all_stand_still_are_traps(slow_step, held):
    """Sparse traps among fast movers: fewer long still runs than ``min_standing_runs``, but
    nearly all of them standing still, make the experiment hold traps; as many that keep
    spreading do not."""
    calls, pos, frames = _bouts(np.random.default_rng(11), 8, slow_step)
    ev = fov_evidence(calls, pos, frames)
    assert Decision().min_sure_standing <= ev["still_runs"] < Decision().min_standing_runs
    assert decide([ev])[IMMOBILE] == held
    assert not decide([ev], Decision(min_sure_standing=np.inf))[IMMOBILE]


def test_a_stretch_seen_from_the_first_frame_was_not_entered():
    c = np.r_[np.full(50, IMMOBILE), np.full(100, FREE), np.full(50, IMMOBILE)]
    ev = fov_evidence([c], [np.zeros((T, 2))], [np.arange(T)])
    assert (ev["immobile_entries"], ev["immobile_exits"]) == (1.0, 0.0)


def test_a_slow_segment_takes_the_slow_state_the_experiment_holds():
    """Called immobile in an experiment of compartments: confined, even where the stage
    found free likelier than confined."""
    lab = TrajectoryLabel(0, [1.0, 1e-3], [1.0, 0.1], [2, 0], [80], T)
    p = [np.array([[0, 0, 1, 0], [.90, .02, .08, 0]])]
    conf = state_mixture.restate([lab], p, np.array([False, True, True, True]))
    assert conf[0].state.tolist() == [2, 1]
    free = state_mixture.restate([lab], p, np.array([False, False, True, True]))
    assert free[0].state.tolist() == [2, 2]


def test_missing_positions_are_skipped():
    rng = np.random.default_rng(5)
    calls, pos, frames = _fov(rng, 4, "compartments")
    pos[0][10:20] = np.nan
    ev = fov_evidence(calls, pos, frames)
    assert all(np.isfinite(v) for v in ev.values())


def test_only_segments_of_a_state_not_held_change():
    labs = [TrajectoryLabel(0, [1.0, 0.1, 1.0], [1.0, 0.5, 1.0], [2, 1, 0], [50, 120], T),
            TrajectoryLabel(1, [1.0], [1.0], [2], [], T)]
    probs = [np.array([[0, .1, .9, 0], [.3, .5, .2, 0], [.6, .1, .1, .2]]),
             np.array([[0, 0, 1, 0]])]
    out = state_mixture.restate(labs, probs, np.array([True, False, True, True]))
    assert out[0].state.tolist() == [2, 0, 0]  # confined → its likeliest held state
    assert out[1] is labs[1]
    assert list(out[0].cp) == [50, 120] and list(out[0].alpha) == [1.0, 0.5, 1.0]


def test_a_run_with_a_state_stage_decides_states_per_experiment_and_resumes(sim_data: Path,
                                                                          tmp_path: Path):
    from andi2kit.inference import DEFAULT_CHECKPOINT
    from andi2kit.io import read_labels
    from andi2kit.pipeline import run

    ckpt = tmp_path / "ckpt"
    shutil.copytree(DEFAULT_CHECKPOINT, ckpt)
    # a stage that calls frames confined or free at random: confined stretches everywhere,
    # switching all the time, in no compartment
    rng = np.random.default_rng(6)
    X = rng.normal(size=(2000, len(states.feature_names())))
    stage = states.StateClassifier(max_iter=5).fit(X, rng.choice([CONFINED, FREE], 2000))
    states.save(stage, ckpt, {"note": "test"})
    out = tmp_path / "sub"
    opts = {"checkpoint": str(ckpt)}
    report = run(sim_data / "public_data", out, 2, "unet", options=opts, progress=False)
    assert report.ok and len(report.written) == 4
    raw, final = [], []
    for e, f in report.written:
        ev = json.loads(layout.state_evidence_path(out, 2, e, f).read_text())
        assert ev["evidence"]["confined"] > 0
        raw += [s for lab in read_labels(layout.segments_path(out, 2, e, f)) for s in lab.state]
        final += [s for lab in read_labels(layout.prediction_path(out, 2, e, f))
                  for s in lab.state]
    assert CONFINED in raw and CONFINED not in final
    # the evidence of one FOV lost: that FOV alone is redone
    layout.state_evidence_path(out, 2, 1, 0).unlink()
    again = run(sim_data / "public_data", out, 2, "unet", options=opts, progress=False)
    assert again.written == [(1, 0)] and again.redone == {(1, 0): "state evidence missing"}
    assert layout.state_evidence_path(out, 2, 1, 0).is_file()
    # damaged or describing other segments: redone too, never used
    layout.state_evidence_path(out, 2, 0, 1).write_text("{not json")
    bad = json.loads(layout.state_evidence_path(out, 2, 1, 1).read_text())
    bad["probabilities"] = {k: v[:-1] or [[0.25] * 4] * 2 for k, v in bad["probabilities"].items()}
    layout.state_evidence_path(out, 2, 1, 1).write_text(json.dumps(bad))
    odd = json.loads(layout.state_evidence_path(out, 2, 0, 0).read_text())
    odd["context"] = [[1.0, 0.5, 2, 60], [1.0, "fast"]]
    layout.state_evidence_path(out, 2, 0, 0).write_text(json.dumps(odd))
    short = json.loads(layout.state_evidence_path(out, 2, 1, 0).read_text())
    short["field"] = {"labels": ["0,1.0,1.0,2,50"], "positions": {"0": [[1.0, 2.0]]},
                      "starts": {"0": 0}}  # one position for a 50-frame track
    layout.state_evidence_path(out, 2, 1, 0).write_text(json.dumps(short))
    third = run(sim_data / "public_data", out, 2, "unet", options=opts, progress=False)
    assert third.redone == {(0, 1): "state evidence unreadable",
                            (1, 1): "state evidence does not match the segments",
                            (0, 0): "state evidence holds malformed context segments",
                            (1, 0): "state evidence holds malformed field tracks"}
    assert third.ok and sorted(third.written) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert json.loads(layout.state_evidence_path(out, 2, 0, 0).read_text())["context"] == []
    assert json.loads(layout.state_evidence_path(out, 2, 1, 0).read_text())["field"] == {}


@pytest.fixture(scope="module")
def unet():
    from andi2kit.methods.unet import UNetMethod

    return UNetMethod()


@pytest.mark.parametrize("alpha, lowest, highest", [(1.97, 0.7, 1.0), (1.6, 0.0, 0.0)])
def test_moving_particles_are_directed_exactly_where_their_alpha_reaches_1_9(unet, alpha,
                                                                             lowest, highest):
    """andi-datasets labels a moving state directed when α >= 1.9: the pipeline's labels
    (U-Net, experiment pooling, then free segments of α >= 1.9 made directed) call 30
    particles of α = 1.97 directed for most of their frames (measured 0.79; the state head
    alone 0.67) and particles of α = 1.6 never."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(4)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(4)
    xy, _ = models_phenom().single_state(N=30, T=T, L=1e4, Ds=[1.0, 0], alphas=[alpha, 0])
    xy = xy + np.random.default_rng(4).normal(0, 0.12, xy.shape)
    df = pd.concat([pd.DataFrame({"traj_idx": i, "frame": np.arange(T), "x": xy[:, i, 0],
                                  "y": xy[:, i, 1]}) for i in range(xy.shape[1])])
    labels = unet.pool(unet.predict(df))
    directed = sum(int(np.diff(np.r_[0, lab.cp, lab.T])[lab.state == DIRECTED].sum())
                   for lab in labels)
    assert lowest <= directed / (30 * T) <= highest
    assert all(lab.state[k] == DIRECTED for lab in labels for k in range(len(lab.state))
               if lab.alpha[k] >= 1.9)


def _fov_evidence_of(labels: list[TrajectoryLabel], **counts: float) -> dict:
    ev = dict.fromkeys(state_evidence.EVIDENCE, 0.0) | {"frames": 1000.0, "trajectories": 5.0}
    ev |= counts
    probs = {str(lab.idx): [[0.0, 0.0, 1.0, 0.0]] * len(lab.state) for lab in labels}
    return {"evidence": ev, "probabilities": probs, "partner": {}}


@pytest.mark.parametrize("immobile, shift", [(0.0, -1), (100.0, 0)])
def test_change_points_follow_the_label_convention_of_the_experiment(unet, immobile, shift):
    """The segmentation puts a change point where the steps change, at the step *into* a
    frame; andi-datasets labels traps (and dimers) by that step, multi-state and
    confinement by the step *out of* a frame, so an experiment that holds no traps (nor
    dimers) has its change points one frame earlier (on the generalisation tuning seeds most
    multi-state and confinement change points were one frame late)."""
    labels = [TrajectoryLabel(0, [1.0, 0.1], [1.0, 0.8], [FREE, FREE], [80], T),
              TrajectoryLabel(1, [1.0], [1.0], [FREE], [], T)]
    ev = _fov_evidence_of(labels, immobile=immobile)
    out = unet.decide_states([labels], [ev])[0]
    assert out[0].cp.tolist() == [80 + shift] and out[1].cp.tolist() == []
    assert out[0].alpha.tolist() == [1.0, 0.8]


@pytest.mark.parametrize("changed, dimers", [(18.0, True), (10.0, False)])
def test_the_ensemble_basis_is_never_cut_at_partner_change_points(unet, changed, dimers):
    """One decision per experiment gives both the labels (cut where the pairs bind and part
    when it is judged dimerization) and the ensemble's basis (the model's own segments: a
    dimer's many short bound segments would weigh its bound state too much)."""
    labels = [TrajectoryLabel(0, [1.0, 0.1], [1.0, 0.8], [FREE, FREE], [80], T),
              TrajectoryLabel(1, [1.0], [1.0], [FREE], [], T)]
    ev = _fov_evidence_of(labels, bound=120.0, bindings=20.0, changed=changed)
    ev["partner"] = {"0": {"cp": [50, 90], "K": [1.0, 0.01, 1.0], "alpha": [1.0, 0.8, 1.0],
                           "state": [FREE] * 3, "probabilities": [[0, 0, 1, 0]] * 3}}
    out, basis = unet.decide_experiment([labels], [ev])
    own = [80] if dimers else [79]  # no dimers: the label convention's one frame earlier
    assert basis[0][0].cp.tolist() == own and basis[0][1].cp.tolist() == []
    assert out[0][0].cp.tolist() == ([50, 90] if dimers else own)
    assert out[0][0].K.tolist() == ([1.0, 0.01, 1.0] if dimers else [1.0, 0.1])
    assert unet.decide_states([labels], [ev])[0][0].cp.tolist() == out[0][0].cp.tolist()


def test_track1_vips_are_pooled_with_every_tracked_particle(unet):
    """Track 1: every tracked particle's segments (the FOV evidence's ``context``, those of
    at least ``CONTEXT_MIN_LENGTH`` frames) tell the experiment's pooling its states: three
    VIP segments at α 0.6–0.75 among 600 tracked particles' around 0.9 are pulled towards
    0.9 (long segments in a broad state: part of the way)."""
    from andi2kit.experiment_decision import CONTEXT_MIN_LENGTH

    vips = [TrajectoryLabel(i, [1.0], [a], [FREE], [], T) for i, a in enumerate([.6, .7, .75])]
    rng = np.random.default_rng(0)
    rows = [[round(float(a), 4), 1.0, FREE, 100] for a in rng.normal(0.9, 0.15, 600)]
    short = [[0.1, 30.0, FREE, CONTEXT_MIN_LENGTH - 1]] * 50  # broken pieces: left out
    ev = _fov_evidence_of(vips) | {"context": rows + short}
    context = unet.context_segments([ev, None])
    assert context.shape == (600, 4)
    pooled = unet.pool(vips, context=context)
    assert all(0.3 * (0.9 - v.alpha[0]) < p.alpha[0] - v.alpha[0] < 0.9 - v.alpha[0]
               for p, v in zip(pooled, vips, strict=True))
    alone = unet.pool(vips)
    assert all(abs(p.alpha[0] - 0.9) < abs(q.alpha[0] - 0.9)
               for p, q in zip(pooled, alone, strict=True))
    assert unet.context_segments([_fov_evidence_of(vips)]) is None
    assert unet.context_segments(None) is None


@pytest.mark.parametrize("inside, called, confined", [(0.05, 2, True), (0.4, 2, False),
                                                    (0.05, 100, False)])
def test_a_compartments_slower_segments_are_confined(inside, called, confined):
    """andi-datasets gives a compartment's inside a slower diffusion and labels a frame
    confined exactly while the particle is inside: in an experiment holding confined and
    free frames, segments well below the experiment's split in K (here 20× slower) are
    confined and the fast ones free where the per-frame calls said so for some of them
    (here half); where the two groups lie within half a decade (2.5×), or where none of the
    slow frames was called confined, nothing changes. Immobile and directed segments are
    never touched."""
    rng = np.random.default_rng(0)
    per_fov = []
    for _ in range(3):
        labels = []
        for i in range(20):
            k_in, k_out = inside * rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25)
            labels.append(TrajectoryLabel(i, [k_out, k_in, k_out], [1.0, 0.6, 1.0],
                                          [FREE, FREE if i % called else CONFINED, DIRECTED],
                                          [60, 140], T))
        labels.append(TrajectoryLabel(20, [0.001, k_out], [0.0, 1.0], [IMMOBILE, CONFINED],
                                      [50], T))
        per_fov.append(labels)
    out = state_mixture.confined_where_slow(per_fov)
    for fov, new in zip(per_fov, out, strict=True):
        for lab, got in zip(fov[:20], new[:20], strict=True):
            want = [FREE, CONFINED, DIRECTED] if confined else lab.state.tolist()
            assert got.state.tolist() == want
            assert got.K.tolist() == lab.K.tolist() and got.cp.tolist() == lab.cp.tolist()
        assert new[20].state.tolist() == [IMMOBILE, FREE if confined else CONFINED]


def test_only_an_experiment_judged_confinement_has_its_slow_segments_confined(unet):
    """The split is made where the experiment holds confined frames (its evidence: enough
    confined calls whose stretches clump), on the labels and on the ensemble's basis alike:
    the slow segments called free join those called confined; an experiment without that
    evidence has every slow segment free."""
    labels = [TrajectoryLabel(i, [1.0, 0.03], [1.0, 0.6], [FREE, FREE if i % 2 else CONFINED],
                              [100], T) for i in range(10)]
    confined = _fov_evidence_of(labels, confined=300.0, stretch_pairs=100.0,
                                close_pairs=10.0, near_pairs=10.0)
    out, basis = unet.decide_experiment([labels], [confined])
    assert all(lab.state.tolist() == [FREE, CONFINED] for lab in out[0] + basis[0])
    out, basis = unet.decide_experiment([labels], [_fov_evidence_of(labels)])
    assert all(lab.state.tolist() == [FREE, FREE] for lab in out[0] + basis[0])


def test_the_field_joins_the_split_of_a_track1_experiment():
    """Track 1 labels hold ten VIPs per FOV; every other tracked particle's segments
    (``context``: rows α, K, state, length) join the split and the share already called
    confined, and only the labels come back: VIPs whose slow segments were all called free
    are confined where the field's slow segments were called so."""
    vips = [TrajectoryLabel(i, [1.0, 0.02], [1.0, 0.5], [FREE, FREE], [100], T)
            for i in range(10)]
    assert [lab.state.tolist() for lab in state_mixture.confined_where_slow([vips])[0]] \
        == [[FREE, FREE]] * 10
    field = np.array([[0.5, 0.02, CONFINED, 120], [1.0, 1.1, FREE, 80]] * 20, float)
    out = state_mixture.confined_where_slow([vips], field)
    assert len(out[0]) == 10
    assert [lab.state.tolist() for lab in out[0]] == [[FREE, CONFINED]] * 10


@pytest.mark.parametrize("held, used", [({}, True), ({"immobile": 100.0}, False),
                                        ({"confined": 300.0, "stretch_pairs": 100.0,
                                          "close_pairs": 10.0, "near_pairs": 10.0}, False)])
def test_short_bouts_cut_only_experiments_without_traps_dimers_or_compartments(unet, held,
                                                                              used):
    """The bouts the steps show (``bouts`` in the evidence, :mod:`andi2kit.bouts`) cut an
    experiment that holds only free motion (one frame earlier, as its other change points),
    on the labels and on the ensemble's basis; one that holds traps or compartments keeps the
    model's segments (their short stretches are the still runs' and the compartments')."""
    labels = [TrajectoryLabel(0, [1.0, 0.1], [1.0, 0.8], [FREE, FREE], [80], T),
              TrajectoryLabel(1, [1.0], [1.0], [FREE], [], T)]
    ev = _fov_evidence_of(labels, **held)
    ev["bouts"] = {"1": {"cp": [120, 132], "K": [1.0, 0.05, 1.0], "alpha": [1.0, 0.7, 1.0],
                         "state": [FREE] * 3, "probabilities": [[0, 0, 1, 0]] * 3}}
    out, basis = unet.decide_experiment([labels], [ev])
    for cut in (out, basis):
        assert cut[0][1].cp.tolist() == ([119, 131] if used else [])
        assert cut[0][1].K.tolist() == ([1.0, 0.05, 1.0] if used else [1.0])
    # the label convention's shift is the traps' and dimers' alone
    assert out[0][0].cp.tolist() == ([80] if "immobile" in held else [79])


@pytest.mark.parametrize("held, used", [({}, True), ({"immobile": 100.0}, False),
                                        ({"confined": 300.0, "stretch_pairs": 100.0,
                                          "close_pairs": 10.0, "near_pairs": 10.0}, False)])
def test_step_states_cut_only_experiments_without_traps_dimers_or_compartments(unet, held,
                                                                              used):
    """The cuts where a FOV's step states change (``step_states`` in the evidence,
    :mod:`andi2kit.step_states`) replace the model's in an experiment that holds only free
    motion (one frame earlier, as its other change points: andi-datasets labels a
    multi-state particle by the step out of a frame), on the labels and on the ensemble's
    basis; traps and compartments keep the model's segments."""
    labels = [TrajectoryLabel(0, [1.0, 0.1], [1.0, 0.8], [FREE, FREE], [80], T),
              TrajectoryLabel(1, [1.0], [1.0], [FREE], [], T)]
    ev = _fov_evidence_of(labels, **held)
    ev["step_states"] = {"0": {"cp": [40, 51, 81], "K": [1.0, 0.1, 1.0, 0.1],
                               "alpha": [1.0, 0.8, 1.0, 0.8], "state": [FREE] * 4,
                               "probabilities": [[0, 0, 1, 0]] * 4}}
    out, basis = unet.decide_experiment([labels], [ev])
    for cut in (out, basis):
        assert cut[0][0].cp.tolist() == ([39, 50, 80] if used else
                                         [80] if "immobile" in held else [79])
        assert cut[0][1].cp.tolist() == []


@pytest.mark.parametrize("changed, model, pulled", [
    (18.0, {"states": 2, "K": [0.01, 1.0], "dwell": [20.0, 50.0]}, True),
    (18.0, {"states": 1, "K": [0.3], "dwell": [1e9]}, False),
    (18.0, None, True),
    (10.0, {"states": 2, "K": [0.01, 1.0], "dwell": [20.0, 50.0]}, False)])
def test_a_dimer_segments_alpha_is_pulled_towards_its_step_states(unet, changed, model, pulled):
    """In an experiment judged dimerization whose steps hold states (the FOVs'
    ``step_model``), each cut segment's α moves towards the mean α of the experiment's
    segments nearest in K to the same state, with the weight of the step states'
    ``prior_frames`` (20): a bound stretch of 10 frames read at α 0.9 among bound frames at
    α 0.3 goes to 0.54. Where the steps got no model (Track 1) the two states are split
    from the segments' K (here K 0.01 and 1.0 again). Where the steps hold one state, or
    without dimers, α stays as cut; the ensemble's basis is never pulled."""
    labels = [TrajectoryLabel(0, [1.0], [1.0], [FREE], [], T),
              TrajectoryLabel(1, [1.0, 0.01], [1.0, 0.3], [FREE, FREE], [100], T)]
    ev = _fov_evidence_of(labels, bound=120.0, bindings=20.0, changed=changed)
    ev["partner"] = {"0": {"cp": [50, 60], "K": [1.0, 0.01, 1.0], "alpha": [1.0, 0.9, 1.0],
                           "state": [FREE] * 3, "probabilities": [[0, 0, 1, 0]] * 3}}
    if model is not None:
        ev["step_model"] = model
    assert unet.decision.state_prior_frames == 20
    out, basis = unet.decide_experiment([labels], [ev])
    if changed < 18:  # not dimerization: the model's own segments, one frame earlier
        assert out[0][0].alpha.tolist() == [1.0] and out[0][1].cp.tolist() == [99]
        return
    bound = (10 * 0.9 + 100 * 0.3) / 110  # the bound state's mean α over its frames
    expected = (10 * 0.9 + 20 * bound) / 30 if pulled else 0.9
    assert out[0][0].alpha.tolist() == pytest.approx([1.0, expected, 1.0], abs=1e-9)
    assert out[0][1].alpha.tolist() == pytest.approx(
        [1.0, (100 * 0.3 + 20 * bound) / 120 if pulled else 0.3], abs=1e-9)
    assert [lab.alpha.tolist() for lab in basis[0]] == [[1.0], [1.0, 0.3]]


@pytest.mark.parametrize("pairs, tracked, freed", [(6.0, False, True), (40.0, False, False),
                                                   (6.0, True, False)])
def test_traps_the_places_deny_leave_free_segments(unet, monkeypatch, pairs, tracked, freed):
    """An experiment whose state calls hold traps, but whose still runs stand where no other
    particle stood (6 pairs at one place where the moving frames predict 8: a multi-state's
    slow state), keeps the trap path's segments, α and K, its immobile ones called free
    (after the pooling) and its change points one frame earlier, on the multi-state
    labels' convention (the trap path placed them on the traps'); one whose runs meet at
    shared places (40 pairs: 5 times the prediction) keeps its traps; Track 1 is left as it
    is."""
    from andi2kit import trap_places

    monkeypatch.setattr(trap_places, "evidence_counts", lambda *a, **k: [
        {"runs": 300.0, "pairs": pairs, "expected": 8.0, "long_runs": 250.0,
         "standing_runs": 150.0}])
    labels = [TrajectoryLabel(0, [0.5, 0.0], [1.0, 0.0], [FREE, IMMOBILE], [80], T),
              TrajectoryLabel(1, [0.5], [1.0], [FREE], [], T)]
    ev = _fov_evidence_of(labels, immobile=100.0)
    out = unet.untrapped(labels) if unet.denies_traps([ev], tracked=tracked) else labels
    assert out[0].state.tolist() == ([FREE, FREE] if freed else [FREE, IMMOBILE])
    assert out[0].alpha.tolist() == [1.0, 0.0]
    assert out[0].cp.tolist() == ([79] if freed else [80])
    assert unet.denies_traps([ev], tracked=tracked) is freed
    assert out[1].cp.tolist() == [] and out[1].state.tolist() == [FREE]
    assert not unet.denies_traps([None])


def test_pooling_sets_immobile_alpha_to_zero_unless_told_not_to(unet):
    """Immobile segments get α 0 after the pooling, as andi-datasets labels a trapped
    particle; an experiment whose traps the places deny is pooled with ``at_rest=False``, so
    that the segments the denial calls free keep the α the pooling gave them (the tuning
    suites' denied experiments: α MAE dimers 0 0.1188 -> 0.1147, dimers 2 0.1583 -> 0.1559)."""
    labels = [TrajectoryLabel(0, [0.5, 0.003], [1.0, 0.4], [FREE, IMMOBILE], [80], T)]
    assert unet.pool(labels)[0].alpha[1] == 0.0
    kept = unet.pool(labels, at_rest=False)[0]
    assert kept.alpha[1] > 0.0 and kept.state.tolist() == [FREE, IMMOBILE]
