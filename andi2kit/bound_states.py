"""Whether a FOV's bound runs are a state of motion: Track 2's judgement of dimerization.

In andi-datasets' ``dimerization`` model a particle moves in its bound state exactly while it
is bound to a partner, so nearly every frame of that state of motion is a frame of a bound
run (:func:`andi2kit.bound_runs.bound_runs`; in Track 2 both partners are public
trajectories). In every other model the frames of a slow or fast state are bound only when
another particle happens to stand by: two slow particles side by side in a multi-state
experiment, two in one compartment or trap. So each FOV's steps are read by a two-state
hidden Markov model (:func:`andi2kit.step_hmm.fit_states`, the states in ascending
variance), and the evidence keeps, per state, its frames, how many of them are bound and how
many have another trajectory within :data:`~andi2kit.partners.BOUND_RADIUS`
(:func:`state_counts`). An experiment's *bound state* is the one with the larger share of
bound frames, pooled over its FOVs; how often a frame of the *other* state has a neighbour
that close is the chance of standing by one, and the bound share beyond that chance,
``(share - chance) / (1 - chance)``, is the *excess* (:func:`bound_state_excess`) that
judges (:func:`is_dimerization`), beside the bindings' counts: in a field crowded enough, two
slow particles side by side (which no model can tell from a slow bound pair) are as common as
bound pairs; where free particles' K scatter tenfold between particles, the FOV's two states
are fast free particles and the rest, and only the bindings' counts tell.

Measured on the Track 2 tuning suites (``data/dimers0``, ``data/dimers2``,
``data/fastdimers4``, ``data/comp0``, ``data/traps0``, ``data/chal0v``, ``data/chal2v``; a
``/tmp`` probe of the pair model's runs and this model, docs/results-log.md, *Dimerization
judged from the state the bound runs make*): the bound share is 0.72–0.996 in all 19
dimerization experiments (those whose bound pairs move faster included) and at most 0.30
in the 47 others (a confinement experiment: slow particles in a compartment); the chance is
0.04–0.31, the excess 0.68–0.996 in dimerization and at most 0.26 elsewhere. The share of
bindings that change the trajectory's motion (:func:`andi2kit.partners.binding_changes`),
which judged Track 2 alone before and still judges beside the excess, overlaps there: 0.61–0.74
in five dimerization experiments, up to 0.77 in a multi-state one. In a multi-state field
four times denser than any of the suites (150 particles on 50 × 50 px, a slow state of D
0.002 px²/frame), the bound share reaches 0.58 and the chance more: no excess
(``tests/test_bound_states.py``).

See Also
--------
andi2kit.partners.is_dimerization : the judgement from the bindings' counts (Track 1;
    Track 2 beside the excess and the partners' step correlation).
andi2kit.bound_runs.step_correlation : how much bound partners' steps correlate.
andi2kit.bound_runs : the pair model's bound runs.
andi2kit.step_hmm : the hidden Markov model of the steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from andi2kit import partners
from andi2kit.bound_runs import step_correlation
from andi2kit.constants import CONFINED, IMMOBILE, LOCALISATION_NOISE
from andi2kit.step_hmm import fit_states, state_paths, step_squares

__all__ = ["BOUND_STATE_EXCESS", "CLIP_PERCENTILE", "CO_MOVING", "COUNTS", "ITERATIONS",
           "MIN_CO_MOVING_STEPS", "MIN_STATE_BOUND", "STATES", "bound_state_excess",
           "is_dimerization", "state_counts"]

#: An experiment whose bound state is bound beyond chance at least this often is
#: dimerization (halfway, about, between 0.26 and 0.68: the closest of the tuning suites'
#: other experiments and of their dimerization experiments).
BOUND_STATE_EXCESS = 0.5
#: Fewest bound frames (over the experiment's FOVs) in that state for it to count.
MIN_STATE_BOUND = 50
#: Bound partners whose steps correlate at least this much over an experiment are dimers
#: (:func:`andi2kit.bound_runs.step_correlation`): at most 0.32 in the tuning suites' other
#: experiments over 500 bound steps or more, 0.70–0.99 in the dimers whose bound pair moves
#: well above the noise.
CO_MOVING = 0.6
#: Fewest bound steps (over the experiment's FOVs) for the correlation to count.
MIN_CO_MOVING_STEPS = 500
#: The states of the model, in ascending step variance, as the evidence names them.
STATES = ("slow", "fast")
#: What the evidence counts per state: its frames, the bound ones, those with a neighbour.
COUNTS = ("frames", "bound", "close")
#: EM iterations of the two-state model (as the step-state model's).
ITERATIONS = 40
#: Squared steps beyond this percentile of the FOV's are read as at it.
CLIP_PERCENTILE = 99.5


def state_counts(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                 runs: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE,
                 prefix: str = "pair_") -> dict[str, float]:
    """Per state of a two-state model of a FOV's steps, its frames, its bound ones and those
    with another trajectory within :data:`~andi2kit.partners.BOUND_RADIUS`.

    Parameters
    ----------
    positions : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` positions over consecutive frames (px; NaN: not seen).
    frames : sequence of numpy.ndarray
        Per trajectory, its frame numbers.
    runs : sequence of numpy.ndarray
        Per trajectory, its bound frames (``(T_i,)`` booleans,
        :func:`andi2kit.bound_runs.bound_runs`).
    noise : float
        Localisation noise per axis (px): no state's step variance lies below ``2 σ²``.
    prefix : str
        Put before each key (``slow_frames``, ``slow_bound``, ``slow_close``, ``fast_…``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> bound = (np.arange(200) // 25) % 2 == 1           # bound every other 25 frames
    >>> steps = rng.normal(0, 1, (40, 200, 2)) * np.where(bound, 1.0, 0.2)[None, :, None]
    >>> pos = list(np.cumsum(steps, axis=1) + rng.uniform(0, 1e4, (40, 1, 2)))
    >>> counts = state_counts(pos, [np.arange(200)] * 40, [bound] * 40)
    >>> round(counts["pair_fast_bound"] / counts["pair_fast_frames"], 2)
    1.0
    >>> counts["pair_slow_close"]                          # nobody stands by
    0.0
    """
    out = {prefix + f"{s}_{k}": 0.0 for s in STATES for k in COUNTS}
    steps = [np.r_[np.full((1, 2), np.nan), np.diff(np.asarray(p, float), axis=0)]
             for p in positions]
    d2, lengths = step_squares(steps, whiten=False)
    if int(np.isfinite(d2).sum()) < 10:
        return out
    # a few jumps (two particles' paths joined, a wrapped edge) would take a state for
    # themselves
    d2 = np.minimum(d2, np.nanpercentile(d2, CLIP_PERCENTILE))
    model = fit_states(d2, lengths, len(STATES), 2 * noise**2, ITERATIONS)
    _, _, _, a, b = partners.close_points(positions, frames)
    near = np.zeros(sum(len(p) for p in positions), bool)
    near[a] = near[b] = True
    starts = np.r_[0, np.cumsum([len(p) for p in positions])]
    for k, (path, bound) in enumerate(zip(state_paths(steps, model), runs, strict=True)):
        bound = np.asarray(bound, bool)
        close = near[starts[k]:starts[k + 1]]
        for j, s in enumerate(STATES):
            at = path == j
            out[prefix + f"{s}_frames"] += float(at.sum())
            out[prefix + f"{s}_bound"] += float((at & bound).sum())
            out[prefix + f"{s}_close"] += float((at & close).sum())
    return out


def bound_state_excess(evidence: Sequence[dict[str, float]], prefix: str = "pair_"
                       ) -> tuple[float, float, float] | None:
    """An experiment's bound state (the one with the larger share of bound frames, pooled
    over its FOVs' :func:`state_counts`): its bound share beyond the chance of standing by
    a neighbour (the other state's share of close frames), that share, and its bound
    frames; None where a FOV's evidence lacks the counts (Track 1, or evidence written
    before them).

    Examples
    --------
    >>> ev = {"pair_slow_frames": 900, "pair_slow_bound": 40, "pair_slow_close": 90,
    ...       "pair_fast_frames": 100, "pair_fast_bound": 95, "pair_fast_close": 96}
    >>> [round(x, 3) for x in bound_state_excess([ev, ev])]
    [0.944, 0.95, 190.0]
    >>> bound_state_excess([{"frames": 10}]) is None
    True
    """
    keys = [prefix + f"{s}_{k}" for s in STATES for k in COUNTS]
    if not evidence or not all(k in ev for ev in evidence for k in keys):
        return None

    def total(s: str, k: str) -> float:
        return sum(float(ev[prefix + f"{s}_{k}"]) for ev in evidence)

    share = [total(s, "bound") / max(total(s, "frames"), 1.0) for s in STATES]
    j = int(np.argmax(share))
    other = STATES[1 - j]
    chance = total(other, "close") / max(total(other, "frames"), 1.0)
    excess = (share[j] - chance) / (1.0 - chance) if chance < 1 else 0.0
    return excess, share[j], total(STATES[j], "bound")


def is_dimerization(evidence: Sequence[dict[str, float]], held: np.ndarray) -> bool:
    """Whether an experiment is judged dimerization: by the bindings' counts
    (:func:`andi2kit.partners.is_dimerization`), or, where every FOV's evidence holds the
    :func:`state_counts` (Track 2), where its bound state is bound beyond chance at least
    :data:`BOUND_STATE_EXCESS` of the time over at least :data:`MIN_STATE_BOUND` bound
    frames and it holds neither immobile nor confined frames (``held``,
    :func:`andi2kit.state_mixture.decide`). Any one suffices: where the free particles' K
    scatter tenfold between particles the FOV's two step states are not free and bound
    (the excess stays low), while the bindings still change the motion. Or, third, where
    the partners' steps correlate (:func:`andi2kit.bound_runs.step_correlation`) at least
    :data:`CO_MOVING` over at least :data:`MIN_CO_MOVING_STEPS` bound steps and it holds
    no immobile frames: only partners that take the same displacements do so, whatever
    the other particles' K (two particles in one compartment move independently, so a
    held confined state does not stand against it; a held immobile one does, measured:
    docs/results-log.md, *Partners that take the same steps*).

    Examples
    --------
    >>> ev = {"pair_slow_frames": 900, "pair_slow_bound": 40, "pair_slow_close": 90,
    ...       "pair_fast_frames": 100, "pair_fast_bound": 95, "pair_fast_close": 96}
    >>> is_dimerization([ev], np.array([False, False, True, True]))
    True
    >>> is_dimerization([ev], np.array([False, True, True, True]))
    False

    Slow particles side by side in a crowd: their state is bound half of the time, and
    the other state stands by a neighbour as often.

    >>> crowd = ev | {"pair_slow_close": 500, "pair_fast_bound": 50, "pair_fast_close": 60}
    >>> is_dimerization([crowd], np.array([False, False, True, True]))
    False

    Partners whose steps correlate 0.9 over 600 bound steps, beside a held confined state:

    >>> moving = crowd | {"pair_common_sq": 190.0, "pair_relative_sq": 40.0,
    ...                   "pair_bound_steps": 600.0}
    >>> is_dimerization([moving], np.array([False, True, True, True]))
    True
    >>> is_dimerization([moving], np.array([True, False, True, True]))
    False
    """
    if partners.is_dimerization(evidence, held):
        return True
    judged = bound_state_excess(evidence)
    if judged is not None and judged[0] >= BOUND_STATE_EXCESS \
            and judged[2] >= MIN_STATE_BOUND and not held[IMMOBILE] and not held[CONFINED]:
        return True
    moving = step_correlation(evidence)
    return bool(moving is not None and moving[0] >= CO_MOVING
                and moving[1] >= MIN_CO_MOVING_STEPS and not held[IMMOBILE])
