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


def _assert_bridges_join_two_cells(table):
    assert (table["cell_a"] != 0).all() and (table["cell_b"] != 0).all()
    assert (table["cell_a"] != table["cell_b"]).all()
    assert ((table["cell_a"] > 0) | (table["cell_b"] > 0)).all()  # never donor to donor


def test_real_membrane_movie_has_few_bridges_each_joining_two_cells(realdata):
    import tifffile

    from mtrack.frame import process_frame
    from mtrack.params import Params

    membrane = tifffile.imread(realdata / "membrane_timelapse" / "membrane_2d_timelapse.tif")
    params = Params()
    rng = np.random.default_rng(0)
    for t, plane in enumerate(membrane):
        mito = rng.poisson(100.0, plane.shape)  # an empty donor channel
        frame = np.stack([mito, plane]).astype(np.float32)[:, None]
        result = process_frame(frame, (1.0, 0.3, 0.3), params)  # pixel size not recorded
        n_cells = int(result.recipients.max())
        assert n_cells >= 15
        assert len(result.bridge_table) <= 0.5 * n_cells, (t, len(result.bridge_table))
        _assert_bridges_join_two_cells(result.bridge_table)


def test_cell_painting_has_few_bridges(realdata):
    from mtrack.frame import process_frame

    params = load_params(REPO / "pipelines" / "widefield_cellpainting.yaml")
    movie = _painting_movie(realdata, "plate1_A14_site1_Ch1.tiff", frames=1)
    result = process_frame(movie.frame(0), movie.scale, params)
    assert len(result.bridge_table) <= 0.1 * result.recipients.max()
    _assert_bridges_join_two_cells(result.bridge_table)
