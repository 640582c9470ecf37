"""Calling transfer events from donor trajectories, per-frame tables and recipient tracks.

A transfer is a donor mitochondrion that comes into a recipient and stays. Donor
objects are linked over the whole field (:mod:`mtrack.trajectories`), so a mitochondrion
carried along a bridge and then inside the recipient is one trajectory: the event is
the frame it crossed in, where it crossed in. An object first seen inside with no
linked past must pass the novelty tests (absent from the recipient's starting state and
from the frames just before, at a place that held no donor signal). Inside means the
recipient mask eroded by a margin; staying means persisting for several frames (gaps
allowed), so one mitochondrion that wobbles, fades for a frame or divides yields one
event, and two transfers that later touch still yield two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .frame import presence_block
from .params import Params
from .track import lookup_ids
from .trajectories import link_donor_objects

__all__ = ["EVENT_COLUMNS", "call_events", "mark_positive"]

# a crossing link longer than the resting jitter is trusted when no other object lies
# within this many times its length of either end
_RATIO = 1.5
# an arrival in the last frames of a movie is censored: it must still be seen this often
_MIN_CENSORED_FRAMES = 2

EVENT_COLUMNS = [
    "event_id", "track_id", "t", "z", "y", "x", "time_s", "z_um", "y_um", "x_um",
    "size_um", "intensity", "depth_um", "persistence", "route", "bridge_id", "score", "status",
]


def _recipient_lineage(cells: pd.DataFrame) -> tuple[dict[int, int], pd.Series]:
    """Map each recipient track to its lineage root, and each root to the first frame of
    its lineage.

    A daughter of a division (``parent_track_id`` in ``cells``, when present) belongs to
    the lineage of its mother: what the mother held, the daughters hold.
    """
    parent: dict[int, int] = {}
    if "parent_track_id" in cells:
        pairs = cells[["track_id", "parent_track_id"]].drop_duplicates("track_id")
        parent = {int(a): int(b) for a, b in pairs.itertuples(index=False) if b > 0}

    def root(track: int) -> int:
        seen = set()
        while track in parent and track not in seen:
            seen.add(track)
            track = parent[track]
        return track

    family = {int(k): root(int(k)) for k in cells["track_id"].unique()}
    start = cells.assign(family=cells["track_id"].map(family)).groupby("family")["t"].min()
    return family, start


class _Lineage:
    """Donor trajectory segments with their split parents and children."""

    def __init__(self, trajectory: np.ndarray, frames: np.ndarray, splits: pd.DataFrame):
        self.segment = trajectory  # the segment of each row
        order = np.lexsort((np.arange(len(frames)), frames))
        self.rows: dict[int, list[int]] = {}
        for row in order:
            self.rows.setdefault(int(trajectory[row]), []).append(int(row))
        self.parent = {int(c): int(p) for p, c in splits[["parent", "child"]].itertuples(
            index=False)}
        self.children: dict[int, list[int]] = {}
        for child, parent in sorted(self.parent.items()):
            self.children.setdefault(parent, []).append(child)

    def ancestors(self, segment: int) -> list[int]:
        """Rows of all ancestor segments of ``segment``."""
        rows, seen = [], {segment}
        while segment in self.parent and self.parent[segment] not in seen:
            segment = self.parent[segment]
            seen.add(segment)
            rows.extend(self.rows.get(segment, []))
        return rows

    def descendants(self, segment: int) -> list[int]:
        """Rows of the segment and of all segments that split off it, at any depth."""
        rows, stack, seen = [], [segment], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            rows.extend(self.rows.get(current, []))
            stack.extend(self.children.get(current, []))
        return rows


def call_events(
    objects: pd.DataFrame,
    cells: pd.DataFrame,
    scale: tuple[float, float, float],
    frame_interval: float,
    params: Params,
    presence: Sequence[np.ndarray] | None = None,
    bridges: pd.DataFrame | None = None,
    trajectories: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Call transfer events from donor trajectories.

    Each trajectory (:func:`mtrack.trajectories.link_donor_objects`, with what it split
    off) is judged once, where it first comes inside a recipient (inside the mask eroded
    by ``margin_um``, ``min_containment`` of it, punctate); a trajectory whose ancestor
    was inside a recipient already is a fission, and one that moves on into a touching
    recipient is not a new transfer. Two kinds of evidence make an event:

    * **crossing**: the trajectory was seen outside the eroded recipient before, came at
      least ``margin_um`` (an object resting on the membrane that the mask takes in and
      out does not), was seen outside clearly above noise (``min_event_snr``; a speck at
      the noise floor linked to it is no evidence), and its last step in is unambiguous (:func:`_ambiguous`; in a
      dense field a long link is a guess and the object is judged as an appearance).
      The recipient must have been seen before, and the trajectory must not have sat on
      its edge, clearly above noise, in the recipient's starting state without ever being
      outside every recipient. Onset is the
      first inside frame, the position where it came in.
    * **appearance**: no usable past. The object must be new: not in the recipient's
      starting state (``baseline_frames``; a division's daughters inherit their
      mother's), not within ``novelty_distance_um`` of an object seen there in the
      ``novelty_memory_frames`` before, at a place inside the recipient that held no
      donor signal before (``presence``).

    Both must stay (:meth:`_Observations.stay`: through gaps, fission and fusion) for
    ``min_persistence_frames`` (or, near the end of the movie, the frames left, at least
    2) and be clearly above noise once (``min_event_snr``). Routes: ``tnt`` when the
    trajectory was seen on a bridge before entry (that ``bridge_id``), ``contact`` when
    just before entry (or at onset, without a past) it lay within ``contact_distance_um``
    of a donor body, ``tnt`` when it came from the medium into a recipient that a bridge
    joined to a donor body in the ``route_window_frames`` before, else ``unknown``.

    Parameters
    ----------
    objects : DataFrame
        Per-frame donor objects with a ``t`` column (:data:`mtrack.frame.OBJECT_COLUMNS`).
    cells : DataFrame
        Per-frame recipients with ``t, label, track_id`` (and ``parent_track_id`` when
        divisions were tracked).
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    frame_interval : float
        Seconds between frames.
    params : Params
    presence : sequence of T (Zb, Yb, Xb) arrays, optional
        Per-frame donor presence maps (:attr:`mtrack.frame.FrameResult.presence`).
    bridges : DataFrame, optional
        Tracked bridges (:func:`mtrack.track.track_bridges`), to name the ``bridge_id``
        of a ``tnt`` route.
    trajectories : (objects, splits), optional
        Output of :func:`mtrack.trajectories.link_donor_objects` for ``objects``;
        computed when not given.

    Returns
    -------
    events : DataFrame with :data:`EVENT_COLUMNS`, sorted by onset, track and position.
    """
    ev = params.event
    if trajectories is None:
        trajectories = link_donor_objects(objects, scale, frame_interval, params.track)
    linked, splits = trajectories
    obs = linked.reset_index(drop=True)
    if len(obs) == 0 or len(cells) == 0:
        return _event_table([])
    family_of, family_start = _recipient_lineage(cells)
    last_frame = int(cells["t"].max())
    frames = obs["t"].to_numpy(int)
    labels = obs["recipient"].to_numpy(int)
    track = lookup_ids(cells, "track_id", frames, labels)
    family = np.array([family_of.get(int(k), 0) for k in track])
    # inside: in the recipient mask eroded by the margin; deep: inside and punctate (a
    # discrete mitochondrion, not a diffuse blob)
    inside = (track > 0) & (obs["containment"].to_numpy() >= ev.min_containment)
    deep = inside & (obs["punctate"].to_numpy() >= params.donor.min_punctate)
    um = obs[["z", "y", "x"]].to_numpy(float) * np.asarray(scale, float)
    lineage = _Lineage(obs["trajectory"].to_numpy(int), frames, splits)
    bridge_ids = _bridge_ids(obs, bridges)
    donor_bridges = (bridges[bridges["cell_a"] == -1] if bridges is not None and len(bridges)
                     else pd.DataFrame(columns=["t", "bridge_id", "cell_a", "cell_b"]))
    snr = obs["snr"].to_numpy(float)
    # still in, for a stay: some part of it inside the eroded recipient; a fusion joins
    # the object to a resident one where it rests: within the resting jitter
    within = obs["containment"].to_numpy() > 0
    data = _Observations(frames, family, within, deep, um, snr, lineage,
                         params.track.min_step_um, params.track.max_gap_frames + 1)

    candidates = []  # (t0, -snr, row, kind, before)
    for segment in sorted(lineage.rows):
        own = lineage.rows[segment]
        past = lineage.ancestors(segment)
        if any(inside[r] for r in past):
            continue  # its ancestor was inside a recipient already: a fission
        first = next((i for i, r in enumerate(own) if inside[r]), None)
        if first is None or not deep[own[first]]:
            continue  # never inside a recipient, or came in as a diffuse blob
        # a trajectory is counted once, where it first comes into a recipient: one that
        # moves on from a recipient into a touching one is not a new transfer
        row = own[first]
        before = sorted(past + own[:first], key=lambda r: (frames[r], r))
        kind = "appearance"
        # the object seen outside must be the object: a speck at the noise floor linked to
        # it is no evidence of where it came from
        seen = [r for r in before if snr[r] >= ev.min_event_snr]
        if seen and not _ambiguous(before[-1], row, frames, um, params.track.min_step_um):
            travel = np.linalg.norm(um[before] - um[row], axis=1).max()
            # it must have come at least a margin's width: an object resting on the
            # membrane that the mask takes in and out is not a crossing
            kind = "crossing" if travel >= ev.margin_um else "resting"
        if kind == "resting":
            continue
        candidates.append((frames[row], -data.snr[row], row, kind, before))
    rows: list[dict] = []
    accepted: list[int] = []
    for t0, _, row, kind, before in sorted(candidates, key=lambda c: c[:3]):
        fam = int(family[row])
        if kind == "crossing":
            if t0 <= family_start[fam]:
                continue  # the recipient was not seen before: no crossing to witness
            if any(family[r] == fam and frames[r] < family_start[fam] + ev.baseline_frames
                   and snr[r] >= ev.min_event_snr for r in before) \
                    and not any(labels[r] == 0 for r in before):
                continue  # on the recipient's edge in its starting state already, and never
                # outside every recipient (a speck at the noise floor is no evidence)
        else:
            if t0 < family_start[fam] + ev.baseline_frames:
                continue  # starting state of this recipient (or its mother)
            earlier = np.flatnonzero(deep & (family == fam) & (frames < t0)
                                     & (frames >= t0 - ev.novelty_memory_frames))
            if len(earlier) and np.min(np.linalg.norm(um[earlier] - um[row], axis=1)) \
                    <= ev.novelty_distance_um:
                continue  # a known object that faded for a while and came back
            if presence is not None and _held_signal(presence, obs.iloc[row], t0, scale,
                                                     params):
                continue  # its place already held donor signal: not an arrival
        if any(frames[k] == t0 and family[k] == fam
               and np.linalg.norm(um[k] - um[row]) <= ev.novelty_distance_um for k in accepted):
            continue  # a fragment of an object already called in this frame
        members = data.stay(row, fam)
        persistence = int(frames[members].max()) - t0 + 1
        # an arrival near the end of the movie is seen until the last frame: it needs
        # only the frames left (at least _MIN_CENSORED_FRAMES)
        left = max(last_frame - t0 + 1, _MIN_CENSORED_FRAMES)
        if persistence < min(ev.min_persistence_frames, left):
            continue
        if data.snr[members].max() < ev.min_event_snr:
            continue  # never clearly above noise: a fluctuation at the threshold
        route, bridge_id = _route(row, before, obs, bridge_ids, donor_bridges, int(track[row]),
                                  ev)
        accepted.append(row)
        rows.append(_event_row(obs.iloc[row], int(track[row]), t0, persistence, scale,
                               frame_interval, obs.iloc[members], route, bridge_id, params))
    return _event_table(rows)


