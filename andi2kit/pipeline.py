"""``andi2kit run``: public data → submission folder, for one track.

For every FOV: read the input (Track 2: the trajectory CSV; Track 1: the video, tracked into
VIP trajectories), predict segment labels with the chosen method and write them atomically to
``<out>/.segments/`` (not part of the submission), with a record of what produced them
(:mod:`andi2kit.provenance`: method, checkpoint identity, options, the input file's size and
hash). A FOV is skipped (resume) only when its record equals this run's, so another method,
checkpoint, penalty or input redoes it; ``force`` redoes every FOV. A folder holding a
submission without a record is refused unless ``force``. A FOV that fails is reported and
the others go on. Then, per experiment, the method may pool the segments of all its FOVs
(``method.pool``, see :mod:`andi2kit.pooling`); the results are written to ``fov_<F>.txt``
(only files whose content changes are rewritten), the ensemble is built from the FOVs' own
segments, experiments and FOVs that are not in the input are removed from the submission,
and the submission is validated against the data.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from andi2kit import layout, provenance
from andi2kit.errors import InputError
from andi2kit.execution import imap_unordered, parallel
from andi2kit.fov_input import (
    check_public,
    input_path,
    read_fov,
    read_fov_input,
    resolve_tracker,
    tracker_identity,
    video_notes,
)
from andi2kit.io import (
    format_labels,
    read_labels,
    write_ensemble,
    write_labels,
    write_text_atomic,
)
from andi2kit.labels import parse_label_line, row_to_label
from andi2kit.methods import get_method
from andi2kit.progress import progress_bar
from andi2kit.screen import describe, screen
from andi2kit.validation import Problem, validate

if TYPE_CHECKING:
    from andi2kit.tracking.params import TrackingParams

log = logging.getLogger(__name__)

__all__ = ["RunReport", "method_identity", "predict_fov", "read_fov_input", "run"]


@dataclass
class RunReport:
    """What a run did.

    ``redone`` maps FOVs whose earlier result was stale to the reason; ``notes`` lists, per
    FOV, the trajectories that got fallback labels (:mod:`andi2kit.screen`); ``removed`` the
    submission files of experiments or FOVs that are not in the input.
    """

    written: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)
    failed: dict[tuple[int, int], str] = field(default_factory=dict)
    redone: dict[tuple[int, int], str] = field(default_factory=dict)
    notes: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    removed: list[Path] = field(default_factory=list)
    ensembles: list[int] = field(default_factory=list)
    ensemble_failed: dict[int, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every FOV and ensemble was produced and the submission validates."""
        return not (self.failed or self.ensemble_failed
                    or any(p.severity == "error" for p in self.problems))


_METHODS: dict[tuple, object] = {}
_METHODS_LOCK = threading.Lock()


def _method(name: str, options: dict):
    # one instance per process (a dask worker process keeps it between jobs): learned methods
    # load their weights once, even when a worker runs several job threads
    key = (name, tuple(sorted(options.items())))
    with _METHODS_LOCK:
        if key not in _METHODS:
            _METHODS[key] = get_method(name, **options)
    return _METHODS[key]


def method_identity(name: str, options: dict) -> dict:
    """What decides a method's per-FOV output: its name and settings (a learned method's
    ``identity()``: checkpoint hash, resolved segmentation settings)."""
    m = _method(name, options)
    ident = m.identity() if hasattr(m, "identity") else dict(options)
    return {"method": name, "settings": ident}


def fov_record(public: Path, track: int, exp: int, fov: int, identity: dict,
               field: bool = False, tracker: TrackingParams | None = None) -> dict:
    """The record of a FOV's segments: method identity and input file (Track 1: the
    ``tracker``'s identity, the default tracker's when None, and whether the field's tracks
    were the state evidence, ``field``)."""
    extra = {"tracker": tracker_identity(tracker),
             "evidence_from": "field" if field else "vips"} if track == 1 else {}
    return provenance.make_record(**identity, **extra,
                                  input=provenance.file_digest(input_path(public, track,
                                                                          exp, fov)))


