"""Ceilings of the Track 1 tracker's identity stages, with decisions taken from the truth.

On a simulation's cached detections (see ``tune_tracking.py``), VIP frames within 1 px when
one stage is replaced by an oracle that knows which true particle each detection belongs to
(the nearest true position within 1 px, from the Track 2 rows of the FOV):

``tracker``
    the tracker as it is (link, untangle pairs and groups, VIP logic);
``no-untangle``
    link and VIP logic only;
``oracle-untangle``
    every contact's keep-or-swap decision taken from the truth (majority true particle of the
    stretches before and after): the most pairwise untangling can give;
``oracle-movers``
    the untangler's own rule, except at contacts of two true particles that move otherwise
    (state, α or K differ at the contact, with ``--losses``' thresholds), where the
    truth decides: what deciding only the contacts that matter for the score could give;
``oracle-cues``
    as ``oracle-movers``, and the truth also decides the contacts of two particles whose
    brightness (mean over the frames each is alone) differs by at least ``--cue`` (|log
    ratio|): every contact that motion or brightness could tell is decided right, the
    look-alikes keep the untangler's own decision — the most any use of the videos' lasting
    cues could give, with the rest of the tracker as it is;
``oracle-reacquire``, ``oracle-both``
    the tracker (or ``oracle-untangle``) with the VIP logic's re-acquisition predicting the
    VIP's true position, so that it takes the true continuation when one is in reach: the most
    better re-acquisition could give;
``oracle-tracklets``
    tracks cut wherever another detection is within 3 px, the clean pieces joined by their
    true particle: the most a global gap-closing over clean tracklets can give;
``perfect-linking``
    every detection linked to its true particle.

``--fix-runs L`` then puts back on the true VIP (with 0.12 px of localisation noise) every run
of at most ``L`` frames that the mode's VIP trajectories spend more than 1 px from it: what the
short excursions at encounters cost, apart from the lasting losses of identity.
Every oracle replaces one stage; the encounter groups and the VIP logic run after it as in
the tracker. With ``--scores`` each mode's VIP trajectories also go through the U-Net
pipeline and are scored (what the ceiling is worth to a user). Diagnostic only (it reads
``ref/`` and the Track 2 rows); the pipeline never does::

    python tests/benchmarks/tracking_ceilings.py data/chal0 [--modes tracker,...] [--scores]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from tune_tracking import follow_all, load, pipeline_scores, rates_of

from andi2kit import io, layout
from andi2kit.tracking import TrackingParams, link, untangle_all
from andi2kit.tracking.groups import untangle_groups
from andi2kit.tracking.losses import ALIKE_ALPHA, ALIKE_LOG10_K, frame_labels

MODES = ("tracker", "no-untangle", "oracle-untangle", "oracle-movers", "oracle-cues",
         "oracle-reacquire", "oracle-both", "oracle-tracklets", "perfect-linking")


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
    real = mod.pair_cost

    def by_truth(before, after, *_args) -> float:
        b, a = before.mass[before.mass >= 0], after.mass[after.mass >= 0]
        if not b.size or not a.size:
            return 0.0
        same = np.bincount(b.astype(int)).argmax() == np.bincount(a.astype(int)).argmax()
        return 0.0 if same else 10.0

    mod.pair_cost = by_truth  # the true particle rides in the mass column
    try:
        out = mod.untangle(tracks.assign(mass=tid.astype(float), true_mass=tracks["mass"]),
                           replace(p, untangle_min=1))
    finally:
        mod.pair_cost = real
    out = out.assign(mass=out["true_mass"]).drop(columns="true_mass")
    return untangle_groups(out, p)


def _movers_differ(labels: dict, a: int, b: int, t: int) -> bool:
    """Whether true particles ``a`` and ``b`` move otherwise at frame ``t``."""
    if a not in labels or b not in labels:
        return False

    def at(i: int) -> np.ndarray:
        first, per = labels[i]
        return per[min(max(t - first, 0), len(per) - 1)]

    (a1, k1, s1), (a2, k2, s2) = at(a), at(b)
    dk = abs(np.log10(max(k1, 1e-12)) - np.log10(max(k2, 1e-12)))
    return not (s1 == s2 and abs(a1 - a2) < ALIKE_ALPHA and dk < ALIKE_LOG10_K)


class ContactWalk:
    """The untangler's walk over the contacts of linked tracks (the loop of
    :func:`andi2kit.tracking.untangle`), for a caller that takes the decisions: iterating
    gives, per contact, ``(event, i, j, rows, truth)`` with the tracks that hold the contact
    now, the rows of the four stretches (before ``i``, before ``j``, after ``i``, after
    ``j``) and the true particle holding most of each (-1: none); :meth:`exchange` swaps
    the tails; :meth:`tracks` is the result."""

    def __init__(self, tracks: pd.DataFrame, tid: np.ndarray, p: TrackingParams) -> None:
        self.U = sys.modules["andi2kit.tracking.untangle"]
        self.p, self.tid, self.source = p, tid, tracks
        self.events = self.U.contacts(tracks, p.contact_radius)
        self.frame = tracks["frame"].to_numpy()
        self.pos = tracks[["y", "x"]].to_numpy()
        self.mass = tracks["mass"].to_numpy()
        self.label = tracks["particle"].to_numpy().copy()
        self.row_at = {(int(a), int(b)): r for r, (a, b)
                       in enumerate(zip(self.label, self.frame, strict=True))}
        self.rows_of = {int(k): np.asarray(v)
                        for k, v in tracks.groupby("particle").indices.items()}
        # what the untangler reads besides the stretches: the drift and the FOV's motion
        self.drift, self.population = self.U.pair_context(
            self.U.TrackRows(tracks, p.encounter_merged), p)

    def _rows(self, pid: int, lo: int, hi: int) -> np.ndarray:
        r = self.rows_of[pid]
        r = r[(self.frame[r] >= lo) & (self.frame[r] <= hi)]
        return r[np.argsort(self.frame[r], kind="stable")]

    def _major(self, r: np.ndarray) -> int:
        t = self.tid[r][self.tid[r] >= 0]
        return int(np.bincount(t).argmax()) if t.size else -1

    def __iter__(self):
        w = self.p.untangle_window
        for ev in self.events.itertuples(index=False):
            i = int(self.label[self.row_at[int(ev.i), int(ev.closest)]])
            j = int(self.label[self.row_at[int(ev.j), int(ev.closest)]])
            rows = [self._rows(i, ev.start - w, ev.start - 1),
                    self._rows(j, ev.start - w, ev.start - 1),
                    self._rows(i, ev.end + 1, ev.end + w), self._rows(j, ev.end + 1, ev.end + w)]
            yield ev, i, j, rows, tuple(self._major(r) for r in rows)

    def stretches(self, rows: list[np.ndarray]) -> list:
        """The untangler's signatures of the four stretches."""
        return [self.U.Stretch(self.frame[r], self.pos[r], self.mass[r],
                                self.p.encounter_merged) for r in rows]

    def gain(self, rows: list[np.ndarray]) -> float:
        """How much cheaper exchanging the tails is (the untangler swaps above its margin)."""
        bi, bj, ai, aj = self.stretches(rows)
        p, d, pop = self.p, self.drift, self.population

        def pc(b, a) -> float:
            return self.U.pair_cost(b, a, p, d, pop)

        return pc(bi, ai) + pc(bj, aj) - pc(bi, aj) - pc(bj, ai)

    def exchange(self, ev, i: int, j: int) -> None:
        self.U.exchange_tails(self.label, self.rows_of, self.frame, i, j, int(ev.closest))

    def tracks(self) -> pd.DataFrame:
        out = self.source.assign(particle=self.label)
        return out.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True)


