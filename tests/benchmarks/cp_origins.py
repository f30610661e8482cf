"""Where the change points predicted on tracked VIPs come from.

Each change point that ``andi2kit track-eval ... --scores`` predicted on the tracked VIPs
(``SUITE/tracking-cost/unet/tracked``) is put in one of four kinds by what lies within
``--window`` frames of it: a true change point of the VIP (``true``), an identity switch (the
tracked position leaving or rejoining the VIP, > 1 px for 3 frames running: ``switch``), both,
or neither; and whether the tracked VIP is on the VIP (within 1 px) at that frame (``on``) or
on another particle (``off``). A change point of kind ``neither/off`` is another particle's
motion change, which only identity can take away; ``switch`` ones are the jump of a swap,
which a segmentation told where swaps are could drop. Diagnostic only (reads ``ref/``)::

    python tests/benchmarks/cp_origins.py data/dense1 [--window 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.tracking.evaluate import frame_errors, read_truth
from andi2kit.tracking.video import fov_jobs, read_tracks, tracks_path


def change_points(path: Path) -> dict[int, np.ndarray]:
    """``{traj_idx: change points}`` of a ``fov_*.txt`` / ``traj_labs_fov_*.txt`` file."""
    return {lab.idx: np.asarray(lab.cp, dtype=np.int64)
            for lab in io.read_labels(path)}


def switches(off: np.ndarray, frames: np.ndarray, run: int = 3) -> np.ndarray:
    """Frames where a run of at least ``run`` frames off the VIP starts or ends."""
    runs = np.convolve(off.astype(int), np.ones(run, int), "same") >= run
    return frames[np.flatnonzero(np.diff(runs.astype(int)) != 0) + 1]


def kinds(suite: Path, window: int) -> pd.DataFrame:
    pred_root = suite / "tracking-cost" / "unet" / "tracked"
    if not pred_root.is_dir():
        raise SystemExit(f"{pred_root}: no predictions; run `andi2kit track-eval "
                         f"{suite}/public_data/track_1 --ref {suite}/ref --tracks "
                         f"{suite}/tracks --scores` first")
    rows = []
    for exp, fov, _video in fov_jobs(suite / "public_data" / "track_1"):
        pred = change_points(layout.prediction_path(pred_root, 1, exp, fov))
        true = change_points(layout.labels_path(suite / "ref", 1, exp, fov))
        truth, origin = read_truth(suite / "ref", exp, fov)
        tracked = read_tracks(tracks_path(suite / "tracks", exp, fov))
        tracked = tracked.assign(x=tracked["x"] + origin[0], y=tracked["y"] + origin[1])
        err = frame_errors(tracked, truth)
        for vip, e in err.groupby("traj_idx"):
            frames, dist = e["frame"].to_numpy(), e["dist"].to_numpy()
            off = ~(dist <= 1.0)
            sw, tc = switches(off, frames), true.get(int(vip), np.zeros(0, np.int64))
            for c in pred.get(int(vip), []):
                k = min(np.searchsorted(frames, c), frames.size - 1)
                rows.append({"exp": exp,
                             "true": bool(tc.size and np.abs(tc - c).min() <= window),
                             "switch": bool(sw.size and np.abs(sw - c).min() <= window),
                             "on": not off[k]})
    return pd.DataFrame(rows, columns=["exp", "true", "switch", "on"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("--window", type=int, default=3, help="frames either side (default 3)")
    args = ap.parse_args()
    df = kinds(args.suite, args.window)
    kind = np.select([df["true"] & df["switch"], df["true"], df["switch"]],
                     ["both", "true", "switch"], "neither")
    df["kind"] = pd.Series(kind, index=df.index) + np.where(df["on"], "/on", "/off")
    print(pd.crosstab(df["exp"], df["kind"], margins=True, margins_name="all").to_string())


if __name__ == "__main__":
    main()
