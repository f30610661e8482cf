"""Next-step prediction of fractional Brownian motion (the challenge's motion model).

A segment of an AnDi 2 trajectory is fBm with anomalous exponent ``alpha`` and generalised
diffusion coefficient ``K``: per axis, ``<(x(t + tau) - x(t))**2> = 2 K tau**alpha``. Its
increments are fractional Gaussian noise, whose autocovariance at lag ``k`` is
``K (|k + 1|**alpha - 2 |k|**alpha + |k - 1|**alpha)``; a localisation error of standard
deviation ``sigma`` on every position adds ``2 sigma**2`` at lag 0 and ``-sigma**2`` at
lag 1. Given a particle's last increments, the next one is Gaussian with the conditional mean
and variance below: subdiffusive particles are pulled back towards where they came from,
superdiffusive ones keep going.
"""

from __future__ import annotations

import numpy as np

__all__ = ["increment_autocovariance", "predict_increment"]


def increment_autocovariance(alpha: np.ndarray, K: np.ndarray, lags: np.ndarray,
                             sigma: float = 0.0) -> np.ndarray:
    """Per-axis autocovariance of observed fBm increments.

    Parameters
    ----------
    alpha, K : numpy.ndarray
        ``(n,)`` anomalous exponents (0 < alpha < 2) and generalised diffusion coefficients
        (px² / frame**alpha).
    lags : numpy.ndarray
        Integer lags, any shape.
    sigma : float
        Localisation error of each position (px).

    Returns
    -------
    numpy.ndarray
        ``(n, *lags.shape)``.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    lag = np.abs(np.asarray(lags, dtype=np.float64))
    a = alpha.reshape(alpha.shape + (1,) * lag.ndim)
    k = K.reshape(K.shape + (1,) * lag.ndim)
    cov = k * (np.abs(lag + 1) ** a - 2 * lag ** a + np.abs(lag - 1) ** a)
    return cov + np.where(lag == 0, 2 * sigma ** 2, 0.0) - np.where(lag == 1, sigma ** 2, 0.0)


def predict_increment(past: np.ndarray, alpha: np.ndarray, K: np.ndarray,
                      sigma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Conditional mean and per-axis variance of the next increment.

    Parameters
    ----------
    past : numpy.ndarray
        ``(n, k, 2)`` the last ``k`` increments of each particle (consecutive frames, oldest
        first); ``k`` may be 0.
    alpha, K : numpy.ndarray
        ``(n,)`` motion parameters of each particle.
    sigma : float
        Localisation error (px).

    Returns
    -------
    mean : numpy.ndarray
        ``(n, 2)``.
    var : numpy.ndarray
        ``(n,)`` per-axis variance (both axes are independent and alike).
    """
    past = np.asarray(past, dtype=np.float64)
    n, k = past.shape[:2]
    idx = np.arange(k + 1)
    cov = increment_autocovariance(alpha, K, idx[:, None] - idx[None, :], sigma)
    if k == 0:
        return np.zeros((n, 2)), cov[:, 0, 0]
    # Gaussian conditioning of increment k on increments 0..k-1
    c_past = cov[:, :k, :k] + 1e-9 * np.eye(k)
    c_next = cov[:, :k, k]
    w = np.linalg.solve(c_past, c_next[..., None])[..., 0]
    mean = np.einsum("nk,nkd->nd", w, past)
    var = cov[:, k, k] - np.einsum("nk,nk->n", w, c_next)
    return mean, np.maximum(var, 1e-9)
