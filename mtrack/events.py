"""Calling transfer events from per-frame tables and recipient tracks.

An event is a *new, discrete* donor object inside a recipient: inside the recipient
mask eroded by a margin, punctate, absent from the recipient's starting state and from
the frames just before, and persisting. Donor objects inside one recipient are linked
forward across frames (distance-gated, gaps allowed). An event starts at an object with
no past (nothing it could have been in the frames before), and its persistence is how
far its descendants reach: one mitochondrion that wobbles, fades for a frame or divides
yields one event, and two transfers that later touch still yield two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order

from .frame import presence_block
from .params import Params

__all__ = ["EVENT_COLUMNS", "assign_routes", "call_events", "candidate_objects",
           "mark_positive"]

EVENT_COLUMNS = [
    "event_id", "track_id", "t", "z", "y", "x", "time_s", "z_um", "y_um", "x_um",
    "size_um", "intensity", "depth_um", "persistence", "route", "bridge_id", "score", "status",
]


def candidate_objects(objects: pd.DataFrame, cells: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Donor objects that count as inside a tracked recipient, with its ``track_id``.

    Parameters
    ----------
    objects : DataFrame
        Per-frame donor objects (``t`` plus :data:`mtrack.frame.OBJECT_COLUMNS`).
    cells : DataFrame
        Per-frame recipients with ``t, label, track_id``.
    """
    keys = cells[["t", "label", "track_id"]].rename(columns={"label": "recipient"})
    inside = objects[
        (objects["recipient"] > 0)
        & (objects["containment"] >= params.event.min_containment)
        & (objects["punctate"] >= params.donor.min_punctate)
    ]
    return inside.merge(keys, on=["t", "recipient"], how="inner").sort_values(
        ["track_id", "t", "z", "y", "x"], kind="stable"
    ).reset_index(drop=True)


def _links(frames: np.ndarray, um: np.ndarray, params: Params):
    """Directed links from each object to the objects it may become in the next frames.

    A link joins objects ``gap`` frames apart (``gap`` up to ``max_gap_frames + 1``) whose
    distance is at most ``max_donor_displacement_um``, widened by half for each missed
    frame (an object inside a cell moves little, and a wide gate would let a new object
    inherit the past of a neighbour).
    """
    rows, cols = [], []
    step = params.track.max_donor_displacement_um
    for gap in range(1, params.track.max_gap_frames + 2):
        for t in np.unique(frames):
            a = np.flatnonzero(frames == t)
            b = np.flatnonzero(frames == t + gap)
            if b.size == 0:
                continue
            dist = np.linalg.norm(um[a][:, None] - um[b][None], axis=2)
            i, j = np.nonzero(dist <= step * (1 + 0.5 * (gap - 1)))
            rows.extend(a[i])
            cols.extend(b[j])
    n = len(frames)
    return coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()


def call_events(
    objects: pd.DataFrame,
    cells: pd.DataFrame,
    scale: tuple[float, float, float],
    frame_interval: float,
    params: Params,
    presence: Sequence[np.ndarray] | None = None,
) -> pd.DataFrame:
    """Call transfer events.

    Parameters
    ----------
    objects : DataFrame
        Per-frame donor objects with a ``t`` column.
    cells : DataFrame
        Per-frame recipients with ``t, label, track_id``.
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    frame_interval : float
        Seconds between frames.
    params : Params
    presence : sequence of T (Zb, Yb, Xb) arrays, optional
        Per-frame donor presence maps (:attr:`mtrack.frame.FrameResult.presence`). When
        given, an object is not new if its place already held donor signal before onset
        (see :func:`_held_signal`): a dim part of a network that crossed the detection
        threshold, not a mitochondrion that arrived.

    Returns
    -------
    events : DataFrame with :data:`EVENT_COLUMNS`, sorted by onset, track and position.
    """
    ev = params.event
    candidates = candidate_objects(objects, cells, params)
    track_start = cells.groupby("track_id")["t"].min()
    rows = []
    for track_id, group in candidates.groupby("track_id", sort=True):
        um = group[["z", "y", "x"]].to_numpy(float) * np.asarray(scale, float)
        frames = group["t"].to_numpy()
        signal = group["signal"].to_numpy()
        links = _links(frames, um, params)
        has_past = np.asarray(links.sum(axis=0)).ravel() > 0
        accepted: list[int] = []
        # a new object has no past: nothing it could have been in the frames before
        for node in sorted(np.flatnonzero(~has_past), key=lambda k: (frames[k], -signal[k])):
            t0 = int(frames[node])
            if t0 < track_start[track_id] + ev.baseline_frames:
                continue  # starting state of this recipient
            earlier = (frames < t0) & (frames >= t0 - ev.novelty_memory_frames)
            if earlier.any() and np.min(
                np.linalg.norm(um[earlier] - um[node], axis=1)
            ) <= ev.novelty_distance_um:
                continue  # a known object that faded for a while and came back
            if presence is not None and _held_signal(presence, group.iloc[node], t0, scale,
                                                     params):
                continue  # its place already held donor signal: not an arrival
            if any(frames[k] == t0 and np.linalg.norm(um[k] - um[node]) <= ev.novelty_distance_um
                   for k in accepted):
                continue  # a fragment of an object already called in this frame
            future = breadth_first_order(links, node, directed=True, return_predecessors=False)
            persistence = int(frames[future].max()) - t0 + 1
            if persistence < ev.min_persistence_frames:
                continue
            if group["snr"].to_numpy()[future].max() < ev.min_event_snr:
                continue  # never clearly above noise: a fluctuation at the threshold
            accepted.append(node)
            rows.append(_event_row(group.iloc[node], int(track_id), t0, persistence, scale,
                                   frame_interval, group.iloc[future], params))
    events = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    if len(events):
        events = events.sort_values(["t", "track_id", "z", "y", "x"], kind="stable")
        events["event_id"] = np.arange(1, len(events) + 1)
    return events.reset_index(drop=True).astype({"event_id": int, "track_id": int, "t": int})


