"""A Gaussian hidden Markov model of the steps of many trajectories at once.

Each state has one step variance per axis (2D Gaussian steps: ``2 K + 2 σ²`` whatever α),
all trajectories share the states, their transition matrix and the first step's
probabilities; EM fits them (scaled forward-backward, compiled), Viterbi gives each
trajectory's most likely path. Steps may be :func:`whitened` first: fBm steps correlate, and a
model of independent steps reads a persistent particle's runs of long and short steps as
visits to states.

See Also
--------
andi2kit.step_states : the number of states chosen, and trajectories cut where they change.
andi2kit.still_runs : a two-state model of one trajectory's steps (still or moving).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from andi2kit.constants import LOCALISATION_NOISE

__all__ = ["CONVERGED", "LEAST_EMISSION", "WHITEN_ORDER", "StepModel", "fit_states",
           "state_paths", "step_squares", "whitened"]

#: Steps before each one that :func:`whitened` predicts it from (AR order).
WHITEN_ORDER = 2
#: EM stops when an iteration gains less than this share of the log-likelihood.
CONVERGED = 1e-6
#: Least emission density: a step far beyond every state's variance (a jump of tens of px)
#: would otherwise leave no state possible, and the scaled recursions divide zero by zero.
LEAST_EMISSION = 1e-200


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
                    e[i, t, k] = max(np.exp(-d2[i, t] / (2 * var[k])) / (2 * np.pi * var[k]),
                                     LEAST_EMISSION)
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


def fit_states(d2: np.ndarray, lengths: np.ndarray, n_states: int, floor: float,
               iterations: int) -> StepModel:
    """A model of ``n_states`` states fitted by EM to squared steps ``d2`` (``(n, T)``, NaN:
    none; :func:`step_squares`) of rows ``lengths`` long, no state's variance below
    ``floor``, at most ``iterations`` iterations (fewer once :data:`CONVERGED`); the states
    in ascending variance."""
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


def whitened(steps: np.ndarray, order: int = WHITEN_ORDER) -> np.ndarray:
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


def step_squares(steps: Sequence[np.ndarray], whiten: bool = True
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


def state_paths(steps: Sequence[np.ndarray], model: StepModel, whiten: bool = False
                ) -> list[np.ndarray]:
    """Per trajectory, the most likely state of the step into each frame (``(T_i,)``; -1 at
    frame 0 and after the last step), the steps :func:`whitened` where ``whiten`` (as the
    model was fitted: ``andi2kit.step_states.StepStates.whiten == "all"``)."""
    d2, lengths = step_squares(steps, whiten)
    path = _viterbi(_emissions(d2, model.variance), lengths, model.transitions, model.start)
    return [np.r_[-1, path[k, :max(len(s) - 1, 0)]] for k, s in enumerate(steps)]
