"""A slow state's α from its pooled MSD: on the true segments and on each run's own.

For one Track 2 experiment, pools the displacements of every segment slower than ``--max-K``
(the true segments from ``ref/``, then each submission's), at lags 1 to ``--max-lag``, and
fits ``MSD(τ) = 4 K τ^α + 4 σ²`` as :class:`andi2kit.pooled_msd.PooledMsd` does
(:func:`~andi2kit.pooled_msd.msd_of_segments`, :func:`~andi2kit.pooled_msd.fit_noisy_msd`),
with the mean squared displacement and with the median-based one
(:func:`~andi2kit.pooled_msd.median_msd_of_segments`). Reads the truth: a diagnostic for
tuning suites, never a step of the pipeline::

    python tests/benchmarks/slow_state_msd.py data/comp0 7 SUB_A SUB_B
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit.io import read_labels
from andi2kit.pooled_msd import fit_noisy_msd, median_msd_of_segments, msd_of_segments


def slow_pieces(labels_file: Path, trajs: pd.DataFrame, max_K: float,
                min_length: int = 5) -> list[np.ndarray]:
    """Positions of every segment slower than ``max_K`` of at least ``min_length`` frames."""
    out = []
    for lab in read_labels(labels_file):
        xy = trajs[trajs.traj_idx == lab.idx].sort_values("frame")[["x", "y"]].to_numpy()
        bounds = np.r_[0, np.asarray(lab.cp, int), len(xy)]
        for lo, hi, k in zip(bounds[:-1], bounds[1:], lab.K, strict=True):
            if k < max_K and hi - lo >= min_length:
                out.append(xy[lo:hi])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("exp", type=int)
    ap.add_argument("submissions", nargs="*", type=Path)
    ap.add_argument("--max-K", type=float, default=0.03,
                    help="segments slower than this (the pooled MSD's max_K)")
    ap.add_argument("--true-max-K", type=float, default=None,
                    help="for the true segments (default: --max-K)")
    ap.add_argument("--max-lag", type=int, default=8)
    ap.add_argument("--trim", type=int, default=2)
    args = ap.parse_args()
    exp = f"exp_{args.exp}"
    public = args.suite / "public_data" / "track_2" / exp
    fovs = sorted(int(p.stem.rsplit("_", 1)[1]) for p in public.glob("trajs_fov_*.csv"))
    print("| segments | n | frames | mean MSD: α / K | median MSD: α / K |")
    print("|---|---|---|---|---|")
    for name in ["truth", *args.submissions]:
        pieces: list[np.ndarray] = []
        for fov in fovs:
            trajs = pd.read_csv(public / f"trajs_fov_{fov}.csv")
            if name == "truth":
                f = args.suite / "ref" / "track_2" / exp / f"traj_labs_fov_{fov}.txt"
                max_K = args.true_max_K or args.max_K
            else:
                f = Path(name) / "track_2" / exp / f"fov_{fov}.txt"
                max_K = args.max_K
            pieces += slow_pieces(f, trajs, max_K)
        if not pieces:
            print(f"| {name} | 0 | | | |")
            continue
        fits = [fit_noisy_msd(*msd_of_segments(pieces, args.max_lag, args.trim)),
                fit_noisy_msd(*median_msd_of_segments(pieces, args.max_lag, args.trim))]
        print(f"| {name} | {len(pieces)} | {sum(map(len, pieces))} | "
              + " | ".join(f"{a:.2f} / {k:.5f}" for a, k in fits) + " |")


if __name__ == "__main__":
    main()
