"""Linking recipient cells and bridges across frames.

Recipients are tracked with laptrack (linear assignment with gap closing and splitting)
on centroids in µm, so a dividing cell gives two daughter tracks that name their mother
(``parent_track_id``). A "division" whose daughter vanishes within a frame or two is the
segmentation cutting one cell in two for a moment: the split is undone and the mother's
track goes on. Bridges, which only need a stable id while they join the same two cells,
are linked by a small frame-to-frame assignment (:func:`link_positions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from laptrack import LapTrack
from scipy.optimize import linear_sum_assignment

from .params import TrackParams

__all__ = ["first_appearance_ids", "lap_segments", "link_positions", "lookup_ids",
           "track_bridges", "track_recipients"]

_FORBIDDEN = 1e12
# a division counts when both daughters are seen for at least this many frames; a
# shorter "daughter" is a cell cut in two by the segmentation for a moment
_MIN_DAUGHTER_FRAMES = 2


def link_positions(
    table: pd.DataFrame,
    scale: tuple[float, float, float],
    max_distance_um: float,
    max_gap_frames: int,
) -> np.ndarray:
    """Give each row of a per-frame table a track id by distance-gated assignment.

    Parameters
    ----------
    table : DataFrame
        Columns ``t, z, y, x`` (voxel centroids).
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    max_distance_um : float
        Largest displacement between consecutive frames; allowed ``(gap + 1)`` times
        this across a gap.
    max_gap_frames : int
        How many frames an object may be missed and still keep its track.

    Returns
    -------
    track_ids : (n,) int64 array, aligned with ``table`` rows, numbered from 1 in
        order of first appearance (deterministic).
    """
    ids = np.zeros(len(table), np.int64)
    if len(table) == 0:
        return ids
    um = table[["z", "y", "x"]].to_numpy(float) * np.asarray(scale, float)
    frames = table["t"].to_numpy()
    last_pos: dict[int, np.ndarray] = {}
    last_t: dict[int, int] = {}
    next_id = 1
    for t in np.unique(frames):
        rows = np.flatnonzero(frames == t)
        rows = rows[np.lexsort(um[rows].T[::-1])]  # stable order inside a frame
        alive = [k for k in sorted(last_t) if t - last_t[k] <= max_gap_frames + 1]
        assigned = np.zeros(len(rows), bool)
        if alive:
            prev = np.array([last_pos[k] for k in alive])
            gaps = np.array([t - last_t[k] for k in alive], float)
            dist = np.linalg.norm(prev[:, None, :] - um[rows][None, :, :], axis=2)
            allowed = dist <= max_distance_um * gaps[:, None]
            cost = np.where(allowed, dist + 1e-3 * gaps[:, None], _FORBIDDEN)
            r, c = linear_sum_assignment(cost)
            for i, j in zip(r, c):
                if allowed[i, j]:
                    ids[rows[j]] = alive[i]
                    assigned[j] = True
        for j in np.flatnonzero(~assigned):
            ids[rows[j]] = next_id
            next_id += 1
        for row in rows:
            last_pos[int(ids[row])] = um[row]
            last_t[int(ids[row])] = int(t)
    return ids


def track_recipients(
    cells: pd.DataFrame, scale: tuple[float, float, float], params: TrackParams
) -> pd.DataFrame:
    """Track recipient cells through movement, missed frames and divisions.

    Parameters
    ----------
    cells : DataFrame
        Per-frame recipients with ``t, z, y, x`` (voxel centroids) and, when known,
        ``area_or_volume`` (µm² or µm³, for the division gate).
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    params : TrackParams
        ``max_cell_displacement_um`` (between frames) and ``max_gap_frames``.

    Returns
    -------
    DataFrame
        A copy of ``cells`` (same row order) with ``track_id`` (from 1, in order of first
        appearance) and ``parent_track_id`` (the mother's ``track_id`` for a daughter of
        a division, else 0).

    Notes
    -----
    A daughter's centroid lies about one cell radius from its mother's, so the
    division gate is the displacement gate plus the median equivalent radius of the
    movie's cells.
    """
    out = cells.copy()
    if len(out) == 0:
        return out.assign(track_id=pd.Series(dtype=int), parent_track_id=pd.Series(dtype=int))
    um = out[["z", "y", "x"]].to_numpy(float) * np.asarray(scale, float)
    step = params.max_cell_displacement_um
    split = (step + _median_radius(out, scale)) ** 2
    span = params.max_gap_frames + 1
    tracker = LapTrack(
        metric="sqeuclidean", cutoff=step ** 2,
        gap_closing_metric="sqeuclidean", gap_closing_cutoff=(step * span) ** 2,
        gap_closing_max_frame_count=span,
        splitting_metric="sqeuclidean", splitting_cutoff=split, merging_cutoff=False,
        track_start_cost=step ** 2, track_end_cost=step ** 2,
        segment_start_cost=split, segment_end_cost=split, no_splitting_cost=split,
    )
    segment, parent = lap_segments(tracker, out["t"].to_numpy(int), um)
    segment, parent = _undo_brief_divisions(segment, out["t"].to_numpy(int), parent)
    ids = first_appearance_ids(segment, out["t"].to_numpy(int), um)
    out["track_id"] = [ids[k] for k in segment]
    out["parent_track_id"] = [ids[parent[k]] if k in parent else 0 for k in segment]
    return out


def lap_segments(tracker: LapTrack, frames: np.ndarray, um: np.ndarray,
                 extra: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[int, int]]:
    """Run a laptrack tracker on per-row positions; its segment per row and its splits.

    Parameters
    ----------
    tracker : LapTrack
    frames : (n,) int array
    um : (n, 3) array
        Positions (z, y, x) in µm.
    extra : dict of (n,) arrays, optional
        Further linking coordinates (same units as the tracker's cutoffs).

    Returns
    -------
    segment : (n,) int64 array
        laptrack's segment id of each row (rows are given to laptrack sorted by frame and
        position, so the result does not depend on the input order).
    parent : dict
        Child segment -> parent segment, for each split.
    """
    extra = extra or {}
    table = pd.DataFrame({"frame": frames, **extra, "z": um[:, 0], "y": um[:, 1],
                          "x": um[:, 2], "row": np.arange(len(frames))})
    table = table.sort_values(["frame", "z", "y", "x", "row"], kind="stable")
    tracks, splits, _ = tracker.predict_dataframe(
        table.reset_index(drop=True), coordinate_cols=[*extra, "z", "y", "x"],
        frame_col="frame", only_coordinate_cols=False)
    segment = np.zeros(len(frames), np.int64)
    segment[tracks["row"].to_numpy(int)] = tracks["track_id"].to_numpy(int)
    parent = {} if len(splits) == 0 else dict(zip(splits["child_track_id"].astype(int),
                                                  splits["parent_track_id"].astype(int)))
    return segment, parent


def first_appearance_ids(segment: np.ndarray, frames: np.ndarray,
                         um: np.ndarray) -> dict[int, int]:
    """Number segments from 1 in order of first appearance (frame, then position z, y,
    x): ids that do not depend on the tracker's own numbering."""
    first = pd.DataFrame({"segment": segment, "t": frames, "z": um[:, 0], "y": um[:, 1],
                          "x": um[:, 2]})
    first = first.sort_values(["t", "z", "y", "x"], kind="stable").drop_duplicates("segment")
    return {int(k): i for i, k in enumerate(first["segment"], 1)}


