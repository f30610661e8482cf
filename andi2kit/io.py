"""Reading challenge inputs and writing challenge outputs.

Inputs are read defensively (every problem names its file); outputs are written atomically
(temporary file in the same folder, then ``os.replace``), so an interrupted run never leaves a
half-written ``fov_*.txt`` that a resumed run would mistake for finished work.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit.errors import InputError

#: The only columns the predictors may see. Simulated CSVs carry ground truth beside them.
TRAJ_COLUMNS = ("traj_idx", "frame", "x", "y")

#: Most frames one trajectory may span (challenge videos have 200; more is a broken file).
MAX_SPAN = 100_000

#: Diffusive state codes of the challenge.
STATE_NAMES = {0: "immobile", 1: "confined", 2: "free", 3: "directed"}

#: Model names allowed in the first line of ``ensemble_labels.txt``.
ENSEMBLE_MODELS = ("single_state", "multi_state", "immobile_traps", "dimerization", "confinement")


# --------------------------------------------------------------------------------------------
# atomic writing
# --------------------------------------------------------------------------------------------


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    text : str
        Full file content.

    Returns
    -------
    Path
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# trajectories
# --------------------------------------------------------------------------------------------


def read_trajectories(path: str | Path) -> pd.DataFrame:
    """Read a trajectory CSV, keeping only ``traj_idx, frame, x, y``.

    Any other column (simulated ground truth such as ``alpha, D, state``) is dropped here, at
    the boundary, so that labels can never reach a predictor.

    Parameters
    ----------
    path : path-like
        A ``trajs_fov_<F>.csv`` file.

    Returns
    -------
    pandas.DataFrame
        Columns ``traj_idx`` (int64), ``frame`` (int64), ``x``, ``y`` (float64), sorted by
        ``traj_idx`` then ``frame``.

    Raises
    ------
    InputError
        If the file is missing, unreadable, lacks a column, holds non-numeric or non-finite
        values, repeats a ``(traj_idx, frame)`` pair, or a trajectory spans more than
        :data:`MAX_SPAN` frames.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except Exception as exc:  # pandas raises several types for malformed text
        raise InputError(f"{path}: cannot parse CSV ({exc})") from exc
    missing = [c for c in TRAJ_COLUMNS if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {list(header)}")
    try:
        df = pd.read_csv(path, usecols=list(TRAJ_COLUMNS), dtype=np.float64)
    except Exception as exc:
        raise InputError(f"{path}: non-numeric value in {TRAJ_COLUMNS} ({exc})") from exc
    if df.empty:
        raise InputError(f"{path}: no trajectory rows")
    values = df.to_numpy()
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise InputError(f"{path}: non-finite value on data row {row + 1}")
    for col in ("traj_idx", "frame"):
        if not np.all(df[col] == np.round(df[col])) or (df[col] < 0).any():
            raise InputError(f"{path}: column {col} must hold non-negative integers")
    df = df.astype({"traj_idx": np.int64, "frame": np.int64})
    df = df.sort_values(["traj_idx", "frame"], kind="stable").reset_index(drop=True)
    dup = df.duplicated(["traj_idx", "frame"])
    if dup.any():
        r = df[dup].iloc[0]
        raise InputError(
            f"{path}: trajectory {int(r.traj_idx)} has frame {int(r.frame)} more than once"
        )
    g = df.groupby("traj_idx")["frame"]
    span = g.max() - g.min() + 1
    if span.max() > MAX_SPAN:
        i = int(span.idxmax())
        raise InputError(f"{path}: trajectory {i} spans {int(span[i]):,} frames (frames "
                         f"{int(g.min()[i])} to {int(g.max()[i])}); at most {MAX_SPAN:,}")
    return df


def write_trajectories(path: str | Path, df: pd.DataFrame) -> Path:
    """Write a trajectory table (``traj_idx, frame, x, y``) as CSV, atomically."""
    out = df.loc[:, list(TRAJ_COLUMNS)]
    return write_text_atomic(path, out.to_csv(index=False))


# --------------------------------------------------------------------------------------------
# videos
# --------------------------------------------------------------------------------------------


def read_video(path: str | Path, min_frames: int = 2) -> np.ndarray:
    """Read every page of a challenge TIFF video.

    Parameters
    ----------
    path : path-like
        A ``videos_fov_<F>.tiff`` file.
    min_frames : int
        Fewest pages accepted (the VIP frame plus at least one movie frame).

    Returns
    -------
    numpy.ndarray
        ``(pages, height, width)`` uint8 array; page 0 is the VIP frame.

    Raises
    ------
    InputError
        If the file is missing or unreadable, not 8-bit greyscale, or has too few pages.
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            pages = [page.asarray() for page in tif.pages]
    except Exception as exc:
        raise InputError(f"{path}: cannot read TIFF ({exc})") from exc
    if len(pages) < min_frames:
        raise InputError(f"{path}: {len(pages)} page(s), need at least {min_frames}")
    shapes = {p.shape for p in pages}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(f"{path}: pages must be 2-D greyscale images of one size, got {shapes}")
    video = np.stack(pages)
    if video.dtype != np.uint8:
        raise InputError(f"{path}: expected uint8 pixels, got {video.dtype}")
    return video


def read_vip_frame(path: str | Path) -> np.ndarray:
    """Read only page 0 (the VIP frame) of a challenge video.

    Raises
    ------
    InputError
        If the file is missing, unreadable or page 0 is not a 2-D uint8 image.
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            frame = tif.pages[0].asarray()
    except Exception as exc:
        raise InputError(f"{path}: cannot read the VIP frame ({exc})") from exc
    if frame.ndim != 2 or frame.dtype != np.uint8:
        raise InputError(f"{path}: VIP frame must be 2-D uint8, got {frame.shape} {frame.dtype}")
    return frame


def decode_vip_frame(frame: np.ndarray, source: str | Path = "<frame>") -> dict[int, np.ndarray]:
    """Centroids of the labelled VIP particles in page 0 of a video.

    Page 0 has background 255; each VIP is a small blob whose pixel value is its index.

    Parameters
    ----------
    frame : numpy.ndarray
        The VIP frame, 2-D uint8.
    source : path-like
        Named in error messages.

    Returns
    -------
    dict
        ``{vip_index: array([x, y])}`` with x the column and y the row coordinate (pixels).

    Raises
    ------
    InputError
        If the frame holds no labelled pixel.
    """
    labels = np.unique(frame)
    labels = labels[labels != 255]
    if labels.size == 0:
        raise InputError(f"{source}: VIP frame (page 0) holds no labelled particle")
    pixels = {int(lab): np.argwhere(frame == lab) for lab in labels.tolist()}  # (row, col)
    for lab in sorted(pixels, reverse=True):
        pair = _overlap_of(lab, pixels)
        if pair is not None:  # pixels where two blobs overlap belong to both
            for other in pair:
                pixels[other] = np.concatenate([pixels[other], pixels[lab]])
            del pixels[lab]
    return {lab: np.array([px[:, 1].mean(), px[:, 0].mean()])
            for lab, px in sorted(pixels.items())}


def _overlap_of(lab: int, pixels: dict[int, np.ndarray]) -> tuple[int, int] | None:
    """The two VIPs whose overlapping blobs made the value ``lab``, if any.

    andi-datasets draws VIP ``k`` as a mask of value ``k + 1``, adds the masks and subtracts
    1, so where the blobs of ``a`` and ``b`` overlap the pixels read ``a + b + 1``: a value
    that is no VIP (or another VIP's). Such pixels touch both blobs.
    """
    own = pixels[lab]
    if len(own) >= 4:  # a whole blob (2 x 2): a VIP of its own
        return None

    def touches(other: int) -> bool:
        px = pixels[other]
        return bool(np.any(np.max(np.abs(own[:, None, :] - px[None, :, :]), axis=2) <= 1))

    for a in sorted(pixels):
        b = lab - 1 - a
        if a < b and b in pixels and b != lab and a != lab and touches(a) and touches(b):
            return a, b
    return None


# --------------------------------------------------------------------------------------------
# segment labels (fov_*.txt, traj_labs_fov_*.txt)
# --------------------------------------------------------------------------------------------


@dataclass
class TrajectoryLabel:
    """Segmentation of one trajectory, as written on one line of ``fov_<F>.txt``.

    Attributes
    ----------
    idx : int
        Trajectory index (VIP index in Track 1).
    K, alpha, state : numpy.ndarray
        One value per segment.
    cp : numpy.ndarray
        Interior change points (frames from the trajectory's first frame), one fewer than
        segments.
    T : int
        Trajectory length, the end of the last segment.
    """

    idx: int
    K: np.ndarray
    alpha: np.ndarray
    state: np.ndarray
    cp: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    T: int = 0

    def __post_init__(self) -> None:
        self.K = np.atleast_1d(np.asarray(self.K, dtype=np.float64))
        self.alpha = np.atleast_1d(np.asarray(self.alpha, dtype=np.float64))
        self.state = np.atleast_1d(np.asarray(self.state)).astype(np.int64)
        self.cp = np.atleast_1d(np.asarray(self.cp)).astype(np.int64)
        n = self.K.size
        if not (self.alpha.size == n == self.state.size == self.cp.size + 1):
            raise ValueError(
                f"trajectory {self.idx}: {n} K, {self.alpha.size} alpha, {self.state.size} "
                f"state values and {self.cp.size} change points do not describe one segmentation"
            )

    @property
    def n_segments(self) -> int:
        """Number of segments."""
        return int(self.K.size)

    @property
    def lengths(self) -> np.ndarray:
        """Frames in each segment."""
        return np.diff(np.concatenate(([0], self.cp, [self.T]))).astype(np.int64)

    def to_line(self) -> str:
        """Format as ``idx, K_1, alpha_1, state_1, CP_1, ..., K_n, alpha_n, state_n, T``."""
        fields = [str(int(self.idx))]
        bounds = [*self.cp.tolist(), int(self.T)]
        for k, a, s, b in zip(self.K, self.alpha, self.state, bounds, strict=True):
            fields += [_fmt(k), _fmt(a), str(int(s)), str(int(b))]
        return ",".join(fields)


def _fmt(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else str(float(value))


def parse_label_line(line: str, source: str = "<line>") -> np.ndarray:
    """Parse one comma-separated label line into floats, with a clear error on bad text.

    The organisers' reader crashes on a blank line or a trailing comma; this reports the file
    and line instead.
    """
    parts = line.split(",")
    try:
        return np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(i for i, p in enumerate(parts) if not _is_float(p))
        what = "an empty field" if parts[bad].strip() == "" else f"{parts[bad].strip()!r}"
        raise InputError(f"{source}: field {bad + 1} is {what}, not a number") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_label_rows(path: str | Path) -> list[np.ndarray]:
    """Read a label file as raw float rows, one per line.

    Parameters
    ----------
    path : path-like
        A ``fov_<F>.txt`` or ``traj_labs_fov_<F>.txt`` file.

    Returns
    -------
    list of numpy.ndarray
        Each row's numbers in file order (index first).

    Raises
    ------
    InputError
        On a missing file, a blank line (other than a final newline) or a non-numeric field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines, start=1):
        if line.strip() == "":
            raise InputError(f"{path}:{i}: blank line")
        rows.append(parse_label_line(line, f"{path}:{i}"))
    return rows


def row_to_label(row: np.ndarray, source: str = "<row>") -> TrajectoryLabel:
    """Interpret a raw row ``idx, K_1, a_1, s_1, CP_1, ..., T`` as a :class:`TrajectoryLabel`."""
    if row.size < 5 or (row.size - 1) % 4 != 0:
        raise InputError(
            f"{source}: {row.size} fields; a line must have 1 + 4n fields "
            "(idx, then K, alpha, state, CP-or-T per segment)"
        )
    bounds = row[4::4]
    return TrajectoryLabel(
        idx=int(row[0]), K=row[1::4], alpha=row[2::4], state=row[3::4],
        cp=bounds[:-1], T=int(bounds[-1]),
    )


def read_labels(path: str | Path) -> list[TrajectoryLabel]:
    """Read a label file into :class:`TrajectoryLabel` objects."""
    path = Path(path)
    return [row_to_label(r, f"{path}:{i}") for i, r in enumerate(read_label_rows(path), 1)]


def format_labels(labels: Iterable[TrajectoryLabel]) -> str:
    """Text of ``fov_<F>.txt``: one line per trajectory, sorted by index."""
    lines = [lab.to_line() for lab in sorted(labels, key=lambda lab: lab.idx)]
    return "".join(line + "\n" for line in lines)


def write_labels(path: str | Path, labels: Iterable[TrajectoryLabel]) -> Path:
    """Write ``fov_<F>.txt`` atomically (see :func:`format_labels`)."""
    return write_text_atomic(path, format_labels(labels))


# --------------------------------------------------------------------------------------------
# ensemble labels
# --------------------------------------------------------------------------------------------


@dataclass
class EnsembleLabel:
    """Content of ``ensemble_labels.txt``.

    Attributes
    ----------
    model : str
        One of :data:`ENSEMBLE_MODELS`.
    matrix : numpy.ndarray
        5 × N: mean α, variance of α, mean K, variance of K, weight, one column per state.
    """

    model: str
    matrix: np.ndarray

    def __post_init__(self) -> None:
        self.matrix = np.asarray(self.matrix, dtype=np.float64).reshape(5, -1)

    @property
    def num_state(self) -> int:
        """Number of states (columns)."""
        return int(self.matrix.shape[1])

    def to_text(self) -> str:
        """Format exactly as the challenge expects."""
        head = f"model: {self.model}; num_state: {self.num_state}\n"
        body = "".join(";".join(repr(float(v)) for v in row) + "\n" for row in self.matrix)
        return head + body


def write_ensemble(path: str | Path, ens: EnsembleLabel) -> Path:
    """Write ``ensemble_labels.txt`` atomically."""
    return write_text_atomic(path, ens.to_text())


def read_ensemble(path: str | Path) -> EnsembleLabel:
    """Read ``ensemble_labels.txt``.

    Raises
    ------
    InputError
        On a missing file, a malformed header, non-numeric cells or rows of unequal length.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    lines = [ln for ln in path.read_text().splitlines()]
    if not lines:
        raise InputError(f"{path}: empty file")
    header = lines[0]
    model, num_state = _parse_ensemble_header(header, path)
    body = [ln for ln in lines[1:] if ln.strip()]
    if len(body) != 5:
        raise InputError(f"{path}: {len(body)} data rows after the header, expected 5")
    rows = []
    for i, line in enumerate(body, start=2):
        try:
            rows.append([float(v) for v in line.split(";")])
        except ValueError:
            raise InputError(f"{path}:{i}: non-numeric cell in {line!r}") from None
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InputError(f"{path}: rows have different numbers of columns {sorted(widths)}")
    matrix = np.array(rows)
    if num_state is not None and matrix.shape[1] != num_state:
        raise InputError(
            f"{path}: header says num_state {num_state} but rows have {matrix.shape[1]} columns"
        )
    return EnsembleLabel(model=model, matrix=matrix)


def _parse_ensemble_header(header: str, path: Path) -> tuple[str, int | None]:
    fields = {}
    for part in header.split(";"):
        if ":" in part:
            key, val = part.split(":", 1)
            fields[key.strip()] = val.strip()
    if "model" not in fields:
        raise InputError(f"{path}:1: header must read 'model: <name>; num_state: <N>'")
    try:
        num_state = int(fields["num_state"]) if "num_state" in fields else None
    except ValueError:
        raise InputError(f"{path}:1: num_state is not an integer") from None
    return fields["model"], num_state


def format_rows(rows: Sequence[Sequence[float]]) -> str:
    """Comma-join raw rows into label-file text (used by tests and tools)."""
    return "".join(",".join(repr(float(v)) for v in r) + "\n" for r in rows)
