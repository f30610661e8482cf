"""Track 1: from a challenge video to the trajectories of its VIP particles.

A functional pipeline in trackpy's style, with DataFrames as the contract between stages::

    frames = preprocess(video[1:])          # float frames, borders extended
    features = locate(frames, params)       # y, x, mass, frame (one row per detection)
    tracks = link(features, params)         # + particle
    vips = follow_vips(tracks, vip_centroids, ...)

:func:`track_vips` runs the whole chain on a ``videos_fov_<F>.tiff`` file.

Geometry (checked against andi-datasets' renderer, see :mod:`andi2kit.simulate`)
--------------------------------------------------------------------------------
* Page 0 of the video is the VIP frame; page ``p >= 1`` is trajectory frame ``p - 1``.
* The renderer puts a trajectory's ``x`` on the image **rows** and ``y`` on the **columns**,
  pixel centres at integer coordinates: ``row = x - x0``, ``col = y - y0`` with ``(x0, y0)``
  the FOV origin in the simulation box. The origin is not part of the public data; the tracked
  trajectories are therefore returned as ``x = row + x0``, ``y = col + y0`` with ``origin``
  ``(x0, y0)`` defaulting to ``(0, 0)``: same axes, orientation and scale as the public CSVs,
  shifted by a constant that displacement-based predictors never see.

Detection and linking
---------------------
trackpy finds candidate spots (``trackpy.batch``, numba engine) in the normalised frames;
:func:`refine_frame` then fits all spots of a frame jointly as Gaussians of the PSF's width
(0.79 px) and adds spots hidden beside a neighbour, which trackpy's centroids merge or bias.
:func:`link_motion` links them with a motion model per track (diffusivity, drift, step
correlation); ``TrackingParams(linker="trackpy")`` uses ``trackpy.link`` instead.

VIP logic
---------
The page-0 blob centroids are paired with the detections of the first movie frame by
:func:`scipy.optimize.linear_sum_assignment`. Each VIP then follows its linked track; when
the track ends before the video does and away from the border, the continuation is
re-acquired: the best detection in the next frames near the position predicted from the
VIP's own motion (preferably a track start, else a detection the linker gave to another
unclaimed track). Frames without a detection inside the VIP's span are filled with the
detection nearest to the interpolated position (the VIP is usually hidden in a neighbour's
blob) or interpolated. Every VIP index of page 0 gets a trajectory.

Limits
------
Two particles closer than about 1 px are one blob; when they part, which one is the VIP is a
guess for Brownian motion. Dense or bound (dimerization) experiments therefore lose VIPs to
their neighbours whatever the detector: see the tracking quality table of
:mod:`andi2kit.tracking_eval` and the notes in the report of this module's issue.
"""

from __future__ import annotations

import logging
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from andi2kit import io, layout
from andi2kit.io import InputError

__all__ = [
    "TrackReport",
    "TrackingParams",
    "follow_vips",
    "link",
    "locate",
    "match_vips",
    "preprocess",
    "track1_root",
    "track_folder",
    "track_video",
    "track_vips",
    "tracks_path",
]

#: Movie frames of a challenge video (page 0, the VIP frame, comes on top).
N_FRAMES = 200

#: Shortest trajectory the challenge generates (``_defaults_andi2()._min_T``).
MIN_LENGTH = 20


