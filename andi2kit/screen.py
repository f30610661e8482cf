"""Trajectories a method can only answer with a default, found before prediction.

A 1–2-frame trajectory has at most one step, so no exponent can be fitted; coordinates
beyond :data:`MAX_ABS_COORDINATE` pixels overflow the displacement arithmetic; a trajectory
that never moves has no step variance to fit. Methods still label them (with their
fallback values), and :func:`andi2kit.pipeline.run` reports each kind per FOV with the
trajectory indices, instead of letting the fallback pass silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Shortest trajectory (frames) whose exponent a method can estimate.
MIN_FRAMES = 3
#: Larger |x| or |y| (pixels) is not a challenge coordinate (the field is 128 px wide).
MAX_ABS_COORDINATE = 1e6


def screen(trajs: pd.DataFrame) -> dict[str, list[int]]:
    """Indices of trajectories that get fallback labels, by reason.

    Parameters
    ----------
    trajs : pandas.DataFrame
        One FOV: ``traj_idx, frame, x, y``.

    Returns
    -------
    dict
        ``{reason: sorted trajectory indices}``, only reasons with at least one trajectory.
    """
    g = trajs.groupby("traj_idx", sort=True)
    span = g["frame"].max() - g["frame"].min() + 1
    big = (trajs[["x", "y"]].abs() > MAX_ABS_COORDINATE).any(axis=1)
    moves = (g["x"].nunique() > 1) | (g["y"].nunique() > 1)
    found = {
        f"shorter than {MIN_FRAMES} frames": span.index[span < MIN_FRAMES],
        f"with coordinates beyond ±{MAX_ABS_COORDINATE:g} px": np.unique(trajs.traj_idx[big]),
        "that never move (no step to fit)": moves.index[~moves & (span >= MIN_FRAMES)],
    }
    return {k: sorted(int(i) for i in v) for k, v in found.items() if len(v)}


def describe(found: dict[str, list[int]], n: int = 10) -> list[str]:
    """One line per reason: count and the first ``n`` indices."""
    lines = []
    for reason, ids in found.items():
        shown = ", ".join(map(str, ids[:n])) + (", …" if len(ids) > n else "")
        lines.append(f"{len(ids)} trajectory/ies {reason}, given fallback labels: {shown}")
    return lines
