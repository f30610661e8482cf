"""What closeness to another trajectory says about change points, per experiment.

For every experiment of a simulated suite (Track 2): the share of frames that
:func:`andi2kit.partners.bound_frames` calls bound (the dimerization decision's evidence), and,
against the true change points of ``ref/``, where the bound runs start and end (offset of their
first frame and of the first frame after them to the nearest true change point) and the
change point scores of :func:`andi2kit.partner_cuts.partner_change_points` alone. With
``--submissions A B`` (submission folders, ``{suite}`` standing for the suite's name) it
also prints the per-frame α MAE and K MSLE of both submissions' segment values in every
experiment (the frame-by-frame error, whatever segments the official metrics pair).
Diagnostic (it reads ``ref/``); the pipeline never does::

    python tests/benchmarks/partner_evidence.py data/gen-challenge-seed0 data/gen-wide-seed0
    python tests/benchmarks/partner_evidence.py data/gen-challenge \
        --submissions /tmp/before/gen-challenge /tmp/after/gen-challenge
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from andi2kit import io, layout, partner_cuts, partners
from andi2kit.scoring.metrics import ChangePointCounts


def fov_rows(public: Path, exp: int, fov: int):
    df = io.read_trajectories(layout.trajs_path(public, 2, exp, fov))
    groups = [g.sort_values("frame") for _, g in df.groupby("traj_idx")]
    idx = [int(g["traj_idx"].iloc[0]) for g in groups]
    pos = [g[["x", "y"]].to_numpy() for g in groups]
    frames = [g["frame"].to_numpy() for g in groups]
    bound = partners.bound_frames(pos, frames)
    return idx, bound, partners.binding_changes(pos, bound)


def _per_frame(lab) -> tuple[np.ndarray, np.ndarray]:
    seg = np.searchsorted(lab.cp, np.arange(lab.T), side="right")
    return lab.alpha[seg], lab.K[seg]


def frame_errors(suite: Path, subs: list[Path]) -> None:
    """Per experiment, per-frame α MAE and K MSLE (log(1 + K)) of each submission."""
    public, ref = suite / "public_data", suite / "ref"
    print(f"\nper-frame α MAE / K MSLE ({', '.join(map(str, subs))}):\n")
    for e in layout.experiments(public, 2):
        errs = [[] for _ in subs]
        for f in layout.fovs(public, 2, e, "trajs"):
            truth = io.read_labels(layout.labels_path(ref, 2, e, f))
            preds = [{lab.idx: lab for lab in io.read_labels(layout.prediction_path(s, 2, e, f))}
                     for s in subs]
            for t in truth:
                ta, tk = _per_frame(t)
                for k, p in enumerate(preds):
                    pa, pk = _per_frame(p[t.idx])
                    n = min(ta.size, pa.size)
                    errs[k].append(np.c_[np.abs(ta[:n] - pa[:n]),
                                         (np.log1p(tk[:n]) - np.log1p(pk[:n])) ** 2])
        row = " | ".join("{:.3f} / {:.4f}".format(*np.concatenate(x).mean(0)) for x in errs)
        print(f"| {e} | {row} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--submissions", nargs=2, default=None,
                    help="two submission folders, {suite} standing for the suite's name")
    args = ap.parse_args()
    for suite in args.suites:
        if args.submissions:
            frame_errors(suite, [Path(a.format(suite=suite.name)) for a in args.submissions])
        public, ref = suite / "public_data", suite / "ref"
        models = {}
        manifest = suite / "manifest.json"
        if manifest.is_file():
            models = {e: d.get("model", "?") for e, d in
                      enumerate(json.loads(manifest.read_text()).get("definitions", []))}
        print(f"\n## {suite}\n")
        print("| exp | model | bound frames | bindings changed | binding offset (first bound "
              "frame − true CP) | parting offset (first frame after − true CP) "
              "| partner CPs RMSE / JSC |")
        print("|---|---|---|---|---|---|---|")
        for e in layout.experiments(public, 2):
            n = n_bound = n_bind = n_changed = 0
            start, end = Counter(), Counter()
            cc = ChangePointCounts()
            for f in layout.fovs(public, 2, e, "trajs"):
                truth = {lab.idx: lab for lab in io.read_labels(layout.labels_path(ref, 2, e, f))}
                idx, bound, (bindings, changed) = fov_rows(public, e, f)
                n_bind, n_changed = n_bind + bindings, n_changed + changed
                for i, b in zip(idx, bound, strict=True):
                    n += b.size
                    n_bound += int(b.sum())
                    true_cp = truth[i].cp
                    cc.add(true_cp, np.asarray(partner_cuts.partner_change_points(b), int))
                    for c in np.flatnonzero(np.diff(b.astype(np.int8))) + 1:
                        if true_cp.size:
                            d = int(np.clip(c - true_cp[np.argmin(np.abs(true_cp - c))], -5, 5))
                            (start if b[c] else end)[d] += 1
            rmse, jsc = cc.result()

            def show(c: Counter) -> str:
                total = sum(c.values())
                top = ", ".join(f"{k:+d}: {v}" for k, v in sorted(c.items()) if v >= 0.05 * total)
                return f"{total} ({top})" if total else "0"

            print(f"| {e} | {models.get(e, '?')} | {n_bound / max(n, 1):.4f} "
                  f"| {n_changed / max(n_bind, 1):.2f} of {n_bind} | {show(start)} "
                  f"| {show(end)} | {rmse:.3f} / {jsc:.3f} |")


if __name__ == "__main__":
    main()
