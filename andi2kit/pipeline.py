"""``andi2kit run``: public data → submission folder, for one track.

For every FOV: read the input (Track 2: the trajectory CSV; Track 1: the video, tracked into
VIP trajectories), predict segment labels with the chosen method and write them atomically to
``<out>/.segments/`` (not part of the submission). FOVs whose segments exist are skipped
(resume) unless ``force``; a FOV that fails is reported and the others go on. Then, per
experiment, the method may pool the segments of all its FOVs (``method.pool``, see
:mod:`andi2kit.pooling`); the results are written to ``fov_<F>.txt`` (only files whose
content changes are rewritten), the ensemble is built from the FOVs' own segments, and the
submission is validated against the data.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from andi2kit import layout
from andi2kit.io import (
    InputError,
    format_labels,
    read_labels,
    read_trajectories,
    write_ensemble,
    write_labels,
    write_text_atomic,
)
from andi2kit.methods import get_method
from andi2kit.progress import progress_bar
from andi2kit.validate import Problem, validate


@dataclass
class RunReport:
    """What a run did."""

    written: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)
    failed: dict[tuple[int, int], str] = field(default_factory=dict)
    ensembles: list[int] = field(default_factory=list)
    ensemble_failed: dict[int, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every FOV and ensemble was produced and the submission validates."""
        return not (self.failed or self.ensemble_failed
                    or any(p.severity == "error" for p in self.problems))


_METHODS: dict[tuple, object] = {}


def _method(name: str, options: dict):
    # one instance per process: learned methods load their weights once
    key = (name, tuple(sorted(options.items())))
    if key not in _METHODS:
        _METHODS[key] = get_method(name, **options)
    return _METHODS[key]


def read_fov_input(public: Path, track: int, exp: int, fov: int, tracks: Path | None = None):
    """The trajectory table a method sees for one FOV (Track 1: tracked VIP trajectories).

    With ``tracks`` (Track 1), the VIP trajectories are read from ``tracks`` when
    :func:`andi2kit.tracking.track_folder` (``andi2kit track``) or an earlier run wrote them
    there, else tracked and saved there for the next method.
    """
    if track == 2:
        return read_trajectories(layout.trajs_path(public, 2, exp, fov))
    from andi2kit.tracking import read_tracks, track_vips, tracks_path, write_tracks

    cached = tracks_path(tracks, exp, fov) if tracks is not None else None
    if cached is not None and cached.is_file():
        return read_tracks(cached)
    trajs = track_vips(layout.video_path(public, exp, fov))
    if cached is not None:
        write_tracks(cached, trajs)
    return trajs


def predict_fov(public: Path, out: Path, track: int, exp: int, fov: int,
                method: str, options: dict, tracks: Path | None = None) -> Path:
    """Predict one FOV and write its segments (before pooling); returns the path."""
    trajs = read_fov_input(public, track, exp, fov, tracks)
    labels = _method(method, options).predict(trajs)
    return write_labels(layout.segments_path(out, track, exp, fov), labels)


def _job(args: tuple) -> tuple[tuple[int, int], str | None]:
    public, out, track, exp, fov, method, options, tracks = args
    try:
        predict_fov(public, out, track, exp, fov, method, options, tracks)
        return (exp, fov), None
    except InputError as exc:
        return (exp, fov), str(exc)
    except Exception as exc:  # report and go on with the other FOVs
        tb = traceback.format_exc(limit=3)
        return (exp, fov), f"{type(exc).__name__}: {exc}\n{tb}"


def run(public: str | Path, out: str | Path, track: int, method: str = "msd", *,
        options: dict | None = None, workers: int = 1, force: bool = False,
        progress: bool = True, exps: list[int] | None = None,
        tracks: str | Path | None = None) -> RunReport:
    """Produce a submission for one track.

    Parameters
    ----------
    public : path-like
        ``public_data`` folder.
    out : path-like
        Submission folder (``track_<N>/exp_<E>/...`` is written inside).
    track : int
        1 (videos) or 2 (trajectories).
    method : str
        Name of the prediction method (see :mod:`andi2kit.methods`).
    options : dict, optional
        Keyword arguments of the method.
    workers : int
        Processes working on FOVs in parallel.
    force : bool
        Redo FOVs whose output exists.
    progress : bool
        Show a progress bar.
    exps : list of int, optional
        Only these experiments.
    tracks : path-like, optional
        Track 1: folder of tracked VIP trajectories (``andi2kit track --out``), read when
        present and filled otherwise, so that several methods track each video once.

    Returns
    -------
    RunReport
    """
    public, out = Path(public), Path(out)
    options = dict(options or {})
    kind = layout.input_kind(track)
    all_exps = layout.experiments(public, track)
    if not all_exps:
        raise InputError(f"{layout.track_dir(public, track)}: no exp_* folder with inputs")
    exps = [e for e in all_exps if exps is None or e in exps]
    report = RunReport()
    jobs = []
    for e in exps:
        for f in layout.fovs(public, track, e, kind):
            if not force and layout.segments_path(out, track, e, f).is_file():
                report.skipped.append((e, f))
            else:
                jobs.append((public, out, track, e, f, method, options,
                             Path(tracks) if tracks is not None else None))

    with progress_bar(progress) as bar:
        task = bar.add_task(f"track {track} · {method}", total=len(jobs))
        if workers > 1 and len(jobs) > 1:
            import multiprocessing

            # spawn: forking a parent that has loaded TensorFlow (an earlier run in the same
            # process) deadlocks the children
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = [pool.submit(_job, j) for j in jobs]
                for fut in as_completed(futures):
                    _record(report, *fut.result())
                    bar.advance(task)
        else:
            for j in jobs:
                _record(report, *_job(j))
                bar.advance(task)

    m = _method(method, options)
    for e in exps:
        fovs = [f for f in layout.fovs(public, track, e, kind)
                if layout.segments_path(out, track, e, f).is_file()]
        if not fovs:
            report.ensemble_failed[e] = "no FOV prediction"
            continue
        try:
            per_fov = [read_labels(layout.segments_path(out, track, e, f)) for f in fovs]
            raw = [lab for labels in per_fov for lab in labels]
            pooled = m.pool(raw) if hasattr(m, "pool") else raw
            k = 0
            for f, labels in zip(fovs, per_fov, strict=True):
                _write_if_changed(layout.prediction_path(out, track, e, f),
                                  pooled[k:k + len(labels)])
                k += len(labels)
            write_ensemble(layout.ensemble_path(out, track, e), m.ensemble(raw))
            report.ensembles.append(e)
        except Exception as exc:
            report.ensemble_failed[e] = f"{type(exc).__name__}: {exc}"
    report.problems = validate(out, public, tracks=(track,))
    return report


def _write_if_changed(path: Path, labels) -> None:
    # a rerun that changes nothing leaves the files (and their times) alone
    text = format_labels(labels)
    if not (path.is_file() and path.read_text() == text):
        write_text_atomic(path, text)


def _record(report: RunReport, key: tuple[int, int], error: str | None) -> None:
    if error is None:
        report.written.append(key)
    else:
        report.failed[key] = error
