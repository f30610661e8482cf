"""What dropping the change points whose position is least pinned down trades, scored.

Reads a Track 2 submission made on a simulated suite, drops from every trajectory the change
points a rule calls unsure, gives each merged segment the values of its longest piece (the
true segment the scorer pairs it with is the one it overlaps most), and scores each variant
with the official metrics. Rules:

``spread S``: the posterior of a single cut between the neighbouring change points, under a
model of zero-mean Gaussian steps whose variance changes at the cut, restricted to ±W frames
of the change point; the change point is kept when the posterior's root-mean-square distance
from it is at most S frames (:func:`cut_spread`).

``jump A K``: kept when the neighbouring segments differ by at least A in α or K (log10)
decades in K.

Tune on seed-0 suites, report on others::

    python tests/benchmarks/cp_confidence.py /tmp/t2/chal0 data/chal0
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.io import read_labels, read_trajectories, write_labels
from andi2kit.labels import TrajectoryLabel
from andi2kit.scoring.score import score_track
from andi2kit.segment import cut_candidates, squared_steps, variance_ll


def cut_spread(steps: np.ndarray, cps: list[int], window: int = 9,
               min_size: int = 3) -> np.ndarray:
    """How well the steps pin down each change point, in frames.

    For change point ``c`` (between its neighbours), the posterior of a single cut within
    ``window`` frames of ``c`` under a model of zero-mean Gaussian steps whose variance changes
    at the cut (flat prior); returned is its root-mean-square distance from ``c``. A change of
    diffusivity gives a narrow posterior; a change of α alone, or none, a broad one.

    ``steps``, ``cps``, ``window`` and ``min_size`` as in
    :func:`andi2kit.segment.refine_change_points`.

    Returns
    -------
    numpy.ndarray
        ``(len(cps),)`` spreads (frames); ``inf`` where no cut fits.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(0, 2.0, (50, 2))])
    >>> cut_spread(steps, [50]).round(1).tolist()
    [0.1]
    """
    sq = squared_steps(steps)
    out = np.full(len(cps), np.inf)
    for i, c in enumerate(cps):
        lo, hi, cands = cut_candidates(cps, i, steps.shape[0], window, min_size)
        if not cands:
            continue
        cands = np.asarray(cands)
        ll = np.array([variance_ll(sq, lo, x) + variance_ll(sq, x, hi) for x in cands])
        w = np.exp(ll - ll.max())
        out[i] = float(np.sqrt(np.sum(w * (cands - c) ** 2) / w.sum()))
    return out


def merge_segments(label: TrajectoryLabel, keep: np.ndarray) -> TrajectoryLabel:
    """The label with the change points not in ``keep`` removed; each merged segment takes the
    values of its longest piece (the true segment a scorer pairs it with is the one it
    overlaps most, usually the longest piece's).

    Examples
    --------
    >>> lab = TrajectoryLabel(idx=0, K=np.array([1.0, 0.1, 1.0]), alpha=np.array([1.0, 0.5, 1.0]),
    ...                       state=np.array([2, 2, 2]), cp=np.array([40, 45]), T=100)
    >>> m = merge_segments(lab, np.array([True, False]))
    >>> m.cp.tolist(), m.K.tolist()
    ([40], [1.0, 1.0])
    """
    keep = np.asarray(keep, dtype=bool)
    cps = np.asarray(label.cp, dtype=np.int64)
    bounds = np.concatenate([[0], cps, [label.T]])
    lengths = np.diff(bounds)
    group = np.concatenate([[0], np.cumsum(keep)])  # segment -> merged segment
    pick = [int(np.flatnonzero(group == g)[np.argmax(lengths[group == g])])
            for g in range(int(group[-1]) + 1)]
    return TrajectoryLabel(idx=label.idx, K=label.K[pick].copy(), alpha=label.alpha[pick].copy(),
                           state=label.state[pick].copy(), cp=cps[keep].copy(), T=label.T)


def _steps(df) -> dict[int, np.ndarray]:
    out = {}
    for idx, g in df.groupby("traj_idx"):
        xy = g.sort_values("frame")[["x", "y"]].to_numpy(float)
        st = np.zeros_like(xy)
        st[1:] = np.diff(xy, axis=0)
        out[int(idx)] = st
    return out


def variant(sub: Path, public: Path, out: Path, rule: tuple) -> None:
    shutil.copytree(sub, out)
    for e in layout.experiments(public, 2):
        for f in layout.fovs(public, 2, e, "trajs"):
            path = layout.prediction_path(out, 2, e, f)
            if not path.is_file():
                continue
            steps = _steps(read_trajectories(layout.trajs_path(public, 2, e, f)))
            labs = read_labels(path)
            new = []
            for lab in labs:
                cps = [int(c) for c in lab.cp]
                if not cps:
                    new.append(lab)
                    continue
                if rule[0] == "spread":
                    sp = cut_spread(steps[int(lab.idx)], cps, window=rule[2])
                    keep = sp <= rule[1]
                    if len(rule) > 3:  # and every change of state
                        keep |= np.diff(lab.state) != 0
                    if len(rule) > 4:  # and every change of α by at least rule[4]
                        keep |= np.abs(np.diff(lab.alpha)) >= rule[4]
                else:
                    da = np.abs(np.diff(lab.alpha))
                    dk = np.abs(np.diff(np.log10(np.maximum(lab.K, 1e-12))))
                    keep = (da >= rule[1]) | (dk >= rule[2])
                new.append(merge_segments(lab, keep))
            write_labels(path, new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submission", type=Path)
    ap.add_argument("suite", type=Path)
    ap.add_argument("--spreads", type=float, nargs="*", default=[0.5, 1.0, 1.5, 2.0, 3.0])
    ap.add_argument("--window", type=int, default=9)
    ap.add_argument("--state-spreads", type=float, nargs="*", default=[])
    ap.add_argument("--alpha-jump", type=float, default=None)
    ap.add_argument("--jumps", type=str, nargs="*", default=["0.2,0.3", "0.3,0.5"])
    args = ap.parse_args()
    public, ref = args.suite / "public_data", args.suite / "ref"
    rules = [("none",)] + [("spread", s, args.window) for s in args.spreads] + \
        [("spread", s, args.window, "state", *([] if args.alpha_jump is None else
                                              [args.alpha_jump]))
         for s in args.state_spreads] + \
        [("jump", *map(float, j.split(","))) for j in args.jumps]
    print(f"{'rule':>16} | RMSE CP | JSC CP | α MAE | K MSLE | state F1")
    with tempfile.TemporaryDirectory() as tmp:
        for i, rule in enumerate(rules):
            if rule[0] == "none":
                res = score_track(args.submission, ref, 2)
            else:
                out = Path(tmp) / f"v{i}"
                variant(args.submission, public, out, rule)
                res = score_track(out, ref, 2)
            a = res.single
            name = " ".join(str(r) for r in rule)
            print(f"{name:>16} | {a['rmse_cp']:.3f} | {a['jsc_cp']:.3f} | {a['alpha']:.3f} | "
                  f"{a['K']:.4f} | {a['state']:.3f}")


if __name__ == "__main__":
    main()
