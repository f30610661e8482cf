"""Track 2's judgement of dimerization: a dimer's bound state is a state of bound frames,
beyond the chance of standing by a neighbour."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit import bound_runs, bound_states, partners
from andi2kit.step_hmm import fit_states, step_squares

T = 200
NOT_HELD = np.array([False, False, True, True])


def _simulate(model: str, seed: int, **kw) -> list[np.ndarray]:
    """Positions (0.12 px noise) of one andi-datasets phenomenological model's particles."""
    import stochastic
    from andi_datasets.models_phenom import models_phenom

    np.random.seed(seed)  # noqa: NPY002 - andi-datasets draws from numpy's global generator
    stochastic.random.seed(seed)
    xy = getattr(models_phenom(), model)(T=T, **kw)[0]
    xy = xy + np.random.default_rng(seed).normal(0, 0.12, xy.shape)
    return [xy[:, i] for i in range(xy.shape[1])]


def _evidence(pos: list[np.ndarray]) -> dict[str, float]:
    """A FOV's Track 2 evidence of its bound runs: the bindings' counts and the states'."""
    frames = [np.arange(T)] * len(pos)
    runs, moving = bound_runs.runs_and_counts(pos, frames, partners.bound_frames(pos, frames))
    return partners.run_counts(pos, runs, prefix="pair_") \
        | bound_states.state_counts(pos, frames, runs) | moving


@pytest.mark.parametrize("free, bound", [(1.0, 0.05), (0.02, 0.5)])
def test_a_dimers_bound_state_is_bound_beyond_chance(free, bound):
    """Dimers that move slower bound, and faster: nearly every frame of the bound state is a
    bound frame, whichever state it is."""
    alphas = [[1, 0], [0.8, 0]] if free > bound else [[0.8, 0], [1.2, 0]]
    ev = _evidence(_simulate("dimerization", 1, N=60, L=80, r=0.6, Pu=0.05, Pb=1,
                             Ds=[[free, 0], [bound, 0]], alphas=alphas))
    excess, share, frames = bound_states.bound_state_excess([ev])
    # measured: share 0.979 and 0.974, excess 0.974 and 0.970, over 3922 and 1522 bound frames
    assert share > 0.9 and excess > 0.85 and frames > 1000
    assert bound_states.is_dimerization([ev], NOT_HELD)
    assert not bound_states.is_dimerization([ev], np.array([True, False, True, True]))


def test_slow_particles_side_by_side_in_a_crowd_are_not_dimers():
    """A multi-state field four times denser than the challenge's densest, with a slow state
    below the noise: two slow particles side by side keep the vector between them as a bound
    pair does, and half of the slow state's frames are "bound" — about as often as a frame
    of the fast state stands by a neighbour."""
    ev = _evidence(_simulate("multi_state", 1, N=150, L=50, M=[[0.98, 0.02], [0.02, 0.98]],
                             Ds=[[0.002, 0], [0.5, 0]], alphas=[[1, 0], [1, 0]],
                             return_state_num=True))
    excess, share, _ = bound_states.bound_state_excess([ev])
    # measured: share 0.583, chance 0.794 (the fast state's frames within 3 px of another),
    # excess -1.02
    assert share > bound_states.BOUND_STATE_EXCESS > excess
    assert not bound_states.is_dimerization([ev], NOT_HELD)


def test_evidence_without_the_state_counts_is_judged_by_the_bindings():
    """Track 1, and evidence written before the state counts: the bindings' counts judge."""
    ev = {"frames": 1000.0, "bound": 120.0, "bindings": 20.0, "changed": 18.0}
    assert bound_states.bound_state_excess([ev]) is None
    assert bound_states.is_dimerization([ev], NOT_HELD) == partners.is_dimerization(
        [ev], NOT_HELD) is True
    assert not bound_states.is_dimerization([ev | {"changed": 10.0}], NOT_HELD)


