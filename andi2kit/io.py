"""Reading challenge inputs and writing challenge outputs (the types are in
:mod:`andi2kit.labels`).

Inputs are read defensively (every problem names its file); outputs are written atomically
(temporary file in the same folder, then ``os.replace``), so an interrupted run never leaves a
half-written ``fov_*.txt`` that a resumed run would mistake for finished work.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from andi2kit.errors import InputError
from andi2kit.labels import EnsembleLabel, TrajectoryLabel, parse_label_line, row_to_label

#: The only columns the predictors may see. Simulated CSVs carry ground truth beside them.
TRAJ_COLUMNS = ("traj_idx", "frame", "x", "y")

#: Most frames one trajectory may span (challenge videos have 200; more is a broken file).
MAX_SPAN = 100_000


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
    return _write_atomic(path, "w", text, newline="\n")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (as
    :func:`write_text_atomic`)."""
    return _write_atomic(path, "wb", data)


def _write_atomic(path: str | Path, mode: str, content: str | bytes, **open_args) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            fh.write(content)
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


def _read_pages(path: str | Path, min_frames: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            pages = [page.asarray() for page in tif.pages]
    except Exception as exc:
        raise InputError(f"{path}: cannot read TIFF ({exc})") from exc
    if len(pages) == 1 and pages[0].ndim == 3 and pages[0].shape[-1] > 4:
        pages = list(pages[0])  # one page holding the whole stack (not colour channels)
    if len(pages) < min_frames:
        raise InputError(f"{path}: {len(pages)} page(s), need at least {min_frames}")
    shapes = {p.shape for p in pages}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(f"{path}: pages must be 2-D greyscale images of one size, got {shapes}")
    return np.stack(pages)


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

    See Also
    --------
    read_movie : any greyscale TIFF stack.
    """
    video = _read_pages(path, min_frames)
    if video.dtype != np.uint8:
        raise InputError(f"{path}: expected uint8 pixels, got {video.dtype}")
    return video


def read_movie(path: str | Path, min_frames: int = 2) -> np.ndarray:
    """Read a microscope's TIFF stack: every page a greyscale frame of one size.

    Parameters
    ----------
    path : path-like
        A multi-page TIFF (or one page holding a 3-D stack).
    min_frames : int
        Fewest frames accepted.

    Returns
    -------
    numpy.ndarray
        ``(frames, height, width)``, the file's own pixel type (8 or 16-bit integers or
        floats).

    Raises
    ------
    InputError
        If the file is missing or unreadable, has too few frames, colour or mixed-size
        pages, or pixels that are not real numbers.
    """
    movie = _read_pages(path, min_frames)
    if not (np.issubdtype(movie.dtype, np.integer) or np.issubdtype(movie.dtype, np.floating)):
        raise InputError(f"{path}: expected integer or float pixels, got {movie.dtype}")
    if np.issubdtype(movie.dtype, np.floating) and not np.isfinite(movie).all():
        raise InputError(f"{path}: pixels that are not finite numbers")
    return movie


def read_vip_indices(path: str | Path) -> np.ndarray:
    """The VIP indices of a reference ``vip_idx_fov_<F>.txt`` (one per line, written as
    integers or as floats), as ``int64``."""
    return np.atleast_1d(np.loadtxt(path)).astype(np.int64)


def read_vip_frame(path: str | Path) -> np.ndarray:
    """Read only page 0 (the VIP frame) of a challenge video.

    Raises
    ------
    InputError
        If the file is missing, unreadable or page 0 is not a 2-D uint8 image.
    """
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


def read_fov_origin(path: str | Path) -> np.ndarray:
    """Read a ``fov_origin_fov_<F>.txt`` file.

    Returns
    -------
    numpy.ndarray
        ``array([x0, y0])`` (float): video pixel ``(row, col) = (x - x0, y - y0)``.
    """
    text = Path(path).read_text().strip()
    try:
        x0, y0 = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{path}: expected 'x0,y0', got {text!r}") from None
    return np.array([x0, y0])


# --------------------------------------------------------------------------------------------
# segment labels (fov_*.txt, traj_labs_fov_*.txt)
# --------------------------------------------------------------------------------------------


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
