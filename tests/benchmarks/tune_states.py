"""Choose how the per-frame state stage and the experiment-level state gate are used.

Runs the default checkpoint's U-Net once per FOV of Track 2 suites (tuning seeds only), then
scores, per experiment, the segmentation + pooling of the checkpoint with

* the U-Net's own states, or the stage's (:mod:`andi2kit.states`; needs ``states.pkl`` in
  ``--stage``), with the change-point signal on the U-Net's or the stage's probabilities;
* the stage's offsets chosen (:func:`andi2kit.state_offsets.choose_offsets`, on the last shards of
  ``--fit``) for several free recalls;
* the experiment-level gate (:func:`andi2kit.pooling.gate_states`) at several shares.

Usage::

    python tests/benchmarks/tune_states.py data/gen-challenge-seed0 data/gen-wide-seed0 \\
        --stage /tmp/ck1 --shares 0 0.02 0.05 0.1 --free-recalls 0.95 0.98
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from andi2kit import state_offsets, states
from andi2kit.inference import COLUMN, PROBABILITIES
from andi2kit.methods.unet import UNetMethod
from andi2kit.tuning import evaluate, frame_predictions

KEYS = ("rmse_cp", "jsc_cp", "alpha", "K", "state")


def restated(preds: dict, clf, signal_from_stage: bool) -> dict:
    """Frame predictions with the stage's states (and, if asked, its probabilities)."""
    out = {}
    for key, (idx, frames, steps) in preds.items():
        new = states.restate(clf, steps, frames)
        if not signal_from_stage:
            for f_old, f_new in zip(frames, new, strict=True):
                f_new[:, PROBABILITIES] = f_old[:, PROBABILITIES]
        out[key] = (idx, new, steps)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="+", type=Path, help="simulated folders (tuning seeds)")
    ap.add_argument("--checkpoint", default=None, help="U-Net checkpoint (default: packaged)")
    ap.add_argument("--stage", type=Path, required=True, help="folder holding states.pkl")
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.02, 0.05])
    ap.add_argument("--free-recalls", type=float, nargs="+", default=[])
    ap.add_argument("--fit", type=Path, default=Path("data/states-fit"))
    ap.add_argument("--signals", nargs="+", default=["unet", "stage"])
    ap.add_argument("--search", action="store_true",
                    help="search the offsets for the best mean state F1 over the suites")
    ap.add_argument("--search-share", type=float, default=0.02)
    args = ap.parse_args()
    counts = np.array(json.loads((args.stage / states.INFO_FILE).read_text())
                      ["per_state_counts_fit"], float)
    prior = np.log(np.maximum(counts, 1) / counts[2])  # the training frames' own mix
    print(f"prior offsets {prior.round(2).tolist()}")
    if args.search:
        method = UNetMethod(args.checkpoint, state_stage=False)
        clf = states.load(args.stage)
        off = search(args.suites, method, clf, args.search_share, np.arange(-7.0, 2.5, 0.5),
                     np.where(np.isfinite(prior), prior, 0.0))
        print(f"chosen offsets {off.tolist()}")
        return

    method = UNetMethod(args.checkpoint, state_stage=False)  # the U-Net's own states first
    clf = states.load(args.stage)
    offsets = {"saved": clf.offsets.copy(), "prior": prior}
    if args.free_recalls:
        from andi2kit.models.fit_states import frames_of
        from andi2kit.training_data import split_shards

        _, tune_paths = split_shards([args.fit], 3)
        Xt, yt, _ = frames_of(method.checkpoint, tune_paths, np.random.default_rng(0),
                              (0.05, 0.2))
        logp = clf.log_proba(Xt)
        for r in args.free_recalls:
            offsets[f"free>={r}"] = state_offsets.choose_offsets(logp, yt, free_recall=r)
            rec = state_offsets.recalls(yt, np.argmax(logp + offsets[f"free>={r}"], 1))
            print(f"free >= {r}: offsets {offsets[f'free>={r}'].round(2).tolist()}, recalls "
                  f"{rec.round(3)}")
    base_pool = method.pooling
    for suite in args.suites:
        preds = frame_predictions(suite / "public_data", method)
        ref = suite / "ref"
        variants = {"unet": preds}
        for oname, off in offsets.items():
            clf.offsets = off
            for sig in args.signals:
                variants[f"stage {oname}, {sig} signal"] = restated(preds, clf, sig == "stage")
        exps = sorted({e for e, _ in preds})
        print(f"\n## {suite}\n")
        print("| states | gate share | " + " | ".join(KEYS) + " | F1 per experiment |")
        print("|---" * (len(KEYS) + 3) + "|")
        for name, p in variants.items():
            for share in args.shares:
                pool = replace(base_pool, min_state_share=share)
                avg = evaluate(p, ref, method.segmenter, method.ensemble_name, pool)
                per = [evaluate({k: v for k, v in p.items() if k[0] == e}, ref,
                                method.segmenter, method.ensemble_name, pool)["state"]
                       for e in exps]
                print(f"| {name} | {share} | " + " | ".join(f"{avg[k]:.3f}" for k in KEYS)
                      + " | " + " ".join(f"{v:.3f}" for v in per) + " |", flush=True)
        for name, p in variants.items():
            frames = [f for _, fr, _ in p.values() for f in fr]
            calls = np.bincount(np.concatenate([f[:, COLUMN["state"]] for f in frames])
                                .astype(int), minlength=4)
            print(f"per-frame calls, {name}: {calls.tolist()}")


def stage_logp(preds: dict, clf) -> dict:
    """Per FOV the stage's log-probabilities of every frame (no offsets), computed once."""
    out = {}
    for key, (_idx, frames, steps) in preds.items():
        X, length = states.fov_features(steps, frames)
        out[key] = (clf.log_proba(X), np.cumsum(np.r_[0, length]))
    return out


def with_offsets(preds: dict, logp: dict, off: np.ndarray) -> dict:
    """Frame predictions whose states and probabilities come from ``logp + off``."""
    out = {}
    for key, (idx, frames, steps) in preds.items():
        lp, bounds = logp[key]
        z = lp + off
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        new = []
        for i, f in enumerate(frames):
            g = f.copy()
            g[:, PROBABILITIES] = p[bounds[i]:bounds[i + 1]]
            g[:, COLUMN["state"]] = np.argmax(p[bounds[i]:bounds[i + 1]], 1)
            new.append(g)
        out[key] = (idx, new, steps)
    return out


def search(suites: list[Path], method, clf, share: float, grid: np.ndarray,
           start: np.ndarray) -> np.ndarray:
    """Coordinate search of the offsets of immobile, confined and directed for the best mean
    Track 2 state F1 over ``suites`` (segmentation on the stage's probabilities)."""
    pool = replace(method.pooling, min_state_share=share)
    data = []
    for suite in suites:
        preds = frame_predictions(suite / "public_data", method)
        data.append((preds, stage_logp(preds, clf), suite / "ref"))

    def f1(off: np.ndarray) -> float:
        return float(np.mean([evaluate(with_offsets(p, lp, off), ref, method.segmenter,
                                       method.ensemble_name, pool)["state"]
                              for p, lp, ref in data]))

    print(f"start {np.round(start, 2).tolist()}: F1 {f1(np.asarray(start, float)):.4f}")
    off = state_offsets.coordinate_search(lambda o: round(f1(o), 4), start, grid, rounds=2)
    print(f"best {off.round(2).tolist()}: F1 {f1(off):.4f}")
    return off


if __name__ == "__main__":
    main()
