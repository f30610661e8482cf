"""Why VIPs are lost: every loss of a tracked VIP classified by its cause.

A *loss* is a frame where the tracked trajectory of a VIP stops being on the true particle
(more than ``tol`` = 1 px away) for at least ``run`` consecutive frames after being on it, or
the first frame when it starts off it. Each loss is classified by what happened at that frame,
in this order:

``frame0``
    Wrong from the first frame: the page-0 centroid was matched to another detection.
``merged``
    No detection within ``tol`` of the VIP, and another particle within ``merge_radius``:
    the two spots were one blob.
``missed``
    No detection within ``tol`` of the VIP, no other particle near it: the detector missed it.
``gap``
    A detection was there, but the tracked position comes from the VIP logic's gap handling
    (re-acquisition after a lost track, a filled or interpolated gap) at that frame or the one
    before: the continuation chose the wrong particle.
``encounter``
    A detection was there, another particle came within ``overlap_radius`` in the frames
    ``[t - window, t]``: overlapping spots, the linker went with the other particle.
``linking``
    A detection was there and nothing else near: the linker's gate or cost sent the track
    elsewhere.

``frames_lost`` counts, per cause, the true VIP frames from the loss to the next frame on
the right particle. Detections are found again with the tracker's own settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.tracking.detect import locate, preprocess
from andi2kit.tracking.evaluate import frame_errors, read_truth
from andi2kit.tracking.params import TrackingParams
from andi2kit.tracking.video import fov_jobs, read_tracks, tracks_path
from andi2kit.tracking.vips import FILLED, HELD, INTERPOLATED, REACQUIRED

__all__ = ["CAUSES", "classify_losses", "losses_folder", "losses_table"]

#: Loss causes, in the order they are tested.
CAUSES = ("frame0", "merged", "missed", "gap", "encounter", "linking")

_GAP_BITS = REACQUIRED | FILLED | INTERPOLATED | HELD


def classify_losses(errors: pd.DataFrame, flags: pd.DataFrame, truth_all: pd.DataFrame,
                    detections: dict[int, np.ndarray], vips: pd.DataFrame, *,
                    tol: float = 1.0, run: int = 3, merge_radius: float = 1.5,
                    overlap_radius: float = 3.0, window: int = 3) -> pd.DataFrame:
    """Find and classify the losses of one FOV's VIPs.

    Parameters
    ----------
    errors : pandas.DataFrame
        :func:`andi2kit.tracking.evaluate.frame_errors` (``traj_idx, frame, dist``).
    flags : pandas.DataFrame
        ``traj_idx, frame, flags`` of the tracked trajectories.
    truth_all : pandas.DataFrame
        ``traj_idx, frame, x, y`` of every particle of the FOV, in the coordinates of
        ``detections``.
    detections : dict
        ``{frame: (n, 2) array of (x, y)}``.
    vips : pandas.DataFrame
        ``traj_idx, frame, x, y`` of the true VIPs (same coordinates), and their indices in
        ``truth_all`` are the same.
    tol, run, merge_radius, overlap_radius, window
        See the module docstring.

    Returns
    -------
    pandas.DataFrame
        One row per loss: ``traj_idx, frame, cause, frames_lost``.
    """
    e = errors.merge(flags, on=["traj_idx", "frame"], how="left")
    e["flags"] = e["flags"].fillna(0).astype(np.int64)
    pos = vips.set_index(["traj_idx", "frame"])[["x", "y"]]
    by_frame = {int(t): g for t, g in truth_all.groupby("frame")}
    rows = []
    for idx, g in e.groupby("traj_idx"):
        g = g.sort_values("frame")
        frames = g["frame"].to_numpy()
        ok = np.nan_to_num(g["dist"].to_numpy(), nan=np.inf) <= tol
        fl = g["flags"].to_numpy()
        k = 0
        while k < len(ok):
            if ok[k] or (k > 0 and not ok[k - 1]):
                k += 1
                continue
            end = k
            while end < len(ok) and not ok[end]:
                end += 1
            if end - k >= run:
                t = int(frames[k])
                xy = pos.loc[(idx, t)].to_numpy(dtype=np.float64)
                cause = _cause(k, t, xy, int(idx), fl, by_frame, detections, tol,
                               merge_radius, overlap_radius, window)
                rows.append({"traj_idx": int(idx), "frame": t, "cause": cause,
                             "frames_lost": end - k})
            k = end
    return pd.DataFrame(rows, columns=["traj_idx", "frame", "cause", "frames_lost"])


def _nearest_other(by_frame: dict, t: int, xy: np.ndarray, idx: int) -> float:
    g = by_frame.get(t)
    if g is None:
        return np.inf
    other = g[g["traj_idx"] != idx]
    if other.empty:
        return np.inf
    return float(np.min(np.hypot(other["x"].to_numpy() - xy[0], other["y"].to_numpy() - xy[1])))


def _cause(k, t, xy, idx, fl, by_frame, detections, tol, merge_radius, overlap_radius,
           window) -> str:
    if k == 0:
        return "frame0"
    det = detections.get(t, np.zeros((0, 2)))
    seen = len(det) and np.min(np.hypot(det[:, 0] - xy[0], det[:, 1] - xy[1])) <= tol
    if not seen:
        return "merged" if _nearest_other(by_frame, t, xy, idx) <= merge_radius else "missed"
    if (fl[k] | fl[k - 1]) & _GAP_BITS:
        return "gap"
    near = min(_nearest_other(by_frame, s, xy, idx) for s in range(t - window, t + 1))
    return "encounter" if near <= overlap_radius else "linking"


def _to_pixels(df: pd.DataFrame, origin: np.ndarray) -> pd.DataFrame:
    # video pixels: row = x - x0, col = y - y0
    return df.assign(x=df["x"] - origin[0], y=df["y"] - origin[1])


def _detections(video_path: Path, params: TrackingParams) -> dict[int, np.ndarray]:
    video = io.read_video(video_path, min_frames=2)
    feats = locate(preprocess(video[1:], params.pad), params)
    return {int(t): g[["y", "x"]].to_numpy() for t, g in feats.groupby("frame")}


def losses_folder(public: str | Path, ref: str | Path, tracks: str | Path,
                  params: TrackingParams | None = None, **kwargs) -> pd.DataFrame:
    """Classify the losses of every tracked FOV of a simulation.

    Parameters
    ----------
    public, ref : path-like
        ``public_data`` and ``ref`` of a simulation with videos.
    tracks : path-like
        Tracked VIP trajectories (:func:`andi2kit.tracking.track_folder` output).
    params : TrackingParams, optional
        Detection settings (the tracker's defaults when None).
    **kwargs
        Passed to :func:`classify_losses`.

    Returns
    -------
    pandas.DataFrame
        One row per loss: ``exp, fov, traj_idx, frame, cause, frames_lost``.
    """
    params = TrackingParams() if params is None else params
    public = Path(public)
    out = []
    for exp, fov, video in fov_jobs(public / "track_1"):
        path = tracks_path(tracks, exp, fov)
        if not path.is_file():
            continue
        truth, origin = read_truth(ref, exp, fov)
        tracked = read_tracks(path)
        tracked = tracked.assign(x=tracked["x"] + origin[0], y=tracked["y"] + origin[1])
        parts = _to_pixels(io.read_trajectories(layout.trajs_path(public, 2, exp, fov)),
                           origin)
        vips = _to_pixels(truth, origin)
        found = classify_losses(frame_errors(tracked, truth), tracked[["traj_idx", "frame",
                                                                       "flags"]],
                                parts, _detections(video, params), vips, **kwargs)
        out.append(found.assign(exp=exp, fov=fov))
    cols = ["exp", "fov", "traj_idx", "frame", "cause", "frames_lost"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def losses_table(losses: pd.DataFrame):
    """A rich table: per experiment and overall, losses (and frames lost) by cause.

    Parameters
    ----------
    losses : pandas.DataFrame
        Output of :func:`losses_folder`.

    Returns
    -------
    rich.table.Table
    """
    from rich import box
    from rich.table import Table

    t = Table(title="Why VIPs are lost (losses / frames lost, by cause)", box=box.SIMPLE_HEAD,
              show_edge=False)
    t.add_column("exp", justify="right")
    for c in (*CAUSES, "all"):
        t.add_column(c, justify="right")
    groups = [(str(e), g) for e, g in losses.groupby("exp")] + [("overall", losses)]
    for name, g in groups:
        cells = []
        for c in CAUSES:
            sel = g[g["cause"] == c]
            cells.append(f"{len(sel)} / {int(sel['frames_lost'].sum())}")
        cells.append(f"{len(g)} / {int(g['frames_lost'].sum())}")
        t.add_row(name, *cells, style="bold" if name == "overall" else None)
    t.caption = ("a loss: the tracked VIP leaves the true particle (> 1 px) for ≥ 3 frames; "
                 "see andi2kit.tracking.losses for the causes")
    return t
