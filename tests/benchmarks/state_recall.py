"""Per-frame state recall of submitted labels, pooled over several (submission, reference)
pairs: what ``andi2kit score --states`` prints for one, across suites.

Issue 11 sets recall targets per true state (immobile ≥ 0.85, confined ≥ 0.60, directed
≥ 0.80, free ≥ 0.95). The per-frame model's own confusion (``make evaluate-model``) is what
the network says before the experiment-level state stage, the still runs and the
directed-by-α rule; this is what a submission carries::

    python tests/benchmarks/state_recall.py --track 2 \\
        /tmp/experiment-states/dtraps1/ck-D data/dtraps1/ref \\
        /tmp/experiment-states/comp2/ck-D data/comp2/ref
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from andi2kit.constants import STATE_NAMES
from andi2kit.scoring.confusion import (
    N_STATES,
    StateConfusion,
    confusion_markdown,
    state_confusion,
)


def recall_row(c: StateConfusion) -> str:
    """Recall per true state (``-`` where the state is absent) and the frames behind it."""
    return " | ".join("-" if np.isnan(r) else f"{r:.2f} ({int(n)})"
                      for r, n in zip(c.recall(), c.counts.sum(axis=1), strict=True))


def submission_pairs(description: str) -> tuple[list[tuple[Path, Path]], int]:
    """The command line of a script over ``SUBMISSION REF`` pairs: the pairs and ``--track``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("pairs", nargs="+", help="SUBMISSION REF pairs")
    ap.add_argument("--track", type=int, default=2)
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give SUBMISSION REF pairs")
    pairs = [(Path(s), Path(r)) for s, r in zip(args.pairs[::2], args.pairs[1::2], strict=True)]
    return pairs, args.track


def main() -> None:
    pairs, track = submission_pairs(__doc__.splitlines()[0])
    total = StateConfusion(np.zeros((N_STATES, N_STATES), dtype=np.int64))
    print("| submission | " + " | ".join(f"{n} recall (frames)" for n in STATE_NAMES)
          + " | frames without a prediction |")
    print("|---" * (N_STATES + 2) + "|")
    for sub, ref in pairs:
        c = state_confusion(sub, ref, track)
        total = total + c
        print(f"| {sub} | {recall_row(c)} | {c.unmatched} |")
    print(f"| **pooled** | {recall_row(total)} | {total.unmatched} |")
    print("\nPooled confusion:\n")
    print(confusion_markdown(total))


if __name__ == "__main__":
    main()
