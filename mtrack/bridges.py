"""Tunneling-nanotube-like bridges between cells, from the membrane channel.

A tunneling nanotube (TNT) is a thin (0.2-1.5 µm) membrane strand that joins two distinct
cells and, in 3D, hovers above the substrate. Per frame:

1. **Ridge filter.** For every scale ``sigma`` between the thinnest and the widest bridge the
   in-plane Hessian of the membrane channel is computed (each z plane on its own) and its most
   negative eigenvalue gives a bright-ridge response (Sato-like, ``black_ridges=False``).
2. **Noise normalisation.** Each scale and plane is turned into a signal-to-noise map with the
   median and MAD of the response *outside* the (slightly dilated) cells; the maps are combined
   by a maximum over scales. In 3D they are projected by a maximum over z, keeping the argmax
   plane, so a bridge hovering between the planes is found and its plane gives its height.
3. **Hysteresis threshold** (high ``threshold_sigma``, low half of it) outside the cells dilated
   by ``contact_um / 2``. A ridge component *touches* a cell when it comes within ``contact_um``
   of it; only components touching at least two distinct cells are kept.
4. **Skeleton graph.** The kept components are skeletonized and turned into a pixel graph with
   :func:`skan.csr.skeleton_to_csgraph`. Every (component, touched cell) pair gets a virtual
   source and sink node joined to the skeleton pixels near that cell, weighted by their distance
   to the cell, so one multi-source Dijkstra gives, for every pair of touched cells, the shortest
   path from one cell's edge to the other's along the skeleton. A path is a bridge when it does
   not come within ``contact_um`` of a third cell, leaves the contact zone of its own two cells
   somewhere (a path hugging the notch where two cells nearly touch never does), and does not
   mostly run along a bridge already accepted (pairs are tried longest first, so a bridge that
   grazes a third cell is reported once, between its true ends). The middle of every accepted
   path is then blocked and the search repeated, which finds parallel bridges between the same
   two cells that meet near a cell.
5. **Measurements and filters.** Path length (smoothed polyline plus the straight gaps to the
   cells, measured in the bridge's plane in 3D), width (apparent full width at half maximum,
   optics included, from how the ridge response falls between the smallest and the largest
   scale along the path), straightness, height above the lowest plane occupied by any cell
   (sub-plane peak of the ridge signal, median along the path), centroid and mean membrane
   intensity; bridges outside the length range, wider than ``max_width_um`` or (3D) lower than
   ``min_height_um`` are dropped.

Cells are given as one label image: recipients positive, donor bodies negative (they carry no
membrane label, so a bridge from a donor ends at the edge of its negative region), 0 background.
A bridge joins a recipient to a recipient or a donor to a recipient, never two donors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph
from skan.csr import skeleton_to_csgraph
from skimage.morphology import skeletonize

from .params import BridgeParams

__all__ = ["BRIDGE_COLUMNS", "detect_bridges", "objects_on_bridges"]

BRIDGE_COLUMNS = [
    "label", "cell_a", "cell_b", "length_um", "width_um", "straightness", "height_um",
    "z", "y", "x", "intensity",
]

_MAD_TO_SIGMA = 1.4826
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_MIN_SIGMA_PX = 1.0  # Hessians below one pixel alias; thinner bridges are blurred to this anyway
_MAX_NOISE_SAMPLES = 40_000  # background pixels per plane used for the noise statistics
_PATH_SMOOTH_NODES = 1.5  # Gaussian sigma (in path nodes) before measuring the path length
_MAX_ROUNDS = 8  # path searches per frame (each finds the next distinct bridge of a cell pair)


def _empty_table() -> pd.DataFrame:
    """The bridge table with no rows and the right dtypes."""
    return pd.DataFrame({
        "label": pd.Series(dtype=np.int32), "cell_a": pd.Series(dtype=np.int64),
        "cell_b": pd.Series(dtype=np.int64),
        **{c: pd.Series(dtype=np.float64) for c in BRIDGE_COLUMNS[3:]},
    })


def _ridge_sigmas_um(params: BridgeParams, pixel_um: float) -> np.ndarray:
    """Hessian scales (µm): Gaussian sigmas of the thinnest to the widest bridge profile.

    A bridge of full width at half maximum ``w`` has a profile of standard deviation
    ``w / 2.355``; scales below one pixel are raised to one pixel and the range spans at least a
    factor of two (the width estimate compares the smallest and the largest scale).
    """
    lo = max(params.min_width_um / _FWHM_PER_SIGMA, _MIN_SIGMA_PX * pixel_um)
    hi = max(params.max_width_um / _FWHM_PER_SIGMA, 2.0 * lo)
    n = math.ceil(math.log(hi / lo) / math.log(math.sqrt(2.0))) + 1
    return np.geomspace(lo, hi, n)


def _ridge_response(image: np.ndarray, sigma_um: float, sy: float, sx: float) -> np.ndarray:
    """Bright-ridge response ``-lambda_min`` of the in-plane Hessian (per z plane), float32.

    Derivatives are in physical units (per µm²), unnormalised.
    """
    gy, gx = sigma_um / sy, sigma_um / sx
    f0 = ndi.gaussian_filter1d(image, gx, axis=2, order=0, mode="nearest")
    f1 = ndi.gaussian_filter1d(image, gx, axis=2, order=1, mode="nearest")
    f2 = ndi.gaussian_filter1d(image, gx, axis=2, order=2, mode="nearest")
    hxx = ndi.gaussian_filter1d(f2, gy, axis=1, order=0, mode="nearest") / (sx * sx)
    hxy = ndi.gaussian_filter1d(f1, gy, axis=1, order=1, mode="nearest") / (sx * sy)
    hyy = ndi.gaussian_filter1d(f0, gy, axis=1, order=2, mode="nearest") / (sy * sy)
    half_diff = 0.5 * (hxx - hyy)
    return np.sqrt(half_diff * half_diff + hxy * hxy) - 0.5 * (hxx + hyy)


def _noise_stats(resp: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-plane median and robust sigma (MAD) of ``resp`` (Z, Y, X) over the 2D ``background``."""
    idx = np.flatnonzero(background)
    if idx.size > _MAX_NOISE_SAMPLES:
        idx = idx[:: math.ceil(idx.size / _MAX_NOISE_SAMPLES)]
    values = resp.reshape(resp.shape[0], -1)[:, idx]
    med = np.median(values, axis=1)
    sig = _MAD_TO_SIGMA * np.median(np.abs(values - med[:, None]), axis=1)
    # a noise-free plane has MAD 0: fall back to a small fraction of its range, never 0
    span = np.max(np.abs(resp.reshape(resp.shape[0], -1)), axis=1)
    sig = np.maximum(sig, np.maximum(1e-3 * span, 1e-12))
    return med.astype(np.float32), sig.astype(np.float32)


