"""Change points from a hidden Markov model of a FOV's steps: states shared by all its
trajectories.

andi-datasets moves every particle of a multi-state experiment between the same few states,
each with its own K (a particle's K scatters little around its state's), and a step's
variance per axis is ``2 K + 2 σ²`` whatever α is. A visit of ten frames to a state of a
quarter the K is plain in the steps once the states' variances are known, but a per-frame
model reading one trajectory, and a penalised segmentation of its output, pass over it. Fitted
on all the trajectories of a FOV at once, a Gaussian hidden Markov model of the steps knows
the states' variances and how often particles switch, and its most likely state path cuts
each trajectory where the state changes (:func:`fit`, :func:`state_paths`). The number of
states (1 to :attr:`StepStates.max_states`) is chosen by BIC; one state cuts nothing.

The number of states is chosen on the steps less what the two before predict
(:func:`whitened`): a persistent particle's runs of long and short steps are no states (on
andi-datasets single-state particles of α 1.5-1.9 the steps themselves gave 0.46-2.35 cuts
per trajectory, the whitened ones none). Each cut segment's α is pulled towards its state's
mean α (:attr:`StepStates.prior_frames`).

Measured on the tuning and report seeds of the ``dimers`` and ``challenge`` presets: README,
*Change points from the states of the steps*.

The decision uses these segments only in experiments judged to hold neither traps, dimers
nor compartments (:class:`andi2kit.experiment_decision.ExperimentDecision`): there a change of
K is a change of state.

See Also
--------
andi2kit.still_runs : a two-state model of one trajectory's steps (still or moving).
andi2kit.bouts : short visits read off one trajectory's steps.
andi2kit.partner_cuts.segments_at : the segments' values at the cuts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numba
import numpy as np

from andi2kit.constants import COLUMN, LOCALISATION_NOISE
from andi2kit.errors import OptionError
from andi2kit.labels import TrajectoryLabel
from andi2kit.partner_cuts import segments_at
from andi2kit.segment import Segmenter

logger = logging.getLogger(__name__)

__all__ = ["CONVERGED", "WHITEN", "StepModel", "StepStates", "fit", "kept_cuts", "state_paths",
           "step_change_points", "step_segments", "settings_dict", "whitened"]


#: Which steps the model is chosen and fitted on (:class:`StepStates`).
WHITEN = ("count", "all", "none")
#: EM stops when an iteration gains less than this share of the log-likelihood.
CONVERGED = 1e-6


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
        :data:`CONVERGED`).
    whiten : str
        ``"count"``: the number of states is chosen on each step less what the steps
        before predict (:func:`whitened`: a persistent particle's runs of long and short
        steps are no states), the states and paths then fitted on the steps themselves
        (whose changes are sharp); ``"all"``: everything on the whitened steps; ``"none"``:
        on the steps.
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
    min_ratio: float = 1.5
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


@dataclass(frozen=True)
class StepModel:
    """A fitted model: per state the step variance per axis (ascending), the transition
    matrix, the first step's state probabilities and the log-likelihood."""

    variance: np.ndarray
    transitions: np.ndarray
    start: np.ndarray
    log_likelihood: float

    @property
    def n_states(self) -> int:
        return int(self.variance.size)

    def K(self, noise: float = LOCALISATION_NOISE) -> np.ndarray:
        """Each state's K (px²/frame^α): its step variance per axis less the noise's, halved."""
        return np.maximum(self.variance - 2 * noise**2, 0.0) / 2


@numba.njit(cache=True)
def _emissions(d2, var):  # pragma: no cover - compiled
    n, T = d2.shape
    K = var.size
    e = np.ones((n, T, K))
    for i in range(n):
        for t in range(T):
            if np.isfinite(d2[i, t]):
                for k in range(K):
                    e[i, t, k] = np.exp(-d2[i, t] / (2 * var[k])) / (2 * np.pi * var[k])
    return e


@numba.njit(cache=True)
def _expectations(e, lengths, A, pi):  # pragma: no cover - compiled
    """Scaled forward-backward over every trajectory: log-likelihood, state weights
    ``gamma`` and summed transition weights ``xi``."""
    n, T, K = e.shape
    gamma = np.zeros((n, T, K))
    xi = np.zeros((K, K))
    ll = 0.0
    fw = np.zeros((T, K))
    bw = np.zeros((T, K))
    c = np.zeros(T)
    for i in range(n):
        L = lengths[i]
        if L == 0:
            continue
        s = 0.0
        for k in range(K):
            fw[0, k] = pi[k] * e[i, 0, k]
            s += fw[0, k]
        s = max(s, 1e-300)
        c[0] = s
        for k in range(K):
            fw[0, k] /= s
        for t in range(1, L):
            s = 0.0
            for k in range(K):
                acc = 0.0
                for j in range(K):
                    acc += fw[t - 1, j] * A[j, k]
                fw[t, k] = acc * e[i, t, k]
                s += fw[t, k]
            s = max(s, 1e-300)
            c[t] = s
            for k in range(K):
                fw[t, k] /= s
        for k in range(K):
            bw[L - 1, k] = 1.0
        for t in range(L - 2, -1, -1):
            for j in range(K):
                acc = 0.0
                for k in range(K):
                    acc += A[j, k] * e[i, t + 1, k] * bw[t + 1, k]
                bw[t, j] = acc / c[t + 1]
        for t in range(L):
            ll += np.log(c[t])
            for k in range(K):
                gamma[i, t, k] = fw[t, k] * bw[t, k]
        for t in range(L - 1):
            for j in range(K):
                for k in range(K):
                    xi[j, k] += fw[t, j] * A[j, k] * e[i, t + 1, k] * bw[t + 1, k] / c[t + 1]
    return ll, gamma, xi


