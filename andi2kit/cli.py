"""``andi2kit`` command line: one thin function per command.

Errors a user can fix are reported by :class:`andi2kit.console.ErrorBoundary` as one or two
lines (exit code 2); fixed choices are click choices and numbers are range-checked here,
before any work starts.
"""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from click.core import ParameterSource
from rich.table import Table

from andi2kit import __version__
from andi2kit.archive import write_zip
from andi2kit.console import ErrorBoundary, console, err, fail, say, setup
from andi2kit.console import quiet as output_is_quiet
from andi2kit.constants import STATE_NAMES
from andi2kit.ensemble import ENSEMBLE_METHODS
from andi2kit.errors import InputError, OptionError
from andi2kit.execution import ENV_SCHEDULER, set_scheduler
from andi2kit.fov_input import tracks_present
from andi2kit.inference import predict as _predict
from andi2kit.io import read_trajectories, write_text_atomic
from andi2kit.methods import METHODS
from andi2kit.models.evaluate import compare_with_msd, confusion_table
from andi2kit.pipeline import run as _run
from andi2kit.plot_cli import plot_app
from andi2kit.scoring.confusion import confusion_markdown, state_confusion
from andi2kit.scoring.report import score_table, unscored
from andi2kit.scoring.score import fmt, write_outputs
from andi2kit.scoring.score import score as _score
from andi2kit.segment import SEARCH_METHODS
from andi2kit.simulation import simulate as _simulate
from andi2kit.simulation.presets import PRESETS
from andi2kit.tracking.cli import (
    Linker,
    LinkerOption,
    MatchSpotsOption,
    track,
    track_eval,
    track_movie,
)
from andi2kit.training_data import make_training_data
from andi2kit.tuning import tune as _tune
from andi2kit.validation import has_errors
from andi2kit.validation import validate as _validate

app = typer.Typer(cls=ErrorBoundary, add_completion=False, no_args_is_help=True,
                  help="Compete in and reproduce the 2nd AnDi Challenge.")

#: The method ``run`` uses unless told otherwise.
DEFAULT_METHOD = "unet"

Method = Enum("Method", {m: m for m in METHODS}, type=str)
Segmentation = Enum("Segmentation", {m: m for m in SEARCH_METHODS}, type=str)
EnsembleName = Enum("EnsembleName", {m: m for m in ENSEMBLE_METHODS}, type=str)
PresetName = Enum("PresetName", {m: m for m in PRESETS}, type=str)
TRACK = typer.Option(min=1, max=2, help="1 (videos) or 2 (trajectories).")


def _scheduler(ctx: typer.Context, param: typer.CallbackParam, value: str | None
               ) -> str | None:
    # checked and kept for every job batch of this command (andi2kit.execution); the address
    # is only reached when the jobs start
    if value:
        try:
            set_scheduler(value)
        except OptionError as exc:
            env = ctx.get_parameter_source(param.name) == ParameterSource.ENVIRONMENT
            raise typer.BadParameter(f"{exc}{f' (from {ENV_SCHEDULER})' if env else ''}"
                                     ) from None
    return value


Scheduler = Annotated[str | None, typer.Option(
    envvar=ENV_SCHEDULER, callback=_scheduler, metavar="ADDRESS",
    help="Run the jobs on this dask scheduler's workers (tcp://HOST:PORT); --workers is then "
         "ignored.")]


def _value(choice: Enum | None) -> str | None:
    return None if choice is None else choice.value