def _held_signal(presence: Sequence[np.ndarray], row, t0: int, scale, params: Params) -> bool:
    """Whether the object's place already held donor signal before ``t0``.

    The place is the object's presence block and its neighbours (about 3 µm across);
    it held signal when, in ``prior_signal_frames`` of the ``novelty_memory_frames``
    frames before onset, its presence reached both the hysteresis level of detection
    and ``prior_signal_ratio`` of the object's own peak signal-to-noise ratio. A dim
    part of a network that fluctuates across the threshold fails the test; a bright
    mitochondrion arriving where there was little or nothing passes it.
    """
    ev = params.event
    shape = presence[0].shape
    block = presence_block(scale, shape[0] > 1, params)
    centre = [min(int(row[a] // b), n - 1) for a, b, n in zip("zyx", block, shape)]
    window = tuple(slice(max(c - 1, 0), c + 2) for c in centre)
    level = max(0.7 * params.donor.threshold_sigma, ev.prior_signal_ratio * float(row["snr"]))
    before = presence[max(0, t0 - ev.novelty_memory_frames):t0]
    held = sum(int(frame[window].max() >= level) for frame in before)
    return held >= ev.prior_signal_frames


def _event_row(row, track_id, t0, persistence, scale, frame_interval, members, params) -> dict:
    ev = params.event
    body = row["body_distance_um"]
    route = "contact" if np.isfinite(body) and body <= ev.contact_distance_um else "unknown"
    k = params.donor.threshold_sigma
    contrast = 1.0 - np.exp(-max(float(members["snr"].max()) - k, 0.0) / k)
    depth = min(float(row["depth_um"]) / (ev.margin_um + 2.0), 1.0)
    lasting = min(persistence / (2.0 * ev.min_persistence_frames), 1.0)
    return {
        "event_id": 0,
        "track_id": track_id,
        "t": t0,
        "z": float(row["z"]),
        "y": float(row["y"]),
        "x": float(row["x"]),
        "time_s": t0 * frame_interval,
        "z_um": float(row["z"]) * scale[0],
        "y_um": float(row["y"]) * scale[1],
        "x_um": float(row["x"]) * scale[2],
        "size_um": float(row["size_um"]),
        "intensity": float(row["intensity"]),
        "depth_um": float(row["depth_um"]),
        "persistence": persistence,
        "route": route,
        "bridge_id": "",
        "score": round((contrast + depth + lasting) / 3.0, 4),
        "status": "auto",
    }


def mark_positive(cells: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Boolean per cell row: the recipient track has received a transfer by frame ``t``."""
    onset = events.groupby("track_id")["t"].min() if len(events) else pd.Series(dtype=int)
    first = cells["track_id"].map(onset)
    return (first.notna() & (cells["t"] >= first)).astype(bool)


def assign_routes(events: pd.DataFrame, objects: pd.DataFrame, bridges: pd.DataFrame,
                  params: Params) -> pd.DataFrame:
    """Route ``tnt`` for events whose recipient received cargo along a donor bridge.

    An event is routed ``tnt`` (with that ``bridge_id``) when, in the
    ``route_window_frames`` frames before onset, a donor object was seen on a bridge
    joining a donor body and the event's recipient track; among several, the latest
    sighting wins. Other events keep their route (``contact`` or ``unknown``).

    Parameters
    ----------
    events : DataFrame
        Output of :func:`call_events`.
    objects : DataFrame
        Per-frame donor objects with ``t`` and ``bridge`` (frame-local bridge label).
    bridges : DataFrame
        Tracked bridges (:func:`mtrack.track.track_bridges`): ``t, label, bridge_id,
        cell_a, cell_b``.
    """
    out = events.copy()
    if len(out) == 0 or len(bridges) == 0:
        return out
    cargo = objects.loc[objects["bridge"] > 0, ["t", "bridge"]].merge(
        bridges[["t", "label", "bridge_id", "cell_a", "cell_b"]],
        left_on=["t", "bridge"], right_on=["t", "label"],
    )
    cargo = cargo[cargo["cell_a"] == -1]  # one end on a donor body (ends are ordered)
    window = params.event.route_window_frames
    for i, event in out.iterrows():
        seen = cargo[(cargo["cell_b"] == event["track_id"])
                     & (cargo["t"] < event["t"]) & (cargo["t"] >= event["t"] - window)]
        if len(seen):
            latest = seen.sort_values(["t", "bridge_id"], kind="stable").iloc[-1]
            out.loc[i, "route"] = "tnt"
            out.loc[i, "bridge_id"] = str(int(latest["bridge_id"]))
    return out
