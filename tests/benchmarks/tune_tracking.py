"""Tracking settings on a simulation's videos: VIP frames within 1 px per setting.

Detections are cached per video (``--cache``); each setting then links, untangles and
follows the VIPs again. Tune on one seed of a suite, report on another::

    python tests/benchmarks/tune_tracking.py data/chal0 \\
        "[{}, {'untangle_window': 0}, {'untangle_margin': 4}]"

With ``--scores`` each setting's tracks are also written (``--work``/<n>/tracks), the U-Net
pipeline runs on them and the official metrics are printed: what users are scored on.
"""

from __future__ import annotations

import argparse
import ast
import pickle
from dataclasses import replace
from pathlib import Path

import pandas as pd

from andi2kit import io
from andi2kit.constants import BRIGHTNESS
from andi2kit.tracking import TrackingParams, follow_vips, fov_jobs, link, locate, preprocess
from andi2kit.tracking.evaluate import evaluate_fov, read_truth
from andi2kit.tracking.groups import untangle_all


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


def follow_all(data: list[tuple], tracks_of, p: TrackingParams) -> list[pd.DataFrame]:
    """The VIP trajectories (``follow_vips`` output) of every ``load`` item;
    ``tracks_of(item)`` gives the linked (and untangled) tracks of one item."""
    return [follow_vips(tracks_of(item), item[2], item[3], p.expected_frames or 200, p)
            for item in data]


def rates_of(data: list[tuple], vips: list[pd.DataFrame]) -> pd.Series:
    """VIP frames within 1 px per experiment and overall, of :func:`follow_all`'s output."""
    rows = []
    for (exp, _, _, _, truth, origin), v in zip(data, vips, strict=True):
        tracked = pd.DataFrame({"traj_idx": v["traj_idx"], "frame": v["frame"],
                                "x": v["row"] + origin[0], "y": v["col"] + origin[1]})
        r = evaluate_fov(tracked, truth)
        rows.append({"exp": exp, "hits": r["hits"], "frames": r["frames"]})
    df = pd.DataFrame(rows)
    per = df.groupby("exp")[["hits", "frames"]].sum()
    out = per["hits"] / per["frames"]
    out["overall"] = df["hits"].sum() / df["frames"].sum()
    return out


def hit_rates(data: list[tuple], tracks_of, p: TrackingParams) -> pd.Series:
    """VIP frames within 1 px per experiment and overall; ``tracks_of(item)`` gives the
    linked (and untangled) tracks of one ``load`` item."""
    return rates_of(data, follow_all(data, tracks_of, p))


def tracker(p: TrackingParams):
    """``tracks_of`` of the tracker (link, untangle) with settings ``p``."""
    return lambda item: untangle_all(link(item[1], p), p)


def score(data: list[tuple], p: TrackingParams) -> pd.Series:
    """:func:`hit_rates` of the tracker (link, untangle) with settings ``p``."""
    return hit_rates(data, tracker(p), p)


def pipeline_scores(root: Path, data: list[tuple], vips: list[pd.DataFrame], work: Path,
                    workers: int = 2) -> pd.Series:
    """Track 1 U-Net scores (averages) on VIP trajectories (:func:`follow_all` output)."""
    import shutil

    from andi2kit import provenance
    from andi2kit.pipeline import run
    from andi2kit.scoring.score import score_track
    from andi2kit.tracking.video import tracks_path, write_tracks

    shutil.rmtree(work, ignore_errors=True)
    jobs = fov_jobs(root / "public_data" / "track_1")  # load() lists FOVs in this order
    for item, v, (e, fov, video) in zip(data, vips, jobs, strict=True):
        assert item[0] == e
        # the columns `andi2kit track` writes: the state stage and the partner change
        # points read the brightness
        dest = write_tracks(tracks_path(work / "tracks", e, fov), pd.DataFrame(
            {"traj_idx": v["traj_idx"], "frame": v["frame"], "x": v["row"], "y": v["col"],
             "flags": v["flags"], BRIGHTNESS: v[BRIGHTNESS]}))
        # recorded as the default tracker's, so that `run` takes them as they are
        provenance.write_record(dest, provenance.tracks_record(video, TrackingParams()))
    run(root / "public_data", work / "sub", 1, "unet", workers=workers, force=True,
        progress=False, tracks=work / "tracks")
    s = score_track(work / "sub", root / "ref", 1)
    return pd.Series({**s.single, **s.ensemble})


def grid_arguments(description: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark over tracker settings: a simulation with videos, a grid
    of :class:`TrackingParams` overrides and the detection cache (:func:`load`)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("grid", nargs="?", default="[{}]",
                    help="Python list of dicts of TrackingParams overrides")
    ap.add_argument("--cache", type=Path, default=None,
                    help="detection cache (default: DATA/.detections)")
    return ap


def main() -> None:
    ap = grid_arguments(__doc__.splitlines()[0])
    ap.add_argument("--scores", action="store_true",
                    help="also run the U-Net pipeline on each setting's tracks and score it")
    ap.add_argument("--work", type=Path, default=Path("/tmp/tune-tracking"),
                    help="working folder of --scores")
    args = ap.parse_args()
    data = load(args.data, args.cache or args.data / ".detections")
    for n, g in enumerate(ast.literal_eval(args.grid)):
        p = replace(TrackingParams(), **g)
        vips = follow_all(data, tracker(p), p)  # tracked once for both numbers
        s = rates_of(data, vips)
        print(f"{g}  overall {100 * s['overall']:.1f} %  per exp "
              + " ".join(f"{100 * v:.0f}" for k, v in s.items() if k != "overall"), flush=True)
        if args.scores:
            m = pipeline_scores(args.data, data, vips, args.work / str(n))
            print("    U-Net on these tracks: " + "  ".join(
                f"{k} {v:.3f}" for k, v in m.items()), flush=True)


if __name__ == "__main__":
    main()
