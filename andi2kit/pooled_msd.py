"""A state's α from the MSD pooled over all its segments, where the per-frame model is biased.

Two kinds of states get an α from the per-frame model that is off by the same amount for all
their segments, so that the experiment's pooling (:mod:`andi2kit.pooling`) cannot remove it:

* **slow states**, whose K is near the localisation noise (σ² = 0.0144 px²,
  :data:`LOCALISATION_NOISE`): they move per frame about as far as the noise does and the
  model's α drifts towards 1 (on the ``wide`` tuning seed, slow states of α 1.43 and 1.37 came
  out 1.16 and 1.13 on average);
* **states of α near 2**, which the model estimates low (−0.03 to −0.10 for α 1.9–2), just
  under andi-datasets' line between free and directed motion (α 1.9).

The MSD of one short segment says little, but the MSD pooled over all the segments of the
state, fitted with the known noise as an offset, ``MSD(τ) = 4 K τ^α + 4 σ²``, measures the
state's α without that bias. :class:`PooledMsd` finds the experiment's states as the pooling
does (a Gaussian mixture on the segments' α and log10 K), fits the pooled MSD of each state
whose K is below ``max_K`` or whose α is at least ``high_alpha``, and shifts the α of its free
and directed segments by the difference between the fitted α and the state's mean α: what
the segments say about their own differences stays. A fit whose K disagrees with the state's
by more than ``K_ratio`` (segments of another state mixed in) changes nothing — compared, with
``check_noise``, on K plus the noise's variance, since the segments' K of a state that moves
less than the noise is several times the truth and the fit's is not; immobile
segments, whose MSD is the noise's, are left alone, and so are confined ones, whose MSD bends
at the compartment's size, except in slow states (``slow_confined``): a particle that moves
about as far as the noise per frame has not felt the walls of a compartment of radius ≥ 1.5
px by lag 8 (andi-datasets labels a confined segment with the α of its motion inside). The
U-Net method applies it to the pooled segments and to the unpooled ones its ensemble is built
from (a shift of a state's mean, unlike the pooling's shrinkage, moves the ensemble's state
means the right way).

The settings were chosen on the tuning seed 0 of the ``challenge``, ``wide`` and
``directed`` presets (``segmentation.json`` of the default checkpoint says with which
numbers). The noise is that of the public Track 2 trajectories; positions tracked in videos
carry another, and the pipeline does not use this step on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from andi2kit.constants import CONFINED, DIRECTED, FREE, LOCALISATION_NOISE
from andi2kit.ensemble import fit_mixture, segment_features, segment_table
from andi2kit.labels import TrajectoryLabel

#: Fewest segments whose pooled MSD is fitted.
MIN_SEGMENTS = 5


def displacement_sums(pos: np.ndarray, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and number of the squared displacements of each trajectory at the given lags.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n, T, 2)`` positions, NaN where absent (a pair with a NaN end is not counted).
    lags : numpy.ndarray
        Positive integer lags.

    Returns
    -------
    sums, counts : numpy.ndarray
        ``(n, len(lags))`` each.

    See Also
    --------
    andi2kit.methods.msd.tamsd : each trajectory's own MSD from these sums.

    Examples
    --------
    >>> sums, counts = displacement_sums(np.array([[[0., 0.], [1., 0.], [3., 0.]]]),
    ...                                  np.array([1, 2, 3]))
    >>> sums.tolist(), counts.tolist()
    ([[5.0, 9.0, 0.0]], [[2.0, 1.0, 0.0]])
    """
    sums = np.zeros((pos.shape[0], len(lags)))
    counts = np.zeros((pos.shape[0], len(lags)))
    for j, lag in enumerate(lags):
        if lag >= pos.shape[1]:
            continue
        sq = np.sum((pos[:, lag:] - pos[:, :-lag]) ** 2, axis=-1)
        counts[:, j] = np.sum(~np.isnan(sq), axis=1)
        sums[:, j] = np.nansum(sq, axis=1)
    return sums, counts


def _trimmed(pieces: Sequence[np.ndarray], trim: int) -> list[np.ndarray]:
    """``(n_i, 2)`` positions of each piece without ``trim`` frames at each end (pieces of at
    most ``2 * trim + 2`` frames kept whole)."""
    return [xy[trim:len(xy) - trim] if len(xy) > 2 * trim + 2 else xy
            for xy in (np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in pieces)]