def predict_fov(public: Path, out: Path, track: int, exp: int, fov: int,
                method: str, options: dict, tracks: Path | None = None,
                record: dict | None = None, tracker: TrackingParams | None = None
                ) -> tuple[Path, list[str]]:
    """Predict one FOV and write its segments (before pooling) and their record.

    Returns
    -------
    path : Path
        The segments file.
    notes : list of str
        Trajectories that got fallback labels (:func:`andi2kit.screen.describe`).
    """
    m = _method(method, options)
    evidence_from_field = track == 1 and getattr(m, "gives_evidence", False)
    given = read_fov(public, track, exp, fov, tracks, field=evidence_from_field,
                     tracker=tracker)
    trajs = given.trajs
    if hasattr(m, "predict_with_evidence"):
        labels, evidence = m.predict_with_evidence(trajs, field=given.field,
                                                   tracked=track == 1)
        if evidence is not None:
            write_text_atomic(layout.state_evidence_path(out, track, exp, fov),
                              json.dumps(evidence))
    else:
        labels = m.predict(trajs)
    path = write_labels(layout.segments_path(out, track, exp, fov), labels)
    if record is not None:
        provenance.write_record(path, record)
    return path, describe(screen(trajs))


def _job(args: tuple) -> tuple[tuple[int, int], str | None, list[str]]:
    public, out, track, exp, fov, method, options, tracks, record, tracker = args
    try:
        _, notes = predict_fov(public, out, track, exp, fov, method, options, tracks, record,
                               tracker)
        return (exp, fov), None, notes
    except InputError as exc:
        return (exp, fov), str(exc), []
    except Exception as exc:  # report and go on with the other FOVs
        tb = traceback.format_exc(limit=3)
        return (exp, fov), f"{type(exc).__name__}: {exc}\n{tb}", []


