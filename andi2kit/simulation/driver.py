"""The resumable simulation driver: :func:`simulate` runs the per-FOV jobs
(:mod:`andi2kit.simulation.fov`) in this process or in worker processes, writes each
experiment's ``ensemble_labels.txt`` as the organisers aggregate it, and the manifest.

A rerun skips every FOV whose staging record matches this run's definitions (resume); a
different simulation in the same folder is refused unless ``force``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from andi2kit import io, layout
from andi2kit.constants import FOV_PX, N_FRAMES
from andi2kit.errors import SimulationError
from andi2kit.execution import parallel
from andi2kit.labels import EnsembleLabel
from andi2kit.progress import progress_bar
from andi2kit.simulation.fov import FovJob, fov_outputs, run_fov
from andi2kit.simulation.presets import experiment_definitions, get_preset
from andi2kit.versions import package_versions

MANIFEST = "manifest.json"
#: Recorded in the manifest and the run record (the module's name before the split: a
#: simulation made then still resumes).
_GENERATOR = "andi2kit.simulate"


def _run_fov_safe(job: FovJob) -> tuple[int, int, dict | None, str | None]:
    try:
        return job.exp, job.fov, run_fov(job), None
    except Exception as exc:  # reported to the parent, which keeps going
        return job.exp, job.fov, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def _write_ensemble(out: Path, exp: int, records: list[dict], video: bool) -> None:
    """Aggregate per-FOV ensembles exactly as ``file_nonOverlap_reOrg`` does."""
    records = sorted(records, key=lambda r: r["fov"])
    matrix = np.array(records[-1]["ensemble"], dtype=float)  # parameters: from the last FOV
    num_states = records[-1]["num_states"]
    if num_states > 1:
        counts = np.sum([np.array(r["ensemble"], dtype=float)[-1] for r in records], axis=0)
        matrix[-1] = counts / counts.sum()
    else:
        matrix[-1] = 1
    ens = EnsembleLabel(model=records[-1]["model"], matrix=matrix)
    for track in (1, 2) if video else (2,):
        io.write_ensemble(layout.ensemble_path(out / "ref", track, exp), ens)


def _versions() -> dict[str, str | None]:
    return {"python": sys.version.split()[0],
            **package_versions(("andi-datasets", "numpy", "deeptrack", "stochastic", "andi2kit"))}


def _prepare_out(out: Path, run_info: dict, force: bool) -> None:
    run_file = layout.staging_dir(out) / "run.json"
    ours = run_file.is_file() or (out / MANIFEST).is_file()
    if not ours and ((out / "public_data").exists() or (out / "ref").exists()):
        raise ValueError(
            f"{out} already holds public_data/ or ref/ not made by simulate(); "
            "choose an empty folder"
        )
    if run_file.is_file():
        previous = json.loads(run_file.read_text())
        if previous != run_info and not force:
            changed = sorted(k for k in run_info.keys() | previous.keys()
                             if previous.get(k) != run_info.get(k))
            raise ValueError(
                f"{out} holds a simulation with different {', '.join(changed)}; "
                "pass force=True to replace it, or use another folder"
            )
        if previous != run_info:
            force = True
    if force and ours:
        for name in ("public_data", "ref", layout.STAGING_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / MANIFEST).unlink(missing_ok=True)
    io.write_text_atomic(run_file, json.dumps(run_info, indent=1))


def _is_done(out: Path, job: FovJob) -> dict | None:
    rec_path = layout.staging_record_path(out, job.exp, job.fov)
    if not rec_path.is_file():
        return None
    try:
        record = json.loads(rec_path.read_text())
    except json.JSONDecodeError:
        return None
    if record.get("key") != job.key:
        return None
    if not all(p.is_file() for p in fov_outputs(out, job.exp, job.fov, job.video)):
        return None
    return record


def simulate(
    out: str | Path,
    preset: str,
    *,
    fovs: int | None = None,
    workers: int = 1,
    seed: int = 0,
    video: bool = True,
    video_fovs: int | None = None,
    psf_scale: float = 1.0,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Simulate a preset's experiments into the challenge layout under ``out``.

    Parameters
    ----------
    out : path-like
        Output folder (created). See the module docstring for its content.
    preset : str
        A key of :data:`PRESETS` (``"benchmark"``, ``"demo"``, ``"test"``).
    fovs : int, optional
        FOVs per experiment; the preset's count when None.
    workers : int
        Processes simulating FOVs in parallel (1: in this process).
    seed : int
        Base seed; every FOV's seeds derive from ``(seed, exp, fov)``, so results do not depend
        on ``workers`` or on the order of execution.
    video : bool
        Render the Track 1 videos (10-30 s per FOV, up to 200 s for the densest) and write
        the Track 1 files.
    video_fovs : int, optional
        With ``video``, render videos only for FOVs ``0 .. video_fovs - 1`` of each experiment
        (the rest get Track 2 files only); None: every FOV. Track 1 then has fewer FOVs than
        Track 2. A rerun with a larger value renders the missing videos (the trajectories of
        a FOV are the same with or without its video).
    force : bool
        Start over: remove this folder's earlier simulation output and simulate every FOV.
        Without it, FOVs whose outputs all exist are skipped (resuming an interrupted run).
    progress : bool
        Show a progress bar over FOVs.

    Returns
    -------
    Path
        ``out/manifest.json``.

    Raises
    ------
    ValueError
        On an unknown preset, bad counts, or a folder holding a different simulation.
    andi2kit.errors.SimulationError
        After all other FOVs are done, if any FOV failed (the message names them).
    """
    spec = get_preset(preset)
    n_fovs = spec.fovs if fovs is None else int(fovs)
    if n_fovs < 1 or workers < 1 or seed < 0 or (video_fovs is not None and video_fovs < 1):
        raise ValueError("fovs, video_fovs and workers must be >= 1 and seed >= 0")
    if not 0.5 <= psf_scale <= 4:
        raise ValueError(f"psf_scale must be within 0.5-4, got {psf_scale}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    dics = experiment_definitions(preset, seed)
    defs_json = _jsonable(dics)
    wide = {"psf_scale": psf_scale} if psf_scale != 1 else {}  # andi-datasets' keys unchanged
    key = _digest([defs_json, seed, video, spec.num_vip, spec.sigma_noise, *wide.values()])
    run_info = {"generator": _GENERATOR, "preset": preset, "seed": seed, "video": video,
                "definitions": _digest(defs_json), **wide}
    _prepare_out(out, run_info, force)
    extra = sorted(p.relative_to(layout.staging_dir(out)).as_posix()
                   for p in (layout.staging_dir(out)).glob("exp_*/fov_*.json")
                   if int(p.stem.split("_")[1]) >= n_fovs)
    if extra:  # a smaller fovs than an earlier run: its extra FOVs would stay in the data
        raise ValueError(
            f"{out} holds more FOVs than fovs={n_fovs} (e.g. {extra[0]}); "
            "pass force=True to start over, or a larger fovs"
        )

    jobs = [
        FovJob(str(out), e, f, dic, seed, video and (video_fovs is None or f < video_fovs),
             spec.num_vip, spec.sigma_noise, key, psf_scale)
        for f in range(n_fovs) for e, dic in enumerate(dics)
    ]  # FOV-major: an interrupted run leaves every experiment with the same number of FOVs
    records: dict[tuple[int, int], dict] = {}
    skipped: set[tuple[int, int]] = set()
    for job in jobs:
        if not force and (rec := _is_done(out, job)) is not None:
            records[job.exp, job.fov] = rec
            skipped.add((job.exp, job.fov))
    todo = [j for j in jobs if (j.exp, j.fov) not in records]
    errors: dict[tuple[int, int], str] = {}

    def finish(exp: int, fov: int, rec: dict | None, err: str | None) -> None:
        if err is not None:
            errors[exp, fov] = err
            return
        records[exp, fov] = rec
        if all((exp, f) in records for f in range(n_fovs)):
            _write_ensemble(out, exp, [records[exp, f] for f in range(n_fovs)], video)

    for exp in range(len(dics)):  # experiments finished in an earlier run
        if all((exp, f) in records for f in range(n_fovs)):
            _write_ensemble(out, exp, [records[exp, f] for f in range(n_fovs)], video)

    with _progress_bar(progress, len(jobs), len(jobs) - len(todo)) as advance:
        if not parallel(workers, len(todo)):  # in-process unless a cluster or scheduler
            for job in todo:
                finish(*_run_fov_safe(job))
                advance(job)
        else:
            _run_parallel(todo, workers, finish, advance)

    manifest = {
        "generator": _GENERATOR,
        "preset": preset,
        "description": spec.description,
        "seed": seed,
        "video": video,
        "fovs_per_experiment": n_fovs,
        "video_fovs_per_experiment": (min(n_fovs, video_fovs or n_fovs) if video else 0),
        "num_vip": spec.num_vip if video else None,
        "sigma_noise": spec.sigma_noise,
        "psf_scale": psf_scale if video else None,
        "T": N_FRAMES,
        "fov_px": FOV_PX,
        "numbering": "exp_0..exp_{n-1} in definition order; fov_0..fov_{m-1}",
        "coordinates": "absolute box coordinates; video pixel (row, col) = (x - x0, y - y0)",
        "per_fov_geometry": "drawn in each FOV's job after seeding: confinement comp_center from "
        "models_phenom._distribute_circular_compartments(Nc, r, L); immobile_traps traps_pos "
        "uniform in [0, L)^2",
        "definitions": [{"exp": e, **d} for e, d in enumerate(defs_json)],
        "versions": _versions(),
        "fovs": [
            {"exp": e, "fov": f, "skipped": (e, f) in skipped,
             **{k: records[e, f].get(k) for k in ("seeds", "fov_origin", "wall_s", "cpu_s",
                                                   "n_trajectories")}}
            for (e, f) in sorted(records)
        ],
        "failed": [{"exp": e, "fov": f, "error": errors[e, f].splitlines()[0]}
                   for (e, f) in sorted(errors)],
        "wall_s": round(time.time() - started, 3),
    }
    manifest_path = io.write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(layout.staging_dir(out) / "tmp", ignore_errors=True)
    if errors:
        detail = "\n\n".join(f"exp {e} fov {f}: {errors[e, f]}" for (e, f) in sorted(errors))
        names = ", ".join(f"exp_{e}/fov_{f}" for (e, f) in sorted(errors))
        raise SimulationError(
            f"{len(errors)} FOV(s) failed ({names}); the others are in {out}. "
            f"Rerun the same command to retry only those.\n\n{detail}"
        )
    return manifest_path


def _run_parallel(todo: list[FovJob], workers: int, finish, advance) -> None:
    # SIGTERM and Ctrl-C stop every worker (andi2kit.execution); their files are only temporary
    from andi2kit.execution import imap_unordered

    for job, res, exc in imap_unordered(_run_fov_safe, todo, workers):
        if exc is None:
            finish(*res)
        else:  # the worker process itself died
            finish(job.exp, job.fov, None, f"{type(exc).__name__}: {exc}")
        advance(job)


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, completed: int) -> Iterator:
    if not enabled:
        yield lambda job: None
        return
    # a console bound to the stream now: andi-datasets' output is redirected during jobs
    with progress_bar(True, console=Console(file=sys.stderr), redirect=False) as bar:
        task = bar.add_task("simulating", total=total, completed=completed)

        def advance(job: FovJob) -> None:
            bar.update(task, advance=1,
                       description=f"simulating (last: exp_{job.exp}/fov_{job.fov})")

        yield advance


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(_jsonable(obj), sort_keys=True).encode()).hexdigest()[:16]
