"""The official AnDi 2 metrics as pure functions on arrays.

Each function reproduces, number for number, the corresponding piece of
``andi_datasets.utils_challenge`` (version 2.1.13), including its quirks, which are listed
where they matter. Nothing here reads files.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import truncnorm

# Bounds of the phenomenological models (andi_datasets.models_phenom).
ALPHA_BOUNDS = (0.0, 1.999)
K_BOUNDS = (1e-12, 1e6)

# Thresholds of the organisers' _get_error_bounds().
CP_THRESHOLD = 10
ALPHA_PENALTY = 2.0  # added to the true alpha of an invalid prediction; missing-trajectory alpha
K_PENALTY = 1e5  # added to the true K of a NaN prediction; missing-trajectory K offset
STATE_PENALTY = 0  # replaces an out-of-range predicted state

#: Caps applied to the experiment-level errors.
MAX_ALPHA_ERROR = abs(ALPHA_BOUNDS[1] - ALPHA_BOUNDS[0])
MAX_K_ERROR = float(np.mean((np.log1p(K_BOUNDS[0]) - np.log1p(K_BOUNDS[1])) ** 2))

#: Single-task results when the whole track fails (missing FOV file, wrong VIP set).
SINGLE_FAILURE = {"rmse_cp": 10.0, "jsc_cp": 0.0, "alpha": 2.0, "K": 1e5, "state": 0.0}
#: Ensemble results when any experiment of the track fails.
ENSEMBLE_FAILURE = {
    "w1_alpha": abs(ALPHA_BOUNDS[1] - ALPHA_BOUNDS[0]),
    "w1_K": abs(K_BOUNDS[1] - K_BOUNDS[0]),
}

SUPPORT_SIZE = 1_000_000


# --------------------------------------------------------------------------------------------
# change points
# --------------------------------------------------------------------------------------------


def paired_offsets(true_cp: np.ndarray, pred_cp: np.ndarray) -> np.ndarray:
    """``true − predicted`` of the pairs the Hungarian algorithm on ``|t - p|`` makes between
    one trajectory's true and predicted change points (``min`` of the two sizes; pairs
    closer than the threshold are the hits of :class:`ChangePointCounts`).

    >>> paired_offsets(np.array([20, 80]), np.array([79, 21, 150])).tolist()
    [-1, 1]
    """
    true_cp, pred_cp = np.asarray(true_cp), np.asarray(pred_cp)
    cost = np.abs(true_cp[:, None] - pred_cp[None, :]).astype(np.float64)
    rows, cols = linear_sum_assignment(cost)
    return true_cp[rows] - pred_cp[cols]


class ChangePointCounts:
    """Running TP/FP/FN counts and squared TP distances over an experiment.

    Mirrors ``ensemble_changepoint_error``: per trajectory, true and predicted change points
    are paired by the Hungarian algorithm on ``|t - p|``; a pair closer than ``threshold`` is a
    TP, otherwise one FP and one FN; unpaired predictions are FP, unpaired truths FN. A
    trajectory with no change point in truth and prediction counts as a TP.
    """

    def __init__(self, threshold: float = CP_THRESHOLD) -> None:
        self.threshold = threshold
        self.tp = 0
        self.fp = 0
        self.fn = 0
        self.tp_empty = 0
        self.n_true = 0
        self.sq: list[np.ndarray] = []

    def add_empty_pairs(self, n: int) -> None:
        """Add ``n`` trajectories with no change point in truth nor prediction."""
        self.tp_empty += int(n)

    def add_unpaired(self, n_true: np.ndarray, n_pred: np.ndarray) -> None:
        """Add trajectories where one side has no change point (counts per trajectory)."""
        n_true = np.asarray(n_true, dtype=np.int64)
        n_pred = np.asarray(n_pred, dtype=np.int64)
        self.n_true += int(n_true.sum())
        self.fn += int(n_true.sum())
        self.fp += int(n_pred.sum())

    def add(self, true_cp: np.ndarray, pred_cp: np.ndarray) -> None:
        """Add one trajectory's change points (any sizes)."""
        true_cp = np.asarray(true_cp)
        pred_cp = np.asarray(pred_cp)
        nt, np_ = true_cp.size, pred_cp.size
        self.n_true += nt
        if nt == 0 or np_ == 0:
            if nt == np_:
                self.tp_empty += 1
            self.fn += nt
            self.fp += np_
            return
        d = paired_offsets(true_cp, pred_cp)
        hit = np.abs(d) < self.threshold
        n_hit = int(hit.sum())
        self.tp += n_hit
        self.fp += d.size - n_hit
        self.fn += d.size - n_hit
        self.sq.append((d[hit].astype(np.float64)) ** 2)
        if np_ > nt:
            self.fp += np_ - nt
        elif np_ < nt:
            self.fn += nt - np_

    def result(self) -> tuple[float, float]:
        """RMSE over TP pairs (0 when none) and the Jaccard similarity coefficient."""
        if self.tp + self.fp + self.fn == 0:
            return (0.0, 1.0) if self.n_true == 0 else (float(self.threshold), 0.0)
        sq = np.concatenate(self.sq) if self.sq else np.zeros(0)
        rmse = float(np.sqrt(np.mean(sq))) if sq.size else 0.0
        tp = self.tp + self.tp_empty
        return rmse, tp / (tp + self.fp + self.fn)


