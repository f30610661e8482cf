"""Tests of andi2kit.simulation on the shared ``sim_data`` fixture and a few small extra runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from andi2kit import io, layout
from andi2kit.constants import MODEL_NAMES
from andi2kit.errors import SimulationError
from andi2kit.labels import TrajectoryLabel
from andi2kit.simulation import driver, presets, simulate
from andi2kit.simulation import fov as fov_job

EXPS, FOVS, NUM_VIP = (0, 1), (0, 1), 10


def _data_files(root: Path) -> dict[str, bytes]:
    """Every data file under public_data/ and ref/, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for sub in ("public_data", "ref")
        for p in sorted((root / sub).rglob("*"))
        if p.is_file()
    }


def _per_frame(label: TrajectoryLabel) -> np.ndarray:
    """Per-frame (alpha, K, state) rows of a trajectory's segmentation."""
    bounds = np.r_[0, label.cp, label.T]
    rows = [np.tile([a, k, s], (hi - lo, 1))
            for a, k, s, lo, hi in zip(label.alpha, label.K, label.state, bounds[:-1], bounds[1:],
                                       strict=True)]
    return np.vstack(rows)


def test_layout_complete(sim_data: Path) -> None:
    public, ref = sim_data / "public_data", sim_data / "ref"
    for track in (1, 2):
        assert layout.experiments(public, track) == list(EXPS)
        assert layout.experiments(ref, track) == list(EXPS)
    for e in EXPS:
        assert layout.fovs(public, 1, e, "video") == list(FOVS)
        assert layout.fovs(public, 2, e, "trajs") == list(FOVS)
        for track in (1, 2):
            assert layout.fovs(ref, track, e, "labels") == list(FOVS)
            assert layout.ensemble_path(ref, track, e).is_file()
        assert layout.fovs(ref, 1, e, "vip") == list(FOVS)
        for f in FOVS:
            assert layout.trajs_path(ref, 1, e, f).is_file()
            assert layout.fov_origin_path(ref, e, f).is_file()
    # no ground truth in public_data, no leftovers of temporary files
    assert {p.suffix for p in public.rglob("*") if p.is_file()} == {".csv", ".tiff"}
    assert not list(sim_data.rglob("*.tmp"))
    assert not (sim_data / ".staging" / "tmp").exists()

    manifest = json.loads((sim_data / "manifest.json").read_text())
    assert manifest["preset"] == "test" and manifest["seed"] == 0 and manifest["video"]
    assert [d["model"] for d in manifest["definitions"]] == ["multi_state", "immobile_traps"]
    assert len(manifest["fovs"]) == 4 and manifest["failed"] == []
    assert set(manifest["versions"]) >= {"andi-datasets", "numpy", "deeptrack", "stochastic"}
    for rec in manifest["fovs"]:
        origin = io.read_fov_origin(layout.fov_origin_path(ref, rec["exp"], rec["fov"]))
        assert origin.tolist() == rec["fov_origin"]
        assert set(rec["seeds"]) == {"numpy", "stochastic", "noise", "python"}


@pytest.mark.parametrize("exp", EXPS)
@pytest.mark.parametrize("fov", FOVS)
def test_public_csv_and_labels(sim_data: Path, exp: int, fov: int) -> None:
    path = layout.trajs_path(sim_data / "public_data", 2, exp, fov)
    assert path.read_text().splitlines()[0] == "traj_idx,frame,x,y"
    df = io.read_trajectories(path)
    lengths = df.groupby("traj_idx").size()
    spans = df.groupby("traj_idx").frame.agg(lambda s: s.max() - s.min() + 1)
    assert (lengths == spans).all() and lengths.min() >= 20 and df.frame.max() < 200

    for track in (1, 2):
        labels = io.read_labels(layout.labels_path(sim_data / "ref", track, exp, fov))
        assert [lab.idx for lab in labels] == sorted(lengths.index.tolist())
        assert all(lab.T == lengths[lab.idx] for lab in labels)
        assert all(np.all(np.diff(np.r_[0, lab.cp, lab.T]) > 0) for lab in labels)
    assert any(lab.n_segments > 1 for lab in labels)  # both test models have change points


