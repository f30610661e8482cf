"""The generalisation tables: who is better per metric, and the X/n experiment counts."""

from __future__ import annotations

import pytest

from andi2kit.generalisation import (
    KEYS,
    better,
    compare,
    counts_table,
    preset_section,
    summary_table,
)
from andi2kit.scoring.score import ENSEMBLE_KEYS, SINGLE_KEYS, TrackScore

#: A neutral experiment: both methods tie on it.
BASE = {"rmse_cp": 2.0, "jsc_cp": 0.5, "alpha": 0.3, "K": 0.1, "state": 0.8, "w1_alpha": 0.2,
        "w1_K": 0.05}


def _score(rows: list[dict]) -> TrackScore:
    per_exp = [{"exp": e, "num_trajs": 10, **row} for e, row in enumerate(rows)]
    avg = {k: sum(r[k] for r in rows) / len(rows) for k in KEYS}
    return TrackScore(track=2, per_exp=per_exp, single={k: avg[k] for k in SINGLE_KEYS},
                      ensemble={k: avg[k] for k in ENSEMBLE_KEYS})


def test_better_follows_each_metrics_direction() -> None:
    for k in ("rmse_cp", "alpha", "K", "w1_alpha", "w1_K"):
        assert better(k, 0.1, 0.2) == 1 and better(k, 0.2, 0.1) == -1
    for k in ("jsc_cp", "state"):
        assert better(k, 0.1, 0.2) == -1 and better(k, 0.2, 0.1) == 1
    assert better("alpha", 0.3, 0.3) == 0 and better("state", 1.0, 1.0) == 0


def test_counts_and_averages_per_metric() -> None:
    floor = _score([dict(BASE) for _ in range(10)])
    rows = [dict(BASE) for _ in range(10)]
    # α MAE: unet worse in 3 experiments (only slightly), much better in the other 7
    for e in range(10):
        rows[e]["alpha"] = 0.31 if e < 3 else 0.1
    # JSC (higher is better): worse in 2, tied in 8, so behind on average
    rows[0]["jsc_cp"] = rows[1]["jsc_cp"] = 0.4
    # K MSLE: better in one experiment only, by a lot, worse by a little in 9
    for e in range(10):
        rows[e]["K"] = 0.001 if e == 0 else 0.11
    # state F1: better everywhere
    for row in rows:
        row["state"] = 0.9
    ours = _score(rows)
    res = {m.key: m for m in compare(ours, floor)}
    assert (res["alpha"].at_least_as_good, res["alpha"].n, res["alpha"].ahead) == (7, 10, 1)
    assert not res["alpha"].goal_met  # 70 % < 80 %
    assert (res["jsc_cp"].at_least_as_good, res["jsc_cp"].ahead) == (8, -1)
    assert not res["jsc_cp"].goal_met  # 80 % but behind on average
    assert (res["K"].at_least_as_good, res["K"].ahead) == (1, 1)  # ahead, yet 1/10
    assert res["state"].at_least_as_good == 10 and res["state"].goal_met
    assert res["rmse_cp"].at_least_as_good == 10 and res["rmse_cp"].ahead == 0  # all ties
    assert "at least as good in 7/10 experiments (70 %) — **goal not met**" in res["alpha"].line()
    assert res["state"].line() == ("- state F1: ahead on average: yes; at least as good in "
                                   "10/10 experiments (100 %)")
    assert res["jsc_cp"].line().startswith("- JSC CP: ahead on average: no; at least as good "
                                           "in 8/10")
    # swapping the methods swaps the verdicts
    rev = {m.key: m for m in compare(floor, ours)}
    assert rev["alpha"].at_least_as_good == 3 and rev["alpha"].ahead == -1
    assert rev["K"].at_least_as_good == 9


def test_tables() -> None:
    floor = _score([dict(BASE), dict(BASE)])
    ours = _score([{**BASE, "alpha": 0.2}, {**BASE, "alpha": 0.4}])
    ours.per_exp[1]["w1_K"] = None  # a metric one method has no number for is not counted
    res = {m.key: m for m in compare(ours, floor)}
    assert (res["w1_K"].at_least_as_good, res["w1_K"].n) == (1, 1)
    text = preset_section("wide", ours, floor, ["single_state", "confinement"])
    assert "| msd (floor) | 2.000 | 0.500 | 0.300 |" in text
    assert "| 0 | single_state | 2.000 / 2.000 = | 0.500 / 0.500 = | 0.200 / 0.300 unet |" in text
    assert "| 1 | confinement | 2.000 / 2.000 = | 0.500 / 0.500 = | 0.400 / 0.300 msd |" in text
    assert "- α MAE: ahead on average: tie; at least as good in 1/2 experiments (50 %)" in text
    table = summary_table({"wide": (ours, floor)})
    assert "| wide | msd | 2.000 | 0.500 | 0.300 |" in table
    assert "| wide | unet | 2.000 | 0.500 | 0.300 |" in table
    assert "| wide | tie, 2/2 | tie, 2/2 | tie, 1/2 |" in counts_table({"wide": (ours, floor)})


@pytest.mark.parametrize("key", KEYS)
def test_every_metric_has_a_direction(key: str) -> None:
    assert better(key, 1.0, 2.0) != 0
