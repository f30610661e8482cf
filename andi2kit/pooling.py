"""Experiment-level pooling: the segments of all FOVs of an experiment inform each other.

Every FOV of a challenge experiment is simulated from the same parameters, so the segments
of an experiment fall into a few diffusive states whose spread in α and K is often smaller
than the error of a single segment's estimate. :func:`pool_experiment` fits a Gaussian
mixture (number of states by BIC) to the segments' ``(α, log10 K)`` and replaces each
segment's values by their posterior mean (empirical Bayes): the estimate is pulled towards its
state's mean by ``err² / (err² + spread²)``, where ``err²`` depends on the segment's length
(:class:`SegmentErrorModel`) and ``spread²`` is the state's scatter minus the mean error.
Long segments in a broad state barely move; short segments in a narrow state move most of
the way. Change points are untouched; states change only where the experiment says a state
does not exist (:func:`gate_states`: a state covering too few of its frames). Segments that
describe the experiment but are not pooled themselves may inform the mixture (``context``:
in Track 1 every other particle tracked in the videos, beside the 10 VIPs per FOV).

The error model is calibrated on simulated validation data (``andi2kit tune``) by comparing
predicted segments with the true values over the frames they cover. The ensemble is *not*
built from the pooled values nor deconvolved by the error model: both made the ensemble
distances worse on the validation data during development, so :mod:`andi2kit.ensemble` keeps
using the raw segment values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from andi2kit.ensemble import fit_mixture, segment_features, segment_table
from andi2kit.labels import TrajectoryLabel

#: Default smallest spread (standard deviation) assumed for a state, in α and in log10 K.
MIN_SPREAD = 0.02


@dataclass(frozen=True)
class SegmentErrorModel:
    """Variance of a segment's estimate as ``a + b / length``, for α and for log10 K.

    Attributes
    ----------
    a_alpha, b_alpha, a_logk, b_logk : float
        Coefficients (``b`` in frames).
    """

    a_alpha: float = 0.01
    b_alpha: float = 1.0
    a_logk: float = 0.002
    b_logk: float = 0.3

    def variance(self, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error variances of α and of log10 K for segments of ``length`` frames."""
        n = np.maximum(np.asarray(length, dtype=np.float64), 1.0)
        return self.a_alpha + self.b_alpha / n, self.a_logk + self.b_logk / n

    def to_dict(self) -> dict:
        """Plain dictionary (for ``segmentation.json``)."""
        return asdict(self)

    @classmethod
    def fit(cls, pred: Sequence[TrajectoryLabel], true: Sequence[TrajectoryLabel]
            ) -> SegmentErrorModel:
        """Least-squares fit of the squared errors of predicted segments against the truth.

        Parameters
        ----------
        pred, true : sequence of TrajectoryLabel
            Predicted and true labels of the same trajectories, in the same order.
        """
        rows = []
        for p, t in zip(pred, true, strict=True):
            ta, tk = t.per_frame(t.alpha), t.per_frame(t.K)
            n = min(ta.size, p.T)
            bounds = np.concatenate(([0], p.cp, [p.T]))
            for s in range(p.alpha.size):
                lo, hi = int(bounds[s]), int(min(bounds[s + 1], n))
                if hi <= lo:
                    continue
                true_a = ta[lo:hi].mean()
                # immobile frames (K = 0) have no log K: left out of the K errors
                true_k = (np.log10(tk[lo:hi]).mean() if np.all(tk[lo:hi] > 1e-4)
                          else np.nan)
                rows.append((hi - lo, p.alpha[s] - true_a,
                             np.log10(max(p.K[s], 1e-6)) - true_k))
        if len(rows) < 10:
            raise ValueError("too few segments to fit an error model")
        r = np.array(rows)
        # errors are heavy-tailed (a misplaced change point mixes two states; immobile
        # segments have K = 0): a robust variance per length bin, then a + b / length
        edges = np.unique(np.quantile(r[:, 0], np.linspace(0, 1, 9)))
        coef = []
        for col in (1, 2):
            ok = np.isfinite(r[:, col])
            xs, ys = [], []
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                sel = ok & (r[:, 0] >= lo) & (r[:, 0] <= hi)
                if sel.sum() >= 10:
                    e = r[sel, col]
                    xs.append(1.0 / np.median(r[sel, 0]))
                    ys.append((1.4826 * np.median(np.abs(e - np.median(e)))) ** 2)
            c, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(xs)), xs]), np.array(ys),
                                    rcond=None)
            coef.append(np.maximum(c, [1e-4, 0.0]))
        return cls(float(coef[0][0]), float(coef[0][1]), float(coef[1][0]), float(coef[1][1]))


