"""What a method sees of a public_data folder — its tracks and experiments
(:func:`tracks_present`, :func:`check_public`) — and of one FOV: the trajectory table (Track 2:
the public CSV; Track 1: the VIP trajectories tracked in the video) and, on Track 1, the field:
every other particle the video shows (:func:`andi2kit.tracking.field_tracks`).

Tracked tables are cached in a ``--tracks`` folder (``andi2kit track --out``), each file with a
record of the video bytes and the tracker it was made from
(:func:`andi2kit.provenance.tracks_record`); a file whose record differs is tracked again,
never reused. The VIP file and the field file are checked apart: VIP trajectories written by
someone else (:func:`andi2kit.tracking_cost.write_true_tracks`) are used as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from andi2kit import layout, provenance
from andi2kit.errors import InputError, OptionError
from andi2kit.io import read_trajectories

if TYPE_CHECKING:  # the tracker's modules (scipy, numba) take seconds: only Track 1 imports them
    from andi2kit.tracking.params import TrackingParams

log = logging.getLogger(__name__)


@dataclass
class FovInput:
    """One FOV's input.

    Attributes
    ----------
    trajs : pandas.DataFrame
        The trajectories to label (``traj_idx, frame, x, y``; Track 1 also ``flags``,
        ``brightness``).
    field : pandas.DataFrame or None
        Track 1 when asked for: the tracks of every particle of the video
        (:func:`andi2kit.tracking.field_tracks`), evidence of the experiment's states only.
    """

    trajs: pd.DataFrame
    field: pd.DataFrame | None = None


def tracks_present(public: Path) -> list[int]:
    """The tracks of a public_data folder that hold inputs (``track_<N>/exp_*``).

    Raises
    ------
    InputError
        If ``public`` is missing, a file, or holds no track with an experiment.
    """
    if not public.exists():
        raise InputError(f"{public}: no such folder (expected a public_data folder)")
    if not public.is_dir():
        raise InputError(f"{public}: is a file; expected the public_data folder")
    found = [t for t in layout.TRACKS if layout.experiments(public, t)]
    if not found:
        raise InputError(f"{public}: no track_1/exp_* or track_2/exp_* input folder; is "
                         "this the public_data folder?")
    return found


def check_public(public: Path, track: int) -> list[int]:
    """Experiments of a track's public data.

    Raises
    ------
    InputError
        If ``public`` is missing, a file, or holds no ``track_<N>/exp_*`` input.
    """
    tracks_present(public)
    exps = layout.experiments(public, track)
    if not exps:
        raise InputError(f"{layout.track_dir(public, track)}: no exp_* folder with inputs")
    return exps


def resolve_tracker(tracker: TrackingParams | None = None) -> TrackingParams:
    """The Track 1 tracker's settings: ``tracker``, or the default tracker's when None.

    Raises
    ------
    OptionError
        If ``tracker`` is not a :class:`~andi2kit.tracking.params.TrackingParams` (a named
        tracker's come from :func:`andi2kit.tracking.params.tracker_params`).
    """
    from andi2kit.tracking.params import TrackingParams

    if tracker is None:
        return TrackingParams()
    if not isinstance(tracker, TrackingParams):
        raise OptionError(f"tracker: expected TrackingParams (andi2kit.tracking.tracker_params"
                          f"(linker, match_spots) gives a named tracker's), got "
                          f"{type(tracker).__name__}")
    return tracker


def tracker_identity(tracker: TrackingParams | None = None) -> str:
    """The Track 1 tracker's identity (:func:`andi2kit.provenance.tracker_digest` of its
    settings; the default tracker's when None)."""
    return provenance.tracker_digest(resolve_tracker(tracker))


def video_notes(public: Path, exp: int, fov: int, tracker: TrackingParams | None = None
                ) -> list[str]:
    """What a user should know before a Track 1 video is tracked with ``tracker``: its
    spots' width against the tracker's (:func:`andi2kit.tracking.video.spot_width_note`);
    empty when nothing."""
    from andi2kit.tracking.video import spot_width_note

    note = spot_width_note(input_path(public, 1, exp, fov), resolve_tracker(tracker))
    return [] if note is None else [note]


def input_path(public: Path, track: int, exp: int, fov: int) -> Path:
    """The public-data file a FOV's prediction depends on."""
    if track == 1:
        return layout.video_path(public, exp, fov)
    return layout.trajs_path(public, 2, exp, fov)


def read_fov(public: Path, track: int, exp: int, fov: int, tracks: Path | None = None, *,
             field: bool = False, tracker: TrackingParams | None = None) -> FovInput:
    """The input of one FOV (Track 1: tracked, or read from ``tracks`` when made there from
    the same video bytes by the same tracker; what is tracked is saved there with its record).

    Parameters
    ----------
    public : Path
        ``public_data`` folder.
    track, exp, fov : int
        Which FOV.
    tracks : Path, optional
        Track 1: folder of tracked trajectories (:func:`andi2kit.tracking.track_folder`).
    field : bool
        Track 1: also the tracks of every particle (:attr:`FovInput.field`).
    tracker : TrackingParams, optional
        Track 1: the tracker's settings (:func:`andi2kit.tracking.params.tracker_params`
        gives a named tracker's); the default tracker's when None.

    Returns
    -------
    FovInput

    Raises
    ------
    InputError
        On an unreadable trajectory file or video.
    """
    if track == 2:
        return FovInput(read_trajectories(layout.trajs_path(public, 2, exp, fov)))
    from andi2kit.tracking import read_tracks, track_fov, write_fov_tracks

    video = layout.video_path(public, exp, fov)
    names = ("vips", "field")
    wanted = names if field else ("vips",)
    paths = {"vips": layout.tracks_path(tracks, exp, fov),
             "field": layout.field_path(tracks, exp, fov)} if tracks is not None else {}
    params = resolve_tracker(tracker)
    rec = provenance.tracks_record(video, params) if tracks is not None else None
    usable = dict.fromkeys(names, False)
    for name, path in paths.items():
        reason = provenance.stale_reason(path, rec)
        usable[name] = reason is None
        if not usable[name]:
            if reason != "missing":
                log.info("%s: tracking again (%s)", path, reason)
            provenance.forget(path)
    if all(usable[n] for n in wanted):
        got = {n: read_tracks(paths[n]) for n in wanted}
    else:
        fresh = dict(zip(names, track_fov(video, params), strict=True))
        if tracks is not None:  # every file not already there, for the next run
            write_fov_tracks(tracks, exp, fov, *(None if usable[n] else fresh[n]
                                                 for n in names), rec)
        got = {n: read_tracks(paths[n]) if usable[n] else fresh[n] for n in wanted}
    return FovInput(got["vips"], got.get("field"))


def read_fov_input(public: Path, track: int, exp: int, fov: int,
                   tracks: Path | None = None) -> pd.DataFrame:
    """The trajectory table a method labels for one FOV: :func:`read_fov`'s ``trajs``."""
    return read_fov(public, track, exp, fov, tracks).trajs
