"""Trajectory tables ↔ dense arrays.

A FOV's trajectory table (``traj_idx, frame, x, y``) becomes a ``(n_traj, n_frames, 2)`` array
of positions indexed by frame offset from each trajectory's first frame, NaN where a frame
is absent (a gap in a tracked trajectory, or after the trajectory's end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
