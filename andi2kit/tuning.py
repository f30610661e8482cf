"""Choose the segmentation and the ensemble method on simulated validation data.

Per-frame predictions of every validation FOV are computed once; then every candidate
segmenter (search method × penalty) turns them into segments, which are scored with the
official metrics (:mod:`andi2kit.scoring`) against the validation reference. The winner is
written to ``segmentation.json`` of a checkpoint folder (``--out``: a copy of the source
checkpoint) and used by ``--method unet --checkpoint`` that folder.

The validation data must come from the training priors (``andi2kit simulate
data/validation --preset validation --no-video``), never from the benchmark.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from andi2kit import layout, state_mixture
from andi2kit.ensemble import ENSEMBLE_METHODS
from andi2kit.errors import OptionError
from andi2kit.inference import DEFAULT_CHECKPOINT, checkpoint_file
from andi2kit.io import read_ensemble, read_labels, read_trajectories, write_text_atomic
from andi2kit.labels import LabelRow, TrajectoryLabel
from andi2kit.methods.unet import UNetMethod
from andi2kit.pooled_msd import PooledMsd
from andi2kit.pooling import Pooling, SegmentErrorModel
from andi2kit.scoring import metrics as M
from andi2kit.scoring.score import chain_fovs, load_records, score_single
from andi2kit.segment import Segmenter
from andi2kit.tensors import to_dense, unpack


def _record(lab) -> LabelRow:
    return LabelRow(float(lab.idx), lab.K.copy(), lab.alpha.copy(), lab.state.astype(float),
                  np.append(lab.cp, lab.T).astype(float))


def frame_predictions(public: Path, method) -> dict[tuple[int, int], tuple]:
    """``{(exp, fov): (indices, per-trajectory (T, 7) frames, per-trajectory (T, 2) steps)}``
    for Track 2."""
    out = {}
    for e in layout.experiments(public, 2):
        for f in layout.fovs(public, 2, e, "trajs"):
            tensor, frames = method.predict_frames(
                read_trajectories(layout.trajs_path(public, 2, e, f)))
            out[(e, f)] = (tensor.idx, frames, unpack(tensor, tensor.x))
    return out


def segment_all(preds: dict, segmenter: Segmenter) -> dict[int, list[list[TrajectoryLabel]]]:
    """``{exp: [labels of each FOV]}`` from per-frame predictions."""
    out: dict[int, list] = {}
    for (e, _f), (idx, frames, steps) in sorted(preds.items()):
        out.setdefault(e, []).append(
            [segmenter(i, fr, st) for i, fr, st in zip(idx, frames, steps, strict=True)])
    return out


def fit_error_model(preds: dict, ref: Path, segmenter: Segmenter) -> SegmentErrorModel:
    """Calibrate :class:`~andi2kit.pooling.SegmentErrorModel` on validation data."""
    pred_all, true_all = [], []
    fov_labels = [fl for fls in segment_all(preds, segmenter).values() for fl in fls]
    for (e, f), labels in zip(sorted(preds), fov_labels, strict=True):
        truth = {lab.idx: lab for lab in read_labels(layout.labels_path(ref, 2, e, f))}
        for lab in labels:
            if lab.idx in truth:
                pred_all.append(lab)
                true_all.append(truth[lab.idx])
    return SegmentErrorModel.fit(pred_all, true_all)


def state_evidence(public: Path, method, preds: dict) -> dict | None:
    """``{(exp, fov): evidence}`` of :meth:`~andi2kit.methods.unet.UNetMethod.fov_evidence`
    for :func:`frame_predictions` output, or None when the method's checkpoint has no state
    stage (no experiment-level state decision)."""
    if not getattr(method, "gives_evidence", False):
        return None
    return {(e, f): method.fov_evidence(
                to_dense(read_trajectories(layout.trajs_path(public, 2, e, f))), frames)
            for (e, f), (_, frames, _) in preds.items()}


def evaluate(preds: dict, ref: Path, segmenter: Segmenter, ensemble: str = "single_gaussian",
             pooling: Pooling | None = None, evidence: dict | None = None) -> dict[str, float]:
    """Track 2 metrics (trajectory-weighted / plain means over experiments) of one setting.

    With ``evidence`` (:func:`state_evidence`), each experiment keeps only the states it is
    judged to hold (:func:`andi2kit.state_mixture.decide`), as ``andi2kit run`` does. With
    ``pooling``, each experiment's segments then go through
    :func:`~andi2kit.pooling.pool_experiment`; the ensemble is built from the segments before
    pooling.
    """
    fovs = sorted(preds)
    rows, w1 = [], []
    for e, fov_labels in segment_all(preds, segmenter).items():
        if evidence is not None:
            keys = [k for k in fovs if k[0] == e]
            fov_labels = state_mixture.decide_experiment(
                fov_labels, [state_mixture.segment_probabilities(fl, preds[k][1])
                             for fl, k in zip(fov_labels, keys, strict=True)],
                [evidence[k] for k in keys])
        raw = [lab for fl in fov_labels for lab in fl]
        if pooling is not None:
            flat = pooling(raw)
            sizes = np.cumsum([0] + [len(fl) for fl in fov_labels])
            fov_labels = [flat[a:b] for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        exp_fovs = [f for (ee, f) in fovs if ee == e]
        true_fovs = [load_records(layout.labels_path(ref, 2, e, f)) for f in exp_fovs]
        pred_fovs = [[_record(lab) for lab in fl] for fl in fov_labels]
        trues, preds_e = chain_fovs(true_fovs, pred_fovs)
        s = score_single(trues, preds_e)
        s["n"] = len(trues)
        rows.append(s)
        true_ens = read_ensemble(layout.ensemble_path(ref, 2, e)).matrix
        ens = ENSEMBLE_METHODS[ensemble](raw)
        w1.append(M.ensemble_distances(true_ens, ens.matrix))
    n = np.array([r["n"] for r in rows], float)
    out = {k: float(np.average([r[k] for r in rows], weights=n))
           for k in ("rmse_cp", "jsc_cp", "alpha", "K", "state")}
    out["w1_alpha"] = float(np.mean([d[0] for d in w1]))
    out["w1_K"] = float(np.mean([d[1] for d in w1]))
    return out


def _tuned_checkpoint(source: Path, out: str | Path | None) -> Path:
    folder = Path(out) if out is not None else source
    if folder.exists() and not folder.is_dir():
        raise OptionError(f"--out {folder}: exists and is not a folder")
    if folder.resolve() == DEFAULT_CHECKPOINT.resolve():
        raise OptionError(f"--out {folder}: the packaged default checkpoint is never "
                          "modified; choose another folder")
    return folder / "segmentation.json"


def write_tuned(source: Path, target: Path, chosen: dict) -> Path:
    """Write tuned settings to ``target`` (a checkpoint's ``segmentation.json``); when it
    lies in another folder than ``source``, copy the checkpoint's other files there first,
    so that the folder is a complete checkpoint. Returns ``target``."""
    if target.parent.resolve() != source.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if f.is_file() and f.name != target.name:
                shutil.copy2(f, target.parent / f.name)
    return write_text_atomic(target, json.dumps(chosen, indent=2))


def tune(public: str | Path, ref: str | Path, checkpoint: str | Path | None = None,
         methods=("optimal", "binseg", "bottomup", "window"),
         pens=(1, 2, 4, 8, 16, 32, 64), refine_windows=(0, 1, 2, 3),
         pool_states=(2, 3, 4, 5), pool_spreads=(0.02, 0.05, 0.1, 0.2, 0.4),
         state_shares=(0.0, 0.01, 0.02, 0.05, 0.1),
         out: str | Path | None = None) -> dict:
    """Grid-search segmenters and ensembles; write the best to ``segmentation.json``.

    The segmenter is chosen by JSC of the change points (the paper's weak point) to two
    decimals (closer JSCs are within the noise of a validation set of ~1,400 trajectories),
    ties broken by the lower change-point RMSE; then the window of the change-point refinement
    on the raw steps (:func:`~andi2kit.segment.refine_change_points`) by the lowest RMSE at
    the same JSC; the ensemble method by the sum of the two W1
    distances. Then the pooling error model (:mod:`andi2kit.pooling`) is fitted, the number of
    states and smallest state spread chosen by the summed relative α MAE and K MSLE, and the
    pooling kept when it makes neither worse; with pooling kept, the share below which a state
    is taken for false alarms in an experiment (:func:`~andi2kit.pooling.gate_states`) is
    chosen among ``state_shares`` by the state F1 (ties: the smallest).

    Parameters
    ----------
    out : path-like, optional
        Checkpoint folder to write: the source checkpoint's files are copied there and the
        chosen settings written to its ``segmentation.json``. None: the source checkpoint
        itself, which is refused for the packaged default (it is never modified).

    Returns
    -------
    dict
        ``{"results": [...], "best": {...}, "path": segmentation.json written}``.

    Raises
    ------
    OptionError
        If the settings would overwrite the packaged default checkpoint.
    """
    public, ref = Path(public), Path(ref)
    target = _tuned_checkpoint(checkpoint_file(checkpoint).parent, out)  # before any work
    method = UNetMethod(checkpoint=checkpoint)
    t0 = time.perf_counter()
    preds = frame_predictions(public, method)
    ev = state_evidence(public, method, preds)
    t_pred = time.perf_counter() - t0
    results = []
    base = evaluate(preds, ref, Segmenter(method="none"), evidence=ev)
    results.append({"method": "none", "pen": None, **base})
    for m in methods:
        for pen in pens:
            t = time.perf_counter()
            r = evaluate(preds, ref, Segmenter(method=m, pen=float(pen)), evidence=ev)
            results.append({"method": m, "pen": pen, **r, "seconds": time.perf_counter() - t})
    best = max(results, key=lambda r: (round(r["jsc_cp"], 2), -r["rmse_cp"]))
    seg = Segmenter(method=best["method"], pen=float(best["pen"] or 1.0))
    # change-point refinement on the raw steps: the window with the lowest RMSE, JSC kept
    refined = {w: evaluate(preds, ref, replace(seg, refine=w), evidence=ev)
               for w in refine_windows}
    w_best = min(refined, key=lambda w: (-round(refined[w]["jsc_cp"], 2), refined[w]["rmse_cp"]))
    seg = replace(seg, refine=w_best)
    ens_scores = {name: evaluate(preds, ref, seg, name, evidence=ev)
                  for name in ENSEMBLE_METHODS}
    best_ens = min(ens_scores, key=lambda k: ens_scores[k]["w1_alpha"] + ens_scores[k]["w1_K"])
    # experiment-level pooling: the setting with the best α MAE and K MSLE (relative to no
    # pooling, summed), kept only if it improves both
    base = ens_scores[best_ens]
    error = fit_error_model(preds, ref, seg)
    pool_scores = {}
    for ms in pool_states:
        for spread in pool_spreads:
            cand = Pooling(error, ms, spread)
            pool_scores[cand] = evaluate(preds, ref, seg, best_ens, pooling=cand, evidence=ev)
    best_pool = min(pool_scores, key=lambda c: (pool_scores[c]["alpha"] / base["alpha"]
                                                + pool_scores[c]["K"] / base["K"]))
    pooled = pool_scores[best_pool]
    use_pool = pooled["alpha"] <= base["alpha"] and pooled["K"] <= base["K"]
    # the experiment-level state gate: the share with the best state F1 (ties: the smallest)
    gate_scores = {}
    if use_pool:
        for share in state_shares:
            gate_scores[share] = evaluate(preds, ref, seg, best_ens,
                                          pooling=replace(best_pool, min_state_share=share),
                                          evidence=ev)
        share = max(sorted(gate_scores), key=lambda v: round(gate_scores[v]["state"], 4))
        best_pool = replace(best_pool, min_state_share=share)
        pooled = gate_scores[share]
    chosen = {"segmenter": asdict(seg), "ensemble": best_ens,
              "pooling": best_pool.to_dict() if use_pool else None,
              # chosen on the generalisation tuning seeds (positions needed), not by this grid
              "pooled_msd": PooledMsd().to_dict() if use_pool else None,
              "validation": {**(pooled if use_pool else ens_scores[best_ens])},
              "validation_without_pooling": {**ens_scores[best_ens]},
              "prediction_seconds": t_pred}
    write_tuned(method.checkpoint.path, target, chosen)
    return {"results": results, "refine": refined, "ensembles": ens_scores,
            "pooling": {(c.max_states, c.min_spread): r for c, r in pool_scores.items()},
            "state_gate": gate_scores, "best": chosen, "path": str(target)}
