"""Tests for mtrack.segment (recipient cells from the membrane channel)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries, watershed

from mtrack.params import RecipientParams
from mtrack.segment import segment_recipients

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
FOREIGN_3D = Path(__file__).resolve().parents[2] / "shared" / "validation" / "foreign" / "3d-33"

# ----------------------------------------------------------------------------- synthetic scenes
# 2D field 64 x 64 µm at 0.25 µm/px: (y, x, radius) in µm.  Cells 1 and 2 overlap (touching
# pair), 5 is cut by the bottom border, a thin bright line joins cells 3 and 4.
CELLS_2D = [
    (16, 14, 7.0), (17, 27.5, 7.5), (46, 12, 6.5), (44, 46, 7.0), (14, 50, 6.0), (61, 30, 6.5)
]
LINE_2D = ((46, 18.5), (44, 39))  # (y, x) µm, from the edge of cell 3 to the edge of cell 4
# 3D field 40 x 40 µm at 0.25 µm/px, 14 slices of 0.8 µm; cells are domes on the substrate.
CELLS_3D = [(12, 12, 7.0), (13, 25, 6.5), (30, 12, 6.5), (29, 30, 7.0)]


def _truth(shape: tuple[int, int], px: float, cells, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Irregular 2D cells; overlaps go to the nearer centre (relative to the cell's radius)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]] * px
    labels = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf)
    for i, (cy, cx, radius) in enumerate(cells, start=1):
        theta = np.arctan2(yy - cy, xx - cx)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        edge = radius * (1 + 0.1 * np.cos(2 * theta + p1) + 0.05 * np.cos(3 * theta + p2))
        rel = np.hypot(yy - cy, xx - cx) / edge
        take = (rel <= 1) & (rel < best)
        labels[take], best[take] = i, rel[take]
    return labels, np.where(labels > 0, best, 1.0)


def _line(shape: tuple[int, ...], px: float, ends, width_um: float = 0.5) -> np.ndarray:
    """Thin straight line (a tunneling nanotube) between two points given in µm."""
    yy, xx = np.mgrid[: shape[-2], : shape[-1]] * px
    (y0, x0), (y1, x1) = ends
    d = np.array([y1 - y0, x1 - x0])
    t = np.clip(((yy - y0) * d[0] + (xx - x0) * d[1]) / (d @ d), 0, 1)
    return np.hypot(yy - (y0 + t * d[0]), xx - (x0 + t * d[1])) <= width_um / 2


def _render(truth, rel, kind, sampling, rng, line=None, uneven=True) -> np.ndarray:
    """Membrane-channel image of ``truth`` as a ring (membrane dye) or filled (cytoplasm) marker."""
    if kind == "ring":  # the membrane is the outer 0.3 µm of each cell, cytoplasm dimly stained
        rim = ndi.distance_transform_edt(~find_boundaries(truth, mode="inner"), sampling=sampling)
        signal = np.where(truth > 0, np.where(rim <= 0.3, 1000.0, 150.0), 0.0)
    else:
        signal = (truth > 0) * (500.0 + 300.0 * (1 - rel**2))
    if line is not None:
        signal = np.maximum(signal, 900.0 * line)
    signal = ndi.gaussian_filter(signal, 0.3 / np.asarray(sampling))
    xx = np.linspace(0, 1, truth.shape[-1])
    gain, offset = (0.6 + 0.7 * xx, 100 + 150 * xx) if uneven else (1.0, 100.0)
    image = signal * gain + offset
    image = rng.poisson(np.clip(image, 0, None)) + rng.normal(0, 15, image.shape)
    return np.clip(image, 0, 65535).astype(np.uint16)


def scene_2d(kind: str, seed: int = 0, uneven: bool = True):
    """One 2D frame (1, Y, X), its true labels (1, Y, X) and the line mask."""
    px = 0.25
    truth, rel = _truth((256, 256), px, CELLS_2D, seed)
    line = _line(truth.shape, px, LINE_2D) & (truth == 0)
    image = _render(truth, rel, kind, (px, px), np.random.default_rng(seed), line, uneven)
    return image[None], truth[None], line[None], (1.0, px, px)


def scene_3d(kind: str, seed: int = 0):
    """One 3D frame of dome-shaped cells on a substrate, anisotropic voxels, and a line
    hovering 2.4 µm above the substrate between cells 3 and 4."""
    scale = (0.8, 0.25, 0.25)
    flat, rel = _truth((160, 160), scale[1], CELLS_3D, seed)
    height = 6.0 * np.sqrt(np.clip(1 - rel**2, 0, None)) + 1.0  # µm above the substrate
    z = (np.arange(14) * scale[0])[:, None, None] - 1.6  # substrate at slice 2
    truth = np.where((z >= 0) & (z <= height) & (flat > 0), flat, 0).astype(np.int32)
    line = np.zeros(truth.shape, bool)
    line[5] = _line(flat.shape, scale[1], ((30, 18.0), (29, 23.5))) & (truth[5] == 0)
    rel3 = np.broadcast_to(rel, truth.shape)
    image = _render(truth, rel3, kind, scale, np.random.default_rng(seed), line, uneven=False)
    return image, truth, line, scale


# 3D field 56 x 56 µm at 0.4 µm/px; cells 1 and 2 touch.  (y, x, radius) in µm.
CELLS_AXIAL = [(14, 14, 6.5), (15.5, 27, 6.5), (41, 15, 6.0), (38, 40, 7.5)]


def scene_axial(kind: str, dz: float, seed: int = 0, planes=(3, 6), n_z: int | None = None):
    """3D frame of cells whose signal fades smoothly along z (Gaussian axial profile).

    Each cell is its 2D pattern (``"ring"``: a 0.4 µm membrane rim around a
    dark or dimly stained interior; ``"filled"``: a body) times a Gaussian
    of z whose FWHM spans ``planes`` planes of ``dz`` µm (drawn per cell, so
    heights differ) and at least 2 µm (a cell body >= ~1.5 µm thick through
    an axial PSF >= ~0.8 µm).  Cells sit on a substrate near the bottom of
    the stack, which reaches well past their tops; with ``n_z`` of 2-3 the
    stack holds only those planes through the middle of the cells (flat cells
    of few planes).  Shot and read noise.  Returns the image (Z, Y, X), the
    footprint labels (Y, X) and the scale.
    """
    px = 0.4
    rng = np.random.default_rng(seed)
    footprint, rel = _truth((140, 140), px, CELLS_AXIAL, seed)
    if kind == "ring":
        edge = find_boundaries(footprint, mode="inner")
        rim = ndi.distance_transform_edt(~edge, sampling=px) <= 0.4
        inside = rng.choice([0.0, 0.1, 0.25])  # interior stain relative to the rim
        pattern = np.where(footprint > 0, np.where(rim, 1.0, inside), 0.0)
    else:
        pattern = (footprint > 0) * (1 - 0.3 * rel**2)
    pattern = ndi.gaussian_filter(pattern, 0.2 / px)
    fwhm = np.maximum(rng.uniform(*planes, len(CELLS_AXIAL)) * dz, 2.0)  # µm
    if n_z is None:
        n_z = int(np.ceil(1.6 * fwhm.max() / dz)) + 2
        centre = dz * rng.uniform(0.5, 1.5) + fwhm / 2  # substrate, then half the profile
    else:
        centre = np.full(fwhm.shape, (n_z - 1) * dz / 2)
    z = np.arange(n_z)[:, None] * dz
    profile = np.exp(-4 * np.log(2) * (z - centre) ** 2 / fwhm**2)  # (Z, cells)
    axial = profile[:, np.clip(footprint - 1, 0, None)]  # (Z, Y, X)
    image = 100 + rng.uniform(400, 800) * axial * pattern[None]
    image = rng.poisson(image) + rng.normal(0, 10, image.shape)
    return np.clip(image, 0, 65535).astype(np.uint16), footprint, (dz, px, px)


def one_label_per_cell(footprint: np.ndarray, labels: np.ndarray) -> bool:
    """As many labels as cells, each cell's main label its own and covering its footprint."""
    mains = []
    for cell in range(1, footprint.max() + 1):
        ids, counts = np.unique(labels[:, footprint == cell], return_counts=True)
        counts, ids = counts[ids > 0], ids[ids > 0]
        if ids.size == 0:
            return False
        main = ids[np.argmax(counts)]
        shadow = (labels == main).any(axis=0)
        iou = np.count_nonzero(shadow & (footprint == cell)) / np.count_nonzero(
            shadow | (footprint == cell)
        )
        if iou < 0.6:
            return False
        mains.append(main)
    return labels.max() == footprint.max() and len(set(mains)) == footprint.max()


