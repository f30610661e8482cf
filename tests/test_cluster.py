"""A real dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

``andi2kit simulate`` and ``andi2kit run`` are sent to it through ``--scheduler`` (and
``ANDI2KIT_SCHEDULER``), and the files they write are compared byte for byte with the same
work done in one local process: ``run`` with ``andi2kit run --workers 1``, ``simulate`` of
one FOV per experiment without videos (``test_simulate`` compares the videos rendered by one
process and by two), every file (timings aside).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the run's own timings, and the staging records that carry them
TIMINGS = ("wall_s", "cpu_s")


def _dask() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.is_file() else [shutil.which("dask") or "dask"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("ANDI2KIT_SCHEDULER", None)
    return env


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:  # each in its own session: the group holds its worker process too
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.time() + 15
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory) -> str:
    """Address of a running scheduler with two one-thread workers; all stopped afterwards."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("cluster")
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs: list[subprocess.Popen] = []

    def start(*args: str, log: str) -> None:
        with open(tmp / log, "w") as fh:
            procs.append(subprocess.Popen([*_dask(), *args], env=_env(), cwd=tmp, stdout=fh,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard", log="scheduler.log")
        for i in range(2):
            start("worker", address, "--nthreads", "1", "--memory-limit", "0",
                  "--no-dashboard", "--local-directory", str(tmp / f"w{i}"),
                  "--name", f"w{i}", log=f"worker{i}.log")
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        _stop(procs)
        for p in procs:
            assert p.poll() is not None


def _andi2kit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "andi2kit", "-q", *args],
                         env=env or _env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path; timing fields dropped from the records."""
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        name = p.relative_to(root).as_posix()
        data = p.read_bytes()
        if p.suffix == ".json" and (name == "manifest.json" or name.startswith(".staging/")):
            data = json.dumps(_drop_timings(json.loads(data)), sort_keys=True).encode()
        out[name] = data
    return out


def _drop_timings(obj):
    if isinstance(obj, dict):
        return {k: _drop_timings(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_drop_timings(v) for v in obj]
    return obj


def _assert_same(local: Path, remote: Path) -> None:
    a, b = _files(local), _files(remote)
    assert sorted(a) == sorted(b)
    assert [n for n in a if a[n] != b[n]] == []


@pytest.mark.slow
def test_simulate_and_run_on_a_dask_cluster(sim_data, scheduler, tmp_path):
    from andi2kit.simulation import simulate

    remote = tmp_path / "sim"
    t0 = time.perf_counter()
    # without videos (the renderings of one and of two processes are compared in
    # test_simulate): here what counts is that the jobs travel
    _andi2kit("simulate", str(remote), "--preset", "test", "--seed", "0", "--fovs", "1",
              "--no-video", "--scheduler", scheduler)
    simulate(tmp_path / "local-sim", "test", fovs=1, seed=0, video=False, progress=False)
    got = _files(remote)
    assert len([n for n in got if "fov_0" in n]) == 2 * 3  # 2 experiments x (csv, labels, record)
    _assert_same(tmp_path / "local-sim", remote)
    t1 = time.perf_counter()

    # run: Track 2, and Track 1 (video tracking in the jobs) on one video, to stay quick
    public = tmp_path / "public"
    shutil.copytree(sim_data / "public_data" / "track_2", public / "track_2")
    video = public / "track_1" / "exp_1" / "videos_fov_0.tiff"
    video.parent.mkdir(parents=True)
    shutil.copy(sim_data / "public_data" / "track_1" / "exp_1" / "videos_fov_0.tiff", video)
    _andi2kit("run", str(public), "--method", "msd", "--out", str(tmp_path / "local"),
              "--workers", "1")
    env = {**_env(), "ANDI2KIT_SCHEDULER": scheduler}
    _andi2kit("run", str(public), "--method", "msd", "--out", str(tmp_path / "remote"),
              env=env)
    assert (tmp_path / "remote" / "track_1" / "exp_1" / "fov_0.txt").is_file()
    assert len(list((tmp_path / "remote" / "track_2").rglob("fov_*.txt"))) == 4
    _assert_same(tmp_path / "local", tmp_path / "remote")
    print(f"simulate {t1 - t0:.1f} s, run local + remote {time.perf_counter() - t1:.1f} s")
