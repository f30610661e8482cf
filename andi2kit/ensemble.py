"""Experiment-level ensemble labels from the predicted segments of all its FOVs.

Segments are pooled over the experiment and summarised as a mixture: means and variances
of α and K per state and the fraction of frames spent in each state, written as
``ensemble_labels.txt``. Segments are weighted by their length in frames, as the reference
weights are fractions of time (in trap and confinement experiments without the directed
frames, which andi-datasets counts in neither of their two states: :func:`two_state_weights`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from andi2kit.constants import CONFINED, FREE, IMMOBILE
from andi2kit.labels import EnsembleLabel, TrajectoryLabel

#: Smallest variance written (a zero variance is legal but makes the mixture a spike).
MIN_VAR = 1e-6


def segment_table(labels: Iterable[TrajectoryLabel]) -> np.ndarray:
    """``(n_segments, 4)`` array of ``alpha, K, state, length`` over all trajectories."""
    rows = [np.column_stack([lab.alpha, lab.K, lab.state, lab.lengths]) for lab in labels]
    if not rows:
        return np.zeros((0, 4))
    return np.vstack(rows)


def segment_features(seg: np.ndarray) -> np.ndarray:
    """``(n, 2)`` α and log10 K of :func:`segment_table` rows: the space states are found in."""
    return np.column_stack([seg[:, 0], np.log10(np.maximum(seg[:, 1], 1e-6))])


def _weighted_moments(v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mean = float(np.average(v, weights=w))
    var = float(np.average((v - mean) ** 2, weights=w))
    return mean, max(var, MIN_VAR)


def single_gaussian(labels: Iterable[TrajectoryLabel]) -> EnsembleLabel:
    """One-state ensemble: length-weighted mean and variance of α and K.

    Parameters
    ----------
    labels : iterable of TrajectoryLabel
        Every predicted trajectory of the experiment.

    Returns
    -------
    EnsembleLabel
        Model ``single_state``, one column, weight 1.

    Raises
    ------
    ValueError
        If there is no segment at all.
    """
    seg = segment_table(labels)
    if seg.shape[0] == 0:
        raise ValueError("no predicted segment to build an ensemble from")
    w = np.maximum(seg[:, 3], 1)
    ma, va = _weighted_moments(seg[:, 0], w)
    mk, vk = _weighted_moments(seg[:, 1], w)
    return EnsembleLabel("single_state", np.array([[ma], [va], [mk], [vk], [1.0]]))


def model_name(states: np.ndarray, n: int) -> str:
    """Guess the andi-datasets model from the states' majority labels and their number."""
    if n == 1:
        return "single_state"
    if 0 in states:
        return "immobile_traps"
    if 1 in states:
        return "confinement"
    return "multi_state"


#: Models whose reference ensemble has two states, the slow one named here and a free one,
#: weighted by the frames labelled with either: andi-datasets' ``extract_ensemble`` counts a
#: directed frame (α ≥ 1.9) in neither (checked on ``data/dtraps0``, ``data/directed0-2``:
#: the reference weights equal these counts of the reference labels, to the third decimal).
TWO_STATE_MODELS = {"immobile_traps": IMMOBILE, "confinement": CONFINED}


def two_state_weights(weights: np.ndarray, slow_columns: np.ndarray, seg: np.ndarray
                      ) -> np.ndarray:
    """Column weights (frames) of a trap or confinement experiment rescaled as andi-datasets
    counts them: the moving columns together weigh the free frames only, shared as their
    frames are; the slow columns keep theirs.

    Examples
    --------
    >>> seg = np.array([[0.0, 1e-3, IMMOBILE, 40], [1.85, 1.0, FREE, 30], [1.95, 1.0, 3, 30]])
    >>> two_state_weights(np.array([60.0, 40.0]), np.array([False, True]), seg).tolist()
    [30.0, 40.0]
    """
    w = np.asarray(weights, dtype=np.float64).copy()
    free = float(seg[seg[:, 2] == FREE, 3].sum())
    moving = w[~slow_columns].sum()
    if moving > 0 and free > 0:
        w[~slow_columns] *= free / moving
    return w


def fit_mixture(x: np.ndarray, length: np.ndarray, max_states: int = 3,
                seed: int = 0, frames_per_sample: int = 10):
    """Gaussian mixture on segment features, number of components chosen by BIC.

    Segments are repeated in proportion to their length (one sample per
    ``frames_per_sample`` frames, at least one), since the reference weights are fractions
    of time.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, d)`` segment features.
    length : numpy.ndarray
        ``(n,)`` segment lengths in frames.
    max_states : int
        Largest number of components tried.
    seed : int
        Seed of the fits.
    frames_per_sample : int
        Frames represented by one repeated sample.

    Returns
    -------
    sklearn.mixture.GaussianMixture
    """
    # scikit-learn takes about a second to import: only the mixture ensemble needs it
    from sklearn.mixture import GaussianMixture

    reps = np.maximum(1, np.round(np.asarray(length) / frames_per_sample)).astype(int)
    X = np.repeat(x, reps, axis=0)
    best, best_bic = None, np.inf
    for n in range(1, min(max_states, len(np.unique(X, axis=0))) + 1):
        gm = GaussianMixture(n, covariance_type="full", random_state=seed, reg_covar=1e-4)
        gm.fit(X)
        bic = gm.bic(X)
        if bic < best_bic:
            best, best_bic = gm, bic
    return best


def gaussian_mixture(labels: Iterable[TrajectoryLabel], max_states: int = 3,
                     seed: int = 0) -> EnsembleLabel:
    """Ensemble from a Gaussian mixture on (α, log10 K), states chosen by BIC.

    Each component's α and K moments are computed from the segments it claims (K in linear
    units, as the scorer compares linear-K distributions), weighted by length.

    Parameters
    ----------
    labels : iterable of TrajectoryLabel
    max_states : int
        Largest number of components tried.
    seed : int
        Seed of the mixture fits.
    """
    seg = segment_table(labels)
    if seg.shape[0] == 0:
        raise ValueError("no predicted segment to build an ensemble from")
    feats = segment_features(seg)
    comp = fit_mixture(feats, seg[:, 3], max_states, seed).predict(feats)
    cols, states = [], []
    for c in np.unique(comp):
        sel = comp == c
        w = np.maximum(seg[sel, 3], 1)
        ma, va = _weighted_moments(seg[sel, 0], w)
        mk, vk = _weighted_moments(seg[sel, 1], w)
        cols.append([ma, va, mk, vk, float(w.sum())])
        states.append(int(np.bincount(seg[sel, 2].astype(int), weights=w, minlength=4)
                          .argmax()))
    model = model_name(np.array(states), len(cols))
    m = np.array(cols).T
    if model in TWO_STATE_MODELS:
        m[4] = two_state_weights(m[4], np.array(states) == TWO_STATE_MODELS[model], seg)
    m[4] /= m[4].sum()
    order = np.argsort(m[2])[::-1]  # fastest state first
    return EnsembleLabel(model, m[:, order])


#: Ensemble builders by name (the choice ``andi2kit tune`` makes and ``--method unet`` uses).
ENSEMBLE_METHODS = {"single_gaussian": single_gaussian, "gaussian_mixture": gaussian_mixture}
