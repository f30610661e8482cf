"""Time per-frame inference and segmentation on a benchmark-sized Track 2 workload.

Usage: ``python tests/benchmarks/bench_inference.py [--checkpoint DIR] [--fovs 270]``

Builds ``--fovs`` FOV tables of Brownian trajectories with the benchmark's size
(≈93 trajectories per FOV, lengths 20–200; inference cost does not depend on the motion),
then times (1) packing + one batched model call over all FOVs (with the checkpoint's
state stage, when it has one), (2) segmentation of every trajectory with the checkpoint's
tuned segmenter, (3) each FOV's state evidence for the experiment-level decision, and
prints trajectories per second and
the projected time for the ~25,000-trajectory Track 2 benchmark.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fov_table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    parts = []
    for i in range(n):
        T = int(rng.integers(20, 201))
        start = int(rng.integers(0, 201 - T))
        xy = np.cumsum(rng.normal(0, 1.0, (T, 2)), axis=0) + rng.uniform(0, 200, 2)
        parts.append(pd.DataFrame({"traj_idx": i, "frame": start + np.arange(T),
                                   "x": xy[:, 0], "y": xy[:, 1]}))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--fovs", type=int, default=270)
    ap.add_argument("--trajs-per-fov", type=int, default=93)
    args = ap.parse_args()

    from andi2kit.inference import predict_tensors
    from andi2kit.methods.unet import UNetMethod
    from andi2kit.tensors import pack, to_dense

    rng = np.random.default_rng(0)
    fovs = [fov_table(rng, args.trajs_per_fov) for _ in range(args.fovs)]
    n = sum(df.traj_idx.nunique() for df in fovs)
    method = UNetMethod(checkpoint=args.checkpoint)
    t0 = time.perf_counter()
    tensors = [pack(to_dense(df)) for df in fovs]
    frames = predict_tensors(method.checkpoint, tensors)
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t, fr in zip(tensors, frames, strict=True):
        for i, f in zip(t.idx, fr, strict=True):
            method.segmenter(i, f)
    t_seg = time.perf_counter() - t0
    t0 = time.perf_counter()
    if method.gives_evidence:
        for df, fr in zip(fovs, frames, strict=True):
            method.fov_evidence(to_dense(df), fr)
    t_ev = time.perf_counter() - t0
    total = t_model + t_seg + t_ev
    print(f"FOVs: {args.fovs}, trajectories: {n}")
    print(f"pack + model (batched): {t_model:7.1f} s  ({n / t_model:6.0f} trajectories/s)")
    print(f"segmentation ({method.segmenter.method}): {t_seg:7.1f} s  ({n / t_seg:6.0f} "
          "trajectories/s)")
    print(f"state evidence: {t_ev:7.1f} s")
    print(f"total: {total:.1f} s → projected for 25,000 trajectories: "
          f"{total / n * 25000 / 60:.1f} min")


if __name__ == "__main__":
    main()
