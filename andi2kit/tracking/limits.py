"""Where Track 1 tracking loses VIPs: detection, linking, or the data itself.

Two diagnostics on a simulation, both against the true VIP trajectories of ``ref``:

``perfect_detection``
    The linking and VIP logic of :mod:`andi2kit.tracking` run on the *true* positions of
    every particle of the FOV (the Track 2 CSV of the same FOV: all its trajectories, with
    the 0.12 px localisation noise) instead of the detections. Its ``within_1px`` is what
    the tracker would reach with a perfect detector: the gap to the real tracker is the
    detector's share of the loss, the gap to 100 % the linker's.
``encounters``
    For every true VIP frame, whether another particle of the FOV came closer than
    ``radius`` (1 px: the two PSFs merge into one blob) at that frame or before. After such
    an encounter the VIP's identity rests on motion (and intensity) cues only; with two
    Brownian particles of the same diffusivity it is a coin toss. ``after_encounter`` is the
    share of VIP frames so exposed: a tracker that lost every exposed frame would still
    score ``1 - after_encounter``, one that guessed every encounter at random would lose
    about half of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, follow_vips, fov_jobs, link
from andi2kit.tracking.evaluate import evaluate_fov, read_truth
from andi2kit.tracking.groups import untangle_all

__all__ = ["encounters", "limits_folder", "perfect_detection"]


def _all_particles(public: Path, exp: int, fov: int) -> pd.DataFrame:
    return io.read_trajectories(layout.trajs_path(public, 2, exp, fov))


def perfect_detection(public: str | Path, ref: str | Path, exp: int, fov: int,
                      params: TrackingParams | None = None, tol: float = 1.0) -> dict:
    """Quality of the tracker's linking and VIP logic fed with the true positions.

    Parameters
    ----------
    public, ref : path-like
        ``public_data`` and ``ref`` folders of a simulation with videos.
    exp, fov : int
        The FOV.
    params : TrackingParams, optional
        Linking and VIP settings.
    tol : float
        Distance (px) counted as correct.

    Returns
    -------
    dict
        :func:`andi2kit.tracking.evaluate.evaluate_fov` fields.
    """
    params = TrackingParams() if params is None else params
    public = Path(public)
    truth, origin = read_truth(ref, exp, fov)
    parts = _all_particles(public, exp, fov)
    feats = pd.DataFrame({"y": parts["x"].to_numpy() - origin[0],  # rows (see tracking)
                          "x": parts["y"].to_numpy() - origin[1],
                          "mass": 1.0, "frame": parts["frame"].to_numpy()})
    feats = feats.sort_values("frame", kind="stable").reset_index(drop=True)
    tracks = untangle_all(link(feats, params), params)
    centroids = io.decode_vip_frame(io.read_vip_frame(layout.video_path(public, exp, fov)))
    n_frames = int(parts["frame"].max()) + 1
    vips = follow_vips(tracks, centroids, (128, 128), n_frames, params)
    tracked = pd.DataFrame({"traj_idx": vips["traj_idx"], "frame": vips["frame"],
                            "x": vips["row"] + origin[0], "y": vips["col"] + origin[1]})
    return evaluate_fov(tracked, truth, tol)


def encounters(public: str | Path, ref: str | Path, exp: int, fov: int,
               radius: float = 1.0) -> dict:
    """Exposure of the VIPs of one FOV to close encounters.

    Returns
    -------
    dict
        ``frames`` (true VIP frames), ``exposed`` (frames at or after the VIP's first
        encounter closer than ``radius``), ``encounters`` (frames where some other particle is
        that close), ``after_encounter`` (``exposed / frames``).
    """
    truth, _ = read_truth(ref, exp, fov)
    parts = _all_particles(Path(public), exp, fov)
    by_frame = {int(t): g for t, g in parts.groupby("frame")}
    frames = exposed = close_frames = 0
    for idx, t in truth.groupby("traj_idx"):
        t = t.sort_values("frame")
        close = np.zeros(len(t), bool)
        for k, (fr, x, y) in enumerate(t[["frame", "x", "y"]].itertuples(index=False)):
            g = by_frame.get(int(fr))
            if g is None:
                continue
            others = g[g["traj_idx"] != idx][["x", "y"]].to_numpy()
            # one query per frame: a plain distance scan, no tree to build
            close[k] = len(others) > 0 and np.min(np.hypot(others[:, 0] - x,
                                                           others[:, 1] - y)) < radius
        frames += len(t)
        close_frames += int(close.sum())
        if close.any():
            exposed += len(t) - int(np.argmax(close))
    return {"frames": frames, "exposed": exposed, "encounters": close_frames,
            "after_encounter": exposed / frames if frames else np.nan}


def limits_folder(public: str | Path, ref: str | Path, tracked_summary: pd.DataFrame | None = None,
                  params: TrackingParams | None = None, radius: float = 1.0) -> pd.DataFrame:
    """Per experiment and overall: perfect-detection quality and encounter exposure.

    Parameters
    ----------
    public, ref : path-like
        A simulation with videos.
    tracked_summary : pandas.DataFrame, optional
        :func:`andi2kit.tracking.evaluate.summarize` of the real tracker, to put beside.
    params : TrackingParams, optional
        Tracker settings.
    radius : float
        Encounter distance (px).

    Returns
    -------
    pandas.DataFrame
        Index ``exp`` then ``overall``; columns ``tracked`` (if given), ``perfect_detection``,
        ``after_encounter``, ``encounters_per_vip``.
    """
    public = Path(public)
    rows = []
    for exp, fov, _ in fov_jobs(public / "track_1"):
        pdq = perfect_detection(public, ref, exp, fov, params)
        enc = encounters(public, ref, exp, fov, radius)
        rows.append({"exp": exp, "frames": pdq["frames"], "hits": pdq["hits"],
                     "vips": pdq["vips"], "exposed": enc["exposed"],
                     "encounters": enc["encounters"]})
    df = pd.DataFrame(rows)
    groups = {int(e): g for e, g in df.groupby("exp")} | {"overall": df}
    out = {}
    for key, g in groups.items():
        frames = g["frames"].sum()
        out[key] = {"perfect_detection": g["hits"].sum() / frames,
                    "after_encounter": g["exposed"].sum() / frames,
                    "encounters_per_vip": g["encounters"].sum() / g["vips"].sum()}
        if tracked_summary is not None and key in tracked_summary.index:
            out[key] = {"tracked": float(tracked_summary.loc[key, "within_1px"]), **out[key]}
    res = pd.DataFrame.from_dict(out, orient="index")
    res.index.name = "exp"
    return res
