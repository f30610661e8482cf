"""andi2kit: from the 2nd AnDi Challenge's public data to a scored submission.

The flat API, one function per step of the command line (``andi2kit simulate``, ``track``,
``run``, ``validate``, ``score``, ``predict``)::

    import andi2kit

    andi2kit.simulate("data/demo", preset="demo")                 # public_data/ + ref/
    andi2kit.run("data/demo/public_data", "submissions/unet")     # every track present
    andi2kit.validate("submissions/unet", data="data/demo/public_data")
    andi2kit.score("submissions/unet", "data/demo/ref")

``import andi2kit`` loads none of the heavy dependencies (TensorFlow, trackpy, andi-datasets,
pandas): each function imports what it needs when first called.

TensorFlow reads its logging settings from the environment when it is first imported, in
this process or in a spawned worker (which inherits the environment); they are set here,
before any module of the package can import it, unless the user set them.
"""

from __future__ import annotations

import os as _os
import pathlib as _pathlib
import typing as _typing
from importlib.metadata import PackageNotFoundError as _NotFound
from importlib.metadata import version as _version

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no C++ start-up lines
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN notice

try:
    __version__ = _version("andi2kit")
except _NotFound:  # a source tree on PYTHONPATH, not installed
    __version__ = "0+unknown"

if _typing.TYPE_CHECKING:  # names for annotations only; nothing is imported at run time
    from pathlib import Path

    import pandas as pd

    from andi2kit.pipeline import RunReport
    from andi2kit.scoring.score import TrackScore
    from andi2kit.tracking.params import TrackingParams
    from andi2kit.validation import Problem

__all__ = ["__version__", "predict", "run", "score", "simulate", "track", "validate"]


def simulate(out: str | Path, preset: str = "demo", *, fovs: int | None = None,
             workers: int = 1, seed: int = 0, video: bool = True,
             video_fovs: int | None = None, force: bool = False,
             progress: bool = True) -> Path:
    """Simulate a challenge-like dataset with the organisers' generator (andi-datasets).

    Writes ``out/public_data`` (what a method may see: videos, trajectory CSVs) and
    ``out/ref`` (labels, ensembles, VIP indices) in the challenge's layout, and
    ``out/manifest.json``. The same ``seed`` gives byte-identical files whatever ``workers``;
    a rerun resumes.

    Parameters
    ----------
    out : str or Path
        Output folder.
    preset : {"demo", "test", "validation", "challenge", "benchmark"}
        Set of experiments (:data:`andi2kit.simulation.presets.PRESETS`).
    fovs : int, optional
        FOVs per experiment (default: the preset's).
    workers : int
        Parallel processes.
    seed : int
        Base seed of every FOV's generators.
    video : bool
        Render the Track 1 videos (the slow part).
    video_fovs : int, optional
        Videos only for the first ``video_fovs`` FOVs of each experiment.
    force : bool
        Start over in a folder holding another simulation.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        ``out/manifest.json``.

    See Also
    --------
    andi2kit.simulation.simulate : the implementation, with the layout in its module notes.
    run : predict a submission from ``out/public_data``.

    Examples
    --------
    >>> manifest = andi2kit.simulate("data/tiny", preset="test", fovs=1, video=False)
    """
    # the simulation modules load pandas (and andi-datasets in each job): on first call
    from andi2kit.simulation import simulate as _simulate

    return _simulate(out, preset, fovs=fovs, workers=workers, seed=seed, video=video,
                     video_fovs=video_fovs, force=force, progress=progress)


def track(video: str | Path, *, params: TrackingParams | None = None,
          origin: tuple[float, float] = (0.0, 0.0)) -> pd.DataFrame:
    """Track the VIP particles of one Track 1 video (``videos_fov_<F>.tiff``).

    trackpy detections, refined jointly and linked with a motion model per track; the VIPs
    are found on page 0 and followed to the end of the video.

    Parameters
    ----------
    video : str or Path
        A challenge video: page 0 the VIP frame, then the movie.
    params : TrackingParams, optional
        Detection, linking and VIP settings (default: the tuned ones).
    origin : tuple of float
        FOV origin ``(x0, y0)`` added to the coordinates (simulated data); the challenge does
        not publish it.

    Returns
    -------
    pandas.DataFrame
        ``traj_idx`` (VIP index), ``frame``, ``x``, ``y``, ``flags``: one row per frame of
        each VIP, the input :func:`predict` and :func:`run` take.

    See Also
    --------
    andi2kit.tracking.track_vips : the implementation.
    andi2kit.tracking.track_folder : every video of a ``track_1`` folder, in parallel.

    Examples
    --------
    >>> vips = andi2kit.track("data/demo/public_data/track_1/exp_0/videos_fov_0.tiff")
    ... # doctest: +SKIP
    >>> vips.columns.tolist()  # doctest: +SKIP
    ['traj_idx', 'frame', 'x', 'y', 'flags', 'brightness']
    """
    # the tracker loads scipy, numba and trackpy: on first call
    from andi2kit.tracking import TrackingParams, track_vips

    return track_vips(video, params if params is not None else TrackingParams(), origin)


