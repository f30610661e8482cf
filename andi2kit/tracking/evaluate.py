"""Quality of tracked VIP trajectories against the simulated truth.

The truth is ``ref/track_1/exp_<E>/trajs_fov_<F>.csv`` (noise-free VIP positions, written by
:mod:`andi2kit.simulation`); the tracked trajectories are :func:`andi2kit.tracking.track_vips`
output in the same coordinates (``fov_origin_fov_<F>.txt`` gives the shift).

Metrics, per VIP then pooled per FOV, experiment and overall:

``within_1px``
    Fraction of the true VIP frames where the tracked trajectory of the same index has a
    position within ``tol`` (1 px) of the true one. The headline number.
``rmse``
    Localisation RMSE (px) over the frames counted in ``within_1px``.
``id_switches``
    Times the tracked trajectory leaves the true particle for at least ``switch_run``
    consecutive frames while still reporting positions (it follows something else), counting
    a wrong start as one.
``missed``
    True frames with no tracked position (outside the tracked span, or VIP absent).
``start_err`` / ``end_err``
    Tracked first (last) frame minus the true first (last) frame, mean absolute value.
``missing_vips``
    True VIP indices without a tracked trajectory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.errors import InputError

__all__ = [
    "COLUMNS",
    "evaluate_fov",
    "evaluate_folder",
    "evaluate_vips",
    "quality_table",
    "read_truth",
    "summarize",
]

#: Columns of :func:`summarize`, in table order.
COLUMNS = ("vips", "frames", "within_1px", "rmse", "id_switches", "missed", "start_err",
           "end_err", "missing_vips")


def read_truth(ref: str | Path, exp: int, fov: int) -> tuple[pd.DataFrame, np.ndarray]:
    """True VIP trajectories of a simulated FOV and its origin.

    Parameters
    ----------
    ref : path-like
        The ``ref`` folder of a simulation.
    exp, fov : int
        Experiment and FOV numbers.

    Returns
    -------
    truth : pandas.DataFrame
        ``traj_idx, frame, x, y`` (ground-truth columns dropped).
    origin : numpy.ndarray
        ``array([x0, y0])``; zeros when the simulation did not record it.
    """
    truth = io.read_trajectories(layout.trajs_path(ref, 1, exp, fov))
    opath = layout.fov_origin_path(ref, exp, fov)
    origin = io.read_fov_origin(opath) if opath.is_file() else np.zeros(2)
    return truth, origin


def frame_errors(tracked: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Distance of each true VIP position to the tracked one of the same VIP and frame.

    Parameters
    ----------
    tracked, truth : pandas.DataFrame
        ``traj_idx, frame, x, y`` tables in the same coordinates (of a frame tracked twice,
        the first row counts).

    Returns
    -------
    pandas.DataFrame
        ``traj_idx, frame, dist``: one row per true position, sorted by VIP then frame;
        ``dist`` is NaN where the VIP was not tracked.
    """
    t = truth.loc[:, ["traj_idx", "frame", "x", "y"]]
    t = t.sort_values(["traj_idx", "frame"], kind="stable")
    tr = tracked.loc[:, ["traj_idx", "frame", "x", "y"]].drop_duplicates(["traj_idx", "frame"])
    both = t.merge(tr, on=["traj_idx", "frame"], how="left", suffixes=("", "_tracked"))
    dist = np.hypot(both["x_tracked"].to_numpy(dtype=np.float64) - both["x"].to_numpy(),
                    both["y_tracked"].to_numpy(dtype=np.float64) - both["y"].to_numpy())
    return pd.DataFrame({"traj_idx": both["traj_idx"].to_numpy(),
                         "frame": both["frame"].to_numpy(), "dist": dist})


