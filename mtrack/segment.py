"""Recipient cells from the membrane channel of one frame.

The membrane marker either outlines each cell with a thin bright rim (membrane
dye on a confocal) or fills it (WGA, CellTracker, widefield); ``marker="auto"``
tells them apart by the thickness of the bright structure.  Both paths share
one preparation: anisotropic smoothing, removal of the background shape
(uneven illumination) and a noise-based foreground level, per frame.  Ring
images: a seeded watershed on the membrane intensity, seeded by the cores of
the cell interiors (dimly stained or enclosed regions between rims).  Filled
images: a watershed on intensity x distance to the edge, seeded by its
prominent maxima at a spacing set by ``cell_diameter_um``.  Nuclei, when given,
replace the automatic seeds.  All lengths are in µm, converted with ``scale``;
distances use ``sampling=scale``; 2D frames (``Z == 1``) are processed as 2D.

3D stacks where the membrane fades smoothly along z (a Gaussian axial profile
over a few planes, no sharp top) or cells span only 2-3 planes: the axial PSF
scales whole cross-sections, so rim and interior are told apart within each
plane and near each column's focus (the bright-class threshold, "locally
bright", the seeds), and the ring watershed runs on the image with each
column's axial fall-off divided out, so that faint top and bottom planes are
no low passes between cells.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import label as _label_same_value
from skimage.morphology import h_maxima
from skimage.segmentation import relabel_sequential, watershed

from mtrack.params import RecipientParams

__all__ = ["segment_recipients"]

# Tuning constants (dimensionless or in µm); user-facing knobs live in RecipientParams.
_NOISE_K = 6.0  # foreground: this many noise standard deviations above the dark level
_ALS_P = 0.001  # background fit: weight of tiles above the fitted surface (cells)
_FILL_FRACTION = 0.2  # filled: foreground also above this share of the bright-class median
_PEAK_H = 0.075  # filled seeds: relative rise of a maximum above its saddle
_COMPACT = 0.1  # filled watershed: landscape rise per cell diameter away from a seed
_LOCAL_UM, _LOCAL_RATIO = 2.5, 1.5  # ring: rim also where 1.5 x the mean within ~2.5 µm
_STAINED = 0.04  # ring: interiors carry dye above this share of the rim level
_CORE_Z_UM = 1.0  # ring 3D: seeds lie deeper than this inside the interior along z
_VESICLE = {2: 4.0, 3: 8.0}  # ring: smaller bright pieces (µm², µm³) are vesicles, not rim
_RING_HOLE_FRACTION = 0.3  # auto: ring when this share of the filled bright mask is interior
_RING_MAX_THICKNESS_UM = 2.0  # auto: ring when the bright structure is thinner than this
_ENVELOPE_CELLS = 1.0  # 3D: a plane's brightness near a voxel: its brightest signal this many
#                        cell diameters away (a cell's own rim is within reach of its interior)
_FOCUS_GAIN = 2.0  # 3D: "near focus" = at least half as bright as the column's brightest plane,
#                    i.e. within the axial FWHM, where rim and interior are told apart reliably

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
        A ``cell_diameter_um`` of ``"auto"`` is estimated from this frame
        (:func:`mtrack.cellsize.estimate_cell_diameter`); pipelines resolve it
        once per movie instead.
    nuclei : ndarray, shape (Z, Y, X), optional
        Nuclei of the same frame, either instance labels (integer or boolean
        image whose objects are constant-valued) or an intensity image (Otsu
        threshold).  Each nucleus seeds one cell and cells without a nucleus
        are dropped; without ``nuclei`` the seeds come from the membrane image.

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
    if params.cell_diameter_um == "auto":  # a frame segmented on its own: its own estimate
        from mtrack.cellsize import estimate_cell_diameter  # here: no import cycle

        diameter = estimate_cell_diameter(membrane, scale, params, nuclei)
        params = params.model_copy(update={"cell_diameter_um": round(diameter, 1)})
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
    # in 3D, the threshold comes from the planes near each column's focus: the faint planes
    # of a smooth axial profile would pull it below the interiors of the in-focus planes
    gain = None if is_2d else _axial_gain(flat, level, sampling, params)
    sample = foreground if is_2d else foreground & (gain <= _FOCUS_GAIN)
    sample = sample if sample.any() else foreground
    bright = flat > threshold_otsu(flat[sample]) * params.threshold_scale
    level *= params.threshold_scale
    seeds = None
    if nuclei is not None:
        seeds = _nuclei_seeds(np.asarray(nuclei[0] if is_2d else nuclei), sampling, params)
    marker = params.marker
    if marker == "auto":
        marker = _detect_marker(bright, sampling, params)
    if marker == "ring":
        landscape = flat if gain is None else flat * gain  # rims: barriers in every plane
        in_focus = None if gain is None else gain <= _FOCUS_GAIN
        labels = _ring(flat, landscape, level, bright, sampling, params, seeds, in_focus)
    else:
        labels = _filled(flat, level, bright, sampling, params, seeds)
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


def _flatten(img: np.ndarray, sampling, params: RecipientParams) -> tuple[np.ndarray, float]:
    """Smooth, remove the background *shape*; return (image with dark level 0, foreground level).

    The shape (uneven illumination) is a quadratic fitted by asymmetric least
    squares to the low percentile of tiles a quarter cell wide: it follows the
    darkest (background) tiles and passes below tiles covered by cells.  Only
    the shape is removed, not its level, so a field with no background at all
    keeps its contrast.  The foreground level is ``_NOISE_K`` robust noise
    standard deviations above the dark level (1st percentile).
    """
    smooth = ndi.gaussian_filter(img, _px(params.smoothing_um, sampling))
    env = _background_shape(smooth, sampling, params)
    flat = smooth - env
    flat -= np.percentile(flat, 1)
    return flat, _NOISE_K * _noise(img, flat, sampling, params)


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
    tile = np.clip(np.round(_px(params.cell_diameter_um / 4, sampling)), 1, shape).astype(int)
    n = shape // tile
    blocks = smooth[tuple(slice(0, k * t) for k, t in zip(n, tile))]
    blocks = blocks.reshape(tuple(v for k, t in zip(n, tile) for v in (k, t)))
    low = np.percentile(blocks, 10, axis=tuple(range(1, 2 * len(n), 2))).ravel()
    axes = [a for a in range(len(n)) if n[a] > 1]

    def terms(x):  # 1, x_a and x_a * x_b, each only where there are tiles enough to fit it
        quad = [x[a] * x[b] for i, a in enumerate(axes) for b in axes[i:] if a != b or n[a] > 2]
        return [np.ones_like(x[0])] + [x[a] for a in axes] + quad

    centres = [(np.arange(k) + 0.5) * t / s for k, t, s in zip(n, tile, shape)]
    design = np.stack([t.ravel() for t in terms(np.meshgrid(*centres, indexing="ij"))], axis=1)
    weight = np.ones(low.size)
    for _ in range(10):  # asymmetric least squares: the surface hugs the darkest tiles
        root = np.sqrt(weight)
        coef = np.linalg.lstsq(design * root[:, None], low * root, rcond=None)[0]
        weight = np.where(low > design @ coef, _ALS_P, 1 - _ALS_P)
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    env = sum(c * t for c, t in zip(coef, terms([(g + 0.5) / s for g, s in zip(grids, shape)])))
    resid = low - design @ coef  # background tiles sit just above the fit, cells far above
    background = resid <= 3 * np.median(np.abs(resid[resid <= np.median(resid)])) + 1e-6
    # never extrapolate beyond the levels of the background tiles seen
    env = np.clip(np.broadcast_to(env, smooth.shape), low.min(), low[background].max())
    return (env - env.min()).astype(np.float32)


def _axial_gain(flat: np.ndarray, level: float, sampling, params: RecipientParams) -> np.ndarray:
    """Per voxel, the factor that would bring its plane to the brightness of its column's focus.

    The axial point spread function multiplies a cell's whole cross-section
    by a smooth function of z: a membrane 5x dimmer two planes off focus
    keeps its in-plane pattern (rim against interior).  The brightness of a
    plane near a voxel is the brightest signal within ``_ENVELOPE_CELLS`` cell
    diameters in that plane (never less than the foreground level, so noise
    in empty planes is not inflated); the gain is that brightness in the
    column's brightest plane over the one in the voxel's plane (>= 1).
    """
    reach = np.maximum(1, np.round(_px(_ENVELOPE_CELLS * params.cell_diameter_um, sampling)))
    size = (1,) + tuple(2 * reach[1:].astype(int) + 1)
    envelope = np.maximum(ndi.maximum_filter(flat, size=size), level)
    return (envelope.max(axis=0) / envelope).astype(np.float32)


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
    holes = _holes(closed)
    holes &= ~_small(holes, sampling, params.min_cell_diameter_um)
    fraction = holes.sum() / max(1, holes.sum() + closed.sum())
    ring = thickness < _RING_MAX_THICKNESS_UM or fraction > _RING_HOLE_FRACTION
    return "ring" if ring else "filled"


def _nuclei_seeds(nuclei: np.ndarray, sampling, params: RecipientParams) -> np.ndarray:
    """Seed labels from nuclei given as labels or as intensity."""
    if nuclei.dtype.kind in "biu":
        nz = nuclei != 0
        same = nuclei[..., 1:] == nuclei[..., :-1]
        if nz.any() and same[nz[..., 1:]].mean() > 0.9:  # constant-valued objects: labels
            return _label_same_value(nuclei, background=0, connectivity=1).astype(np.int32)
    smooth = ndi.gaussian_filter(nuclei.astype(np.float32), _px(params.smoothing_um, sampling))
    mask = _open(smooth > threshold_otsu(smooth), _open_radius(params), sampling)
    return ndi.label(mask)[0]


def _peaks(landscape: np.ndarray, mask: np.ndarray, radius_um: float, sampling) -> np.ndarray:
    """Labelled maxima of ``landscape`` in ``mask``: ``radius_um`` apart and prominent.

    A maximum must dominate its neighbourhood and rise by the factor
    ``1 + _PEAK_H`` above the saddle joining it to a higher one, so that dim
    and bright cells are treated alike.
    """
    size = tuple(2 * np.maximum(1, np.round(_px(radius_um, sampling))).astype(int) + 1)
    peak = (landscape == ndi.maximum_filter(landscape, size=size)) & mask & (landscape > 0)
    if peak.any():  # relative prominence: h-maxima of the log landscape
        top = float(np.percentile(landscape[mask], 99))
        peak &= h_maxima(np.log(landscape + 0.01 * top), np.log1p(_PEAK_H)).astype(bool)
    return ndi.label(peak, np.ones((3,) * landscape.ndim, bool))[0]


def _filled(
    flat: np.ndarray, level: float, bright: np.ndarray, sampling, params: RecipientParams, seeds
) -> np.ndarray:
    """Filled marker: threshold, then watershed on distance x intensity.

    The foreground is above the noise level and above ``_FILL_FRACTION`` of
    the bright-class median, opened to cut thin bridges.  The landscape is the
    smoothed intensity times the distance to the edge of the footprint
    (in-plane in 3D, capped at a cell radius): within a cell's reach necks
    between touching cells are valleys, and inside sheets wider than a cell
    dim junctions between bright cell bodies are.  Seeds are its prominent
    maxima at least a quarter cell apart, or the nuclei (then the cap is a
    quarter cell, as a nucleus need not sit on a distance maximum).  A small
    distance-to-seed term breaks ties on plateaus (a compact watershed).
    """
    d = params.cell_diameter_um
    if not (flat > level).any():
        return np.zeros(flat.shape, np.int32)
    median = float(np.median(flat[bright])) if bright.any() else 0.0
    level = max(level, _FILL_FRACTION * median * params.threshold_scale)
    fg = _open(flat > level, _open_radius(params), sampling)
    fg |= _small(_holes(fg), sampling, params.cell_diameter_um)
    plane = (1e6,) * (flat.ndim - 2) + tuple(sampling[-2:])  # footprint distance in 3D
    dist = ndi.distance_transform_edt(fg, sampling=plane)
    signal = np.clip(flat, 0, None)
    cap = d / 4 if seeds is not None else d / 2  # nuclei need not sit on distance maxima
    if seeds is None:
        coarse = ndi.gaussian_filter(signal, _px(d / 8, sampling)) * np.minimum(dist / cap, 1)
        seeds = _peaks(coarse, fg, d / 4, sampling)
    seeds = seeds * fg
    fine = ndi.gaussian_filter(signal, _px(d / 16, sampling)) * np.minimum(dist / cap, 1)
    spread = ndi.distance_transform_edt(seeds == 0, sampling=sampling) / d
    return watershed(-fine / max(float(fine.max()), 1e-12) + _COMPACT * spread, seeds, mask=fg)


def _ring(
    flat: np.ndarray,
    landscape: np.ndarray,
    level: float,
    membrane: np.ndarray,
    sampling,
    params: RecipientParams,
    seeds,
    in_focus: np.ndarray | None = None,
) -> np.ndarray:
    """Ring marker: cell interiors seed a watershed on the membrane intensity.

    The rim is the bright class plus locally bright pixels (faint junctions,
    deep slices).  Interiors are the non-rim pixels that carry some dye and lie
    within a cell diameter of rim in their own plane (this keeps cells cut by
    the border and drops out-of-focus haze above or below the cells) or, when
    interiors are as dark as the background, the holes enclosed by rim.
    Distances that shape interiors are measured in-plane, so flat cells with
    few slices keep their interior.  The seeds are the interior cores (deeper
    than ``min(0.4 min_cell_diameter_um, 0.15 cell_diameter_um)`` from the
    rim), which cuts leaks through gaps in a membrane shared by two cells.
    """
    if not membrane.any():
        return np.zeros(flat.shape, np.int32)
    ndim = flat.ndim
    plane = (1e6,) * (ndim - 2) + tuple(sampling[-2:])  # in-plane distances in 3D
    # locally bright within the plane (the 3D mean sits below the in-focus plane of a smooth
    # axial profile, where interiors would pass) and within the volume (haze in the planes
    # under or over the cells would pass an in-plane test)
    local = ndi.gaussian_filter(flat, _px(_LOCAL_UM, sampling))
    if ndim == 3:
        local = np.maximum(local, ndi.gaussian_filter(flat, _px(_LOCAL_UM, plane)))
    rim = _close(membrane | ((flat > _LOCAL_RATIO * local) & (flat > level)), 0.5, sampling)
    lab, n = ndi.label(rim, np.ones((3,) * ndim, bool))  # bright vesicles are not rim
    big = np.bincount(lab.ravel(), minlength=n + 1) * float(np.prod(sampling)) >= _VESICLE[ndim]
    big[0] = False
    rim = big[lab]
    holes = _holes(rim)
    holes &= ~_small(holes, sampling, params.min_cell_diameter_um)
    holes &= _small(holes, sampling, 2 * params.cell_diameter_um)  # not huge background pockets
    rim_level = float(np.median(flat[membrane]))
    stained = flat > max(level, _STAINED * rim_level * params.threshold_scale)
    if holes.any() and stained[holes].mean() < 0.5:
        interior = holes  # dark interiors: only enclosed regions are cells
    else:
        ringed = ndi.distance_transform_edt(~rim, sampling=plane) <= params.cell_diameter_um
        interior = stained & ~rim & ringed
    interior |= _small(_holes(interior | rim), sampling, params.cell_diameter_um) & ~rim  # nuclei
    dist = ndi.distance_transform_edt(interior, sampling=plane)
    radius = min(0.4 * params.min_cell_diameter_um, 0.15 * params.cell_diameter_um)
    core = seed_core = dist > radius
    if ndim == 3:  # and at least ~2 µm thick: no seeds in the flat basal or apical membrane
        axial = (sampling[0], 1e6, 1e6)
        core = core & (ndi.distance_transform_edt(interior, sampling=axial) > _CORE_Z_UM)
        # seeds: the core columns themselves that thick, so a faint plane whose narrower rim
        # widens its core cannot leave a lip of core beside the column, a seed of its own
        seed_core = core & (ndi.distance_transform_edt(seed_core, sampling=axial) > _CORE_Z_UM)
        if in_focus is not None:  # rim and interior are told apart reliably near focus only
            seed_core &= in_focus
    if seeds is None:
        seeds = ndi.label(seed_core)[0]
    # interiors are compact: an opening at the core radius drops thin stained fringes
    interior &= ndi.distance_transform_edt(~core, sampling=sampling) <= radius + 0.5
    parts, n = ndi.label(interior)
    seeded = np.zeros(n + 1, bool)
    seeded[parts[seeds > 0]] = True
    seeded[0] = False
    interior = seeded[parts]  # stained regions outside any cell (ruffles, debris) are dropped
    band = max(1.0, 0.1 * params.cell_diameter_um)  # the rim itself belongs to the cell
    region = interior | (rim & (ndi.distance_transform_edt(~interior, sampling=sampling) <= band))
    return watershed(landscape, seeds * region, mask=region)


def _open_radius(params: RecipientParams) -> float:
    """Opening radius (µm) that removes nanotubes and filopodia but no cell."""
    return min(1.25, params.min_cell_diameter_um / 4)


def _holes(mask: np.ndarray) -> np.ndarray:
    """Background regions enclosed by ``mask`` in their plane (per slice in 3D)."""
    return ndi.binary_fill_holes(mask, _in_plane(mask.ndim)) & ~mask


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
    fill |= _small(_holes(fill), sampling, params.cell_diameter_um)  # small holes join their cell
    gap = ndi.distance_transform_edt(labels == 0, sampling=sampling)
    labels = watershed(gap, labels, mask=fill)
    pieces = _label_same_value(labels, background=0, connectivity=1)
    size = np.bincount(pieces.ravel())
    owner = np.zeros(size.size, np.int64)
    owner[pieces.ravel()] = labels.ravel()
    order = np.lexsort((-size, owner))  # by cell, largest piece first
    keep = np.zeros(size.size, bool)
    keep[order[np.r_[True, owner[order][1:] != owner[order][:-1]]]] = True
    keep &= (size >= _min_size(params, sampling, labels.ndim)) & (owner > 0)
    return relabel_sequential(np.where(keep[pieces], labels, 0))[0].astype(np.int32)
