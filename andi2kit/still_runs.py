"""Trapping bouts read off the steps: runs of frames where a particle stands still.

andi-datasets holds a trapped particle exactly where it was caught
(``models_phenom.immobile_traps``: its position is not updated while bound, and the frame is
labelled immobile), so every step *into* a trapped frame is localisation noise alone, while a
free particle keeps moving. Where the free motion is well above the noise, a bout of a few
frames stands out in the steps long before the per-frame model, which smooths over a few
frames, or the segmentation's penalty lets it through.

:func:`still_frames` decodes each trajectory's steps with a two-state hidden Markov model
(still: the known noise; moving: fitted to the trajectory). :func:`standing_runs` counts the
long runs that scatter no more than the noise (traps the state calls missed, for
:func:`andi2kit.state_mixture.decide`); :func:`carve` makes the runs immobile segments of an
experiment judged to hold traps, unless :func:`partnered_share` says they are dimers'.

See Also
--------
andi2kit.state_mixture.decide : whether an experiment holds traps at all.
andi2kit.state_evidence.still_ratio : the same physics, as evidence for that decision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numba
import numpy as np

from andi2kit.constants import FREE, IMMOBILE, LOCALISATION_NOISE
from andi2kit.labels import TrajectoryLabel, label_filter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StillRuns:
    """Settings of :func:`still_frames` and :func:`carve`.

    Attributes
    ----------
    noise : float
        Localisation noise σ per axis (px): a still step has variance ``2 σ²`` per axis.
    min_ratio : float
        Smallest ratio of the moving steps' variance to the still steps' for a trajectory to
        be decoded at all: below it a slow free particle cannot be told from a trapped one.
    switch : float
        Log-likelihood cost of each switch between still and moving.
    min_length : int
        Fewest still steps (frames) a run of :func:`still_frames` needs.
    snap : int
        A change point of the model within this many frames of a run's end is replaced by
        that end (one change, not two a frame apart).
    moving_K : bool
        Give every moving segment of a carved trajectory the K of its moving steps, not the
        model's (whose segment K averaged trapped frames in).
    max_lag : int
        Where one frame's steps are within ``min_ratio`` of the noise (slow particles), the
        displacements over 2, ... up to ``max_lag`` frames are decoded instead, the first
        lag whose moving variance clears the ratio: a particle standing still for ``k``
        frames moves by the noise alone over ``k`` frames, a moving one by more the longer
        the lag (1: steps only).
    partner_radius, max_partnered : float
        A still run with another trajectory within ``partner_radius`` px at its middle frame
        has a partner; an experiment whose still runs have one more often than
        ``max_partnered`` is not carved (:func:`partnered_share`: the bound state of
        dimers stands almost still too, but with its partner beside it).
    """

    noise: float = LOCALISATION_NOISE
    min_ratio: float = 10.0
    switch: float = 3.0
    min_length: int = 3
    snap: int = 2
    moving_K: bool = True
    max_lag: int = 1
    partner_radius: float = 2.0
    max_partnered: float = 0.3

    @property
    def still_var(self) -> float:
        """Per-axis variance of a still step: the difference of two noisy positions."""
        return 2.0 * self.noise ** 2


def _log_emission(d2: np.ndarray, var: float) -> np.ndarray:
    """Log density of a 2-D step of squared length ``d2`` with ``var`` per axis (up to a
    constant shared by both states)."""
    return -np.log(var) - d2 / (2.0 * var)


def _moving_log_odds(d2: np.ndarray, var: float, w: float, still_var: float) -> np.ndarray:
    """Log odds that each step of squared length ``d2`` was made moving (variance ``var``
    per axis) rather than standing still (``still_var``, share ``w``)."""
    return (np.log(max(1.0 - w, 1e-12)) + _log_emission(d2, var)
            - np.log(max(w, 1e-12)) - _log_emission(d2, still_var))


def moving_variance(d2: np.ndarray, still_var: float, iterations: int = 30
                    ) -> tuple[float, float]:
    """Per-axis variance of the moving steps and the share of still steps: a two-component
    mixture of 2-D Gaussian steps, the still one's variance fixed at ``still_var``, fitted by
    expectation-maximisation on squared step lengths ``d2``."""
    d2 = d2[np.isfinite(d2)]
    if d2.size == 0:
        return still_var, 0.0
    var, w = max(float(d2.mean()) / 2.0, 4.0 * still_var), 0.5
    for _ in range(iterations):
        r1 = 1.0 / (1.0 + np.exp(np.clip(-_moving_log_odds(d2, var, w, still_var), -50, 50)))
        if r1.sum() < 1e-9:
            return still_var, 1.0
        new = max(float((r1 * d2).sum() / (2.0 * r1.sum())), still_var)
        w = 1.0 - float(r1.mean())
        if abs(new - var) <= 1e-4 * var:
            return new, w
        var = new
    return var, w


def still_posterior(d2: np.ndarray, still_var: float) -> np.ndarray:
    """Per step, the probability that it was made standing still, under the two-component
    mixture :func:`moving_variance` fits to the squared step lengths ``d2`` (0 where the
    fit finds no still steps).

    Examples
    --------
    >>> d2 = np.r_[np.full(20, 2.0), np.full(5, 0.01)]  # moving steps, then five still ones
    >>> still_posterior(d2, 2 * 0.12 ** 2).round(2)[[0, -1]].tolist()
    [0.0, 0.85]
    """
    d2 = np.asarray(d2, dtype=np.float64)
    var, w = moving_variance(d2, still_var)
    if w <= 0.0 or var <= still_var:
        return np.zeros(d2.shape)
    return 1.0 / (1.0 + np.exp(np.clip(_moving_log_odds(d2, var, w, still_var), -50, 50)))


def still_frames(xy: np.ndarray, settings: StillRuns = StillRuns()) -> np.ndarray:
    """``(T,)`` bool: the frames a particle stands still in, from its ``(T, 2)`` positions.

    Frame ``t`` is still when the step into it is (frame 0 never is): the Viterbi path of a
    two-state model whose still steps have the localisation noise's variance and whose
    moving steps have the variance :func:`moving_variance` fits to this trajectory, each
    switch costing ``settings.switch``; only runs of at least ``settings.min_length``
    frames are kept, and none where the moving steps are within ``settings.min_ratio`` of
    the noise.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = rng.normal(0, 1.0, (60, 2))
    >>> steps[20:26] = 0.0                      # a trap holds it for frames 20-25
    >>> xy = np.cumsum(steps, 0) + rng.normal(0, 0.12, (60, 2))
    >>> np.flatnonzero(still_frames(xy)).tolist()
    [20, 21, 22, 23, 24, 25]
    """
    xy = np.asarray(xy, float)
    T = len(xy)
    out = np.zeros(T, dtype=bool)
    still_var = settings.still_var
    for lag in range(1, settings.max_lag + 1):
        if T < settings.min_length + lag + 1:
            return out
        d2 = np.sum((xy[lag:] - xy[:-lag]) ** 2, axis=1)
        var, _ = moving_variance(d2, still_var)
        if var >= settings.min_ratio * still_var:
            break
    else:
        return out
    ok = np.isfinite(d2)
    d2 = np.where(ok, d2, 0.0)
    emit = np.stack([np.where(ok, _log_emission(d2, still_var), 0.0),
                     np.where(ok, _log_emission(d2, var), 0.0)], axis=1)
    path = _viterbi(emit, settings.switch)
    # a still displacement over ``lag`` frames: the particle stood still in each of them
    still = np.zeros(T, dtype=bool)
    for a, b in runs(path == 0):
        still[a + 1:b + lag] = True
    for a, b in runs(still):
        if b - a >= settings.min_length:
            out[a:b] = True
    return out


@numba.njit(cache=True)
def _viterbi(emit: np.ndarray, switch: float) -> np.ndarray:  # pragma: no cover - compiled
    """Most likely state sequence of ``emit`` ``(n, 2)`` log-likelihoods, each change of
    state costing ``switch`` (compiled: about 20 µs for 200 steps)."""
    n = emit.shape[0]
    back = np.zeros((n, 2), dtype=np.int8)
    s0, s1 = emit[0, 0], emit[0, 1]
    for t in range(1, n):
        stay0, cross0 = s0, s1 - switch
        stay1, cross1 = s1, s0 - switch
        back[t, 0] = 0 if stay0 >= cross0 else 1
        back[t, 1] = 1 if stay1 >= cross1 else 0
        s0 = max(stay0, cross0) + emit[t, 0]
        s1 = max(stay1, cross1) + emit[t, 1]
    path = np.zeros(n, dtype=np.int8)
    path[n - 1] = 0 if s0 >= s1 else 1
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in ``mask``.

    Examples
    --------
    >>> runs(np.array([0, 1, 1, 0, 1], bool))
    [(1, 3), (4, 5)]
    """
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


