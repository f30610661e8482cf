"""How much bound partners' steps correlate, per experiment of Track 2 suites.

Decodes every FOV's bound runs with the pair model (:func:`andi2kit.bound_runs.runs_and_counts`,
as the pipeline does) and prints, per experiment, the correlation of the two partners' steps
over their bound steps (:func:`andi2kit.bound_runs.step_correlation`), how many steps, and
the model the suite's manifest names (the only thing read beside the public trajectories).
Bound partners in andi-datasets take the same displacements, so the correlation of a dimer
whose bound pair moves above the noise is near 1; two independent particles side by side give
about 0. Tune the judgement's thresholds on seed suites, report on others::

    python tests/benchmarks/comoving_steps.py data/scattered8 data/dimers8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import bound_runs, partners
from andi2kit.bound_states import CO_MOVING, MIN_CO_MOVING_STEPS


def experiment_counts(exp_dir: Path) -> list[dict[str, float]]:
    """Per FOV of one experiment's ``trajs_fov_*.csv``, the pair model's step counts."""
    out = []
    for csv in sorted(exp_dir.glob("trajs_fov_*.csv")):
        df = pd.read_csv(csv)
        pos, frames = [], []
        for _, g in df.sort_values("frame").groupby("traj_idx"):
            pos.append(g[["x", "y"]].to_numpy(float))
            frames.append(g["frame"].to_numpy(np.int64))
        out.append(bound_runs.runs_and_counts(pos, frames,
                                              partners.bound_frames(pos, frames))[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suites", nargs="+", type=Path)
    args = ap.parse_args()
    print("| suite | exp | model | bound steps | step correlation | past the thresholds |")
    print("|---|---|---|---|---|---|")
    for suite in args.suites:
        defs = json.loads((suite / "manifest.json").read_text())["definitions"]
        for e, d in enumerate(defs):
            got = bound_runs.step_correlation(
                experiment_counts(suite / "public_data" / "track_2" / f"exp_{e}"))
            if got is None:
                continue
            rho, steps = got
            past = rho >= CO_MOVING and steps >= MIN_CO_MOVING_STEPS  # held states aside
            print(f"| {suite.name} | {e} | {d['model']} | {steps:.0f} | {rho:+.3f} | "
                  f"{'yes' if past else ''} |", flush=True)


if __name__ == "__main__":
    main()
