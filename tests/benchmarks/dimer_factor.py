"""The dimerization decision with other settings of its "the binding changed the motion" test.

Runs the U-Net pipeline in this process (one worker) on a suite with
``andi2kit.partners.CHANGE_FACTOR`` and ``CHANGED_SHARE`` set as given, into
``--out/SUITE-tTRACK-fFACTOR-sSHARE``, and prints per experiment the bound share, the share
of bindings whose mean squared step changed by more than the factor (Track 1: of every
tracked particle, the counts the decision reads), and the decision.
``--never`` judges no experiment dimerization (no partner change points anywhere), and
``--scores`` adds each experiment's RMSE CP / JSC / α MAE / K MSLE: what the partner change
points are worth where they apply. Track 1 reads the suite's tracked VIPs (``SUITE/tracks``,
from ``andi2kit track``)::

    python tests/benchmarks/dimer_factor.py data/dense1 1 --factor 3 --share 0.75
    python tests/benchmarks/dimer_factor.py data/chal0 1 --never --scores
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from andi2kit import partners, state_mixture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path, help="simulation folder (public_data/, ref/)")
    ap.add_argument("track", type=int, choices=(1, 2))
    ap.add_argument("--factor", type=float, default=partners.CHANGE_FACTOR)
    ap.add_argument("--share", type=float, default=partners.CHANGED_SHARE)
    ap.add_argument("--never", action="store_true", help="judge nothing dimerization")
    ap.add_argument("--scores", action="store_true", help="score each experiment")
    ap.add_argument("--out", type=Path, default=Path("/tmp/dimer-factor"))
    args = ap.parse_args()
    partners.CHANGE_FACTOR, partners.CHANGED_SHARE = args.factor, args.share
    judge = partners.is_dimerization
    if args.never:
        partners.is_dimerization = lambda evidence, held: False
    from andi2kit.pipeline import run

    out = args.out / (f"{args.suite.name}-t{args.track}-f{args.factor:g}"
                      f"-s{args.share:g}" + ("-never" if args.never else ""))
    extra = {"tracks": args.suite / "tracks"} if args.track == 1 else {}
    run(args.suite / "public_data", out, args.track, "unet", force=True, workers=1,
        progress=False, **extra)
    models = [d["model"] for d in
              json.loads((args.suite / "manifest.json").read_text())["definitions"]]
    per_exp = {}
    if args.scores:
        from andi2kit.scoring.score import score

        (result,) = score(out, args.suite / "ref", tracks=(args.track,))
        per_exp = {int(r["exp"]): r for r in result.per_exp}
        print("average RMSE CP / JSC / α MAE / K MSLE: " + " / ".join(
            f"{result.single[k]:.3f}" for k in ("rmse_cp", "jsc_cp", "alpha", "K")))
    base = out / ".segments" / f"track_{args.track}"
    for ed in sorted(base.glob("exp_*"), key=lambda p: int(p.name[4:])):
        evs = [json.loads(f.read_text())["evidence"]
               for f in sorted(ed.glob("fov_*.states.json"))]
        # the counts the decision reads: every tracked particle's in Track 1
        bound, changed, bindings = partners.partner_shares(evs)
        e = int(ed.name[4:])
        dimer = judge(evs, state_mixture.decide(evs))
        row = per_exp.get(e)
        scored = "" if row is None else "  " + " / ".join(
            f"{row[k]:.3f}" for k in ("rmse_cp", "jsc_cp", "alpha", "K"))
        print(f"exp {e} {models[e]:15} bound {bound:.3f} changed {changed:.2f} "
              f"({bindings:.0f} bindings) dimerization {dimer}"
              f"{' (not applied: --never)' if dimer and args.never else ''}{scored}")


if __name__ == "__main__":
    main()
