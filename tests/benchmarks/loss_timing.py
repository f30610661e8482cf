"""Where the Track 1 score is lost: per VIP, when it is first lost, and its label errors.

Reads what ``andi2kit track-eval ... --scores`` leaves in ``SUITE/tracking-cost/unet``
(the U-Net's predictions on the tracked VIPs, ``tracked``, and with every frame put back on the
VIP, ``kept``) and the tracks in ``SUITE/tracks``; prints, per bin of the frame where each VIP
is first lost (> 1 px for 3 frames running), the VIPs, the share of their frames lost, and
their part of the per-frame squared log1p-K error and absolute α error summed over all VIP
frames::

    python tests/benchmarks/loss_timing.py data/chal1

With ``--by-loss``: per loss (``andi2kit track-eval --losses``), the tracked prediction's
errors over the frames it costs, summed by its cause and by whom the VIP followed::

    python tests/benchmarks/loss_timing.py data/chal1 --by-loss
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import layout
from andi2kit.tracking.evaluate import frame_errors, read_truth
from andi2kit.tracking.video import fov_jobs
from andi2kit.tracking_cost import vip_label_errors

BINS = [-2, -0.5, 5, 20, 60, 120, 200]
NAMES = ["never", "0-5", "6-20", "21-60", "61-120", "121-199"]


def vip_rows(suite: Path) -> pd.DataFrame:
    """Per VIP: the frame where it is first lost (> 1 px for 3 frames running; -1: never),
    the share of its frames lost, and its summed K and α errors per prediction."""
    ref, cost = suite / "ref", suite / "tracking-cost" / "unet"
    if not (cost / "kept").is_dir():
        raise SystemExit(f"{cost}: no predictions; run `andi2kit track-eval "
                         f"{suite}/public_data/track_1 --ref {ref} --tracks {suite}/tracks "
                         "--scores` first")
    rows = []
    for exp, fov, _video in fov_jobs(suite / "public_data" / "track_1"):
        truth, origin = read_truth(ref, exp, fov)
        tracked = pd.read_csv(layout.tracks_path(suite / "tracks", exp, fov))
        tracked = tracked.assign(x=tracked.x + origin[0], y=tracked.y + origin[1])
        dist = frame_errors(tracked, truth)
        errors = {name: vip_label_errors(ref, layout.prediction_path(cost / name, 1, exp, fov),
                                         exp, fov) for name in ("tracked", "kept")}
        for idx in sorted(truth["traj_idx"].unique()):
            n = int((truth["traj_idx"] == idx).sum())  # the VIP's true frames
            lost = dist.loc[dist.traj_idx == idx, "dist"].to_numpy()[:n] > 1
            run = np.convolve(lost, np.ones(3), "valid") == 3
            row = {"exp": exp, "fov": fov, "vip": int(idx),
                   "first": int(np.argmax(run)) if run.any() else -1,
                   "lost": float(lost.mean())}
            for name, per_vip in errors.items():
                _start, k, a = per_vip[int(idx)]
                row[f"K_{name}"], row[f"alpha_{name}"] = float(k.sum()), float(a.sum())
            rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("--by-loss", action="store_true",
                    help="the K and α errors of the frames each loss costs, by its cause and "
                         "by whom the VIP followed (--losses of track-eval)")
    args = ap.parse_args()
    if args.by_loss:
        from rich.console import Console

        from andi2kit.tracking.losses import losses_folder
        from andi2kit.tracking_cost import loss_cost_table, loss_costs

        suite = args.suite
        losses = losses_folder(suite / "public_data", suite / "ref", suite / "tracks")
        costs = loss_costs(losses, suite / "ref", suite / "tracking-cost" / "unet" / "tracked")
        Console(width=120).print(loss_cost_table({"unet": costs}))
        return
    v = vip_rows(args.suite)
    v["first lost"] = pd.cut(v["first"], BINS, labels=NAMES)
    t = v.groupby("first lost", observed=False).agg(
        VIPs=("vip", "size"), lost=("lost", "mean"), K=("K_tracked", "sum"),
        alpha=("alpha_tracked", "sum"))
    t["lost"] = (100 * t["lost"]).round(1)
    t["K share %"] = (100 * t.pop("K") / v["K_tracked"].sum()).round(1)
    t["α share %"] = (100 * t.pop("alpha") / v["alpha_tracked"].sum()).round(1)
    print(t.to_string())
    n = len(v)
    print(f"{n} VIPs; per-frame K sq. log error tracked / kept {v.K_tracked.sum() / 200 / n:.4f}"
          f" / {v.K_kept.sum() / 200 / n:.4f}; α abs error {v.alpha_tracked.sum() / 200 / n:.4f}"
          f" / {v.alpha_kept.sum() / 200 / n:.4f}; the 10 % of VIPs with most K error hold "
          f"{100 * v.K_tracked.nlargest(n // 10).sum() / v.K_tracked.sum():.0f} % of it")


if __name__ == "__main__":
    main()
