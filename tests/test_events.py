"""Event calling on hand-made per-frame tables with known answers."""

import numpy as np
import pandas as pd

from mtrack.events import EVENT_COLUMNS, call_events, mark_positive
from mtrack.params import Params

SCALE = (1.0, 0.5, 0.5)
T = 12


def _cells():
    rows = [(t, 1, 1, 0, 50, 50) for t in range(T)]
    return pd.DataFrame(rows, columns=["t", "label", "track_id", "z", "y", "x"])


def _obj(t, y, x, containment=1.0, punctate=0.9, recipient=1, body=np.nan):
    return {"t": t, "label": 0, "z": 0.0, "y": y, "x": x, "size_um": 1.0, "intensity": 300.0,
            "signal": 100.0, "snr": 20.0, "punctate": punctate, "recipient": recipient,
            "containment": containment, "depth_um": 3.0, "body_distance_um": body}


def _call(objs, params=None):
    objects = pd.DataFrame(objs)
    objects["label"] = objects.groupby("t").cumcount() + 1
    return call_events(objects, _cells(), SCALE, 60.0, params or Params())


def test_new_persistent_object_is_one_event():
    objs = [_obj(t, 40 + 0.3 * t, 40) for t in range(4, T)]
    events = _call(objs)
    assert list(events.columns) == EVENT_COLUMNS
    assert len(events) == 1
    ev = events.iloc[0]
    assert ev["t"] == 4 and ev["track_id"] == 1 and ev["persistence"] == T - 4
    assert ev["time_s"] == 240.0 and ev["route"] == "unknown" and ev["status"] == "auto"
    assert 0 < ev["score"] <= 1


def test_starting_state_transient_outside_and_diffuse_are_not_events():
    objs = [_obj(t, 20, 20) for t in range(T)]  # pre-existing
    objs += [_obj(6, 60, 60)]  # transient: one frame
    objs += [_obj(t, 70, 30, containment=0.3) for t in range(3, T)]  # pressed outside
    objs += [_obj(t, 30, 70, punctate=0.05) for t in range(3, T)]  # diffuse, not punctate
    objs += [_obj(t, 80, 80, recipient=0) for t in range(3, T)]  # no recipient
    assert len(_call(objs)) == 0


def test_division_wobble_and_one_frame_gap_stay_one_event():
    objs = [_obj(t, 40, 40 + (t % 2) * 0.8) for t in range(3, T) if t != 6]  # gap at 6
    objs += [_obj(t, 42.5, 41) for t in range(8, T)]  # a piece that split off at t=8
    events = _call(objs)
    assert len(events) == 1 and events.iloc[0]["t"] == 3


def test_fading_object_that_returns_is_not_new():
    objs = [_obj(t, 40, 40) for t in range(0, 4)] + [_obj(t, 40, 40) for t in range(6, T)]
    assert len(_call(objs)) == 0


def test_contact_route_and_persistence_threshold():
    objs = [_obj(t, 40, 40, body=2.0) for t in range(5, T)]
    objs += [_obj(t, 70, 70) for t in range(T - 5, T - 3)]  # two frames, then gone: too short
    events = _call(objs)
    assert events["route"].tolist() == ["contact"]
    # an arrival in the last two frames is seen as long as the movie lets it be
    late = _call(objs + [_obj(t, 20, 70) for t in range(T - 2, T)])
    assert late["t"].tolist() == [5, T - 2]
    assert len(_call(objs + [_obj(T - 1, 20, 70)])) == 1  # one frame is never enough


def test_mark_positive():
    objs = [_obj(t, 40, 40) for t in range(5, T)]
    cells = _cells()
    events = _call(objs)
    positive = mark_positive(cells, events)
    assert positive.tolist() == [t >= 5 for t in range(T)]


def test_two_transfers_that_later_touch_are_two_events():
    objs = [_obj(t, 40, 40) for t in range(3, T)]
    objs += [_obj(t, 40, 40 + max(15 - 2.5 * (t - 6), 1)) for t in range(6, T)]  # meets the first
    events = _call(objs)
    assert events["t"].tolist() == [3, 6]


def test_place_that_held_signal_before_is_not_an_arrival():
    objects = pd.DataFrame([_obj(t, 40, 40) for t in range(5, T)]).assign(label=1)
    params = Params()
    presence = np.zeros((T, 1, 30, 30), np.float32)  # 1 µm blocks = 2 px at 0.5 µm
    presence[:, 0, 5, 5] = 9.0  # signal far away all along: irrelevant
    assert len(call_events(objects, _cells(), SCALE, 60.0, params, presence)) == 1
    dim_before = presence.copy()
    dim_before[3:5, 0, 20, 21] = 9.0  # the two frames before onset, next to its place
    assert len(call_events(objects, _cells(), SCALE, 60.0, params, dim_before)) == 0
    noise_before = presence.copy()
    noise_before[2:5, 0, 20, 20] = 3.0  # below the hysteresis level: noise, not signal
    assert len(call_events(objects, _cells(), SCALE, 60.0, params, noise_before)) == 1
    passing = presence.copy()
    passing[4, 0, 20, 20] = 9.0  # one frame only: an object moving in, not static signal
    assert len(call_events(objects, _cells(), SCALE, 60.0, params, passing)) == 1


