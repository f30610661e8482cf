"""The AnomalousNet pipeline: Attention U-Net per-frame predictions → segments.

Per-frame α, K and state come from a trained checkpoint (:mod:`andi2kit.predict`);
:class:`andi2kit.segment.Segmenter` turns them into change points and segment values.
"""

from __future__ import annotations

import pandas as pd

from andi2kit.ensemble import single_gaussian
from andi2kit.io import EnsembleLabel, TrajectoryLabel
from andi2kit.predict import load_checkpoint, predict_tensors
from andi2kit.segment import Segmenter
from andi2kit.tensors import pack, to_dense


class UNetMethod:
    """Per-frame U-Net + segmentation.

    Parameters
    ----------
    checkpoint : str, optional
        Checkpoint folder (default: ``checkpoints/unet-default``).
    segmentation : str
        Segmentation method of :class:`~andi2kit.segment.Segmenter`.
    min_dwell : int
        Minimum state run length.
    """

    name = "unet"

    def __init__(self, checkpoint: str | None = None, segmentation: str = "none",
                 min_dwell: int = 3) -> None:
        self.checkpoint = load_checkpoint(checkpoint)
        self.segmenter = Segmenter(method=segmentation, min_dwell=min_dwell)

    def predict_frames(self, trajs: pd.DataFrame):
        """Packed tensor and per-trajectory ``(T, 7)`` frame predictions of one FOV."""
        tensor = pack(to_dense(trajs))
        return tensor, predict_tensors(self.checkpoint, [tensor])[0]

    def predict(self, trajs: pd.DataFrame) -> list[TrajectoryLabel]:
        """Segment labels of every trajectory of a FOV."""
        tensor, frames = self.predict_frames(trajs)
        return [self.segmenter(i, f) for i, f in zip(tensor.idx, frames, strict=True)]

    def ensemble(self, labels: list[TrajectoryLabel]) -> EnsembleLabel:
        """Ensemble of the experiment's segments."""
        return single_gaussian(labels)
