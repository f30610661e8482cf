"""Segments that stand at the noise in an experiment of traps: immobile, whatever the stage said.

andi-datasets does not move a trapped particle (``models_phenom.immobile_traps``), so the steps
of a trapped segment are the localisation noise alone: their mean square is ``4 σ²``. The
still runs (:mod:`andi2kit.still_runs`) read bouts off the steps only where a trajectory's
free motion stands at least ``min_ratio`` (10) times above the noise; among slower movers the
segmentation still finds the bouts (the U-Net's K drops tenfold there), but the state stage,
which has rarely seen traps among superdiffusive particles, may call them free, and they keep
the moving α. Here every segment of an experiment judged to hold traps is tested on its own
steps against the experiment's free motion:

* ``r`` is a segment's mean squared step over the noise's ``4 σ²`` (1 for a trapped segment,
  ``1 + K / σ²`` for a Brownian one);
* ``ρ`` is the length-weighted median ``r`` of the experiment's moving segments of at least
  ``min_moving`` frames (the free motion);
* a segment not called immobile whose ``r`` is below ``ln ρ / (1 − 1/ρ)`` — where 2-D Gaussian
  steps of the noise's variance and of ``ρ`` times it are equally likely — becomes immobile
  (α 0), unless ``ρ`` is below ``min_rho`` (the free motion too close to the noise to tell)
  or the segment is its trajectory's only one (a trajectory that never moves may be stuck in
  a compartment too small to move in, or in a state slower than the noise);
* nothing changes where the standing segments, once entered, are hardly ever left (at most
  a fifth of at least 10): a trap lets go, a compartment too small to move in does not (the
  experiment-level decision's rule on the stretches called immobile).

Neighbouring segments that both end up immobile are merged (their K length-weighted).

See Also
--------
andi2kit.still_runs.carve : the bouts read off the steps where the motion is well above the
    noise.
andi2kit.state_mixture.decide : whether an experiment holds traps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from andi2kit.constants import IMMOBILE
from andi2kit.labels import TrajectoryLabel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Standing:
    """Settings of :func:`immobile_where_standing`.

    Attributes
    ----------
    min_rho : float
        Smallest ratio of the free motion's mean squared step to the noise's for the test to
        be made.
    min_length : int
        Shortest segment (frames) that may become immobile.
    min_moving : int
        Shortest moving segment (frames) counted in the free motion.
    """

    min_rho: float = 3.0
    min_length: int = 3
    min_moving: int = 10

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min_rho) and self.min_rho > 1.0):
            raise ValueError(f"standing min_rho must be a finite number > 1, got "
                             f"{self.min_rho!r}")
        for name in ("min_length", "min_moving"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"standing {name} must be an integer >= 2, got {v!r}")


def settings_dict(settings: Standing) -> dict:
    """The settings as recorded in a run's provenance."""
    return asdict(settings)


