"""The dimerization decision with other settings of its "the binding changed the motion" test.

Runs the U-Net pipeline in this process (one worker) on a suite with
``andi2kit.partners.CHANGE_FACTOR`` and ``CHANGED_SHARE`` set as given, into
``--out/SUITE-tTRACK-fFACTOR-sSHARE``, and prints per experiment the bound share, the share
of bindings whose mean squared step changed by more than the factor, and the decision.
Track 1 reads the suite's tracked VIPs (``SUITE/tracks``, from ``andi2kit track``)::

    python tests/benchmarks/dimer_factor.py data/dense1 1 --factor 3 --share 0.75
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
    ap.add_argument("--out", type=Path, default=Path("/tmp/dimer-factor"))
    args = ap.parse_args()
    partners.CHANGE_FACTOR, partners.CHANGED_SHARE = args.factor, args.share
    from andi2kit.pipeline import run

    out = args.out / (f"{args.suite.name}-t{args.track}-f{args.factor:g}"
                      f"-s{args.share:g}")
    extra = {"tracks": args.suite / "tracks"} if args.track == 1 else {}
    run(args.suite / "public_data", out, args.track, "unet", force=True, workers=1,
        progress=False, **extra)
    models = [d["model"] for d in
              json.loads((args.suite / "manifest.json").read_text())["definitions"]]
    base = out / ".segments" / f"track_{args.track}"
    for ed in sorted(base.glob("exp_*"), key=lambda p: int(p.name[4:])):
        evs = [json.loads(f.read_text())["evidence"]
               for f in sorted(ed.glob("fov_*.states.json"))]
        frames = sum(float(ev.get("partner_frames", ev["frames"])) for ev in evs)
        bound = sum(float(ev.get("bound", 0)) for ev in evs) / frames
        bindings = sum(float(ev.get("bindings", 0)) for ev in evs)
        changed = sum(float(ev.get("changed", 0)) for ev in evs) / max(bindings, 1.0)
        e = int(ed.name[4:])
        dimer = partners.is_dimerization(evs, state_mixture.decide(evs))
        print(f"exp {e} {models[e]:15} bound {bound:.3f} changed {changed:.2f} "
              f"({bindings:.0f} bindings) dimerization {dimer}")


if __name__ == "__main__":
    main()
