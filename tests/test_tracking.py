"""Track 1 tracking: synthetic spots with known positions, VIP logic, bad input, simulated data."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from andi2kit import io, layout, partner_cuts, partners
from andi2kit.errors import InputError, OptionError
from andi2kit.pipeline import run
from andi2kit.tracking import (
    TrackingParams,
    follow_vips,
    link,
    link_motion,
    locate,
    match_vips,
    preprocess,
    read_tracks,
    track_folder,
    track_vips,
    tracker_params,
    tracks_path,
    write_tracks,
)
from andi2kit.tracking.evaluate import evaluate_fov, evaluate_vips, read_truth, summarize
from andi2kit.tracking.vips import ENCOUNTER

SIGMA = 0.79  # PSF width of andi-datasets videos


# --------------------------------------------------------------------------------------------
# synthetic images (trackpy's style: Gaussian spots at known subpixel positions)
# --------------------------------------------------------------------------------------------


def draw(pos: np.ndarray, shape=(128, 128), amp: float = 250.0, bg: float = 100.0,
         rng: np.random.Generator | None = None, sigma: float = SIGMA) -> np.ndarray:
    """One frame as andi-datasets renders it: spots + background, Poisson noise, 8-bit
    rescaled by the frame's maximum. ``pos`` holds (row, col)."""
    rng = rng or np.random.default_rng(0)
    rows, cols = np.indices(shape, dtype=float)
    img = np.full(shape, bg)
    for r, c in np.atleast_2d(pos):
        img += amp * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2))
    img = rng.poisson(img).astype(float)
    return (img / img.max() * 255).astype(np.uint8)


def vip_frame(pos: np.ndarray, shape=(128, 128)) -> np.ndarray:
    """Page 0: background 255, VIP k drawn as a 2 x 2 block of value k at its position."""
    page = np.full(shape, 255, dtype=np.uint8)
    for k, (r, c) in enumerate(np.atleast_2d(pos)):
        r0, c0 = int(np.floor(r)), int(np.floor(c))
        page[r0:r0 + 2, c0:c0 + 2] = k
    return page