def _oracle_where(tracks: pd.DataFrame, tid: np.ndarray, p: TrackingParams, told
                  ) -> pd.DataFrame:
    """The untangler's loop (that of :func:`andi2kit.tracking.untangle`) with the truth
    deciding the contacts of true particles ``a``, ``b`` at frame ``t`` where
    ``told(a, b, t)``, then the encounter groups."""
    walk = ContactWalk(tracks, tid, p)
    for ev, i, j, rows, (ti, tj, ui, uj) in walk:
        if min(x.size for x in rows) < p.untangle_min:
            continue
        if min(ti, tj) >= 0 and ti != tj and told(ti, tj, int(ev.closest)):
            swap = (ui == tj or uj == ti) and not (ui == ti or uj == tj)
        else:
            swap = walk.gain(rows) > p.untangle_margin
        if swap:
            walk.exchange(ev, i, j)
    return untangle_groups(walk.tracks(), p)


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


class _TruePrediction:
    """Stands in for the VIP logic's motion prediction with the VIP's true position."""

    def __init__(self) -> None:
        self.V = sys.modules["andi2kit.tracking.vips"]
        self.real_follow, self.real_predict = self.V._follow, self.V._predict
        self.item: tuple | None = None
        self.truth: pd.DataFrame | None = None

    def __enter__(self) -> _TruePrediction:
        def follow(start, seed_pos, *args, **kwargs):
            cent = self.item[2]
            vip = min(cent, key=lambda v: np.abs(np.asarray(cent[v])[::-1] - seed_pos).sum())
            self.truth = self.by_vip.get(vip)
            return self.real_follow(start, seed_pos, *args, **kwargs)

        def predict(frames, pos, ahead, span):
            t = int(frames[-1]) + ahead
            if self.truth is not None and t in self.truth.index:
                return self.truth.loc[t].to_numpy(dtype=float)
            return self.real_predict(frames, pos, ahead, span)

        self.V._follow, self.V._predict = follow, predict
        return self

    def __exit__(self, *exc) -> None:
        self.V._follow, self.V._predict = self.real_follow, self.real_predict

    def set_item(self, item: tuple) -> None:
        self.item = item
        _, _, _, _, truth, origin = item
        t = truth.assign(row=truth["x"] - origin[0], col=truth["y"] - origin[1])
        self.by_vip = {int(v): g.set_index("frame")[["row", "col"]]
                       for v, g in t.groupby("traj_idx")}


