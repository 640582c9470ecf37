"""Score called events against ground truth (simulated truth or a reviewed table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

__all__ = ["match_events", "onset_accuracy", "score_events"]


def match_events(
    called: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    tol_px: float = 6.0,
    tol_z: float = 2.0,
    tol_frames: int = 2,
) -> list[tuple[int, int]]:
    """One-to-one matches between called and true events (row positions).

    A pair may match when onsets differ by at most ``tol_frames``, the y/x centroids by
    at most ``tol_px`` pixels and z by at most ``tol_z`` planes. Among those, the
    assignment minimising distance plus onset difference is chosen (Hungarian).
    """
    if len(called) == 0 or len(truth) == 0:
        return []
    c = called[["t", "z", "y", "x"]].to_numpy(float)
    g = truth[["t", "z", "y", "x"]].to_numpy(float)
    dt = np.abs(c[:, None, 0] - g[None, :, 0])
    dz = np.abs(c[:, None, 1] - g[None, :, 1])
    dyx = np.hypot(c[:, None, 2] - g[None, :, 2], c[:, None, 3] - g[None, :, 3])
    ok = (dt <= tol_frames) & (dz <= tol_z) & (dyx <= tol_px)
    cost = np.where(ok, dyx + dt, 1e9)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if ok[i, j]]


def score_events(
    called: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    tol_px: float = 6.0,
    tol_z: float = 2.0,
    tol_frames: int = 2,
) -> dict:
    """Precision, recall, F1, onset error, route accuracy and decoys called.

    Parameters
    ----------
    called : DataFrame
        ``events.csv`` rows (``t, z, y, x, route`` and optionally ``status``). Against
        a review, rows with status ``added`` are not calls (rejected ones are the
        tool's false calls); against simulated truth, ``rejected`` rows are ignored.
    truth : DataFrame
        Either a simulator ``truth.csv`` (``kind`` column: ``transfer`` rows are
        events, ``decoy`` rows must not be called) or a reviewed ``events.csv``
        (``status`` accepted/added are events, rejected are not; calls at events still
        ``auto``, i.e. not reviewed, are left out and counted as ``unreviewed``). So a
        reviewed ``events.csv`` scored against itself gives the precision and recall of
        the automatic calls on that movie.

    Returns
    -------
    dict of plain Python numbers, ready for JSON.
    """
    reviewed_truth = "kind" not in truth
    pending = truth.iloc[:0]
    if "status" in called:
        # against a review, the calls are the tool's own (rejected ones are its false
        # positives, added ones never were calls); against simulated truth, a reviewed
        # results table stands as reviewed (rejections removed, additions kept)
        drop = "added" if reviewed_truth else "rejected"
        called = called[called["status"] != drop]
    called = called.reset_index(drop=True)
    if reviewed_truth:
        events = truth[truth["status"].isin(["accepted", "added"])]
        decoys = truth[truth["status"] == "rejected"]
        pending = truth[~truth["status"].isin(["accepted", "added", "rejected"])]
        if len(pending):  # calls at events nobody reviewed are neither right nor wrong
            at_pending = match_events(called, pending.reset_index(drop=True), tol_px=tol_px,
                                      tol_z=tol_z, tol_frames=tol_frames)
            called = called.drop(index=[i for i, _ in at_pending]).reset_index(drop=True)
    else:
        events = truth[truth["kind"] == "transfer"]
        # ``decoy`` (our simulator) or ``decoy_<what>`` (other generators)
        decoys = truth[truth["kind"].astype(str).str.startswith("decoy")]
    events = events.reset_index(drop=True)
    decoys = decoys.reset_index(drop=True)
    pairs = match_events(called, events, tol_px=tol_px, tol_z=tol_z, tol_frames=tol_frames)
    tp = len(pairs)
    fp = len(called) - tp
    fn = len(events) - tp
    precision = tp / len(called) if len(called) else 1.0
    recall = tp / len(events) if len(events) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    onset = [int(called.loc[i, "t"] - events.loc[j, "t"]) for i, j in pairs]
    by_route: dict[str, list[bool]] = {}
    if "route" in called and "route" in events:
        for i, j in pairs:
            true_route = events.loc[j, "route"]
            if isinstance(true_route, str) and true_route:
                by_route.setdefault(true_route, []).append(called.loc[i, "route"] == true_route)
    route_ok = [ok for oks in by_route.values() for ok in oks]
    matched = {i for i, _ in pairs}
    unmatched = called.drop(index=list(matched))
    decoy_pairs = match_events(
        unmatched.reset_index(drop=True), decoys,
        tol_px=3 * tol_px, tol_z=tol_z, tol_frames=10**6,
    )
    return {
        "n_called": int(len(called)),
        "n_true": int(len(events)),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "max_onset_error": int(max(map(abs, onset))) if onset else 0,
        "mean_onset_error": round(float(np.mean(onset)), 4) if onset else 0.0,
        "route_accuracy": round(float(np.mean(route_ok)), 4) if route_ok else None,
        "route_accuracy_by_route": {r: round(float(np.mean(v)), 4) for r, v in
                                    sorted(by_route.items())},
        "decoys_called": len(decoy_pairs),
        "unreviewed": len(pending),
    }


def onset_accuracy(
    called: pd.DataFrame,
    truth: pd.DataFrame,
    scale: tuple[float, float, float],
    *,
    frames: int = 1,
    um: float = 2.0,
    tol_px: float = 6.0,
    tol_z: float = 2.0,
    tol_frames: int = 2,
) -> float:
    """Share of matched transfers whose call is within ``frames`` and ``um`` of the truth.

    Calls are matched to the ``transfer`` rows of ``truth`` as in :func:`score_events`
    (same tolerances); a matched call is on time when its onset is within ``frames`` frames
    of the true onset and its position within ``um`` µm (Euclidean, using ``scale``).

    Parameters
    ----------
    called : DataFrame
        Called events with ``t, z, y, x`` (voxel indices).
    truth : DataFrame
        Truth with ``kind`` (``transfer`` rows are scored) and ``t, z, y, x``.
    scale : tuple of float
        ``(z, y, x)`` µm per voxel; for 2D data z does not matter (both z are 0).
    frames, um : int, float
        The on-time window.
    tol_px, tol_z, tol_frames : float, float, int
        Matching tolerances (pixels, planes, frames).

    Returns
    -------
    float
        The share in [0, 1], or NaN when no call matches a transfer.
    """
    transfers = truth[truth["kind"] == "transfer"].reset_index(drop=True)
    called = called.reset_index(drop=True)
    pairs = match_events(called, transfers, tol_px=tol_px, tol_z=tol_z, tol_frames=tol_frames)
    if not pairs:
        return float("nan")
    sc = np.asarray(scale, float)
    good = 0
    for i, j in pairs:
        c = called.loc[i, ["z", "y", "x"]].to_numpy(float)
        g = transfers.loc[j, ["z", "y", "x"]].to_numpy(float)
        d = float(np.linalg.norm((c - g) * sc))
        good += abs(int(called.loc[i, "t"]) - int(transfers.loc[j, "t"])) <= frames and d <= um
    return good / len(pairs)


def score_bridges_frame(
    skeleton: np.ndarray,
    table: pd.DataFrame,
    cells: np.ndarray,
    truth_labels: np.ndarray,
    truth_table: pd.DataFrame,
    truth_recipients: np.ndarray,
    scale: tuple[float, float, float],
    *,
    tol_um: float = 1.0,
    min_overlap: float = 0.5,
) -> dict:
    """Match detected bridges of one frame to true ones by path overlap and end cells.

    Parameters
    ----------
    skeleton, table
        Detected bridge skeleton labels and table (``label, cell_a, cell_b``; negative
        ends are donor bodies), as returned by :func:`mtrack.bridges.detect_bridges`.
    cells : (Z, Y, X) int
        Detected recipient labels of the frame.
    truth_labels : (Z, Y, X) int
        True bridge-like structures (value = truth ``bridge_id``).
    truth_table : DataFrame
        Truth rows of this frame: ``bridge_id, kind, end_a, end_b`` (ends named
        ``recipient:<id>`` or ``donor:<k>``).
    truth_recipients : (Z, Y, X) int
        True recipient labels (ids as in ``end_a``/``end_b``).

    Returns
    -------
    dict with ``detected``, ``true``, ``matched_detected``, ``matched_true`` and
    ``decoys_reported`` (detections lying on a filopodium or substrate strand).
    """
    projected_truth = truth_labels.max(axis=0)
    near = ndi.distance_transform_edt(projected_truth == 0, sampling=scale[1:],
                                      return_distances=True, return_indices=True)
    distance, (iy, ix) = near
    nearest_truth = projected_truth[iy, ix]
    # which true recipient each detected recipient label is (by largest overlap)
    owner = {}
    for label in np.unique(cells[cells > 0]):
        ids, counts = np.unique(truth_recipients[cells == label], return_counts=True)
        owner[int(label)] = int(ids[np.argmax(counts)])

    def end_name(end: int) -> str:
        return "donor" if end < 0 else f"recipient:{owner.get(int(end), 0)}"

    kinds = dict(zip(truth_table["bridge_id"], truth_table["kind"]))
    ends = {b: {_end_kind(a), _end_kind(c)} for b, a, c in
            zip(truth_table["bridge_id"], truth_table["end_a"], truth_table["end_b"])}
    matched_true, matched_detected, decoys = set(), 0, 0
    projected = skeleton.max(axis=0)
    for _, row in table.iterrows():
        pixels = projected == row["label"]
        close = pixels & (distance <= tol_um)
        if pixels.sum() == 0 or close.sum() < min_overlap * pixels.sum():
            continue
        ids, counts = np.unique(nearest_truth[close], return_counts=True)
        truth_id = int(ids[np.argmax(counts)])
        if kinds.get(truth_id) != "bridge":
            decoys += 1
            continue
        if {end_name(row["cell_a"]), end_name(row["cell_b"])} == ends[truth_id]:
            matched_detected += 1
            matched_true.add(truth_id)
    n_true = int(sum(k == "bridge" for k in kinds.values()))
    return {"detected": int(len(table)), "true": n_true, "matched_detected": matched_detected,
            "matched_true": len(matched_true), "decoys_reported": decoys}


def _end_kind(end: str) -> str:
    return "donor" if str(end).startswith("donor") else str(end)
