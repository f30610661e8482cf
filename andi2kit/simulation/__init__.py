"""Simulate challenge-like datasets with the organisers' generator, laid out like the challenge.

One module per concern: :mod:`~andi2kit.simulation.presets` (named sets of experiments and
their andi-datasets definitions), :mod:`~andi2kit.simulation.andi_compat` (what andi-datasets
needs to import, run quietly and tell its FOV origin), :mod:`~andi2kit.simulation.fov` (the
per-FOV job: simulate, re-index labels, place files) and :mod:`~andi2kit.simulation.driver`
(:func:`simulate`: resumable, parallel, ensemble files, manifest).

Every field of view (FOV) is one independent job: it seeds the global NumPy generator and
``stochastic``'s generator from ``(seed, exp, fov)``, calls
:func:`andi_datasets.datasets_challenge.challenge_phenom_dataset` for that single FOV in a
private temporary folder, and moves the results into::

    OUT/public_data/track_1/exp_<E>/videos_fov_<F>.tiff     (videos only)
    OUT/public_data/track_2/exp_<E>/trajs_fov_<F>.csv       (traj_idx,frame,x,y only)
    OUT/ref/track_<1|2>/exp_<E>/traj_labs_fov_<F>.txt       (per-trajectory truth)
    OUT/ref/track_<1|2>/exp_<E>/ensemble_labels.txt
    OUT/ref/track_1/exp_<E>/vip_idx_fov_<F>.txt             (VIP indices, one integer a line)
    OUT/ref/track_1/exp_<E>/trajs_fov_<F>.csv               (true VIP trajectories, no noise)
    OUT/ref/track_1/exp_<E>/fov_origin_fov_<F>.txt          ("x0,y0": the FOV origin)
    OUT/manifest.json
    OUT/.staging/                                           (per-FOV records, for resuming)

Track 1 files are written only when videos are made (``video=True``).

Numbering
---------
Experiments are ``exp_0 .. exp_{n-1}`` in the order of :func:`experiment_definitions` (the
order of ``file_nonOverlap_reOrg``); ``exp_0`` of the ``benchmark`` preset is experiment 1 of
the paper's tables. FOVs are ``fov_0 .. fov_{m-1}``. Trajectory indices are the organisers':
with videos, the VIP particles are ``0 .. num_vip-1``.

Coordinates
-----------
Trajectories are in absolute coordinates of the simulation box (side ``L = 1.8 * 128`` px),
as in the challenge's public CSVs (``fov_coordinates=False``: with ``True``, andi-datasets
shifts the trajectories but still searches VIPs and renders the video at the absolute FOV, and
with videos it fails with "Could not find suitable VIP particles"). The FOV is the square
``[x0, x0 + 128] x [y0, y0 + 128]`` with the origin ``(x0, y0)`` drawn by andi-datasets
(integers in ``[11, 90)``); it is recorded in the manifest and in ``fov_origin_fov_<F>.txt``.

In the video, DeepTrack puts a trajectory's **x on the image rows** and **y on the columns**,
with pixel centres at integer coordinates::

    row = x - x0        col = y - y0

So a tracker that reports ``(x=col, y=row)`` (trackpy, ``io.decode_vip_frame``) must map back
with ``x_traj = row + x0 = y_tracker + x0`` and ``y_traj = col + y0 = x_tracker + y0``.
Checked on 190 VIPs of 19 simulated FOVs (``demo`` and a 1-FOV ``benchmark`` run): the
page-0 blob centroids (2x2-pixel blobs, so quantised to half pixels) lie 0.38 px on average
(at most 0.66 px) from the true first positions, and intensity-weighted centroids of the
particles on movie pages 1, 51 and 101 show no offset (mean signed error below 0.02 px on
each axis, median distance 0.24 px); with the axes not swapped the error is tens of pixels.
The test suite repeats the page-0 check.

Noise and determinism
---------------------
andi-datasets renders the video from noise-free positions and adds localisation noise to the
CSV afterwards. Here the simulation runs with ``sigma_noise=0``; the public CSV gets
Gaussian noise of the preset's ``sigma_noise`` (0.12 px,
:data:`~andi2kit.constants.LOCALISATION_NOISE`) from a generator seeded per FOV, and
``ref/track_1/.../trajs_fov_<F>.csv`` keeps the noise-free VIP positions. The same ``seed``
gives byte-identical data files whatever the number of workers.

CSVs are sorted by ``traj_idx`` then ``frame`` (integers); the TIFF is andi-datasets' own
file, moved into place. Files are written through a temporary file and a rename, and a FOV's
staging record is written last, so an interrupted run resumes cleanly.

Cost
----
Without video a FOV takes 0.2-3 s (15 s for the 750-particle dimerization). Rendering grows
with the trajectories in the FOV: 10-30 s for 30-70 trajectories and 150-200 s for the
240-290 of the dense dimerization experiments (measured on a shared 2-core machine), so the
full ``benchmark`` (270 FOVs) needs roughly 4 CPU hours. With ``workers > 1`` the jobs run
in ``spawn`` processes: a script calling :func:`simulate` must guard its entry point with
``if __name__ == "__main__":``.

Organisers' quirks handled here
-------------------------------
* With ``get_video=True`` andi-datasets renumbers the trajectories (VIPs first) in the CSV but
  writes ``traj_labs`` with the indices from before the renumbering. The label lines are
  re-indexed here (each label's length is checked against its trajectory in the CSV).
* The FOV origin is not returned; it is captured from the call to ``segs_inside_fov``, which
  also sets a process-wide ``warnings.filterwarnings('ignore')`` (contained here); see
  :mod:`~andi2kit.simulation.andi_compat`.
* DeepTrack 1.x needs ``pkg_resources``, gone from recent setuptools; see
  :func:`~andi2kit.simulation.andi_compat.import_andi`.
"""

from andi2kit.simulation.driver import simulate
from andi2kit.simulation.presets import PRESETS, ExperimentSpec, Preset, experiment_definitions

__all__ = ["PRESETS", "ExperimentSpec", "Preset", "experiment_definitions", "simulate"]
