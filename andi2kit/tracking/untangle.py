"""Give identities back after encounters: signatures learnt over whole stretches of track.

Frame-to-frame linking decides who is who when two spots overlap from one or two steps; for
Brownian look-alikes that is a guess. Each particle also carries a signature that lasts: its
brightness. andi-datasets draws each particle's intensity once (500 ± 20), so two particles
differ by about 5 % while one frame's fitted amplitude scatters by about 10 % (measured on a
challenge-preset video: 9.7 % within a track, 3.6 % between tracks). Averaged over tens of
frames before and after an encounter, it tells which outgoing stretch belongs to which
incoming one far better than the crossing itself.

:func:`untangle` finds every *contact* of two linked tracks (closer than ``contact_radius``
for one or more frames), and compares the two ways of joining the stretches before the contact
with those after it: as linked (*keep*) or crossed (*swap*). Each way costs the negative
log-likelihood of its pairings: equal brightness (Gaussian on the means), the continuity of
the positions across the contact, and the motion (``untangle_motion``): the odds that the two
stretches' step variances are one particle's rather than two particles' of the FOV
(:func:`motion_population`: how much the FOV's tracks differ in step variance for good, and
how much one track's changes over time). Where the particles move alike, or each changes its
motion as much as they differ, the motion says nothing. When *swap* is cheaper by more than
``untangle_margin``, the two tracks' tails after the closest approach are exchanged. Contacts
are visited in time order, each decision seeing the earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from andi2kit.tracking.params import TrackingParams

__all__ = ["MotionPopulation", "Stretch", "TrackRows", "contacts", "exchange_tails",
           "motion_population", "pair_context", "pair_cost", "persistence", "untangle"]


#: Intervals of one pair of tracks this many frames apart or fewer are one contact.
CONTACT_JOIN = 2
#: Consecutive one-frame steps per sample of a track's log step variance
#: (:func:`motion_population`).
MOTION_CHUNK = 30
#: Fewest step components (two per step) a stretch needs for its motion to count.
MOTION_MIN = 8
#: Chance that one particle's stretches differ beyond its FOV's usual changes (a rare state
#: change at the contact): a floor on the odds of one particle, so no single pair decides.
MOTION_SLIP = 0.05


def contacts(tracks: pd.DataFrame, radius: float, join: int = CONTACT_JOIN) -> pd.DataFrame:
    """Intervals during which two tracks are closer than ``radius``.

    Parameters
    ----------
    tracks : pandas.DataFrame
        ``y, x, frame, particle``.
    radius : float
        Contact distance (px).
    join : int
        Intervals of one pair separated by at most this many frames are one contact.

    Returns
    -------
    pandas.DataFrame
        ``i, j, start, end, closest`` (``i < j``; ``closest`` the frame of smallest distance),
        sorted by ``closest``.
    """
    from scipy.spatial import cKDTree

    cols = ["i", "j", "start", "end", "closest"]
    if len(tracks) < 2:
        return pd.DataFrame(columns=cols)
    xy = tracks[["y", "x"]].to_numpy(dtype=np.float64)
    frame = tracks["frame"].to_numpy()
    pid = tracks["particle"].to_numpy()
    # frames far apart along a third axis: only detections of one frame can be neighbours
    pairs = cKDTree(np.column_stack([xy, frame * 4.0 * radius])).query_pairs(
        radius, output_type="ndarray")
    pairs = pairs[pid[pairs[:, 0]] != pid[pairs[:, 1]]]
    if not len(pairs):
        return pd.DataFrame(columns=cols)
    a, b = pid[pairs[:, 0]], pid[pairs[:, 1]]
    h = pd.DataFrame({"i": np.minimum(a, b), "j": np.maximum(a, b),
                      "frame": frame[pairs[:, 0]].astype(np.int64),
                      "dist": np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)})
    h = h.sort_values(["i", "j", "frame"], kind="stable").reset_index(drop=True)
    new = ((h["i"].diff() != 0) | (h["j"].diff() != 0) | (h["frame"].diff() > join + 1))
    h["event"] = np.cumsum(new.to_numpy())
    grouped = h.groupby("event")
    out = grouped.agg(i=("i", "first"), j=("j", "first"), start=("frame", "min"),
                      end=("frame", "max"))
    out["closest"] = h.loc[grouped["dist"].idxmin().to_numpy(), "frame"].to_numpy()
    return out.sort_values(["closest", "i", "j"], kind="stable").reset_index(drop=True)[cols]


class Stretch:
    """Signatures of one stretch of track: mean brightness, steps, positions at its ends.

    What every pairing of the stretch reads is computed once here: the mean and count of its
    single-spot masses (:func:`_single` with ``merged``) and the sum and count of its squared
    one-frame step components.
    """

    def __init__(self, frames: np.ndarray, pos: np.ndarray, mass: np.ndarray,
                 merged: float = 0.0) -> None:
        self.n = frames.size
        self.mass = mass
        self.first, self.last = (pos[0], pos[-1]) if self.n else (None, None)
        self.t0, self.t1 = (int(frames[0]), int(frames[-1])) if self.n else (0, 0)
        ok1 = frames[1:] - frames[:-1] == 1
        self.d1 = (pos[1:] - pos[:-1])[ok1] if self.n > 1 else np.zeros((0, 2))
        single = _single(mass, merged)
        self.amp_n = single.size
        self.amp_mean = float(single.mean()) if single.size else 0.0
        self.sq_sum, self.sq_n = float(np.sum(self.d1 ** 2)), self.d1.size


@dataclass(frozen=True)
class MotionPopulation:
    """How the log step variance of a FOV's tracks spreads (:func:`motion_population`):
    its ``mean`` (estimated by the samples' median), the variance ``between`` tracks that
    lasts (what tells two particles apart) and the variance ``within`` a track over time
    (state changes: what does not), each less the sampling variance of a
    :data:`MOTION_CHUNK`-step sample."""

    mean: float = 0.0
    between: float = 0.0
    within: float = 0.0


def _single(mass: np.ndarray, merged: float) -> np.ndarray:
    """The masses of a stretch without those of merged spots (``merged`` × its median)."""
    if merged <= 0 or mass.size < 3:
        return mass
    # np.median's value, without its overhead on a few dozen numbers
    srt = np.sort(mass)
    k = srt.size // 2
    median = srt[k] if srt.size % 2 else 0.5 * (srt[k - 1] + srt[k])
    return mass[mass <= merged * median]


def _brightness_cost(before: Stretch, after: Stretch, p: TrackingParams) -> float:
    """The brightness part of :func:`pair_cost`: the means of the two stretches, each frame
    scattering by ``amp_scatter`` (0 when either has fewer than 3 frames). Frames brighter
    than ``encounter_merged`` times the stretch's median are two spots in one and left out."""
    if before.amp_n < 3 or after.amp_n < 3:
        return 0.0
    m = 0.5 * (before.amp_mean + after.amp_mean)
    var = (p.amp_scatter * m) ** 2 * (1 / before.amp_n + 1 / after.amp_n)
    return p.untangle_amp * (before.amp_mean - after.amp_mean) ** 2 / (2 * var)


def _motion_cost(before: Stretch, after: Stretch, pop: MotionPopulation) -> float:
    """Negative log-odds that ``before`` and ``after`` move as one particle of ``pop`` rather
    than as two (0 when the tracks of the FOV do not differ for good, or either stretch has
    fewer than :data:`MOTION_MIN` step components).

    Each stretch's log mean squared step is its particle's lasting level (spread
    ``between``), plus the particle's change over time (``within``) and sampling noise
    (2 / components); one particle's two stretches share the level. The odds of one particle
    are floored at :data:`MOTION_SLIP`.
    """
    if pop.between <= 0 or before.sq_n < MOTION_MIN or after.sq_n < MOTION_MIN:
        return 0.0
    x = np.log(before.sq_sum / before.sq_n + 1e-12) - pop.mean
    y = np.log(after.sq_sum / after.sq_n + 1e-12) - pop.mean
    b = pop.between
    vx = b + pop.within + 2.0 / before.sq_n
    vy = b + pop.within + 2.0 / after.sq_n
    det = vx * vy - b * b
    one = -0.5 * (vy * x * x - 2 * b * x * y + vx * y * y) / det - 0.5 * np.log(det)
    two = -0.5 * (x * x / vx + y * y / vy) - 0.5 * np.log(vx * vy)
    return -float(np.logaddexp(np.log1p(-MOTION_SLIP) + one - two, np.log(MOTION_SLIP)))


def pair_cost(before: Stretch, after: Stretch, p: TrackingParams, drift: bool = False,
              population: MotionPopulation | None = None) -> float:
    """Cost of ``after`` being the continuation of ``before``; with ``drift``, a mean step of
    ``before``'s last ``velocity_frames`` steps significant at ``directed_chi2`` carries it
    across the gap (a near-ballistic particle goes on where it was heading); with a
    ``population``, the motion (:func:`_motion_cost`, weighted by ``untangle_motion``)."""
    cost = _brightness_cost(before, after, p)
    if p.untangle_motion and population is not None:
        cost += p.untangle_motion * _motion_cost(before, after, population)
    # continuity across the contact, Brownian with the pooled step variance
    n = before.sq_n + after.sq_n
    v = (before.sq_sum + after.sq_sum) / n if n else 2 * p.D_prior
    v = max(v, p.loc_sigma ** 2)
    g = max(after.t0 - before.t1, 1)
    d = after.first - before.last
    if drift and len(before.d1) >= 3:
        last = before.d1[-p.velocity_frames:]
        vel = last.mean(axis=0)
        res = max(float(np.mean((last - vel) ** 2)), p.loc_sigma ** 2)
        if float(vel @ vel) * len(last) / res >= p.directed_chi2:
            d, v = d - vel * g, res
    d2 = float(np.sum(d ** 2))
    cost += d2 / (2 * v * g) + np.log(v * g)
    return cost


class TrackRows:
    """Linked detections whose track labels are being rewritten: per-detection ``frame``,
    ``pos``, ``mass`` and ``label`` (positional), the rows of each track (``rows_of``), and
    the :class:`Stretch` of a track between two frames, and its one-frame steps."""

    def __init__(self, tracks: pd.DataFrame, merged: float) -> None:
        self.frame = tracks["frame"].to_numpy()
        self.pos = tracks[["y", "x"]].to_numpy()
        self.mass = tracks["mass"].to_numpy()
        self.label = tracks["particle"].to_numpy().copy()
        self.rows_of: dict[int, np.ndarray] = {
            int(k): np.asarray(v) for k, v in tracks.groupby("particle").indices.items()}
        self.merged = merged

    def stretch(self, track: int, lo: int, hi: int) -> Stretch:
        """The :class:`Stretch` of ``track``'s detections in frames ``lo..hi``."""
        r = self.rows_of[track]
        r = r[(self.frame[r] >= lo) & (self.frame[r] <= hi)]
        r = r[np.argsort(self.frame[r], kind="stable")]
        return Stretch(self.frame[r], self.pos[r], self.mass[r], self.merged)

    def steps(self, track: int) -> np.ndarray:
        """``(n, 2)`` one-frame steps of ``track`` in frame order (steps across a gap left
        out)."""
        r = self.rows_of[track]
        r = r[np.argsort(self.frame[r], kind="stable")]
        return np.diff(self.pos[r], axis=0)[np.diff(self.frame[r]) == 1]

    def relabelled(self, tracks: pd.DataFrame) -> pd.DataFrame:
        """``tracks`` with the labels as rewritten, sorted by particle then frame."""
        out = tracks.assign(particle=self.label)
        return out.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True)


