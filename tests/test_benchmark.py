"""The benchmark table puts our numbers beside the paper's, experiment by experiment."""

from __future__ import annotations

from andi2kit.benchmark import PAPER, results_table
from andi2kit.scoring.score import TrackScore


def test_table_rows_and_paper_numbers():
    row = {"exp": 0, "num_trajs": 5, "rmse_cp": 1.0, "jsc_cp": 0.5, "alpha": 0.1, "K": 0.01,
           "state": 0.9, "w1_alpha": 0.05, "w1_K": 0.02}
    avg = {k: v for k, v in row.items() if k not in ("exp", "num_trajs")}
    single = {k: avg[k] for k in ("rmse_cp", "jsc_cp", "alpha", "K", "state")}
    ens = {k: avg[k] for k in ("w1_alpha", "w1_K")}
    ours = {f"{t}:unet": TrackScore(track=t, per_exp=[row], single=single, ensemble=ens)
            for t in (1, 2)}
    text = results_table(ours)
    assert "| 1 | paper | 0.000 | 0.005 | 0.082 | 0.044 | 1.000 | 0.146 | 0.021 |" in text
    assert "| 1 | unet | 1.000 | 0.500 | 0.100 | 0.010 | 0.900 | 0.050 | 0.020 |" in text
    assert "| avg | paper | 0.722 | 0.254 | 0.231 | 0.080 | 0.914 | 0.194 | 0.305 |" in text
    assert len(PAPER[1]) == len(PAPER[2]) == 10
