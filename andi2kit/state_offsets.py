"""The per-state offsets of the state stage's log-probabilities, and per-state recalls.

The stage (:class:`andi2kit.states.StateClassifier`) is fitted with class-balanced weights, so
its raw probabilities call the rare states as often as free. An offset per state, added to its
log-probabilities, sets the balance: :func:`prior_offsets` gives back the state mix of the fit
frames (the default of ``make states``), :func:`choose_offsets` searches offsets on held-out
frames for per-frame recall targets.

See Also
--------
andi2kit.models.fit_states : fits the stage and sets its offsets.
"""

from __future__ import annotations

import numpy as np

#: Per-frame recalls asked of immobile, confined and directed (issue 11), free: ≥ 0.95.
RARE_TARGETS = (0.85, 0.60, 0.80)


def recalls(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-state recall (NaN for a state absent from ``y``)."""
    conf = np.zeros((4, 4))
    np.add.at(conf, (np.asarray(y, int), np.asarray(pred, int)), 1)
    with np.errstate(invalid="ignore"):
        return np.diag(conf) / conf.sum(1)


def prior_offsets(counts: np.ndarray) -> np.ndarray:
    """Offsets that give a stage fitted with class-balanced weights back the state mix of
    ``counts`` (frames per state; a state never seen keeps a very low prior).

    Examples
    --------
    >>> prior_offsets(np.array([10, 10, 100, 0])).round(2).tolist()
    [-2.3, -2.3, 0.0, -4.61]
    """
    counts = np.asarray(counts, float)
    return np.log(np.maximum(counts, 1.0) / max(counts[2], 1.0))


def choose_offsets(logp: np.ndarray, y: np.ndarray, free_recall: float = 0.95,
                   targets: tuple[float, float, float] = RARE_TARGETS,
                   grid: np.ndarray | None = None) -> np.ndarray:
    """Per-state offsets of the log-probabilities chosen on held-out frames.

    Coordinate search (free's offset fixed at 0): maximise the smallest recall of the rare
    states (immobile, confined, directed), each relative to its ``targets`` value, while free
    frames keep a recall of at least ``free_recall``.
    """
    grid = np.linspace(-3, 3, 25) if grid is None else grid
    off = np.zeros(4)
    goal = np.asarray(targets, float)

    def objective(o: np.ndarray) -> tuple[bool, float]:
        r = recalls(y, np.argmax(logp + o, 1))
        if not r[2] >= free_recall:  # infeasible: only free's recall counts
            return False, float(np.nan_to_num(r[2]))
        rare = np.nan_to_num(r[[0, 1, 3]], nan=1.0) / goal
        return True, float(rare.min() + 0.1 * rare.mean())

    return coordinate_search(objective, off, grid, rounds=3)


def coordinate_search(objective, start: np.ndarray, grid: np.ndarray, rounds: int = 2,
                      coords: tuple[int, ...] = (0, 1, 3)) -> np.ndarray:
    """Offsets maximising ``objective(offsets)`` (any comparable value), one coordinate of
    ``coords`` at a time over ``grid``, ``rounds`` times; free's (2) stays as given."""
    off = np.asarray(start, float).copy()
    best = objective(off)
    for _ in range(rounds):
        for k in coords:
            for g in grid:
                trial = off.copy()
                trial[k] = g
                val = objective(trial)
                if val > best:
                    best, off = val, trial
    return off
