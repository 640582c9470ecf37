"""Bridge detection on simulated movies: precision, recall, decoys, and stage time.

A detected bridge matches a true one when at least half of its skeleton lies within
1 µm of the true bridge and it joins the same two cells (recipients matched by overlap,
donor bodies as "donor"). Filopodia and (3D) strands lying on the substrate are decoys.

    python benchmarks/bridges.py [--seeds 6] [--ndim 2 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi

from mtrack.bridges import detect_bridges
from mtrack.evaluate import score_bridges_frame
from mtrack.frame import process_frame
from mtrack.params import Params
from mtrack.simulate import simulate_movie


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--ndim", type=int, nargs="+", default=[2, 3])
    args = parser.parse_args()
    params = Params()
    for ndim in args.ndim:
        totals = dict.fromkeys(["detected", "true", "matched_detected", "matched_true",
                                "decoys_reported"], 0)
        stage, frames, total = [], 0, 0.0
        for seed in range(args.seeds):
            sim = simulate_movie(ndim=ndim, seed=seed)
            for t, frame in enumerate(sim.image):
                start = time.perf_counter()
                res = process_frame(frame, sim.scale, params)
                total += time.perf_counter() - start
                frames += 1
                cells = np.where(res.recipients > 0, res.recipients,
                                 -ndi.label(res.bodies)[0]).astype(np.int32)
                start = time.perf_counter()
                detect_bridges(frame[1], cells, sim.scale, params.bridge)
                stage.append(time.perf_counter() - start)
                truth = sim.bridges[sim.bridges["t"] == t]
                scores = score_bridges_frame(res.bridges, res.bridge_table, res.recipients,
                                             sim.bridge_labels[t], truth, sim.recipients[t],
                                             sim.scale)
                for key in totals:
                    totals[key] += scores[key]
        precision = totals["matched_detected"] / max(totals["detected"], 1)
        recall = totals["matched_true"] / max(totals["true"], 1)
        print(f"== {ndim}D bridges over {args.seeds} seeds ({frames} frames): true "
              f"{totals['true']}, detected {totals['detected']}; precision {precision:.3f} "
              f"recall {recall:.3f}; decoys (filopodia, substrate strands) reported "
              f"{totals['decoys_reported']}; bridge stage {np.median(stage) * 1000:.0f} ms/frame "
              f"(median), whole frame {total / frames:.2f} s")


if __name__ == "__main__":
    main()
