"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated challenge dataset (the ``test`` preset, seed 0, with videos).

    Made once per test run, on a local cluster of two processes, and shared by the
    pytest-xdist workers of the run (the first to get the lock makes it, the others wait for
    it; about 2 min on two cores). Layout, see :mod:`andi2kit.simulation`::

        OUT/public_data/track_1/exp_<E>/videos_fov_<F>.tiff
        OUT/public_data/track_2/exp_<E>/trajs_fov_<F>.csv
        OUT/ref/track_<1|2>/exp_<E>/traj_labs_fov_<F>.txt, ensemble_labels.txt
        OUT/ref/track_1/exp_<E>/vip_idx_fov_<F>.txt, trajs_fov_<F>.csv, fov_origin_fov_<F>.txt
        OUT/manifest.json

    with E in {0 (multi_state, 2 states), 1 (immobile_traps)}, F in {0, 1}, 10 VIPs per FOV.
    Treat it as read-only: it is shared by every test of the session.

    Returns
    -------
    Path
        The output folder ``OUT``.
    """
    import fcntl
    import os

    from andi2kit.simulation import simulate

    # this run's temporary root: shared by the xdist workers (popen-gw<N> folders inside it),
    # never by another run, so a dataset made by older code is never reused
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    out = root / "sim_data"
    with open(root / "sim_data.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (root / "sim_data.done").is_file():
            simulate(out, "test", workers=2, seed=0, video=True, progress=False)
            (root / "sim_data.done").touch()
    return out
