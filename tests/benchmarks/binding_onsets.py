"""Where a tracked dimer VIP's bindings and partings begin, against its labels.

For every true change of a tracked VIP's diffusivity in a dimerization experiment (a binding
where it drops, a parting where it rises) of a suite with videos, prints how far from the
labels' change point the tracked spot first holds two particles (binding; brightness at least
:data:`~andi2kit.state_evidence.MERGED_BRIGHTNESS`) or first holds one again (parting), and
how far the pipeline's bound run (:func:`andi2kit.partners.bound_frames` over the FOV's tracked
VIPs with their brightness, as :meth:`~andi2kit.methods.unet.UNetMethod.predict_with_evidence`
calls it) begins or ends. Offsets are tracked minus true frames, within ``--window``; *none*:
no onset there, *many*: more than one. Only VIP frames on the VIP (within 1 px) count.
Diagnostic (reads ``ref/``)::

    python tests/benchmarks/binding_onsets.py data/chal0v [data/wide0v ...]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from andi2kit import io, layout, partners
from andi2kit.state_evidence import merged_spot
from andi2kit.tracking.video import read_tracks

ON_VIP = 1.0


def onsets(flag: np.ndarray, i: int, window: int, rising: bool) -> str | int:
    """Offset from ``i`` of the one frame within ``window`` where ``flag`` turns on
    (``rising``) or off."""
    lo, hi = max(i - window, 1), min(i + window + 1, flag.size)
    k = [j for j in range(lo, hi) if flag[j] != flag[j - 1] and flag[j] == rising]
    return k[0] - i if len(k) == 1 else ("none" if not k else "many")


def suite_counts(suite: Path, window: int) -> dict[str, Counter]:
    defs = json.loads((suite / "manifest.json").read_text())["definitions"]
    out = {key: Counter() for key in ("binding spot", "binding run", "parting spot",
                                      "parting run")}
    for e, d in enumerate(defs):
        if d["model"] != "dimerization":
            continue
        for path in sorted((suite / "tracks" / f"exp_{e}").glob("trajs_fov_*.csv")):
            tracks = read_tracks(path)
            fov = int(path.stem.rsplit("_", 1)[1])
            ref = pd.read_csv(layout.trajs_path(suite / "ref", 1, e, fov))
            ref[["x", "y"]] -= io.read_fov_origin(layout.fov_origin_path(suite / "ref", e, fov))
            vips = [g.sort_values("frame") for _, g in tracks.groupby("traj_idx")]
            bound = partners.bound_frames(
                [g[["x", "y"]].to_numpy(float) for g in vips],
                [g["frame"].to_numpy() for g in vips],
                [g["brightness"].to_numpy(float) for g in vips])
            for g, run in zip(vips, bound, strict=True):
                truth = ref[ref["traj_idx"] == g["traj_idx"].iloc[0]].set_index("frame")
                truth = truth.reindex(g["frame"].to_numpy())
                spot = merged_spot(g["brightness"].to_numpy(float), len(g))
                on = np.hypot(*(g[["x", "y"]].to_numpy(float)
                                - truth[["x", "y"]].to_numpy(float)).T) <= ON_VIP
                D = truth["D"].to_numpy(float)
                for i in np.flatnonzero(np.diff(D) != 0) + 1:
                    if not on[max(i - window, 0):i + window + 1].all():
                        continue
                    kind = "binding" if D[i] < D[i - 1] else "parting"
                    rising = kind == "binding"
                    out[f"{kind} spot"][onsets(spot, i, window, rising)] += 1
                    out[f"{kind} run"][onsets(run, i, window, rising)] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suites", type=Path, nargs="+")
    ap.add_argument("--window", type=int, default=4)
    args = ap.parse_args()
    cols = [-2, -1, 0, 1, 2, "none", "many"]
    print("| suite | change | begins at | " + " | ".join(map(str, cols)) + " | exact |")
    print("|---|---|---|" + "---|" * (len(cols) + 1))
    for suite in args.suites:
        for key, c in suite_counts(suite, args.window).items():
            kind, what = key.split()
            n = sum(c.values())
            cells = [str(c.get(k, 0)) for k in cols]
            exact = f"{c.get(0, 0)} of {n}" if n else ""
            label = "the spot (first merged / single frame)" if what == "spot" \
                else "the bound run"
            print(f"| {suite.name} | {kind} | {label} | " + " | ".join(cells) + f" | {exact} |")


if __name__ == "__main__":
    main()
