"""Change points at bound partners: a dimerization experiment's trajectories cut where
they bind and part.

A binding's change point is the first bound frame (Track 2: the pair model's runs through
the organisers' label filter, :func:`andi2kit.bound_runs.bound_runs`; Track 1, whose VIPs'
partners are rarely tracked: :func:`andi2kit.partners.bound_frames`), a parting's the first
frame after the run — to the frame, where a per-frame model reading
one trajectory at a time sees a slowdown only after a few frames. The model's own change
points far from every partner one are kept (:data:`KEEP_MODEL`), and a partner cut across
which the trajectory's mean squared step does not change by
:data:`~andi2kit.partners.CHANGE_FACTOR` is dropped (:func:`drop_unchanged`): a binding
changes the motion, a flicker of the bound test does not. Measured on the tuning seeds
(``python tests/benchmarks/experiment_states.py DIR [--track 1] --checkpoints CKPT``), the
six dimerization experiments of the challenge seeds 0 and 2 and the wide seed 0, Track 2:
JSC CP +0.035, −0.011, +0.038, +0.048, 0.000, +0.003 (docs/results-log.md, *Change points from bound
partners*). These segments replace the model's only in experiments judged dimerization
(:func:`andi2kit.bound_states.is_dimerization`; :func:`choose_segments`).

See Also
--------
andi2kit.partners : the bound frames and the dimerization judgement.
andi2kit.bound_runs : Track 2's bound runs, from the vector between two trajectories.
andi2kit.experiment_decision.ExperimentDecision : where the two segmentations meet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from andi2kit import bound_runs
from andi2kit.bound_states import (
    BOUND_STATE_EXCESS,
    CO_MOVING,
    MIN_CO_MOVING_STEPS,
    MIN_STATE_BOUND,
)
from andi2kit.constants import LOCALISATION_NOISE
from andi2kit.labels import TrajectoryLabel
from andi2kit.partners import (
    BINDING_WINDOW,
    BOUND_RADIUS,
    CERTAIN_BINDINGS,
    CERTAIN_CHANGE,
    CHANGE_FACTOR,
    CHANGED_SHARE,
    DIMER_SHARE,
    MERGED_BRIGHTNESS,
    MIN_BOUND,
    STEP_TOL,
)
from andi2kit.segment import (
    SHORT_SEGMENT,
    Segmenter,
    short_segment_K,
    spaced,
    squared_steps,
)
from andi2kit.state_mixture import segment_probabilities

__all__ = ["KEEP_MODEL", "choose_segments", "drop_unchanged", "partner_change_points",
           "partner_segments", "segments_at", "settings"]

#: A model change point farther than this (frames) from every partner change point is kept
#: (its partner may lie outside the FOV, or its motion change be another).
KEEP_MODEL = 5


def partner_change_points(bound: np.ndarray, min_size: int = 1,
                          model: Sequence[int] = ()) -> list[int]:
    """Change points (first frame of each new segment) where a trajectory binds or parts.

    A binding's change point is the first bound frame (the first the pair reaches moving
    together), a parting's the first frame after the run (on the tuning seeds: exact in
    194 of 249 bindings and 131 of 164 partings). The ``model``'s own change points farther than
    :data:`KEEP_MODEL` frames from all of these are kept too. A change point closer than
    ``min_size`` frames to the one before it or to either end is dropped.

    Examples
    --------
    >>> b = np.r_[np.zeros(10), np.ones(10), np.zeros(10)].astype(bool)
    >>> partner_change_points(b)
    [10, 20]
    >>> partner_change_points(b, model=[9, 26])
    [10, 20, 26]
    """
    bound = np.asarray(bound, bool)
    cuts = np.flatnonzero(np.diff(bound.astype(np.int8))) + 1
    cuts = {int(c) for c in cuts}
    cuts |= {int(c) for c in model if not cuts or min(abs(c - p) for p in cuts) > KEEP_MODEL}
    return spaced(sorted(cuts), bound.size, min_size)


def drop_unchanged(cps: Sequence[int], steps: np.ndarray, model: Sequence[int] = ()
                   ) -> list[int]:
    """Partner change points with those where the motion does not change dropped.

    A binding changes the trajectory's mean squared step by more than
    :data:`~andi2kit.partners.CHANGE_FACTOR` (the premise of
    :data:`~andi2kit.partners.CHANGED_SHARE`), so a cut between two segments whose mean
    squared steps (the steps into their frames) lie closer is a flicker of the bound test (a
    merged spot dimming as the pair turns, a slow pair's vector drifting past
    :data:`~andi2kit.partners.STEP_TOL`). The closest pair goes first, then the segments are
    measured again. The ``model``'s own change points stay.

    Parameters
    ----------
    cps : sequence of int
        Partner change points (:func:`partner_change_points`).
    steps : numpy.ndarray
        ``(T, 2)`` displacement into each frame (row 0 ignored; NaN: not seen).
    model : sequence of int
        The per-frame model's own change points.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> scale = np.r_[np.full(50, 1.0), np.full(70, 0.1), np.full(80, 1.0)]
    >>> steps = rng.normal(0, 1, (200, 2)) * scale[:, None]
    >>> drop_unchanged([50, 90, 120], steps)
    [50, 120]
    """
    sq = squared_steps(np.asarray(steps), first=np.nan)
    model = {int(c) for c in model}
    cps = [int(c) for c in cps]
    while cps:
        bounds = np.r_[0, cps, sq.size]
        msq = np.array([_mean_seen(sq[lo:hi]) for lo, hi in
                        zip(bounds[:-1], bounds[1:], strict=True)])
        # a segment with no step seen (NaN) compares False: its cuts stay
        ratio = np.abs(np.diff(np.log(msq)))
        alike = [k for k, c in enumerate(cps) if c not in model
                 and ratio[k] < np.log(CHANGE_FACTOR)]
        if not alike:
            break
        del cps[min(alike, key=lambda k: ratio[k])]
    return cps


def _mean_seen(sq: np.ndarray) -> float:
    """Mean of the finite squared steps (NaN: none)."""
    seen = sq[np.isfinite(sq)]
    return max(float(seen.mean()), 1e-12) if seen.size else np.nan


def partner_segments(labels: Sequence[TrajectoryLabel], frames: Sequence[np.ndarray],
                     bound: Sequence[np.ndarray], steps: Sequence[np.ndarray],
                     segmenter: Segmenter) -> dict[str, dict]:
    """A FOV's trajectories cut at their partner change points, for
    :func:`choose_segments`: each with a ``bound`` frame or whose partner change points
    (:func:`partner_change_points` less :func:`drop_unchanged`) differ from its own,
    by ``str(idx)``: ``cp``, ``K`` (short segments' from their own steps,
    :func:`short_segment_K`), ``alpha``, ``state`` (the ``segmenter``'s values of the
    per-frame ``frames``) and the segments' mean state ``probabilities``.

    Parameters
    ----------
    labels : sequence of TrajectoryLabel
        The per-frame model's segments of each trajectory.
    frames : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 7)`` per-frame values.
    bound : sequence of numpy.ndarray
        Per trajectory, ``(T_i,)`` bool (:func:`bound_frames`).
    steps : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` displacement into each frame.
    segmenter : andi2kit.segment.Segmenter
        Gives the segments' values at given change points.
    """
    out = {}
    for lab, f, b, st in zip(labels, frames, bound, steps, strict=True):
        own = lab.cp.tolist()
        cps = partner_change_points(b, segmenter.min_size, model=own)
        if cps == own and not b.any():
            continue
        out[str(lab.idx)] = segments_at(lab.idx, f, drop_unchanged(cps, st, model=own), st,
                                        segmenter)
    return out


def segments_at(idx: int, frames: np.ndarray, cps: list[int], steps: np.ndarray,
                segmenter: Segmenter) -> dict:
    """One trajectory's alternative segments, cut at ``cps`` found off the per-frame model
    (for :func:`choose_segments`): ``cp``, ``K`` (short segments' from their own ``steps``,
    :func:`andi2kit.segment.short_segment_K`), ``alpha``, ``state`` (the ``segmenter``'s
    values of the per-frame ``frames``) and the segments' mean state ``probabilities``."""
    alt = segmenter.label_at(idx, frames, cps)
    alt.K = short_segment_K(steps, cps, alt.K)
    p = segment_probabilities([alt], [frames])[0]
    return {"cp": list(cps), "K": alt.K.tolist(), "alpha": alt.alpha.tolist(),
            "state": alt.state.tolist(), "probabilities": np.round(p, 6).tolist()}


def choose_segments(labels: Sequence[TrajectoryLabel], probabilities: Sequence[np.ndarray],
                    partner: dict[str, dict]) -> tuple[list[TrajectoryLabel], list[np.ndarray]]:
    """A FOV's labels and segment probabilities with each trajectory that has an entry in
    ``partner`` (``{str(idx): {"cp", "K", "alpha", "state", "probabilities"}}``, as
    :meth:`andi2kit.methods.unet.UNetMethod.predict_with_evidence` writes it) cut at its
    partner change points instead.

    Examples
    --------
    >>> lab = TrajectoryLabel(4, [1.0], [1.0], [2], [], 50)
    >>> alt = {"4": {"cp": [20], "K": [1.0, 0.01], "alpha": [1.0, 0.8], "state": [2, 2],
    ...              "probabilities": [[0, 0, 1, 0], [0, 0, 1, 0]]}}
    >>> labels, probs = choose_segments([lab], [np.zeros((1, 4))], alt)
    >>> labels[0].cp.tolist(), probs[0].shape
    ([20], (2, 4))
    """
    labels, probabilities = list(labels), list(probabilities)
    for k, lab in enumerate(labels):
        alt = partner.get(str(lab.idx))
        if alt is not None:
            labels[k] = TrajectoryLabel(lab.idx, alt["K"], alt["alpha"], alt["state"],
                                        alt["cp"], lab.T)
            probabilities[k] = np.asarray(alt["probabilities"], float)
    return labels, probabilities


def settings() -> dict:
    """What decides the partner change points (recorded beside a FOV's output)."""
    return {"bound_radius": BOUND_RADIUS, "step_tol": STEP_TOL, "min_bound": MIN_BOUND,
            "merged_brightness": MERGED_BRIGHTNESS, "merged_onset": "a frame late",
            "dimer_share": DIMER_SHARE, "dimer_share_of": "partner_frames",
            "keep_model": KEEP_MODEL,
            "short_segment": SHORT_SEGMENT, "noise": LOCALISATION_NOISE,
            "binding_window": BINDING_WINDOW, "change_factor": CHANGE_FACTOR,
            "changed_share": CHANGED_SHARE, "track1_counts": "field",
            "track2_counts": "pair runs",
            "certain_change": CERTAIN_CHANGE, "certain_bindings": CERTAIN_BINDINGS,
            "drop_unchanged": "mean squared step, change_factor",
            "track2_runs": bound_runs.settings(),
            "track2_judgement": {"counts": "frames, bound and close frames per state of a "
                                           "two-state model of the FOV's steps",
                                 "bound_state_excess": BOUND_STATE_EXCESS,
                                 "min_state_bound": MIN_STATE_BOUND,
                                 "co_moving": CO_MOVING,
                                 "min_co_moving_steps": MIN_CO_MOVING_STEPS}}
