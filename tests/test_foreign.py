"""Movies made by an independent generator (``../shared/validation/foreign``), with truth.

Run with default parameters, as a new user would; skipped when the folder is absent.
A call matches a transfer within 8 px and 2 frames (the folder's README); decoys (adjacent
outside, transient entry, cargo stalled in a bridge, fission of a transferred
mitochondrion, an object above a cell) must not be called.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mtrack.evaluate import onset_accuracy, score_events
from mtrack.io import open_movie
from mtrack.params import Params
from mtrack.pipeline import run_movie

FOREIGN = Path(__file__).resolve().parents[2] / "shared" / "validation" / "foreign"
TOL_PX, TOL_FRAMES = 8.0, 2

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not FOREIGN.is_dir(), reason=f"{FOREIGN} is not present")]


def _run(name: str):
    folder = FOREIGN / name
    if not (folder / "movie.tif").is_file():
        pytest.skip(f"{folder} is not present")
    truth = pd.read_csv(folder / "truth.csv")
    with open_movie(folder / "movie.tif") as movie:
        results = run_movie(movie, Params(), workers=2)
        scale = movie.scale
    scores = score_events(results.events, truth, tol_px=TOL_PX, tol_frames=TOL_FRAMES)
    onset = onset_accuracy(results.events, truth, scale, tol_px=TOL_PX, tol_frames=TOL_FRAMES)
    return results, scores, onset


@pytest.mark.slow
@pytest.mark.parametrize("name, floor", [("2d-31", 0.95), ("2d-32", 0.95), ("2d-36-dim", 0.9)])
def test_foreign_2d_movies_with_default_settings(name, floor):
    results, scores, onset = _run(name)
    assert scores["f1"] >= floor, scores
    assert scores["decoys_called"] == 0, scores
    assert onset >= 0.9, (onset, results.events)
    # one track per recipient cell (4 cells) over the whole movie (a piece cut off a cell
    # for a frame may make a brief track of its own)
    lengths = results.cells.groupby("track_id")["t"].nunique()
    assert (lengths == results.run["counts"]["frames"]).sum() == 4, lengths
    # routes come from the trajectory: along a bridge (tnt) or from a donor body (contact)
    assert scores["route_accuracy"] >= 0.75, scores


@pytest.mark.slow
def test_foreign_3d_movie_with_smooth_axial_profile():
    results, scores, onset = _run("3d-33")
    assert scores["f1"] >= 0.9, scores
    assert scores["decoys_called"] == 0, scores  # incl. the mitochondrion above a cell
    assert onset >= 0.9, (onset, results.events)
    lengths = results.cells.groupby("track_id")["t"].nunique()
    assert (lengths == results.run["counts"]["frames"]).sum() == 4, lengths
