"""Trajectory tables ↔ dense arrays.

A FOV's trajectory table (``traj_idx, frame, x, y``) becomes a ``(n_traj, n_frames, 2)`` array
of positions indexed by frame offset from each trajectory's first frame, NaN where a frame
is absent (a gap in a tracked trajectory, or after the trajectory's end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from andi2kit.constants import BRIGHTNESS


@dataclass
class DenseTrajectories:
    """Positions of a FOV's trajectories on a common frame grid.

    Attributes
    ----------
    idx : numpy.ndarray
        Trajectory indices, shape ``(n,)``.
    start : numpy.ndarray
        First frame of each trajectory, shape ``(n,)``.
    length : numpy.ndarray
        ``last frame - first frame + 1`` of each trajectory (its T), shape ``(n,)``.
    pos : numpy.ndarray
        ``(n, max length, 2)`` positions, NaN where absent.
    """

    idx: np.ndarray
    start: np.ndarray
    length: np.ndarray
    pos: np.ndarray


def to_dense(df: pd.DataFrame) -> DenseTrajectories:
    """Pack a trajectory table into :class:`DenseTrajectories`."""
    traj = df["traj_idx"].to_numpy()
    frame = df["frame"].to_numpy()
    idx, inv = np.unique(traj, return_inverse=True)
    start = np.full(idx.size, np.iinfo(np.int64).max)
    np.minimum.at(start, inv, frame)
    stop = np.full(idx.size, np.iinfo(np.int64).min)
    np.maximum.at(stop, inv, frame)
    length = stop - start + 1
    pos = np.full((idx.size, int(length.max()), 2), np.nan)
    offs = frame - start[inv]
    pos[inv, offs, 0] = df["x"].to_numpy()
    pos[inv, offs, 1] = df["y"].to_numpy()
    return DenseTrajectories(idx=idx, start=start, length=length, pos=pos)


# --------------------------------------------------------------------------------------------
# model tensors
# --------------------------------------------------------------------------------------------

#: Rows (trajectories) and columns (frames) of one model input, as in the paper.
ROWS = 64
FRAMES = 208
#: Displacements are divided by this (pixels); fixed, so that K stays absolute.
SCALE = 1.0


@dataclass
class FOVTensor:
    """A FOV packed into model inputs, with what is needed to map outputs back.

    Attributes
    ----------
    x : numpy.ndarray
        ``(chunks, 64, 208, 2)`` float32 scaled displacements ``(Δx, Δy) / SCALE``; column
        ``t`` is the step from frame ``t-1`` to ``t`` of the trajectory (counted from its
        first frame; column 0 is 0); zero where there is no trajectory or frame.
    mask : numpy.ndarray
        ``(chunks, 64, 208)`` bool, True on real frames.
    idx, start, length : numpy.ndarray
        Trajectory index, first frame and length of each trajectory. Without windows, row
        ``r`` of chunk ``c`` is trajectory ``c * 64 + r``.
    windows : numpy.ndarray or None
        For a FOV with a trajectory longer than the 208 columns: ``(rows, 2)`` trajectory
        number and first column of each packed row (consecutive windows of 208 frames);
        None when every trajectory fits in one row.
    """

    x: np.ndarray
    mask: np.ndarray
    idx: np.ndarray
    start: np.ndarray
    length: np.ndarray
    windows: np.ndarray | None = None


def displacements(pos: np.ndarray) -> np.ndarray:
    """Per-frame steps of left-aligned positions ``(n, T, 2)`` (NaN after the end).

    Gaps inside a trajectory are linearly interpolated first; the first column is 0 and
    columns after each trajectory's end are 0.
    """
    pos = np.array(pos, dtype=np.float64)
    n, T, _ = pos.shape
    t = np.arange(T)
    for i in np.flatnonzero(np.isnan(pos[..., 0]).any(axis=1)):
        ok = ~np.isnan(pos[i, :, 0])
        if ok.sum() >= 2:
            last = np.flatnonzero(ok)[-1]
            for d in range(2):
                pos[i, : last + 1, d] = np.interp(t[: last + 1], t[ok], pos[i, ok, d])
    d = np.zeros_like(pos)
    d[:, 1:] = pos[:, 1:] - pos[:, :-1]
    return np.nan_to_num(d, nan=0.0)


def pack(dense: DenseTrajectories, rows: int = ROWS, frames: int = FRAMES) -> FOVTensor:
    """Pack a FOV's trajectories into ``(chunks, rows, frames, 2)`` model inputs.

    More than ``rows`` trajectories give more chunks; the last chunk is zero-padded. A
    trajectory longer than ``frames`` is cut into consecutive windows of ``frames`` steps,
    one row each (the steps are computed on the whole trajectory first, so none is lost);
    :func:`unpack` joins their outputs again.
    """
    n, T = dense.pos.shape[:2]
    d = displacements(dense.pos) / SCALE
    if T <= frames:
        windows = None
        row_traj, row_off = np.arange(n), np.zeros(n, np.int64)
    else:
        per = np.maximum(1, -(-dense.length // frames))
        row_traj = np.repeat(np.arange(n), per)
        row_off = np.concatenate([np.arange(k) * frames for k in per])
        windows = np.column_stack([row_traj, row_off])
    nrows = row_traj.size
    chunks = max(1, -(-nrows // rows))
    x = np.zeros((chunks * rows, frames, 2), np.float32)
    mask = np.zeros((chunks * rows, frames), bool)
    if windows is None:
        x[:n, :T] = d
        mask[:n, :T] = np.arange(T)[None, :] < dense.length[:, None]
    else:
        for r, (i, o) in enumerate(windows):
            w = int(min(frames, dense.length[i] - o))
            x[r, :w] = d[i, o:o + w]
            mask[r, :w] = True
    x[:nrows][~mask[:nrows]] = 0
    return FOVTensor(x=x.reshape(chunks, rows, frames, 2), mask=mask.reshape(chunks, rows, frames),
                     idx=dense.idx, start=dense.start, length=dense.length, windows=windows)


def unpack(tensor: FOVTensor, out: np.ndarray) -> list[np.ndarray]:
    """Per-frame outputs ``(chunks, rows, frames, C)`` → one ``(length_i, C)`` array per trajectory.

    The inverse of :func:`pack`: element ``i`` belongs to trajectory ``tensor.idx[i]`` and
    its row ``t`` to frame ``tensor.start[i] + t`` (windows of a long trajectory joined).
    """
    flat = out.reshape(-1, out.shape[2], *out.shape[3:])
    if tensor.windows is None:
        return [flat[i, : int(L)] for i, L in enumerate(tensor.length)]
    rows_of: list[list[int]] = [[] for _ in tensor.length]
    for r, (i, _) in enumerate(tensor.windows):
        rows_of[i].append(r)
    return [np.concatenate([flat[r] for r in rs])[: int(L)]
            for rs, L in zip(rows_of, tensor.length, strict=True)]


def uncertain_frames(trajs: pd.DataFrame) -> dict[int, np.ndarray]:
    """``{traj_idx: bool array over the trajectory's frames}`` from a ``flags`` column (any
    bit set), empty without one."""
    if "flags" not in trajs:
        return {}
    return {int(i): g.sort_values("frame")["flags"].to_numpy() != 0
            for i, g in trajs.groupby("traj_idx")}


def per_trajectory(dense: DenseTrajectories) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per trajectory, its ``(T_i, 2)`` positions and frame numbers."""
    positions = [dense.pos[i, :int(L)] for i, L in enumerate(dense.length)]
    numbers = [dense.start[i] + np.arange(int(L)) for i, L in enumerate(dense.length)]
    return positions, numbers


def brightness_per_trajectory(trajs: pd.DataFrame, dense: DenseTrajectories,
                              numbers: list[np.ndarray]) -> list[np.ndarray] | None:
    """Per trajectory of ``dense``, the tracker's spot brightness over its frames
    ``numbers`` (NaN where unknown); None without a ``brightness`` column (Track 2)."""
    if BRIGHTNESS not in trajs:
        return None
    by = {int(i): g.set_index("frame")[BRIGHTNESS] for i, g in trajs.groupby("traj_idx")}
    return [by[int(i)].reindex(f).to_numpy(float) if int(i) in by else np.full(f.size, np.nan)
            for i, f in zip(dense.idx, numbers, strict=True)]
