"""Where RMSE CP comes from: the signed offsets of the scorer's change-point pairs.

Pairs every trajectory's predicted change points with the true ones exactly as
``andi2kit score`` does (Hungarian on ``|t - p|``, a pair closer than the threshold is a hit)
and prints, per experiment, how many pairs are exact, one frame early or late, further off,
and which share of the squared error the far pairs (|offset| >= 3) carry. Reads the truth:
a diagnostic for tuning suites, never a step of the pipeline::

    python tests/benchmarks/cp_offsets.py SUBMISSION data/gen-challenge-seed0/ref --track 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from andi2kit.scoring import metrics as M
from andi2kit.scoring.score import load_experiment, reference_experiments


def offsets(trues, preds) -> np.ndarray:
    """Signed offsets (predicted − true) of the hit pairs of one experiment."""
    by_idx = {r.idx: r for r in preds}
    out: list[np.ndarray] = []
    for t in trues:
        p = by_idx.get(t.idx)
        if p is None:
            continue
        tc, pc = t.bounds[:-1].astype(int), p.bounds[:-1].astype(int)
        if tc.size == 0 or pc.size == 0:
            continue
        d = -M.paired_offsets(tc, pc)
        out.append(d[np.abs(d) < M.CP_THRESHOLD])
    return np.concatenate(out) if out else np.zeros(0, int)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submission", type=Path)
    ap.add_argument("ref", type=Path)
    ap.add_argument("--track", type=int, default=2, choices=(1, 2))
    args = ap.parse_args()
    print("| exp | pairs | exact | -1 | +1 | <= -2 | >= 2 | RMSE | share of d² from |d| >= 3 |")
    print("|---|---|---|---|---|---|---|---|---|")
    every = []
    for e in reference_experiments(args.ref, args.track):
        d = offsets(*load_experiment(args.submission, args.ref, args.track, e))
        every.append(d)
        print(_row(str(e), d))
    print(_row("**all**", np.concatenate(every) if every else np.zeros(0, int)))


def _row(name: str, d: np.ndarray) -> str:
    if d.size == 0:
        return f"| {name} | 0 | | | | | | | |"
    sq = d.astype(float) ** 2
    far = sq[np.abs(d) >= 3].sum() / sq.sum() if sq.sum() else 0.0
    pct = [100 * np.mean(m) for m in (d == 0, d == -1, d == 1, d <= -2, d >= 2)]
    return (f"| {name} | {d.size} | " + " | ".join(f"{p:.0f} %" for p in pct)
            + f" | {np.sqrt(sq.mean()):.3f} | {100 * far:.0f} % |")


if __name__ == "__main__":
    main()
