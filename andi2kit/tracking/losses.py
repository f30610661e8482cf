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
the right particle. Detections are found again with the tracker's own settings (scaled to the
video's spots where the tracker scaled them, :func:`~andi2kit.tracking.video.params_for_video`).

What a loss costs in score depends on *whom* the tracked VIP follows instead (``followed``:
the true particle nearest the tracked positions of the lost frames, within ``tol``; -1 for
none). From the FOV's Track 2 labels (``ref/track_2``), each loss is also a ``swap`` of kind

``look-alike``
    the followed particle moves like the VIP (same state, α within 0.2, K within a factor of
    2) on at least 90 % of the frames the loss costs: the labels predicted from it still fit
    the VIP;
``different``
    it moves otherwise over those frames: the VIP's labels are predicted from another motion
    (two particles alike when they meet and not later count here: in a trap experiment two
    free movers swap, and one of them is trapped a few frames on);
``none``
    the tracked positions are on no particle (a gap bridged by a guess);
``unknown``
    no Track 2 labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.tracking.detect import locate, preprocess
from andi2kit.tracking.evaluate import frame_errors, read_truth
from andi2kit.tracking.params import TrackingParams
from andi2kit.tracking.video import fov_jobs, params_for_video, read_tracks, tracks_path
from andi2kit.tracking.vips import FILLED, HELD, INTERPOLATED, REACQUIRED

__all__ = ["CAUSES", "SWAPS", "classify_losses", "frame_labels", "losses_folder", "losses_table"]

#: Loss causes, in the order they are tested.
CAUSES = ("frame0", "merged", "missed", "gap", "encounter", "linking")

#: Whom a lost VIP follows (see the module docstring).
SWAPS = ("look-alike", "different", "none", "unknown")

#: A followed particle is a look-alike when its state is the VIP's and its α and log10 K are
#: this close to the VIP's on at least ``ALIKE_SHARE`` of the frames the loss costs.
ALIKE_ALPHA, ALIKE_LOG10_K, ALIKE_SHARE = 0.2, 0.3, 0.9

#: Distances (px) of merged and overlapping spots in andi-datasets' videos
#: (:func:`classify_losses`' defaults); :func:`losses_folder` scales them with the spots.
SPOT_RADII = {"merge_radius": 1.5, "overlap_radius": 3.0}

_GAP_BITS = REACQUIRED | FILLED | INTERPOLATED | HELD


