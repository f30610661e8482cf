"""The floor: one segment per trajectory, α and K from the time-averaged MSD.

For each trajectory the time-averaged MSD at lags ``1..max_lag`` is fitted in log-log by
``MSD(τ) = 4 K τ^α`` (2-D, pixels and frames). α is clipped to [0, 2] and K to
``[k_min, k_max]``; the state is 2 (free), or 0 (immobile) when K is below
``immobile_K``. Every learned method must beat this.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from andi2kit.ensemble import single_gaussian
from andi2kit.labels import EnsembleLabel, TrajectoryLabel
from andi2kit.pooled_msd import displacement_sums
from andi2kit.tensors import to_dense


def tamsd(pos: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Time-averaged MSD of each trajectory at the given lags.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n, T, 2)`` positions, NaN where absent.
    lags : numpy.ndarray
        Positive integer lags.

    Returns
    -------
    numpy.ndarray
        ``(n, len(lags))``; NaN where a trajectory has no pair of frames at that lag.

    See Also
    --------
    andi2kit.pooled_msd.displacement_sums : the sums and counts behind it.
    """
    total, n = displacement_sums(pos, lags)
    return np.divide(total, n, out=np.full(n.shape, np.nan), where=n > 0)


def fit_power_law(msd: np.ndarray, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of ``log MSD = log(4K) + α log τ`` per row, ignoring NaN lags.

    Returns
    -------
    alpha, K : numpy.ndarray
        NaN for rows with fewer than two usable lags.
    """
    x = np.log(lags.astype(float))[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(msd)
    ok = np.isfinite(y)
    n = ok.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        xm = np.where(ok, x, 0).sum(1) / n
        ym = np.where(ok, y, 0).sum(1) / n
        dx = np.where(ok, x - xm[:, None], 0)
        dy = np.where(ok, y - ym[:, None], 0)
        alpha = (dx * dy).sum(1) / (dx * dx).sum(1)
        K = np.exp(ym - alpha * xm) / 4
    bad = n < 2
    alpha[bad] = np.nan
    K[bad] = np.nan
    return alpha, K


class MSDMethod:
    """One-segment MSD baseline.

    Parameters
    ----------
    max_lag : int
        Largest lag of the fit.
    immobile_K : float
        Below this K the trajectory is called immobile (state 0).
    k_min, k_max : float
        K is clipped into this range.
    """

    name = "msd"

    def __init__(self, max_lag: int = 4, immobile_K: float = 1e-3,
                 k_min: float = 1e-6, k_max: float = 1e6) -> None:
        self.max_lag = max_lag
        self.immobile_K = immobile_K
        self.k_min = k_min
        self.k_max = k_max

    def identity(self) -> dict:
        """The settings that decide :meth:`predict` (recorded beside its output)."""
        return {"max_lag": self.max_lag, "immobile_K": self.immobile_K, "k_min": self.k_min,
                "k_max": self.k_max}

    def predict(self, trajs: pd.DataFrame) -> list[TrajectoryLabel]:
        """Segment labels of every trajectory of a FOV (one segment each)."""
        dense = to_dense(trajs)
        lags = np.arange(1, self.max_lag + 1)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd coordinates: reported
            alpha, K = fit_power_law(tamsd(dense.pos, lags), lags)  # by andi2kit.screen
        alpha = np.clip(np.nan_to_num(alpha, nan=1.0), 0.0, 2.0)
        K = np.clip(np.nan_to_num(K, nan=self.k_min), self.k_min, self.k_max)
        state = np.where(K < self.immobile_K, 0, 2)
        return [
            TrajectoryLabel(idx=int(i), K=[k], alpha=[a], state=[s], cp=[], T=int(t))
            for i, k, a, s, t in zip(dense.idx, K, alpha, state, dense.length, strict=True)
        ]

    def ensemble(self, labels: list[TrajectoryLabel]) -> EnsembleLabel:
        """One Gaussian of the experiment's estimates."""
        return single_gaussian(labels)
