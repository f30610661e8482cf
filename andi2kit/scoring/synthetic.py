"""Random reference and submission folders for testing and timing the scorer.

The reference mimics the organisers' labels (segments with change points, K, α, state;
VIP files for Track 1; ensemble matrices); the submission is a noisy copy with optional
defects (the edge cases the official scorer treats specially).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.constants import N_FRAMES
from andi2kit.io import read_vip_indices, write_ensemble, write_text_atomic
from andi2kit.labels import EnsembleLabel


@dataclass
class Defects:
    """Probabilities / switches of defects injected into a synthetic submission."""

    p_missing_traj: float = 0.0
    p_extra_traj: float = 0.0
    p_bad_alpha: float = 0.0
    p_bad_K: float = 0.0
    p_bad_state: float = 0.0
    p_malformed: float = 0.0
    no_changepoints: bool = False
    missing_fov: bool = False
    wrong_vip: bool = False
    missing_ensemble: bool = False
    single_state_pred: bool = False


def _truth_row(rng: np.random.Generator, idx: int) -> list[float]:
    T = int(rng.integers(20, N_FRAMES + 1))
    n_cp = int(rng.choice([0, 0, 1, 1, 2, 3]))
    cps = np.sort(rng.choice(np.arange(3, T - 2), size=min(n_cp, T - 6), replace=False))
    row: list[float] = [idx]
    bounds = [*cps.tolist(), T]
    for b in bounds:
        row += [float(10 ** rng.uniform(-3, 1)), float(rng.uniform(0, 1.999)),
                float(rng.integers(0, 4)), b]
    return row


def _perturb(rng: np.random.Generator, row: list[float], d: Defects) -> list[float] | None:
    if rng.random() < d.p_missing_traj:
        return None
    idx, T = row[0], int(row[-1])
    true_cp = np.array(row[4:-1:4], dtype=int)
    if d.no_changepoints:
        cps = np.zeros(0, dtype=int)
    else:
        cps = true_cp + rng.integers(-14, 15, size=true_cp.size)
        if rng.random() < 0.3:
            cps = np.append(cps, rng.integers(1, T))
        if rng.random() < 0.2 and cps.size:
            cps = np.delete(cps, rng.integers(cps.size))
        cps = np.unique(np.clip(cps, 1, T - 1))
    out: list[float] = [idx]
    bounds = [*cps.tolist(), T]
    true_K = row[1::4]
    true_a = row[2::4]
    for j, b in enumerate(bounds):
        src = min(j, len(true_K) - 1)
        K = true_K[src] * float(np.exp(rng.normal(0, 0.5)))
        a = float(np.clip(true_a[src] + rng.normal(0, 0.2), 0, 2))
        s = float(rng.integers(0, 4))
        if rng.random() < d.p_bad_alpha:
            a = float(rng.choice([np.nan, -0.5, 2.5, 7.0]))
        if rng.random() < d.p_bad_K:
            K = float(rng.choice([np.nan, 0.0, -1.0, 1e-15]))
        if rng.random() < d.p_bad_state:
            s = float(rng.choice([-1.0, 4.0, 5.0, 2.7]))
        out += [K, a, s, b]
    if rng.random() < d.p_malformed:
        out = out[:-2]  # a length the organisers ignore (1 + 4n - 2)
    return out


def _ensemble(rng: np.random.Generator, n_state: int) -> EnsembleLabel:
    m = np.vstack([
        rng.uniform(0.1, 1.9, n_state), rng.uniform(1e-4, 0.1, n_state),
        10 ** rng.uniform(-2, 0.5, n_state), rng.uniform(1e-4, 0.1, n_state),
        rng.dirichlet(np.ones(n_state)) if n_state > 1 else np.ones(1),
    ])
    name = "single_state" if n_state == 1 else "multi_state"
    return EnsembleLabel(name, m)


def _write_rows(path: Path, rows: list[list[float]]) -> None:
    text = "".join(",".join(_f(v) for v in r) + "\n" for r in rows)
    write_text_atomic(path, text)


def _f(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def make_reference(root: str | Path, *, tracks=(1, 2), n_exp: int = 3, n_fov: int = 2,
                   n_traj: int = 20, n_vip: int = 5, seed: int = 0) -> Path:
    """Write a random reference folder; returns it."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for track in tracks:
        for e in range(n_exp):
            for f in range(n_fov):
                n = int(rng.integers(max(n_vip, n_traj // 2), n_traj + 1))
                rows = [_truth_row(rng, i) for i in range(n)]
                _write_rows(layout.labels_path(root, track, e, f), rows)
                if track == 1:
                    vip = np.sort(rng.choice(n, size=n_vip, replace=False))
                    write_text_atomic(layout.vip_path(root, e, f),
                                      "".join(f"{v:.18e}\n" for v in vip))
            write_ensemble(layout.ensemble_path(root, track, e), _ensemble(rng, 1 + e % 3))
    return root


def make_submission(ref: str | Path, out: str | Path, defects: Defects | None = None,
                    seed: int = 1) -> Path:
    """Write a noisy submission for every FOV of ``ref``, with the given defects."""
    d = defects or Defects()
    rng = np.random.default_rng(seed)
    ref, out = Path(ref), Path(out)
    for track in layout.TRACKS:
        for e in layout.experiments(ref, track):
            fov_list = layout.fovs(ref, track, e, "labels")
            for f in fov_list:
                if d.missing_fov and f == fov_list[-1] and e == layout.experiments(ref, track)[-1]:
                    continue
                lines = layout.labels_path(ref, track, e, f).read_text().splitlines()
                true_rows = [[float(v) for v in ln.split(",")] for ln in lines]
                if track == 1:
                    vip = set(read_vip_indices(layout.vip_path(ref, e, f)).tolist())
                    true_rows = [r for r in true_rows if int(r[0]) in vip]
                rows = [p for r in true_rows if (p := _perturb(rng, r, d)) is not None]
                if track == 2 and rng.random() < d.p_extra_traj * len(true_rows):
                    extra = _truth_row(rng, len(lines) + 5)
                    rows.append(extra)
                if track == 1 and d.wrong_vip and rows:
                    rows[0][0] = 254
                _write_rows(layout.prediction_path(out, track, e, f), rows)
            if not d.missing_ensemble:
                n_state = 1 if d.single_state_pred else int(rng.integers(1, 4))
                write_ensemble(layout.ensemble_path(out, track, e), _ensemble(rng, n_state))
    return out