#: A run of still frames this long (frames) is judged on whether it stands still ...
STANDING_FRAMES = 8
#: ... which it does when its positions scatter about their mean by at most this many times
#: what the localisation noise alone gives (a trapped particle: about 1; a slowly
#: diffusing one keeps spreading). On the tuning seeds 0, the runs' median: 0.98–1.58 in the
#: trap experiments, 1.88–14 in every other experiment with ≥ 15 such runs.
STANDING_SPREAD = 1.5


def standing_runs(xy: np.ndarray, settings: StillRuns = StillRuns()) -> tuple[int, int]:
    """How many of a trajectory's still runs (:func:`still_frames`, before the label
    filter) last at least :data:`STANDING_FRAMES` frames, and how many of those stand still:
    their positions' mean squared distance from their centre is at most
    :data:`STANDING_SPREAD` times the noise's ``2 σ² (1 - 1/n)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> steps = rng.normal(0, 1.0, (120, 2))
    >>> steps[20:40] = 0.0                           # trapped: stands still
    >>> steps[60:80] = rng.normal(0, 0.06, (20, 2))  # a slow state: spreads
    >>> standing_runs(np.cumsum(steps, 0) + rng.normal(0, 0.12, (120, 2)))
    (2, 1)
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    return standing_counts(xy, still_frames(xy, settings), settings)


def standing_counts(xy: np.ndarray, still: np.ndarray, settings: StillRuns = StillRuns(),
                    min_frames: int = STANDING_FRAMES) -> tuple[int, int]:
    """:func:`standing_runs` of the ``(T,)`` bool ``still`` frames of ``(T, 2)`` positions
    ``xy`` already decoded (:func:`still_frames` with ``settings``), counting the runs of at
    least ``min_frames`` frames."""
    long = standing = 0
    for a, b in runs(np.asarray(still, bool)):
        p = xy[a:b]
        if b - a < min_frames or not np.isfinite(p).all():
            continue
        long += 1
        spread = np.mean(np.sum((p - p.mean(0)) ** 2, axis=1))
        standing += spread <= STANDING_SPREAD * settings.still_var * (1 - 1 / len(p))
    return long, int(standing)


def still_masks(positions: Sequence[np.ndarray], settings: StillRuns = StillRuns()
                ) -> list[np.ndarray]:
    """Per trajectory, :func:`still_frames` through the organisers' label filter
    (:func:`andi2kit.labels.label_filter`, as the reference labels went: a blip of
    one or two frames belongs to the bout around it)."""
    out = []
    for xy in positions:
        still = still_frames(np.asarray(xy, float).reshape(-1, 2), settings)
        out.append(label_filter(still.astype(float)) > 0.5 if still.any() else still)
    return out


def partnered_share(positions: Sequence[Sequence[np.ndarray]],
                    starts: Sequence[Sequence[int]], masks: Sequence[Sequence[np.ndarray]],
                    radius: float = 2.0) -> float:
    """Share of an experiment's still runs with another trajectory of their FOV within
    ``radius`` px at the run's middle frame (0 without runs).

    Per FOV: the trajectories' ``(T_i, 2)`` ``positions``, first frames ``starts`` and
    still ``masks`` (:func:`still_masks`). On the tuning seeds (2 px): 0.61–0.98 in the
    dimerization experiments, at most 0.12 in trap experiments and 0.24 in confinement.
    """
    n_runs = partnered = 0
    for xys, firsts, fov_masks in zip(positions, starts, masks, strict=True):
        xys = [np.asarray(xy, float).reshape(-1, 2) for xy in xys]
        for k, (xy, first, mask) in enumerate(zip(xys, firsts, fov_masks, strict=True)):
            for a, b in runs(np.asarray(mask, bool)):
                n_runs += 1
                frame = int(first) + (a + b) // 2
                for j, (other, f0) in enumerate(zip(xys, firsts, strict=True)):
                    t = frame - int(f0)
                    if j != k and 0 <= t < len(other) and \
                            np.hypot(*(other[t] - xy[(a + b) // 2])) < radius:
                        partnered += 1
                        break
    return partnered / n_runs if n_runs else 0.0


def carve(labels: Sequence[TrajectoryLabel], positions: Sequence[np.ndarray],
          settings: StillRuns = StillRuns(), masks: Sequence[np.ndarray] | None = None
          ) -> list[TrajectoryLabel]:
    """Labels of an experiment judged to hold traps, their states read off the steps where a
    trajectory's free motion stands well above the noise (:func:`still_frames`).

    The still frames are :func:`still_masks` (or the ``masks`` given). Still runs become
    immobile segments (α 0, K 1e-3 px²/frame); moving frames keep the model's segment that
    covers most of them, or, where the model called them immobile, become free with the
    trajectory's moving K (the fitted step variance less the noise's) and the mean α of its
    moving segments. The model's change points within ``settings.snap`` frames of a run's
    ends give way to them.

    Examples
    --------
    >>> lab = TrajectoryLabel(0, [1.0], [1.0], [2], [], 60)
    >>> rng = np.random.default_rng(0)
    >>> steps = rng.normal(0, 1.0, (60, 2))
    >>> steps[20:26] = 0.0
    >>> xy = np.cumsum(steps, 0) + rng.normal(0, 0.12, (60, 2))
    >>> out = carve([lab], [xy])[0]
    >>> out.cp.tolist(), out.state.tolist(), out.alpha.tolist()
    ([20, 26], [2, 0, 2], [1.0, 0.0, 1.0])
    """
    masks = still_masks(positions, settings) if masks is None else masks
    out = []
    for lab, xy, still in zip(labels, positions, masks, strict=True):
        xy = np.asarray(xy, float).reshape(-1, 2)
        if len(xy) != lab.T or len(still) != lab.T or not np.any(still):
            out.append(lab)
            continue
        bouts = runs(still)
        ends = np.array([e for bout in bouts for e in bout])
        seg = lab.per_frame(np.arange(lab.n_segments))  # each frame's segment
        d2 = np.sum(np.diff(xy, axis=0) ** 2, axis=1)
        var, _ = moving_variance(d2[~still[1:]], settings.still_var)
        moving_K = max((var - settings.still_var) / 2.0, 1e-3)
        moves = lab.state != IMMOBILE
        moving_alpha = (float(np.average(lab.alpha[moves], weights=lab.lengths[moves]))
                        if moves.any() else 1.0)
        keep = [c for c in lab.cp.tolist()
                if not np.any(np.abs(ends - c) <= settings.snap)]
        cuts = sorted(set(keep) | {int(e) for e in ends if 0 < e < lab.T})
        K, alpha, state = [], [], []
        for a, b in zip([0, *cuts], [*cuts, lab.T], strict=True):
            s = int(np.bincount(seg[a:b]).argmax())  # the model's segment covering most
            if still[a]:
                K.append(1e-3)
                alpha.append(0.0)
                state.append(IMMOBILE)
            elif lab.state[s] == IMMOBILE:
                K.append(moving_K)
                alpha.append(moving_alpha)
                state.append(FREE)
            else:
                K.append(moving_K if settings.moving_K else lab.K[s])
                alpha.append(lab.alpha[s])
                state.append(lab.state[s])
        # neighbouring pieces that ended up alike are one segment
        K, alpha, state = np.asarray(K), np.asarray(alpha), np.asarray(state, int)
        same = ((state[1:] == state[:-1]) & (alpha[1:] == alpha[:-1]) & (K[1:] == K[:-1]))
        first = np.r_[True, ~same]
        cuts = np.asarray(cuts, int)[~same]
        out.append(replace(lab, cp=cuts, state=state[first], alpha=alpha[first], K=K[first]))
    logger.debug("carved %d of %d trajectories", sum(a is not b for a, b in
                                                      zip(out, labels, strict=True)), len(out))
    return out


def settings_dict(settings: StillRuns = StillRuns()) -> dict:
    """The settings as recorded in a run's provenance (``max_lag`` only where it decodes
    more than steps: runs recorded before it existed decoded steps only, and stay valid)."""
    d = asdict(settings)
    if d["max_lag"] == 1:
        del d["max_lag"]
    return d


def experiment_masks(per_fov: Sequence[Sequence[TrajectoryLabel]], evidence: Sequence[dict],
                     counts: Sequence[dict], settings: StillRuns,
                     min_standing_runs: float, min_standing: float
                     ) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]] | None:
    """Per FOV of one experiment, its labels' positions and still masks
    (:func:`still_masks` with ``settings``: the still runs with the positions' noise) for
    :func:`carve`, where the still runs are traps': enough of the experiment's long still runs
    stand still (``min_standing`` of them, when it has ``min_standing_runs`` to tell; the
    ``still_runs`` and ``standing_runs`` of its FOVs' evidence ``counts``) and few have a
    partner beside them (:func:`partnered_share` over every trajectory of the ``evidence``,
    at most ``settings.max_partnered``); None otherwise.

    See Also
    --------
    andi2kit.state_mixture.Decision : where ``min_standing_runs`` and ``min_standing`` live.
    """
    runs_ = sum(float(c.get("still_runs", 0.0)) for c in counts)
    standing = sum(float(c.get("standing_runs", 0.0)) for c in counts)
    if runs_ >= min_standing_runs and standing < min_standing * runs_:
        return None  # slow states that keep spreading, not traps
    parsed = [{k: np.asarray(v, float).reshape(-1, 2)
               for k, v in ev.get("positions", {}).items()} for ev in evidence]
    by_idx = [dict(zip(h, still_masks(list(h.values()), settings), strict=True))
              for h in parsed]
    firsts = [[int(ev.get("starts", {}).get(k, 0)) for k in h]
              for h, ev in zip(parsed, evidence, strict=True)]
    share = partnered_share([list(h.values()) for h in parsed], firsts,
                            [list(m.values()) for m in by_idx], settings.partner_radius)
    if share > settings.max_partnered:
        return None
    xy = [[h.get(str(lab.idx), np.zeros((0, 2))) for lab in labels]
          for labels, h in zip(per_fov, parsed, strict=True)]
    masks = [[m.get(str(lab.idx), np.zeros(0, bool)) for lab in labels]
             for labels, m in zip(per_fov, by_idx, strict=True)]
    return xy, masks