@pytest.mark.parametrize("exp", EXPS)
@pytest.mark.parametrize("fov", FOVS)
def test_vips_and_coordinates(sim_data: Path, exp: int, fov: int) -> None:
    public, ref = sim_data / "public_data", sim_data / "ref"
    video = io.read_video(layout.video_path(public, exp, fov))
    assert video.shape == (201, 128, 128)
    vips = [int(v) for v in layout.vip_path(ref, exp, fov).read_text().split()]
    assert vips == list(range(NUM_VIP))
    centroids = io.decode_vip_frame(video[0])
    assert sorted(centroids) == vips

    truth = pd.read_csv(layout.trajs_path(ref, 1, exp, fov))
    assert list(truth.columns) == ["traj_idx", "frame", "x", "y", "alpha", "D", "state"]
    assert sorted(truth.traj_idx.unique()) == vips
    origin = io.read_fov_origin(layout.fov_origin_path(ref, exp, fov))
    for k, (col, row) in centroids.items():
        first = truth[truth.traj_idx == k].sort_values("frame").iloc[0]
        assert first.frame == 0  # VIPs are chosen among particles present at frame 0
        # documented mapping: row = x - x0, col = y - y0
        assert np.hypot(row - (first.x - origin[0]), col - (first.y - origin[1])) < 1.0

    # the public CSV is the true trajectory plus 0.12 px localisation noise
    public_df = io.read_trajectories(layout.trajs_path(public, 2, exp, fov))
    merged = truth.merge(public_df, on=["traj_idx", "frame"], suffixes=("_true", ""))
    assert len(merged) == len(truth)
    noise = merged[["x", "y"]].to_numpy() - merged[["x_true", "y_true"]].to_numpy()
    assert 0.08 < noise.std() < 0.16 and abs(noise.mean()) < 0.05

    # labels are re-indexed onto the CSV's indices: they match the per-frame truth
    labels = {lab.idx: lab for lab in io.read_labels(layout.labels_path(ref, 1, exp, fov))}
    for k in vips:
        per_frame = truth[truth.traj_idx == k].sort_values("frame")[["alpha", "D", "state"]]
        np.testing.assert_allclose(_per_frame(labels[k]), per_frame.to_numpy())


def test_ensemble_labels(sim_data: Path) -> None:
    ref = sim_data / "ref"
    for exp, model in zip(EXPS, ("multi_state", "immobile_traps"), strict=True):
        text = layout.ensemble_path(ref, 1, exp).read_text()
        assert text == layout.ensemble_path(ref, 2, exp).read_text()
        ens = io.read_ensemble(layout.ensemble_path(ref, 2, exp))
        assert ens.model == model and ens.num_state == 2
        assert ens.matrix[-1].sum() == pytest.approx(1.0)
    ens = io.read_ensemble(layout.ensemble_path(ref, 2, 0))
    np.testing.assert_allclose(ens.matrix[:4], [[0.7, 1.2], [0.1, 0.01], [0.1, 1.0], [0.1, 0.01]])

    # traps: the weights are the pooled fractions of immobile (0) and free (2) frames
    frames = {0: 0, 2: 0}
    for fov in FOVS:
        for lab in io.read_labels(layout.labels_path(ref, 2, 1, fov)):
            for s, n in zip(lab.state, np.diff(np.r_[0, lab.cp, lab.T]), strict=True):
                frames[int(s)] += int(n)
    ens = io.read_ensemble(layout.ensemble_path(ref, 2, 1))
    expected = np.array([frames[0], frames[2]]) / (frames[0] + frames[2])
    np.testing.assert_allclose(ens.matrix[-1], expected)


