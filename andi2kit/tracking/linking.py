"""Linking detections into tracks: per-track motion models (default) or trackpy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from andi2kit.tracking.params import TrackingParams


def link(features: pd.DataFrame, params: TrackingParams = TrackingParams()) -> pd.DataFrame:
    """Link detections into tracks: :func:`link_motion` (``linker="motion"``; a FOV of
    particles faster than ``fast_factor`` times ``D_broad``, :func:`fast_diffusivity`, is
    linked a second time at their speed) or trackpy (memory, adaptive search).

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
        mass = features["mass"].to_numpy() if "mass" in features else None
        xy, frames = features[["y", "x"]].to_numpy(), features["frame"].to_numpy()
        ids = link_motion(xy, frames, params, mass=mass)
        fast = fast_diffusivity(xy, frames, ids, params.fast_quantile) \
            if params.fast_factor > 0 else 0.0
        if params.fast_factor > 0 and fast > params.fast_factor * params.D_broad:
            # a FOV of fast particles: linked again with a broad component (and a search)
            # as wide as they move, else their tracks break at every long step
            wide = replace(params, D_broad=fast,
                           search_range=max(params.search_range,
                                            params.fast_reach * np.sqrt(2 * fast)))
            ids = link_motion(xy, frames, wide, mass=mass)
        tracks["particle"] = ids
    elif params.linker == "trackpy":
        kwargs = dict(memory=params.memory, adaptive_stop=params.adaptive_stop,
                      adaptive_step=params.adaptive_step, link_strategy="auto")
        if params.predict:
            pred = tp.predict.NearestVelocityPredict(span=int(params.predict))
            tracks = pred.link_df(features, params.search_range, **kwargs)
        else:
            tracks = tp.link(features, params.search_range, **kwargs)
    else:
        raise ValueError(f"linker must be 'motion' or 'trackpy', got {params.linker!r}")
    tracks = tracks.astype({"particle": np.int64})
    return tracks.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True)