def ceiling(data: list[tuple], root: Path, mode: str, p: TrackingParams, cue: float = 0.06
            ) -> list[pd.DataFrame]:
    """VIP trajectories (:func:`follow_all` output) with ``mode``'s identity stage (``cue``:
    the brightness difference, |log ratio|, from which ``oracle-cues`` asks the truth)."""
    if mode in ("oracle-reacquire", "oracle-both"):
        oracle = _TruePrediction()
        inner = {"oracle-reacquire": "tracker", "oracle-both": "oracle-untangle"}[mode]
        with oracle:
            return _ceiling(data, root, inner, p, cue, oracle)
    return _ceiling(data, root, mode, p, cue)


def _ceiling(data: list[tuple], root: Path, mode: str, p: TrackingParams, cue: float,
             oracle: _TruePrediction | None = None) -> list[pd.DataFrame]:
    from contact_decisions import true_brightness  # it imports this module
    fovs: dict[int, int] = {}

    def tracks_of(item: tuple) -> pd.DataFrame:
        exp, feats, _, _, _, origin = item
        fov = fovs[exp] = fovs.get(exp, -1) + 1  # load() lists FOVs in order
        if oracle is not None:
            oracle.set_item(item)  # follow_all follows this item's VIPs next
        parts = io.read_trajectories(layout.trajs_path(root / "public_data", 2, exp, fov))
        parts = parts.assign(x=parts["x"] - origin[0], y=parts["y"] - origin[1])
        tracks = link(feats, p)
        if mode == "tracker":
            return untangle_all(tracks, p)
        if mode == "oracle-untangle":
            return _oracle_untangle(tracks, true_ids(tracks, parts), p)
        if mode in ("oracle-movers", "oracle-cues"):
            first = parts.groupby("traj_idx")["frame"].min().astype(int).to_dict()
            labels = frame_labels(layout.labels_path(root / "ref", 2, exp, fov), first)
            bright = true_brightness(feats, parts) if mode == "oracle-cues" else {}

            def told(a: int, b: int, t: int) -> bool:
                apart = (a in bright and b in bright
                         and abs(np.log(bright[a] / bright[b])) >= cue)
                return apart or _movers_differ(labels, a, b, t)

            return _oracle_where(tracks, true_ids(tracks, parts), p, told)
        if mode == "oracle-tracklets":
            return _oracle_tracklets(tracks, true_ids(tracks, parts))
        if mode == "perfect-linking":
            tid = true_ids(tracks, parts)
            return _relabel(tracks, np.where(tid >= 0, tid, 10 ** 6 + np.arange(len(tid))))
        return tracks  # no-untangle

    return follow_all(data, tracks_of, p)


