"""Per-frame predictions of one trajectory → segments (change points, α, K, state).

Steps, as in AnomalousNet (section 3.4): state flickers shorter than ``min_dwell`` frames are
given to the surrounding state; change points are searched on the per-frame signal
(α(t), log10 K(t) and the state probabilities) with a ruptures search method; each segment
gets the median α, the median K and the majority state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from andi2kit.constants import LOCALISATION_NOISE
from andi2kit.errors import OptionError
from andi2kit.inference import COLUMN, PROBABILITIES
from andi2kit.labels import TrajectoryLabel

#: Segments shorter than this (frames) between change points found off the model (partners,
#: bouts) take their K from their own steps: the per-frame model's K is blurred across
#: change points over about that many.
SHORT_SEGMENT = 30


def smooth_states(states: np.ndarray, min_dwell: int = 3, keep_ends: bool = False
                  ) -> np.ndarray:
    """Reassign runs shorter than ``min_dwell`` frames to a neighbouring persistent state.

    A short run between two runs of the same state takes that state; otherwise it joins the
    longer neighbour. Repeated, shortest first, until no short run is left (or only one run
    remains). With ``keep_ends`` the runs at either end stay, however short (a run there may
    continue outside the trajectory).

    >>> smooth_states(np.array([0, 1, 1, 1, 2, 1, 1, 1])).tolist()
    [1, 1, 1, 1, 1, 1, 1, 1]
    >>> smooth_states(np.array([0, 1, 1, 1, 2, 1, 1, 1]), keep_ends=True).tolist()
    [0, 1, 1, 1, 1, 1, 1, 1]
    """
    s = np.asarray(states).astype(int).copy()
    if s.size == 0:
        return s
    while True:
        starts = np.concatenate(([0], np.flatnonzero(s[1:] != s[:-1]) + 1))
        ends = np.concatenate((starts[1:], [s.size]))
        lengths = ends - starts
        if starts.size == 1:
            return s
        short = np.flatnonzero(lengths < min_dwell)
        if keep_ends:
            short = short[(short > 0) & (short < starts.size - 1)]
        if short.size == 0:
            return s
        i = int(short[np.argmin(lengths[short])])
        left = s[starts[i - 1]] if i > 0 else None
        right = s[ends[i]] if i < starts.size - 1 else None
        if left is not None and right is not None:
            fill = left if (left == right or lengths[i - 1] >= lengths[i + 1]) else right
        else:
            fill = left if left is not None else right
        s[starts[i]:ends[i]] = fill


def segment_values(alpha: np.ndarray, K: np.ndarray, states: np.ndarray,
                   cps: list[int]) -> TrajectoryLabel:
    """Median α, median K and majority state of each segment cut at ``cps``."""
    bounds = [0, *cps, alpha.size]
    a, k, s = [], [], []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        a.append(float(np.median(alpha[lo:hi])))
        k.append(float(np.median(K[lo:hi])))
        s.append(int(np.bincount(states[lo:hi].astype(int), minlength=4).argmax()))
    return TrajectoryLabel(idx=0, K=k, alpha=a, state=s, cp=list(cps), T=int(alpha.size))


@numba.njit(cache=True)
def _optimal_partition(cs, cs2, pen, m):  # pragma: no cover - compiled
    T = cs2.size - 1
    d = cs.shape[1]
    F = np.full(T + 1, np.inf)
    F[0] = -pen
    back = np.zeros(T + 1, dtype=np.int64)
    for t in range(m, T + 1):
        best = np.inf
        arg = 0
        for s in range(0, t - m + 1):
            if 0 < s < m:
                continue
            n = t - s
            sq = 0.0
            for k in range(d):
                v = cs[t, k] - cs[s, k]
                sq += v * v
            total = F[s] + (cs2[t] - cs2[s]) - sq / n + pen
            if total < best:
                best = total
                arg = s
        F[t] = best
        back[t] = arg
    return back


class OptimalPartition:
    """Exact penalised segmentation with an L2 cost (optimal partitioning, vectorised).

    Minimises ``Σ_segments cost_L2(segment) + pen · (#segments)`` over all segmentations with
    segments of at least ``min_size`` frames, exactly, by dynamic programming over all
    segment starts (compiled with numba: under a millisecond for T = 200, where ruptures'
    ``Pelt(model="l2", jump=1)`` takes a few hundred). Pelt reaches the same optimum except
    in rare cases where its pruning with ``min_size`` misses it. Interface as ruptures:
    ``fit(signal).predict(pen)``.

    Parameters
    ----------
    min_size : int
        Shortest segment allowed.
    """

    def __init__(self, min_size: int = 3) -> None:
        self.min_size = min_size
        self._cs = None
        self._cs2 = None

    def fit(self, signal: np.ndarray) -> OptimalPartition:
        """Precompute cumulative sums of ``signal`` (shape ``(T,)`` or ``(T, d)``)."""
        x = np.asarray(signal, dtype=np.float64)
        x = x[:, None] if x.ndim == 1 else x
        self._cs = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
        self._cs2 = np.concatenate([[0.0], np.cumsum(np.sum(x * x, axis=1))])
        return self

    def predict(self, pen: float) -> list[int]:
        """Segment ends (ruptures convention: the last one is T)."""
        cs, cs2 = self._cs, self._cs2
        T = cs2.size - 1
        m = self.min_size
        if T < 2 * m:
            return [T]
        back = _optimal_partition(cs, cs2, float(pen), int(m))
        ends = [T]
        while back[ends[-1]] > 0:
            ends.append(int(back[ends[-1]]))
        return ends[::-1]


def _ruptures_search(method: str, width: int, min_size: int):
    # ruptures takes about a second to import: only the non-default searches need it
    import ruptures as rpt

    if method == "pelt":
        return rpt.Pelt(model="l2", min_size=min_size, jump=1)
    if method == "binseg":
        return rpt.Binseg(model="l2", min_size=min_size, jump=1)
    if method == "bottomup":
        return rpt.BottomUp(model="l2", min_size=min_size, jump=1)
    if method == "window":
        return rpt.Window(width=width, model="l2", min_size=min_size, jump=1)
    raise ValueError(f"unknown segmentation method {method!r}")


SEARCH_METHODS = ("none", "optimal", "pelt", "binseg", "bottomup", "window")


@dataclass
class Segmenter:
    """Turns per-frame predictions into segments.

    Parameters
    ----------
    method : str
        ``"none"`` (one segment per trajectory), ``"optimal"`` (:class:`OptimalPartition`,
        exact, fast) or a ruptures search: ``"pelt"``, ``"binseg"``, ``"bottomup"``,
        ``"window"`` (all with the L2 cost).
    pen : float
        Penalty per change point.
    weights : tuple of float
        Weights of α(t), log10 K(t) and the four state probabilities in the signal.
    min_size : int
        Shortest segment.
    width : int
        Window width of ``"window"``.
    min_dwell : int
        Minimum state run kept by :func:`smooth_states`.
    refine : int
        With the trajectory's steps given, move each change point by up to this many frames
        to where the steps' variance changes most (:func:`refine_change_points`); 0: off.
    refine_gain : float
        Smallest log-likelihood gain for which a change point is moved.
    refine_far : int
        After ``refine``, move each change point by up to this many frames where the steps'
        variance says so by more than ``refine_far_gain`` (:func:`refine_change_points`
        again); 0: off.
    refine_far_gain : float
        Smallest log-likelihood gain for a move of ``refine_far``.
    refine_far_min_K : float
        A change point beside a segment whose mean per-frame K is below this is left where
        ``refine`` put it.
    artefact_margin : int
        A change point with a frame the tracker was unsure of (``uncertain``, see
        :meth:`__call__`) within this many frames is dropped: an encounter, a filled gap or a
        re-acquisition can change the apparent motion without the particle changing. -1 (the
        default): keep every change point. Measured on the Track 1 tuning suite (challenge
        preset, seed 0, 300 VIPs), margin 2 cost JSC 0.731 → 0.640 (0.695 with encounters not
        counted as unsure) for α MAE 0.102 → 0.103 and K MSLE 0.023 → 0.026: real change
        points happen at encounters (a dimer binds) and at the frames where a state change
        makes the linker lose a particle.
    """

    method: str = "none"
    pen: float = 1.0
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    min_size: int = 3
    width: int = 20
    min_dwell: int = 3
    refine: int = 0
    refine_gain: float = 0.0
    refine_far: int = 0
    refine_far_gain: float = 0.0
    refine_far_min_K: float = 0.0
    artefact_margin: int = -1

    def __post_init__(self) -> None:
        if self.method not in SEARCH_METHODS:
            raise OptionError(f"segmentation method {self.method!r} is not one of "
                              f"{', '.join(SEARCH_METHODS)}")
        if not (np.isfinite(self.pen) and self.pen >= 0):
            raise OptionError(f"pen must be a finite number >= 0, got {self.pen!r}")
        if int(self.refine_far) != self.refine_far or self.refine_far < 0:
            raise OptionError(f"refine_far must be an integer >= 0, got {self.refine_far!r}")
        for name in ("refine_far_gain", "refine_far_min_K"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise OptionError(f"{name} must be a finite number >= 0, got {value!r}")

    def signal(self, frames: np.ndarray) -> np.ndarray:
        """The multivariate signal searched for change points."""
        wa, wk, ws = self.weights
        logk = np.log10(np.maximum(frames[:, COLUMN["K"]], 1e-6))
        return np.column_stack([wa * frames[:, COLUMN["alpha"]], wk * logk,
                                ws * frames[:, PROBABILITIES]])

    def change_points(self, frames: np.ndarray) -> list[int]:
        """Interior change points of one trajectory's ``(T, 7)`` frame predictions."""
        T = frames.shape[0]
        if self.method == "none" or T < 2 * self.min_size:
            return []
        sig = self.signal(frames)
        if self.method == "optimal":
            ends = OptimalPartition(self.min_size).fit(sig).predict(self.pen)
        else:
            if self.method == "window" and T < 2 * self.width:
                return []
            try:
                ends = _ruptures_search(self.method, self.width, self.min_size).fit(sig) \
                    .predict(pen=self.pen)
            except Exception:  # ruptures refuses signals too short for its settings
                return []
        return [int(e) for e in ends[:-1] if 0 < e < T]

    def __call__(self, idx: int, frames: np.ndarray, steps: np.ndarray | None = None,
                 uncertain: np.ndarray | None = None) -> TrajectoryLabel:
        """Segment labels of one trajectory with index ``idx``.

        Parameters
        ----------
        idx : int
            Trajectory index.
        frames : numpy.ndarray
            ``(T, 7)``: the columns :data:`~andi2kit.inference.FRAME_VALUES`.
        steps : numpy.ndarray, optional
            ``(T, 2)`` displacements into each frame (row 0 unused), for ``refine``.
        uncertain : numpy.ndarray, optional
            ``(T,)`` bool: frames where the tracker was unsure (Track 1); change points near
            them are dropped (``artefact_margin``).
        """
        states = smooth_states(frames[:, COLUMN["state"]], self.min_dwell)
        cps = self.change_points(frames)
        if self.refine and steps is not None and cps:
            cps = refine_change_points(steps, cps, self.refine, self.refine_gain,
                                       self.min_size)
        if self.refine_far > self.refine and steps is not None and cps:
            fixed = None
            if self.refine_far_min_K > 0:
                seg_K = np.array([k.mean() for k in np.split(frames[:, COLUMN["K"]], cps)])
                slow = seg_K < self.refine_far_min_K
                fixed = slow[:-1] | slow[1:]
            cps = refine_change_points(steps, cps, self.refine_far, self.refine_far_gain,
                                       self.min_size, fixed=fixed)
        if uncertain is not None and self.artefact_margin >= 0 and cps:
            cps = drop_near(cps, uncertain, self.artefact_margin)
        return self.label_at(idx, frames, cps, states)

    def label_at(self, idx: int, frames: np.ndarray, cps: list[int],
                 states: np.ndarray | None = None) -> TrajectoryLabel:
        """Segment labels of one trajectory cut at given change points ``cps`` (values and
        smoothed states as :meth:`__call__` gives them)."""
        if states is None:
            states = smooth_states(frames[:, COLUMN["state"]], self.min_dwell)
        lab = segment_values(frames[:, COLUMN["alpha"]], frames[:, COLUMN["K"]], states,
                             list(cps))
        lab.idx = int(idx)
        return lab


def drop_near(cps: list[int], flagged: np.ndarray, margin: int) -> list[int]:
    """Change points with no flagged frame within ``margin`` frames.

    Examples
    --------
    >>> drop_near([10, 50], np.arange(100) == 52, margin=2)
    [10]
    """
    flagged = np.asarray(flagged, dtype=bool)
    if not flagged.any():
        return list(cps)
    near = np.convolve(flagged, np.ones(2 * margin + 1, dtype=bool), mode="same") > 0
    return [c for c in cps if not near[min(max(c, 0), near.size - 1)]]


def spaced(cuts: Sequence[int], T: int, min_size: int) -> list[int]:
    """Sorted change points ``cuts`` of a trajectory of ``T`` frames less each one closer than
    ``min_size`` frames to the one kept before it or to either end.

    >>> spaced([2, 10, 11, 30, 38], 40, 3)
    [10, 30]
    """
    out: list[int] = []
    for c in cuts:
        if c - (out[-1] if out else 0) >= min_size and T - c >= min_size:
            out.append(int(c))
    return out


def profile_ll(total: np.ndarray | float, n: np.ndarray | int) -> np.ndarray:
    """Profile log-likelihood of ``n`` zero-mean 2-D Gaussian steps whose squared lengths sum
    to ``total`` (one variance, fitted; 0 for no step), elementwise."""
    n = np.asarray(n)
    v = np.maximum(np.asarray(total, float) / (2 * np.maximum(n, 1)), 1e-12)
    return np.where(n > 0, -n * (np.log(v) + 1.0), 0.0)


def variance_ll(sq: np.ndarray, lo: int, hi: int) -> float:
    """:func:`profile_ll` of the steps whose squared lengths are ``sq[lo:hi]``."""
    return float(profile_ll(sq[lo:hi].sum() if hi > lo else 0.0, max(hi - lo, 0)))


def squared_steps(steps: np.ndarray, first: float = 0.0) -> np.ndarray:
    """``(T,)`` squared length of the step into each frame (``first`` for frame 0, which
    has none)."""
    sq = np.full(steps.shape[0], first, dtype=np.float64)
    sq[1:] = np.sum(np.asarray(steps[1:], dtype=np.float64) ** 2, axis=1)
    return sq


def cut_candidates(cps: list[int], i: int, T: int, window: int,
                   min_size: int) -> tuple[int, int, list[int]]:
    """Bounds ``(lo, hi)`` of change point ``cps[i]``'s stretch (its neighbours, or the
    trajectory's ends) and the cuts within ``window`` frames of it that leave both sides at
    least ``min_size`` frames."""
    lo = cps[i - 1] if i > 0 else 1
    hi = cps[i + 1] if i + 1 < len(cps) else T
    return lo, hi, [x for x in range(cps[i] - window, cps[i] + window + 1)
                    if x - lo >= min_size and hi - x >= min_size]


def refine_change_points(steps: np.ndarray, cps: list[int], window: int,
                         min_gain: float = 0.0, min_size: int = 3,
                         fixed: Sequence[bool] | None = None) -> list[int]:
    """Move change points to where the step variance changes most nearby.

    The per-frame model places a change point within a few frames; the raw steps often say
    exactly where when the diffusivity changes. Each change point ``c`` (first frame of the
    new segment; the step into frame ``c`` is counted in the new segment) is moved to the
    ``c'`` within ``window`` frames that maximises the likelihood of two zero-mean Gaussian
    step variances on either side (bounded by the neighbouring change points), if that gains
    more than ``min_gain`` over ``c``. A change in α alone hardly changes the likelihood and
    the point stays.

    Parameters
    ----------
    steps : numpy.ndarray
        ``(T, 2)`` displacement into each frame (row 0 ignored).
    cps : list of int
        Interior change points, increasing.
    window : int
        Largest move (frames).
    min_gain : float
        Log-likelihood a move must gain.
    min_size : int
        Shortest segment kept.
    fixed : sequence of bool, optional
        Per change point: True where it is not moved.

    Returns
    -------
    list of int
        The refined change points, increasing.
    """
    T = steps.shape[0]
    sq = squared_steps(steps)
    out = list(cps)
    for i, c in enumerate(out):
        if fixed is not None and fixed[i]:
            continue
        lo, hi, cands = cut_candidates(out, i, T, window, min_size)

        def ll(cut, lo=lo, hi=hi):
            return variance_ll(sq, lo, cut) + variance_ll(sq, cut, hi)

        if not cands:
            continue
        base = ll(c)
        best = max(cands, key=ll)
        if ll(best) - base > min_gain:
            out[i] = best
    return out


def labels_from_frames(idx: int, alpha: np.ndarray, K: np.ndarray,
                       state: np.ndarray) -> TrajectoryLabel:
    """Ground-truth segments from per-frame labels: a change point wherever any label changes."""
    change = (np.diff(alpha) != 0) | (np.diff(K) != 0) | (np.diff(state) != 0)
    cps = (np.flatnonzero(change) + 1).tolist()
    bounds = [0, *cps]
    return TrajectoryLabel(idx=idx, K=K[bounds], alpha=alpha[bounds],
                           state=state[bounds].astype(int), cp=cps, T=int(alpha.size))


def short_segment_K(steps: np.ndarray, cps: Sequence[int], K: np.ndarray,
                    noise: float = LOCALISATION_NOISE) -> np.ndarray:
    """``K`` with the value of every segment shorter than :data:`SHORT_SEGMENT` frames
    estimated from its own steps, where they move more than the localisation noise does
    (mean squared step above twice the noise's 4σ²): the mean squared step less the noise's
    share, ``(<|Δr|²> − 4σ²) / 4`` (at lag 1, whatever α). A segment that barely moves keeps
    its value: its steps are mostly noise.

    Parameters
    ----------
    steps : numpy.ndarray
        ``(T, 2)`` displacement into each frame (row 0 ignored).
    cps : sequence of int
        The segments' change points.
    K : numpy.ndarray
        One value per segment.
    noise : float
        Localisation noise σ (px).

    Examples
    --------
    >>> steps = np.zeros((40, 2))
    >>> steps[20:, 0] = 2.0  # <|Δr|²> = 4 from frame 20 on
    >>> np.round(short_segment_K(steps, [20], np.array([0.5, 0.5])), 4).tolist()
    [0.5, 0.9856]
    """
    sq = squared_steps(np.asarray(steps), first=np.nan)
    bounds = np.r_[0, np.asarray(cps, int), len(sq)]
    out = np.array(K, float)
    for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        within = sq[lo + 1:hi]
        within = within[np.isfinite(within)]
        if hi - lo < SHORT_SEGMENT and within.size and within.mean() > 8 * noise ** 2:
            out[k] = (float(within.mean()) - 4 * noise ** 2) / 4
    return out