def match(truth: np.ndarray, labels: np.ndarray) -> dict[int, tuple[int, float]]:
    """For each true cell, the predicted label overlapping it most and their IoU."""
    out = {}
    for t in range(1, truth.max() + 1):
        inside = labels[truth == t]
        ids, counts = np.unique(inside[inside > 0], return_counts=True)
        if ids.size == 0:
            out[t] = (0, 0.0)
            continue
        best = ids[np.argmax(counts)]
        inter = counts.max()
        union = np.count_nonzero(truth == t) + np.count_nonzero(labels == best) - inter
        out[t] = (int(best), inter / union)
    return out


def check_scene(truth, labels, min_iou=0.7):
    matched = match(truth, labels)
    assert labels.max() == truth.max(), f"{labels.max()} cells found, {truth.max()} expected"
    for t, (lab, iou) in matched.items():
        assert iou >= min_iou, f"cell {t}: IoU {iou:.2f} with label {lab}"
    assert len({lab for lab, _ in matched.values()}) == truth.max(), "two cells share a label"
    return matched


# ----------------------------------------------------------------------------- synthetic tests
@pytest.mark.parametrize("kind", ["ring", "filled"])
@pytest.mark.parametrize("marker", ["auto", "explicit"])
def test_2d_cells_split_and_matched(kind, marker):
    image, truth, line, scale = scene_2d(kind)
    params = RecipientParams(cell_diameter_um=14, marker=kind if marker == "explicit" else "auto")
    labels = segment_recipients(image, scale, params)
    assert labels.shape == image.shape and labels.dtype == np.int32
    matched = check_scene(truth, labels)
    assert matched[1][0] != matched[2][0]  # the touching pair is split
    # the thin line is neither a cell nor part of one (beyond a short stub at each end)
    far = line & (ndi.distance_transform_edt(truth[0] == 0, sampling=scale[1:]) > 1.5)[None]
    assert far.any() and np.count_nonzero(labels[far]) <= 0.05 * far.sum()


