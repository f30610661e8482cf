"""α of nearly ballistic motion from the correlation of successive steps.

Near α = 2 the per-frame model's α is biased low, and more so where a particle stops often:
on the ``directed-traps`` tuning seed (``data/dtraps0``), the trajectories of trap
experiments whose particles move with α 1.84-1.92 between stops of a few frames came out
0.06-0.21 low on average, and andi-datasets calls a segment directed only from α 1.9 on.
The steps themselves say it better. Successive steps of fractional Brownian motion correlate
as ``ρ = 2^(α-1) - 1`` (0 for α = 1, 0.87 for α = 1.9, 1 for ballistic motion), so near
α = 2 a small error in ρ is a very small one in α (``dα/dρ = 1 / ((1 + ρ) ln 2)``, 0.77 at
α = 1.9 against 1.44 at α = 1). With localisation noise σ on both ends of every step,
``cov = ρ s² - σ²`` and ``var = s² + 2 σ²`` per axis, for a motion whose steps have variance
``s²``, so ``ρ = (cov + σ²) / (var - 2 σ²)``.

Only pairs of successive steps inside a segment count, and only where neither step is more
likely made standing still than moving (the still/moving mixture of
:mod:`andi2kit.still_runs`, fitted to the steps of the segments used): andi-datasets draws a
trapped particle's motion afresh when it lets go, so the steps either side of a stop — even
one of a single frame, which no change point marks — are not correlated. (A fixed cut at
8 noise variances also dropped half the moving steps of slow particles, D ≈ 0.05
px²/frame, and the selection raised their α.) Applied to the free and directed segments of
at least ``min_alpha``, one estimate for all of them in a trajectory, and only where
``min_pairs`` pairs back it. A trajectory with immobile segments (an experiment judged to
hold traps, whose particles keep their α between stops) pools all its moving segments,
whatever α the model gave them — stops bias the model's α most, by −0.2 on two of the
tuning seed's trap experiments — and takes the estimate where it reaches ``min_alpha``.

One trajectory's estimate scatters (0.08 in α over 100 steps of andi-datasets' fBm of α
1.5-1.95, and 0.03-0.05 low near α = 2), enough to carry particles of an experiment whose α
lies just under 1.9 across the line. The estimates of an experiment are therefore shrunk
towards their mean as far as their sampling variance, taken as ``pairs_variance / pairs``,
exceeds the spread the experiment's α shows (empirical Bayes): particles whose α differs keep
most of the difference, those of one α are pulled together. ``pairs_variance`` 0.1 was
chosen on the tuning seeds; the scatter measured there (0.3, heavy-tailed) shrank real
differences away (``segmentation.json`` of the default checkpoint has the numbers).

See Also
--------
andi2kit.pooled_msd : the state-level correction it follows.
andi2kit.state_mixture.directed_by_alpha : the state it decides next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import numpy as np

from andi2kit.constants import DIRECTED, FREE, IMMOBILE, LOCALISATION_NOISE, PERSISTENT_STEPS
from andi2kit.labels import TrajectoryLabel
from andi2kit.still_runs import runs, still_posterior


def step_correlation(pieces: Sequence[np.ndarray], noise: float = LOCALISATION_NOISE,
                     still: bool = True) -> tuple[float, int]:
    """Correlation of successive steps within ``pieces``, corrected for the noise.

    Parameters
    ----------
    pieces : sequence of numpy.ndarray
        ``(n_i, 2)`` positions; pairs of steps are taken within each piece only.
    noise : float
        Localisation noise σ, px.
    still : bool
        A step more likely made standing still than moving
        (:func:`andi2kit.still_runs.still_posterior` over all the pieces' steps) breaks the
        pairs either side.

    Returns
    -------
    rho, pairs : float, int
        The correlation (NaN without a pair) and the number of pairs behind it.

    Examples
    --------
    >>> v = np.ones((30, 2))  # constant velocity: perfectly correlated steps
    >>> rho, n = step_correlation([np.cumsum(v, axis=0)], noise=0.0)
    >>> round(rho, 3), n
    (1.0, 28)
    """
    steps = [np.diff(np.asarray(xy, dtype=np.float64).reshape(-1, 2), axis=0)
             for xy in pieces]
    d2 = [np.sum(d ** 2, axis=1) for d in steps]
    if still and any(len(v) for v in d2):
        # the noise's variance, or a trace of it where positions are exact
        p = still_posterior(np.concatenate(d2), max(2 * noise ** 2, 1e-12))
        moving = np.split(p <= 0.5, np.cumsum([len(v) for v in d2])[:-1])
    else:
        moving = [np.ones(len(v), dtype=bool) for v in d2]
    cov, var, pairs = 0.0, 0.0, 0
    for d, move in zip(steps, moving, strict=True):
        both = move[:-1] & move[1:]
        if not both.any():
            continue
        a, b = d[:-1][both], d[1:][both]
        cov += float(np.sum(a * b))
        var += float(np.sum(a ** 2) + np.sum(b ** 2)) / 2
        pairs += int(both.sum())
    if pairs == 0:
        return float("nan"), 0
    cov, var = cov / (2 * pairs), var / (2 * pairs)  # per axis
    spread = var - 2 * noise ** 2
    if spread <= 0:
        return float("nan"), pairs
    return (cov + noise ** 2) / spread, pairs


#: A field whose steps correlate this much keeps its heading: its stops show plainly.
PERSISTENT = PERSISTENT_STEPS


def field_persistence(evidence: Sequence[dict]) -> float:
    """Correlation of successive steps (:func:`step_correlation`, still steps left out) over
    every particle tracked in an experiment's videos: the ``field`` positions of the Track 1
    evidence of each FOV, the labelled trajectories' ``positions`` where a FOV has no field.
    NaN without a pair of steps.

    >>> rng = np.random.default_rng(0)
    >>> ballistic = np.cumsum(1 + 0.3 * rng.standard_normal((100, 2)), axis=0)
    >>> brownian = np.cumsum(rng.standard_normal((100, 2)), axis=0)
    >>> [bool(field_persistence([{"field": {"positions": {"0": xy.tolist()}}}]) >= PERSISTENT)
    ...  for xy in (ballistic, brownian)]
    [True, False]
    """
    pieces = []
    for ev in evidence:
        held = (ev.get("field") or {}).get("positions") or ev.get("positions") or {}
        pieces += [np.asarray(xy, dtype=np.float64).reshape(-1, 2) for xy in held.values()]
    return step_correlation(pieces)[0] if pieces else float("nan")


def alpha_of_correlation(rho: float) -> float:
    """The α of fractional Brownian motion whose successive steps correlate as ``rho``,
    within ``[0, 2]``.

    >>> alpha_of_correlation(0.0), alpha_of_correlation(1.0), round(alpha_of_correlation(0.866), 3)
    (1.0, 2.0, 1.9)
    """
    return float(np.log2(2 * np.clip(rho, -0.5, 1.0) + 2)) if rho > -0.5 else 0.0


class _Estimate(NamedTuple):
    segments: np.ndarray  # bool, the segments it is for
    alpha: float
    pairs: int
    trapped: bool  # the trajectory has immobile segments


#: Least spread of α (variance) an experiment is credited with when shrinking.
MIN_SPREAD = 1e-4


def shrink(alpha: Sequence[float], pairs: Sequence[int], pairs_variance: float
           ) -> np.ndarray:
    """Estimates of α shrunk towards their pair-weighted mean: each by ``spread / (spread +
    pairs_variance / pairs)``, ``spread`` their variance less their mean sampling variance
    (at least :data:`MIN_SPREAD`).

    Examples
    --------
    >>> shrink([1.8, 1.9, 2.0], [100, 100, 100], 0.1).round(3).tolist()   # spread 0.0057
    [1.815, 1.9, 1.985]
    >>> shrink([1.8, 1.9, 2.0], [100, 100, 100], 10.0).round(3).tolist()  # all scatter
    [1.9, 1.9, 1.9]
    """
    a, n = np.asarray(alpha, dtype=np.float64), np.asarray(pairs, dtype=np.float64)
    mean = float(np.average(a, weights=n))
    sampling = pairs_variance / n
    spread = max(float(np.average((a - mean) ** 2, weights=n) - sampling.mean()), MIN_SPREAD)
    return mean + spread / (spread + sampling) * (a - mean)


@dataclass(frozen=True)
class StepAlpha:
    """Settings of the step-correlation α (``segmentation.json``'s ``step_alpha``).

    Attributes
    ----------
    min_alpha : float
        Free and directed segments with at least this α get the estimate.
    min_pairs : int
        Fewest pairs of successive steps behind an estimate that is used.
    noise : float
        Localisation noise σ of the positions, px.
    pairs_variance : float
        Sampling variance of one trajectory's α times its number of pairs: the estimates are
        shrunk towards the experiment's mean by ``spread / (spread + pairs_variance /
        pairs)``, ``spread`` the variance of the estimates less their mean sampling variance
        (0: no shrinking).

    Examples
    --------
    >>> lab = TrajectoryLabel(0, [1.0], [1.8], [2], [], 40)
    >>> v = np.tile([1.0, 0.5], (40, 1))
    >>> StepAlpha(noise=0.0)([lab], [np.cumsum(v, axis=0)])[0].alpha.tolist()
    [2.0]
    """

    min_alpha: float = 1.7
    min_pairs: int = 10
    noise: float = LOCALISATION_NOISE
    pairs_variance: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.min_alpha <= 2 or self.min_pairs < 1 or self.noise < 0 \
                or self.pairs_variance < 0:
            raise ValueError("step_alpha needs 0 < min_alpha <= 2, min_pairs >= 1, "
                             "noise >= 0 and pairs_variance >= 0")

    def __call__(self, labels: Sequence[TrajectoryLabel],
                 positions: Sequence[np.ndarray]) -> list[TrajectoryLabel]:
        """The labels with the α of their fast segments from their steps, shrunk towards
        the experiment's mean (``pairs_variance``).

        Parameters
        ----------
        labels : sequence of TrajectoryLabel
            One experiment's trajectories.
        positions : sequence of numpy.ndarray
            ``(T, 2)`` positions of each, in the order of ``labels``.

        Returns
        -------
        list of TrajectoryLabel
            Same change points, states and K.
        """
        if len(labels) != len(positions):
            raise ValueError(f"{len(labels)} trajectories but {len(positions)} position arrays")
        est: dict[int, _Estimate] = {}
        for k, (lab, xy) in enumerate(zip(labels, positions, strict=True)):
            moving = np.isin(lab.state, (FREE, DIRECTED))
            # a trapped particle keeps its α between stops: all its moving segments
            trapped = bool(np.any(lab.state == IMMOBILE))
            fast = moving if trapped else moving & (lab.alpha >= self.min_alpha)
            if not fast.any():
                continue
            bounds = np.concatenate(([0], lab.cp, [lab.T])).astype(int)
            # a position left out (NaN: the tracker was unsure of it) splits its piece
            pieces = [piece[a:b] for i in np.flatnonzero(fast)
                      for piece in [xy[bounds[i]:bounds[i + 1]]]
                      for a, b in runs(np.isfinite(piece).all(axis=1))]
            rho, pairs = step_correlation(pieces, self.noise)
            if pairs >= self.min_pairs and np.isfinite(rho):
                est[k] = _Estimate(fast, alpha_of_correlation(rho), pairs, trapped)
        if self.pairs_variance > 0 and len(est) >= 2:
            shrunk = shrink([e.alpha for e in est.values()], [e.pairs for e in est.values()],
                            self.pairs_variance)
            est = {k: e._replace(alpha=float(a))
                   for (k, e), a in zip(est.items(), shrunk, strict=True)}
        out = list(labels)
        for k, e in est.items():
            if e.trapped and e.alpha < self.min_alpha:
                continue
            alpha = labels[k].alpha.copy()
            alpha[e.segments] = e.alpha
            out[k] = replace(labels[k], alpha=alpha)
        return out

    def to_dict(self) -> dict:
        """Plain dictionary (for ``segmentation.json``)."""
        return asdict(self)
