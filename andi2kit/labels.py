"""The challenge's answer types and the one parser of a label line.

A label line (``fov_<F>.txt``, ``traj_labs_fov_<F>.txt``) reads
``idx, K_1, alpha_1, state_1, CP_1, ..., K_n, alpha_n, state_n, T``.
:func:`parse_label_line` turns its text into numbers and :class:`LabelRow` splits the numbers
into fields as the organisers' ``separate_prediction_values`` does; reading
(:func:`andi2kit.io.read_labels`), scoring (:mod:`andi2kit.scoring.score`) and checking
(:mod:`andi2kit.validation`) all go through these two, and differ only in what they accept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from andi2kit.errors import InputError

# --------------------------------------------------------------------------------------------
# segment labels (one line of fov_*.txt, traj_labs_fov_*.txt)
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

    def per_frame(self, values: np.ndarray) -> np.ndarray:
        """``(T,)`` one value per segment spread over its frames.

        >>> lab = TrajectoryLabel(0, [1.0, 0.1], [1.0, 0.5], [2, 1], [3], 5)
        >>> lab.per_frame(lab.state).tolist()
        [2, 2, 2, 1, 1]
        """
        return np.asarray(values)[np.searchsorted(self.cp, np.arange(self.T), side="right")]

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


@dataclass
class LabelRow:
    """The numbers of one label line split into fields, as the organisers'
    ``separate_prediction_values`` does (whatever the field count).

    Attributes
    ----------
    idx : float
        Trajectory index (first field).
    K, alpha, state : numpy.ndarray
        Fields ``1, 5, 9, ...``, ``2, 6, ...`` and ``3, 7, ...``.
    bounds : numpy.ndarray
        Fields ``4, 8, ...``: change points then T (may be empty on a malformed line).
    """

    idx: float
    K: np.ndarray
    alpha: np.ndarray
    state: np.ndarray
    bounds: np.ndarray

    @classmethod
    def split(cls, row: np.ndarray) -> LabelRow:
        """Split a parsed line (:func:`parse_label_line`)."""
        return cls(row[0], row[1::4], row[2::4], row[3::4], row[4::4])

    @staticmethod
    def well_formed(row: np.ndarray) -> bool:
        """True when ``row`` has ``1 + 4n`` fields, n >= 1 (a complete segmentation)."""
        return row.size >= 5 and (row.size - 1) % 4 == 0


def row_to_label(row: np.ndarray, source: str = "<row>") -> TrajectoryLabel:
    """Interpret a raw row ``idx, K_1, a_1, s_1, CP_1, ..., T`` as a :class:`TrajectoryLabel`."""
    if not LabelRow.well_formed(row):
        raise InputError(
            f"{source}: {row.size} fields; a line must have 1 + 4n fields "
            "(idx, then K, alpha, state, CP-or-T per segment)"
        )
    fields = LabelRow.split(row)
    return TrajectoryLabel(
        idx=int(fields.idx), K=fields.K, alpha=fields.alpha, state=fields.state,
        cp=fields.bounds[:-1], T=int(fields.bounds[-1]),
    )



# --------------------------------------------------------------------------------------------
# ensemble labels (ensemble_labels.txt)
# --------------------------------------------------------------------------------------------


@dataclass
class EnsembleLabel:
    """Content of ``ensemble_labels.txt``.

    Attributes
    ----------
    model : str
        One of :data:`~andi2kit.constants.MODEL_NAMES`.
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


# --------------------------------------------------------------------------------------------
# the organisers' label smoothing (their reference labels went through it)
# --------------------------------------------------------------------------------------------


def _majority(dummy: np.ndarray, window: int = 5) -> np.ndarray:
    """Sliding-window mode (smallest value on ties), like the organisers' ``majority_filter``."""
    h = window // 2
    n = dummy.size
    out = dummy.copy()
    change = np.flatnonzero(dummy[1:] != dummy[:-1])
    # only frames within half a window of a change can differ from their own value
    near = np.unique(np.clip((change[:, None] + np.arange(-h + 1, h + 1)[None, :]).ravel(),
                             0, n - 1))
    for i in near:
        vals, counts = np.unique(dummy[max(i - h, 0):min(i + h + 1, n)], return_counts=True)
        out[i] = vals[np.argmax(counts)]
    return out


def _min_segments(data: np.ndarray, min_seg: int = 3) -> np.ndarray:
    """Merge runs shorter than ``min_seg`` into the previous run (or the next, for the first)."""
    starts = np.concatenate(([0], np.flatnonzero(data[1:] != data[:-1]) + 1))
    ends = np.concatenate((starts[1:] - 1, [data.size - 1]))
    segs = [[data[s], s, e] for s, e in zip(starts, ends, strict=True)]
    i = 0
    while i < len(segs):
        if segs[i][2] - segs[i][1] + 1 < min_seg:
            if i > 0:
                segs[i - 1][2] = segs[i][2]
                segs.pop(i)
                continue
            if i < len(segs) - 1:
                segs[i] = [segs[i + 1][0], segs[i][1], segs[i + 1][2]]
                segs.pop(i + 1)
                continue
        i += 1
    out = np.empty_like(data)
    for v, s, e in segs:
        out[s:e + 1] = v
    return out


def label_filter(label: np.ndarray, window: int = 5, min_seg: int = 3) -> np.ndarray:
    """The organisers' label smoothing (majority filter, then minimum run length), fast.

    Gives the same output as ``andi_datasets.utils_challenge.label_filter`` (checked in
    ``tests/test_training_data.py``) in a fraction of the time, which otherwise dominates
    data generation.
    """
    label = np.asarray(label)
    if label.size < 2 or np.all(label[1:] == label[:-1]):
        return label
    values, first = np.unique(label, return_index=True)
    order = np.argsort(first)  # labels numbered by first occurrence, as theirs
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    dummy = rank[np.searchsorted(values, label)].astype(float)
    final = _min_segments(_majority(dummy, window), min_seg)
    return values[order][final.astype(int)].astype(float)