def evaluate_vips(tracked: pd.DataFrame, truth: pd.DataFrame, tol: float = 1.0,
                  switch_run: int = 3) -> pd.DataFrame:
    """Per-VIP comparison of tracked and true trajectories (same coordinates).

    Parameters
    ----------
    tracked, truth : pandas.DataFrame
        ``traj_idx, frame, x, y`` tables.
    tol : float
        Distance (px) under which a tracked position counts as correct.
    switch_run : int
        Consecutive wrong frames that make an identity switch.

    Returns
    -------
    pandas.DataFrame
        One row per true VIP: ``traj_idx, frames, hits, sq_err, id_switches, missed,
        start_err, end_err, found``.
    """
    rows = []
    groups = dict(tuple(tracked.groupby("traj_idx"))) if not tracked.empty else {}
    for idx, e in frame_errors(tracked, truth).groupby("traj_idx"):
        frames = e["frame"].to_numpy()
        tr = groups.get(idx)
        row = dict(traj_idx=int(idx), frames=int(frames.size), hits=0, sq_err=0.0,
                   id_switches=0, missed=int(frames.size), start_err=np.nan, end_err=np.nan,
                   found=tr is not None)
        if tr is not None:
            dist = e["dist"].to_numpy()
            present = np.isfinite(dist)
            hit = present & (dist <= tol)
            wrong = present & ~hit
            row.update(hits=int(hit.sum()), sq_err=float(np.sum(dist[hit] ** 2)),
                       missed=int((~present).sum()),
                       id_switches=_count_runs(wrong, switch_run),
                       start_err=float(groups[idx]["frame"].min() - frames[0]),
                       end_err=float(groups[idx]["frame"].max() - frames[-1]))
        rows.append(row)
    return pd.DataFrame(rows)


