"""Detection recall and precision per experiment, against every particle's true position.

On a simulation's cached detections (``tune_tracking.py``'s ``load``: detected once, kept in
``DATA/.detections``), per experiment: particles in view, the median distance from a particle
to its nearest neighbour, the share of true positions with a detection within 1 px
(*recall*) and of detections with a true position within 1 px (*precision*). True positions
are the FOV's Track 2 rows (all particles); positions and detections within 3 px of the
border are left out.

``--by-neighbour`` detects afresh with the tracker's settings for each video (scaled to wider
spots as :func:`andi2kit.tracking.video.params_for_video` does; ``--params`` changes them, a
dict literal) and prints, over every ``--every``-th FOV, the share of true positions with a
detection within 1 px by the distance to the particle's nearest neighbour, and the
detections per particle. Diagnostic only (reads the truth)::

    python tests/benchmarks/detection_quality.py data/dense0
    python tests/benchmarks/detection_quality.py data/wide-psf8 --by-neighbour --every 2 \
        --params "{'split_gain': 0.0}"
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from tune_tracking import load

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, fov_jobs, locate, preprocess
from andi2kit.tracking.evaluate import read_truth
from andi2kit.tracking.video import params_for_video

BORDER = 3.0
TOL = 1.0
#: Bins of the distance from a particle to its nearest neighbour (px), ``--by-neighbour``.
NEIGHBOUR_BINS = [0, 1, 2, 3, 4, 6, np.inf]


def by_neighbour(root: Path, params: TrackingParams, every: int = 1) -> None:
    """Print recall within 1 px by nearest-neighbour distance (see the module docstring)."""
    rows, n_det, n_true = [], 0, 0
    for exp, fov, video in fov_jobs(root / "public_data" / "track_1")[::every]:
        v = io.read_video(video, min_frames=2)
        used, width = params_for_video(v, params)
        feats = locate(preprocess(v[1:], used.pad), used)
        _, origin = read_truth(root / "ref", exp, fov)
        parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
        for t, g in parts.groupby("frame"):
            f = feats[feats["frame"] == t][["y", "x"]].to_numpy()
            xy = np.c_[g["x"] - origin[0], g["y"] - origin[1]]
            near = cKDTree(xy).query(xy, k=2)[0][:, 1] if len(xy) > 1 else np.full(1, np.inf)
            dist = cKDTree(f).query(xy)[0] if len(f) else np.full(len(xy), np.inf)
            rows.append(pd.DataFrame({"near": near, "dist": dist}))
            n_det, n_true = n_det + len(f), n_true + len(xy)
    d = pd.concat(rows)
    d["nearest neighbour (px)"] = pd.cut(d["near"], NEIGHBOUR_BINS)
    t = d.groupby("nearest neighbour (px)", observed=True)["dist"].agg(
        positions="size", recall=lambda x: float(np.mean(x <= TOL)))
    print(f"{root}: spots {width:.2f} px wide (last video); recall within {TOL} px "
          f"{np.mean(d['dist'] <= TOL):.4f}; detections per particle {n_det / n_true:.3f}")
    print(t.round(3).to_string())


def fov_counts(feats: pd.DataFrame, parts: pd.DataFrame) -> dict[str, float]:
    """Hits and totals of one FOV (``parts`` in the detections' pixel frame)."""
    hits_t = n_t = hits_d = n_d = 0
    nearest, in_view = [], []
    dets = {int(t): g[["y", "x"]].to_numpy() for t, g in feats.groupby("frame")}
    for t, g in parts.groupby("frame"):
        d = dets.get(int(t))
        tp = g[["r", "c"]].to_numpy()
        in_view.append(len(tp))
        if d is None or not len(d):
            n_t += len(tp)
            continue
        hits_t += int((cKDTree(d).query(tp)[0] <= TOL).sum())
        n_t += len(tp)
        hits_d += int((cKDTree(tp).query(d)[0] <= TOL).sum())
        n_d += len(d)
        if len(tp) > 1:
            nearest.append(float(np.median(cKDTree(tp).query(tp, k=2)[0][:, 1])))
    return {"hits_t": hits_t, "n_t": n_t, "hits_d": hits_d, "n_d": n_d,
            "nn": float(np.median(nearest)) if nearest else np.nan,
            "N": float(np.median(in_view)) if in_view else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("--by-neighbour", action="store_true",
                    help="recall by nearest-neighbour distance, detected afresh")
    ap.add_argument("--params", default="{}", help="tracker settings to change (dict literal)")
    ap.add_argument("--every", type=int, default=1, help="every N-th FOV (--by-neighbour)")
    args = ap.parse_args()
    root = args.data
    if args.by_neighbour:
        by_neighbour(root, TrackingParams(**ast.literal_eval(args.params)), args.every)
        return
    data = load(root, root / ".detections")
    rows = []
    for (exp, feats, _cent, shape, _truth, origin), (_e, fov, _v) in zip(
            data, fov_jobs(root / "public_data" / "track_1"), strict=True):
        parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
        r, c = parts["x"].to_numpy() - origin[0], parts["y"].to_numpy() - origin[1]
        inside = ((r > BORDER) & (r < shape[0] - BORDER) & (c > BORDER)
                  & (c < shape[1] - BORDER))
        y, x = feats["y"].to_numpy(), feats["x"].to_numpy()
        seen = ((y > BORDER) & (y < shape[0] - BORDER) & (x > BORDER)
                & (x < shape[1] - BORDER))
        rows.append({"exp": exp, **fov_counts(feats[seen], parts[inside].assign(
            r=r[inside], c=c[inside]))})
    df = pd.DataFrame(rows).groupby("exp").agg(
        {"N": "median", "nn": "median", "hits_t": "sum", "n_t": "sum", "hits_d": "sum",
         "n_d": "sum"})
    df["recall %"] = 100 * df["hits_t"] / df["n_t"]
    df["precision %"] = 100 * df["hits_d"] / df["n_d"]
    df = df.rename(columns={"N": "in view", "nn": "nearest px"})
    print(df[["in view", "nearest px", "recall %", "precision %"]].round(1).to_string())


if __name__ == "__main__":
    main()