@dataclass(frozen=True)
class TrackingParams:
    """Detection, linking and VIP-following settings.

    Intensities are in units of the background noise: :func:`preprocess` subtracts each
    frame's background and divides by its noise, so the thresholds do not depend on the
    per-frame 8-bit rescaling of the challenge videos.

    Attributes
    ----------
    diameter : int
        trackpy feature diameter (odd, px).
    minmass : float
        Smallest integrated brightness of a feature (trackpy ``minmass``).
    separation : float
        Smallest distance between two features (px).
    percentile : float
        Peaks must be brighter than this percentile of the frame.
    threshold : float
        Bandpassed intensity under which pixels are clipped before peak finding (noise units).
    noise_size : float
        Width of trackpy's Gaussian noise filter (px).
    max_iterations : int
        Centroid refinement iterations.
    pad : int
        Border extension (px) so that particles at the edge are found.
    search_range : float
        Largest displacement linked between consecutive frames (px); after a gap of ``g``
        frames, ``search_range * sqrt(g)`` (motion linker). trackpy's linker slows down
        badly with large values: use about 6 with ``linker="trackpy"``.
    memory : int
        Frames a particle may vanish and still be linked to itself.
    adaptive_stop, adaptive_step : float
        trackpy's adaptive search: oversized subnetworks are retried with
        ``search_range`` multiplied by ``adaptive_step`` down to ``adaptive_stop``.
    predict : bool
        With ``linker="trackpy"``: link with trackpy's nearest-velocity predictor.
    linker : {"motion", "trackpy"}
        ``"motion"``: :func:`link_motion` (per-track motion models); ``"trackpy"``:
        ``trackpy.link`` (nearest distance).
    D_prior : float
        Diffusivity (px²/frame) a new track is assumed to have, worth two steps.
    D_broad : float
        Diffusivity of the broad component for a particle that changes its motion.
    switch_weight : float
        Weight of the broad component.
    link_cost : float
        Negative log-likelihood of a step above which a track rather waits or ends.
    gap_cost : float
        Extra cost per frame a track was not seen.
    loc_sigma : float
        Localisation error (px).
    directed_chi2 : float
        Significance (chi-square, 2 dof) the mean step needs to be used as a velocity.
    vip_radius : float
        Largest distance between a page-0 centroid and its first-frame detection (px).
    reacquire_frames : int
        How many frames after a lost track a continuation may start.
    reacquire_radius : float
        Base search radius of a continuation (px); it grows with the square root of the gap.
    reacquire_growth : float
        Growth of the radius per square-root frame of gap (px).
    reacquire_chi2 : float
        The radius is at least this many variances (chi-square, 2 dof) of the particle's own
        recent steps, for fast particles.
    steal_cost : float
        Extra cost of continuing on a detection inside another track rather than on a track
        start.
    velocity_frames : int
        Recent steps a track remembers for its motion model, and whose mean displacement
        predicts where a lost VIP went.
    edge : float
        A track lost closer than this to the border (px) is taken to have left the FOV.
    fill_radius : float
        In a gap of a VIP's trajectory, a detection this close to the interpolated position
        (px) is taken as the VIP (it is usually hidden in another particle's blob); 0 turns
        this off and gaps are interpolated linearly.
    refine : bool
        Refine trackpy's features by a joint Gaussian fit (:func:`refine_frame`).
    psf_sigma : float
        Width of the Gaussian PSF (px); 0.79 measured on andi-datasets videos.
    fit_radius : int
        Half-size of the window a spot is fitted in (px).
    fit_sweeps : int
        Passes over all spots of a frame.
    max_shift : float
        Farthest a spot may move from trackpy's position (px).
    min_amplitude : float
        Spots fitted fainter than this (noise units) are dropped.
    residual_peak : float
        Matched-filter response of the residual above which a hidden spot is added
        (0: no residual search).
    min_distance : float
        Of two spots closer than this (px) the fainter is dropped.
    expected_frames : int or None
        Movie frames a video must have (the challenge's 200); None accepts any number.
    """

    diameter: int = 5
    minmass: float = 6.0
    separation: float = 1.5
    percentile: float = 0.0
    threshold: float = 1.0
    noise_size: float = 1.0
    max_iterations: int = 10
    pad: int = 5
    search_range: float = 15.0
    memory: int = 3
    adaptive_stop: float = 1.0
    adaptive_step: float = 0.9
    predict: bool = False
    linker: str = "motion"
    D_prior: float = 0.5
    D_broad: float = 1.0
    switch_weight: float = 0.2
    link_cost: float = 14.0
    gap_cost: float = 0.5
    loc_sigma: float = 0.15
    directed_chi2: float = 12.0
    vip_radius: float = 3.0
    reacquire_frames: int = 30
    reacquire_radius: float = 2.5
    reacquire_growth: float = 1.5
    reacquire_chi2: float = 9.2
    steal_cost: float = 2.0
    velocity_frames: int = 5
    edge: float = 2.0
    fill_radius: float = 1.5
    refine: bool = True
    psf_sigma: float = 0.79
    fit_radius: int = 2
    fit_sweeps: int = 4
    max_shift: float = 1.5
    min_amplitude: float = 6.0
    residual_peak: float = 5.0
    min_distance: float = 0.7
    expected_frames: int | None = N_FRAMES

    def __post_init__(self) -> None:
        if self.diameter < 3 or self.diameter % 2 == 0:
            raise ValueError(f"diameter must be an odd integer >= 3, got {self.diameter}")
        if self.search_range <= 0 or self.memory < 0 or self.pad < 0:
            raise ValueError("search_range must be > 0, memory and pad >= 0")

    def to_dict(self) -> dict:
        """The settings as a plain dictionary."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------


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
# other spots, sweeping over the spots a few times. Then the residual is searched for peaks
# that were hidden beside a brighter neighbour, and the sweeps are repeated with them.

_BOX = 3  # half-size of the box a spot is drawn in (3 px is > 3.5 PSF widths)


@numba.njit(cache=True, nogil=True)
def _render(model, r, c, a, sigma, sign):  # pragma: no cover - compiled
    h, w = model.shape
    r0, c0 = int(np.floor(r + 0.5)), int(np.floor(c + 0.5))
    inv = 1.0 / (2.0 * sigma * sigma)
    for i in range(max(r0 - _BOX, 0), min(r0 + _BOX + 1, h)):
        for j in range(max(c0 - _BOX, 0), min(c0 + _BOX + 1, w)):
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
    for rnd in range(2):
        model = _fit_frame(img, pos, amp, p.psf_sigma, p.fit_radius, p.fit_sweeps, p.max_shift)
        keep = amp >= p.min_amplitude
        pos, amp = pos[keep], amp[keep]
        if rnd == 1 or p.residual_peak <= 0:
            break
        # matched filter of what the model leaves: a particle hidden beside a neighbour
        res = ndimage.gaussian_filter(img - model, p.psf_sigma)
        peaks = (res == ndimage.maximum_filter(res, size=3)) & (res > p.residual_peak)
        new = np.argwhere(peaks).astype(np.float64)
        if new.size and pos.size:
            d = np.hypot(new[:, None, 0] - pos[None, :, 0], new[:, None, 1] - pos[None, :, 1])
            new = new[d.min(axis=1) > 1.0]
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


def link(features: pd.DataFrame, params: TrackingParams = TrackingParams()) -> pd.DataFrame:
    """Link detections into tracks with trackpy (memory, adaptive search).

    Parameters
    ----------
    features : pandas.DataFrame
        Output of :func:`locate`.
    params : TrackingParams
        Linking settings.

    Returns
    -------
    pandas.DataFrame
        ``features`` with a ``particle`` column (int), sorted by particle then frame.
    """
    import trackpy as tp

    tp.quiet()
    if features.empty:
        out = features.copy()
        out["particle"] = np.zeros(0, dtype=np.int64)
        return out
    if params.linker == "motion":
        tracks = features.copy()
        tracks["particle"] = link_motion(features[["y", "x"]].to_numpy(),
                                         features["frame"].to_numpy(), params)
    elif params.linker == "trackpy":
        kwargs = dict(memory=params.memory, adaptive_stop=params.adaptive_stop,
                      adaptive_step=params.adaptive_step, link_strategy="auto")
        if params.predict:
            pred = tp.predict.NearestVelocityPredict(span=1)
            tracks = pred.link_df(features, params.search_range, **kwargs)
        else:
            tracks = tp.link(features, params.search_range, **kwargs)
    else:
        raise ValueError(f"linker must be 'motion' or 'trackpy', got {params.linker!r}")
    tracks = tracks.astype({"particle": np.int64})
    return tracks.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True)


class _TrackState:
    """Growing arrays of every track's last position and its recent steps (a ring)."""

    def __init__(self, span: int, cap: int = 1024) -> None:
        self.span = span
        self.n = 0
        self.pos = np.zeros((cap, 2))
        self.frame = np.zeros(cap, dtype=np.int64)
        self.steps = np.zeros((cap, span, 2))
        self.gaps = np.zeros((cap, span))
        self.ptr = np.zeros(cap, dtype=np.int64)

    def new(self, pos: np.ndarray, frame: int) -> np.ndarray:
        k = len(pos)
        while self.n + k > len(self.pos):
            for name in ("pos", "frame", "steps", "gaps", "ptr"):
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros_like(arr)]))
        ids = np.arange(self.n, self.n + k)
        self.pos[ids] = pos
        self.frame[ids] = frame
        self.n += k
        return ids

    def extend(self, ids: np.ndarray, pos: np.ndarray, frame: int) -> None:
        slot = self.ptr[ids]
        self.steps[ids, slot] = pos - self.pos[ids]
        self.gaps[ids, slot] = frame - self.frame[ids]
        self.ptr[ids] = (slot + 1) % self.span
        self.pos[ids] = pos
        self.frame[ids] = frame


