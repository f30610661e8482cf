"""Bound partners: the frames a trajectory moves with another, and whether an experiment is
dimerization.

In andi-datasets' ``dimerization`` model the only changes of motion are bindings and
unbindings: two particles that come within reach bind and move together (the same
displacements), then part. While bound, the vector between the two changes by their
localisation noise only; two free particles move apart at every step. A frame that a
trajectory reaches with the vector to another one (within :data:`BOUND_RADIUS`) unchanged
(within :data:`STEP_TOL`) is *bound*; runs of at least :data:`MIN_BOUND` such frames are
bindings, and the change points are where they start and end
(:mod:`andi2kit.partner_cuts`).
In Track 1 the partner of a tracked VIP is rarely a tracked trajectory: bound closer than the
PSF, the two are one spot of twice the brightness, so a VIP frame whose spot reads at least
:data:`~andi2kit.state_evidence.MERGED_BRIGHTNESS` times the frame's typical one is bound too
(the tracker's ``brightness`` column, :func:`andi2kit.tracking.follow_vips`).

Particles that crowd without binding (two in one trap, two slow ones in one compartment)
also keep their distance, so the partner change points replace the model's only in experiments
judged to be dimerization (:func:`is_dimerization`): a large share of bound frames
(:data:`DIMER_SHARE`) and bindings that change the trajectory's own motion
(:data:`CHANGED_SHARE`), or nearly every one of many bindings changing it
(:data:`CERTAIN_CHANGE`, :data:`CERTAIN_BINDINGS`), and neither traps nor compartments
(:func:`andi2kit.state_mixture.decide`). Measured on the tuning seed 0 of both generalisation
presets (``python tests/benchmarks/partner_evidence.py data/gen-challenge-seed0
data/gen-wide-seed0``): bound frames are 15.3 and 23.0 % (challenge) and 8.0 and 25.4 % (wide)
of the frames of the dimerization experiments, at most 5.0 % (a confinement experiment) of
every other one's; the share of bindings that change the motion is 0.91–0.97 in
dimerization, 0.33–0.50 elsewhere (experiments with at least 9 bindings).

In Track 2 the judgement counts the pair model's runs (:mod:`andi2kit.bound_runs`) instead of
the tolerance rule's: two slow free particles side by side keep the vector between them, so
the tolerance rule counts them bound and their "bindings" change nothing, which hid
dimerization where free particles are slow or pairs part often (on the tuning suites
``data/dimers0``, ``data/dimers2`` and ``data/fastdimers4``: docs/results-log.md, *Dimers
whose bound pairs move faster*). Track 2 evidence that also holds the counts of the state the
runs make, or of the bound partners' steps, may be judged dimerization by those too
(:func:`andi2kit.bound_states.is_dimerization`: any one suffices).

In Track 1 the ten VIPs of a FOV hold few bindings (3–33 per experiment), and in crowded
fields spots merge by chance: two slow particles overlapping read twice as bright, and their
shared spot, fitted at the centroid, steps with about half one particle's variance, which the
change test counts as a change half of the time. 10 of 13 and 14 of 17 such bindings looked
"changed" in two crowded experiments (a single-state one, a trap one) that were then judged
dimerization. So Track 1 evidence also holds the counts of every tracked particle of the
FOV (``field_*``, a few hundred bindings per experiment in a crowd), and they decide: on the
three crowded seeds the changed share is 0.45–0.66 in the single-state, multi-state and
confinement experiments with at least 40 bindings, 0.55–0.86 in the trap ones (which the
held immobile state excludes) and 0.71–0.94 in dimerization (``python
tests/benchmarks/dimer_chance.py OUT 1`` on the output of ``andi2kit run DIR/public_data
--track 1 --tracks DIR/tracks --out OUT``; docs/track1.md, *Crowded fields*).

See Also
--------
andi2kit.bound_states : Track 2's judgement, from the state the bound runs make.
andi2kit.partner_cuts : the change points at the bindings and partings.
andi2kit.state_mixture : the experiment-level decision whose held states gate this.
andi2kit.experiment_decision.ExperimentDecision : where the two segmentations meet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from andi2kit.constants import CONFINED, IMMOBILE, LOCALISATION_NOISE
from andi2kit.segment import smooth_states
from andi2kit.state_evidence import COMOVE_RADIUS, MERGED_BRIGHTNESS, merged_spot

__all__ = ["BOUND_RADIUS", "CERTAIN_BINDINGS", "CERTAIN_CHANGE", "CHANGED_SHARE", "DIMER_SHARE",
           "MERGED_BRIGHTNESS", "MIN_BOUND", "STEP_TOL", "binding_changes", "bound_frames",
           "close_points", "is_dimerization", "partner_counts", "partner_shares", "run_counts"]

#: Another trajectory closer than this (px) in a frame may be bound to this one.
BOUND_RADIUS = COMOVE_RADIUS
#: A bound pair's vector changes by its localisation noise only (per axis 2σ): a change of
#: more than 5σ (px; 2.5 of those per-axis spreads) means the two move apart.
STEP_TOL = 5 * LOCALISATION_NOISE
#: Shortest run of close frames that is a binding (shorter runs, inside or outside, flip).
MIN_BOUND = 3
#: Share of an experiment's frames that must be bound for it to be judged dimerization
#: (halfway, in log, between 5.0 and 8.0 %: see the module's notes).
DIMER_SHARE = 0.063
#: Frames either side of a binding whose steps tell whether the trajectory's motion changed
#: there (mean squared step by more than a factor :data:`CHANGE_FACTOR`).
BINDING_WINDOW, CHANGE_FACTOR = 5, 2.0
#: Share of bindings at which the trajectory's own motion changes, at least, for an
#: experiment to be judged dimerization: both partners of a dimer change when they bind
#: (share near 1), while of two particles crowding into one compartment or trap only the
#: newcomer does (near 1/2); halfway between.
CHANGED_SHARE = 0.75
#: A share of bindings that change the motion this high, over at least
#: :data:`CERTAIN_BINDINGS` of them, is dimerization whatever the share of bound frames:
#: dimers whose bound pairs are seldom seen together (a slow pair, a merged spot) reach
#: 0.95–0.97 over 28–107 bindings with 3–5 % of their frames bound; of every other
#: experiment of our suites only three trap experiments reach 0.9 (over 20–22 bindings,
#: all held to hold traps, which excludes dimerization), the rest stay at or below 0.76.
CERTAIN_CHANGE, CERTAIN_BINDINGS = 0.9, 25


def _late_onsets(bound: np.ndarray, merged: np.ndarray) -> np.ndarray:
    """``bound`` with each run that begins on a merged spot begun one frame later.

    andi-datasets binds two particles in the frame they come within reach and labels the
    change from the next one: the first frame of a merged spot is still free. The position
    rule of :func:`bound_frames` (the step *into* a frame keeps the vector) starts a run
    there already. Which runs are bindings is decided before (:data:`MIN_BOUND`); only the
    first frame moves, and a run at the movie's first frame stays. On the tuning suites'
    tracked dimer VIPs (``python tests/benchmarks/binding_onsets.py data/chal0v data/wide0v
    data/training7v``) the spot first holds two one frame before the labels' binding in 66
    of 76 bindings (two frames in 10), never at it; the bound run now begins at it in 61
    (none before: 0).

    Examples
    --------
    >>> b = np.array([0, 0, 1, 1, 1, 1, 0, 1, 1, 1], bool)
    >>> m = np.array([0, 0, 1, 1, 1, 1, 0, 0, 1, 1], bool)
    >>> _late_onsets(b, m).astype(int).tolist()
    [0, 0, 0, 1, 1, 1, 0, 1, 1, 1]
    """
    out = bound.copy()
    onset = np.flatnonzero(out[1:] & ~out[:-1]) + 1
    out[onset[merged[onset]]] = False
    return out


def close_points(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The points of a FOV's trajectories, stacked, and the pairs of them closer than
    :data:`BOUND_RADIUS` in one frame on two trajectories.

    Returns
    -------
    traj, frame, xy : numpy.ndarray
        Each stacked point's trajectory, frame and position.
    a, b : numpy.ndarray
        Row numbers (into the stacked points) of each close pair.

    Examples
    --------
    >>> t = np.arange(3)
    >>> p = np.zeros((3, 2))
    >>> traj, frame, xy, a, b = close_points([p, p + [1.0, 0.0], p + [9.0, 0.0]], [t, t, t])
    >>> sorted(zip(traj[a].tolist(), traj[b].tolist(), frame[a].tolist()))
    [(0, 1, 0), (0, 1, 1), (0, 1, 2)]
    """
    from scipy.spatial import cKDTree

    traj = np.concatenate([np.full(len(p), k) for k, p in enumerate(positions)])
    frame = np.concatenate([np.asarray(f, np.int64) for f in frames])
    xy = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in positions])
    row = np.flatnonzero(np.isfinite(xy).all(1))
    # frames far apart along a third axis: only points of one frame can be neighbours
    pairs = cKDTree(np.column_stack([xy[row], frame[row] * 4 * BOUND_RADIUS])).query_pairs(
        BOUND_RADIUS, output_type="ndarray")
    a, b = row[pairs[:, 0]], row[pairs[:, 1]]
    keep = traj[a] != traj[b]
    return traj, frame, xy, a[keep], b[keep]