def lookup_ids(table: pd.DataFrame, column: str, frames: np.ndarray,
               labels: np.ndarray) -> np.ndarray:
    """``table[column]`` of the rows with ``(t, label)`` equal to each ``(frames, labels)``
    pair; 0 where there is none (or ``labels`` is not positive)."""
    lookup = table.set_index(["t", "label"])[column]
    found = lookup.reindex(list(zip(np.asarray(frames, int), np.asarray(labels, int))))
    return np.where(np.asarray(labels) > 0, np.nan_to_num(found.to_numpy(float)), 0).astype(int)


def _median_radius(cells: pd.DataFrame, scale: tuple[float, float, float]) -> float:
    """Median equivalent radius (µm) of the cells, 0 when sizes are not given."""
    if "area_or_volume" not in cells or not len(cells):
        return 0.0
    size = float(np.median(cells["area_or_volume"].to_numpy(float)))
    is_3d = bool((cells["z"].to_numpy(float) != 0).any())  # 2D centroids all lie at z = 0
    return float((3 * size / (4 * np.pi)) ** (1 / 3) if is_3d else np.sqrt(size / np.pi))


def _undo_brief_divisions(segment: np.ndarray, frames: np.ndarray,
                          parent: dict[int, int]) -> tuple[np.ndarray, dict[int, int]]:
    """Undo splits where a daughter lasts fewer than ``_MIN_DAUGHTER_FRAMES`` frames.

    The lasting daughter continues its mother's track; the brief one becomes a track of
    its own with no mother (a piece of a cell cut off for a moment).
    """
    segment = segment.copy()
    parent = dict(parent)
    children: dict[int, list[int]] = {}
    for child, mother in sorted(parent.items()):
        children.setdefault(mother, []).append(child)
    span = {int(k): len(np.unique(frames[segment == k])) for k in np.unique(segment)}
    merged_into: dict[int, int] = {}
    for mother in sorted(children):
        kids = children[mother]
        brief = [k for k in kids if span.get(k, 0) < _MIN_DAUGHTER_FRAMES
                 and k not in children]
        lasting = [k for k in kids if k not in brief]
        if not brief:
            continue
        for k in brief:
            parent.pop(k, None)
        if len(lasting) == 1:  # the mother goes on as the one lasting daughter
            heir, target = lasting[0], merged_into.get(mother, mother)
            segment[segment == heir] = target
            parent.pop(heir, None)
            merged_into[heir] = target
            for grandchild in children.get(heir, []):
                parent[grandchild] = target
    return segment, parent


