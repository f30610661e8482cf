"""Two particles in one spot: a bright spot fitted again as two Gaussians.

Two particles closer than about twice the PSF's width make one blob with one maximum:
trackpy finds one feature there, and the joint fit (:func:`~andi2kit.tracking.detect.
refine_frame`) one spot between them, brighter than a particle. Its residual search finds the
partner where the spots are narrow (andi-datasets' videos: of particles 2–3 px from another, 99
% are detected within 1 px), not where they are wide: at a spot width of 1.64 px, 16 % at
2–3 px and 50 % at 3–4 px (``data/wide-psf8``, every particle of every other FOV).

:func:`split_pairs` fits each spot at least :data:`SPLIT_BRIGHTNESS` times as bright as its
frame's median spot again as two Gaussians of the PSF's width (Gauss–Newton on both at once,
seeded along the blob's long axis, the other spots' light taken out), and puts the two in its
place when the squared residual (noise units) drops by at least ``split_gain`` and the two lie
at least ``split_min`` px apart: closer halves are a coin toss for the linker (measured on
andi-datasets' videos, where all such pairs are closer than 1.5 px).
"""

from __future__ import annotations

import numpy as np

from andi2kit.tracking.params import TrackingParams

__all__ = ["SPLIT_BRIGHTNESS", "fit_two", "split_pairs"]

#: A spot is tried as two when it is this many times as bright as the frame's median spot
#: (a single particle's fitted amplitude reaches 1.26 times its frame's median at the 99.9th
#: percentile on the challenge tuning seed; two particles in one spot about 1.6–2).
SPLIT_BRIGHTNESS = 1.3
#: Gauss–Newton iterations of the two-Gaussian fit, and the largest move per iteration (px).
SPLIT_ITERATIONS, SPLIT_STEP = 12, 0.5


def _gauss(yy: np.ndarray, xx: np.ndarray, r: float, c: float, inv2: float) -> np.ndarray:
    return np.exp(-((yy - r) ** 2 + (xx - c) ** 2) * 0.5 * inv2)


