"""Detection: normalised frames → trackpy candidates → joint Gaussian refinement."""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pandas as pd

from andi2kit.tracking.params import ANDI_PSF_SIGMA, TrackingParams
from andi2kit.tracking.split import split_pairs


def preprocess(frames: np.ndarray, pad: int = TrackingParams.pad) -> np.ndarray:
    """Normalise intensities and extend the borders of movie frames.

    Each frame of a challenge video was divided by its own maximum before the 8-bit
    conversion, so raw grey levels are not comparable between frames. Here each frame's
    background (median) is subtracted and the result divided by the background noise (a
    robust standard deviation), then the frame is extended by ``pad`` pixels of background on
    every side so that particles on the border are detected.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` or ``(height, width)`` images.
    pad : int
        Border extension in pixels. Coordinates found in the output are shifted by ``pad``.

    Returns
    -------
    numpy.ndarray
        float32 frames, shape ``(n, height + 2 pad, width + 2 pad)`` (or 2-D for one frame).
    """
    arr = np.asarray(frames, dtype=np.float32)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"frames must be 2-D or 3-D, got shape {arr.shape}")
    flat = arr.reshape(arr.shape[0], -1)
    bg = np.median(flat, axis=1)
    # the lower half of the pixels is background only; its spread gives the noise without
    # the particles' tails (8-bit quantisation makes the plain MAD jump in steps)
    low = np.where(flat <= bg[:, None], flat, np.nan)
    noise = np.sqrt(np.nanmean((low - bg[:, None]) ** 2, axis=1))
    noise = np.where(np.isfinite(noise) & (noise > 0), noise, 1.0)
    out = (arr - bg[:, None, None]) / noise[:, None, None]
    if pad:
        out = np.pad(out, ((0, 0), (pad, pad), (pad, pad)), mode="constant")
    return out[0] if single else out


def locate(frames: np.ndarray, params: TrackingParams = TrackingParams(),
           first_frame: int = 0) -> pd.DataFrame:
    """Find particles in preprocessed frames with trackpy (numba engine).

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` frames from :func:`preprocess` (with ``params.pad``).
    params : TrackingParams
        Detection settings.
    first_frame : int
        Frame number of ``frames[0]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``y`` (row), ``x`` (column) in the coordinates of the frames before
        padding, ``mass`` and ``frame``.
    """
    import trackpy as tp

    tp.quiet()
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "image is completely black", "no maxima found"
        feats = tp.batch(
            frames, params.diameter, minmass=params.minmass, separation=params.separation,
            percentile=params.percentile, threshold=params.threshold,
            noise_size=params.noise_size, max_iterations=params.max_iterations,
            characterize=False, processes=1, engine="numba",
        )
    # trackpy adds a second 'frame' column when given a plain array
    feats = feats.loc[:, ~feats.columns.duplicated()].reset_index(drop=True)
    if feats.empty:
        feats = pd.DataFrame({"y": [], "x": [], "mass": [], "frame": []})
    feats = feats.loc[:, ["y", "x", "mass", "frame"]].astype(
        {"y": np.float64, "x": np.float64, "mass": np.float64, "frame": np.int64})
    if params.refine:
        feats = refine(frames, feats, params)
    feats["y"] -= params.pad
    feats["x"] -= params.pad
    feats["frame"] += first_frame
    return feats.reset_index(drop=True)


# Joint Gaussian refinement ------------------------------------------------------------------
# trackpy's centroids are pulled towards a close neighbour (and one of two close particles is
# dropped as a duplicate). Here every spot is a Gaussian of the PSF's width; each spot's
# amplitude and position are fitted (Gauss-Newton) to the frame minus the model of all the
# other spots, sweeping over the spots a few times. A spot as bright as two particles is tried
# as two (tracking.split); then the residual is searched for peaks that were hidden beside a
# brighter neighbour, and the sweeps are repeated with them.

# A spot is drawn in a box of half-size 3.75 σ (at least 3 px): its light beyond is < 1e-3.
_BOX_WIDTHS = 3.75


@numba.njit(cache=True, nogil=True)
def _render(model, r, c, a, sigma, sign):  # pragma: no cover - compiled
    h, w = model.shape
    box = max(3, int(np.ceil(_BOX_WIDTHS * sigma)))
    r0, c0 = int(np.floor(r + 0.5)), int(np.floor(c + 0.5))
    inv = 1.0 / (2.0 * sigma * sigma)
    for i in range(max(r0 - box, 0), min(r0 + box + 1, h)):
        for j in range(max(c0 - box, 0), min(c0 + box + 1, w)):
            model[i, j] += sign * a * np.exp(-((i - r) ** 2 + (j - c) ** 2) * inv)


