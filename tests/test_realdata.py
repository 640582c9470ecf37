"""End-to-end behaviour on real images (skipped when ../shared/realdata is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from mtrack.io import movie_from_array, open_movie
from mtrack.params import load_params
from mtrack.pipeline import run_movie

from .conftest import REPO

pytestmark = pytest.mark.realdata


def _painting_movie(realdata, name, frames=10, seed=0):
    """One Cell Painting field repeated as a movie, with fresh shot noise in each frame."""
    field = open_movie(realdata / "cellpainting" / name)
    still = field.frame(0)[[4, 3]].astype(np.float64)  # MitoTracker, WGA+phalloidin
    rng = np.random.default_rng(seed)
    frames_ = [rng.poisson(still).astype(np.uint16) for _ in range(frames)]
    image = np.stack(frames_)  # (T, C, Z, Y, X)
    return movie_from_array(image, "TCZYX", scale=field.scale, frame_interval=600.0,
                            channel_names=("mito", "membrane"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["plate1_A14_site1_Ch1.tiff", "plate1_C12_site2_Ch1.tiff"])
def test_cell_painting_movie_has_no_events(realdata, name):
    params = load_params(REPO / "pipelines" / "widefield_cellpainting.yaml")
    results = run_movie(_painting_movie(realdata, name), params, workers=2)
    assert len(results.events) == 0
    # every cell holds mitochondria from the start: most tracks carry donor objects
    first = results.cells[results.cells["t"] == 0]
    assert len(first) >= 10
    assert (first["donor_objects"] > 0).mean() > 0.5
    # most recipients are followed over the whole movie (a few elongated cells split or
    # merge from frame to frame under fresh noise: a limit of per-frame segmentation)
    lengths = results.cells.groupby("track_id")["t"].nunique()
    assert first["track_id"].map(lengths).eq(10).mean() > 0.65