@numba.njit(cache=True)
def _viterbi(e, lengths, A, pi):  # pragma: no cover - compiled
    n, T, K = e.shape
    logA = np.log(np.maximum(A, 1e-300))
    path = np.full((n, T), -1, np.int64)
    back = np.zeros((T, K), np.int64)
    score = np.zeros(K)
    new = np.zeros(K)
    for i in range(n):
        L = lengths[i]
        if L == 0:
            continue
        for k in range(K):
            score[k] = np.log(max(pi[k], 1e-300)) + np.log(max(e[i, 0, k], 1e-300))
        for t in range(1, L):
            for k in range(K):
                best, arg = -np.inf, 0
                for j in range(K):
                    v = score[j] + logA[j, k]
                    if v > best:
                        best, arg = v, j
                new[k] = best + np.log(max(e[i, t, k], 1e-300))
                back[t, k] = arg
            score[:] = new
        k = int(np.argmax(score))
        path[i, L - 1] = k
        for t in range(L - 1, 0, -1):
            k = back[t, k]
            path[i, t - 1] = k
    return path


def _fit_states(d2: np.ndarray, lengths: np.ndarray, n_states: int, floor: float,
                iterations: int) -> StepModel:
    seen = d2[np.isfinite(d2)]
    var = np.maximum(np.quantile(seen, np.linspace(0.2, 0.8, n_states)) / 2, floor)
    if n_states == 1:
        var = np.array([max(seen.mean() / 2, floor)])
    A = np.full((n_states, n_states), 0.05 / max(n_states - 1, 1))
    np.fill_diagonal(A, 0.95 if n_states > 1 else 1.0)
    pi = np.full(n_states, 1.0 / n_states)
    weights_d2 = np.nan_to_num(d2)
    ll = -np.inf
    for _ in range(iterations):
        previous = ll
        ll, gamma, xi = _expectations(_emissions(d2, var), lengths, A, pi)
        if ll - previous < CONVERGED * abs(ll):
            break
        w = gamma.sum(axis=(0, 1))
        var = np.maximum((gamma * weights_d2[..., None]).sum(axis=(0, 1))
                         / np.maximum(2 * w, 1e-12), floor)
        A = xi / np.maximum(xi.sum(axis=1, keepdims=True), 1e-300)
        if n_states > 1:
            A = np.where(xi.sum(axis=1, keepdims=True) > 0, A, np.eye(n_states))
        firsts = gamma[lengths > 0, 0]
        pi = firsts.mean(axis=0) if len(firsts) else pi
    order = np.argsort(var)
    return StepModel(var[order], A[np.ix_(order, order)], pi[order], float(ll))


def whitened(steps: np.ndarray, order: int = 2) -> np.ndarray:
    """One trajectory's steps less what the ``order`` steps before predict (least squares
    autoregression over both axes, the Yule-Walker equations of its steps' correlations).

    Steps of fBm correlate (``2^(α-1) - 1`` at lag 1, slowly decaying): a persistent
    particle's steps run long and short for a few frames at a time, which a model of
    independent steps reads as visits to states. What the steps before do not predict
    varies with K. The first ``order`` steps are scaled by the prediction's share of
    unexplained variance.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> e = rng.normal(0, 1, (2000, 2))
    >>> s = e.copy()
    >>> for t in range(1, 2000):
    ...     s[t] += 0.8 * s[t - 1]                      # persistent steps
    >>> round(float(np.corrcoef(s[1:, 0], s[:-1, 0])[0, 1]), 2)
    0.82
    >>> w = whitened(s)
    >>> round(float(np.corrcoef(w[1:, 0], w[:-1, 0])[0, 1]), 2), round(float(w[10:].std()), 2)
    (0.0, 1.0)
    """
    st = np.asarray(steps, np.float64)
    T = st.shape[0]
    z = np.nan_to_num(st)
    r = np.array([np.sum(z[k:] * z[:T - k]) for k in range(order + 1)]) / max(T, 1)
    if r[0] <= 0 or T <= 2 * order + 2:
        return st.copy()
    R = np.array([[r[abs(i - j)] for j in range(order)] for i in range(order)])
    try:
        phi = np.linalg.solve(R, r[1:order + 1])
    except np.linalg.LinAlgError:
        return st.copy()
    unexplained = max(1 - float(phi @ r[1:order + 1]) / r[0], 0.05)
    out = st.copy()
    for k, p in enumerate(phi, start=1):
        out[k:] -= p * st[:-k]
    out[:order] = st[:order] * np.sqrt(unexplained)
    return out


