"""How much the cues of a Track 1 video say about identity at an encounter.

On a simulation's cached detections (see ``tune_tracking.py``), two diagnostics that read the
truth (the Track 2 rows of each FOV), never used by the pipeline:

1. **Brightness**: the fitted amplitude of isolated spots (no other particle within 6 px,
   detection within 0.5 px of its particle), relative to its frame's median spot: its scatter
   within one particle (per frame) against the scatter of the particles' means.
2. **Contact decisions**: every contact of two linked tracks (closer than ``contact_radius``)
   whose four stretches (before / after, ``untangle_window`` frames) lie mostly on two true
   particles, labelled *keep* or *swap* from the truth. For those the untangler judges (all
   four stretches ≥ ``untangle_min`` frames): how many decisions the untangler's rule gets
   right, how many logistic regressions on the same cues get right (5-fold cross-validation),
   and how many a step-variance motion term with a dead zone would.

::

    python tests/benchmarks/identity_cues.py data/chal0 [--cache DIR] [--brightness-only]

The detection cache (``tune_tracking.py``'s, made by the current detection settings on first
use) must be made again after a change of the detection: pass a new ``--cache``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from tracking_ceilings import true_ids
from tune_tracking import load

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, link

U = importlib.import_module("andi2kit.tracking.untangle")  # the package exports the function


def isolated_spots(feats: pd.DataFrame, parts: pd.DataFrame, origin, alone: float = 6.0
                   ) -> pd.DataFrame:
    """The detections of one FOV that lie within 0.5 px of a true particle with no other
    particle within ``alone`` px: ``pid`` (its ``traj_idx``), ``frame``, ``mass``, ``rel``
    (the mass over the frame's median detection) and the fitted position's distance from its
    pixel's centre, ``d1`` (summed over the axes) and ``d2`` (squared)."""
    rows = []
    for t, g in feats.groupby("frame"):
        tr = parts[parts["frame"] == t]
        if len(tr) < 2:
            continue
        xy = np.c_[tr["x"] - origin[0], tr["y"] - origin[1]]
        tree = cKDTree(xy)
        yx = g[["y", "x"]].to_numpy()
        d, k = tree.query(yx)
        iso = tree.query(xy, k=2)[0][k, 1]
        mass = g["mass"].to_numpy()
        ok = (d < 0.5) & (iso > alone)
        off = np.abs(yx - np.round(yx))[ok]
        rows.append(pd.DataFrame({
            "pid": tr["traj_idx"].to_numpy()[k][ok], "frame": int(t), "mass": mass[ok],
            "rel": mass[ok] / np.median(mass), "d1": off.sum(axis=1),
            "d2": (off ** 2).sum(axis=1)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["pid", "frame", "mass", "rel", "d1", "d2"])


def brightness(data: list[tuple], root: Path) -> dict[str, float]:
    """Statistics of the fitted amplitude of isolated spots.

    ``within``: median per-particle CV of the amplitude relative to its frame's median spot;
    ``between``: CV of the particles' means; ``frame``: scatter of the factor that all spots
    of a frame share (the mean of their amplitudes over their particles' means, frames with
    at least 4 isolated spots); ``b``, ``c``: the fit ``log(amplitude / particle mean) = a + b
    (d_r + d_c) + c (d_r² + d_c²)`` on the distances of the fitted position from the nearest
    pixel centre (the Gaussian fitted to an andi-datasets spot reads brighter on a pixel
    centre than on a corner; dividing it out measured worse, see docs/results-log.md);
    ``within_raw``: the per-particle CV of the amplitude itself.
    """
    rows = []
    fovs: dict[int, int] = {}
    for exp, feats, _, _, _, origin in data:
        fov = fovs[exp] = fovs.get(exp, -1) + 1
        parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
        spots = isolated_spots(feats, parts, origin)
        key = 100 * exp + fov
        rows.append(spots.assign(pid=spots["pid"] + 10 ** 6 * key,
                                 frame=key * 10 ** 4 + spots["frame"]))
    df = pd.concat(rows)
    df = df[df.groupby("pid")["rel"].transform("size") >= 20]
    by = df.groupby("pid")
    m = by["rel"]
    own = df["mass"] / by["mass"].transform("mean")
    X = np.c_[np.ones(len(df)), df["d1"], df["d2"]]
    coef = np.linalg.lstsq(X, np.log(own.to_numpy()), rcond=None)[0]
    per_frame = own.groupby(df["frame"])
    shared = per_frame.mean()[per_frame.size() >= 4]
    means = m.mean()
    return {"within": float((m.std() / m.mean()).median()),
            "within_raw": float(by["mass"].std().div(by["mass"].mean()).median()),
            "between": float(np.std(means / means.mean())), "frame": float(shared.std()),
            "b": float(coef[1]), "c": float(coef[2])}


def _stretch(rows_of, frame, pos, mass, tid, merged, i, lo, hi):
    """A stretch of track ``i`` and its majority true particle (-1: none)."""
    r = rows_of[i]
    r = r[(frame[r] >= lo) & (frame[r] <= hi)]
    r = r[np.argsort(frame[r], kind="stable")]
    t = tid[r][tid[r] >= 0]
    return (U.Stretch(frame[r], pos[r], mass[r], merged),
            np.bincount(t).argmax() if t.size else -1)


def contact_table(data: list[tuple], root: Path, p: TrackingParams) -> pd.DataFrame:
    """One row per contact: truth (keep / swap / other) and the cost differences swap - keep
    of each cue."""
    rows, fovs = [], {}
    w = p.untangle_window
    for exp, feats, _, _, _, origin in data:
        fov = fovs[exp] = fovs.get(exp, -1) + 1
        parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
        parts = parts.assign(x=parts["x"] - origin[0], y=parts["y"] - origin[1])
        tr = link(feats, p)
        tid = true_ids(tr, parts)
        frame, pos, mass = tr["frame"].to_numpy(), tr[["y", "x"]].to_numpy(), tr["mass"].to_numpy()
        rows_of = {int(k): np.asarray(v) for k, v in tr.groupby("particle").indices.items()}
        arrays = (rows_of, frame, pos, mass, tid, p.encounter_merged)

        def stretch(i, lo, hi, arrays=arrays):
            return _stretch(*arrays, i, lo, hi)

        for e in U.contacts(tr, p.contact_radius).itertuples(index=False):
            (bi, ti0), (bj, tj0) = (stretch(k, e.start - w, e.start - 1) for k in (e.i, e.j))
            (ai, ti1), (aj, tj1) = (stretch(k, e.end + 1, e.end + w) for k in (e.i, e.j))
            if min(bi.n, bj.n, ai.n, aj.n) < 1:
                continue
            truth = ("keep" if (ti0, tj0) == (ti1, tj1) else "swap" if (ti0, tj0) == (tj1, ti1)
                     else "other")
            if min(ti0, tj0, ti1, tj1) < 0:
                truth = "other"
            amp = [U._brightness_cost(b, a, p) for b, a in ((bi, ai), (bj, aj), (bi, aj), (bj, ai))]
            full = [U.pair_cost(b, a, p) for b, a in ((bi, ai), (bj, aj), (bi, aj), (bj, ai))]
            var = [float(np.mean(s.d1 ** 2)) if s.d1.size >= 4 else np.nan
                   for s in (bi, bj, ai, aj)]
            rows.append({"truth": truth, "n": min(bi.n, bj.n, ai.n, aj.n),
                         "rule": full[2] + full[3] - full[0] - full[1],
                         "amp": amp[2] + amp[3] - amp[0] - amp[1],
                         "v": var, "m": [min(s.d1.size, 80) for s in (bi, bj, ai, aj)]})
    return pd.DataFrame(rows)


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="detection cache (default: DATA/.detections)")
    ap.add_argument("--brightness-only", action="store_true")
    ap.add_argument("--set", default="{}", help="TrackingParams overrides (a Python dict)")
    args = ap.parse_args()
    p = replace(TrackingParams(), **ast.literal_eval(args.set))
    data = load(args.data, args.cache or args.data / ".detections")
    b = brightness(data, args.data)
    print(f"brightness of isolated spots: {100 * b['within']:.1f} % per frame within a "
          f"particle relative to the frame's median spot ({100 * b['within_raw']:.1f} % as "
          f"fitted), {100 * b['between']:.1f} % between particles' means; a factor shared "
          f"by a frame's spots scatters by {100 * b['frame']:.1f} %; sub-pixel dependence "
          f"(b, c) = ({b['b']:.3f}, {b['c']:.3f})")
    if args.brightness_only:
        return
    c = contact_table(data, args.data, p)
    print("contacts:", c["truth"].value_counts().to_dict())
    j = c[c["truth"].isin(["keep", "swap"]) & (c["n"] >= p.untangle_min)].copy()
    y = (j["truth"] == "swap").to_numpy()
    rule = (j["rule"] < -p.untangle_margin).to_numpy()
    print(f"judged {len(j)}: the untangler's rule right {int((rule == y).sum())} "
          f"({int((rule & ~y).sum())} false swaps, {int((~rule & y).sum())} missed swaps)")
    cont = (j["rule"] - p.untangle_amp * j["amp"]).to_numpy()
    lv = np.log(np.array(j["v"].tolist()))
    n = np.array(j["m"].tolist())

    def motion(dz: float) -> np.ndarray:
        def pen(a, b):
            d = np.nan_to_num(np.abs(lv[:, a] - lv[:, b]))
            return np.maximum(d - dz, 0) * np.sqrt(np.minimum(n[:, a], n[:, b]))
        return pen(0, 3) + pen(1, 2) - pen(0, 2) - pen(1, 3)

    for cols, X in (("brightness", j[["amp"]].to_numpy()), ("continuity", cont[:, None]),
                    ("brightness + continuity", np.c_[j["amp"], cont]),
                    ("brightness + continuity + motion", np.c_[j["amp"], cont, motion(0.0)])):
        pr = cross_val_predict(LogisticRegression(max_iter=1000), np.clip(X, -50, 50), y, cv=5)
        print(f"logistic regression on {cols}: right {int((pr == y).sum())}")
    for ratio in (2, 4, 6):
        for wt in (0.5, 1, 2):
            dec = (j["rule"].to_numpy() + wt * motion(np.log(ratio))) < -p.untangle_margin
            print(f"rule + {wt} x motion beyond a {ratio}x variance ratio: right "
                  f"{int((dec == y).sum())}")


if __name__ == "__main__":
    main()
