"""The per-frame core: one frame (C, Z, Y, X) -> labels and small tables.

This is the unit of work that the orchestration layer parallelises. It is a pure
function of one frame, its voxel size and the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.measure import block_reduce
from skimage.segmentation import find_boundaries

from .bleed import correct_bleed_through
from .bridges import BRIDGE_COLUMNS as _DETECTED_BRIDGE_COLUMNS
from .bridges import detect_bridges, objects_on_bridges
from .cellsize import resolve_cell_diameter
from .donors import enhance_donors, object_table, segment_donor_bodies, segment_donors
from .params import Params
from .segment import segment_recipients

__all__ = ["FrameResult", "process_frame", "presence_block", "recipient_depth", "CELL_COLUMNS",
           "OBJECT_COLUMNS", "BRIDGE_COLUMNS"]

CELL_COLUMNS = [
    "label", "area_or_volume", "z", "y", "x",
    "donor_objects", "donor_signal", "diffuse_signal", "body_distance_um",
]
OBJECT_COLUMNS = [
    "label", "z", "y", "x", "size_um", "intensity", "signal", "snr", "punctate",
    "recipient", "containment", "depth_um", "body_distance_um", "bridge",
]
BRIDGE_COLUMNS = [*_DETECTED_BRIDGE_COLUMNS, "donor_objects"]


@dataclass(frozen=True)
class FrameResult:
    """Everything the core measures in one frame.

    Attributes
    ----------
    recipients, donors : (Z, Y, X) int32
        Recipient cell labels and donor object labels (frame-local ids).
    bodies : (Z, Y, X) bool
        Donor bodies (dense donor signal outside recipients).
    cells : DataFrame
        One row per recipient cell, columns :data:`CELL_COLUMNS`.
    objects : DataFrame
        One row per donor object, columns :data:`OBJECT_COLUMNS`.
    presence : (Zb, Yb, Xb) float16
        Donor signal-to-noise map inside recipients, max-pooled over blocks of
        ``prior_signal_um``: a small
        summary that lets event calling ask whether a place held donor signal before.
    bridges : (Z, Y, X) int32
        Bridge skeleton labels.
    bridge_table : DataFrame
        One row per bridge, columns :data:`BRIDGE_COLUMNS`. ``cell_a``/``cell_b`` are
        recipient labels of this frame, or ``-k`` for the k-th donor body.
    """

    recipients: np.ndarray
    donors: np.ndarray
    bodies: np.ndarray
    cells: pd.DataFrame
    objects: pd.DataFrame
    presence: np.ndarray
    bridges: np.ndarray
    bridge_table: pd.DataFrame


def _edt(mask: np.ndarray, scale: tuple[float, float, float]) -> np.ndarray:
    """Euclidean distance (µm) from each True voxel to the nearest False voxel."""
    if mask.shape[0] == 1:
        return ndi.distance_transform_edt(mask[0], sampling=scale[1:])[None]
    return ndi.distance_transform_edt(mask, sampling=scale)


def recipient_depth(recipients: np.ndarray, scale: tuple[float, float, float]) -> np.ndarray:
    """Depth (µm) of every voxel inside its recipient cell; 0 outside and on boundaries.

    Boundaries between touching cells count as outside, so depth measures distance to
    the cell's own membrane (in 3D, to its 3D surface).
    """
    if recipients.shape[0] == 1:
        inner = find_boundaries(recipients[0], mode="inner")[None]
    else:
        inner = find_boundaries(recipients, mode="inner")
    interior = (recipients > 0) & ~inner
    return _edt(interior, scale)


def _majority_recipient(objects: np.ndarray, recipients: np.ndarray, n: int) -> np.ndarray:
    """For each object 1..n, the recipient label covering most of its voxels (0: none)."""
    inside = (objects > 0) & (recipients > 0)
    if n == 0 or not inside.any():
        return np.zeros(n, np.int64)
    pairs = np.stack([objects[inside], recipients[inside]]).astype(np.int64)
    uniq, counts = np.unique(pairs, axis=1, return_counts=True)
    order = np.lexsort((-counts, uniq[0]))  # per object, the largest count first
    uniq = uniq[:, order]
    first = np.r_[True, uniq[0, 1:] != uniq[0, :-1]]
    result = np.zeros(n + 1, np.int64)
    result[uniq[0, first]] = uniq[1, first]
    return result[1:]


def process_frame(
    frame: np.ndarray,
    scale: tuple[float, float, float],
    params: Params,
) -> FrameResult:
    """Segment and measure one frame.

    Parameters
    ----------
    frame : (C, Z, Y, X) array
        All channels of one time point.
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    params : Params
        Channel roles in ``params.input``; algorithm parameters in the other sections.
        A ``recipient.cell_diameter_um`` of ``"auto"`` is estimated from this frame
        (:func:`mtrack.cellsize.resolve_cell_diameter`); :func:`mtrack.pipeline.run_movie`
        resolves it once per movie instead.

    Returns
    -------
    FrameResult

    Notes
    -----
    When ``params.input.bleed_through`` (k) is above 0, the mito channel is corrected
    first, ``mito - k × (membrane - membrane background)`` clipped at 0
    (:func:`mtrack.bleed.correct_bleed_through`, the background measured on this frame),
    and everything downstream (donor objects, bodies, intensities, diffuse signal) sees
    the corrected channel. ``params.donor.bleed_through`` is a separate subtraction
    inside donor enhancement; set one or the other, not both.
    """
    roles = params.input
    mito = np.asarray(frame[roles.mito_channel], dtype=np.float32)
    membrane = np.asarray(frame[roles.membrane_channel], dtype=np.float32)
    if roles.bleed_through > 0:
        mito = correct_bleed_through(mito, membrane, roles.bleed_through)
    nuclei = None
    if roles.nuclei_channel is not None:
        nuclei = np.asarray(frame[roles.nuclei_channel], dtype=np.float32)
    # "auto" cell diameter (a frame analysed on its own): estimated from this frame
    params, _ = resolve_cell_diameter(params, [membrane], scale,
                                      None if nuclei is None else [nuclei])

    recipients = segment_recipients(membrane, scale, params.recipient, nuclei=nuclei)
    tophat, snr = enhance_donors(mito, scale, params.donor, membrane=membrane)
    donors = segment_donors(snr, scale, params.donor)
    # bodies from every voxel of donor signal, before the size filter: a donor's packed
    # network forms objects far larger than one mitochondrion
    bodies = segment_donor_bodies(snr >= params.donor.threshold_sigma / 2, recipients, scale,
                                  params.donor)

    depth = recipient_depth(recipients, scale)
    body_distance = _edt(~bodies, scale) if bodies.any() else np.full(mito.shape, np.inf)
    objects = _object_measurements(
        donors, recipients, depth, body_distance, mito, tophat, snr, scale, params
    )
    skeleton, bridge_table, on_bridge = _bridges(membrane, recipients, bodies, objects, scale,
                                                 params)
    objects["bridge"] = on_bridge
    cells = _cell_measurements(recipients, donors, bodies, body_distance, mito, objects,
                               scale, params)
    # donor signal held inside recipients only: a donor body next to a recipient is where
    # a contact transfer comes from, not signal the recipient held before
    presence = block_reduce(np.where(recipients > 0, snr, 0), presence_block(
        scale, snr.shape[0] > 1, params), np.max)
    return FrameResult(recipients, donors, bodies, cells, objects, presence.astype(np.float16),
                       skeleton, bridge_table)


def _bridges(membrane, recipients, bodies, objects, scale, params):
    """Bridge skeleton, bridge table and, per donor object, the bridge it lies on (0: none)."""
    if not params.bridge.enabled:
        return (np.zeros(recipients.shape, np.int32), pd.DataFrame(columns=BRIDGE_COLUMNS),
                np.zeros(len(objects), int))
    body_labels, _ = ndi.label(bodies)
    cells = np.where(recipients > 0, recipients, -body_labels).astype(np.int32)
    skeleton, table = detect_bridges(membrane, cells, scale, params.bridge)
    on = objects_on_bridges(skeleton, objects[["z", "y", "x"]].to_numpy(float), scale,
                            params.bridge.cargo_distance_um)
    on = np.where(objects["recipient"].to_numpy() == 0, on, 0).astype(int)
    counts = np.bincount(on, minlength=int(skeleton.max()) + 1)
    table = table.assign(donor_objects=counts[table["label"].to_numpy(int)])
    return skeleton, table[BRIDGE_COLUMNS], on


def presence_block(scale: tuple[float, float, float], is_3d: bool, params: Params) -> tuple:
    """Block size (voxels per axis) of the per-frame donor presence map."""
    size = params.event.prior_signal_um
    z = max(1, round(size / scale[0])) if is_3d else 1
    return (z, max(1, round(size / scale[1])), max(1, round(size / scale[2])))


def _object_measurements(donors, recipients, depth, body_distance, mito, tophat, snr,
                         scale, params) -> pd.DataFrame:
    table = object_table(donors, mito, tophat, snr, scale, shell_um=params.donor.mito_width_um)
    n = len(table["label"])
    ids = np.arange(1, n + 1)
    recipient = _majority_recipient(donors, recipients, n)
    # containment: share of the object's voxels in its recipient, deeper than the margin
    deep = depth >= params.event.margin_um
    if n:
        rec_of_voxel = np.zeros(n + 1, np.int64)
        rec_of_voxel[1:] = recipient
        good = (recipients == rec_of_voxel[donors]) & deep & (donors > 0)
        containment = ndi.mean(good.astype(np.float32), donors, ids)
        depth_um = ndi.median(np.where(recipients == rec_of_voxel[donors], depth, 0.0),
                              donors, ids)
        body_um = ndi.minimum(body_distance, donors, ids)
    else:
        containment = depth_um = body_um = np.zeros(0)
    table.update(
        recipient=recipient,
        containment=np.asarray(containment, float),
        depth_um=np.asarray(depth_um, float),
        body_distance_um=np.where(np.isfinite(body_um), body_um, np.nan),
        bridge=np.zeros(n, int),
    )
    return pd.DataFrame(table, columns=OBJECT_COLUMNS)


def _cell_measurements(recipients, donors, bodies, body_distance, mito, objects,
                       scale, params) -> pd.DataFrame:
    is_3d = recipients.shape[0] > 1
    n = int(recipients.max())
    ids = np.arange(1, n + 1)
    if n == 0:
        return pd.DataFrame(columns=CELL_COLUMNS)
    voxel = scale[0] * scale[1] * scale[2] if is_3d else scale[1] * scale[2]
    ones = np.ones(recipients.shape, np.float32)
    size = ndi.sum_labels(ones, recipients, ids) * voxel
    centroids = np.array(ndi.center_of_mass(ones, recipients, ids)).reshape(n, 3)
    # diffuse signal: cell interior away from donor objects, over the background level
    free = ndi.binary_dilation(donors > 0, iterations=2) == 0
    outside = (recipients == 0) & ~bodies & free
    background = float(np.median(mito[outside])) if outside.any() else float(np.median(mito))
    diffuse = np.asarray(ndi.median(mito, np.where(free, recipients, 0), ids), float)
    diffuse = np.where(np.isfinite(diffuse), diffuse - background, 0.0)
    inside = objects[(objects["recipient"] > 0)
                     & (objects["containment"] >= params.event.min_containment)]
    counts = np.bincount(inside["recipient"].astype(int), minlength=n + 1)[1:]
    signal = np.bincount(inside["recipient"].astype(int), weights=inside["signal"],
                         minlength=n + 1)[1:]
    body_um = np.asarray(ndi.minimum(body_distance, recipients, ids), float)
    return pd.DataFrame({
        "label": ids,
        "area_or_volume": size,
        "z": centroids[:, 0],
        "y": centroids[:, 1],
        "x": centroids[:, 2],
        "donor_objects": counts,
        "donor_signal": signal,
        "diffuse_signal": diffuse,
        "body_distance_um": np.where(np.isfinite(body_um), body_um, np.nan),
    }, columns=CELL_COLUMNS)