def bound_frames(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                 brightness: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray]:
    """Per trajectory, the frames it reaches moving with another trajectory of the FOV.

    A frame is bound when the step into it keeps the vector to another trajectory within
    :data:`BOUND_RADIUS` (both seen in this frame and the one before, that vector changing
    by less than :data:`STEP_TOL`), or, with ``brightness`` (tracked Track 1 VIPs, whose
    partners are rarely tracked and, bound closer than the PSF, share their spot), when its
    spot is at least :data:`MERGED_BRIGHTNESS` times the frame's typical one; runs shorter
    than :data:`MIN_BOUND` frames flip, and a run that begins on a merged spot begins a frame
    later (:func:`_late_onsets`: the first frame of a spot of two is still free in the labels).

    Parameters
    ----------
    positions : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` positions (px; NaN: not seen).
    frames : sequence of numpy.ndarray
        Per trajectory, the frame numbers of those rows.
    brightness : sequence of numpy.ndarray or None, optional
        Per trajectory, ``(T_i,)`` its spot's brightness against the frame's typical spot
        (:func:`andi2kit.tracking.follow_vips`; NaN: no spot), or None.

    Returns
    -------
    list of numpy.ndarray
        ``(T_i,)`` bool per trajectory.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(30)
    >>> a = np.cumsum(rng.normal(0, 1, (30, 2)), 0)
    >>> b = a + 40 - np.cumsum(rng.normal(0, 1, (30, 2)), 0)
    >>> b[10:20] = a[10:20] + 2.0  # bound from frame 10 to 19: 2 px apart, same steps
    >>> np.flatnonzero(bound_frames([a, b], [t, t])[0]).tolist() == list(range(11, 20))
    True
    """
    merged = [merged_spot(b, len(p)) for p, b in zip(
        positions, brightness or [None] * len(positions), strict=True)]
    bound = [m.copy() for m in merged]
    together_in = [np.zeros(len(p), bool) for p in positions]  # by the step rule

    def runs() -> list[np.ndarray]:
        # a run that begins on a spot of two, not on a step made together, begins a frame late
        return [_late_onsets(smooth_states(c, MIN_BOUND, keep_ends=True).astype(bool),
                             m & ~t) for c, m, t in zip(bound, merged, together_in, strict=True)]

    if len(positions) < 2:
        return runs()
    traj, frame, xy, a, b = close_points(positions, frames)
    # the rows of the frame before, where both trajectories have one
    pa, pb = np.maximum(a - 1, 0), np.maximum(b - 1, 0)
    ok = ((a > 0) & (b > 0) & (traj[pa] == traj[a]) & (traj[pb] == traj[b])
          & (frame[pa] == frame[a] - 1) & (frame[pb] == frame[b] - 1))
    with np.errstate(invalid="ignore"):  # NaN (not seen before): not together
        step = np.hypot(*((xy[a] - xy[b]) - (xy[pa] - xy[pb])).T)
        together = ok & (step < STEP_TOL)
    start = np.r_[0, np.cumsum([len(p) for p in positions])]
    for r in np.r_[a[together], b[together]]:
        bound[traj[r]][r - start[traj[r]]] = together_in[traj[r]][r - start[traj[r]]] = True
    return runs()