def run(public: str | Path, out: str | Path, track: int, method: str = "msd", *,
        options: dict | None = None, workers: int = 1, force: bool = False,
        progress: bool = True, exps: list[int] | None = None,
        tracks: str | Path | None = None, tracker: TrackingParams | None = None
        ) -> RunReport:
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
        Redo every FOV, and take over a folder holding a submission without a record.
    progress : bool
        Show a progress bar.
    exps : list of int, optional
        Only these experiments.
    tracks : path-like, optional
        Track 1: folder of tracked VIP trajectories (``andi2kit track --out``), read when
        present and made from the same video, filled otherwise, so that several methods
        track each video once.
    tracker : TrackingParams, optional
        Track 1: the tracker's settings; the default tracker's (ours, its settings scaled to
        spots wider than andi-datasets') when None. A named tracker's, e.g. trackpy's
        linking as a baseline: :func:`andi2kit.tracking.params.tracker_params`.

    Returns
    -------
    RunReport

    Raises
    ------
    InputError
        If the public data has no input for the track, or a method option or checkpoint
        cannot be used (checked before the first FOV).
    StaleOutputError
        If ``out`` holds a submission without a record and ``force`` is False.
    """
    public, out = Path(public), Path(out)
    options = dict(options or {})
    kind = layout.input_kind(track)
    all_exps = check_public(public, track)
    tracks = Path(tracks) if tracks is not None else None
    if track == 1 or tracker is not None:  # Track 2 needs none, nor the tracker's imports
        tracker = resolve_tracker(tracker)
    if tracks is not None and tracks.exists() and not tracks.is_dir():
        raise InputError(f"{tracks}: --tracks must be a folder")
    exps = [e for e in all_exps if exps is None or e in exps]
    fovs = {e: layout.fovs(public, track, e, kind) for e in all_exps}  # names checked first
    identity = method_identity(method, options)  # loads a checkpoint before the first FOV
    with_evidence = getattr(_method(method, options), "gives_evidence", False)
    provenance.claim_output_folder(out, layout.SEGMENTS_DIR, force)
    report = RunReport()
    jobs = []
    for e in exps:
        for f in fovs[e]:
            seg = layout.segments_path(out, track, e, f)
            try:
                rec = fov_record(public, track, e, f, identity, field=with_evidence,
                                 tracker=tracker)
            except OSError as exc:
                report.failed[e, f] = f"{input_path(public, track, e, f)}: cannot read ({exc})"
                continue
            reason = "--force" if force else provenance.stale_reason(seg, rec)
            evidence = layout.state_evidence_path(out, track, e, f)
            if reason is None and with_evidence:
                reason = _evidence_problem(seg, evidence)
            if reason is None:
                report.skipped.append((e, f))
                continue
            if reason != "missing":
                report.redone[e, f] = reason
                log.info("track %d exp %d fov %d: redone (%s)", track, e, f, reason)
            # a failure or an interruption must not leave the old result looking current
            provenance.forget(seg)
            evidence.unlink(missing_ok=True)
            layout.prediction_path(out, track, e, f).unlink(missing_ok=True)
            jobs.append((public, out, track, e, f, method, options, tracks, rec, tracker))

    if track == 1 and tracks is None and jobs:  # are the videos like the tracker's?
        e, f = jobs[0][3], jobs[0][4]
        if found := video_notes(public, e, f, tracker):
            report.notes[e, f] = found

    with progress_bar(progress) as bar:
        task = bar.add_task(f"track {track} · {method}", total=len(jobs))
        if parallel(workers, len(jobs)):
            for job, res, exc in imap_unordered(_job, jobs, workers):
                if exc is not None:
                    res = (job[3], job[4]), f"worker died: {type(exc).__name__}: {exc}", []
                _record(report, *res)
                bar.advance(task)
        else:
            for j in jobs:
                _record(report, *_job(j))
                bar.advance(task)

    m = _method(method, options)
    for e in exps:
        _write_experiment(report, m, public, out, track, e)
    report.removed = _remove_stale(public, out, track, all_exps)
    report.problems = validate(out, public, tracks=(track,))
    return report


def _write_experiment(report: RunReport, m, public: Path, out: Path, track: int,
                      e: int) -> None:
    fovs = [f for f in layout.fovs(public, track, e, layout.input_kind(track))
            if layout.segments_path(out, track, e, f).is_file()]
    if not fovs:
        report.ensemble_failed[e] = "no FOV prediction"
        layout.ensemble_path(out, track, e).unlink(missing_ok=True)
        return
    try:
        per_fov = [read_labels(layout.segments_path(out, track, e, f)) for f in fovs]
        basis, positions, evidence = per_fov, None, None
        if hasattr(m, "decide_experiment"):
            evidence = [_read_evidence(out, track, e, f) for f in fovs]
            # tracked positions are carved into still runs only among near-ballistic movers
            # (carving every Track 1 experiment cost JSC on the chal0v tuning seed: 0.819 ->
            # 0.782; docs/states.md, *Still runs carved in Track 1*)
            per_fov, basis = m.decide_experiment(per_fov, evidence, tracked=track == 1)
            # Track 1 too: its step α corrected for the tracker's error, not the pooled MSD
            positions = _positions(per_fov, evidence)
        raw = [lab for labels in per_fov for lab in labels]
        # Track 1: the experiment's states learnt from every particle tracked in its videos
        # (the evidence of a Track 2 FOV holds none; an ensemble from them too was measured
        # and not kept: docs/track1.md)
        context = m.context_segments(evidence) if hasattr(m, "context_segments") else None
        # traps the places deny: their immobile segments keep the pooled α, not α 0
        # (docs/results-log.md, *Traps denied by their places*)
        denied = evidence is not None and hasattr(m, "denies_traps") \
            and m.denies_traps(evidence, tracked=track == 1)
        pooled = m.pool(raw, positions, context, tracked=track == 1, at_rest=not denied) \
            if hasattr(m, "pool") else raw
        if denied:
            pooled = m.untrapped(pooled)
        k = 0
        for f, labels in zip(fovs, per_fov, strict=True):
            _write_if_changed(layout.prediction_path(out, track, e, f),
                              pooled[k:k + len(labels)])
            k += len(labels)
        flat = [lab for labels in basis for lab in labels]
        write_ensemble(layout.ensemble_path(out, track, e),
                       m.ensemble(flat) if positions is None
                       else m.ensemble(flat, positions, tracked=track == 1))
        report.ensembles.append(e)
    except Exception as exc:
        report.ensemble_failed[e] = f"{type(exc).__name__}: {exc}"


def _positions(per_fov: list[list], evidence: list[dict | None]) -> list[np.ndarray] | None:
    """Every trajectory's positions from its FOV's evidence, in the order of ``per_fov``'s
    labels, NaN where the tracker was unsure of them (Track 1, the evidence's ``unsure``);
    None when a FOV's evidence lacks a trajectory's or holds another length."""
    out = []
    for labels, ev in zip(per_fov, evidence, strict=True):
        held = (ev or {}).get("positions") or {}
        unsure = (ev or {}).get("unsure") or {}
        for lab in labels:
            xy = np.asarray(held.get(str(lab.idx), []), dtype=np.float64)
            if xy.shape != (lab.T, 2):
                return None
            off = np.asarray(unsure.get(str(lab.idx), []), dtype=np.int64)
            if off.size:
                xy = xy.copy()
                xy[off[(off >= 0) & (off < lab.T)]] = np.nan
            out.append(xy)
    return out


def _evidence_problem(segments: Path, evidence: Path) -> str | None:
    """Why a FOV's state evidence cannot be used with its segments (None: it can)."""
    if not evidence.is_file():
        return "state evidence missing"
    try:
        held = json.loads(evidence.read_text())
        probs = held["probabilities"]
        context = held.get("context", [])
        labels = read_labels(segments)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InputError):
        return "state evidence unreadable"
    if not isinstance(probs, dict) or any(
            len(probs.get(str(lab.idx), [])) != len(lab.state) for lab in labels):
        return "state evidence does not match the segments"
    if not isinstance(context, list) or any(
            not isinstance(r, list) or len(r) != 4
            or not all(isinstance(v, int | float) for v in r) for r in context):
        return "state evidence holds malformed context segments"
    if not _field_ok(held.get("field", {})):
        return "state evidence holds malformed field tracks"
    return None


def _field_ok(tracks) -> bool:
    """Whether a FOV evidence's ``field`` (Track 1: every tracked particle's label lines,
    positions, first frames and spot brightness; empty in Track 2) describes its tracks."""
    if not isinstance(tracks, dict):
        return False
    if not tracks:
        return True
    try:
        labels = [row_to_label(parse_label_line(line)) for line in tracks["labels"]]
        spots = tracks.get("brightness", {})
        return isinstance(spots, dict) and all(
            np.asarray(tracks["positions"][str(lab.idx)], float).shape == (lab.T, 2)
            and isinstance(tracks["starts"][str(lab.idx)], int)
            and np.asarray(spots.get(str(lab.idx), [0.0] * lab.T), float).shape == (lab.T,)
            for lab in labels)
    except (KeyError, TypeError, ValueError, AttributeError, InputError):
        return False


def _read_evidence(out: Path, track: int, exp: int, fov: int) -> dict | None:
    path = layout.state_evidence_path(out, track, exp, fov)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({exc})") from None


def _remove_stale(public: Path, out: Path, track: int, all_exps: list[int]) -> list[Path]:
    """Remove experiments and FOVs of the submission (and ``.segments``) not in the input."""
    removed: list[Path] = []
    kind = layout.input_kind(track)
    for root in (out, out / layout.SEGMENTS_DIR):
        tdir = root / f"track_{track}"
        if not tdir.is_dir():
            continue
        keep = {f"exp_{e}" for e in all_exps}
        for d in sorted(tdir.iterdir()):
            if d.is_dir() and d.name.startswith("exp_") and d.name not in keep:
                shutil.rmtree(d)
                removed.append(d)
        for e in all_exps:
            names = {f"fov_{f}.txt" for f in layout.fovs(public, track, e, kind)}
            edir = tdir / f"exp_{e}"
            if not edir.is_dir():
                continue
            for p in sorted(edir.glob("fov_*.txt")):
                if p.name not in names:
                    provenance.forget(p)
                    layout.evidence_beside(p).unlink(missing_ok=True)
                    removed.append(p)
    for p in removed:
        log.warning("removed %s: not in the input %s", p, public)
    return removed


def _write_if_changed(path: Path, labels) -> None:
    # a rerun that changes nothing leaves the files (and their times) alone
    text = format_labels(labels)
    if not (path.is_file() and path.read_text() == text):
        write_text_atomic(path, text)


def _record(report: RunReport, key: tuple[int, int], error: str | None,
            notes: list[str]) -> None:
    if error is None:
        report.written.append(key)
    else:
        report.failed[key] = error
    if notes:
        report.notes.setdefault(key, []).extend(notes)