def _project_cells(cells: np.ndarray) -> np.ndarray:
    """(Y, X) labels of the cells seen from above: the label of the lowest occupied plane."""
    if cells.shape[0] == 1:
        return cells[0]
    first = np.argmax(cells != 0, axis=0)
    return np.take_along_axis(cells, first[None], axis=0)[0]


def _hysteresis(snr: np.ndarray, allowed: np.ndarray, low: float, high: float) -> np.ndarray:
    """8-connected hysteresis threshold of a 2D map inside ``allowed``."""
    weak = (snr > low) & allowed
    lab, n = ndi.label(weak, structure=np.ones((3, 3), bool))
    if n == 0:
        return weak
    keep = np.zeros(n + 1, bool)
    keep[np.unique(lab[(snr > high) & weak])] = True
    keep[0] = False
    return keep[lab]


def _width_from_ratio(r_small: float, r_large: float, s1: float, s2: float) -> float:
    """Profile sigma (µm) of a Gaussian ridge from its Hessian responses at scales s1 < s2.

    For a ridge of standard deviation ``w`` the response at scale ``s`` is proportional to
    ``(w² + s²)^(-3/2)``; the ratio of two scales gives ``w`` in closed form.
    """
    if not (r_small > 0 and r_large > 0):
        return float("nan")
    q = (r_small / r_large) ** (2.0 / 3.0)
    if q <= 1.0 + 1e-9:
        return float("inf")
    w2 = (s2 * s2 - q * s1 * s1) / (q - 1.0)
    return float(math.sqrt(max(w2, 0.0)))


