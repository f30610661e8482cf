"""Bound runs decoded from the vector between two trajectories (Track 2's dimers).

In andi-datasets' ``dimerization`` model two free particles closer than twice their radius
bind with a probability per frame, then take the same displacements until they part, with
another probability per frame. While they are bound, the vector between them changes by the
localisation noise only (per axis ``4σ²`` per step); while free, by both particles' steps.
:func:`andi2kit.partners.bound_frames` calls a frame bound where that change is below a fixed
tolerance and flips runs shorter than three frames; here each close pair's relative steps are
read by a two-state hidden Markov model instead:

* bound, the relative step is Gaussian with the noise's variance and the pair's common
  (mean) step with the bound pair's variance; free, each trajectory steps with its own free
  variance (:func:`free_variance`: median-based, from the steps not bound, so that a
  particle's bound stretches and a rare jump do not set it). The common step tells a bound
  pair that moves faster than a free particle from two slow free ones that happen to stay
  side by side (both keep the vector between them);
* a pair binds only from a free frame at which it stood within
  :data:`~andi2kit.partners.BOUND_RADIUS`, with a probability per :data:`DISTANCE_BIN` of
  that distance, and never while either trajectory is bound to a third one; it parts with
  one probability per frame;
* the probabilities, the bound variance and the free ones are learned per FOV from the
  decoded runs (:data:`ITERATIONS` rounds of hard EM; a run of at least
  :data:`~andi2kit.partners.MIN_BOUND` frames counts as a binding), from three starts of the
  bound variance (the runs of the relative steps alone, the median and the upper decile of
  the FOV's steps), keeping the fit of the highest likelihood: a bound pair may move slower
  or faster than a free particle.

Bound partners take *the same* displacements, so their steps are correlated beyond what
any two independent particles show: the pooled correlation of the two steps over a FOV's
bound steps (:func:`step_counts`, :func:`step_correlation`) is ``2K_b / (2K_b + 2σ²)`` for
a bound pair of K ``K_b`` and about 0 for two independent particles side by side, whatever
their K — a judgement of dimerization that no slow or scattered free state imitates
(:func:`andi2kit.bound_states.is_dimerization`), readable where the bound pair moves faster
than the noise.

The physical path keeps runs of one or two frames — andi-datasets parts and rebinds a pair
within a frame or two — which the reference labels do not: they went through the organisers'
label filter (a majority over five frames, then no segment under three frames). So does each
trajectory's union of bound frames here (:func:`bound_runs`), and its change points are where
the filtered runs begin and end. Measured on the dimerization experiments of the tuning suites
(``data/dimers0``, ``data/dimers2``; docs/results-log.md, *Bound runs from the vector between
two trajectories*).

See Also
--------
andi2kit.partners : the tolerance rule, and the judgement from these runs' counts.
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

__all__ = ["DISTANCE_BIN", "ITERATIONS", "STEP_COUNTS", "BindingModel", "bound_runs",
           "close_pairs", "decode", "free_variance", "runs_and_counts", "settings",
           "step_correlation", "step_counts"]

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
#: Evidence keys of :func:`step_counts`: over the bound steps of every decoded pair, the
#: summed squared common (mean) and relative steps, and how many steps.
STEP_COUNTS = ("pair_common_sq", "pair_relative_sq", "pair_bound_steps")


@dataclass(frozen=True)
class BindingModel:
    """Per frame, the probability that a close free pair binds (per :data:`DISTANCE_BIN` of
    its distance) and that a bound one parts; the variance per axis of a bound pair's common
    step (None: the relative steps alone are read)."""

    bind: np.ndarray
    unbind: float
    bound_variance: float | None = None

    @classmethod
    def start(cls, bound_variance: float | None = None) -> BindingModel:
        """The first decoding's model (:data:`START_BIND` in every bin, :data:`START_UNBIND`)."""
        n = int(np.ceil(BOUND_RADIUS / DISTANCE_BIN))
        return cls(np.full(n, START_BIND), START_UNBIND, bound_variance)


def _variance(sq: np.ndarray) -> float:
    """Variance per axis of 2D Gaussian steps from their squared lengths (the median is
    ``2 ln 2`` times it: a few jumps do not set it)."""
    return float(np.median(sq)) / (2 * np.log(2))


