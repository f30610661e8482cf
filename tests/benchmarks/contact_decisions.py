"""The untangler's decisions at every contact of two tracks, against the truth.

For each contact (:func:`andi2kit.tracking.untangle.contacts` of the linked tracks, visited in
the untangler's order with its exchanges applied), the true particle that holds most of each
of the four stretches (before / after, either track) says whether the tails had to be
exchanged. A contact is

``right`` / ``missed swap`` / ``wrong swap``
    judged (every stretch at least ``untangle_min`` frames) and the truth is a clean pair:
    two particles before, the same two after;
``unclear``
    judged, but a stretch holds no true particle, the same one as its partner, or a third
    one (another exchange within the window);
``unjudged``
    a stretch is shorter than ``untangle_min`` (a track starts or ends at the contact).

It also prints, for the clean judged contacts, the untangler's cost gain (keep − swap; it
swaps above ``untangle_margin``) of the ones that needed a swap and the ones that did not:
how much the brightness and continuity of the stretches tell. ``clustered``: another
contact of one of the two tracks within 10 frames. Last, the clean judged contacts by how
much the two true particles differ in brightness (:func:`true_brightness`: each particle's
fitted amplitude relative to its frame's median spot, averaged over the frames where it is
alone), with the share the linker had right (no swap needed) and the share the untangler has
right: what the brightness signature can tell; and by how the two particles move at the
contact (:func:`motion_difference`: alike, or their state, K or α differ). Diagnostic only
(reads the Track 2 rows of each FOV); the pipeline never does::

    python tests/benchmarks/contact_decisions.py data/chal0 [--cache DIR] [--params DICT]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import numpy as np
import pandas as pd
from identity_cues import isolated_spots
from tracking_ceilings import ContactWalk, true_ids
from tune_tracking import load

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, link
from andi2kit.tracking.losses import ALIKE_ALPHA, ALIKE_LOG10_K, frame_labels

GAIN_BINS = [-np.inf, -5, -2, 0, 2, 5, np.inf]
#: Bins of the two particles' brightness difference (|log ratio|).
BRIGHTNESS_BINS = [0, 0.02, 0.04, 0.06, 0.1, np.inf]
#: A particle is alone (its brightness read) when no other is within this many px ...
ALONE_PX = 5.0
#: ... (and a detection lies within 0.5 px of it); it needs this many such frames.
ALONE_FRAMES = 20


def true_brightness(feats: pd.DataFrame, parts: pd.DataFrame) -> dict[int, float]:
    """``{true particle: mean relative amplitude}`` over the frames where it is alone
    (:func:`identity_cues.isolated_spots`; ``parts`` already in the detections' pixels)."""
    spots = isolated_spots(feats, parts, (0.0, 0.0), alone=ALONE_PX)
    by = spots.groupby("pid")["rel"]
    mean = by.mean()[by.size() >= ALONE_FRAMES]
    return {int(k): float(v) for k, v in mean.items()}


def motion_difference(labels: dict, a: int, b: int, t: int) -> str:
    """How true particles ``a`` and ``b`` differ in motion at frame ``t`` (``frame_labels``
    output): ``alike``, ``state`` (their states differ), else the larger of ``K x dec``
    (|Δlog10 K| bins) and ``α``."""
    if a not in labels or b not in labels:
        return "unknown"

    def at(i: int) -> np.ndarray:
        first, per = labels[i]
        return per[min(max(t - first, 0), len(per) - 1)]

    (a1, k1, s1), (a2, k2, s2) = at(a), at(b)
    dk = abs(np.log10(max(k1, 1e-12)) - np.log10(max(k2, 1e-12)))
    if s1 != s2:
        return "state"
    if dk >= 1:
        return "K ≥ 1 dec"
    if dk >= ALIKE_LOG10_K:
        return f"K {ALIKE_LOG10_K}-1 dec"
    return "α" if abs(a1 - a2) >= ALIKE_ALPHA else "alike"


def decisions(tracks: pd.DataFrame, tid: np.ndarray, p: TrackingParams
              ) -> tuple[list[dict], list[dict]]:
    """One row per contact (``verdict``, ``clustered``, ``short``: the stretches under
    ``untangle_min``), and per clean judged contact its cost ``gain`` and ``need``."""
    walk = ContactWalk(tracks, tid, p)
    rows: list[dict] = []
    gains: list[dict] = []
    ev_all = walk.events[["i", "j", "start", "end"]].to_numpy()
    for e, i, j, r, (ti, tj, ui, uj) in walk:
        mine = np.isin(ev_all[:, 0], (e.i, e.j)) | np.isin(ev_all[:, 1], (e.i, e.j))
        close = (ev_all[:, 2] <= e.end + 10) & (ev_all[:, 3] >= e.start - 10)
        clean = min(ti, tj, ui, uj) >= 0 and ti != tj and {ui, uj} == {ti, tj}
        need = clean and ui == tj
        short = "".join(n for n, x in zip(("Bi", "Bj", "Ai", "Aj"), r, strict=True)
                        if x.size < p.untangle_min)
        swap = False
        if short:
            verdict = "unjudged"
        else:
            gain = walk.gain(r)
            swap = gain > p.untangle_margin
            if clean:
                verdict = "right" if need == swap else ("wrong swap" if swap else "missed swap")
                gains.append({"gain": gain, "need": need, "swap": swap, "pair": (ti, tj),
                              "t": int(e.closest)})
            else:
                verdict = "unclear"
        rows.append({"verdict": verdict, "clustered": int((mine & close).sum()) > 1,
                     "short": short or "-", "clean": clean, "need": need})
        if swap:
            walk.exchange(e, i, j)
    return rows, gains


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("--cache", type=Path, default=None, help="detections cache (default /tmp)")
    ap.add_argument("--params", default="{}",
                    help="tracker settings to change, a dict literal (\"{'untangle_margin': 3}\")")
    a = ap.parse_args()
    p = TrackingParams(**ast.literal_eval(a.params))
    data = load(a.data, a.cache or Path("/tmp/tune-tracking-cache") / a.data.name)
    rows, gains, fovs = [], [], {}
    for exp, feats, _cent, _shape, _truth, origin in data:
        fov = fovs[exp] = fovs.get(exp, -1) + 1
        parts = io.read_trajectories(layout.trajs_path(a.data / "public_data", 2, exp, fov))
        parts = parts.assign(x=parts["x"] - origin[0], y=parts["y"] - origin[1])
        tracks = link(feats, p)
        r, g = decisions(tracks, true_ids(tracks, parts), p)
        bright = true_brightness(feats, parts)
        first = parts.groupby("traj_idx")["frame"].min().astype(int).to_dict()
        labels = frame_labels(layout.labels_path(a.data / "ref", 2, exp, fov), first)
        for x in g:
            pair = x.pop("pair")
            one, two = (bright.get(t) for t in pair)
            x["dI"] = abs(np.log(one / two)) if one and two else np.nan
            x["motion"] = motion_difference(labels, *pair, x.pop("t"))
        rows += [{**x, "exp": exp} for x in r]
        gains += g
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    d = pd.DataFrame(rows)
    d["where"] = np.where(d["clustered"], "clustered", "isolated")
    print(f"{a.data}: {len(d)} contacts of linked tracks (untangle_min {p.untangle_min}, "
          f"window {p.untangle_window}, margin {p.untangle_margin})\n")
    print(pd.crosstab(d["where"], d["verdict"], margins=True), "\n")
    print(pd.crosstab(d["exp"], d["verdict"], margins=True), "\n")
    g = pd.DataFrame(gains)
    if len(g):
        g["gain (keep - swap)"] = pd.cut(g["gain"], GAIN_BINS)
        g["right"] = g["need"] == g["swap"]
        print(f"clean judged contacts: {int(g['need'].sum())} needed a swap of {len(g)}")
        print(pd.crosstab(g["gain (keep - swap)"], g["need"].map({True: "needed a swap",
                                                                  False: "needed none"})),
              "\n")
        right = {m: int(((g["gain"] > m) == g["need"]).sum()) for m in (0, 1, 2, 3, 4, 6)}
        print("decided right at margin " + ", ".join(f"{m}: {n}" for m, n in right.items())
              + f" (of {len(g)}; the decisions before each contact as the untangler made them)\n")
        b = g.dropna(subset=["dI"])
        b = b.assign(bin=pd.cut(b["dI"], BRIGHTNESS_BINS, right=False))
        t = b.groupby("bin", observed=True).agg(
            contacts=("need", "size"), needed_a_swap=("need", "sum"),
            decided_right=("right", "mean"))
        t.insert(2, "linker_right", 1 - t["needed_a_swap"] / t["contacts"])
        print("clean judged contacts by the two true particles' brightness difference "
              f"(|log ratio|; {len(b)} of {len(g)} with both particles alone ≥ "
              f"{ALONE_FRAMES} frames)")
        print(t.round(3), "\n")
        m = g.groupby("motion").agg(contacts=("need", "size"), needed_a_swap=("need", "sum"),
                                    decided_right=("right", "mean"))
        m.insert(2, "linker_right", 1 - m["needed_a_swap"] / m["contacts"])
        print("clean judged contacts by how the two true particles move at the contact "
              f"(alike: same state, |Δα| < {ALIKE_ALPHA}, |Δlog10 K| < {ALIKE_LOG10_K})")
        print(m.round(3), "\n")
    u = d[d["verdict"] == "unjudged"]
    if len(u):
        u = u.assign(truth=np.where(~u["clean"], "unclear",
                                    np.where(u["need"], "needed a swap", "needed none")))
        print("unjudged contacts: the stretches under untangle_min (B before, A after)")
        print(pd.crosstab(u["short"], u["truth"], margins=True))


if __name__ == "__main__":
    main()