def link_motion(pos: np.ndarray, frames: np.ndarray, params: TrackingParams = TrackingParams()
                ) -> np.ndarray:
    """Link detections frame by frame, each track scored with its own motion model.

    Every track carries its recent steps. They give its diffusivity and, when the mean step
    is significant against their scatter, a velocity (directed motion). A detection is scored
    by the likelihood of the step under a mixture: the track's own Gaussian (weight
    ``1 - switch_weight``) and a broad one of diffusivity ``D_broad`` for a particle that
    changes state. Each frame the assignment of tracks to detections that maximises the total
    likelihood is found (Hungarian algorithm on each connected group of candidates); a track
    without a detection waits up to ``memory`` frames, a detection without a track starts one.
    So an immobile particle keeps its detection when a fast one passes by, which a nearest-
    distance linker (trackpy) often gets wrong.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n, 2)`` detection positions.
    frames : numpy.ndarray
        ``(n,)`` frame numbers.
    params : TrackingParams
        ``memory``, ``search_range``, ``velocity_frames`` (steps remembered), ``D_prior``,
        ``D_broad``, ``switch_weight``, ``link_cost``, ``loc_sigma``, ``directed_chi2``.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` track label of every detection.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    p = params
    pos = np.asarray(pos, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.int64)
    labels = np.full(len(frames), -1, dtype=np.int64)
    if not len(frames):
        return labels
    order = np.argsort(frames, kind="stable")
    cuts = np.flatnonzero(np.diff(frames[order])) + 1
    st = _TrackState(max(p.velocity_frames, 2))
    noise = 2.0 * p.loc_sigma ** 2  # per-axis variance of a step from localisation alone
    alive = np.zeros(0, dtype=np.int64)
    for idx in np.split(order, cuts):
        t = int(frames[idx[0]])
        x = pos[idx]
        alive = alive[t - st.frame[alive] <= p.memory + 1]
        ids = np.full(len(idx), -1, dtype=np.int64)
        if len(alive):
            g = (t - st.frame[alive]).astype(np.float64)
            pred, var_own = _motion_model(st, alive, g, p)
            var_broad = 2 * p.D_broad * g + noise
            var_own = np.maximum(var_own, noise)
            # candidates out to where the wider of the two Gaussians is 1e-4 of its peak
            radius = np.minimum(np.sqrt(-2 * np.maximum(var_own, var_broad) * np.log(1e-4)),
                                p.search_range * np.sqrt(g))
            tree = cKDTree(x)
            cand = tree.query_ball_point(pred, radius)
            rows = np.repeat(np.arange(len(alive)), [len(c) for c in cand])
            if rows.size:
                cols = np.concatenate([np.asarray(c, dtype=np.int64) for c in cand])
                d2 = np.sum((x[cols] - pred[rows]) ** 2, axis=1)
                vo, vb = var_own[rows], var_broad[rows]
                like = ((1 - p.switch_weight) * np.exp(-d2 / (2 * vo)) / (2 * np.pi * vo)
                        + p.switch_weight * np.exp(-d2 / (2 * vb)) / (2 * np.pi * vb))
                cost = -np.log(np.maximum(like, 1e-300)) + p.gap_cost * (g[rows] - 1)
                ok = cost < p.link_cost
                rows, cols, cost = rows[ok], cols[ok], cost[ok]
            if rows.size:
                ids = _assign(rows, cols, cost, len(alive), len(x), p.link_cost,
                              linear_sum_assignment, coo_matrix, connected_components)
                matched = ids >= 0
                ids[matched] = alive[ids[matched]]
                st.extend(ids[matched], x[matched], t)
        born = ids < 0
        if born.any():
            new = st.new(x[born], t)
            ids[born] = new
            alive = np.concatenate([alive, new])
        labels[idx] = ids
    return labels


def _motion_model(st: _TrackState, ids: np.ndarray, g: np.ndarray, p: TrackingParams
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted positions and per-axis variances of tracks ``ids`` after ``g`` frames.

    From each track's recent steps (shrunk towards ``D_prior`` by two pseudo-steps):
    a drift velocity when the mean step is significant (directed motion), and the lag-1
    correlation of the steps, which predicts the next step from the last one: positive for
    persistent motion, down to -0.5 for strongly subdiffusive motion that jitters in place.
    """
    steps, gaps = st.steps[ids], st.gaps[ids]
    sg = gaps.sum(axis=1)
    n0 = 2.0
    prior = n0 * 2 * p.D_prior
    vel = steps.sum(axis=1) / np.maximum(sg, 1.0)[:, None]
    resid = steps - vel[:, None, :] * gaps[:, :, None]
    rate_dir = (np.sum(resid ** 2, axis=(1, 2)) / 2 + prior) / (sg + n0)
    rate = (np.sum(steps ** 2, axis=(1, 2)) / 2 + prior) / (sg + n0)
    nsteps = (gaps > 0).sum(axis=1)
    directed = (nsteps >= 3) & (np.sum(vel ** 2, axis=1) * sg > p.directed_chi2 * rate_dir)
    vel = np.where(directed[:, None], vel, 0.0)
    rate = np.where(directed, rate_dir, rate)
    # lag-1 correlation of the steps around the drift (ring order: ptr is the oldest slot)
    span = st.span
    newest = (st.ptr[ids] - 1) % span
    nxt = (np.arange(span)[None, :] + 1) % span
    dev = resid
    pair_ok = ((gaps == 1) & (np.take_along_axis(gaps, np.broadcast_to(nxt, gaps.shape), 1) == 1)
               & (np.arange(span)[None, :] != newest[:, None]))
    nxt_dev = dev[:, nxt[0], :]
    cross = np.sum(np.where(pair_ok[:, :, None], dev * nxt_dev, 0.0), axis=(1, 2))
    npairs = pair_ok.sum(axis=1)
    rho = cross / (2 * rate * (npairs + n0))
    rho = np.clip(np.where(directed, 0.0, rho), -0.6, 0.9)
    last = dev[np.arange(len(ids)), newest]
    last_ok = gaps[np.arange(len(ids)), newest] == 1
    use_ar = (g == 1) & last_ok
    step_pred = vel * g[:, None] + np.where(use_ar[:, None], rho[:, None] * last, 0.0)
    var = np.where(use_ar, rate * (1 - rho ** 2), rate * g)
    return st.pos[ids] + step_pred, var


