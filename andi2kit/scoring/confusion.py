"""Per-frame state confusion of a submission against the reference labels.

The official state F1 is computed on paired segments; where a state is missed, this says
which: every frame of every reference trajectory, its true state against the state of the
predicted segment covering it (``andi2kit score --states``).

See Also
--------
andi2kit.scoring.score.score : the official metrics.
andi2kit.models.evaluate.confusion_table : the per-frame model's own confusion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.constants import STATE_NAMES
from andi2kit.io import read_labels, read_vip_indices

logger = logging.getLogger(__name__)

N_STATES = len(STATE_NAMES)


@dataclass
class StateConfusion:
    """Frame counts of one track: ``counts[true, predicted]`` and the reference frames the
    submission has no label for (``unmatched``: missing trajectories, and frames beyond a
    predicted label's end)."""

    counts: np.ndarray
    unmatched: int = 0

    def __add__(self, other: StateConfusion) -> StateConfusion:
        return StateConfusion(self.counts + other.counts, self.unmatched + other.unmatched)

    def recall(self) -> np.ndarray:
        """``(4,)`` share of each true state's frames called so (NaN where absent)."""
        n = self.counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, np.diag(self.counts) / n, np.nan)

    def normalised(self) -> np.ndarray:
        """Rows divided by their totals (zeros where a state is absent)."""
        return self.counts / np.maximum(self.counts.sum(axis=1, keepdims=True), 1)


def state_confusion(submission: str | Path, ref: str | Path, track: int) -> StateConfusion:
    """Per-frame state confusion of one track of a submission (Track 1: the VIPs of each
    FOV's ``vip_idx`` file, as the scorer takes them).

    Parameters
    ----------
    submission, ref : str or Path
        Submission and reference folders (challenge layout).
    track : int
        1 or 2.

    Examples
    --------
    >>> import tempfile
    >>> from andi2kit.io import write_labels
    >>> from andi2kit.labels import TrajectoryLabel
    >>> root = Path(tempfile.mkdtemp())
    >>> truth = TrajectoryLabel(0, [1.0, 0.1], [1.0, 0.5], [2, 1], [150], 200)
    >>> _ = write_labels(layout.labels_path(root / "ref", 2, 0, 0), [truth])
    >>> guess = TrajectoryLabel(0, [1.0], [1.0], [2], [], 200)
    >>> _ = write_labels(layout.prediction_path(root / "sub", 2, 0, 0), [guess])
    >>> c = state_confusion(root / "sub", root / "ref", 2)
    >>> c.counts[1].tolist(), c.recall().round(2).tolist()[1:3]
    ([0, 0, 50, 0], [0.0, 1.0])
    """
    counts = np.zeros((N_STATES, N_STATES), dtype=np.int64)
    unmatched = 0
    for exp in layout.experiments(ref, track):
        for fov in layout.fovs(ref, track, exp, "labels"):
            pred_file = layout.prediction_path(submission, track, exp, fov)
            pred = {lab.idx: lab for lab in read_labels(pred_file)} \
                if pred_file.is_file() else {}
            labels = read_labels(layout.labels_path(ref, track, exp, fov))
            vip_file = layout.vip_path(ref, exp, fov)
            if track == 1 and vip_file.is_file():  # the VIPs are what Track 1 scores
                vips = set(read_vip_indices(vip_file).tolist())
                labels = [lab for lab in labels if lab.idx in vips]
            for lab in labels:
                guess = pred.get(lab.idx)
                n = 0 if guess is None else min(guess.T, lab.T)
                unmatched += lab.T - n
                if n:
                    np.add.at(counts, (lab.per_frame(lab.state)[:n],
                                       guess.per_frame(guess.state)[:n]), 1)
    logger.debug("track %d: %d frames compared, %d unmatched", track, counts.sum(), unmatched)
    return StateConfusion(counts, unmatched)


def confusion_markdown(c: StateConfusion) -> str:
    """Markdown table: rows the true state, columns the predicted one, then the recall and
    each true state's frames."""
    head = ("| true \\ predicted | " + " | ".join(STATE_NAMES) + " | recall | frames |\n"
            + "|---" * (N_STATES + 3) + "|")
    rows = []
    for s, (name, row, rec) in enumerate(zip(STATE_NAMES, c.normalised(), c.recall(),
                                             strict=True)):
        rec_text = "–" if np.isnan(rec) else f"{rec:.2f}"
        rows.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row)
                    + f" | {rec_text} | {int(c.counts[s].sum())} |")
    return "\n".join([head, *rows])