class _Observations:
    """Per-observation arrays that :meth:`stay` walks through."""

    def __init__(self, frames, family, within, deep, um, snr, lineage, step, span):
        self.frames, self.family, self.um, self.snr = frames, family, um, snr
        self.within, self.deep = within, deep
        self.lineage, self.step, self.span = lineage, step, span

    def stay(self, row: int, fam: int) -> np.ndarray:
        """Rows of the object's stay in the recipient lineage ``fam`` from ``row`` on.

        Walks the trajectory and everything that split off it, frame by frame; the stay
        ends when the object is seen only outside the lineage's eroded masks (it left) or
        is missed for longer than the gap allowance. When the trajectory simply ends inside (it fused
        with a resident mitochondrion, or the tracker lost it), the stay goes on through
        the nearest object inside the lineage within the resting jitter (``min_step_um``).
        """
        frames, t0 = self.frames, int(self.frames[row])
        members, last_t, last_row = [row], t0, row
        segment_rows = [r for r in self.lineage.descendants(self.lineage.segment[row])
                        if frames[r] > t0]
        visited = {self.lineage.segment[row]}
        while True:
            left = False
            for t in sorted({int(frames[r]) for r in segment_rows if frames[r] > last_t}):
                if t - last_t > self.span:
                    break
                here = [r for r in segment_rows if frames[r] == t]
                inside = [r for r in here if self.within[r] and self.family[r] == fam]
                if not inside:
                    left = True
                    break
                members.extend(inside)
                last_t, last_row = t, inside[0]
            if left:
                break
            follow = self._fused(last_row, last_t, fam, visited)
            if follow is None:
                break
            visited.add(self.lineage.segment[follow])
            members.append(follow)
            last_t, last_row = int(frames[follow]), follow
            segment_rows = [r for r in self.lineage.descendants(self.lineage.segment[follow])
                            if frames[r] > last_t]
        return np.asarray(members, int)

    def _fused(self, row: int, t: int, fam: int, visited: set[int]) -> int | None:
        """The nearest object inside ``fam`` within ``step`` of ``row``, in the
        first of the next ``span`` frames that holds one (another trajectory)."""
        for later in range(t + 1, t + self.span + 1):
            near = np.flatnonzero((self.frames == later) & self.deep & (self.family == fam))
            near = [r for r in near if self.lineage.segment[r] not in visited]
            if not near:
                continue
            dist = np.linalg.norm(self.um[near] - self.um[row], axis=1)
            if dist.min() <= self.step:
                return int(near[int(np.argmin(dist))])
        return None


