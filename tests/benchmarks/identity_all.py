"""Identity kept from first sight, over every particle of a video, per tracker setting.

The VIP frames within 1 px (``tune_tracking.py``) rest on 10 VIPs per video: one swap moves an
experiment's rate by several points. This diagnostic asks the same of every particle in view:
for each true particle seen for at least ``--min-frames`` frames, the track that holds it at
its first detected frame, and the share of its later frames that track is within 1 px of it
(about 10 times the VIPs' sample). It measures the linker and the untangler alone (no VIP
logic: no frame-0 matching, re-acquisition or gap filling). Reads the Track 2 rows of each
FOV (the truth); the pipeline never does::

    python tests/benchmarks/identity_all.py data/chal0v "[{}, {'untangle_margin': 3}]"

With ``--clear R`` the frames where another particle is within ``R`` px are not counted: a
track that waits while its particle shares another's spot (and takes it back where they part)
loses those frames here, while the VIP logic's gap filling gives them back, so a tracker that
never waits would look better than it keeps identity (twenty-seventh session: merged spots
split in two gained 0.4 points on the challenge tuning seed over all frames and lost 0.8 with
``--clear 2.5``).

A setting is a dict of :class:`~andi2kit.tracking.TrackingParams` overrides; ``linker``
``'trackpy'`` with ``predict`` a number ``n`` > 0 links with trackpy's
``NearestVelocityPredict(span=n)`` (``TrackingParams.predict``).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, fov_jobs, link
from andi2kit.tracking.groups import untangle_all

sys.path.insert(0, str(Path(__file__).parent))
from tune_tracking import grid_arguments, load  # noqa: E402

#: The field's inner margin (px): particles closer to the edge are not counted there.
EDGE = 1.0


def crowded_frames(truth: pd.DataFrame, radius: float) -> set[tuple[int, int]]:
    """``(traj_idx, frame)`` of every particle with another within ``radius`` px."""
    out: set[tuple[int, int]] = set()
    if radius <= 0:
        return out
    for t, g in truth.groupby("frame"):
        idx = g["traj_idx"].to_numpy()
        for a, b in cKDTree(g[["row", "col"]].to_numpy()).query_pairs(radius):
            out.update({(int(idx[a]), int(t)), (int(idx[b]), int(t))})
    return out


def kept_from_first_sight(tracks: pd.DataFrame, truth: pd.DataFrame, shape: tuple[int, int],
                          min_frames: int = 20, tol: float = 1.0, clear: float = 0.0
                          ) -> tuple[int, int]:
    """Frames (hits, total) on the track that held each true particle first.

    ``tracks``: linked detections (``y, x, frame, particle``, frame pixels); ``truth``: every
    particle (``traj_idx, frame, row, col`` in the same pixels). With ``clear`` > 0 the frames
    where another particle is that close are left out of both counts.
    """
    crowded = crowded_frames(truth, clear)
    by_frame = {int(t): g for t, g in tracks.groupby("frame")}
    trees = {t: cKDTree(g[["y", "x"]].to_numpy()) for t, g in by_frame.items()}
    held = {int(p): g.drop_duplicates("frame").set_index("frame")[["y", "x"]]
            for p, g in tracks.groupby("particle")}
    hits = total = 0
    for idx, g in truth.groupby("traj_idx"):
        g = g.sort_values("frame")
        xy, fr = g[["row", "col"]].to_numpy(), g["frame"].to_numpy()
        inside = ((xy > EDGE) & (xy < np.asarray(shape) - EDGE)).all(axis=1)
        xy, fr = xy[inside], fr[inside]
        if fr.size < min_frames:
            continue
        first = None
        for k in range(min(5, fr.size)):  # first sight: a detection within tol
            t = int(fr[k])
            if t in trees:
                dist, j = trees[t].query(xy[k])
                if dist <= tol:
                    first = (k, int(by_frame[t]["particle"].iloc[j]))
                    break
        if first is None:
            continue
        k0, pid = first
        track = held[pid].reindex(fr[k0:])
        dist = np.hypot(*(track.to_numpy() - xy[k0:]).T)
        counted = np.array([(int(idx), int(t)) not in crowded for t in fr[k0:]], dtype=bool)
        hits += int(np.sum((dist <= tol) & counted))
        total += int(counted.sum())
    return hits, total


def truth_pixels(root: Path, exp: int, fov: int, origin: np.ndarray) -> pd.DataFrame:
    """Every particle of a FOV in frame pixels (``row, col``; ``origin`` the FOV's)."""
    parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
    return parts.assign(row=parts["x"] - origin[0], col=parts["y"] - origin[1])


def main() -> None:
    ap = grid_arguments(__doc__.splitlines()[0])
    ap.add_argument("--min-frames", type=int, default=20)
    ap.add_argument("--clear", type=float, default=0.0,
                    help="leave out frames with another particle this close (px)")
    args = ap.parse_args()
    data = load(args.data, args.cache or args.data / ".detections")
    jobs = fov_jobs(args.data / "public_data" / "track_1")
    # load() lists the FOVs in fov_jobs' order, with each FOV's origin
    truths = [truth_pixels(args.data, e, f, item[5])
              for (e, f, _), item in zip(jobs, data, strict=True)]
    for g in ast.literal_eval(args.grid):
        p = replace(TrackingParams(), **g)
        per: dict[int, list[int]] = {}
        for (exp, feats, _cent, shape, _t, _o), truth in zip(data, truths, strict=True):
            h, n = kept_from_first_sight(untangle_all(link(feats, p), p), truth, shape,
                                         args.min_frames, clear=args.clear)
            acc = per.setdefault(exp, [0, 0])
            acc[0] += h
            acc[1] += n
        hits = sum(v[0] for v in per.values())
        total = sum(v[1] for v in per.values())
        print(f"{g}  all {100 * hits / max(total, 1):.2f} % of {total}  per exp "
              + " ".join(f"{100 * h / max(n, 1):.1f}" for _, (h, n) in sorted(per.items())),
              flush=True)


if __name__ == "__main__":
    main()
