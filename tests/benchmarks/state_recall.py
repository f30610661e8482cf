"""Per-frame state recall of a pipeline's submitted labels, against the reference labels.

Issue 11 sets recall targets per true state (immobile ≥ 0.85, confined ≥ 0.60, directed
≥ 0.80, free ≥ 0.95). The per-frame model's own confusion (``make evaluate-model``) is what
the network says before the experiment-level state stage, the still runs and the
directed-by-α rule; this prints what a submission carries: every frame of every trajectory
of each (submission, reference) pair, its predicted segment's state against its true one,
pooled and per pair::

    python tests/benchmarks/state_recall.py --track 2 \\
        /tmp/experiment-states/dtraps1/ck-D data/dtraps1/ref \\
        /tmp/experiment-states/comp2/ck-D data/comp2/ref
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.constants import STATE_NAMES
from andi2kit.io import read_labels
from andi2kit.labels import TrajectoryLabel

N_STATES = len(STATE_NAMES)


def frame_states(label: TrajectoryLabel) -> np.ndarray:
    """``(T,)`` state of every frame of a label."""
    return label.state[np.searchsorted(label.cp, np.arange(label.T), side="right")]


def confusion(sub: Path, ref: Path, track: int = 2) -> np.ndarray:
    """``(4, 4)`` frame counts, rows the true state, columns the predicted one; a trajectory
    missing from the submission or of another length counts as predicted free."""
    counts = np.zeros((N_STATES, N_STATES), dtype=np.int64)
    for ref_file in sorted(Path(ref, f"track_{track}").glob("exp_*/traj_labs_fov_*.txt")):
        fov = ref_file.stem.rsplit("_", 1)[1]
        exp = int(ref_file.parent.name.split("_")[1])
        pred_file = layout.exp_dir(sub, track, exp) / f"fov_{fov}.txt"
        pred = {lab.idx: lab for lab in read_labels(pred_file)} if pred_file.is_file() else {}
        for lab in read_labels(ref_file):
            truth = frame_states(lab)
            guess = pred.get(lab.idx)
            called = frame_states(guess) if guess is not None and guess.T == lab.T \
                else np.full(lab.T, 2)
            np.add.at(counts, (truth, called), 1)
    return counts


def recall_row(counts: np.ndarray) -> str:
    """Recall per true state (``-`` where the state is absent) and the frames behind it."""
    cells = []
    for s in range(N_STATES):
        n = counts[s].sum()
        cells.append(f"{counts[s, s] / n:.2f} ({n})" if n else "-")
    return " | ".join(cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="SUBMISSION REF pairs")
    ap.add_argument("--track", type=int, default=2)
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give SUBMISSION REF pairs")
    total = np.zeros((N_STATES, N_STATES), dtype=np.int64)
    print("| submission | " + " | ".join(f"{n} recall (frames)" for n in STATE_NAMES) + " |")
    print("|---" * (N_STATES + 1) + "|")
    for sub, ref in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        counts = confusion(Path(sub), Path(ref), args.track)
        total += counts
        print(f"| {sub} | {recall_row(counts)} |")
    print(f"| **pooled** | {recall_row(total)} |")
    norm = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
    print("\nPooled confusion (rows: true state, columns: predicted):\n")
    print("| true \\ predicted | " + " | ".join(STATE_NAMES) + " |")
    print("|---" * (N_STATES + 1) + "|")
    for s, name in enumerate(STATE_NAMES):
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in norm[s]) + " |")


if __name__ == "__main__":
    main()