def test_ensemble_as_organisers_reorganiser(sim_data: Path, tmp_path: Path) -> None:
    """Feed the per-FOV ensembles to ``file_nonOverlap_reOrg`` and compare its result."""
    from andi_datasets.utils_challenge import file_nonOverlap_reOrg

    raw, target = tmp_path / "raw", tmp_path / "reorg"
    raw.mkdir()
    for e in EXPS:
        for f in FOVS:
            rec = json.loads((sim_data / ".staging" / f"exp_{e}" / f"fov_{f}.json").read_text())
            k = e * len(FOVS) + f  # the reorganiser's flat numbering of raw files
            with open(raw / f"ens_labs_exp_{k}_fov_0.txt", "w") as fh:
                fh.write(f"model: {rec['model']}; num_state: {rec['num_states']} \n")
                np.savetxt(fh, np.array(rec["ensemble"]), delimiter=";")
            for name in ("traj_labs_exp_{}_fov_0.txt", "trajs_exp_{}_fov_0.csv"):
                (raw / name.format(k)).write_text("")
    file_nonOverlap_reOrg(raw, target, experiments=np.arange(len(EXPS)), num_fovs=len(FOVS),
                          tracks=[2], save_labels=True, print_percentage=False)
    for e in EXPS:
        ours = io.read_ensemble(layout.ensemble_path(sim_data / "ref", 2, e))
        theirs = io.read_ensemble(layout.ensemble_path(target, 2, e))
        assert ours.model == theirs.model
        np.testing.assert_array_equal(ours.matrix, theirs.matrix)


def test_same_seed_same_bytes_whatever_the_workers(sim_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # per-FOV seeds depend on (seed, exp, fov) only: a 1-FOV run in this process reproduces
    # fov_0 of the shared dataset, which two worker processes made, exactly. One experiment
    # is enough (and halves the rendering): the same preset cut after its first experiment.
    test = presets.PRESETS["test"]
    monkeypatch.setitem(presets.PRESETS, "test",
                        replace(test, experiments=test.experiments[:1]))
    out = tmp_path / "again"
    simulate(out, "test", fovs=1, workers=1, seed=0, video=True, progress=False)
    again = _data_files(out)
    first = _data_files(sim_data)
    per_fov = [name for name in again if "fov_0" in name]
    assert len(per_fov) == 7  # video, csv, 2 labels, vip, truth, origin
    assert all("exp_0" in name for name in per_fov)
    for name in per_fov:
        assert again[name] == first[name], name


def test_resume_force_and_seed(tmp_path: Path) -> None:
    out = tmp_path / "resume"
    simulate(out, "test", fovs=1, seed=3, video=False, progress=False)
    before = _data_files(out)
    assert not any("track_1" in name for name in before)
    victim = layout.trajs_path(out / "public_data", 2, 1, 0)
    mtime = layout.trajs_path(out / "public_data", 2, 0, 0).stat().st_mtime_ns

    victim.unlink()
    manifest = json.loads(
        simulate(out, "test", fovs=1, seed=3, video=False, progress=False).read_text()
    )
    assert [(r["exp"], r["skipped"]) for r in manifest["fovs"]] == [(0, True), (1, False)]
    assert _data_files(out) == before
    assert layout.trajs_path(out / "public_data", 2, 0, 0).stat().st_mtime_ns == mtime

    stale = out / ".staging" / "exp_0" / "fov_5.json"  # as if an earlier run had 6 FOVs
    stale.write_text("{}")
    with pytest.raises(ValueError, match="more FOVs"):
        simulate(out, "test", fovs=1, seed=3, video=False, progress=False)
    stale.unlink()
    with pytest.raises(ValueError, match="seed"):
        simulate(out, "test", fovs=1, seed=4, video=False, progress=False)
    simulate(out, "test", fovs=1, seed=4, video=False, force=True, progress=False)
    assert _data_files(out).keys() == before.keys() and _data_files(out) != before


def test_failure_keeps_the_other_fovs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = driver.run_fov

    def flaky(job):  # noqa: ANN001, ANN202
        if (job.exp, job.fov) == (1, 0):
            raise RuntimeError("boom")
        return real(job)

    monkeypatch.setattr(driver, "run_fov", flaky)
    out = tmp_path / "fail"
    with pytest.raises(SimulationError, match=r"(?s)exp_1/fov_0.*boom"):
        simulate(out, "test", fovs=1, seed=0, video=False, progress=False)
    assert layout.trajs_path(out / "public_data", 2, 0, 0).is_file()
    assert layout.ensemble_path(out / "ref", 2, 0).is_file()
    assert not layout.ensemble_path(out / "ref", 2, 1).exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(f["exp"], f["fov"]) for f in manifest["failed"]] == [(1, 0)]


