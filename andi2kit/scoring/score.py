"""Score a submission folder against a reference folder, as the organisers' scorer does.

Equivalent to ``andi_datasets.utils_challenge.codalab_scoring_local`` (2.1.13), number for
number, but without pandas row-by-row work, so it is many times faster; where the
official code crashes (a blank line, a trailing comma, an infinite K) this raises
:class:`~andi2kit.errors.InputError` naming the file and line.

Official behaviours kept on purpose (they decide the leaderboard):

* a missing ``fov_<F>.txt`` or a wrong VIP set anywhere in a track gives the *whole track's*
  single-trajectory task the maximum errors (RMSE 10, JSC 0, α 2, K 1e5, F1 0);
* a missing or unreadable ``ensemble_labels.txt`` gives the whole track's ensemble task the
  maximum errors (α 1.999, K 1e6);
* a line whose field count is not ``1 + 4n`` or ``4n`` is ignored (so its trajectory is
  missing); a missing trajectory is scored as a maximally wrong one;
* trajectory indices of consecutive FOVs are chained with the organisers' offsets (the last
  index so far + 1), computed separately for truth and prediction;
* a track with no submission folder produces no line in ``scores.txt``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.errors import InputError, SingleTaskFailure
from andi2kit.io import read_label_rows, read_vip_indices, write_text_atomic
from andi2kit.labels import LabelRow
from andi2kit.scoring import metrics as M

SINGLE_KEYS = ("rmse_cp", "jsc_cp", "alpha", "K", "state")
ENSEMBLE_KEYS = ("w1_alpha", "w1_K")
#: Column titles in the paper's order (Tables 3–4).
TITLES = {
    "rmse_cp": "RMSE CP", "jsc_cp": "JSC CP", "alpha": "α MAE", "K": "K MSLE",
    "state": "state F1", "w1_alpha": "α W1", "w1_K": "K W1",
}
LOWER_IS_BETTER = {"rmse_cp", "alpha", "K", "w1_alpha", "w1_K"}


# --------------------------------------------------------------------------------------------
# label records
# --------------------------------------------------------------------------------------------


def load_records(path: Path) -> list[LabelRow]:
    """Read a label file into rows, dropping lines of a length the organisers ignore."""
    out = []
    for i, row in enumerate(read_label_rows(path), start=1):
        if row.size % 4 not in (0, 1):
            continue
        fields = LabelRow.split(row)
        if np.isinf(fields.K).any():
            raise InputError(f"{path}:{i}: K is infinite (the official scorer crashes on it)")
        out.append(fields)
    return out


# --------------------------------------------------------------------------------------------
# single-trajectory task
# --------------------------------------------------------------------------------------------


def _sorted(recs: list[LabelRow]) -> list[LabelRow]:
    return sorted(recs, key=lambda r: r.idx)


def chain_fovs(true_fovs: list[list[LabelRow]], pred_fovs: list[list[LabelRow]]):
    """Concatenate FOVs of one experiment with the organisers' index offsets.

    Their code offsets the truth by its last index + 1, then the prediction likewise; if the
    prediction accumulated so far is empty the offset raises inside a ``try`` and both
    accumulators are *replaced* by the current FOV (truth already offset).
    """
    acc_t: list[LabelRow] | None = None
    acc_p: list[LabelRow] | None = None
    for t, p in zip(true_fovs, pred_fovs, strict=True):
        t, p = _sorted(t), _sorted(p)
        if acc_t is None:
            acc_t, acc_p = t, p
            continue
        if not acc_t:
            acc_t, acc_p = t, p
            continue
        off_t = acc_t[-1].idx + 1
        for r in t:
            r.idx = r.idx + off_t
        if not acc_p:
            acc_t, acc_p = t, p
            continue
        off_p = acc_p[-1].idx + 1
        for r in p:
            r.idx = r.idx + off_p
        acc_t, acc_p = acc_t + t, acc_p + p
    return acc_t or [], acc_p or []


def segment_pairs(true: LabelRow, pred: LabelRow) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the true and predicted segments of one trajectory that the scorer pairs
    (:func:`andi2kit.scoring.metrics.pair_segments` on the label lines' bounds)."""
    return M.pair_segments(true.bounds.astype(int), pred.bounds.astype(int),
                           min(true.alpha.size, true.K.size))