@pytest.mark.parametrize("kind", ["ring", "filled"])
def test_3d_domes_anisotropic(kind):
    image, truth, line, scale = scene_3d(kind)
    params = RecipientParams(cell_diameter_um=13)
    labels = segment_recipients(image, scale, params)
    assert labels.shape == image.shape and labels.dtype == np.int32
    matched = check_scene(truth, labels)
    assert matched[1][0] != matched[2][0]
    far = line & (ndi.distance_transform_edt(truth == 0, sampling=scale) > 1.5)
    assert far.any() and np.count_nonzero(labels[far]) <= 0.05 * far.sum()


@pytest.mark.parametrize("kind", ["ring", "filled"])
def test_3d_smooth_axial_profile_one_label_per_cell(kind):
    """Gaussian axial profiles over 3-6 planes, z steps 0.3-2 µm, and flat cells of 2-3 planes."""
    cases = [(dz, seed, (3, 6), None) for dz in (0.3, 0.6, 1.0, 2.0) for seed in (0, 1)]
    cases += [(dz, 0, (2, 3), n_z) for dz in (1.0, 2.0) for n_z in (2, 3)]
    # auto marker detection takes flat filled cells (bright class < 2 µm thick) for rings: a
    # separate question, so the filled marker is given
    params = RecipientParams(cell_diameter_um=13, marker="auto" if kind == "ring" else kind)
    good = []
    for dz, seed, planes, n_z in cases:
        image, footprint, scale = scene_axial(kind, dz, seed, planes, n_z)
        good.append(one_label_per_cell(footprint, segment_recipients(image, scale, params)))
    assert np.mean(good) >= 0.95, [case for case, ok in zip(cases, good) if not ok]