def noise_ratios(lab: TrajectoryLabel, xy: np.ndarray, noise: float) -> np.ndarray:
    """Each segment's mean squared step (the step into each of its frames but its first
    frame's, whose step may belong to the segment before) over the noise's ``4 σ²``; NaN for
    a segment with no step (gaps in ``xy`` are left out) and for every segment where ``xy``
    does not hold the label's ``T`` frames.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> xy = np.cumsum(rng.normal(0, 1.0, (60, 2)), 0)
    >>> xy[30:] = xy[29]                                 # caught at frame 30
    >>> xy = xy + rng.normal(0, 0.12, xy.shape)
    >>> lab = TrajectoryLabel(0, [1.0, 0.01], [1.0, 1.0], [2, 2], [30], 60)
    >>> noise_ratios(lab, xy, 0.12).round(0).tolist()
    [29.0, 1.0]
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    bounds = np.r_[0, np.asarray(lab.cp, int), lab.T]
    out = np.full(len(bounds) - 1, np.nan)
    if len(xy) != lab.T:  # positions of another trajectory: nothing to test
        return out
    sq = np.r_[np.nan, np.sum(np.diff(xy, axis=0) ** 2, axis=1)]
    for s, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        steps = sq[lo + 1:hi]
        steps = steps[np.isfinite(steps)]
        if steps.size:
            out[s] = steps.mean() / (4.0 * noise ** 2)
    return out


def free_motion(ratios: Sequence[np.ndarray], labels: Sequence[TrajectoryLabel],
                min_moving: int) -> float:
    """``ρ``: the length-weighted median noise ratio of the moving segments of at least
    ``min_moving`` frames (NaN without any)."""
    r = np.concatenate([np.asarray(x, float) for x in ratios]) if ratios else np.zeros(0)
    n = np.concatenate([lab.lengths for lab in labels]) if labels else np.zeros(0)
    st = np.concatenate([np.asarray(lab.state, int) for lab in labels]) if labels \
        else np.zeros(0, int)
    keep = (st != IMMOBILE) & (n >= min_moving) & np.isfinite(r)
    if not keep.any():
        return float("nan")
    order = np.argsort(r[keep])
    w = np.cumsum(n[keep][order])
    return float(r[keep][order][np.searchsorted(w, w[-1] / 2.0)])


def threshold(rho: float) -> float:
    """The noise ratio at which 2-D Gaussian steps of the noise's variance and of ``rho``
    times it are equally likely: ``ln ρ / (1 − 1/ρ)``.

    >>> round(threshold(10.0), 3)
    2.558
    """
    return float(np.log(rho) / (1.0 - 1.0 / rho))


def _standing(lab: TrajectoryLabel, r: np.ndarray, cut: float, min_length: int
              ) -> np.ndarray:
    """Which segments of a label stand at the noise and are not called immobile."""
    # a trajectory that never moves is no bout: a trap, a compartment too small to move in
    # or a state slower than the noise, which one trajectory cannot tell apart
    return ((np.asarray(lab.state, int) != IMMOBILE) & (lab.lengths >= min_length)
            & np.isfinite(r) & (r < cut) & (lab.n_segments > 1))


def _make_immobile(lab: TrajectoryLabel, hit: np.ndarray) -> TrajectoryLabel:
    state = np.where(hit, IMMOBILE, np.asarray(lab.state, int))
    alpha = np.where(hit, 0.0, np.asarray(lab.alpha, float))
    both = (state[1:] == IMMOBILE) & (state[:-1] == IMMOBILE)
    first = np.r_[True, ~both]
    group = np.cumsum(first) - 1
    n = lab.lengths.astype(float)
    K = np.bincount(group, np.asarray(lab.K, float) * n) / np.bincount(group, n)
    return replace(lab, cp=np.asarray(lab.cp, int)[~both], state=state[first],
                   alpha=alpha[first], K=K)


def immobile_where_standing(per_fov: Sequence[Sequence[TrajectoryLabel]],
                            positions: Sequence[Sequence[np.ndarray]], noise: float,
                            settings: Standing = Standing(), min_entries: float = 10.0,
                            max_exits: float = 0.2) -> list[list[TrajectoryLabel]]:
    """One experiment's labels (per FOV), its segments that stand at the noise immobile.

    Parameters
    ----------
    per_fov : sequence of sequences of TrajectoryLabel
        The experiment's labels, FOV by FOV; the experiment is judged to hold traps.
    positions : sequence of sequences of numpy.ndarray
        Each label's ``(T, 2)`` positions (NaN in gaps), in the same order.
    noise : float
        Localisation noise σ per axis (px).
    settings : Standing
        See :class:`Standing`.
    min_entries, max_exits : float
        A trap lets go, a compartment too small to move in does not: where at least
        ``min_entries`` standing segments begin after their trajectory's first frame and at
        most ``max_exits`` of those end before its last, nothing changes
        (:class:`andi2kit.state_mixture.Decision`'s rule on the called immobile stretches).

    Returns
    -------
    list of list of TrajectoryLabel
        The labels, those with a segment made immobile replaced.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> labs, pos = [], []
    >>> for i in range(4):                               # caught for frames 40-59
    ...     xy = np.cumsum(rng.normal(0, 0.5, (80, 2)), 0)
    ...     xy[40:60] = xy[39]
    ...     xy[60:] += xy[39] - xy[59]
    ...     pos.append(xy + rng.normal(0, 0.12, xy.shape))
    ...     labs.append(TrajectoryLabel(i, [0.25, 0.02, 0.25], [1.0, 1.2, 1.0], [2, 2, 2],
    ...                                 [40, 60], 80))
    >>> out = immobile_where_standing([labs], [pos], 0.12)[0]
    >>> out[0].state.tolist(), out[0].alpha.tolist()
    ([2, 0, 2], [1.0, 0.0, 1.0])
    """
    ratios = [[noise_ratios(lab, xy, noise) for lab, xy in zip(labels, xys, strict=True)]
              for labels, xys in zip(per_fov, positions, strict=True)]
    rho = free_motion([r for fov in ratios for r in fov],
                      [lab for labels in per_fov for lab in labels], settings.min_moving)
    if not (np.isfinite(rho) and rho >= settings.min_rho):
        logger.debug("free motion %.2f times the noise: no segment tested", rho)
        return [list(labels) for labels in per_fov]
    cut = threshold(rho)
    hits = [[_standing(lab, r, cut, settings.min_length) for lab, r in
             zip(labels, fov_ratios, strict=True)]
            for labels, fov_ratios in zip(per_fov, ratios, strict=True)]
    entered = left = 0
    for hit in (h for fov in hits for h in fov):
        i = np.flatnonzero(hit)
        entered += int(np.count_nonzero(i > 0))
        left += int(np.count_nonzero((i > 0) & (i < hit.size - 1)))
    if entered >= min_entries and left <= max_exits * entered:
        logger.debug("%d standing segments entered, %d left: no traps", entered, left)
        return [list(labels) for labels in per_fov]
    out, made = [], 0
    for labels, fov_hits in zip(per_fov, hits, strict=True):
        made += sum(int(h.sum()) for h in fov_hits)
        out.append([_make_immobile(lab, h) if h.any() else lab
                    for lab, h in zip(labels, fov_hits, strict=True)])
    logger.debug("free motion %.2f times the noise (cut %.2f): %d segments immobile",
                 rho, cut, made)
    return out
