"""Attention U-Net (Keras) for per-frame α, K and state.

Input ``(64, 208, 2)``: scaled displacements of 64 trajectories (rows) over 208 frames
(columns). Encoder levels of two convolutions each with pooling along frames, a bottleneck,
a decoder with attention gates (Oktay et al. 2018) on the skip connections, then per-frame
heads:

* ``alpha``: sigmoid × 2, in [0, 2];
* ``logK``: log10 K (linear);
* ``state``: softmax over the 4 states (0 immobile, 1 confined, 2 free, 3 directed).

With ``kernel=(1, k)`` (the default) every trajectory is processed on its own and rows are
only a batch; ``kernel=(3, 3)`` mixes neighbouring rows like the paper. ``layout="shared"``
puts the three heads on one U-Net; ``layout="separate"`` builds the paper's three U-Nets (one
per quantity, each with its own filters) inside one Keras model so that training, saving and
prediction are the same for both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
from keras import layers, ops

from andi2kit.tensors import FRAMES, ROWS


@dataclass
class UNetConfig:
    """Architecture of the per-frame model.

    Attributes
    ----------
    filters : list of int
        Filters per encoder level (the bottleneck has twice the last).
    kernel : tuple of int
        Convolution kernel (rows, frames).
    layout : {"shared", "separate"}
        One U-Net with three heads, or three U-Nets.
    separate_filters : dict
        Filters of each U-Net when ``layout="separate"``.
    dropout : float
        Dropout in the bottleneck.
    """

    filters: list[int] = field(default_factory=lambda: [32, 64, 128])
    kernel: tuple[int, int] = (1, 5)
    layout: str = "shared"
    separate_filters: dict[str, list[int]] = field(default_factory=lambda: {
        "alpha": [32, 64, 128], "logK": [32, 64, 128], "state": [16, 32, 64]})
    dropout: float = 0.1

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        d = asdict(self)
        d["kernel"] = list(self.kernel)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["kernel"] = tuple(d.get("kernel", (1, 5)))
        return cls(**d)


#: The paper's Table 1: three U-Nets, 3×3 kernels, 128-512-1024 (α, K) and 64-96-128 (state).
PAPER_CONFIG = UNetConfig(
    kernel=(3, 3), layout="separate",
    separate_filters={"alpha": [128, 512, 1024], "logK": [128, 512, 1024],
                      "state": [64, 96, 128]},
)


@keras.saving.register_keras_serializable(package="andi2kit")
class StepFeatures(layers.Layer):
    """Adds ``log(Δx² + Δy² + ε)`` to the displacement channels (scale-free step size)."""

    def call(self, x):
        r2 = ops.sum(ops.square(x), axis=-1, keepdims=True)
        return ops.concatenate([x, ops.log(r2 + 1e-4) / 4.0], axis=-1)


def _conv_block(x, filters: int, kernel, name: str):
    for i in range(2):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False,
                          name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def _attention_gate(skip, gate, inter: int, name: str):
    """Weights ``skip`` by a [0, 1] map computed from ``skip`` and the decoder's ``gate``."""
    theta = layers.Conv2D(inter, 1, name=f"{name}_theta")(skip)
    phi = layers.Conv2D(inter, 1, name=f"{name}_phi")(gate)
    f = layers.Activation("relu", name=f"{name}_relu")(layers.Add(name=f"{name}_add")([theta, phi]))
    psi = layers.Conv2D(1, 1, activation="sigmoid", name=f"{name}_psi")(f)
    return layers.Multiply(name=f"{name}_gate")([skip, psi])


def _unet_trunk(x, filters: list[int], kernel, dropout: float, name: str):
    skips = []
    pool = (1, 2)
    for i, f in enumerate(filters):
        x = _conv_block(x, f, kernel, f"{name}_enc{i}")
        skips.append(x)
        x = layers.MaxPooling2D(pool, name=f"{name}_pool{i}")(x)
    x = _conv_block(x, filters[-1] * 2, kernel, f"{name}_bottleneck")
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_drop")(x)
    for i in reversed(range(len(filters))):
        x = layers.UpSampling2D(pool, name=f"{name}_up{i}")(x)
        x = layers.Conv2D(filters[i], (1, 1), name=f"{name}_upconv{i}")(x)
        s = _attention_gate(skips[i], x, max(filters[i] // 2, 4), f"{name}_att{i}")
        x = layers.Concatenate(name=f"{name}_cat{i}")([x, s])
        x = _conv_block(x, filters[i], kernel, f"{name}_dec{i}")
    return x


def _head(x, what: str):
    if what == "alpha":
        y = layers.Conv2D(1, 1, activation="sigmoid", name="alpha_logit")(x)
        return layers.Rescaling(2.0, name="alpha")(y)
    if what == "logK":
        return layers.Conv2D(1, 1, name="logK")(x)
    return layers.Conv2D(4, 1, activation="softmax", name="state")(x)


def build_model(config: UNetConfig | None = None, rows: int = ROWS,
                frames: int = FRAMES) -> keras.Model:
    """Build the per-frame model.

    Parameters
    ----------
    config : UNetConfig, optional
        Architecture (default: shared trunk, 32-64-128 filters, 1×5 kernels).
    rows, frames : int
        Input size; ``frames`` must be divisible by ``2 ** len(filters)``.

    Returns
    -------
    keras.Model
        Outputs ``{"alpha": (…, 1), "logK": (…, 1), "state": (…, 4)}``.
    """
    config = config or UNetConfig()
    depth = max(len(f) for f in [config.filters, *config.separate_filters.values()])
    if frames % (2**depth):
        raise ValueError(f"frames={frames} must be divisible by 2**{depth}")
    inp = keras.Input((rows, frames, 2), name="displacements")
    feats = StepFeatures(name="features")(inp)
    if config.layout == "shared":
        trunk = _unet_trunk(feats, config.filters, config.kernel, config.dropout, "unet")
        outs = {k: _head(trunk, k) for k in ("alpha", "logK", "state")}
    elif config.layout == "separate":
        outs = {}
        for k in ("alpha", "logK", "state"):
            trunk = _unet_trunk(feats, config.separate_filters[k], config.kernel,
                                config.dropout, f"unet_{k}")
            outs[k] = _head(trunk, k)
    else:
        raise ValueError(f"layout must be 'shared' or 'separate', got {config.layout!r}")
    return keras.Model(inp, outs, name=f"attention_unet_{config.layout}")
