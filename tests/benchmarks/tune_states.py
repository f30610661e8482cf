"""Choose how the per-frame state stage and the experiment-level state gate are used.

Runs the default checkpoint's U-Net once per FOV of Track 2 suites (tuning seeds only), then
scores, per experiment, the segmentation + pooling of the checkpoint with

* the U-Net's own states, or the stage's (:mod:`andi2kit.states`; needs ``states.pkl`` in
  ``--stage``), with the change-point signal on the U-Net's or the stage's probabilities;
* the stage's offsets chosen (:func:`andi2kit.states.choose_offsets`, on the last shards of
  ``--fit``) for several free recalls;
* the experiment-level gate (:func:`andi2kit.pooling.gate_states`) at several shares.

Usage::

    python tests/benchmarks/tune_states.py data/gen-challenge-seed0 data/gen-wide-seed0 \\
        --stage /tmp/ck1 --shares 0 0.02 0.05 0.1 --free-recalls 0.95 0.98
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from andi2kit import states
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
    args = ap.parse_args()

    method = UNetMethod(args.checkpoint)
    method.checkpoint.states = None  # the U-Net's own states first
    clf = states.load(args.stage)
    offsets = {"saved": clf.offsets.copy()}
    if args.free_recalls:
        from andi2kit.models.fit_states import frames_of
        from andi2kit.training_data import split_shards

        _, tune_paths = split_shards([args.fit], 3)
        Xt, yt, _ = frames_of(method.checkpoint, tune_paths, np.random.default_rng(0),
                              (0.05, 0.2))
        logp = clf.log_proba(Xt)
        for r in args.free_recalls:
            offsets[f"free>={r}"] = states.choose_offsets(logp, yt, free_recall=r)
            print(f"free >= {r}: offsets {offsets[f'free>={r}'].round(2).tolist()}, recalls "
                  f"{states.recalls(yt, np.argmax(logp + offsets[f'free>={r}'], 1)).round(3)}")
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


if __name__ == "__main__":
    main()
