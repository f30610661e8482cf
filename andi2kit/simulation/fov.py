"""The per-FOV job: simulate one FOV with andi-datasets, check and re-index its labels, add
the public localisation noise, and move every file into the challenge layout.

Each job seeds NumPy's global generator, ``stochastic``'s and Python's from
``(seed, exp, fov)`` (:func:`fov_seeds`), so its files do not depend on the worker or the order
of execution. Its staging record (:func:`~andi2kit.layout.staging_record_path`) is written
last: a FOV with a record is finished.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.labels import LabelRow, parse_label_line
from andi2kit.simulation.andi_compat import import_andi, quiet, record_fov_origin, wider_spots


@dataclass(frozen=True)
class FovJob:
    """One FOV to simulate (picklable: it travels to a worker process)."""

    out: str
    exp: int
    fov: int
    dic: dict
    seed: int
    video: bool
    num_vip: int
    sigma_noise: float
    key: str
    psf_scale: float = 1.0


def fov_seeds(seed: int, exp: int, fov: int) -> dict[str, int]:
    words = np.random.SeedSequence([seed, exp, fov]).generate_state(4)
    return {
        "numpy": int(words[0]),
        "stochastic": int(words[1]),
        "noise": int(words[2]),
        "python": int(words[3]),
    }


def fov_outputs(out: Path, exp: int, fov: int, video: bool) -> list[Path]:
    public, ref = out / "public_data", out / "ref"
    paths = [layout.trajs_path(public, 2, exp, fov), layout.labels_path(ref, 2, exp, fov)]
    if video:
        paths += [
            layout.video_path(public, exp, fov),
            layout.labels_path(ref, 1, exp, fov),
            layout.vip_path(ref, exp, fov),
            layout.trajs_path(ref, 1, exp, fov),
            layout.fov_origin_path(ref, exp, fov),
        ]
    return paths


def reindex_labels(text: str, df: pd.DataFrame, source: str) -> str:
    """Put the label lines on the CSV's trajectory indices, sorted by index.

    The organisers' CSV keeps its rows in the original trajectory order while the indices may
    have been renumbered (VIPs first): the k-th block of rows is the k-th label line.
    """
    new_of_old = pd.unique(df["traj_idx"].to_numpy())
    lengths = df.groupby("traj_idx", sort=False).size()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) != len(new_of_old):
        raise RuntimeError(f"{source}: {len(lines)} label lines for {len(new_of_old)} trajectories")
    out = {}
    for k, line in enumerate(lines):
        idx, rest = line.split(",", 1)
        if int(float(idx)) != k:
            raise RuntimeError(f"{source}: label line {k + 1} has index {idx}, expected {k}")
        new = int(new_of_old[k])
        if int(float(rest.rsplit(",", 1)[1])) != int(lengths[new_of_old[k]]):
            raise RuntimeError(f"{source}: label of trajectory {new} does not match its length")
        out[new] = f"{new},{rest}"
    return "".join(out[i] + "\n" for i in sorted(out))


def check_labels(text: str, df: pd.DataFrame, source: str) -> None:
    """Check every label line frame by frame against its trajectory's per-frame truth.

    A label's segments must give, at each frame of the trajectory with the same index, the
    ``D``, ``alpha`` and ``state`` columns of that frame: a label that describes another
    trajectory (andi-datasets' renumbering) or a misplaced change point fails here.
    """
    truth = {int(k): g for k, g in df.groupby("traj_idx", sort=False)}
    for line in text.splitlines():
        fields = LabelRow.split(parse_label_line(line, source))
        idx, K, alpha, state = int(fields.idx), fields.K, fields.alpha, fields.state
        g = truth[idx]
        ends = fields.bounds.astype(np.int64)
        seg = np.searchsorted(ends, np.arange(len(g)), side="right")
        if ends[-1] != len(g) or not (
            np.allclose(g["D"].to_numpy(), K[seg], rtol=1e-6, atol=1e-12)
            and np.allclose(g["alpha"].to_numpy(), alpha[seg], rtol=1e-6, atol=1e-12)
            and np.array_equal(g["state"].to_numpy().astype(np.int64), state[seg].astype(np.int64))
        ):
            raise RuntimeError(f"{source}: the label of trajectory {idx} does not describe its "
                               "frames (K, alpha or state differ)")


def run_fov(job: FovJob) -> dict:
    """Simulate one FOV and move its files into place; returns the staging record."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(job.out)
    dc = import_andi()
    # andi-datasets (and its stochastic) take seconds to import: only a FOV's job needs them
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    seeds = fov_seeds(job.seed, job.exp, job.fov)
    np.random.seed(seeds["numpy"])  # noqa: NPY002 (the generator andi-datasets uses)
    stochastic.random.seed(seeds["stochastic"])
    random.seed(seeds["python"])

    dic = copy.deepcopy(job.dic)
    if dic["model"] == "confinement":
        dic["comp_center"] = models_phenom._distribute_circular_compartments(
            Nc=dic["Nc"], r=dic["r"], L=dic["L"]
        )
    elif dic["model"] == "immobile_traps":
        dic["traps_pos"] = np.random.rand(dic["Nt"], 2) * dic["L"]  # noqa: NPY002

    tmp_root = layout.staging_dir(out) / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"exp_{job.exp}_fov_{job.fov}_", dir=tmp_root))
    origin: list = []
    try:
        with quiet(), record_fov_origin(dc, origin), wider_spots(dc, job.psf_scale):
            result = dc.challenge_phenom_dataset(
                dics=[dic], num_fovs=1, return_timestep_labs=True, save_data=True, path=tmp,
                get_video=job.video, num_vip=job.num_vip if job.video else None,
                sigma_noise=0.0,
            )
        df = result[0][0]
        ensemble = np.asarray(result[-1][0], dtype=float)
        record = _place_outputs(job, tmp, df, origin[0], seeds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    model = dic["model"]
    num_states = dic["alphas"].shape[0] if model == "multi_state" else (
        1 if model == "single_state" else 2)
    record.update(
        exp=job.exp, fov=job.fov, key=job.key, seed=job.seed, video=job.video,
        model=model, num_states=int(num_states), ensemble=ensemble.reshape(5, -1).tolist(),
        wall_s=round(time.perf_counter() - t0, 3), cpu_s=round(time.process_time() - c0, 3),
    )
    io.write_text_atomic(layout.staging_record_path(out, job.exp, job.fov),
                       json.dumps(record, indent=1))
    return record


def _place_outputs(job: FovJob, tmp: Path, df: pd.DataFrame, origin: list, seeds: dict) -> dict:
    out, exp, fov = Path(job.out), job.exp, job.fov
    public, ref = out / "public_data", out / "ref"
    raw = "exp_0_fov_0"

    df = df.astype({"traj_idx": np.int64, "frame": np.int64})
    labels = reindex_labels(
        (tmp / f"traj_labs_{raw}.txt").read_text(), df, f"exp {exp} fov {fov}"
    )
    df = df.sort_values(["traj_idx", "frame"], kind="stable").reset_index(drop=True)
    check_labels(labels, df, f"exp {exp} fov {fov}")

    noisy = df.loc[:, list(io.TRAJ_COLUMNS)].copy()
    noise = np.random.default_rng(seeds["noise"]).normal(0.0, job.sigma_noise, (len(df), 2))
    noisy[["x", "y"]] = noisy[["x", "y"]].to_numpy() + noise
    io.write_trajectories(layout.trajs_path(public, 2, exp, fov), noisy)
    io.write_text_atomic(layout.labels_path(ref, 2, exp, fov), labels)

    record: dict[str, Any] = {"seeds": seeds, "fov_origin": origin,
                              "n_trajectories": int(df["traj_idx"].nunique())}
    if job.video:
        vips = io.read_vip_indices(tmp / f"vip_idx_{raw}.txt").tolist()
        truth = df[df["traj_idx"].isin(vips)]
        cols = [*io.TRAJ_COLUMNS, "alpha", "D", "state"]
        io.write_text_atomic(layout.trajs_path(ref, 1, exp, fov), truth[cols].to_csv(index=False))
        io.write_text_atomic(layout.vip_path(ref, exp, fov), "".join(f"{v}\n" for v in vips))
        io.write_text_atomic(layout.fov_origin_path(ref, exp, fov), f"{origin[0]},{origin[1]}\n")
        io.write_text_atomic(layout.labels_path(ref, 1, exp, fov), labels)
        dest = layout.video_path(public, exp, fov)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / f"videos_{raw}.tiff", dest)  # same file system: atomic
        record["vip_idx"] = vips
    return record