def persistence(rows: TrackRows, min_steps: int = 20) -> float:
    """Median correlation of successive one-frame steps over the tracks of at least
    ``min_steps`` consecutive steps (0 for Brownian motion, 2^(α-1) - 1 for fBm: 0.87 at
    α = 1.9); 0 without such tracks."""
    corr = []
    for t, r in rows.rows_of.items():
        if r.size <= min_steps:
            continue
        st = rows.steps(t)
        if len(st) > min_steps:
            a, b = st[:-1].ravel(), st[1:].ravel()
            den = np.sqrt(np.sum(a * a) * np.sum(b * b))
            if den > 0:
                corr.append(float(np.sum(a * b) / den))
    return float(np.median(corr)) if corr else 0.0


def motion_population(rows: TrackRows, chunk: int = MOTION_CHUNK) -> MotionPopulation:
    """How the log step variance of the FOV's linked tracks spreads between tracks and within
    them, each sample the mean squared one-frame step over ``chunk`` consecutive steps.

    The within-track variance is pooled over the tracks with two or more samples; the
    between-track one is the rest of the samples' variance. Both are less the samples'
    sampling variance (2 / step components) and never negative; a FOV with fewer than 5
    samples gives zeros (no motion evidence).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> def track(pid, scale):  # 121 frames of Brownian steps of this size
    ...     xy = np.cumsum(rng.normal(0, scale, (121, 2)), axis=0)
    ...     return pd.DataFrame({"y": xy[:, 0], "x": xy[:, 1], "mass": 1.0,
    ...                          "frame": np.arange(121), "particle": pid})
    >>> alike = pd.concat([track(k, 1.0) for k in range(8)])
    >>> motion_population(TrackRows(alike, 0.0)).between
    0.0
    >>> apart = pd.concat([track(k, s) for k, s in enumerate([0.5, 1, 2, 4] * 2)])
    >>> round(motion_population(TrackRows(apart, 0.0)).between, 1)  # the logs' variance: 2.4
    2.3
    """
    noise = 2.0 / (2 * chunk)  # sampling variance of a sample's log: 2 / step components
    logs, track = [], []
    for t in rows.rows_of:
        steps = rows.steps(t)
        for k in range(0, len(steps) - chunk + 1, chunk):
            v = float(np.mean(steps[k:k + chunk] ** 2))
            if v > 0:
                logs.append(np.log(v))
                track.append(t)
    if len(logs) < 5:
        return MotionPopulation()
    logs, track = np.array(logs), np.array(track)
    total = max(float(np.var(logs) - noise), 0.0)
    dev, dof = [], 0.0
    for t in np.unique(track):
        own = logs[track == t]
        if own.size >= 2:
            dev.append(own - own.mean())
            dof += own.size - 1
    within = 0.0
    if dof:
        within = max(float(np.sum(np.concatenate(dev) ** 2)) / dof - noise, 0.0)
    return MotionPopulation(float(np.median(logs)), max(total - within, 0.0), within)