def binding_changes(positions: Sequence[np.ndarray], bound: Sequence[np.ndarray]
                    ) -> tuple[int, int]:
    """Bindings (starts of bound runs with :data:`BINDING_WINDOW` frames seen on either side
    and bound all through the window after) and how many of them change the trajectory's
    mean squared step by more than :data:`CHANGE_FACTOR` either way.

    Examples
    --------
    >>> t = np.arange(40)
    >>> slows = np.column_stack([np.where(t < 20, 2.0 * t, 40.0), np.zeros(40)])
    >>> keeps = np.column_stack([t * 0.1, np.zeros(40)])
    >>> b = t >= 20
    >>> binding_changes([slows, keeps], [b, b])
    (2, 1)
    """
    w = BINDING_WINDOW
    n = changed = 0
    for p, b in zip(positions, bound, strict=True):
        b = np.asarray(b, bool)
        sq = np.r_[np.nan, np.sum(np.diff(np.asarray(p, float), axis=0) ** 2, axis=1)]
        for s in np.flatnonzero(np.diff(b.astype(np.int8)) == 1) + 1:
            if s - w < 1 or s + w > b.size or not b[s:s + w].all():
                continue
            before, after = sq[s - w:s], sq[s + 1:s + w]
            if not (np.isfinite(before).any() and np.isfinite(after).any()):
                continue
            v0, v1 = np.nanmean(before), np.nanmean(after)
            n += 1
            changed += bool(v1 * CHANGE_FACTOR < v0 or v1 > CHANGE_FACTOR * v0)
    return n, changed


