"""Tests for the napari plugin's manifest, reader, writer, sample data and layer conversions.

GUI tests: they need napari with Qt and an X display (pytest-xvfb starts Xvfb).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from mtrack.cli import main  # noqa: E402
from mtrack.events import EVENT_COLUMNS  # noqa: E402
from mtrack.io import write_movie_tiff  # noqa: E402
from mtrack.napari._layers import (  # noqa: E402
    ROUTE_COLORS,
    STATUS_COLORS,
    channel_array,
    events_table,
    movie_layers,
    read_events,
    results_layers,
)
from mtrack.napari._reader import get_reader  # noqa: E402
from mtrack.napari._sample_data import sample_2d, sample_3d  # noqa: E402
from mtrack.napari._writer import AUTO_BACKUP, write_events  # noqa: E402
from mtrack.omezarr import write_movie_zarr  # noqa: E402
from mtrack.simulate import simulate_movie  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.timeout(600)]

RESULT_LAYERS = ["recipients", "donor objects", "bridges", "recipient tracks", "events"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sim2d():
    """A small 2D simulation with transfers by contact and along bridges."""
    return simulate_movie(2, frames=12, seed=0, shape=(256, 256))


@pytest.fixture(scope="module")
def movie2d(tmp_path_factory, sim2d) -> Path:
    path = tmp_path_factory.mktemp("movie2d") / "movie.tif"
    write_movie_tiff(path, sim2d.image, scale=sim2d.scale, frame_interval=sim2d.frame_interval,
                     channel_names=sim2d.channel_names)
    return path


@pytest.fixture(scope="module")
def results2d(tmp_path_factory, movie2d) -> Path:
    """``mtrack run`` on the small 2D movie (4 events, 3 bridges)."""
    out = tmp_path_factory.mktemp("results2d") / "results"
    assert main(["run", str(movie2d), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def sim3d():
    return simulate_movie(3, frames=8, seed=1, shape=(10, 112, 112))


@pytest.fixture(scope="module")
def results3d(tmp_path_factory, sim3d) -> Path:
    folder = tmp_path_factory.mktemp("results3d")
    movie = folder / "movie.tif"
    write_movie_tiff(movie, sim3d.image, scale=sim3d.scale, frame_interval=sim3d.frame_interval,
                     channel_names=sim3d.channel_names)
    assert main(["run", str(movie), "--out", str(folder / "results"), "--quiet",
                 "--workers", "1"]) == 0
    return folder / "results"


def _copy_results(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return copy


def _by_name(layers):
    return {kw["name"]: (data, kw, kind) for data, kw, kind in layers}


def _records():
    from napari.utils.notifications import notification_manager

    return notification_manager.records


# ----------------------------------------------------------------------------- manifest


def test_manifest_declares_the_contributions():
    import npe2

    manifest = npe2.PluginManifest.from_distribution("mtrack")
    assert manifest.name == "mtrack" and manifest.display_name == "mtrack"
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands == {
        "mtrack.get_reader": "mtrack.napari._reader:get_reader",
        "mtrack.write_events": "mtrack.napari._writer:write_events",
        "mtrack.sample_2d": "mtrack.napari._sample_data:sample_2d",
        "mtrack.sample_3d": "mtrack.napari._sample_data:sample_3d",
        "mtrack.detect_widget": "mtrack.napari._detect:DetectWidget",
        "mtrack.review_widget": "mtrack.napari._review:ReviewWidget",
    }
    (reader,) = manifest.contributions.readers
    assert reader.accepts_directories
    assert {"*.tif", "*.tiff", "*.zarr"} <= set(reader.filename_patterns)
    (writer,) = manifest.contributions.writers
    assert writer.filename_extensions == [".csv"]
    assert writer.display_name == "mtrack events table"
    assert [str(t) for t in writer.layer_types] == ["points"]
    samples = {s.key: s.display_name for s in manifest.contributions.sample_data}
    assert samples == {"sim2d": "Simulated 2D transfer movie",
                       "sim3d": "Simulated 3D transfer movie"}
    widgets = {w.command: w.display_name for w in manifest.contributions.widgets}
    assert widgets == {"mtrack.detect_widget": "Detect transfer",
                       "mtrack.review_widget": "Review events"}
    # the package carries the top-level manifest
    top = Path(__file__).resolve().parents[1] / "napari.yaml"
    assert (top.parent / "mtrack" / "napari.yaml").read_text() == top.read_text()


def test_npe2_validate_with_imports():
    npe2_cli = Path(sys.executable).with_name("npe2")
    command = [str(npe2_cli)] if npe2_cli.exists() else [sys.executable, "-m", "npe2"]
    done = subprocess.run([*command, "validate", "mtrack", "--imports"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout


# ----------------------------------------------------------------------------- get_reader


def test_get_reader_refuses_what_it_cannot_read(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    fake_tif = tmp_path / "fake.tif"
    fake_tif.write_text("not a TIFF either")
    empty_tif = tmp_path / "empty.tif"
    empty_tif.write_bytes(b"")
    random_folder = tmp_path / "folder"
    random_folder.mkdir()
    (random_folder / "a.txt").write_text("x")
    plain_zarr = tmp_path / "plain.zarr"  # a zarr group without OME-Zarr metadata
    plain_zarr.mkdir()
    (plain_zarr / ".zgroup").write_text('{"zarr_format": 2}')
    for path in (text, fake_tif, empty_tif, random_folder, plain_zarr, tmp_path / "missing.tif",
                 tmp_path / "missing"):
        assert get_reader(str(path)) is None, path
    assert get_reader([str(text), str(fake_tif)]) is None
    assert get_reader("") is None


def test_get_reader_does_not_open_the_movie(movie2d, monkeypatch):
    import mtrack.napari._reader as reader_module

    def fail(*args, **kwargs):
        raise AssertionError("get_reader opened the movie")

    monkeypatch.setattr(reader_module, "open_movie", fail)
    assert callable(get_reader(str(movie2d)))
    assert callable(get_reader([str(movie2d)]))


# ----------------------------------------------------------------------------- movies


def test_tiff_movie_layers(movie2d, sim2d):
    layers = get_reader(str(movie2d))(str(movie2d))
    assert [kind for _, _, kind in layers] == ["image", "image"]
    (mito, mkw, _), (membrane, bkw, _) = layers
    assert (mkw["name"], bkw["name"]) == ("mito", "membrane")
    assert (mkw["colormap"], bkw["colormap"]) == ("magenta", "green")
    assert mkw["blending"] == bkw["blending"] == "additive"
    assert mkw["scale"] == pytest.approx((1.0, 0.3, 0.3))
    assert mito.shape == (12, 256, 256) and mito.chunks[0] == (1,) * 12
    assert mito.chunks[1:] == ((256,), (256,))
    np.testing.assert_array_equal(np.asarray(mito[5]), sim2d.image[5, 0, 0])
    np.testing.assert_array_equal(np.asarray(membrane[[2, 7]]), sim2d.image[[2, 7], 1, 0])
    lo, hi = mkw["contrast_limits"]
    assert sim2d.image[:, 0].min() <= lo < hi <= sim2d.image[:, 0].max()
    info = mkw["metadata"]["mtrack"]
    assert info["role"] == "mito" and info["channel"] == 0
    assert bkw["metadata"]["mtrack"]["role"] == "membrane"
    assert info["source"] == str(movie2d)
    assert info["frame_interval"] == pytest.approx(sim2d.frame_interval)
    assert info["scale_zyx"] == pytest.approx(list(sim2d.scale))


def test_ome_zarr_movie_layers(tmp_path, sim2d):
    path = tmp_path / "movie.ome.zarr"
    write_movie_zarr(path, sim2d.image, scale=sim2d.scale, frame_interval=sim2d.frame_interval,
                     channel_names=sim2d.channel_names)
    reader = get_reader(str(path))
    assert callable(reader)
    layers = reader(str(path))
    assert [kw["name"] for _, kw, _ in layers] == ["mito", "membrane"]
    data, kw, _ = layers[1]
    assert data.shape == (12, 256, 256) and kw["scale"] == pytest.approx((1.0, 0.3, 0.3))
    np.testing.assert_array_equal(np.asarray(data[-1]), sim2d.image[-1, 1, 0])


def test_3d_movie_layers_keep_z(tmp_path, sim3d):
    path = tmp_path / "movie3d.tif"
    write_movie_tiff(path, sim3d.image, scale=sim3d.scale, frame_interval=sim3d.frame_interval,
                     channel_names=sim3d.channel_names)
    layers = get_reader(str(path))(str(path))
    data, kw, _ = layers[0]
    assert data.shape == sim3d.image[:, 0].shape  # (T, Z, Y, X)
    assert data.chunks[1:] == tuple((s,) for s in sim3d.image.shape[2:])
    assert kw["scale"] == pytest.approx((1.0, *sim3d.scale))
    np.testing.assert_array_equal(np.asarray(data[3, 4]), sim3d.image[3, 0, 4])


def test_movie_layers_roles_and_fallback_names(sim2d):
    from mtrack.io import movie_from_array

    image = np.concatenate([sim2d.image[:8]] * 2, axis=1)  # 4 channels
    movie = movie_from_array(image, "TCZYX", scale=(1.0, 0.5, 0.5),
                             channel_names=["", "memb", "dna", "x"])
    layers = movie_layers(movie, roles=(2, 1))
    assert [kw["name"] for _, kw, _ in layers] == ["channel 0", "memb", "dna", "x"]
    assert [kw["colormap"] for _, kw, _ in layers] == ["gray", "green", "magenta", "cyan"]
    assert [kw["metadata"]["mtrack"]["role"] for _, kw, _ in layers] == [
        None, "membrane", "mito", None]
    assert layers[0][1]["metadata"]["mtrack"]["source"] is None
    assert channel_array(movie, 3).shape == (8, 256, 256)


def test_corrupt_tiff_gives_a_notification_not_an_exception(tmp_path, movie2d):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(movie2d.read_bytes()[: movie2d.stat().st_size // 3])
    reader = get_reader(str(broken))
    assert callable(reader)  # the header is fine: only reading finds the problem
    before = len(_records())
    assert reader(str(broken)) == [(None,)]
    messages = [str(n.message) for n in _records()[before:]]
    assert any(str(broken) in m and "truncated" in m for m in messages), messages


# ----------------------------------------------------------------------------- results


def test_results_folder_layers(results2d, movie2d, sim2d):
    layers = get_reader(str(results2d))(str(results2d))
    names = [kw["name"] for _, kw, _ in layers]
    assert names == ["mito", "membrane", *RESULT_LAYERS]  # the movie first, from run.json
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "image", "labels", "labels", "shapes", "tracks", "points"]
    for _, kw, _ in layers:
        assert kw["scale"] == pytest.approx((1.0, 0.3, 0.3)), kw["name"]
    by_name = _by_name(layers)

    recipients = by_name["recipients"][0]
    assert recipients.shape == (12, 256, 256) and recipients.dtype == np.int32
    assert np.asarray(recipients[0]).max() >= 1

    events = pd.read_csv(results2d / "events.csv")
    points, kw, _ = by_name["events"]
    assert len(events) >= 2
    np.testing.assert_allclose(points, events[["t", "y", "x"]].to_numpy(float))
    assert list(kw["features"].columns) == EVENT_COLUMNS
    assert kw["features"]["status"].tolist() == ["auto"] * len(events)
    assert kw["features"]["event_id"].tolist() == events["event_id"].tolist()
    assert kw["face_color"] == "status" and kw["face_color_cycle"] == STATUS_COLORS
    assert kw["border_color"] == "route" and kw["border_color_cycle"] == ROUTE_COLORS
    assert kw["metadata"]["mtrack"]["kind"] == "events"
    assert kw["metadata"]["mtrack"]["results"] == str(results2d)

    cells = pd.read_csv(results2d / "cells.csv")
    tracks, tkw, _ = by_name["recipient tracks"]
    assert tracks.shape == (len(cells), 4)
    assert set(tracks[:, 0]) == set(cells["track_id"])

    bridges = pd.read_csv(results2d / "bridges.csv")
    paths, bkw, _ = by_name["bridges"]
    assert len(bridges) >= 3
    assert len(paths) == len(bridges)  # one path per bridge per frame
    assert bkw["shape_type"] == "path" and bkw["edge_color"] == "cyan"
    features = bkw["features"]
    assert sorted(zip(features["bridge_id"], features["t"])) == sorted(
        zip(bridges["bridge_id"], bridges["t"]))
    import zarr

    skeletons = zarr.open_group(str(results2d / "labels.zarr"), mode="r")["bridges"]
    for path, (_, row) in zip(paths, features.iterrows()):
        assert path.shape[1] == 3 and np.all(path[:, 0] == row["t"])
        steps = np.abs(np.diff(path[:, 1:], axis=0)).max(axis=1)
        assert steps.max() <= 1  # neighbouring skeleton pixels, in order
        frame = skeletons[int(row["t"]), 0]
        values = frame[path[:, 1].astype(int), path[:, 2].astype(int)]
        assert np.all(values == values[0]) and values[0] > 0  # along one skeleton
        assert len(path) >= 0.8 * (frame == values[0]).sum()  # corners of stairs skipped
        match = bridges[(bridges["t"] == row["t"]) & (bridges["bridge_id"] == row["bridge_id"])]
        centroid = np.argwhere(frame == values[0]).mean(axis=0)
        assert np.hypot(*(centroid - match[["y", "x"]].to_numpy(float)[0])) < 1.0


def test_results_folder_3d_layers(results3d, sim3d):
    layers = results_layers(results3d)
    by_name = _by_name(layers)
    assert [kw["name"] for _, kw, _ in layers] == RESULT_LAYERS
    n_t, _, n_z, n_y, n_x = sim3d.image.shape
    assert by_name["recipients"][0].shape == (n_t, n_z, n_y, n_x)
    for _, kw, _ in layers:
        assert kw["scale"] == pytest.approx((1.0, *sim3d.scale))
    events = pd.read_csv(results3d / "events.csv")
    np.testing.assert_allclose(by_name["events"][0].reshape(-1, 4),
                               events[["t", "z", "y", "x"]].to_numpy(float).reshape(-1, 4))
    assert by_name["recipient tracks"][0].shape[1] == 5
    for path in by_name["bridges"][0]:
        assert path.shape[1] == 4
    with pytest.raises(ValueError, match="3D"):
        results_layers(results3d, ndim=2)


def test_results_with_no_events_and_no_cells(results2d, tmp_path, make_napari_viewer):
    folder = _copy_results(results2d, tmp_path)
    for name in ("events.csv", "cells.csv", "bridges.csv"):
        pd.read_csv(folder / name).iloc[:0].to_csv(folder / name, index=False)
    layers = results_layers(folder)
    names = [kw["name"] for _, kw, _ in layers]
    assert names == ["recipients", "donor objects", "bridges", "events"]  # no tracks
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="mtrack")
    assert len(viewer.layers["events"].data) == 0 and len(viewer.layers["bridges"].data) == 0
    assert get_reader(str(folder / "labels.zarr")) is None  # a zarr group, not a movie


def test_results_without_the_movie_show_results_only(results2d, tmp_path):
    import json

    folder = _copy_results(results2d, tmp_path)
    run = json.loads((folder / "run.json").read_text())
    run["input"]["path"] = str(tmp_path / "gone.tif")
    (folder / "run.json").write_text(json.dumps(run))
    layers = get_reader(str(folder))(str(folder))
    assert [kw["name"] for _, kw, _ in layers] == RESULT_LAYERS


@pytest.mark.parametrize("missing", ["cells.csv", "events.csv", "run.json"])
def test_results_folder_missing_a_table(results2d, tmp_path, missing):
    folder = _copy_results(results2d, tmp_path)
    (folder / missing).unlink()
    with pytest.raises(ValueError) as excinfo:
        results_layers(folder)
    message = str(excinfo.value)
    assert "\n" not in message and str(folder) in message and missing in message
    reader = get_reader(str(folder))
    assert callable(reader)
    before = len(_records())
    assert reader(str(folder)) == [(None,)]  # null layer: napari opens nothing, raises nothing
    messages = [str(n.message) for n in _records()[before:]]
    assert any(missing in m and str(folder) in m for m in messages), messages


def test_viewer_opens_results_folder(make_napari_viewer, results2d, tmp_path):
    viewer = make_napari_viewer()
    added = viewer.open(str(results2d), plugin="mtrack")
    assert [layer.name for layer in added] == ["mito", "membrane", *RESULT_LAYERS]
    types = {layer.name: type(layer).__name__ for layer in viewer.layers}
    assert types == {"mito": "Image", "membrane": "Image", "recipients": "Labels",
                     "donor objects": "Labels", "bridges": "Shapes",
                     "recipient tracks": "Tracks", "events": "Points"}
    events = viewer.layers["events"]
    table = pd.read_csv(results2d / "events.csv")
    np.testing.assert_allclose(events.data, table[["t", "y", "x"]].to_numpy(float))
    np.testing.assert_allclose(events.face_color[0], [1.0, 215 / 255, 0.0, 1.0], atol=1e-2)
    assert viewer.dims.ndim == 3
    assert viewer.dims.range[0].stop == pytest.approx(11)
    viewer.dims.set_point(0, int(table["t"].iloc[0]))
    # a folder missing a table: a notification, no exception, no layer
    broken = _copy_results(results2d, tmp_path)
    (broken / "cells.csv").unlink()
    n_layers, before = len(viewer.layers), len(_records())
    assert viewer.open(str(broken), plugin="mtrack") == []
    assert len(viewer.layers) == n_layers
    assert any("cells.csv" in str(n.message) for n in _records()[before:])


def test_viewer_opens_movie_with_plugin(make_napari_viewer, movie2d):
    viewer = make_napari_viewer()
    viewer.open(str(movie2d), plugin="mtrack")
    assert [layer.name for layer in viewer.layers] == ["mito", "membrane"]
    assert viewer.layers["mito"].colormap.name == "magenta"
    assert tuple(viewer.layers["mito"].scale) == pytest.approx((1.0, 0.3, 0.3))


# ----------------------------------------------------------------------------- writer


def _events_layer(folder: Path):
    from napari.layers import Layer

    data, kwargs, kind = _by_name(results_layers(folder))["events"]
    return Layer.create(data, kwargs, kind)


def test_writer_round_trip_keeps_the_automatic_calls(results2d, tmp_path):
    folder = _copy_results(results2d, tmp_path)
    original = (folder / "events.csv").read_bytes()
    auto = read_events(folder / "events.csv")
    layer = _events_layer(folder)
    layer.features.loc[0, "status"] = "accepted"
    layer.features.loc[1, "status"] = "rejected"
    moved = layer.data.copy()
    moved[2, 1:] += (2.0, -1.5)  # the reviewer moved one point
    layer.data = moved
    layer.add(np.array([5.0, 40.0, 60.0]))  # and added a missed event
    assert layer.features["status"].iloc[-1] == "added"

    data, attributes, _ = layer.as_layer_data_tuple()
    written = write_events(str(folder / "events.csv"), data, attributes)
    assert written == [str(folder / "events.csv")]
    assert (folder / AUTO_BACKUP).read_bytes() == original  # the automatic calls, kept
    assert not list(folder.glob(".*.tmp"))

    table = read_events(folder / "events.csv")
    assert list(table.columns) == EVENT_COLUMNS and len(table) == len(auto) + 1
    assert table["status"].tolist()[:3] == ["accepted", "rejected", "auto"]
    same = [c for c in EVENT_COLUMNS if c != "status"]
    pd.testing.assert_frame_equal(table.loc[[0, 1], same], auto.loc[[0, 1], same],
                                  check_dtype=False)  # track_id: blank for the added row
    assert (table.loc[2, "y"], table.loc[2, "x"]) == pytest.approx(
        (auto.loc[2, "y"] + 2.0, auto.loc[2, "x"] - 1.5))
    assert table.loc[2, "y_um"] == pytest.approx(table.loc[2, "y"] * 0.3)
    assert table.loc[2, "event_id"] == auto.loc[2, "event_id"]
    new = table.iloc[-1]
    assert new["status"] == "added" and new["event_id"] == auto["event_id"].max() + 1
    assert (new["t"], new["z"], new["y"], new["x"]) == (5, 0, 40.0, 60.0)
    assert (new["time_s"], new["y_um"], new["x_um"]) == pytest.approx((300.0, 12.0, 18.0))
    assert pd.isna(new["track_id"]) and pd.isna(new["score"]) and new["route"] == ""
    unchanged = (folder / "events.csv").read_text().splitlines()
    assert unchanged[4] == original.decode().splitlines()[4]  # untouched row, same text

    # reading the folder again restores the review; saving again keeps the first backup
    again = _by_name(get_reader(str(folder))(str(folder)))["events"]
    pd.testing.assert_frame_equal(again[1]["features"], table)
    np.testing.assert_allclose(again[0][-1], [5.0, 40.0, 60.0])
    layer = _events_layer(folder)
    layer.features.loc[3, "status"] = "accepted"
    write_events(str(folder / "events.csv"), *layer.as_layer_data_tuple()[:2])
    assert (folder / AUTO_BACKUP).read_bytes() == original
    final = read_events(folder / "events.csv")
    assert final["status"].tolist() == ["accepted", "rejected", "auto", "accepted", "added"]
    assert final["event_id"].tolist() == table["event_id"].tolist()  # added id kept


def test_writer_through_napari_and_outside_a_results_folder(make_napari_viewer, results2d,
                                                            tmp_path):
    viewer = make_napari_viewer()
    viewer.open(str(results2d), plugin="mtrack")
    events = viewer.layers["events"]
    events.features.loc[0, "status"] = "rejected"
    target = tmp_path / "reviewed"
    saved = events.save(str(target), plugin="mtrack")
    assert saved == [str(target) + ".csv"]
    assert not (tmp_path / AUTO_BACKUP).exists()  # not a results folder: nothing to back up
    table = read_events(target.with_suffix(".csv"))
    assert table["status"].iloc[0] == "rejected" and len(table) == len(events.data)


def test_events_table_from_a_plain_points_layer():
    data = np.array([[0.0, 1.0, 10.0, 20.0], [3.0, 2.0, 5.0, 6.0]])
    table = events_table(data, pd.DataFrame(index=range(2)), scale_zyx=(2.0, 0.5, 0.5),
                         frame_interval=10.0)
    assert table["event_id"].tolist() == [1, 2]
    assert table["status"].tolist() == ["added", "added"]
    assert table[["t", "z", "y", "x"]].to_numpy(float).tolist() == data.tolist()
    assert table[["time_s", "z_um", "y_um", "x_um"]].to_numpy(float)[1].tolist() == [
        30.0, 4.0, 2.5, 3.0]
    empty = events_table(np.empty((0, 3)), None)
    assert list(empty.columns) == EVENT_COLUMNS and len(empty) == 0
    with pytest.raises(ValueError):
        events_table(np.zeros((2, 2)), None)


# ----------------------------------------------------------------------------- sample data


def test_sample_2d_layers():
    layers = sample_2d()
    by_name = _by_name(layers)
    assert list(by_name) == ["mito", "membrane", "truth", "decoys"]
    sim = simulate_movie(2, seed=0)
    assert by_name["mito"][0].shape == sim.image[:, 0, 0].shape
    truth = sim.truth[sim.truth["kind"] == "transfer"]
    np.testing.assert_allclose(by_name["truth"][0], truth[["t", "y", "x"]].to_numpy(float))
    assert by_name["decoys"][1]["visible"] is False
    assert by_name["truth"][1]["scale"] == by_name["mito"][1]["scale"]


def test_sample_3d_layers():
    by_name = _by_name(sample_3d())
    data = by_name["membrane"][0]
    assert data.ndim == 4 and by_name["membrane"][1]["scale"] == pytest.approx(
        (1.0, 1.0, 0.4, 0.4))
    assert by_name["truth"][0].shape[1] == 4


def test_sample_data_in_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("mtrack", "sim2d")
    assert [layer.name for layer in viewer.layers] == ["mito", "membrane", "truth", "decoys"]
    assert viewer.layers["membrane"].colormap.name == "green"
