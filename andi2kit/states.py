"""Per-frame diffusive state: a second stage on the U-Net's outputs and the raw steps.

The U-Net's state head calls most confined, immobile and directed frames free (its held-out
confusion matrix in README). This stage classifies each frame again from

* the U-Net's own per-frame α, log10 K and state probabilities, and their running means;
* what separates the states physically, over centred windows of 5–41 frames: the mean squared
  step (how fast), the radius of gyration against the distance the steps would cover freely
  (confinement saturates it), the lag-1 velocity autocorrelation (−½ for a particle that does
  not move but is measured with noise, > 0 for directed motion), and mean squared
  displacements at lags 2–8 against lag 1 (the local α);
* the same numbers over the whole trajectory, so that a slowdown is seen as one.

It is a gradient-boosted tree classifier (scikit-learn's ``HistGradientBoostingClassifier``),
fitted with class-balanced weights; a per-state offset is then added to its log-probabilities
(:mod:`andi2kit.state_offsets`).

See Also
--------
andi2kit.inference : the U-Net's per-frame outputs this stage reads.
andi2kit.segment.Segmenter : turns the per-frame states into segment states.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from andi2kit.constants import COLUMN, FRAME_VALUES, PROBABILITIES
from andi2kit.errors import InputError
from andi2kit.io import write_bytes_atomic, write_text_atomic

logger = logging.getLogger(__name__)

#: Centred window widths (frames) of the local features.
WINDOWS = (5, 11, 21, 41)
#: Lags (frames) whose mean squared displacement is compared with lag 1.
LAGS = (2, 4, 8)
#: File names of a fitted stage inside a checkpoint folder.
MODEL_FILE, INFO_FILE = "states.pkl", "states.json"
_EPS = 1e-6


def _rolling_mean(a: np.ndarray, valid: np.ndarray, w: int) -> np.ndarray:
    """Centred running mean over ``w`` frames of ``a (n, T)``, counting only ``valid``
    entries (a window cut by the trajectory's ends is shorter); NaN where none is valid."""
    n, T = a.shape
    v = np.where(valid, a, 0.0)
    cs = np.zeros((n, T + 1))
    cc = np.zeros((n, T + 1))
    np.cumsum(v, axis=1, out=cs[:, 1:])
    np.cumsum(valid, axis=1, out=cc[:, 1:])
    t = np.arange(T)
    lo = np.clip(t - w // 2, 0, T)
    hi = np.clip(t + w // 2 + 1, 0, T)
    cnt = cc[:, hi] - cc[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (cs[:, hi] - cs[:, lo]) / np.maximum(cnt, 1), np.nan)


def _rolling_rg2(pos: np.ndarray, valid: np.ndarray, w: int) -> np.ndarray:
    """Squared radius of gyration of the positions ``(n, T, 2)`` in centred windows of ``w``
    frames (valid frames only)."""
    rg2 = sum(_rolling_mean(pos[..., d] ** 2, valid, w) - _rolling_mean(pos[..., d], valid, w) ** 2
              for d in range(2))
    return np.maximum(rg2, 0.0)


#: Per-FOV statistics every frame also sees (:func:`context_features`): the U-Net's mean state
#: probabilities, the spread of local speeds, how common confinement-like and noise-like
#: windows are, and the frame's local speed against the FOV's median.
CONTEXT = ("fov_p_immobile", "fov_p_confined", "fov_p_free", "fov_p_directed",
           "fov_log_msq_q10", "fov_log_msq_q50", "fov_log_msq_q90", "fov_rg_ratio_w41",
           "fov_vacf1_w11", "fov_share_confined_like", "fov_share_noise_like",
           "log_msq_w11_vs_fov")


def feature_names() -> list[str]:
    """Names of the columns of :func:`stage_features`, in order."""
    return frame_feature_names() + list(CONTEXT)


def frame_feature_names() -> list[str]:
    """Names of the columns of :func:`frame_features`, in order."""
    names = ["unet_alpha", "unet_log10K", "p_immobile", "p_confined", "p_free", "p_directed"]
    for w in (11, 41):
        names += [f"p_{s}_w{w}" for s in ("immobile", "confined", "free", "directed")]
        names += [f"unet_alpha_w{w}"]
    for w in WINDOWS:
        names += [f"log_msq_w{w}", f"log_rg2_w{w}", f"rg_ratio_w{w}", f"vacf1_w{w}"]
        names += [f"msd_lag{lag}_w{w}" for lag in LAGS if lag < w]
    names += ["log_msq_traj", "log_rg2_traj", "vacf1_traj", "msd_lag4_traj",
              "log_msq_rel_w11", "log_length", "from_start", "to_end"]
    return names


def frame_features(steps: np.ndarray, unet: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per-frame features of a batch of trajectories.

    Parameters
    ----------
    steps : numpy.ndarray
        ``(n, T, 2)`` displacement into each frame (frame 0 unused), as packed for the model
        (:func:`andi2kit.tensors.displacements`: gaps interpolated).
    unet : numpy.ndarray
        ``(n, T, 7)`` the U-Net's per-frame values (:data:`andi2kit.inference.FRAME_VALUES`).
    length : numpy.ndarray
        ``(n,)`` frames of each trajectory; entries past it are ignored.

    Returns
    -------
    numpy.ndarray
        ``(n, T, F)`` float32, columns :func:`frame_feature_names`; rows past a trajectory's
        end hold NaN.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = rng.normal(size=(3, 50, 2)); unet = np.zeros((3, 50, 7)); unet[..., 1] = 1
    >>> frame_features(steps, unet, np.array([50, 30, 20])).shape[-1] == len(frame_feature_names())
    True
    """
    steps = np.asarray(steps, np.float64)
    n, T, _ = steps.shape
    t = np.arange(T)
    inside = t[None, :] < np.asarray(length)[:, None]
    has_step = inside & (t[None, :] >= 1)
    pos = np.cumsum(np.where(inside[..., None], steps, 0.0), axis=1)
    pos[:, :, :] -= pos[:, :1, :]
    sq = (steps ** 2).sum(-1)
    dot = (steps * np.roll(steps, -1, axis=1)).sum(-1)
    # the product of the steps into t and t + 1: both must exist (np.roll wraps at the end)
    has_dot = has_step & np.pad(has_step[:, 1:], ((0, 0), (0, 1)))
    cols: list[np.ndarray] = []

    alpha = unet[..., COLUMN["alpha"]]
    logk = np.log10(np.maximum(unet[..., COLUMN["K"]], 1e-8))
    probs = unet[..., PROBABILITIES]
    cols += [alpha, logk, *np.moveaxis(probs, -1, 0)]
    for w in (11, 41):
        cols += [_rolling_mean(probs[..., k], inside, w) for k in range(4)]
        cols.append(_rolling_mean(alpha, inside, w))

    msq_w11 = None
    for w in WINDOWS:
        msq = _rolling_mean(sq, has_step, w)
        rg2 = _rolling_rg2(pos, inside, w)
        vacf = _rolling_mean(dot, has_dot, w) / (msq + _EPS)
        cols += [np.log10(msq + _EPS), np.log10(rg2 + _EPS),
                 np.log10((rg2 + _EPS) / (w * msq / 6 + _EPS)), vacf]
        for lag in LAGS:
            if lag >= w:
                continue
            d = pos - np.roll(pos, lag, axis=1)
            ok = inside & (t[None, :] >= lag)
            cols.append(np.log10((_rolling_mean((d ** 2).sum(-1), ok, w) + _EPS)
                                 / (msq + _EPS)))
        if w == 11:
            msq_w11 = msq

    whole = int(2 * T + 1)
    msq_t = _rolling_mean(sq, has_step, whole)
    rg2_t = _rolling_rg2(pos, inside, whole)
    d4 = pos - np.roll(pos, 4, axis=1)
    cols += [np.log10(msq_t + _EPS), np.log10(rg2_t + _EPS),
             _rolling_mean(dot, has_dot, whole) / (msq_t + _EPS),
             np.log10((_rolling_mean((d4 ** 2).sum(-1), inside & (t[None, :] >= 4), whole)
                       + _EPS) / (msq_t + _EPS)),
             np.log10(msq_w11 + _EPS) - np.log10(msq_t + _EPS),
             np.broadcast_to(np.log10(np.maximum(length, 1))[:, None], (n, T)),
             np.broadcast_to(np.minimum(t, 50)[None, :], (n, T)).astype(float),
             np.minimum(np.asarray(length)[:, None] - 1 - t[None, :], 50).astype(float)]
    out = np.stack(cols, axis=-1).astype(np.float32)
    out[~inside] = np.nan
    return out


def context_features(X: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Statistics of each frame's FOV (:data:`CONTEXT`), one row per frame.

    Parameters
    ----------
    X : numpy.ndarray
        ``(m, F)`` frame features (columns :func:`frame_feature_names`) of real frames.
    fov : numpy.ndarray
        ``(m,)`` the FOV each frame belongs to (any labels).
    """
    col = {name: i for i, name in enumerate(frame_feature_names())}
    _, inv = np.unique(fov, return_inverse=True)
    k = int(inv.max()) + 1 if inv.size else 0
    count = np.maximum(np.bincount(inv, minlength=k), 1)

    def mean(values: np.ndarray) -> np.ndarray:
        ok = np.isfinite(values)
        tot = np.bincount(inv, np.where(ok, values, 0.0), minlength=k)
        return (tot / np.maximum(np.bincount(inv, ok.astype(float), minlength=k), 1))[inv]

    def quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
        out = np.full((k, len(qs)), np.nan)
        order = np.lexsort((values, inv))  # NaN sorts last within each FOV
        starts = np.concatenate([[0], np.cumsum(count)[:-1]])
        finite = np.bincount(inv, np.isfinite(values).astype(float), minlength=k).astype(int)
        for g in np.flatnonzero(finite):
            v = values[order[starts[g]: starts[g] + finite[g]]]
            out[g] = np.quantile(v, qs)
        return [out[inv, j] for j in range(len(qs))]

    msq = X[:, col["log_msq_w11"]].astype(np.float64)
    q10, q50, q90 = quantiles(msq, (0.1, 0.5, 0.9))
    rg = X[:, col["rg_ratio_w41"]].astype(np.float64)
    vacf = X[:, col["vacf1_w11"]].astype(np.float64)
    cols = [mean(X[:, col[f"p_{s}"]].astype(np.float64))
            for s in ("immobile", "confined", "free", "directed")]
    cols += [q10, q50, q90, mean(rg), mean(vacf),
             mean(np.where(np.isfinite(rg), rg < -0.5, np.nan)),
             mean(np.where(np.isfinite(vacf), vacf < -0.3, np.nan)), msq - q50]
    return np.column_stack(cols).astype(np.float32)


def stage_features(steps: np.ndarray, unet: np.ndarray, length: np.ndarray,
                   fov: np.ndarray) -> np.ndarray:
    """Features of every real frame (trajectory by trajectory, frame by frame): the frame's
    own (:func:`frame_features`) and its FOV's (:func:`context_features`).

    ``fov (n,)`` says which FOV each trajectory belongs to; the other arguments are those of
    :func:`frame_features`. Returns ``(m, F + C)`` float32, columns :func:`feature_names`.
    """
    f = frame_features(steps, unet, length)
    inside = np.arange(f.shape[1])[None, :] < np.asarray(length)[:, None]
    X = f[inside]
    groups = np.broadcast_to(np.asarray(fov)[:, None], inside.shape)[inside]
    return np.concatenate([X, context_features(X, groups)], axis=1)


@dataclass
class StateClassifier:
    """Gradient-boosted per-frame state classifier with per-state log-probability offsets.

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization : see
        ``sklearn.ensemble.HistGradientBoostingClassifier``. A FOV holds thousands of frames
        that share its statistics: a large ``min_samples_leaf`` keeps a leaf from describing
        one FOV.
    random_state : int
        Seed of the tree fitting.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3)); y = (X[:, 0] > 0).astype(int) * 2
    >>> clf = StateClassifier(max_iter=20).fit(X, y)
    >>> bool((clf.predict(X) == y).mean() > 0.9)
    True
    """

    max_iter: int = 300
    learning_rate: float = 0.1
    max_leaf_nodes: int = 63
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    random_state: int = 0
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def fit(self, X: np.ndarray, y: np.ndarray) -> StateClassifier:
        """Fit on frames ``X (m, F)`` with states ``y (m,)``, each state weighted by the
        inverse of its frequency (states absent from ``y`` are never predicted)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        y = np.asarray(y).astype(int)
        counts = np.bincount(y, minlength=4).astype(float)
        w = (counts.sum() / (np.count_nonzero(counts) * np.maximum(counts, 1)))[y]
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            random_state=self.random_state, early_stopping=False)
        self.model_.fit(X, y, sample_weight=w)
        return self

    def log_proba(self, X: np.ndarray) -> np.ndarray:
        """``(m, 4)`` log-probabilities of the four states, without the offsets."""
        p = np.full((X.shape[0], 4), 1e-12)
        p[:, self.model_.classes_] = np.maximum(self.model_.predict_proba(X), 1e-12)
        return np.log(p)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(m, 4)`` state probabilities with the offsets applied (renormalised)."""
        z = self.log_proba(X) + self.offsets
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable state per frame, offsets applied."""
        return np.argmax(self.log_proba(X) + self.offsets, 1)


def save(clf: StateClassifier, folder: str | Path, info: dict) -> Path:
    """Write the fitted stage (``states.pkl``) and its description with the pickle's SHA-256
    (``states.json``) into a checkpoint folder, atomically."""
    folder = Path(folder)
    buf = io.BytesIO()
    pickle.dump(clf, buf, protocol=pickle.HIGHEST_PROTOCOL)
    data = buf.getvalue()
    write_bytes_atomic(folder / MODEL_FILE, data)
    meta = dict(info, sha256=hashlib.sha256(data).hexdigest(), features=feature_names(),
                offsets=[float(v) for v in clf.offsets])
    write_text_atomic(folder / INFO_FILE, json.dumps(meta, indent=2))
    return folder / MODEL_FILE


def load(folder: str | Path) -> StateClassifier | None:
    """The stage saved in a checkpoint folder, or None when it has none.

    Raises
    ------
    InputError
        If the pickle does not match the SHA-256 recorded beside it (only a file this
        package wrote is unpickled) or was written for other features.
    """
    folder = Path(folder)
    file, info_file = folder / MODEL_FILE, folder / INFO_FILE
    if not file.is_file():
        return None
    data = file.read_bytes()
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{info_file}: missing or unreadable ({exc})") from None
    if info.get("sha256") != hashlib.sha256(data).hexdigest():
        raise InputError(f"{file}: its SHA-256 does not match {info_file}; refit it with "
                         "`python -m andi2kit.models.fit_states`")
    if info.get("features") != feature_names():
        raise InputError(f"{file}: fitted on other features than this version computes")
    return pickle.loads(data)  # noqa: S301 (hash-checked file written by save())


def fov_features(steps: list[np.ndarray], frames: list[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stage_features` of one FOV's trajectories given as lists (``(T_i, 2)`` steps,
    ``(T_i, 7)`` U-Net values), and their lengths; rows trajectory by trajectory."""
    length = np.array([f.shape[0] for f in frames])
    T = int(length.max())
    s = np.zeros((len(frames), T, 2))
    u = np.zeros((len(frames), T, len(FRAME_VALUES)))
    for i, (st, fr) in enumerate(zip(steps, frames, strict=True)):
        s[i, : fr.shape[0]] = st[: fr.shape[0]]
        u[i, : fr.shape[0]] = fr
    return stage_features(s, u, length, np.zeros(len(frames), int)), length


def restate(clf: StateClassifier, steps: list[np.ndarray], frames: list[np.ndarray]
            ) -> list[np.ndarray]:
    """The U-Net's per-frame values with the state and its probabilities from the stage.

    Parameters
    ----------
    clf : StateClassifier
        A fitted stage (:func:`load`).
    steps : list of numpy.ndarray
        Per trajectory ``(T_i, 2)`` displacements as packed for the model.
    frames : list of numpy.ndarray
        Per trajectory ``(T_i, 7)`` U-Net values (:data:`andi2kit.inference.FRAME_VALUES`).
        All trajectories are taken to come from one FOV (its statistics are features).

    Returns
    -------
    list of numpy.ndarray
        Copies of ``frames`` whose ``state`` and ``p0``–``p3`` columns the stage replaced.
    """
    if not frames:
        return []
    X, length = fov_features(steps, frames)
    p = clf.predict_proba(X)
    out, k = [], 0
    for fr, L in zip(frames, length, strict=True):
        new = fr.copy()
        new[:, PROBABILITIES] = p[k:k + L]
        new[:, COLUMN["state"]] = np.argmax(p[k:k + L], 1)
        out.append(new)
        k += L
    return out
