"""VIP identification: page-0 centroids → first-frame tracks → whole trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from andi2kit.constants import BRIGHTNESS
from andi2kit.tracking.continuations import rescue, ride
from andi2kit.tracking.params import MIN_LENGTH, TrackingParams
from andi2kit.tracking.track_index import Detections, Track, tracks_by_particle

#: Bits of the ``flags`` column of tracked VIP trajectories: where the tracker is unsure.
#: ENCOUNTER: another spot within ``encounter_radius`` of the VIP (this frame or the ones
#: beside it) or the VIP's spot ``encounter_merged`` times as bright as usual, and the
#: ``encounter_frames`` frames around (spots overlap, identities can swap); also every frame
#: the VIP shares another VIP's spot;
#: REACQUIRED: first frame of a continuation after the VIP's track was lost;
#: FILLED: a gap frame given the nearest detection; INTERPOLATED: a gap frame with no
#: detection near (straight line); HELD: a position that is a guess (page-0 position or the
#: last one held).
ENCOUNTER, REACQUIRED, FILLED, INTERPOLATED, HELD = 1, 2, 4, 8, 16


def match_vips(centroids: dict[int, np.ndarray], first: pd.DataFrame,
               radius: float) -> dict[int, int | None]:
    """Pair VIP centroids with first-frame tracks by minimum total distance.

    Parameters
    ----------
    centroids : dict
        ``{vip: array([col, row])}`` from :func:`andi2kit.io.decode_vip_frame`.
    first : pandas.DataFrame
        Linked detections of the first frame (``x`` column, ``y`` row, ``particle``).
    radius : float
        Pairs farther apart are dropped.

    Returns
    -------
    dict
        ``{vip: particle or None}``.
    """
    from scipy.optimize import linear_sum_assignment

    vips = sorted(centroids)
    out: dict[int, int | None] = dict.fromkeys(vips)
    if first.empty or not vips:
        return out
    c = np.array([centroids[v] for v in vips])  # (col, row)
    d = np.hypot(c[:, None, 0] - first["x"].to_numpy()[None],
                 c[:, None, 1] - first["y"].to_numpy()[None])
    big = 1e6
    rows, cols = linear_sum_assignment(np.where(d <= radius, d, big))
    particles = first["particle"].to_numpy()
    for r, k in zip(rows, cols, strict=True):
        if d[r, k] <= radius:
            out[vips[r]] = int(particles[k])
    return out


def _step_rate(frames: np.ndarray, pos: np.ndarray, p: TrackingParams, span: int = 10) -> float:
    """Per-axis variance per frame of a trajectory's recent steps (with a weak prior)."""
    k = min(span, frames.size - 1)
    n0 = 2.0
    if k < 1:
        return 2 * p.D_prior
    d = np.diff(pos[-1 - k:], axis=0)
    g = np.diff(frames[-1 - k:]).astype(np.float64)
    return float((np.sum(d ** 2) / 2 + n0 * 2 * p.D_prior) / (g.sum() + n0))


def _predict(frames: np.ndarray, pos: np.ndarray, ahead: int, span: int) -> np.ndarray:
    """Position ``ahead`` frames after the last point, from the mean recent velocity."""
    if frames.size < 2 or span < 1:
        return pos[-1]
    k = min(span, frames.size - 1)
    vel = (pos[-1] - pos[-1 - k]) / max(frames[-1] - frames[-1 - k], 1)
    # extrapolate only motion that is clearly directed, else random steps add noise
    steps = np.diff(pos[-1 - k:], axis=0)
    spread = np.sqrt(np.mean(np.sum((steps - vel) ** 2, axis=1))) if k > 1 else np.inf
    if np.linalg.norm(vel) < spread:
        return pos[-1]
    return pos[-1] + vel * ahead


