"""``andi2kit track-movie`` on simulated videos, every particle scored against the truth.

Each challenge-layout video is tracked as a movie of one's own (:func:`andi2kit.tracking.
track_movie_file`: its VIP frame left out, every particle that lasts ``MIN_LENGTH`` frames
kept). For each true particle in view for at least 20 frames (the FOV's Track 2 rows, which
the tracker never reads), the trajectory nearest to it at its first frame in view, and the
share of its frames in view that trajectory is within 1 px of it; beside it, how many
trajectories were written per true particle. ``--no-match`` tracks with andi-datasets'
settings whatever the spots' width::

    python tests/benchmarks/movie_quality.py data/chal1v data/wide-psf7 [--no-match]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.tracking import fov_jobs, track_movie_file
from andi2kit.tracking.movie import MOVIE_PARAMS

MIN_FRAMES = 20


def score_fov(root: Path, exp: int, fov: int, video: Path, params) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "movie.csv"
        track_movie_file(video, out, params)
        tracked = pd.read_csv(out)
    truth = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
    x0, y0 = np.loadtxt(layout.fov_origin_path(root / "ref", exp, fov), delimiter=",")
    truth = truth.assign(x=truth.x - x0, y=truth.y - y0)  # video pixels: x row, y column
    shape = io.read_video(video, min_frames=2).shape[1:]
    inside = ((truth.x > -0.5) & (truth.x < shape[0] - 0.5)
              & (truth.y > -0.5) & (truth.y < shape[1] - 0.5))
    truth = truth[inside & (truth.frame < tracked.frame.max() + 1)]
    by_frame = {int(f): g for f, g in tracked.groupby("frame")}
    tracks = {int(k): g.set_index("frame") for k, g in tracked.groupby("traj_idx")}
    kept = seen = particles = 0
    for _, g in truth.groupby("traj_idx"):
        if len(g) < MIN_FRAMES:
            continue
        particles += 1
        seen += len(g)
        first = g.iloc[0]
        cand = by_frame.get(int(first.frame))
        if cand is None:
            continue
        d = np.hypot(cand.x - first.x, cand.y - first.y)
        if d.min() > 1.0:
            continue
        t = tracks[int(cand.traj_idx.to_numpy()[np.argmin(d.to_numpy())])]
        on = t.reindex(g.frame.to_numpy())
        dist = np.hypot(on.x.to_numpy() - g.x.to_numpy(), on.y.to_numpy() - g.y.to_numpy())
        kept += int(np.sum(dist <= 1.0))
    return {"exp": exp, "particles": particles, "trajectories": tracked.traj_idx.nunique(),
            "frames": seen, "kept": kept}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, nargs="+", help="simulation folders (with videos)")
    ap.add_argument("--no-match", action="store_true",
                    help="andi-datasets' settings whatever the spots' width")
    args = ap.parse_args()
    params = replace(MOVIE_PARAMS, match_spots=not args.no_match)
    for root in args.data:
        rows = [score_fov(root, e, f, v, params)
                for e, f, v in fov_jobs(root / "public_data" / "track_1")]
        df = pd.DataFrame(rows).groupby("exp").sum()
        df.loc["overall"] = df.sum()
        df["frames kept"] = (100 * df.kept / df.frames).round(1)
        df["trajectories / particle"] = (df.trajectories / df.particles).round(2)
        which = "andi-datasets' settings" if args.no_match else "default: wider spots scaled"
        print(f"{root} ({which})")
        print(df[["particles", "trajectories", "frames kept", "trajectories / particle"]]
              .to_string())


if __name__ == "__main__":
    main()