def fix_runs(data: list[tuple], vips: list[pd.DataFrame], longest: int,
             seed: int = 0) -> list[pd.DataFrame]:
    """``vips`` with every run of at most ``longest`` frames off the true VIP put back on it."""
    rng = np.random.default_rng(seed)
    out = []
    for (_, _, _, _, truth, origin), v in zip(data, vips, strict=True):
        v = v.copy()
        t = truth.set_index(["traj_idx", "frame"])
        key = pd.MultiIndex.from_arrays([v["traj_idx"], v["frame"]])
        tx = t["x"].reindex(key).to_numpy() - origin[0]
        ty = t["y"].reindex(key).to_numpy() - origin[1]
        off = np.hypot(v["row"].to_numpy() - tx, v["col"].to_numpy() - ty) > 1.0
        off &= np.isfinite(tx)
        vid = v["traj_idx"].to_numpy()
        edge = np.r_[True, (off[1:] != off[:-1]) | (vid[1:] != vid[:-1])]
        run = np.cumsum(edge)
        size = np.bincount(run)[run]
        fix = off & (size <= longest)
        noise = rng.normal(0, 0.12, size=(int(fix.sum()), 2))
        v.loc[fix, "row"] = tx[fix] + noise[:, 0]
        v.loc[fix, "col"] = ty[fix] + noise[:, 1]
        out.append(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    ap.add_argument("--scores", action="store_true",
                    help="also run the U-Net pipeline on each mode's VIP trajectories, score")
    ap.add_argument("--fix-runs", type=int, default=0,
                    help="put runs of at most this many frames off the VIP back on it")
    ap.add_argument("--cue", type=float, default=0.06,
                    help="oracle-cues: brightness difference (|log ratio|) the truth decides")
    ap.add_argument("--work", type=Path, default=Path("/tmp/tracking-ceilings"),
                    help="working folder of --scores")
    args = ap.parse_args()
    data = load(args.data, args.data / ".detections")
    for mode in args.modes.split(","):
        vips = ceiling(data, args.data, mode, TrackingParams(), args.cue)
        if args.fix_runs:
            vips = fix_runs(data, vips, args.fix_runs)
        s = rates_of(data, vips)
        print(f"{mode:17s} overall {100 * s['overall']:5.1f} %  per exp "
              + " ".join(f"{100 * v:.0f}" for k, v in s.items() if k != "overall"), flush=True)
        if args.scores:
            m = pipeline_scores(args.data, data, vips, args.work / mode)
            print("    U-Net on these tracks: " + "  ".join(
                f"{k} {v:.3f}" for k, v in m.items()), flush=True)


if __name__ == "__main__":
    main()