def _assign(rows, cols, cost, n_rows, n_cols, alt, lsa, coo_matrix, connected_components):
    """Best matching of rows to columns where every non-match costs ``alt``.

    Returns, for each column, its row or -1. Solved per connected group of candidate pairs.
    """
    out = np.full(n_cols, -1, dtype=np.int64)
    n = n_rows + n_cols
    graph = coo_matrix((np.ones(rows.size), (rows, n_rows + cols)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    ecomp = comp[rows]
    order = np.argsort(ecomp, kind="stable")
    bounds = np.flatnonzero(np.diff(ecomp[order])) + 1
    for sel in np.split(order, bounds):
        r, c, w = rows[sel], cols[sel], cost[sel]
        if sel.size == 1:
            out[c[0]] = r[0]  # cost < alt was checked by the caller
            continue
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        nr, nc = ur.size, uc.size
        big = 1e9
        m = np.full((nr + nc, nc + nr), big)
        m[ri, ci] = w
        m[np.arange(nr), nc + np.arange(nr)] = alt  # row unmatched
        m[nr + np.arange(nc), np.arange(nc)] = 0.0  # column unmatched (alt paid by its row)
        m[nr + ci, nc + ri] = 0.0  # dummy-dummy pairs where a real pair exists
        a, b = lsa(m)
        real = (a < nr) & (b < nc)
        out[uc[b[real]]] = ur[a[real]]
    return out


# --------------------------------------------------------------------------------------------
# VIPs
# --------------------------------------------------------------------------------------------


def match_vips(centroids: dict[int, np.ndarray], first: pd.DataFrame,
               radius: float) -> dict[int, int | None]:
    """Pair VIP centroids with first-frame tracks by minimum total distance.

    Parameters
    ----------
    centroids : dict
        ``{vip: array([col, row])}`` from :func:`andi2kit.io.decode_vip_frame`.
    first : pandas.DataFrame
        Linked detections of the first frame (``x`` column, ``y`` row, ``particle``).
    radius : float
        Pairs farther apart are dropped.

    Returns
    -------
    dict
        ``{vip: particle or None}``.
    """
    from scipy.optimize import linear_sum_assignment

    vips = sorted(centroids)
    out: dict[int, int | None] = dict.fromkeys(vips)
    if first.empty or not vips:
        return out
    c = np.array([centroids[v] for v in vips])  # (col, row)
    d = np.hypot(c[:, None, 0] - first["x"].to_numpy()[None],
                 c[:, None, 1] - first["y"].to_numpy()[None])
    big = 1e6
    rows, cols = linear_sum_assignment(np.where(d <= radius, d, big))
    particles = first["particle"].to_numpy()
    for r, k in zip(rows, cols, strict=True):
        if d[r, k] <= radius:
            out[vips[r]] = int(particles[k])
    return out


@dataclass
class _Track:
    frames: np.ndarray
    pos: np.ndarray  # (n, 2): row, col


def _tracks_by_particle(tracks: pd.DataFrame) -> dict[int, _Track]:
    out = {}
    if tracks.empty:
        return out
    pid = tracks["particle"].to_numpy()
    frames = tracks["frame"].to_numpy()
    pos = tracks[["y", "x"]].to_numpy()
    bounds = np.flatnonzero(np.diff(pid)) + 1
    for sl in np.split(np.arange(pid.size), bounds):
        out[int(pid[sl[0]])] = _Track(frames[sl], pos[sl])
    return out


def _step_rate(frames: np.ndarray, pos: np.ndarray, p: TrackingParams, span: int = 10) -> float:
    """Per-axis variance per frame of a trajectory's recent steps (with a weak prior)."""
    k = min(span, frames.size - 1)
    n0 = 2.0
    if k < 1:
        return 2 * p.D_prior
    d = np.diff(pos[-1 - k:], axis=0)
    g = np.diff(frames[-1 - k:]).astype(np.float64)
    return float((np.sum(d ** 2) / 2 + n0 * 2 * p.D_prior) / (g.sum() + n0))


def _predict(frames: np.ndarray, pos: np.ndarray, ahead: int, span: int) -> np.ndarray:
    """Position ``ahead`` frames after the last point, from the mean recent velocity."""
    if frames.size < 2 or span < 1:
        return pos[-1]
    k = min(span, frames.size - 1)
    vel = (pos[-1] - pos[-1 - k]) / max(frames[-1] - frames[-1 - k], 1)
    # extrapolate only motion that is clearly directed, else random steps add noise
    steps = np.diff(pos[-1 - k:], axis=0)
    spread = np.sqrt(np.mean(np.sum((steps - vel) ** 2, axis=1))) if k > 1 else np.inf
    if np.linalg.norm(vel) < spread:
        return pos[-1]
    return pos[-1] + vel * ahead


@dataclass
class _Detections:
    """All linked detections sorted by frame, for searching continuations."""

    frame: np.ndarray
    pos: np.ndarray  # (n, 2): row, col
    particle: np.ndarray
    start: np.ndarray  # first detection of its track

    @classmethod
    def from_tracks(cls, tracks: pd.DataFrame) -> _Detections:
        if tracks.empty:
            z = np.zeros(0, dtype=np.int64)
            return cls(z, np.zeros((0, 2)), z, np.zeros(0, dtype=bool))
        start = ~tracks["particle"].duplicated().to_numpy()  # tracks are sorted by frame
        order = np.argsort(tracks["frame"].to_numpy(), kind="stable")
        return cls(tracks["frame"].to_numpy()[order], tracks[["y", "x"]].to_numpy()[order],
                   tracks["particle"].to_numpy()[order], start[order])

    def window(self, lo: int, hi: int) -> slice:
        """Rows with ``lo < frame <= hi``."""
        a, b = np.searchsorted(self.frame, [lo, hi], side="right")
        return slice(int(a), int(b))


def _follow(start: int | None, seed_pos: np.ndarray, tracks: dict[int, _Track],
            dets: _Detections, claimed: set[int], shape: tuple[int, int], last_frame: int,
            first_frame: int, p: TrackingParams) -> tuple[np.ndarray, np.ndarray]:
    """Frames and positions (row, col) of one VIP, chaining tracks across losses.

    When the VIP's track ends, its continuation is the best detection in the next frames
    near the position predicted from its own motion: preferably the start of a new track,
    else a detection inside another (unclaimed) track, which the VIP then follows from there
    (the linker gave the VIP's detection to a neighbour that had just vanished).
    """
    frames_out: list[np.ndarray] = []
    pos_out: list[np.ndarray] = []
    if start is None:
        # not seen in the first frame: look for it from the page-0 position onwards
        cur_frames = np.array([first_frame - 1])
        cur_pos = seed_pos[None]
    else:
        claimed.add(start)
        t = tracks[start]
        frames_out.append(t.frames)
        pos_out.append(t.pos)
        cur_frames, cur_pos = t.frames, t.pos
    while True:
        end = int(cur_frames[-1])
        if end >= last_frame:
            break
        allf = np.concatenate(frames_out) if frames_out else cur_frames
        allp = np.concatenate(pos_out) if pos_out else cur_pos
        last = allp[-1]
        near_edge = (min(last[0], last[1], shape[0] - 1 - last[0], shape[1] - 1 - last[1])
                     < p.edge)
        window = p.memory + 1 if near_edge else p.reacquire_frames
        sl = dets.window(end, end + window)
        pid = dets.particle[sl]
        free = ~np.isin(pid, list(claimed))
        if not free.any():
            break
        fr = dets.frame[sl][free]
        pos = dets.pos[sl][free]
        pid, is_start = pid[free], dets.start[sl][free]
        gap = fr - end
        pred = np.array([_predict(allf, allp, g, p.velocity_frames) for g in range(1, window + 1)])
        pred = pred[gap - 1]
        dist = np.hypot(pos[:, 0] - pred[:, 0], pos[:, 1] - pred[:, 1])
        # the particle's own step size sets how far it may have gone
        var = _step_rate(allf, allp, p) * gap + 2 * p.loc_sigma ** 2
        radius = np.maximum(p.reacquire_radius + p.reacquire_growth * np.sqrt(gap - 1),
                            np.sqrt(p.reacquire_chi2 * var))
        ok = dist <= radius
        if not ok.any():
            break
        score = (dist ** 2 / (2 * var) + np.log(var) + p.gap_cost * gap
                 + np.where(is_start, 0.0, p.steal_cost))
        k = int(np.argmin(np.where(ok, score, np.inf)))
        chosen = int(pid[k])
        claimed.add(chosen)
        t = tracks[chosen]
        keep = t.frames >= fr[k]
        frames_out.append(t.frames[keep])
        pos_out.append(t.pos[keep])
        cur_frames = t.frames[keep]
    if not frames_out:
        # never found: the page-0 position over the whole movie is the best guess left
        frames = np.arange(first_frame, last_frame + 1)
        return frames, np.repeat(seed_pos[None], frames.size, axis=0)
    return np.concatenate(frames_out), np.concatenate(pos_out)


def _fill(frames: np.ndarray, pos: np.ndarray, dets: dict[int, np.ndarray],
          radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Fill the missing frames between the first and last one.

    A VIP missing from its tracks is mostly hidden in the blob of a particle it overlaps:
    walking through a gap, the detection nearest to the straight line towards the next known
    position is taken when it lies within ``radius``; otherwise the position is interpolated.
    """
    order = np.argsort(frames, kind="stable")
    frames, pos = frames[order], pos[order]
    keep = np.concatenate([[True], np.diff(frames) > 0])
    frames, pos = frames[keep], pos[keep]
    full = np.arange(frames[0], frames[-1] + 1)
    out = np.empty((full.size, 2))
    out[frames - frames[0]] = pos
    for k in np.flatnonzero(np.diff(frames) > 1):
        a, b = int(frames[k]), int(frames[k + 1])
        prev, nxt = pos[k], pos[k + 1]
        for fr in range(a + 1, b):
            guess = prev + (nxt - prev) / (b - fr + 1)
            cand = dets.get(fr)
            if radius > 0 and cand is not None and len(cand):
                d = np.hypot(cand[:, 0] - guess[0], cand[:, 1] - guess[1])
                j = int(np.argmin(d))
                if d[j] <= radius:
                    guess = cand[j]
            out[fr - frames[0]] = prev = guess
    return full, out


def follow_vips(tracks: pd.DataFrame, centroids: dict[int, np.ndarray], shape: tuple[int, int],
                n_frames: int, params: TrackingParams = TrackingParams(),
                first_frame: int = 0) -> pd.DataFrame:
    """Trajectories of the VIP particles from linked tracks.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Output of :func:`link` (``y`` row, ``x`` column, ``frame``, ``particle``).
    centroids : dict
        ``{vip: array([col, row])}`` from :func:`andi2kit.io.decode_vip_frame`.
    shape : tuple of int
        Frame height and width.
    n_frames : int
        Number of movie frames; frames are ``first_frame .. first_frame + n_frames - 1``.
    params : TrackingParams
        VIP settings.
    first_frame : int
        Number of the first movie frame.

    Returns
    -------
    pandas.DataFrame
        ``traj_idx, frame, row, col``, one row per frame of each VIP's span, every VIP present.
    """
    p = params
    last_frame = first_frame + n_frames - 1
    by_pid = _tracks_by_particle(tracks)
    first = tracks[tracks["frame"] == first_frame] if not tracks.empty else tracks
    pairs = match_vips(centroids, first, p.vip_radius)
    found = _Detections.from_tracks(tracks)
    claimed = {pid for pid in pairs.values() if pid is not None}
    dets = {}
    if not tracks.empty:
        fr = tracks["frame"].to_numpy()
        yx = tracks[["y", "x"]].to_numpy()
        order = np.argsort(fr, kind="stable")
        fr, yx = fr[order], yx[order]
        cuts = np.flatnonzero(np.diff(fr)) + 1
        dets = {int(g[0]): yx[idx] for g, idx in
                zip(np.split(fr, cuts), np.split(np.arange(fr.size), cuts), strict=True)}
    parts = []
    for vip in sorted(centroids):
        seed = np.asarray(centroids[vip], dtype=float)[::-1]  # (row, col)
        frames, pos = _follow(pairs[vip], seed, by_pid, found, claimed, shape, last_frame,
                              first_frame, p)
        if frames.min() > first_frame:
            # a VIP is in the first frame by definition: start from its page-0 position
            frames = np.concatenate([[first_frame], frames])
            pos = np.concatenate([seed[None], pos])
        frames, pos = _fill(frames, pos, dets, p.fill_radius)
        if frames.size < MIN_LENGTH:
            # the challenge never makes a trajectory shorter than MIN_LENGTH: hold the last
            # position rather than hand a predictor a stub
            extra = np.arange(frames[-1] + 1,
                              min(frames[0] + MIN_LENGTH, last_frame + 1))
            frames = np.concatenate([frames, extra])
            pos = np.concatenate([pos, np.repeat(pos[-1:], extra.size, axis=0)])
        parts.append(pd.DataFrame({"traj_idx": vip, "frame": frames,
                                   "row": pos[:, 0], "col": pos[:, 1]}))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------
# whole video
# --------------------------------------------------------------------------------------------


def _check_vip_frame(frame: np.ndarray, source: Path) -> dict[int, np.ndarray]:
    # a real VIP frame is almost all background (255) with a few tiny labelled blobs
    if np.mean(frame == 255) < 0.9:
        raise InputError(
            f"{source}: page 0 is not a VIP frame (background 255 with labelled particles): "
            f"only {np.mean(frame == 255):.0%} of its pixels are 255"
        )
    return io.decode_vip_frame(frame, source)


def track_video(video: np.ndarray, params: TrackingParams = TrackingParams(),
                source: str | Path = "<video>") -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Detect and link every particle of a video array.

    Parameters
    ----------
    video : numpy.ndarray
        ``(pages, height, width)`` uint8; page 0 the VIP frame.
    params : TrackingParams
        Settings.
    source : path-like
        Named in error messages.

    Returns
    -------
    tracks : pandas.DataFrame
        Output of :func:`link`, frames numbered like the trajectory CSVs (page - 1).
    centroids : dict
        VIP centroids of page 0.

    Raises
    ------
    InputError
        On a page 0 that is no VIP frame, too few frames, or no detection at all.
    """
    source = Path(source)
    centroids = _check_vip_frame(video[0], source)
    n = video.shape[0] - 1
    if params.expected_frames is not None and n < params.expected_frames:
        raise InputError(f"{source}: {n} movie frame(s) after the VIP frame, expected "
                         f"{params.expected_frames}")
    feats = locate(preprocess(video[1:], params.pad), params)
    if feats.empty:
        raise InputError(f"{source}: no particle detected in any of the {n} movie frames")
    return link(feats, params), centroids


def track_vips(video_path: str | Path, params: TrackingParams = TrackingParams(),
               origin: tuple[float, float] = (0.0, 0.0)) -> pd.DataFrame:
    """Trajectories of the VIP particles of a challenge video.

    Parameters
    ----------
    video_path : path-like
        A ``videos_fov_<F>.tiff`` file (page 0 the VIP frame, then the movie).
    params : TrackingParams
        Detection, linking and VIP settings.
    origin : tuple of float
        FOV origin ``(x0, y0)`` in the simulation box when known (simulated data); the
        trajectories are shifted by it. The challenge does not publish it.

    Returns
    -------
    pandas.DataFrame
        Columns ``traj_idx`` (the VIP index of page 0), ``frame`` (page - 1, as in the
        trajectory CSVs), ``x``, ``y`` in the trajectory coordinates (``x = row + x0``,
        ``y = col + y0``); one row per frame of each VIP's estimated visible span, gaps
        interpolated, every VIP present. Sorted by ``traj_idx`` then ``frame``.

    Raises
    ------
    InputError
        If the file is missing or unreadable, not uint8, has too few pages, page 0 is not a
        VIP frame, or nothing is detected.
    """
    video_path = Path(video_path)
    video = io.read_video(video_path, min_frames=2)
    tracks, centroids = track_video(video, params, video_path)
    vips = follow_vips(tracks, centroids, video.shape[1:], video.shape[0] - 1, params)
    out = pd.DataFrame({
        "traj_idx": vips["traj_idx"].astype(np.int64),
        "frame": vips["frame"].astype(np.int64),
        "x": vips["row"].to_numpy() + float(origin[0]),
        "y": vips["col"].to_numpy() + float(origin[1]),
    })
    return out.sort_values(["traj_idx", "frame"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------


def track1_root(path: str | Path) -> Path:
    """The ``track_1`` folder of a ``public_data`` folder (or the folder itself).

    Raises
    ------
    InputError
        If neither ``path`` nor ``path/track_1`` is a folder named ``track_1``.
    """
    path = Path(path)
    if (path / "track_1").is_dir():
        path = path / "track_1"
    if path.name != "track_1" or not path.is_dir():
        raise InputError(f"{path}: not a public_data/track_1 folder")
    return path


def fov_jobs(public_track1: str | Path) -> list[tuple[int, int, Path]]:
    """``(exp, fov, video path)`` of every video under a ``track_1`` folder, sorted."""
    root = track1_root(public_track1)
    public = root.parent
    return [(e, f, layout.video_path(public, e, f))
            for e in layout.experiments(public, 1) for f in layout.fovs(public, 1, e, "video")]


def tracks_path(out: str | Path, exp: int, fov: int) -> Path:
    """Where :func:`track_folder` writes a FOV's VIP trajectories."""
    return Path(out) / f"exp_{exp}" / f"trajs_fov_{fov}.csv"


@dataclass
class TrackReport:
    """What :func:`track_folder` did."""

    written: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)
    failed: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no FOV failed."""
        return not self.failed


def _track_job(args: tuple) -> tuple[int, int, str | None]:
    exp, fov, video, dest, params = args
    try:
        io.write_trajectories(dest, track_vips(video, params))
        return exp, fov, None
    except InputError as exc:
        return exp, fov, str(exc)
    except Exception as exc:  # reported, and the other FOVs go on
        return exp, fov, f"{video}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"


def track_folder(public_track1: str | Path, out: str | Path,
                 params: TrackingParams = TrackingParams(), *, workers: int = 1,
                 force: bool = False, progress: bool = True) -> TrackReport:
    """Track the VIPs of every video of a ``track_1`` folder.

    Writes ``out/exp_<E>/trajs_fov_<F>.csv`` (``traj_idx, frame, x, y``; coordinates as
    :func:`track_vips` with no origin) atomically. Existing files are kept unless ``force``;
    a FOV that fails is reported and the others are still done.

    Parameters
    ----------
    public_track1 : path-like
        ``public_data/track_1`` (or ``public_data``).
    out : path-like
        Output folder.
    params : TrackingParams
        Tracking settings.
    workers : int
        Processes tracking FOVs in parallel.
    force : bool
        Redo FOVs whose output exists.
    progress : bool
        Show a progress bar.

    Returns
    -------
    TrackReport

    Raises
    ------
    InputError
        If the folder is not a ``track_1`` folder or holds no video.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from andi2kit.progress import progress_bar

    jobs = fov_jobs(public_track1)
    if not jobs:
        raise InputError(f"{track1_root(public_track1)}: no exp_*/videos_fov_*.tiff")
    report = TrackReport()
    todo = []
    for exp, fov, video in jobs:
        dest = tracks_path(out, exp, fov)
        if dest.is_file() and not force:
            report.skipped.append((exp, fov))
        else:
            todo.append((exp, fov, video, dest, params))
    with progress_bar(progress) as bar:
        task = bar.add_task("tracking", total=len(jobs), completed=len(report.skipped))

        def done(res: tuple[int, int, str | None]) -> None:
            exp, fov, err = res
            if err is None:
                report.written.append((exp, fov))
            else:
                report.failed[exp, fov] = err
            bar.advance(task)

        if workers <= 1 or len(todo) <= 1:
            for job in todo:
                done(_track_job(job))
        else:
            import multiprocessing

            # spawn: the progress bar's thread must not be copied into the workers by fork
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
                futures = {pool.submit(_track_job, job): job for job in todo}
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        done(fut.result())
                    except Exception as exc:  # the worker process died
                        done((job[0], job[1], f"{job[2]}: {type(exc).__name__}: {exc}"))
    report.written.sort()
    return report


logging.getLogger("trackpy").setLevel(logging.WARNING)
