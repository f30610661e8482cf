"""Command-line functions for Track 1 tracking (registered in :mod:`andi2kit.cli`).

``andi2kit track PUBLIC_TRACK1 --out OUT`` writes ``OUT/exp_<E>/trajs_fov_<F>.csv`` (the VIPs)
and ``field_fov_<F>.csv`` (every particle, the evidence of the experiment's states);
``andi2kit track-movie MOVIE --out CSV`` tracks every particle of a movie of one's own (no
VIP frame; :mod:`andi2kit.tracking.movie`). ``andi2kit track-eval PUBLIC_TRACK1 --ref REF``
tracks (or reuses) and prints the quality table against simulated ground truth.
``--linker`` picks the tracker by name: ours (``motion``) or trackpy's linking as a baseline
(``trackpy``, ``trackpy-predict``; :data:`andi2kit.tracking.params.LINKERS`).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from andi2kit.console import console, say
from andi2kit.constants import LINKERS

#: ``--linker`` choices.
Linker = Enum("Linker", {m: m for m in LINKERS}, type=str)

#: ``--match-spots/--no-match-spots``: the tracker's settings scaled to wider spots, or not.
MatchSpotsOption = Annotated[bool, typer.Option(
    "--match-spots/--no-match-spots",
    help="Scale the detection and contact settings to spots wider than andi-datasets' "
         "(measured on the video).")]

#: ``--linker``: the tracker, by name.
LinkerOption = Annotated[Linker, typer.Option(
    help="Tracker: ours (motion) or trackpy's linking as a baseline (trackpy: nearest "
         "neighbour, trackpy-predict: velocity over 20 frames), without our untangling.")]


def _fail_lines(failed: dict[tuple[int, int], str]) -> list[str]:
    return [f"exp {e} fov {f}: {msg.splitlines()[0]}" for (e, f), msg in sorted(failed.items())]


def track(
    public_track1: Annotated[Path, typer.Argument(
        help="public_data/track_1 folder (videos); public_data itself is accepted.")],
    out: Annotated[Path, typer.Option(
        help="Folder for exp_<E>/trajs_fov_<F>.csv (VIPs) and field_fov_<F>.csv (every "
             "particle).")],
    workers: Annotated[int, typer.Option(min=1, help="Parallel processes over FOVs.")] = 1,
    force: Annotated[bool, typer.Option(help="Track FOVs whose output exists again.")] = False,
    match_spots: MatchSpotsOption = True,
    linker: LinkerOption = Linker.motion,
) -> None:
    """Track the VIP particles of every video into Track-2-style trajectory CSVs (and every
    other particle, beside them)."""
    from andi2kit.tracking import track_folder
    from andi2kit.tracking.params import tracker_params

    rep = track_folder(public_track1, out, tracker_params(linker.value, match_spots),
                       workers=workers, force=force)  # input errors: exit 2
    say(f"tracking: {len(rep.written)} FOV(s) written, {len(rep.skipped)} already "
        f"done, {len(rep.failed)} failed → {out}")
    for note in rep.notes:
        say(f"note: {note}", "yellow", stderr=True)
    for line in _fail_lines(rep.failed):
        say(f"FOV failed {line}", "red", stderr=True)
    if not rep.ok:
        raise typer.Exit(1)


def track_movie(
    movie: Annotated[Path, typer.Argument(
        help="A microscope's TIFF stack (greyscale, 8 or 16-bit or float; a challenge "
             "video's VIP frame is left out).")],
    out: Annotated[Path, typer.Option(
        help="Trajectory CSV to write (traj_idx, frame, x = row, y = column, filled, "
             "brightness): andi2kit predict reads it.")],
    min_length: Annotated[int | None, typer.Option(
        min=2, help="Shortest trajectory kept (frames; default: the challenge's shortest, "
                    "20).")] = None,
    force: Annotated[bool, typer.Option(
        help="Track again even if OUT was made from the same movie with the same settings."
    )] = False,
    match_spots: MatchSpotsOption = True,
    linker: LinkerOption = Linker.motion,
) -> None:
    """Track every particle of a movie of one's own (no VIP frame needed)."""
    from dataclasses import replace

    from andi2kit.tracking.movie import track_movie_file
    from andi2kit.tracking.params import MIN_LENGTH, expected_spot_width, tracker_params

    params = replace(tracker_params(linker.value, match_spots), expected_frames=None)
    rep = track_movie_file(movie, out, params, MIN_LENGTH if min_length is None else min_length,
                           force=force)
    done = "already made from this movie with these settings, kept" if rep.reused else "→"
    say(f"{movie}: {rep.trajectories} trajectories over {rep.frames} frames {done} {out}")
    if rep.vip_frame_skipped:
        say("note: page 0 is a challenge VIP frame, left out (frame 0 is page 1)", "yellow",
            stderr=True)
    if rep.scale != 1:
        say(f"note: spots about {rep.spot_width:.2f} px wide (Gaussian σ), tracked with the "
            f"settings scaled ×{rep.scale:.2f} from {expected_spot_width(params):.2f} px",
            "yellow", stderr=True)