def fit_two(patch: np.ndarray, yy: np.ndarray, xx: np.ndarray, seeds: np.ndarray,
            amps: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit two Gaussians of width ``sigma`` to ``patch`` (pixel coordinates ``yy``, ``xx``).

    Returns
    -------
    pos : numpy.ndarray
        ``(2, 2)`` fitted ``(row, col)``.
    amp : numpy.ndarray
        ``(2,)`` fitted amplitudes.
    rss : float
        Sum of squared residuals.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:15, 0:15].astype(float)
    >>> img = sum(10 * np.exp(-((yy - 7) ** 2 + (xx - c) ** 2) / (2 * 1.6 ** 2))
    ...           for c in (5.5, 9.0))
    >>> pos, amp, rss = fit_two(img, yy, xx, np.array([[7.0, 6.0], [7.0, 8.0]]),
    ...                         np.array([6.0, 6.0]), 1.6)
    >>> np.round(pos[:, 1], 2).tolist(), np.round(amp, 1).tolist(), rss < 1e-6
    ([5.5, 9.0], [10.0, 10.0], True)
    """
    inv2 = 1.0 / (sigma * sigma)
    pos, amp = seeds.astype(np.float64).copy(), amps.astype(np.float64).copy()
    y, x, z = yy.ravel(), xx.ravel(), patch.ravel()
    for _ in range(SPLIT_ITERATIONS):
        cols, fit = [], np.zeros_like(z)
        for k in range(2):
            g = _gauss(y, x, pos[k, 0], pos[k, 1], inv2)
            fit += amp[k] * g
            cols += [g, amp[k] * g * (y - pos[k, 0]) * inv2, amp[k] * g * (x - pos[k, 1]) * inv2]
        jac = np.stack(cols, axis=1)
        jtj = jac.T @ jac
        jtj += 1e-6 * np.diag(np.diag(jtj)) + 1e-12 * np.eye(6)
        try:
            step = np.linalg.solve(jtj, jac.T @ (z - fit))
        except np.linalg.LinAlgError:
            break
        step = step.reshape(2, 3)
        amp = np.maximum(amp + step[:, 0], 1e-3)
        pos += np.clip(step[:, 1:], -SPLIT_STEP, SPLIT_STEP)
    fit = sum(amp[k] * _gauss(y, x, pos[k, 0], pos[k, 1], inv2) for k in range(2))
    return pos, amp, float(np.sum((z - fit) ** 2))


def split_pairs(image: np.ndarray, pos: np.ndarray, amp: np.ndarray,
                params: TrackingParams = TrackingParams()) -> tuple[np.ndarray, np.ndarray]:
    """Spots of a frame with every spot that holds two particles split in two.

    Parameters
    ----------
    image : numpy.ndarray
        2-D preprocessed frame (background 0, noise 1).
    pos, amp : numpy.ndarray
        ``(n, 2)`` fitted ``(row, col)`` and ``(n,)`` amplitudes of its spots.
    params : TrackingParams
        ``split_gain`` (0: nothing is split), ``split_min``, ``psf_sigma``, ``fit_radius``,
        ``min_amplitude``.

    Returns
    -------
    pos, amp : numpy.ndarray
        The spots, each split one replaced by its two halves (appended at the end).

    See Also
    --------
    andi2kit.tracking.detect.refine_frame : fits the spots jointly again afterwards.
    """
    p = params
    if p.split_gain <= 0 or len(pos) < 1:
        return pos, amp
    sigma = p.psf_sigma
    inv2 = 1.0 / (sigma * sigma)
    half = int(p.fit_radius + np.ceil(sigma))
    reach = half + 4.0 * sigma  # spots whose light reaches the window
    median = float(np.median(amp))
    h, w = image.shape
    drop, new_pos, new_amp = [], [], []
    for k in np.flatnonzero(amp >= SPLIT_BRIGHTNESS * median):
        r0, c0 = int(np.floor(pos[k, 0] + 0.5)), int(np.floor(pos[k, 1] + 0.5))
        rows = slice(max(r0 - half, 0), min(r0 + half + 1, h))
        cols = slice(max(c0 - half, 0), min(c0 + half + 1, w))
        yy, xx = np.mgrid[rows, cols].astype(np.float64)
        patch = image[rows, cols].astype(np.float64)
        near = np.flatnonzero(np.max(np.abs(pos - pos[k]), axis=1) <= reach)
        for j in near[near != k]:  # the other spots' light taken out
            patch = patch - amp[j] * _gauss(yy, xx, pos[j, 0], pos[j, 1], inv2)
        one = np.sum((patch - amp[k] * _gauss(yy, xx, pos[k, 0], pos[k, 1], inv2)) ** 2)
        # seeds along the blob's long axis (the principal axis of its positive light)
        wgt = np.maximum(patch, 0.0)
        if wgt.sum() <= 0:
            continue
        dy, dx = yy - pos[k, 0], xx - pos[k, 1]
        cov = np.array([[np.sum(wgt * dy * dy), np.sum(wgt * dy * dx)],
                        [np.sum(wgt * dy * dx), np.sum(wgt * dx * dx)]]) / wgt.sum()
        axis = np.linalg.eigh(cov)[1][:, -1]
        off = max(sigma, 1.0) * axis
        seeds = np.array([pos[k] + off, pos[k] - off])
        two_pos, two_amp, two = fit_two(patch, yy, xx, seeds, np.full(2, 0.6 * amp[k]), sigma)
        inside = np.all(np.abs(two_pos - pos[k]) <= half)
        if (one - two >= p.split_gain and inside and two_amp.min() >= p.min_amplitude
                and np.hypot(*(two_pos[0] - two_pos[1])) >= p.split_min):
            drop.append(k)
            new_pos.append(two_pos)
            new_amp.append(two_amp)
    if not drop:
        return pos, amp
    keep = np.setdiff1d(np.arange(len(pos)), drop)
    return (np.concatenate([pos[keep], *new_pos]), np.concatenate([amp[keep], *new_amp]))
