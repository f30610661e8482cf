"""Track 1: from a challenge video to the trajectories of its VIP particles.

A functional pipeline in trackpy's style, with DataFrames as the contract between stages
(one module each: :mod:`~andi2kit.tracking.detect`, :mod:`~andi2kit.tracking.linking`,
:mod:`~andi2kit.tracking.untangle`, :mod:`~andi2kit.tracking.groups`,
:mod:`~andi2kit.tracking.vips`,
:mod:`~andi2kit.tracking.video`; settings in
:mod:`~andi2kit.tracking.params`; quality against simulated truth in
:mod:`~andi2kit.tracking.evaluate`, :mod:`~andi2kit.tracking.limits` and
:mod:`~andi2kit.tracking.losses`)::

    frames = preprocess(video[1:])          # float frames, borders extended
    features = locate(frames, params)       # y, x, mass, frame (one row per detection)
    tracks = link(features, params)         # + particle
    tracks = untangle(tracks, params)       # identities given back after contacts
    tracks = untangle_groups(tracks, params)  # ... and after encounters of three or more
    vips = follow_vips(tracks, vip_centroids, ...)

:func:`track_vips` runs the whole chain on a ``videos_fov_<F>.tiff`` file; :func:`track_fov`
also returns every other particle's track (:func:`field_tracks`), the evidence of which states
the experiment holds.

Geometry (checked against andi-datasets' renderer, see :mod:`andi2kit.simulation`)
--------------------------------------------------------------------------------
* Page 0 of the video is the VIP frame; page ``p >= 1`` is trajectory frame ``p - 1``.
* The renderer puts a trajectory's ``x`` on the image **rows** and ``y`` on the **columns**,
  pixel centres at integer coordinates: ``row = x - x0``, ``col = y - y0`` with ``(x0, y0)``
  the FOV origin in the simulation box. The origin is not part of the public data; the tracked
  trajectories are therefore returned as ``x = row + x0``, ``y = col + y0`` with ``origin``
  ``(x0, y0)`` defaulting to ``(0, 0)``: same axes, orientation and scale as the public CSVs,
  shifted by a constant that displacement-based predictors never see.

Detection and linking
---------------------
trackpy finds candidate spots (``trackpy.batch``, numba engine) in the normalised frames;
:func:`refine_frame` then fits all spots of a frame jointly as Gaussians of the PSF's width
(0.79 px), splits a spot as bright as two particles into two Gaussians where they fit it
better (:func:`~andi2kit.tracking.split.split_pairs`), and adds spots hidden beside a
neighbour, which trackpy's centroids merge or bias.
A video whose spots are wider or narrower (:func:`spot_width`, a microscope's own) is tracked
with the detection and contact settings scaled to them (:func:`params_for_video`,
:func:`scaled_to_spots`). A movie of one's own, without a VIP frame, gives every particle's
trajectory (:func:`track_movie`, ``andi2kit track-movie``).
:func:`link_motion` links them with a motion model per track (diffusivity, drift, step
correlation); a FOV whose particles move several pixels per frame is linked a second time
with a broad component at their speed (:func:`~andi2kit.tracking.linking.fast_diffusivity`);
``TrackingParams(linker="trackpy")`` uses ``trackpy.link`` instead. At each
contact of two tracks, :func:`~andi2kit.tracking.untangle.untangle` exchanges their tails when
the particles' brightness over tens of frames before and after says they were swapped;
where three or more tracks meet, or a track ends in a merge and another begins beside it,
:func:`~andi2kit.tracking.groups.untangle_groups` assigns the stretches before to those
after jointly.

VIP logic
---------
The page-0 blob centroids are paired with the detections of the first movie frame by
:func:`scipy.optimize.linear_sum_assignment`. Each VIP then follows its linked track; when
the track ends before the video does and away from the border, the continuation is
re-acquired: the best detection in the next frames near the position predicted from the
VIP's own motion (preferably a track start, else a detection the linker gave to another
unclaimed track). Frames without a detection inside the VIP's span are filled with the
detection nearest to the interpolated position (the VIP is usually hidden in a neighbour's
blob) or interpolated. Every VIP index of page 0 gets a trajectory.

Limits
------
Two particles closer than about 1 px are one blob; when they part, which one is the VIP is a
guess for Brownian motion. Dense or bound (dimerization) experiments therefore lose VIPs to
their neighbours whatever the detector: see the tracking quality table of
:mod:`andi2kit.tracking.evaluate` and the notes in the report of this module's issue.
"""


from andi2kit.tracking.detect import locate, preprocess, refine, refine_frame, spot_width
from andi2kit.tracking.groups import untangle_all, untangle_groups
from andi2kit.tracking.linking import link, link_motion
from andi2kit.tracking.movie import track_movie, track_movie_file
from andi2kit.tracking.params import (
    MIN_LENGTH,
    N_FRAMES,
    TrackingParams,
    scaled_to_spots,
    tracker_params,
)
from andi2kit.tracking.untangle import untangle
from andi2kit.tracking.video import (
    TrackReport,
    field_tracks,
    fov_jobs,
    params_for_video,
    read_tracks,
    track1_root,
    track_folder,
    track_fov,
    track_video,
    track_vips,
    tracks_path,
    write_fov_tracks,
    write_tracks,
)
from andi2kit.tracking.vips import follow_vips, match_vips

__all__ = [
    "MIN_LENGTH",
    "N_FRAMES",
    "TrackReport",
    "TrackingParams",
    "field_tracks",
    "follow_vips",
    "fov_jobs",
    "link",
    "link_motion",
    "locate",
    "match_vips",
    "params_for_video",
    "preprocess",
    "read_tracks",
    "refine",
    "refine_frame",
    "scaled_to_spots",
    "spot_width",
    "track1_root",
    "track_folder",
    "track_fov",
    "track_movie",
    "track_movie_file",
    "track_video",
    "track_vips",
    "tracker_params",
    "tracks_path",
    "untangle",
    "untangle_all",
    "untangle_groups",
    "write_fov_tracks",
    "write_tracks",
]
