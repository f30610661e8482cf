"""Wide priors: random experiment definitions well beyond the challenge's defaults.

The ``wide`` preset (:data:`andi2kit.simulation.presets.PRESETS`) draws every experiment's
parameters from these priors under the run's seed, to check that the pipeline does not only
work on experiments like the challenge's (``_get_dic_andi2``: D_fast ≈ 1, D_slow/D_fast
0.01–0.1, α 0.2–1.5, dwell times of about 100 frames, 300 traps of radius 0.4, 30
compartments of radius 5). Nothing here was chosen by looking at a benchmark definition or a
score. Units: px and frames (D in px²/frame, the challenge's).

========================  ===================================================================
parameter                 prior
========================  ===================================================================
D of the (only / fast)    log-uniform 0.05–3 px²/frame
state
D_slow / D_fast           log-uniform 0.005–0.3 (multi-state, dimerization, confinement)
D variance                D² · log-uniform 1e-4–0.05 (relative spread 1–22 %)
α of every state          uniform 0.2–1.9, independently per state; variance uniform
                          0.0005–0.02
multi-state               2 states (3 with probability 1/3); each state's mean dwell time
                          log-uniform 5–300 frames (M_ii = 1 - 1/dwell), leaving it to the
                          other states in equal shares
immobile traps            radius log-uniform 0.2–2 px; 50–1500 traps in the 230.4 px box
                          (log-uniform, density 0.001–0.03 px⁻²); Pb uniform 0.2–1; Pu
                          log-uniform 0.005–0.3 (trapped for 3–200 frames)
dimerization              radius log-uniform 0.3–1.5 px; N 100–250 particles (log-uniform);
                          Pb uniform 0.2–1; Pu log-uniform 0.005–0.3
confinement               compartment radius log-uniform 1.5–12 px; count log-uniform from 10
                          to the number covering 40 % of the box (at most 200); transmittance
                          uniform 0–0.4
N                         100 (the challenge's), dimerization as above
========================  ===================================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from andi2kit.constants import BOX_PX

#: D of the fast (or only) state, px²/frame.
D_FAST = (0.05, 3.0)
#: D_slow / D_fast of the two-state models.
D_RATIO = (0.005, 0.3)
#: α of every state.
ALPHA = (0.2, 1.9)
#: Mean dwell time of a multi-state state, frames.
DWELL = (5.0, 300.0)
#: Share of the box that a confinement experiment's compartments may cover, and their
#: largest number.
COVER, MOST_COMPARTMENTS = 0.4, 200


def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))


def _alpha(rng: np.random.Generator) -> list[float]:
    return [float(rng.uniform(*ALPHA)), float(rng.uniform(0.0005, 0.02))]


def _d(rng: np.random.Generator, mean: float) -> list[float]:
    return [mean, mean * mean * _logu(rng, 1e-4, 0.05)]


def _most_compartments(r: float) -> int:
    """How many compartments of radius ``r`` cover :data:`COVER` of the box (at most
    :data:`MOST_COMPARTMENTS`)."""
    return int(min(MOST_COMPARTMENTS, COVER * BOX_PX**2 / (np.pi * r * r)))


def _two_states(rng: np.random.Generator) -> dict[str, list]:
    fast = _logu(rng, *D_FAST)
    slow = fast * _logu(rng, *D_RATIO)
    return {"Ds": [_d(rng, fast), _d(rng, slow)], "alphas": [_alpha(rng), _alpha(rng)]}


def _transition_matrix(rng: np.random.Generator, n: int) -> list[list[float]]:
    stay = [1 - 1 / _logu(rng, *DWELL) for _ in range(n)]
    return [[stay[i] if j == i else (1 - stay[i]) / (n - 1) for j in range(n)]
            for i in range(n)]


def draw_wide(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """Overrides of ``_get_dic_andi2(model)`` drawn from the wide priors (module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
        The preset's generator (seeded by the run's seed).
    model : str
        One of :data:`andi2kit.constants.MODEL_NAMES`.

    Returns
    -------
    dict
        ``Ds``, ``alphas`` (and ``M`` for multi-state) as nested lists of floats, plus the
        model's geometry and kinetics keys; every random default of ``_get_dic_andi2`` is
        replaced, so the draw depends on ``rng`` only.
    """
    if model in ("single_state", "immobile_traps"):
        params: dict[str, Any] = {"Ds": _d(rng, _logu(rng, *D_FAST)), "alphas": _alpha(rng)}
        if model == "immobile_traps":
            params.update(r=_logu(rng, 0.2, 2.0), Nt=round(_logu(rng, 50, 1500)),
                          Pb=float(rng.uniform(0.2, 1.0)), Pu=_logu(rng, 0.005, 0.3))
        return params
    if model == "multi_state":
        n = 3 if rng.random() < 1 / 3 else 2
        fast = _logu(rng, *D_FAST)
        Ds = [_d(rng, fast)] + [_d(rng, fast * _logu(rng, *D_RATIO)) for _ in range(n - 1)]
        return {"Ds": Ds, "alphas": [_alpha(rng) for _ in range(n)],
                "M": _transition_matrix(rng, n)}
    params = _two_states(rng)
    if model == "dimerization":
        params.update(r=_logu(rng, 0.3, 1.5), N=round(_logu(rng, 100, 250)),
                      Pb=float(rng.uniform(0.2, 1.0)), Pu=_logu(rng, 0.005, 0.3))
    elif model == "confinement":
        r = _logu(rng, 1.5, 12.0)
        params.update(r=r, Nc=round(_logu(rng, 10, max(_most_compartments(r), 11))),
                      trans=float(rng.uniform(0.0, 0.4)))
    else:
        raise ValueError(f"unknown model {model!r}")
    return params


#: Compartment radius (px) of the ``compartments`` preset: small compartments.
SMALL_RADIUS = (1.5, 4.0)
#: Fewest compartments of the ``compartments`` preset: as many as the particles in the box,
#: so that most compartments hold one particle at most.
MANY_COMPARTMENTS = 100


def draw_compartments(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_wide`, with confinement in many small compartments.

    A confinement experiment gets a radius log-uniform in :data:`SMALL_RADIUS` and a count
    log-uniform from :data:`MANY_COMPARTMENTS` to the number covering 40 % of the box (at
    most 200): compartments outnumber the particles, so two particles seldom share one and
    their confined stretches do not clump. Every other model (and every other parameter)
    is drawn as in the wide priors.

    Examples
    --------
    >>> p = draw_compartments(np.random.default_rng(0), "confinement")
    >>> 1.5 <= p["r"] <= 4.0 and 100 <= p["Nc"] <= 200
    True
    """
    params = draw_wide(rng, model)
    if model == "confinement":
        r = _logu(rng, *SMALL_RADIUS)
        most = max(_most_compartments(r), MANY_COMPARTMENTS)
        params.update(r=r, Nc=round(_logu(rng, MANY_COMPARTMENTS, most)))
    return params


