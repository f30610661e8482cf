"""Score results for people: the rich table of ``andi2kit score`` and its warnings."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from andi2kit import layout
from andi2kit.scoring.score import ENSEMBLE_KEYS, SINGLE_KEYS, TITLES, TrackScore, fmt


def unscored(submission: Path, ref: Path, tracks: tuple[int, ...]) -> list[str]:
    """Prediction files the reference has no labels for (they are not scored)."""
    lines = []
    for t in tracks:
        for e in layout.experiments(ref, t):
            have = set(layout.fovs(ref, t, e, "labels"))
            for f in layout.fovs(submission, t, e, "prediction"):
                if f not in have:
                    lines.append(f"{layout.labels_path(ref, t, e, f)} missing: "
                                 f"{layout.prediction_path(submission, t, e, f)} not scored")
    return lines


def score_table(r: TrackScore) -> Table | str:
    """A rich table of one track's scores, laid out like the paper's Tables 3–4."""
    name = "videos" if r.track == 1 else "trajectories"
    if not r.submitted:
        return f"[yellow]Track {r.track} ({name}): no submission folder[/yellow]"
    t = Table(title=f"Track {r.track} ({name})")
    t.add_column("exp", justify="right")
    t.add_column("trajs", justify="right")
    for k in (*SINGLE_KEYS, *ENSEMBLE_KEYS):
        t.add_column(TITLES[k], justify="right")
    for row in r.per_exp:
        t.add_row(str(row["exp"]), str(row.get("num_trajs", "–")),
                  *[fmt(row.get(k)) for k in (*SINGLE_KEYS, *ENSEMBLE_KEYS)])
    total = sum(row.get("num_trajs", 0) for row in r.per_exp)
    t.add_row("avg", str(total), *[fmt(r.single[k]) for k in SINGLE_KEYS],
              *[fmt(r.ensemble[k]) for k in ENSEMBLE_KEYS], style="bold")
    notes = []
    if r.single_failure:
        notes.append(f"single-trajectory task voided (max errors): {r.single_failure}")
    if r.ensemble_failure:
        notes.append(f"ensemble task voided (max errors): {r.ensemble_failure}")
    if r.missing_trajs:
        notes.append(f"{r.missing_trajs} trajectory/ies missing, scored as maximally wrong")
    if notes:
        t.caption = escape("\n".join(notes))
    return t