def _follow(start: int | None, seed_pos: np.ndarray, tracks: dict[int, Track],
            dets: Detections, claimed: set[int], shape: tuple[int, int], last_frame: int,
            first_frame: int, p: TrackingParams
            ) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
    """Frames and positions (row, col) of one VIP, chaining tracks across losses, the
    frames where a continuation was joined, and the frames it shared another VIP's spot.

    When the VIP's track ends, its continuation is the best detection in the next frames
    near the position predicted from its own motion: preferably the start of a new track,
    else a detection inside another (unclaimed) track, which the VIP then follows from there
    (the linker gave the VIP's detection to a neighbour that had just vanished). Away from
    the border, a detection of a track that another VIP holds may be the best one too (at
    ``share_cost``): two VIPs in one spot, bound or overlapping. The VIP then shares that
    spot (:func:`~andi2kit.tracking.continuations.ride`) until a new track starts beside
    it, the two spots parting, and continues on that track. Returns frames, positions, join
    frames and shared frames.
    """
    frames_out: list[np.ndarray] = []
    pos_out: list[np.ndarray] = []
    joins: list[int] = []
    shared: list[np.ndarray] = []
    others = claimed - {start}  # tracks that other VIPs hold
    if start is None:
        # not seen in the first frame: look for it from the page-0 position onwards
        cur_frames = np.array([first_frame - 1])
        cur_pos = seed_pos[None]
    else:
        claimed.add(start)
        t = tracks[start]
        frames_out.append(t.frames)
        pos_out.append(t.pos)
        cur_frames, cur_pos = t.frames, t.pos
    while True:
        end = int(cur_frames[-1])
        if end >= last_frame:
            break
        allf = np.concatenate(frames_out) if frames_out else cur_frames
        allp = np.concatenate(pos_out) if pos_out else cur_pos
        last = allp[-1]
        near_edge = (min(last[0], last[1], shape[0] - 1 - last[0], shape[1] - 1 - last[1])
                     < p.edge)
        window = p.memory + 1 if near_edge else p.reacquire_frames
        sl = dets.window(end, end + window)
        pid = dets.particle[sl]
        free = ~np.isin(pid, list(claimed))
        share = np.isin(pid, list(others)) & (not near_edge) & np.isfinite(p.share_cost)
        use = free | share
        if not use.any():
            break
        fr = dets.frame[sl][use]
        pos = dets.pos[sl][use]
        pid, is_start, share = pid[use], dets.start[sl][use], share[use]
        gap = fr - end
        pred = np.array([_predict(allf, allp, g, p.velocity_frames) for g in range(1, window + 1)])
        pred = pred[gap - 1]
        dist = np.hypot(pos[:, 0] - pred[:, 0], pos[:, 1] - pred[:, 1])
        # the particle's own step size sets how far it may have gone
        var = _step_rate(allf, allp, p) * gap + 2 * p.loc_sigma ** 2
        radius = np.maximum(p.reacquire_radius + p.reacquire_growth * np.sqrt(gap - 1),
                            np.sqrt(p.reacquire_chi2 * var))
        ok = dist <= radius
        if not ok.any():
            break
        score = (dist ** 2 / (2 * var) + np.log(var) + p.gap_cost * gap
                 + np.where(share, p.share_cost, np.where(is_start, 0.0, p.steal_cost)))
        k = int(np.argmin(np.where(ok, score, np.inf)))
        chosen = int(pid[k])
        t = tracks[chosen]
        keep = t.frames >= fr[k]
        joins.append(int(fr[k]))
        if share[k]:
            ride_f, ride_p, nxt = ride(t.frames[keep], t.pos[keep], dets, claimed, p)
            shared.append(ride_f)
            frames_out.append(ride_f)
            pos_out.append(ride_p)
            cur_frames = ride_f
            if nxt is None:
                continue
            chosen, t = nxt, tracks[nxt]
            keep = t.frames > ride_f[-1]
            joins.append(int(t.frames[keep][0]))
        claimed.add(chosen)
        frames_out.append(t.frames[keep])
        pos_out.append(t.pos[keep])
        cur_frames = t.frames[keep]
    none = np.zeros(0, dtype=np.int64)
    if not frames_out:
        # never found: the page-0 position over the whole movie is the best guess left
        frames = np.arange(first_frame, last_frame + 1)
        return frames, np.repeat(seed_pos[None], frames.size, axis=0), [], none
    return (np.concatenate(frames_out), np.concatenate(pos_out), joins,
            np.concatenate(shared) if shared else none)


