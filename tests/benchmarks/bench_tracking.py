"""Time Track 1 tracking per frame: preprocess + locate, link, untangle (pairs and groups),
VIP logic.

Usage: ``python tests/benchmarks/bench_tracking.py [DATA] [--fovs-per-exp 2] [--params DICT]``
(``--params "{'split_gain': 0.0}"``: tracker settings changed, a dict literal)

``DATA`` is a simulated folder (``DATA/public_data/track_1/exp_<E>/videos_fov_<F>.tiff``);
without it the ``test`` preset is simulated into a temporary folder first (about a minute).
Runs in this one process (one core; the numba kernels are not parallel), after a warm-up
video that compiles them, and prints the CPU time per 128 x 128 frame of each stage per
experiment and overall. The target is 15 ms per frame.
"""

from __future__ import annotations

import argparse
import ast
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from andi2kit import io  # noqa: E402
from andi2kit.tracking import (  # noqa: E402
    TrackingParams,
    follow_vips,
    fov_jobs,
    link,
    locate,
    preprocess,
)
from andi2kit.tracking.groups import untangle_all  # noqa: E402

TARGET_MS = 15.0


def time_video(path: Path, params: TrackingParams) -> dict[str, float]:
    """CPU seconds of each stage on one video, and its number of frames and detections."""
    video = io.read_video(path)
    centroids = io.decode_vip_frame(video[0], path)
    n = video.shape[0] - 1
    t0 = time.process_time()
    feats = locate(preprocess(video[1:], params.pad), params)
    t1 = time.process_time()
    tracks = link(feats, params)
    t2 = time.process_time()
    tracks = untangle_all(tracks, params)
    t3 = time.process_time()
    follow_vips(tracks, centroids, video.shape[1:], n, params)
    t4 = time.process_time()
    return {"frames": n, "detections": len(feats), "locate": t1 - t0, "link": t2 - t1,
            "untangle": t3 - t2, "vips": t4 - t3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, nargs="?", default=None)
    ap.add_argument("--fovs-per-exp", type=int, default=2)
    ap.add_argument("--params", default="{}", help="tracker settings to change (dict literal)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    data = args.data
    if data is None:
        from andi2kit.simulation import simulate

        data = Path(tempfile.mkdtemp(prefix="bench_tracking_"))
        print(f"simulating the 'test' preset into {data} ...")
        simulate(data, "test", workers=1, seed=0, video=True, progress=False)
    jobs = [j for j in fov_jobs(data / "public_data" / "track_1") if j[1] < args.fovs_per_exp]
    if not jobs:
        raise SystemExit(f"{data}: no videos under public_data/track_1")
    params = TrackingParams(**ast.literal_eval(args.params))
    time_video(jobs[0][2], params)  # warm-up: compiles the numba kernels
    rows = []
    for exp, fov, path in jobs:
        rows.append({"exp": exp, "fov": fov, **time_video(path, params)})
    stages = ("locate", "link", "untangle", "vips")
    print(f"{'exp':>7} {'FOVs':>5} {'det/frame':>10} "
          + " ".join(f"{s:>8}" for s in stages) + f" {'total ms/frame':>15}")
    for exp in sorted({r["exp"] for r in rows}) + ["overall"]:
        sel = [r for r in rows if exp == "overall" or r["exp"] == exp]
        frames = sum(r["frames"] for r in sel)
        ms = {k: 1e3 * sum(r[k] for r in sel) / frames for k in stages}
        total = sum(ms.values())
        det = sum(r["detections"] for r in sel) / frames
        print(f"{exp!s:>7} {len(sel):>5} {det:>10.1f} "
              + " ".join(f"{ms[k]:>8.2f}" for k in stages) + f" {total:>15.2f}")
    worst = max(1e3 * sum(r[k] for k in stages) / r["frames"] for r in rows)
    print(f"slowest FOV: {worst:.2f} ms/frame (target {TARGET_MS} ms/frame on one core): "
          f"{'met' if worst <= TARGET_MS else 'NOT met'}")
    print(f"numpy {np.__version__}; CPU time (process_time) in this one process")


if __name__ == "__main__":
    main()
