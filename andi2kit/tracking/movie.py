"""A microscope's own movie, without a VIP frame: every particle's trajectory.

The challenge's videos name their VIPs on page 0; a movie of one's own names none, and every
particle that stays long enough is worth a trajectory. :func:`track_movie` runs the same
detection (scaled to the movie's spots), linking and untangling as the challenge's videos and
writes what :func:`andi2kit.inference.predict` reads::

    andi2kit track-movie cells.tif --out cells.csv     # traj_idx, frame, x, y, filled, brightness
    andi2kit predict cells.csv --out cells-frames.csv  # per-frame α, K and state

Positions follow the challenge's convention: ``x`` is the image row, ``y`` the column, in
pixels from the first pixel's centre; frames count from the first movie frame.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, provenance
from andi2kit.constants import BRIGHTNESS
from andi2kit.errors import InputError
from andi2kit.tracking.detect import locate, preprocess
from andi2kit.tracking.groups import untangle_all
from andi2kit.tracking.linking import link
from andi2kit.tracking.params import MIN_LENGTH, TrackingParams, expected_spot_width
from andi2kit.tracking.video import field_tracks, is_vip_frame, params_for_frames

logger = logging.getLogger(__name__)

#: Column set to 1 on frames the linker bridged (no detection; the position interpolated).
FILLED = "filled"

#: The settings for a movie of one's own: the challenge tracker's, any number of frames.
MOVIE_PARAMS = TrackingParams(expected_frames=None)


def fill_gaps(tracks: pd.DataFrame) -> pd.DataFrame:
    """Every frame of each trajectory, first to last: a frame the linker bridged gets the
    position interpolated linearly, no brightness and ``filled`` 1.

    Examples
    --------
    >>> t = pd.DataFrame({"traj_idx": [3, 3], "frame": [4, 6], "x": [1.0, 3.0],
    ...                   "y": [0.0, 0.0], "brightness": [1.0, 1.0]})
    >>> fill_gaps(t)[["frame", "x", "filled"]].to_numpy().tolist()
    [[4.0, 1.0, 0.0], [5.0, 2.0, 1.0], [6.0, 3.0, 0.0]]
    """
    parts = []
    for idx, g in tracks.groupby("traj_idx", sort=True):
        full = np.arange(g["frame"].min(), g["frame"].max() + 1)
        seen = np.isin(full, g["frame"].to_numpy())
        part = g.set_index("frame").reindex(full)
        part[["x", "y"]] = part[["x", "y"]].interpolate(method="index")
        part["traj_idx"] = idx
        part[FILLED] = (~seen).astype(np.int64)
        parts.append(part.rename_axis("frame").reset_index())
    if not parts:
        return tracks.assign(**{FILLED: np.zeros(0, dtype=np.int64)})
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"traj_idx": np.int64, "frame": np.int64})


def track_movie(frames: np.ndarray, params: TrackingParams = MOVIE_PARAMS,
                min_length: int = MIN_LENGTH) -> pd.DataFrame:
    """The trajectories of every particle of a movie.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` greyscale frames (any pixel type; no VIP frame).
    params : TrackingParams
        Tracker settings; with ``match_spots`` (the default) scaled to the movie's spots
        (:func:`~andi2kit.tracking.video.params_for_frames`).
    min_length : int
        Shortest trajectory kept (frames, first to last).

    Returns
    -------
    pandas.DataFrame
        ``traj_idx`` (0, 1, … by first frame), ``frame``, ``x`` (row), ``y`` (column),
        ``filled`` and ``brightness`` (the spot's fitted amplitude over its frame's median
        spot; empty where filled), every frame of each trajectory.

    Raises
    ------
    ValueError
        If ``frames`` is not a stack of at least two 2-D frames, or no particle is found.

    See Also
    --------
    andi2kit.tracking.track_vips : the VIPs of a challenge video.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (n >= 2, height, width), got shape {frames.shape}")
    return _track_frames(frames, _matched(frames, params)[0], min_length)


def _matched(frames: np.ndarray, params: TrackingParams) -> tuple[TrackingParams, float]:
    scaled, width = params_for_frames(frames, params)
    logger.debug("spots %.2f px wide; tracked with settings for %.2f px", width,
                 expected_spot_width(scaled))
    return scaled, width


def _track_frames(frames: np.ndarray, params: TrackingParams, min_length: int
                  ) -> pd.DataFrame:
    # :func:`track_movie` with ``params`` as they are (already matched to the spots)
    feats = locate(preprocess(frames, params.pad), params)
    if feats.empty:
        raise ValueError(f"no particle detected in any of the {frames.shape[0]} frames")
    field = field_tracks(untangle_all(link(feats, params), params), min_length)
    table = fill_gaps(field)
    # number trajectories by where they begin, so that a rerun numbers them alike
    first = table.groupby("traj_idx")["frame"].transform("min")
    order = table.assign(_first=first).sort_values(["_first", "traj_idx", "frame"])
    new = {old: k for k, old in enumerate(pd.unique(order["traj_idx"]))}
    table["traj_idx"] = table["traj_idx"].map(new)
    columns = ["traj_idx", "frame", "x", "y", FILLED, BRIGHTNESS]
    return table.loc[:, columns].sort_values(["traj_idx", "frame"]).reset_index(drop=True)


@dataclass(frozen=True)
class MovieReport:
    """What :func:`track_movie_file` did."""

    trajectories: int
    frames: int
    spot_width: float
    #: How much the settings' lengths were scaled to the spots (1: not at all).
    scale: float
    vip_frame_skipped: bool
    #: True when ``out`` was already made from the same movie bytes by the same tracker and
    #: settings, and was kept as it was.
    reused: bool = False


def movie_record(path: str | Path, params: TrackingParams, min_length: int) -> dict:
    """What a movie's trajectory CSV is made from: the movie file, the tracker (settings and
    code, :func:`andi2kit.provenance.tracker_digest`) and the shortest trajectory kept."""
    return provenance.make_record(movie=provenance.file_digest(path),
                                  tracker=provenance.tracker_digest(params),
                                  min_length=int(min_length))


def track_movie_file(path: str | Path, out: str | Path, params: TrackingParams = MOVIE_PARAMS,
                     min_length: int = MIN_LENGTH, force: bool = False) -> MovieReport:
    """Track every particle of a TIFF movie (:func:`track_movie`) into a trajectory CSV.

    A challenge video's page 0 (a VIP frame: background 255) is left out, so the frames
    count as in the challenge's CSVs. The CSV is written with a record of what made it
    (:func:`movie_record`, and the report); a rerun keeps a CSV whose record matches the
    movie, tracker and ``min_length`` of this call (unless ``force``) and tracks again
    otherwise, never serving a stale one.

    Raises
    ------
    InputError
        Naming the file: unreadable, too few frames, not greyscale, or no particle found.
    """
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    made = movie_record(path, params, min_length)
    kept = None if force else _kept_report(out, made)
    if kept is not None:
        return kept
    provenance.forget(out)  # an interrupted run must not leave the old CSV looking current
    movie = io.read_movie(path, min_frames=2)
    skip = is_vip_frame(movie[0])
    frames = movie[1:] if skip else movie
    if frames.shape[0] < 2:
        raise InputError(f"{path}: {frames.shape[0]} movie frame(s), need at least 2")
    scaled, width = _matched(frames, params)
    try:
        table = _track_frames(frames, scaled, min_length)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    if table.empty:
        raise InputError(f"{path}: no particle tracked for {min_length} frames or more "
                         f"(--min-length)")
    io.write_text_atomic(out, table.to_csv(index=False))
    report = MovieReport(int(table["traj_idx"].nunique()), int(frames.shape[0]), width,
                         scaled.psf_sigma / params.psf_sigma, skip)
    provenance.write_record(out, {**made, "report": {
        k: v for k, v in report.__dict__.items() if k != "reused"}})
    return report


def _kept_report(out: Path, made: dict) -> MovieReport | None:
    """The report of ``out`` when its record says it was made as ``made`` says; else None."""
    rec = provenance.record_path(out)
    if not (out.is_file() and rec.is_file()):
        return None
    try:
        old = json.loads(rec.read_text())
        if {k: old.get(k) for k in made} != made:
            return None
        return MovieReport(**old["report"], reused=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