def _count_runs(mask: np.ndarray, min_run: int) -> int:
    """Number of runs of True at least ``min_run`` long."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.sum(stops - starts >= min_run))


def evaluate_fov(tracked: pd.DataFrame, truth: pd.DataFrame, tol: float = 1.0) -> dict:
    """Pooled quality of one FOV (see the module docstring for the metrics).

    Returns
    -------
    dict
        ``vips, frames, hits, sq_err, id_switches, missed, abs_start, abs_end,
        missing_vips`` (sums, for pooling) and ``within_1px, rmse, start_err, end_err``.
    """
    per = evaluate_vips(tracked, truth, tol)
    return _pool(per.assign(abs_start=per["start_err"].abs(), abs_end=per["end_err"].abs(),
                            missing_vips=(~per["found"]).astype(int), vips=1))


_SUMS = ("vips", "frames", "hits", "sq_err", "id_switches", "missed", "missing_vips")


def _pool(df: pd.DataFrame) -> dict:
    out = {k: df[k].sum() for k in _SUMS}
    out = {k: (float(v) if k == "sq_err" else int(v)) for k, v in out.items()}
    n_found = max(out["vips"] - out["missing_vips"], 1)
    out["abs_start"] = float(np.nansum(df["abs_start"]))
    out["abs_end"] = float(np.nansum(df["abs_end"]))
    out["within_1px"] = out["hits"] / out["frames"] if out["frames"] else np.nan
    out["rmse"] = float(np.sqrt(out["sq_err"] / out["hits"])) if out["hits"] else np.nan
    out["start_err"] = out["abs_start"] / n_found
    out["end_err"] = out["abs_end"] / n_found
    return out


def summarize(per_fov: pd.DataFrame) -> pd.DataFrame:
    """Pool per-FOV results into one row per experiment plus an ``overall`` row.

    Parameters
    ----------
    per_fov : pandas.DataFrame
        Rows of :func:`evaluate_fov` with ``exp`` and ``fov`` columns (rows with an ``error``
        are left out of the pooling).

    Returns
    -------
    pandas.DataFrame
        Index ``exp`` (the experiment number, then ``"overall"``), columns :data:`COLUMNS`.
    """
    ok = per_fov[per_fov["error"].isna()] if "error" in per_fov else per_fov
    rows = {}
    for exp, g in ok.groupby("exp"):
        rows[int(exp)] = _pool(g)
    if len(ok):
        rows["overall"] = _pool(ok)
    out = pd.DataFrame.from_dict(rows, orient="index")
    if out.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    out.index.name = "exp"
    return out.loc[:, list(COLUMNS)]


def evaluate_folder(public_track1: str | Path, ref: str | Path, tracks: str | Path,
                    params=None, *, workers: int = 1, force: bool = False,
                    progress: bool = True, tol: float = 1.0) -> pd.DataFrame:
    """Track (or reuse) every FOV of a simulated ``track_1`` folder and evaluate it.

    Parameters
    ----------
    public_track1 : path-like
        ``public_data/track_1`` of a simulation.
    ref : path-like
        Its ``ref`` folder.
    tracks : path-like
        Where tracked trajectories are written (and reused: see
        :func:`andi2kit.tracking.track_folder`).
    params : TrackingParams, optional
        Tracking settings (defaults when None).
    workers : int
        Processes tracking FOVs in parallel.
    force : bool
        Track again even if ``tracks`` holds a FOV's file.
    progress : bool
        Show a progress bar while tracking.
    tol : float
        Distance (px) counted as correct.

    Returns
    -------
    pandas.DataFrame
        One row per FOV: ``exp, fov``, the fields of :func:`evaluate_fov` and ``error``
        (None, or why the FOV could not be tracked or evaluated).
    """
    from andi2kit.tracking import (
        TrackingParams,
        fov_jobs,
        read_tracks,
        track_folder,
        tracks_path,
    )

    params = TrackingParams() if params is None else params
    report = track_folder(public_track1, tracks, params, workers=workers, force=force,
                          progress=progress)
    rows = []
    for exp, fov, _ in fov_jobs(public_track1):
        row: dict = {"exp": exp, "fov": fov, "error": report.failed.get((exp, fov))}
        if row["error"] is None:
            try:
                truth, origin = read_truth(ref, exp, fov)
                tracked = read_tracks(tracks_path(tracks, exp, fov))
                tracked = tracked.assign(x=tracked["x"] + origin[0], y=tracked["y"] + origin[1])
                row.update(evaluate_fov(tracked, truth, tol))
            except InputError as exc:
                row["error"] = str(exc)
        rows.append(row)
    return pd.DataFrame(rows)


def quality_table(summary: pd.DataFrame, title: str = "Track 1 tracking quality",
                  failed: Iterable[str] = ()):
    """A rich table of :func:`summarize` output.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarize`.
    title : str
        Table title.
    failed : iterable of str
        Lines for the caption (FOVs that could not be tracked).

    Returns
    -------
    rich.table.Table
    """
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
              show_edge=False)
    heads = {"vips": "VIPs", "frames": "frames", "within_1px": "≤1 px", "rmse": "RMSE",
             "id_switches": "ID sw", "missed": "missed", "start_err": "Δstart",
             "end_err": "Δend", "missing_vips": "lost"}
    t.add_column("exp", justify="right", no_wrap=True)
    for c in COLUMNS:
        t.add_column(heads[c], justify="right", no_wrap=True)
    for exp, row in summary.iterrows():
        cells = []
        for c in COLUMNS:
            v = row[c]
            if c == "within_1px":
                cells.append("–" if pd.isna(v) else f"{100 * v:.1f} %")
            elif c in ("rmse", "start_err", "end_err"):
                cells.append("–" if pd.isna(v) else f"{v:.3f}" if c == "rmse" else f"{v:.2f}")
            else:
                cells.append(str(int(v)))
        t.add_row(str(exp), *cells, style="bold" if exp == "overall" else None)
    t.caption = "\n".join([
        "≤1 px: true VIP frames tracked within 1 px; RMSE (px) over those; ID sw: identity "
        "switches; missed: true frames without a tracked position; Δstart, Δend: mean "
        "|frame error| of the span; lost: VIPs without a trajectory", *failed])
    return t
