"""Recipient cell diameter from the data (mtrack.cellsize) and its use in a run."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import yaml
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from mtrack.cellsize import (
    DEFAULT_DIAMETER_UM,
    CellSizeWarning,
    estimate_cell_diameter,
    resolve_cell_diameter,
    sample_frames,
)
from mtrack.params import Params, RecipientParams


def cell_field(diameter_um, kind="filled", spacing=1.0, n=5, nz=1, seed=0):
    """Discs of one diameter on a jittered hexagonal grid; (membrane (Z, Y, X), scale, labels).

    ``spacing`` is the centre distance in diameters (1.0: touching, confluent).  Ring cells
    carry a 1-µm bright rim around a dim interior; filled cells a per-cell brightness.  3D
    fields (``nz > 1``) fade smoothly (Gaussian axial profile) above and below mid-height.
    """
    rng = np.random.default_rng(seed)
    px = max(0.1, diameter_um / 60)
    pitch = diameter_um * spacing
    size = int(np.ceil((n + 0.5) * pitch / px))
    yy, xx = np.mgrid[0:size, 0:size] * px
    labels = np.zeros((size, size), int)
    nearest = np.full((size, size), np.inf)
    k = 0
    for i in range(n + 1):
        for j in range(n + 1):
            cy = (i + 0.5) * pitch * np.sqrt(3) / 2 + rng.normal(0, 0.05 * pitch)
            cx = (j + 0.25 + 0.5 * (i % 2)) * pitch + rng.normal(0, 0.05 * pitch)
            k += 1
            r = np.hypot(yy - cy, xx - cx)
            inside = (r < diameter_um / 2) & (r < nearest)
            labels[inside], nearest[inside] = k, r[inside]
    if kind == "filled":
        image = rng.uniform(0.6, 1.4, k + 1)[labels] * (labels > 0)
    else:
        rim = ndi.distance_transform_edt(~find_boundaries(labels, mode="inner"), sampling=px)
        image = (rim < 0.5) + 0.05 * (labels > 0)
    image = ndi.gaussian_filter(image.astype(float), 0.3 / px)
    profile = np.exp(-0.5 * ((np.arange(nz) - (nz - 1) / 2) / max(nz / 4, 1e-9)) ** 2)
    stack = profile[:, None, None] * image[None] * 900 + 100
    return rng.poisson(stack).astype(np.float32), (0.5, px, px), labels


@pytest.mark.parametrize("kind", ["filled", "ring"])
@pytest.mark.parametrize("diameter,spacing", [(10.0, 1.0), (14.0, 1.0), (25.0, 1.0),
                                              (45.0, 1.0), (25.0, 1.5), (45.0, 1.5)])
def test_estimate_matches_known_diameter_2d(kind, diameter, spacing):
    membrane, scale, _ = cell_field(diameter, kind, spacing)
    estimate = estimate_cell_diameter(membrane, scale)
    assert estimate == pytest.approx(diameter, rel=0.15)


@pytest.mark.parametrize("kind", ["filled", "ring"])
def test_small_sparse_cells_are_overestimated_by_their_blurred_edge(kind):
    # known bias: the foreground takes in the blurred edge (~1 µm), which matters for
    # small isolated cells (+10-25 % at 8-14 µm); touching cells are not affected
    membrane, scale, _ = cell_field(12.0, kind, spacing=1.5)
    estimate = estimate_cell_diameter(membrane, scale)
    assert 12.0 <= estimate <= 12.0 * 1.25


@pytest.mark.parametrize("kind,diameter,spacing", [("filled", 12.0, 1.2), ("ring", 30.0, 1.0),
                                                   ("filled", 40.0, 1.5)])
def test_estimate_matches_known_diameter_3d(kind, diameter, spacing):
    membrane, scale, _ = cell_field(diameter, kind, spacing=spacing, n=4, nz=10)
    estimate = estimate_cell_diameter([membrane, membrane[:, ::-1]], scale)
    assert estimate == pytest.approx(diameter, rel=0.15)


def test_marker_given_or_detected_agree():
    membrane, scale, _ = cell_field(20.0, "ring")
    auto = estimate_cell_diameter(membrane, scale, RecipientParams(marker="auto"))
    ring = estimate_cell_diameter(membrane, scale, RecipientParams(marker="ring"))
    assert auto == ring
    # read as a filled marker, the rims of a ring image are the wrong structure
    filled = estimate_cell_diameter(membrane, scale, RecipientParams(marker="filled"))
    assert abs(filled - 20.0) > abs(ring - 20.0)


def test_nuclei_spacing_replaces_blobs():
    membrane, scale, labels = cell_field(20.0, "filled", spacing=1.0)
    centres = np.zeros(labels.shape, np.int32)  # a small nucleus at the centre of each cell
    depth = ndi.distance_transform_edt(labels > 0, sampling=scale[1:])
    for i in range(1, labels.max() + 1):
        cell = labels == i
        if cell.any():
            centres[cell & (depth > 0.7 * depth[cell].max())] = i
    estimate = estimate_cell_diameter(membrane, scale, nuclei=centres[None])
    assert estimate == pytest.approx(20.0, rel=0.15)
    intensity = estimate_cell_diameter(membrane, scale, nuclei=(centres[None] > 0) * 500.0)
    assert intensity == pytest.approx(20.0, rel=0.15)


def test_estimate_is_deterministic_and_does_not_touch_input():
    membrane, scale, _ = cell_field(18.0, "filled", spacing=1.2)
    copy = membrane.copy()
    first = estimate_cell_diameter([membrane, membrane], scale)
    assert estimate_cell_diameter([membrane, membrane], scale) == first
    np.testing.assert_array_equal(membrane, copy)


@pytest.mark.parametrize("fill", [0.0, 700.0])
def test_no_cells_falls_back_with_a_warning(fill):
    with pytest.warns(CellSizeWarning, match="could not estimate"):
        value = estimate_cell_diameter(np.full((1, 64, 64), fill, np.float32), (1, 0.3, 0.3))
    assert value == DEFAULT_DIAMETER_UM


def test_bad_input():
    with pytest.raises(ValueError, match="Z, Y, X"):
        estimate_cell_diameter(np.zeros((8, 8)), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="scale"):
        estimate_cell_diameter(np.zeros((1, 8, 8)), (1.0, 1.0))
    with pytest.raises(ValueError, match="NaN"):
        estimate_cell_diameter(np.full((1, 8, 8), np.nan), (1, 1, 1))
    with pytest.raises(ValueError, match="nuclei"):
        estimate_cell_diameter(np.ones((1, 8, 8)), (1, 1, 1), nuclei=np.ones((1, 4, 4)))


def test_resolve_keeps_a_given_number_and_fills_auto():
    membrane, scale, _ = cell_field(25.0, "filled")
    given = Params().updated({"recipient": {"cell_diameter_um": 12.0}})
    assert resolve_cell_diameter(given, [membrane], scale) == (given, "given")
    auto, source = resolve_cell_diameter(Params(), [membrane], scale)
    assert source == "auto" and isinstance(auto.recipient.cell_diameter_um, float)
    assert auto.recipient.cell_diameter_um == pytest.approx(25.0, rel=0.15)
    assert Params().recipient.cell_diameter_um == "auto"  # the input is not changed
    assert sample_frames(1) == [0] and sample_frames(10) == [0, 4, 9] and sample_frames(0) == []


def _movie(frames=3):
    from mtrack.io import movie_from_array

    membrane, scale, _ = cell_field(20.0, "filled", spacing=1.1, n=3)
    rng = np.random.default_rng(1)
    mito = rng.poisson(100.0, membrane.shape).astype(np.float32)
    image = np.stack([np.stack([mito, membrane])] * frames)  # (T, C, Z, Y, X)
    return movie_from_array(image.astype(np.uint16), "TCZYX", scale=scale, frame_interval=10.0)


def test_run_records_the_diameter_used(tmp_path):
    from mtrack.pipeline import run_movie
    from mtrack.results import save_results

    results = run_movie(_movie(), Params(), scheduler="synchronous")
    used = results.params.recipient.cell_diameter_um
    assert isinstance(used, float) and used == pytest.approx(20.0, rel=0.15)
    assert results.run["cell_diameter_um"] == used
    assert results.run["cell_diameter_source"] == "auto"
    assert len(results.cells) and results.cells.groupby("t").size().max() >= 9
    save_results(results, tmp_path / "out")
    saved = yaml.safe_load((tmp_path / "out" / "params.yaml").read_text())
    assert saved["recipient"]["cell_diameter_um"] == used
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["cell_diameter_um"] == used and run["cell_diameter_source"] == "auto"

    given = Params().updated({"recipient": {"cell_diameter_um": 18.0}})
    again = run_movie(_movie(), given, scheduler="synchronous")
    assert again.run["cell_diameter_um"] == 18.0 and again.run["cell_diameter_source"] == "given"


def test_process_frame_estimates_auto_from_its_frame():
    from mtrack.frame import process_frame

    movie = _movie(frames=1)
    auto = process_frame(movie.frame(0), movie.scale, Params())
    with warnings.catch_warnings():
        warnings.simplefilter("error", CellSizeWarning)
        given = Params().updated({"recipient": {"cell_diameter_um": 20.0}})
        fixed = process_frame(movie.frame(0), movie.scale, given)
    assert abs(int(auto.recipients.max()) - int(fixed.recipients.max())) <= 1


def test_info_prints_the_estimate(tmp_path, capsys):
    import tifffile

    from mtrack.cli import main

    movie = _movie()
    path = tmp_path / "m.tif"
    data = np.stack([movie.frame(t) for t in range(3)])[:, :, 0]  # (T, C, Y, X)
    tifffile.imwrite(path, data, imagej=True,
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 10.0},
                     resolution=(1 / movie.scale[2], 1 / movie.scale[1]))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("recipient cell diameter"))
    value = float(line.split(":")[1].split("µm")[0])
    assert value == pytest.approx(20.0, rel=0.15)
    assert "t=0" in line and "t=2" in line
