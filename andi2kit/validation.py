"""Check a submission folder before it is scored or uploaded.

Every problem is reported with its file and line. *Errors* would cost points with the
official scorer (a missing FOV voids a whole track's single-trajectory task, a wrong VIP set
too, a missing or malformed trajectory is scored as maximally wrong, an extra trajectory
shifts the scorer's pairing of every later one, an input that cannot be read leaves its
prediction unchecked); *warnings* cost nothing but are probably mistakes (a trajectory
length that differs from the data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.constants import MODEL_NAMES, STATE_NAMES
from andi2kit.errors import InputError
from andi2kit.io import decode_vip_frame, read_ensemble, read_trajectories, read_vip_frame
from andi2kit.labels import LabelRow, parse_label_line


@dataclass(frozen=True)
class Problem:
    """One finding of the validator."""

    path: Path
    line: int | None
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{self.severity}: {where}: {self.message}"


def check_label_line(row: np.ndarray) -> list[str]:
    """Problems of one parsed ``fov_*.txt`` line (empty list when valid)."""
    if not LabelRow.well_formed(row):
        return [f"{row.size} fields; expected 1 + 4n (idx, then K, alpha, state, CP|T per "
                "segment); the official scorer ignores this line"]
    out = []
    fields = LabelRow.split(row)
    if not float(fields.idx).is_integer() or fields.idx < 0:
        out.append(f"trajectory index {fields.idx!r} is not a non-negative integer")
    K, alpha, state, bounds = fields.K, fields.alpha, fields.state, fields.bounds
    T = bounds[-1]
    if not np.all(np.isfinite(bounds)) or not np.all(bounds == np.round(bounds)):
        out.append("change points and T must be integers")
    elif T < 1:
        out.append(f"T = {T:g} must be positive")
    else:
        cp = bounds[:-1]
        if cp.size and (cp[0] <= 0 or cp[-1] >= T or np.any(np.diff(cp) <= 0)):
            out.append(f"change points {cp.astype(int).tolist()} must increase strictly "
                       f"inside (0, T={int(T)})")
    if np.any(~np.isfinite(K)) or np.any(K <= 0):
        out.append(f"K must be finite and > 0, got {K.tolist()}")
    if np.any(np.isnan(alpha)) or np.any(alpha < 0) or np.any(alpha > 2):
        out.append(f"alpha must lie in [0, 2], got {alpha.tolist()}")
    if np.any(~np.isin(state, range(len(STATE_NAMES)))):
        out.append(f"states must be 0, 1, 2 or 3, got {state.tolist()}")
    return out


def check_fov_file(path: Path, expected: dict[int, int] | None, track: int) -> list[Problem]:
    """Check one ``fov_*.txt``.

    Parameters
    ----------
    path : Path
        The prediction file.
    expected : dict or None
        ``{traj_idx: length}`` the data holds (Track 1: VIP index → ``-1``, length unknown);
        None when no data folder was given.
    track : int
    """
    probs: list[Problem] = []
    if not path.is_file():
        return [Problem(path, None, "missing file: the whole track's single-trajectory task "
                        "would get the maximum errors")]
    seen: dict[int, int] = {}
    lines = path.read_text().splitlines()
    if not lines:
        probs.append(Problem(path, None, "empty file"))
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            probs.append(Problem(path, i, "blank line (the official scorer crashes on it)"))
            continue
        try:
            row = parse_label_line(line, f"{path}:{i}")
        except InputError as exc:
            probs.append(Problem(path, i, str(exc).split(": ", 2)[-1]))
            continue
        msgs = check_label_line(row)
        probs += [Problem(path, i, m) for m in msgs]
        idx = int(row[0]) if np.isfinite(row[0]) else -1
        if idx in seen:
            probs.append(Problem(path, i, f"trajectory {idx} already on line {seen[idx]}"))
        seen[idx] = i
        if expected is not None and not msgs:
            if idx not in expected:
                # the official scorer pairs predictions with the truth by position: one
                # extra line shifts every later trajectory (and FOV) of the track
                what = ("not a VIP of the video" if track == 1 else
                        "not in the data (the official scorer would then misalign the "
                        "following trajectories)")
                probs.append(Problem(path, i, f"trajectory {idx} is {what}"))
            elif expected[idx] > 0 and int(row[-1]) != expected[idx]:
                probs.append(Problem(path, i, f"T = {int(row[-1])} but trajectory {idx} has "
                                     f"{expected[idx]} frames in the data", "warning"))
    if expected is not None:
        missing = sorted(set(expected) - set(seen))
        if missing:
            what = "VIP(s)" if track == 1 else "trajectory/ies"
            probs.append(Problem(path, None, f"{len(missing)} {what} missing: "
                                 f"{_short(missing)}"))
    return probs


def check_ensemble_file(path: Path) -> list[Problem]:
    """Check one ``ensemble_labels.txt``."""
    if not path.is_file():
        return [Problem(path, None, "missing file: the whole track's ensemble task would get "
                        "the maximum errors")]
    try:
        ens = read_ensemble(path)
    except InputError as exc:
        return [Problem(path, None, str(exc).split(": ", 1)[-1])]
    probs = []
    if ens.model not in MODEL_NAMES:
        probs.append(Problem(path, 1, f"model {ens.model!r} is not one of {MODEL_NAMES}",
                             "warning"))
    m = ens.matrix
    if not np.all(np.isfinite(m)):
        probs.append(Problem(path, None, "non-finite value in the matrix"))
    if np.any(m[1] < 0) or np.any(m[3] < 0):
        probs.append(Problem(path, None, "variances must be >= 0"))
    if np.any(m[4] <= 0):
        probs.append(Problem(path, 6, f"weights must be positive, got {m[4].tolist()}"))
    if np.any((m[0] < 0) | (m[0] > 2)):
        probs.append(Problem(path, 2, "mean alpha outside [0, 2]", "warning"))
    if np.any(m[2] <= 0):
        probs.append(Problem(path, 4, "mean K must be > 0"))
    return probs


def _short(items: list[int], n: int = 10) -> str:
    s = ", ".join(map(str, items[:n]))
    return s + (f", … ({len(items)} in all)" if len(items) > n else "")


def expected_trajectories(public: Path, track: int, exp: int, fov: int) -> dict[int, int]:
    """What the data says a FOV's prediction must list: ``{idx: length or -1}``."""
    if track == 1:
        path = layout.video_path(public, exp, fov)
        return {i: -1 for i in decode_vip_frame(read_vip_frame(path), path)}
    df = read_trajectories(layout.trajs_path(public, 2, exp, fov))
    return {int(k): int(v) for k, v in df.groupby("traj_idx").size().items()}


