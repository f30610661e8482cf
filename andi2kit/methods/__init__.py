"""Prediction methods: trajectory table of a FOV → segment labels of its trajectories.

Every method has ``name``, ``predict(trajs) -> list[TrajectoryLabel]`` and
``ensemble(labels) -> EnsembleLabel``; a method may also have ``pool(labels) -> labels``, which
:func:`andi2kit.pipeline.run` applies to all trajectories of an experiment before writing them.
:func:`get_method` builds one by name.
"""

from __future__ import annotations

from andi2kit.methods.msd import MSDMethod

METHODS = {"msd": MSDMethod}


def _unet(**options):
    from andi2kit.methods.unet import UNetMethod  # TensorFlow loads only when asked for

    return UNetMethod(**options)


METHODS["unet"] = _unet


def get_method(name: str, **options):
    """Instantiate the method called ``name``."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(METHODS)}") from None
    return cls(**options)
