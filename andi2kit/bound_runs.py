"""Bound runs decoded from the vector between two trajectories (Track 2's dimers).

In andi-datasets' ``dimerization`` model two free particles closer than twice their radius
bind with a probability per frame, then take the same displacements until they part, with
another probability per frame. While they are bound, the vector between them changes by the
localisation noise only (per axis ``4σ²`` per step); while free, by both particles' steps.
:func:`andi2kit.partners.bound_frames` calls a frame bound where that change is below a fixed
tolerance and flips runs shorter than three frames; here each close pair's relative steps are
read by a two-state hidden Markov model instead:

* a bound step is Gaussian with the noise's variance, a free one with the sum of both
  trajectories' step variances (:func:`free_variance`: from the steps the tolerance rule
  calls free, median-based, so that a particle's bound stretches and a rare jump do not set
  it);
* a pair binds only from a free frame at which it stood within
  :data:`~andi2kit.partners.BOUND_RADIUS`, with a probability per :data:`DISTANCE_BIN` of
  that distance, and never while either trajectory is bound to a third one; it parts with
  one probability per frame;
* the probabilities are learned per FOV from the decoded runs (:data:`ITERATIONS` rounds of
  hard EM; a run of at least :data:`~andi2kit.partners.MIN_BOUND` frames counts as a binding).

The physical path keeps runs of one or two frames — andi-datasets parts and rebinds a pair
within a frame or two — which the reference labels do not: they went through the organisers'
label filter (a majority over five frames, then no segment under three frames). So does each
trajectory's union of bound frames here (:func:`bound_runs`), and its change points are where
the filtered runs begin and end. Measured on the dimerization experiments of the tuning suites
(``data/dimers0``, ``data/dimers2``; docs/results-log.md, *Bound runs from the vector between
two trajectories*).

See Also
--------
andi2kit.partners : the tolerance rule, whose counts judge an experiment dimerization.
andi2kit.partner_cuts : the change points at the bindings and partings.
andi2kit.step_hmm : the hidden Markov model of one trajectory's own steps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from andi2kit.constants import LOCALISATION_NOISE
from andi2kit.labels import label_filter
from andi2kit.partners import BOUND_RADIUS, MIN_BOUND, close_points
from andi2kit.still_runs import runs

__all__ = ["DISTANCE_BIN", "ITERATIONS", "BindingModel", "bound_runs", "close_pairs",
           "decode", "free_variance", "settings"]

logger = logging.getLogger(__name__)

#: Width (px) of the bins of the distance at which a pair binds; each bin has its own
#: binding probability, up to :data:`~andi2kit.partners.BOUND_RADIUS`.
DISTANCE_BIN = 0.5
#: Rounds of decoding and re-estimating the probabilities after the first decoding.
ITERATIONS = 4
#: The first decoding's binding (every bin) and parting probabilities per frame.
START_BIND, START_UNBIND = 0.5, 0.1
#: Bounds of the learned probabilities (a bin with no binding keeps a small chance).
PROBABILITY_RANGE = (1e-4, 0.9)
#: Fewest steps the tolerance rule calls free for a trajectory's free variance to be read
#: from those alone (else from all its steps).
MIN_FREE_STEPS = 10


@dataclass(frozen=True)
class BindingModel:
    """Per frame, the probability that a close free pair binds (per :data:`DISTANCE_BIN` of
    its distance) and that a bound one parts."""

    bind: np.ndarray
    unbind: float

    @classmethod
    def start(cls) -> BindingModel:
        """The first decoding's model (:data:`START_BIND` in every bin, :data:`START_UNBIND`)."""
        n = int(np.ceil(BOUND_RADIUS / DISTANCE_BIN))
        return cls(np.full(n, START_BIND), START_UNBIND)


def free_variance(positions: Sequence[np.ndarray], bound: Sequence[np.ndarray],
                  noise: float = LOCALISATION_NOISE) -> np.ndarray:
    """Per trajectory, the variance per axis of its free steps (noise included).

    From the median squared step of the steps into frames not ``bound`` (the tolerance
    rule's; all steps when fewer than :data:`MIN_FREE_STEPS`): the median of a 2D Gaussian
    step's squared length is ``2 ln 2`` times its variance per axis. At least the noise's
    ``2σ²``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = np.cumsum(rng.normal(0, 1.0, (400, 2)), 0)
    >>> round(float(free_variance([p], [np.zeros(400, bool)])[0]), 1)
    1.0
    """
    out = np.empty(len(positions))
    for k, (p, b) in enumerate(zip(positions, bound, strict=True)):
        sq = np.sum(np.diff(np.asarray(p, float), axis=0) ** 2, axis=1)
        free = sq[~np.asarray(b, bool)[1:] & np.isfinite(sq)]
        sq = free if free.size >= MIN_FREE_STEPS else sq[np.isfinite(sq)]
        v = float(np.median(sq)) / (2 * np.log(2)) if sq.size else 0.0
        out[k] = max(v, 2 * noise**2)
    return out