def track_eval(
    public_track1: Annotated[Path, typer.Argument(
        help="public_data/track_1 folder of a simulation.")],
    ref: Annotated[Path, typer.Option(help="Its ref folder (true VIP trajectories).")],
    workers: Annotated[int, typer.Option(min=1, help="Parallel processes over FOVs.")] = 1,
    tracks: Annotated[Path | None, typer.Option(
        help="Where tracked CSVs are written and reused (default: tracks/ beside "
             "public_data).")] = None,
    force: Annotated[bool, typer.Option(help="Track again even if tracks exist.")] = False,
    limits: Annotated[bool, typer.Option(
        help="Also link the true positions (perfect detection) and measure how many VIP "
             "frames follow a close encounter.")] = False,
    losses: Annotated[bool, typer.Option(
        help="Classify every loss of a VIP by its cause (merged spots, missed detection, "
             "gap, encounter, linking, frame 0); with --scores, also what the frames after "
             "each loss cost.")] = False,
    scores: Annotated[bool, typer.Option(
        help="Run the U-Net pipeline and the MSD floor on the tracked and on the true VIP "
             "trajectories and print both score tables side by side.")] = False,
    scores_out: Annotated[Path | None, typer.Option(
        help="Working folder of --scores (default: tracking-cost/ beside public_data).")]
    = None,
    match_spots: MatchSpotsOption = True,
    linker: LinkerOption = Linker.motion,
) -> None:
    """Track (or reuse tracks) and print the tracking quality per experiment and overall."""
    from andi2kit.tracking import track1_root
    from andi2kit.tracking.evaluate import evaluate_folder, quality_table, summarize
    from andi2kit.tracking.params import tracker_params

    root = track1_root(public_track1)  # input errors: exit 2 (andi2kit.console)
    tracks = tracks if tracks is not None else root.parent.parent / "tracks"
    params = tracker_params(linker.value, match_spots)
    per_fov = evaluate_folder(root, ref, tracks, params, workers=workers, force=force)
    failed = {(int(r.exp), int(r.fov)): r.error for r in per_fov.itertuples()
              if r.error is not None}
    console.print(quality_table(summarize(per_fov), failed=[
        f"not evaluated: {line}" for line in _fail_lines(failed)]))
    say(f"tracks in {tracks}")
    if limits:
        from rich import box
        from rich.table import Table

        from andi2kit.tracking.limits import limits_folder

        res = limits_folder(root.parent, ref, summarize(per_fov))
        t = Table(title="Where VIP frames are lost", box=box.SIMPLE_HEAD, show_edge=False)
        for c in ("exp", "tracked ≤1 px", "perfect detection ≤1 px", "after a <1 px encounter",
                  "encounters / VIP"):
            t.add_column(c, justify="right")
        for exp, r in res.iterrows():
            t.add_row(str(exp), *[f"{100 * r[c]:.1f} %" if c != "encounters_per_vip"
                                  else f"{r[c]:.1f}" for c in res.columns],
                      style="bold" if exp == "overall" else None)
        t.caption = ("perfect detection: the same linking and VIP logic on the true positions "
                     "of all particles; after a <1 px encounter: VIP frames at or after the "
                     "first frame another particle was closer than 1 px")
        console.print(t)
    found = None
    if losses:
        from andi2kit.tracking.losses import losses_folder, losses_table

        found = losses_folder(root.parent, ref, tracks, params)  # detected as tracked
        console.print(losses_table(found))
    if scores:
        from andi2kit.tracking_cost import cost_table, loss_cost_table, loss_costs, tracking_cost

        work = scores_out if scores_out is not None else root.parent.parent / "tracking-cost"
        methods = ("unet", "msd")
        costs = [tracking_cost(root.parent, ref, tracks, work / m, m, workers=workers,
                               tracker=params) for m in methods]
        console.print(cost_table(costs, summarize(per_fov)["within_1px"]))
        if found is not None:
            console.print(loss_cost_table({m: loss_costs(found, ref, work / m / "tracked")
                                           for m in methods}))
        say(f"submissions in {work}")
    if failed:
        raise typer.Exit(1)
