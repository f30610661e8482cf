"""One experiment's states and segments, decided from all its FOVs' evidence.

andi-datasets simulates every FOV of an experiment with one model, so a state either exists in
all of them or in none (immobile only with traps, confined only in compartments, bound
partners only in dimerization). The per-FOV predictions (:mod:`andi2kit.methods.unet`) each
carry evidence (:mod:`andi2kit.state_evidence`); :class:`ExperimentDecision` reads it from
all the FOVs at once and rewrites their labels by what the experiment holds: partner change
points for dimers, still runs carved into immobile segments for traps, the slower segments
confined in compartments, and the states an experiment does not hold taken away.

The decision sits between the segmentation and the pooling: read → track → tensor → model →
segment → **decide** → pool → ensemble → write.

See Also
--------
andi2kit.state_mixture.decide : which states the stage's calls say an experiment holds.
andi2kit.trap_places.evidence_holds_traps : traps told from where particles stood still.
andi2kit.pipeline : where the decision is applied, experiment by experiment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from andi2kit import (
    bound_states,
    compartments,
    partner_cuts,
    standing,
    state_mixture,
    step_states,
    still_runs,
    trap_places,
)
from andi2kit.constants import CONFINED, FREE, IMMOBILE, TRACKED_NOISE
from andi2kit.errors import InputError
from andi2kit.labels import TrajectoryLabel
from andi2kit.standing import Standing
from andi2kit.step_alpha import PERSISTENT, field_persistence
from andi2kit.still_runs import StillRuns
from andi2kit.trap_places import TrapPlaces

__all__ = ["CONTEXT_MIN_LENGTH", "ExperimentDecision", "carvable", "context_segments", "judge"]

#: Shortest segment of a tracked particle that informs a Track 1 experiment's pooling
#: (:func:`context_segments`); shorter pieces of the field's tracks (a particle entering, a
#: track broken at an encounter) scatter most. Chosen on the Track 1 tuning seed (data/chal0,
#: α MAE of the VIPs): VIPs alone 0.1007; with every segment 0.0969, >= 20 frames 0.0976,
#: >= 50 0.0961, >= 100 0.0972, >= 150 0.0969.
CONTEXT_MIN_LENGTH = 50


def carvable(evidence: list[dict], tracked: bool) -> bool:
    """Whether an experiment's still runs may be carved (and its trap places read): always
    in Track 2; positions ``tracked`` in videos only where the experiment's particles keep
    their heading (:func:`~andi2kit.step_alpha.field_persistence` at least
    :data:`~andi2kit.step_alpha.PERSISTENT`: a near-ballistic mover's stops are plain, a
    Brownian one's blur into bridged gaps and merged spots)."""
    return not tracked or field_persistence(evidence) >= PERSISTENT


def judge(evidence: list[dict], rule: state_mixture.Decision,
          stills: StillRuns | None, places: TrapPlaces | None
          ) -> tuple[np.ndarray, bool, StillRuns | None]:
    """The states one experiment holds (:func:`andi2kit.state_mixture.decide` on its FOVs'
    ``evidence`` counts), whether it is dimerization, and the still runs to carve it with:
    where neither slow state is held and no dimers, traps whose bouts the state calls missed
    are held from where the particles stood still
    (:func:`andi2kit.trap_places.evidence_holds_traps`, with ``places``), and carved at the
    places' ratio."""
    counts = [ev["evidence"] for ev in evidence]
    held = state_mixture.decide(counts, rule)
    dimers = bound_states.is_dimerization(counts, held)
    if dimers:  # andi-datasets' dimers are free or directed (co-moving partners beat confined)
        held[CONFINED] = False
    if not (held[IMMOBILE] or held[CONFINED] or dimers) and stills is not None \
            and places is not None \
            and trap_places.evidence_holds_traps(evidence, stills, places):
        held[IMMOBILE] = True
        stills = replace(stills, min_ratio=places.min_ratio)
    return held, dimers, stills


def context_segments(evidence: list[dict | None] | None) -> np.ndarray | None:
    """Every tracked particle's segments of one experiment (Track 1, from its FOVs' evidence,
    :meth:`andi2kit.methods.unet.UNetMethod.predict_with_evidence` with a field) of at least
    :data:`CONTEXT_MIN_LENGTH` frames as ``(m, 4)`` rows ``alpha, K, state, length``, for the
    experiment's pooling; None without any.

    Examples
    --------
    >>> context_segments([{"context": [[0.5, 0.1, 2, 80], [1.0, 1.0, 2, 10]]}, None])
    array([[ 0.5,  0.1,  2. , 80. ]])
    >>> context_segments(None) is None
    True
    """
    rows = [r for ev in evidence or [] for r in (ev or {}).get("context", [])]
    if not rows:
        return None
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    rows = rows[rows[:, 3] >= CONTEXT_MIN_LENGTH]
    return rows if len(rows) else None


def _earlier(labels: list[TrajectoryLabel]) -> list[TrajectoryLabel]:
    """Every change point one frame earlier: andi-datasets labels multi-state and
    confinement by the step out of a frame, the segmentation finds the step into it."""
    return [replace(lab, cp=np.asarray(lab.cp, int) - 1) if len(lab.cp) else lab
            for lab in labels]


def untrapped(labels: list[TrajectoryLabel]) -> list[TrajectoryLabel]:
    """One experiment's pooled labels with the immobile state taken away, for an experiment
    whose places deny the traps its state calls hold
    (:meth:`ExperimentDecision.denies_traps`): its immobile segments become free, their
    cuts and K as the trap path made them and their α as the pooling left it (the pipeline
    pools such an experiment without setting immobile segments to α 0:
    :meth:`andi2kit.methods.unet.UNetMethod.pool`, ``at_rest``), and every change point one
    frame earlier, on the labels' convention of the models without traps or dimers, as
    :meth:`ExperimentDecision.__call__` places them (an experiment that holds immobile
    frames is never judged dimerization; docs/results-log.md, *Traps denied by their
    places*).

    Applied after the pooling (:meth:`andi2kit.methods.unet.UNetMethod.untrapped`).

    Examples
    --------
    >>> lab = TrajectoryLabel(0, [0.5, 0.002], [1.0, 0.4], [FREE, IMMOBILE], [80], 200)
    >>> out = untrapped([lab])[0]
    >>> out.state.tolist(), out.alpha.tolist(), out.cp.tolist()
    ([2, 2], [1.0, 0.4], [79])
    """
    return _earlier([replace(lab, state=np.where(np.asarray(lab.state) == IMMOBILE, FREE,
                                                 np.asarray(lab.state)))
                     if np.any(np.asarray(lab.state) == IMMOBILE) else lab
                     for lab in labels])


def _restate(labels: list[TrajectoryLabel], probs: list[np.ndarray], held: np.ndarray,
             late: bool) -> list[TrajectoryLabel]:
    if late:
        labels = _earlier(labels)
    if any(p.shape != (len(lab.state), 4) for p, lab in zip(probs, labels, strict=True)):
        raise InputError("state evidence does not describe the segments beside it")
    return state_mixture.restate(labels, probs, held)


@dataclass(frozen=True)
class ExperimentDecision:
    """The experiment-level decision with a checkpoint's settings (``segmentation.json``).

    Parameters
    ----------
    still_runs : andi2kit.still_runs.StillRuns or None
        Still runs carved into immobile segments where traps are held (None: never; the
        standing-still rules of :class:`~andi2kit.state_mixture.Decision` are off too).
    standing : andi2kit.standing.Standing or None
        Segments standing at the noise made immobile in carved experiments.
    places : andi2kit.trap_places.TrapPlaces or None
        Traps told from where different particles stood still.
    tracked_noise : float
        Localisation error (px per axis) of positions tracked in videos (Track 1).
    state_prior_frames : float
        Weight, in frames, of the pull of a dimerization experiment's cut segments' α
        towards their step state's mean (:func:`andi2kit.step_states.pulled_to_states`;
        the step states' own :attr:`~andi2kit.step_states.StepStates.prior_frames`; 0: none;
        Tracks 1 and 2).

    Examples
    --------
    >>> decision = ExperimentDecision()
    >>> decision.still_settings(tracked=True) is None
    True
    """

    still_runs: StillRuns | None = None
    standing: Standing | None = None
    places: TrapPlaces | None = None
    tracked_noise: float = TRACKED_NOISE
    state_prior_frames: float = 0.0

    @classmethod
    def from_settings(cls, settings: Mapping, tracked_noise: float = TRACKED_NOISE
                      ) -> ExperimentDecision:
        """The decision of a checkpoint's ``segmentation.json`` (its ``still_runs``,
        ``standing`` and ``trap_places``, each None where absent; the ``step_states``'
        ``prior_frames``, 0 where absent).

        Raises
        ------
        ValueError, TypeError
            On settings the classes refuse.
        """
        def made(kind: type, key: str):
            value = settings.get(key)
            return kind(**value) if value is not None else None

        steps = made(step_states.StepStates, "step_states")
        return cls(made(StillRuns, "still_runs"), made(Standing, "standing"),
                   made(TrapPlaces, "trap_places"), tracked_noise,
                   float(steps.prior_frames) if steps is not None else 0.0)

    def still_settings(self, tracked: bool = False) -> StillRuns | None:
        """The still runs (None without), for positions ``tracked`` in videos with
        ``tracked_noise``: a still step spreads by the positions' error."""
        if self.still_runs is None or not tracked:
            return self.still_runs
        return replace(self.still_runs, noise=self.tracked_noise)

    @property
    def rule(self) -> state_mixture.Decision:
        """The state decision's thresholds; the standing-still rules need the still runs."""
        return state_mixture.Decision() if self.still_runs is not None else \
            state_mixture.Decision().without_standing()

    def denies_traps(self, evidence: list[dict | None], tracked: bool = False) -> bool:
        """Whether the state calls of one experiment hold traps that the places deny
        (:func:`andi2kit.trap_places.places_deny_traps`: the still runs stand where no other
        particle stood, as a multi-state's slow state does): its labels are then
        :func:`untrapped` after the pooling. Track 2 only (``tracked``: False); False
        without still runs, trap places or evidence."""
        if tracked or self.still_runs is None or self.places is None \
                or not evidence or any(ev is None for ev in evidence):
            return False
        # the state calls alone: traps :func:`judge` holds from their places the places
        # cannot deny, and their counts need not be read twice
        held = state_mixture.decide([ev["evidence"] for ev in evidence], self.rule)
        return bool(held[IMMOBILE]) and bool(trap_places.places_deny_traps(
            trap_places.evidence_counts(evidence, self.still_runs, self.places), self.places))

    def judged(self, evidence: list[dict], tracked: bool = False,
               may_carve: bool | None = None
               ) -> tuple[np.ndarray, bool, StillRuns | None]:
        """:func:`judge` with these settings: the still runs for positions ``tracked`` in
        videos, the trap places only where the experiment may be carved (:func:`carvable`,
        computed unless given as ``may_carve``)."""
        if may_carve is None:
            may_carve = carvable(evidence, tracked)
        return judge(evidence, self.rule, self.still_settings(tracked),
                     self.places if may_carve else None)

    def __call__(self, per_fov: list[list[TrajectoryLabel]], evidence: list[dict | None],
                 tracked: bool = False
                 ) -> tuple[list[list[TrajectoryLabel]], list[list[TrajectoryLabel]]]:
        """One experiment's labels (per FOV) with only the states it holds
        (:func:`judge` on all its FOVs' evidence; unchanged when a FOV has no evidence), and
        by what it holds:

        * judged dimerization (:func:`andi2kit.bound_states.is_dimerization`): cut at the
          partner change points (:func:`andi2kit.partner_cuts.choose_segments`), the cut
          segments' α pulled towards their step state's where the FOVs' steps hold states
          (:func:`andi2kit.step_states.pulled_to_states`, ``state_prior_frames``; Track 1,
          whose steps get no model: the two states of the segments' K,
          :func:`andi2kit.step_states.two_state_K`);
        * neither traps nor dimers: change points one frame earlier (andi-datasets labels
          those models by the step out of a frame, the segmentation finds the step into
          it), and where it holds no compartments either, cut where the FOV's step states
          change (:func:`andi2kit.step_states.step_segments`) and at the short bouts the
          steps show, each where the checkpoint's settings ask for it
          (:func:`andi2kit.bouts.bout_segments`); its slower segments confined and the
          faster free where they are compartments
          (:func:`andi2kit.compartments.confined_where_slow`);
        * traps (not dimers), where the settings ask for it: each trajectory's still runs
          become immobile segments (:func:`andi2kit.still_runs.carve`), where
          :func:`carvable`.

        Returns the labels and the ensemble's basis: the same decision on the model's own
        segments, never cut at partner change points (a dimer's many short bound segments
        would weigh its bound state too much).
        """
        if not evidence or any(ev is None for ev in evidence):
            same = [list(labels) for labels in per_fov]
            return same, same
        counts = [ev["evidence"] for ev in evidence]
        rule = self.rule
        may_carve = carvable(evidence, tracked)
        held, dimers, stills = self.judged(evidence, tracked, may_carve)
        # the change points sit where the steps change (the step into a frame); andi-datasets
        # labels traps and dimers by that step, the other models by the step out of a frame
        late = not held[IMMOBILE] and not dimers
        carve = held[IMMOBILE] and not dimers and may_carve
        carving = still_runs.experiment_masks(
            per_fov, evidence, counts, stills, rule.min_standing_runs, rule.min_standing) \
            if carve and stills is not None else None
        out: list[list[TrajectoryLabel]] = []
        basis: list[list[TrajectoryLabel]] = []
        for f, (labels, ev) in enumerate(zip(per_fov, evidence, strict=True)):
            probs = [np.asarray(ev["probabilities"].get(str(lab.idx), []), float)
                     for lab in labels]
            if late and not held[CONFINED]:  # no traps, dimers nor compartments
                labels, probs = partner_cuts.choose_segments(labels, probs,
                                                             ev.get("step_states", {}))
                labels, probs = partner_cuts.choose_segments(labels, probs, ev.get("bouts", {}))
            own = _restate(labels, probs, held, late)
            if carving is not None:
                own = still_runs.carve(own, carving[0][f], stills, carving[1][f])
            basis.append(own)
            if dimers:
                out.append(_restate(*partner_cuts.choose_segments(
                    labels, probs, ev.get("partner", {})), held, late))
            else:
                out.append(own)
        if dimers and self.state_prior_frames > 0:
            state_K = step_states.experiment_state_K(evidence)
            if state_K is None and not any(ev.get("step_model") for ev in evidence):
                state_K = step_states.two_state_K(out)  # Track 1: its steps get no model
            if state_K is not None:
                out = step_states.pulled_to_states(out, state_K, self.state_prior_frames)
        if carving is not None and self.standing is not None:
            # traps, and the still runs' guards passed: segments at the noise are trapped
            # also where the motion is too slow for the still runs to be read (positions as
            # the still runs parsed them, per FOV in the order of the labels)
            out = standing.immobile_where_standing(out, carving[0], stills.noise,
                                                   self.standing, rule.min_entries,
                                                   rule.max_exits)
            basis = out
        if not held[IMMOBILE] and not dimers:
            # compartments hold the slower state: the split in K tells inside from outside
            basis = compartments.confined_where_slow(
                basis, evidence, context_segments(evidence), held[CONFINED],
                rule.max_partnered)
            out = basis
        return out, basis
