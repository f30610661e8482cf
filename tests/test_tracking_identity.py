"""Identity through encounters: contacts, untangling, loss causes, uncertain frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_tracking import vip_frame, write_video

from andi2kit.tracking import TrackingParams, track_vips
from andi2kit.tracking.losses import classify_losses
from andi2kit.tracking.untangle import contacts, untangle
from andi2kit.tracking.vips import ENCOUNTER, REACQUIRED


def _brownian(rng, n_frames: int, D: float) -> np.ndarray:
    steps = rng.normal(0.0, np.sqrt(2 * D), (n_frames, 2))
    steps[0] = 0
    return np.cumsum(steps, axis=0)


def _render(path: Path, traj: np.ndarray, amps: np.ndarray, n_vip: int, seed: int = 0) -> Path:
    """A challenge-like video of ``traj`` ``(T, n, 2)`` (row, col): page 0 shows the first
    ``n_vip`` particles, each particle has its own brightness."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((128, 128), dtype=float)
    pages = [vip_frame(traj[0, :n_vip])]
    for f in range(traj.shape[0]):
        img = np.full((128, 128), 100.0)
        for (r, c), a in zip(traj[f], amps, strict=True):
            img += a * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 0.79 ** 2))
        img = rng.poisson(img).astype(float)
        pages.append((img / img.max() * 255).astype(np.uint8))
    return write_video(path, pages)


def _tracked_errors(tracked: pd.DataFrame, traj: np.ndarray) -> np.ndarray:
    """Distance of each VIP's tracked position to its true one, (n_vip, T)."""
    out = []
    for k, g in tracked.groupby("traj_idx"):
        g = g.sort_values("frame")
        true = traj[g["frame"].to_numpy(), int(k)]
        out.append(np.hypot(g["x"] - true[:, 0], g["y"] - true[:, 1]))
    return np.array(out)


