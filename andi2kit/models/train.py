"""Training the per-frame model: augmentation, validation split, early stopping, resume.

Every epoch draws fresh localisation noise (σ uniform in ``noise``), a random rotation and
random packing of trajectories into 64-row inputs, so the network never sees the same tensor
twice. Validation uses held-out shards with fixed noise (the challenge's σ,
:data:`~andi2kit.constants.LOCALISATION_NOISE`).

The output folder (``checkpoints/NAME``) holds:

* ``model.keras`` — the best weights so far (by validation loss), Keras native format;
* ``last.keras`` + ``train_state.json`` — what an interrupted run resumes from;
* ``config.json`` (model + training configuration), ``data_manifest.json``,
  ``history.csv``, ``metrics.json`` (per-frame validation metrics), ``versions.json``.

With several GPUs visible, training runs data-parallel under
``tf.distribute.MirroredStrategy`` (:func:`distribution_strategy`): every GPU gets
``batch_size`` inputs per step, so a step sees ``batch_size`` times the number of GPUs, and
each epoch (and the validation set) drops its last inputs short of a multiple of the number
of GPUs; on one GPU or on CPUs nothing changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from andi2kit.constants import LOCALISATION_NOISE
from andi2kit.errors import OptionError
from andi2kit.inference import checkpoint_file
from andi2kit.io import write_text_atomic
from andi2kit.models.attention_unet import UNetConfig, build_model
from andi2kit.models.evaluate import evaluate_frames, write_metrics
from andi2kit.models.examples import keras_targets, make_examples
from andi2kit.models.losses import checked_state_weights, losses
from andi2kit.progress import progress_bar
from andi2kit.training_data import data_folders, load_shards, split_shards
from andi2kit.versions import package_versions

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """How to train.

    Attributes
    ----------
    data : str
        Training-data folder(s) (``andi2kit make-train-data``), ``:``-separated.
    val_shards : int
        Shards held out for validation (the last ones of the last folder).
    epochs : int
        Maximum epochs.
    batch_size : int
        64-row inputs per step and device: with several GPUs a step takes
        ``batch_size`` inputs on each (:func:`distribution_strategy`).
    learning_rate : float
        Initial learning rate.
    lr_decay : float
        Factor applied to the learning rate after every epoch.
    patience : int
        Epochs without validation improvement before stopping.
    noise : tuple of float
        Range of the localisation noise σ (px) drawn per trajectory.
    max_minutes : float
        Stop after the epoch that crosses this wall time (0: no limit).
    trajectories_per_epoch : int
        Random subset of training trajectories drawn each epoch (0: all).
    seed : int
    loss_weights : dict
    state_weights : list of float or None
        Weight of each true state (immobile, confined, free, directed) in the state head's
        cross-entropy (:class:`~andi2kit.models.losses.WeightedStateCE`); None: all 1.
    init : str
        Checkpoint folder (or ``model.keras``) whose weights a new run starts from
        (fine-tuning; its architecture must be ``model``'s); empty: random weights. A
        resumed run ignores it.
    model : UNetConfig
    """

    data: str = "data/train"
    val_shards: int = 1
    epochs: int = 40
    batch_size: int = 8
    learning_rate: float = 2e-3
    lr_decay: float = 1.0
    patience: int = 5
    noise: tuple[float, float] = (0.05, 0.2)
    max_minutes: float = 0.0
    trajectories_per_epoch: int = 0
    seed: int = 0
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"alpha": 1.0, "logK": 4.0, "state": 0.5})
    state_weights: list[float] | None = None
    init: str = ""
    model: UNetConfig = field(default_factory=UNetConfig)

    def __post_init__(self) -> None:
        if self.state_weights is not None:
            try:
                self.state_weights = checked_state_weights(self.state_weights)
            except ValueError as exc:
                raise OptionError(f"state_weights {exc}") from None

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["noise"] = list(self.noise)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["model"] = UNetConfig.from_dict(d.get("model", {}))
        d["noise"] = tuple(d.get("noise", (0.05, 0.2)))
        return cls(**d)


def override(config: dict, assignments: list[str]) -> dict:
    """A training config (as :meth:`TrainConfig.to_dict` writes it) with ``KEY=VALUE``
    assignments applied: a dotted ``KEY`` reaches into ``model``, ``VALUE`` is JSON (a bare
    word is a string).

    Raises
    ------
    OptionError
        On an assignment without ``=`` or a key the config does not have.

    Examples
    --------
    >>> d = override(TrainConfig().to_dict(), ["epochs=400", "model.filters=[48, 96, 192]"])
    >>> d["epochs"], d["model"]["filters"]
    (400, [48, 96, 192])
    """
    out = json.loads(json.dumps(config))
    for item in assignments:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise OptionError(f"--set {item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = out
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise OptionError(f"--set {item!r}: no setting {key!r} in the training config")
        try:
            node[leaf] = json.loads(text)
        except json.JSONDecodeError:
            node[leaf] = text
    return out


def compile_model(model, cfg: TrainConfig):
    """Compile with the masked losses."""
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=1.0),
                  loss=losses(cfg.state_weights), loss_weights=cfg.loss_weights)
    return model


def initial_model(cfg: TrainConfig):
    """A new run's compiled model: ``cfg.model`` built, with the weights of ``cfg.init``
    where it names a checkpoint.

    Raises
    ------
    OptionError
        If ``cfg.init`` cannot be loaded or holds another architecture.
    """
    model = build_model(cfg.model)
    if cfg.init:
        try:
            file = checkpoint_file(cfg.init)
            model.set_weights(keras.models.load_model(file, compile=False).get_weights())
        except Exception as exc:  # a missing file, another format or other shapes
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise OptionError(f"init {cfg.init!r}: cannot start from its weights "
                              f"({first[:200]})") from exc
    return compile_model(model, cfg)


class SingleDevice:
    """The strategy interface :func:`train` uses, for backends without ``tf.distribute``."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def distribution_strategy():
    """How to spread training over the visible devices.

    Returns
    -------
    tf.distribute.Strategy or SingleDevice
        ``MirroredStrategy`` over all GPUs when more than one is visible (choose them with
        ``CUDA_VISIBLE_DEVICES``); TensorFlow's default strategy otherwise (one GPU, or the
        CPUs), which changes nothing. Under another Keras backend (``KERAS_BACKEND=jax`` or
        ``torch``, e.g. on a GPU machine without TensorFlow) training runs on that backend's
        default device: :class:`SingleDevice`.
    """
    if keras.backend.backend() != "tensorflow":
        return SingleDevice()
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    return tf.distribute.get_strategy()


def train(cfg: TrainConfig, out: str | Path, *, progress: bool = True,
          strategy=None) -> Path:
    """Train (or resume training) a per-frame model into ``out``.

    Parameters
    ----------
    cfg : TrainConfig
    out : path-like
        Checkpoint folder.
    progress : bool
        Show a progress bar over epochs.
    strategy : tf.distribute.Strategy, optional
        Default: :func:`distribution_strategy`. The model is built (or resumed) and
        compiled in its scope; ``cfg.batch_size`` is per replica.

    Returns
    -------
    Path
        ``out/model.keras``, the best weights.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folders = data_folders(cfg.data)
    train_paths, val_paths = split_shards(folders, cfg.val_shards)
    state_path = out / "train_state.json"
    state = {"epoch": 0, "best": None, "wait": 0, "wall_s": 0.0, "history": []}
    strategy = strategy or distribution_strategy()
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        log.info("training on %d devices (%s): %d inputs per step", replicas,
                 type(strategy).__name__, cfg.batch_size * replicas)
    with strategy.scope():  # variables (and the optimizer's) mirrored on every device
        if state_path.is_file() and (out / "last.keras").is_file():
            state = json.loads(state_path.read_text())
            model = keras.models.load_model(out / "last.keras")
            print(f"resuming after epoch {state['epoch']} (best val loss {state['best']})")
        else:
            model = initial_model(cfg)
    write_text_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
    manifests = {str(f): json.loads((f / "manifest.json").read_text())
                 for f in folders if (f / "manifest.json").is_file()}
    write_text_atomic(out / "data_manifest.json", json.dumps(manifests, indent=2))
    write_text_atomic(out / "versions.json", json.dumps(_versions(), indent=2))

    train_data = load_shards(train_paths)
    val_data = load_shards(val_paths)
    xv, yv = _whole_replicas(
        *make_examples(val_data, np.random.default_rng(12345), LOCALISATION_NOISE, False),
        replicas)
    print(f"training on {train_data['length'].size} trajectories "
          f"({len(train_paths)} shards), validating on {val_data['length'].size}; "
          f"{model.count_params()} parameters")

    t_start = time.perf_counter() - state["wall_s"]
    with progress_bar(progress) as bar:
        task = bar.add_task("epochs", total=cfg.epochs, completed=state["epoch"])
        while state["epoch"] < cfg.epochs:
            rng = np.random.default_rng([cfg.seed, state["epoch"]])
            subset = train_data
            n_all = train_data["length"].size
            if 0 < cfg.trajectories_per_epoch < n_all:
                pick = rng.choice(n_all, cfg.trajectories_per_epoch, replace=False)
                subset = {k: v[pick] for k, v in train_data.items()}
            x, y = _whole_replicas(*make_examples(subset, rng, cfg.noise, True), replicas)
            model.optimizer.learning_rate.assign(
                cfg.learning_rate * cfg.lr_decay ** state["epoch"])
            hist = model.fit(x, keras_targets(y), batch_size=cfg.batch_size * replicas,
                             epochs=1, verbose=0, validation_data=(xv, keras_targets(yv)),
                             validation_batch_size=32 * replicas)
            h = {k: float(v[-1]) for k, v in hist.history.items()}
            state["epoch"] += 1
            state["wall_s"] = time.perf_counter() - t_start
            h.update(epoch=state["epoch"], wall_s=round(state["wall_s"], 1))
            state["history"].append(h)
            improved = state["best"] is None or h["val_loss"] < state["best"]
            if improved:
                state["best"], state["wait"] = h["val_loss"], 0
                _save_atomic(model, out / "model.keras")
            else:
                state["wait"] += 1
            _save_atomic(model, out / "last.keras")
            write_text_atomic(state_path, json.dumps(state, indent=1))
            _write_history(out / "history.csv", state["history"])
            bar.update(task, completed=state["epoch"],
                       description=f"epoch {state['epoch']} val {h['val_loss']:.4f}"
                                   f"{' *' if improved else ''}")
            if state["wait"] >= cfg.patience:
                print(f"early stop: no improvement for {cfg.patience} epochs")
                break
            if cfg.max_minutes and state["wall_s"] > cfg.max_minutes * 60:
                print(f"time budget of {cfg.max_minutes} min reached")
                break

    best = keras.models.load_model(out / "model.keras")
    metrics = evaluate_frames(best, xv, yv)
    metrics.update(train_trajectories=int(train_data["length"].size),
                   val_trajectories=int(val_data["length"].size),
                   epochs=state["epoch"], wall_s=round(state["wall_s"], 1),
                   parameters=int(best.count_params()))
    write_metrics(out / "metrics.json", metrics)
    return out / "model.keras"


def _whole_replicas(x: np.ndarray, y: dict[str, np.ndarray], replicas: int
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Drop the last ``len(x) % replicas`` inputs: with several devices every batch, the last
    one included, must split evenly between them (their gradients are summed)."""
    n = len(x) - len(x) % replicas
    if n == 0:
        raise ValueError(f"{len(x)} 64-row input(s), fewer than the {replicas} devices")
    return (x, y) if n == len(x) else (x[:n], {k: v[:n] for k, v in y.items()})


def _save_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)


def _write_history(path: Path, history: list[dict]) -> None:
    keys = sorted({k for h in history for k in h}, key=lambda k: (k != "epoch", k))
    lines = [",".join(keys)] + [",".join(str(h.get(k, "")) for k in keys) for h in history]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _versions() -> dict[str, str]:
    backend = keras.backend.backend()
    found = package_versions(("tensorflow-cpu", "tensorflow", "keras", "numpy", "andi-datasets",
                              *((backend,) if backend in ("jax", "torch") else ())))
    return {**{k: v for k, v in found.items() if v is not None}, "keras-backend": backend}