def free_variance(positions: Sequence[np.ndarray], bound: Sequence[np.ndarray],
                  noise: float = LOCALISATION_NOISE) -> np.ndarray:
    """Per trajectory, the variance per axis of its free steps (noise included).

    From the median squared step of the steps into frames not ``bound``; a trajectory with
    fewer than :data:`MIN_FREE_STEPS` of them (bound nearly all its life) takes the FOV's,
    from the free steps of all its trajectories. At least the noise's ``2σ²``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = np.cumsum(rng.normal(0, 1.0, (400, 2)), 0)
    >>> round(float(free_variance([p], [np.zeros(400, bool)])[0]), 1)
    1.0
    """
    floor = 2 * noise**2
    free = []
    for p, b in zip(positions, bound, strict=True):
        sq = np.sum(np.diff(np.asarray(p, float), axis=0) ** 2, axis=1)
        free.append(sq[~np.asarray(b, bool)[1:] & np.isfinite(sq)])
    pooled = np.concatenate(free) if free else np.zeros(0)
    fov = max(_variance(pooled), floor) if pooled.size else floor
    return np.array([max(_variance(sq), floor) if sq.size >= MIN_FREE_STEPS else fov
                     for sq in free])


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
    """Most likely free (False) / bound (True) path and its log-probability; the first frame
    is free."""
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
    return z, max(d0, d1)


@numba.njit(cache=True)
def _long_runs(z: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``z`` with its runs shorter than :data:`~andi2kit.partners.MIN_BOUND` cleared."""
    out = z.copy()
    t, n = 0, z.size
    while t < n:
        if not z[t]:
            t += 1
            continue
        start = t
        while t < n and z[t]:
            t += 1
        if t - start < MIN_BOUND:
            out[start:t] = False
    return out


def _before(x: np.ndarray) -> np.ndarray:
    """``x`` one frame later: each frame holds the value of the frame before (the first
    False)."""
    return np.concatenate((np.zeros(1, x.dtype), x[:-1]))


@dataclass(frozen=True)
class _Pair:
    """Two trajectories' shared frames from ``lo``: per step the squared lengths of their
    relative step, their common (mean) step and each one's own step (NaN where either is
    unseen), the distance bin they stood in the frame before (-1: out of reach), which steps
    are seen, and the relative step's log-likelihood at the noise's variance."""

    i: int
    j: int
    lo: int
    relative: np.ndarray
    common: np.ndarray
    own_i: np.ndarray
    own_j: np.ndarray
    bins: np.ndarray
    seen: np.ndarray
    still: np.ndarray


def _pairs(positions: Sequence[np.ndarray], first: list[int],
           frames: Sequence[np.ndarray], noise: float) -> list[_Pair]:
    out = []
    for i, j in close_pairs(positions, frames):
        lo = max(first[i], first[j])
        hi = min(first[i] + len(positions[i]), first[j] + len(positions[j]))
        if hi - lo < 2:
            continue
        a = np.asarray(positions[i][lo - first[i]:hi - first[i]], float)
        b = np.asarray(positions[j][lo - first[j]:hi - first[j]], float)
        da, db = np.diff(a, axis=0), np.diff(b, axis=0)

        def sq(d: np.ndarray) -> np.ndarray:
            return np.r_[np.nan, np.sum(d**2, axis=1)]

        dist = np.r_[np.inf, np.hypot(*(a - b)[:-1].T)]
        near = np.isfinite(dist) & (dist < BOUND_RADIUS)
        bins = np.where(near, np.floor(np.where(near, dist, 0) / DISTANCE_BIN), -1).astype(int)
        relative = sq(da - db)
        seen = np.isfinite(relative)
        out.append(_Pair(i, j, lo, relative, sq((da + db) / 2), sq(da), sq(db), bins, seen,
                         _log_gauss(relative, 4 * noise**2, seen)))
    return out


def _log_gauss(sq: np.ndarray, v: float, seen: np.ndarray) -> np.ndarray:
    """Log-density of a 2D isotropic Gaussian step of variance ``v`` per axis, by its
    squared length (0 where not ``seen``)."""
    return np.where(seen, -np.log(2 * np.pi * v) - sq / (2 * v), 0.0)


def _emissions(pair: _Pair, v_free: np.ndarray, v_bound: float | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the log-likelihoods of the pair free and bound. Bound: the relative step is
    noise (``4σ²``, :attr:`_Pair.still`) and, with ``v_bound``, the common step the bound
    pair's. Free: each moves by its own free variance — with ``v_bound`` read on both own
    steps, else on the relative step alone (variance ``v_i + v_j``). Both read the same two
    steps (the map from the two own steps to the relative and common ones has determinant
    1), so they compare."""
    seen = pair.seen
    if v_bound is None:
        ll_free = _log_gauss(pair.relative, v_free[pair.i] + v_free[pair.j], seen)
        ll_bound = pair.still.copy()
    else:
        ll_free = (_log_gauss(pair.own_i, v_free[pair.i], seen)
                   + _log_gauss(pair.own_j, v_free[pair.j], seen))
        ll_bound = pair.still + _log_gauss(pair.common, v_bound, seen)
    ll_bound[0] = -np.inf
    return ll_free, ll_bound