@pytest.mark.skipif(not FOREIGN_3D.is_dir(), reason="foreign validation movie 3d-33 not present")
def test_foreign_3d_one_label_per_cell():
    """Foreign movie 3d-33: 4 ring recipients whose membrane fades smoothly over the 9 planes."""
    from mtrack.io import open_movie

    movie = open_movie(FOREIGN_3D / "movie.tif")
    params = RecipientParams(cell_diameter_um=15)
    frames = range(0, movie.shape[0], 4)  # 5 of its 20 frames keep the test short
    counts = [int(segment_recipients(np.asarray(movie.frame(t))[1], movie.scale, params).max())
              for t in frames]
    assert np.mean(np.equal(counts, 4)) >= 0.95, counts


def test_auto_picks_marker():
    for kind in ("ring", "filled"):
        image, _, _, scale = scene_2d(kind, seed=3)
        auto = segment_recipients(image, scale, RecipientParams(cell_diameter_um=14))
        params = RecipientParams(cell_diameter_um=14, marker=kind)
        explicit = segment_recipients(image, scale, params)
        np.testing.assert_array_equal(auto, explicit)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_input_not_mutated_and_pure(dtype):
    image, truth, _, scale = scene_2d("ring", seed=1)
    image = image.astype(dtype)  # float32 input is used without a copy inside: must stay intact
    nuclei = ndi.binary_erosion(truth > 0, iterations=12).astype(dtype) * 1000
    before, before_nuc = image.copy(), nuclei.copy()
    params = RecipientParams(cell_diameter_um=14)
    first = segment_recipients(image, scale, params)
    segment_recipients(image, scale, params, nuclei=nuclei)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(nuclei, before_nuc)
    np.testing.assert_array_equal(first, segment_recipients(image, scale, params))


def test_z1_is_2d():
    image, truth, _, scale = scene_2d("filled", seed=2)
    params = RecipientParams(cell_diameter_um=14)
    labels = segment_recipients(image, scale, params)
    assert labels.shape == (1, 256, 256)
    # z spacing is meaningless for a single plane
    other = segment_recipients(image, (7.0, scale[1], scale[2]), params)
    np.testing.assert_array_equal(labels, other)
    # float input gives the same answer as integer input
    as_float = segment_recipients(image.astype(np.float32), scale, params)
    np.testing.assert_array_equal(labels, as_float)


def test_uneven_illumination_and_bleaching():
    image, truth, _, scale = scene_2d("filled", seed=4, uneven=True)
    params = RecipientParams(cell_diameter_um=14)
    check_scene(truth, segment_recipients(image, scale, params))
    dim = (100 + (image.astype(float) - 100) * 0.3).astype(np.uint16)  # bleached to 30 %
    check_scene(truth, segment_recipients(dim, scale, params))


def test_threshold_scale_shrinks_foreground():
    image, _, _, scale = scene_2d("filled", seed=5)
    low = segment_recipients(image, scale, RecipientParams(cell_diameter_um=14))
    high = segment_recipients(image, scale, RecipientParams(cell_diameter_um=14, threshold_scale=8))
    assert np.count_nonzero(high) < np.count_nonzero(low)


def test_min_cell_diameter_removes_small_objects():
    image, truth, _, scale = scene_2d("filled", seed=6)
    params = RecipientParams(cell_diameter_um=14, min_cell_diameter_um=16)
    labels = segment_recipients(image, scale, params)
    assert labels.max() < truth.max()
    sizes = np.bincount(labels.ravel())[1:] * scale[1] * scale[2]
    assert np.all(2 * np.sqrt(sizes / np.pi) >= 16)