def score_single(trues: list[LabelRow], preds: list[LabelRow]) -> dict[str, float]:
    """Single-trajectory metrics of one experiment (``error_SingleTraj_dataset``).

    Parameters
    ----------
    trues, preds : list of LabelRow
        Chained records of the experiment.

    Returns
    -------
    dict
        ``rmse_cp, jsc_cp, alpha, K, state`` and ``n_missing``.
    """
    by_idx: dict[float, LabelRow] = {}
    for r in preds:
        by_idx.setdefault(r.idx, r)
    cps = M.ChangePointCounts(M.CP_THRESHOLD)
    ta, pa, tk, pk, ts, ps = [], [], [], [], [], []
    n_missing = 0
    for t in trues:
        p = by_idx.get(t.idx)
        if p is None or p.bounds.size == 0:
            n_missing += 1
            cps.add(np.array([10 + M.CP_THRESHOLD]), np.array([10]))
            ta.append(M.ALPHA_PENALTY)
            pa.append(0.0)
            tk.append(1 + M.K_PENALTY)
            pk.append(1.0)
            ts.append(10.0)
            ps.append(0.0)
            continue
        cps.add(t.bounds.astype(int)[:-1], p.bounds.astype(int)[:-1])
        ti, pi = segment_pairs(t, p)
        for i, j in zip(ti, pi, strict=True):
            ta.append(t.alpha[i])
            pa.append(p.alpha[j])
            tk.append(t.K[i])
            pk.append(p.K[j])
            ts.append(t.state[i])
            ps.append(p.state[j])
    alpha, K, state = M.sanitize_pairs(
        np.column_stack([ta, pa]), np.column_stack([tk, pk]), np.column_stack([ts, ps])
    )
    rmse, jsc = cps.result()
    return {
        "rmse_cp": rmse,
        "jsc_cp": jsc,
        "alpha": M.alpha_mae(alpha[:, 0], alpha[:, 1]),
        "K": M.k_msle(K[:, 0], K[:, 1]),
        "state": M.state_f1(state[:, 0], state[:, 1]),
        "n_missing": n_missing,
    }


def load_experiment(submission: Path, ref: Path, track: int, exp: int):
    """One experiment's true and predicted label rows, paired and chained over its FOVs as
    the scorer reads them (Track 1: only the VIPs).

    Raises
    ------
    SingleTaskFailure
        If a FOV's prediction is missing, or its VIP indices differ from the video's.

    See Also
    --------
    chain_fovs : the pairing of each FOV's trajectories.
    """
    edir = layout.exp_dir(ref, track, exp)
    n_fov = sum(1 for p in edir.iterdir() if p.name.startswith("traj_labs_"))
    true_fovs, pred_fovs = [], []
    for fov in range(n_fov):
        pred_file = layout.prediction_path(submission, track, exp, fov)
        if not pred_file.is_file():
            raise SingleTaskFailure(f"missing {pred_file}")
        preds = load_records(pred_file)
        trues = load_records(layout.labels_path(ref, track, exp, fov))
        if track == 1:
            vip = read_vip_indices(layout.vip_path(ref, exp, fov))
            got = np.array([r.idx for r in preds]).astype(int)
            if len(vip) != len(got) or (np.sort(vip) != np.sort(got)).any():
                raise SingleTaskFailure(
                    f"{pred_file}: VIP indices {sorted(got.tolist())} differ from the "
                    f"video's {sorted(vip.tolist())}"
                )
            vset = set(vip.tolist())
            trues = [r for r in trues if r.idx in vset]
        true_fovs.append(trues)
        pred_fovs.append(preds)
    return chain_fovs(true_fovs, pred_fovs)


# --------------------------------------------------------------------------------------------
# folders → results
# --------------------------------------------------------------------------------------------


@dataclass
class TrackScore:
    """Scores of one track.

    Attributes
    ----------
    track : int
    per_exp : list of dict
        One dict per experiment: ``exp, num_trajs`` and the metric keys.
    single, ensemble : dict
        Track averages (single metrics weighted by trajectory count, ensemble plain mean).
    single_failure, ensemble_failure : str or None
        Why a task got the maximum errors, if it did.
    submitted : bool
        False when the submission has no folder for this track.
    """

    track: int
    per_exp: list[dict] = field(default_factory=list)
    single: dict[str, float] = field(default_factory=dict)
    ensemble: dict[str, float] = field(default_factory=dict)
    single_failure: str | None = None
    ensemble_failure: str | None = None
    submitted: bool = True
    missing_trajs: int = 0


def reference_experiments(ref: Path, track: int) -> list[int]:
    """Experiments as the organisers list them: folder names sorted as text, first number."""
    tdir = layout.track_dir(ref, track)
    names = sorted(p.name for p in tdir.iterdir() if not p.name.startswith((".", "_")))
    return [int(re.findall(r"\d+", n)[0]) for n in names]