def _anchor(cells_plane: np.ndarray, proj: np.ndarray, label: int, point: np.ndarray,
            sy: float, sx: float) -> tuple[np.ndarray, float]:
    """Nearest voxel (y, x) of cell ``label`` to ``point`` (pixels) and its distance (µm).

    Looked for in ``cells_plane`` (the bridge's plane), else in the projection.
    """
    ys, xs = np.nonzero(cells_plane == label)
    if ys.size == 0:
        ys, xs = np.nonzero(proj == label)
    d = np.hypot((ys - point[0]) * sy, (xs - point[1]) * sx)
    i = int(np.argmin(d))
    return np.array([ys[i], xs[i]], float), float(d[i])


@dataclass
class _Context:
    """What the per-path measurements of one frame need."""

    membrane: np.ndarray
    cells: np.ndarray
    proj: np.ndarray
    scale: tuple[float, float, float]
    params: BridgeParams
    snr: np.ndarray
    zbest: np.ndarray
    responses: list  # raw ridge response at the smallest and the largest scale
    meds: list  # their per-plane noise medians
    sigmas: np.ndarray
    z0: int
    py: np.ndarray
    px: np.ndarray
    node_cell: np.ndarray
    node_dist: np.ndarray


def _contact_paths(coo: sparse.coo_matrix, n_nodes: int, attach: np.ndarray, vid: np.ndarray,
                   gap: np.ndarray, m: int, blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest cell-edge-to-cell-edge paths along the skeleton between every two contacts.

    Contact ``j`` gets a source node (edges to its attachment pixels) and a sink node (edges
    from them), weighted by the pixels' distance ``gap`` (µm) to the cell, so a path never
    crosses a cell. Blocked pixels are left out.

    Returns
    -------
    dmat : (m, n_nodes + 2 m) array
        Distance (µm) from the source of each contact to every node; for a skeleton pixel it is
        also the distance from that pixel to the contact's sink (the graph is symmetric).
    lengths : (m, m) array
        Path length (µm) from the source of one contact to the sink of another (inf: none).
    """
    keep = ~(blocked[coo.row] | blocked[coo.col])
    ok = ~blocked[attach]
    attach, vid, gap = attach[ok], vid[ok], gap[ok]
    n = n_nodes + 2 * m
    full = sparse.csr_matrix(
        (np.concatenate([coo.data[keep], gap, gap]),
         (np.concatenate([coo.row[keep], n_nodes + vid, attach]),
          np.concatenate([coo.col[keep], attach, n_nodes + m + vid]))),
        shape=(n, n))
    dmat = csgraph.dijkstra(full, directed=True, indices=n_nodes + np.arange(m))
    return dmat, dmat[:, n_nodes + m:]


def _measure(ctx: _Context, on_path: np.ndarray, cell_a: int, cell_b: int) -> dict | None:
    """Measure the path (skeleton node ids ordered from ``cell_a`` to ``cell_b``) as a bridge.

    Returns the table row (plus ``_zsk``, the plane of each path pixel), or ``None`` when the
    path is not a bridge: it comes close to a third cell, never leaves the contact zone of its
    two cells, or its length, width or (3D) height is out of range.
    """
    params = ctx.params
    sz, sy, sx = ctx.scale
    Z = ctx.snr.shape[0]
    dist, cell = ctx.node_dist[on_path], ctx.node_cell[on_path]
    # the path may not come close to a third cell
    third = cell[dist <= params.contact_um]
    if np.any((third != cell_a) & (third != cell_b)):
        return None
    # it must cross free space, leaving the contact zone of both cells somewhere (a path that
    # never does hugs a notch where two cells nearly touch)
    if dist.max() < min(params.contact_um, 0.5 * params.min_length_um):
        return None
    yy, xx = ctx.py[on_path], ctx.px[on_path]
    zz = ctx.zbest[yy, xx]
    if Z > 1:
        # height: parabolic sub-plane peak of the ridge signal, median along the path
        zc = np.clip(zz, 1, Z - 2) if Z >= 3 else zz
        s_m = ctx.snr[np.maximum(zc - 1, 0), yy, xx]
        s_0 = ctx.snr[zc, yy, xx]
        s_p = ctx.snr[np.minimum(zc + 1, Z - 1), yy, xx]
        curv = s_m - 2 * s_0 + s_p
        interior = (zz > 0) & (zz < Z - 1) & (curv < 0)
        off = np.where(interior, 0.5 * (s_m - s_p) / np.where(interior, curv, -1.0), 0.0)
        zf = zz + np.clip(off, -0.5, 0.5)
        z_bridge = float(np.median(zf))
        height = max(z_bridge - ctx.z0, 0.0) * sz  # a strand below the cells lies on the glass
        if height < params.min_height_um:
            return None
        zsk = np.clip(np.rint(ndi.median_filter(zf, size=5, mode="nearest")), 0, Z - 1)
        zsk = zsk.astype(int)
        plane = int(np.clip(round(z_bridge), 0, Z - 1))
    else:
        height, zsk, plane = 0.0, np.zeros(on_path.size, int), 0
    # length: smoothed path polyline plus the straight gaps to the two cells (bridge plane)
    pts = np.stack([yy, xx], axis=1).astype(float)
    smooth = ndi.gaussian_filter1d(pts, _PATH_SMOOTH_NODES, axis=0, mode="nearest")
    steps = np.diff(smooth, axis=0) * (sy, sx)
    inner = float(np.hypot(steps[:, 0], steps[:, 1]).sum())
    end_a, gap_a = _anchor(ctx.cells[plane], ctx.proj, cell_a, smooth[0], sy, sx)
    end_b, gap_b = _anchor(ctx.cells[plane], ctx.proj, cell_b, smooth[-1], sy, sx)
    length = inner + gap_a + gap_b
    if not params.min_length_um <= length <= params.max_length_um:
        return None
    # width: how the (noise-debiased) ridge response falls from the smallest to largest scale
    r_small = float(np.median(ctx.responses[0][zz, yy, xx] - ctx.meds[0][zz]))
    r_large = float(np.median(ctx.responses[-1][zz, yy, xx] - ctx.meds[-1][zz]))
    width = _FWHM_PER_SIGMA * _width_from_ratio(r_small, r_large, float(ctx.sigmas[0]),
                                                float(ctx.sigmas[-1]))
    if not width <= params.max_width_um:  # also refuses NaN
        return None
    width = max(width, params.min_width_um)  # not resolved below the thinnest bridge sought
    chord = float(np.hypot((end_a[0] - end_b[0]) * sy, (end_a[1] - end_b[1]) * sx))
    return {
        "cell_a": cell_a, "cell_b": cell_b, "length_um": length, "width_um": width,
        "straightness": min(chord / length, 1.0) if length > 0 else 1.0,
        "height_um": float(height), "z": float(zsk.mean()), "y": float(yy.mean()),
        "x": float(xx.mean()),
        "intensity": float(ctx.membrane[zsk, yy, xx].astype(np.float64).mean()),
        "_zsk": zsk,
    }


def detect_bridges(
    membrane: np.ndarray,
    cells: np.ndarray,
    scale: tuple[float, float, float],
    params: BridgeParams,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Detect thin membrane bridges (TNT-like) joining two distinct cells in one frame.

    Parameters
    ----------
    membrane : (Z, Y, X) array
        Membrane channel of one frame; ``Z == 1`` for 2D data. Not modified.
    cells : (Z, Y, X) int array
        Cells a bridge may join: recipients > 0, donor bodies < 0 (-1, -2, ...), background 0.
        Not modified.
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    params : BridgeParams
        ``min_width_um``/``max_width_um`` set the ridge scales and the width limit,
        ``threshold_sigma`` the hysteresis threshold (low = half), ``contact_um`` how close a
        ridge must come to a cell to touch it, ``min_length_um``/``max_length_um`` the length
        range and, in 3D, ``min_height_um`` the least height above the substrate.

    Returns
    -------
    skeleton : (Z, Y, X) int32 array
        Labels 1..n of each bridge's skeleton (the path between its two cells), 0 elsewhere; in
        3D each skeleton pixel lies in the plane where the bridge is brightest there.
    table : pandas.DataFrame
        One row per bridge: ``label``, ``cell_a`` < ``cell_b`` (the two cells, non-zero and
        distinct; never two donors), ``length_um`` (along the path, cell edge to cell edge),
        ``width_um`` (apparent full width at half maximum, optics included), ``straightness``
        (end-to-end distance / length), ``height_um`` (3D: height of the bridge above the lowest
        plane occupied by any cell; 0 in 2D), ``z, y, x`` (voxel centroid of the skeleton) and
        ``intensity`` (mean membrane signal on the skeleton).

    Raises
    ------
    ValueError
        When ``membrane`` and ``cells`` are not 3D arrays of the same shape.
    """
    membrane = np.asarray(membrane)
    cells = np.asarray(cells)
    if membrane.ndim != 3 or cells.shape != membrane.shape:
        raise ValueError(f"membrane and cells must be (Z, Y, X) arrays of one shape, got "
                         f"{membrane.shape} and {cells.shape}")
    Z, Y, X = membrane.shape
    sz, sy, sx = (float(s) for s in scale)
    is_3d = Z > 1
    skeleton = np.zeros((Z, Y, X), np.int32)
    empty = (skeleton, _empty_table())
    proj = _project_cells(cells)
    if np.unique(proj[proj != 0]).size < 2:
        return empty

    # distance (µm) of every pixel to the nearest cell seen from above, and that cell's label
    dist, (iy, ix) = ndi.distance_transform_edt(proj == 0, sampling=(sy, sx), return_indices=True)
    nearest = proj[iy, ix]
    allowed = dist > 0.5 * params.contact_um
    background = allowed if np.count_nonzero(allowed) >= 64 else np.ones((Y, X), bool)

    # multiscale ridge signal-to-noise, per plane, max over scales; then max over z
    image = membrane.astype(np.float32, copy=True)
    sigmas = _ridge_sigmas_um(params, 0.5 * (sy + sx))
    responses, meds = [], []  # of the smallest and the largest scale, for the width
    snr = None
    for i, s in enumerate(sigmas):
        resp = _ridge_response(image, float(s), sy, sx)
        med, sig = _noise_stats(resp, background)
        if i in (0, len(sigmas) - 1):
            responses.append(resp)
            meds.append(med)
        cur = (resp - med[:, None, None]) / sig[:, None, None]
        snr = cur if snr is None else np.maximum(snr, cur, out=snr)
    zbest = np.argmax(snr, axis=0)
    best = np.take_along_axis(snr, zbest[None], axis=0)[0]
    # the maximum over scales (and planes) lifts the noise: normalise the projection again
    med, sig = _noise_stats(best[None], background)
    best = (best - med[0]) / sig[0]

    # hysteresis outside the dilated cells; components touching >= 2 distinct cells
    mask = _hysteresis(best, allowed, 0.5 * params.threshold_sigma, params.threshold_sigma)
    comp, ncomp = ndi.label(mask, structure=np.ones((3, 3), bool))
    if ncomp == 0:
        return empty
    touch = mask & (dist <= params.contact_um)
    pairs = np.unique(np.stack([comp[touch], nearest[touch]]), axis=1)  # (2, n) comp, cell
    counts = np.bincount(pairs[0], minlength=ncomp + 1)
    has_recipient = np.zeros(ncomp + 1, bool)
    has_recipient[pairs[0][pairs[1] > 0]] = True
    good = (counts >= 2) & has_recipient
    if not good.any():
        return empty
    skel2d = skeletonize(good[comp])
    if not skel2d.any():
        return empty

    # skeleton pixel graph (µm); every (component, touched cell) is a contact
    graph, (py, px) = skeleton_to_csgraph(skel2d, spacing=(sy, sx))
    coo = sparse.coo_matrix(graph)
    n_nodes = graph.shape[0]
    node_comp, node_cell, node_dist = comp[py, px], nearest[py, px], dist[py, px]
    base = 2 * int(np.abs(proj).max()) + 3  # (component, cell) -> one sortable integer key
    contacts = pairs[:, good[pairs[0]]]
    ckey = contacts[0].astype(np.int64) * base + contacts[1]
    pos = np.minimum(np.searchsorted(ckey, node_comp.astype(np.int64) * base + node_cell),
                     ckey.size - 1)
    is_contact = ckey[pos] == node_comp.astype(np.int64) * base + node_cell
    # skeleton ends retract from the mask: a pixel may attach to its cell when it lies within
    # 1 µm (or one maximal bridge width) of the closest skeleton pixel to that cell
    closest = np.full(ckey.size, np.inf)
    np.minimum.at(closest, pos[is_contact], node_dist[is_contact])
    attach = np.flatnonzero(is_contact)
    attach = attach[node_dist[attach] <= closest[pos[attach]] + max(1.0, params.max_width_um)]

    ctx = _Context(
        membrane=membrane, cells=cells, proj=proj, scale=(sz, sy, sx), params=params,
        snr=snr, zbest=zbest, responses=responses, meds=meds, sigmas=sigmas,
        z0=int(np.argmax((cells != 0).reshape(Z, -1).any(axis=1))) if is_3d else 0,
        py=py, px=px, node_cell=node_cell, node_dist=node_dist,
    )
    # Distinct bridges between the same two cells (parallel nanotubes joined near a cell) share
    # a component: find the shortest paths, accept what passes, block the middle of every
    # accepted path and search again until a round accepts nothing.
    blocked = np.zeros(n_nodes, bool)
    used = np.zeros(n_nodes, bool)
    rows: list[dict] = []
    for _ in range(_MAX_ROUNDS):
        dmat, lengths = _contact_paths(coo, n_nodes, attach, pos[attach], node_dist[attach],
                                       ckey.size, blocked)
        ja, jb = np.nonzero(np.isfinite(lengths))
        sel = ((contacts[0][ja] == contacts[0][jb]) & (contacts[1][ja] < contacts[1][jb])
               & (contacts[1][jb] > 0))
        ja, jb = ja[sel], jb[sel]
        # longest first: a pair whose path mostly runs along an accepted one is the same bridge
        # grazing a third cell (a path that passes near a third cell is refused in _measure)
        order = np.argsort(-lengths[ja, jb], kind="stable")
        accepted = 0
        for a_j, b_j in zip(ja[order], jb[order]):
            total = lengths[a_j, b_j]
            da, db = dmat[a_j, :n_nodes], dmat[b_j, :n_nodes]
            on_path = np.flatnonzero(da + db <= total + 1e-6 * max(total, 1.0))
            if on_path.size < 2 or used[on_path].mean() > 0.5:
                continue
            on_path = on_path[np.argsort(da[on_path], kind="stable")]
            row = _measure(ctx, on_path, int(contacts[1][a_j]), int(contacts[1][b_j]))
            if row is None:
                continue
            label = len(rows) + 1
            zsk = row.pop("_zsk")
            skeleton[zsk, py[on_path], px[on_path]] = label
            rows.append({"label": label, **row})
            used[on_path] = True
            mid = on_path[node_dist[on_path] >= 0.5 * node_dist[on_path].max()]
            blocked[mid] = True
            accepted += 1
        if accepted == 0:
            break
    if not rows:
        return empty
    table = pd.DataFrame(rows, columns=BRIDGE_COLUMNS).astype(
        {"label": np.int32, "cell_a": np.int64, "cell_b": np.int64})
    return skeleton, table


def objects_on_bridges(
    skeleton: np.ndarray,
    centroids_zyx: np.ndarray,
    scale: tuple[float, float, float],
    distance_um: float,
) -> np.ndarray:
    """Bridge label each donor object lies on (0 if none).

    Parameters
    ----------
    skeleton : (Z, Y, X) int array
        Bridge skeleton labels from :func:`detect_bridges`.
    centroids_zyx : (N, 3) array
        Object centroids in voxel coordinates (z, y, x).
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    distance_um : float
        An object whose centroid is within this distance of a bridge's skeleton is on it. The
        distance is measured in y/x to the skeleton projected along z (bridges hover between
        planes, so their z is imprecise).

    Returns
    -------
    ndarray of int32, shape (N,)
        The nearest bridge label within ``distance_um`` of each object, 0 where there is none.
    """
    cent = np.asarray(centroids_zyx, float).reshape(-1, 3)
    out = np.zeros(len(cent), np.int32)
    skel = np.asarray(skeleton)
    proj = skel.max(axis=0) if skel.ndim == 3 else skel
    if len(cent) == 0 or not proj.any():
        return out
    _, sy, sx = (float(s) for s in scale)
    _, (iy, ix) = ndi.distance_transform_edt(proj == 0, return_indices=True,
                                             sampling=(sy, sx))
    Y, X = proj.shape
    finite = np.all(np.isfinite(cent[:, 1:]), axis=1)
    ry = np.clip(np.rint(np.where(finite, cent[:, 1], 0)), 0, Y - 1).astype(int)
    rx = np.clip(np.rint(np.where(finite, cent[:, 2], 0)), 0, X - 1).astype(int)
    ny, nx = iy[ry, rx], ix[ry, rx]
    d = np.hypot((cent[:, 1] - ny) * sy, (cent[:, 2] - nx) * sx)
    hit = finite & (d <= distance_um)
    out[hit] = proj[ny[hit], nx[hit]]
    return out