def _union(paths: list[np.ndarray], pairs: list[_Pair], sizes: list[int],
           first: list[int]) -> list[np.ndarray]:
    """Per trajectory, the frames some pair's path holds it bound."""
    out = [np.zeros(n, bool) for n in sizes]
    for pair, z in zip(pairs, paths, strict=True):
        out[pair.i][pair.lo - first[pair.i]:pair.lo - first[pair.i] + z.size] |= z
        out[pair.j][pair.lo - first[pair.j]:pair.lo - first[pair.j] + z.size] |= z
    return out


def _fit(pairs: list[_Pair], positions: Sequence[np.ndarray], first: list[int],
         v_free: np.ndarray, model: BindingModel, iterations: int, noise: float
         ) -> tuple[list[np.ndarray], BindingModel, float]:
    """Hard EM: decode every pair, re-estimate the probabilities (and, reading the common
    step, the bound and free variances) from the decoded runs, ``iterations`` times; the
    last decoding's paths, model and log-likelihood."""
    sizes = [len(p) for p in positions]
    learn = model.bound_variance is not None
    kept: dict[int, np.ndarray] = {}  # each pair's runs of MIN_BOUND frames or more
    emissions = [_emissions(pair, v_free, model.bound_variance) for pair in pairs]
    for it in range(iterations + 1):
        busy = [np.zeros(n, np.int32) for n in sizes]
        for k, pair in enumerate(pairs):
            z = kept.get(k)
            if z is not None:
                busy[pair.i][pair.lo - first[pair.i]:pair.lo - first[pair.i] + z.size] += z
                busy[pair.j][pair.lo - first[pair.j]:pair.lo - first[pair.j] + z.size] += z
        onset_bins, free_bins = [], []
        n_bound = partings = 0
        score = 0.0
        new: dict[int, np.ndarray] = {}
        paths, common = [], []
        for k, (pair, (ll_free, ll_bound)) in enumerate(zip(pairs, emissions, strict=True)):
            n, b = ll_free.size, pair.bins
            mine = kept.get(k, np.zeros(n, bool)).astype(np.int32)
            # bound to a third trajectory (a run of its own) in the frame before: cannot bind
            other = ((busy[pair.i][pair.lo - first[pair.i]:pair.lo - first[pair.i] + n] - mine > 0)
                     | (busy[pair.j][pair.lo - first[pair.j]:pair.lo - first[pair.j] + n]
                        - mine > 0))
            other = _before(other)
            can = (b >= 0) & ~other
            p_bind = np.where(can, model.bind[np.clip(b, 0, None)], 0.0)
            z, path_score = _viterbi(ll_free, ll_bound, p_bind, model.unbind)
            score += path_score
            paths.append(z)
            zl = _long_runs(z)
            new[k] = zl
            inside = zl & _before(zl) & pair.seen
            common.append(pair.common[inside])
            on = np.flatnonzero(zl[1:] & ~zl[:-1]) + 1
            onset_bins.append(b[on][b[on] >= 0])
            free_bins.append(b[can & ~z])
            n_bound += int(z.sum())
            partings += int(np.sum(z[:-1] & ~z[1:]))
        kept = new
        if it == iterations:
            break
        lo_p, hi_p = PROBABILITY_RANGE
        n_bins = model.bind.size
        onsets = np.bincount(np.concatenate(onset_bins or [np.zeros(0, int)]),
                             minlength=n_bins)[:n_bins].astype(float)
        free_near = np.bincount(np.concatenate(free_bins or [np.zeros(0, int)]),
                                minlength=n_bins)[:n_bins].astype(float)
        v_bound = model.bound_variance
        if learn:
            steps = np.concatenate(common) if common else np.zeros(0)
            if steps.size >= MIN_FREE_STEPS:
                v_bound = max(_variance(steps), noise**2)
            v_free = free_variance(positions, _union(paths, pairs, sizes, first), noise)
            emissions = [_emissions(pair, v_free, v_bound) for pair in pairs]
        model = BindingModel(
            np.clip((onsets + 0.1) / (free_near + onsets + 1.0), lo_p, hi_p),
            float(np.clip(partings / max(n_bound, 1), 1e-3, hi_p)), v_bound)
    return paths, model, score


