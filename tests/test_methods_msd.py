"""The MSD baseline recovers α and K of simple simulated motion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from andi2kit.methods import get_method
from andi2kit.methods.msd import fit_power_law, tamsd


def brownian_table(n: int, T: int, K: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, np.sqrt(2 * K), size=(n, T, 2))
    pos = np.cumsum(steps, axis=1)
    idx, frame = np.meshgrid(np.arange(n), np.arange(T), indexing="ij")
    return pd.DataFrame({"traj_idx": idx.ravel(), "frame": frame.ravel() + 7,
                         "x": pos[..., 0].ravel(), "y": pos[..., 1].ravel()})


def test_power_law_fit_exact():
    lags = np.arange(1, 5)
    msd = 4 * 0.3 * lags[None, :] ** 0.7
    a, K = fit_power_law(msd, lags)
    assert a[0] == pytest.approx(0.7) and K[0] == pytest.approx(0.3)


@pytest.mark.parametrize("K", [0.05, 1.0])
def test_brownian_recovered(K):
    labs = get_method("msd").predict(brownian_table(200, 200, K))
    alpha = np.array([lab.alpha[0] for lab in labs])
    Ks = np.array([lab.K[0] for lab in labs])
    assert abs(np.median(alpha) - 1) < 0.05
    assert abs(np.log(np.median(Ks) / K)) < 0.1
    assert all(lab.T == 200 and lab.cp.size == 0 and lab.state[0] == 2 for lab in labs)


def test_immobile_and_gaps():
    df = brownian_table(3, 50, 1e-5)
    df = df.drop(index=[5, 6, 7]).reset_index(drop=True)  # a gap in trajectory 0
    labs = get_method("msd").predict(df)
    assert [lab.state[0] for lab in labs] == [0, 0, 0]
    assert labs[0].T == 50
    assert np.isnan(tamsd(np.full((1, 3, 2), np.nan), np.array([1]))).all()


def test_ensemble_single_gaussian():
    m = get_method("msd")
    ens = m.ensemble(m.predict(brownian_table(50, 100, 0.5)))
    assert ens.model == "single_state" and ens.matrix.shape == (5, 1)
    assert ens.matrix[4, 0] == 1 and ens.matrix[2, 0] == pytest.approx(0.5, rel=0.2)
