"""``andi2kit plot`` commands: figures drawn by :mod:`andi2kit.plots`, saved as PNG here
(registered in :mod:`andi2kit.cli`)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Annotated

import typer

from andi2kit import layout, plots
from andi2kit.console import say
from andi2kit.io import write_bytes_atomic

plot_app = typer.Typer(no_args_is_help=True, help="Write PNG figures.")


def _figure(figsize: tuple[float, float]):
    # matplotlib loads only for the plot commands (a Figure of its own: no pyplot, no GUI)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save_figure(fig, path: Path) -> Path:
    """Lay out ``fig`` and write it as PNG, atomically."""
    fig.tight_layout()
    png = BytesIO()
    fig.savefig(png, format="png", dpi=90)
    return write_bytes_atomic(path, png.getvalue())


@plot_app.command("fov")
def plot_fov(
    public: Annotated[Path, typer.Argument(help="public_data folder.")],
    exp: Annotated[int, typer.Option(help="Experiment.")],
    fov: Annotated[int, typer.Option(help="FOV.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNG.")] = Path("plots"),
    track: Annotated[int, typer.Option(min=1, max=2, help="1 or 2.")] = 2,
    ref: Annotated[Path | None, typer.Option(help="Reference folder (draws the truth).")]
    = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint folder.")] = None,
) -> None:
    """Paths and per-frame α(t), K(t), state(t) with predicted (and true) change points."""
    rows = 6
    fig = plots.plot_fov(public, track, exp, fov, ref=ref, checkpoint=checkpoint,
                         max_trajs=rows, fig=_figure((16, 2.6 * rows)))
    say(f"wrote {_save_figure(fig, out / f'fov_track{track}_exp{exp}_fov{fov}.png')}")


@plot_app.command("ensemble")
def plot_ensemble(
    submission: Annotated[Path, typer.Argument(help="Submission folder.")],
    ref: Annotated[Path, typer.Argument(help="Reference folder.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNGs.")] = Path("plots"),
    track: Annotated[int, typer.Option(min=1, max=2, help="1 or 2.")] = 2,
) -> None:
    """Predicted vs true ensemble distributions, one PNG per experiment."""
    for e in layout.experiments(ref, track):
        fig = plots.plot_ensemble(submission, ref, track, e, fig=_figure((11, 3.5)))
        say(f"wrote {_save_figure(fig, out / f'ensemble_track{track}_exp{e}.png')}")


@plot_app.command("states")
def plot_states(
    submission: Annotated[Path, typer.Argument(help="Submission folder.")],
    ref: Annotated[Path, typer.Argument(help="Reference folder.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNGs.")] = Path("plots"),
    track: Annotated[int | None, typer.Option(min=1, max=2, help="Only this track.")] = None,
) -> None:
    """Per-frame state confusion (rows: true state), one PNG per track."""
    for t in (track,) if track else layout.TRACKS:
        if not layout.experiments(ref, t) or not layout.track_dir(submission, t).is_dir():
            continue
        ax = plots.plot_state_confusion(submission, ref, t, ax=_figure((5.5, 4.5)).add_subplot())
        say(f"wrote {_save_figure(ax.figure, out / f'states_track{t}.png')}")


@plot_app.command("tracks")
def plot_tracks(
    public: Annotated[Path, typer.Argument(help="public_data folder (Track 1 videos).")],
    exp: Annotated[int, typer.Option(help="Experiment.")],
    fov: Annotated[int, typer.Option(help="FOV.")],
    tracks: Annotated[Path, typer.Option(help="Output folder of `andi2kit track`.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNG.")] = Path("plots"),
    ref: Annotated[Path | None, typer.Option(
        help="Reference folder of a simulation (draws the truth and the distance to it).")]
    = None,
) -> None:
    """Tracked VIP trajectories over the video's first frame (and their error, with --ref)."""
    fig = _figure((14 if ref is not None else 7, 7))
    axes = fig.subplots(1, 2 if ref is not None else 1, squeeze=False)[0]
    plots.plot_tracks(public, exp, fov, tracks, ref=ref, ax=axes[0])
    if ref is not None:
        plots.plot_track_errors(exp, fov, tracks, ref, ax=axes[1])
    say(f"wrote {_save_figure(fig, out / f'tracks_exp{exp}_fov{fov}.png')}")
