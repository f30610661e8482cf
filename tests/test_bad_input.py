"""Bad and unusual inputs at the command line: each case's exit code, message, and files.

Every case is run through typer's CliRunner on tiny hand-written inputs (no simulation), and
asserts the exact behaviour documented in ``docs/bad-input.md``: the exit code, a short
message naming the file or option (no traceback), no partial files and no stale output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andi2kit import console as console_mod
from andi2kit import layout, provenance
from andi2kit.cli import app
from andi2kit.errors import InputError
from andi2kit.inference import DEFAULT_CHECKPOINT
from andi2kit.tensors import FRAMES, pack, to_dense, unpack

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    # long temporary paths must not be wrapped inside the asserted messages
    monkeypatch.setattr(console_mod.console, "width", 2000)
    monkeypatch.setattr(console_mod.err, "width", 2000)


def _csv(n: int = 3, T: int = 30, seed: int = 0, first: int = 0) -> str:
    rng = np.random.default_rng(seed)
    rows = ["traj_idx,frame,x,y"]
    for i in range(n):
        xy = 50 + np.cumsum(rng.normal(0, 1, (T, 2)), axis=0)
        rows += [f"{first + i},{t},{x:.4f},{y:.4f}" for t, (x, y) in enumerate(xy)]
    return "\n".join(rows) + "\n"


def make_public(root: Path, fovs: dict[tuple[int, int], str] | None = None) -> Path:
    """``root/pub`` with Track 2 CSVs (default: exp 0 and 1, FOV 0 and 1, valid)."""
    pub = root / "pub"
    fovs = fovs or {(e, f): _csv(seed=10 * e + f) for e in (0, 1) for f in (0, 1)}
    for (e, f), text in fovs.items():
        p = layout.trajs_path(pub, 2, e, f)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return pub


def invoke(*args: str):
    res = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in res.output, res.output
    return res


def one_line(text: str) -> str:
    return " ".join(text.split())


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------------------------
# CSV inputs: the FOV fails with the file and the problem, the others are written
# --------------------------------------------------------------------------------------------

BAD_CSV = {
    "missing column": ("traj_idx,frame,x\n0,0,1\n", "missing column(s) y"),
    "non-numeric": ("traj_idx,frame,x,y\n0,0,1,abc\n0,1,1,2\n", "non-numeric value"),
    "nan": ("traj_idx,frame,x,y\n0,0,1,2\n0,1,nan,2\n", "non-finite value on data row 2"),
    "duplicate frame": ("traj_idx,frame,x,y\n0,0,1,2\n0,0,1,2\n", "has frame 0 more than once"),
    "negative frame": ("traj_idx,frame,x,y\n0,-1,1,2\n0,0,1,2\n", "non-negative integers"),
    "fractional index": ("traj_idx,frame,x,y\n0.5,0,1,2\n", "non-negative integers"),
    "header only": ("traj_idx,frame,x,y\n", "no trajectory rows"),
    "huge frame number": ("traj_idx,frame,x,y\n0,0,1,2\n0,1000000000000,1,2\n",
                          "spans 1,000,000,000,001 frames"),
    "binary garbage": ("\x00\x01\x02\xff", "trajs_fov_0.csv"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_fails_its_fov_only(tmp_path, case):
    text, msg = BAD_CSV[case]
    pub = make_public(tmp_path)
    layout.trajs_path(pub, 2, 1, 0).write_text(text)
    out = tmp_path / "sub"
    res = invoke("run", pub, "--track", "2", "--method", "msd", "--out", out)
    assert res.exit_code == 1
    out1 = one_line(res.output)
    assert "FOV failed exp 1 fov 0" in out1 and msg in out1
    assert str(layout.trajs_path(pub, 2, 1, 0)) in out1
    # no partial file for the failed FOV; the other three are there
    assert not layout.prediction_path(out, 2, 1, 0).exists()
    assert not list(out.rglob("*.tmp"))
    assert all(layout.prediction_path(out, 2, e, f).is_file()
               for e, f in [(0, 0), (0, 1), (1, 1)])


BAD_VIDEO = {
    "not a TIFF": (None, "cannot read TIFF"),
    "one page": (1, "1 page(s), need at least 2"),
    "page 0 not a VIP frame": (3, "page 0 is not a VIP frame"),
}


@pytest.mark.parametrize("case", sorted(BAD_VIDEO))
def test_bad_video_fails_its_fov(tmp_path, case):
    import tifffile

    pages, msg = BAD_VIDEO[case]
    video = layout.video_path(tmp_path / "pub", 0, 0)
    video.parent.mkdir(parents=True)
    if pages is None:
        video.write_bytes(b"this is no TIFF")
    else:
        tifffile.imwrite(video, np.zeros((pages, 16, 16), np.uint8), photometric="minisblack")
    out = tmp_path / "sub"
    res = invoke("run", tmp_path / "pub", "--track", "1", "--method", "msd", "--out", out)
    assert res.exit_code == 1
    assert "FOV failed exp 0 fov 0" in res.output and msg in one_line(res.output)
    assert str(video) in one_line(res.output)
    assert not layout.prediction_path(out, 1, 0, 0).exists()
    assert not list(out.rglob("*.tmp"))


# --------------------------------------------------------------------------------------------
# unusual but valid trajectories: labelled, and reported per FOV with their indices
# --------------------------------------------------------------------------------------------

EDGE = {
    "1-frame": ("traj_idx,frame,x,y\n7,3,1.0,2.0\n", "shorter than 3 frames", "7"),
    "2-frame": ("traj_idx,frame,x,y\n8,3,1.0,2.0\n8,4,1.5,2.0\n", "shorter than 3 frames",
                "8"),
    "absurd coordinates": ("traj_idx,frame,x,y\n" + "".join(
        f"9,{t},{1e300 * (1 + t)},1.0\n" for t in range(25)), "coordinates beyond", "9"),
    "never moves": ("traj_idx,frame,x,y\n" + "".join(f"5,{t},3.0,4.0\n" for t in range(25)),
                    "never move", "5"),
}


@pytest.mark.parametrize("case", sorted(EDGE))
def test_edge_trajectories_are_reported(tmp_path, case):
    extra, reason, idx = EDGE[case]
    base = _csv(first=20)
    pub = make_public(tmp_path, {(0, 0): base + extra.split("\n", 1)[1]})
    out = tmp_path / "sub"
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if reason in ln)
    assert "exp 0 fov 0: 1 trajectory/ies" in line and line.endswith(f": {idx}")
    ids = [int(r.split(",")[0]) for r in layout.prediction_path(out, 2, 0, 0)
           .read_text().splitlines()]
    assert int(idx) in ids  # still answered: a missing line would cost more


def test_long_trajectory_is_windowed_not_lost():
    rng = np.random.default_rng(1)
    import pandas as pd

    T = 2 * FRAMES + 17
    df = pd.DataFrame({"traj_idx": np.r_[np.zeros(T), np.ones(30)].astype(int),
                       "frame": np.r_[np.arange(T), np.arange(30)],
                       "x": rng.normal(size=T + 30).cumsum(), "y": rng.normal(size=T + 30)})
    t = pack(to_dense(df))
    assert t.windows is not None and t.windows.tolist()[:4] == [[0, 0], [0, FRAMES],
                                                                [0, 2 * FRAMES], [1, 0]]
    back = unpack(t, t.x)
    assert [b.shape[0] for b in back] == [T, 30]
    steps = np.diff(df.x.to_numpy()[:T])
    assert np.allclose(back[0][1:, 0], steps, atol=1e-4)  # every step, across windows


# --------------------------------------------------------------------------------------------
# folders and names
# --------------------------------------------------------------------------------------------


def _layout_case(tmp_path: Path, case: str) -> tuple[list[str], str]:
    pub = make_public(tmp_path)
    out = tmp_path / "sub"
    if case == "missing public_data":
        return ["run", tmp_path / "nope", "--out", out], "no such folder"
    if case == "file as public_data":
        return ["run", layout.trajs_path(pub, 2, 0, 0), "--out", out], "is a file"
    if case == "folder without tracks":
        (tmp_path / "empty").mkdir()
        return ["run", tmp_path / "empty", "--out", out], "is this the public_data folder"
    if case == "exp_01":
        (pub / "track_2" / "exp_0").rename(pub / "track_2" / "exp_01")
        return ["run", pub, "--method", "msd", "--out", out], "exp_01: numbers in challenge"
    if case == "trajs_fov_01":
        p = layout.trajs_path(pub, 2, 0, 1)
        p.rename(p.with_name("trajs_fov_01.csv"))
        return ["run", pub, "--method", "msd", "--out", out], "trajs_fov_01.csv: numbers"
    if case == "--out is a file":
        out.write_text("x")
        return ["run", pub, "--method", "msd", "--out", out], "is not a folder"
    if case == "track 1 requested, none there":
        return ["run", pub, "--track", "1", "--method", "msd", "--out", out], \
            "track_1: no exp_* folder"
    if case == "--tracks is a file":
        (tmp_path / "t.txt").write_text("x")
        return ["run", pub, "--method", "msd", "--tracks", tmp_path / "t.txt", "--out", out], \
            "--tracks must be a folder"
    raise AssertionError(case)


LAYOUT_CASES = ["missing public_data", "file as public_data", "folder without tracks", "exp_01",
                "trajs_fov_01", "--out is a file", "track 1 requested, none there",
                "--tracks is a file"]


@pytest.mark.parametrize("case", LAYOUT_CASES)
def test_bad_layout_is_one_line_exit_2(tmp_path, case):
    args, msg = _layout_case(tmp_path, case)
    before = files(tmp_path)
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and msg in errors[0], res.output
    assert len(res.output.strip().splitlines()) <= 2
    assert files(tmp_path) == before  # nothing written


# --------------------------------------------------------------------------------------------
# option values: refused before any work, naming the option
# --------------------------------------------------------------------------------------------

OPTION_CASES = {
    "track 3": (["run", "{pub}", "--track", "3"], "--track"),
    "track 0 (validate)": (["validate", "{pub}", "--track", "0"], "--track"),
    "track 3 (score)": (["score", "{pub}", "{pub}", "--track", "3"], "--track"),
    "method bogus": (["run", "{pub}", "--method", "bogus"], "--method"),
    "segmentation bogus": (["run", "{pub}", "--segmentation", "bogus"], "--segmentation"),
    "ensemble bogus": (["run", "{pub}", "--ensemble", "bogus"], "--ensemble"),
    "pen nan": (["run", "{pub}", "--pen", "nan"], "--pen"),
    "pen -5": (["run", "{pub}", "--pen", "-5"], "--pen"),
    "pen inf": (["run", "{pub}", "--pen", "inf"], "--pen"),
    "workers 0": (["run", "{pub}", "--workers", "0"], "--workers"),
    "linker bogus": (["run", "{pub}", "--linker", "bogus"], "--linker"),
    "linker bogus (track)": (["track", "{pub}/track_1", "--out", "{tmp}/tracks", "--linker",
                              "bogus"], "--linker"),
    "scheduler without port": (["run", "{pub}", "--scheduler", "127.0.0.1"], "--scheduler"),
    "scheduler bad port (before the command)": (
        ["--scheduler", "tcp://lab:port", "run", "{pub}"], "--scheduler"),
    "scheduler bad scheme": (["simulate", "{tmp}/sim", "--scheduler", "http://h:1"],
                             "--scheduler"),
    "pen with msd": (["run", "{pub}", "--method", "msd", "--pen", "4"], "--pen"),
    "preset bogus": (["simulate", "{tmp}/sim", "--preset", "bogus"], "--preset"),
    "fovs 0": (["simulate", "{tmp}/sim", "--fovs", "0"], "--fovs"),
    "seed -1": (["simulate", "{tmp}/sim", "--seed", "-1"], "--seed"),
    "simulate into a file": (["simulate", "{pub}/track_2/exp_0/trajs_fov_0.csv"],
                             "is not a folder"),
    "fast-alpha reversed": (["make-train-data", "{tmp}/sim", "--fast-alpha", "1.9", "1.5"],
                            "--fast-alpha"),
    "fast-alpha 2": (["make-train-data", "{tmp}/sim", "--fast-alpha", "1.7", "2"],
                     "--fast-alpha"),
    "tune without --out": (["tune", "{pub}", "{pub}"], "--out"),
    "tune --out the packaged checkpoint": (["tune", "{pub}", "{pub}", "--out", "{default}"],
                                           "never modified"),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_bad_option_names_it(tmp_path, case):
    pub = make_public(tmp_path)
    args, opt = OPTION_CASES[case]
    args = [a.format(pub=pub, tmp=tmp_path, default=DEFAULT_CHECKPOINT) for a in args]
    before = files(tmp_path)
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert opt in res.output
    assert files(tmp_path) == before and not (tmp_path / "sim").exists()
    assert DEFAULT_CHECKPOINT.joinpath("segmentation.json").is_file()


def test_malformed_scheduler_in_the_environment(tmp_path, monkeypatch):
    pub = make_public(tmp_path)
    monkeypatch.setenv("ANDI2KIT_SCHEDULER", "lab-server")
    res = invoke("run", pub, "--method", "msd", "--out", tmp_path / "sub")
    assert res.exit_code == 2 and "ANDI2KIT_SCHEDULER" in res.output, res.output
    assert not (tmp_path / "sub").exists()


def test_unreachable_scheduler_is_a_short_error(tmp_path, monkeypatch):
    import socket

    from andi2kit import execution

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(execution, "CONNECT_TIMEOUT", 1.0)
    pub = make_public(tmp_path)
    res = invoke("run", pub, "--method", "msd", "--out", tmp_path / "sub",
                 "--scheduler", f"127.0.0.1:{port}")
    assert res.exit_code == 2, res.output
    assert one_line(res.output).endswith(  # after the progress bar's first line
        f"error: scheduler tcp://127.0.0.1:{port} (--scheduler or ANDI2KIT_SCHEDULER): "
        "no answer within 1 s (OSError)")
    assert not list((tmp_path / "sub").rglob("fov_*.txt"))
    assert invoke("run", pub, "--method", "msd", "--out", tmp_path / "sub").exit_code == 0


# --------------------------------------------------------------------------------------------
# checkpoints: refused before the first FOV
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing folder", "corrupt segmentation.json",
                                  "segmentation.json not an object", "bad pooled_msd",
                                  "bad standing", "bad trap_places",
                                  "corrupt model.keras"])
def test_bad_checkpoint_before_first_fov(tmp_path, case):
    pub = make_public(tmp_path)
    ck = tmp_path / "ck"
    if case != "missing folder":
        ck.mkdir()
        (ck / "model.keras").write_bytes(
            b"not a zip" if case == "corrupt model.keras"
            else (DEFAULT_CHECKPOINT / "model.keras").read_bytes())
        (ck / "segmentation.json").write_text(
            {"corrupt segmentation.json": "{", "segmentation.json not an object": "[1]",
             "bad pooled_msd": json.dumps({"pooled_msd": {"max_K": -1}}),
             "bad standing": json.dumps({"standing": {"min_rho": 0.5}}),
             "bad trap_places": json.dumps({"trap_places": {"radius": -1}})}
            .get(case, (DEFAULT_CHECKPOINT / "segmentation.json").read_text()))
    out = tmp_path / "sub"
    res = invoke("run", pub, "--checkpoint", ck, "--out", out)
    assert res.exit_code == 2, res.output
    name = "model.keras" if "model" in case or case == "missing folder" else "segmentation.json"
    assert name in res.output and len(res.output.strip().splitlines()) <= 2
    assert not out.exists()  # nothing predicted, nothing claimed


# --------------------------------------------------------------------------------------------
# submissions: validate, zip, score
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def submission(tmp_path):
    pub = make_public(tmp_path)
    sub = tmp_path / "sub"
    assert invoke("run", pub, "--method", "msd", "--out", sub).exit_code == 0
    return pub, sub


def _damage(sub: Path, case: str) -> tuple[str, str]:
    p = layout.prediction_path(sub, 2, 0, 0)
    lines = p.read_text().splitlines()
    if case == "extra trajectory":
        p.write_text("\n".join([*lines, "99,1.0,1.0,2,30"]) + "\n")
        return f"{p}:4: trajectory 99 is not in the data", "error"
    if case == "missing trajectory":
        p.write_text("\n".join(lines[1:]) + "\n")
        return f"{p}: 1 trajectory/ies missing: 0", "error"
    if case == "missing FOV file":
        p.unlink()
        return f"{p}: missing file", "error"
    if case == "blank line":
        p.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")
        return f"{p}:2: blank line", "error"
    if case == "trailing comma":
        p.write_text("\n".join([lines[0] + ",", *lines[1:]]) + "\n")
        return f"{p}:1: field 6 is an empty field", "error"
    if case == "nan K":
        p.write_text("\n".join(["0,nan,1.0,2,30", *lines[1:]]) + "\n")
        return "K must be finite and > 0, got [nan]", "error"
    if case == "missing ensemble":
        layout.ensemble_path(sub, 2, 0).unlink()
        return "ensemble_labels.txt: missing file", "error"
    raise AssertionError(case)


SUB_CASES = ["extra trajectory", "missing trajectory", "missing FOV file", "blank line",
             "trailing comma", "nan K", "missing ensemble"]


@pytest.mark.parametrize("case", SUB_CASES)
def test_validate_and_zip_refuse(submission, tmp_path, case):
    pub, sub = submission
    msg, _ = _damage(sub, case)
    res = invoke("validate", sub, "--data", pub)
    assert res.exit_code == 1 and msg in one_line(res.output), res.output
    zpath = tmp_path / "submission.zip"
    res = invoke("zip", sub, "--data", pub, "--out", zpath)
    assert res.exit_code == 1 and "not written" in res.output
    assert not zpath.exists() and not list(tmp_path.glob("*.tmp"))


def test_validate_unreadable_input_is_an_error(submission):
    pub, sub = submission
    layout.trajs_path(pub, 2, 1, 1).write_text("traj_idx,frame\n0,0\n")
    res = invoke("validate", sub, "--data", pub)
    assert res.exit_code == 1
    assert "cannot read the input of FOV 1" in res.output and "missing column(s)" in res.output


def test_validate_missing_data_folder(submission, tmp_path):
    _, sub = submission
    res = invoke("validate", sub, "--data", tmp_path / "nope")
    assert res.exit_code == 1 and "public_data folder not found" in res.output


def test_zip_writes_only_the_challenge_files(submission, tmp_path):
    pub, sub = submission
    zpath = tmp_path / "z" / "submission.zip"
    res = invoke("zip", sub, "--data", pub, "--out", zpath)
    assert res.exit_code == 0, res.output
    names = sorted(zipfile.ZipFile(zpath).namelist())
    assert names == sorted(f"track_2/exp_{e}/{n}" for e in (0, 1)
                           for n in ("ensemble_labels.txt", "fov_0.txt", "fov_1.txt"))


@pytest.mark.parametrize("case", ["missing reference", "blank line", "trailing comma"])
def test_score_errors(submission, tmp_path, case):
    pub, sub = submission
    if case == "missing reference":
        res = invoke("score", sub, tmp_path / "noref")
        assert res.exit_code == 2 and "noref: reference folder not found" in res.output
        return
    ref = tmp_path / "ref"
    for e in (0, 1):
        for f in (0, 1):
            dst = layout.labels_path(ref, 2, e, f)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(layout.prediction_path(sub, 2, e, f).read_text())
        layout.ensemble_path(ref, 2, e).write_text(layout.ensemble_path(sub, 2, e).read_text())
    msg, _ = _damage(sub, case)
    res = invoke("score", sub, ref, "--out", tmp_path / "scores")
    assert res.exit_code == 2 and msg in one_line(res.output), res.output
    assert not (tmp_path / "scores").exists()


def test_markup_in_paths_is_printed_literally(tmp_path):
    odd = tmp_path / "sub[/x]"
    odd.mkdir(parents=True)  # sub[ / x]
    res = invoke("validate", odd)
    assert res.exit_code == 1 and "sub[/x]: no FOV prediction to check" in res.output


# --------------------------------------------------------------------------------------------
# resume: never a stale result
# --------------------------------------------------------------------------------------------


def test_resume_redoes_only_what_changed(tmp_path):
    pub = make_public(tmp_path)
    out = tmp_path / "sub"
    assert invoke("run", pub, "--method", "msd", "--out", out).exit_code == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("fov_*.txt")}
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert "0 FOV(s) written" in res.output and "4 unchanged" in res.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("fov_*.txt")} == stamps
    # a changed input CSV redoes that FOV, and the new data reach the submission
    layout.trajs_path(pub, 2, 1, 1).write_text(_csv(n=4, seed=99))
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert res.exit_code == 0 and "1 FOV(s) written (1 of them redone" in res.output
    assert len(layout.prediction_path(out, 2, 1, 1).read_text().splitlines()) == 4


def test_other_method_redoes_everything(tmp_path):
    pub = make_public(tmp_path)
    out = tmp_path / "sub"
    seg = layout.segments_path(out, 2, 0, 0)
    assert invoke("run", pub, "--method", "msd", "--out", out).exit_code == 0
    rec = json.loads(provenance.record_path(seg).read_text())
    assert rec["method"] == "msd" and rec["input"]["size"] > 0
    rec["method"] = "unet"  # as if a U-Net run had written these segments
    provenance.record_path(seg).write_text(json.dumps(rec))
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert "1 FOV(s) written (1 of them redone" in res.output and "3 unchanged" in res.output


def test_segments_without_record_are_redone(tmp_path):
    pub = make_public(tmp_path)
    out = tmp_path / "sub"
    invoke("run", pub, "--method", "msd", "--out", out)
    provenance.record_path(layout.segments_path(out, 2, 1, 0)).unlink()  # interrupted
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert "1 FOV(s) written (1 of them redone" in res.output


def test_foreign_submission_refused_then_forced(tmp_path):
    pub = make_public(tmp_path)
    out = tmp_path / "sub"
    stale = layout.prediction_path(out, 2, 7, 0)  # someone else's experiment 7
    stale.parent.mkdir(parents=True)
    stale.write_text("0,1.0,1.0,2,30\n")
    mine = layout.prediction_path(out, 2, 0, 0)
    mine.parent.mkdir(parents=True)
    mine.write_text("0,1.0,1.0,2,30\n")
    before = files(out)
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert res.exit_code == 2 and "without a record" in res.output and "--force" in res.output
    assert files(out) == before
    res = invoke("run", pub, "--method", "msd", "--out", out, "--force")
    assert res.exit_code == 0, res.output
    assert not stale.parent.exists() and "exp_7: not in the input" in res.output
    assert len(mine.read_text().splitlines()) == 3


def test_experiment_gone_from_input_leaves_submission(tmp_path):
    pub = make_public(tmp_path)
    out = tmp_path / "sub"
    invoke("run", pub, "--method", "msd", "--out", out)
    layout.trajs_path(pub, 2, 1, 1).unlink()
    import shutil

    shutil.rmtree(layout.exp_dir(pub, 2, 0))
    res = invoke("run", pub, "--method", "msd", "--out", out)
    assert res.exit_code == 0, res.output
    assert sorted(files(out / "track_2")) == ["exp_1/ensemble_labels.txt", "exp_1/fov_0.txt"]


def test_tracks_cache_from_another_video_is_stale(tmp_path):
    a, b = tmp_path / "a.tiff", tmp_path / "b.tiff"
    a.write_bytes(b"video A")
    b.write_bytes(b"video B!")
    cache = tmp_path / "tracks" / "exp_0" / "trajs_fov_0.csv"
    cache.parent.mkdir(parents=True)
    cache.write_text(_csv())
    assert provenance.stale_reason(cache, provenance.tracks_record(a, "p")) == "no record"
    provenance.write_record(cache, provenance.tracks_record(a, "p"))
    assert provenance.stale_reason(cache, provenance.tracks_record(a, "p")) is None
    assert provenance.stale_reason(cache, provenance.tracks_record(b, "p")) == "video changed"
    assert provenance.stale_reason(cache, provenance.tracks_record(a, "q")) == \
        "tracker changed"


def test_new_penalty_is_a_new_record():
    ident = {"method": "unet", "settings": {"segmenter": {"pen": 16.0}}}
    other = {"method": "unet", "settings": {"segmenter": {"pen": 4.0}}}
    assert provenance.make_record(**ident) != provenance.make_record(**other)


# --------------------------------------------------------------------------------------------
# newcomer path and signals
# --------------------------------------------------------------------------------------------


def test_run_with_defaults_writes_submissions_method(tmp_path, monkeypatch):
    pub = make_public(tmp_path)
    monkeypatch.chdir(tmp_path)
    res = invoke("run", pub, "--method", "msd")
    assert res.exit_code == 0, res.output
    assert "submission in submissions/msd" in res.output
    assert (tmp_path / "submissions/msd/track_2/exp_1/fov_1.txt").is_file()
    assert invoke("--version").output.startswith("andi2kit ")


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with open(task / "children") as fh:
            kids |= {int(k) for k in fh.read().split()}
    return kids


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_every_worker(sig):
    code = ("import time; from andi2kit.execution import imap_unordered\n"
            "for _ in imap_unordered(time.sleep, [60] * 4, 2): pass\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # a shell's background job ignores SIGINT and its children inherit that (CI may run us
    # so); the user's Ctrl-C reaches a foreground process, whose SIGINT is the default
    proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 40
    while len(kids := _children(proc.pid)) < 2 and time.time() < deadline:  # 2 workers
        time.sleep(0.2)
    assert len(kids) >= 2
    time.sleep(3.0)  # the local cluster's workers connect, then run their jobs
    kids |= _children(proc.pid)
    proc.send_signal(sig)
    assert proc.wait(timeout=20) != 0
    deadline = time.time() + 10
    while any(Path(f"/proc/{k}").exists() for k in kids) and time.time() < deadline:
        time.sleep(0.2)
    alive = [k for k in kids if Path(f"/proc/{k}/status").exists()
             and "zombie" not in Path(f"/proc/{k}/status").read_text()]
    assert alive == []


def test_quiet_and_verbose_go_through_logging(submission, tmp_path):
    pub, sub = submission
    loud = invoke("zip", sub, "--data", pub, "--out", tmp_path / "a.zip")
    quiet = invoke("-q", "zip", sub, "--data", pub, "--out", tmp_path / "b.zip")
    assert loud.exit_code == quiet.exit_code == 0
    assert "a.zip: 6 files from" in one_line(loud.output)
    assert "files from" not in quiet.output and "wrote" in quiet.output


def test_python_dash_m_and_version():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "andi2kit", "--version"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("andi2kit ") and res.stderr == ""


def test_tune_out_copies_and_never_touches_the_source(tmp_path):
    from andi2kit.tuning import _tuned_checkpoint, write_tuned

    src = tmp_path / "ck"
    src.mkdir()
    for name in ("model.keras", "config.json", "segmentation.json"):
        (src / name).write_text(name)
    target = _tuned_checkpoint(src, tmp_path / "tuned")
    write_tuned(src, target, {"ensemble": "single_gaussian"})
    assert (src / "segmentation.json").read_text() == "segmentation.json"
    assert json.loads(target.read_text()) == {"ensemble": "single_gaussian"}
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "config.json", "model.keras", "segmentation.json"]
    assert (target.parent / "model.keras").read_text() == "model.keras"


def test_true_tracks_are_used_by_run_not_tracked_again(tmp_path):
    from andi2kit.fov_input import read_fov_input
    from andi2kit.tracking_cost import write_true_tracks

    video = layout.video_path(tmp_path / "pub", 0, 0)
    video.parent.mkdir(parents=True)
    video.write_bytes(b"any bytes: a video that cannot be tracked")
    everyone = layout.trajs_path(tmp_path / "pub", 2, 0, 0)  # VIPs 0, 1 and a third
    everyone.parent.mkdir(parents=True)
    everyone.write_text(_csv(n=3, T=200))
    vips = layout.vip_path(tmp_path / "ref", 0, 0)
    vips.parent.mkdir(parents=True)
    vips.write_text("0\n1\n")
    tracks = write_true_tracks(tmp_path / "pub", tmp_path / "ref", tmp_path / "true")
    got = read_fov_input(tmp_path / "pub", 1, 0, 0, tracks)  # tracking would raise
    assert sorted(got.traj_idx.unique()) == [0, 1] and len(got) == 400
    vips.write_text("0\n1\n7\n")  # a VIP the Track 2 file lacks
    with pytest.raises(InputError, match="are not all in it"):
        write_true_tracks(tmp_path / "pub", tmp_path / "ref", tmp_path / "true")


BAD_TRAIN = {
    "unknown --set key": ([], ["--set", "epoch=3"], "no setting 'epoch' in the training config"),
    "--set without =": ([], ["--set", "epochs"], "expected KEY=VALUE"),
    "--set under a leaf": ([], ["--set", "epochs.x=3"], "no setting 'epochs.x'"),
    "config not JSON": (["{epochs: 3"], [], "not a readable JSON training config"),
    "config with an unknown key": (['{"epochs": 3, "speed": 2}'], [],
                                   "unexpected keyword argument 'speed'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAIN))
def test_bad_training_config_is_named(tmp_path, case):
    text, sets, msg = BAD_TRAIN[case]
    args = ["train", "--out", tmp_path / "ck", *sets]
    if text:
        (tmp_path / "c.json").write_text(text[0])
        args += ["--config", tmp_path / "c.json"]
    res = invoke(*args)
    assert res.exit_code != 0 and msg in one_line(res.output)
    assert not (tmp_path / "ck").exists()


def test_set_overrides_the_config_file():
    from andi2kit.models.train import TrainConfig, override

    base = json.loads((REPO / "configs" / "unet-default.json").read_text())
    cfg = TrainConfig.from_dict(override(base, ["epochs=400", "model.filters=[48,96,192]",
                                                "noise=[0.1,0.1]"]))
    assert cfg.epochs == 400 and list(cfg.model.filters) == [48, 96, 192]
    assert cfg.noise == (0.1, 0.1) and cfg.lr_decay == base["lr_decay"]
