"""Whole videos and folders of videos: ``videos_fov_<F>.tiff`` → VIP trajectory CSVs."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout, provenance
from andi2kit.constants import BRIGHTNESS
from andi2kit.errors import InputError
from andi2kit.layout import field_path, tracks_path
from andi2kit.tracking.detect import locate, preprocess, spot_width
from andi2kit.tracking.groups import untangle_all
from andi2kit.tracking.linking import link
from andi2kit.tracking.params import (
    MIN_LENGTH,
    TrackingParams,
    expected_spot_width,
    scaled_to_spots,
    spots_match,
    spots_wider,
)
from andi2kit.tracking.vips import follow_vips


def is_vip_frame(frame: np.ndarray) -> bool:
    """Whether a page is a challenge VIP frame: 8-bit, almost all background (255) with a
    few tiny labelled blobs."""
    return frame.dtype == np.uint8 and bool(np.mean(frame == 255) >= 0.9)


def _check_vip_frame(frame: np.ndarray, source: Path) -> dict[int, np.ndarray]:
    if not is_vip_frame(frame):
        raise InputError(
            f"{source}: page 0 is not a VIP frame (background 255 with labelled particles): "
            f"only {np.mean(frame == 255):.0%} of its pixels are 255"
        )
    return io.decode_vip_frame(frame, source)


#: Movie frames the spot width is measured on.
SPOT_WIDTH_FRAMES = 20


def frames_spot_width(frames: np.ndarray) -> float:
    """The width of the spots (Gaussian σ, px) of movie ``frames`` (``(n, height, width)``,
    no VIP frame) over the first :data:`SPOT_WIDTH_FRAMES`
    (:func:`~andi2kit.tracking.detect.spot_width`; NaN without spots)."""
    return spot_width(preprocess(frames[:SPOT_WIDTH_FRAMES], 0))


def video_spot_width(video: np.ndarray) -> float:
    """:func:`frames_spot_width` of a challenge video (page 0, the VIP frame, left out)."""
    return frames_spot_width(video[1:])


def params_for_frames(frames: np.ndarray, params: TrackingParams = TrackingParams()
                      ) -> tuple[TrackingParams, float]:
    """The settings movie ``frames`` (``(n, height, width)``, no VIP frame) are tracked
    with, and their measured spot width.

    With ``params.match_spots``, frames whose spots are wider than ``params`` are set for
    (:func:`~andi2kit.tracking.params.spots_wider`) get
    :func:`~andi2kit.tracking.params.scaled_to_spots`; otherwise ``params`` unchanged.
    """
    width = frames_spot_width(frames)
    if params.match_spots and spots_wider(params, width):
        return scaled_to_spots(params, width), width
    return params, width


def params_for_video(video: np.ndarray, params: TrackingParams = TrackingParams()
                     ) -> tuple[TrackingParams, float]:
    """:func:`params_for_frames` of a challenge video (page 0, the VIP frame, left out)."""
    return params_for_frames(video[1:], params)


def spot_width_note(video_path: str | Path, params: TrackingParams = TrackingParams()
                    ) -> str | None:
    """A note when a video's spots are not as wide as the tracker's settings assume, else
    None.

    The tracker's detection (trackpy's feature size, the Gaussian fits) and its contact
    distances are set for andi-datasets videos, whose spots read about
    :data:`~andi2kit.tracking.params.ANDI_SPOT_WIDTH` px. A video whose first
    :data:`SPOT_WIDTH_FRAMES` movie frames read another width
    (:func:`~andi2kit.tracking.params.spots_match`) is named, with what is done about it:
    with ``params.match_spots``, wider spots are tracked with settings scaled to them;
    narrower ones with the settings as they are (scaled, they measured worse). An
    unreadable video gives None (tracking it reports the error).

    See Also
    --------
    track_folder : notes the first video of a folder it tracks.
    params_for_video : the settings each video is tracked with.
    """
    try:
        video = io.read_video(video_path, min_frames=2)
    except InputError:
        return None
    scaled, width = params_for_video(video, params)
    if spots_match(params, width):
        return None
    if scaled is not params:
        what = (f"tracked with the detection and contact settings scaled "
                f"×{scaled.psf_sigma / params.psf_sigma:.2f}")
    elif params.match_spots:  # narrower: wider ones were scaled
        what = "tracked with these settings (narrower spots measured worse with scaled ones)"
    else:
        what = "detection and linking may miss or confuse particles"
    return (f"{video_path}: its spots are about {width:.2f} px wide (Gaussian σ), the "
            f"tracker's settings are for {expected_spot_width(params):.2f} px "
            f"(andi-datasets videos): {what}")


def track_video(video: np.ndarray, params: TrackingParams = TrackingParams(),
                source: str | Path = "<video>") -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Detect, link and untangle every particle of a video array.

    Parameters
    ----------
    video : numpy.ndarray
        ``(pages, height, width)`` uint8; page 0 the VIP frame.
    params : TrackingParams
        Settings.
    source : path-like
        Named in error messages.

    Returns
    -------
    tracks : pandas.DataFrame
        Output of :func:`link`, frames numbered like the trajectory CSVs (page - 1).
    centroids : dict
        VIP centroids of page 0.

    Raises
    ------
    InputError
        On a page 0 that is no VIP frame, too few frames, or no detection at all.
    """
    source = Path(source)
    centroids = _check_vip_frame(video[0], source)
    n = video.shape[0] - 1
    if params.expected_frames is not None and n < params.expected_frames:
        raise InputError(f"{source}: {n} movie frame(s) after the VIP frame, expected "
                         f"{params.expected_frames}")
    feats = locate(preprocess(video[1:], params.pad), params)
    if feats.empty:
        raise InputError(f"{source}: no particle detected in any of the {n} movie frames")
    return untangle_all(link(feats, params), params), centroids