def partner_counts(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                   brightness: Sequence[np.ndarray | None] | None = None, prefix: str = ""
                   ) -> tuple[list[np.ndarray], dict[str, float]]:
    """:func:`bound_frames` of a FOV's trajectories and the counts a FOV's evidence keeps
    of them: ``bound`` frames, ``partner_frames`` (the frames looked in), ``bindings`` and
    the ``changed`` ones (:func:`binding_changes`), each key after ``prefix``.

    Examples
    --------
    >>> t = np.arange(30)
    >>> a = np.column_stack([t * 1.0, np.zeros(30)])
    >>> _, counts = partner_counts([a, a + [40.0, 0.0]], [t, t], prefix="field_")
    >>> counts["field_bound"], counts["field_partner_frames"]
    (0.0, 60.0)
    """
    bound = bound_frames(positions, frames, brightness)
    return bound, run_counts(positions, bound, prefix)


def run_counts(positions: Sequence[np.ndarray], bound: Sequence[np.ndarray],
               prefix: str = "") -> dict[str, float]:
    """The counts a FOV's evidence keeps of its trajectories' ``bound`` frames (the tolerance
    rule's, or Track 2's pair model's, :func:`andi2kit.bound_runs.bound_runs`, under
    ``prefix`` ``"pair_"``): ``bound`` frames, ``partner_frames``, ``bindings`` and the
    ``changed`` ones (:func:`binding_changes`).

    Examples
    --------
    >>> t = np.arange(30)
    >>> a = np.column_stack([t * 1.0, np.zeros(30)])
    >>> run_counts([a], [t >= 20], prefix="pair_")["pair_bound"]
    10.0
    """
    bindings, changed = binding_changes(positions, bound)
    return {prefix + "bound": float(sum(int(np.sum(b)) for b in bound)),
            prefix + "partner_frames": float(sum(np.size(b) for b in bound)),
            prefix + "bindings": float(bindings), prefix + "changed": float(changed)}


