"""Our scorer against the organisers' codalab_scoring_local, number for number."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

from andi2kit import layout
from andi2kit.errors import InputError
from andi2kit.scoring import metrics as M
from andi2kit.scoring import score as SC
from andi2kit.scoring import synthetic as S


def official_scores(sub, ref, out) -> dict[str, float]:
    from andi_datasets.utils_challenge import codalab_scoring_local

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        codalab_scoring_local(str(sub), str(ref), str(out))
    return SC.read_scores_txt(out / "scores.txt")


def our_scores(sub, ref, out) -> dict[str, float]:
    SC.write_outputs(SC.score(sub, ref), out)
    return SC.read_scores_txt(out / "scores.txt")


def assert_same(official: dict, ours: dict) -> None:
    assert set(official) == set(ours)
    for k, v in official.items():
        assert ours[k] == pytest.approx(v, abs=1e-9, rel=1e-12), k


CASES = {
    "clean": S.Defects(),
    "messy": S.Defects(p_missing_traj=0.15, p_extra_traj=0.2, p_bad_alpha=0.15, p_bad_K=0.15,
                       p_bad_state=0.15, p_malformed=0.05),
    "missing_traj": S.Defects(p_missing_traj=0.3),
    "extra_traj": S.Defects(p_extra_traj=1.0),
    "no_changepoints": S.Defects(no_changepoints=True),
    "bad_alpha": S.Defects(p_bad_alpha=0.5),
    "bad_K": S.Defects(p_bad_K=0.5),
    "bad_state": S.Defects(p_bad_state=0.5),
    "malformed_lines": S.Defects(p_malformed=0.3),
    "missing_fov": S.Defects(missing_fov=True),
    "wrong_vip": S.Defects(wrong_vip=True),
    "missing_ensemble": S.Defects(missing_ensemble=True),
    "single_state_pred": S.Defects(single_state_pred=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_official(tmp_path, case):
    ref = S.make_reference(tmp_path / "ref", n_exp=3, n_fov=2, n_traj=15, seed=7)
    sub = S.make_submission(ref, tmp_path / "sub", CASES[case], seed=11)
    off = official_scores(sub, ref, tmp_path / "off")
    ours = our_scores(sub, ref, tmp_path / "ours")
    assert_same(off, ours)


@pytest.mark.parametrize("seed", range(4))
def test_equals_official_randomised(tmp_path, seed):
    rng = np.random.default_rng(seed)
    d = S.Defects(p_missing_traj=rng.uniform(0, 0.2), p_bad_alpha=rng.uniform(0, 0.2),
                  p_bad_K=rng.uniform(0, 0.2), p_bad_state=rng.uniform(0, 0.2))
    ref = S.make_reference(tmp_path / "ref", n_exp=2, n_fov=3, n_traj=25, seed=100 + seed)
    sub = S.make_submission(ref, tmp_path / "sub", d, seed=200 + seed)
    assert_same(official_scores(sub, ref, tmp_path / "off"),
                our_scores(sub, ref, tmp_path / "ours"))


def test_perfect_submission_scores_perfectly(tmp_path):
    ref = S.make_reference(tmp_path / "ref", tracks=(2,), n_exp=2, n_fov=2, seed=3)
    for e in layout.experiments(ref, 2):
        for f in layout.fovs(ref, 2, e, "labels"):
            dst = layout.prediction_path(tmp_path / "sub", 2, e, f)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(layout.labels_path(ref, 2, e, f).read_text())
        layout.ensemble_path(tmp_path / "sub", 2, e).write_text(
            layout.ensemble_path(ref, 2, e).read_text())
    (r,) = SC.score(tmp_path / "sub", ref, tracks=(2,))
    assert r.single == pytest.approx({"rmse_cp": 0, "jsc_cp": 1, "alpha": 0, "K": 0,
                                      "state": 1})
    assert r.ensemble["w1_alpha"] == pytest.approx(0, abs=1e-12)
    assert r.ensemble["w1_K"] == pytest.approx(0, abs=1e-12)


def test_missing_fov_voids_track(tmp_path):
    ref = S.make_reference(tmp_path / "ref", tracks=(2,), n_exp=2, n_fov=2, seed=3)
    sub = S.make_submission(ref, tmp_path / "sub", S.Defects(missing_fov=True))
    (r,) = SC.score(sub, ref, tracks=(2,))
    assert r.single == M.SINGLE_FAILURE
    assert "fov_1.txt" in r.single_failure


@pytest.mark.parametrize("text, where", [("0,1.0,1.0,2,50\n\n1,1.0,1.0,2,50\n", ":2: blank"),
                                         ("0,1.0,1.0,2,50,\n", "field 6 is an empty field")])
def test_clear_error_where_official_crashes(tmp_path, text, where):
    ref = S.make_reference(tmp_path / "ref", tracks=(2,), n_exp=1, n_fov=1, seed=3)
    sub = S.make_submission(ref, tmp_path / "sub")
    layout.prediction_path(sub, 2, 0, 0).write_text(text)
    with pytest.raises(InputError, match=where):
        SC.score(sub, ref, tracks=(2,))


def test_changepoint_counts_by_hand():
    c = M.ChangePointCounts()
    c.add(np.array([50]), np.array([53]))  # TP, error 3
    c.add(np.array([50]), np.array([70]))  # FP + FN
    c.add(np.array([]), np.array([]))  # empty-empty counts as TP
    c.add(np.array([100, 150]), np.array([98]))  # TP (2) + FN
    rmse, jsc = c.result()
    assert rmse == pytest.approx(np.sqrt((9 + 4) / 2))
    assert jsc == pytest.approx(3 / (3 + 1 + 2))


def test_interval_cost_equals_frame_cost():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        t1, t2 = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        tb = np.append(np.sort(rng.integers(0, t1 + 5, rng.integers(0, 4))), t1)
        pb = np.append(rng.integers(0, t2 + 5, rng.integers(0, 4)), t2)
        fast = M.segment_cost(tb, pb)
        slow = M._segment_cost_frames(*M._split_bounds(tb), *M._split_bounds(pb))
        assert np.array_equal(fast, slow)


def test_density_matches_scipy_truncnorm():
    from scipy.stats import truncnorm

    for param, m, v in [("alpha", 1.0, 0.01), ("alpha", -1.0, 1e-12), ("K", 0.3, 1e-3),
                        ("K", 1e3, 10.0)]:
        lo, hi = M.ALPHA_BOUNDS if param == "alpha" else M.K_BOUNDS
        s = np.sqrt(max(v, 1e-9))
        ref = truncnorm.pdf(M.support(param), (lo - m) / s, (hi - m) / s, loc=m, scale=s)
        assert np.allclose(M.mixture_density([m], [v], [1.0], param), ref, rtol=1e-12, atol=0)


def test_state_confusion_counts_every_frame_and_names_the_missing(tmp_path):
    """``andi2kit score --states``: the reference against itself is the identity on every
    frame; a submission calling everything free puts each true state's frames in the free
    column; a FOV missing from the submission is counted as frames without a prediction."""
    from typer.testing import CliRunner

    from andi2kit.cli import app
    from andi2kit.io import read_labels, write_labels
    from andi2kit.scoring.confusion import state_confusion

    ref = S.make_reference(tmp_path / "ref", tracks=(2,), n_exp=2, n_fov=2, seed=5)
    truth = np.zeros(4, np.int64)
    for e in layout.experiments(ref, 2):
        for f in layout.fovs(ref, 2, e, "labels"):
            labels = read_labels(layout.labels_path(ref, 2, e, f))
            for lab in labels:
                truth += np.bincount(lab.per_frame(lab.state), minlength=4)
            write_labels(layout.prediction_path(tmp_path / "same", 2, e, f), labels)
            if (e, f) != (1, 1):
                write_labels(layout.prediction_path(tmp_path / "free", 2, e, f),
                             [_all_free(lab) for lab in labels])
    assert np.count_nonzero(truth) >= 3  # the reference holds several states
    same = state_confusion(tmp_path / "same", ref, 2)
    assert np.array_equal(same.counts, np.diag(truth)) and same.unmatched == 0
    free = state_confusion(tmp_path / "free", ref, 2)
    missing = sum(lab.T for lab in read_labels(layout.labels_path(ref, 2, 1, 1)))
    assert free.unmatched == missing > 0
    assert free.counts.sum() + missing == truth.sum()
    assert np.all(free.counts[:, [0, 1, 3]] == 0) and np.all(free.counts[:, 2] > 0)
    res = CliRunner().invoke(app, ["score", str(tmp_path / "free"), str(ref), "--track", "2",
                                   "--states", "--out", str(tmp_path / "scores")])
    assert res.exit_code == 0, res.output
    assert f"{missing} reference frames without a prediction" in res.output
    assert "| free | 0.00 | 0.00 | 1.00 | 0.00 | 1.00 |" in res.output


def _all_free(lab):
    """The same label with every segment free."""
    from dataclasses import replace

    return replace(lab, state=np.full(len(lab.state), 2))


def test_track1_state_confusion_counts_the_vips_only(tmp_path):
    """Track 1 scores the VIPs named in each FOV's ``vip_idx`` file: a submission holding
    exactly them leaves no reference frame unpredicted, and a VIP label that ends early
    leaves only its missing frames so."""
    from andi2kit.io import read_labels, write_labels
    from andi2kit.scoring.confusion import state_confusion

    ref = S.make_reference(tmp_path / "ref", tracks=(1,), n_exp=1, n_fov=2, n_traj=12,
                           n_vip=4, seed=2)
    total = 0
    for f in layout.fovs(ref, 1, 0, "labels"):
        vips = set(np.atleast_1d(np.loadtxt(layout.vip_path(ref, 0, f))).astype(int).tolist())
        labels = [lab for lab in read_labels(layout.labels_path(ref, 1, 0, f))
                  if lab.idx in vips]
        total += sum(lab.T for lab in labels)
        write_labels(layout.prediction_path(tmp_path / "sub", 1, 0, f), labels)
    c = state_confusion(tmp_path / "sub", ref, 1)
    assert c.unmatched == 0 and c.counts.sum() == total
    assert np.count_nonzero(c.counts - np.diag(np.diag(c.counts))) == 0
    path = layout.prediction_path(tmp_path / "sub", 1, 0, 0)
    labels = read_labels(path)
    short = labels[0]
    from dataclasses import replace

    cut = int(short.T // 2)
    keep = short.cp < cut
    labels[0] = replace(short, cp=short.cp[keep], K=short.K[:keep.sum() + 1],
                        alpha=short.alpha[:keep.sum() + 1], state=short.state[:keep.sum() + 1],
                        T=cut)
    write_labels(path, labels)
    c = state_confusion(tmp_path / "sub", ref, 1)
    assert c.unmatched == short.T - cut and c.counts.sum() == total - (short.T - cut)