def field_tracks(tracks: pd.DataFrame, min_length: int = MIN_LENGTH,
                 origin: tuple[float, float] = (0.0, 0.0)) -> pd.DataFrame:
    """Every linked track of a video at least ``min_length`` frames long: what the whole
    field of view shows of its experiment's motion.

    The challenge scores the VIPs only, but every particle of a FOV moves under the same
    model: the tracks of the others are evidence of which states the experiment holds
    (:func:`andi2kit.state_mixture.decide`), ten times as much as the VIPs give, never
    labelled themselves.

    Parameters
    ----------
    tracks : pandas.DataFrame
        :func:`track_video` output (``frame, y, x, mass, particle``).
    min_length : int
        Shortest track kept (frames, first to last).
    origin : tuple of float
        As :func:`track_vips`.

    Returns
    -------
    pandas.DataFrame
        ``traj_idx`` (the tracker's particle number, not a VIP index), ``frame``, ``x``,
        ``y`` (the trajectory coordinates of :func:`track_vips`) and ``brightness`` (the
        spot's mass over the median mass of its frame's spots), sorted by ``traj_idx`` then
        ``frame``; a frame the linker bridged is absent.

    Examples
    --------
    >>> t = pd.DataFrame({"frame": [0, 1, 0], "y": [5.0, 5.5, 9.0], "x": [2.0, 2.5, 7.0],
    ...                   "mass": [10.0, 30.0, 30.0], "particle": [4, 4, 8]})
    >>> field_tracks(t, min_length=2)[["traj_idx", "x", "brightness"]].to_numpy().tolist()
    [[4.0, 5.0, 0.5], [4.0, 5.5, 1.0]]
    """
    frames = tracks.groupby("particle")["frame"]
    span = frames.transform("max") - frames.transform("min") + 1
    kept = tracks[span >= min_length]
    unit = tracks.groupby("frame")["mass"].median()
    out = pd.DataFrame({
        "traj_idx": kept["particle"].to_numpy(np.int64),
        "frame": kept["frame"].to_numpy(np.int64),
        "x": kept["y"].to_numpy(float) + float(origin[0]),  # rows, as for the VIPs
        "y": kept["x"].to_numpy(float) + float(origin[1]),
        BRIGHTNESS: kept["mass"].to_numpy(float) / unit.reindex(kept["frame"]).to_numpy(),
    })
    return out.sort_values(["traj_idx", "frame"], kind="stable").reset_index(drop=True)


