"""α MAE and K MSLE of two submissions over the same true segments.

The scorer pairs a trajectory's true and predicted segments one to one and leaves a true
segment without a partner unscored, so a change that finds more change points adds scored
pairs of short segments (whose α no method reads well) and can raise α MAE while every
segment scored before is read as well as it was. This script splits the pairs: those of
true segments paired in both submissions (the like-for-like comparison), and those paired
in one only.

Usage::

    python tests/benchmarks/paired_alpha.py data/wide2/ref SUB_BEFORE SUB_AFTER [--track 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from andi2kit.scoring import metrics as M
from andi2kit.scoring.score import load_experiment, reference_experiments, segment_pairs


def paired_values(trues, preds) -> dict[tuple[int, int], tuple[float, float, float, float]]:
    """``(trajectory position, true segment) -> (true α, predicted α, true K, predicted K)``
    for every pair the scorer scores (trajectories predicted with at least one segment)."""
    by_idx = {}
    for r in preds:
        by_idx.setdefault(r.idx, r)
    out = {}
    for n, t in enumerate(trues):
        p = by_idx.get(t.idx)
        if p is None or p.bounds.size == 0:
            continue
        ti, pi = segment_pairs(t, p)
        for i, j in zip(ti, pi, strict=True):
            out[(n, int(i))] = (t.alpha[i], p.alpha[j], t.K[i], p.K[j])
    return out


def errors(values: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """α MAE and K MSLE of ``(true α, predicted α, true K, predicted K)`` rows, sanitised as
    the scorer sanitises them (NaN for none)."""
    if not values:
        return float("nan"), float("nan")
    v = np.asarray(values, dtype=float)
    state = np.zeros((v.shape[0], 2))
    alpha, K, _ = M.sanitize_pairs(v[:, :2], v[:, 2:], state)
    return M.alpha_mae(alpha[:, 0], alpha[:, 1]), M.k_msle(K[:, 0], K[:, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref", type=Path)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--track", type=int, default=2)
    args = ap.parse_args()
    print("| exp | pairs both | α MAE before → after (both) | K MSLE before → after (both) "
          "| only before: n, α MAE | only after: n, α MAE |")
    print("|---|---|---|---|---|---|")
    pooled = {"both_b": [], "both_a": [], "only_b": [], "only_a": []}
    for exp in reference_experiments(args.ref, args.track):
        trues, pb = load_experiment(args.before, args.ref, args.track, exp)
        _, pa = load_experiment(args.after, args.ref, args.track, exp)
        b, a = paired_values(trues, pb), paired_values(trues, pa)
        both = sorted(set(b) & set(a))
        rows = {"both_b": [b[k] for k in both], "both_a": [a[k] for k in both],
                "only_b": [b[k] for k in sorted(set(b) - set(a))],
                "only_a": [a[k] for k in sorted(set(a) - set(b))]}
        for k, v in rows.items():
            pooled[k] += v
        (ab, kb), (aa, ka) = errors(rows["both_b"]), errors(rows["both_a"])
        print(f"| {exp} | {len(both)} | {ab:.3f} → {aa:.3f} | {kb:.4f} → {ka:.4f} | "
              f"{len(rows['only_b'])}, {errors(rows['only_b'])[0]:.3f} | "
              f"{len(rows['only_a'])}, {errors(rows['only_a'])[0]:.3f} |")
    (ab, kb), (aa, ka) = errors(pooled["both_b"]), errors(pooled["both_a"])
    print(f"| all | {len(pooled['both_b'])} | {ab:.3f} → {aa:.3f} | {kb:.4f} → {ka:.4f} | "
          f"{len(pooled['only_b'])}, {errors(pooled['only_b'])[0]:.3f} | "
          f"{len(pooled['only_a'])}, {errors(pooled['only_a'])[0]:.3f} |")


if __name__ == "__main__":
    main()