def score_track(submission: str | Path, ref: str | Path, track: int) -> TrackScore:
    """Score one track of a submission.

    Parameters
    ----------
    submission : path-like
        Folder holding ``track_<N>/exp_<E>/fov_<F>.txt`` and ``ensemble_labels.txt``.
    ref : path-like
        Reference folder in the organisers' layout.
    track : int
        1 (videos) or 2 (trajectories).
    """
    submission, ref = Path(submission), Path(ref)
    if not layout.track_dir(ref, track).is_dir():
        raise InputError(f"{layout.track_dir(ref, track)}: reference track folder not found")
    res = TrackScore(track=track)
    if not layout.track_dir(submission, track).is_dir():
        res.submitted = False
        return res
    exps = reference_experiments(ref, track)
    rows = {e: {"exp": e} for e in exps}

    # ensemble task
    w1 = []
    for e in exps:
        try:
            true = np.loadtxt(layout.ensemble_path(ref, track, e), skiprows=1, delimiter=";")
            pred = np.loadtxt(layout.ensemble_path(submission, track, e), skiprows=1,
                              delimiter=";")
            d = M.ensemble_distances(true, pred)
        except Exception as exc:  # the organisers catch everything here too
            res.ensemble_failure = f"exp {e}: {exc}"
            break
        rows[e].update(w1_alpha=d[0], w1_K=d[1])
        w1.append(d)
    if res.ensemble_failure is None:
        res.ensemble = {"w1_alpha": float(np.mean([d[0] for d in w1])),
                        "w1_K": float(np.mean([d[1] for d in w1]))}
    else:
        res.ensemble = dict(M.ENSEMBLE_FAILURE)
        for r in rows.values():
            r.pop("w1_alpha", None)
            r.pop("w1_K", None)

    # single-trajectory task
    try:
        for e in exps:
            trues, preds = load_experiment(submission, ref, track, e)
            s = score_single(trues, preds)
            res.missing_trajs += s.pop("n_missing")
            rows[e].update(num_trajs=len(trues), **s)
    except SingleTaskFailure as exc:
        res.single_failure = str(exc)
    if res.single_failure is None:
        w = np.array([rows[e]["num_trajs"] for e in exps], dtype=float)
        res.single = {k: float(np.average([rows[e][k] for e in exps], weights=w))
                      for k in SINGLE_KEYS}
    else:
        res.single = dict(M.SINGLE_FAILURE)
        for r in rows.values():
            for k in (*SINGLE_KEYS, "num_trajs"):
                r.pop(k, None)
    res.per_exp = [rows[e] for e in exps]
    return res


def score(submission: str | Path, ref: str | Path, tracks=(1, 2)) -> list[TrackScore]:
    """Score every requested track present in the reference folder."""
    ref = Path(ref)
    return [score_track(submission, ref, t) for t in tracks
            if layout.track_dir(ref, t).is_dir()]


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def scores_text(results: list[TrackScore]) -> str:
    """``scores.txt`` in the organisers' ``trN.taM.name: value`` format and order."""
    lines = []
    for r in results:
        if not r.submitted:
            continue
        lines.append(f"tr{r.track}.ta2.alpha: {_num(r.ensemble['w1_alpha'])}")
        lines.append(f"tr{r.track}.ta2.D: {_num(r.ensemble['w1_K'])}")
        for name, key in zip(("cp", "JI", "alpha", "D", "state"), SINGLE_KEYS, strict=True):
            lines.append(f"tr{r.track}.ta1.{name}: {_num(r.single[key])}")
    return "".join(line + "\n" for line in lines)


def _num(v: float) -> str:
    return repr(float(v))


def results_csv(results: list[TrackScore]) -> str:
    """Per-experiment and average rows of every track as CSV text."""
    cols = ["track", "exp", "num_trajs", *SINGLE_KEYS, *ENSEMBLE_KEYS]
    lines = [",".join(cols)]
    for r in results:
        if not r.submitted:
            continue
        for row in [*r.per_exp, {"exp": "avg", **r.single, **r.ensemble,
                                 "num_trajs": sum(x.get("num_trajs", 0) for x in r.per_exp)}]:
            vals = [str(r.track)]
            for c in cols[1:]:
                v = row.get(c, "")
                vals.append(repr(float(v)) if isinstance(v, float) else str(v))
            lines.append(",".join(vals))
    return "\n".join(lines) + "\n"


def write_outputs(results: list[TrackScore], out: str | Path) -> tuple[Path, Path]:
    """Write ``scores.txt`` and ``scores.csv`` into ``out`` atomically."""
    out = Path(out)
    return (write_text_atomic(out / "scores.txt", scores_text(results)),
            write_text_atomic(out / "scores.csv", results_csv(results)))


def read_scores_txt(path: str | Path) -> dict[str, float]:
    """Parse a ``scores.txt`` (ours or the organisers') into ``{name: value}``."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = float(v)
    return out


def fmt(v: float | None, digits: int = 3) -> str:
    """Format a metric for tables."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"