def _ambiguous(prev: int, row: int, frames: np.ndarray, um: np.ndarray,
               min_step_um: float) -> bool:
    """Whether the link ``prev`` -> ``row`` that crosses into a recipient is a guess.

    A step no longer than the resting jitter is safe. A longer one is trusted only when
    no other object of either frame lies within 1.5 times its length of the other end
    (the ratio test of feature matching): in a dense field, a long link is one choice
    among several, not evidence that one object moved in.
    """
    step = float(np.linalg.norm(um[row] - um[prev]))
    if step <= min_step_um:
        return False
    reach = _RATIO * step
    for here, there in ((prev, row), (row, prev)):
        others = np.flatnonzero(frames == frames[there])
        others = others[others != there]
        if len(others) and np.min(np.linalg.norm(um[others] - um[here], axis=1)) <= reach:
            return True
    return False


def _bridge_ids(obs: pd.DataFrame, bridges: pd.DataFrame | None) -> np.ndarray:
    """Tracked ``bridge_id`` of the bridge each observation lies on (0: none)."""
    on = obs["bridge"].to_numpy(int) if "bridge" in obs else np.zeros(len(obs), int)
    if bridges is None or len(bridges) == 0 or not on.any():
        return np.zeros(len(obs), int)
    return lookup_ids(bridges, "bridge_id", obs["t"].to_numpy(int), on)


