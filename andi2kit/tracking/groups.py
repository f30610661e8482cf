"""Give identities back after encounters of three or more tracks, or through a merge.

:func:`~andi2kit.tracking.untangle.untangle` decides each contact of *two* linked tracks
alone: keep or swap. A third of the contacts on the challenge preset involve a third
particle or a track that ends inside the contact (two spots merge, the linker keeps one
track on the blob and starts a new one when they part); no pairwise decision can give those
identities back. :func:`untangle_groups` joins the contacts that share a track and overlap
in time into one *group*, adds the tracks that end just before or inside it and those that
begin inside or just after it near its members, and assigns every stretch before the group
to a stretch after it jointly (one Hungarian assignment, each pairing costing what a
pairwise decision costs it: brightness and the continuity of the positions, a stretch left
unpaired ``untangle_none``). The linker's own assignment is replaced only when the best one
is cheaper by more than ``untangle_margin``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from andi2kit.tracking.params import TrackingParams
from andi2kit.tracking.untangle import (
    CONTACT_JOIN,
    TrackRows,
    contacts,
    motion_population,
    pair_cost,
    persistence,
    untangle,
)

__all__ = ["Group", "encounter_groups", "untangle_all", "untangle_groups"]

logger = logging.getLogger(__name__)


@dataclass
class Group:
    """Tracks that meet during ``start..end``: ``rows``, one detection row per member (its
    label is the member's current track), from the contacts (``met``) or from the tracks
    that end or begin beside them."""

    start: int
    end: int
    rows: list[int]
    met: int


def _components(events: pd.DataFrame, join: int) -> list[np.ndarray]:
    """Indices of ``events`` joined where two share a track and overlap within ``join``."""
    n = len(events)
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    per_track = pd.concat([
        pd.DataFrame({"t": events["i"], "s": events["start"], "e": events["end"],
                      "k": np.arange(n)}),
        pd.DataFrame({"t": events["j"], "s": events["start"], "e": events["end"],
                      "k": np.arange(n)})]).sort_values(["t", "s"], kind="stable")
    for _, g in per_track.groupby("t", sort=False):
        ks, ss, es = g["k"].to_numpy(), g["s"].to_numpy(), g["e"].to_numpy()
        reach = es[0]
        for m in range(1, ks.size):
            if ss[m] <= reach + join:
                parent[find(ks[m])] = find(ks[m - 1])
            reach = max(reach, es[m]) if ss[m] <= reach + join else es[m]
    roots = np.array([find(a) for a in range(n)])
    return [np.flatnonzero(roots == r) for r in np.unique(roots)]


def encounter_groups(tracks: pd.DataFrame, params: TrackingParams = TrackingParams()
                     ) -> list[Group]:
    """Groups of three or more tracks meeting (or two and a track ending or beginning beside
    them), in time order.

    Parameters
    ----------
    tracks : pandas.DataFrame
        ``y, x, frame, particle``, index 0..n-1.
    params : TrackingParams
        ``contact_radius``, ``untangle_gap`` (frames before and after a group in which a
        track end or start counts), ``untangle_reach`` (px from a member's position).
    """
    p = params
    events = contacts(tracks, p.contact_radius)
    if events.empty:
        return []
    frame = tracks["frame"].to_numpy()
    pos = tracks[["y", "x"]].to_numpy(dtype=np.float64)
    pid = tracks["particle"].to_numpy()
    rows_of = tracks.groupby("particle").indices
    ends = tracks.groupby("particle")["frame"].agg(["idxmin", "idxmax"])
    first_rows, last_rows = ends["idxmin"].to_numpy(), ends["idxmax"].to_numpy()
    groups = []
    for comp in _components(events, CONTACT_JOIN):
        ev = events.iloc[comp]
        start, end = int(ev["start"].min()), int(ev["end"].max())
        members = {int(t) for t in np.concatenate([ev["i"], ev["j"]])}
        rows = []
        for t in sorted(members):
            r = rows_of[t]
            inside = r[(frame[r] >= start) & (frame[r] <= end)]
            rows.append(int(inside[0]) if inside.size else int(r[0]))
        near = np.concatenate([rows_of[t] for t in members])
        near = near[(frame[near] >= start - p.untangle_gap) & (frame[near] <= end + p.untangle_gap)]
        extra = []
        for cand, lo, hi in ((first_rows, start, end + p.untangle_gap),
                             (last_rows, start - p.untangle_gap, end)):
            c = cand[(frame[cand] >= lo) & (frame[cand] <= hi) & ~np.isin(pid[cand], list(members))]
            for r in c:
                close = near[np.abs(frame[near] - frame[r]) <= 1]
                if close.size and np.min(np.hypot(*(pos[close] - pos[r]).T)) <= p.untangle_reach:
                    extra.append(int(r))
        seen = set(members)
        for r in extra:
            if int(pid[r]) not in seen:
                seen.add(int(pid[r]))
                rows.append(r)
        if len(rows) >= 3:
            groups.append(Group(start, end, rows, len(members)))
    groups.sort(key=lambda g: (g.start, g.end))
    return groups


def _assignment(cost: np.ndarray, none: float) -> tuple[np.ndarray, float]:
    """Best pairing of rows (stretches before) with columns (after), either side may stay
    unpaired at ``none`` each: ``(match, total)``, ``match[b]`` the column or -1."""
    nb, na = cost.shape
    big = np.full((nb + na, na + nb), np.inf)
    big[:nb, :na] = cost
    big[:nb, na:] = np.where(np.eye(nb, dtype=bool), none, np.inf)
    big[nb:, :na] = np.where(np.eye(na, dtype=bool), none, np.inf)
    big[nb:, na:] = 0.0
    big = np.where(np.isfinite(big), big, 1e12)
    r, c = linear_sum_assignment(big)
    match = np.full(nb, -1)
    for b, a in zip(r, c, strict=True):
        if b < nb and a < na:
            match[b] = a
    return match, float(big[r, c].sum())


def untangle_groups(tracks: pd.DataFrame, params: TrackingParams = TrackingParams()
                    ) -> pd.DataFrame:
    """Reassign the tracks' tails after every encounter group where a joint assignment says so.

    Parameters
    ----------
    tracks : pandas.DataFrame
        :func:`andi2kit.tracking.untangle.untangle` output (``y, x, mass, frame, particle``).
    params : TrackingParams
        ``untangle_groups`` (largest group judged; 0: off), ``untangle_none``,
        ``untangle_gap``, ``untangle_reach``, and the pairwise settings
        (``untangle_window``, ``untangle_min``, ``untangle_margin``, ``untangle_amp``).

    Returns
    -------
    pandas.DataFrame
        Every detection, the tails after a group given to the tracks the joint assignment
        pairs them with (sorted by particle, then frame).

    See Also
    --------
    andi2kit.tracking.untangle.untangle : the pairwise decisions, made first.
    """
    p = params
    if tracks.empty or p.untangle_groups < 3 or p.untangle_window < 1:
        return tracks
    tracks = tracks.reset_index(drop=True)
    groups = [g for g in encounter_groups(tracks, p) if len(g.rows) <= p.untangle_groups]
    if not groups:
        return tracks
    rows = TrackRows(tracks, p.encounter_merged)
    label, frame, rows_of, stretch = rows.label, rows.frame, rows.rows_of, rows.stretch
    fresh = int(label.max()) + 1
    w, changed = p.untangle_window, 0
    drift = p.untangle_persistence < 1 and persistence(rows) >= p.untangle_persistence
    population = motion_population(rows) if p.untangle_motion else None

    for g in groups:
        members = list(dict.fromkeys(int(label[r]) for r in g.rows))
        before = {t: stretch(t, g.start - w, g.start - 1) for t in members}
        after = {t: stretch(t, g.end + 1, g.end + w) for t in members}
        bs = [t for t in members if before[t].n >= p.untangle_min]
        as_ = [t for t in members if after[t].n >= p.untangle_min]
        if not bs or not as_ or len(bs) + len(as_) < 3:
            continue
        cost = np.array([[pair_cost(before[b], after[a], p, drift, population) for a in as_]
                         for b in bs])
        match, best = _assignment(cost, p.untangle_none)
        own = sum(cost[k, as_.index(b)] if b in as_ else p.untangle_none
                  for k, b in enumerate(bs)) + p.untangle_none * sum(a not in bs for a in as_)
        if best >= own - p.untangle_margin:
            continue
        target = {as_[a]: bs[k] for k, a in enumerate(match) if a >= 0}
        claimed = set(target.values())
        # every member's rows after the group move together: to the track assigned, to its
        # own when no other took that, else to a new one
        moves = []
        for m in members:
            r = rows_of[m]
            keep = frame[r] <= g.end
            rows_of[m] = r[keep]
            t = target.get(m)
            if t is None and m in claimed:
                t, fresh = fresh, fresh + 1
            moves.append((m if t is None else t, r[~keep]))
        for t, tail in moves:
            label[tail] = t
            rows_of[t] = np.concatenate([rows_of.get(t, np.zeros(0, dtype=np.int64)), tail])
        changed += 1
    logger.debug("%d of %d encounter groups reassigned", changed, len(groups))
    return rows.relabelled(tracks)


def untangle_all(tracks: pd.DataFrame, params: TrackingParams = TrackingParams()) -> pd.DataFrame:
    """Every identity decision after linking: the pairwise contacts
    (:func:`~andi2kit.tracking.untangle.untangle`), then the encounter groups
    (:func:`untangle_groups`)."""
    return untangle_groups(untangle(tracks, params), params)
