"""A trap is a place: traps told from the places where different particles stood still.

andi-datasets draws an experiment's traps once per FOV, at fixed positions
(``models_phenom.immobile_traps``), and holds a particle caught by one exactly where it was
caught, within the trap's radius of its centre. Particles that are caught one after another by
the same trap therefore stand still at nearly the same place; the slow stretches of the other
models lie wherever their particles happened to be (a multi-state's slow state, a dimer's
bound pair, which stands beside its partner at the same time). Where the movers are slow (D of
a few hundredths of px²/frame), the per-frame stage calls their short trapping bouts free, the
still runs of :mod:`andi2kit.still_runs` are not read (the moving steps stand less than
``min_ratio`` 10 times above the noise) and the experiment is judged to hold no traps at all;
the places still show them.

:func:`place_counts` decodes every trajectory of a FOV with the still runs at a lower ratio
(:class:`TrapPlaces` ``min_ratio``) and counts the pairs of runs of different particles, not
overlapping in time, centred within ``radius`` px of each other, against the pairs the other
particle's *moving* frames predict around each run (so that particles crowding one region, or a
compartment, count as much when moving as when still); and how many of the runs of at least
``standing_frames`` stand still (:func:`andi2kit.still_runs.standing_counts`: a trapped particle
scatters by the noise alone, one moving in a compartment as small as a trap keeps spreading).
:func:`holds_traps` judges an experiment from all its FOVs, and :func:`places_deny_traps`
the other way: an experiment whose state calls hold traps but whose still runs stand where no
other particle stood holds a slow state, not traps.

See Also
--------
andi2kit.state_mixture.decide : the decision from the state calls, which this one extends.
andi2kit.still_runs.carve : the runs made immobile segments once traps are held.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from andi2kit.still_runs import StillRuns, runs, standing_counts, still_frames

logger = logging.getLogger(__name__)

#: Counts of :func:`place_counts`, summed over an experiment's FOVs by :func:`holds_traps`.
PLACE_COUNTS = ("runs", "pairs", "expected", "long_runs", "standing_runs")
#: Fewest pairs of runs at one place the moving frames must predict for the places to deny
#: traps (:func:`places_deny_traps`); the challenge seeds' trap experiments predict < 1.
DENY_EXPECTED = 5.0


@dataclass(frozen=True)
class TrapPlaces:
    """Settings of :func:`place_counts` and :func:`holds_traps`.

    Attributes
    ----------
    min_ratio : float
        The still runs' ``min_ratio`` for the places: trajectories whose moving steps stand
        at least this many times above the noise's variance are decoded.
    radius : float
        Two runs centred within this many px stand at one place.
    min_pairs : int
        Fewest pairs of runs at one place (each counted from both runs) for traps.
    min_excess : float
        Fewest pairs at one place per pair the moving frames predict.
    standing_frames : int
        Runs at least this long are judged on whether they stand still.
    min_standing : float
        Smallest share of those runs that stand still (where there are at least
        ``min_long_runs``). Read off the seen suites (``tests/benchmarks/trap_places.py``):
        0.25–0.47 in the trap experiments of slow movers the state calls missed, 0.03–0.17
        in confinement experiments whose runs meet at one place (compartments of radius
        2–11 px).
    min_long_runs : int
        Fewest runs of ``standing_frames`` for ``min_standing`` to be applied.
    """

    min_ratio: float = 3.0
    radius: float = 1.0
    min_pairs: int = 6
    min_excess: float = 2.0
    standing_frames: int = 4
    min_standing: float = 0.2
    min_long_runs: int = 15

    def __post_init__(self) -> None:
        for name in ("min_ratio", "radius", "min_excess"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) \
                    or v <= 0:
                raise ValueError(f"trap_places {name} must be a finite number > 0, got {v!r}")
        if not (isinstance(self.min_standing, int | float) and 0 <= self.min_standing <= 1):
            raise ValueError(f"trap_places min_standing must be within [0, 1], got "
                             f"{self.min_standing!r}")
        for name in ("min_pairs", "min_long_runs", "standing_frames"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"trap_places {name} must be an integer >= 1, got {v!r}")


def settings_dict(settings: TrapPlaces) -> dict:
    """The settings as recorded in a run's provenance."""
    return asdict(settings)


