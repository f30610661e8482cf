"""The experiment-level state decision, scored: checkpoints side by side on simulated suites.

Runs the U-Net pipeline (``andi2kit run``) with each checkpoint on each suite's Track 2 (or,
``--track 1``, on the VIPs tracked in its videos, cached in ``<suite>/tracks``) and scores
it; prints the averages, each experiment's scores and how many are at least as good as
the MSD floor's per metric, and for a checkpoint with a
state stage the states each experiment was judged to hold
(:func:`andi2kit.state_mixture.decide`) against the states its labels hold. Beside them the
MSD floor. Tune on seed 0 suites, report on others::

    python tests/benchmarks/experiment_states.py data/gen-challenge-seed0 \\
        data/gen-wide-seed0 --checkpoints checkpoints/unet-default /tmp/ck
    python tests/benchmarks/experiment_states.py data/chal0 --track 1 \
        --checkpoints checkpoints/unet-default /tmp/ck
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from andi2kit import layout
from andi2kit.experiment_decision import ExperimentDecision
from andi2kit.generalisation import compare
from andi2kit.io import read_labels
from andi2kit.pipeline import run
from andi2kit.scoring.score import score

KEYS = ("rmse_cp", "jsc_cp", "alpha", "K", "state")


def held_states(ref: Path, exp: int, track: int = 2) -> list[int]:
    """States an experiment's labels hold."""
    held: set[int] = set()
    for f in (ref / f"track_{track}" / f"exp_{exp}").glob("traj_labs_fov_*.txt"):
        for lab in read_labels(f):
            held.update(int(v) for v in lab.state)
    return sorted(held)


def judged(sub: Path, exp: int, track: int = 2, settings: dict | None = None
           ) -> list[int] | None:
    """States the run judged an experiment to hold (None: no evidence written), as
    :meth:`andi2kit.experiment_decision.ExperimentDecision.judged` judges them with a
    checkpoint's ``settings`` (its ``segmentation.json``: the still runs and the trap places;
    without still runs, no standing-still rule)."""
    segments = sorted(layout.exp_dir(sub / layout.SEGMENTS_DIR, track, exp).glob("fov_*.txt"))
    files = [layout.evidence_beside(p) for p in segments if layout.evidence_beside(p).is_file()]
    if not files:
        return None
    evidence = [json.loads(p.read_text()) for p in files]
    decision = ExperimentDecision.from_settings(settings or {})
    return np.flatnonzero(decision.judged(evidence, track == 1)[0]).tolist()


def settings_of(checkpoint: str) -> dict:
    """A checkpoint's ``segmentation.json`` ({} where it has none)."""
    path = Path(checkpoint) / "segmentation.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suites", nargs="+", type=Path)
    ap.add_argument("--checkpoints", nargs="+", required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/experiment-states"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--track", type=int, default=2, choices=(1, 2))
    ap.add_argument("--tracks", default="tracks",
                    help="Track 1: tracked VIPs, a folder inside each suite (made if missing)")
    args = ap.parse_args()
    t = args.track
    for suite in args.suites:
        rows = {}
        decisions = {}
        for name in ["msd", *args.checkpoints]:
            sub = args.work / suite.name / Path(name).name
            method, opts = ("msd", {}) if name == "msd" else ("unet", {"checkpoint": name})
            run(suite / "public_data", sub, t, method, options=opts, workers=args.workers,
                progress=False, tracks=suite / args.tracks if t == 1 else None)
            (sc,) = score(sub, suite / "ref", tracks=(t,))
            rows[name] = sc
            settings = {} if name == "msd" else settings_of(name)
            decisions[name] = {r["exp"]: judged(sub, r["exp"], t, settings)
                               for r in sc.per_exp}
        exps = [r["exp"] for r in rows["msd"].per_exp]
        print(f"\n## {suite}, Track {t}\n")
        print("| method | " + " | ".join(KEYS) + " | F1 per experiment |")
        print("|---" * (len(KEYS) + 2) + "|")
        for name, sc in rows.items():
            per = " ".join(f"{r['state']:.3f}" for r in sc.per_exp)
            print(f"| {name} | " + " | ".join(f"{sc.single[k]:.3f}" for k in KEYS)
                  + f" | {per} |")
        print("\nensemble α W1 / K W1 (average; per experiment):\n")
        for name, sc in rows.items():
            print(f"| {name} | {sc.ensemble['w1_alpha']:.3f} / {sc.ensemble['w1_K']:.3f} | "
                  + " | ".join(f"{r.get('w1_alpha', np.nan):.3f} / {r.get('w1_K', np.nan):.3f}"
                               for r in sc.per_exp) + " |")
        print("\nRMSE CP / JSC CP per experiment:\n")
        for name, sc in rows.items():
            print(f"| {name} | " + " | ".join(f"{r['rmse_cp']:.3f} / {r['jsc_cp']:.3f}"
                                              for r in sc.per_exp) + " |")
        print("\nα MAE / K MSLE per experiment:\n")
        for name, sc in rows.items():
            print(f"| {name} | " + " | ".join(f"{r['alpha']:.3f} / {r['K']:.4f}"
                                              for r in sc.per_exp) + " |")
        print("\nexperiments at least as good as the MSD floor (per metric, "
              "andi2kit.generalisation.compare):\n")
        for name, sc in rows.items():
            if name != "msd":
                print(f"| {name} | " + " | ".join(
                    f"{m.key} {m.at_least_as_good}/{m.n}" for m in compare(sc, rows["msd"]))
                    + " |")
        for name, dec in decisions.items():
            if any(v is not None for v in dec.values()):
                truth = {e: held_states(suite / "ref", e, t) for e in exps}
                wrong = [e for e in exps if set(dec[e]) & {0, 1} != set(truth[e]) & {0, 1}]
                print(f"\n{name}: judged to hold (immobile 0, confined 1) per experiment: "
                      + "; ".join(f"{e}: {dec[e]} (labels {truth[e]})" for e in exps)
                      + f"\nwrong on immobile/confined in {len(wrong)} of {len(exps)}: {wrong}")


if __name__ == "__main__":
    main()
