"""The challenge's fixed numbers and names, defined once.

Every module that needs the length of a challenge trajectory, the localisation noise of the
public data, the diffusive-state codes or the andi-datasets model names takes them from here.
"""

from __future__ import annotations

#: Frames of a challenge trajectory and movie frames of a challenge video (andi-datasets' T).
N_FRAMES = 200

#: Side of a field of view (FOV), pixels.
FOV_PX = 128

#: Side of the simulation box the FOVs are cut from (andi-datasets' L = 1.8 * 128), pixels.
BOX_PX = 1.8 * FOV_PX

#: Localisation noise σ (pixels) of the challenge's public trajectories.
LOCALISATION_NOISE = 0.12

#: Localisation error σ (pixels, per axis) of the positions our tracker finds in challenge
#: videos: 0.06-0.09 per experiment on the Track 1 tuning seeds (chal0v, comp0v, dtraps0v;
#: frames the tracker was sure of, within 1 px of the truth).
TRACKED_NOISE = 0.07

#: The trackers by name (``andi2kit track --linker``): ours, and trackpy's linking as the
#: baselines it is measured against (their settings: ``andi2kit.tracking.params.LINKERS``).
LINKERS = ("motion", "trackpy", "trackpy-predict")

#: Successive one-frame steps that correlate at least this much (fBm's ρ at α ≈ 1.68) make a
#: field of near-ballistic movers: the tracker carries a drift across encounters there
#: (``TrackingParams.untangle_persistence``) and Track 1 carves their stops into still runs
#: (:func:`andi2kit.step_alpha.field_persistence`).
PERSISTENT_STEPS = 0.6

#: Diffusive state names; a state's code in label files is its position here.
STATE_NAMES = ("immobile", "confined", "free", "directed")
#: The state codes by name.
IMMOBILE, CONFINED, FREE, DIRECTED = range(len(STATE_NAMES))

#: andi-datasets labels a moving state directed when its α is at least this (its
#: ``models_phenom.alpha_directed``), free below; immobile and confined states keep theirs.
ALPHA_DIRECTED = 1.9

#: andi-datasets' model names, in its numbering (model ``i + 1``); also the names allowed in
#: the first line of ``ensemble_labels.txt``.
MODEL_NAMES = ("single_state", "multi_state", "immobile_traps", "dimerization", "confinement")

#: Column of tracked Track 1 trajectories: the mass of the VIP's spot over the frame's median
#: spot (two particles in one spot read about 2). Measured from the pixels, never a label.
BRIGHTNESS = "brightness"

#: Columns of one trajectory's per-frame prediction array (``(T, 7)``): α, K, state (argmax),
#: p(immobile), p(confined), p(free), p(directed).
FRAME_VALUES = ("alpha", "K", "state", "p0", "p1", "p2", "p3")
#: Column of each value in that array, e.g. ``frames[:, COLUMN["K"]]``.
COLUMN = {name: i for i, name in enumerate(FRAME_VALUES)}
#: The state probabilities' columns.
PROBABILITIES = slice(COLUMN["p0"], COLUMN["p3"] + 1)