def track_fov(video_path: str | Path, params: TrackingParams = TrackingParams(),
              origin: tuple[float, float] = (0.0, 0.0)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The VIP trajectories of a challenge video (:func:`track_vips`) and the tracks of
    every particle in it (:func:`field_tracks`), from one tracking."""
    video_path = Path(video_path)
    video = io.read_video(video_path, min_frames=2)
    params, _ = params_for_video(video, params)
    tracks, centroids = track_video(video, params, video_path)
    vips = follow_vips(tracks, centroids, video.shape[1:], video.shape[0] - 1, params)
    out = pd.DataFrame({
        "traj_idx": vips["traj_idx"].astype(np.int64),
        "frame": vips["frame"].astype(np.int64),
        "x": vips["row"].to_numpy() + float(origin[0]),
        "y": vips["col"].to_numpy() + float(origin[1]),
        "flags": vips["flags"].astype(np.int64),
        BRIGHTNESS: vips[BRIGHTNESS].to_numpy(float),
    })
    out = out.sort_values(["traj_idx", "frame"], kind="stable").reset_index(drop=True)
    return out, field_tracks(tracks, origin=origin)


def track_vips(video_path: str | Path, params: TrackingParams = TrackingParams(),
               origin: tuple[float, float] = (0.0, 0.0)) -> pd.DataFrame:
    """Trajectories of the VIP particles of a challenge video.

    Parameters
    ----------
    video_path : path-like
        A ``videos_fov_<F>.tiff`` file (page 0 the VIP frame, then the movie).
    params : TrackingParams
        Detection, linking and VIP settings.
    origin : tuple of float
        FOV origin ``(x0, y0)`` in the simulation box when known (simulated data); the
        trajectories are shifted by it. The challenge does not publish it.

    Returns
    -------
    pandas.DataFrame
        Columns ``traj_idx`` (the VIP index of page 0), ``frame`` (page - 1, as in the
        trajectory CSVs), ``x``, ``y`` in the trajectory coordinates (``x = row + x0``,
        ``y = col + y0``) and ``flags`` (where the tracker is unsure, see
        :data:`andi2kit.tracking.vips.ENCOUNTER` and the other bits) and ``brightness``
        (the VIP's spot against the frame's typical one, :func:`follow_vips`); one row per
        frame of each VIP's estimated visible span, gaps filled, every VIP present. Sorted by
        ``traj_idx`` then ``frame``.

    Raises
    ------
    InputError
        If the file is missing or unreadable, not uint8, has too few pages, page 0 is not a
        VIP frame, or nothing is detected.

    See Also
    --------
    track_fov : the same, with the tracks of every other particle.
    """
    return track_fov(video_path, params, origin)[0]


def track1_root(path: str | Path) -> Path:
    """The ``track_1`` folder of a ``public_data`` folder (or the folder itself).

    Raises
    ------
    InputError
        If neither ``path`` nor ``path/track_1`` is a folder named ``track_1``.
    """
    path = Path(path)
    if (path / "track_1").is_dir():
        path = path / "track_1"
    if path.name != "track_1" or not path.is_dir():
        raise InputError(f"{path}: not a public_data/track_1 folder")
    return path


def fov_jobs(public_track1: str | Path) -> list[tuple[int, int, Path]]:
    """``(exp, fov, video path)`` of every video under a ``track_1`` folder, sorted."""
    root = track1_root(public_track1)
    public = root.parent
    return [(e, f, layout.video_path(public, e, f))
            for e in layout.experiments(public, 1) for f in layout.fovs(public, 1, e, "video")]


def write_tracks(path: str | Path, tracks: pd.DataFrame) -> Path:
    """Write tracked VIP trajectories (``traj_idx, frame, x, y`` and ``flags``,
    ``brightness`` when present) as CSV, atomically."""
    cols = [*io.TRAJ_COLUMNS, *[c for c in ("flags", BRIGHTNESS) if c in tracks]]
    return io.write_text_atomic(path, tracks.loc[:, cols].to_csv(index=False))


def read_tracks(path: str | Path) -> pd.DataFrame:
    """Read tracked VIP trajectories: :func:`andi2kit.io.read_trajectories` plus the tracker's
    ``flags`` column (zeros for a file without one, e.g. true trajectories) and its
    ``brightness`` column when there is one.

    Raises
    ------
    InputError
        As :func:`andi2kit.io.read_trajectories`, or on a ``flags`` column that is not made of
        non-negative integers, or a ``brightness`` that is negative or not a number.
    """
    df = io.read_trajectories(path)
    header = pd.read_csv(path, nrows=0).columns
    extra = [c for c in ("flags", BRIGHTNESS) if c in header]
    if "flags" not in header:
        df = df.assign(flags=np.zeros(len(df), dtype=np.int64))
    if not extra:
        return df
    raw = pd.read_csv(path, usecols=["traj_idx", "frame", *extra])
    if "flags" in raw:
        flags = pd.to_numeric(raw["flags"], errors="coerce").to_numpy()
        if not (np.isfinite(flags).all() and (flags >= 0).all()
                and (flags == np.round(flags)).all()):
            raise InputError(f"{path}: column flags must hold non-negative integers")
        raw["flags"] = flags.astype(np.int64)
    if BRIGHTNESS in raw:
        # empty cells: no detection under the VIP (NaN); anything else must be a number >= 0
        b = pd.to_numeric(raw[BRIGHTNESS], errors="coerce").to_numpy(float)
        bad = (raw[BRIGHTNESS].notna().to_numpy() & ~np.isfinite(b)) | (b < 0)
        if bad.any():
            raise InputError(f"{path}: column {BRIGHTNESS} must hold numbers >= 0 "
                             f"(first bad row {int(np.flatnonzero(bad)[0]) + 2})")
        raw[BRIGHTNESS] = b
    raw = raw.astype({"traj_idx": np.int64, "frame": np.int64})
    return df.merge(raw, on=["traj_idx", "frame"], how="left", validate="one_to_one")


def write_fov_tracks(out: str | Path, exp: int, fov: int, vips: pd.DataFrame | None,
                     field: pd.DataFrame | None, record: dict) -> None:
    """Write a FOV's VIP trajectories and its field tracks (either may be None: not
    written) under ``out``, each atomically with ``record`` (:func:`andi2kit.provenance.
    tracks_record`) beside it."""
    for dest, table in ((tracks_path(out, exp, fov), vips), (field_path(out, exp, fov), field)):
        if table is not None:
            write_tracks(dest, table)
            provenance.write_record(dest, record)


@dataclass
class TrackReport:
    """What :func:`track_folder` did."""

    written: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)
    failed: dict[tuple[int, int], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no FOV failed."""
        return not self.failed