def pool_experiment(labels: Sequence[TrajectoryLabel], error: SegmentErrorModel,
                    max_states: int = 3, min_spread: float = MIN_SPREAD, seed: int = 0,
                    context: np.ndarray | None = None) -> list[TrajectoryLabel]:
    """Pull every segment's α and K towards the mean of its state.

    Parameters
    ----------
    labels : sequence of TrajectoryLabel
        All predicted trajectories of one experiment.
    error : SegmentErrorModel
        Error variances of single-segment estimates.
    max_states : int
        Largest number of mixture components (BIC chooses).
    min_spread : float
        Smallest standard deviation assumed for a state (α and log10 K), so that a state
        whose scatter is all estimation error still lets long segments speak.
    seed : int
        Seed of the mixture fits.
    context : numpy.ndarray, optional
        ``(m, 4)`` rows ``alpha, K, state, length`` (:func:`~andi2kit.ensemble.segment_table`)
        of other segments of the same experiment that describe its states but are not
        pooled themselves: in Track 1, every other particle tracked in the videos, so that
        the states are learnt from hundreds of trajectories instead of the 10 VIPs per FOV.

    Returns
    -------
    list of TrajectoryLabel
        Same trajectories, change points and states; α and K pooled.

    Examples
    --------
    Two short VIP segments alone look like two states; 200 other segments of the
    experiment show one state near α 0.5, and both VIPs are pulled to it:

    >>> from andi2kit.labels import TrajectoryLabel
    >>> vips = [TrajectoryLabel(0, [1.0], [0.3], [2], [], 20),
    ...         TrajectoryLabel(1, [1.0], [0.8], [2], [], 20)]
    >>> others = np.column_stack([np.random.default_rng(0).normal(0.5, 0.1, 200),
    ...                           np.ones(200), np.full(200, 2), np.full(200, 50)])
    >>> err = SegmentErrorModel(0.0, 1.0, 0.0, 0.3)
    >>> [round(float(lab.alpha[0]), 2) for lab in pool_experiment(vips, err)]
    [0.3, 0.8]
    >>> [round(float(lab.alpha[0]), 2) for lab in pool_experiment(vips, err, context=others)]
    [0.5, 0.5]
    """
    seg = segment_table(labels)
    if seg.shape[0] == 0:
        return list(labels)
    n_own = seg.shape[0]
    if context is not None and len(context):
        seg = np.vstack([seg, np.asarray(context, dtype=np.float64).reshape(-1, 4)])
    x = segment_features(seg)
    length = np.maximum(seg[:, 3], 1.0)
    err = np.column_stack(error.variance(length))
    resp = fit_mixture(x, length, max_states, seed).predict_proba(x)  # (n, C)
    w = resp * length[:, None]
    total = w.sum(axis=0)[:, None]
    mean = (w.T @ x) / total  # (C, 2)
    scatter = np.einsum("nc,ncd->cd", w, (x[:, None, :] - mean[None]) ** 2) / total
    spread2 = np.maximum(scatter - (w.T @ err) / total, min_spread ** 2)
    # posterior mean under each state, averaged over the responsibilities
    resp, x, err = resp[:n_own], x[:n_own], err[:n_own]
    gain = spread2[None] / (spread2[None] + err[:, None, :])  # (n, C, 2)
    pooled = np.einsum("nc,ncd->nd", resp, mean[None] + gain * (x[:, None, :] - mean[None]))
    pooled[:, 0] = np.clip(pooled[:, 0], 0.0, 2.0)
    out, k = [], 0
    for lab in labels:
        n = lab.alpha.size
        out.append(replace(lab, alpha=pooled[k:k + n, 0].copy(),
                           K=np.power(10.0, pooled[k:k + n, 1])))
        k += n
    return out


def gate_states(labels: Sequence[TrajectoryLabel], min_share: float
                ) -> list[TrajectoryLabel]:
    """Give the segments of a state rare in the experiment to its most common state.

    The experiment decides which states exist: a state that covers less than ``min_share``
    of the experiment's frames is taken for the per-frame model's false alarms (a free
    particle briefly looking confined), and its segments take the state that covers most
    frames. Values and change points are untouched.

    Examples
    --------
    >>> from andi2kit.labels import TrajectoryLabel
    >>> labs = [TrajectoryLabel(0, [1., 1.], [0.5, 0.5], [2, 1], [190], 200),
    ...         TrajectoryLabel(1, [1.], [0.5], [2], [], 200)]
    >>> [list(lab.state) for lab in gate_states(labs, min_share=0.05)]
    [[2, 2], [2]]
    """
    if min_share <= 0 or not labels:
        return list(labels)
    frames = np.zeros(4)
    for lab in labels:
        np.add.at(frames, np.asarray(lab.state, int), lab.lengths)
    share = frames / max(frames.sum(), 1)
    rare = share < min_share
    if not rare.any() or rare.all():
        return list(labels)
    main = int(np.argmax(np.where(rare, -1, frames)))
    out = []
    for lab in labels:
        st = np.asarray(lab.state, int)
        out.append(replace(lab, state=np.where(rare[st], main, st)) if rare[st].any() else lab)
    return out


@dataclass(frozen=True)
class Pooling:
    """Pooling settings as tuned on validation data (``segmentation.json``).

    Attributes
    ----------
    error : SegmentErrorModel
    max_states : int
    min_spread : float
    min_state_share : float
        States covering less of the experiment's frames are given to its main state
        (:func:`gate_states`); 0: off.
    """

    error: SegmentErrorModel
    max_states: int = 3
    min_spread: float = MIN_SPREAD
    min_state_share: float = 0.0

    def __call__(self, labels: Sequence[TrajectoryLabel],
                 context: np.ndarray | None = None) -> list[TrajectoryLabel]:
        """Pool one experiment's trajectories (:func:`pool_experiment`, with the ``context``
        segments informing the states, then :func:`gate_states`)."""
        pooled = pool_experiment(labels, self.error, self.max_states, self.min_spread,
                                 context=context)
        return gate_states(pooled, self.min_state_share)

    def to_dict(self) -> dict:
        """Plain dictionary (for ``segmentation.json``)."""
        return {"error": self.error.to_dict(), "max_states": self.max_states,
                "min_spread": self.min_spread, "min_state_share": self.min_state_share}

    @classmethod
    def from_dict(cls, d: dict) -> Pooling:
        """Inverse of :meth:`to_dict` (also reads the bare error model of older files)."""
        if "error" not in d:
            return cls(SegmentErrorModel(**d))
        return cls(SegmentErrorModel(**d["error"]), int(d.get("max_states", 3)),
                   float(d.get("min_spread", MIN_SPREAD)), float(d.get("min_state_share", 0.0)))