def _fused_pair():
    """Two filled cells fused into one smooth ellipse: no neck, only nuclei can split them."""
    px = 0.25
    yy, xx = np.mgrid[:128, :160] * px
    body = ((yy - 16) / 9) ** 2 + ((xx - 20) / 16) ** 2 <= 1
    truth = np.where(body, np.where(xx < 20, 1, 2), 0).astype(np.int32)
    nuclei = np.zeros(truth.shape, np.int32)
    for i, cx in enumerate((12.0, 28.0), start=1):
        nuclei[((yy - 16) / 4) ** 2 + ((xx - cx) / 3) ** 2 <= 1] = i
    rng = np.random.default_rng(0)
    image = rng.normal(100 + 600 * body, 20).clip(0).astype(np.uint16)
    return image[None], truth[None], nuclei[None], (1.0, px, px)


@pytest.mark.parametrize("as_labels", [True, False])
def test_nuclei_seed_cells(as_labels):
    image, truth, nuclei, scale = _fused_pair()
    params = RecipientParams(cell_diameter_um=30, marker="filled")
    assert segment_recipients(image, scale, params).max() == 1  # one smooth blob without seeds
    if not as_labels:  # a Hoechst-like intensity image
        rng = np.random.default_rng(1)
        nuclei = rng.normal(200 + 2000 * (nuclei > 0), 30).clip(0).astype(np.uint16)
    labels = segment_recipients(image, scale, params, nuclei=nuclei)
    check_scene(truth, labels, min_iou=0.8)


def test_ring_with_nuclei_seeds():
    image, truth, _, scale = scene_2d("ring", seed=7)
    centres = np.zeros(truth.shape, np.int32)
    for i, (cy, cx, _) in enumerate(CELLS_2D, start=1):
        y, x = int(cy / scale[1]), int(cx / scale[2])
        centres[0, max(0, y - 8) : y + 8, max(0, x - 8) : x + 8] = i
    centres *= truth == np.arange(len(CELLS_2D) + 1)[centres]
    labels = segment_recipients(image, scale, RecipientParams(cell_diameter_um=14), nuclei=centres)
    check_scene(truth, labels)


@pytest.mark.parametrize("fill", [0, 700])
def test_empty_or_constant_frame(fill):
    image = np.full((1, 64, 64), fill, np.uint16)
    labels = segment_recipients(image, (1.0, 0.3, 0.3), RecipientParams())
    assert labels.shape == image.shape and labels.max() == 0


def test_background_only_frame_has_no_cells():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (1, 128, 128)).clip(0).astype(np.uint16)
    labels = segment_recipients(image, (1.0, 0.3, 0.3), RecipientParams())
    assert labels.max() == 0