def close_pairs(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray]
                ) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of trajectories closer than
    :data:`~andi2kit.partners.BOUND_RADIUS` in some frame.

    Examples
    --------
    >>> t = np.arange(5)
    >>> a = np.zeros((5, 2)); b = a + [1.0, 0.0]; c = a + [50.0, 0.0]
    >>> close_pairs([a, b, c], [t, t, t])
    [(0, 1)]
    """
    if len(positions) < 2:
        return []
    traj, _, _, a, b = close_points(positions, frames)
    return sorted({(int(min(x, y)), int(max(x, y)))
                   for x, y in zip(traj[a], traj[b], strict=True)})


@numba.njit(cache=True)
def _viterbi(ll_free, ll_bound, bind, unbind):  # pragma: no cover - compiled
    """Most likely free (False) / bound (True) path; the first frame is free."""
    n = ll_free.size
    lu, lsu = np.log(unbind), np.log1p(-unbind)
    d0, d1 = ll_free[0], -np.inf
    back0 = np.zeros(n, np.bool_)  # the state before, on the best path into free
    back1 = np.zeros(n, np.bool_)  # ... into bound
    for t in range(1, n):
        stay = d0 + (np.log1p(-bind[t]) if bind[t] > 0 else 0.0)
        part = d1 + lu
        if stay >= part:
            n0, back0[t] = stay, False
        else:
            n0, back0[t] = part, True
        enter = d0 + np.log(bind[t]) if bind[t] > 0 else -np.inf
        keep = d1 + lsu
        if enter >= keep:
            n1, back1[t] = enter, False
        else:
            n1, back1[t] = keep, True
        d0, d1 = n0 + ll_free[t], n1 + ll_bound[t]
    z = np.zeros(n, np.bool_)
    z[n - 1] = d1 > d0
    for t in range(n - 1, 0, -1):
        z[t - 1] = back1[t] if z[t] else back0[t]
    return z


def _long_runs(z: np.ndarray) -> np.ndarray:
    """``z`` with its runs shorter than :data:`~andi2kit.partners.MIN_BOUND` cleared."""
    out = z.copy()
    for lo, hi in runs(z):
        if hi - lo < MIN_BOUND:
            out[lo:hi] = False
    return out


def decode(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
           bound: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE,
           iterations: int = ITERATIONS) -> tuple[list[np.ndarray], BindingModel]:
    """Per trajectory, the frames the pair model decodes it bound to another one (the
    physical path, runs of any length), and the FOV's learned :class:`BindingModel`.

    Parameters
    ----------
    positions : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` positions over consecutive frames (px; NaN: not seen).
    frames : sequence of numpy.ndarray
        Per trajectory, its frame numbers (consecutive).
    bound : sequence of numpy.ndarray
        Per trajectory, the tolerance rule's bound frames
        (:func:`andi2kit.partners.bound_frames`): which steps :func:`free_variance` reads.
    noise : float
        Localisation noise per axis (px).
    iterations : int
        Rounds of re-estimating the probabilities and decoding again.
    """
    vb = 4 * noise**2
    v = free_variance(positions, bound, noise)
    first = [int(f[0]) if len(f) else 0 for f in frames]
    pairs = []
    for i, j in close_pairs(positions, frames):
        lo = max(first[i], first[j])
        hi = min(first[i] + len(positions[i]), first[j] + len(positions[j]))
        if hi - lo < 2:
            continue
        r = (np.asarray(positions[i][lo - first[i]:hi - first[i]], float)
             - np.asarray(positions[j][lo - first[j]:hi - first[j]], float))
        sq = np.r_[np.nan, np.sum(np.diff(r, axis=0) ** 2, axis=1)]
        vf = v[i] + v[j]
        seen = np.isfinite(sq)
        ll_bound = np.where(seen, -np.log(2 * np.pi * vb) - sq / (2 * vb), 0.0)
        ll_free = np.where(seen, -np.log(2 * np.pi * vf) - sq / (2 * vf), 0.0)
        ll_bound[0] = -np.inf
        dist = np.r_[np.inf, np.hypot(*r[:-1].T)]
        near = np.isfinite(dist) & (dist < BOUND_RADIUS)
        b = np.where(near, np.floor(np.where(near, dist, 0) / DISTANCE_BIN), -1).astype(int)
        pairs.append((i, j, lo, ll_free, ll_bound, b))

    model = BindingModel.start()
    kept: dict[int, np.ndarray] = {}  # each pair's runs of MIN_BOUND frames or more
    for it in range(iterations + 1):
        busy = [np.zeros(len(p), np.int32) for p in positions]
        for k, (i, j, lo, *_rest) in enumerate(pairs):
            z = kept.get(k)
            if z is not None:
                busy[i][lo - first[i]:lo - first[i] + z.size] += z
                busy[j][lo - first[j]:lo - first[j] + z.size] += z
        onsets = np.zeros(model.bind.size)
        free_near = np.zeros(model.bind.size)
        n_bound = partings = 0
        new: dict[int, np.ndarray] = {}
        paths = []
        for k, (i, j, lo, ll_free, ll_bound, b) in enumerate(pairs):
            n = ll_free.size
            mine = kept.get(k, np.zeros(n, bool)).astype(np.int32)
            # bound to a third trajectory (a run of its own) in the frame before: cannot bind
            other = ((busy[i][lo - first[i]:lo - first[i] + n] - mine > 0)
                     | (busy[j][lo - first[j]:lo - first[j] + n] - mine > 0))
            other = np.r_[False, other[:-1]]
            can = (b >= 0) & ~other
            p_bind = np.where(can, model.bind[np.clip(b, 0, None)], 0.0)
            z = _viterbi(ll_free, ll_bound, p_bind, model.unbind)
            paths.append(z)
            zl = _long_runs(z)
            new[k] = zl
            on = np.flatnonzero(zl[1:] & ~zl[:-1]) + 1
            np.add.at(onsets, b[on][b[on] >= 0], 1)
            np.add.at(free_near, b[can & ~z], 1)
            n_bound += int(z.sum())
            partings += int(np.sum(z[:-1] & ~z[1:]))
        kept = new
        if it < iterations:
            lo_p, hi_p = PROBABILITY_RANGE
            model = BindingModel(
                np.clip((onsets + 0.1) / (free_near + onsets + 1.0), lo_p, hi_p),
                float(np.clip(partings / max(n_bound, 1), 1e-3, hi_p)))
    logger.debug("bound runs of %d close pairs: binding %s per %.1f px, parting %.3f",
                 len(pairs), np.round(model.bind, 3).tolist(), DISTANCE_BIN, model.unbind)
    out = [np.zeros(len(p), bool) for p in positions]
    for (i, j, lo, *_rest), z in zip(pairs, paths, strict=True):
        out[i][lo - first[i]:lo - first[i] + z.size] |= z
        out[j][lo - first[j]:lo - first[j] + z.size] |= z
    return out, model


def bound_runs(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
               bound: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE
               ) -> list[np.ndarray]:
    """Per trajectory, its bound frames as the reference labels would draw them: the
    :func:`decode`\\ d path through the organisers' label filter
    (:func:`andi2kit.labels.label_filter`).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> a = np.cumsum(rng.normal(0, 0.7, (120, 2)), 0)
    >>> b = a + 30 + np.cumsum(rng.normal(0, 0.7, (120, 2)), 0)
    >>> b[40:90] = a[40:90] + [0.8, 0.0]  # moves with a from frame 40 to 89
    >>> b[90:] = b[89] + np.cumsum(rng.normal(0, 0.7, (30, 2)), 0)
    >>> a, b = a + rng.normal(0, 0.12, a.shape), b + rng.normal(0, 0.12, b.shape)
    >>> t = np.arange(120)
    >>> runs = bound_runs([a, b], [t, t], [np.zeros(120, bool)] * 2)
    >>> np.flatnonzero(np.diff(runs[0].astype(int))).tolist()  # last free, last bound frame
    [40, 89]
    """
    decoded, _ = decode(positions, frames, bound, noise)
    return [label_filter(z.astype(float)) > 0.5 if z.any() and not z.all() else z
            for z in decoded]


def settings() -> dict:
    """What decides the bound runs (recorded with the partner settings)."""
    return {"model": "pair HMM of relative steps", "distance_bin": DISTANCE_BIN,
            "iterations": ITERATIONS, "start": [START_BIND, START_UNBIND],
            "probability_range": list(PROBABILITY_RANGE), "min_free_steps": MIN_FREE_STEPS,
            "free_variance": "median of steps free by the tolerance rule",
            "label_filter": "organisers' (majority 5, min segment 3)"}
