"""What Track 1 tracking costs in score: the pipeline on tracked VIPs against the true ones.

On a simulation with videos, the same method runs twice on Track 1: once on the tracked VIP
trajectories (what a user submits) and once on the true VIP trajectories kept in ``ref/``
(what a perfect tracker would hand it). Both submissions are scored against ``ref/``; the
difference per experiment is the score the tracker loses. The true trajectories enter only
the second run, never the first.

Layout written under ``out``::

    out/true_tracks/exp_<E>/trajs_fov_<F>.csv   (true VIP positions, traj_idx,frame,x,y)
    out/tracked/track_1/...                      (submission on the tracked VIPs)
    out/true/track_1/...                         (submission on the true VIPs)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from andi2kit import io, layout, provenance
from andi2kit.pipeline import run
from andi2kit.scoring.score import ENSEMBLE_KEYS, SINGLE_KEYS, TITLES, TrackScore, score_track
from andi2kit.tracking import TrackingParams, fov_jobs, tracks_path

__all__ = ["TrackingCost", "cost_table", "tracking_cost"]

#: Metrics where a larger value is better (the gap is then true - tracked).
_HIGHER_BETTER = {"jsc_cp", "state"}


@dataclass
class TrackingCost:
    """Scores of one method on tracked and on true VIP trajectories."""

    method: str
    tracked: TrackScore
    true: TrackScore

    def gaps(self) -> pd.DataFrame:
        """Per experiment and overall: each metric on tracked, on true, and the score lost
        (positive = tracking made it worse)."""
        rows = {}
        for name, tr, tt in [*[(r["exp"], r, t) for r, t in zip(
                self.tracked.per_exp, self.true.per_exp, strict=True)],
                ("overall", {**self.tracked.single, **self.tracked.ensemble},
                 {**self.true.single, **self.true.ensemble})]:
            row = {}
            for k in (*SINGLE_KEYS, *ENSEMBLE_KEYS):
                a, b = tr.get(k, float("nan")), tt.get(k, float("nan"))
                row[f"{k}_tracked"], row[f"{k}_true"] = a, b
                row[f"{k}_lost"] = (b - a) if k in _HIGHER_BETTER else (a - b)
            rows[name] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "exp"
        return out


def write_true_tracks(public: str | Path, ref: str | Path, out: str | Path) -> Path:
    """Write the true VIP trajectories of every video's FOV in the tracks layout.

    Only ``traj_idx, frame, x, y`` are kept (:func:`andi2kit.io.read_trajectories` drops the
    label columns), so the pipeline sees nothing more than from a tracker.
    """
    out = Path(out)
    for exp, fov, video in fov_jobs(Path(public) / "track_1"):
        truth = io.read_trajectories(layout.trajs_path(ref, 1, exp, fov))
        dest = io.write_trajectories(tracks_path(out, exp, fov), truth)
        # recorded as this video's tracks, so that `run --tracks` uses them instead of
        # tracking the video again (they are rewritten, with their record, on every call)
        provenance.write_record(dest, provenance.tracks_record(video, TrackingParams()))
    return out


def tracking_cost(public: str | Path, ref: str | Path, tracks: str | Path, out: str | Path,
                  method: str = "unet", *, options: dict | None = None, workers: int = 1,
                  progress: bool = True) -> TrackingCost:
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

    Returns
    -------
    TrackingCost
    """
    out = Path(out)
    true_tracks = write_true_tracks(public, ref, out / "true_tracks")
    scores = {}
    for name, folder in (("tracked", Path(tracks)), ("true", true_tracks)):
        run(public, out / name, 1, method, options=options, workers=workers, force=True,
            progress=progress, tracks=folder)
        scores[name] = score_track(out / name, ref, 1)
    return TrackingCost(method, scores["tracked"], scores["true"])


def cost_table(costs: list[TrackingCost], within: pd.Series | None = None):
    """A rich table: per experiment, each metric on tracked / true VIPs for every method.

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
    from rich import box
    from rich.table import Table

    keys = (*SINGLE_KEYS, *ENSEMBLE_KEYS)
    t = Table(title="What tracking costs: score on tracked VIPs / on true VIPs (lost)",
              box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    t.add_column("exp", justify="right")
    t.add_column("method")
    if within is not None:
        t.add_column("≤1 px", justify="right")
    for k in keys:
        t.add_column(TITLES[k], justify="right", no_wrap=True)
    for c in costs:
        g = c.gaps()
        for exp, row in g.iterrows():
            cells = [f"{row[f'{k}_tracked']:.3f} / {row[f'{k}_true']:.3f} "
                     f"({row[f'{k}_lost']:+.3f})" for k in keys]
            lead = [str(exp), c.method]
            if within is not None:
                v = within.get(exp)
                lead.append("–" if v is None or pd.isna(v) else f"{100 * v:.1f} %")
            t.add_row(*lead, *cells, style="bold" if exp == "overall" else None)
    t.caption = ("lost: the score tracking costs (positive = worse on tracked VIPs); "
                 "single metrics averaged over VIPs, W1 over experiments")
    return t
