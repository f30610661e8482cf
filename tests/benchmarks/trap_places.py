"""Where different particles stood still: the place evidence for traps, per experiment.

For every experiment of each suite's Track 2, :func:`andi2kit.trap_places.place_counts` over
its FOVs (the public trajectories only) and whether :func:`andi2kit.trap_places.holds_traps`
judges it to hold traps, beside the model its labels name (read from ``ref/``, for the
table only)::

    python tests/benchmarks/trap_places.py data/traps0 data/comp0 [--min-pairs 6 ...]
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pandas as pd

from andi2kit import trap_places
from andi2kit.still_runs import StillRuns


def experiment_counts(exp_dir: Path, settings: trap_places.TrapPlaces) -> list[dict]:
    """Per FOV of one experiment's public Track 2 data, its place counts."""
    out = []
    for csv in sorted(exp_dir.glob("trajs_fov_*.csv")):
        df = pd.read_csv(csv).sort_values(["traj_idx", "frame"])
        groups = list(df.groupby("traj_idx"))
        out.append(trap_places.place_counts(
            [g[["x", "y"]].to_numpy() for _, g in groups],
            [int(g["frame"].iloc[0]) for _, g in groups], StillRuns(), settings))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suites", nargs="+", type=Path)
    for f in fields(trap_places.TrapPlaces):
        ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default),
                        default=f.default)
    args = ap.parse_args()
    settings = trap_places.TrapPlaces(**{f.name: getattr(args, f.name)
                                         for f in fields(trap_places.TrapPlaces)})
    print("| suite | exp | model (ref) | runs | pairs | expected | long runs standing | traps |")
    print("|---|---|---|---|---|---|---|---|")
    for suite in args.suites:
        root = suite / "public_data" / "track_2"
        for exp_dir in sorted(root.glob("exp_*"), key=lambda p: int(p.name.split("_")[1])):
            counts = experiment_counts(exp_dir, settings)
            tot = {k: sum(c[k] for c in counts) for k in trap_places.PLACE_COUNTS}
            ens = suite / "ref" / "track_2" / exp_dir.name / "ensemble_labels.txt"
            model = (ens.read_text().split(";")[0].replace("model: ", "")
                     if ens.is_file() else "?")
            print(f"| {suite.name} | {exp_dir.name.split('_')[1]} | {model} | "
                  f"{tot['runs']:.0f} | {tot['pairs']:.0f} | {tot['expected']:.1f} | "
                  f"{tot['standing_runs']:.0f} / {tot['long_runs']:.0f} | "
                  f"{'yes' if trap_places.holds_traps(counts, settings) else ''} |", flush=True)


if __name__ == "__main__":
    main()