def pair_context(rows: TrackRows, params: TrackingParams
                 ) -> tuple[bool, MotionPopulation | None]:
    """What :func:`untangle` reads of the whole FOV besides each contact's stretches: whether
    a track's drift carries it across a contact (near-ballistic tracks go on where they were
    heading, as in the encounter groups) and the FOV's :func:`motion_population` (None
    without ``untangle_motion``); both the ``drift`` and ``population`` of :func:`pair_cost`.
    """
    p = params
    drift = bool(p.untangle_pair_drift and p.untangle_persistence < 1
                 and persistence(rows) >= p.untangle_persistence)
    return drift, motion_population(rows) if p.untangle_motion else None


def exchange_tails(label: np.ndarray, rows_of: dict[int, np.ndarray], frame: np.ndarray,
                   i: int, j: int, after: int) -> None:
    """Give track ``i``'s detections after frame ``after`` to ``j`` and ``j``'s to ``i``
    (in place: ``label`` per detection, ``rows_of`` the detections of each track)."""
    ri, rj = rows_of[i], rows_of[j]
    ti, tj = ri[frame[ri] > after], rj[frame[rj] > after]
    label[ti], label[tj] = j, i
    rows_of[i] = np.concatenate([ri[frame[ri] <= after], tj])
    rows_of[j] = np.concatenate([rj[frame[rj] <= after], ti])