def _bound_variance_starts(pairs: list[_Pair], paths: list[np.ndarray],
                           positions: Sequence[np.ndarray], noise: float) -> list[float]:
    """Where the bound pair's common-step variance starts: from the runs the relative steps
    alone decode, and from the FOV's steps — their median and their upper decile — whichever
    state a bound pair moves like."""
    starts = []
    long = [_long_runs(z) for z in paths]
    inside = [pair.common[zl & _before(zl) & pair.seen]
              for pair, zl in zip(pairs, long, strict=True)]
    steps = np.concatenate(inside) if inside else np.zeros(0)
    if steps.size >= MIN_FREE_STEPS:
        starts.append(_variance(steps))
    sq = np.concatenate([np.sum(np.diff(np.asarray(p, float), axis=0) ** 2, axis=1)
                         for p in positions if len(p) > 1] or [np.zeros(0)])
    sq = sq[np.isfinite(sq)]
    if sq.size:
        starts += [_variance(sq), float(np.quantile(sq, 0.9)) / (2 * np.log(10))]
    return [max(v, noise**2) for v in starts]


def step_counts(pairs: Sequence[_Pair], paths: Sequence[np.ndarray]) -> dict[str, float]:
    """:data:`STEP_COUNTS` over the steps each pair's decoded ``paths`` hold bound in the
    frame before and the frame itself."""
    common = relative = 0.0
    steps = 0
    for pair, z in zip(pairs, paths, strict=True):
        inside = z & _before(z) & pair.seen
        common += float(pair.common[inside].sum())
        relative += float(pair.relative[inside].sum())
        steps += int(inside.sum())
    return dict(zip(STEP_COUNTS, (common, relative, float(steps)), strict=True))


def step_correlation(evidence: Sequence[dict[str, float]]) -> tuple[float, float] | None:
    """The correlation of the two partners' steps over the bound steps of an experiment's
    FOVs (:data:`STEP_COUNTS` summed), and how many steps; None without those counts.

    With ``a`` and ``b`` the two steps, the common step is ``(a + b) / 2`` and the relative
    one ``a - b``, so ``a·b = |common|² - |relative|² / 4`` and ``|a|² + |b|² = 2|common|² +
    |relative|² / 2``: the correlation is ``(4C - R) / (4C + R)`` of the sums ``C`` and ``R``.

    Examples
    --------
    >>> step_correlation([{"pair_common_sq": 10.0, "pair_relative_sq": 4.0,
    ...                    "pair_bound_steps": 100.0}])
    (0.8181818181818182, 100.0)
    >>> step_correlation([{"bound": 3.0}]) is None
    True
    """
    if not evidence or any(k not in ev for ev in evidence for k in STEP_COUNTS):
        return None
    common, relative, steps = (sum(float(ev[k]) for ev in evidence) for k in STEP_COUNTS)
    total = 4 * common + relative
    return ((4 * common - relative) / total if total > 0 else 0.0), steps