def test_definitions() -> None:
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    bench = presets.experiment_definitions("benchmark")
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert [d["model"] for d in bench] == [
        "multi_state", "dimerization", "immobile_traps", "confinement", "dimerization",
        "dimerization", "multi_state", "single_state", "immobile_traps",
    ]
    assert [d["N"] for d in bench] == [100, 750, 100, 100, 500, 100, 100, 100, 100]
    assert all(d["T"] == 200 and d["L"] == pytest.approx(230.4) for d in bench)
    assert bench[0]["M"].shape == (3, 3) and bench[0]["alphas"].shape == (3, 2)
    assert bench[2]["r"] == 0.4 and bench[8]["Nt"] == 1000 and bench[3]["Nc"] == 150
    again = presets.experiment_definitions("benchmark")
    assert driver._digest(driver._jsonable(again)) == driver._digest(driver._jsonable(bench))
    assert presets.PRESETS["benchmark"].fovs == 30 and presets.PRESETS["benchmark"].num_vip == 10
    assert {"demo", "benchmark", "test"} <= set(presets.PRESETS)
    with pytest.raises(ValueError, match="unknown preset"):
        presets.experiment_definitions("nope")


def test_sigterm_stops_the_workers_too(tmp_path):
    """``kill`` of a parallel simulate must not leave its worker processes running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "andi2kit.cli", "simulate", str(tmp_path / "s"), "--preset",
         "test", "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(children) < 3:  # resource tracker + 2 workers
        time.sleep(0.5)
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        children = [int(x) for x in out.stdout.split()]
    assert len(children) >= 3, "workers did not start"
    time.sleep(2)  # let the workers get into their FOVs
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    def alive() -> list[int]:
        out = []
        for pid in children:
            try:
                os.kill(pid, 0)
                out.append(pid)
            except ProcessLookupError:
                pass
        return out

    deadline = time.time() + 15  # a rendering video is not worth waiting for: seconds at most
    while alive() and time.time() < deadline:
        time.sleep(0.5)
    assert not alive(), f"process(es) {alive()} outlived the parent"


def test_challenge_preset_draws_new_experiments_per_seed() -> None:
    """``challenge``: andi-datasets' random defaults, all five models, a new draw per seed."""
    a = presets.experiment_definitions("challenge", 0)
    b = presets.experiment_definitions("challenge", 1)
    models = [d["model"] for d in a]
    assert sorted(set(models)) == sorted(presets.MODEL_NUMBERS) and len(a) == 10
    assert models == [d["model"] for d in b]
    assert all(d["N"] == 100 for d in a)
    assert driver._digest(driver._jsonable(a)) != driver._digest(driver._jsonable(b))
    again = presets.experiment_definitions("challenge", 0)
    assert driver._digest(driver._jsonable(again)) == driver._digest(driver._jsonable(a))
    # a preset without seeded defaults ignores the seed
    assert (driver._digest(driver._jsonable(presets.experiment_definitions("demo", 5)))
            == driver._digest(driver._jsonable(presets.experiment_definitions("demo", 0))))


def test_labels_are_checked_frame_by_frame() -> None:
    """A label that describes another trajectory (swapped indices) is refused."""
    df = pd.DataFrame({
        "traj_idx": [0] * 4 + [1] * 4, "frame": list(range(4)) * 2,
        "alpha": [1.0, 1.0, 0.5, 0.5] + [0.8] * 4, "D": [1.0, 1.0, 0.1, 0.1] + [0.3] * 4,
        "state": [2, 2, 2, 2, 2, 2, 2, 2],
    })
    good = "0,1.0,1.0,2.0,2,0.1,0.5,2.0,4\n1,0.3,0.8,2.0,4\n"
    fov_job.check_labels(good, df, "fov")
    swapped = "1,1.0,1.0,2.0,2,0.1,0.5,2.0,4\n0,0.3,0.8,2.0,4\n"
    with pytest.raises(RuntimeError, match="trajectory 1 does not describe"):
        fov_job.check_labels(swapped, df, "fov")
    late_cp = "0,1.0,1.0,2.0,3,0.1,0.5,2.0,4\n1,0.3,0.8,2.0,4\n"
    with pytest.raises(RuntimeError, match="trajectory 0"):
        fov_job.check_labels(late_cp, df, "fov")