def untangle(tracks: pd.DataFrame, params: TrackingParams = TrackingParams()) -> pd.DataFrame:
    """Exchange the tails of two tracks after a contact where their signatures say so.

    Parameters
    ----------
    tracks : pandas.DataFrame
        :func:`andi2kit.tracking.link` output (``y, x, mass, frame, particle``).
    params : TrackingParams
        ``contact_radius``, ``untangle_window``, ``untangle_margin``, ``untangle_amp``,
        ``untangle_motion``, ``amp_scatter``, ``D_prior``, ``loc_sigma``.

    Returns
    -------
    pandas.DataFrame
        The same detections with ``particle`` relabelled, sorted by particle then frame.

    See Also
    --------
    contacts : the encounters considered.
    """
    p = params
    if tracks.empty or p.untangle_window < 1:
        return tracks
    events = contacts(tracks, p.contact_radius)
    if events.empty:
        return tracks
    rows = TrackRows(tracks, p.encounter_merged)
    label, frame, stretch = rows.label, rows.frame, rows.stretch
    row_at = {(int(a), int(b)): r for r, (a, b) in enumerate(zip(label, frame, strict=True))}
    w = p.untangle_window
    drift, population = pair_context(rows, p)

    for ev in events.itertuples(index=False):
        # the tracks that hold the two contact detections now (earlier swaps relabelled them)
        i = int(label[row_at[int(ev.i), int(ev.closest)]])
        j = int(label[row_at[int(ev.j), int(ev.closest)]])
        bi, bj = stretch(i, ev.start - w, ev.start - 1), stretch(j, ev.start - w, ev.start - 1)
        ai, aj = stretch(i, ev.end + 1, ev.end + w), stretch(j, ev.end + 1, ev.end + w)
        if min(bi.n, bj.n, ai.n, aj.n) < p.untangle_min:
            continue
        keep = pair_cost(bi, ai, p, drift, population) + pair_cost(bj, aj, p, drift, population)
        swap = pair_cost(bi, aj, p, drift, population) + pair_cost(bj, ai, p, drift, population)
        if swap < keep - p.untangle_margin:
            exchange_tails(label, rows.rows_of, frame, i, j, int(ev.closest))
    return rows.relabelled(tracks)