def write_video(path: Path, pages: list[np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page, contiguous=False)
    return path


def nearest(found: np.ndarray, true: np.ndarray) -> np.ndarray:
    d = np.hypot(found[None, :, 0] - true[:, None, 0], found[None, :, 1] - true[:, None, 1])
    return d.min(axis=1)


@pytest.fixture(scope="module")
def walk_video(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 40-frame video of 12 Brownian particles (row, col), 3 of them VIPs."""
    rng = np.random.default_rng(3)
    n, t = 12, 40
    # on a grid, apart, so that the truth is unambiguous
    start = np.array([[15 + 14 * (k % 6) + rng.uniform(0, 3), 25 + 40 * (k // 6)]
                      for k in range(n)])
    steps = rng.normal(0, 0.5, size=(t, n, 2))
    steps[0] = 0
    traj = start[None] + np.cumsum(steps, axis=0)  # (t, n, 2)
    pages = [vip_frame(traj[0, :3])] + [draw(traj[f], rng=rng) for f in range(t)]
    path = write_video(tmp_path_factory.mktemp("walk") / "videos_fov_0.tiff", pages)
    return path, traj


# --------------------------------------------------------------------------------------------
# preprocess / locate
# --------------------------------------------------------------------------------------------


def test_preprocess_normalises_and_pads():
    frame = draw(np.array([[40.3, 60.7]]))
    out = preprocess(frame, pad=4)
    assert out.shape == (136, 136) and out.dtype == np.float32
    inner = out[4:-4, 4:-4]
    assert abs(np.median(inner)) < 0.5  # background at 0
    assert 0.6 < np.std(inner[inner < 3]) < 1.4  # noise about 1
    assert np.all(out[:4] == 0)  # border extension is background
    assert preprocess(np.stack([frame, frame]), pad=0).shape == (2, 128, 128)


def test_locate_recovers_subpixel_positions():
    rng = np.random.default_rng(1)
    true = rng.uniform(8, 120, size=(25, 2))
    true = true[[np.all(np.hypot(*(true - p).T)[np.arange(25) != i] > 6)
                 for i, p in enumerate(true)]]
    p = TrackingParams()
    feats = locate(preprocess(draw(true, rng=rng), p.pad), p)
    found = feats[["y", "x"]].to_numpy()
    err = nearest(found, true)
    assert len(found) == len(true)
    assert np.sqrt(np.mean(err ** 2)) < 0.12
    assert err.max() < 0.35


def test_locate_resolves_close_pairs_and_border_spots():
    # two particles 2.3 px apart (trackpy alone merges them) and spots on the border
    true = np.array([[50.0, 50.0], [51.6, 51.65], [0.4, 70.2], [90.3, 127.2], [127.0, 3.5]])
    p = TrackingParams()
    err = []
    for seed in range(5):
        img = draw(true, rng=np.random.default_rng(seed))
        found = locate(preprocess(img, p.pad), p)[["y", "x"]].to_numpy()
        err.append(nearest(found, true))
    err = np.array(err)
    assert np.all(err[:, :2] < 0.5), err[:, :2]
    assert np.all(err[:, 2:] < 0.6), err[:, 2:]


@pytest.mark.parametrize("sep", [2.2, 3.0, 3.6])
def test_a_wide_spot_holding_two_particles_is_split(sep):
    """Spots 1.6 px wide: two particles 2.2-3.6 px apart make one blob that the joint fit
    and its residual search do not resolve; the two-Gaussian split does, and splits none of
    the single spots beside them."""
    from andi2kit.tracking.params import scaled_to_spots

    singles = np.array([[14.0 + 33 * (k % 4), 14.0 + 100 * (k // 4)] for k in range(8)])
    pair = np.array([[64.3, 60.2], [64.3 + 0.3 * sep, 60.2 + 0.95 * sep]])
    true = np.concatenate([pair, singles])
    p = scaled_to_spots(TrackingParams(), 1.6 / 0.79 * 0.83)
    resolved = {}
    for gain in (0.0, 20.0):
        q = replace(p, split_gain=gain)
        ok = []
        for seed in range(5):
            img = draw(true, rng=np.random.default_rng(seed), sigma=1.6)
            found = locate(preprocess(img, q.pad), q)[["y", "x"]].to_numpy()
            ok.append(len(found) == len(true) and np.all(nearest(found, true) < 0.5))
        resolved[gain] = np.mean(ok)
    assert resolved[20.0] == 1.0 and resolved[0.0] <= 0.2, resolved


# --------------------------------------------------------------------------------------------
# linking and VIP logic
# --------------------------------------------------------------------------------------------


def test_link_motion_keeps_an_immobile_particle_when_a_fast_one_passes():
    rng = np.random.default_rng(0)
    t = 30
    still = np.array([50.0, 50.0]) + rng.normal(0, 0.1, size=(t, 2))
    fast = np.column_stack([np.linspace(38, 62, t), np.full(t, 51.2)])  # 0.8 px/frame, 1.2 px off
    pos = np.concatenate([still, fast])
    frames = np.concatenate([np.arange(t), np.arange(t)])
    labels = link_motion(pos, frames, TrackingParams())
    assert len(set(labels[:t])) == 1 and len(set(labels[t:])) == 1
    assert labels[0] != labels[t]


def test_link_trackpy_strategy_is_available():
    feats = pd.DataFrame({"y": [1.0, 1.2, 1.1], "x": [5.0, 5.3, 5.1], "mass": 1.0,
                          "frame": [0, 1, 2]})
    out = link(feats, TrackingParams(linker="trackpy"))
    assert out["particle"].nunique() == 1
    with pytest.raises(ValueError, match="linker"):
        link(feats, TrackingParams(linker="nope"))


def test_trackpy_prediction_over_several_frames_keeps_two_crossing_movers_apart():
    # two particles moving 4 px/frame cross 0.6 px apart: the nearest neighbour swaps them
    # at the crossing, trackpy's velocity prediction over the last 3 frames does not
    t = np.arange(12)
    feats = pd.DataFrame({"y": np.repeat([20.0, 20.6], t.size),
                          "x": np.concatenate([10.0 + 4 * t, 54.0 - 4 * t]), "mass": 1.0,
                          "frame": np.concatenate([t, t])})

    def tracks_per_particle(out: pd.DataFrame) -> pd.Series:
        return out.groupby("y")["particle"].nunique()

    plain = link(feats, TrackingParams(linker="trackpy", search_range=5.0))
    assert (tracks_per_particle(plain) > 1).any()
    out = link(feats, TrackingParams(linker="trackpy", search_range=5.0, predict=3))
    assert (tracks_per_particle(out) == 1).all() and out["particle"].nunique() == 2
    with pytest.raises(ValueError, match="predict"):
        TrackingParams(predict=-1)


def test_match_vips_is_one_to_one_and_drops_far_pairs():
    first = pd.DataFrame({"x": [10.0, 11.5, 80.0], "y": [20.0, 20.0, 80.0],
                          "particle": [7, 8, 9]})
    cent = {0: np.array([10.4, 20.1]), 1: np.array([11.0, 20.0]), 2: np.array([40.0, 40.0])}
    assert match_vips(cent, first, radius=3.0) == {0: 7, 1: 8, 2: None}


def _tracks(*parts: tuple[int, np.ndarray, np.ndarray]) -> pd.DataFrame:
    rows = [pd.DataFrame({"y": pos[:, 0], "x": pos[:, 1], "frame": fr, "particle": pid})
            for pid, fr, pos in parts]
    return pd.concat(rows, ignore_index=True).sort_values(["particle", "frame"])


def test_follow_vips_bridges_a_broken_track_and_keeps_every_vip():
    fr = np.arange(100)
    path = np.column_stack([40 + 0.1 * fr, 60 + 0.05 * fr])
    other = np.column_stack([90 - 0.1 * fr, 20 + 0.1 * fr])
    # VIP 0: its track breaks at frame 40 (missed detections 41-43), continues as track 2;
    # VIP 1: never detected at all
    tracks = _tracks((1, fr[:41], path[:41]), (2, fr[44:], path[44:]), (3, fr, other))
    cent = {0: path[0, ::-1], 1: np.array([110.0, 110.0])}
    out = follow_vips(tracks, cent, (128, 128), 100, TrackingParams())
    assert sorted(out["traj_idx"].unique()) == [0, 1]
    v0 = out[out["traj_idx"] == 0]
    assert v0["frame"].tolist() == list(range(100))  # gap interpolated, full span
    err = np.hypot(v0["row"] - path[:, 0], v0["col"] - path[:, 1])
    assert err.max() < 0.05
    v1 = out[out["traj_idx"] == 1]
    assert len(v1) == 100 and np.allclose(v1[["row", "col"]].to_numpy(), 110.0)


def test_two_vips_bound_in_one_spot_share_it_until_they_part():
    """VIPs 0 and 1 bind at frame 40 and part at frame 90: the linker gives the one spot to
    VIP 0's track, VIP 1's track ends, and a new track starts where they part, 50 frames
    later (beyond ``reacquire_frames``). VIP 1 shares VIP 0's spot and goes on with the new
    track; with sharing forbidden it is lost at frame 39."""
    rng = np.random.default_rng(3)
    fr = np.arange(100)
    a = np.column_stack([60 + 0.05 * fr, 60 + 0.02 * fr]) + rng.normal(0, 0.1, (100, 2))
    b = a.copy()
    b[:40] = a[:40] + np.linspace(8, 0.3, 40)[:, None]  # approaches, binds at frame 40
    b[40:90] = a[40:90] + 0.3
    b[90:] = a[90:] + np.linspace(1.5, 8, 10)[:, None]  # parts at frame 90
    tracks = _tracks((1, fr, a), (2, fr[:40], b[:40]), (3, fr[90:], b[90:]))
    cent = {0: a[0, ::-1], 1: b[0, ::-1]}
    out = follow_vips(tracks, cent, (128, 128), 100, TrackingParams())
    v1 = out[out["traj_idx"] == 1].sort_values("frame")
    assert v1["frame"].tolist() == list(range(100))
    err = np.hypot(v1["row"] - b[:, 0], v1["col"] - b[:, 1])
    assert err.max() < 0.5
    assert (v1["flags"].to_numpy()[40:90] & ENCOUNTER).all()
    v0 = out[out["traj_idx"] == 0].sort_values("frame")
    assert np.hypot(v0["row"] - a[:, 0], v0["col"] - a[:, 1]).max() < 1e-9
    alone = follow_vips(tracks, cent, (128, 128), 100, TrackingParams(share_cost=np.inf))
    assert alone[alone["traj_idx"] == 1]["frame"].max() == 39


def test_a_vip_led_out_of_the_field_is_given_back_the_track_that_lasts_the_movie():
    """VIP 0 and a non-VIP cross at frame 50; the linker swapped them, so VIP 0's track
    follows the other particle out of the field at frame 79 while the VIP's own path goes
    on, as track 2, to the last frame. The VIP continues on track 2 after their last
    contact: every frame from there within 0.5 px; without the rule it ends at frame 79."""
    noise = np.random.default_rng(5).normal(0, 0.1, (2, 100, 2))[..., 0]  # rows only
    fr = np.arange(100)
    vip = np.column_stack([64 + 0.02 * fr + noise[0], 40 + 0.5 * fr])
    # crosses the VIP's path around frames 48-50
    other = np.column_stack([39 + 0.5 * fr + noise[1], 64 + (fr - 50) * 0.02])
    out_of_field = other[:80].copy()
    out_of_field[50:, 0] = np.linspace(other[50, 0], -3, 30)  # leaves through the top
    t1 = np.concatenate([vip[:50], out_of_field[50:80]])
    t2 = np.concatenate([other[:50], vip[50:]])
    tracks = _tracks((1, fr[:80], t1), (2, fr, t2))
    cent = {0: vip[0, ::-1]}
    got = follow_vips(tracks, cent, (128, 128), 100, TrackingParams())
    v = got.sort_values("frame")
    assert v["frame"].tolist() == list(range(100))
    err = np.hypot(v["row"].to_numpy() - vip[:, 0], v["col"].to_numpy() - vip[:, 1])
    assert (err[:47] < 0.5).all() and (err[52:] < 0.5).all()
    off = follow_vips(tracks, cent, (128, 128), 100, TrackingParams(vips_span_movie=False))
    assert off["frame"].max() == 79


def test_track_vips_output_contract(walk_video):
    path, traj = walk_video
    out = track_vips(path, TrackingParams(expected_frames=None))
    assert list(out.columns) == ["traj_idx", "frame", "x", "y", "flags", "brightness"]
    assert out["traj_idx"].dtype == np.int64 and out["frame"].dtype == np.int64
    assert out["flags"].dtype == np.int64 and (out["flags"] >= 0).all()
    assert sorted(out["traj_idx"].unique()) == [0, 1, 2]
    for k in range(3):
        v = out[out["traj_idx"] == k].sort_values("frame")
        assert v["frame"].tolist() == list(range(40))  # page p is frame p - 1
        # trajectory x is the image row, y the column
        err = np.hypot(v["x"] - traj[:, k, 0], v["y"] - traj[:, k, 1])
        assert np.sqrt(np.mean(err ** 2)) < 0.15
    shifted = track_vips(path, TrackingParams(expected_frames=None), origin=(30.0, 12.0))
    assert np.allclose(shifted["x"] - out["x"], 30.0)
    assert np.allclose(shifted["y"] - out["y"], 12.0)


def test_a_vip_bound_closer_than_the_psf_reads_twice_as_bright_and_is_cut_there(tmp_path):
    """Two particles 0.5 px apart are one spot: the VIP's brightness column reads about 2
    while its partner rides on it (frames 15-29), about 1 elsewhere, and the partner change
    points fall where the pair binds and parts."""
    rng = np.random.default_rng(11)
    t = 50
    vip = np.array([40.0, 40.0]) + np.cumsum(rng.normal(0, 0.3, (t, 2)), axis=0)
    partner = np.array([70.0, 90.0]) + np.cumsum(rng.normal(0, 0.3, (t, 2)), axis=0)
    partner[15:30] = vip[15:30] + 0.5
    far = np.array([[100.0, 20.0], [20.0, 100.0], [100.0, 100.0]])
    pages = [vip_frame(vip[:1])] + [draw(np.vstack([vip[f], partner[f], far]), rng=rng)
                                    for f in range(t)]
    out = track_vips(write_video(tmp_path / "videos_fov_0.tiff", pages),
                     TrackingParams(expected_frames=None))
    v = out[out["traj_idx"] == 0].sort_values("frame")
    b = v["brightness"].to_numpy()
    assert np.all((b[17:28] > 1.6) & (b[17:28] < 2.4))
    apart = np.r_[b[:13], b[32:]]
    assert np.all((apart > 0.8) & (apart < 1.25))
    bound = partners.bound_frames([v[["x", "y"]].to_numpy()], [v["frame"].to_numpy()], [b])[0]
    cps = partner_cuts.partner_change_points(bound)
    assert len(cps) == 2 and abs(cps[0] - 15) <= 1 and abs(cps[1] - 30) <= 1
    written = read_tracks(write_tracks(tmp_path / "t.csv", out))
    assert np.allclose(written["brightness"], out["brightness"], equal_nan=True)


def test_read_tracks_rejects_a_bad_brightness_column(tmp_path):
    path = tmp_path / "trajs_fov_0.csv"
    path.write_text("traj_idx,frame,x,y,flags,brightness\n0,0,1.0,1.0,0,1.02\n"
                    "0,1,1.1,1.0,0,\n0,2,1.2,1.0,0,bright\n")
    with pytest.raises(InputError, match=r"trajs_fov_0\.csv.*brightness.*row 4"):
        read_tracks(path)
    path.write_text("traj_idx,frame,x,y,brightness\n0,0,1.0,1.0,1.02\n0,1,1.1,1.0,\n")
    df = read_tracks(path)
    assert df["flags"].tolist() == [0, 0] and np.isnan(df["brightness"].iloc[1])


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def test_bad_videos_raise_input_error_naming_the_file(tmp_path, walk_video):
    good, traj = walk_video
    movie = [draw(traj[f]) for f in range(5)]
    cases = {
        "missing.tiff": None,
        "garbage.tiff": b"not a tiff at all",
        "no_vips.tiff": [np.full((128, 128), 255, np.uint8), *movie],
        "page0_is_a_frame.tiff": movie,
        "no_particles.tiff": [vip_frame(traj[0, :3]), *[np.full((128, 128), 40, np.uint8)] * 5],
        "uint16.tiff": [p.astype(np.uint16) for p in [vip_frame(traj[0, :3]), *movie]],
        "only_vip_page.tiff": [vip_frame(traj[0, :3])],
    }
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            write_video(path, content)
        with pytest.raises(InputError, match=name.replace(".", r"\.")):
            track_vips(path, TrackingParams(expected_frames=None))
    # fewer pages than the challenge's 200 frames
    with pytest.raises(InputError, match=r"videos_fov_0\.tiff.*expected 200"):
        track_vips(good)


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


def test_evaluate_vips_counts_switches_misses_and_span_errors():
    fr = np.arange(50)
    truth = pd.DataFrame({"traj_idx": 0, "frame": fr, "x": 10.0 + 0.1 * fr, "y": 5.0})
    tracked = truth.copy()
    tracked.loc[20:29, "x"] += 5.0  # follows something else for 10 frames
    tracked = tracked[tracked["frame"] < 45]  # ends 5 frames early
    per = evaluate_vips(tracked, truth)
    row = per.iloc[0]
    assert (row.frames, row.hits, row.missed, row.id_switches) == (50, 35, 5, 1)
    assert (row.start_err, row.end_err) == (0, -5)
    fov = evaluate_fov(tracked, truth)
    assert fov["within_1px"] == pytest.approx(0.7) and fov["rmse"] == pytest.approx(0.0)
    gone = evaluate_fov(tracked.iloc[:0], truth)
    assert gone["missing_vips"] == 1 and gone["within_1px"] == 0
    table = summarize(pd.DataFrame([{**fov, "exp": 0, "fov": 0}, {**gone, "exp": 1, "fov": 0}]))
    assert list(table.index) == [0, 1, "overall"]
    assert table.loc["overall", "within_1px"] == pytest.approx(35 / 100)


# --------------------------------------------------------------------------------------------
# simulated challenge data (andi-datasets videos)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracked_sim(sim_data, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("tracks")
    rep = track_folder(sim_data / "public_data" / "track_1", out, progress=False)
    assert rep.ok and len(rep.written) == 4, rep.failed
    return sim_data, out


def test_simulated_vips_all_found_with_their_indices(tracked_sim):
    sim, out = tracked_sim
    for exp in (0, 1):
        for fov in (0, 1):
            df = io.read_trajectories(tracks_path(out, exp, fov))
            vips = np.loadtxt(layout.vip_path(sim / "ref", exp, fov), dtype=int).tolist()
            assert sorted(df["traj_idx"].unique()) == sorted(vips)
            truth, _ = read_truth(sim / "ref", exp, fov)
            assert df["frame"].min() == truth["frame"].min() == 0
            assert df["frame"].max() <= 199
            # every trajectory is contiguous (gaps interpolated)
            span = df.groupby("traj_idx")["frame"].agg(lambda f: f.max() - f.min() + 1 - len(f))
            assert (span == 0).all()


def test_field_tracks_follow_every_particle_beside_the_vips(tracked_sim):
    """The field file beside each FOV's VIPs holds the tracks of the video's other particles
    too (at least MIN_LENGTH frames each), on the true positions of the FOV's Track 2 CSV
    (every particle of the simulation), with spots of brightness about 1."""
    from andi2kit import provenance
    from andi2kit.tracking import MIN_LENGTH

    sim, out = tracked_sim
    for exp in (0, 1):
        for fov in (0, 1):
            path = layout.field_path(out, exp, fov)
            video = layout.video_path(sim / "public_data", exp, fov)
            assert provenance.stale_reason(path, provenance.tracks_record(
                video, TrackingParams())) is None
            field = read_tracks(path)
            vips = read_tracks(tracks_path(out, exp, fov))
            span = field.groupby("traj_idx")["frame"].agg(lambda f: f.max() - f.min() + 1)
            assert span.min() >= MIN_LENGTH and len(span) > vips["traj_idx"].nunique()
            _, origin = read_truth(sim / "ref", exp, fov)
            everyone = io.read_trajectories(layout.trajs_path(sim / "public_data", 2, exp,
                                                              fov))
            near = []
            for f, g in field.groupby("frame"):
                true = everyone[everyone["frame"] == f][["x", "y"]].to_numpy() - origin
                d = np.hypot(*(g[["x", "y"]].to_numpy()[:, None] - true[None]).T)
                near.append(d.min(axis=0) < 1.0)
            assert np.mean(np.concatenate(near)) >= 0.95
            assert 0.9 <= field["brightness"].median() <= 1.1


def test_simulated_tracking_accuracy(tracked_sim):
    sim, out = tracked_sim
    rows = []
    for exp in (0, 1):
        for fov in (0, 1):
            truth, origin = read_truth(sim / "ref", exp, fov)
            tr = io.read_trajectories(tracks_path(out, exp, fov))
            tr = tr.assign(x=tr["x"] + origin[0], y=tr["y"] + origin[1])
            rows.append({**evaluate_fov(tr, truth), "exp": exp, "fov": fov})
    table = summarize(pd.DataFrame(rows))
    overall = table.loc["overall"]
    assert overall["missing_vips"] == 0
    assert overall["within_1px"] >= 0.78, table
    assert overall["rmse"] <= 0.2, table
    assert table.loc[[0, 1], "within_1px"].min() >= 0.68, table


def test_cli_track_resume_failure_and_eval(sim_data, tmp_path):
    import typer
    from typer.testing import CliRunner

    from andi2kit.tracking.cli import track, track_eval

    app = typer.Typer()
    app.command()(track)
    app.command("track-eval")(track_eval)
    runner = CliRunner()

    public = tmp_path / "public_data" / "track_1"
    good = layout.video_path(public.parent, 0, 0)
    good.parent.mkdir(parents=True)
    shutil.copy(layout.video_path(sim_data / "public_data", 0, 0), good)
    layout.video_path(public.parent, 0, 1).write_bytes(b"broken")
    out = tmp_path / "tracks"
    res = runner.invoke(app, ["track", str(public), "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "exp 0 fov 1" in res.output and "videos_fov_1.tiff" in res.output
    assert "note:" not in res.output  # andi-datasets spots: as wide as the tracker assumes
    assert tracks_path(out, 0, 0).is_file() and not tracks_path(out, 0, 1).exists()
    before = tracks_path(out, 0, 0).stat().st_mtime_ns
    layout.video_path(public.parent, 0, 1).unlink()
    res = runner.invoke(app, ["track", str(public), "--out", str(out)])
    assert res.exit_code == 0 and "1 already done" in res.output, res.output
    assert tracks_path(out, 0, 0).stat().st_mtime_ns == before  # resumed, not redone
    # another tracker by name: tracked again, and what it made is what `run --linker` reads
    res = runner.invoke(app, ["track", str(public), "--out", str(out), "--linker", "trackpy"])
    assert res.exit_code == 0 and "1 FOV(s) written" in res.output, res.output
    stamp = tracks_path(out, 0, 0).stat().st_mtime_ns
    assert stamp != before
    rep = run(public.parent, tmp_path / "sub", 1, "msd", progress=False, tracks=out,
              tracker=tracker_params("trackpy"))
    assert rep.ok and tracks_path(out, 0, 0).stat().st_mtime_ns == stamp
    with pytest.raises(OptionError, match="--linker"):
        tracker_params("nope")
    with pytest.raises(OptionError, match="tracker: expected TrackingParams"):
        run(public.parent, tmp_path / "sub", 1, "msd", progress=False, tracker="trackpy")

    res = runner.invoke(app, ["track-eval", str(public), "--ref", str(sim_data / "ref"),
                              "--tracks", str(out)])
    assert res.exit_code == 0, res.output
    assert "overall" in res.output and "≤1 px" in res.output


@pytest.mark.parametrize("sigma", [SIGMA, 1.6])
def test_spot_width_is_measured_and_a_wider_psf_is_noted(tmp_path, sigma):
    from andi2kit.fov_input import video_notes
    from andi2kit.tracking import track_folder
    from andi2kit.tracking.detect import spot_width
    from andi2kit.tracking.params import TrackingParams

    rng = np.random.default_rng(5)
    # 16 particles on a grid, apart, drifting a little: isolated spots of width `sigma`
    start = np.array([[16.0 + 30 * (k % 4), 16.0 + 30 * (k // 4)] for k in range(16)])
    traj = start[None] + np.cumsum(rng.normal(0, 0.3, size=(25, 16, 2)), axis=0)
    pages = [vip_frame(traj[0, :2])] + [draw(traj[f], rng=rng, sigma=sigma)
                                        for f in range(25)]
    video = write_video(tmp_path / "public_data" / "track_1" / "exp_0" / "videos_fov_0.tiff",
                        pages)
    p = TrackingParams(expected_frames=None)
    width = spot_width(preprocess(np.stack(pages[1:]), p.pad))
    assert abs(width - sigma) < 0.05 * sigma, width
    rep = track_folder(video.parent.parent, tmp_path / "tracks", p, progress=False)
    assert rep.ok
    # `run --track 1` without --tracks says the same before it tracks
    notes = video_notes(video.parent.parent.parent, 0, 0)
    assert notes == rep.notes
    if sigma == SIGMA:
        assert rep.notes == []
    else:
        assert len(rep.notes) == 1 and "videos_fov_0.tiff" in rep.notes[0], rep.notes
        assert "1.6" in rep.notes[0] and "0.83" in rep.notes[0] and "scaled" in rep.notes[0]
        off = replace(p, match_spots=False)
        assert "may miss" in track_folder(video.parent.parent, tmp_path / "off", off,
                                          progress=False).notes[0]


def test_no_match_spots_is_one_tracker_for_track_and_run(tmp_path):
    """``--no-match-spots`` names a tracker of its own: ``track`` records it, ``run`` with the
    same switch reuses those tracks, and ``run`` without it tracks the video again."""
    from typer.testing import CliRunner

    from andi2kit import provenance
    from andi2kit.cli import app

    rng = np.random.default_rng(5)
    start = np.array([[16.0 + 30 * (k % 4), 16.0 + 30 * (k // 4)] for k in range(16)])
    traj = start[None] + np.cumsum(rng.normal(0, 0.3, size=(200, 16, 2)), axis=0)
    pages = [vip_frame(traj[0, :3])] + [draw(traj[f], rng=rng, sigma=1.6) for f in range(200)]
    public = tmp_path / "public_data"
    video = write_video(public / "track_1" / "exp_0" / "videos_fov_0.tiff", pages)
    tracks = tmp_path / "tracks"
    vips = tracks / "exp_0" / "trajs_fov_0.csv"
    runner = CliRunner()

    def invoke(*args):
        res = runner.invoke(app, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res.output

    out = invoke("track", public / "track_1", "--out", tracks, "--no-match-spots")
    assert "may miss" in out, out
    off = provenance.tracks_record(video, tracker_params(match_spots=False))
    assert provenance.stale_reason(vips, off) is None
    assert provenance.stale_reason(vips, provenance.tracks_record(video, tracker_params()))
    before = vips.read_bytes()
    invoke("run", public, "--track", "1", "--method", "msd", "--tracks", tracks,
           "--out", tmp_path / "sub", "--no-match-spots")
    assert vips.read_bytes() == before  # reused: made by this tracker
    invoke("run", public, "--track", "1", "--method", "msd", "--tracks", tracks,
           "--out", tmp_path / "sub")
    assert provenance.stale_reason(vips, off) is not None  # tracked again, scaled
    assert provenance.stale_reason(
        vips, provenance.tracks_record(video, tracker_params())) is None


@pytest.mark.parametrize("sigma", [1.6, 2.4])
def test_wide_spots_are_tracked_with_settings_scaled_to_them(tmp_path, sigma):
    from andi2kit.tracking.params import scaled_to_spots
    from andi2kit.tracking.video import params_for_video

    rng = np.random.default_rng(11)
    # 16 particles on a 30 px grid, Brownian (1 px per step): never within 15 px of another
    n, frames = 16, 60
    start = np.array([[19.0 + 30 * (k % 4), 19.0 + 30 * (k // 4)] for k in range(n)])
    pos = start[None] + np.cumsum(rng.normal(0, 0.7, size=(frames, n, 2)), axis=0)
    pages = [vip_frame(pos[0, :6])] + [draw(pos[f], rng=rng, sigma=sigma)
                                       for f in range(frames)]
    video = write_video(tmp_path / "public_data" / "track_1" / "exp_0" / "videos_fov_0.tiff",
                        pages)
    p = TrackingParams(expected_frames=None)
    v = io.read_video(video)
    scaled, width = params_for_video(v, p)
    assert scaled == scaled_to_spots(p, width) and scaled.diameter > p.diameter
    # andi-datasets' settings break a wide spot into fragments; scaled ones find each once
    counts = {}
    for name, q in [("andi", p), ("scaled", scaled)]:
        found = locate(preprocess(v[1:], q.pad), q).groupby("frame").size()
        counts[name] = found.reindex(range(frames), fill_value=0).to_numpy()
    assert np.mean(counts["scaled"] == n) >= 0.95, counts["scaled"]
    assert np.mean(counts["andi"] == n) <= 0.2, counts["andi"]  # what the scaling mends
    truth = pd.DataFrame({"traj_idx": np.repeat(np.arange(6), frames),
                          "frame": np.tile(np.arange(frames), 6),
                          "x": pos[:, :6, 0].T.ravel(), "y": pos[:, :6, 1].T.ravel()})
    for q, least in [(p, 1.0), (replace(p, match_spots=False), None)]:  # p scales by itself
        res = evaluate_vips(track_vips(video, q), truth)
        hits = (res["hits"] / res["frames"]).min()
        assert hits >= least if least else hits < 0.9, res


def test_encounters_count_exposure_after_the_first_close_approach(tmp_path):
    from andi2kit.tracking.limits import encounters

    # VIP 0 walks right along y = 10; particle 1 crosses its path at frame 5 only
    frames = np.arange(10)
    vip = pd.DataFrame({"traj_idx": 0, "frame": frames, "x": 10.0 + frames, "y": 10.0})
    other = pd.DataFrame({"traj_idx": 1, "frame": frames, "x": 15.0,
                          "y": 10.0 + 3.0 * (frames - 5)})  # 0.0 px away at frame 5
    far = pd.DataFrame({"traj_idx": 2, "frame": frames, "x": 90.0, "y": 90.0})
    io.write_trajectories(layout.trajs_path(tmp_path / "public_data", 2, 0, 0),
                          pd.concat([vip, other, far]))
    io.write_trajectories(layout.trajs_path(tmp_path / "ref", 1, 0, 0), vip)
    r = encounters(tmp_path / "public_data", tmp_path / "ref", 0, 0, radius=1.0)
    assert r == {"frames": 10, "exposed": 5, "encounters": 1, "after_encounter": 0.5}


def test_limits_folder_on_simulated_videos(tracked_sim):
    from andi2kit.tracking.evaluate import evaluate_folder, summarize
    from andi2kit.tracking.limits import limits_folder

    sim, tracks = tracked_sim
    summary = summarize(evaluate_folder(sim / "public_data" / "track_1", sim / "ref", tracks,
                                        progress=False))
    res = limits_folder(sim / "public_data", sim / "ref", summary)
    assert list(res.index)[-1] == "overall"
    assert set(res.columns) == {"tracked", "perfect_detection", "after_encounter",
                                "encounters_per_vip"}
    row = res.loc["overall"]
    assert 0 <= row["after_encounter"] <= 1
    # with the true positions the linker does at least as well as with detections, minus
    # a little (a different input can change which track a VIP follows)
    assert row["perfect_detection"] >= row["tracked"] - 0.05
    assert row["perfect_detection"] > 0.6


def test_plot_tracks_with_and_without_truth(tracked_sim, tmp_path):
    from typer.testing import CliRunner

    from andi2kit.cli import app

    sim, tracks = tracked_sim
    res = CliRunner().invoke(app, ["plot", "tracks", str(sim / "public_data"), "--exp", "1",
                                   "--fov", "0", "--tracks", str(tracks), "--ref",
                                   str(sim / "ref"), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    with_truth = tmp_path / "a" / "tracks_exp1_fov0.png"
    res = CliRunner().invoke(app, ["plot", "tracks", str(sim / "public_data"), "--exp", "1",
                                   "--fov", "0", "--tracks", str(tracks),
                                   "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    alone = tmp_path / "b" / "tracks_exp1_fov0.png"
    for p in (with_truth, alone):
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 10_000
    # the truth adds the error panel: a wider figure
    assert with_truth.stat().st_size > alone.stat().st_size
    # every other particle's track is drawn under the VIPs when the field file is there
    from andi2kit import plots
    from andi2kit.tracking import read_tracks

    ax = plots.plot_tracks(sim / "public_data", 1, 0, tracks)
    drawn = [line for line in ax.get_lines() if line.get_gid() == "field"]
    assert len(drawn) == read_tracks(layout.field_path(tracks, 1, 0))["traj_idx"].nunique()
    bare = tmp_path / "bare"
    shutil.copytree(tracks, bare, ignore=shutil.ignore_patterns("field_fov_*"))
    ax = plots.plot_tracks(sim / "public_data", 1, 0, bare)
    assert not [line for line in ax.get_lines() if line.get_gid() == "field"]


def test_fast_particles_are_linked_whole():
    """Particles that move several pixels per frame (D = 8 px²/frame, far apart): the linker
    sees the FOV's speed and links it again with a broad component that wide; without that
    second pass (``fast_factor`` 0) their tracks break at the long steps. Six FOVs of five
    such particles: measured 33 pieces against 66."""
    from andi2kit.tracking import link
    from andi2kit.tracking.linking import fast_diffusivity

    n, T, D = 5, 100, 8.0
    whole = broken = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        pos = np.cumsum(rng.normal(0, np.sqrt(2 * D), (n, T, 2)), axis=1)
        pos += 400.0 * np.arange(n)[:, None, None]
        feats = pd.DataFrame({"y": pos[..., 0].ravel(), "x": pos[..., 1].ravel(),
                              "frame": np.tile(np.arange(T), n), "mass": 50.0})
        whole += link(feats, TrackingParams(expected_frames=None))["particle"].nunique()
        broken += link(feats, TrackingParams(expected_frames=None, fast_factor=0)
                       )["particle"].nunique()
        est = fast_diffusivity(feats[["y", "x"]].to_numpy(), feats["frame"].to_numpy(),
                               np.repeat(np.arange(n), T), quantile=0.5)
        assert 0.8 * D < est < 1.2 * D
    assert whole <= 1.2 * 6 * n and broken >= 1.5 * whole


def _movie16(path: Path, pos: np.ndarray, shape=(96, 160), sigma: float = 1.2,
             seed: int = 0) -> Path:
    """A 16-bit movie of one's own: Gaussian spots on 1000 counts, Poisson noise, no VIP
    frame. ``pos``: ``(frames, particles, 2)`` (row, col)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape, dtype=float)
    frames = []
    for p in pos:
        img = np.full(shape, 1000.0)
        for r, c in p:
            img += 600 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2))
        frames.append(rng.poisson(img).astype(np.uint16))
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.stack(frames))  # one 3-D page: a stack as many programs save it
    return path


