"""Experiment-level pooling on synthetic segments with known states and known errors."""

from __future__ import annotations

import numpy as np
import pytest

from andi2kit.labels import TrajectoryLabel
from andi2kit.pooling import Pooling, SegmentErrorModel, gate_states, pool_experiment

ERR = SegmentErrorModel(0.005, 0.5, 0.002, 0.4)


def _experiment(rng, n=400, states=((0.5, 0.01), (1.5, 1.0)), spread=(0.03, 0.05), err=ERR):
    """One-segment trajectories from two narrow states; estimates with the model's error."""
    true, pred = [], []
    for i in range(n):
        s = i % 2
        a = states[s][0] + rng.normal(0, spread[0])
        logk = np.log10(states[s][1]) + rng.normal(0, spread[1])
        length = int(rng.integers(20, 200))
        va, vk = err.variance(np.array([length]))
        true.append(TrajectoryLabel(i, 10 ** logk, a, 2, T=length))
        pred.append(TrajectoryLabel(i, 10 ** (logk + rng.normal(0, np.sqrt(vk[0]))),
                                    a + rng.normal(0, np.sqrt(va[0])), 2, T=length))
    return true, pred


def _errors(labels, true) -> tuple[float, float]:
    """Mean absolute errors of one-segment labels' α and log10 K against the truth."""
    a = np.array([p.alpha[0] - t.alpha[0] for p, t in zip(labels, true, strict=True)])
    k = np.log10([p.K[0] / t.K[0] for p, t in zip(labels, true, strict=True)])
    return float(np.mean(np.abs(a))), float(np.mean(np.abs(k)))


def test_pooling_shrinks_errors_of_narrow_states():
    rng = np.random.default_rng(0)
    true, pred = _experiment(rng)
    pooled = pool_experiment(pred, ERR)
    (raw_a, raw_k), (pool_a, pool_k) = _errors(pred, true), _errors(pooled, true)
    assert pool_a < 0.6 * raw_a
    assert pool_k < 0.7 * raw_k
    # change points, states and lengths untouched
    assert [p.T for p in pooled] == [p.T for p in pred]
    assert all(np.array_equal(p.state, q.state) for p, q in zip(pooled, pred, strict=True))


def test_long_segments_of_a_broad_state_barely_move():
    rng = np.random.default_rng(1)
    err = SegmentErrorModel(0.001, 0.1, 0.001, 0.1)
    # one broad state: the spread dwarfs the error, so the estimates are kept
    labels = [TrajectoryLabel(i, 10 ** rng.normal(0, 0.8), rng.uniform(0.2, 1.8), 2, T=200)
              for i in range(300)]
    pooled = pool_experiment(labels, err, max_states=1)
    moved = np.abs(np.array([p.alpha[0] - q.alpha[0] for p, q in zip(pooled, labels,
                                                                         strict=True)]))
    assert np.median(moved) < 0.01


def test_error_model_fit_recovers_coefficients():
    rng = np.random.default_rng(2)
    truth = SegmentErrorModel(0.01, 1.0, 0.004, 0.5)
    true, pred = _experiment(rng, n=3000, err=truth)
    fit = SegmentErrorModel.fit(pred, true)
    assert fit.b_alpha == pytest.approx(truth.b_alpha, rel=0.25)
    assert fit.a_alpha == pytest.approx(truth.a_alpha, abs=0.006)
    assert fit.b_logk == pytest.approx(truth.b_logk, rel=0.25)
    with pytest.raises(ValueError, match="too few"):
        SegmentErrorModel.fit(pred[:3], true[:3])


def test_pooling_settings_round_trip_and_call():
    rng = np.random.default_rng(4)
    _, pred = _experiment(rng, n=100)
    pool = Pooling(ERR, max_states=2, min_spread=0.05)
    again = Pooling.from_dict(pool.to_dict())
    assert again == pool
    a = [lab.alpha[0] for lab in pool(pred)]
    b = [lab.alpha[0] for lab in pool_experiment(pred, ERR, 2, 0.05)]
    assert np.allclose(a, b)


def _segmented(rng, n, states, p):
    """Two-segment trajectories whose states are drawn with probabilities ``p``."""
    labs = []
    for i in range(n):
        cp = int(rng.integers(20, 180))
        st = rng.choice(states, size=2, p=p)
        labs.append(TrajectoryLabel(i, [0.5, 0.5], [1.0, 1.0], st.tolist(), [cp], 200))
    return labs


def test_a_state_rare_in_the_experiment_is_never_called():
    rng = np.random.default_rng(3)
    labs = _segmented(rng, 300, [1, 2], [0.01, 0.99])  # a few false "confined" segments
    assert any(1 in lab.state for lab in labs)
    gated = gate_states(labs, min_share=0.02)
    assert all(set(lab.state) == {2} for lab in gated)
    assert [lab.cp for lab in gated] == [lab.cp for lab in labs]
    assert all(np.array_equal(a.alpha, b.alpha) for a, b in zip(gated, labs, strict=True))
    # a state that is really there stays, and 0 switches the gate off
    mixed = _segmented(rng, 300, [1, 2], [0.3, 0.7])
    assert [list(lab.state) for lab in gate_states(mixed, 0.02)] == \
        [list(lab.state) for lab in mixed]
    assert gate_states(labs, 0.0) == list(labs)


def test_pooling_settings_carry_the_gate():
    pool = Pooling(ERR, 3, 0.05, min_state_share=0.02)
    back = Pooling.from_dict(pool.to_dict())
    assert back == pool
    assert Pooling.from_dict({"error": ERR.to_dict()}).min_state_share == 0.0
    labs = _segmented(np.random.default_rng(4), 200, [0, 2], [0.005, 0.995])
    assert all(0 not in lab.state for lab in pool(labs))


@pytest.mark.parametrize("seed", range(3))
def test_few_vips_learn_their_states_from_the_other_particles(seed):
    # Track 1: 30 VIP segments per experiment, 400 other tracked particles' segments
    rng = np.random.default_rng(10 + seed)
    true, pred = _experiment(rng, n=430)
    vips, vip_true = pred[:30], true[:30]
    context = np.array([[p.alpha[0], p.K[0], 2, p.T] for p in pred[30:]])
    alone = _errors(pool_experiment(vips, ERR), vip_true)
    helped = _errors(pool_experiment(vips, ERR, context=context), vip_true)
    assert helped[0] < 0.8 * alone[0] and helped[1] < alone[1]
    # the context's own segments are not returned, the VIPs' structure is kept
    out = pool_experiment(vips, ERR, context=context)
    assert [p.idx for p in out] == [p.idx for p in vips]
    assert [p.T for p in out] == [p.T for p in vips]


def test_an_empty_context_changes_nothing():
    rng = np.random.default_rng(4)
    _, pred = _experiment(rng, n=60)
    a = [p.alpha.tolist() for p in pool_experiment(pred, ERR)]
    b = [p.alpha.tolist() for p in pool_experiment(pred, ERR, context=np.zeros((0, 4)))]
    assert a == b
