"""Time our scorer against the organisers' on a benchmark-sized Track 2 submission.

Usage: ``python tests/benchmarks/bench_scorer.py [--trajs-per-fov 93] [--out DIR]``

Builds a random reference of 9 experiments × 30 FOVs (≈25,000 trajectories, the size of the
AnDi 2 benchmark's Track 2) and a noisy submission, scores it with
``andi_datasets.utils_challenge.codalab_scoring_local`` and with ``andi2kit.scoring``,
checks that every number agrees within 1e-9, and prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path

from andi2kit.scoring import score as SC
from andi2kit.scoring import synthetic as S


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajs-per-fov", type=int, default=93)
    ap.add_argument("--exps", type=int, default=9)
    ap.add_argument("--fovs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="bench_scorer_"))
    ref = S.make_reference(work / "ref", tracks=(2,), n_exp=args.exps, n_fov=args.fovs,
                           n_traj=args.trajs_per_fov, seed=0)
    sub = S.make_submission(ref, work / "sub", S.Defects(p_missing_traj=0.01), seed=1)
    n = sum(len(p.read_text().splitlines()) for p in (ref / "track_2").rglob("traj_labs_*"))

    from andi_datasets.utils_challenge import codalab_scoring_local

    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        codalab_scoring_local(str(sub), str(ref), str(work / "official"))
    t_off = time.perf_counter() - t0

    t0 = time.perf_counter()
    res = SC.score(sub, ref, tracks=(2,))
    SC.write_outputs(res, work / "ours")
    t_ours = time.perf_counter() - t0

    off = SC.read_scores_txt(work / "official" / "scores.txt")
    ours = SC.read_scores_txt(work / "ours" / "scores.txt")
    worst = max(abs(off[k] - ours[k]) for k in off)
    print(f"trajectories (Track 2): {n}")
    print(f"official codalab_scoring_local: {t_off:8.2f} s")
    print(f"andi2kit score:                 {t_ours:8.2f} s")
    print(f"speed-up:                       {t_off / t_ours:8.1f}x")
    print(f"largest difference between the two scores.txt: {worst:.3g}")
    if worst > 1e-9:
        raise SystemExit("scores differ")


if __name__ == "__main__":
    main()