def partner_shares(evidence: Sequence[dict[str, float]], field: bool | None = None
                   ) -> tuple[float, float, float]:
    """An experiment's share of bound frames, share of bindings that changed the motion, and
    bindings, summed over its FOVs' evidence (:func:`partner_counts`).

    ``field``: from the counts of every tracked particle (Track 1's ``field_*``); None: those
    when every FOV has them, else the pair model's runs (Track 2's ``pair_*``) when every FOV
    has them, else the tolerance rule's. Evidence written before the partner counts had their
    own frame count divides by ``frames``. Empty counts give 0.

    Examples
    --------
    >>> ev = {"frames": 1000, "bound": 120, "bindings": 20, "changed": 18}
    >>> partner_shares([ev])
    (0.12, 0.9, 20.0)
    >>> partner_shares([ev | {"pair_bound": 100, "pair_partner_frames": 1000,
    ...                       "pair_bindings": 10, "pair_changed": 9}])
    (0.1, 0.9, 10.0)
    """
    def every(key: str) -> bool:
        return bool(evidence) and all(key in ev for ev in evidence)

    if field is None:
        field = every("field_bindings")
    pre = "field_" if field else "pair_" if every("pair_bindings") else ""

    def total(key: str) -> float:
        return sum(float(ev.get(pre + key, 0.0)) for ev in evidence)

    frames = total("partner_frames") if all(pre + "partner_frames" in ev
                                            for ev in evidence) else total("frames")
    bindings = total("bindings")
    return (total("bound") / frames if frames > 0 else 0.0,
            total("changed") / bindings if bindings > 0 else 0.0, bindings)


def is_dimerization(evidence: Sequence[dict[str, float]], held: np.ndarray) -> bool:
    """Whether an experiment is judged dimerization: at least :data:`DIMER_SHARE` of the
    frames of its FOVs' evidence (``bound`` of ``partner_frames``, the frames of the
    trajectories the partners were looked for in; ``frames`` when that count is absent) are
    bound, at least
    :data:`CHANGED_SHARE` of its ``bindings`` ``changed`` the trajectory's motion
    (:func:`binding_changes`), and it holds neither immobile nor confined frames (``held``,
    :func:`andi2kit.state_mixture.decide`).

    Examples
    --------
    >>> ev = {"frames": 1000, "bound": 120, "bindings": 20, "changed": 18}
    >>> is_dimerization([ev], np.array([False, False, True, True]))
    True
    >>> is_dimerization([ev | {"changed": 10}], np.array([False, False, True, True]))
    False
    >>> is_dimerization([ev], np.array([True, False, True, True]))
    False

    The bound share is over the frames the partners were looked for in, not over all the
    frames of the state evidence:

    >>> more = ev | {"frames": 4000, "partner_frames": 1000}
    >>> is_dimerization([more], np.array([False, False, True, True]))
    True

    Track 2 evidence also holds the counts of the pair model's runs (``pair_*``,
    :func:`andi2kit.bound_runs.bound_runs`), and they decide: the tolerance rule takes two
    slow free particles side by side for a pair, whose "bindings" change nothing. Track 1
    evidence holds the counts of every tracked particle of the FOV (``field_bound``,
    ``field_partner_frames``, ``field_bindings``, ``field_changed``); they decide when every
    FOV has them, the VIPs' few bindings being a noisy share:

    >>> crowd = {"field_bound": 900, "field_partner_frames": 9000, "field_bindings": 150,
    ...          "field_changed": 90}
    >>> is_dimerization([ev | crowd], np.array([False, False, True, True]))
    False
    """
    # Track 1: every tracked particle's counts; Track 2: the pair model's runs'
    bound, changed, bindings = partner_shares(evidence)
    certain = changed >= CERTAIN_CHANGE and bindings >= CERTAIN_BINDINGS
    return ((bound >= DIMER_SHARE and bindings > 0 and changed >= CHANGED_SHARE or certain)
            and not held[IMMOBILE] and not held[CONFINED])