#: Traps of the ``traps`` preset: radius (px), count in the box, unbinding probability per
#: frame (a bout lasts 1 / Pu frames on average: 3-10) and binding probability.
SHORT_TRAPS = {"r": (1.0, 2.0), "Nt": (500, 1500), "Pu": (0.1, 0.3), "Pb": (0.5, 1.0)}


def draw_short_traps(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_wide`, with traps that hold a particle for a few frames at a time.

    An ``immobile_traps`` experiment gets many traps (:data:`SHORT_TRAPS`: 500-1500 of
    radius 1-2 px, 3-36 % of the box) that let go after 3-10 frames on average: its
    particles stop often and briefly. Every other model (and every other parameter) is drawn
    as in the wide priors.

    Examples
    --------
    >>> p = draw_short_traps(np.random.default_rng(0), "immobile_traps")
    >>> 0.1 <= p["Pu"] <= 0.3 and 500 <= p["Nt"] <= 1500
    True
    """
    params = draw_wide(rng, model)
    if model == "immobile_traps":
        params.update(r=_logu(rng, *SHORT_TRAPS["r"]),
                      Nt=round(_logu(rng, *SHORT_TRAPS["Nt"])),
                      Pu=_logu(rng, *SHORT_TRAPS["Pu"]),
                      Pb=float(rng.uniform(*SHORT_TRAPS["Pb"])))
    return params


#: α of the fast (or only) state in the ``directed`` preset: across andi-datasets' line
#: between free and directed motion (:data:`~andi2kit.constants.ALPHA_DIRECTED`).
ALPHA_FAST_DIRECTED = (1.8, 1.999)


def draw_directed(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_wide`, with the α of the fast (or only) state drawn uniformly from
    :data:`ALPHA_FAST_DIRECTED`: about half of such experiments move in a directed way, the
    rest freely just below the line, and every model's other states as in the wide priors.

    Examples
    --------
    >>> p = draw_directed(np.random.default_rng(0), "multi_state")
    >>> 1.8 <= p["alphas"][0][0] <= 1.999
    True
    """
    return _fast_alpha(rng, draw_wide(rng, model), model)


def draw_directed_traps(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_short_traps` with the fast (or only) state's α from
    :data:`ALPHA_FAST_DIRECTED`: particles that move nearly ballistically between stops of a
    few frames, their α across andi-datasets' line between free and directed motion.

    Examples
    --------
    >>> p = draw_directed_traps(np.random.default_rng(0), "immobile_traps")
    >>> 1.8 <= p["alphas"][0] <= 1.999 and 0.1 <= p["Pu"] <= 0.3
    True
    """
    return _fast_alpha(rng, draw_short_traps(rng, model), model)


def _fast_alpha(rng: np.random.Generator, params: dict[str, Any], model: str
                ) -> dict[str, Any]:
    """``params`` with the fast (or only) state's α drawn from :data:`ALPHA_FAST_DIRECTED`."""
    fast = float(rng.uniform(*ALPHA_FAST_DIRECTED))
    if model in ("single_state", "immobile_traps"):
        params["alphas"] = [fast, params["alphas"][1]]
    else:
        params["alphas"][0] = [fast, params["alphas"][0][1]]
    return params


#: D of the ``fast`` preset, px²/frame: particles that move several pixels per frame.
D_FAST_PARTICLES = (1.0, 20.0)


def draw_fast(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_wide`, with the (fast) state's D log-uniform in :data:`D_FAST_PARTICLES`:
    particles that move 2–9 px per frame, which a tracker must still link (the organisers'
    benchmark holds an experiment of single-state motion with K of variance 100).

    Examples
    --------
    >>> d = draw_fast(np.random.default_rng(0), "single_state")
    >>> 1.0 <= d["Ds"][0] <= 20.0 and 0.2 <= d["alphas"][0] <= 1.9
    True
    """
    params = draw_wide(rng, model)
    Ds = params["Ds"]
    fast = _logu(rng, *D_FAST_PARTICLES)
    if isinstance(Ds[0], list):
        scale = fast / Ds[0][0]
        params["Ds"] = [[m * scale, v * scale * scale] for m, v in Ds]
    else:
        params["Ds"] = _d(rng, fast)
    return params


#: Particles in the 230.4-px box of the ``dense`` preset (log-uniform): about 90–250 in the
#: 128-px field of view, a typical neighbour 4–7 px away.
DENSE_N = (300, 800)


def draw_dense(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_wide` in crowded fields: every model with N log-uniform in
    :data:`DENSE_N` (the challenge's default is 100; the organisers' benchmark holds two
    dimerization experiments of 500 and 750 particles).

    Examples
    --------
    >>> p = draw_dense(np.random.default_rng(0), "multi_state")
    >>> 300 <= p["N"] <= 800
    True
    """
    return _with_particles(rng, model, DENSE_N)


#: Particles in the box of the ``dimers`` preset (log-uniform): from the challenge's
#: density to a crowded field, where partners meet often.
DIMER_N = (100, 800)


def draw_dimers(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_wide` with N log-uniform in :data:`DIMER_N`: the ``dimers`` preset's
    dimerization experiments, and multi-state ones as their look-alike (changes of motion
    without a partner).

    Examples
    --------
    >>> p = draw_dimers(np.random.default_rng(0), "dimerization")
    >>> 100 <= p["N"] <= 800 and 0.005 <= p["Pu"] <= 0.3
    True
    """
    return _with_particles(rng, model, DIMER_N)


def draw_fast_dimers(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_dimers` with the two states of a dimerization experiment swapped: the
    bound pairs move faster than the free particles (a complex carried by a motor, a
    free particle slowed by crowding), by the same prior ratio; multi-state experiments,
    symmetric in their states, are drawn as :func:`draw_dimers` draws them.

    Examples
    --------
    >>> p = draw_fast_dimers(np.random.default_rng(0), "dimerization")
    >>> p["Ds"][1][0] > p["Ds"][0][0]
    True
    """
    params = draw_dimers(rng, model)
    if model == "dimerization":
        params["Ds"] = params["Ds"][::-1]
        params["alphas"] = params["alphas"][::-1]
    return params


#: Variance of a state's D between particles over D², ``scattered-dimers`` preset: a
#: relative spread of about 30–300 % (the wide priors': 1–22 %).
SCATTER = (0.1, 10.0)


def draw_scattered_dimers(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """:func:`draw_dimers` with every state's D scattered widely between particles (variance
    D² × log-uniform :data:`SCATTER`; andi-datasets draws each particle's D from a normal
    truncated at 0, so a state of a few slow particles and many still ones), and a
    dimerization experiment's bound state the faster one with probability 1/2.

    Examples
    --------
    >>> p = draw_scattered_dimers(np.random.default_rng(0), "dimerization")
    >>> all(0.1 <= v / m**2 <= 10 for m, v in p["Ds"])
    True
    """
    params = draw_dimers(rng, model)
    params["Ds"] = [[m, m * m * _logu(rng, *SCATTER)] for m, _ in params["Ds"]]
    if model == "dimerization" and rng.random() < 0.5:
        params["Ds"] = params["Ds"][::-1]
        params["alphas"] = params["alphas"][::-1]
    return params


def _with_particles(rng: np.random.Generator, model: str, n: tuple[int, int]
                    ) -> dict[str, Any]:
    """:func:`draw_wide`, then N particles in the box, log-uniform in ``n``."""
    params = draw_wide(rng, model)
    params["N"] = round(_logu(rng, *n))
    return params


def draw_training(rng: np.random.Generator, model: str) -> dict[str, Any]:
    """Overrides of ``_get_dic_andi2(model)`` drawn from the per-frame model's training
    priors (:func:`andi2kit.training_data.sample_definition`, which the U-Net and the state
    stage learnt from): experiments like those, drawn anew per seed, on which the held-out
    per-frame recall of the submitted states is measured. ``N`` is the box's (the preset
    raises it to the challenge's 100); ``T`` and ``L`` are the challenge's.

    Examples
    --------
    >>> p = draw_training(np.random.default_rng(0), "immobile_traps")
    >>> sorted(k for k in p if k not in ("alphas", "Ds"))
    ['N', 'Nt', 'Pb', 'Pu', 'r']
    """
    from andi2kit.training_data import sample_definition

    dic = sample_definition(rng, model)
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in dic.items() if k not in ("model", "T", "L")}
