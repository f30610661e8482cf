"""The tracking-cost report: tracked, identity kept and true VIP trajectories side by side."""

from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout, provenance
from andi2kit.constants import TRACKED_NOISE
from andi2kit.fov_input import read_fov_input
from andi2kit.labels import TrajectoryLabel
from andi2kit.scoring.score import TrackScore
from andi2kit.tracking import TrackingParams
from andi2kit.tracking.evaluate import read_truth
from andi2kit.tracking.video import read_tracks, write_tracks
from andi2kit.tracking_cost import (
    TrackingCost,
    cost_markdown,
    cost_table,
    loss_cost_table,
    loss_costs,
    write_kept_tracks,
)


def _walk(rng, start, T=200):
    return start + np.cumsum(rng.normal(0, 1, (T, 2)), axis=0)


def _simulated_fov(tmp_path):
    """A FOV of 3 random walks (VIPs 0 and 1) and tracks where VIP 1 switches to particle 2
    at frame 120; returns the folders, the switched rows, the noisy truth and the origin."""
    rng = np.random.default_rng(0)
    T, origin = 200, np.array([30.0, 40.0])
    pub, ref = tmp_path / "pub", tmp_path / "ref"
    video = layout.video_path(pub, 0, 0)
    video.parent.mkdir(parents=True)
    video.write_bytes(b"never read: the kept tracks carry the video's tracking record")
    free = [_walk(rng, np.array([60.0, 60.0]) + 20 * k, T) for k in range(3)]  # VIPs 0, 1
    everyone = pd.concat([pd.DataFrame({"traj_idx": k, "frame": np.arange(T),
                                        "x": xy[:, 0], "y": xy[:, 1]})
                          for k, xy in enumerate(free)], ignore_index=True)
    noisy = everyone.assign(x=everyone.x + rng.normal(0, 0.12, len(everyone)),
                            y=everyone.y + rng.normal(0, 0.12, len(everyone)))
    io.write_trajectories(layout.trajs_path(pub, 2, 0, 0), noisy)
    io.write_trajectories(layout.trajs_path(ref, 1, 0, 0), everyone[everyone.traj_idx < 2])
    layout.vip_path(ref, 0, 0).write_text("0.0\n1.0\n")  # as numpy's savetxt writes them
    layout.fov_origin_path(ref, 0, 0).write_text(f"{origin[0]},{origin[1]}")
    # the tracker's output (no origin): VIP 0 on its particle with 0.2 px error; VIP 1 on
    # its particle for 120 frames, then on particle 2 (an identity switch)
    vips = everyone[everyone.traj_idx < 2].copy()
    vips[["x", "y"]] -= origin
    vips["x"] += 0.2
    switched = (vips.traj_idx == 1) & (vips.frame >= 120)
    other = everyone[(everyone.traj_idx == 2) & (everyone.frame >= 120)]
    vips.loc[switched, ["x", "y"]] = other[["x", "y"]].to_numpy() - origin
    vips["flags"] = 0
    write_tracks(layout.tracks_path(tmp_path / "tracks", 0, 0), vips)
    return pub, ref, video, switched, noisy, origin


def test_identity_kept_puts_back_only_the_frames_off_the_vip(tmp_path):
    """The frames off the VIP go back on it with the tracker's error (white, TRACKED_NOISE
    per axis, the same on every call), not the public data's 0.12 px, which the pipeline
    would read as motion where it corrects tracked positions for 0.07."""
    T = 200
    pub, ref, video, switched, noisy, origin = _simulated_fov(tmp_path)
    out = write_kept_tracks(pub, ref, tmp_path / "tracks", tmp_path / "kept")
    kept = read_tracks(layout.tracks_path(out, 0, 0))
    pd.testing.assert_frame_equal(kept.loc[~switched.to_numpy()].reset_index(drop=True),
                                  read_tracks(layout.tracks_path(tmp_path / "tracks", 0, 0))
                                  .loc[~switched.to_numpy()].reset_index(drop=True))
    back = kept[switched.to_numpy()][["x", "y"]].to_numpy()
    truth, _ = read_truth(ref, 0, 0)
    true_xy = truth[(truth.traj_idx == 1) & (truth.frame >= 120)][["x", "y"]].to_numpy()
    err = back - (true_xy - origin)
    assert abs(err.mean()) < 0.02 and 0.8 * TRACKED_NOISE < err.std() < 1.2 * TRACKED_NOISE
    again = write_kept_tracks(pub, ref, tmp_path / "tracks", tmp_path / "kept2")
    pd.testing.assert_frame_equal(read_tracks(layout.tracks_path(again, 0, 0)), kept)
    # recorded as the video's tracks: `run --tracks` takes them instead of tracking again
    record = provenance.tracks_record(video, TrackingParams())
    assert provenance.stale_reason(layout.tracks_path(out, 0, 0), record) is None
    got = read_fov_input(pub, 1, 0, 0, out)  # tracking this "video" would raise
    assert len(got) == 2 * T


