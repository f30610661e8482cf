"""Challenge folder layout: where inputs, references and submissions live.

The three trees mirror the organisers' layout::

    public_data/track_1/exp_<E>/videos_fov_<F>.tiff
    public_data/track_2/exp_<E>/trajs_fov_<F>.csv
    ref/track_<1|2>/exp_<E>/traj_labs_fov_<F>.txt
    ref/track_<1|2>/exp_<E>/ensemble_labels.txt
    ref/track_1/exp_<E>/vip_idx_fov_<F>.txt
    ref/track_1/exp_<E>/trajs_fov_<F>.csv          # true VIP trajectories (tracking evaluation)
    ref/track_1/exp_<E>/fov_origin_fov_<F>.txt     # "x0,y0", the FOV origin (simulations)
    <submission>/track_<1|2>/exp_<E>/fov_<F>.txt
    <submission>/track_<1|2>/exp_<E>/ensemble_labels.txt
    <submission>/.segments/track_<1|2>/exp_<E>/fov_<F>.txt   # before pooling (not submitted)
    <tracks>/exp_<E>/trajs_fov_<F>.csv              # tracked VIP trajectories (Track 1)
    <simulation>/.staging/exp_<E>/fov_<F>.json      # a simulated FOV's record (resuming)

Every function here is pure path arithmetic or a directory listing; nothing is read. A
listing refuses names with leading zeros (``exp_01``), which the organisers never use and
which would otherwise be read as another experiment's number.
"""

from __future__ import annotations

import re
from pathlib import Path

from andi2kit.errors import InputError

TRACKS = (1, 2)
ENSEMBLE_FILE = "ensemble_labels.txt"
#: Folder of a submission holding the per-FOV predictions before experiment-level pooling.
SEGMENTS_DIR = ".segments"
#: Folder of a simulation holding per-FOV records and temporary files (for resuming).
STAGING_DIR = ".staging"

_EXP_RE = re.compile(r"^exp_(\d+)$")
_FOV_RE = {
    "video": re.compile(r"^videos_fov_(\d+)\.tiff?$"),
    "trajs": re.compile(r"^trajs_fov_(\d+)\.csv$"),
    "labels": re.compile(r"^traj_labs_fov_(\d+)\.txt$"),
    "prediction": re.compile(r"^fov_(\d+)\.txt$"),
    "vip": re.compile(r"^vip_idx_fov_(\d+)\.txt$"),
}


def track_dir(root: str | Path, track: int) -> Path:
    """Folder of one track (``root/track_<track>``)."""
    if track not in TRACKS:
        raise ValueError(f"track must be 1 or 2, got {track!r}")
    return Path(root) / f"track_{track}"


def exp_dir(root: str | Path, track: int, exp: int) -> Path:
    """Folder of one experiment (``root/track_<track>/exp_<exp>``)."""
    return track_dir(root, track) / f"exp_{exp}"


def video_path(public: str | Path, exp: int, fov: int) -> Path:
    """Track 1 input video of a FOV."""
    return exp_dir(public, 1, exp) / f"videos_fov_{fov}.tiff"


def trajs_path(root: str | Path, track: int, exp: int, fov: int) -> Path:
    """Trajectory CSV of a FOV (Track 2 input, or Track 1 tracked/true VIP trajectories)."""
    return exp_dir(root, track, exp) / f"trajs_fov_{fov}.csv"


def labels_path(ref: str | Path, track: int, exp: int, fov: int) -> Path:
    """Ground-truth segment labels of a FOV."""
    return exp_dir(ref, track, exp) / f"traj_labs_fov_{fov}.txt"


def vip_path(ref: str | Path, exp: int, fov: int) -> Path:
    """Ground-truth VIP indices of a Track 1 FOV."""
    return exp_dir(ref, 1, exp) / f"vip_idx_fov_{fov}.txt"


