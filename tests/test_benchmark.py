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


def test_summary_table_and_readme_section(tmp_path):
    from andi2kit.benchmark import README_END, README_START, summary_table, update_readme

    def score(track, rmse, jsc, alpha):
        single = {"rmse_cp": rmse, "jsc_cp": jsc, "alpha": alpha, "K": 0.01, "state": 0.99}
        return TrackScore(track=track, per_exp=[], single=single,
                          ensemble={"w1_alpha": 0.05, "w1_K": 0.02})

    ours = {"2:msd": score(2, 0.0, 0.2, 0.3), "2:unet": score(2, 1.0, 0.6, 0.1),
            "1:msd": score(1, 0.0, 0.2, 0.3), "1:unet": score(1, 1.0, 0.6, 0.1)}
    text = summary_table(ours)
    # msd's RMSE 0 (nothing found) is not bold, nor a rival; unet's 1.000 loses to the
    # paper's 0.722 on track 2 and beats its 2.217 on track 1 (with a higher JSC)
    assert "| 2 | msd | 0.000 | 0.200 | 0.300 |" in text
    assert "| 2 | unet | 1.000 | **0.600** | **0.100** |" in text
    assert "| 1 | unet | **1.000** | **0.600** | **0.100** |" in text
    assert "| 2 | paper (AnomalousNet) | 0.722 | 0.254 |" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nrest\n")
    assert update_readme(readme, "new table")
    assert readme.read_text() == f"intro\n{README_START}\nnew table\n{README_END}\nrest\n"
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not update_readme(plain, "x") and plain.read_text() == "no markers\n"