def test_a_loss_costs_the_errors_of_the_frames_it_lasts(tmp_path):
    pub, ref, *_ = _simulated_fov(tmp_path)
    # true labels: VIP 0 one state, VIP 1 changes K at frame 150; predictions on the tracked
    # VIPs: VIP 0 right, VIP 1 right until its switch at 120, then the other particle's K
    io.write_labels(layout.labels_path(ref, 1, 0, 0), [
        TrajectoryLabel(0, [1.0], [1.0], [2], [], 200),
        TrajectoryLabel(1, [1.0, 0.1], [1.0, 0.5], [2, 2], [150], 200)])
    sub = tmp_path / "sub"
    io.write_labels(layout.prediction_path(sub, 1, 0, 0), [
        TrajectoryLabel(0, [1.0], [1.2], [2], [], 200),
        TrajectoryLabel(1, [1.0, 3.0], [1.0, 1.0], [2, 2], [120], 200)])
    losses = pd.DataFrame({"exp": [0], "fov": [0], "traj_idx": [1], "frame": [120],
                           "cause": ["encounter"], "frames_lost": [80], "followed": [2],
                           "swap": ["different"]})
    found, totals = loss_costs(losses, ref, sub)
    k_after = 30 * (np.log1p(3.0) - np.log1p(1.0)) ** 2 + 50 * (np.log1p(3.0) - np.log1p(0.1)) ** 2
    assert len(found) == 1 and found.frames[0] == 80
    assert np.isclose(found.K[0], k_after) and np.isclose(totals["K"], k_after)
    assert np.isclose(found.alpha[0], 50 * 0.5)  # α right until the true change at 150
    assert np.isclose(totals["alpha"], 200 * 0.2 + 50 * 0.5)  # VIP 0's α is 0.2 off
    cells = [r for c in loss_cost_table({"unet": (found, totals)}).columns for r in c._cells]
    assert "different" in cells and "encounter" in cells and "100.0 %" in cells
    assert "different → different" in cells  # judged at the loss frame: as given


def test_the_report_shows_identity_kept_between_tracked_and_true():
    def score(jsc):
        return TrackScore(1, per_exp=[{"exp": 0, "jsc_cp": jsc, "alpha": 0.2}],
                          single={"jsc_cp": jsc, "alpha": 0.2})

    cost = TrackingCost("unet", tracked=score(0.5), true=score(0.8), kept=score(0.75))
    gaps = cost.gaps()
    assert gaps.loc["overall", "jsc_cp_kept"] == 0.75
    assert abs(gaps.loc[0, "jsc_cp_lost"] - 0.3) < 1e-12
    md = cost_markdown([cost])
    assert "tracked / identity kept / true (lost)" in md
    assert "0.500 / 0.750 / 0.800 (+0.300)" in md
    rows = [r for c in cost_table([cost]).columns[2:3] for r in c._cells]
    assert rows.count("identity kept") == 2  # exp 0 and overall
    # without the third run the report keeps its two columns
    plain = cost_markdown([TrackingCost("unet", score(0.5), score(0.8))])
    assert "identity kept" not in plain and "0.500 / 0.800 (+0.300)" in plain


def test_a_row_that_run_would_track_again_is_refused(tmp_path, monkeypatch):
    import pytest

    from andi2kit import tracking_cost as tc
    from andi2kit.errors import InputError

    pub, ref, *_ = _simulated_fov(tmp_path)
    ran = []

    def fake_run(public, out, track, method, *, tracks, **kw):
        ran.append(Path(tracks).name)
        if Path(tracks).name == "true_tracks":  # as `run` does with tracks it takes for stale
            path = layout.tracks_path(tracks, 0, 0)
            path.write_text(path.read_text() + "\n")

    monkeypatch.setattr(tc, "run", fake_run)
    monkeypatch.setattr(tc, "score_track", lambda *a, **k: None)
    with pytest.raises(InputError, match="true VIP trajectories were tracked again"):
        tc.tracking_cost(pub, ref, tmp_path / "tracks", tmp_path / "work", "msd")
    assert ran == ["tracks", "true_tracks"]
    # untouched tracks: all three runs go through
    monkeypatch.setattr(tc, "run", lambda *a, tracks, **k: ran.append(Path(tracks).name))
    cost = tc.tracking_cost(pub, ref, tmp_path / "tracks", tmp_path / "work", "msd")
    assert ran[2:] == ["tracks", "true_tracks", "kept_tracks"] and cost.method == "msd"


def test_the_true_vips_are_read_with_the_public_noise(tmp_path, monkeypatch):
    """The true VIP trajectories carry the challenge's localisation noise, not the tracker's
    error: the U-Net's step α and still runs are told so on that run alone; a bad value is
    refused before the model loads."""
    import pytest

    from andi2kit import tracking_cost as tc
    from andi2kit.constants import LOCALISATION_NOISE
    from andi2kit.errors import OptionError
    from andi2kit.methods.unet import UNetMethod

    pub, ref, *_ = _simulated_fov(tmp_path)
    seen = {}
    monkeypatch.setattr(tc, "run", lambda *a, tracks, options=None, **k:
                        seen.__setitem__(Path(tracks).name, options))
    monkeypatch.setattr(tc, "score_track", lambda *a, **k: None)
    tc.tracking_cost(pub, ref, tmp_path / "tracks", tmp_path / "work", "unet",
                     options={"pen": 3.0})
    assert seen == {"tracks": {"pen": 3.0}, "kept_tracks": {"pen": 3.0},
                    "true_tracks": {"pen": 3.0, "tracked_noise": LOCALISATION_NOISE}}
    with pytest.raises(OptionError, match="tracked_noise"):
        UNetMethod(tracked_noise=-0.1)


def test_identity_kept_ends_where_the_vip_left_the_field():
    """A VIP whose true trajectory ends at frame 2 (it left the field) while the tracker
    carried it on another particle 90 px away: identity kept ends with it, no jump."""
    from andi2kit.tracking_cost import _keep_identity

    tracked = pd.DataFrame({"traj_idx": 0, "frame": [0, 1, 2, 3, 4],
                            "x": [1.0, 2.0, 3.0, 95.0, 96.0], "y": 0.0})
    truth = pd.DataFrame({"traj_idx": 0, "frame": [0, 1, 2], "x": [1.1, 2.0, 3.0], "y": 0.0})
    kept = _keep_identity(tracked, truth, truth, tol=1.0)
    assert kept["frame"].tolist() == [0, 1, 2] and kept["x"].tolist() == [1.0, 2.0, 3.0]
