"""Donor trajectories: linking donor objects frame to frame over the whole field.

Every donor object of every frame (in donor bodies, on bridges, in the medium, inside
recipients) is linked to the next frames by linear assignment with gap closing and
splitting (laptrack, Jaqaman et al. 2008), in two passes. Frame to frame, objects are
linked within ``min_step_um`` (localisation jitter and shape changes of a resting
mitochondrion); then the segment ends and starts left over are joined within the
physical gate: ``max_speed_um_per_s`` times the frame interval, at most ``max_step_um``
(at long frame intervals motion is no longer one straight run, and a gate of hundreds of
µm would link anything to anything). Linking everything with the wide gate at once lets
the assignment break the obvious links of resting objects to make more, longer ones.

Brightness is a coordinate too: a mitochondrion keeps roughly its brightness from one
frame to the next, so each doubling or halving of its signal-to-noise ratio counts as
half the resting jitter of distance; a speck at the noise floor does not take over the
link of a bright object that moved a little further.

Merging is off: a transferred mitochondrion that fuses with a resident one ends its
segment there; event calling follows it on through the object it fused into.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from laptrack import LapTrack

from .params import TrackParams
from .track import first_appearance_ids, lap_segments

__all__ = ["donor_step_um", "link_donor_objects"]


def donor_step_um(frame_interval: float, params: TrackParams) -> float:
    """Largest displacement (µm) of a donor object between consecutive frames."""
    step = params.max_speed_um_per_s * float(frame_interval)
    return float(np.clip(step, params.min_step_um, params.max_step_um))


def link_donor_objects(
    objects: pd.DataFrame,
    scale: tuple[float, float, float],
    frame_interval: float,
    params: TrackParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link donor objects into trajectories.

    Parameters
    ----------
    objects : DataFrame
        Per-frame donor objects with ``t, z, y, x`` (voxel centroids) and ``snr`` (peak
        signal-to-noise ratio; brightness is a linking coordinate when given).
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    frame_interval : float
        Seconds between frames.
    params : TrackParams
        ``max_speed_um_per_s``, ``min_step_um``, ``max_step_um`` and ``max_gap_frames``.

    Returns
    -------
    objects : DataFrame
        A copy of ``objects`` (same row order) with ``trajectory``: the id of the
        trajectory segment the object belongs to (from 1; a division starts two new
        segments whose parent is the dividing one).
    splits : DataFrame
        ``parent, child`` pairs of segment ids (fission of a mitochondrion).

    Notes
    -----
    Ids are deterministic: objects are sorted by frame and position before linking and
    segments are numbered in order of their first object.
    """
    out = objects.copy()
    splits = pd.DataFrame({"parent": pd.Series(dtype=int), "child": pd.Series(dtype=int)})
    if len(out) == 0:
        out["trajectory"] = pd.Series(dtype=int)
        return out, splits
    step = donor_step_um(frame_interval, params)
    # time is a coordinate too, (min_step_um per frame)^2 in the squared distance: a link
    # over a missed frame costs more than one to the next frame at the same distance
    tau = params.min_step_um
    near = params.min_step_um ** 2 + tau ** 2
    far = step ** 2 + tau ** 2
    tracker = LapTrack(
        # frame to frame within the jitter of a resting object: a wide gate here would let
        # the assignment break obvious links to make more, longer ones in dense fields
        metric="sqeuclidean",
        cutoff=near,
        # then ends and starts left over are joined within the physical gate, across
        # missed frames too: a mover's successive positions, or a lost object found again
        gap_closing_metric="sqeuclidean",
        gap_closing_cutoff=far,
        gap_closing_max_frame_count=params.max_gap_frames + 1,
        # fission: a daughter appears next to its mother (a wider gate lets splits
        # compete with the joins of the pass above and break movers' trajectories)
        splitting_metric="sqeuclidean",
        splitting_cutoff=near,
        merging_cutoff=False,
        # explicit costs of not linking: any link inside its gate beats none (the
        # data-driven default rejects a fast mover among resting ones)
        track_start_cost=near,
        track_end_cost=near,
        segment_start_cost=far / 2,
        segment_end_cost=far / 2,
        no_splitting_cost=near,
    )
    um = out[["z", "y", "x"]].to_numpy(float) * np.asarray(scale, float)
    frames = out["t"].to_numpy(int)
    snr = out["snr"].to_numpy(float) if "snr" in out else np.ones(len(out))
    brightness = np.log2(np.maximum(snr, 1.0)) * (tau / 2)
    segment, parent = lap_segments(tracker, frames, um,
                                   {"time": frames * tau, "brightness": brightness})
    ids = first_appearance_ids(segment, frames, um)
    out["trajectory"] = np.array([ids[k] for k in segment], np.int64)
    if parent:
        splits = pd.DataFrame({"parent": [ids[p] for p in parent.values()],
                               "child": [ids[c] for c in parent]})
        splits = splits.sort_values(["child", "parent"], kind="stable").reset_index(drop=True)
    return out, splits