def _fill(frames: np.ndarray, pos: np.ndarray, dets: dict[int, np.ndarray],
          radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the missing frames between the first and last one.

    A VIP missing from its tracks is mostly hidden in the blob of a particle it overlaps:
    walking through a gap, the detection nearest to the straight line towards the next known
    position is taken when it lies within ``radius`` (flag ``FILLED``); otherwise the
    position is interpolated (``INTERPOLATED``). Returns frames, positions and flags.
    """
    order = np.argsort(frames, kind="stable")
    frames, pos = frames[order], pos[order]
    keep = np.concatenate([[True], np.diff(frames) > 0])
    frames, pos = frames[keep], pos[keep]
    full = np.arange(frames[0], frames[-1] + 1)
    out = np.empty((full.size, 2))
    flags = np.zeros(full.size, dtype=np.int64)
    out[frames - frames[0]] = pos
    for k in np.flatnonzero(np.diff(frames) > 1):
        a, b = int(frames[k]), int(frames[k + 1])
        prev, nxt = pos[k], pos[k + 1]
        for fr in range(a + 1, b):
            guess = prev + (nxt - prev) / (b - fr + 1)
            flag = INTERPOLATED
            cand = dets.get(fr)
            if radius > 0 and cand is not None and len(cand):
                d = np.hypot(cand[:, 0] - guess[0], cand[:, 1] - guess[1])
                j = int(np.argmin(d))
                if d[j] <= radius:
                    guess, flag = cand[j], FILLED
            out[fr - frames[0]] = prev = guess
            flags[fr - frames[0]] = flag
    return full, out, flags


def _own_mass(frames: np.ndarray, pos: np.ndarray, dets: dict[int, np.ndarray],
              masses: dict[int, np.ndarray]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The mass of the detection the VIP sits on in each of its frames (NaN where its
    position is no detection: interpolated or held), and each frame's other detections."""
    own = {int(f): pos[k] for k, f in enumerate(frames)}
    others, own_mass = {}, np.full(frames.size, np.nan)
    for f, cand in dets.items():
        mine = own.get(f)
        if mine is None:
            others[f] = cand
            continue
        d = np.hypot(cand[:, 0] - mine[0], cand[:, 1] - mine[1])
        others[f] = cand[d > 1e-9]
        if np.any(d <= 1e-9):
            own_mass[int(f) - int(frames[0])] = masses[f][np.argmin(d)]
    return own_mass, others


def _encounters(frames: np.ndarray, pos: np.ndarray, own_mass: np.ndarray,
                others: dict[int, np.ndarray], radius: float, merged: float) -> np.ndarray:
    """Frames where the VIP meets another spot.

    Another spot is a detection other than the VIP's own (``others``, :func:`_own_mass`)
    within ``radius`` in this frame or the frames just before and after. Two spots that merge
    show as one: a frame whose own detection is more than ``merged`` times as bright as the
    VIP's median counts too.
    """
    close = np.zeros(frames.size, dtype=bool)
    if radius <= 0:
        return close
    for k, fr in enumerate(frames):
        for s in (int(fr) - 1, int(fr), int(fr) + 1):
            cand = others.get(s)
            if cand is not None and len(cand) and np.any(
                    np.hypot(cand[:, 0] - pos[k, 0], cand[:, 1] - pos[k, 1]) <= radius):
                close[k] = True
                break
    if merged > 0 and np.isfinite(own_mass).sum() >= 5:
        close |= own_mass > merged * np.nanmedian(own_mass)
    return close


def follow_vips(tracks: pd.DataFrame, centroids: dict[int, np.ndarray], shape: tuple[int, int],
                n_frames: int, params: TrackingParams = TrackingParams(),
                first_frame: int = 0) -> pd.DataFrame:
    """Trajectories of the VIP particles from linked tracks.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Output of :func:`link` (``y`` row, ``x`` column, ``frame``, ``particle``).
    centroids : dict
        ``{vip: array([col, row])}`` from :func:`andi2kit.io.decode_vip_frame`.
    shape : tuple of int
        Frame height and width.
    n_frames : int
        Number of movie frames; frames are ``first_frame .. first_frame + n_frames - 1``.
    params : TrackingParams
        VIP settings.
    first_frame : int
        Number of the first movie frame.

    Returns
    -------
    pandas.DataFrame
        ``traj_idx, frame, row, col, flags, brightness``, one row per frame of each VIP's
        span, every VIP present; ``flags`` holds the bits :data:`ENCOUNTER`,
        :data:`REACQUIRED`, :data:`FILLED`, :data:`INTERPOLATED`, :data:`HELD` (0: a
        detection of the VIP's own track, away from other spots); ``brightness`` is the mass
        of the detection the VIP sits on over the median mass of the frame's detections
        (about 1 for one particle, 2 for two in one spot: a bound pair; NaN where the
        position is no detection).
    """
    p = params
    last_frame = first_frame + n_frames - 1
    by_pid = tracks_by_particle(tracks)
    first = tracks[tracks["frame"] == first_frame] if not tracks.empty else tracks
    pairs = match_vips(centroids, first, p.vip_radius)
    found = Detections.from_tracks(tracks)
    claimed = {pid for pid in pairs.values() if pid is not None}
    dets, masses = {}, {}
    if not tracks.empty:
        fr = tracks["frame"].to_numpy()
        yx = tracks[["y", "x"]].to_numpy()
        mass = (tracks["mass"].to_numpy() if "mass" in tracks
                else np.ones(len(tracks)))
        order = np.argsort(fr, kind="stable")
        fr, yx, mass = fr[order], yx[order], mass[order]
        cuts = np.flatnonzero(np.diff(fr)) + 1
        for idx in np.split(np.arange(fr.size), cuts):
            dets[int(fr[idx[0]])], masses[int(fr[idx[0]])] = yx[idx], mass[idx]
    # a typical single spot of each frame: the unit of the VIPs' brightness
    frame_mass = (tracks.groupby("frame")["mass"].median() if "mass" in tracks and len(tracks)
                  else pd.Series(dtype=float))
    parts = []
    seeds = {vip: np.asarray(c, dtype=float)[::-1] for vip, c in centroids.items()}  # row, col
    followed = {vip: _follow(pairs[vip], seeds[vip], by_pid, found, claimed, shape,
                             last_frame, first_frame, p) for vip in sorted(centroids)}
    if p.vips_span_movie:
        for vip in sorted(centroids):
            followed[vip] = rescue(*followed[vip], found, by_pid, claimed, last_frame, p)
    for vip in sorted(centroids):
        seed = seeds[vip]
        frames, pos, joins, shared = followed[vip]
        never_found = not joins and pairs[vip] is None
        seeded = frames.min() > first_frame
        if seeded:
            # a VIP is in the first frame by definition: start from its page-0 position
            frames = np.concatenate([[first_frame], frames])
            pos = np.concatenate([seed[None], pos])
        frames, pos, flags = _fill(frames, pos, dets, p.fill_radius)
        if never_found:
            flags[:] = HELD
        elif seeded:
            flags[0] |= HELD
        flags[np.isin(frames, joins)] |= REACQUIRED
        if frames.size < MIN_LENGTH:
            # the challenge never makes a trajectory shorter than MIN_LENGTH: hold the last
            # position rather than hand a predictor a stub
            extra = np.arange(frames[-1] + 1,
                              min(frames[0] + MIN_LENGTH, last_frame + 1))
            frames = np.concatenate([frames, extra])
            pos = np.concatenate([pos, np.repeat(pos[-1:], extra.size, axis=0)])
            flags = np.concatenate([flags, np.full(extra.size, HELD)])
        own_mass, others = _own_mass(frames, pos, dets, masses)
        close = _encounters(frames, pos, own_mass, others, p.encounter_radius,
                            p.encounter_merged)
        if p.encounter_frames > 0 and close.any():
            kernel = np.ones(2 * p.encounter_frames + 1, dtype=bool)
            close = np.convolve(close, kernel, mode="same") > 0
        flags[close | np.isin(frames, shared)] |= ENCOUNTER
        parts.append(pd.DataFrame({"traj_idx": vip, "frame": frames,
                                   "row": pos[:, 0], "col": pos[:, 1], "flags": flags,
                                   BRIGHTNESS: own_mass / frame_mass.reindex(frames).to_numpy()}))
    return pd.concat(parts, ignore_index=True)
