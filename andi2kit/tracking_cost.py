"""What Track 1 tracking costs in score: the pipeline on tracked VIPs against the true ones.

On a simulation with videos, the same method runs twice on Track 1: once on the tracked VIP
trajectories (what a user submits) and once on the VIPs' own trajectories (their rows of the
FOV's Track 2 CSV: what a perfect tracker would hand it). Both submissions are scored against
``ref/``; the difference per experiment is the score the tracker loses. The true trajectories
enter only the second run, never the first.

A third run splits the loss into its two sources: *identity kept* is the tracked trajectories
with every frame where the tracked VIP is more than 1 px from the true one replaced by the
true position with the tracker's own error (:data:`~andi2kit.constants.TRACKED_NOISE`, white,
per axis: the error the pipeline corrects tracked positions for). What it still loses against
*true* is the tracker's localisation against the public data's (the truth with 0.12 px of
noise); what *tracked* loses against it is identity. A diagnostic only: the tracked
submission never sees the truth.

Layout written under ``out``::

    out/true_tracks/exp_<E>/trajs_fov_<F>.csv   (the VIPs' rows of the Track 2 CSV)
    out/kept_tracks/exp_<E>/trajs_fov_<F>.csv   (tracked, lost frames put back on the VIP)
    out/{true,kept}_tracks/exp_<E>/field_fov_<F>.csv  (the tracked run's field tracks)
    out/tracked/track_1/...                      (submission on the tracked VIPs)
    out/kept/track_1/...                         (submission with identity kept)
    out/true/track_1/...                         (submission on the true VIPs)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich import box
from rich.table import Table

from andi2kit import io, layout, provenance
from andi2kit.constants import BRIGHTNESS, LOCALISATION_NOISE, TRACKED_NOISE
from andi2kit.errors import InputError
from andi2kit.fov_input import resolve_tracker
from andi2kit.pipeline import run
from andi2kit.scoring.score import ENSEMBLE_KEYS, SINGLE_KEYS, TITLES, TrackScore, score_track
from andi2kit.tracking import fov_jobs
from andi2kit.tracking.evaluate import frame_errors, read_truth
from andi2kit.tracking.losses import frame_labels
from andi2kit.tracking.params import TrackingParams
from andi2kit.tracking.video import read_tracks, write_tracks

__all__ = ["TrackingCost", "cost_markdown", "cost_table", "loss_cost_table", "loss_costs",
           "tracking_cost", "vip_label_errors"]

#: Metrics where a larger value is better (the gap is then true - tracked).
_HIGHER_BETTER = {"jsc_cp", "state"}


@dataclass
class TrackingCost:
    """Scores of one method on tracked VIP trajectories, on the same with identity kept (see
    the module docstring), and on the true VIP trajectories."""

    method: str
    tracked: TrackScore
    true: TrackScore
    kept: TrackScore | None = None

    def gaps(self) -> pd.DataFrame:
        """Per experiment and overall: each metric on tracked, with identity kept (NaN
        without that run), on true, and the score lost (positive = tracking made it
        worse)."""
        def flat(s: TrackScore) -> list[dict]:
            return [*s.per_exp, {"exp": "overall", **s.single, **s.ensemble}]

        kept = flat(self.kept) if self.kept is not None else None
        rows = {}
        for n, (tr, tt) in enumerate(zip(flat(self.tracked), flat(self.true), strict=True)):
            row = {}
            for k in (*SINGLE_KEYS, *ENSEMBLE_KEYS):
                a, b = tr.get(k, float("nan")), tt.get(k, float("nan"))
                row[f"{k}_tracked"], row[f"{k}_true"] = a, b
                row[f"{k}_kept"] = kept[n].get(k, float("nan")) if kept else float("nan")
                row[f"{k}_lost"] = (b - a) if k in _HIGHER_BETTER else (a - b)
            rows[tr["exp"]] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "exp"
        return out


def write_true_tracks(public: str | Path, ref: str | Path, out: str | Path,
                      field: str | Path | None = None,
                      tracker: TrackingParams | None = None) -> Path:
    """Write the true VIP trajectories of every video's FOV in the tracks layout.

    They are the VIPs' rows of the FOV's Track 2 CSV (the simulation numbers the VIPs first
    in both): true positions with the challenge's localisation noise, ``traj_idx, frame, x,
    y`` only. The noise-free positions of ``ref`` would not do: an immobile particle there
    does not move at all, which no tracker (and no Track 2 file) ever shows a model.

    With ``field`` (a tracks folder), each FOV's field tracks are copied from there: the
    true run then differs from the tracked one by the VIPs only. Every file is recorded as made
    by ``tracker`` (the default tracker when None), the one ``run`` with that tracker will look
    for.
    """
    out = Path(out)
    params = resolve_tracker(tracker)
    for exp, fov, video in fov_jobs(Path(public) / "track_1"):
        # recorded as this video's tracks, so that `run --tracks` uses them instead of
        # tracking the video again (they are rewritten, with their record, on every call)
        record = provenance.tracks_record(video, params)
        if field is not None:
            _copy_field(Path(field), out, exp, fov, record)
        vips = io.read_vip_indices(layout.vip_path(ref, exp, fov))
        everyone = io.read_trajectories(layout.trajs_path(public, 2, exp, fov))
        truth = everyone[everyone["traj_idx"].isin(vips)]
        if sorted(truth["traj_idx"].unique()) != sorted(vips.tolist()):
            raise InputError(f"{layout.trajs_path(public, 2, exp, fov)}: the VIPs "
                                f"{vips.tolist()} of {layout.vip_path(ref, exp, fov)} are not "
                                "all in it")
        dest = io.write_trajectories(layout.tracks_path(out, exp, fov), truth)
        provenance.write_record(dest, record)
    return out


#: Seed of the error added to the positions put back on the VIP (with the FOV's numbers).
KEPT_SEED = 20261206


def write_kept_tracks(public: str | Path, ref: str | Path, tracks: str | Path,
                      out: str | Path, tol: float = 1.0,
                      noise: float = TRACKED_NOISE, tracker: TrackingParams | None = None
                      ) -> Path:
    """Write the tracked VIP trajectories with identity kept: every tracked frame more than
    ``tol`` px from the true VIP takes the VIP's true position plus white Gaussian error of
    ``noise`` px per axis (the tracker's; seeded by :data:`KEPT_SEED` and the FOV), in the
    tracked coordinates. (Until 2026-12-06 the public data's positions were put back, whose
    0.12 px of noise the pipeline, correcting tracked positions for 0.07, read as motion:
    near-ballistic experiments' α and K came out worse with identity kept than tracked.)
    Recorded as made by ``tracker``, as :func:`write_true_tracks`.

    The tracked frames and their order are kept within the VIP's span (a frame inside it the
    truth does not have stays as tracked), so the method sees the tracker's positions
    wherever it was right; frames after the VIP left the field are dropped.

    Parameters
    ----------
    public, ref : path-like
        ``public_data`` and ``ref`` of a simulation with videos.
    tracks : path-like
        Tracked VIP trajectories (``andi2kit track`` output).
    out : path-like
        Folder for ``exp_<E>/trajs_fov_<F>.csv``.
    tol : float
        Distance (px) up to which a tracked frame counts as on the VIP.
    noise : float
        Error (px per axis) of the positions put back.

    Returns
    -------
    pathlib.Path
        ``out``.

    Examples
    --------
    Tracked on the VIP for 2 frames, then on another particle: the last frame is put back.

    >>> import pandas as pd
    >>> tracked = pd.DataFrame({"traj_idx": 0, "frame": [0, 1, 2], "x": [1.0, 2.0, 9.0],
    ...                         "y": 0.0})
    >>> truth = pd.DataFrame({"traj_idx": 0, "frame": [0, 1, 2], "x": [1.1, 2.0, 3.0],
    ...                       "y": 0.0})
    >>> _keep_identity(tracked, truth, truth, tol=1.0)["x"].tolist()
    [1.0, 2.0, 3.0]
    """
    out = Path(out)
    params = resolve_tracker(tracker)
    for exp, fov, video in fov_jobs(Path(public) / "track_1"):
        record = provenance.tracks_record(video, params)
        _copy_field(Path(tracks), out, exp, fov, record)
        truth, origin = read_truth(ref, exp, fov)
        tracked = read_tracks(layout.tracks_path(tracks, exp, fov))
        truth = truth.assign(x=truth["x"] - origin[0], y=truth["y"] - origin[1])  # tracked
        rng = np.random.default_rng([KEPT_SEED, exp, fov])
        placed = truth.assign(x=truth["x"] + rng.normal(0, noise, len(truth)),
                              y=truth["y"] + rng.normal(0, noise, len(truth)))
        kept = _keep_identity(tracked, truth, placed, tol)
        dest = write_tracks(layout.tracks_path(out, exp, fov), kept)
        provenance.write_record(dest, record)
    return out


def _copy_field(tracks: Path, out: Path, exp: int, fov: int, record: dict) -> None:
    """Copy a FOV's field tracks (:func:`andi2kit.tracking.field_tracks`) with their record,
    when ``tracks`` holds them made as ``record`` says (the video's
    :func:`andi2kit.provenance.tracks_record`; else ``run`` tracks the video for them)."""
    src = layout.field_path(tracks, exp, fov)
    if provenance.stale_reason(src, record) is None:
        dest = io.write_text_atomic(layout.field_path(out, exp, fov), src.read_text())
        provenance.write_record(dest, record)


def _keep_identity(tracked: pd.DataFrame, truth: pd.DataFrame, noisy: pd.DataFrame,
                   tol: float) -> pd.DataFrame:
    """``tracked`` with the frames more than ``tol`` from ``truth`` moved to ``noisy``, and
    without the frames after the VIP has left the field (or before it entered): the tracker
    carried it on another particle there, tens of pixels away, where no position keeps its
    identity."""
    span = truth.groupby("traj_idx")["frame"].agg(["min", "max"])
    lo = tracked["traj_idx"].map(span["min"])
    hi = tracked["traj_idx"].map(span["max"])
    inside = lo.isna() | ((tracked["frame"] >= lo) & (tracked["frame"] <= hi))
    tracked = tracked.loc[inside.to_numpy()].reset_index(drop=True)
    err = frame_errors(truth, tracked).rename(columns={"dist": "err"})  # per tracked row
    both = tracked.merge(err, on=["traj_idx", "frame"], how="left")
    both = both.merge(noisy.loc[:, ["traj_idx", "frame", "x", "y"]],
                      on=["traj_idx", "frame"], how="left", suffixes=("", "_true"))
    lost = (both["err"] > tol) & both["x_true"].notna()
    both.loc[lost, "x"] = both.loc[lost, "x_true"]
    both.loc[lost, "y"] = both.loc[lost, "y_true"]
    if BRIGHTNESS in both:  # the spot measured there was another particle's
        both.loc[lost, BRIGHTNESS] = np.nan
    return both.loc[:, tracked.columns]


def tracking_cost(public: str | Path, ref: str | Path, tracks: str | Path, out: str | Path,
                  method: str = "unet", *, options: dict | None = None, workers: int = 1,
                  progress: bool = True, tracker: TrackingParams | None = None
                  ) -> TrackingCost:
    """Run ``method`` on Track 1 with the tracked and with the true VIPs; score both.

    Parameters
    ----------
    public, ref : path-like
        ``public_data`` and ``ref`` of a simulation with videos.
    tracks : path-like
        Tracked VIP trajectories (``andi2kit track`` output; FOVs missing there are tracked).
    out : path-like
        Working folder (see the module docstring); both submissions are redone every time.
    method : str
        Prediction method.
    options : dict, optional
        Its options.
    workers : int
        Processes over FOVs.
    progress : bool
        Show progress bars.
    tracker : TrackingParams, optional
        The tracker that made (or makes) ``tracks``; the default tracker when None.

    Returns
    -------
    TrackingCost
    """
    out = Path(out)

    def scored(name: str, folder: Path, as_given: bool, opts: dict | None = None
               ) -> TrackScore:
        before = _digests(folder) if as_given else None
        run(public, out / name, 1, method, options=opts or options, workers=workers,
            force=True, progress=progress, tracks=folder, tracker=tracker)
        if before is not None and _digests(folder) != before:
            # `run` tracks a video again when it takes the tracks for stale (the tracker's
            # code changed under a running job): the row would silently be "tracked"
            raise InputError(f"{folder}: the {name} VIP trajectories were tracked again by "
                             "`run` (was the tracker's code edited during this job?); rerun")
        return score_track(out / name, ref, 1)

    tracked = scored("tracked", Path(tracks), as_given=False)  # tracks missing FOVs
    # the true and kept runs take the tracked run's field tracks: they differ from it by the
    # VIPs only
    true_tracks = write_true_tracks(public, ref, out / "true_tracks", field=tracks,
                                    tracker=tracker)
    # the true positions carry the public localisation noise, not the tracker's error
    true = scored("true", true_tracks, as_given=True,
                  opts=(options or {}) | {"tracked_noise": LOCALISATION_NOISE}
                  if method == "unet" else None)
    kept = scored("kept", write_kept_tracks(public, ref, tracks, out / "kept_tracks",
                                            tracker=tracker),
                  as_given=True)
    return TrackingCost(method, tracked, true, kept)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): provenance.file_digest(p)
            for p in sorted(folder.glob("exp_*/*_fov_*.csv"))}


def cost_table(costs: list[TrackingCost], within: pd.Series | None = None):
    """A rich table: per experiment and method, each metric on the tracked VIPs, on the true
    ones, and the score tracking loses.

    Parameters
    ----------
    costs : list of TrackingCost
        One per method.
    within : pandas.Series, optional
        Fraction of VIP frames tracked within 1 px, by experiment (and ``overall``).

    Returns
    -------
    rich.table.Table
    """
    keys = (*SINGLE_KEYS, *ENSEMBLE_KEYS)
    t = Table(title="What tracking costs: the same method on tracked and on true VIPs",
              box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    for c in ("exp", "method", "VIPs", "≤1 px", *(TITLES[k] for k in keys)):
        t.add_column(c, justify="right" if c not in ("method", "VIPs") else "left",
                     no_wrap=True)
    for c in costs:
        parts = ("tracked", "true", "lost") if c.kept is None else (
            "tracked", "identity kept", "true", "lost")
        for exp, row in c.gaps().iterrows():
            v = None if within is None else within.get(exp)
            px = "–" if v is None or pd.isna(v) else f"{100 * v:.1f} %"
            bold = "bold" if exp == "overall" else None
            for n, part in enumerate(parts):
                col = "kept" if part == "identity kept" else part
                lead = [str(exp), c.method, px] if n == 0 else ["", "", ""]
                cells = [f"{row[f'{k}_{col}']:+.3f}" if part == "lost"
                         else f"{row[f'{k}_{col}']:.3f}" for k in keys]
                t.add_row(lead[0], lead[1], part, lead[2], *cells,
                          style=bold if part == "lost" else None,
                          end_section=part == "lost")
    t.caption = ("lost: the score tracking costs (positive = worse on the tracked VIPs); "
                 "true: the VIPs' own trajectories with the challenge's localisation noise; "
                 "identity kept: the tracked ones with every frame more than 1 px off the VIP "
                 "put back on it (what is left of the loss is not identity)")
    return t


def cost_markdown(costs: list[TrackingCost], within: pd.Series | None = None) -> str:
    """:func:`cost_table` as a Markdown table (for BENCHMARK.md and the README).

    Examples
    --------
    >>> from andi2kit.scoring.score import TrackScore
    >>> s = TrackScore(1, per_exp=[{"exp": 0, "jsc_cp": 0.5}], single={"jsc_cp": 0.5})
    >>> cost_markdown([TrackingCost("msd", s, s)]).splitlines()[2].split(" | ")[:5]
    ['| 0', 'msd', '–', '–', '0.500 / 0.500 (+0.000)']
    """
    keys = (*SINGLE_KEYS, *ENSEMBLE_KEYS)
    kept = any(c.kept is not None for c in costs)
    head = "tracked / identity kept / true (lost)" if kept else "tracked / true (lost)"
    lines = ["| exp | method | VIP frames ≤ 1 px | "
             + " | ".join(f"{TITLES[k]} {head}" for k in keys) + " |",
             "|---" * (3 + len(keys)) + "|"]
    for c in costs:
        for exp, row in c.gaps().iterrows():
            v = None if within is None else within.get(exp)
            cells = [("**all**" if exp == "overall" else str(exp)), c.method,
                     "–" if v is None or pd.isna(v) else f"{100 * v:.1f} %"]
            for k in keys:
                a, b, lost = row[f"{k}_tracked"], row[f"{k}_true"], row[f"{k}_lost"]
                mid = "" if not kept else (
                    "– / " if pd.isna(row[f"{k}_kept"]) else f"{row[f'{k}_kept']:.3f} / ")
                cells.append("–" if pd.isna(a) else f"{a:.3f} / {mid}{b:.3f} ({lost:+.3f})")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def vip_label_errors(ref: str | Path, prediction: str | Path, exp: int, fov: int
                     ) -> dict[int, tuple[int, np.ndarray, np.ndarray]]:
    """Per VIP of a simulated Track 1 FOV with labels in ``prediction`` (a ``fov_<F>.txt``
    file): its first frame and, frame by frame from there, the squared log1p-K error (the
    terms of the K MSLE) and the absolute α error of the predicted labels against the true
    ones."""
    truth, _origin = read_truth(ref, exp, fov)
    first = truth.groupby("traj_idx")["frame"].min().to_dict()
    true = frame_labels(layout.labels_path(ref, 1, exp, fov), first)
    pred = frame_labels(prediction, {})
    out = {}
    for idx, start in first.items():
        if int(idx) in true and int(idx) in pred:
            t, p = true[int(idx)][1], pred[int(idx)][1]
            n = min(len(t), len(p))
            out[int(idx)] = (int(start), (np.log1p(p[:n, 1]) - np.log1p(t[:n, 1])) ** 2,
                             np.abs(p[:n, 0] - t[:n, 0]))
    return out


def loss_costs(losses: pd.DataFrame, ref: str | Path, predictions: str | Path
               ) -> tuple[pd.DataFrame, dict[str, float]]:
    """What each loss of a VIP costs a submission: its per-frame errors summed over the
    frames the loss lasts.

    Parameters
    ----------
    losses : pandas.DataFrame
        :func:`andi2kit.tracking.losses.losses_folder` rows (``exp, fov, traj_idx, frame,
        cause, frames_lost, swap``).
    ref : path-like
        The simulation's ``ref`` folder (the VIPs' true labels).
    predictions : path-like
        A Track 1 submission made on the tracked VIPs.

    Returns
    -------
    costs : pandas.DataFrame
        Per loss: ``cause, swap, swap_at_loss, frames`` and the sums ``K`` (squared
        log1p-K errors, the terms of the K MSLE) and ``alpha`` (absolute α errors).
    totals : dict
        The same sums over every VIP frame of the FOVs predicted (``K``, ``alpha``).

    See Also
    --------
    andi2kit.tracking.losses.classify_losses : what a loss is.
    """
    ref, predictions = Path(ref), Path(predictions)
    rows: list[dict] = []
    totals = {"K": 0.0, "alpha": 0.0}
    for path in sorted(predictions.glob("track_1/exp_*/fov_*.txt")):
        exp, fov = int(path.parent.name[4:]), int(path.stem[4:])
        mine = losses[(losses["exp"] == exp) & (losses["fov"] == fov)]
        for idx, (start, k, a) in vip_label_errors(ref, path, exp, fov).items():
            totals["K"] += float(k.sum())
            totals["alpha"] += float(a.sum())
            for r in mine[mine["traj_idx"] == idx].itertuples(index=False):
                lo = int(r.frame) - start
                hi = lo + int(r.frames_lost)
                rows.append({"cause": r.cause, "swap": r.swap,
                             "swap_at_loss": getattr(r, "swap_at_loss", r.swap),
                             "frames": hi - lo,
                             "K": float(k[lo:hi].sum()), "alpha": float(a[lo:hi].sum())})
    cols = ["cause", "swap", "swap_at_loss", "frames", "K", "alpha"]
    return pd.DataFrame(rows, columns=cols), totals


def loss_cost_table(costs: dict[str, tuple[pd.DataFrame, dict[str, float]]]):
    """A rich table of :func:`loss_costs` per method: the losses, the frames they last and
    their share of the K and α errors, by whom the VIP followed and by cause."""
    t = Table(title="What the losses cost: errors in the frames after each loss",
              box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    for c in ("method", "losses by", "", "losses", "frames", "share of K error",
              "share of α error"):
        t.add_column(c, justify="left" if c in ("method", "losses by", "") else "right")
    for method, (found, totals) in costs.items():
        def share(v: float, key: str, totals: dict = totals) -> str:
            return f"{100 * v / max(totals[key], 1e-12):.1f} %"

        first = True
        # alike where they met, and over the frames lost?
        found = found.assign(**{"met as → swap": found["swap_at_loss"] + " → " + found["swap"]})
        for key in ("swap", "met as → swap", "cause"):
            if found.empty:
                continue
            g = found.groupby(key).agg(losses=("frames", "size"), frames=("frames", "sum"),
                                       K=("K", "sum"), alpha=("alpha", "sum"))
            for n, (name, r) in enumerate(g.iterrows()):
                t.add_row(method if first else "", key if n == 0 else "", str(name),
                          str(int(r.losses)), str(int(r.frames)), share(r.K, "K"),
                          share(r.alpha, "alpha"), end_section=n == len(g) - 1)
                first = False
        if not found.empty:
            t.add_row("", "all", "", str(len(found)), str(int(found.frames.sum())),
                      share(found.K.sum(), "K"), share(found.alpha.sum(), "alpha"),
                      style="bold", end_section=True)
    t.caption = ("share: of the per-frame squared log1p-K and absolute α errors summed over "
                 "all VIP frames of the method's predictions on the tracked VIPs; met as: "
                 "the swap judged at the loss frame alone (look-alike → different: the two "
                 "moved alike where they met and not over the frames lost)")
    return t
