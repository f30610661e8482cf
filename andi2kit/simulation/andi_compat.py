"""What andi-datasets needs from us: an importable DeepTrack, silence, and its FOV origin.

* DeepTrack 1.x imports ``pkg_resources``, which recent setuptools no longer ships
  (:func:`import_andi`).
* andi-datasets prints, draws tqdm bars and sets a process-wide
  ``warnings.filterwarnings('ignore')`` (:func:`quiet` contains all three).
* The FOV origin it draws is not returned; :func:`record_fov_origin` captures it from its
  call to ``segs_inside_fov`` (a spy put in place for one call, then removed).
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import io as _stdio
import os
import sys
import types
import warnings
from collections.abc import Iterator

import numpy as np


def import_andi() -> types.ModuleType:
    """Import ``andi_datasets.datasets_challenge`` with DeepTrack importable.

    DeepTrack 1.x imports ``pkg_resources``, which recent setuptools no longer ships; without
    it andi-datasets silently imports without DeepTrack and fails later when making videos.
    A minimal stand-in (``working_set`` keys only, which is all DeepTrack reads) is put in
    ``sys.modules`` just for DeepTrack's import.
    """
    if "deeptrack" not in sys.modules:
        with contextlib.suppress(ImportError):
            _import_deeptrack()
    # andi-datasets takes seconds to import and must come after DeepTrack: only here
    from andi_datasets import datasets_challenge, utils_videos

    if not hasattr(utils_videos, "dt") and "deeptrack" in sys.modules:
        utils_videos.dt = sys.modules["deeptrack"]  # andi-datasets was imported before us
    return datasets_challenge


def _import_deeptrack() -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # present with setuptools < 81: DeepTrack finds it
            import pkg_resources  # noqa: F401

            shim = None
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.working_set = [  # type: ignore[attr-defined]
                types.SimpleNamespace(key=(d.metadata["Name"] or "").lower())
                for d in md.distributions()
            ]
            sys.modules["pkg_resources"] = shim
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:  # after the shim, which must be in place when DeepTrack imports
            import deeptrack
        finally:
            if shim is not None and sys.modules.get("pkg_resources") is shim:
                del sys.modules["pkg_resources"]
    return deeptrack


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence andi-datasets' prints, tqdm bars and warnings (and undo its global filters)."""
    sink = _stdio.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def record_fov_origin(dc: types.ModuleType, found: list) -> Iterator[None]:
    """Capture the FOV origin andi-datasets draws (it is not returned)."""
    original = dc.segs_inside_fov

    def spy(traj, fov_origin, fov_length, cutoff_length):
        if not found:
            found.append([int(v) for v in np.asarray(fov_origin)])
        return original(traj, fov_origin, fov_length, cutoff_length)

    dc.segs_inside_fov = spy
    try:
        yield
    finally:
        dc.segs_inside_fov = original


#: The wavelength andi-datasets' microscope images at (``transform_to_video``'s default), m.
ANDI_WAVELENGTH = 500e-9
#: The mean brightness andi-datasets gives a particle (``particle_intensity``'s mean).
ANDI_INTENSITY = 500.0


@contextlib.contextmanager
def wider_spots(dc: types.ModuleType, scale: float) -> Iterator[None]:
    """Render the videos of ``challenge_phenom_dataset`` with spots ``scale`` times as wide.

    The microscope's wavelength is multiplied by ``scale`` (the point-spread function's
    width is proportional to it) and every particle's brightness by ``scale ** 2``, so that a
    spot's peak stands as far above the background as in andi-datasets' own videos and only
    its width changes. ``scale`` 1: andi-datasets' videos, untouched.
    """
    if scale == 1:
        yield
        return
    original = dc.transform_to_video

    def render(trajectory_data, particle_props=None, optics_props=None, **kwargs):
        optics = {**(optics_props or {}), "wavelength": ANDI_WAVELENGTH * scale}
        particles = {**(particle_props or {}),
                     "particle_intensity": [ANDI_INTENSITY * scale ** 2, 20 * scale ** 2]}
        return original(trajectory_data, particle_props=particles, optics_props=optics,
                        **kwargs)

    dc.transform_to_video = render
    try:
        yield
    finally:
        dc.transform_to_video = original