def test_bad_input():
    with pytest.raises(ValueError, match="Z, Y, X"):
        segment_recipients(np.zeros((8, 8)), (1.0, 1.0, 1.0), RecipientParams())
    with pytest.raises(ValueError, match="scale"):
        segment_recipients(np.zeros((1, 8, 8)), (1.0, 1.0), RecipientParams())
    with pytest.raises(ValueError, match="nuclei"):
        segment_recipients(np.zeros((1, 8, 8)), (1, 1, 1), RecipientParams(), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        segment_recipients(np.full((1, 8, 8), np.nan), (1, 1, 1), RecipientParams())


def test_speed():
    image2d, _, _, scale2d = scene_2d("ring")
    image3d, _, _, scale3d = scene_3d("ring")
    params = RecipientParams(cell_diameter_um=14)
    timings = []
    for image, scale in ((image2d, scale2d), (image3d, scale3d)):
        segment_recipients(image, scale, params)  # warm-up
        start = time.perf_counter()
        segment_recipients(image, scale, params)
        timings.append(time.perf_counter() - start)
    # targets 0.3 s (2D 256 x 256) and 2 s (3D 14 x 160 x 160); generous bounds for slow CI
    assert timings[0] < 1.0 and timings[1] < 6.0, timings


# ----------------------------------------------------------------------------- real images
def _need(folder: str) -> Path:
    path = REALDATA / folder
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not present")
    return path


def count_nuclei(hoechst: np.ndarray, px: float) -> int:
    """Independent nucleus count: Otsu threshold, distance watershed, size filter (>= 6 µm)."""
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(hoechst.astype(float), 1)
    mask = ndi.binary_opening(smooth > threshold_otsu(smooth), iterations=2)
    dist = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(
        ndi.gaussian_filter(dist, 2),
        min_distance=int(4 / px),
        labels=ndi.label(mask)[0],
        exclude_border=False,
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    nuclei = watershed(-dist, markers, mask=mask)
    area = np.bincount(nuclei.ravel())[1:] * px * px
    return int(np.count_nonzero(area >= np.pi * 3.0**2))


# E18 site 2 is the densest field (about 170 nuclei): peaks of the WGA signal merge between
# packed nuclei and the count comes out about 24 % low with the shared cell_diameter_um.
CELLPAINTING_FILES = [
    pytest.param(name, marks=pytest.mark.xfail(reason="densest field: undercounted", strict=False))
    if name == "plate1_E18_site2_Ch1.tiff"
    else name
    for name in (
        f"plate1_{well}_site{site}_Ch1.tiff"
        for well in ("A14", "B13", "C12", "D16", "E18")
        for site in (1, 2)
    )
]


@pytest.mark.realdata
@pytest.mark.parametrize("name", CELLPAINTING_FILES)
def test_cellpainting_count_matches_nuclei(name):
    import tifffile

    path = _need("cellpainting") / name
    image = tifffile.imread(path)  # (5, 520, 696) CYX
    px = 0.656
    params = RecipientParams(cell_diameter_um=29, min_cell_diameter_um=8)
    labels = segment_recipients(image[3][None], (1.0, px, px), params)  # WGA + phalloidin only
    nuclei = count_nuclei(image[0], px)
    assert abs(labels.max() - nuclei) <= 0.2 * nuclei, (labels.max(), nuclei)


@pytest.mark.realdata
def test_cells3d_plausible_cells():
    import tifffile

    stack = tifffile.imread(_need("cells3d") / "cells3d2ch.tiff")  # (2, 60, 66, 85) CZYX
    scale = (0.29, 0.26, 0.26)
    labels = segment_recipients(stack[0], scale, RecipientParams(cell_diameter_um=15))
    volumes = np.bincount(labels.ravel())[1:] * np.prod(scale)
    # the crop (17 x 22 x 17 µm) holds one large rounded (mitotic) cell filling most of the
    # field and slivers of neighbours cut by the crop
    assert 1 <= labels.max() <= 5, volumes
    assert 1500 <= volumes.max() <= 5000, volumes
    big = labels == np.argmax(volumes) + 1
    zs = np.flatnonzero(big.any(axis=(1, 2)))
    assert zs.size * scale[0] >= 8  # one cell spans its full height, not cut into z slabs
    assert ndi.label(big)[1] == 1
    # nothing is found in the out-of-focus haze below the cells
    assert not labels[:10].any()


@pytest.mark.realdata
def test_membrane_timelapse_counts_stable():
    import tifffile

    path = _need("membrane_timelapse") / "membrane_2d_timelapse.tif"
    movie = tifffile.imread(path)  # (5, 256, 256) TYX
    params = RecipientParams(cell_diameter_um=15)  # pixel size not recorded; assume 0.3 µm
    counts = [segment_recipients(frame[None], (1.0, 0.3, 0.3), params).max() for frame in movie]
    median = float(np.median(counts))
    assert median >= 15, counts
    assert all(abs(c - median) <= 0.15 * median for c in counts), counts


@pytest.mark.realdata
def test_bpae_single_filled_cell_not_background_haze():
    import tifffile

    actin = tifffile.imread(_need("bpae") / "BPAE_actin.tif")  # (680, 1100) float32, 0.108 µm
    params = RecipientParams(cell_diameter_um=40)
    labels = segment_recipients(actin[None], (1.0, 0.108, 0.108), params)
    # one spread endothelial cell; the out-of-focus glow around it is not foreground
    area = np.count_nonzero(labels) * 0.108**2
    assert labels.max() == 1 and 1500 <= area <= 3500, (labels.max(), area)