def test_track_movie_of_ones_own_then_predict(tmp_path, sim_data):
    from typer.testing import CliRunner

    from andi2kit.cli import app

    rng = np.random.default_rng(2)
    n, frames = 15, 80
    start = np.array([[14.0 + 34 * (k % 3), 16.0 + 32 * (k // 3)] for k in range(n)])
    pos = start[None] + np.cumsum(rng.normal(0, 0.6, size=(frames, n, 2)), axis=0)
    movie = _movie16(tmp_path / "cells.tif", pos)
    out = tmp_path / "cells.csv"
    runner = CliRunner()
    res = runner.invoke(app, ["track-movie", str(movie), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"{n} trajectories over {frames} frames" in res.output
    assert "scaled" in res.output  # 1.2 px spots: not andi-datasets' 0.83
    # a rerun keeps the CSV made from the same movie and settings; other settings or --force
    # track again
    stamp = out.stat().st_mtime_ns
    res = runner.invoke(app, ["track-movie", str(movie), "--out", str(out)])
    assert res.exit_code == 0 and "kept" in res.output and "scaled" in res.output, res.output
    assert f"{n} trajectories over {frames} frames" in res.output
    assert out.stat().st_mtime_ns == stamp
    for extra in (["--min-length", "30"], ["--force"]):
        res = runner.invoke(app, ["track-movie", str(movie), "--out", str(out), *extra])
        assert res.exit_code == 0 and "kept" not in res.output, (extra, res.output)
        assert out.stat().st_mtime_ns != stamp
        stamp = out.stat().st_mtime_ns
    res = runner.invoke(app, ["track-movie", str(movie), "--out", str(out)])  # as --force made
    assert "kept" in res.output and out.stat().st_mtime_ns == stamp, res.output
    res = runner.invoke(app, ["track-movie", str(movie), "--out", str(tmp_path / "as.csv"),
                              "--no-match-spots"])
    assert res.exit_code == 0 and "scaled" not in res.output, res.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["traj_idx", "frame", "x", "y", "filled", "brightness"]
    for k in range(n):  # each particle is one trajectory, every frame within 0.5 px
        first = table[table.frame == 0]
        d0 = np.hypot(first.x - pos[0, k, 0], first.y - pos[0, k, 1])
        t = table[table.traj_idx == first.traj_idx.to_numpy()[np.argmin(d0)]]
        assert len(t) == frames, t
        err = np.hypot(t.x.to_numpy() - pos[:, k, 0], t.y.to_numpy() - pos[:, k, 1])
        assert np.mean(err < 0.5) >= 0.95, (k, err.max())
    frames_csv = tmp_path / "frames.csv"
    res = runner.invoke(app, ["predict", str(out), "--out", str(frames_csv)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(frames_csv)) == n * frames
    # in a Track 2 layout the whole pipeline runs on it: segments and the ensemble
    mine = tmp_path / "mine"
    dest = layout.trajs_path(mine, 2, 0, 0)  # the README's line: its record lies beside it
    res = runner.invoke(app, ["track-movie", str(movie), "--out", str(dest)])
    assert res.exit_code == 0 and dest.is_file(), res.output
    rep = run(mine, tmp_path / "mine-sub", 2, "unet", progress=False)
    assert rep.ok and (tmp_path / "mine-sub" / "track_2" / "exp_0" / "fov_0.txt").is_file()
    assert "model:" in (tmp_path / "mine-sub" / "track_2" / "exp_0"
                        / "ensemble_labels.txt").read_text()

    # a challenge video: its VIP frame is left out, frames count as in its CSVs
    video = layout.video_path(sim_data / "public_data", 0, 0)
    res = runner.invoke(app, ["track-movie", str(video), "--out", str(tmp_path / "v.csv")])
    assert res.exit_code == 0 and "VIP frame" in res.output, res.output
    assert pd.read_csv(tmp_path / "v.csv").frame.max() == 199
    # bad input: short errors naming the file
    colour = tmp_path / "colour.tif"
    tifffile.imwrite(colour, np.zeros((32, 32, 3), dtype=np.uint8))
    noise = tmp_path / "noise.tif"
    tifffile.imwrite(noise, rng.poisson(100, size=(30, 64, 64)).astype(np.uint16))
    for bad, why in [(colour, "1 page(s)"), (noise, "no particle"),
                     (tmp_path / "none.tif", "not found")]:
        res = runner.invoke(app, ["track-movie", str(bad), "--out", str(tmp_path / "x.csv")])
        assert res.exit_code == 2 and bad.name in res.output and why in res.output, res.output
        assert "Traceback" not in res.output
