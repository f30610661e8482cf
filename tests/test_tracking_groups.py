"""Joint identities after encounters of three or more tracks, and through a merge."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from andi2kit.tracking import TrackingParams
from andi2kit.tracking.groups import encounter_groups, untangle_groups

ON = TrackingParams()


def _walk(rng, T: int, D: float, through: np.ndarray, at: int,
          velocity: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    steps = rng.normal(0.0, np.sqrt(2 * D), (T, 2)) + velocity
    steps[0] = 0.0
    x = np.cumsum(steps, axis=0)
    return x - x[at] + through


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["y", "x", "mass", "frame", "particle"])


def _one_brightness_per_track(tracks: pd.DataFrame, tol: float) -> bool:
    for _, g in tracks.groupby("particle"):
        m = g.sort_values("frame")["mass"].to_numpy()
        if m.size >= 40 and abs(m[:20].mean() - m[-20:].mean()) > tol:
            return False
    return True


def _single_frame_per_track(tracks: pd.DataFrame) -> bool:
    return not tracks.duplicated(["particle", "frame"]).any()


def _three_way(seed: int) -> pd.DataFrame:
    """Three particles of brightness 20, 26, 33 meet at one point at frames 58-62; after it
    the linker's labels follow them cyclically permuted."""
    rng = np.random.default_rng(seed)
    T, meet = 120, 60
    centre = np.array([50.0, 50.0])
    offsets = np.array([[0.0, 0.0], [0.7, 0.3], [-0.4, 0.6]])
    # they come from three sides and leave on the far ones, a pixel a frame
    heading = [(np.cos(t), np.sin(t)) for t in (0.0, 2.1, 4.2)]
    walks = [_walk(rng, T, 0.05, centre + o, meet, v)
             for o, v in zip(offsets, heading, strict=True)]
    amps = (20.0, 26.0, 33.0)
    rows = []
    for f in range(T):
        for k in range(3):
            lab = k if f <= meet else (k + 1) % 3
            rows.append((*walks[k][f], rng.normal(amps[k], 0.05 * amps[k]), f, lab))
    return _table(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_tracks_permuted_at_one_encounter_get_their_tails_back(seed):
    tracks = _three_way(seed)
    assert not _one_brightness_per_track(tracks, 3.0)
    groups = encounter_groups(tracks, ON)
    assert len(groups) == 1 and len(groups[0].rows) == 3
    fixed = untangle_groups(tracks, ON)  # one joint decision, not a chain of pairwise ones
    assert _one_brightness_per_track(fixed, 3.0)
    assert _single_frame_per_track(fixed)
    assert len(fixed) == len(tracks)


def test_off_at_zero_and_alike_particles_keep_the_linkers_choice():
    assert ON.untangle_groups >= 3  # on by default
    tracks = _three_way(0)
    assert untangle_groups(tracks, replace(TrackingParams(), untangle_groups=0)).equals(tracks)
    # three particles of one brightness: without their headings nothing says the linker
    # was wrong; with them (they move a pixel a frame in straight lines) it was
    alike = tracks.assign(mass=np.random.default_rng(1).normal(25.0, 1.0, len(tracks)))
    no_drift = replace(ON, untangle_persistence=1.0)
    out = untangle_groups(alike, no_drift).sort_values(["frame", "y"]).reset_index(drop=True)
    ref = alike.sort_values(["frame", "y"]).reset_index(drop=True)
    assert (out["particle"].to_numpy() == ref["particle"].to_numpy()).all()
    for _, g in untangle_groups(alike, ON).groupby("particle"):
        xy = g.sort_values("frame")[["y", "x"]].to_numpy()
        early, late = xy[50] - xy[30], xy[90] - xy[70]
        assert early @ late > 0.9 * np.hypot(*early) * np.hypot(*late)  # one heading


def test_a_merge_whose_track_ends_is_joined_to_the_track_that_begins_after_it():
    """A (20) and B (30) merge at frames 58-65: the linker ends B's track, keeps A's on
    the blob and follows B with it when they part; A goes on as a new track."""
    rng = np.random.default_rng(3)
    T = 130
    a = _walk(rng, T, 0.3, np.array([40.0, 40.0]), 60)
    b = _walk(rng, T, 0.3, np.array([40.5, 40.3]), 60)
    rows = []
    for f in range(T):
        if f < 58:
            rows += [(*a[f], rng.normal(20, 1), f, 0), (*b[f], rng.normal(30, 1.5), f, 1)]
        elif f <= 65:  # one blob, as bright as both
            rows.append((*(0.5 * (a[f] + b[f])), rng.normal(50, 2.5), f, 0))
        else:
            rows += [(*b[f], rng.normal(30, 1.5), f, 0), (*a[f], rng.normal(20, 1), f, 2)]
    tracks = _table(rows)
    groups = encounter_groups(tracks, ON)
    # the contact before the merge, with the track that begins after it
    assert groups[0].met == 2 and len(groups[0].rows) == 3
    fixed = untangle_groups(tracks, ON)
    assert _single_frame_per_track(fixed)
    assert _one_brightness_per_track(fixed[fixed["mass"] < 40], 3.0)
    late = fixed[fixed["frame"] > 70]
    assert set(late.groupby("particle")["mass"].mean().round(-1)) == {20.0, 30.0}
    # A's track (label 0 before the merge) goes on with A's brightness
    assert late[late["particle"] == 0]["mass"].mean() == pytest.approx(20.0, abs=1.0)


def test_persistence_tells_near_ballistic_tracks_from_brownian_ones():
    """The median correlation of successive steps: about 0 for Brownian tracks, near 1 for
    tracks that keep their heading (where the groups carry each stretch's drift across)."""
    from andi2kit.tracking.groups import persistence
    from andi2kit.tracking.untangle import TrackRows

    rng = np.random.default_rng(5)
    rows = []
    for k in range(6):
        heading = rng.normal(size=2)
        walk = _walk(rng, 60, 0.02, np.array([20.0 * k, 0.0]), 0,
                     tuple(heading / np.hypot(*heading)))
        rows += [(*walk[f], 20.0, f, k) for f in range(60)]
    ballistic = _table(rows)
    brownian = ballistic.assign(
        y=np.concatenate([_walk(rng, 60, 1.0, np.zeros(2), 0)[:, 0] for _ in range(6)]),
        x=np.concatenate([_walk(rng, 60, 1.0, np.zeros(2), 0)[:, 1] for _ in range(6)]))
    assert persistence(TrackRows(ballistic, 1.5)) > 0.9
    assert abs(persistence(TrackRows(brownian, 1.5))) < 0.2
    assert TrackingParams().untangle_persistence == pytest.approx(0.6)


@pytest.mark.parametrize("bad", [{"untangle_groups": -1}, {"untangle_none": 0.0},
                                 {"untangle_gap": -2}, {"untangle_reach": -1.0},
                                 {"untangle_persistence": 1.5}])
def test_group_settings_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        replace(TrackingParams(), **bad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_drift_gives_back_two_crossing_headings(seed):
    """Two look-alike particles (same brightness) crossing at right angles, 2 px a frame,
    their tails exchanged by the linker at the contact: the pairwise untangler's Brownian
    continuity cannot tell (it keeps the linker's choice); with ``untangle_pair_drift`` in a
    field of tracks that keep their heading it exchanges the tails back."""
    from andi2kit.tracking.untangle import untangle

    rng = np.random.default_rng(seed)
    T, meet = 80, 40
    centre = np.array([60.0, 60.0])
    a = _walk(rng, T, 0.01, centre, meet, (2.0, 0.0))
    b = _walk(rng, T, 0.01, centre + 0.5, meet, (0.0, 2.0))
    rows = []
    for f in range(T):
        swapped = f > meet
        rows += [(*a[f], rng.normal(20.0, 1.0), f, 1 if swapped else 0),
                 (*b[f], rng.normal(20.0, 1.0), f, 0 if swapped else 1)]
    tracks = _table(rows)
    no_groups = replace(ON, untangle_groups=0)
    kept = untangle(tracks, replace(no_groups, untangle_pair_drift=False))
    fixed = untangle(tracks, replace(no_groups, untangle_pair_drift=True))
    # a track that keeps one particle moves along one axis only; an exchanged one along both
    assert _bends(kept) == 2 and _bends(fixed) == 0


def _bends(tracks: pd.DataFrame) -> int:
    """Tracks that move more than 20 px along both axes."""
    return int(sum(min(np.ptp(g["y"].to_numpy()), np.ptp(g["x"].to_numpy())) > 20
                   for _, g in tracks.groupby("particle")))
