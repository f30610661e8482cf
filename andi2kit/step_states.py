"""Change points from a hidden Markov model of a FOV's steps: states shared by all its
trajectories.

andi-datasets moves every particle of a multi-state experiment between the same few states,
each with its own K (a particle's K scatters little around its state's), and a step's
variance per axis is ``2 K + 2 σ²`` whatever α is. A visit of ten frames to a state of a
quarter the K is plain in the steps once the states' variances are known, but a per-frame
model reading one trajectory, and a penalised segmentation of its output, pass over it. Fitted
on all the trajectories of a FOV at once, a Gaussian hidden Markov model of the steps knows
the states' variances and how often particles switch, and its most likely state path cuts
each trajectory where the state changes (:func:`fit`,
:func:`andi2kit.step_hmm.state_paths`). The number of states (1 to
:attr:`StepStates.max_states`) is chosen by BIC; one state cuts nothing.

The number of states is chosen on the steps less what the two before predict
(:func:`andi2kit.step_hmm.whitened`): a persistent particle's runs of long and short steps are
no states (on andi-datasets single-state particles of α 1.5-1.9 the steps themselves gave
0.46-2.35 cuts per trajectory, the whitened ones none). Each cut segment's α is pulled towards
its state's mean α (:attr:`StepStates.prior_frames`).

A dimerization experiment is cut where its particles bind and part
(:mod:`andi2kit.partner_cuts`), but its bound and free states are step states too: each cut
segment's α is pulled the same way towards the mean α of the experiment's segments nearest
in K to the same state (:func:`pulled_to_states`, :func:`experiment_state_K`; in Track 1,
whose steps get no model, the two states split from the segments' K, :func:`two_state_K`).

Measured on the tuning and report seeds of the ``dimers`` and ``challenge`` presets: README,
*Change points from the states of the steps*.

The decision uses these segments only in experiments judged to hold neither traps, dimers
nor compartments (:class:`andi2kit.experiment_decision.ExperimentDecision`): there a change of
K is a change of state.

See Also
--------
andi2kit.step_hmm : the model of the steps.
andi2kit.still_runs : a two-state model of one trajectory's steps (still or moving).
andi2kit.bouts : short visits read off one trajectory's steps.
andi2kit.partner_cuts.segments_at : the segments' values at the cuts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from andi2kit.constants import COLUMN, LOCALISATION_NOISE
from andi2kit.errors import OptionError
from andi2kit.labels import TrajectoryLabel
from andi2kit.partner_cuts import segments_at
from andi2kit.segment import Segmenter, profile_ll, spaced, squared_steps
from andi2kit.state_mixture import log10_k, slow_cut
from andi2kit.step_hmm import (
    CONVERGED,
    WHITEN_ORDER,
    StepModel,
    fit_states,
    state_paths,
    step_squares,
)

logger = logging.getLogger(__name__)

__all__ = ["WHITEN", "StepStates", "experiment_state_K", "fit", "kept_cuts", "pulled_to_states",
           "settings_dict", "step_change_points", "step_segments", "two_state_K"]


#: Which steps the model is chosen and fitted on (:class:`StepStates`).
WHITEN = ("count", "all", "none")


@dataclass(frozen=True)
class StepStates:
    """Settings of the step-state model (a checkpoint's ``segmentation.json``
    ``step_states``).

    Parameters
    ----------
    max_states : int
        Most states tried (1 to this; BIC chooses).
    noise : float
        Localisation noise σ per axis (px): no state's step variance lies below ``2 σ²``.
    min_ratio : float
        Neighbouring states whose step variances lie closer than this factor are one state:
        the model with fewer states is taken.
    iterations : int
        Most EM iterations per number of states (fewer once it converges,
        :data:`andi2kit.step_hmm.CONVERGED`).
    whiten : str
        ``"count"``: the number of states is chosen on each step less what the steps before
        predict (:func:`andi2kit.step_hmm.whitened`: a persistent particle's runs of long
        and short steps are no states), the states and paths then fitted on the steps
        themselves (whose changes are sharp); ``"all"``: everything on the whitened steps;
        ``"none"``: on the steps.
    min_gain : float or None
        A cut stays only where its two segments' steps, each at its state's variance, are
        likelier than together at their own by more than this (:func:`kept_cuts`): a
        particle whose K lies between two of the FOV's states (K scattered between particles
        of one state) flips between them along its path, its steps unchanged. None: every
        cut of the path.
    prior_frames : float
        A segment's α is pulled towards the mean α of its step state over the FOV's frames
        with the weight of this many frames (its own: its length): a visit of a few frames
        reads the per-frame model's α blurred across its ends. 0: its own α.
    tracks : tuple of int
        The tracks whose trajectories are modelled: 1, positions tracked in videos; 2, the
        public trajectories.

    Examples
    --------
    >>> StepStates(max_states=0)
    Traceback (most recent call last):
    ...
    andi2kit.errors.OptionError: step_states max_states must be an integer >= 1, got 0
    """

    max_states: int = 3
    noise: float = LOCALISATION_NOISE
    min_ratio: float = 2.5
    iterations: int = 40
    whiten: str = "count"
    prior_frames: float = 20.0
    min_gain: float | None = 0.0
    tracks: tuple[int, ...] = (2,)

    def __post_init__(self) -> None:
        for name in ("max_states", "iterations"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise OptionError(f"step_states {name} must be an integer >= 1, got {value!r}")
        if not (np.isfinite(self.noise) and self.noise > 0):
            raise OptionError(f"step_states noise must be a finite number > 0, got "
                              f"{self.noise!r}")
        if not (np.isfinite(self.min_ratio) and self.min_ratio >= 1):
            raise OptionError(f"step_states min_ratio must be a finite number >= 1, got "
                              f"{self.min_ratio!r}")
        if self.whiten not in WHITEN:
            raise OptionError(f"step_states whiten must be one of {', '.join(WHITEN)}, got "
                              f"{self.whiten!r}")
        if self.min_gain is not None and not np.isfinite(self.min_gain):
            raise OptionError(f"step_states min_gain must be a finite number or null, got "
                              f"{self.min_gain!r}")
        if not (np.isfinite(self.prior_frames) and self.prior_frames >= 0):
            raise OptionError(f"step_states prior_frames must be a finite number >= 0, got "
                              f"{self.prior_frames!r}")
        if not set(self.tracks) <= {1, 2}:
            raise OptionError(f"step_states tracks must be among 1 and 2, got "
                              f"{self.tracks!r}")
        object.__setattr__(self, "tracks", tuple(int(t) for t in self.tracks))


def fit(steps: Sequence[np.ndarray], settings: StepStates = StepStates()) -> StepModel:
    """The step-state model of a FOV's trajectories, its number of states chosen by BIC.

    Parameters
    ----------
    steps : sequence of numpy.ndarray
        Per trajectory, ``(T_i, 2)`` displacement into each frame (row 0 unused; NaN: not
        seen).
    settings : StepStates
        Most states, the noise floor and the merging ratio.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> state = (np.arange(200) // 20) % 2            # visits of 20 frames
    >>> scale = np.where(state == 1, 1.0, 0.4)[None, :, None]
    >>> steps = list(rng.normal(0, 1, (60, 200, 2)) * scale)
    >>> model = fit(steps)
    >>> model.n_states, np.round(model.variance, 1).tolist()
    (2, [0.2, 1.0])
    >>> fit(list(rng.normal(0, 1, (60, 200, 2)))).n_states
    1
    """
    d2, lengths = step_squares(steps, settings.whiten != "none")
    n_seen = int(np.isfinite(d2).sum())
    if n_seen < 10:
        return StepModel(np.array([1.0]), np.ones((1, 1)), np.ones(1), 0.0)
    floor = 2 * settings.noise**2
    best, best_bic = None, np.inf
    for k in range(1, int(settings.max_states) + 1):
        model = fit_states(d2, lengths, k, floor, int(settings.iterations))
        if k > 1 and np.min(model.variance[1:] / model.variance[:-1]) < settings.min_ratio:
            break
        n_params = k + k * (k - 1) + (k - 1)
        bic = -2 * model.log_likelihood + n_params * np.log(n_seen)
        if bic >= best_bic:
            break
        best, best_bic = model, bic
    if settings.whiten == "count" and best.n_states > 1:
        best = fit_states(step_squares(steps, False)[0], lengths, best.n_states, floor,
                           int(settings.iterations))
    return best


def step_change_points(path: np.ndarray, min_size: int = 1) -> list[int]:
    """Change points of one state path (:func:`andi2kit.step_hmm.state_paths`): the frames
    whose step is the first of a new state, the segmentation's convention; one closer than
    ``min_size`` to the one before or to either end is dropped.

    Examples
    --------
    >>> step_change_points(np.r_[-1, [0] * 9, [1] * 5, [0] * 10])
    [10, 15]
    >>> step_change_points(np.r_[-1, [0] * 9, [1] * 2, [0] * 10], min_size=3)
    [10]
    """
    p = np.asarray(path)
    seen = np.flatnonzero(p >= 0)
    return spaced(seen[1:][np.diff(p[seen]) != 0].tolist(), p.size, min_size)


def step_segments(labels: Sequence[TrajectoryLabel], frames: Sequence[np.ndarray],
                  steps: Sequence[np.ndarray], segmenter: Segmenter,
                  settings: StepStates = StepStates()) -> tuple[dict[str, dict], dict]:
    """A FOV's trajectories cut where their step states change, by ``str(idx)``, only those
    whose cuts differ from the model's (values at the cuts as
    :func:`andi2kit.partner_cuts.segments_at` gives them, α pulled towards the state's), and
    the fitted model's summary (states, their K, mean dwell in frames).

    ``labels``, ``frames`` (``(T_i, 7)``) and ``steps`` (``(T_i, 2)``, into each frame) are
    per trajectory, as :func:`andi2kit.partner_cuts.partner_segments` takes them; the
    ``segmenter`` gives the values at the cuts and the shortest segment.
    """
    model = fit(steps, settings)
    summary = {"states": model.n_states,
               "K": [float(f"{k:.6g}") for k in model.K(settings.noise)],
               "dwell": [round(float(1 / max(1 - a, 1e-9)), 2)
                         for a in np.diag(model.transitions)]}
    logger.debug("step states of %d trajectories: %s", len(steps), summary)
    if model.n_states == 1:
        return {}, summary
    paths = state_paths(steps, model, settings.whiten == "all")
    state_alpha = _state_alpha(frames, paths, model.n_states)
    out = {}
    for lab, f, st, path in zip(labels, frames, steps, paths, strict=True):
        cps = step_change_points(path, segmenter.min_size)
        if settings.min_gain is not None and cps:
            cps = kept_cuts(st, cps, settings.min_gain,
                            model.variance[np.maximum(_frame_states(path), 0)])
        if cps != lab.cp.tolist():
            seg = segments_at(lab.idx, f, cps, st, segmenter)
            if settings.prior_frames > 0:
                seg["alpha"] = _pulled_alpha(seg["alpha"], cps, path, state_alpha,
                                             settings.prior_frames)
            out[str(lab.idx)] = seg
    return out, summary


def _seen_ll(d2: np.ndarray, var: float | None) -> float:
    """Log-likelihood of the finite squared 2D steps ``d2`` at variance ``var`` per axis, or
    at their own (None: :func:`andi2kit.segment.profile_ll`), up to the same constant."""
    d2 = d2[np.isfinite(d2)]
    if var is None:
        return float(profile_ll(d2.sum(), d2.size))
    return float(-d2.size * np.log(var) - d2.sum() / (2 * var)) if d2.size else 0.0


def kept_cuts(steps: np.ndarray, cps: Sequence[int], penalty: float,
              frame_var: np.ndarray | None = None) -> list[int]:
    """Change points whose two segments' steps differ: while merging the segments either
    side of some cut loses less than ``penalty`` in log-likelihood (each segment's steps at
    the median of ``frame_var``, each frame's state's variance, over its frames, or at their
    own variance without it; the merged ones at their own), the cheapest such cut goes.

    A particle of one state whose K lies between two of the FOV's states (K scattered
    between particles) flips between them along its path; its steps do not change.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> scale = np.r_[np.full(60, 1.0), np.full(15, 0.3), np.full(125, 1.0)]
    >>> steps = rng.normal(0, 1, (200, 2)) * scale[:, None]
    >>> kept_cuts(steps, [60, 75, 130], penalty=4.0)
    [60, 75]
    """
    sq = squared_steps(np.asarray(steps), first=np.nan)
    cps = sorted(int(c) for c in cps)
    while cps:
        bounds = np.r_[0, cps, sq.size].astype(int)
        ll = [_seen_ll(sq[lo:hi], None if frame_var is None else
                       float(np.median(frame_var[lo:hi])))
              for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        loss = [ll[k] + ll[k + 1] - _seen_ll(sq[bounds[k]:bounds[k + 2]], None)
                for k in range(len(cps))]
        k = int(np.argmin(loss))
        if loss[k] >= penalty:
            break
        del cps[k]
    return cps


def _frame_states(path: np.ndarray) -> np.ndarray:
    """Each frame's step state (frame 0: its first step's)."""
    p = np.asarray(path).copy()
    if p.size > 1:
        p[0] = p[1]
    return p


def _state_alpha(frames: Sequence[np.ndarray], paths: Sequence[np.ndarray], n: int
                 ) -> np.ndarray:
    """Mean per-frame α of each step state over the FOV's frames (NaN: no frame)."""
    total, count = np.zeros(n), np.zeros(n)
    for f, path in zip(frames, paths, strict=True):
        p = _frame_states(path)
        ok = p >= 0
        np.add.at(total, p[ok], f[ok, COLUMN["alpha"]])
        np.add.at(count, p[ok], 1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _pulled_alpha(alpha: Sequence[float], cps: Sequence[int], path: np.ndarray,
                  state_alpha: np.ndarray, prior_frames: float) -> list[float]:
    """Each segment's α pulled towards its (most frequent) step state's mean α with the
    weight of ``prior_frames`` frames against its length.

    Examples
    --------
    >>> path = np.r_[-1, [0] * 9, [1] * 10]
    >>> _pulled_alpha([0.9, 0.6], [10], path, np.array([1.0, 0.5]), 10.0)
    [0.95, 0.55]
    """
    p = _frame_states(path)
    bounds = np.r_[0, cps, p.size].astype(int)
    out = []
    for a, lo, hi in zip(alpha, bounds[:-1], bounds[1:], strict=True):
        seen = p[lo:hi][p[lo:hi] >= 0]
        prior = state_alpha[np.bincount(seen).argmax()] if seen.size else np.nan
        n = hi - lo
        out.append(float(a) if not np.isfinite(prior)
                   else float((n * a + prior_frames * prior) / (n + prior_frames)))
    return out


def experiment_state_K(evidence: Sequence[dict | None]) -> np.ndarray | None:
    """The K of an experiment's step states: per state, the median over the FOVs whose
    model (their evidence's ``step_model``, :func:`step_segments`' summary) holds the most
    common number of states, if that is at least two (None otherwise: no FOV's steps hold
    states, or the evidence has no step model).

    Examples
    --------
    >>> ev = [{"step_model": {"states": 2, "K": [0.01, 0.5]}},
    ...       {"step_model": {"states": 2, "K": [0.03, 0.7]}},
    ...       {"step_model": {"states": 1, "K": [0.2]}}, None]
    >>> experiment_state_K(ev).tolist()
    [0.02, 0.6]
    >>> experiment_state_K([{"step_model": {"states": 1, "K": [0.2]}}]) is None
    True
    """
    models = [ev["step_model"] for ev in evidence if ev and ev.get("step_model")]
    counts = [int(m["states"]) for m in models if len(m.get("K", [])) == int(m["states"])]
    if not counts:
        return None
    n = int(np.bincount(counts).argmax())
    if n < 2:
        return None
    return np.median([m["K"] for m in models if int(m["states"]) == n
                      and len(m["K"]) == n], axis=0)


def two_state_K(per_fov: Sequence[Sequence[TrajectoryLabel]]) -> np.ndarray | None:
    """The K of two states split from one experiment's segments (every FOV's): the
    frame-weighted two-means of their log10 K (:func:`andi2kit.state_mixture.slow_cut`),
    slower first; None without two distinct values. For a dimerization experiment (a free
    and a bound state) whose steps got no model (Track 1).

    Examples
    --------
    >>> labs = [TrajectoryLabel(0, [1.0, 0.01], [1.0, 1.0], [2, 2], [100], 200),
    ...         TrajectoryLabel(1, [0.8], [1.0], [2], [], 200)]
    >>> two_state_K([labs]).round(3).tolist()
    [0.01, 0.862]
    >>> two_state_K([[labs[1]]]) is None
    True
    """
    rows = [(float(k), float(n)) for labels in per_fov for lab in labels
            for k, n in zip(lab.K, lab.lengths, strict=True) if np.isfinite(k)]
    if len(rows) < 2:
        return None
    K, frames = (np.array(v) for v in zip(*rows, strict=True))
    _, slow, fast = slow_cut(log10_k(K), frames)
    return 10 ** np.array([slow, fast]) if np.isfinite(slow) else None


def pulled_to_states(per_fov: Sequence[Sequence[TrajectoryLabel]], state_K: np.ndarray,
                     prior_frames: float) -> list[list[TrajectoryLabel]]:
    """One experiment's labels (per FOV) with each cut trajectory's segment α pulled
    towards the mean α of the experiment's segments of the same state, with the weight of
    ``prior_frames`` frames against its length; a segment's state is the one of ``state_K``
    (:func:`experiment_state_K`) nearest to its K in log, a state's mean α is over the frames
    of every segment of it. Trajectories of one segment keep theirs.

    Examples
    --------
    >>> long = TrajectoryLabel(0, [0.01, 0.5], [0.5, 1.0], [2, 2], [100], 200)
    >>> short = TrajectoryLabel(1, [0.5, 0.02, 0.4], [1.0, 1.1, 1.0], [2, 2, 2], [90, 100], 200)
    >>> out = pulled_to_states([[long, short]], np.array([0.01, 0.5]), 10.0)
    >>> [round(float(a), 3) for a in out[0][1].alpha]
    [1.0, 0.827, 1.0]
    """
    log_K = log10_k(state_K)

    def states(lab: TrajectoryLabel) -> tuple[np.ndarray, np.ndarray]:
        near = np.abs(log10_k(lab.K)[:, None] - log_K[None, :]).argmin(axis=1)
        return near, lab.lengths.astype(np.float64)

    total, frames = np.zeros(log_K.size), np.zeros(log_K.size)
    for labels in per_fov:
        for lab in labels:
            near, n = states(lab)
            np.add.at(total, near, n * np.asarray(lab.alpha, np.float64))
            np.add.at(frames, near, n)
    prior = np.where(frames > 0, total / np.maximum(frames, 1), np.nan)
    out = []
    for labels in per_fov:
        pulled = []
        for lab in labels:
            if len(lab.cp) == 0:
                pulled.append(lab)
                continue
            near, n = states(lab)
            a = np.asarray(lab.alpha, np.float64)
            pulled.append(replace(lab, alpha=np.where(
                np.isfinite(prior[near]),
                (n * a + prior_frames * prior[near]) / (n + prior_frames), a)))
        out.append(pulled)
    return out


def settings_dict(settings: StepStates) -> dict:
    """What decides the step states (recorded beside a FOV's output)."""
    return asdict(settings) | {"selection": "BIC", "emission": "2D Gaussian steps",
                               "converged": CONVERGED, "whiten_order": WHITEN_ORDER}
