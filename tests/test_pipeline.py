"""`andi2kit run` end to end on simulated data: write, resume, failures, validate, score."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from andi2kit import layout, partners, provenance, state_mixture
from andi2kit.cli import app
from andi2kit.constants import IMMOBILE
from andi2kit.fov_input import read_fov
from andi2kit.io import read_labels, read_trajectories
from andi2kit.pipeline import run
from andi2kit.scoring.score import score
from andi2kit.tracking import read_tracks


def test_run_msd_track2(sim_data, tmp_path):
    public, ref = sim_data / "public_data", sim_data / "ref"
    out = tmp_path / "sub"
    rep = run(public, out, 2, "msd", progress=False)
    assert rep.ok, (rep.failed, rep.problems)
    assert sorted(rep.written) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    labs = read_labels(layout.prediction_path(out, 2, 0, 0))
    csv_ids = np.unique(np.loadtxt(layout.trajs_path(public, 2, 0, 0), delimiter=",",
                                   skiprows=1)[:, 0]).astype(int)
    assert [lab.idx for lab in labs] == csv_ids.tolist()
    (r,) = score(out, ref, tracks=(2,))
    assert r.single_failure is None and r.ensemble_failure is None
    assert r.missing_trajs == 0
    assert 0 < r.single["alpha"] < 0.6 and r.single["state"] > 0.3

    # resume: nothing is redone; --force redoes everything
    before = layout.prediction_path(out, 2, 0, 0).stat().st_mtime_ns
    rep2 = run(public, out, 2, "msd", progress=False)
    assert rep2.written == [] and len(rep2.skipped) == 4
    assert layout.prediction_path(out, 2, 0, 0).stat().st_mtime_ns == before
    rep3 = run(public, out, 2, "msd", progress=False, force=True, workers=2)
    assert len(rep3.written) == 4


def test_one_bad_fov_does_not_stop_the_others(sim_data, tmp_path):
    public = tmp_path / "public_data"
    shutil.copytree(sim_data / "public_data" / "track_2", public / "track_2")
    layout.trajs_path(public, 2, 1, 0).write_text("traj_idx,frame,x\n0,0,1\n")
    rep = run(public, tmp_path / "sub", 2, "msd", progress=False)
    assert list(rep.failed) == [(1, 0)]
    assert "missing column(s) y" in rep.failed[(1, 0)]
    assert "trajs_fov_0.csv" in rep.failed[(1, 0)]
    assert len(rep.written) == 3 and not rep.ok
    assert any("fov_0.txt" in str(p.path) and "missing file" in p.message
               for p in rep.problems)


def test_cli_run_validate_score_zip(sim_data, tmp_path, monkeypatch):
    runner = CliRunner()
    public, ref = sim_data / "public_data", sim_data / "ref"
    sub = tmp_path / "sub"
    res = runner.invoke(app, ["run", str(public), "--track", "2", "--out", str(sub)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["validate", str(sub), "--data", str(public), "--track", "2"])
    assert res.exit_code == 0 and "valid" in res.output
    res = runner.invoke(app, ["score", str(sub), str(ref), "--track", "2", "--out",
                              str(tmp_path / "scores")])
    assert res.exit_code == 0 and "Track 2" in res.output
    assert (tmp_path / "scores" / "scores.txt").read_text().startswith("tr2.ta2.alpha: ")
    # a defect makes validate fail with the file and line
    p = layout.prediction_path(sub, 2, 0, 1)
    p.write_text(p.read_text().replace(",2,", ",7,", 1))
    res = runner.invoke(app, ["validate", str(sub), "--data", str(public), "--track", "2"])
    assert res.exit_code == 1 and "fov_1.txt:1" in res.output


def test_plots(sim_data, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from typer.testing import CliRunner

    from andi2kit.cli import app
    from andi2kit.plots import plot_ensemble, plot_fov, plot_state_confusion

    public, ref = sim_data / "public_data", sim_data / "ref"
    sub = tmp_path / "sub"
    run(public, sub, 2, "unet", progress=False)
    # drawn into a figure of the caller's, or a new one; nothing written
    fig = plt.figure(figsize=(8, 6))
    assert plot_fov(public, 2, 1, 0, ref=ref, max_trajs=3, fig=fig) is fig
    assert len(fig.axes) == 3 * 4
    new = plot_ensemble(sub, ref, 2, 1)
    assert len(new.axes) == 2 and new.axes[1].get_title().startswith("K (W1 = ")
    ax = fig.add_subplot(4, 4, 16)
    assert plot_state_confusion(sub, ref, 2, ax=ax) is ax
    assert len(ax.texts) == 16 and ax.get_ylabel() == "true state"
    assert not list(tmp_path.glob("**/*.png"))
    plt.close("all")
    # the command line saves them
    res = CliRunner().invoke(app, ["plot", "ensemble", str(sub), str(ref), "--out",
                                   str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["plot", "fov", str(public), "--exp", "1", "--fov", "0",
                                   "--ref", str(ref), "--out", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["plot", "states", str(sub), str(ref), "--out",
                                   str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["ensemble_track2_exp0.png", "ensemble_track2_exp1.png",
                    "fov_track2_exp1_fov0.png", "states_track2.png"]
    for p in (tmp_path / "plots").iterdir():
        assert p.stat().st_size > 10_000 and p.read_bytes()[:4] == b"\x89PNG"


def test_unet_pools_per_experiment_and_track1_tracks_once(sim_data, tmp_path):
    public = sim_data / "public_data"
    sub, tracks = tmp_path / "sub", tmp_path / "tracks"
    rep = run(public, sub, 2, "unet", progress=False)
    assert rep.ok, (rep.failed, rep.problems)
    own = read_labels(layout.segments_path(sub, 2, 0, 0))
    final = read_labels(layout.prediction_path(sub, 2, 0, 0))
    # the experiment-level steps move α, K and the states the experiment is judged not to
    # hold (the checkpoint's state stage, andi2kit.state_mixture); change points move only
    # one frame earlier, all of them, where the experiment holds neither traps nor dimers
    assert [lab.idx for lab in own] == [lab.idx for lab in final]
    counts = [json.loads(layout.state_evidence_path(sub, 2, 0, f).read_text())["evidence"]
              for f in layout.fovs(public, 2, 0, "trajs")]
    # the evidence keeps each trajectory's positions for the pooled-MSD α (pooled_msd)
    kept = json.loads(layout.state_evidence_path(sub, 2, 0, 0).read_text())["positions"]
    trajs = read_trajectories(layout.trajs_path(public, 2, 0, 0))
    for i, g in trajs.groupby("traj_idx"):
        assert np.abs(np.array(kept[str(i)]) - g[["x", "y"]].to_numpy()).max() <= 5e-4
    held = state_mixture.decide(counts)
    shift = 0 if held[IMMOBILE] or partners.is_dimerization(counts, held) else -1

    def step_cuts(folder):  # the FOV's trajectories cut where their step states change
        return json.loads(layout.state_evidence_path(folder, 2, 0, 0).read_text())["step_states"]

    def cut(stepped, a):  # the model's change points, or where the FOV's step states change
        own_cp = stepped.get(str(a.idx), {"cp": a.cp})["cp"] if shift else a.cp
        return np.asarray(own_cp, int) + shift

    stepped = step_cuts(sub)
    # the test preset's multi-state experiment: its step states cut some trajectories
    assert shift == 0 or stepped
    assert all(np.array_equal(cut(stepped, a), b.cp) for a, b in zip(own, final, strict=True))
    assert all(held[s] for lab in final for s in lab.state)
    assert any(not np.allclose(a.alpha, b.alpha) for a, b in zip(own, final, strict=True))
    no_pool = run(public, tmp_path / "nopool", 2, "unet", options={"pooling": False},
                  progress=False)
    assert no_pool.ok
    # without pooling only the states the experiment does not hold change (and the shift and
    # the cuts at the step states), and immobile segments get andi-datasets' α 0
    stepped = step_cuts(tmp_path / "nopool")
    for a, b in zip(read_labels(layout.segments_path(tmp_path / "nopool", 2, 0, 0)),
                    read_labels(layout.prediction_path(tmp_path / "nopool", 2, 0, 0)),
                    strict=True):
        still = b.state == IMMOBILE
        assert np.array_equal(cut(stepped, a), b.cp)
        assert all(held[s] for s in b.state)
        if str(a.idx) not in stepped:  # a trajectory cut at its step states takes their values
            assert np.array_equal(np.where(still, 0.0, a.alpha), b.alpha)
            assert np.array_equal(a.K, b.K)
            assert all(x == y for x, y in zip(a.state, b.state, strict=True) if held[x])

    # Track 1 with a tracks folder: tracked once, then read by the next method
    rep1 = run(public, sub, 1, "msd", progress=False, tracks=tracks)
    assert rep1.ok, (rep1.failed, rep1.problems)
    cached = sorted(tracks.glob("exp_*/trajs_fov_*.csv"))
    assert len(cached) == len(rep1.written) > 0
    assert len(sorted(tracks.glob("exp_*/field_fov_*.csv"))) == len(cached)
    stamp = cached[0].stat().st_mtime_ns
    rep2 = run(public, tmp_path / "sub2", 1, "msd", progress=False, tracks=tracks)
    assert rep2.ok and cached[0].stat().st_mtime_ns == stamp
    # a cached file whose record names another video is tracked again, the others are reused
    rec_path = provenance.record_path(cached[0])
    rec = json.loads(rec_path.read_text())
    rec["video"]["sha256"] = "0" * 64
    rec_path.write_text(json.dumps(rec))
    others = [c.stat().st_mtime_ns for c in cached[1:]]
    assert run(public, tmp_path / "sub4", 1, "msd", progress=False, tracks=tracks).ok
    assert cached[0].stat().st_mtime_ns != stamp
    assert [c.stat().st_mtime_ns for c in cached[1:]] == others
    assert json.loads(rec_path.read_text())["video"]["sha256"] != "0" * 64
    # parallel workers after TensorFlow is loaded in this process (forked workers deadlocked)
    rep3 = run(public, tmp_path / "sub3", 1, "unet", progress=False, tracks=tracks, workers=2)
    assert rep3.ok and len(rep3.written) == len(cached)
    # the experiment's state evidence comes from every tracked particle (the field file,
    # written beside the VIPs by the first run), the partner change points from the VIPs
    for e, f in rep3.written:
        field = read_tracks(layout.field_path(tracks, e, f))
        held = json.loads(layout.state_evidence_path(tmp_path / "sub3", 1, e, f).read_text())
        counts = held["evidence"]
        span = field.groupby("traj_idx")["frame"].agg(lambda g: g.max() - g.min() + 1)
        assert counts["trajectories"] == len(span) > 2
        assert counts["frames"] == span.sum()
        # ... and the field's partner counts beside the VIPs' (they decide dimerization)
        assert counts["field_partner_frames"] == span.sum() > counts["partner_frames"]
        assert 0 <= counts["field_changed"] <= counts["field_bindings"]
        # and the field's segments, which the experiment's pooling learns its states from,
        # cover every frame of the field's tracks
        context = np.asarray(held["context"])
        assert context.shape[1] == 4 and len(context) >= len(span)
        assert context[:, 3].sum() == span.sum()
    # the VIP file of another tracker (true trajectories) is kept; a missing field file is
    # tracked again alone
    vip_file, field_file = layout.tracks_path(tracks, 0, 0), layout.field_path(tracks, 0, 0)
    stamp, before = vip_file.stat().st_mtime_ns, read_tracks(field_file)
    field_file.unlink()
    got = read_fov(public, 1, 0, 0, tracks, field=True)
    assert vip_file.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(read_tracks(field_file), before)
    np.testing.assert_allclose(got.field[["x", "y"]], before[["x", "y"]], atol=1e-9)
    # the same trajectories (up to the CSV's float text) give the same labels
    for a, b in zip(read_labels(layout.prediction_path(sub, 1, 0, 0)),
                    read_labels(layout.prediction_path(tmp_path / "sub2", 1, 0, 0)),
                    strict=True):
        assert a.idx == b.idx and np.allclose(a.alpha, b.alpha) and np.allclose(a.K, b.K)