def _drawn(defs: list[dict]) -> list[dict]:
    return [{k: np.asarray(v).tolist() for k, v in d.items() if k not in ("T", "L")}
            for d in defs]


def _drawn_per_seed(preset: str, seeds: int = 12):
    """A drawn preset's definitions over ``seeds`` seeds, ``(definition, Ds, alphas)``, after
    the checks every drawn preset passes: all five models twice in order, the same draw for
    the same seed and a new one for another, one ``Ds`` row per ``alphas`` row, N >= 100."""
    a = presets.experiment_definitions(preset, 0)
    assert [d["model"] for d in a] == [m for m in presets.MODEL_NUMBERS for _ in range(2)]
    assert _drawn(presets.experiment_definitions(preset, 0)) == _drawn(a)
    assert _drawn(presets.experiment_definitions(preset, 1)) != _drawn(a)
    for seed in range(seeds):
        for d in presets.experiment_definitions(preset, seed):
            Ds, alphas = np.atleast_2d(d["Ds"]), np.atleast_2d(d["alphas"])
            assert Ds.shape == alphas.shape and d["N"] >= 100
            yield d, Ds, alphas


def test_wide_preset_draws_within_its_priors_per_seed() -> None:
    """``wide``: all five models twice, parameters from the wide priors, new ones per seed."""
    from andi2kit.simulation import priors

    n_states = set()
    for d, Ds, alphas in _drawn_per_seed("wide"):
        assert priors.ALPHA[0] <= alphas[:, 0].min() <= alphas[:, 0].max() <= priors.ALPHA[1]
        assert priors.D_FAST[0] <= Ds[0, 0] <= priors.D_FAST[1]
        ratio = Ds[1:, 0] / Ds[0, 0]
        assert np.all((ratio >= priors.D_RATIO[0]) & (ratio <= priors.D_RATIO[1]))
        assert np.all(Ds[:, 1] < Ds[:, 0] ** 2 * 0.05 + 1e-15)
        if d["model"] == "multi_state":
            M = np.asarray(d["M"])
            n_states.add(len(M))
            assert M.shape == (len(Ds), len(Ds)) and np.allclose(M.sum(1), 1)
            dwell = 1 / (1 - np.diag(M))
            assert np.all((dwell >= priors.DWELL[0] - 1e-9) & (dwell <= priors.DWELL[1]))
        elif d["model"] == "confinement":  # compartments fit in the box
            assert d["Nc"] * np.pi * d["r"] ** 2 <= 0.4 * d["L"] ** 2 or d["Nc"] <= 11
            assert 0 <= d["trans"] <= 0.4 and 1.5 <= d["r"] <= 12
        elif d["model"] in ("immobile_traps", "dimerization"):
            assert 0.005 <= d["Pu"] <= 0.3 and 0.2 <= d["Pb"] <= 1
    assert n_states == {2, 3}


def test_training_preset_draws_the_training_priors_per_seed() -> None:
    """``training``: all five models twice, each definition one the per-frame model's
    training data could have drawn (``sample_definition``'s ranges; N raised to the
    challenge's 100), new ones per seed; multi-state with 2-4 states."""
    n_states = set()
    for d, Ds, alphas in _drawn_per_seed("training"):
        assert np.all((alphas[:, 0] > 0) & (alphas[:, 0] < 2))
        assert np.all((Ds[:, 0] >= 1e-4) & (Ds[:, 0] <= 20))
        if d["model"] == "multi_state":
            M = np.asarray(d["M"])
            n_states.add(len(M))
            assert np.allclose(M.sum(1), 1) and np.all(np.diag(M) >= 0.9)
        elif d["model"] == "immobile_traps":
            assert 100 <= d["Nt"] < 1000 and 0.3 <= d["r"] <= 1.6
        elif d["model"] == "confinement":
            assert 1 <= d["r"] <= 6 and 30 <= d["Nc"] < 200
    assert n_states == {2, 3, 4}


