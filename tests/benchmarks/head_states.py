"""The per-frame model's own outputs on held-out training boxes: α MAE, K MSLE and the state
head's recall at several operating points, for one or more checkpoints on the same frames.

A class-weighted state loss (``TrainConfig.state_weights``) moves the head's operating point;
this divides the weights' prior back out of its probabilities and then adds the same
log-offset to immobile and confined, so that heads trained otherwise are compared at equal
free recall, not at their own argmax::

    python tests/benchmarks/head_states.py checkpoints/unet-default data/ckpt-balanced \\
        --test data/states-test --offsets 0 0.5 1 1.5 2

See Also
--------
andi2kit.models.fit_states : the state stage fitted on a head's outputs, reported on the
    same folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from andi2kit import state_offsets
from andi2kit.constants import LOCALISATION_NOISE, STATE_NAMES
from andi2kit.inference import load_checkpoint
from andi2kit.models.fit_states import shards, unet_frames
from andi2kit.training_data import load_shards


def head_frames(checkpoint: Path, test: Path, seed: int = 12345
                ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """True states and the head's state probabilities of every real frame of ``test`` (σ =
    0.12, the noise drawn as :func:`andi2kit.models.fit_states.report` draws it), and the
    frames' α MAE and K MSLE."""
    ckpt = load_checkpoint(checkpoint, stage=False)
    rng = np.random.default_rng(seed)
    ys, ps, da, dk = [], [], [], []
    for p in shards(test):
        d = load_shards([p])
        _, frames, truth = unet_frames(ckpt, d, rng, LOCALISATION_NOISE)
        T = truth.shape[1]
        real = np.arange(T)[None, :] < d["length"][:, None]
        ys.append(truth[real])
        ps.append(frames[..., 3:7][real])
        da.append(np.abs(frames[..., 0][real] - d["labels"][:, :T, 0][real]))
        dk.append((np.log1p(np.maximum(frames[..., 1][real], 0))
                   - np.log1p(np.maximum(d["labels"][:, :T, 1][real], 0))) ** 2)
    return (np.concatenate(ys).astype(int), np.concatenate(ps),
            float(np.mean(np.concatenate(da))), float(np.mean(np.concatenate(dk))))


def state_weights(checkpoint: Path) -> np.ndarray:
    """The class weights a checkpoint's state head was trained with (all 1 if none)."""
    cfg = Path(checkpoint) / "config.json"
    w = json.loads(cfg.read_text()).get("state_weights") if cfg.is_file() else None
    return np.asarray(w if w else [1.0] * 4, dtype=np.float64)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--test", type=Path, default=Path("data/states-test"))
    ap.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0],
                    help="log-offsets added to immobile and confined")
    args = ap.parse_args(argv)
    print("| checkpoint | α MAE | K MSLE | offset | "
          + " | ".join(STATE_NAMES) + " | accuracy |")
    print("|---" * (5 + len(STATE_NAMES)) + "|")
    for ck in args.checkpoints:
        y, P, a_mae, k_msle = head_frames(ck, args.test)
        logp = np.log(np.maximum(P, 1e-9)) - np.log(state_weights(ck))
        for b in args.offsets:
            pred = (logp + np.array([b, b, 0.0, 0.0])).argmax(1)
            rec = state_offsets.recalls(y, pred)
            print(f"| {ck} | {a_mae:.4f} | {k_msle:.4f} | {b:g} | "
                  + " | ".join(f"{r:.3f}" for r in rec) + f" | {np.mean(pred == y):.3f} |")


if __name__ == "__main__":
    main()