def track_bridges(
    bridges: pd.DataFrame,
    cells: pd.DataFrame,
    scale: tuple[float, float, float],
    params: TrackParams,
) -> pd.DataFrame:
    """Give per-frame bridges a stable ``bridge_id`` and name their ends by track.

    Parameters
    ----------
    bridges : DataFrame
        Per-frame bridges (``t`` plus :data:`mtrack.frame.BRIDGE_COLUMNS`), whose ends
        ``cell_a``/``cell_b`` are frame-local recipient labels, or negative for a donor body.
    cells : DataFrame
        Per-frame recipients with ``t, label, track_id``.

    Returns
    -------
    DataFrame
        A copy with ``cell_a``/``cell_b`` replaced by recipient ``track_id`` (``-1`` for a
        donor body, ordered so that ``cell_a <= cell_b``), a ``bridge_id`` linking the same
        pair of cells across frames by distance (gaps of ``max_gap_frames`` allowed) and
        ``lifetime`` (frames between the first and last sighting).
    """
    out = bridges.copy()
    if len(out) == 0:
        return out.assign(bridge_id=pd.Series(dtype=int), lifetime=pd.Series(dtype=int))
    ends = []
    for column in ("cell_a", "cell_b"):
        labels = out[column].to_numpy(int)
        tracked = lookup_ids(cells, "track_id", out["t"].to_numpy(int), labels)
        ends.append(np.where(labels < 0, -1, tracked))
    out["cell_a"], out["cell_b"] = np.minimum(*ends), np.maximum(*ends)
    out["bridge_id"] = 0
    next_id = 0
    # a bridge keeps its id while it joins the same cells and stays near where it was
    for _, group in out.groupby(["cell_a", "cell_b"], sort=True):
        ids = link_positions(group, scale, params.max_cell_displacement_um,
                             params.max_gap_frames)
        out.loc[group.index, "bridge_id"] = ids + next_id
        next_id += int(ids.max())
    span = out.groupby("bridge_id")["t"].agg(["min", "max"])
    out["lifetime"] = out["bridge_id"].map(span["max"] - span["min"] + 1).astype(int)
    return out