def _track_job(args: tuple) -> tuple[int, int, str | None]:
    exp, fov, video, out, params, record = args
    try:
        write_fov_tracks(out, exp, fov, *track_fov(video, params), record)
        return exp, fov, None
    except InputError as exc:
        return exp, fov, str(exc)
    except Exception as exc:  # reported, and the other FOVs go on
        return exp, fov, f"{video}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"


def track_folder(public_track1: str | Path, out: str | Path,
                 params: TrackingParams = TrackingParams(), *, workers: int = 1,
                 force: bool = False, progress: bool = True) -> TrackReport:
    """Track the VIPs of every video of a ``track_1`` folder.

    Writes ``out/exp_<E>/trajs_fov_<F>.csv`` (``traj_idx, frame, x, y``, ``flags``,
    ``brightness``; coordinates as :func:`track_vips` with no origin) and beside it
    ``field_fov_<F>.csv`` (every particle's track, :func:`field_tracks`) atomically, each with
    its record. Files made from the same video with the same tracker are kept unless
    ``force``; a FOV that fails is reported and the others are still done.

    Parameters
    ----------
    public_track1 : path-like
        ``public_data/track_1`` (or ``public_data``).
    out : path-like
        Output folder.
    params : TrackingParams
        Tracking settings.
    workers : int
        Processes tracking FOVs in parallel.
    force : bool
        Redo FOVs whose output exists.
    progress : bool
        Show a progress bar.

    Returns
    -------
    TrackReport

    Raises
    ------
    InputError
        If the folder is not a ``track_1`` folder or holds no video.
    """
    from andi2kit.execution import imap_unordered, parallel
    from andi2kit.progress import progress_bar

    jobs = fov_jobs(public_track1)
    if not jobs:
        raise InputError(f"{track1_root(public_track1)}: no exp_*/videos_fov_*.tiff")
    report = TrackReport()
    todo = []
    for exp, fov, video in jobs:
        record = provenance.tracks_record(video, params)  # reused only if made from the same
        dests = (tracks_path(out, exp, fov), field_path(out, exp, fov))  # video and settings
        if not force and all(provenance.stale_reason(d, record) is None for d in dests):
            report.skipped.append((exp, fov))
        else:
            for d in dests:
                provenance.forget(d)
            todo.append((exp, fov, video, out, params, record))
    if todo:  # one microscope per folder: its first video to be tracked speaks for it
        note = spot_width_note(todo[0][2], params)
        if note is not None:
            report.notes.append(note)
    with progress_bar(progress) as bar:
        task = bar.add_task("tracking", total=len(jobs), completed=len(report.skipped))

        def done(res: tuple[int, int, str | None]) -> None:
            exp, fov, err = res
            if err is None:
                report.written.append((exp, fov))
            else:
                report.failed[exp, fov] = err
            bar.advance(task)

        if not parallel(workers, len(todo)):
            for job in todo:
                done(_track_job(job))
        else:
            for job, res, exc in imap_unordered(_track_job, todo, workers):
                # exc: the worker process itself died
                done(res if exc is None else
                     (job[0], job[1], f"{job[2]}: {type(exc).__name__}: {exc}"))
    report.written.sort()
    return report


logging.getLogger("trackpy").setLevel(logging.WARNING)