def test_object_never_clearly_above_noise_is_not_an_event():
    faint = [dict(_obj(t, 40, 40), snr=7.0) for t in range(4, T)]
    assert len(_call(faint)) == 0
    brightening = [dict(_obj(t, 40, 40), snr=7.0 + 2 * (t - 4)) for t in range(4, T)]
    assert _call(brightening)["t"].tolist() == [4]


# -- trajectories: a mitochondrion that comes in, moving (10 s frames, 0.5 µm pixels)

def _crossing(y0=40.0, x0=10.0, entry=6, speed_px=6.0, rest_x=70.0, bridge=1):
    """Outside on a bridge until ``entry``, then carried inside at ``speed_px`` per frame
    (3 µm per 10-s frame, 0.3 µm/s) until it rests at ``rest_x``."""
    objs = []
    for t in range(T):
        x = min(x0 + speed_px * (t - entry + 5), rest_x)
        inside = t >= entry
        objs.append(_obj(t, y0, x, containment=1.0 if inside else 0.0,
                         recipient=1 if inside else 0))
        if not inside:
            objs[-1]["bridge"] = bridge
    return objs


def _call_10s(objs, bridges=None, cells=None):
    objects = pd.DataFrame(objs)
    objects["label"] = objects.groupby("t").cumcount() + 1
    if "bridge" in objects:
        objects["bridge"] = objects["bridge"].fillna(0).astype(int)
    return call_events(objects, cells if cells is not None else _cells(), SCALE, 10.0,
                       Params(), bridges=bridges)


def test_mitochondrion_carried_inside_after_entry_is_one_event_at_entry():
    objs = _crossing()
    bridges = pd.DataFrame({"t": range(6), "label": 1, "bridge_id": 7, "cell_a": -1,
                            "cell_b": 1})
    events = _call_10s(objs, bridges)
    assert len(events) == 1
    ev = events.iloc[0]
    entry = next(o for o in objs if o["t"] == 6)
    assert ev["t"] == 6 and (ev["y"], ev["x"]) == (entry["y"], entry["x"])
    assert ev["route"] == "tnt" and ev["bridge_id"] == "7"
    assert ev["persistence"] == T - 6


def test_crossing_from_a_donor_body_is_contact_and_from_the_medium_unknown():
    objs = [dict(o, bridge=0, body_distance_um=0.5 if o["t"] < 6 else 3.0) for o in _crossing()]
    assert _call_10s(objs)["route"].tolist() == ["contact"]
    objs = [dict(o, bridge=0, body_distance_um=20.0) for o in _crossing()]
    assert _call_10s(objs)["route"].tolist() == ["unknown"]


def test_transient_entry_and_cargo_stalled_on_a_bridge_are_not_events():
    poke = [o for o in _crossing(entry=6) if o["t"] <= 6]  # in for one frame...
    poke += [_obj(t, 40, 30, containment=0.0, recipient=0) for t in range(7, T)]  # ...back out
    assert len(_call_10s(poke)) == 0
    stalled = [_obj(t, 40, 20, containment=0.0, recipient=0) for t in range(T)]
    assert len(_call_10s(stalled)) == 0


def test_fission_after_entry_is_one_event():
    objs = _crossing(speed_px=10.0)  # rests at t = 7
    objs += [_obj(t, 42, 70.5) for t in range(9, T)]  # a piece splits off the resting one
    events = _call_10s(objs)
    assert events["t"].tolist() == [6]


def test_fusion_with_a_resident_ends_nothing_already_called():
    resident = [_obj(t, 40, 73) for t in range(T)]
    arriving = [o for o in _crossing(speed_px=10.0) if o["t"] <= 7]  # fuses at t = 8
    events = _call_10s(resident + arriving)
    assert events["t"].tolist() == [6] and events.iloc[0]["persistence"] == T - 6


def test_resident_that_leaves_and_comes_back_is_not_a_transfer():
    objs = [_obj(t, 40, 40) for t in range(4)]
    objs += [_obj(t, 40, 30, containment=0.0, recipient=0) for t in range(4, 6)]
    objs += [_obj(t, 40, 38) for t in range(6, T)]
    assert len(_call_10s(objs)) == 0


def test_daughters_of_a_dividing_recipient_inherit_its_cargo():
    rows = [(t, 1, 1, 0, 0, 50, 50) for t in range(6)]
    rows += [(t, 1, 2, 1, 0, 40, 50) for t in range(6, T)]  # daughters from t = 6
    rows += [(t, 2, 3, 1, 0, 60, 50) for t in range(6, T)]
    cells = pd.DataFrame(rows, columns=["t", "label", "track_id", "parent_track_id", "z", "y",
                                        "x"])
    # a mitochondrion held since the start; the cell rounds up to divide, the object is
    # lost for two frames and found again in a daughter (a new trajectory)
    objs = [_obj(t, 40, 40) for t in range(6)]
    objs += [_obj(t, 40, 40.5) for t in range(8, T)]
    assert len(_call_10s(objs, cells=cells)) == 0
    # without the lineage it would be new to the daughter
    orphan = cells.assign(parent_track_id=0)
    assert len(_call_10s(objs, cells=orphan)) == 1
