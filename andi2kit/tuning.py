"""Choose the segmentation and the ensemble method on simulated validation data.

Per-frame predictions of every validation FOV are computed once; then every candidate
segmenter (search method × penalty) turns them into segments, which are scored with the
official metrics (:mod:`andi2kit.scoring`) against the validation reference. The winner is
written next to the checkpoint (``segmentation.json``) and used by ``--method unet``.

The validation data must come from the training priors (``andi2kit simulate
data/validation --preset validation --no-video``), never from the benchmark.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.ensemble import ENSEMBLE_METHODS
from andi2kit.io import read_ensemble, read_trajectories, write_text_atomic
from andi2kit.scoring import metrics as M
from andi2kit.scoring.score import Record, chain_fovs, load_records, score_single
from andi2kit.segment import Segmenter


def _record(lab) -> Record:
    return Record(float(lab.idx), lab.K.copy(), lab.alpha.copy(), lab.state.astype(float),
                  np.append(lab.cp, lab.T).astype(float))


def frame_predictions(public: Path, method) -> dict[tuple[int, int], tuple]:
    """``{(exp, fov): (trajectory indices, per-trajectory (T, 7) frames)}`` for Track 2."""
    out = {}
    for e in layout.experiments(public, 2):
        for f in layout.fovs(public, 2, e, "trajs"):
            tensor, frames = method.predict_frames(
                read_trajectories(layout.trajs_path(public, 2, e, f)))
            out[(e, f)] = (tensor.idx, frames)
    return out


def evaluate(preds: dict, ref: Path, segmenter: Segmenter, ensemble: str = "single_gaussian"
             ) -> dict[str, float]:
    """Track 2 metrics (trajectory-weighted / plain means over experiments) of one setting."""
    by_exp: dict[int, list] = {}
    for (e, f), v in sorted(preds.items()):
        by_exp.setdefault(e, []).append((f, v))
    rows, w1 = [], []
    for e, fovs in by_exp.items():
        true_fovs, pred_fovs, all_labels = [], [], []
        for f, (idx, frames) in fovs:
            labels = [segmenter(i, fr) for i, fr in zip(idx, frames, strict=True)]
            all_labels += labels
            pred_fovs.append([_record(lab) for lab in labels])
            true_fovs.append(load_records(layout.labels_path(ref, 2, e, f)))
        trues, preds_e = chain_fovs(true_fovs, pred_fovs)
        s = score_single(trues, preds_e)
        s["n"] = len(trues)
        rows.append(s)
        true_ens = read_ensemble(layout.ensemble_path(ref, 2, e)).matrix
        pred_ens = ENSEMBLE_METHODS[ensemble](all_labels).matrix
        w1.append(M.ensemble_distances(true_ens, pred_ens))
    n = np.array([r["n"] for r in rows], float)
    out = {k: float(np.average([r[k] for r in rows], weights=n))
           for k in ("rmse_cp", "jsc_cp", "alpha", "K", "state")}
    out["w1_alpha"] = float(np.mean([d[0] for d in w1]))
    out["w1_K"] = float(np.mean([d[1] for d in w1]))
    return out


def tune(public: str | Path, ref: str | Path, checkpoint: str | Path | None = None,
         methods=("optimal", "binseg", "bottomup", "window"),
         pens=(1, 2, 4, 8, 16, 32, 64), out: str | Path | None = None) -> dict:
    """Grid-search segmenters and ensembles; write the best to ``segmentation.json``.

    The segmenter is chosen by JSC of the change points (the paper's weak point) to two
    decimals (closer JSCs are within the noise of a validation set of ~1,400 trajectories),
    ties broken by the lower change-point RMSE; the ensemble method by the sum of the two W1
    distances.

    Returns
    -------
    dict
        ``{"results": [...], "best": {...}}``.
    """
    from andi2kit.methods.unet import UNetMethod

    public, ref = Path(public), Path(ref)
    method = UNetMethod(checkpoint=checkpoint)
    t0 = time.perf_counter()
    preds = frame_predictions(public, method)
    t_pred = time.perf_counter() - t0
    results = []
    base = evaluate(preds, ref, Segmenter(method="none"))
    results.append({"method": "none", "pen": None, **base})
    for m in methods:
        for pen in pens:
            t = time.perf_counter()
            r = evaluate(preds, ref, Segmenter(method=m, pen=float(pen)))
            results.append({"method": m, "pen": pen, **r, "seconds": time.perf_counter() - t})
    best = max(results, key=lambda r: (round(r["jsc_cp"], 2), -r["rmse_cp"]))
    seg = Segmenter(method=best["method"], pen=float(best["pen"] or 1.0))
    ens_scores = {name: evaluate(preds, ref, seg, name) for name in ENSEMBLE_METHODS}
    best_ens = min(ens_scores, key=lambda k: ens_scores[k]["w1_alpha"] + ens_scores[k]["w1_K"])
    chosen = {"segmenter": asdict(seg), "ensemble": best_ens,
              "validation": {**ens_scores[best_ens]}, "prediction_seconds": t_pred}
    target = Path(out) if out else method.checkpoint.path / "segmentation.json"
    write_text_atomic(target, json.dumps(chosen, indent=2))
    return {"results": results, "ensembles": ens_scores, "best": chosen, "path": str(target)}
