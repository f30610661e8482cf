"""A trap is a place (andi2kit.trap_places): traps told from where different particles stood
still, on andi-datasets' own particles."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import still_runs, trap_places

T = 200
NOISE = 0.12


def _seeded(seed: int):
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    return models_phenom()


def _noisy(xy: np.ndarray, seed: int) -> list[np.ndarray]:
    xy = xy + np.random.default_rng(seed).normal(0, NOISE, xy.shape)
    return [xy[:, i] for i in range(xy.shape[1])]


def _counts(pos: list[np.ndarray]) -> dict[str, float]:
    return trap_places.place_counts(pos, [0] * len(pos), still_runs.StillRuns())


def _slow_traps(seed: int) -> list[np.ndarray]:
    """150 slow superdiffusive movers (D 0.06 px²/frame, α 1.4) among 350 traps of radius 1.5
    px (11 % of the box) that let go after about 4 frames: the experiment the state calls and
    the still runs (moving steps under 10 times the noise's) both miss."""
    xy, _ = _seeded(seed).immobile_traps(N=150, T=T, L=150, r=1.5, Pu=0.25, Pb=0.9,
                                         Ds=[0.06, 0], alphas=[1.4, 0], Nt=350)
    return _noisy(xy, seed)


def _slow_state(seed: int) -> list[np.ndarray]:
    """The look-alike: the same movers switching to a state slower than the noise (D 3e-4)
    wherever they happen to be, as andi-datasets' multi-state model does."""
    xy, _ = _seeded(seed).multi_state(N=150, T=T, L=150, Ds=[[0.06, 0], [0.0003, 0]],
                                      alphas=[[1.4, 0], [1.0, 0]],
                                      M=[[0.95, 0.05], [0.2, 0.8]])
    return _noisy(xy, seed)


@pytest.mark.parametrize("seed", [1, 2])
def test_slow_movers_among_traps_stand_at_shared_places(seed):
    """Runs of different particles stand within 1 px of each other at least 2.5 times as
    often as their moving frames predict (measured 2.7-3.4 times, 68-92 pairs), and the
    experiment is judged to hold traps, though the still runs at their own ratio read none."""
    pos = _slow_traps(seed)
    assert not np.any(still_runs.still_masks(pos))
    c = _counts(pos)
    assert c["pairs"] >= 30 and c["pairs"] >= 2.5 * c["expected"], c
    assert trap_places.holds_traps([c])
    assert not trap_places.places_deny_traps([c])


@pytest.mark.parametrize("seed", [1, 2])
def test_a_slow_state_anywhere_is_not_traps(seed):
    """A multi-state experiment whose slow state stands as still as a trapped particle, but
    wherever it begins: its runs coincide no more than 1.5 times what the moving frames
    predict (measured 0.9-1.2), no traps are judged from the places, and the places deny
    the traps the state calls would hold."""
    c = _counts(_slow_state(seed))
    assert c["runs"] >= 200, c
    assert c["pairs"] <= 1.5 * c["expected"], c
    assert not trap_places.holds_traps([c])
    # where the state calls would hold traps, the places deny them
    assert c["expected"] >= trap_places.DENY_EXPECTED and trap_places.places_deny_traps([c])


def test_free_particles_give_no_places():
    """Single-state movers: hardly any runs, no place shared."""
    xy, _ = _seeded(5).single_state(N=150, T=T, L=150, Ds=[0.06, 0], alphas=[1.4, 0])
    c = _counts(_noisy(xy, 5))
    assert c["pairs"] <= 2 and not trap_places.holds_traps([c]), c


def test_runs_that_keep_spreading_are_not_traps():
    """Runs at shared places that do not stand still (a slow state spreading in a
    compartment) are refused by the standing share."""
    counts = {"pairs": 60, "expected": 10, "long_runs": 40, "standing_runs": 2}
    assert not trap_places.holds_traps([counts])
    assert trap_places.holds_traps([counts | {"standing_runs": 10}])
    # too few runs to tell: the places decide
    assert trap_places.holds_traps([counts | {"long_runs": 10}])


def test_runs_at_one_place_at_one_time_are_not_counted():
    """Two particles standing together at the same time (a bound pair) share no place:
    only runs apart in time count."""
    rng = np.random.default_rng(0)
    pos = []
    for _ in range(2):
        xy = np.cumsum(rng.normal(0, 1.0, (T, 2)), 0)
        xy += np.array([50.0, 50.0]) - xy[100]
        xy[100:120] = 50.0
        pos.append(xy + rng.normal(0, NOISE, xy.shape))
    c = _counts(pos)
    assert c["runs"] == 2 and c["pairs"] == 0, c


@pytest.mark.parametrize("bad", [{"radius": 0}, {"min_ratio": float("nan")},
                                 {"min_pairs": 0}, {"min_standing": 2.0},
                                 {"min_long_runs": 1.5}, {"standing_frames": 0}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="trap_places"):
        trap_places.TrapPlaces(**bad)