def decode(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
           bound: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE,
           iterations: int = ITERATIONS
           ) -> tuple[list[np.ndarray], BindingModel, dict[str, float]]:
    """Per trajectory, the frames the pair model decodes it bound to another one (the
    physical path, runs of any length), the FOV's learned :class:`BindingModel`, and the
    :func:`step_counts` of the decoded pairs.

    First from the relative steps alone; then, from each of
    :func:`_bound_variance_starts`, from the relative and the common steps with the bound
    and free variances learned too; the fit of the highest log-likelihood is kept (a bound
    pair may move slower or faster than a free particle).

    Parameters
    ----------
    positions : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` positions over consecutive frames (px; NaN: not seen).
    frames : sequence of numpy.ndarray
        Per trajectory, its frame numbers (consecutive).
    bound : sequence of numpy.ndarray
        Per trajectory, the tolerance rule's bound frames
        (:func:`andi2kit.partners.bound_frames`): which steps :func:`free_variance` first
        reads.
    noise : float
        Localisation noise per axis (px).
    iterations : int
        Rounds of re-estimating the model and decoding again, per start.
    """
    first = [int(f[0]) if len(f) else 0 for f in frames]
    pairs = _pairs(positions, first, frames, noise)
    v_free = free_variance(positions, bound, noise)
    paths, model, _ = _fit(pairs, positions, first, v_free, BindingModel.start(),
                           iterations, noise)
    best = None
    for v in _bound_variance_starts(pairs, paths, positions, noise):
        fit = _fit(pairs, positions, first, v_free, BindingModel.start(v), iterations, noise)
        if best is None or fit[2] > best[2]:
            best = fit
    if best is not None:
        paths, model, _ = best
    logger.debug("bound runs of %d close pairs: binding %s per %.1f px, parting %.3f, "
                 "bound variance %s", len(pairs), np.round(model.bind, 3).tolist(),
                 DISTANCE_BIN, model.unbind, model.bound_variance)
    return (_union(paths, pairs, [len(p) for p in positions], first), model,
            step_counts(pairs, paths))


def runs_and_counts(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                    bound: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE
                    ) -> tuple[list[np.ndarray], dict[str, float]]:
    """:func:`bound_runs` and the :func:`step_counts` of the same decoding."""
    decoded, _, counts = decode(positions, frames, bound, noise)
    return [label_filter(z.astype(float)) > 0.5 if z.any() and not z.all() else z
            for z in decoded], counts


def bound_runs(positions: Sequence[np.ndarray], frames: Sequence[np.ndarray],
               bound: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE
               ) -> list[np.ndarray]:
    """Per trajectory, its bound frames as the reference labels would draw them: the
    :func:`decode`\\ d path through the organisers' label filter
    (:func:`andi2kit.labels.label_filter`).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> steps = rng.normal(0, 0.7, (120, 2))
    >>> steps[41:90] *= 0.4  # the pair moves slower bound
    >>> a = np.cumsum(steps, 0)
    >>> b = a + 30 + np.cumsum(rng.normal(0, 0.7, (120, 2)), 0)
    >>> b[40:90] = a[40:90] + [0.8, 0.0]  # moves with a from frame 40 to 89
    >>> b[90:] = b[89] + np.cumsum(rng.normal(0, 0.7, (30, 2)), 0)
    >>> a, b = a + rng.normal(0, 0.12, a.shape), b + rng.normal(0, 0.12, b.shape)
    >>> t = np.arange(120)
    >>> runs = bound_runs([a, b], [t, t], [np.zeros(120, bool)] * 2)
    >>> np.flatnonzero(np.diff(runs[0].astype(int))).tolist()  # last free, last bound frame
    [40, 89]
    """
    return runs_and_counts(positions, frames, bound, noise)[0]


def settings() -> dict:
    """What decides the bound runs (recorded with the partner settings)."""
    return {"model": "pair HMM of relative and common steps", "distance_bin": DISTANCE_BIN,
            "iterations": ITERATIONS, "start": [START_BIND, START_UNBIND],
            "bound_variance_starts": ["relative-step runs", "median step", "upper decile"],
            "probability_range": list(PROBABILITY_RANGE), "min_free_steps": MIN_FREE_STEPS,
            "free_variance": "median of steps not bound (tolerance rule, then decoded),"
                             " the FOV's below min_free_steps",
            "label_filter": "organisers' (majority 5, min segment 3)"}
