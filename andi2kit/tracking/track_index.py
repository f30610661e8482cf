"""Linked detections indexed for the VIP logic: by track, and by frame across tracks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Detections", "Track", "tracks_by_particle"]


@dataclass
class Track:
    """One linked track: its frames and positions."""

    frames: np.ndarray
    pos: np.ndarray  # (n, 2): row, col


def tracks_by_particle(tracks: pd.DataFrame) -> dict[int, Track]:
    """Each track of :func:`andi2kit.tracking.link`'s output (sorted by particle, then
    frame), by particle number."""
    out = {}
    if tracks.empty:
        return out
    pid = tracks["particle"].to_numpy()
    frames = tracks["frame"].to_numpy()
    pos = tracks[["y", "x"]].to_numpy()
    bounds = np.flatnonzero(np.diff(pid)) + 1
    for sl in np.split(np.arange(pid.size), bounds):
        out[int(pid[sl[0]])] = Track(frames[sl], pos[sl])
    return out


@dataclass
class Detections:
    """All linked detections sorted by frame, for searching continuations."""

    frame: np.ndarray
    pos: np.ndarray  # (n, 2): row, col
    particle: np.ndarray
    start: np.ndarray  # first detection of its track

    @classmethod
    def from_tracks(cls, tracks: pd.DataFrame) -> Detections:
        if tracks.empty:
            z = np.zeros(0, dtype=np.int64)
            return cls(z, np.zeros((0, 2)), z, np.zeros(0, dtype=bool))
        start = ~tracks["particle"].duplicated().to_numpy()  # tracks are sorted by frame
        order = np.argsort(tracks["frame"].to_numpy(), kind="stable")
        return cls(tracks["frame"].to_numpy()[order], tracks[["y", "x"]].to_numpy()[order],
                   tracks["particle"].to_numpy()[order], start[order])

    def window(self, lo: int, hi: int) -> slice:
        """Rows with ``lo < frame <= hi``."""
        a, b = np.searchsorted(self.frame, [lo, hi], side="right")
        return slice(int(a), int(b))