def run(public: str | Path, out: str | Path | None = None, *, track: int | None = None,
        method: str = "unet", workers: int = 1, force: bool = False,
        tracks: str | Path | None = None, progress: bool = True,
        tracker: TrackingParams | None = None, **options) -> dict[int, RunReport]:
    """Predict every FOV of the public data and write a validated submission folder.

    Per FOV: read (Track 1: track the video), predict segments; per experiment: pool,
    write ``fov_<F>.txt``, build ``ensemble_labels.txt``; then validate. Resumes: a FOV is
    redone only when its input, method or settings changed.

    Parameters
    ----------
    public : str or Path
        ``public_data`` folder (``track_1/``, ``track_2/``).
    out : str or Path, optional
        Submission folder (default: ``submissions/<method>``).
    track : {1, 2}, optional
        One track (default: every track present).
    method : {"unet", "msd"}
        Prediction method.
    workers : int
        Parallel processes over FOVs.
    force : bool
        Redo every FOV.
    tracks : str or Path, optional
        Track 1: folder of tracked VIP trajectories, read when made from the same video,
        else written.
    progress : bool
        Show progress bars.
    tracker : TrackingParams, optional
        Track 1: the tracker's settings (default: ours, scaled to videos whose spots are
        wider than andi-datasets'). A named tracker's:
        ``andi2kit.tracking.tracker_params("trackpy")`` (trackpy's linking, a baseline),
        ``tracker_params(match_spots=False)`` (the settings whatever the spots' width).
    **options
        Settings of the method (``unet``: ``checkpoint``, ``segmentation``, ``pen``,
        ``ensemble``, ``pooling``).

    Returns
    -------
    dict
        ``{track: RunReport}``; ``report.ok`` is True when every FOV and ensemble was written
        and the submission validates.

    See Also
    --------
    andi2kit.pipeline.run : the implementation, for one track.
    validate, score : check and score the submission.

    Examples
    --------
    >>> reports = andi2kit.run("data/tiny/public_data", "submissions/msd", method="msd",
    ...                        progress=False)
    >>> reports[2].ok
    True
    """
    # the pipeline loads pandas, numba and the methods (TensorFlow with the first U-Net FOV)
    from andi2kit.fov_input import tracks_present
    from andi2kit.pipeline import run as _run

    public = _pathlib.Path(public)
    out = _pathlib.Path(out) if out is not None else _pathlib.Path("submissions") / method
    todo = tracks_present(public) if track is None else [track]
    return {t: _run(public, out, t, method, options=options, workers=workers, force=force,
                    progress=progress, tracks=tracks, tracker=tracker) for t in todo}


def validate(submission: str | Path, *, data: str | Path | None = None,
             tracks: tuple[int, ...] = (1, 2)) -> list[Problem]:
    """Check a submission folder as the official scorer would read it.

    Parameters
    ----------
    submission : str or Path
        Folder with ``track_<N>/exp_<E>/fov_<F>.txt`` and ``ensemble_labels.txt``.
    data : str or Path, optional
        The ``public_data`` folder it answers: then every experiment, FOV, trajectory and VIP
        must be there.
    tracks : tuple of int
        Tracks to check.

    Returns
    -------
    list of Problem
        Each with its file, line, message and severity (``"error"`` would cost points);
        empty when the submission is valid.

    See Also
    --------
    andi2kit.validation.validate : the implementation.
    run : writes and validates a submission.

    Examples
    --------
    >>> [str(p) for p in andi2kit.validate("submissions/msd", data="data/tiny/public_data")]
    []
    """
    # the checks load pandas (and tifffile for Track 1 videos): on first call
    from andi2kit.validation import validate as _validate

    return _validate(submission, data, tracks=tracks)


def score(submission: str | Path, ref: str | Path, *,
          tracks: tuple[int, ...] = (1, 2)) -> list[TrackScore]:
    """Score a submission against reference labels with the official metrics.

    Parameters
    ----------
    submission : str or Path
        Submission folder.
    ref : str or Path
        Reference folder (``ref/`` of a simulation).
    tracks : tuple of int
        Tracks to score (those present in ``ref``).

    Returns
    -------
    list of TrackScore
        One per track: ``single`` (RMSE and JSC of change points, α MAE, K MSLE, state F1)
        and ``ensemble`` (W1 of α and K), averaged as the organisers do, and ``per_exp``.

    See Also
    --------
    andi2kit.scoring.score.score : the implementation.
    andi2kit.scoring.score.write_outputs : ``scores.txt`` and a CSV.

    Examples
    --------
    >>> scores = andi2kit.score("submissions/msd", "data/tiny/ref", tracks=(2,))
    >>> scores[0].track
    2
    """
    # the scorer loads scipy: on first call
    from andi2kit.scoring.score import score as _score

    return _score(submission, ref, tracks=tracks)


def predict(trajectories: pd.DataFrame | str | Path, *,
            checkpoint: str | Path | None = None) -> pd.DataFrame:
    """Per-frame α, K, state and state probabilities of every trajectory (the U-Net).

    Parameters
    ----------
    trajectories : pandas.DataFrame, str or Path
        One FOV's trajectories (``traj_idx, frame, x, y``), or its CSV file.
    checkpoint : str or Path, optional
        Checkpoint folder (default: the packaged model).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`andi2kit.inference.FRAME_COLUMNS`: ``traj_idx``, ``frame``,
        ``alpha``, ``K``, ``state``, ``p0`` … ``p3``; one row per frame.

    See Also
    --------
    andi2kit.inference.predict : the implementation (several FOVs in one call).
    andi2kit.segment.Segmenter : per-frame predictions → segments.

    Examples
    --------
    >>> frames = andi2kit.predict("data/tiny/public_data/track_2/exp_0/trajs_fov_0.csv")
    >>> frames.columns[:5].tolist()
    ['traj_idx', 'frame', 'alpha', 'K', 'state']
    """
    # inference loads pandas, then TensorFlow with the checkpoint: on first call
    from andi2kit.inference import predict as _predict
    from andi2kit.io import read_trajectories

    if not hasattr(trajectories, "columns"):
        trajectories = read_trajectories(trajectories)
    return _predict(trajectories, checkpoint)
