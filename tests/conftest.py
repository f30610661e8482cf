"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated challenge dataset (the ``test`` preset, seed 0, with videos).

    Made once per session (about 55 s on one core). Layout, see :mod:`andi2kit.simulation`::

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
    from andi2kit.simulation import simulate

    out = tmp_path_factory.mktemp("sim_data")
    simulate(out, "test", workers=1, seed=0, video=True, progress=False)
    return out