@numba.njit(cache=True, nogil=True)
def _fit_frame(img, pos, amp, sigma, half, sweeps, max_shift):  # pragma: no cover - compiled
    h, w = img.shape
    n = pos.shape[0]
    model = np.zeros((h, w))
    start = pos.copy()
    for k in range(n):
        _render(model, pos[k, 0], pos[k, 1], amp[k], sigma, 1.0)
    inv2 = 1.0 / (sigma * sigma)
    for _ in range(sweeps):
        for k in range(n):
            r, c, a = pos[k, 0], pos[k, 1], amp[k]
            _render(model, r, c, a, sigma, -1.0)  # the others' model stays in `model`
            r0, c0 = int(np.floor(r + 0.5)), int(np.floor(c + 0.5))
            for _it in range(2):  # Gauss-Newton on (amplitude, row, col)
                jtj = np.zeros((3, 3))
                jtr = np.zeros(3)
                for i in range(max(r0 - half, 0), min(r0 + half + 1, h)):
                    for j in range(max(c0 - half, 0), min(c0 + half + 1, w)):
                        dr, dc = i - r, j - c
                        g = np.exp(-(dr * dr + dc * dc) * 0.5 * inv2)
                        res = img[i, j] - model[i, j] - a * g
                        jac = (g, a * g * dr * inv2, a * g * dc * inv2)
                        for u in range(3):
                            jtr[u] += jac[u] * res
                            for v in range(3):
                                jtj[u, v] += jac[u] * jac[v]
                det = np.linalg.det(jtj)
                if not np.isfinite(det) or abs(det) < 1e-12:
                    break
                step = np.linalg.solve(jtj, jtr)
                a = max(a + step[0], 1e-3)
                r += min(max(step[1], -0.5), 0.5)
                c += min(max(step[2], -0.5), 0.5)
            # a spot may not wander off to another particle
            dr, dc = r - start[k, 0], c - start[k, 1]
            dist = np.sqrt(dr * dr + dc * dc)
            if dist > max_shift:
                r = start[k, 0] + dr * max_shift / dist
                c = start[k, 1] + dc * max_shift / dist
            pos[k, 0], pos[k, 1], amp[k] = r, c, a
            _render(model, r, c, a, sigma, 1.0)
    return model


