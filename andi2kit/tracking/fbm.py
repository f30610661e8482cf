"""Next-step prediction of fractional Brownian motion (the challenge's motion model).

A segment of an AnDi 2 trajectory is fBm with anomalous exponent ``alpha`` and generalised
diffusion coefficient ``K``: per axis, ``<(x(t + tau) - x(t))**2> = 2 K tau**alpha``. Its
increments are fractional Gaussian noise, whose autocovariance at lag ``k`` is
``K (|k + 1|**alpha - 2 |k|**alpha + |k - 1|**alpha)``; a localisation error of standard
deviation ``sigma`` on every position adds ``2 sigma**2`` at lag 0 and ``-sigma**2`` at
lag 1. Given a particle's last increments and its parameters, the next increment is Gaussian
(conditioning on the past ones); :class:`FbmPredictor` learns the parameters from those same
increments and averages over what it does not know.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FbmPredictor", "increment_autocovariance"]


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


class FbmPredictor:
    """Next increment of a particle whose fBm parameters are learnt from its own steps.

    ``alpha`` gets a discrete prior on a grid, ``K`` a conjugate inverse-gamma prior worth
    ``a0`` increments of diffusivity ``K0``. Given a track's last ``r`` consecutive increments
    (both axes), each grid value has a closed-form evidence and posterior for ``K``; the next
    increment is then a mixture, over the grid, of isotropic bivariate Student t
    distributions (``2 (a0 + r)`` degrees of freedom): a new track is heavy-tailed (its
    diffusivity is unknown), an old one is nearly Gaussian. Subdiffusive evidence pulls the
    prediction back to where the particle jitters, superdiffusive evidence carries it on.

    Parameters
    ----------
    alphas : array_like
        Grid of anomalous exponents (0 < alpha < 2).
    prior : array_like
        Prior weights of the grid values.
    K0 : float
        Prior diffusivity (px²/frame**alpha).
    a0 : float
        Its weight in increments (> 0).
    floor : float
        Smallest per-axis squared scale of a prediction (px²): the localisation error.
    """

    def __init__(self, alphas, prior, K0: float, a0: float, floor: float) -> None:
        self.alphas = np.asarray(alphas, dtype=np.float64)
        self.log_prior = np.log(np.asarray(prior, dtype=np.float64) / np.sum(prior))
        self.a0, self.b0, self.floor = float(a0), float(a0) * float(K0), float(floor)
        self._cache: dict[int, tuple[np.ndarray, ...]] = {}

    def _matrices(self, r: int) -> tuple[np.ndarray, ...]:
        if r not in self._cache:
            i = np.arange(r + 1)
            cov = increment_autocovariance(self.alphas, np.ones_like(self.alphas),
                                           i[:, None] - i[None, :])
            c_past, c_next = cov[:, :r, :r], cov[:, :r, r]
            inv = np.linalg.inv(c_past)
            w = np.einsum("mij,mj->mi", inv, c_next)
            var = cov[:, r, r] - np.einsum("mi,mi->m", w, c_next)
            self._cache[r] = (inv, w, var, np.linalg.slogdet(c_past)[1])
        return self._cache[r]

    def predict(self, past: np.ndarray, gap: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Predictive mixture of the increment after the ``past`` ones.

        Parameters
        ----------
        past : numpy.ndarray
            ``(n, r, 2)`` consecutive increments, oldest first (``r`` may be 0).
        gap : numpy.ndarray, optional
            ``(n,)`` frames to the predicted position (default 1). After a gap the increment
            is predicted as zero-mean with the fBm displacement variance over ``gap`` frames.

        Returns
        -------
        mean : numpy.ndarray
            ``(n, m, 2)`` per grid value.
        scale2 : numpy.ndarray
            ``(n, m)`` per-axis squared scales.
        weight : numpy.ndarray
            ``(n, m)`` posterior weights of the grid values.
        dof : numpy.ndarray
            ``(n, m)`` degrees of freedom.
        """
        past = np.asarray(past, dtype=np.float64)
        n, r = past.shape[:2]
        m = self.alphas.size
        gap = np.ones(n) if gap is None else np.asarray(gap, dtype=np.float64)
        if r == 0:
            quad, logdet = np.zeros((n, m)), np.zeros(m)
            mean, var = np.zeros((n, m, 2)), np.full(m, 2.0)
        else:
            inv, w, var, logdet = self._matrices(r)
            xs = np.moveaxis(past, 2, 0)  # (2, n, r): one matrix product per axis
            quad = np.sum((xs[:, None] @ inv[None]) * xs[:, None], axis=(0, 3)).T
            mean = np.moveaxis(xs @ w.T, 0, 2)  # (n, m, 2)
        a_n = self.a0 + r
        b_n = self.b0 + quad / 2
        log_w = (self.log_prior - logdet)[None, :] - a_n * np.log(b_n)
        weight = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        weight /= weight.sum(axis=1, keepdims=True)
        later = gap > 1
        unit_var = np.where(later[:, None], 2 * gap[:, None] ** self.alphas[None, :],
                            var[None, :])
        mean = np.where(later[:, None, None], 0.0, mean)
        scale2 = np.maximum(b_n / a_n * unit_var, self.floor)
        return mean, scale2, weight, np.full((n, m), 2 * a_n)
