"""Does linking backwards in time keep VIPs better in the first frames?

The hazard of losing a VIP is highest in its first 20 frames (``loss_timing.py``), where a
track has no motion history yet. Linked backwards, those frames come last, after the whole
track's history. Per FOV: detections as the tracker finds them, linked and untangled forwards
and (frame numbers reversed) backwards; each VIP's page-0 centroid picks its track in frame 0
of either; the share of VIP frames within 1 px of the truth per frame range is printed (single
tracks, no VIP continuation logic, so both directions are compared on the same footing)::

    python tests/benchmarks/backward_linking.py data/chal0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from andi2kit import io
from andi2kit.execution import imap_unordered
from andi2kit.tracking import TrackingParams, fov_jobs, link, locate, preprocess
from andi2kit.tracking.evaluate import read_truth
from andi2kit.tracking.groups import untangle_all
from andi2kit.tracking.video import _check_vip_frame
from andi2kit.tracking.vips import match_vips

RANGES = ((0, 6), (6, 21), (21, 51), (0, 200))


def on_vip(job: tuple) -> list[tuple[str, np.ndarray]]:
    suite, exp, fov, video = job
    p = TrackingParams()
    v = io.read_video(video)
    centroids = _check_vip_frame(v[0], video)
    feats = locate(preprocess(v[1:], p.pad), p)
    last = int(feats["frame"].max())
    forward = untangle_all(link(feats, p), p)
    backward = untangle_all(link(feats.assign(frame=last - feats["frame"]), p), p)
    backward["frame"] = last - backward["frame"]
    truth, origin = read_truth(suite / "ref", exp, fov)
    out = []
    for name, tracks in (("forward", forward), ("backward", backward)):
        for vip, pid in match_vips(centroids, tracks[tracks.frame == 0], 3.0).items():
            ok = np.zeros(last + 1, bool)
            if pid is not None:
                t = truth[truth.traj_idx == vip].set_index("frame")
                g = tracks[tracks.particle == pid].set_index("frame")
                common = g.index.intersection(t.index)
                # trajectory x is the image row (y here), shifted by the FOV's origin
                d = np.hypot(g.loc[common, "y"] - (t.loc[common, "x"] - origin[0]),
                             g.loc[common, "x"] - (t.loc[common, "y"] - origin[1]))
                ok[common.to_numpy()[d.to_numpy() <= 1]] = True
            out.append((name, ok))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    jobs = [(args.suite, e, f, v) for e, f, v in fov_jobs(args.suite / "public_data" / "track_1")]
    rows: list[tuple[str, np.ndarray]] = []
    for _job, res, exc in imap_unordered(on_vip, jobs, args.workers):
        if exc is not None:
            print(f"failed: {exc}")
            continue
        rows += res
    print("direction  " + "  ".join(f"frames {a}-{b - 1}" for a, b in RANGES))
    for name in ("forward", "backward"):
        ok = np.array([r for n, r in rows if n == name])
        print(f"{name:9}  " + "  ".join(f"{100 * ok[:, a:b].mean():10.1f} %" for a, b in RANGES)
              + f"  ({len(ok)} VIPs)")


if __name__ == "__main__":
    main()