def refine_frame(image: np.ndarray, pos: np.ndarray, params: TrackingParams = TrackingParams()
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Jointly refine the spots of one preprocessed frame (see the comment above).

    Parameters
    ----------
    image : numpy.ndarray
        2-D preprocessed frame (background 0, noise 1).
    pos : numpy.ndarray
        ``(n, 2)`` initial ``(row, col)`` positions in ``image``'s pixels.
    params : TrackingParams
        ``psf_sigma``, ``fit_radius``, ``fit_sweeps``, ``min_amplitude``, ``residual_peak``.

    Returns
    -------
    pos : numpy.ndarray
        ``(m, 2)`` refined positions (spots that faded away are dropped, spots found in the
        residual are added).
    amp : numpy.ndarray
        ``(m,)`` fitted peak amplitudes (noise units).
    """
    from scipy import ndimage

    img = np.ascontiguousarray(image, dtype=np.float64)
    pos = np.array(pos, dtype=np.float64).reshape(-1, 2)
    p = params
    r0 = np.clip(np.floor(pos + 0.5).astype(int), 0, np.array(img.shape) - 1)
    amp = np.maximum(img[r0[:, 0], r0[:, 1]], 1e-3)
    def fit(pos: np.ndarray, amp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        model = _fit_frame(img, pos, amp, p.psf_sigma, p.fit_radius, p.fit_sweeps, p.max_shift)
        keep = amp >= p.min_amplitude  # spots that faded away are dropped
        return model, pos[keep], amp[keep]

    for rnd in range(2):
        model, pos, amp = fit(pos, amp)
        if rnd == 0:
            # two particles in one spot (tracking.split), before the residual search would
            # put a spot on either side of the one between them
            n = len(pos)
            pos, amp = split_pairs(img, pos, amp, p)
            if len(pos) > n:
                model, pos, amp = fit(pos, amp)
        if rnd == 1 or p.residual_peak <= 0:
            break
        # matched filter of what the model leaves: a particle hidden beside a neighbour
        res = ndimage.gaussian_filter(img - model, p.psf_sigma)
        peaks = (res == ndimage.maximum_filter(res, size=3)) & (res > p.residual_peak)
        new = np.argwhere(peaks).astype(np.float64)
        if new.size and pos.size:
            d = np.hypot(new[:, None, 0] - pos[None, :, 0], new[:, None, 1] - pos[None, :, 1])
            new = new[d.min(axis=1) > p.psf_sigma / ANDI_PSF_SIGMA]  # 1 px at andi-datasets' width
        if not new.size:
            break
        pos = np.concatenate([pos, new])
        amp = np.concatenate([amp, img[new[:, 0].astype(int), new[:, 1].astype(int)]])
    # two spots fitted onto one particle: keep the brighter
    if len(pos) > 1:
        from scipy.spatial import cKDTree

        drop = set()
        for i, j in sorted(cKDTree(pos).query_pairs(p.min_distance)):
            if i not in drop and j not in drop:
                drop.add(i if amp[i] < amp[j] else j)
        if drop:
            keep = np.setdiff1d(np.arange(len(pos)), list(drop))
            pos, amp = pos[keep], amp[keep]
    return pos, amp


#: How far the fitted Gaussian of :func:`spot_width` must stand above the fit's residual
#: scatter (its height over their standard deviation) to be spots: 71-128 on andi-datasets
#: videos (the densest the least), 330-1050 on sparse synthetic ones, negative on noise.
SPOT_CONTRAST = 10.0
#: Narrowest width :func:`spot_width` reads (px): a narrower autocorrelation peak has no
#: weight at one pixel's lag.
MIN_SPOT_WIDTH = 0.3


def spot_width(frames: np.ndarray, reach: float = 8.0) -> float:
    """The width of a video's spots: the Gaussian σ (px) of its point-spread function.

    The frames' autocorrelation, summed over the frames, holds every spot's light
    correlated with itself: a Gaussian of width σ√2 around zero lag (the noise adds a spike
    at zero lag only, left out; distinct spots add a nearly flat floor). A Gaussian plus a
    constant is fitted to it within ``reach`` px. No detection is needed, so a spot size
    the detector was not set for (which breaks a wide spot into fragments) is measured all
    the same. andi-datasets videos give 0.81–0.86 (their PSF is no Gaussian; the detector's
    :attr:`TrackingParams.psf_sigma` is 0.79); a microscope's own videos may not.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` or ``(height, width)`` frames (:func:`preprocess` output or
        raw: each frame's mean is removed).
    reach : float
        Largest lag fitted (px).

    Returns
    -------
    float
        σ in px (NaN when the fit fails or finds no spots: :data:`SPOT_CONTRAST`,
        :data:`MIN_SPOT_WIDTH`).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> img = sum(40 * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 1.6 ** 2))
    ...           for r, c in [(15.2, 20.6), (40.4, 45.1), (50.7, 12.3)])
    >>> round(spot_width(img), 2)
    1.6
    >>> spot_width(np.random.default_rng(0).normal(size=(4, 64, 64)))  # noise: no spots
    nan
    """
    from scipy.optimize import curve_fit

    frames = np.asarray(frames, dtype=np.float64)
    frames = frames[None] if frames.ndim == 2 else frames
    acc = np.zeros(frames.shape[1:])
    for f in frames:
        spectrum = np.fft.fft2(f - f.mean())
        acc += np.real(np.fft.ifft2(np.abs(spectrum) ** 2))
    acc = np.fft.fftshift(acc)
    centre = np.array(acc.shape) // 2
    yy, xx = np.indices(acc.shape)
    lag = np.hypot(yy - centre[0], xx - centre[1])
    use = (lag > 0.5) & (lag <= reach)

    def model(r, a, s, b):
        return a * np.exp(-r ** 2 / (4 * s ** 2)) + b

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "covariance could not be estimated": judged below
        try:
            (a, s, b), _ = curve_fit(model, lag[use], acc[use],
                                     p0=(acc[use].max(), 1.0, 0.0))
        except (RuntimeError, ValueError):
            return float("nan")
    scatter = np.std(acc[use] - model(lag[use], a, s, b))
    # no spots (noise, blank frames): a Gaussian that does not stand out, or one too narrow to
    # reach the first lag (fitted to noise there)
    if not (a > SPOT_CONTRAST * scatter and abs(s) >= MIN_SPOT_WIDTH):
        return float("nan")
    return float(abs(s))


def refine(frames: np.ndarray, features: pd.DataFrame,
           params: TrackingParams = TrackingParams(), first_frame: int = 0) -> pd.DataFrame:
    """Refine trackpy's features frame by frame with :func:`refine_frame`.

    Parameters
    ----------
    frames : numpy.ndarray
        The preprocessed frames the features were found in.
    features : pandas.DataFrame
        ``y, x, frame`` in padded-frame pixels (trackpy's output).
    params : TrackingParams
        Settings.
    first_frame : int
        Frame number of ``frames[0]``.

    Returns
    -------
    pandas.DataFrame
        ``y, x, mass, frame`` (``mass``: the fitted amplitude), padded-frame pixels.
    """
    parts = []
    by_frame = {int(k): g for k, g in features.groupby("frame")}
    for i, img in enumerate(frames):
        g = by_frame.get(i + first_frame)
        start = g[["y", "x"]].to_numpy() if g is not None else np.zeros((0, 2))
        pos, amp = refine_frame(img, start, params)
        parts.append(pd.DataFrame({"y": pos[:, 0], "x": pos[:, 1], "mass": amp,
                                   "frame": i + first_frame}))
    return pd.concat(parts, ignore_index=True) if parts else features.iloc[:0]
