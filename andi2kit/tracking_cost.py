"""What Track 1 tracking costs in score: the pipeline on tracked VIPs against the true ones.

On a simulation with videos, the same method runs twice on Track 1: once on the tracked VIP
trajectories (what a user submits) and once on the VIPs' own trajectories (their rows of the
FOV's Track 2 CSV: what a perfect tracker would hand it). Both submissions are scored against
``ref/``; the difference per experiment is the score the tracker loses. The true trajectories
enter only the second run, never the first.

Layout written under ``out``::

    out/true_tracks/exp_<E>/trajs_fov_<F>.csv   (the VIPs' rows of the Track 2 CSV)
    out/tracked/track_1/...                      (submission on the tracked VIPs)
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
from andi2kit.errors import InputError
from andi2kit.pipeline import run
from andi2kit.scoring.score import ENSEMBLE_KEYS, SINGLE_KEYS, TITLES, TrackScore, score_track
from andi2kit.tracking import TrackingParams, fov_jobs

__all__ = ["TrackingCost", "cost_markdown", "cost_table", "tracking_cost"]

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

    They are the VIPs' rows of the FOV's Track 2 CSV (the simulation numbers the VIPs first
    in both): true positions with the challenge's localisation noise, ``traj_idx, frame, x,
    y`` only. The noise-free positions of ``ref`` would not do: an immobile particle there
    does not move at all, which no tracker (and no Track 2 file) ever shows a model.
    """
    out = Path(out)
    for exp, fov, video in fov_jobs(Path(public) / "track_1"):
        vips = np.atleast_1d(np.loadtxt(layout.vip_path(ref, exp, fov), dtype=np.int64))
        everyone = io.read_trajectories(layout.trajs_path(public, 2, exp, fov))
        truth = everyone[everyone["traj_idx"].isin(vips)]
        if sorted(truth["traj_idx"].unique()) != sorted(vips.tolist()):
            raise InputError(f"{layout.trajs_path(public, 2, exp, fov)}: the VIPs "
                                f"{vips.tolist()} of {layout.vip_path(ref, exp, fov)} are not "
                                "all in it")
        dest = io.write_trajectories(layout.tracks_path(out, exp, fov), truth)
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
        for exp, row in c.gaps().iterrows():
            v = None if within is None else within.get(exp)
            px = "–" if v is None or pd.isna(v) else f"{100 * v:.1f} %"
            bold = "bold" if exp == "overall" else None
            for n, part in enumerate(("tracked", "true", "lost")):
                lead = [str(exp), c.method, px] if n == 0 else ["", "", ""]
                cells = [f"{row[f'{k}_{part}']:+.3f}" if part == "lost"
                         else f"{row[f'{k}_{part}']:.3f}" for k in keys]
                t.add_row(lead[0], lead[1], part, lead[2], *cells,
                          style=bold if part == "lost" else None,
                          end_section=part == "lost")
    t.caption = ("lost: the score tracking costs (positive = worse on the tracked VIPs); "
                 "true: the VIPs' own trajectories with the challenge's localisation noise")
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
    lines = ["| exp | method | VIP frames ≤ 1 px | "
             + " | ".join(f"{TITLES[k]} tracked / true (lost)" for k in keys) + " |",
             "|---" * (3 + len(keys)) + "|"]
    for c in costs:
        for exp, row in c.gaps().iterrows():
            v = None if within is None else within.get(exp)
            cells = [("**all**" if exp == "overall" else str(exp)), c.method,
                     "–" if v is None or pd.isna(v) else f"{100 * v:.1f} %"]
            for k in keys:
                a, b, lost = row[f"{k}_tracked"], row[f"{k}_true"], row[f"{k}_lost"]
                cells.append("–" if pd.isna(a) else f"{a:.3f} / {b:.3f} ({lost:+.3f})")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
