"""The per-frame state stage: its physical features, its classifier, its file."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import state_offsets, states
from andi2kit.errors import InputError

T = 200
COL = {name: i for i, name in enumerate(states.frame_feature_names())}


def _features(steps: np.ndarray) -> np.ndarray:
    unet = np.zeros(steps.shape[:2] + (7,))
    unet[..., 1] = 1.0
    return states.frame_features(steps, unet, np.full(steps.shape[0], steps.shape[1]))


def _noise_only(rng, n=20, sigma=0.12):
    pos = rng.normal(0, sigma, (n, T, 2))
    return np.diff(pos, axis=1, prepend=pos[:, :1])


def _brownian(rng, n=20, D=1.0):
    return rng.normal(0, np.sqrt(2 * D), (n, T, 2))


def _confined(rng, n=20, D=1.0, radius=1.5):
    """Brownian motion reflected inside a disc."""
    pos = np.zeros((n, T, 2))
    for t in range(1, T):
        p = pos[:, t - 1] + rng.normal(0, np.sqrt(2 * D), (n, 2))
        r = np.linalg.norm(p, axis=1, keepdims=True)
        pos[:, t] = np.where(r > radius, p / r * (2 * radius - r).clip(0), p)
    return np.diff(pos, axis=1, prepend=pos[:, :1])


def _directed(rng, n=20, v=1.0):
    ang = rng.uniform(0, 2 * np.pi, (n, 1))
    step = np.stack([np.cos(ang), np.sin(ang)], -1) * v
    return np.broadcast_to(step, (n, T, 2)) + rng.normal(0, 0.1, (n, T, 2))


def test_every_feature_is_named_and_finite_inside_the_trajectory():
    rng = np.random.default_rng(0)
    steps = _brownian(rng, 4)
    length = np.array([200, 120, 21, 2])
    f = states.frame_features(steps, np.ones((4, T, 7)), length)
    assert f.shape == (4, T, len(states.frame_feature_names()))
    for i, L in enumerate(length):
        # a lag-L displacement needs L frames before it: the first frames of a window may
        # hold none (NaN, which the trees treat as missing)
        assert np.isfinite(f[i, 8:L]).all(), states.frame_feature_names()
        assert np.isnan(f[i, L:]).all()
    assert np.isfinite(f[3, 1, COL["log_msq_w5"]])


@pytest.mark.parametrize("w", states.WINDOWS)
def test_velocity_autocorrelation_tells_noise_brownian_and_directed_apart(w):
    rng = np.random.default_rng(1)
    mid = slice(50, 150)
    vacf = {name: np.median(_features(make(rng))[:, mid, COL[f"vacf1_w{w}"]])
            for name, make in (("noise", _noise_only), ("brownian", _brownian),
                               ("directed", _directed))}
    assert vacf["noise"] == pytest.approx(-0.5, abs=0.12)
    assert vacf["brownian"] == pytest.approx(0.0, abs=0.12)
    assert vacf["directed"] > 0.8


def test_the_last_frame_pairs_no_step_with_one_past_the_end():
    rng = np.random.default_rng(10)
    last = _features(_noise_only(rng, n=200))[:, T - 1, COL["vacf1_w5"]]
    assert np.median(last) == pytest.approx(-0.5, abs=0.1)


@pytest.mark.parametrize("w", [21, 41])
def test_confinement_saturates_the_radius_of_gyration(w):
    rng = np.random.default_rng(2)
    mid = slice(50, 150)
    free = np.median(_features(_brownian(rng))[:, mid, COL[f"rg_ratio_w{w}"]])
    conf = np.median(_features(_confined(rng))[:, mid, COL[f"rg_ratio_w{w}"]])
    assert free == pytest.approx(0.0, abs=0.2)  # Rg² ≈ (w/6)·⟨step²⟩ for free motion
    assert conf < free - 0.5


def test_local_msd_grows_with_lag_as_the_motion_says():
    rng = np.random.default_rng(3)
    mid = slice(50, 150)
    b = _features(_brownian(rng))[:, mid]
    d = _features(_directed(rng))[:, mid]
    assert np.median(b[..., COL["msd_lag4_w21"]]) == pytest.approx(np.log10(4), abs=0.1)
    assert np.median(d[..., COL["msd_lag4_w21"]]) == pytest.approx(np.log10(16), abs=0.1)


def test_the_classifier_predicts_only_states_it_saw_and_offsets_move_decisions():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 2))
    y = np.where(X[:, 0] + rng.normal(0, 1, 600) > 0.5, 1, 2)  # overlapping states
    clf = states.StateClassifier(max_iter=30).fit(X, y)
    assert set(np.unique(clf.predict(rng.normal(size=(500, 2))))) <= {1, 2}
    before = (clf.predict(X) == 1).mean()
    clf.offsets = np.array([0.0, 2.0, 0.0, 0.0])
    assert (clf.predict(X) == 1).mean() > before
    p = clf.predict_proba(X)
    assert np.allclose(p.sum(1), 1) and (p[:, [0, 3]] < 1e-6).all()


def test_offsets_are_chosen_to_keep_free_recall():
    rng = np.random.default_rng(5)
    y = rng.choice([1, 2], size=4000, p=[0.2, 0.8])
    score = np.where(y == 1, 1.0, 0.0) + rng.normal(0, 0.8, y.size)
    logp = np.full((y.size, 4), -30.0)
    logp[:, 1] = score - 2.5  # biased against "confined"
    logp[:, 2] = 0.0
    off = state_offsets.choose_offsets(logp, y, free_recall=0.95)
    r = state_offsets.recalls(y, np.argmax(logp + off, 1))
    r0 = state_offsets.recalls(y, np.argmax(logp, 1))
    assert r[2] >= 0.95 and r[1] > r0[1] + 0.1


def test_a_saved_stage_loads_and_a_tampered_one_is_refused(tmp_path):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 2))
    clf = states.StateClassifier(max_iter=10).fit(X, (X[:, 0] > 0).astype(int) * 2)
    states.save(clf, tmp_path, {"note": "test"})
    back = states.load(tmp_path)
    assert np.array_equal(back.predict(X), clf.predict(X))
    assert states.load(tmp_path / "nothing-here") is None
    data = (tmp_path / states.MODEL_FILE).read_bytes()
    (tmp_path / states.MODEL_FILE).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(InputError, match="SHA-256"):
        states.load(tmp_path)


def test_each_frame_sees_its_own_fovs_statistics():
    rng = np.random.default_rng(7)
    steps = np.concatenate([_brownian(rng, 10), _confined(rng, 10)])
    unet = np.zeros(steps.shape[:2] + (7,))
    unet[..., 1] = 1.0
    unet[:10, :, 5] = 1.0  # the U-Net says "free" in FOV 0, "confined" in FOV 1
    unet[10:, :, 4] = 1.0
    length = np.full(20, T)
    fov = np.repeat([0, 1], 10)
    X = states.stage_features(steps, unet, length, fov)
    assert X.shape == (20 * T, len(states.feature_names()))
    ctx = {name: i for i, name in enumerate(states.feature_names())}
    first, second = X[: 10 * T], X[10 * T:]
    for part, p_conf in ((first, 0.0), (second, 1.0)):
        assert np.allclose(part[:, ctx["fov_p_confined"]], p_conf)
        assert np.ptp(part[:, ctx["fov_log_msq_q50"]]) == 0  # one value per FOV
    share = ctx["fov_share_confined_like"]
    assert second[0, share] > first[0, share] + 0.5
    # one FOV: the same rows, whatever label it is given
    alone = states.stage_features(steps[10:], unet[10:], length[10:], np.full(10, 99))
    assert np.allclose(alone, second, equal_nan=True)


def test_a_checkpoint_with_a_stage_takes_its_states_and_can_be_told_not_to(sim_data, tmp_path):
    import shutil

    from andi2kit import layout
    from andi2kit.inference import DEFAULT_CHECKPOINT
    from andi2kit.io import read_trajectories
    from andi2kit.methods.unet import UNetMethod

    ckpt = tmp_path / "ckpt"
    shutil.copytree(DEFAULT_CHECKPOINT, ckpt)
    for name in (states.MODEL_FILE, states.INFO_FILE):
        (ckpt / name).unlink(missing_ok=True)
    trajs = read_trajectories(layout.trajs_path(sim_data / "public_data", 2, 0, 0))
    plain = UNetMethod(str(ckpt))
    assert plain.checkpoint.states is None and "states_sha256" not in plain.identity()
    # a stage that has only ever seen "confined" (and a little "directed") frames
    rng = np.random.default_rng(8)
    X = rng.normal(size=(500, len(states.feature_names())))
    states.save(states.StateClassifier(max_iter=5).fit(X, np.r_[np.full(490, 1), np.full(10, 3)]),
                ckpt, {"note": "test"})
    staged = UNetMethod(str(ckpt))
    assert "states_sha256" in staged.identity()
    _, frames = staged.predict_frames(trajs)
    assert np.mean(np.concatenate([f[:, 2] for f in frames]) == 1) > 0.9
    assert all(np.allclose(f[:, 3:7].sum(1), 1) for f in frames)
    labels = staged.predict(trajs)
    assert np.mean([s == 1 for lab in labels for s in lab.state]) > 0.9
    unstaged = UNetMethod(str(ckpt), state_stage=False)
    _, own = unstaged.predict_frames(trajs)
    _, ref = plain.predict_frames(trajs)
    assert all(np.array_equal(a, b) for a, b in zip(own, ref, strict=True))
    # a damaged stage stops the default, not a run told to leave the stage out
    (ckpt / states.MODEL_FILE).write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="SHA-256"):
        UNetMethod(str(ckpt))
    assert UNetMethod(str(ckpt), state_stage=False).checkpoint.states is None



def test_the_prior_folders_must_be_among_the_fit_folders(tmp_path):
    from andi2kit.models.fit_states import fit

    with pytest.raises(ValueError, match="not all among the fit folders"):
        fit(f"{tmp_path}/a:{tmp_path}/b", tmp_path, prior=f"{tmp_path}/c")
