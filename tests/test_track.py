import numpy as np
import pandas as pd

from mtrack.params import TrackParams
from mtrack.track import link_positions, track_recipients

SCALE = (1.0, 0.5, 0.5)


def _table(rows):
    return pd.DataFrame(rows, columns=["t", "z", "y", "x"])


def test_drifting_cells_keep_their_ids():
    rng = np.random.default_rng(1)
    starts = np.array([[0, 20, 20], [0, 20, 80], [0, 80, 50]], float)
    rows = []
    for t in range(10):
        for s in rng.permutation(starts):  # detection order shuffled per frame
            rows.append((t, *(s + [0, 1.5 * t, -1.0 * t])))
    table = _table(rows)
    ids = link_positions(table, SCALE, max_distance_um=3.0, max_gap_frames=1)
    for s in starts:
        near = np.isclose(table["y"] - 1.5 * table["t"], s[1]) & np.isclose(
            table["x"] + table["t"], s[2])
        assert len(set(ids[near])) == 1
    assert len(set(ids)) == 3


def test_gap_closing_and_new_track():
    table = _table([(0, 0, 10, 10), (1, 0, 10, 11), (4, 0, 10, 12), (4, 0, 90, 90)])
    ids = link_positions(table, SCALE, max_distance_um=2.0, max_gap_frames=1)
    assert ids[0] == ids[1]
    assert ids[2] != ids[1]  # two missing frames exceed max_gap_frames=1
    ids2 = link_positions(table, SCALE, max_distance_um=2.0, max_gap_frames=2)
    assert ids2[0] == ids2[1] == ids2[2]
    assert ids2[3] not in ids2[:3]


def test_too_far_is_a_new_track():
    table = _table([(0, 0, 10, 10), (1, 0, 10, 30)])
    ids = link_positions(table, SCALE, max_distance_um=5.0, max_gap_frames=1)
    assert ids[0] != ids[1]


def test_track_recipients_does_not_mutate():
    cells = _table([(0, 0, 10, 10), (1, 0, 11, 10)]).assign(label=[1, 1])
    before = cells.copy()
    out = track_recipients(cells, SCALE, TrackParams())
    pd.testing.assert_frame_equal(cells, before)
    assert out["track_id"].tolist() == [1, 1]


def test_track_bridges_names_ends_by_track_and_keeps_ids():
    from mtrack.track import track_bridges

    cells = pd.DataFrame({"t": [0, 0, 1, 1], "label": [1, 2, 2, 1], "track_id": [7, 8, 8, 7]})
    bridges = pd.DataFrame({
        "t": [0, 0, 1, 1], "label": [1, 2, 1, 2],
        "cell_a": [2, -1, 1, -2], "cell_b": [1, 1, 2, 1],  # frame-local labels, donor < 0
        "z": 0.0, "y": [10.0, 40.0, 10.5, 40.5], "x": [10.0, 40.0, 10.0, 40.0],
    })
    out = track_bridges(bridges, cells, SCALE, TrackParams())
    assert out[["cell_a", "cell_b"]].values.tolist() == [[7, 8], [-1, 7], [7, 8], [-1, 7]]
    assert out["bridge_id"].iloc[0] == out["bridge_id"].iloc[2]
    assert out["bridge_id"].iloc[1] == out["bridge_id"].iloc[3]
    assert out["bridge_id"].nunique() == 2 and (out["lifetime"] == 2).all()
    assert bridges["cell_a"].tolist() == [2, -1, 1, -2]  # input untouched


def _cell_rows(track, t, y, x, area=300.0):
    return {"track": track, "t": t, "z": 0.0, "y": y, "x": x, "label": 0,
            "area_or_volume": area}


def test_division_gives_two_daughters_that_name_their_mother():
    rows = [_cell_rows("m", t, 50, 50) for t in range(5)]
    rows += [_cell_rows("a", t, 50, 35, 150) for t in range(5, 10)]  # 7.5 µm apart
    rows += [_cell_rows("b", t, 50, 65, 150) for t in range(5, 10)]
    rows += [_cell_rows("c", t, 10, 10) for t in range(10)]  # a bystander
    cells = pd.DataFrame(rows)
    out = track_recipients(cells.drop(columns="track"), SCALE, TrackParams())
    ids = out.groupby(cells["track"])["track_id"].agg(set)
    assert all(len(v) == 1 for v in ids)
    mother = ids["m"].pop()
    parents = out.groupby(cells["track"])["parent_track_id"].first()
    assert parents["a"] == parents["b"] == mother
    assert parents["m"] == parents["c"] == 0
    assert out["track_id"].nunique() == 4


def test_cell_cut_in_two_for_one_frame_keeps_its_track():
    rows = [_cell_rows("m", t, 50, 50) for t in range(10) if t != 4]
    rows += [_cell_rows("m", 4, 50, 45, 200), _cell_rows("piece", 4, 50, 60, 100)]
    cells = pd.DataFrame(rows)
    out = track_recipients(cells.drop(columns="track"), SCALE, TrackParams())
    main = out[cells["track"] == "m"]
    assert main["track_id"].nunique() == 1 and (main["parent_track_id"] == 0).all()
    assert (out.loc[cells["track"] == "piece", "parent_track_id"] == 0).all()
