"""Event-calling accuracy on simulated movies with known transfers and decoys.

Prints one line per movie and the totals: precision, recall, F1, decoys called, the
largest onset error (frames), contact-route accuracy and time per frame. (Routes through
bridges are reported as ``unknown`` until bridges are detected.)

    python benchmarks/accuracy.py [--seeds 6] [--ndim 2 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import time

from mtrack.evaluate import score_events
from mtrack.io import movie_from_array
from mtrack.params import Params
from mtrack.pipeline import run_movie
from mtrack.simulate import simulate_movie


def evaluate_simulation(ndim: int, seed: int, workers: int, params: Params | None = None,
                        **simulate_kwargs) -> dict:
    """Simulate one movie, run the pipeline on it and score the events."""
    sim = simulate_movie(ndim=ndim, seed=seed, **simulate_kwargs)
    movie = movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                             frame_interval=sim.frame_interval, channel_names=sim.channel_names)
    start = time.perf_counter()
    results = run_movie(movie, params or Params(), workers=workers)
    elapsed = time.perf_counter() - start
    scores = score_events(results.events, sim.truth)
    scores["seconds_per_frame"] = elapsed / sim.image.shape[0]
    scores["shape"] = sim.image.shape
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--ndim", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for ndim in args.ndim:
        totals = {"tp": 0, "fp": 0, "fn": 0, "decoys_called": 0}
        worst_onset, per_frame, routes = 0, [], []
        for seed in range(args.seeds):
            s = evaluate_simulation(ndim, seed, args.workers)
            for key in totals:
                totals[key] += s[key]
            worst_onset = max(worst_onset, s["max_onset_error"])
            per_frame.append(s["seconds_per_frame"])
            if "contact" in s["route_accuracy_by_route"]:
                routes.append(s["route_accuracy_by_route"]["contact"])
            print(f"{ndim}D seed {seed}: shape {s['shape']}  P {s['precision']:.3f}  "
                  f"R {s['recall']:.3f}  F1 {s['f1']:.3f}  decoys called {s['decoys_called']}  "
                  f"max onset error {s['max_onset_error']}  {s['seconds_per_frame']:.3f} s/frame")
        tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(f"== {ndim}D over {args.seeds} seeds: events {tp + fn}, tp {tp}, fp {fp}, fn {fn}; "
              f"precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}; decoys called "
              f"{totals['decoys_called']}; max onset error {worst_onset} frames; "
              f"contact route correct {sum(routes) / max(len(routes), 1):.2f} (mean over movies); "
              f"mean {sum(per_frame) / len(per_frame):.3f} s/frame ({args.workers} workers)")


if __name__ == "__main__":
    main()