def msd_of_segments(pieces: Sequence[np.ndarray], max_lag: int, trim: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean squared displacement at lags ``1..max_lag`` over all displacements of ``pieces``.

    Parameters
    ----------
    pieces : sequence of numpy.ndarray
        ``(n_i, 2)`` positions of each segment.
    max_lag : int
        Largest lag, frames.
    trim : int
        Frames left out at each end of a segment longer than ``2 * trim + 2`` (the frames
        a misplaced change point gives to the neighbouring state).

    Returns
    -------
    lags, msd, counts : numpy.ndarray
        The lags with at least one displacement, the MSD there and the number of
        displacements behind it.

    Examples
    --------
    >>> lags, msd, n = msd_of_segments([np.array([[0., 0.], [1., 0.], [2., 0.]])], 3)
    >>> lags.tolist(), msd.tolist(), n.tolist()
    ([1, 2], [1.0, 4.0], [2.0, 1.0])
    """
    trimmed = _trimmed(pieces, trim)
    padded = np.full((len(trimmed), max((len(xy) for xy in trimmed), default=0), 2), np.nan)
    for row, xy in zip(padded, trimmed, strict=True):
        row[:len(xy)] = xy
    lags = np.arange(1, max_lag + 1)
    sums, counts = (v.sum(axis=0) for v in displacement_sums(padded, lags))
    ok = counts > 0
    return lags[ok], sums[ok] / counts[ok], counts[ok]


def median_msd_of_segments(pieces: Sequence[np.ndarray], max_lag: int, trim: int = 0
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`msd_of_segments` with the median squared displacement over ln 2 in place of the
    mean: the same value for Gaussian displacements (a 2-D squared length is its mean times
    an exponential variable), hardly moved by a few frames of a faster state inside the
    segments.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> walk = np.cumsum(rng.normal(0, 1, (2000, 2)), axis=0)  # MSD(1) = 2 per axis: 2
    >>> lags, msd, n = median_msd_of_segments([walk], 2)
    >>> [round(float(v), 1) for v in msd / lags]
    [2.0, 2.0]
    """
    trimmed = _trimmed(pieces, trim)
    lags, msd, counts = [], [], []
    for lag in range(1, max_lag + 1):
        d = [np.sum((xy[lag:] - xy[:-lag]) ** 2, axis=1) for xy in trimmed if len(xy) > lag]
        d = np.concatenate(d) if d else np.zeros(0)
        d = d[np.isfinite(d)]
        if d.size:
            lags.append(lag)
            msd.append(np.median(d) / np.log(2))
            counts.append(d.size)
    return np.array(lags, dtype=np.int64), np.array(msd), np.array(counts, dtype=np.float64)


def fit_noisy_msd(lags: np.ndarray, msd: np.ndarray, counts: np.ndarray,
                  noise: float = LOCALISATION_NOISE) -> tuple[float, float]:
    """α and K of ``MSD(τ) = 4 K τ^α + 4 noise²`` (2-D), fitted on the log scale.

    Lags are weighted by the square root of their share of displacements. α is kept in
    ``[0, 2]``.

    Examples
    --------
    >>> lags = np.arange(1, 9)
    >>> msd = 4 * 0.01 * lags ** 1.5 + 4 * 0.12 ** 2
    >>> [round(v, 3) for v in fit_noisy_msd(lags, msd, np.ones(8))]
    [1.5, 0.01]
    """
    from scipy.optimize import least_squares

    lags, msd, counts = (np.asarray(v, dtype=np.float64) for v in (lags, msd, counts))
    ok = msd > 0
    lags, msd, w = lags[ok], msd[ok], np.sqrt(counts[ok] / counts[ok].max())

    def residual(p: np.ndarray) -> np.ndarray:
        alpha, log_k = p
        return w * (np.log(msd) - np.log(4 * 10 ** log_k * lags ** alpha + 4 * noise ** 2))

    fit = least_squares(residual, [1.0, -2.0], bounds=([0.0, -6.0], [2.0, 2.0]))
    return float(fit.x[0]), float(10 ** fit.x[1])


@dataclass(frozen=True)
class PooledMsd:
    """Settings of the pooled-MSD α of slow and near-ballistic states (``segmentation.json``).

    Attributes
    ----------
    max_K : float
        States whose mean K (px²/frame^α) is below this are fitted.
    high_alpha : float
        States whose mean α is at least this are fitted too, whatever their K.
    max_lag : int
        Largest lag of the pooled MSD.
    trim : int
        Frames left out at each end of a segment (:func:`msd_of_segments`).
    min_length : int
        Shorter segments are corrected but not fitted.
    K_ratio : float
        The fit is used only when its K is within this factor of the state's.
    max_states : int
        Largest number of mixture components (BIC chooses).
    noise : float
        Localisation noise σ of the positions, px.
    slow_confined : bool
        Fit and shift the confined segments of a slow state with its free ones.
    median : bool
        Pool the median-based MSD (:func:`median_msd_of_segments`) instead of the mean.
    check_noise : bool
        Compare the fit with the state on K plus the noise's variance (the MSD at lag 1 over
        4) rather than on K: the U-Net cannot take the noise out of a state that moves less
        than it (its K comes out several times the truth), the fit with the noise as an
        offset can; for states well above the noise the two checks agree.
    shift_own_K : bool
        Shift only the segments whose own K is within ``K_ratio`` of the state's (on K plus
        the noise's variance with ``check_noise``): the mixture can give a state a segment of
        another (a short fast piece cut from a dimer's bound run, taking the slow state's
        shift: docs/results-log.md, *Dimers whose bound pairs move faster*).

    Examples
    --------
    >>> PooledMsd.from_dict(PooledMsd(max_K=0.05).to_dict()).max_K
    0.05
    """

    max_K: float = 0.03
    high_alpha: float = 1.7
    max_lag: int = 8
    trim: int = 2
    min_length: int = 10
    K_ratio: float = 2.0
    max_states: int = 3
    noise: float = LOCALISATION_NOISE
    slow_confined: bool = True
    median: bool = False
    check_noise: bool = False
    shift_own_K: bool = False

    def __post_init__(self) -> None:
        if self.max_K <= 0 or self.high_alpha <= 0 or self.K_ratio <= 1 or self.noise < 0:
            raise ValueError("pooled_msd needs max_K > 0, high_alpha > 0, K_ratio > 1 and "
                             "noise >= 0")
        if self.max_lag < 2 or self.trim < 0 or self.min_length < 2 or self.max_states < 1:
            raise ValueError("pooled_msd needs max_lag >= 2, trim >= 0, min_length >= 2 "
                             "and max_states >= 1")
        for name in ("slow_confined", "median", "check_noise", "shift_own_K"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"pooled_msd {name} must be true or false, got "
                                 f"{getattr(self, name)!r}")

    def __call__(self, labels: Sequence[TrajectoryLabel],
                 positions: Sequence[np.ndarray]) -> list[TrajectoryLabel]:
        """Correct the α of one experiment's slow and near-ballistic states.

        Parameters
        ----------
        labels : sequence of TrajectoryLabel
            All the experiment's (pooled) trajectories.
        positions : sequence of numpy.ndarray
            ``(T, 2)`` positions of each trajectory, in the order of ``labels``.

        Returns
        -------
        list of TrajectoryLabel
            Same trajectories, change points, states and K; α corrected.
        """
        if len(labels) != len(positions):
            raise ValueError(f"{len(labels)} trajectories but {len(positions)} position arrays")
        seg = segment_table(labels)
        if seg.shape[0] < MIN_SEGMENTS:
            return list(labels)
        x = segment_features(seg)
        length = np.maximum(seg[:, 3], 1.0)
        comp = fit_mixture(x, length, self.max_states).predict(x)
        pieces = [xy[lo:hi] for lab, xy in zip(labels, positions, strict=True)
                  for lo, hi in zip(np.concatenate(([0], lab.cp)),
                                    np.concatenate((lab.cp, [lab.T])), strict=True)]
        states = seg[:, 2].astype(int)
        moving = np.isin(states, (FREE, DIRECTED))
        alpha = seg[:, 0].copy()
        pool = median_msd_of_segments if self.median else msd_of_segments
        var = self.noise ** 2 if self.check_noise else 0.0  # added to both sides of the K check

        def agrees(K: np.ndarray | float, state_K: float) -> np.ndarray | bool:
            ratio = (K + var) / (state_K + var)
            return (1 / self.K_ratio < ratio) & (ratio < self.K_ratio)

        for c in np.unique(comp):
            sel = comp == c
            state_K = 10 ** np.average(x[sel, 1], weights=length[sel])
            state_alpha = np.average(x[sel, 0], weights=length[sel])
            slow = state_K < self.max_K
            use = moving | (states == CONFINED) if slow and self.slow_confined else moving
            fitted = np.flatnonzero(sel & use & (length >= self.min_length))
            if not (slow or state_alpha >= self.high_alpha) or fitted.size < MIN_SEGMENTS:
                continue
            lags, msd, n = pool([pieces[i] for i in fitted], self.max_lag, self.trim)
            if lags.size < 2:
                continue
            a, k = fit_noisy_msd(lags, msd, n, self.noise)
            if not agrees(k, state_K):
                continue
            shift = sel & use
            if self.shift_own_K:
                shift &= agrees(10 ** x[:, 1], state_K)
            alpha[shift] = np.clip(alpha[shift] + a - state_alpha, 0.0, 2.0)
        out, k = [], 0
        for lab in labels:
            n = lab.alpha.size
            out.append(replace(lab, alpha=alpha[k:k + n].copy()))
            k += n
        return out

    def to_dict(self) -> dict:
        """Plain dictionary (for ``segmentation.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PooledMsd:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)