def place_counts(positions: Sequence[np.ndarray], starts: Sequence[int],
                 stills: StillRuns, settings: TrapPlaces = TrapPlaces()) -> dict[str, float]:
    """One FOV's counts of still runs at one place (:data:`PLACE_COUNTS`).

    Parameters
    ----------
    positions : sequence of numpy.ndarray
        Every trajectory's ``(T_i, 2)`` positions.
    starts : sequence of int
        Their first frames.
    stills : StillRuns
        The still runs' settings (the noise); decoded at ``settings.min_ratio``.
    settings : TrapPlaces

    Returns
    -------
    dict
        ``runs``: still runs; ``pairs``: ordered pairs of runs of different trajectories,
        apart in time, centred within ``settings.radius``; ``expected``: the pairs the other
        trajectories' moving frames predict; ``long_runs`` and ``standing_runs``: runs of
        ``settings.standing_frames`` and those standing still
        (:func:`andi2kit.still_runs.standing_counts`).

    Examples
    --------
    Ten particles caught in turn by one trap at (50, 50) for 8 frames each, moving around it
    otherwise:

    >>> rng = np.random.default_rng(3)
    >>> xys = []
    >>> for k in range(10):
    ...     xy = np.cumsum(rng.normal(0, 1.0, (100, 2)), 0)
    ...     xy += np.array([50.0, 50.0]) - xy[10 * k]
    ...     xy[10 * k:10 * k + 8] = 50.0
    ...     xys.append(xy + rng.normal(0, 0.12, xy.shape))
    >>> c = place_counts(xys, [0] * 10, StillRuns())
    >>> c["runs"], c["pairs"], c["pairs"] > 10 * c["expected"]
    (10.0, 90.0, True)
    """
    decode = replace(stills, min_ratio=settings.min_ratio)
    centres, owner, first, last = [], [], [], []
    moving: list[np.ndarray] = []
    long_runs = standing = 0
    for k, (xy, t0) in enumerate(zip(positions, starts, strict=True)):
        xy = np.asarray(xy, float).reshape(-1, 2)
        still = still_frames(xy, decode)
        n_long, n_standing = standing_counts(xy, still, decode, settings.standing_frames)
        long_runs += n_long
        standing += n_standing
        ok = np.isfinite(xy).all(axis=1)
        moving.append(xy[~still & ok])
        for a, b in runs(still):
            p = xy[a:b][ok[a:b]]
            if len(p):
                centres.append(p.mean(axis=0))
                owner.append(k)
                first.append(int(t0) + a)
                last.append(int(t0) + b - 1)
    out = dict.fromkeys(PLACE_COUNTS, 0.0)
    out.update(runs=float(len(centres)), long_runs=float(long_runs),
               standing_runs=float(standing))
    if len(centres) < 2:
        return out
    centres = np.asarray(centres)
    owner, first, last = np.asarray(owner), np.asarray(first), np.asarray(last)
    sizes = np.array([len(m) for m in moving])
    points = np.concatenate([m for m in moving if len(m)]) if sizes.any() else np.zeros((0, 2))
    point_owner = np.repeat(np.arange(len(moving)), sizes)
    r2 = settings.radius ** 2
    pairs = expected = 0.0
    for i in range(len(centres)):
        other = (owner != owner[i]) & ((last < first[i]) | (first > last[i]))
        near = np.sum((centres[other] - centres[i]) ** 2, axis=1) < r2
        pairs += near.sum()
        # the pairs the other particles' moving frames predict: each of their runs
        # apart in time, at the share of their moving frames that pass within the radius
        runs_of = np.bincount(owner[other], minlength=len(moving))
        close = np.sum((points - centres[i]) ** 2, axis=1) < r2
        passing = np.bincount(point_owner[close], minlength=len(moving))
        expected += float(np.sum(runs_of * passing / np.maximum(sizes, 1)))
    out.update(pairs=float(pairs), expected=expected)
    return out


def holds_traps(counts: Sequence[dict[str, float]], settings: TrapPlaces = TrapPlaces()
                ) -> bool:
    """Whether an experiment's FOVs' :func:`place_counts` say it holds traps: at least
    ``min_pairs`` pairs of runs at one place, ``min_excess`` times the pairs the moving
    frames predict, and (with at least ``min_long_runs`` runs of ``standing_frames``)
    ``min_standing`` of those runs standing still.

    Examples
    --------
    >>> holds_traps([{"pairs": 10, "expected": 3.5, "long_runs": 183, "standing_runs": 65}])
    True
    >>> holds_traps([{"pairs": 62, "expected": 18.5, "long_runs": 52, "standing_runs": 3}])
    False
    """
    total = {k: sum(float(c.get(k, 0.0)) for c in counts) for k in PLACE_COUNTS}
    if total["pairs"] < settings.min_pairs \
            or total["pairs"] < settings.min_excess * total["expected"]:
        return False
    if total["long_runs"] >= settings.min_long_runs \
            and total["standing_runs"] < settings.min_standing * total["long_runs"]:
        return False
    logger.debug("traps from their places: %s", total)
    return True


def places_deny_traps(counts: Sequence[dict[str, float]], settings: TrapPlaces = TrapPlaces()
                      ) -> bool:
    """Whether an experiment's FOVs' :func:`place_counts` say it holds no traps: the moving
    frames predict at least :data:`DENY_EXPECTED` pairs of runs at one place, and fewer than
    ``min_excess`` times as many stand there (a multi-state's slow state stands still
    wherever it begins; a trap holds one particle after another at one place).

    Examples
    --------
    >>> places_deny_traps([{"pairs": 556, "expected": 595.9}])
    True
    >>> places_deny_traps([{"pairs": 168, "expected": 72.5}])
    False
    >>> places_deny_traps([{"pairs": 2, "expected": 0.5}])  # too few to say
    False
    """
    total = {k: sum(float(c.get(k, 0.0)) for c in counts) for k in PLACE_COUNTS}
    return total["expected"] >= DENY_EXPECTED \
        and total["pairs"] < settings.min_excess * total["expected"]


def evidence_counts(evidence: Sequence[dict], stills: StillRuns,
                    settings: TrapPlaces = TrapPlaces()) -> list[dict[str, float]]:
    """:func:`place_counts` of each of an experiment's FOVs, on the positions and first
    frames of every trajectory as their state evidence carries them (``positions``,
    ``starts``)."""
    counts = []
    for ev in evidence:
        xys = {k: np.asarray(v, float).reshape(-1, 2)
               for k, v in ev.get("positions", {}).items()}
        starts = [int(ev.get("starts", {}).get(k, 0)) for k in xys]
        counts.append(place_counts(list(xys.values()), starts, stills, settings))
    return counts


def evidence_holds_traps(evidence: Sequence[dict], stills: StillRuns,
                         settings: TrapPlaces = TrapPlaces()) -> bool:
    """:func:`holds_traps` on :func:`evidence_counts`."""
    return holds_traps(evidence_counts(evidence, stills, settings), settings)
