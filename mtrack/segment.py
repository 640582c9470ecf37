"""Recipient cells from the membrane channel of one frame.

The membrane marker either outlines each cell with a thin bright rim (membrane
dye on a confocal) or fills it (WGA, CellTracker, widefield).  Both paths share
one preparation: anisotropic smoothing, flattening of the background shape at
cell scale and a noise-based foreground level.  Ring images are split by a
seeded watershed on the membrane intensity, seeded by the cell interiors
(regions enclosed by membrane, or dim-but-stained regions cut by the border);
filled images by a watershed on the product of the distance transform and the
cell-scale intensity, seeded by its maxima.  Nuclei, when given, replace the
automatic seeds in both paths.  All lengths are in µm and converted with
``scale``; 2D frames (``Z == 1``) are processed as 2D.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import label as _label_same_value
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from mtrack.params import RecipientParams

__all__ = ["segment_recipients"]

_NOISE_K = 6.0  # foreground level above the dark level, in noise standard deviations
_LOCAL_UM = float(__import__("os").environ.get("LU", "2.5"))
_LOCAL_RATIO = float(__import__("os").environ.get("LR", "1.5"))
_H_UM = float(__import__("os").environ.get("HU", "0.75"))
_VESICLE = {2: 4.0, 3: 8.0}  # µm² / µm³: smaller bright membrane-mask pieces are vesicles
_ALS_P = 0.001  # background fit: weight of tiles above the surface (cells)
_FILL_FRACTION = 0.3  # filled: foreground at least this share of the median cell signal
_STAINED = float(__import__("os").environ.get("ST", "0.04"))  # ring interiors: share of the membrane level
_RING_HOLE_FRACTION = 0.3  # auto: ring when this much of the hole-filled membrane is interior
_RING_MAX_THICKNESS_UM = 2.0  # auto: ring when the bright structure is thinner than this
_PEAK_H = float(__import__("os").environ.get("PH", "0.02"))  # seed prominence, share of the landscape range


def segment_recipients(
    membrane: np.ndarray,
    scale: tuple[float, float, float],
    params: RecipientParams,
    nuclei: np.ndarray | None = None,
) -> np.ndarray:
    """Segment recipient cells from the membrane channel of one frame.

    Parameters
    ----------
    membrane : ndarray, shape (Z, Y, X)
        Membrane (or cytoplasmic) marker of one frame, any real dtype.  ``Z == 1``
        is processed as a 2D image.
    scale : tuple of 3 floats
        Voxel size ``(z, y, x)`` in µm; ``z`` is ignored when ``Z == 1``.
    params : RecipientParams
        ``marker`` (``"auto"``, ``"ring"`` or ``"filled"``), ``smoothing_um``,
        ``cell_diameter_um``, ``min_cell_diameter_um`` and ``threshold_scale``.
    nuclei : ndarray, shape (Z, Y, X), optional
        Nuclei of the same frame, either instance labels (integer image whose
        objects are constant-valued) or an intensity image.  Each nucleus seeds
        one cell; without it seeds come from the membrane image itself.

    Returns
    -------
    labels : ndarray of int32, shape (Z, Y, X)
        Recipient cell labels, 0 = background, ids ``1..N`` (frame-local).

    Raises
    ------
    ValueError
        If ``membrane`` is not 3D or not finite, ``scale`` has not 3 positive
        values, or ``nuclei`` has another shape.

    Notes
    -----
    Thin bright lines (tunneling nanotubes, filopodia) are removed by a binary
    opening of radius ``min(1.25 µm, min_cell_diameter_um / 4)``: they neither
    become cells nor join two cells.  Cells cut by the image border are kept.
    """
    membrane = np.asarray(membrane)
    if membrane.ndim != 3:
        raise ValueError(f"membrane must be (Z, Y, X), got shape {membrane.shape}")
    if len(scale) != 3 or min(scale) <= 0:
        raise ValueError(f"scale must be 3 positive µm values (z, y, x), got {scale}")
    if nuclei is not None and np.shape(nuclei) != membrane.shape:
        raise ValueError(f"nuclei shape {np.shape(nuclei)} differs from membrane {membrane.shape}")
    is_2d = membrane.shape[0] == 1
    img = np.asarray(membrane[0] if is_2d else membrane, dtype=np.float32)
    sampling = tuple(float(s) for s in (scale[1:] if is_2d else scale))
    if not np.all(np.isfinite(img)):
        raise ValueError("membrane contains NaN or infinite values")
    empty = np.zeros(membrane.shape, np.int32)
    if img.max() == img.min():
        return empty

    flat, level = _flatten(img, sampling, params)
    foreground = flat > level
    if np.count_nonzero(foreground) < _min_size(params, sampling, img.ndim):
        return empty
    # the brighter class of the foreground: the rims of ring cells, the bodies of filled ones
    bright = flat > threshold_otsu(flat[foreground]) * params.threshold_scale
    seeds = None
    if nuclei is not None:
        seeds = _nuclei_seeds(np.asarray(nuclei[0] if is_2d else nuclei), sampling, params)
    marker = params.marker
    if marker == "auto":
        marker = _detect_marker(bright, sampling, params)
    if marker == "ring":
        labels = _ring(flat, level, bright, sampling, params, seeds)
    else:
        labels = _filled(flat, level, sampling, params, seeds)
    labels = _clean(labels, sampling, params)
    return labels.reshape(membrane.shape).astype(np.int32, copy=False)


# --------------------------------------------------------------------------- helpers
def _px(um: float, sampling: tuple[float, ...]) -> np.ndarray:
    """Length in µm -> per-axis length in pixels."""
    return um / np.asarray(sampling, dtype=float)


def _in_plane(ndim: int) -> np.ndarray:
    """Face connectivity restricted to the last two axes (per-slice labelling in 3D)."""
    structure = ndi.generate_binary_structure(ndim, 1)
    if ndim == 3:
        structure[0] = structure[2] = False
    return structure


def _min_size(params: RecipientParams, sampling: tuple[float, ...], ndim: int) -> float:
    """Minimum cell size in pixels/voxels from the minimum equivalent diameter."""
    d = params.min_cell_diameter_um
    size_um = np.pi * d**2 / 4 if ndim == 2 else np.pi * d**3 / 6
    return size_um / float(np.prod(sampling))


def _open(mask: np.ndarray, radius_um: float, sampling: tuple[float, ...]) -> np.ndarray:
    """Euclidean binary opening in µm (exact with anisotropic sampling)."""
    core = ndi.distance_transform_edt(mask, sampling=sampling) > radius_um
    return ndi.distance_transform_edt(~core, sampling=sampling) <= radius_um


def _close(mask: np.ndarray, radius_um: float, sampling: tuple[float, ...]) -> np.ndarray:
    """Euclidean binary closing in µm."""
    grown = ndi.distance_transform_edt(~mask, sampling=sampling) <= radius_um
    return ndi.distance_transform_edt(grown, sampling=sampling) > radius_um


def _flatten(
    img: np.ndarray, sampling: tuple[float, ...], params: RecipientParams
) -> tuple[np.ndarray, float]:
    """Smooth, remove the background *shape*; return (image with dark level 0, foreground level).

    The shape (uneven illumination) is a quadratic fitted by asymmetric least
    squares to the low percentile of tiles half a cell wide, so that it follows
    the darkest (background) tiles and passes below tiles covered by cells.  Only the shape is removed, not its level, so a field
    with no background at all keeps its contrast.  The foreground level is
    ``_NOISE_K`` robust noise standard deviations above the dark level.
    """
    smooth = ndi.gaussian_filter(img, _px(params.smoothing_um, sampling))
    env = _background_shape(smooth, sampling, params)
    flat = smooth - env
    flat -= np.percentile(flat, 1)
    return flat, _NOISE_K * _noise(img, flat, sampling, params) * params.threshold_scale


def _noise(img: np.ndarray, flat: np.ndarray, sampling, params: RecipientParams) -> float:
    """Robust standard deviation of the pixel noise in the dim half, after smoothing."""
    size = 3 ** img.ndim
    resid = (img - ndi.uniform_filter(img, 3))[flat < np.median(flat)]
    raw = 1.4826 * np.median(np.abs(resid - np.median(resid))) * np.sqrt(size / (size - 1))
    delta = np.zeros((15,) * img.ndim, np.float32)
    delta[(7,) * img.ndim] = 1
    gain = np.sqrt((ndi.gaussian_filter(delta, _px(params.smoothing_um, sampling)) ** 2).sum())
    return float(raw * gain) + 1e-6 * float(flat.max())


def _background_shape(smooth: np.ndarray, sampling, params: RecipientParams) -> np.ndarray:
    """Quadratic background surface (minimum 0) fitted below the tile 10th percentiles."""
    shape = np.array(smooth.shape)
    tile = np.clip(np.round(_px(params.cell_diameter_um / 2, sampling)), 1, shape).astype(int)
    n = shape // tile
    crop = smooth[tuple(slice(0, k * t) for k, t in zip(n, tile))]
    blocks = crop.reshape(tuple(v for k, t in zip(n, tile) for v in (k, t)))
    low = np.percentile(blocks, 10, axis=tuple(range(1, 2 * len(n), 2))).ravel()
    centres = np.meshgrid(*[(np.arange(k) + 0.5) * t / s for k, t, s in zip(n, tile, shape)], indexing="ij")
    axes = [ax for ax in range(len(n)) if n[ax] > 1]

    def terms(coords):
        out = [np.ones_like(coords[0])]
        for i, a in enumerate(axes):
            out.append(coords[a])
            out.extend(coords[a] * coords[b] for b in axes[i:] if n[a] > 2 or a != b)
        return out

    design = np.stack([t.ravel() for t in terms(centres)], axis=1)
    weight = np.ones(low.size)
    for _ in range(10):  # asymmetric least squares: the surface hugs the darkest tiles
        root = np.sqrt(weight)[:, None]
        coef = np.linalg.lstsq(design * root, low * root[:, 0], rcond=None)[0]
        weight = np.where(low > design @ coef, _ALS_P, 1 - _ALS_P)
    grids = [((np.arange(s) + 0.5) / s).reshape([-1 if i == ax else 1 for i in range(len(n))])
             for ax, s in enumerate(shape)]
    env = sum(c * t for c, t in zip(coef, terms(grids)))
    env = np.clip(np.broadcast_to(env, smooth.shape), low.min(), low.max())
    return (env - env.min()).astype(np.float32)


def _detect_marker(mask: np.ndarray, sampling: tuple[float, ...], params: RecipientParams) -> str:
    """``"ring"`` when the bright structure is thin or encloses cell-sized interiors.

    Thickness is the 90th percentile of the distance to the mask edge (µm): a
    membrane rim is about a micrometre thick whatever the cell size, a filled
    cell several.  The hole fraction is the share of the hole-filled mask made
    of enclosed regions at least a minimum cell in size.
    """
    if not mask.any():
        return "filled"
    thickness = float(np.percentile(ndi.distance_transform_edt(mask, sampling=sampling)[mask], 90))
    closed = _close(mask, 0.5, sampling)
    holes = ndi.binary_fill_holes(closed, _in_plane(mask.ndim)) & ~closed
    holes &= ~_small(holes, sampling, params.min_cell_diameter_um)
    fraction = holes.sum() / max(1, holes.sum() + closed.sum())
    ring = thickness < _RING_MAX_THICKNESS_UM or fraction > _RING_HOLE_FRACTION
    return "ring" if ring else "filled"


def _nuclei_seeds(
    nuclei: np.ndarray, sampling: tuple[float, ...], params: RecipientParams
) -> np.ndarray:
    """Seed labels from nuclei given as labels or as intensity."""
    if nuclei.dtype.kind in "biu":
        nz = nuclei != 0
        same = nuclei[..., 1:] == nuclei[..., :-1]
        if nz.any() and same[nz[..., 1:]].mean() > 0.9:  # constant-valued objects: labels
            return _label_same_value(nuclei, background=0, connectivity=1).astype(np.int32)
    smooth = ndi.gaussian_filter(nuclei.astype(np.float32), _px(params.smoothing_um, sampling))
    mask = smooth > threshold_otsu(smooth)
    mask = _open(mask, min(1.0, params.min_cell_diameter_um / 4), sampling)
    dist = ndi.distance_transform_edt(mask, sampling=sampling)
    return ndi.label(dist > 0.5 * min(1.0, params.min_cell_diameter_um / 4))[0]


def _peaks(landscape: np.ndarray, mask: np.ndarray, radius_um: float, sampling) -> np.ndarray:
    """Labelled maxima of ``landscape`` in ``mask``: ``radius_um`` apart and prominent.

    A maximum must dominate its neighbourhood and rise ``_PEAK_H`` of the
    landscape's range above the saddle joining it to a higher one (h-maxima).
    """
    size = tuple(2 * np.maximum(1, np.round(_px(radius_um, sampling))).astype(int) + 1)
    peak = (landscape == ndi.maximum_filter(landscape, size=size)) & mask & (landscape > 0)
    if peak.any():
        h = _PEAK_H * float(np.percentile(landscape[mask], 99))
        peak &= h_maxima(landscape, h).astype(bool)
    return ndi.label(peak, np.ones((3,) * landscape.ndim, bool))[0]


def _filled(
    flat: np.ndarray,
    level: float,
    sampling: tuple[float, ...],
    params: RecipientParams,
    seeds: np.ndarray | None,
) -> np.ndarray:
    """Filled marker: foreground by level, split on distance x cell-scale intensity."""
    d = params.cell_diameter_um
    level = max(level, _FILL_FRACTION * float(np.median(flat[flat > level])) * params.threshold_scale)
    fg = _open(flat > level, _open_radius(params), sampling)
    fg |= _fill_small_holes(fg, sampling, params)
    dist = ndi.distance_transform_edt(fg, sampling=sampling)
    weight = np.minimum(dist / (d / 4), 1.0)
    coarse = ndi.gaussian_filter(np.clip(flat, 0, None), _px(d / 8, sampling)) * weight
    if seeds is None:
        seeds = _peaks(coarse, fg, d / 4, sampling)
    fine = ndi.gaussian_filter(np.clip(flat, 0, None), _px(d / 16, sampling)) * weight
    return watershed(-fine, seeds * fg, mask=fg)


def _ring(
    flat: np.ndarray,
    level: float,
    membrane: np.ndarray,
    sampling: tuple[float, ...],
    params: RecipientParams,
    seeds: np.ndarray | None,
) -> np.ndarray:
    """Ring marker: cell interiors seed a watershed on the membrane intensity.

    The rim is the bright class plus locally bright pixels (faint junctions,
    deep slices).  Interiors are the non-rim pixels that carry some dye and lie
    within a cell diameter of rim in their own plane (this keeps cells cut by
    the border and drops out-of-focus haze above or below the cells) or, when
    interiors are as dark as the background, the holes enclosed by rim.
    Distances that shape interiors are measured in-plane, so flat cells with
    few slices keep their interior.  Each interior gets one seed: maxima of
    its distance to the rim, merged unless separated by a saddle (a gap in a
    membrane between two cells is a deep saddle).
    """
    ndim = flat.ndim
    plane = (1e6,) * (ndim - 2) + tuple(sampling[-2:])  # in-plane distances in 3D
    local = ndi.gaussian_filter(flat, _px(_LOCAL_UM, sampling))
    rim = _close(membrane | ((flat > _LOCAL_RATIO * local) & (flat > level)), 0.5, sampling)
    lab, n = ndi.label(rim, np.ones((3,) * ndim, bool))  # bright vesicles are not rim
    big = np.bincount(lab.ravel(), minlength=n + 1) * float(np.prod(sampling)) >= _VESICLE[ndim]
    big[0] = False
    rim = big[lab]
    holes = ndi.binary_fill_holes(rim, _in_plane(ndim)) & ~rim
    holes &= ~_small(holes, sampling, params.min_cell_diameter_um)
    holes &= _small(holes, sampling, 2 * params.cell_diameter_um)  # not huge background pockets
    stained = flat > max(level, _STAINED * float(np.median(flat[membrane])) * params.threshold_scale)
    if holes.any() and stained[holes].mean() < 0.5:
        interior = holes  # dark interiors: only enclosed regions are cells
    else:
        ringed = ndi.distance_transform_edt(~rim, sampling=plane) <= params.cell_diameter_um
        interior = stained & ~rim & ringed
    interior |= _fill_small_holes(interior | rim, sampling, params) & ~rim  # dark nuclei
    dist = ndi.distance_transform_edt(interior, sampling=plane)
    radius = _core_radius(params)
    core = dist > radius
    if seeds is None:
        peaks = h_maxima(dist, _H_UM * radius).astype(bool) & core
        seeds = ndi.label(peaks, np.ones((3,) * ndim, bool))[0]
    # interiors are compact: an opening at the core radius drops thin stained fringes
    interior &= ndi.distance_transform_edt(~core, sampling=plane) <= radius + 0.5
    parts, n = ndi.label(interior)
    seeded = np.zeros(n + 1, bool)
    seeded[parts[seeds > 0]] = True
    seeded[0] = False
    interior = seeded[parts]  # stained regions outside any cell (ruffles, debris) are dropped
    near = ndi.distance_transform_edt(~interior, sampling=sampling) <= max(1.0, 0.1 * params.cell_diameter_um)
    region = interior | (rim & near)
    return watershed(flat, seeds * region, mask=region)


def _core_radius(params: RecipientParams) -> float:
    return min(0.4 * params.min_cell_diameter_um, 0.15 * params.cell_diameter_um)


def _open_radius(params: RecipientParams) -> float:
    return min(1.25, params.min_cell_diameter_um / 4)


def _fill_small_holes(fg: np.ndarray, sampling, params: RecipientParams) -> np.ndarray:
    """Holes of ``fg`` smaller than a cell (per slice in 3D)."""
    holes = ndi.binary_fill_holes(fg, _in_plane(fg.ndim)) & ~fg
    lab, n = ndi.label(holes, _in_plane(fg.ndim))
    sizes = np.bincount(lab.ravel(), minlength=n + 1) * float(np.prod(sampling[-2:]))
    small = sizes < np.pi * params.cell_diameter_um**2 / 4
    small[0] = False
    return small[lab]


def _small(mask: np.ndarray, sampling, diameter_um: float) -> np.ndarray:
    """Components of ``mask`` (per slice in 3D) smaller than a disc of ``diameter_um``."""
    lab, n = ndi.label(mask, _in_plane(mask.ndim))
    sizes = np.bincount(lab.ravel(), minlength=n + 1) * float(np.prod(sampling[-2:]))
    small = sizes < np.pi * diameter_um**2 / 4
    small[0] = False
    return small[lab]


def _clean(labels: np.ndarray, sampling: tuple[float, ...], params: RecipientParams) -> np.ndarray:
    """Open away thin protrusions, keep each cell's largest piece, drop small cells, relabel."""
    labels = labels * _open(labels > 0, _open_radius(params), sampling)
    fill = labels > 0
    fill |= _fill_small_holes(fill, sampling, params)  # nucleus-sized holes join their cell
    labels = watershed(ndi.distance_transform_edt(labels == 0), labels, mask=fill)
    pieces = _label_same_value(labels, background=0, connectivity=1)
    owner = np.zeros(pieces.max() + 1, np.int64)
    owner[pieces.ravel()] = labels.ravel()
    size = np.bincount(pieces.ravel(), minlength=owner.size)
    size[0] = 0
    best = np.zeros(labels.max() + 1, np.int64)
    np.maximum.at(best, owner, size)
    keep = (size == best[owner]) & (size >= _min_size(params, sampling, labels.ndim))
    keep[0] = False
    kept_owner = np.where(keep, owner, 0)
    ids = np.unique(kept_owner[kept_owner > 0])
    remap = np.zeros(labels.max() + 1, np.int32)
    remap[ids] = np.arange(1, ids.size + 1, dtype=np.int32)
    return np.where(keep[pieces], remap[labels], 0).astype(np.int32)
