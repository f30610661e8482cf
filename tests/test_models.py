"""The Attention U-Net: shapes, learning, checkpoint round trip, per-frame prediction."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from andi2kit.models.attention_unet import UNetConfig, build_model  # noqa: E402
from andi2kit.models.examples import keras_targets, make_examples  # noqa: E402
from andi2kit.models.train import TrainConfig, compile_model  # noqa: E402

TINY = UNetConfig(filters=[8, 16], dropout=0.0)


def toy_data(n: int = 128, seed: int = 0) -> dict[str, np.ndarray]:
    """Brownian trajectories whose K is 0.01 or 1 (state 0 or 2): learnable in a few steps."""
    rng = np.random.default_rng(seed)
    K = np.where(rng.random(n) < 0.5, 0.01, 1.0)
    steps = rng.normal(size=(n, 200, 2)) * np.sqrt(2 * K)[:, None, None]
    pos = np.cumsum(steps, axis=1).astype(np.float32)
    length = rng.integers(20, 201, n)
    pos[np.arange(200)[None, :] >= length[:, None]] = np.nan
    lab = np.zeros((n, 200, 3), np.float32)
    lab[..., 0] = 1.0
    lab[..., 1] = K[:, None]
    lab[..., 2] = np.where(K < 0.1, 0, 2)[:, None]
    return {"pos": pos, "labels": lab, "length": length}


@pytest.mark.parametrize("layout", ["shared", "separate"])
def test_shapes(layout):
    cfg = UNetConfig(filters=[4, 8], layout=layout,
                     separate_filters={"alpha": [4, 8], "logK": [4, 8], "state": [4, 8]})
    m = build_model(cfg)
    out = m.predict(np.zeros((2, 64, 208, 2), np.float32), verbose=0)
    assert out["alpha"].shape == (2, 64, 208, 1)
    assert out["logK"].shape == (2, 64, 208, 1)
    assert out["state"].shape == (2, 64, 208, 4)
    np.testing.assert_allclose(out["state"].sum(-1), 1, rtol=1e-5)
    assert np.all((out["alpha"] >= 0) & (out["alpha"] <= 2))


def test_loss_falls_and_checkpoint_roundtrip(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    data = toy_data(256)
    x, y = make_examples(data, np.random.default_rng(0), 0.05, augment=True)
    model = compile_model(build_model(TINY), TrainConfig(learning_rate=3e-3))
    # training-mode loss: BatchNorm's moving averages lag behind in so few steps
    hist = model.fit(x, keras_targets(y), epochs=20, batch_size=1, verbose=0).history["loss"]
    print(f"loss {hist[0]:.3f} -> {hist[-1]:.3f}")
    assert hist[-1] < 0.25 * hist[0]
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    p1, p2 = model.predict(x, verbose=0), again.predict(x, verbose=0)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])


def test_train_resume_and_predict(tmp_path):
    from andi2kit.inference import predict
    from andi2kit.models.train import train

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for s in range(2):
        np.savez(data_dir / f"shard_{s:04d}.npz", model=np.zeros(64, np.int8),
                 **toy_data(64, seed=s))
    cfg = TrainConfig(data=str(data_dir), epochs=1, batch_size=1, model=TINY)
    out = tmp_path / "ckpt"
    train(cfg, out, progress=False)
    cfg.epochs = 2
    train(cfg, out, progress=False)  # resumes at epoch 1
    import json

    state = json.loads((out / "train_state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    for name in ("model.keras", "config.json", "metrics.json", "versions.json", "history.csv"):
        assert (out / name).is_file()
    df = pd.DataFrame({"traj_idx": [4] * 30 + [9] * 22,
                       "frame": list(range(5, 35)) + list(range(22)),
                       "x": np.arange(52.0), "y": np.zeros(52)})
    frames = predict(df, out)
    assert len(frames) == 52
    assert frames.groupby("traj_idx").frame.min().to_dict() == {4: 5, 9: 0}
    assert frames[["p0", "p1", "p2", "p3"]].sum(1).round(4).eq(1).all()


def test_fine_tuning_starts_from_the_init_weights_and_resumes_with_weighted_states(tmp_path):
    import json

    import keras

    from andi2kit.errors import OptionError
    from andi2kit.models.losses import WeightedStateCE
    from andi2kit.models.train import initial_model, train

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for s in range(2):
        np.savez(data_dir / f"shard_{s:04d}.npz", model=np.zeros(64, np.int8),
                 **toy_data(64, seed=s))
    base = tmp_path / "base"
    train(TrainConfig(data=str(data_dir), epochs=1, batch_size=1, model=TINY), base,
          progress=False)
    start = keras.models.load_model(base / "model.keras").get_weights()
    cfg = TrainConfig(data=str(data_dir), epochs=1, batch_size=1, model=TINY,
                      init=str(base), state_weights=[4.0, 2.0, 1.0, 2.0])
    model = initial_model(cfg)
    for a, b in zip(model.get_weights(), start, strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(model.loss["state"], WeightedStateCE)
    out = tmp_path / "tuned"
    train(cfg, out, progress=False)
    cfg.epochs = 2
    train(cfg, out, progress=False)  # resumes the weighted loss from last.keras
    state = json.loads((out / "train_state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert json.loads((out / "config.json").read_text())["state_weights"] == [4, 2, 1, 2]
    again = keras.models.load_model(out / "last.keras")
    assert again.loss["state"].weights == [4.0, 2.0, 1.0, 2.0]
    with pytest.raises(OptionError, match="init"):
        initial_model(TrainConfig(model=UNetConfig(filters=[4, 8]), init=str(base)))
    with pytest.raises(OptionError, match="init"):
        initial_model(TrainConfig(model=TINY, init=str(tmp_path / "nowhere")))
    for bad in ([1.0, 2.0], [1.0, 0.0, 1.0, 1.0], ["a", 1, 1, 1]):
        with pytest.raises(OptionError, match="state_weights"):
            TrainConfig(state_weights=bad)


def test_one_cpu_trains_with_the_default_strategy():
    import tensorflow as tf

    from andi2kit.models.train import distribution_strategy

    if len(tf.config.list_logical_devices("GPU")) > 1:
        pytest.skip("several GPUs: MirroredStrategy is the point")
    strategy = distribution_strategy()
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1


def test_other_keras_backends_train_on_one_device(tmp_path, monkeypatch):
    """On a GPU machine with JAX or torch and no TensorFlow (``KERAS_BACKEND=jax``, e.g.
    scripts/device/train.sh) training asks tf.distribute for nothing."""
    import json

    import andi2kit.models.train as mt

    monkeypatch.setattr(mt.keras.backend, "backend", lambda: "jax")
    strategy = mt.distribution_strategy()
    assert isinstance(strategy, mt.SingleDevice) and strategy.num_replicas_in_sync == 1
    monkeypatch.undo()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for s in range(2):
        np.savez(data_dir / f"shard_{s:04d}.npz", model=np.zeros(64, np.int8),
                 **toy_data(64, seed=s))
    out = tmp_path / "ckpt"
    cfg = TrainConfig(data=str(data_dir), epochs=1, batch_size=1, model=TINY)
    mt.train(cfg, out, progress=False, strategy=strategy)
    assert json.loads((out / "train_state.json").read_text())["epoch"] == 1
    assert json.loads((out / "versions.json").read_text())["keras-backend"] == "tensorflow"


MIRRORED = """
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[2])
from test_models import TINY, toy_data
from andi2kit.models.train import TrainConfig, train
data, out = sys.argv[1] + "/data", sys.argv[1] + "/ckpt"
import os
os.makedirs(data)
for s in range(3):  # 4 inputs to train on, 2 to validate (each device gets its share)
    np.savez(f"{data}/shard_{s:04d}.npz", model=np.zeros(128, np.int8), **toy_data(128, seed=s))
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
cfg = TrainConfig(data=data, epochs=1, batch_size=3, model=TINY)  # one batch: 2 per device
train(cfg, out, progress=False, strategy=strategy)
cfg.epochs = 2
train(cfg, out, progress=False, strategy=strategy)  # resumes inside the strategy's scope
print("replicas", strategy.num_replicas_in_sync)
"""


@pytest.mark.slow
def test_mirrored_strategy_trains_and_resumes(tmp_path):
    """Two logical CPU devices stand in for two GPUs: the MirroredStrategy code path."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(tests.parent), os.environ.get("PYTHONPATH")) if p)}
    res = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path), str(tests)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "replicas 2" in res.stdout
    state = json.loads((tmp_path / "ckpt" / "train_state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert (tmp_path / "ckpt" / "model.keras").is_file()


def test_turned_readings_make_the_prediction_blind_to_direction():
    """Averaged over the four right-angle turns (``symmetries=4``), the committed model reads a
    trajectory and the same trajectory turned by 90 degrees alike; read once, it does not."""
    from andi2kit.errors import OptionError
    from andi2kit.inference import load_checkpoint, predict

    rng = np.random.default_rng(3)
    xy = np.cumsum(rng.normal(0, 1.0, (120, 2)), axis=0) + 64
    one = pd.DataFrame({"traj_idx": 0, "frame": np.arange(120), "x": xy[:, 0], "y": xy[:, 1]})
    turned = one.assign(x=128 - one["y"], y=one["x"])
    ckpt = load_checkpoint(stage=False)
    def read(t: pd.DataFrame, **kw) -> np.ndarray:
        f = predict(t, ckpt, **kw)
        return np.c_[f["alpha"], np.log10(f["K"])]

    once = [read(t) for t in (one, turned)]
    four = [read(t, symmetries=4) for t in (one, turned)]
    assert np.abs(four[0] - four[1]).max() < 1e-4
    assert np.abs(once[0] - once[1]).max() > 1e-3
    with pytest.raises(OptionError, match="symmetries"):
        predict(one, ckpt, symmetries=3)
