"""Event accuracy on the foreign validation movies (``../shared/validation/foreign``).

Movies made by an independent generator, with truth; run with default parameters, as a
new user would. Prints, per movie, precision, recall, F1, decoys called, onset accuracy
(share of matched events within ±1 frame and 2 µm of the truth) and the run time.

    python benchmarks/foreign.py [--root ../shared/validation/foreign] [--config FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from mtrack.evaluate import onset_accuracy, score_events
from mtrack.io import open_movie
from mtrack.params import Params, load_params
from mtrack.pipeline import run_movie

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "foreign"
# the folder's README: a call matches a transfer within 8 px and 2 frames
TOL_PX, TOL_FRAMES = 8.0, 2


def evaluate_folder(folder: Path, params: Params, workers: int | None = None) -> dict:
    """Run one foreign movie with ``params`` and score it against its truth."""
    truth = pd.read_csv(folder / "truth.csv")
    with open_movie(folder / "movie.tif") as movie:
        start = time.perf_counter()
        results = run_movie(movie, params, workers=workers)
        seconds = time.perf_counter() - start
        scale = movie.scale
    scores = score_events(results.events, truth, tol_px=TOL_PX, tol_frames=TOL_FRAMES)
    scores["onset_within_1_frame_2_um"] = onset_accuracy(results.events, truth, scale,
                                                         tol_px=TOL_PX, tol_frames=TOL_FRAMES)
    scores["seconds"] = seconds
    scores["recipient_tracks"] = int(results.cells["track_id"].nunique())
    scores["events"] = results.events
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--show", action="store_true", help="print the events called")
    args = parser.parse_args()
    params = load_params(args.config) if args.config else Params()
    folders = sorted(p for p in args.root.iterdir() if (p / "truth.csv").is_file())
    if not folders:
        raise SystemExit(f"{args.root}: no foreign movies")
    for folder in folders:
        s = evaluate_folder(folder, params, args.workers)
        print(f"{folder.name:10s} P {s['precision']:.2f} R {s['recall']:.2f} F1 {s['f1']:.2f}  "
              f"tp {s['tp']} fp {s['fp']} fn {s['fn']}  decoys called {s['decoys_called']}  "
              f"onset ±1 frame & 2 µm {s['onset_within_1_frame_2_um']:.2f}  "
              f"recipient tracks {s['recipient_tracks']}  {s['seconds']:.1f} s", flush=True)
        if args.show:
            print(s["events"][["t", "z", "y", "x", "track_id", "route", "persistence",
                               "score"]].to_string())


if __name__ == "__main__":
    main()
