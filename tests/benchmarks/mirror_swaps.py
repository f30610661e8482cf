"""Do the U-Net's per-frame α and K tell a needed swap at a VIP's contact? (reads the truth)

At every contact of a tracked VIP with another tracked particle (a field track closer than 3 px,
``field_fov_<F>.csv`` of ``andi2kit track``), the mean α and log10 K over ``--window`` frames
before and after are taken on both tracks, from the U-Net (``--checkpoint``) and from the
tracks' own steps (lags 1 and 4). Keeping the tracks as linked costs the change each track
shows across the contact, swapping their tails the change the crossed pairs show; a *mirror
swap* (two particles that exchanged their motion at the contact) makes swapping much cheaper.
Each contact is classed from the truth: *keep* (the VIP is on its particle before and after),
*swap* (on it before, the other track holds it after), *other*; printed: how many of each
class a rule "swap when cheaper by more than t" would exchange::

    python tests/benchmarks/mirror_swaps.py data/chal0 --window 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import layout
from andi2kit.constants import COLUMN, LOCALISATION_NOISE
from andi2kit.methods.unet import UNetMethod
from andi2kit.tensors import to_dense
from andi2kit.tracking import read_tracks
from andi2kit.tracking.evaluate import read_truth
from andi2kit.tracking.video import fov_jobs

CONTACT_PX = 3.0
MIN_FRAMES = 8


def per_frame(trajs: pd.DataFrame, method: UNetMethod) -> dict[int, pd.DataFrame]:
    """``{traj_idx: frame-indexed x, y, U-Net α and log10 K}``."""
    dense = to_dense(trajs)
    _, frames = method.predict_frames(trajs)  # in the order of dense.idx
    out = {}
    for i, idx in enumerate(dense.idx):
        n = int(dense.length[i])
        f = frames[i]
        out[int(idx)] = pd.DataFrame({
            "x": dense.pos[i, :n, 0], "y": dense.pos[i, :n, 1],
            "a": f[:n, COLUMN["alpha"]],
            "lk": np.log10(np.maximum(f[:n, COLUMN["K"]], 1e-3))},
            index=dense.start[i] + np.arange(n))
    return out


def step_signature(w: pd.DataFrame) -> tuple[float, float]:
    """α and log10 K of a window from its own steps (lags 1 and 4, noise removed)."""
    xy, fr = w[["x", "y"]].to_numpy(), w.index.to_numpy()
    noise = 4 * LOCALISATION_NOISE ** 2
    msd = []
    for lag in (1, 4):
        ok = fr[lag:] - fr[:-lag] == lag
        d = (xy[lag:] - xy[:-lag])[ok]
        msd.append(float(np.mean(np.sum(d ** 2, axis=1))) if len(d) else np.nan)
    m1, m4 = (max(m - noise, 1e-4) for m in msd)
    return float(np.clip(np.log(m4 / m1) / np.log(4), 0, 2)), float(np.log10(max(m1 / 4, 1e-3)))


def contacts_of(vip: pd.DataFrame, field: dict[int, pd.DataFrame]) -> list[tuple[int, int, int]]:
    """``(field track, first, last frame)`` of every contact of a VIP with another track."""
    out = []
    for fid, ft in field.items():
        common = ft.index.intersection(vip.index)
        if common.size == 0:
            continue
        d = np.hypot(ft.x[common] - vip.x[common], ft.y[common] - vip.y[common])
        near = common[(d < CONTACT_PX) & (d > 1e-6)].to_numpy()  # 0: the VIP's own spot
        for ev in np.split(near, np.flatnonzero(np.diff(near) > 3) + 1):
            if ev.size:
                out.append((fid, int(ev[0]), int(ev[-1])))
    return out


def on_truth(w: pd.DataFrame, truth: pd.DataFrame) -> float:
    t = truth.reindex(w.index)
    return float(np.mean(np.hypot(w.x - t.x, w.y - t.y) <= 1.0))


def contacts_table(root: Path, window: int, method: UNetMethod) -> pd.DataFrame:
    rows = []
    for exp, fov, _ in fov_jobs(root / "public_data" / "track_1"):
        vips = per_frame(read_tracks(layout.tracks_path(root / "tracks", exp, fov)), method)
        field = per_frame(read_tracks(layout.field_path(root / "tracks", exp, fov)), method)
        truth, origin = read_truth(root / "ref", exp, fov)
        true = {int(i): g.set_index("frame")[["x", "y"]] - origin
                for i, g in truth.groupby("traj_idx")}
        for vip, vt in vips.items():
            for fid, s, e in contacts_of(vt, field):
                ft = field[fid]
                w = {"vb": vt.loc[s - window:s - 1], "va": vt.loc[e + 1:e + window],
                     "ob": ft.loc[s - window:s - 1], "oa": ft.loc[e + 1:e + window]}
                if min(len(x) for x in w.values()) < MIN_FRAMES:
                    continue
                row = dict(exp=exp, fov=fov, vip=vip, other=fid, start=s, end=e,
                           vb_ok=on_truth(w["vb"], true[vip]), va_ok=on_truth(w["va"], true[vip]),
                           oa_ok=on_truth(w["oa"], true[vip]))
                for k, x in w.items():
                    row[f"{k}_a"], row[f"{k}_lk"] = x.a.mean(), x.lk.mean()
                    row[f"{k}_sa"], row[f"{k}_slk"] = step_signature(x)
                rows.append(row)
        print(f"exp {exp} fov {fov}: {len(rows)} contacts so far", flush=True)
    df = pd.DataFrame(rows)
    before = df.vb_ok >= 0.8
    df["class"] = np.where(before & (df.va_ok >= 0.8), "keep",
                           np.where(before & (df.va_ok < 0.2) & (df.oa_ok >= 0.8), "swap",
                                    "other"))
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="a challenge-preset simulation with tracks/")
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    df = contacts_table(args.root, args.window, UNetMethod(args.checkpoint))
    print(df.groupby("class").size().to_string())
    for source, tag, sa, sk in (("U-Net", "", 0.2, 0.3), ("U-Net", "", 0.3, 0.5),
                                ("steps", "s", 0.3, 0.3), ("steps", "s", 0.5, 0.5)):
        a = {k: df[f"{k}_{tag}a"] for k in ("vb", "va", "ob", "oa")}
        lk = {k: df[f"{k}_{tag}lk"] for k in a}

        def cost(p: str, q: str, a=a, lk=lk, sa=sa, sk=sk) -> pd.Series:
            return (a[p] - a[q]).abs() / sa + (lk[p] - lk[q]).abs() / sk
        gain = cost("vb", "va") + cost("ob", "oa") - cost("vb", "oa") - cost("ob", "va")
        print(f"{source} signature (α scale {sa}, log10 K scale {sk}): contacts exchanged by "
              "'swap cheaper by > t'")
        for t in (1, 2, 3, 4, 6):
            sel = gain > t
            print(f"  t = {t}: " + ", ".join(f"{c} {int((sel & (df['class'] == c)).sum())}"
                                             for c in ("keep", "swap", "other")))


if __name__ == "__main__":
    main()