def validate(submission: str | Path, data: str | Path | None = None,
             tracks: tuple[int, ...] = (1, 2)) -> list[Problem]:
    """Validate a submission folder.

    Parameters
    ----------
    submission : path-like
        Folder with ``track_<N>/exp_<E>/fov_<F>.txt`` and ``ensemble_labels.txt``.
    data : path-like, optional
        The ``public_data`` folder the submission answers; with it, every experiment, FOV,
        trajectory and VIP of the data must be present.
    tracks : tuple of int
        Tracks to check. Without ``data``, only tracks present in the submission.

    Returns
    -------
    list of Problem
        Empty when the submission is valid.
    """
    submission = Path(submission)
    data = Path(data) if data is not None else None
    probs: list[Problem] = []
    if not submission.is_dir():
        return [Problem(submission, None, "submission folder not found")]
    if data is not None and not data.is_dir():
        return [Problem(data, None, "public_data folder not found (--data)")]
    if data is not None and not any(layout.experiments(data, t) for t in tracks):
        return [Problem(data, None, "no track_<N>/exp_<E> input folder: is this the "
                        "public_data folder?")]
    checked = 0
    for track in tracks:
        if data is not None:
            exps = layout.experiments(data, track)
        else:
            exps = layout.experiments(submission, track)
        if not exps:
            continue
        if not layout.track_dir(submission, track).is_dir():
            probs.append(Problem(layout.track_dir(submission, track), None,
                                 "track folder missing: this track will not be scored",
                                 "warning"))
            continue
        for exp in exps:
            if data is not None:
                fov_ids = layout.fovs(data, track, exp, layout.input_kind(track))
            else:
                fov_ids = layout.fovs(submission, track, exp, "prediction")
            for fov in fov_ids:
                expected = None
                if data is not None:
                    try:
                        expected = expected_trajectories(data, track, exp, fov)
                    except (InputError, OSError) as exc:
                        probs.append(Problem(layout.exp_dir(data, track, exp), None,
                                             f"cannot read the input of FOV {fov}, so its "
                                             f"prediction cannot be checked: {exc}"))
                probs += check_fov_file(layout.prediction_path(submission, track, exp, fov),
                                        expected, track)
                checked += 1
            probs += check_ensemble_file(layout.ensemble_path(submission, track, exp))
    if checked == 0:
        probs.append(Problem(submission, None, "no FOV prediction to check"))
    return probs


def has_errors(problems: list[Problem]) -> bool:
    """True when any problem would cost points."""
    return any(p.severity == "error" for p in problems)