# --------------------------------------------------------------------------------------------
# segment pairing
# --------------------------------------------------------------------------------------------


def binary_segments(cp: np.ndarray, T: int) -> np.ndarray:
    """Frame-membership matrix of the segments cut by ``cp`` in a trajectory of length ``T``.

    Row ``j`` covers frames ``cp[j-1]+1 .. cp[j]`` (frame 0 belongs to row 0, the last row runs
    to ``T-1``), with Python slice semantics exactly as the organisers' ``create_binary_segment``.
    """
    seg = np.zeros((len(cp) + 1, T))
    bounds = np.append(0, cp)
    for j, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=False)):
        seg[j, a + 1 : b + 1] = 1
    seg[-1, bounds[-1] + 1 :] = 1
    seg[0, 0] = 1
    return seg


def _split_bounds(bounds: np.ndarray) -> tuple[np.ndarray, int]:
    # the organisers drop T from the change points unless it is the only value
    return (bounds[:-1] if len(bounds) > 1 else bounds), int(bounds[-1])


def _intervals(cp: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive [start, end] of each row of :func:`binary_segments` (valid for cp >= 0)."""
    b = np.concatenate(([0], cp))
    start = np.concatenate(([0], b[1:] + 1))
    end = np.concatenate((np.minimum(b[1:], T - 1), [T - 1]))
    return start, end


def segment_cost(true_bounds: np.ndarray, pred_bounds: np.ndarray) -> np.ndarray:
    """``1 - Jaccard`` between every true and predicted segment.

    ``*_bounds`` are the label-file change-point lists including the final length ``T``; a
    list of one element is kept whole (the organisers' convention when ``T`` is not given).
    Segments are intervals, so the overlaps are computed from their ends; lists with negative
    values (which wrap around in the organisers' slicing) take the frame-by-frame route.
    """
    t_cp, t_T = _split_bounds(true_bounds)
    p_cp, p_T = _split_bounds(pred_bounds)
    if min(t_T, p_T) < 1 or (t_cp < 0).any() or (p_cp < 0).any():
        return _segment_cost_frames(t_cp, t_T, p_cp, p_T)
    ts, te = _intervals(t_cp, t_T)
    ps, pe = _intervals(p_cp, p_T)
    t_len = np.maximum(te - ts + 1, 0)
    p_len = np.maximum(pe - ps + 1, 0)
    inter = np.maximum(np.minimum(te[:, None], pe[None, :])
                       - np.maximum(ts[:, None], ps[None, :]) + 1, 0)
    union = t_len[:, None] + p_len[None, :] - inter
    jac = np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)
    return 1 - jac


def _segment_cost_frames(t_cp: np.ndarray, t_T: int, p_cp: np.ndarray, p_T: int) -> np.ndarray:
    a = binary_segments(t_cp, t_T) == 1
    b = binary_segments(p_cp, p_T) == 1
    width = max(a.shape[1], b.shape[1])
    a = np.pad(a, ((0, 0), (0, width - a.shape[1])))
    b = np.pad(b, ((0, 0), (0, width - b.shape[1])))
    inter = a.astype(np.int64) @ b.T.astype(np.int64)
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    jac = np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)
    return 1 - jac


def pair_segments(
    true_bounds: np.ndarray, pred_bounds: np.ndarray, n_true: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the (true segment, predicted segment) pairs that are scored.

    Reproduces ``segment_property_errors``/``check_no_changepoints``, including the
    organisers' indexing when the prediction has a single segment and the truth several: the
    true segment taken is the *position* in the assignment of the pair that holds predicted
    segment 0.

    Parameters
    ----------
    true_bounds, pred_bounds : numpy.ndarray
        Change points followed by the trajectory length, as on a label line.
    n_true : int, optional
        Number of true segment values (defaults to ``len(true_bounds)``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        True and predicted segment indices, same length.
    """
    no_true = len(true_bounds) == 1
    no_pred = len(pred_bounds) == 1
    if no_true and no_pred:
        return np.array([0]), np.array([0])
    rows, cols = linear_sum_assignment(segment_cost(true_bounds, pred_bounds))
    if no_true:
        return np.array([0]), np.array([cols[0]])
    if no_pred:
        pos = int(np.flatnonzero(cols == 0)[0])
        return np.array([pos]), np.array([cols[pos]])
    keep = rows < (len(true_bounds) if n_true is None else n_true)
    return rows[keep], cols[keep]


# --------------------------------------------------------------------------------------------
# segment properties
# --------------------------------------------------------------------------------------------


def sanitize_pairs(
    alpha: np.ndarray, K: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the organisers' penalties to paired ``(true, pred)`` columns.

    α outside [0, 2] or NaN → true + 2; K made non-negative, NaN → true + 1e5; state outside
    [0, 4] → 0.
    """
    alpha = alpha.astype(np.float64).copy()
    K = K.astype(np.float64).copy()
    state = state.astype(np.float64).copy()
    bad_a = np.isnan(alpha[:, 1]) | (alpha[:, 1] > 2) | (alpha[:, 1] < 0)
    alpha[bad_a, 1] = alpha[bad_a, 0] + ALPHA_PENALTY
    bad_k = np.isnan(K[:, 1])
    K = np.abs(K)
    K[bad_k, 1] = K[bad_k, 0] + K_PENALTY
    bad_s = (state[:, 1] > 4) | (state[:, 1] < 0)
    state[bad_s, 1] = STATE_PENALTY
    return alpha, K, state


def alpha_mae(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute error of α, capped at the width of the α bounds."""
    err = float(np.mean(np.abs(true - pred)))
    return MAX_ALPHA_ERROR if err > MAX_ALPHA_ERROR else err


def k_msle(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean squared log error ``mean((log1p(K) - log1p(K̂))²)`` with K floored at 1e-12, capped."""
    t = np.where(true <= K_BOUNDS[0], K_BOUNDS[0], true)
    p = np.where(pred <= K_BOUNDS[0], K_BOUNDS[0], pred)
    with np.errstate(invalid="ignore"):
        err = float(np.mean((np.log1p(t) - np.log1p(p)) ** 2))
    return MAX_K_ERROR if err > MAX_K_ERROR else err


def state_f1(true: np.ndarray, pred: np.ndarray) -> float:
    """Micro-averaged F1 of the states (integer-truncated), i.e. the fraction equal."""
    with np.errstate(invalid="ignore"):
        t = true.astype(int)
        p = pred.astype(int)
    return float(np.mean(t == p))


# --------------------------------------------------------------------------------------------
# ensemble
# --------------------------------------------------------------------------------------------

_SUPPORTS: dict[str, np.ndarray] = {}


def support(param: str) -> np.ndarray:
    """The 1e6-point support of α (linear) or K (log-spaced) on the models' bounds."""
    if param not in _SUPPORTS:
        if param == "alpha":
            _SUPPORTS[param] = np.linspace(ALPHA_BOUNDS[0], ALPHA_BOUNDS[1], SUPPORT_SIZE)
        else:
            _SUPPORTS[param] = np.logspace(
                np.log10(K_BOUNDS[0]), np.log10(K_BOUNDS[1]), SUPPORT_SIZE
            )
    return _SUPPORTS[param]


def _log_gauss_mass(a: float, b: float) -> float:
    """log of the standard normal mass on [a, b], as scipy's truncnorm computes it."""
    try:  # the exact routine scipy uses, so that densities agree bit for bit
        from scipy.stats._continuous_distns import _log_gauss_mass as lgm

        return float(lgm(np.float64(a), np.float64(b)))
    except ImportError:  # pragma: no cover - older/newer scipy layouts
        z = float(np.clip(0.0, a, b))
        return float(-(z**2) / 2.0 - _LOG_SQRT_2PI - truncnorm.logpdf(z, a, b))


_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def mixture_density(
    means: np.ndarray, variances: np.ndarray, weights: np.ndarray | float, param: str,
    x: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted sum of truncated normals on the parameter's support (variance floored at 1e-9).

    Evaluates ``scipy.stats.truncnorm.pdf`` with the same floating-point steps, without its
    per-call overhead (a tenth of the time on the 1e6-point support). ``x`` replaces the
    scorer's support (e.g. a thinned one for plots).
    """
    x = support(param) if x is None else x
    lo, hi = ALPHA_BOUNDS if param == "alpha" else K_BOUNDS
    dens = np.zeros_like(x)
    for m, v, w in zip(np.atleast_1d(means), np.atleast_1d(variances),
                       np.atleast_1d(weights), strict=True):
        v = max(v, 1e-9)
        s = np.sqrt(v)
        if not (np.isfinite(m) and np.isfinite(s)):
            dens += w * truncnorm.pdf(x, (lo - m) / s, (hi - m) / s, loc=m, scale=s)
            continue
        lgm = _log_gauss_mass((lo - m) / s, (hi - m) / s)
        z = (x - m) / s
        dens += w * (np.exp(-(z**2) / 2.0 - _LOG_SQRT_2PI - lgm) / s)
    return dens


def w1_on_support(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """Wasserstein-1 distance between two weightings of the same sorted support."""
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("distribution has non-finite values")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("distribution weights must be non-negative with a positive sum")
    cp = np.cumsum(p)
    cq = np.cumsum(q)
    return float(np.sum(np.abs(cp[:-1] / cp[-1] - cq[:-1] / cq[-1]) * np.diff(x)))


def ensemble_components(matrix: np.ndarray) -> dict[str, tuple]:
    """Split a 5×N (or length-5) ensemble matrix into the mixtures the scorer compares.

    Follows ``error_Ensemble_dataset``: weights are normalised only when they sum above 1; a
    single column is one unit-weight component.
    """
    data = np.array(matrix, dtype=np.float64)
    if data.ndim > 1:
        alpha_info = np.delete(data, [2, 3, -1], 0)
        k_info = data[2:-1, :]
        weights = data[-1, :].copy()
        if weights.sum() > 1:
            weights /= weights.sum()
    else:
        alpha_info = data[:2]
        k_info = data[2:-1]
        weights = 1.0
    out = {}
    for name, info in (("alpha", alpha_info), ("K", k_info)):
        params = np.atleast_2d(info.T) if data.ndim > 1 else info[None, :]
        if params.shape[-1] != 2:
            raise ValueError(f"{name} rows must give a mean and a variance per state")
        w = np.atleast_1d(weights)
        if w.size != params.shape[0]:
            raise ValueError("one weight per state is needed")
        out[name] = (params[:, 0], params[:, 1], w)
    return out


def ensemble_distances(true_matrix: np.ndarray, pred_matrix: np.ndarray) -> tuple[float, float]:
    """W1 distances (α, K) between the true and predicted ensemble mixtures."""
    t = ensemble_components(true_matrix)
    p = ensemble_components(pred_matrix)
    out = []
    for name in ("alpha", "K"):
        x = support(name)
        out.append(w1_on_support(mixture_density(*t[name], name),
                                 mixture_density(*p[name], name), x))
    return out[0], out[1]
