"""Continuations of a VIP beyond its own track: sharing another VIP's spot, and the track
that lasts the movie when it was led out of the field.

See Also
--------
andi2kit.tracking.vips : the VIP logic that calls these.
"""

from __future__ import annotations

import numpy as np

from andi2kit.tracking.params import TrackingParams
from andi2kit.tracking.track_index import Detections, Track

__all__ = ["rescue", "ride"]


def ride(frames: np.ndarray, pos: np.ndarray, dets: Detections, claimed: set[int],
         p: TrackingParams) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Share another VIP's spot (``frames``, ``pos``: its track from where the rider
    joins) until the two part: the first unclaimed track that starts within
    ``reacquire_radius`` of the shared spot's position in the frame before. Returns the
    shared frames and positions and the parting track (None: shared to the end)."""
    sl = dets.window(int(frames[0]), int(frames[-1]))
    new = dets.start[sl] & ~np.isin(dets.particle[sl], list(claimed))
    fr, at, pid = dets.frame[sl][new], dets.pos[sl][new], dets.particle[sl][new]
    for i in range(1, frames.size):
        sel = (fr > frames[i - 1]) & (fr <= frames[i])
        if not sel.any():
            continue
        d = np.hypot(at[sel, 0] - pos[i - 1, 0], at[sel, 1] - pos[i - 1, 1])
        j = int(np.argmin(d))
        if d[j] <= p.reacquire_radius:
            return frames[:i], pos[:i], int(pid[sel][j])
    return frames, pos, None


def rescue(frames: np.ndarray, pos: np.ndarray, joins: list[int], shared: np.ndarray,
           dets: Detections, tracks: dict[int, Track], claimed: set[int], last_frame: int,
           p: TrackingParams) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
    """Give a VIP that ends before the movie does the track it most likely lost.

    andi-datasets picks the VIPs among the longest trajectories, so a VIP almost always stays
    in the field for the whole movie; one that ends early mostly followed another particle
    out of it. Walking back from its end, the latest frame where a track that no VIP holds
    and that lasts to the last frame passes within ``contact_radius`` is where the two
    parted: the VIP continues on that track from the next frame (a join, flagged
    re-acquired). The VIP's frames, positions, join frames and shared frames (as the VIP
    logic follows them) in, the same out; ``claimed`` gains the track.
    """
    if frames.size == 0 or frames[-1] >= last_frame:
        return frames, pos, joins, shared
    for k in range(frames.size - 1, -1, -1):
        t = int(frames[k])
        sl = dets.window(t - 1, t)
        pid = dets.particle[sl]
        d = np.hypot(dets.pos[sl, 0] - pos[k, 0], dets.pos[sl, 1] - pos[k, 1])
        for j in np.argsort(d):
            if d[j] > p.contact_radius:
                break
            c = int(pid[j])
            if c in claimed:  # the VIP's own track among them
                continue
            tr = tracks[c]
            if tr.frames[-1] >= last_frame and tr.frames[0] <= t:
                claimed.add(c)
                keep = tr.frames > t
                return (np.concatenate([frames[:k + 1], tr.frames[keep]]),
                        np.concatenate([pos[:k + 1], tr.pos[keep]]),
                        [*(j for j in joins if j <= t), int(tr.frames[keep][0])],
                        shared[shared <= t])
    return frames, pos, joins, shared
