"""Training-data priors and the resumability of its shard folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from andi2kit.constants import MODEL_NAMES
from andi2kit.errors import InputError
from andi2kit.training_data import make_training_data, sample_definition


def _moving_alphas(dic: dict) -> list[float]:
    """α means of the states that are not drawn slow: the only state, or the first (free,
    fast) one of the two-state models; in ``multi_state`` every state above 1.2 (the slow
    prior's top) or the first."""
    a = np.atleast_2d(np.asarray(dic["alphas"], float))[:, 0]
    if dic["model"] == "multi_state":
        return [float(v) for k, v in enumerate(a) if k == 0 or v > 1.2]
    return [float(a[0])]


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_fast_alpha_draws_every_moving_state_in_its_range(model):
    for seed in range(20):
        dic = sample_definition(np.random.default_rng(seed), model, fast_alpha=(1.7, 1.999))
        assert all(1.7 <= a <= 1.999 for a in _moving_alphas(dic)), dic
        if model in ("dimerization", "confinement"):  # the slow state keeps its prior
            assert np.asarray(dic["alphas"])[1, 0] <= 1.2


def test_the_default_prior_is_broad():
    alphas = [a for seed in range(200)
              for a in _moving_alphas(sample_definition(np.random.default_rng(seed),
                                                        "single_state"))]
    assert min(alphas) < 0.5 and max(alphas) > 1.7
    assert 0.1 < np.mean(np.abs(np.array(alphas) - 1) < 0.2) < 0.9


def test_shards_drawn_otherwise_are_never_resumed(tmp_path):
    out = tmp_path / "shards"
    out.mkdir()
    (out / "options.json").write_text(json.dumps(
        {"seed": 1, "boxes_per_shard": 2, "fast_alpha": None}))
    with pytest.raises(InputError, match="drawn with"):
        make_training_data(out, boxes=2, boxes_per_shard=2, seed=1, progress=False,
                           fast_alpha=(1.7, 1.9))
    with pytest.raises(InputError, match="drawn with"):
        make_training_data(out, boxes=2, boxes_per_shard=2, seed=2, progress=False)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "shard_0000.npz").write_bytes(b"")
    with pytest.raises(InputError, match="unknown options"):
        make_training_data(legacy, boxes=2, boxes_per_shard=2, progress=False)
    assert sorted(p.name for p in legacy.iterdir()) == ["shard_0000.npz"]


def test_a_folder_from_before_options_were_recorded_resumes_by_its_manifest(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"seed": 3, "boxes_per_shard": 2}))
    (out / "shard_0000.npz").write_bytes(b"")
    with pytest.raises(InputError, match="drawn with"):
        make_training_data(out, boxes=2, boxes_per_shard=2, seed=4, progress=False)


def test_short_traps_boxes_stop_often_and_briefly():
    """``short_traps``: many traps that let a particle go after 2.5-20 frames on average; the
    moving state keeps the broad prior; a trap box of the default prior is unchanged."""
    from andi2kit.training_data import SHORT_TRAPS

    for seed in range(20):
        dic = sample_definition(np.random.default_rng(seed), "immobile_traps",
                                short_traps=True)
        for key, (lo, hi) in SHORT_TRAPS.items():
            assert lo <= dic[key] <= hi, (key, dic[key])
        assert 2.5 <= 1 / dic["Pu"] <= 20
        plain = sample_definition(np.random.default_rng(seed), "immobile_traps")
        assert plain["alphas"].tolist() == dic["alphas"].tolist()
        assert 100 <= plain["Nt"] < 1000 and plain["Pu"] <= 0.3


def test_short_traps_is_an_option_of_the_folder(tmp_path):
    """A folder drawn before the option existed resumes without it and refuses it."""
    out = tmp_path / "shards"
    out.mkdir()
    (out / "options.json").write_text(json.dumps(
        {"seed": 1, "boxes_per_shard": 2, "fast_alpha": None}))
    (out / "shard_0000.npz").write_bytes(b"")
    with pytest.raises(InputError, match="drawn with"):
        make_training_data(out, boxes=2, boxes_per_shard=2, seed=1, progress=False,
                           short_traps=True)
    assert json.loads((out / "options.json").read_text())["fast_alpha"] is None


def test_the_label_filter_is_the_organisers():
    """Our vectorised label filter gives exactly what andi-datasets' ``label_filter`` gives
    (the reference labels went through theirs), on 300 random label sequences with short
    and long runs, several values and edge cases (a constant sequence, runs at the ends)."""
    from andi_datasets.utils_challenge import label_filter as theirs

    from andi2kit.labels import label_filter

    rng = np.random.default_rng(11)
    cases = [np.full(50, 0.3), np.r_[np.zeros(2), np.ones(40)], np.r_[np.ones(40), np.zeros(1)]]
    for _ in range(300):
        values = rng.choice([0.0, 0.5, 1.0, 2.0, 3.0], size=int(rng.integers(2, 5)),
                            replace=False)
        runs = rng.integers(1, 12, size=int(rng.integers(2, 25)))
        cases.append(np.repeat(rng.choice(values, size=runs.size), runs))
    for label in cases:
        np.testing.assert_array_equal(label_filter(label), theirs(label.copy()))
