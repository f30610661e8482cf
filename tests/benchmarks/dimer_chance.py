"""The dimerization decision against what chance gives in a crowded field.

Reads the state evidence a U-Net run leaves beside each FOV (``OUT/.segments/track_T/
exp_E/fov_F.states.json``) and prints per experiment: the share of bound frames
(:func:`andi2kit.partners.bound_frames`), the share of frames in which another particle lies
within ``BOUND_RADIUS`` by chance in a uniform field of the FOV's density
(``1 - exp(-pi R^2 rho)``; rho from the evidence's frames over the FOV's area and 200 frames:
128 x 128 px in Track 1, the positions' bounding box in Track 2), their ratio, the share of
bindings that changed the motion, and the decision of
:func:`andi2kit.partners.is_dimerization` as it is and with the rule measured and not adopted
(bound share also at least ``--factor`` times the chance share)::

    python tests/benchmarks/dimer_chance.py data/dense1/tracking-cost/unet/tracked 1 \\
        [--manifest data/dense1/manifest.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from andi2kit import partners, state_mixture

FOV_PX = 128.0
N_FRAMES = 200


def density(states: dict, track: int) -> float:
    ev = states["evidence"]
    if track == 1:
        area = FOV_PX ** 2
    else:
        xy = np.concatenate([np.asarray(v, float).reshape(-1, 2)
                             for v in states["positions"].values()])
        xy = xy[np.isfinite(xy).all(axis=1)]
        area = float(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1]))
    return float(ev["frames"]) / N_FRAMES / area


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a run's output folder (with .segments/)")
    ap.add_argument("track", type=int, choices=(1, 2))
    ap.add_argument("--manifest", type=Path, help="the simulation's manifest (model names)")
    ap.add_argument("--factor", type=float, default=1.25)
    args = ap.parse_args()
    models = {}
    if args.manifest:
        defs = json.loads(args.manifest.read_text())["definitions"]
        models = {k: d["model"] for k, d in enumerate(defs)}
    base = args.out / ".segments" / f"track_{args.track}"
    print(f"{'exp':>3} {'model':15} {'bound':>6} {'chance':>6} {'ratio':>5} {'changed':>7}"
          f" {'dimer':>6} {'w/ chance':>9}   field: {'bound':>6} {'changed':>7} {'bindings':>8}")
    for ed in sorted(base.glob("exp_*"), key=lambda p: int(p.name[4:])):
        files = [json.loads(f.read_text()) for f in sorted(ed.glob("fov_*.states.json"))]
        if not files:
            continue
        evs = [f["evidence"] for f in files]
        held = state_mixture.decide(evs)
        share, changed, _ = partners.partner_shares(evs, field=False)
        rho = float(np.mean([density(f, args.track) for f in files]))
        chance = 1 - np.exp(-np.pi * partners.BOUND_RADIUS ** 2 * rho)
        now = partners.is_dimerization(evs, held)
        e = int(ed.name[4:])
        field = ""
        if all("field_bindings" in ev for ev in evs):  # Track 1: every tracked particle
            fbound, fchanged, fb = partners.partner_shares(evs, field=True)
            field = f"          {fbound:6.3f} {fchanged:7.2f} {fb:8.0f}"
        print(f"{e:>3} {models.get(e, '?'):15} {share:6.3f} {chance:6.3f} "
              f"{share / chance:5.2f} {changed:7.2f} {now!s:>6} "
              f"{(now and share >= args.factor * chance)!s:>9}{field}")


if __name__ == "__main__":
    main()
