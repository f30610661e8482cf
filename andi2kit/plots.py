"""Figures a person would rather look at than read: per-trajectory segmentation of a FOV,
predicted vs true ensemble distributions of an experiment, the per-frame state confusion of
a submission, tracked VIPs over their video.

Every function draws into the matplotlib Axes (``ax``) or Figure (``fig``, where it needs
several Axes) it is given, or into a new one, and returns it; nothing is written to disk
(``andi2kit plot`` creates the figures and saves them as PNG). In a notebook::

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 7))
    plot_tracks(public, 1, 0, tracks, ref=ref, ax=left)
    plot_track_errors(1, 0, tracks, ref, ax=right)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.fov_input import read_fov_input
from andi2kit.inference import COLUMN
from andi2kit.io import read_ensemble, read_labels, read_trajectories, read_video
from andi2kit.methods.unet import UNetMethod
from andi2kit.scoring import metrics as M
from andi2kit.tracking.evaluate import frame_errors, read_truth

STATE_COLOURS = ("tab:gray", "tab:orange", "tab:blue", "tab:red")


def _pyplot():
    # pyplot (and a notebook's backend) loads only when a figure or a colour map is needed
    import matplotlib.pyplot as plt

    return plt


def _new_figure(figsize: tuple[float, float]):
    return _pyplot().figure(figsize=figsize)


def _axes(ax, figsize: tuple[float, float]):
    return ax if ax is not None else _new_figure(figsize).add_subplot()


def plot_fov(public: str | Path, track: int, exp: int, fov: int, *,
             ref: str | Path | None = None, checkpoint: str | Path | None = None,
             max_trajs: int = 6, fig=None):
    """Paths and per-frame α(t), K(t), state(t) of a FOV's longest trajectories.

    Per-frame predictions come from the U-Net checkpoint, segments (dashed lines: change
    points) from its tuned segmenter; with ``ref``, the true segment values (black) and change
    points (dotted) are drawn too.

    Parameters
    ----------
    public : path-like
        ``public_data`` folder.
    track, exp, fov : int
        The FOV.
    ref : path-like, optional
        Reference folder (draws the truth).
    checkpoint : path-like, optional
        U-Net checkpoint folder (default: the packaged one).
    max_trajs : int
        Rows: the longest trajectories, at most this many.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (a grid of one row per trajectory, 4 columns); a new one, 2.6
        inches high per row, when None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (several Axes).
    """
    public = Path(public)
    trajs = read_fov_input(public, track, exp, fov)
    method = UNetMethod(checkpoint=checkpoint)
    tensor, frames = method.predict_frames(trajs)
    labels = method.segments(tensor, frames)  # the segments `andi2kit run` writes (unpooled)
    truth = {}
    if ref is not None:
        truth = {lab.idx: lab for lab in read_labels(layout.labels_path(ref, track, exp, fov))}
    order = np.argsort(-tensor.length)[:max_trajs]
    fig = fig if fig is not None else _new_figure((16, 2.6 * len(order)))
    axes = fig.subplots(len(order), 4, squeeze=False)
    for row, i in zip(axes, order, strict=True):
        idx, fr, lab = int(tensor.idx[i]), frames[i], labels[i]
        t = np.arange(fr.shape[0])
        xy = trajs[trajs.traj_idx == idx].sort_values("frame")
        row[0].plot(xy.x, xy.y, lw=0.8)
        row[0].set_title(f"trajectory {idx} (T = {lab.T})", fontsize=9)
        row[0].set_aspect("equal", adjustable="datalim")
        panels = [(row[1], fr[:, COLUMN["alpha"]], lab.alpha, "α"),
                  (row[2], np.log10(np.maximum(fr[:, COLUMN["K"]], 1e-6)),
                   np.log10(np.maximum(lab.K, 1e-6)), "log10 K")]
        bounds = [0, *lab.cp.tolist(), lab.T]
        for ax, per_frame, seg_vals, name in panels:
            ax.plot(t, per_frame, lw=0.7, color="tab:blue", label="per frame")
            for v, a, b in zip(seg_vals, bounds[:-1], bounds[1:], strict=True):
                ax.hlines(v, a, b, color="tab:green", lw=2, label="segment")
            ax.set_ylabel(name)
        states = fr[:, COLUMN["state"]]
        row[3].scatter(t, states, c=[STATE_COLOURS[int(s)] for s in states], s=3)
        row[3].set_yticks(range(4), ["imm.", "conf.", "free", "dir."])
        for ax in row[1:]:
            for c in lab.cp:
                ax.axvline(c, ls="--", color="tab:green", lw=0.8)
        if idx in truth:
            tl = truth[idx]
            tb = [0, *tl.cp.tolist(), tl.T]
            for ax, vals in ((row[1], tl.alpha), (row[2], np.log10(np.maximum(tl.K, 1e-6))),
                             (row[3], tl.state)):
                for v, a, b in zip(vals, tb[:-1], tb[1:], strict=True):
                    ax.hlines(v, a, b, color="k", lw=1, ls=":")
                for c in tl.cp:
                    ax.axvline(c, ls=":", color="k", lw=0.8)
    axes[-1][1].set_xlabel("frame from trajectory start")
    fig.suptitle(f"track {track} · exp {exp} · fov {fov}  (green: predicted segments, "
                 f"black dotted: truth)")
    return fig


def plot_ensemble(submission: str | Path, ref: str | Path, track: int, exp: int, *,
                  fig=None):
    """Predicted vs true distributions (CDFs) of α and K of one experiment, as scored.

    Parameters
    ----------
    submission, ref : path-like
        Submission and reference folders.
    track, exp : int
        The experiment.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (two Axes side by side: α, K); a new one when None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (two Axes).
    """
    true = read_ensemble(layout.ensemble_path(ref, track, exp)).matrix
    pred = read_ensemble(layout.ensemble_path(submission, track, exp)).matrix
    t, p = M.ensemble_components(true.squeeze()), M.ensemble_components(pred.squeeze())
    w1 = M.ensemble_distances(true.squeeze(), pred.squeeze())
    fig = fig if fig is not None else _new_figure((11, 3.5))
    axes = fig.subplots(1, 2)
    for ax, name, d in zip(axes, ("alpha", "K"), w1, strict=True):
        x = M.support(name)[::100]
        for comps, label, colour in ((t, "true", "k"), (p, "predicted", "tab:blue")):
            # CDFs: W1 is the area between them, and spikes (zero variance) stay readable
            cdf = np.cumsum(M.mixture_density(*comps[name], name, x=x))
            ax.plot(x, cdf / cdf[-1], color=colour, label=label)
        ax.set_ylabel("cumulative distribution")
        if name == "K":
            ax.set_xscale("log")
            ax.set_xlim(1e-4, 1e2)
        ax.set_title(f"{'α' if name == 'alpha' else 'K'} (W1 = {d:.3f})")
        ax.legend()
    fig.suptitle(f"track {track} · exp {exp}: ensemble distributions")
    return fig


def plot_state_confusion(submission: str | Path, ref: str | Path, track: int, *, ax=None):
    """Per-frame state confusion of one track of a submission as a heat map: rows the true
    state (with its frames), columns the predicted one, each row summing to 1.

    Parameters
    ----------
    submission, ref : path-like
        Submission and reference folders.
    track : int
        1 or 2.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new one when None.

    Returns
    -------
    matplotlib.axes.Axes

    See Also
    --------
    andi2kit.scoring.confusion.state_confusion : the counts (``andi2kit score --states``).
    """
    from andi2kit.constants import STATE_NAMES
    from andi2kit.scoring.confusion import state_confusion

    c = state_confusion(submission, ref, track)
    norm = c.normalised()
    ax = _axes(ax, (5.5, 4.5))
    ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(norm.shape[0]):
        for j in range(norm.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.6 else "black")
    frames = c.counts.sum(axis=1)
    ax.set_xticks(range(len(STATE_NAMES)), STATE_NAMES)
    ax.set_yticks(range(len(STATE_NAMES)),
                  [f"{name}\n({int(n)} frames)" for name, n in zip(STATE_NAMES, frames,
                                                                     strict=True)])
    ax.set_xlabel("predicted state")
    ax.set_ylabel("true state")
    ax.set_title(f"track {track}: per-frame states"
                 + (f" ({c.unmatched} frames unpredicted)" if c.unmatched else ""))
    return ax


def plot_tracks(public: str | Path, exp: int, fov: int, tracks: str | Path, *,
                ref: str | Path | None = None, ax=None):
    """The VIP trajectories tracked in a Track 1 video, drawn over its first movie frame.

    With ``ref`` (a simulation), the true VIP trajectories are drawn dotted in the same
    colours. The tracks of every other particle (the field file beside the VIPs',
    :func:`andi2kit.tracking.field_tracks`: what the experiment's state decision reads) are
    drawn thin and white underneath, when the tracks folder holds them.

    Parameters
    ----------
    public : path-like
        ``public_data`` folder (``track_1/exp_E/videos_fov_F.tiff``).
    exp, fov : int
        The FOV.
    tracks : path-like
        Output folder of ``andi2kit track``.
    ref : path-like, optional
        Reference folder of a simulation.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; new ones when None.

    Returns
    -------
    matplotlib.axes.Axes

    See Also
    --------
    plot_track_errors : each VIP's distance to its truth, frame by frame.
    """
    video = read_video(layout.video_path(public, exp, fov))
    tracked = read_trajectories(layout.tracks_path(tracks, exp, fov))
    truth = origin = None
    if ref is not None:
        truth, origin = read_truth(ref, exp, fov)
    ax = _axes(ax, (7, 7))
    ax.imshow(video[1], cmap="gray")
    field = layout.field_path(tracks, exp, fov)
    if field.is_file():
        for _, g in read_trajectories(field).groupby("traj_idx"):
            ax.plot(g["y"], g["x"], color="white", lw=0.5, alpha=0.5, gid="field")
    colours = _pyplot().get_cmap("tab10")
    for i, (idx, g) in enumerate(tracked.groupby("traj_idx")):
        c = colours(i % 10)
        ax.plot(g["y"], g["x"], color=c, lw=1)  # tracks are in pixels: x = row, y = column
        ax.text(g["y"].iloc[0], g["x"].iloc[0], str(idx), color=c, fontsize=9,
                fontweight="bold")
        if truth is not None:
            t = truth[truth["traj_idx"] == idx]
            ax.plot(t["y"] - origin[1], t["x"] - origin[0], color=c, lw=1, ls=":")
    ax.set_xlim(-0.5, video.shape[2] - 0.5)
    ax.set_ylim(video.shape[1] - 0.5, -0.5)
    notes = [*(["white: every other tracked particle"] if field.is_file() else []),
             *(["dotted: truth"] if truth is not None else [])]
    ax.set_title(f"exp {exp} · fov {fov}: tracked VIPs"
                 + (f" ({'; '.join(notes)})" if notes else ""), fontsize=10)
    return ax


def plot_track_errors(exp: int, fov: int, tracks: str | Path, ref: str | Path, *,
                      tol: float = 1.0, ax=None):
    """Each tracked VIP's distance to its true trajectory, frame by frame.

    A jump that stays above ``tol`` is an identity switch.

    Parameters
    ----------
    exp, fov, tracks, ax
        As in :func:`plot_tracks`.
    ref : path-like
        Reference folder of the simulation (required here).
    tol : float
        Distance (px) drawn as the "correct" line.

    Returns
    -------
    matplotlib.axes.Axes

    See Also
    --------
    plot_tracks : the tracked VIPs over the video.
    """
    tracked = read_trajectories(layout.tracks_path(tracks, exp, fov))
    truth, origin = read_truth(ref, exp, fov)
    ax = _axes(ax, (7, 7))
    colours = _pyplot().get_cmap("tab10")
    err = frame_errors(tracked.assign(x=tracked["x"] + origin[0],
                                      y=tracked["y"] + origin[1]), truth)
    for i, idx in enumerate(sorted(tracked["traj_idx"].unique())):
        e = err[err["traj_idx"] == idx]
        ax.semilogy(e["frame"], np.maximum(e["dist"], 1e-2), color=colours(i % 10),
                    lw=1, label=str(idx))
    ax.axhline(tol, color="k", ls="--", lw=0.8)
    ax.set_xlabel("frame")
    ax.set_ylabel("distance to the true VIP (px)")
    within = float(np.sum(err["dist"] <= tol)) / max(len(truth), 1)
    ax.set_title(f"{within:.0%} of true VIP frames within {tol:g} px")
    ax.legend(title="VIP", fontsize=7, ncol=2)
    return ax
