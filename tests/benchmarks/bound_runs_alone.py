"""Bound runs alone against the labels: the change points where each trajectory's bound runs
begin and end, by the tolerance rule and by the pair model, scored as the scorer pairs them.

Reads the truth (``ref/``): a diagnostic for tuning suites, never a step of the pipeline. Only
the dimerization experiments of a suite make sense (every change point of theirs is a binding
or a parting)::

    python tests/benchmarks/bound_runs_alone.py data/dimers0 --exps 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from andi2kit import bound_runs, layout, partner_cuts, partners
from andi2kit.io import read_trajectories
from andi2kit.scoring.metrics import ChangePointCounts
from andi2kit.scoring.score import load_records


def fov(suite: Path, exp: int, f: int) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    """Positions and frames of a FOV's trajectories and each one's reference record."""
    df = read_trajectories(layout.trajs_path(suite / "public_data", 2, exp, f))
    truth = {r.idx: r for r in load_records(
        suite / "ref" / "track_2" / f"exp_{exp}" / f"traj_labs_fov_{f}.txt")}
    pos, frames, records = [], [], []
    for idx, g in df.sort_values(["traj_idx", "frame"]).groupby("traj_idx"):
        pos.append(g[["x", "y"]].to_numpy(float))
        frames.append(g["frame"].to_numpy(int))
        records.append(truth[float(idx)])
    return pos, frames, records


def add(counts: ChangePointCounts, bound: list[np.ndarray], records: list) -> None:
    for b, r in zip(bound, records, strict=True):
        counts.add(r.bounds[:-1].astype(int),
                   np.asarray(partner_cuts.partner_change_points(b, min_size=1), int))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("--exps", nargs="+", type=int, help="default: the dimerization ones")
    args = ap.parse_args()
    defs = json.loads((args.suite / "manifest.json").read_text())["definitions"]
    exps = args.exps or [e for e, d in enumerate(defs) if d["model"] == "dimerization"]
    print("| exp | tolerance rule RMSE CP / JSC | pair model RMSE CP / JSC | s |")
    print("|---|---|---|---|")
    for e in exps:
        tol, pair = ChangePointCounts(), ChangePointCounts()
        t0 = time.perf_counter()
        folder = layout.exp_dir(args.suite / "ref", 2, e)
        for f in sorted(int(p.stem.rsplit("_", 1)[1]) for p in folder.glob("traj_labs_fov_*.txt")):
            pos, frames, records = fov(args.suite, e, f)
            bound = partners.bound_frames(pos, frames)
            add(tol, bound, records)
            add(pair, bound_runs.bound_runs(pos, frames, bound), records)
        (r0, j0), (r1, j1) = tol.result(), pair.result()
        print(f"| {e} | {r0:.3f} / {j0:.3f} | {r1:.3f} / {j1:.3f} | "
              f"{time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