class _Prediction:
    """Where each of ``n`` tracks may be next: a mixture of ``m`` isotropic 2-D components.

    ``mean`` ``(n, m, 2)``, ``scale2`` ``(n, m)`` per-axis variance (Gaussian) or squared
    scale (Student t with ``dof`` degrees of freedom), ``weight`` ``(n, m)`` summing to 1.
    """

    def __init__(self, mean: np.ndarray, scale2: np.ndarray, weight: np.ndarray,
                 dof: np.ndarray | None = None) -> None:
        self.mean, self.scale2, self.weight, self.dof = mean, scale2, weight, dof

    @classmethod
    def gaussian(cls, mean: np.ndarray, var: np.ndarray) -> _Prediction:
        return cls(mean[:, None, :], var[:, None], np.ones((len(var), 1)))

    def density(self, rows: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Density of track ``rows[i]`` at ``pts[i]``."""
        d2 = np.sum((pts[:, None, :] - self.mean[rows]) ** 2, axis=2)
        s2 = self.scale2[rows]
        if self.dof is None:
            dens = np.exp(-d2 / (2 * s2))
        else:
            nu = self.dof[rows]
            dens = (1 + d2 / (nu * s2)) ** (-(nu + 2) / 2)
        return np.sum(self.weight[rows] * dens / (2 * np.pi * s2), axis=1)

    def reach(self, level: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
        """A centre per track and the radius around it beyond which every component is
        below ``level`` of its peak."""
        centre = np.sum(self.weight[:, :, None] * self.mean, axis=1)
        if self.dof is None:
            r2 = -2 * self.scale2 * np.log(level)
        else:
            r2 = self.dof * self.scale2 * (level ** (-2 / (self.dof + 2)) - 1)
        off = np.sqrt(np.sum((self.mean - centre[:, None, :]) ** 2, axis=2))
        return centre, np.max(off + np.sqrt(r2), axis=1)


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

    def chronological(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps ``(n, span, 2)`` and gaps ``(n, span)`` of tracks ``ids``, oldest first."""
        order = (self.ptr[ids][:, None] + np.arange(self.span)[None, :]) % self.span
        steps = np.take_along_axis(self.steps[ids], order[:, :, None], axis=1)
        return steps, np.take_along_axis(self.gaps[ids], order, axis=1)


def fast_diffusivity(xy: np.ndarray, frames: np.ndarray, ids: np.ndarray,
                     quantile: float = 0.9, min_steps: int = 10) -> float:
    """The diffusivity (px²/frame) that a ``quantile`` of a FOV's linked tracks stay under.

    Each track with at least ``min_steps`` one-frame steps gives ``mean(|step|²) / 4``;
    0 when no track has that many.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = rng.normal(0, np.sqrt(2 * 5.0), (3, 50, 2))    # three tracks of D = 5
    >>> xy = np.cumsum(steps, axis=1).reshape(-1, 2)
    >>> frames, ids = np.tile(np.arange(50), 3), np.repeat(np.arange(3), 50)
    >>> round(fast_diffusivity(xy, frames, ids, quantile=0.5))
    5
    """
    order = np.lexsort((frames, ids))
    xy, frames, ids = xy[order], frames[order], ids[order]
    one = (np.diff(ids) == 0) & (np.diff(frames) == 1)
    sq = np.sum(np.diff(xy, axis=0) ** 2, axis=1)[one]
    owner = ids[1:][one]
    if owner.size == 0:
        return 0.0
    _, inv, counts = np.unique(owner, return_inverse=True, return_counts=True)
    mean = np.bincount(inv, weights=sq) / counts
    keep = counts >= min_steps
    return float(np.quantile(mean[keep], quantile) / 4) if keep.any() else 0.0


def link_motion(pos: np.ndarray, frames: np.ndarray, params: TrackingParams = TrackingParams(),
                mass: np.ndarray | None = None) -> np.ndarray:
    """Link detections frame by frame, each track scored with its own motion model.

    Every track carries its recent steps, from which it predicts where it goes next
    (``params.motion``): by default as fractional Brownian motion whose anomalous exponent and
    diffusivity it learns from those steps (:class:`andi2kit.tracking.fbm.FbmPredictor`), so
    a particle that jitters in place is expected back where it jitters and a directed one
    further along its way; ``"ar1"`` uses a diffusivity, a drift and the lag-1 correlation of
    the steps. A detection is scored by the likelihood of the step under a mixture: the
    track's own prediction (weight ``1 - switch_weight``) and a broad Gaussian of diffusivity
    ``D_broad`` for a particle that changes state. Each frame the assignment of tracks to
    detections that maximises the total likelihood is found (Hungarian algorithm on each
    connected group of candidates); with ``mass`` and ``link_amp > 0`` a detection whose
    brightness (relative to its frame's median spot) differs from the track's running mean
    costs more (capped at ``link_amp_cap``), so look-alike crossings keep their identities
    more often; a track without a detection waits up to ``memory``
    frames, a detection without a track starts one. So an immobile particle keeps its
    detection when a fast one passes by, which a nearest-distance linker (trackpy) often gets
    wrong.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n, 2)`` detection positions.
    frames : numpy.ndarray
        ``(n,)`` frame numbers.
    params : TrackingParams
        ``memory``, ``search_range``, ``motion`` and its settings, ``D_broad``,
        ``switch_weight``, ``link_cost``, ``gap_cost``, ``loc_sigma``, ``link_amp``,
        ``link_amp_cap``, ``link_amp_frames``, ``amp_scatter``.
    mass : numpy.ndarray, optional
        ``(n,)`` brightness of each detection (``locate``'s ``mass``).

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
    noise = 2.0 * p.loc_sigma ** 2  # per-axis variance of a step from localisation alone
    if p.motion == "fbm":
        model, span = _fbm_model(p), p.history
    else:
        def model(st, ids, g):
            pred, var = _motion_model(st, ids, g, p)
            return _Prediction.gaussian(pred, np.maximum(var, noise))
        span = max(p.velocity_frames, 2)
    pos = np.asarray(pos, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.int64)
    labels = np.full(len(frames), -1, dtype=np.int64)
    if not len(frames):
        return labels
    order = np.argsort(frames, kind="stable")
    cuts = np.flatnonzero(np.diff(frames[order])) + 1
    st = _TrackState(span)
    use_amp = mass is not None and p.link_amp > 0
    if use_amp:
        amp_sum = np.zeros(len(frames))  # per track: running brightness (relative to frame)
        amp_n = np.zeros(len(frames))
    alive = np.zeros(0, dtype=np.int64)
    for idx in np.split(order, cuts):
        t = int(frames[idx[0]])
        x = pos[idx]
        if use_amp:
            rel = mass[idx] / max(float(np.median(mass[idx])), 1e-12)
        alive = alive[t - st.frame[alive] <= p.memory + 1]
        ids = np.full(len(idx), -1, dtype=np.int64)
        if len(alive):
            g = (t - st.frame[alive]).astype(np.float64)
            own = model(st, alive, g)
            centre, reach = own.reach()
            broad = _Prediction.gaussian(centre, 2 * p.D_broad * g + noise)
            radius = np.minimum(np.maximum(reach, broad.reach()[1]), p.search_range * np.sqrt(g))
            cand = cKDTree(x).query_ball_point(centre, radius)
            rows = np.repeat(np.arange(len(alive)), [len(c) for c in cand])
            if rows.size:
                cols = np.concatenate([np.asarray(c, dtype=np.int64) for c in cand])
                like = ((1 - p.switch_weight) * own.density(rows, x[cols])
                        + p.switch_weight * broad.density(rows, x[cols]))
                cost = -np.log(np.maximum(like, 1e-300)) + p.gap_cost * (g[rows] - 1)
                if use_amp:
                    n = amp_n[alive[rows]]
                    mean = amp_sum[alive[rows]] / np.maximum(n, 1)
                    z2 = (rel[cols] - mean) ** 2 / (2 * p.amp_scatter ** 2
                                                    * (1 + 1 / np.maximum(n, 1)))
                    cost += np.where(n >= 3, p.link_amp * np.minimum(z2, p.link_amp_cap), 0.0)
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
        if use_amp:
            # exponential memory of about link_amp_frames frames
            a = 1.0 / p.link_amp_frames
            amp_sum[ids] = amp_sum[ids] * (1 - a) + rel
            amp_n[ids] = amp_n[ids] * (1 - a) + 1
    return labels


def _fbm_model(p: TrackingParams):
    """Each track's next position from :class:`~andi2kit.tracking.fbm.FbmPredictor` fed with
    its run of consecutive steps ending at its last detection."""
    from andi2kit.tracking.fbm import FbmPredictor

    grid = np.asarray(p.alpha_grid, dtype=np.float64)
    predictor = FbmPredictor(grid, np.where(grid == 1.0, 2.0, 1.0), p.K_prior, p.K_prior_steps,
                             floor=p.loc_sigma ** 2)

    def model(st: _TrackState, ids: np.ndarray, g: np.ndarray) -> _Prediction:
        steps, gaps = st.chronological(ids)
        ok = gaps == 1
        run = np.where(ok.all(axis=1), st.span, np.argmin(ok[:, ::-1], axis=1))
        m = grid.size
        mean, scale2 = np.zeros((len(ids), m, 2)), np.empty((len(ids), m))
        weight, dof = np.empty((len(ids), m)), np.empty((len(ids), m))
        for r in np.unique(run):
            sel = np.flatnonzero(run == r)
            mean[sel], scale2[sel], weight[sel], dof[sel] = predictor.predict(
                steps[sel, st.span - r:], g[sel])
        return _Prediction(st.pos[ids][:, None, :] + mean, scale2, weight, dof)

    return model


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