def test_well_separated_particles_keep_their_identity_for_every_frame(tmp_path):
    """No two particles closer than 4 px: every VIP frame on the right particle, within 1 px,
    and no frame flagged as an encounter."""
    rng = np.random.default_rng(7)
    T, n = 200, 9
    start = np.array([[20 + 40 * (k % 3), 20 + 40 * (k // 3)] for k in range(n)], float)
    while True:
        traj = start[None] + np.stack([_brownian(rng, T, 0.5) for _ in range(n)], axis=1)
        traj = np.clip(traj, 4, 123)
        d = np.hypot(*(traj[:, :, None] - traj[:, None, :]).transpose(3, 0, 1, 2))
        d[:, np.arange(n), np.arange(n)] = np.inf
        if d.min() > 4:
            break
    video = _render(tmp_path / "videos_fov_0.tiff", traj, np.full(n, 250.0), n_vip=5)
    tracked = track_vips(video)
    err = _tracked_errors(tracked, traj)
    assert err.shape == (5, T)
    assert np.all(err <= 1.0), err.max(axis=1)
    assert not np.any(tracked["flags"].to_numpy() & ENCOUNTER)


def _crossing(seed: int, Da: float, Db: float, T: int = 200, cross: int = 100) -> np.ndarray:
    """Two particles that meet at frame ``cross`` (0.6 px apart), two bystanders far away."""
    rng = np.random.default_rng(seed)
    a, b = _brownian(rng, T, Da), _brownian(rng, T, Db)
    a = a - a[cross] + [64.0, 63.7]
    b = b - b[cross] + [64.0, 64.3]
    far = [_brownian(rng, T, 0.3) + p for p in ([15.0, 15.0], [110.0, 110.0])]
    return np.clip(np.stack([a, b, *far], axis=1), 3, 124)


def test_look_alikes_crossing_keep_their_identity_by_brightness(tmp_path):
    """Two particles with the same motion (D = 0.5) cross at frame 100, in 8 videos; from the
    steps alone the linker swaps them in half of them (without untangling: 74 % of VIP frames
    on the right particle on average, after the crossing as little as 0 %). Their brightness
    (220 vs 280) gives the identities back."""
    right, after = [], []
    for seed in range(1, 9):
        traj = _crossing(seed, 0.5, 0.5)
        video = _render(tmp_path / f"videos_fov_{seed}.tiff", traj,
                        np.array([220.0, 280.0, 250, 250]), n_vip=2, seed=seed)
        tracked = track_vips(video)
        err = _tracked_errors(tracked, traj)
        right.append(np.mean(err <= 1.0))
        after.append(np.mean(err[:, 105:] <= 1.0))
        at = tracked[tracked["frame"] == 100]
        assert (at["flags"].to_numpy() & ENCOUNTER).all()  # the crossing is flagged for both
    assert np.mean(right) >= 0.9 and min(after) >= 0.8, (right, after)


def _crossing_kept(seed: int, link_amp: float) -> bool:
    """Link detections of a look-alike crossing (D = 0.5 both; brightness 0.8 vs 1.2 of the
    other spots, 10 % scatter per frame) and say whether both keep their track label."""
    from andi2kit.tracking.linking import link_motion

    traj = _crossing(seed, 0.5, 0.5, T=120, cross=60)
    rng = np.random.default_rng(100 + seed)
    T, n = traj.shape[:2]
    pos = traj.reshape(-1, 2) + rng.normal(0.0, 0.1, (T * n, 2))
    mass = np.tile([0.8, 1.2, 1.0, 1.0], T) * (1 + 0.1 * rng.standard_normal(T * n))
    params = TrackingParams(link_amp=link_amp)
    lab = link_motion(pos, np.repeat(np.arange(T), n), params, mass=mass).reshape(T, n)
    return bool(lab[0, 0] == lab[-1, 0] and lab[0, 1] == lab[-1, 1])


def test_the_linker_keeps_look_alikes_apart_by_brightness():
    """From the steps alone the linker keeps both identities through the crossing in 58 % of
    40 crossings (measured); with brightness in its cost in 90 %."""
    with_amp = np.mean([_crossing_kept(s, 1.0) for s in range(40)])
    without = np.mean([_crossing_kept(s, 0.0) for s in range(40)])
    assert with_amp >= 0.85 and without <= 0.7, (with_amp, without)


@pytest.mark.parametrize("seed", [1, 2, 8])
def test_a_crossing_of_two_particles_yields_no_change_point(tmp_path, seed):
    """A slow and a fast particle (seeds 1, 2), or two look-alikes (seed 8), cross: the
    pipeline puts no change point on either VIP."""
    from andi2kit.methods.unet import UNetMethod

    Da, Db = (0.5, 0.5) if seed == 8 else (0.1, 1.0)
    traj = _crossing(seed, Da, Db)
    video = _render(tmp_path / "videos_fov_0.tiff", traj, np.array([220.0, 280.0, 250, 250]),
                    n_vip=2, seed=seed)
    labels = UNetMethod().predict(track_vips(video))
    assert [len(lab.cp) for lab in labels] == [0, 0]


def test_no_change_point_next_to_uncertain_frames():
    """A change point the per-frame model puts at an encounter is dropped, one elsewhere kept."""
    from andi2kit.segment import Segmenter

    T = 200
    frames = np.zeros((T, 7))
    frames[:, 0] = np.r_[np.full(60, 0.4), np.full(80, 1.0), np.full(60, 0.4)]  # α
    frames[:, 1] = np.r_[np.full(60, 0.01), np.full(80, 1.0), np.full(60, 0.01)]  # K
    frames[:, 2] = 2
    frames[:, 5] = 1.0
    seg = Segmenter(method="optimal", pen=2.0, artefact_margin=2)
    assert list(seg(0, frames).cp) == [60, 140]
    uncertain = np.zeros(T, bool)
    uncertain[138:143] = True
    lab = seg(0, frames, uncertain=uncertain)
    assert list(lab.cp) == [60]
    assert lab.alpha[0] == pytest.approx(0.4) and lab.K[1] == pytest.approx(1.0)
    assert list(Segmenter(method="optimal", pen=2.0)(  # off by default (measured worse)
        0, frames, uncertain=uncertain).cp) == [60, 140]


def test_untangle_gives_back_the_tails_of_two_swapped_tracks():
    """Two tracks that were linked crossed at a contact: brightness and step size say so."""
    rng = np.random.default_rng(0)
    T = 120
    a = _brownian(rng, T, 0.05) + [50.0, 50.0]
    b = _brownian(rng, T, 1.0)
    b = b - b[60] + a[60] + [0.0, 0.8]
    rows = []
    for f in range(T):
        # after frame 60 the linker swapped them: label 0 follows b, label 1 follows a
        la, lb = (0, 1) if f <= 60 else (1, 0)
        rows += [(a[f, 0], a[f, 1], rng.normal(20, 2), f, la),
                 (b[f, 0], b[f, 1], rng.normal(26, 2.6), f, lb)]
    tracks = pd.DataFrame(rows, columns=["y", "x", "mass", "frame", "particle"])
    ev = contacts(tracks, 3.0)
    assert len(ev) >= 1 and ev["start"].min() <= 60 <= ev["end"].max()
    fixed = untangle(tracks, TrackingParams())
    for pid, g in fixed.groupby("particle"):
        m = g["mass"].to_numpy()
        # each track is now one particle: one brightness from start to end
        assert abs(m[:50].mean() - m[-50:].mean()) < 2.0, pid
    # nothing to untangle without a contact
    far = tracks[tracks["particle"] == 0]
    assert untangle(far, TrackingParams())["particle"].nunique() == 1


def _contacts_frame_by_frame(tracks: pd.DataFrame, radius: float, join: int = 2) -> list:
    """The contact intervals by brute force: every pair of tracks in every frame."""
    close: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for t, g in tracks.groupby("frame"):
        xy, pid = g[["y", "x"]].to_numpy(), g["particle"].to_numpy()
        for u in range(len(g)):
            for v in range(u + 1, len(g)):
                d = float(np.hypot(*(xy[u] - xy[v])))
                if d <= radius and pid[u] != pid[v]:
                    key = (min(pid[u], pid[v]), max(pid[u], pid[v]))
                    close.setdefault(key, []).append((int(t), d))
    out = []
    for (i, j), hits in close.items():
        hits.sort()
        run = [hits[0]]
        for h in hits[1:] + [(10 ** 9, 0.0)]:
            if h[0] - run[-1][0] > join + 1:
                best = min(run, key=lambda x: x[1])[0]
                out.append((i, j, run[0][0], run[-1][0], best))
                run = []
            run.append(h)
    return sorted(out, key=lambda e: (e[4], e[0], e[1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contacts_are_every_close_pair_of_tracks(seed):
    """:func:`contacts` (one k-d tree over all frames) finds the same intervals as a search
    of every pair in every frame: a crowd of 40 random walkers in a 30-px box."""
    rng = np.random.default_rng(seed)
    T, n = 60, 40
    pos = rng.uniform(0, 30, (n, 2)) + np.cumsum(rng.normal(0, 0.7, (T, n, 2)), axis=0)
    keep = rng.random((T, n)) > 0.1  # tracks with gaps
    f, k = np.nonzero(keep)
    tracks = pd.DataFrame({"y": pos[f, k, 0], "x": pos[f, k, 1], "mass": 1.0, "frame": f,
                           "particle": k})
    got = contacts(tracks, 3.0)
    want = _contacts_frame_by_frame(tracks, 3.0)
    assert len(want) > 50
    assert [tuple(int(v) for v in r) for r in got.itertuples(index=False)] == want


def test_untangle_does_not_read_a_merged_spot_as_one_particles_brightness():
    """A free particle runs into a trapped one and hides in its spot for 10 frames (the
    trapped track's detections read twice as bright), then runs on. The linker kept both
    identities; the merged frames must not make the trapped particle look as bright as the
    free one (3 % brighter) and the tails be exchanged."""
    rng = np.random.default_rng(5)
    T, meet = 120, 54
    trap = np.array([50.0, 50.0]) + rng.normal(0, 0.1, (T, 2))
    free = _brownian(rng, T, 1.0)
    free = free - free[meet] + trap[meet] + [0.3, 0.0]
    rows = []
    hide = 10
    free[meet:meet + hide] = trap[meet:meet + hide] + rng.normal(0, 0.6, (hide, 2))
    for f in range(T):
        hidden = meet <= f < meet + hide
        # the merged spot sits between the two and is twice as bright
        at = (trap[f] + free[f]) / 2 if hidden else trap[f]
        rows.append((at[0], at[1], rng.normal(2 * 21.0 if hidden else 21.0, 0.5), f, 0))
        if not hidden:
            rows.append((free[f, 0], free[f, 1], rng.normal(21.6, 0.5), f, 1))
    tracks = pd.DataFrame(rows, columns=["y", "x", "mass", "frame", "particle"])
    assert len(contacts(tracks, 3.0))

    def trapped_after(params: TrackingParams) -> np.ndarray:
        out = untangle(tracks, params)
        t0 = out[(out["particle"] == 0) & (out["frame"] >= meet + hide)]
        return np.hypot(t0["y"] - 50.0, t0["x"] - 50.0).to_numpy()

    assert trapped_after(TrackingParams()).max() < 0.5
    # counted with the merged frames, the trapped particle's brightness would swap them,
    # were it not for the motion (one particle trapped, the other free)
    assert trapped_after(TrackingParams(encounter_merged=0, untangle_motion=0.0)).max() > 2
    assert trapped_after(TrackingParams(encounter_merged=0)).max() < 0.5


def test_losses_are_classified_by_cause():
    frames = np.arange(20)
    # VIP 0: wrong from frame 0; VIP 1: lost at frame 10 beside another particle
    dist = {0: np.r_[np.full(5, 3.0), np.zeros(15)], 1: np.r_[np.zeros(10), np.full(10, 5.0)]}
    errors = pd.DataFrame([(k, f, dist[k][f]) for k in (0, 1) for f in frames],
                          columns=["traj_idx", "frame", "dist"])
    flags = errors[["traj_idx", "frame"]].assign(flags=0)
    flags.loc[(flags["traj_idx"] == 1) & (flags["frame"] == 10), "flags"] = REACQUIRED
    vips = pd.DataFrame([(k, f, 10.0 + 40 * k, 10.0) for k in (0, 1) for f in frames],
                        columns=["traj_idx", "frame", "x", "y"])
    other = pd.DataFrame({"traj_idx": 7, "frame": frames, "x": 51.2, "y": 10.0})
    everyone = pd.concat([vips, other], ignore_index=True)
    dets = {int(f): g[["x", "y"]].to_numpy() for f, g in everyone.groupby("frame")}
    out = classify_losses(errors, flags, everyone, dets, vips)
    assert out.to_dict("records") == [
        {"traj_idx": 0, "frame": 0, "cause": "frame0", "frames_lost": 5, "followed": -1,
         "swap": "unknown", "swap_at_loss": "unknown"},
        {"traj_idx": 1, "frame": 10, "cause": "gap", "frames_lost": 10, "followed": -1,
         "swap": "unknown", "swap_at_loss": "unknown"},
    ]
    # the same loss without the tracker's gap flag: an encounter (particle 7 within 3 px)
    out = classify_losses(errors, flags.assign(flags=0), everyone, dets, vips)
    assert out["cause"].tolist() == ["frame0", "encounter"]
    # and with the VIP's spot missing while particle 7 sits on it: merged spots
    dets = {f: d[np.hypot(d[:, 0] - 50.0, d[:, 1] - 10.0) > 0.1] for f, d in dets.items()}
    out = classify_losses(errors, flags.assign(flags=0), everyone, dets, vips)
    assert out["cause"].tolist() == ["frame0", "merged"]


def test_losses_find_wide_spots_as_the_tracker_does(tmp_path):
    """On a video whose spots are twice andi-datasets' width the loss classifier detects with
    the settings the tracker scaled (each particle found once, not in fragments) and widens
    its merge and overlap distances by the same factor."""
    from test_tracking import draw

    from andi2kit.tracking.losses import _detections

    rng = np.random.default_rng(3)
    start = np.array([[16.0 + 30 * (k % 4), 16.0 + 30 * (k // 4)] for k in range(16)])
    traj = start[None] + np.cumsum(rng.normal(0, 0.3, size=(25, 16, 2)), axis=0)
    pages = [vip_frame(traj[0, :2])] + [draw(traj[f], rng=rng, sigma=1.6) for f in range(25)]
    video = write_video(tmp_path / "videos_fov_0.tiff", pages)
    found, scale = _detections(video, TrackingParams())
    assert 1.8 < scale < 2.2, scale
    assert np.mean([len(found.get(f, ())) == 16 for f in range(25)]) >= 0.95
    narrow, one = _detections(video, TrackingParams(match_spots=False))
    assert one == 1.0 and np.mean([len(narrow.get(f, ())) == 16 for f in range(25)]) < 0.5


def test_a_loss_says_whom_the_vip_followed_and_whether_it_moves_alike(tmp_path):
    from andi2kit.tracking.losses import frame_labels

    frames = np.arange(20)
    vips = pd.DataFrame({"traj_idx": 1, "frame": frames, "x": 50.0, "y": 10.0})
    other = pd.DataFrame({"traj_idx": 7, "frame": frames, "x": 53.0, "y": 10.0})
    far = pd.DataFrame({"traj_idx": 8, "frame": frames, "x": 90.0, "y": 90.0})
    everyone = pd.concat([vips, other, far], ignore_index=True)
    # tracked on the VIP for 10 frames, then on particle 7 (6 frames), then on nothing
    tracked = vips.copy()
    tracked.loc[10:15, "x"] = 53.1
    tracked.loc[16:, "x"] = 70.0
    errors = pd.DataFrame({"traj_idx": 1, "frame": frames,
                           "dist": np.abs(tracked["x"] - vips["x"]).to_numpy()})
    flags = errors[["traj_idx", "frame"]].assign(flags=0)
    dets = {int(f): g[["x", "y"]].to_numpy() for f, g in everyone.groupby("frame")}
    labs = tmp_path / "traj_labs_fov_0.txt"

    def losses(lines: str) -> list[tuple[int, str]]:
        labs.write_text(lines)
        labels = frame_labels(labs, {1: 0, 7: 0, 8: 0})
        out = classify_losses(errors, flags, everyone, dets, vips, tracked=tracked,
                              labels=labels)
        return list(zip(out["followed"], out["swap"], strict=True))

    # 10 frames lost in one run (10-19): followed is the majority (6), 7; alike throughout
    assert losses("1,1.0,0.8,2,20\n7,1.2,0.9,2,20\n8,1,1,2,20\n") == [(7, "look-alike")]
    # VIP 1 changes state at frame 12, particle 7 goes on as the VIP did before it: alike
    # where they met, not over the frames the loss costs
    assert losses("1,1.0,0.8,2,12,0.01,0.5,1,20\n7,1.2,0.9,2,20\n8,1,1,2,20\n") == [
        (7, "different")]
    met = classify_losses(errors, flags, everyone, dets, vips, tracked=tracked,
                          labels=frame_labels(labs, {1: 0, 7: 0, 8: 0}))
    assert met["swap_at_loss"].tolist() == ["look-alike"]  # at frame 10 they moved alike
    # a change at frame 19 leaves 9 of the 10 lost frames alike
    assert losses("1,1.0,0.8,2,19,0.01,0.5,1,20\n7,1.2,0.9,2,20\n8,1,1,2,20\n") == [
        (7, "look-alike")]
    assert losses("1,1.0,0.8,2,20\n7,1.0,0.3,2,20\n8,1,1,2,20\n") == [(7, "different")]
    assert losses("1,1.0,0.8,2,20\n7,0.3,0.8,2,20\n8,1,1,2,20\n") == [(7, "different")]
    assert losses("1,1.0,0.8,2,20\n7,1.0,0.8,1,20\n8,1,1,2,20\n") == [(7, "different")]
    # on nothing for most of the lost frames
    tracked.loc[10:15, "x"] = 70.0
    errors["dist"] = np.abs(tracked["x"] - vips["x"]).to_numpy()
    assert losses("1,1.0,0.8,2,20\n7,1.0,0.8,2,20\n8,1,1,2,20\n") == [(-1, "none")]


def _fov_with_a_swap(rng, D_a: float, D_b: float, field_D: list[float]) -> pd.DataFrame:
    """Linked tracks of one FOV: particles ``a`` and ``b`` (equal brightness) meet at frame
    60 and the linker swapped them there (label 0 follows ``b`` after it); the other tracks
    (``field_D``) show how the FOV's particles differ in motion, far from the two."""
    T, meet = 120, 60
    a = _brownian(rng, T, D_a) + [60.0, 60.0]
    b = _brownian(rng, T, D_b)
    b = b - b[meet] + a[meet] + [0.0, 0.8]
    rows = []
    for f in range(T):
        la, lb = (0, 1) if f <= meet else (1, 0)
        rows += [(a[f, 0], a[f, 1], rng.normal(21, 2), f, la),
                 (b[f, 0], b[f, 1], rng.normal(21, 2), f, lb)]
    for k, D in enumerate(field_D):
        xy = _brownian(rng, T, D) + [10.0 + 12 * k, 10.0]
        rows += [(y, x, rng.normal(21, 2), f, 2 + k) for f, (y, x) in enumerate(xy)]
    return pd.DataFrame(rows, columns=["y", "x", "mass", "frame", "particle"])


def _step_ratio(tracks: pd.DataFrame, pid: int) -> float:
    """How much a track's mean squared step changes from frames 0-40 to 75-120, either side
    of the contact (about 1: one particle; 10: the slow one, then the fast one)."""
    g = tracks[tracks["particle"] == pid].sort_values("frame")
    st = np.diff(g[["y", "x"]].to_numpy(), axis=0)
    return float(np.mean(st[75:] ** 2) / np.mean(st[:40] ** 2))


def test_untangle_gives_back_particles_that_move_unlike_in_a_fov_whose_particles_differ():
    """Two look-alikes in brightness that move differently for good (D 0.2 and 2) were
    swapped at a contact. In a FOV whose particles keep their own diffusivity (spread over a
    decade) the motion gives them back; without the motion term the swap stays."""
    rng = np.random.default_rng(11)
    tracks = _fov_with_a_swap(rng, 0.2, 2.0, [0.1, 0.3, 0.6, 1.0, 1.5, 3.0, 5.0, 0.2])
    from andi2kit.tracking.untangle import TrackRows, motion_population

    pop = motion_population(TrackRows(tracks, 1.5))
    assert pop.between > 1.0 > pop.within
    fixed = untangle(tracks, TrackingParams())
    assert 0.5 < _step_ratio(fixed, 0) < 2 and 0.5 < _step_ratio(fixed, 1) < 2
    kept = untangle(tracks, TrackingParams(untangle_motion=0.0))
    assert _step_ratio(kept, 0) > 4  # label 0 still follows the fast particle after 60


def test_the_motion_says_nothing_where_the_particles_move_alike():
    """In a FOV of particles of one diffusivity, the two stretches' differences are sampling
    noise: the motion term adds nothing, and untangling decides as without it."""
    rng = np.random.default_rng(12)
    tracks = _fov_with_a_swap(rng, 1.0, 1.0, [1.0] * 8)
    from andi2kit.tracking.untangle import TrackRows, motion_population

    assert motion_population(TrackRows(tracks, 1.5)).between < 0.05
    on = untangle(tracks, TrackingParams())
    off = untangle(tracks, TrackingParams(untangle_motion=0.0))
    pd.testing.assert_frame_equal(on, off)
