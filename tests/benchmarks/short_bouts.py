"""Which change points a submission misses, and beside what: per experiment, the scorer's
pairing's TP / FP / FN (:class:`andi2kit.scoring.metrics.ChangePointCounts`) and, for the true
change points with no prediction within the threshold and for those with one, the shorter of
their two true segments and the change of K and α across them::

    python tests/benchmarks/short_bouts.py SUBMISSION data/chal0/ref
    python tests/benchmarks/short_bouts.py SUBMISSION data/chal0v/ref --track 1

On the Track 2 tuning seeds (before :mod:`andi2kit.bouts`) the missed change points of the
multi-state experiments lay next to a true segment of median 8–13 frames, the found ones of
25–35, with K changing tenfold and more across both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from andi2kit.scoring.metrics import CP_THRESHOLD, ChangePointCounts
from andi2kit.scoring.score import load_experiment, reference_experiments


def experiment_rows(sub: Path, ref: Path, track: int, exp: int) -> tuple[ChangePointCounts,
                                                                          np.ndarray,
                                                                          np.ndarray]:
    """Counts, and ``(n, 3)`` rows ``shorter segment, |Δlog10 K|, |Δα|`` of the missed and
    the found true change points of one experiment (read and paired as the scorer does,
    :func:`andi2kit.scoring.score.load_experiment`; found: a prediction closer than the
    scorer's threshold)."""
    trues, preds = load_experiment(sub, ref, track, exp)
    by_idx = {p.idx: p for p in preds}
    counts = ChangePointCounts()
    missed, found = [], []
    for true in trues:
        p = by_idx.get(true.idx)
        if p is None:
            continue
        tb, pc = true.bounds.astype(int), p.bounds[:-1].astype(int)
        counts.add(tb[:-1], pc)
        lengths = np.diff(np.r_[0, tb])
        for k, c in enumerate(tb[:-1]):
            with np.errstate(divide="ignore"):  # immobile: K 0, an infinite change
                dk = abs(np.log10(true.K[k + 1] / true.K[k]))
            row = (min(lengths[k], lengths[k + 1]), dk, abs(true.alpha[k + 1] - true.alpha[k]))
            near = pc.size and np.abs(pc - c).min() < CP_THRESHOLD
            (found if near else missed).append(row)
    return counts, np.reshape(missed, (-1, 3)), np.reshape(found, (-1, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submission", type=Path)
    ap.add_argument("ref", type=Path)
    ap.add_argument("--track", type=int, default=2, choices=(1, 2))
    args = ap.parse_args()
    exps = reference_experiments(args.ref, args.track)
    print("| exp | TP | FP | FN | JSC | missed: n / shorter segment median / < 10 frames / "
          "|Δlog10 K| | found: n / shorter segment median / |Δlog10 K| |")
    print("|---|---|---|---|---|---|---|")
    for exp in exps:
        c, missed, found = experiment_rows(args.submission, args.ref, args.track, exp)
        tp = c.tp + c.tp_empty
        jsc = tp / max(tp + c.fp + c.fn, 1)

        def describe(rows: np.ndarray, share: bool) -> str:
            if not len(rows):
                return "0"
            text = f"{len(rows)} / {np.median(rows[:, 0]):.0f}"
            if share:
                text += f" / {np.mean(rows[:, 0] < 10):.2f}"
            return text + f" / {np.median(rows[:, 1]):.2f}"

        print(f"| {exp} | {c.tp} (+{c.tp_empty} empty) | {c.fp} | {c.fn} | {jsc:.3f} | "
              f"{describe(missed, True)} | {describe(found, False)} |")


if __name__ == "__main__":
    main()
