"""Short bouts: change points the per-frame model smooths over, read off the steps.

A particle of a multi-state experiment that visits another state for a few frames changes
its step variance by the states' K ratio (tenfold and more in andi-datasets' challenge
draws), but the per-frame model, whose receptive field spans tens of frames, blurs such a
visit, and the segmentation's penalty leaves it uncut. On the Track 2 tuning seeds (challenge
0 and 2, wide 0) the change points missed in the six multi-state experiments lie next to a
true segment of median 8–13 frames, where K changes by a factor 10–30
(``tests/benchmarks/short_bouts.py``).

Inside each segment, :func:`best_bout` finds the stretch of :data:`MIN_LENGTH` to
:data:`MAX_LENGTH` frames whose steps' variance differs most from the rest of the segment
(profile likelihood of zero-mean 2-D Gaussian steps, one variance inside and one outside,
against one for all, :func:`andi2kit.segment.profile_ll`). Where the gain exceeds
``penalty`` per change point added, :func:`add_bouts` cuts it there and searches again. New
change points keep :data:`MARGIN` frames from the ones already there: a change point placed a
frame or two off leaves a few steps of the other state beside it, which is no bout.

Traps, compartments and dimers have their own short stretches (:mod:`andi2kit.still_runs`,
:mod:`andi2kit.compartments`, :mod:`andi2kit.partner_cuts`), and confined motion's step
variance swings as a particle meets its wall, so these change points are used only where an
experiment holds none of them (:class:`andi2kit.experiment_decision.ExperimentDecision`).

Off unless a checkpoint's ``segmentation.json`` asks (``"bouts": {"penalty": 10}``). On the
Track 2 tuning seeds it raised JSC CP on 12 of 13 suites (+0.027 on average, the multi-state
experiments by 0.06–0.23) and never worsened K, but α worsened on two (compartments 0: 0.184 →
0.197, wide 2: 0.079 → 0.082): the true bouts it cuts out of superdiffusive slow states leave
those to a pooled MSD that reads their α too low (docs/results-log.md, *Short bouts read off
the steps*).

See Also
--------
andi2kit.segment.refine_change_points : the same likelihood, moving change points.
andi2kit.partner_cuts.partner_segments : the other alternative segmentation in the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from andi2kit.errors import OptionError
from andi2kit.labels import TrajectoryLabel
from andi2kit.partner_cuts import segments_at
from andi2kit.segment import Segmenter, profile_ll, squared_steps

__all__ = ["MARGIN", "MAX_LENGTH", "MIN_LENGTH", "Bouts", "add_bouts", "best_bout",
           "bout_segments"]

#: Shortest bout (frames): the segmentation's shortest segment.
MIN_LENGTH = 3
#: Longest bout (frames): longer visits the per-frame model sees itself.
MAX_LENGTH = 30
#: A new change point keeps this many frames from the segment's ends.
MARGIN = 6


@dataclass(frozen=True)
class Bouts:
    """Settings of the short-bout search (a checkpoint's ``segmentation.json`` ``bouts``).

    Parameters
    ----------
    penalty : float
        Log-likelihood a bout must gain per change point it adds.
    max_bouts : int
        Bouts added per trajectory, at most.
    max_alpha : float
        Segments whose α reaches this are not searched: the steps of a superdiffusive
        particle are correlated over many frames, and their variance swings over a few
        (andi-datasets fBm of α 1.8, 50 trajectories of 200 frames: 4 gain a bout at
        penalty 10; none at α ≤ 1.5).
    min_K : float
        Segments whose K is below this are not searched: a state that moves per frame
        about as far as the noise does has its α read from its segments as wholes (the
        pooled MSD's ``max_K``, :class:`andi2kit.pooled_msd.PooledMsd`), and visits cut out
        of them leave it worse (docs/results-log.md, *Short bouts read off the steps*). 0: every
        segment.
    tracks : tuple of int
        The tracks whose trajectories are searched: 1, positions tracked in videos; 2, the
        public trajectories.
    """

    penalty: float = 10.0
    max_bouts: int = 4
    max_alpha: float = 1.5
    min_K: float = 0.0
    tracks: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min_K) and self.min_K >= 0):
            raise OptionError(f"bouts min_K must be a finite number >= 0, got {self.min_K!r}")
        if not (np.isfinite(self.penalty) and self.penalty > 0):
            raise OptionError(f"bouts penalty must be a finite number > 0, got "
                              f"{self.penalty!r}")
        if not set(self.tracks) <= {1, 2}:
            raise OptionError(f"bouts tracks must be among 1 and 2, got {self.tracks!r}")
        object.__setattr__(self, "tracks", tuple(int(t) for t in self.tracks))
        if int(self.max_bouts) != self.max_bouts or self.max_bouts < 1:
            raise OptionError(f"bouts max_bouts must be an integer >= 1, got "
                              f"{self.max_bouts!r}")


def best_bout(sq: np.ndarray, lo: int, hi: int) -> tuple[float, int, int]:
    """The bout of segment ``[lo, hi)`` whose steps' variance differs most from the rest.

    Parameters
    ----------
    sq : numpy.ndarray
        ``(T,)`` squared length of the step into each frame (NaN: none).
    lo, hi : int
        The segment's frames (the steps into them).

    Returns
    -------
    tuple
        ``(gain, a, b)``: the log-likelihood gained by a variance of its own for frames
        ``[a, b)``, and the bout; ``(-inf, lo, lo)`` where there is none. A bout may touch
        one end of the segment (one change point) but not both.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scale = np.ones(100)
    >>> scale[40:48] = 0.1  # an 8-frame visit to a state of 1 % of the variance
    >>> sq = np.sum((rng.normal(0, 1, (100, 2)) * scale[:, None]) ** 2, axis=1)
    >>> gain, a, b = best_bout(sq, 1, 100)
    >>> (a, b), round(gain)
    ((40, 48), 29)
    """
    c = np.r_[0.0, np.cumsum(np.nan_to_num(sq))]
    seen = np.r_[0, np.cumsum(np.isfinite(sq))]
    whole, n = c[hi] - c[lo], seen[hi] - seen[lo]
    base = profile_ll(whole, n)
    best = (-np.inf, lo, lo)
    for length in range(MIN_LENGTH, min(MAX_LENGTH, hi - lo) + 1):
        a = np.arange(lo, hi - length + 1)
        b = a + length
        start_ok = np.where(a == lo, b - lo >= MARGIN, a - lo >= MARGIN)
        end_ok = np.where(b == hi, hi - a >= MARGIN, hi - b >= MARGIN)
        ok = start_ok & end_ok & ~((a == lo) & (b == hi))
        if not ok.any():
            continue
        a, b = a[ok], b[ok]
        inside, n_in = c[b] - c[a], seen[b] - seen[a]
        gain = profile_ll(inside, n_in) + profile_ll(whole - inside, n - n_in) - base
        k = int(np.argmax(gain))
        if gain[k] > best[0]:
            best = (float(gain[k]), int(a[k]), int(b[k]))
    return best


def add_bouts(steps: np.ndarray, cps: Sequence[int], settings: Bouts = Bouts(),
              alpha: Sequence[float] | None = None, K: Sequence[float] | None = None
              ) -> list[int]:
    """Change points ``cps`` with the short bouts the steps show added (:func:`best_bout`
    in every segment; the best one cut where it gains more than ``settings.penalty`` per
    change point added, up to ``settings.max_bouts`` times).

    Parameters
    ----------
    steps : numpy.ndarray
        ``(T, 2)`` displacement into each frame (row 0 ignored; NaN: not seen).
    cps : sequence of int
        The segmentation's change points.
    settings : Bouts
        Penalty, how many bouts, and which segments are not searched (α, K, track).
    alpha, K : sequence of float, optional
        The α and K of each of the segments ``cps`` makes (None: every segment is searched).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> scale = np.ones(200)
    >>> scale[120:130] = 0.1  # a 10-frame visit to the slow state, missed
    >>> steps = rng.normal(0, 1, (200, 2)) * scale[:, None]
    >>> add_bouts(steps, [60])
    [60, 120, 130]
    >>> add_bouts(rng.normal(0, 1, (200, 2)), [60])  # nothing but noise
    [60]
    >>> add_bouts(steps, [60], alpha=[1.0, 1.8])  # a superdiffusive segment is not searched
    [60]
    >>> add_bouts(steps, [60], Bouts(min_K=0.03), K=[0.5, 0.01])  # nor, so asked, a slow one
    [60]
    """
    sq = squared_steps(np.asarray(steps), first=np.nan)
    out = sorted(int(c) for c in cps)
    # each frame searchable or not by the α and K of the segment it lies in
    lengths = np.diff(np.r_[0, out, sq.size]).astype(int)
    searched = np.ones(sq.size, bool)
    if alpha is not None:
        searched &= np.repeat(np.asarray(alpha, float) < settings.max_alpha, lengths)
    if K is not None:
        searched &= np.repeat(np.asarray(K, float) >= settings.min_K, lengths)
    for _ in range(int(settings.max_bouts)):
        bounds = np.r_[1, out, sq.size].astype(int)
        found = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if not searched[lo]:
                continue
            gain, a, b = best_bout(sq, lo, hi)
            new = [x for x in (a, b) if lo < x < hi]
            if new:
                found.append((gain - settings.penalty * len(new), new))
        if not found:
            break
        net, new = max(found, key=lambda f: f[0])
        if net <= 0:
            break
        out = sorted(out + new)
    return out


def bout_segments(labels: Sequence[TrajectoryLabel], frames: Sequence[np.ndarray],
                  steps: Sequence[np.ndarray], segmenter: Segmenter,
                  settings: Bouts = Bouts()) -> dict[str, dict]:
    """A FOV's trajectories with bouts added (:func:`add_bouts`, segments of α at least
    ``settings.max_alpha`` or K below ``settings.min_K`` not searched), by ``str(idx)``,
    only those that gained one: their segments there
    (:func:`andi2kit.partner_cuts.segments_at`)."""
    out = {}
    for lab, f, st in zip(labels, frames, steps, strict=True):
        own = lab.cp.tolist()
        cps = add_bouts(st, own, settings, lab.alpha, lab.K)
        if cps != own:
            out[str(lab.idx)] = segments_at(lab.idx, f, cps, st, segmenter)
    return out


def settings_dict(settings: Bouts) -> dict:
    """What decides the bouts (recorded beside a FOV's output)."""
    return asdict(settings) | {"min_length": MIN_LENGTH, "max_length": MAX_LENGTH,
                               "margin": MARGIN}
