"""Detection, linking and VIP-following settings of the Track 1 tracker."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

# movie frames of a challenge video (page 0, the VIP frame, comes on top)
from andi2kit.constants import LINKERS as LINKER_NAMES
from andi2kit.constants import N_FRAMES, PERSISTENT_STEPS
from andi2kit.errors import check_choice

#: Shortest trajectory the challenge generates (``_defaults_andi2()._min_T``).
MIN_LENGTH = 20

#: The Gaussian σ (px) the joint fit draws andi-datasets' spots with (fitted to their spots).
ANDI_PSF_SIGMA = 0.79
#: What :func:`~andi2kit.tracking.detect.spot_width` reads on andi-datasets videos (px;
#: 0.81-0.86 over the challenge, training-prior and dense suites): the width every
#: distance and threshold of :class:`TrackingParams` was set for.
ANDI_SPOT_WIDTH = 0.83
#: A video's spots wider or narrower than that by more than this (relative) are tracked with
#: settings scaled to their width (:func:`scaled_to_spots`).
SPOT_WIDTH_TOLERANCE = 0.3


@dataclass(frozen=True)
class TrackingParams:
    """Detection, linking and VIP-following settings.

    Intensities are in units of the background noise: :func:`preprocess` subtracts each
    frame's background and divides by its noise, so the thresholds do not depend on the
    per-frame 8-bit rescaling of the challenge videos.

    Attributes
    ----------
    diameter : int
        trackpy feature diameter (odd, px).
    minmass : float
        Smallest integrated brightness of a feature (trackpy ``minmass``).
    separation : float
        Smallest distance between two features (px).
    percentile : float
        Peaks must be brighter than this percentile of the frame.
    threshold : float
        Bandpassed intensity under which pixels are clipped before peak finding (noise units).
    noise_size : float
        Width of trackpy's Gaussian noise filter (px).
    max_iterations : int
        Centroid refinement iterations.
    pad : int
        Border extension (px) so that particles at the edge are found.
    search_range : float
        Largest displacement linked between consecutive frames (px); after a gap of ``g``
        frames, ``search_range * sqrt(g)`` (motion linker). trackpy's linker slows down
        badly with large values: use about 6 with ``linker="trackpy"``.
    memory : int
        Frames a particle may vanish and still be linked to itself.
    adaptive_stop, adaptive_step : float
        trackpy's adaptive search: oversized subnetworks are retried with
        ``search_range`` multiplied by ``adaptive_step`` down to ``adaptive_stop``.
    predict : int
        With ``linker="trackpy"``: link with trackpy's nearest-velocity predictor, the
        velocity from the last ``predict`` frames (0: no prediction).
    linker : {"motion", "trackpy"}
        ``"motion"``: :func:`link_motion` (per-track motion models); ``"trackpy"``:
        ``trackpy.link`` (nearest distance).
    motion : {"fbm", "ar1"}
        The motion linker's model of a track. ``"fbm"``: fractional Brownian motion whose
        anomalous exponent (on ``alpha_grid``) and diffusivity are learnt from the track's
        last ``history`` steps (:class:`andi2kit.tracking.fbm.FbmPredictor`); ``"ar1"``: the
        earlier model, a diffusivity, a drift and the lag-1 correlation of the last
        ``velocity_frames`` steps (tuned with ``switch_weight=0.2``).
    history : int
        Steps an fBm track remembers.
    alpha_grid : tuple of float
        Anomalous exponents an fBm track may have (Brownian, 1.0, twice as likely a priori).
    K_prior, K_prior_steps : float
        Diffusivity (px²/frame**alpha) an fBm track is assumed to have before it moved, and
        how many steps that assumption is worth.
    D_prior : float
        Diffusivity (px²/frame) assumed for a track with few steps, worth two steps: by the
        ``"ar1"`` model and when a lost VIP is re-acquired.
    D_broad : float
        Diffusivity of the broad component for a particle that changes its motion.
    switch_weight : float
        Weight of the broad component.
    fast_factor, fast_quantile, fast_reach : float
        A FOV whose linked tracks' diffusivity at the ``fast_quantile`` exceeds
        ``fast_factor`` times ``D_broad`` is linked again with ``D_broad`` set to that
        diffusivity and ``search_range`` at least ``fast_reach`` standard deviations of its
        step (:func:`~andi2kit.tracking.linking.fast_diffusivity`): particles that move
        several pixels per frame. ``fast_factor`` 0: never.
    link_cost : float
        Negative log-likelihood of a step above which a track rather waits or ends.
    gap_cost : float
        Extra cost per frame a track was not seen.
    loc_sigma : float
        Localisation error (px).
    directed_chi2 : float
        Significance (chi-square, 2 dof) the mean step needs to be used as a velocity.
    vip_radius : float
        Largest distance between a page-0 centroid and its first-frame detection (px).
    reacquire_frames : int
        How many frames after a lost track a continuation may start.
    reacquire_radius : float
        Base search radius of a continuation (px); it grows with the square root of the gap.
    reacquire_growth : float
        Growth of the radius per square-root frame of gap (px).
    reacquire_chi2 : float
        The radius is at least this many variances (chi-square, 2 dof) of the particle's own
        recent steps, for fast particles.
    steal_cost : float
        Extra cost of continuing on a detection inside another track rather than on a track
        start.
    share_cost : float
        Extra cost of continuing on a detection of a track that another VIP holds (two
        VIPs in one spot); ``inf`` forbids it.
    vips_span_movie : bool
        A VIP that ends before the last frame is continued, from its latest contact, on a
        track no VIP holds that lasts the movie (andi-datasets picks VIPs among the longest
        trajectories: 97.7–100 % of them span all 200 frames in the challenge-preset
        suites). False: a VIP ends where its tracks end.
    velocity_frames : int
        Recent steps a track remembers for its motion model, and whose mean displacement
        predicts where a lost VIP went.
    edge : float
        A track lost closer than this to the border (px) is taken to have left the FOV.
    encounter_radius, encounter_frames, encounter_merged : float, int, float
        A VIP frame is flagged as an encounter when another detection lies within
        ``encounter_radius`` (px) of it (in that frame or the next or previous one), or its
        own spot is ``encounter_merged`` times as bright as usual (two spots in one); and so
        are the ``encounter_frames`` frames before and after. The untangler leaves spots that
        bright (against a stretch's median) out of a track's brightness signature; 0 keeps
        them in.
    fill_radius : float
        In a gap of a VIP's trajectory, a detection this close to the interpolated position
        (px) is taken as the VIP (it is usually hidden in another particle's blob); 0 turns
        this off and gaps are interpolated linearly.
    contact_radius : float
        Two tracks closer than this (px) are in contact: :func:`~andi2kit.tracking.untangle`
        may exchange their tails.
    untangle_window : int
        Frames before and after a contact whose signatures are compared (0: no untangling).
    untangle_min : int
        Fewest frames each of the four stretches of a contact needs to be judged.
    untangle_margin : float
        How much cheaper (negative log-likelihood) exchanging the tails must be.
    untangle_amp, untangle_motion : float
        Weights of the brightness and motion signatures. The motion signature is the odds
        that two stretches' step variances are one particle's rather than two of the FOV's
        (:func:`~andi2kit.tracking.untangle.motion_population`: how much its tracks differ
        for good, and how much each changes): nothing where the particles move alike.
        Tuning seeds (``tests/benchmarks/tune_tracking.py DIR "[{'untangle_motion': 0.0},
        {}]" --scores``), VIP frames within 1 px without / with it: challenge 84.9 / 84.7 %,
        directed-traps 82.9 / 82.9 %, training priors (fast movers, each of its own D) 72.9 /
        74.2 % (α MAE 0.167 → 0.163, K MSLE 0.105 → 0.103). The earlier form, the likelihood
        ratio of two stretches' step variances at lags 1 and 2 without the population, lost
        VIP frames at every weight tried (0.1: 78.9 %, 1: 78.0 %, 0: 80.1 %).
    untangle_groups : int
        Largest group of tracks (three or more meeting, or two and a track that ends or
        begins beside them) whose stretches before and after are assigned jointly
        (:func:`~andi2kit.tracking.groups.untangle_groups`); 0: off. Challenge preset, tuning
        seed (``data/chal0v``), off / 8: VIP frames within 1 px 84.0 / 84.9 %, the U-Net's
        K MSLE on the tracked VIPs 0.013 / 0.009; report seed (``data/chal1v``) 84.5 /
        86.7 %, 0.014 / 0.012 (``tests/benchmarks/tune_tracking.py DIR GRID --scores``).
    untangle_none, untangle_gap, untangle_reach : float, int, float
        Cost of a stretch left unpaired in a group; frames before and after a group in which
        a track's end or start joins it, and how close to a member (px). Tuning seed, VIP
        frames within 1 px, ends and starts within 3 frames: unpaired cost 3 / 6 / 10 / 20 / 50
        83.8 / 84.0 / 84.6 / 84.7 / 84.7 %; cost 10 and ends and starts within 0 / 6 / 10
        frames 84.6 / 84.6 / 84.9 % (cost 6: 84.2 %).
    untangle_persistence : float
        In a FOV whose tracks' successive steps correlate at least this much (median;
        :func:`~andi2kit.tracking.untangle.persistence`: 0 for Brownian motion, 0.87 at α 1.9)
        a group's continuity follows each stretch's significant drift (``directed_chi2``) across
        it; 1: never. Chosen on the tuning seeds (VIP frames within 1 px, groups without drift /
        0.6 / 0.7): directed-traps with videos 79.0 / 80.6 / 79.8 % (without groups 80.3 %),
        challenge 84.9 % all, compartments with videos 89.8 / 89.6 / 89.8 %; the FOVs' medians
        0.65–0.81 in directed-traps, at most 0.23 in the challenge preset. Report seeds (0.6):
        directed-traps 84.9 → 87.4 % (without groups 86.1 %), challenge, compartments, the
        crowded and wide presets unchanged.
    untangle_pair_drift : bool
        The pairwise untangler (:func:`~andi2kit.tracking.untangle.untangle`) also carries
        each stretch's drift across a contact in such a FOV, as the groups do (default since
        2026-12-06). Measured (``tests/benchmarks/tune_tracking.py DIR "[{'untangle_pair_drift':
        False}, {}]" --scores``; VIP frames within 1 px, RMSE CP / JSC / α MAE / K MSLE / state
        F1), directed-traps videos: tuning seed 80.6 → 82.9 %, 0.779 / 0.778 / 0.124 / 0.034 /
        0.797 → 0.786 / 0.782 / 0.114 / 0.034 / 0.814; report seed 1 87.4 → 90.3 %, 0.903 /
        0.724 / 0.117 / 0.038 / 0.772 → 0.852 / 0.747 / 0.101 / 0.042 / 0.788 (K worse: not
        adopted then); fresh report seed 2, judged by a rule set before it was drawn (no worse
        there, and on the mean of seeds 1 and 2), 81.9 → 87.5 %, 0.961 / 0.750 / 0.138 / 0.034 /
        0.811 → 0.876 / 0.766 / 0.119 / 0.028 / 0.824. The challenge's videos are unchanged (no
        FOV persistent enough).
    amp_scatter : float
        Relative scatter of one frame's fitted amplitude (0.097 measured).
    link_amp, link_amp_cap, link_amp_frames : float
        Brightness in the motion linker's cost: a detection's amplitude relative to its
        frame's median spot against the track's running mean (exponential memory of about
        ``link_amp_frames`` frames), ``link_amp`` times the Gaussian negative log-likelihood
        with scatter ``amp_scatter``, capped at ``link_amp_cap`` (a merged blob is twice as
        bright and must not end a track). 0 turns it off. Tuning seed of the challenge preset,
        VIP frames within 1 px: off 82.0 %, (0.5, 4, 30) 82.4 %, (1, 4, 30) 82.3 %,
        (1, 2, 30) 83.6 %, (1, 1, 30) 82.3 %, (2, 1, 30) 82.8 %, (1, 2, 60) 83.3 %,
        (1, 2, 15) 83.8 %, (2, 4, 30) 80.9 %.
    refine : bool
        Refine trackpy's features by a joint Gaussian fit (:func:`refine_frame`).
    psf_sigma : float
        Width of the Gaussian PSF (px); 0.79 measured on andi-datasets videos.
    fit_radius : int
        Half-size of the window a spot is fitted in (px).
    fit_sweeps : int
        Passes over all spots of a frame.
    max_shift : float
        Farthest a spot may move from trackpy's position (px).
    min_amplitude : float
        Spots fitted fainter than this (noise units) are dropped.
    residual_peak : float
        Matched-filter response of the residual above which a hidden spot is added
        (0: no residual search).
    min_distance : float
        Of two spots closer than this (px) the fainter is dropped.
    split_gain, split_min : float
        A bright spot is replaced by two Gaussians when they fit it better by this much
        (squared residual, noise units) and lie at least ``split_min`` px apart
        (:func:`~andi2kit.tracking.split.split_pairs`); ``split_gain`` 0: never. Set (not
        tuned: the criterion measured free of false splits on andi-datasets' spots) and
        checked on the four tracking tuning suites, VIP frames within 1 px without → with:
        challenge seeds 0 and 2 84.7 → 85.1 % and 83.9 → 84.8 %, spots of 1.28 px 81.3 →
        84.1 %, of 1.66 px 73.3 → 76.0 % (docs/track1.md, *Two particles in one wide spot*).
    expected_frames : int or None
        Movie frames a video must have (the challenge's 200); None accepts any number.
    match_spots : bool
        Measure each video's spot width and, where they are wider than andi-datasets'
        (:func:`spots_wider`), track it with the settings :func:`scaled_to_spots`
        (:func:`~andi2kit.tracking.video.track_fov`); False: these settings as they are.
    """

    diameter: int = 5
    minmass: float = 6.0
    separation: float = 1.5
    percentile: float = 0.0
    threshold: float = 1.0
    noise_size: float = 1.0
    max_iterations: int = 10
    pad: int = 5
    search_range: float = 15.0
    memory: int = 8
    adaptive_stop: float = 1.0
    adaptive_step: float = 0.9
    predict: int = 0
    linker: str = "motion"
    motion: str = "fbm"
    history: int = 10
    alpha_grid: tuple[float, ...] = (0.1, 0.4, 0.7, 1.0, 1.3, 1.6, 1.9)
    K_prior: float = 0.2
    K_prior_steps: float = 2.0
    D_prior: float = 0.5
    D_broad: float = 1.0
    switch_weight: float = 0.1
    fast_factor: float = 2.0
    fast_quantile: float = 0.9
    fast_reach: float = 4.0
    link_cost: float = 14.0
    gap_cost: float = 0.5
    loc_sigma: float = 0.15
    directed_chi2: float = 12.0
    vip_radius: float = 3.0
    reacquire_frames: int = 30
    reacquire_radius: float = 2.5
    reacquire_growth: float = 1.5
    reacquire_chi2: float = 9.2
    steal_cost: float = 2.0
    share_cost: float = 2.0
    vips_span_movie: bool = True
    velocity_frames: int = 5
    edge: float = 2.0
    fill_radius: float = 1.5
    encounter_radius: float = 3.0
    encounter_frames: int = 2
    encounter_merged: float = 1.5
    contact_radius: float = 3.0
    untangle_window: int = 80
    untangle_min: int = 5
    link_amp: float = 1.0
    link_amp_cap: float = 2.0
    link_amp_frames: float = 30.0
    untangle_margin: float = 2.0
    untangle_amp: float = 1.0
    untangle_motion: float = 1.0
    untangle_groups: int = 8
    untangle_none: float = 10.0
    untangle_gap: int = 10
    untangle_reach: float = 4.0
    untangle_persistence: float = PERSISTENT_STEPS
    untangle_pair_drift: bool = True
    amp_scatter: float = 0.1
    refine: bool = True
    psf_sigma: float = ANDI_PSF_SIGMA
    fit_radius: int = 2
    fit_sweeps: int = 4
    max_shift: float = 1.5
    min_amplitude: float = 6.0
    residual_peak: float = 5.0
    min_distance: float = 0.7
    split_gain: float = 20.0
    split_min: float = 2.0
    expected_frames: int | None = N_FRAMES
    match_spots: bool = True

    def __post_init__(self) -> None:
        if self.diameter < 3 or self.diameter % 2 == 0:
            raise ValueError(f"diameter must be an odd integer >= 3, got {self.diameter}")
        if self.search_range <= 0 or self.memory < 0 or self.pad < 0 or self.predict < 0:
            raise ValueError("search_range must be > 0, memory, pad and predict >= 0")
        if self.motion not in ("fbm", "ar1"):
            raise ValueError(f"motion must be 'fbm' or 'ar1', got {self.motion!r}")
        if self.history < 1 or not all(0 < a < 2 for a in self.alpha_grid):
            raise ValueError("history must be >= 1 and every alpha_grid value in (0, 2)")
        if (self.untangle_groups < 0 or self.untangle_none <= 0 or self.untangle_gap < 0
                or self.untangle_reach < 0 or not -1 <= self.untangle_persistence <= 1):
            raise ValueError("untangle_groups, untangle_gap and untangle_reach must be >= 0, "
                             "untangle_none > 0 and untangle_persistence in [-1, 1]")

    def to_dict(self) -> dict:
        """The settings as a plain dictionary."""
        return asdict(self)


#: Settings that are lengths set by how far a spot's light reaches (px): they grow with the
#: spots' width. Motion lengths (``search_range``, ``reacquire_radius``) do not.
SPOT_LENGTHS = ("separation", "noise_size", "psf_sigma", "max_shift", "min_distance",
                "loc_sigma", "vip_radius", "fill_radius", "encounter_radius", "contact_radius",
                "untangle_reach", "edge")
#: Peak thresholds (noise units) of a matched filter: a spot of the same light spread σ times
#: as wide stands as far above the filtered noise at a peak 1/σ as high.
SPOT_PEAKS = ("min_amplitude", "residual_peak")


def expected_spot_width(params: TrackingParams) -> float:
    """The spot width (:func:`~andi2kit.tracking.detect.spot_width`, px) ``params`` are set
    for: :data:`ANDI_SPOT_WIDTH` at andi-datasets' ``psf_sigma``, in proportion to it."""
    return ANDI_SPOT_WIDTH * params.psf_sigma / ANDI_PSF_SIGMA


def spots_match(params: TrackingParams, width: float) -> bool:
    """Whether spots ``width`` px wide are within :data:`SPOT_WIDTH_TOLERANCE` of the width
    ``params`` are set for (an unmeasured width, NaN, matches)."""
    return not abs(width / expected_spot_width(params) - 1) > SPOT_WIDTH_TOLERANCE


def spots_wider(params: TrackingParams, width: float) -> bool:
    """Whether spots ``width`` px wide are wider than ``params`` are set for by more than
    :data:`SPOT_WIDTH_TOLERANCE`: the videos tracked with :func:`scaled_to_spots`.

    Narrower spots are tracked with the settings as they are: on andi-datasets' videos with
    0.51 px spots (``simulate --psf-scale 0.6``) the scaled settings kept more VIP frames
    (83.7 → 84.2 %) but the fit of so narrow a Gaussian locks positions to the pixels, and
    the U-Net read worse α and K off the steps (RMSE CP 0.856 → 1.259, K MSLE 0.012 → 0.019;
    not shrinking the contact distances: 87.3 %, 1.284, 0.018). docs/track1.md, *Videos whose
    spots are wider*.
    """
    return width > expected_spot_width(params) * (1 + SPOT_WIDTH_TOLERANCE)


def scaled_to_spots(params: TrackingParams, width: float) -> TrackingParams:
    """The settings for a video whose spots are ``width`` px wide (Gaussian σ).

    Every length in :data:`SPOT_LENGTHS` and the pixel sizes (trackpy's ``diameter``, the fit
    window ``fit_radius``, the border ``pad``) are multiplied by ``width`` over the width
    ``params`` are set for (:func:`expected_spot_width`), the peak thresholds of
    :data:`SPOT_PEAKS` divided by it; the rest (how particles move and are linked) is kept.
    The tracker applies it to wider spots only (:func:`spots_wider`).

    Parameters
    ----------
    params : TrackingParams
        Settings for andi-datasets videos.
    width : float
        The video's spot width, :func:`~andi2kit.tracking.detect.spot_width` (px).

    Returns
    -------
    TrackingParams

    Examples
    --------
    >>> p = scaled_to_spots(TrackingParams(), 2 * ANDI_SPOT_WIDTH)
    >>> p.diameter, round(p.psf_sigma, 2), round(p.min_amplitude, 2), p.search_range
    (11, 1.58, 3.0, 15.0)
    """
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    s = width / expected_spot_width(params)
    changes: dict[str, object] = {k: getattr(params, k) * s for k in SPOT_LENGTHS}
    changes.update({k: getattr(params, k) / s for k in SPOT_PEAKS})
    changes["diameter"] = 2 * int(params.diameter * s // 2) + 1  # the next odd size
    changes["fit_radius"] = max(1, round(params.fit_radius * s))
    changes["pad"] = max(params.pad, int(np.ceil(params.pad * s)))
    return replace(params, **changes)


#: Each named tracker's settings over the defaults. ``trackpy`` and ``trackpy-predict`` are
#: trackpy's nearest-neighbour and velocity-predicting linking on the same detections, with the
#: same VIP logic and without our untangling; their search range and velocity span are the
#: best of those measured on the challenge tuning seed (``tests/benchmarks/identity_all.py
#: data/chal0v``: 72.6 and 72.9 % of every particle's frames on its first track, ours 81.1 %).
LINKERS: dict[str, dict[str, object]] = {
    "motion": {},
    "trackpy": {"linker": "trackpy", "search_range": 10.0, "untangle_window": 0,
                "untangle_groups": 0},
    "trackpy-predict": {"linker": "trackpy", "search_range": 7.0, "predict": 20,
                        "untangle_window": 0, "untangle_groups": 0},
}
assert tuple(LINKERS) == LINKER_NAMES


def tracker_params(linker: str = "motion", match_spots: bool = True) -> TrackingParams:
    """The settings of a named tracker (:data:`LINKERS`); ``match_spots`` False keeps them
    whatever the videos' spot width (:attr:`TrackingParams.match_spots`).

    Raises
    ------
    OptionError
        If ``linker`` names none.

    Examples
    --------
    >>> tracker_params("trackpy").linker
    'trackpy'
    >>> tracker_params() == TrackingParams()
    True
    >>> tracker_params(match_spots=False).match_spots
    False
    """
    return replace(TrackingParams(), **LINKERS[check_choice("--linker", linker, LINKER_NAMES)],
                   match_spots=bool(match_spots))