def _squared_steps(steps: Sequence[np.ndarray], whiten: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(n, T-1)`` squared steps (the step into frame ``t + 1`` at ``t``; NaN: none), each
    trajectory's :func:`whitened` where ``whiten``, and each row's length up to its last
    step."""
    T = max((len(s) for s in steps), default=1)
    d2 = np.full((len(steps), max(T - 1, 1)), np.nan)
    for k, st in enumerate(steps):
        st = np.asarray(st, np.float64)
        if len(st) > 1:
            st = whitened(st[1:]) if whiten else st[1:]
            d2[k, :len(st)] = np.sum(st ** 2, axis=1)
    lengths = np.array([max(len(s) - 1, 0) for s in steps], np.int64)
    return d2, lengths


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
    d2, lengths = _squared_steps(steps, settings.whiten != "none")
    n_seen = int(np.isfinite(d2).sum())
    if n_seen < 10:
        return StepModel(np.array([1.0]), np.ones((1, 1)), np.ones(1), 0.0)
    floor = 2 * settings.noise**2
    best, best_bic = None, np.inf
    for k in range(1, int(settings.max_states) + 1):
        model = _fit_states(d2, lengths, k, floor, int(settings.iterations))
        if k > 1 and np.min(model.variance[1:] / model.variance[:-1]) < settings.min_ratio:
            break
        n_params = k + k * (k - 1) + (k - 1)
        bic = -2 * model.log_likelihood + n_params * np.log(n_seen)
        if bic >= best_bic:
            break
        best, best_bic = model, bic
    if settings.whiten == "count" and best.n_states > 1:
        best = _fit_states(_squared_steps(steps, False)[0], lengths, best.n_states, floor,
                           int(settings.iterations))
    return best


def state_paths(steps: Sequence[np.ndarray], model: StepModel, whiten: bool = False
                ) -> list[np.ndarray]:
    """Per trajectory, the most likely state of the step into each frame (``(T_i,)``; -1 at
    frame 0 and after the last step), the steps :func:`whitened` where ``whiten`` (as the
    model was fitted: ``StepStates.whiten == "all"``)."""
    d2, lengths = _squared_steps(steps, whiten)
    path = _viterbi(_emissions(d2, model.variance), lengths, model.transitions, model.start)
    return [np.r_[-1, path[k, :max(len(s) - 1, 0)]] for k, s in enumerate(steps)]


def step_change_points(path: np.ndarray, min_size: int = 1) -> list[int]:
    """Change points of one state path (:func:`state_paths`): the frames whose step is the
    first of a new state, the segmentation's convention; one closer than ``min_size`` to the
    one before or to either end is dropped.

    Examples
    --------
    >>> step_change_points(np.r_[-1, [0] * 9, [1] * 5, [0] * 10])
    [10, 15]
    >>> step_change_points(np.r_[-1, [0] * 9, [1] * 2, [0] * 10], min_size=3)
    [10]
    """
    p = np.asarray(path)
    seen = np.flatnonzero(p >= 0)
    cuts = seen[1:][np.diff(p[seen]) != 0]
    out: list[int] = []
    for c in cuts.tolist():
        if c - (out[-1] if out else 0) >= min_size and p.size - c >= min_size:
            out.append(int(c))
    return out


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


def _variance_ll(d2: np.ndarray, var: float | None = None) -> float:
    """Log-likelihood of 2D Gaussian steps (squared lengths ``d2``) of variance ``var`` per
    axis (None: their own)."""
    d2 = d2[np.isfinite(d2)]
    if d2.size == 0:
        return 0.0
    if var is None:
        var = max(float(d2.mean()) / 2, 1e-12)
    return float(-d2.size * np.log(2 * np.pi * var) - d2.sum() / (2 * var))


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
    sq = np.r_[np.nan, np.sum(np.asarray(steps, np.float64)[1:] ** 2, axis=1)]
    cps = sorted(int(c) for c in cps)
    while cps:
        bounds = np.r_[0, cps, sq.size].astype(int)
        ll = [_variance_ll(sq[lo:hi], None if frame_var is None else
                           float(np.median(frame_var[lo:hi])))
              for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        loss = [ll[k] + ll[k + 1] - _variance_ll(sq[bounds[k]:bounds[k + 2]])
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


def settings_dict(settings: StepStates) -> dict:
    """What decides the step states (recorded beside a FOV's output)."""
    return asdict(settings) | {"selection": "BIC", "emission": "2D Gaussian steps"}
