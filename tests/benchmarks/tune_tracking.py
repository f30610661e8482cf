"""Tracking settings on a simulation's videos: VIP frames within 1 px per setting.

Detections are cached per video (``--cache``); each setting then links, untangles and
follows the VIPs again. Tune on one seed of a suite, report on another::

    python tests/benchmarks/tune_tracking.py data/chal0 \\
        "[{}, {'untangle_window': 0}, {'untangle_margin': 4}]"
"""

from __future__ import annotations

import argparse
import ast
import pickle
from dataclasses import replace
from pathlib import Path

import pandas as pd

from andi2kit import io
from andi2kit.tracking import TrackingParams, follow_vips, fov_jobs, link, locate, preprocess
from andi2kit.tracking.evaluate import evaluate_fov, read_truth
from andi2kit.tracking.untangle import untangle


def load(root: Path, cache: Path) -> list[tuple]:
    base = TrackingParams()
    cache.mkdir(parents=True, exist_ok=True)
    data = []
    for exp, fov, video in fov_jobs(root / "public_data" / "track_1"):
        c = cache / f"{exp}_{fov}.pkl"
        if c.is_file():
            feats, cent, shape = pickle.loads(c.read_bytes())
        else:
            v = io.read_video(video, min_frames=2)
            feats = locate(preprocess(v[1:], base.pad), base)
            cent, shape = io.decode_vip_frame(v[0]), v.shape[1:]
            c.write_bytes(pickle.dumps((feats, cent, shape)))
        truth, origin = read_truth(root / "ref", exp, fov)
        data.append((exp, feats, cent, shape, truth, origin))
    return data


def hit_rates(data: list[tuple], tracks_of, p: TrackingParams) -> pd.Series:
    """VIP frames within 1 px per experiment and overall; ``tracks_of(item)`` gives the
    linked (and untangled) tracks of one ``load`` item."""
    rows = []
    for item in data:
        exp, _, cent, shape, truth, origin = item
        v = follow_vips(tracks_of(item), cent, shape, p.expected_frames or 200, p)
        tracked = pd.DataFrame({"traj_idx": v["traj_idx"], "frame": v["frame"],
                                "x": v["row"] + origin[0], "y": v["col"] + origin[1]})
        r = evaluate_fov(tracked, truth)
        rows.append({"exp": exp, "hits": r["hits"], "frames": r["frames"]})
    df = pd.DataFrame(rows)
    per = df.groupby("exp")[["hits", "frames"]].sum()
    out = per["hits"] / per["frames"]
    out["overall"] = df["hits"].sum() / df["frames"].sum()
    return out


def score(data: list[tuple], p: TrackingParams) -> pd.Series:
    """:func:`hit_rates` of the tracker (link, untangle) with settings ``p``."""
    return hit_rates(data, lambda item: untangle(link(item[1], p), p), p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("grid", nargs="?", default="[{}]",
                    help="Python list of dicts of TrackingParams overrides")
    ap.add_argument("--cache", type=Path, default=None,
                    help="detection cache (default: DATA/.detections)")
    args = ap.parse_args()
    data = load(args.data, args.cache or args.data / ".detections")
    for g in ast.literal_eval(args.grid):
        s = score(data, replace(TrackingParams(), **g))
        print(f"{g}  overall {100 * s['overall']:.1f} %  per exp "
              + " ".join(f"{100 * v:.0f}" for k, v in s.items() if k != "overall"), flush=True)


if __name__ == "__main__":
    main()
