"""Linking recipient cells across frames.

Frame-to-frame linear assignment (Hungarian, :func:`scipy.optimize.linear_sum_assignment`)
on centroid distances in µm, with gap closing over ``max_gap_frames`` missing frames.
Only the cells of two frames are compared at a time, never all objects of a movie.
We write this small linker ourselves rather than depend on laptrack: recipients move
slowly and neither divide nor merge within the movies mtrack targets, so plain
assignment with a distance gate is all that is needed (about 40 lines).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .params import TrackParams

__all__ = ["link_positions", "track_recipients"]

_FORBIDDEN = 1e12


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
    """Return a copy of the per-frame cell table with a ``track_id`` column."""
    out = cells.copy()
    out["track_id"] = link_positions(
        cells, scale, params.max_cell_displacement_um, params.max_gap_frames
    )
    return out


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
    lookup = cells.set_index(["t", "label"])["track_id"]
    ends = []
    for column in ("cell_a", "cell_b"):
        labels = out[column].to_numpy(int)
        keys = list(zip(out["t"].to_numpy(int), labels))
        tracked = lookup.reindex(keys).to_numpy()
        ends.append(np.where(labels < 0, -1, np.nan_to_num(tracked, nan=0)).astype(int))
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
