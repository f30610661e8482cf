"""What one FOV says about the diffusive states its experiment holds: counts per FOV.

andi-datasets simulates every FOV of an experiment with one model, and the model fixes which
states exist (:mod:`andi2kit.state_mixture` decides which). A per-frame classifier sees one
trajectory at a time and cannot tell a slow free state (``multi_state``, a bound dimer) from
a slow confined one: the compartments of the challenge (radius 5 px) are barely felt by a
particle that moves 2–4 px in 200 frames. The FOV can tell them apart, because a compartment
holds whatever enters it:

* confined stretches of *different* trajectories lie close together (the few compartments of
  a FOV), while the slow stretches of ``multi_state`` lie anywhere;
* a dimer's slow stretch moves together with another trajectory: its partner sits on it
  (< 1.5 px), or, for larger dimers, keeps its distance while both move (andi-datasets gives
  a bound pair the same displacements, so the vector between them changes by localisation
  noise only, while two independent particles move apart twice as fast as their midpoint
  moves); a trapped or compartment particle has no such partner;
* ``multi_state`` switches back and forth; a compartment, whose wall lets a particle through
  one time in ten, rarely lets it go;
* a trapped particle stands still, a slowly diffusing one spreads (:func:`still_ratio`).

:func:`fov_evidence` counts these per FOV from the per-frame state calls (the state stage's,
:mod:`andi2kit.states`) and the positions.

See Also
--------
andi2kit.state_mixture : sums the counts over an experiment and decides its states.
andi2kit.partners : the bound partners of dimerization, read from the same spots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from andi2kit import still_runs
from andi2kit.constants import CONFINED, DIRECTED, IMMOBILE

#: A state run shorter than this (frames) is not a stretch of its own.
MIN_STRETCH = 10
#: Two trajectories' confined stretches centred closer than this (px) share a compartment.
CLUMP_RADIUS = 10.0
#: ... or closer than this (px): many small compartments, each visited by few particles,
#: clump only at short range (a 3 px disc is 0.17 % of a 128 px field, a 10 px one 1.9 %).
NEAR_RADIUS = 3.0
#: A confined frame with another trajectory closer than this (px) moves with a partner.
PARTNER_RADIUS = 1.5
#: A tracked spot this many times as bright as the frame's typical spot holds two particles
#: (Track 1: a partner closer than the PSF shares the spot, so it is rarely a tracked
#: trajectory of its own): the geometric midpoint of 1 and 2. On the challenge tuning seed a
#: bound VIP's spot reads 1.68–2.08 (10th to 90th percentile), a free one's 0.9–1.1.
MERGED_BRIGHTNESS = 2 ** 0.5
#: Two trajectories closer than this (px) are checked for moving together ...
COMOVE_RADIUS = 3.0
#: ... over the one-frame steps within this many frames either side (at least this many).
COMOVE_FRAMES = 5
#: A trapped particle does not move at all (andi-datasets holds its position): over an
#: immobile-called stretch, less its first and last STILL_TRIM frames (where a change point
#: may be off), its displacements over STILL_LAG frames are localisation noise alone, as
#: large as its one-frame steps; a slowly diffusing particle's grow with the lag. Compared
#: at the STILL_QUANTILE of each (a low one: short trapping bouts put free steps in the
#: stretches, which only the large displacements see).
STILL_LAG, STILL_TRIM, STILL_QUANTILE = 2, 2, 10
#: The still runs :func:`fov_evidence` counts unless told otherwise.
STILL_RUNS = still_runs.StillRuns()
#: Counts of :func:`fov_evidence`, in this order.
EVIDENCE = ("frames", "immobile", "confined", "directed", "trajectories", "switches",
            "stretch_pairs", "close_pairs", "partnered", "immobile_partnered",
            "immobile_entries", "immobile_exits", "near_pairs", "still_pairs", "still_log_ratio",
            "still_runs", "standing_runs")


def merged_spot(brightness: np.ndarray | None, n: int) -> np.ndarray:
    """``(n,)`` bool: frames whose spot holds two particles (``brightness`` at least
    :data:`MERGED_BRIGHTNESS`; NaN, unknown, is not); all False without ``brightness``."""
    if brightness is None:
        return np.zeros(n, bool)
    return np.nan_to_num(np.asarray(brightness, float)) >= MERGED_BRIGHTNESS


def evidence_settings() -> dict:
    """What decides :func:`fov_evidence`'s counts (recorded beside a FOV's output, so that
    evidence counted otherwise is never reused)."""
    return {"counts": list(EVIDENCE), "min_stretch": MIN_STRETCH,
            "clump_radius": CLUMP_RADIUS, "near_radius": NEAR_RADIUS,
            "partner_radius": PARTNER_RADIUS,
            "comove_radius": COMOVE_RADIUS, "comove_frames": COMOVE_FRAMES,
            "merged_brightness": MERGED_BRIGHTNESS, "still_lag": STILL_LAG,
            "still_trim": STILL_TRIM, "still_quantile": STILL_QUANTILE,
            "still_runs": still_runs.settings_dict(STILL_RUNS),
            "standing_frames": still_runs.STANDING_FRAMES,
            "standing_spread": still_runs.STANDING_SPREAD}


def still_ratio(stretches: Sequence[np.ndarray], lag: int = STILL_LAG,
                q: float = STILL_QUANTILE) -> tuple[int, float]:
    """How much stretches of positions spread beyond their one-frame steps.

    Returns the number of displacements over ``lag`` frames (pairs with an unseen end left
    out) and the log of their ``q``-th percentile (squared) over that of the one-frame
    steps: about 0 for particles that stand still (both are localisation noise), more for
    ones that diffuse, however slowly, given enough pairs; (0, 0.0) under 20 of either.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> still = [0.12 * rng.standard_normal((40, 2)) for _ in range(10)]
    >>> n, r = still_ratio(still)
    >>> n, round(r, 1)
    (380, 0.0)
    >>> slow = [x + np.cumsum(0.2 * rng.standard_normal((40, 2)), axis=0) for x in still]
    >>> round(still_ratio(slow)[1], 1)
    0.5
    >>> still_ratio([np.zeros((40, 2))])  # positions held exactly
    (38, 0.0)
    """
    def squared(xy: np.ndarray, k: int) -> np.ndarray:
        d = np.sum((xy[k:] - xy[:-k]) ** 2, axis=1)
        return d[np.isfinite(d)]

    d1 = np.concatenate([squared(x, 1) for x in stretches]) if stretches else np.zeros(0)
    dl = np.concatenate([squared(x, lag) for x in stretches]) if stretches else np.zeros(0)
    if d1.size < 20 or dl.size < 20:
        return 0, 0.0
    eps = 1e-12  # positions held exactly (a tracker's guesses) move by 0
    return int(dl.size), float(np.log((np.percentile(dl, q) + eps) / (np.percentile(d1, q) + eps)))


def fov_evidence(calls: Sequence[np.ndarray], positions: Sequence[np.ndarray],
                 frames: Sequence[np.ndarray],
                 brightness: Sequence[np.ndarray | None] | None = None,
                 still_settings: still_runs.StillRuns | None = STILL_RUNS
                 ) -> dict[str, float]:
    """What one FOV says about the states of its experiment.

    Parameters
    ----------
    calls : sequence of numpy.ndarray
        Per trajectory, the per-frame state codes (smoothed, as segmented).
    positions : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` positions (px) of the same frames (NaN: not seen).
    frames : sequence of numpy.ndarray
        Per trajectory, the frame numbers of those rows.
    brightness : sequence of numpy.ndarray or None, optional
        Per trajectory, ``(T_i,)`` its spot's brightness against the frame's typical spot
        (tracked Track 1 VIPs, :func:`andi2kit.tracking.follow_vips`; NaN: no spot).
    still_settings : andi2kit.still_runs.StillRuns or None, optional
        Settings of the still runs counted (None: not counted, left 0).

    Returns
    -------
    dict
        The counts :data:`EVIDENCE`: frames called immobile, confined, directed of all
        ``frames``; ``switches`` between confined and any other state; pairs of confined
        stretches (≥ :data:`MIN_STRETCH` frames) of different trajectories, and how many of
        them are centred within :data:`CLUMP_RADIUS` (``close_pairs``) and within
        :data:`NEAR_RADIUS` (``near_pairs``); confined frames with a partner (another
        trajectory within :data:`PARTNER_RADIUS`, or one that moves with it,
        :func:`comoving`, or a spot at least :data:`MERGED_BRIGHTNESS` times as bright as the
        frame's typical one); immobile frames with one that moves with it; immobile
        stretches (≥ :data:`MIN_STRETCH` frames) that begin after the trajectory's first
        frame, and how many of them end before its last; over the immobile stretches
        (:data:`STILL_TRIM` frames from each end left out), :func:`still_ratio`'s pairs and
        its log ratio times the pairs; the trajectories' long still runs read off their
        steps and how many of them stand still (:func:`andi2kit.still_runs.standing_runs`:
        traps the state calls missed).

    Examples
    --------
    >>> c = [np.r_[np.full(20, 1), np.full(20, 2)], np.full(40, 2)]
    >>> p = [np.zeros((40, 2)), np.full((40, 2), 50.0)]
    >>> f = [np.arange(40), np.arange(40)]
    >>> e = fov_evidence(c, p, f)
    >>> e["confined"], e["switches"], e["stretch_pairs"]
    (20.0, 1.0, 0.0)
    """
    counts = dict.fromkeys(EVIDENCE, 0.0)
    centres: list[tuple[int, np.ndarray]] = []
    still: list[np.ndarray] = []
    for k, (c, xy) in enumerate(zip(calls, positions, strict=True)):
        c = np.asarray(c, int)
        counts["frames"] += c.size
        counts["trajectories"] += 1
        for name, code in (("immobile", IMMOBILE), ("confined", CONFINED),
                           ("directed", DIRECTED)):
            counts[name] += np.count_nonzero(c == code)
        conf = c == CONFINED
        counts["switches"] += np.count_nonzero(np.diff(conf.astype(np.int8)))
        for a, b in still_runs.runs(c == IMMOBILE):
            if b - a >= MIN_STRETCH and a > 0:
                counts["immobile_entries"] += 1
                counts["immobile_exits"] += float(b < c.size)
            if b - a - 2 * STILL_TRIM >= MIN_STRETCH:
                still.append(np.asarray(xy, float)[a + STILL_TRIM:b - STILL_TRIM])
        for a, b in still_runs.runs(conf):
            if b - a >= MIN_STRETCH and np.isfinite(xy[a:b, 0]).any():
                centres.append((k, np.nanmean(xy[a:b], axis=0)))
        if still_settings is not None:
            long, standing = still_runs.standing_runs(xy, still_settings)
            counts["still_runs"] += long
            counts["standing_runs"] += standing
    for i in range(len(centres)):
        for j in range(i + 1, len(centres)):
            if centres[i][0] != centres[j][0]:
                counts["stretch_pairs"] += 1
                gap = np.hypot(*(centres[i][1] - centres[j][1]))
                counts["close_pairs"] += float(gap < CLUMP_RADIUS)
                counts["near_pairs"] += float(gap < NEAR_RADIUS)
    counts["partnered"], counts["immobile_partnered"] = map(
        float, partnered_frames(calls, positions, frames, brightness))
    n, r = still_ratio(still)
    counts["still_pairs"], counts["still_log_ratio"] = float(n), n * r
    return counts


def comoving(xy_a: np.ndarray, xy_b: np.ndarray, half: int = COMOVE_FRAMES) -> np.ndarray:
    """Per frame, whether two trajectories seen in the same frames move together.

    Over the one-frame steps within ``half`` frames either side (at least ``half`` of them),
    the vector between the two changes less than their midpoint moves (mean squared steps).
    Two independent particles move apart twice as fast as their midpoint moves (the same
    holds for two that only jitter in place); a bound pair of andi-datasets shares its
    displacements, so the vector between them changes by localisation noise only.

    Parameters
    ----------
    xy_a, xy_b : numpy.ndarray
        ``(T, 2)`` positions in the same consecutive frames (NaN: not seen).

    Returns
    -------
    numpy.ndarray
        ``(T,)`` bool.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> walk = np.cumsum(rng.normal(0, 1, (40, 2)), 0)
    >>> noise = lambda: rng.normal(0, 0.12, (40, 2))
    >>> bool(comoving(walk + noise(), walk + 2 + noise())[20])
    True
    >>> other = np.cumsum(rng.normal(0, 1, (40, 2)), 0)
    >>> bool(comoving(walk + noise(), other + noise())[20])
    False
    """
    rel = np.sum(np.diff(xy_a - xy_b, axis=0) ** 2, axis=1)
    mid = np.sum(np.diff((xy_a + xy_b) / 2, axis=0) ** 2, axis=1)
    ok = np.isfinite(rel) & np.isfinite(mid)
    rel, mid = np.where(ok, rel, 0.0), np.where(ok, mid, 0.0)

    def window(v: np.ndarray) -> np.ndarray:
        # step k joins frames k and k + 1; frame t's window holds steps t - half .. t + half - 1
        c = np.r_[0.0, np.cumsum(v)]
        t = np.arange(len(xy_a))
        lo, hi = np.clip(t - half, 0, len(v)), np.clip(t + half, 0, len(v))
        return c[hi] - c[lo]

    n = window(ok.astype(float))
    return (n >= half) & (window(rel) < window(mid))


def partnered_frames(calls: Sequence[np.ndarray], positions: Sequence[np.ndarray],
                     frames: Sequence[np.ndarray],
                     brightness: Sequence[np.ndarray | None] | None = None
                     ) -> tuple[int, int]:
    """Confined frames with a partner (another trajectory closer than
    :data:`PARTNER_RADIUS` in the same frame, one closer than :data:`COMOVE_RADIUS` that
    moves with it, :func:`comoving`, or a spot of two, :data:`MERGED_BRIGHTNESS`), and
    immobile frames with one that moves with it (two trapped particles may sit together);
    frames without a position count for neither."""
    from scipy.spatial import cKDTree

    if not len(calls):
        return 0, 0
    traj = np.concatenate([np.full(len(c), k) for k, c in enumerate(calls)])
    state = np.concatenate([np.asarray(c, int) for c in calls])
    frame = np.concatenate([np.asarray(f, np.int64) for f in frames])
    xy = np.concatenate([np.asarray(p, float) for p in positions])
    seen = np.isfinite(xy).all(1)
    row = np.flatnonzero(seen)
    slow = (state == CONFINED) | (state == IMMOBILE)
    if not np.any(slow[row]):
        return 0, 0
    sitting = np.zeros(traj.size, bool)
    if brightness is not None:
        sitting = seen & np.concatenate([merged_spot(b, len(c))
                                         for c, b in zip(calls, brightness, strict=True)])
    # frames far apart along a third axis: only points of one frame can be neighbours
    pairs = cKDTree(np.column_stack([xy[row], frame[row] * 2 * COMOVE_RADIUS])).query_pairs(
        COMOVE_RADIUS, output_type="ndarray")
    a, b = row[pairs[:, 0]], row[pairs[:, 1]]
    keep = (traj[a] != traj[b]) & (slow[a] | slow[b])
    a, b = a[keep], b[keep]
    near = np.hypot(*(xy[a] - xy[b]).T) < PARTNER_RADIUS
    sitting[a[near]] = sitting[b[near]] = True
    moving = np.zeros(traj.size, bool)
    start = np.r_[0, np.cumsum([len(c) for c in calls])]
    for i, j in {(int(traj[x]), int(traj[y])) for x, y in zip(a, b, strict=True)}:
        fi, fj = np.asarray(frames[i], np.int64), np.asarray(frames[j], np.int64)
        lo, hi = max(fi.min(), fj.min()), min(fi.max(), fj.max())
        if hi <= lo:
            continue
        pa, pb = np.full((hi - lo + 1, 2), np.nan), np.full((hi - lo + 1, 2), np.nan)
        ia, ib = (fi >= lo) & (fi <= hi), (fj >= lo) & (fj <= hi)
        pa[fi[ia] - lo] = np.asarray(positions[i], float)[ia]
        pb[fj[ib] - lo] = np.asarray(positions[j], float)[ib]
        with np.errstate(invalid="ignore"):  # NaN (either not seen): not close
            together = comoving(pa, pb) & (np.hypot(*(pa - pb).T) < COMOVE_RADIUS)
        moving[start[i] + np.flatnonzero(ia)[together[fi[ia] - lo]]] = True
        moving[start[j] + np.flatnonzero(ib)[together[fj[ib] - lo]]] = True
    confined = state == CONFINED
    return (int(np.count_nonzero((sitting | moving) & confined)),
            int(np.count_nonzero(moving & (state == IMMOBILE))))
