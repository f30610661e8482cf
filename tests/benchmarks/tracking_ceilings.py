"""Ceilings of the Track 1 tracker's identity stages, with decisions taken from the truth.

On a simulation's cached detections (see ``tune_tracking.py``), VIP frames within 1 px when
one stage is replaced by an oracle that knows which true particle each detection belongs to
(the nearest true position within 1 px, from the Track 2 rows of the FOV):

``tracker``
    the tracker as it is (link, untangle, VIP logic);
``no-untangle``
    link and VIP logic only;
``oracle-untangle``
    every contact's keep-or-swap decision taken from the truth (majority true particle of the
    stretches before and after): the most pairwise untangling can give;
``oracle-tracklets``
    tracks cut wherever another detection is within 3 px, the clean pieces joined by their
    true particle: the most a global gap-closing over clean tracklets can give;
``perfect-linking``
    every detection linked to its true particle.

Diagnostic only (it reads ``ref/`` and the Track 2 rows); the pipeline never does::

    python tests/benchmarks/tracking_ceilings.py data/chal0
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from tune_tracking import hit_rates, load

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, link, untangle

MODES = ("tracker", "no-untangle", "oracle-untangle", "oracle-tracklets", "perfect-linking")


def true_ids(tracks: pd.DataFrame, parts: pd.DataFrame, tol: float = 1.0) -> np.ndarray:
    """True particle of each detection (nearest within ``tol`` px), -1 where none."""
    ids = np.full(len(tracks), -1)
    frame = tracks["frame"].to_numpy()
    for t, g in parts.groupby("frame"):
        sel = np.flatnonzero(frame == t)
        if sel.size:
            d, k = cKDTree(g[["x", "y"]].to_numpy()).query(tracks.iloc[sel][["y", "x"]])
            ok = d <= tol
            ids[sel[ok]] = g["traj_idx"].to_numpy()[k[ok]]
    return ids


def _relabel(tracks: pd.DataFrame, label: np.ndarray) -> pd.DataFrame:
    out = tracks.assign(particle=label.astype(np.int64))
    out = out.sort_values(["particle", "frame"], kind="stable")
    return out.drop_duplicates(["particle", "frame"]).reset_index(drop=True)


def _oracle_untangle(tracks: pd.DataFrame, tid: np.ndarray, p: TrackingParams) -> pd.DataFrame:
    mod = sys.modules["andi2kit.tracking.untangle"]
    real = mod._pair_cost

    def by_truth(before, after, _p) -> float:
        b, a = before.mass[before.mass >= 0], after.mass[after.mass >= 0]
        if not b.size or not a.size:
            return 0.0
        same = np.bincount(b.astype(int)).argmax() == np.bincount(a.astype(int)).argmax()
        return 0.0 if same else 10.0

    mod._pair_cost = by_truth  # the true particle rides in the mass column
    try:
        out = mod.untangle(tracks.assign(mass=tid.astype(float)), replace(p, untangle_min=1))
    finally:
        mod._pair_cost = real
    return out


def _oracle_tracklets(tracks: pd.DataFrame, tid: np.ndarray, radius: float = 3.0
                      ) -> pd.DataFrame:
    tracks = tracks.assign(tid=tid)
    amb = np.zeros(len(tracks), dtype=bool)
    for _, g in tracks.groupby("frame"):
        if len(g) > 1:
            d, _ = cKDTree(g[["y", "x"]].to_numpy()).query(g[["y", "x"]].to_numpy(), k=2)
            amb[g.index] = d[:, 1] < radius
    tracks = tracks.assign(amb=amb).sort_values(["particle", "frame"], kind="stable")
    tracks = tracks.reset_index(drop=True)
    pid, a = tracks["particle"].to_numpy(), tracks["amb"].to_numpy()
    seg = np.cumsum(np.r_[True, (pid[1:] != pid[:-1]) | (a[1:] != a[:-1])])
    clean = tracks.assign(seg=seg)[~a]
    major = clean.groupby("seg")["tid"].agg(lambda s: s.value_counts().index[0])
    label = pd.Series(seg).map(major).fillna(-1).to_numpy()
    fresh = 10 ** 6 + np.arange(len(tracks))
    label = np.where(a | (label < 0), fresh, label)
    return _relabel(tracks.drop(columns=["tid", "amb"]), label)


def ceiling(data: list[tuple], root: Path, mode: str, p: TrackingParams) -> pd.Series:
    """VIP frames within 1 px per experiment and overall with ``mode``'s identity stage."""
    fovs: dict[int, int] = {}

    def tracks_of(item: tuple) -> pd.DataFrame:
        exp, feats, _, _, _, origin = item
        fov = fovs[exp] = fovs.get(exp, -1) + 1  # load() lists FOVs in order
        parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
        parts = parts.assign(x=parts["x"] - origin[0], y=parts["y"] - origin[1])
        tracks = link(feats, p)
        if mode == "tracker":
            return untangle(tracks, p)
        if mode == "oracle-untangle":
            return _oracle_untangle(tracks, true_ids(tracks, parts), p)
        if mode == "oracle-tracklets":
            return _oracle_tracklets(tracks, true_ids(tracks, parts))
        if mode == "perfect-linking":
            tid = true_ids(tracks, parts)
            return _relabel(tracks, np.where(tid >= 0, tid, 10 ** 6 + np.arange(len(tid))))
        return tracks  # no-untangle

    return hit_rates(data, tracks_of, p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    args = ap.parse_args()
    data = load(args.data, args.data / ".detections")
    for mode in args.modes.split(","):
        s = ceiling(data, args.data, mode, TrackingParams())
        print(f"{mode:17s} overall {100 * s['overall']:5.1f} %  per exp "
              + " ".join(f"{100 * v:.0f}" for k, v in s.items() if k != "overall"), flush=True)


if __name__ == "__main__":
    main()
