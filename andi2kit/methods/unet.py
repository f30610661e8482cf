"""The AnomalousNet pipeline: Attention U-Net per-frame predictions → segments → ensemble.

Per-frame α, K and state come from a trained checkpoint (:mod:`andi2kit.inference`);
:class:`andi2kit.segment.Segmenter` turns them into change points and segment values; the
experiment's segments are pooled into ``ensemble_labels``. The segmentation and ensemble
settings are those tuned for the checkpoint (``segmentation.json`` in its folder, written by
``andi2kit tune``), unless given; so is the experiment-level pooling of segment values
(:mod:`andi2kit.pooling`).
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from andi2kit import (
    bound_runs,
    bound_states,
    bouts,
    partner_cuts,
    partners,
    provenance,
    standing,
    state_evidence,
    state_mixture,
    states,
    step_states,
    still_runs,
    trap_places,
)
from andi2kit.constants import COLUMN, TRACKED_NOISE
from andi2kit.ensemble import ENSEMBLE_METHODS, segment_table
from andi2kit.errors import InputError, OptionError
from andi2kit.experiment_decision import ExperimentDecision, context_segments, untrapped
from andi2kit.inference import (
    SYMMETRIES,
    check_symmetries,
    checkpoint_file,
    load_checkpoint,
    predict_tensors,
    read_json,
)
from andi2kit.labels import EnsembleLabel, TrajectoryLabel
from andi2kit.pooled_msd import PooledMsd
from andi2kit.pooling import Pooling
from andi2kit.segment import Segmenter, smooth_states
from andi2kit.step_alpha import StepAlpha
from andi2kit.tensors import (
    DenseTrajectories,
    brightness_per_trajectory,
    pack,
    per_trajectory,
    to_dense,
    uncertain_frames,
    unpack,
)

#: Decimals of the positions kept in the evidence (px; far below the localisation noise).
POSITION_DECIMALS = 3


def _rounded(a) -> list:
    return np.round(np.asarray(a, float), 6).tolist()


def _located(labels: list[TrajectoryLabel], positions: list[np.ndarray],
             numbers: list[np.ndarray]) -> dict:
    """Evidence entries ``positions`` and ``starts`` (first frame) by trajectory index."""
    return {"positions": {str(lab.idx): np.round(xy, POSITION_DECIMALS).tolist()
                          for lab, xy in zip(labels, positions, strict=True)},
            "starts": {str(lab.idx): int(f[0]) if len(f) else 0
                       for lab, f in zip(labels, numbers, strict=True)}}


class UNetMethod:
    """Per-frame U-Net + segmentation + ensemble.

    Parameters
    ----------
    checkpoint : str, optional
        Checkpoint folder (default: :data:`andi2kit.inference.DEFAULT_CHECKPOINT`).
    segmentation : str, optional
        Search method of :class:`~andi2kit.segment.Segmenter` (default: the tuned one).
    pen : float, optional
        Penalty (default: the tuned one).
    ensemble : str, optional
        ``"single_gaussian"`` or ``"gaussian_mixture"`` (default: the tuned one).
    pooling : bool
        Pool each experiment's segments (:mod:`andi2kit.pooling`) when the checkpoint's
        tuning kept it.
    state_stage : bool
        Per-frame states from the checkpoint's state stage (:mod:`andi2kit.states`) when it
        has one; False: the U-Net's own state head.
    tracked_noise : float
        Localisation error (px per axis) of Track 1 positions, which the step α and the
        still runs correct for: the tracker's (:data:`~andi2kit.constants.TRACKED_NOISE`,
        measured on simulated videos); the public noise where the positions are true ones.
    symmetries : int
        Turns of the steps the U-Net reads each trajectory in, its outputs averaged
        (:data:`andi2kit.inference.SYMMETRIES`; 1: once, the fastest).
    """

    name = "unet"

    def __init__(self, checkpoint: str | None = None, segmentation: str | None = None,
                 pen: float | None = None, ensemble: str | None = None,
                 pooling: bool = True, state_stage: bool = True,
                 tracked_noise: float = TRACKED_NOISE, symmetries: int = SYMMETRIES) -> None:
        # the settings first: a bad option or settings file fails before TensorFlow loads
        self.symmetries = check_symmetries(symmetries)
        if not (np.isfinite(tracked_noise) and tracked_noise >= 0):
            raise OptionError(f"tracked_noise must be a finite number >= 0, got "
                              f"{tracked_noise!r}")
        self.tracked_noise = float(tracked_noise)
        tuned_file = checkpoint_file(checkpoint).parent / "segmentation.json"
        tuned = read_json(tuned_file)
        seg = dict(tuned.get("segmenter", {"method": "optimal", "pen": 2.0}))
        seg["weights"] = tuple(seg.get("weights", (1.0, 1.0, 1.0)))
        if segmentation is not None:
            seg["method"] = segmentation
        if pen is not None:
            seg["pen"] = float(pen)
        self.ensemble_name = ensemble or tuned.get("ensemble", "gaussian_mixture")
        if self.ensemble_name not in ENSEMBLE_METHODS:
            raise OptionError(f"ensemble {self.ensemble_name!r} is not one of "
                              f"{', '.join(ENSEMBLE_METHODS)}")
        try:
            self.segmenter = Segmenter(**seg)
            pool = tuned.get("pooling") if pooling else None
            self.pooling = Pooling.from_dict(pool) if pool else None
            msd = tuned.get("pooled_msd") if pooling else None
            self.pooled_msd = PooledMsd.from_dict(msd) if msd else None
            fast = tuned.get("step_alpha") if pooling else None
            self.step_alpha = StepAlpha(**fast) if fast is not None else None
            self.decision = ExperimentDecision.from_settings(tuned, self.tracked_noise)
            short = tuned.get("bouts")
            self.bouts = bouts.Bouts(**short) if short is not None else None
            hmm = tuned.get("step_states")
            self.step_states = step_states.StepStates(**hmm) if hmm is not None else None
        except OptionError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InputError(f"{tuned_file}: unusable settings ({type(exc).__name__}: "
                             f"{exc})") from None
        self.checkpoint = load_checkpoint(checkpoint, stage=state_stage)

    @property
    def gives_evidence(self) -> bool:
        """Whether :meth:`predict_with_evidence` describes the FOV's states (with a stage)."""
        return self.checkpoint.states is not None

    def identity(self) -> dict:
        """What decides :meth:`predict` (recorded beside its output): the model file's
        hash, the state stage's (if any) and the segmentation settings."""
        model = provenance.file_digest(self.checkpoint.path / "model.keras")
        ident = {"model_sha256": model["sha256"], "segmenter": asdict(self.segmenter),
                 "symmetries": self.symmetries}
        if self.checkpoint.states is not None:
            ident["states_sha256"] = provenance.file_digest(
                self.checkpoint.path / states.MODEL_FILE)["sha256"]
            ident["state_evidence"] = state_evidence.evidence_settings()
            ident["partners"] = partner_cuts.settings()
            d = self.decision
            if d.still_runs is not None:
                ident["still_runs"] = still_runs.settings_dict(d.still_runs)
            if self.bouts is not None:
                ident["bouts"] = bouts.settings_dict(self.bouts)
            if self.step_states is not None:
                ident["step_states"] = step_states.settings_dict(self.step_states)
            if d.standing is not None:
                ident["standing"] = standing.settings_dict(d.standing)
            if d.places is not None:
                ident["trap_places"] = trap_places.settings_dict(d.places)
            ident["evidence_positions"] = POSITION_DECIMALS
            # Track 1: every tracked particle's segments, and its labels and positions
            ident["evidence_context"] = ["alpha", "K", "state", "length"]
            ident["evidence_field"] = ["labels", "positions", "starts", "brightness"]
            # Track 1: the frames the tracker was unsure of (left out of the step α)
            ident["evidence_unsure"] = "flags != 0"
            # Track 1 (every tracked position, brightness or not): still runs of the evidence
            # with the positions' error
            ident["evidence_tracked_noise"] = {"track": 1, "noise": self.tracked_noise}
        return ident

    def predict_frames(self, trajs: pd.DataFrame):
        """Packed tensor and per-trajectory ``(T, 7)`` frame predictions of one FOV."""
        return self._predict(trajs)[1:]

    def _predict(self, trajs: pd.DataFrame):
        dense = to_dense(trajs)
        tensor = pack(dense)
        return dense, tensor, predict_tensors(self.checkpoint, [tensor],
                                              symmetries=self.symmetries)[0]

    def segments(self, tensor, frames, uncertain: dict[int, np.ndarray] | None = None
                 ) -> list[TrajectoryLabel]:
        """Segment labels from :meth:`predict_frames` output (change points refined on the
        trajectories' own steps; none next to the frames ``uncertain[idx]`` a tracker was
        unsure of)."""
        steps = unpack(tensor, tensor.x)
        uncertain = uncertain or {}
        return [self.segmenter(i, f, st, uncertain.get(int(i)))
                for i, f, st in zip(tensor.idx, frames, steps, strict=True)]

    def predict(self, trajs: pd.DataFrame) -> list[TrajectoryLabel]:
        """Segment labels of every trajectory of a FOV.

        A ``flags`` column (Track 1: :func:`andi2kit.tracking.track_vips`) marks frames the
        tracker was unsure of; no change point is put next to them.
        """
        return self.predict_with_evidence(trajs)[0]

    def predict_with_evidence(self, trajs: pd.DataFrame, field: pd.DataFrame | None = None,
                              tracked: bool = False
                              ) -> tuple[list[TrajectoryLabel], dict | None]:
        """:meth:`predict`, and what the FOV says about its experiment (with a state stage;
        None without), for :meth:`decide_states`: :meth:`fov_evidence` (of the ``field``'s
        tracks when given and not empty, Track 1: every particle of the video,
        :func:`andi2kit.tracking.field_tracks`, else of ``trajs``) with the count of
        ``bound`` frames (:func:`andi2kit.partners.bound_frames`), each segment's mean state
        probabilities, and under ``partner`` each trajectory with a bound frame or whose
        partner change points differ from the model's: its segments cut there
        (:func:`andi2kit.partner_cuts.partner_segments`); under ``step_states`` the
        trajectories cut where the FOV's step states change, with the model's summary under
        ``step_model`` (:func:`andi2kit.step_states.step_segments`, where the settings ask
        for it); under ``positions`` each trajectory's positions, for the pooled-MSD α of
        :meth:`pool`. Positions ``tracked`` in videos (Track 1) have their still runs read
        with ``tracked_noise``."""
        dense, tensor, frames = self._predict(trajs)
        unsure = uncertain_frames(trajs)
        labels = self.segments(tensor, frames, unsure)
        if not self.gives_evidence:
            return labels, None
        probabilities = state_mixture.segment_probabilities(labels, frames)
        positions, numbers = per_trajectory(dense)
        brightness = brightness_per_trajectory(trajs, dense, numbers)
        context: list[list[float]] = []
        tracks: dict = {}
        if field is None or field.empty:
            evidence = self.fov_evidence(dense, frames, brightness, tracked)
        else:
            evidence, context, tracks = self._field_evidence(field)
        # the share of bound frames is over the trajectories the partners were looked for in
        bound, counts = partners.partner_counts(positions, numbers, brightness)
        evidence.update(counts)
        steps = unpack(tensor, tensor.x)
        if tracked:
            runs = bound
        else:  # Track 2 sees both partners: bound runs from the pair model judge and cut
            runs, moving = bound_runs.runs_and_counts(positions, numbers, bound)
            evidence.update(partners.run_counts(positions, runs, prefix="pair_"))
            evidence.update(moving)
            evidence.update(bound_states.state_counts(positions, numbers, runs))
        partner = partner_cuts.partner_segments(labels, frames, runs, steps, self.segmenter)
        short = {} if self.bouts is None or (1 if tracked else 2) not in self.bouts.tracks else \
            bouts.bout_segments(labels, frames, steps, self.segmenter, self.bouts)
        stepped, model = ({}, None) if self.step_states is None or \
            (1 if tracked else 2) not in self.step_states.tracks else \
            step_states.step_segments(labels, frames, steps, self.segmenter, self.step_states)
        return labels, {"evidence": evidence,
                        "probabilities": {str(lab.idx): _rounded(p)
                                          for lab, p in zip(labels, probabilities,
                                                            strict=True)},
                        "partner": partner,
                        "bouts": short,
                        "step_states": stepped,
                        "step_model": model,
                        "context": context,
                        "field": tracks,
                        "unsure": {str(i): np.flatnonzero(m).tolist()
                                   for i, m in unsure.items() if m.any()},
                        **_located(labels, positions, numbers)}

    def fov_evidence(self, dense: DenseTrajectories, frames: list[np.ndarray],
                     brightness: list[np.ndarray] | None = None, tracked: bool = False
                     ) -> dict[str, float]:
        """:func:`andi2kit.state_evidence.fov_evidence` of one FOV: its per-frame states
        smoothed as the segmentation smooths them, its positions and (tracked VIPs) their
        spots' brightness; the still runs of positions ``tracked`` in videos with
        ``tracked_noise``
        (:meth:`~andi2kit.experiment_decision.ExperimentDecision.still_settings`)."""
        calls = [smooth_states(f[:, COLUMN["state"]], self.segmenter.min_dwell)
                 for f in frames]
        # the still runs only where the checkpoint uses them (the standing-still rule)
        stills = self.decision.still_settings(tracked)
        return state_evidence.fov_evidence(calls, *per_trajectory(dense), brightness,
                                           still_settings=stills)

    def _field_evidence(self, field: pd.DataFrame
                        ) -> tuple[dict[str, float], list[list[float]], dict]:
        """:meth:`fov_evidence` of every tracked particle, their segments as rows
        ``alpha, K, state, length`` (the context the experiment's pooling learns its states
        from, :meth:`context_segments`), and their label lines, positions and first frames
        (where their slow stretches lie, :mod:`andi2kit.compartments`)."""
        # on the tuning seed chal0 and the report seed chal1 the 20 experiments' states were
        # judged right 20 times from the field, 19 from the VIPs (/tmp probe of stop 27);
        # without the brightness the dimer experiments were judged confined (17)
        dense, tensor, frames = self._predict(field)
        positions, numbers = per_trajectory(dense)
        brightness = brightness_per_trajectory(field, dense, numbers)
        evidence = self.fov_evidence(dense, frames, brightness, tracked=True)
        # the partner counts of every tracked particle too: the ten VIPs' few bindings
        # judged crowded single-state and trap experiments dimerization by chance
        evidence.update(partners.partner_counts(positions, numbers, brightness,
                                                prefix="field_")[1])
        labels = self.segments(tensor, frames, uncertain_frames(field))
        context = [[round(float(a), 4), float(f"{k:.6g}"), int(st), int(n)]
                   for a, k, st, n in segment_table(labels)]
        tracks = {"labels": [lab.to_line() for lab in labels],
                  **_located(labels, positions, numbers)}
        if brightness is not None:  # a partner bound inside one spot is no track of its own
            tracks["brightness"] = {str(lab.idx): np.round(b, 3).tolist()
                                    for lab, b in zip(labels, brightness, strict=True)}
        return evidence, context, tracks

    def decide_states(self, per_fov: list[list[TrajectoryLabel]],
                      evidence: list[dict | None]) -> list[list[TrajectoryLabel]]:
        """One experiment's labels (per FOV) with only the states it holds: the first of
        :meth:`decide_experiment`'s pair."""
        return self.decide_experiment(per_fov, evidence)[0]

    def decide_experiment(self, per_fov: list[list[TrajectoryLabel]],
                          evidence: list[dict | None], tracked: bool = False
                          ) -> tuple[list[list[TrajectoryLabel]], list[list[TrajectoryLabel]]]:
        """One experiment's labels (per FOV) with only the states it holds, and the
        ensemble's basis: :class:`~andi2kit.experiment_decision.ExperimentDecision` with the
        checkpoint's settings, on all its FOVs' evidence from :meth:`predict_with_evidence`
        (positions ``tracked`` in videos for Track 1)."""
        return self.decision(per_fov, evidence, tracked)

    def denies_traps(self, evidence: list[dict | None], tracked: bool = False) -> bool:
        """Whether the places of the experiment's still runs deny the traps its state calls
        hold (:meth:`~andi2kit.experiment_decision.ExperimentDecision.denies_traps`): its
        labels are then pooled with ``at_rest=False`` and :meth:`untrapped`."""
        return self.decision.denies_traps(evidence, tracked)

    #: One denied experiment's pooled labels with no immobile state
    #: (:func:`andi2kit.experiment_decision.untrapped`).
    untrapped = staticmethod(untrapped)

    #: Every tracked particle's long segments of one experiment, for :meth:`pool`.
    context_segments = staticmethod(context_segments)

    def pool(self, labels: list[TrajectoryLabel],
             positions: list[np.ndarray] | None = None,
             context: np.ndarray | None = None, tracked: bool = False,
             at_rest: bool = True) -> list[TrajectoryLabel]:
        """Experiment-level pooling of all the experiment's trajectories (or none), the
        states learnt from them and the ``context`` segments (Track 1: every tracked
        particle's, from the evidence); with their ``positions`` (from the evidence), the α
        of slow and near-ballistic states from their pooled MSD
        (:mod:`andi2kit.pooled_msd`); then free segments whose α reaches andi-datasets'
        line are directed (:func:`andi2kit.state_mixture.directed_by_alpha`) and, with
        ``at_rest``, immobile ones get α 0 (:func:`andi2kit.state_mixture.immobile_at_rest`;
        not where :meth:`denies_traps`: those become free)."""
        pooled = list(labels) if self.pooling is None else self.pooling(labels, context)
        if positions is not None:
            pooled = self._positional_alpha(pooled, positions, tracked)
        pooled = state_mixture.directed_by_alpha(pooled)
        return state_mixture.immobile_at_rest(pooled) if at_rest else pooled

    def _positional_alpha(self, labels: list[TrajectoryLabel], positions: list[np.ndarray],
                          tracked: bool = False) -> list[TrajectoryLabel]:
        """α read off the positions where the model is biased: the pooled MSD of slow and
        near-ballistic states, then the step correlation of each trajectory's fast
        segments (:mod:`andi2kit.step_alpha`), as the settings ask. Positions ``tracked`` in
        videos (Track 1) take the step correlation alone, corrected for the tracker's error
        (``tracked_noise``), the frames it was unsure of left out
        (NaN); the pooled MSD assumes the public data's noise (on the chal0 tuning seed: α
        MAE 0.106 -> 0.108 with it on Track 1)."""
        if self.pooled_msd is not None and not tracked:
            labels = self.pooled_msd(labels, positions)
        if self.step_alpha is not None:
            # tracked positions: the tracker's own error, not the public data's noise
            step = replace(self.step_alpha, noise=self.tracked_noise) if tracked \
                else self.step_alpha
            labels = step(labels, positions)
        return labels

    def ensemble(self, labels: list[TrajectoryLabel],
                 positions: list[np.ndarray] | None = None, tracked: bool = False
                 ) -> EnsembleLabel:
        """Ensemble of the experiment's segments; with their trajectories' ``positions``,
        the α of slow and near-ballistic states from their pooled MSD first
        (:mod:`andi2kit.pooled_msd`, :mod:`andi2kit.step_alpha`); free segments whose α
        reaches andi-datasets' line count as directed
        (:func:`andi2kit.state_mixture.directed_by_alpha`), immobile ones with α 0
        (:func:`andi2kit.state_mixture.immobile_at_rest`)."""
        if positions is not None:
            labels = self._positional_alpha(labels, positions, tracked)
        # directed where α reaches the line, as the trajectories' labels: in trap and
        # confinement experiments andi-datasets weighs the states without directed frames
        labels = state_mixture.directed_by_alpha(labels)
        return ENSEMBLE_METHODS[self.ensemble_name](state_mixture.immobile_at_rest(labels))