def classify_losses(errors: pd.DataFrame, flags: pd.DataFrame, truth_all: pd.DataFrame,
                    detections: dict[int, np.ndarray], vips: pd.DataFrame, *,
                    tracked: pd.DataFrame | None = None,
                    labels: dict[int, tuple[int, np.ndarray]] | None = None,
                    tol: float = 1.0, run: int = 3,
                    merge_radius: float = SPOT_RADII["merge_radius"],
                    overlap_radius: float = SPOT_RADII["overlap_radius"], window: int = 3
                    ) -> pd.DataFrame:
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
    tracked : pandas.DataFrame, optional
        ``traj_idx, frame, x, y`` of the tracked VIPs (same coordinates): gives ``followed``.
    labels : dict, optional
        :func:`frame_labels` of ``truth_all``'s particles: gives ``swap``.
    tol, run, merge_radius, overlap_radius, window
        See the module docstring.

    Returns
    -------
    pandas.DataFrame
        One row per loss: ``traj_idx, frame, cause, frames_lost, followed, swap`` and
        ``swap_at_loss`` (the same judged at the loss frame alone: a swap ``look-alike``
        there and ``different`` over the frames lost is one that the two particles' motion
        where they met could not have told).
    """
    e = errors.merge(flags, on=["traj_idx", "frame"], how="left")
    tracked_at = None if tracked is None else tracked.drop_duplicates(
        ["traj_idx", "frame"]).set_index(["traj_idx", "frame"])[["x", "y"]]
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
                who = -1 if tracked_at is None else _followed(
                    tracked_at, by_frame, int(idx), frames[k:end], tol)
                known = tracked_at is not None
                rows.append({"traj_idx": int(idx), "frame": t, "cause": cause,
                             "frames_lost": end - k, "followed": who,
                             "swap": _swap(labels, int(idx), who, frames[k:end], known),
                             "swap_at_loss": _swap(labels, int(idx), who, frames[k:k + 1],
                                                   known)})
            k = end
    return pd.DataFrame(rows, columns=["traj_idx", "frame", "cause", "frames_lost",
                                       "followed", "swap", "swap_at_loss"])


def frame_labels(path: str | Path, first_frames: dict[int, int]
                 ) -> dict[int, tuple[int, np.ndarray]]:
    """Per-frame labels of a ``traj_labs_fov_<F>.txt`` file.

    Parameters
    ----------
    path : path-like
        Label file (change points count from each trajectory's first frame).
    first_frames : dict
        ``{traj_idx: first frame}`` of the trajectories.

    Returns
    -------
    dict
        ``{traj_idx: (first frame, (T, 3) array of alpha, K, state per frame)}``.
    """
    out = {}
    for lab in io.read_labels(path):
        reps = lab.lengths
        per = np.column_stack([np.repeat(lab.alpha, reps), np.repeat(lab.K, reps),
                               np.repeat(lab.state, reps)])
        out[int(lab.idx)] = (int(first_frames.get(int(lab.idx), 0)), per)
    return out


def _followed(tracked_at: pd.DataFrame, by_frame: dict, idx: int, frames: np.ndarray,
              tol: float) -> int:
    """The particle (other than ``idx``) nearest the tracked VIP over ``frames``, most
    often; -1 when the tracked positions are on none."""
    votes = []
    for t in frames:
        g = by_frame.get(int(t))
        if g is None or (idx, int(t)) not in tracked_at.index:
            continue
        xy = tracked_at.loc[(idx, int(t))].to_numpy(dtype=np.float64)
        d = np.hypot(g["x"].to_numpy() - xy[0], g["y"].to_numpy() - xy[1])
        j = int(np.argmin(d))
        votes.append(int(g["traj_idx"].iloc[j]) if d[j] <= tol else -1)
    return max(set(votes), key=votes.count) if votes else -1


def _swap(labels: dict | None, vip: int, other: int, frames: np.ndarray,
          known: bool) -> str:
    if not known:
        return "unknown"
    if other < 0:
        return "none"
    if labels is None or vip not in labels or other not in labels:
        return "unknown"

    def at(i: int) -> np.ndarray:
        first, per = labels[i]
        return per[np.clip(np.asarray(frames, dtype=np.int64) - first, 0, len(per) - 1)]

    (a1, k1, s1), (a2, k2, s2) = at(vip).T, at(other).T
    dk = np.abs(np.log10(np.maximum(k1, 1e-12)) - np.log10(np.maximum(k2, 1e-12)))
    alike = (s1 == s2) & (np.abs(a1 - a2) < ALIKE_ALPHA) & (dk < ALIKE_LOG10_K)
    return "look-alike" if alike.size and alike.mean() >= ALIKE_SHARE else "different"


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


def _detections(video_path: Path, params: TrackingParams
                ) -> tuple[dict[int, np.ndarray], float]:
    """The video's detections per frame, found as the tracker found them (its settings
    scaled to wider spots), and that scale (1: as given)."""
    video = io.read_video(video_path, min_frames=2)
    used, _ = params_for_video(video, params)
    feats = locate(preprocess(video[1:], used.pad), used)
    return ({int(t): g[["y", "x"]].to_numpy() for t, g in feats.groupby("frame")},
            used.psf_sigma / params.psf_sigma)


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
        Passed to :func:`classify_losses` (``merge_radius`` and ``overlap_radius`` default
        to :data:`SPOT_RADII` times the width of the video's spots over andi-datasets').

    Returns
    -------
    pandas.DataFrame
        One row per loss: ``exp, fov, traj_idx, frame, cause, frames_lost, followed,
        swap, swap_at_loss``.
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
        labs_path = layout.labels_path(ref, 2, exp, fov)
        labels = (frame_labels(labs_path, parts.groupby("traj_idx")["frame"].min().to_dict())
                  if labs_path.is_file() else None)
        detections, scale = _detections(video, params)
        # spots that overlap or merge: at distances in proportion to the spots' width
        radii = {k: SPOT_RADII[k] * scale for k in SPOT_RADII if k not in kwargs}
        found = classify_losses(frame_errors(tracked, truth), tracked[["traj_idx", "frame",
                                                                       "flags"]],
                                parts, detections, vips, tracked=_to_pixels(tracked, origin),
                                labels=labels, **radii, **kwargs)
        out.append(found.assign(exp=exp, fov=fov))
    cols = ["exp", "fov", "traj_idx", "frame", "cause", "frames_lost", "followed", "swap",
            "swap_at_loss"]
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

    swaps = [k for k in SWAPS if k != "unknown"] if "swap" in losses and (
        losses["swap"] != "unknown").any() else []
    t = Table(title="Why VIPs are lost (losses / frames lost, by cause"
              + (", and whom the VIP followed instead)" if swaps else ")"),
              box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("exp", justify="right")
    for c in (*CAUSES, "all", *(f"→ {k}" for k in swaps)):
        t.add_column(c, justify="right")
    groups = [(str(e), g) for e, g in losses.groupby("exp")] + [("overall", losses)]
    for name, g in groups:
        cells = []
        for col, values in (("cause", CAUSES), ("all", [None]), ("swap", swaps)):
            for c in values:
                sel = g if c is None else g[g[col] == c]
                cells.append(f"{len(sel)} / {int(sel['frames_lost'].sum())}")
        t.add_row(name, *cells, style="bold" if name == "overall" else None)
    t.caption = ("a loss: the tracked VIP leaves the true particle (> 1 px) for ≥ 3 frames; "
                 "see andi2kit.tracking.losses for the causes"
                 + ("; → look-alike: it follows a particle in the same state with α within "
                    f"{ALIKE_ALPHA} and K within a factor {10 ** ALIKE_LOG10_K:.0f} on "
                    f"≥ {ALIKE_SHARE:.0%} of the frames lost (cheap in score), → different: "
                    "another motion, → none: no particle"
                    if swaps else ""))
    return t