def _version(flag: bool) -> None:
    if flag:
        console.print(f"andi2kit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log lines (-v: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q",
                                        help="Only warnings and errors; no progress bars.")]
    = False,
    debug: Annotated[bool, typer.Option(help="Show the traceback of an error.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    scheduler: Scheduler = None,
) -> None:
    """Compete in and reproduce the 2nd AnDi Challenge."""
    setup(verbose, quiet, debug)
    set_scheduler(scheduler)  # None: in-process or a local cluster (--workers)


def _pen(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be a finite number >= 0, got {value}")
    return value


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Folder to create (public_data/ and ref/ inside).")],
    preset: Annotated[PresetName, typer.Option(help="Experiment set.")] = "demo",
    fovs: Annotated[int | None, typer.Option(
        min=1, help="FOVs per experiment (preset's default).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Parallel processes.")] = 1,
    scheduler: Scheduler = None,
    seed: Annotated[int, typer.Option(min=0, help="Base seed; same seed, same bytes.")] = 0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Render Track 1 videos.")]
    = True,
    video_fovs: Annotated[int | None, typer.Option(
        min=1, help="Videos only for the first N FOVs of each experiment (default: all).")]
    = None,
    psf_scale: Annotated[float, typer.Option(
        min=0.5, max=4.0, help="Video spots this many times as wide as andi-datasets' (same "
                               "peak contrast); 1: the challenge's.")] = 1.0,
    force: Annotated[bool, typer.Option(help="Redo FOVs that exist.")] = False,
) -> None:
    """Simulate a challenge-layout dataset with andi-datasets."""
    if out.exists() and not out.is_dir():
        raise fail(f"{out}: exists and is not a folder")
    try:
        manifest = _simulate(out, _value(preset), fovs=fovs, workers=workers, seed=seed,
                             video=video, video_fovs=video_fovs, psf_scale=psf_scale,
                             force=force,
                             progress=not output_is_quiet())
    except ValueError as exc:  # a folder holding another simulation
        raise fail(str(exc).replace("pass force=True", "pass --force")) from None
    say(f"done: {out} (manifest {manifest})", "green")


@app.command()
def run(
    public: Annotated[Path, typer.Argument(help="public_data folder.")],
    out: Annotated[Path | None, typer.Option(
        help="Submission folder to write (default: submissions/<method>).")] = None,
    track: Annotated[int | None, typer.Option(
        min=1, max=2, help="1 (videos) or 2 (trajectories); default: every track present.")]
    = None,
    method: Annotated[Method, typer.Option(help="Prediction method.")] = DEFAULT_METHOD,
    workers: Annotated[int, typer.Option(min=1, help="Parallel processes over FOVs.")] = 1,
    scheduler: Scheduler = None,
    force: Annotated[bool, typer.Option(
        help="Redo every FOV; take over a folder holding a submission without a record.")]
    = False,
    tracks: Annotated[Path | None, typer.Option(
        help="Track 1: folder of tracked VIP trajectories, read if made from the same "
             "video, else written.")]
    = None,
    checkpoint: Annotated[Path | None, typer.Option(help="unet: checkpoint folder.")] = None,
    segmentation: Annotated[Segmentation | None, typer.Option(
        help="unet: change-point search (default: the checkpoint's tuned one).")] = None,
    pen: Annotated[float | None, typer.Option(
        callback=_pen, help="unet: change-point penalty, finite and >= 0.")] = None,
    ensemble: Annotated[EnsembleName | None, typer.Option(
        help="unet: ensemble method (default: the checkpoint's tuned one).")] = None,
    pooling: Annotated[bool, typer.Option(
        "--pooling/--no-pooling",
        help="unet: pool segment values (and states) per experiment.")] = True,
    state_stage: Annotated[bool, typer.Option(
        "--state-stage/--no-state-stage",
        help="unet: per-frame states from the checkpoint's state stage (states.pkl), not the "
             "U-Net's head.")] = True,
    match_spots: MatchSpotsOption = True,
    linker: LinkerOption = Linker.motion,
) -> None:
    """Predict every FOV of a track (default: every track present) and write a validated
    submission."""
    name = _value(method)
    options = {}
    if checkpoint is not None:
        options["checkpoint"] = str(checkpoint)
    if segmentation is not None:
        options["segmentation"] = _value(segmentation)
    if pen is not None:
        options["pen"] = pen
    if ensemble is not None:
        options["ensemble"] = _value(ensemble)
    if not pooling:
        options["pooling"] = False
    if not state_stage:
        options["state_stage"] = False
    if options and name != "unet":
        first = next(iter(options))
        flag = {"pooling": "--no-pooling", "state_stage": "--no-state-stage"}.get(
            first, f"--{first}")
        raise fail(f"{flag} applies to --method unet only, not {name}")
    out = out if out is not None else Path("submissions") / name
    todo = tracks_present(public) if track is None else [track]
    ok = True
    tracker = None
    if 1 in todo:  # the tracker's modules take seconds to import: Track 2 needs none
        from andi2kit.tracking.params import tracker_params

        tracker = tracker_params(linker.value, match_spots)
    for t in todo:
        rep = _run(public, out, t, name, options=options, workers=workers, force=force,
                   tracks=tracks, progress=not output_is_quiet(), tracker=tracker)
        say(f"track {t}: {len(rep.written)} FOV(s) written ({len(rep.redone)} of them "
            f"redone: stale), {len(rep.skipped)} unchanged, {len(rep.failed)} failed; "
            f"ensembles for {len(rep.ensembles)} experiment(s) → {out}/track_{t}")
        for (e, f), lines in sorted(rep.notes.items()):
            for line in lines:
                say(f"note: exp {e} fov {f}: {line}", "yellow", stderr=True)
        for p in rep.removed:
            say(f"removed {p}: not in the input", "yellow", stderr=True)
        for (e, f), msg in sorted(rep.failed.items()):
            say(f"FOV failed exp {e} fov {f}: {msg}", "red", stderr=True)
        for e, msg in sorted(rep.ensemble_failed.items()):
            say(f"ensemble failed exp {e}: {msg}", "red", stderr=True)
        _print_problems(rep.problems)
        ok = ok and rep.ok
    say(f"submission in {out}" + ("" if ok else " (incomplete: see above)"),
        "green" if ok else "red")
    if not ok:
        raise typer.Exit(1)


@app.command()
def validate(
    submission: Annotated[Path, typer.Argument(help="Submission folder.")],
    data: Annotated[Path | None, typer.Option(help="public_data folder it answers.")] = None,
    track: Annotated[int | None, typer.Option(min=1, max=2, help="Only this track.")] = None,
) -> None:
    """Check a submission; exit code 1 when anything would cost points."""
    tracks = (track,) if track else (1, 2)
    problems = _validate(submission, data, tracks=tracks)
    _print_problems(problems)
    if has_errors(problems):
        raise typer.Exit(1)
    say(f"valid: {submission}", "green")


def _print_problems(problems) -> None:
    for p in problems[:200]:
        say(p, "red" if p.severity == "error" else "yellow", stderr=True)
    if len(problems) > 200:
        err.print(f"… {len(problems) - 200} more")


@app.command("zip")
def zip_(
    submission: Annotated[Path, typer.Argument(help="Submission folder.")],
    data: Annotated[Path | None, typer.Option(
        help="public_data folder it answers (checks that nothing is missing).")] = None,
    out: Annotated[Path, typer.Option(help="Archive to write.")] = Path("submission.zip"),
) -> None:
    """Validate a submission and write the archive to upload; refuse (writing nothing) when
    anything would cost points."""
    path, problems = write_zip(submission, out, data)
    _print_problems(problems)
    if path is None:
        say(f"not written: {out} (fix the errors above)", "red", stderr=True)
        raise typer.Exit(1)
    if data is None:
        say("warning: without --data, missing FOVs or trajectories are not detected",
            "yellow", stderr=True)
    say(f"wrote {path} from {submission}", "green")


@app.command()
def score(
    submission: Annotated[Path, typer.Argument(help="Submission folder.")],
    ref: Annotated[Path, typer.Argument(help="Reference folder (ground truth).")],
    track: Annotated[int | None, typer.Option(min=1, max=2, help="Only this track.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write scores.txt and scores.csv here.")]
    = None,
    states: Annotated[bool, typer.Option(
        help="Also print each track's per-frame state confusion (rows: true state).")] = False,
) -> None:
    """Score a submission with our implementation of the official metrics."""
    for path, what in ((submission, "submission"), (ref, "reference")):
        if not path.is_dir():
            raise fail(f"{path}: {what} folder not found")
    results = _score(submission, ref, tracks=(track,) if track else (1, 2))
    if not results:
        raise fail(f"{ref}: no track_1/ or track_2/ reference folder")
    for r in results:
        console.print(score_table(r))
        if states and r.submitted:
            c = state_confusion(submission, ref, r.track)
            console.print(f"Track {r.track}: per-frame states (rows: true state)"
                          + (f"; {c.unmatched} reference frames without a prediction"
                             if c.unmatched else ""))
            console.print(confusion_markdown(c), markup=False)
    for line in unscored(submission, ref, (track,) if track else (1, 2)):
        say(f"warning: {line}", "yellow", stderr=True)
    out = out or submission
    paths = write_outputs(results, out)
    say(f"wrote {paths[0]} and {paths[1]}")


@app.command("make-train-data")
def make_train_data(
    out: Annotated[Path, typer.Argument(help="Folder for the shards.")] = Path("data/train"),
    boxes: Annotated[int, typer.Option(
        min=1, help="Simulated boxes (≈100–400 trajectories each).")] = 300,
    boxes_per_shard: Annotated[int, typer.Option(min=1, help="Boxes per shard file.")] = 15,
    workers: Annotated[int, typer.Option(min=1, help="Parallel processes.")] = 1,
    scheduler: Scheduler = None,
    seed: Annotated[int, typer.Option(help="Base seed.")] = 1,
    fast_alpha: Annotated[tuple[float, float] | None, typer.Option(
        help="α range (LO HI, within 0–2) of every moving state instead of the broad prior "
             "(near-ballistic boxes).")] = None,
    short_traps: Annotated[bool, typer.Option(
        help="Only immobile-trap boxes, with many traps that hold a particle for a few "
             "frames.")] = False,
) -> None:
    """Simulate training trajectories with per-frame labels (all five models, broad priors)."""
    if fast_alpha is not None and not 0 < fast_alpha[0] <= fast_alpha[1] < 2:
        raise OptionError(f"--fast-alpha {fast_alpha[0]} {fast_alpha[1]}: need 0 < LO <= HI < 2")
    manifest = make_training_data(out, boxes=boxes, boxes_per_shard=boxes_per_shard,
                                  workers=workers, seed=seed, progress=not output_is_quiet(),
                                  fast_alpha=fast_alpha, short_traps=short_traps)
    say(f"done: {manifest}", "green")


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Checkpoint folder to write.")],
    config: Annotated[Path | None, typer.Option(help="JSON training config.")] = None,
    data: Annotated[Path | None, typer.Option(help="Training-data folder.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-time budget.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="KEY=VALUE over the config (JSON value; model.KEY for the "
                      "architecture), e.g. --set epochs=400 --set 'model.filters=[48,96,192]'. "
                      "Repeatable.")] = None,
) -> None:
    """Train a per-frame Attention U-Net (resumes an interrupted run in OUT)."""
    # the training module loads TensorFlow (Keras) when imported: only for this command
    from andi2kit.models.train import TrainConfig, override
    from andi2kit.models.train import train as _train

    try:
        base = json.loads(config.read_text()) if config else TrainConfig().to_dict()
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{config}: not a readable JSON training config ({exc})") from None
    try:
        cfg = TrainConfig.from_dict(override(base, set_ or []))
    except TypeError as exc:  # a key the dataclasses do not have
        raise InputError(f"{config}: {exc}") from None
    if data is not None:
        cfg.data = str(data)
    if epochs is not None:
        cfg.epochs = epochs
    if max_minutes is not None:
        cfg.max_minutes = max_minutes
    path = _train(cfg, out)
    say(f"done: {path}", "green")


@app.command()
def predict(
    trajs: Annotated[Path, typer.Argument(help="Trajectory CSV of a FOV (traj_idx,frame,x,y).")],
    out: Annotated[Path, typer.Option(help="CSV of per-frame predictions to write.")],
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint folder.")] = None,
) -> None:
    """Per-frame α, K, state and state probabilities of every trajectory of a FOV."""
    table = _predict(read_trajectories(trajs), checkpoint)
    write_text_atomic(out, table.to_csv(index=False))
    say(f"wrote {len(table)} frames of {table.traj_idx.nunique()} trajectories to {out}")


@app.command("evaluate-model")
def evaluate_model(
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint folder.")] = None,
    data: Annotated[str, typer.Option(help="Training-data folder(s), ':'-separated; the "
                                      "last shard is the held-out one.")]
    = "data/train:data/train2",
) -> None:
    """Per-frame α MAE, K MSLE, state accuracy and confusion of a model vs the MSD baseline."""
    res = compare_with_msd(checkpoint, data)
    t = Table(title=f"Per-frame validation ({res['trajectories']} held-out trajectories, "
                    f"σ = {res['sigma']})")
    for c in ("method", "frames", "α MAE", "K MSLE", "log10 K MAE", "state accuracy"):
        t.add_column(c, justify="right")
    for name in ("unet", "msd"):
        m = res[name]
        t.add_row(name, str(m["frames"]), f"{m['alpha_mae']:.3f}", f"{m['K_msle']:.4f}",
                  f"{m['logK_mae']:.3f}", f"{m['state_accuracy']:.3f}")
    console.print(t)
    console.print("U-Net confusion (rows: true " + ", ".join(STATE_NAMES) + "):")
    console.print(confusion_table(res["unet"]))


@app.command()
def tune(
    public: Annotated[Path, typer.Argument(help="Validation public_data (never the benchmark).")],
    ref: Annotated[Path, typer.Argument(help="Its reference folder.")],
    out: Annotated[Path, typer.Option(
        help="Checkpoint folder to write: a copy of --checkpoint with the chosen settings "
             "(the packaged default is never modified).")],
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint folder.")] = None,
) -> None:
    """Choose segmentation and ensemble settings for a checkpoint on validation data."""
    res = _tune(public, ref, checkpoint, out=out)
    t = Table(title="Track 2 validation: segmentation settings")
    cols = ["method", "pen", "rmse_cp", "jsc_cp", "alpha", "K", "state"]
    for c in cols:
        t.add_column(c, justify="right")
    for r in res["results"]:
        t.add_row(*[str(r[c]) if c in ("method", "pen") else fmt(r[c]) for c in cols])
    console.print(t)
    for w, r in res["refine"].items():
        console.print(f"refine window {w}: RMSE CP {r['rmse_cp']:.3f}, JSC {r['jsc_cp']:.3f}")
    for name, r in res["ensembles"].items():
        console.print(f"ensemble {name}: W1 α {r['w1_alpha']:.3f}, W1 K {r['w1_K']:.3f}")
    for (ms, spread), r in res["pooling"].items():
        console.print(f"pooling, ≤ {ms} states, spread ≥ {spread}: α MAE {r['alpha']:.4f}, "
                      f"K MSLE {r['K']:.4f}")
    best = res["best"]
    a, b = best["validation_without_pooling"], best["validation"]
    console.print(f"pooling {'kept' if best['pooling'] else 'not kept'}: α MAE {a['alpha']:.3f} "
                  f"→ {b['alpha']:.3f}, K MSLE {a['K']:.4f} → {b['K']:.4f}")
    say(f"chosen {res['best']['segmenter']['method']} pen {res['best']['segmenter']['pen']}, "
        f"{res['best']['ensemble']} → {res['path']}", "green")


app.add_typer(plot_app, name="plot")
app.command(help="Track the VIP particles of every Track 1 video into trajectory CSVs.")(track)
app.command("track-eval", help="Tracking quality against the simulated truth.")(track_eval)
app.command("track-movie", help="Track every particle of a movie of one's own into a "
                                "trajectory CSV (no VIP frame needed).")(track_movie)


def main() -> None:
    """Entry point of ``andi2kit`` and ``python -m andi2kit``."""
    app(prog_name="andi2kit")


if __name__ == "__main__":  # pragma: no cover
    main()