def _route(row: int, before: list[int], obs: pd.DataFrame, bridge_ids: np.ndarray,
           donor_bridges: pd.DataFrame, track_id: int, ev) -> tuple[str, str]:
    """Route of an event and the ``bridge_id`` of a ``tnt`` route.

    ``tnt`` when the trajectory was seen on a bridge before entry (that bridge); else
    ``contact`` when, just before entry (or at onset, for an appearance), it lay within
    ``contact_distance_um`` of a donor body; else, for a crossing from the medium,
    ``tnt`` when a bridge joined a donor body and this recipient in the
    ``route_window_frames`` before onset (a cargo travels a bridge faster than the
    bridge is detected in every frame); else ``unknown``.
    """
    on_bridge = [r for r in before if bridge_ids[r] > 0]
    if on_bridge:
        return "tnt", str(int(bridge_ids[on_bridge[-1]]))
    last = before[-1] if before else row
    body = obs["body_distance_um"].iat[last]
    if np.isfinite(body) and body <= ev.contact_distance_um:
        return "contact", ""
    if before:
        t0 = int(obs["t"].iat[row])
        seen = donor_bridges[(donor_bridges["cell_b"] == track_id) & (donor_bridges["t"] <= t0)
                             & (donor_bridges["t"] >= t0 - ev.route_window_frames)]
        if len(seen):
            latest = seen.sort_values(["t", "bridge_id"], kind="stable").iloc[-1]
            return "tnt", str(int(latest["bridge_id"]))
    return "unknown", ""


def _event_table(rows: list[dict]) -> pd.DataFrame:
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


def _event_row(row, track_id, t0, persistence, scale, frame_interval, members, route,
               bridge_id, params) -> dict:
    ev = params.event
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
        "bridge_id": bridge_id,
        "score": round((contrast + depth + lasting) / 3.0, 4),
        "status": "auto",
    }


def mark_positive(cells: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Boolean per cell row: the recipient track has received a transfer by frame ``t``."""
    onset = events.groupby("track_id")["t"].min() if len(events) else pd.Series(dtype=int)
    first = cells["track_id"].map(onset)
    return (first.notna() & (cells["t"] >= first)).astype(bool)