def test_wide_preset_simulates_through_the_cli(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``simulate --preset wide --fovs 1 --no-video``, on one drawn experiment (for speed:
    ``make generalisation`` simulates all ten); a new seed draws a new experiment."""
    from typer.testing import CliRunner

    from andi2kit.cli import app

    real = driver.experiment_definitions
    monkeypatch.setattr(driver, "experiment_definitions",
                        lambda preset, seed=0: real(preset, seed)[4:5])  # immobile traps
    outs = []
    for seed in (2, 3):
        out = tmp_path / f"wide{seed}"
        res = CliRunner().invoke(app, ["simulate", str(out), "--preset", "wide", "--fovs", "1",
                                       "--no-video", "--seed", str(seed)])
        assert res.exit_code == 0, res.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["preset"] == "wide" and not manifest["video"]
        assert manifest["definitions"][0]["model"] == "immobile_traps"
        assert layout.trajs_path(out / "public_data", 2, 0, 0).is_file()
        assert layout.ensemble_path(out / "ref", 2, 0).is_file()
        outs.append(manifest["definitions"][0])
    assert outs[0]["Nt"] != outs[1]["Nt"] and outs[0]["Ds"] != outs[1]["Ds"]


def test_directed_preset_puts_the_fast_state_across_the_directed_line() -> None:
    """``directed``: the wide priors with the fast (or only) state's α from 1.8-1.999, so
    about half of its experiments hold directed motion; every other state as in ``wide``."""
    from andi2kit.constants import ALPHA_DIRECTED
    from andi2kit.simulation import priors

    fast, other = [], []
    for seed in range(6):
        for d in presets.experiment_definitions("directed", seed):
            alphas = np.atleast_2d(d["alphas"])
            fast.append(alphas[0, 0])
            other += alphas[1:, 0].tolist()
    fast = np.asarray(fast)
    assert np.all((fast >= priors.ALPHA_FAST_DIRECTED[0]) & (fast <= priors.ALPHA_FAST_DIRECTED[1]))
    assert 0.3 < np.mean(fast >= ALPHA_DIRECTED) < 0.7
    assert other and priors.ALPHA[0] <= min(other) <= max(other) <= priors.ALPHA[1]
    assert _drawn(presets.experiment_definitions("directed", 1)) != _drawn(
        presets.experiment_definitions("directed", 0))


def test_compartments_preset_has_more_compartments_than_particles() -> None:
    """``compartments``: five confinement experiments whose small compartments outnumber the
    particles (their confined stretches seldom share one) and five multi-state ones (a slow
    state entered and left), all other parameters from the wide priors, new ones per seed."""
    from andi2kit.simulation import priors

    for seed in range(6):
        defs = presets.experiment_definitions("compartments", seed)
        assert [d["model"] for d in defs] == ["confinement"] * 5 + ["multi_state"] * 5
        for d in defs[:5]:
            assert priors.SMALL_RADIUS[0] <= d["r"] <= priors.SMALL_RADIUS[1]
            assert d["N"] <= priors.MANY_COMPARTMENTS <= d["Nc"] <= 200
            assert d["Nc"] * np.pi * d["r"] ** 2 <= 0.4 * d["L"] ** 2
        for d in defs:
            ratio = np.atleast_2d(d["Ds"])[1:, 0] / np.atleast_2d(d["Ds"])[0, 0]
            assert np.all((ratio >= priors.D_RATIO[0]) & (ratio <= priors.D_RATIO[1]))
    assert _drawn(presets.experiment_definitions("compartments", 1)) != _drawn(
        presets.experiment_definitions("compartments", 0))


def test_traps_preset_holds_particles_for_a_few_frames() -> None:
    """``traps``: five immobile-trap experiments whose many traps let a particle go after 3-10
    frames on average (short trapping bouts) and five single-state ones without stops, the
    moving state from the wide priors, new draws per seed."""
    from andi2kit.simulation import priors

    for seed in range(6):
        defs = presets.experiment_definitions("traps", seed)
        assert [d["model"] for d in defs] == ["immobile_traps"] * 5 + ["single_state"] * 5
        for d in defs[:5]:
            for key, (lo, hi) in priors.SHORT_TRAPS.items():
                assert lo <= d[key] <= hi, (key, d[key])
            assert 3 <= 1 / d["Pu"] <= 10
            assert 0.03 <= d["Nt"] * np.pi * d["r"] ** 2 / d["L"] ** 2 <= 0.36
        for d in defs:
            assert priors.D_FAST[0] <= d["Ds"][0] <= priors.D_FAST[1]
    assert _drawn(presets.experiment_definitions("traps", 1)) != _drawn(
        presets.experiment_definitions("traps", 0))


def test_directed_traps_preset_stops_nearly_ballistic_particles() -> None:
    """``directed-traps``: the ``traps`` preset's experiments with the (only) state's α from
    1.8-1.999, across andi-datasets' line between free and directed motion."""
    from andi2kit.simulation import priors

    for seed in range(6):
        defs = presets.experiment_definitions("directed-traps", seed)
        assert [d["model"] for d in defs] == ["immobile_traps"] * 5 + ["single_state"] * 5
        for d in defs:
            assert priors.ALPHA_FAST_DIRECTED[0] <= d["alphas"][0] <= \
                priors.ALPHA_FAST_DIRECTED[1]
        for d in defs[:5]:
            for key, (lo, hi) in priors.SHORT_TRAPS.items():
                assert lo <= d[key] <= hi, (key, d[key])
    assert _drawn(presets.experiment_definitions("directed-traps", 1)) != _drawn(
        presets.experiment_definitions("directed-traps", 0))


def test_fast_preset_moves_several_pixels_per_frame() -> None:
    """``fast``: five single-state and five multi-state experiments whose (fast) state has D
    1-20 px²/frame, the slow states of a multi-state experiment scaled with it (their ratio
    to the fast one as the wide priors draw it), new draws per seed."""
    from andi2kit.simulation import priors

    for seed in range(6):
        defs = presets.experiment_definitions("fast", seed)
        assert [d["model"] for d in defs] == ["single_state"] * 5 + ["multi_state"] * 5
        for d in defs:
            Ds = np.atleast_2d(d["Ds"])
            lo, hi = priors.D_FAST_PARTICLES
            assert lo <= Ds[0, 0] <= hi
            assert np.all(Ds[1:, 0] < Ds[0, 0])
            ratio = Ds[1:, 0] / Ds[0, 0]
            assert np.all((ratio >= priors.D_RATIO[0]) & (ratio <= priors.D_RATIO[1]))
    assert _drawn(presets.experiment_definitions("fast", 1)) != _drawn(
        presets.experiment_definitions("fast", 0))


def test_dense_preset_crowds_the_wide_priors() -> None:
    """``dense``: two experiments per model drawn as ``wide`` draws them, only with
    300-800 particles in the box (a new draw per seed)."""
    from andi2kit.simulation import priors

    for seed in range(4):
        defs = presets.experiment_definitions("dense", seed)
        assert sorted(d["model"] for d in defs) == sorted(list(MODEL_NAMES) * 2)
        for d in defs:
            assert priors.DENSE_N[0] <= d["N"] <= priors.DENSE_N[1]
    for model in MODEL_NAMES:
        dense = priors.draw_dense(np.random.default_rng(5), model)
        wide = priors.draw_wide(np.random.default_rng(5), model)
        assert _drawn([{k: v for k, v in dense.items() if k != "N"}]) == _drawn(
            [{k: v for k, v in wide.items() if k != "N"}])
    assert _drawn(presets.experiment_definitions("dense", 1)) != _drawn(
        presets.experiment_definitions("dense", 0))


def test_dimers_preset_holds_dimers_and_their_look_alikes() -> None:
    """``dimers``: five dimerization and five multi-state experiments of the wide priors,
    100-800 particles in the box, the unbinding probability over the wide range."""
    from andi2kit.simulation import priors

    pus = []
    for seed in range(4):
        defs = presets.experiment_definitions("dimers", seed)
        assert [d["model"] for d in defs] == ["dimerization"] * 5 + ["multi_state"] * 5
        for d in defs:
            assert priors.DIMER_N[0] <= d["N"] <= priors.DIMER_N[1]
        pus += [d["Pu"] for d in defs[:5]]
    assert 0.005 <= min(pus) and max(pus) <= 0.3 and max(pus) / min(pus) > 5
    assert _drawn(presets.experiment_definitions("dimers", 1)) != _drawn(
        presets.experiment_definitions("dimers", 0))


def test_fast_dimers_preset_swaps_the_dimers_states() -> None:
    """``fast-dimers``: the ``dimers`` preset's draws with each dimerization experiment's
    bound state the faster one; its multi-state experiments as ``dimers`` draws them."""
    for seed in range(3):
        fast = presets.experiment_definitions("fast-dimers", seed)
        slow = presets.experiment_definitions("dimers", seed)
        for f, s in zip(fast, slow, strict=True):
            assert f["model"] == s["model"]
            if f["model"] == "dimerization":
                assert f["Ds"][1][0] > f["Ds"][0][0]
                assert _drawn([{"Ds": f["Ds"][::-1], "alphas": f["alphas"][::-1]}]) == _drawn(
                    [{"Ds": s["Ds"], "alphas": s["alphas"]}])
            else:
                assert _drawn([f]) == _drawn([s])


def test_scattered_dimers_preset_scatters_each_states_D_between_particles() -> None:
    """``scattered-dimers``: the ``dimers`` preset's models, every state's D spread between
    particles by 30-300 % (variance over D² in SCATTER), the bound state the faster one in
    some dimerization experiments and the slower in others."""
    from andi2kit.simulation.priors import SCATTER

    faster = []
    for seed in range(3):
        defs = presets.experiment_definitions("scattered-dimers", seed)
        assert [d["model"] for d in defs] == [
            d["model"] for d in presets.experiment_definitions("dimers", seed)]
        for d in defs:
            assert all(SCATTER[0] <= v / m**2 <= SCATTER[1] for m, v in d["Ds"])
            if d["model"] == "dimerization":
                faster.append(d["Ds"][1][0] > d["Ds"][0][0])
    assert any(faster) and not all(faster)


def test_psf_scale_widens_the_spots_and_nothing_else(sim_data: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``simulate --psf-scale 1.8``: the same trajectories as the shared data (same preset
    and seed), videos whose spots are wider at about andi-datasets' contrast; the folder then
    refuses a rerun without it."""
    from typer.testing import CliRunner

    from andi2kit.cli import app
    from andi2kit.tracking.detect import preprocess
    from andi2kit.tracking.video import video_spot_width

    real = driver.experiment_definitions
    monkeypatch.setattr(driver, "experiment_definitions",
                        lambda preset, seed=0: real(preset, seed)[:1])  # multi_state
    out = tmp_path / "wide-spots"
    args = ["simulate", str(out), "--preset", "test", "--fovs", "1", "--seed", "0"]
    res = CliRunner().invoke(app, [*args, "--psf-scale", "1.8"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["psf_scale"] == 1.8
    same = (layout.trajs_path(Path("public_data"), 2, 0, 0), layout.vip_path(Path("ref"), 0, 0))
    for path in same:
        assert (out / path).read_bytes() == (sim_data / path).read_bytes()
    videos = [io.read_video(layout.video_path(root / "public_data", 0, 0))
              for root in (sim_data, out)]
    narrow, wide = (video_spot_width(v) for v in videos)
    assert 0.78 < narrow < 0.88 and 1.45 < wide / narrow < 1.75, (narrow, wide)
    peaks = [np.percentile(preprocess(v[1:21], 0), 99.9) for v in videos]
    assert 0.6 < peaks[1] / peaks[0] < 1.4, peaks
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "different psf_scale" in res.output, res.output