def prediction_path(submission: str | Path, track: int, exp: int, fov: int) -> Path:
    """Predicted segment labels of a FOV in a submission."""
    return exp_dir(submission, track, exp) / f"fov_{fov}.txt"


def segments_path(submission: str | Path, track: int, exp: int, fov: int) -> Path:
    """A method's own per-FOV labels, before the experiment-level steps (not submitted)."""
    return Path(submission) / SEGMENTS_DIR / f"track_{track}" / f"exp_{exp}" / f"fov_{fov}.txt"


def state_evidence_path(submission: str | Path, track: int, exp: int, fov: int) -> Path:
    """Beside a FOV's segments: what it says about its experiment's states (JSON,
    :meth:`andi2kit.methods.unet.UNetMethod.predict_with_evidence`)."""
    return evidence_beside(segments_path(submission, track, exp, fov))


def evidence_beside(segments: Path) -> Path:
    """The state evidence file that belongs to a segments file."""
    return Path(segments).with_suffix(".states.json")


def ensemble_path(root: str | Path, track: int, exp: int) -> Path:
    """Ensemble labels of an experiment (reference or submission)."""
    return exp_dir(root, track, exp) / ENSEMBLE_FILE


def fov_origin_path(ref: str | Path, exp: int, fov: int) -> Path:
    """``ref/track_1/exp_<E>/fov_origin_fov_<F>.txt``: the FOV origin ``x0,y0`` of a
    simulated Track 1 FOV (read with :func:`andi2kit.io.read_fov_origin`)."""
    return exp_dir(ref, 1, exp) / f"fov_origin_fov_{fov}.txt"


def tracks_path(out: str | Path, exp: int, fov: int) -> Path:
    """Where :func:`andi2kit.tracking.track_folder` writes a FOV's VIP trajectories."""
    return Path(out) / f"exp_{exp}" / f"trajs_fov_{fov}.csv"


def field_path(out: str | Path, exp: int, fov: int) -> Path:
    """Where :func:`andi2kit.tracking.track_folder` writes the tracks of every particle of a
    FOV's video (:func:`andi2kit.tracking.field_tracks`), beside its VIP trajectories."""
    return Path(out) / f"exp_{exp}" / f"field_fov_{fov}.csv"


def staging_dir(out: str | Path) -> Path:
    """A simulation's folder of per-FOV records and temporary files."""
    return Path(out) / STAGING_DIR


def staging_record_path(out: str | Path, exp: int, fov: int) -> Path:
    """The record a simulated FOV's job writes last (its presence means the FOV is done)."""
    return staging_dir(out) / f"exp_{exp}" / f"fov_{fov}.json"


def experiments(root: str | Path, track: int) -> list[int]:
    """Experiment numbers present under ``root/track_<track>``, sorted numerically."""
    tdir = track_dir(root, track)
    if not tdir.is_dir():
        return []
    found = [(p, m) for p in tdir.iterdir() if p.is_dir() and (m := _EXP_RE.match(p.name))]
    return sorted(_number(p, m) for p, m in found)


def fovs(root: str | Path, track: int, exp: int, kind: str) -> list[int]:
    """FOV numbers of the files of one ``kind`` in an experiment folder, sorted.

    Parameters
    ----------
    kind : {"video", "trajs", "labels", "prediction", "vip"}
    """
    pattern = _FOV_RE[kind]
    edir = exp_dir(root, track, exp)
    if not edir.is_dir():
        return []
    return sorted(_number(p, m) for p in edir.iterdir() if (m := pattern.match(p.name)))


def _number(path: Path, match: re.Match) -> int:
    # exp_01 would be read as experiment 1, whose files live in exp_1: refuse it by name
    digits = match.group(1)
    if digits != str(int(digits)):
        raise InputError(f"{path}: numbers in challenge names have no leading zeros "
                         f"(rename it to {path.name.replace(digits, str(int(digits)), 1)})")
    return int(digits)


def input_kind(track: int) -> str:
    """The kind of input file a track's public data holds."""
    return "video" if track == 1 else "trajs"