def test_a_few_jumps_do_not_break_the_step_model():
    """Steps of tens of px (two particles' paths joined) leave no state possible under a
    Gaussian of either variance; the model stays finite, and with the largest steps clipped
    the two states are the particles' own."""
    rng = np.random.default_rng(0)
    slow = rng.normal(0, 0.17, (40, T - 1, 2))
    fast = rng.normal(0, 1.0, (40, T - 1, 2))
    fast[:, 100] += 50.0
    steps = [np.r_[[[np.nan, np.nan]], s] for s in np.concatenate([slow, fast])]
    d2, lengths = step_squares(steps, whiten=False)
    assert np.isfinite(fit_states(d2, lengths, 2, 2 * 0.12**2, 40).log_likelihood)
    clipped = np.minimum(d2, np.nanpercentile(d2, bound_states.CLIP_PERCENTILE))
    model = fit_states(clipped, lengths, 2, 2 * 0.12**2, 40)
    assert np.allclose(model.variance, [0.17**2, 1.0], rtol=0.1)


def test_the_bindings_counts_still_judge_where_the_step_states_are_not_free_and_bound():
    """Free particles whose K scatter tenfold between particles: the FOV's two step states
    split fast free particles from the rest, so the bound state's excess stays low, while the
    pair model's bindings still change the motion (scattered 9 exp 2: excess 0.03, 277
    bindings, 0.88 changed): either judgement suffices."""
    ev = {"frames": 65712.0, "pair_bound": 4198.0, "pair_partner_frames": 65712.0,
          "pair_bindings": 277.0, "pair_changed": 243.0,
          "pair_slow_frames": 19632.0, "pair_slow_bound": 3878.0, "pair_slow_close": 6991.0,
          "pair_fast_frames": 45659.0, "pair_fast_bound": 308.0, "pair_fast_close": 7990.0}
    assert bound_states.bound_state_excess([ev])[0] < 0.1
    assert partners.is_dimerization([ev], NOT_HELD)
    assert bound_states.is_dimerization([ev], NOT_HELD)
    assert not bound_states.is_dimerization([ev | {"pair_changed": 150.0}], NOT_HELD)


def test_partners_that_take_the_same_steps_are_dimers_whatever_the_free_K():
    """andi-datasets dimers whose free particles' K scatter tenfold between particles (the
    FOV's two step states are then fast free particles and the rest: no excess) and whose
    bound pairs move faster: the partners' steps correlate over their bound steps, which no
    two independent particles do — judged, even beside a held confined state, not beside a
    held immobile one; a multi-state field of the same K's bound runs do not correlate."""
    dimers = _simulate("dimerization", 4, N=80, L=80, r=0.6, Pu=0.05, Pb=1,
                       Ds=[[0.02, 0.02**2 * 10], [0.3, 0]], alphas=[[0.8, 0], [1.2, 0]])
    ev = _evidence(dimers)
    # measured: excess 0.37, 0.73 of 82 bindings changed: neither judges it
    excess = bound_states.bound_state_excess([ev])[0]
    assert excess < bound_states.BOUND_STATE_EXCESS and not partners.is_dimerization([ev], NOT_HELD)
    # measured: 0.948 over 2028 bound steps; the multi-state field below 0.088 over 3727
    rho, steps = bound_runs.step_correlation([ev])
    assert rho >= bound_states.CO_MOVING and steps >= bound_states.MIN_CO_MOVING_STEPS
    assert bound_states.is_dimerization([ev], np.array([False, True, True, True]))
    assert not bound_states.is_dimerization([ev], np.array([True, False, True, True]))
    crowd = _evidence(_simulate("multi_state", 4, N=150, L=50, M=[[0.95, 0.05], [0.05, 0.95]],
                                Ds=[[0.02, 0], [0.3, 0]], alphas=[[0.8, 0], [1.2, 0]],
                                return_state_num=True))
    rho_crowd, steps_crowd = bound_runs.step_correlation([crowd])
    assert steps_crowd >= bound_states.MIN_CO_MOVING_STEPS and rho_crowd < 0.3
    assert not bound_states.is_dimerization([crowd], NOT_HELD)
