"""The Detect widget: layer choice, parameters, current-frame and whole-movie runs, cancel,
bad input (napari GUI tests; pytest-xvfb provides the display)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.layers import Labels, Points
from qtpy.QtCore import Qt

import mtrack.pipeline
from mtrack.io import movie_from_array
from mtrack.napari import _detect
from mtrack.napari._detect import DetectWidget
from mtrack.params import Params, load_params
from mtrack.pipeline import run_movie
from mtrack.simulate import simulate_movie

pytestmark = [pytest.mark.gui, pytest.mark.timeout(600)]

LONG = 300_000  # ms: generous for a loaded 2-core machine


@pytest.fixture(scope="module")
def sim():
    return simulate_movie(ndim=2, seed=0, frames=8, shape=(160, 160), n_recipients=2,
                          n_transfers=1)


def errors(notes):
    return [n.message for n in notes if str(n.severity) == "error"]


def add_movie(viewer, sim, order=("membrane", "mito")):
    """The simulated movie as one (T, Y, X) image layer per channel, as the reader opens it.

    The membrane layer comes first and the names do not say the role: only the metadata
    tells which is which.
    """
    channels = {"mito": 0, "membrane": 1}
    for role in order:
        c = channels[role]
        viewer.add_image(
            sim.image[:, c, 0], name=f"C{c}", scale=(1.0, *sim.scale[1:]),
            metadata={"mtrack": {"role": role, "channel": c, "scale_zyx": list(sim.scale),
                                 "frame_interval": sim.frame_interval}})


def make_widget(make_napari_viewer, sim=None):
    viewer = make_napari_viewer()
    if sim is not None:
        add_movie(viewer, sim)
    widget = DetectWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Detect transfer")
    return viewer, widget


def snapshot(viewer):
    return [(layer.name, type(layer).__name__, id(layer.data)) for layer in viewer.layers]


def test_widget_builds_and_preselects_roles(make_napari_viewer, sim):
    viewer, widget = make_widget(make_napari_viewer, sim)
    assert widget.mito_layer.currentText() == "C0"
    assert widget.membrane_layer.currentText() == "C1"
    assert widget.nuclei_layer.currentText() == "(none)"
    assert widget.pixel_size.value() == pytest.approx(sim.scale[2])
    assert widget.frame_interval.value() == pytest.approx(sim.frame_interval)
    # every shown parameter has a tooltip from its description, and the defaults
    for name, box in widget.param_widgets.items():
        assert box.toolTip(), name
    assert widget.get_param("donor.threshold_sigma") == Params().donor.threshold_sigma
    assert "µm" in widget.param_widgets["recipient.cell_diameter_um"].suffix()
    assert widget.params() == Params()
    # combos follow the layer list
    viewer.add_image(np.zeros((8, 160, 160), np.uint16), name="extra")
    assert widget.mito_layer.findText("extra") >= 0
    assert widget.mito_layer.currentText() == "C0"
    viewer.layers["extra"].name = "renamed"
    assert widget.membrane_layer.findText("renamed") >= 0
    viewer.layers.remove("renamed")
    assert widget.mito_layer.findText("renamed") < 0
    assert not widget.running


def test_opens_from_the_plugin_menu(make_napari_viewer, qtbot, sim, notes):
    """napari builds the widget from the manifest (npe2 passes ``napari_viewer``, a proxy)."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    if "mtrack" not in pm._manifests:
        pytest.skip("the mtrack plugin is not registered (package not installed)")
    viewer = make_napari_viewer()
    add_movie(viewer, sim)
    _, widget = viewer.window.add_plugin_dock_widget("mtrack", "Detect transfer")
    assert isinstance(widget, DetectWidget)
    assert widget.mito_layer.currentText() == "C0"
    assert widget.membrane_layer.currentText() == "C1"
    viewer.dims.set_current_step(0, 2)
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert not errors(notes), errors(notes)
    assert "recipients (frame 2)" in viewer.layers


class CountingArray:
    """An array-like that records which frames are read."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim
        self.reads = []

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        self.reads.append(key[0])
        return self.array[key]

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was loaded")


def test_movie_reads_one_frame_at_a_time(make_napari_viewer, sim):
    viewer = make_napari_viewer()
    arrays = {}
    for c, role in enumerate(("mito", "membrane", "nuclei")):
        arrays[role] = CountingArray(sim.image[:, min(c, 1), 0])
        viewer.add_image(arrays[role], name=role, contrast_limits=(0, 1000),
                         metadata={"mtrack": {"role": role}})
    widget = DetectWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.nuclei_layer.currentText() == "nuclei"
    for array in arrays.values():
        array.reads.clear()
    movie, axes, _, _ = widget._movie()
    assert axes == "TYX" and movie.shape == (8, 3, 1, 160, 160)
    assert all(not a.reads for a in arrays.values())  # nothing read to build it
    frame = movie.frame(5)
    np.testing.assert_array_equal(frame[:2], sim.image[5])
    assert all(a.reads == [5] for a in arrays.values())
    assert widget._run_params(movie).input.nuclei_channel == 2


def test_current_frame_preview(make_napari_viewer, qtbot, sim, notes):
    viewer, widget = make_widget(make_napari_viewer, sim)
    viewer.dims.set_current_step(0, 3)
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert not errors(notes), errors(notes)
    recipients = viewer.layers["recipients (frame 3)"]
    assert isinstance(recipients, Labels)
    assert recipients.data.shape == (1, 160, 160)
    assert len(np.unique(recipients.data)) - 1 >= 1
    assert "donor objects (frame 3)" in viewer.layers
    assert "bridges (frame 3)" in viewer.layers
    # shown at frame 3 only, on the image's grid
    assert recipients.translate[0] == pytest.approx(3.0)
    np.testing.assert_allclose(recipients.scale, viewer.layers["C0"].scale)
    assert widget.status.text().startswith("frame 3:")
    # another frame updates the same preview layers
    n_layers = len(viewer.layers)
    viewer.dims.set_current_step(0, 5)
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert len(viewer.layers) == n_layers
    assert "recipients (frame 5)" in viewer.layers
    assert viewer.layers["recipients (frame 5)"].translate[0] == pytest.approx(5.0)


def test_current_frame_3d(make_napari_viewer, qtbot, notes):
    sim3 = simulate_movie(ndim=3, seed=0, frames=8, shape=(10, 96, 96), n_recipients=1,
                          n_transfers=1)
    viewer = make_napari_viewer()
    for c, role in enumerate(("mito", "membrane")):
        viewer.add_image(sim3.image[:, c], name=role, scale=(1.0, *sim3.scale),
                         metadata={"mtrack": {"role": role, "channel": c}})
    widget = DetectWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.z_step.value() == pytest.approx(sim3.scale[0])
    assert widget.pixel_size.value() == pytest.approx(sim3.scale[2])
    widget.dims.setCurrentIndex(widget.dims.findData("3d"))
    viewer.dims.set_current_step(0, 2)
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert not errors(notes), errors(notes)
    recipients = viewer.layers["recipients (frame 2)"]
    assert recipients.data.shape == (1, 10, 96, 96)
    assert recipients.data.max() >= 1
    # the same 3D layers forced to 2D: refused
    widget.dims.setCurrentIndex(widget.dims.findData("2d"))
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    assert not widget.running
    assert errors(notes) and "2D" in errors(notes)[0]


def test_channels_of_one_layer(make_napari_viewer, qtbot, sim, notes):
    viewer = make_napari_viewer()
    # (T, C, Y, X) with the membrane first: channel spin boxes pick the roles
    stack = np.ascontiguousarray(sim.image[:, ::-1, 0])
    viewer.add_image(stack, name="two channels", scale=(1.0, 1.0, *sim.scale[1:]))
    widget = DetectWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.input_mode.setCurrentText(_detect._ONE_LAYER)
    assert widget.stack_layer.currentText() == "two channels"
    assert widget.pixel_size.value() == pytest.approx(sim.scale[2])
    widget.mito_channel.setValue(1)
    widget.membrane_channel.setValue(0)
    viewer.dims.set_current_step(0, 3)
    viewer.dims.set_current_step(1, 1)
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert not errors(notes), errors(notes)
    recipients = viewer.layers["recipients (frame 3)"]
    # on the layer's (T, C, Y, X) grid, at the frame and channel looked at
    assert recipients.data.shape == (1, 1, 160, 160)
    np.testing.assert_allclose(recipients.translate, [3.0, 1.0, 0.0, 0.0])
    expected = _detect.process_frame(sim.image[3], sim.scale, Params()).recipients[0]
    np.testing.assert_array_equal(recipients.data[0, 0], expected)
    assert widget.params().input.mito_channel == 1
    # one role on both channels: refused
    widget.membrane_channel.setValue(1)
    qtbot.mouseClick(widget.frame_button, Qt.LeftButton)
    assert errors(notes) and "channel 1" in errors(notes)[-1]


def test_whole_movie_end_to_end(make_napari_viewer, qtbot, sim, notes, tmp_path, monkeypatch):
    viewer, widget = make_widget(make_napari_viewer, sim)
    before = snapshot(viewer)
    out = tmp_path / "results"
    widget.output.setText(str(out))
    widget.workers.setValue(min(2, widget.workers.maximum()))
    threads = []
    original = _detect.run_movie

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(_detect, "run_movie", recording)
    seen = []
    widget.progress.valueChanged.connect(seen.append)
    qtbot.mouseClick(widget.movie_button, Qt.LeftButton)
    assert widget.running  # the click returned while the worker runs
    assert not widget.movie_button.isEnabled() and widget.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert not errors(notes), errors(notes)
    assert widget.status.text().startswith("done"), widget.status.text()
    assert threads and threads[0] != threading.get_ident()  # ran in a worker thread
    assert widget.progress.value() == 100
    assert any(0 < v < 100 for v in seen)  # progress arrived during the run
    assert widget.movie_button.isEnabled() and not widget.cancel_button.isEnabled()

    # the same events as run_movie directly on the same arrays and parameters
    movie = movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                             frame_interval=sim.frame_interval)
    expected = run_movie(movie, Params(), scheduler="synchronous").events
    assert len(expected) >= 1
    events = viewer.layers["events"]
    assert isinstance(events, Points)
    # (events.csv keeps 6 significant digits)
    np.testing.assert_allclose(events.data, expected[["t", "y", "x"]].to_numpy(float),
                               rtol=1e-5)
    assert list(events.features["event_id"]) == list(expected["event_id"])
    for name in ("recipients", "donor objects", "bridges", "recipient tracks"):
        assert name in viewer.layers, name
    # the results folder is complete, nothing staged is left, input layers untouched
    assert widget.last_output == out
    assert {"events.csv", "cells.csv", "bridges.csv", "labels.zarr", "run.json",
            "params.yaml"} <= {p.name for p in out.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
    assert snapshot(viewer)[:len(before)] == before
    # a second run refuses the now existing folder instead of overwriting it
    notes.clear()
    qtbot.mouseClick(widget.movie_button, Qt.LeftButton)
    assert not widget.running
    assert errors(notes) and "exists" in errors(notes)[0]


def test_cancel_cleans_up(make_napari_viewer, qtbot, sim, notes, tmp_path, monkeypatch):
    viewer, widget = make_widget(make_napari_viewer, sim)
    before = snapshot(viewer)
    slow_frames = []
    original = mtrack.pipeline.process_frame

    def slow(*args, **kwargs):  # a slow movie, so that cancel lands mid-run
        slow_frames.append(1)
        threading.Event().wait(0.4)
        return original(*args, **kwargs)

    monkeypatch.setattr(mtrack.pipeline, "process_frame", slow)
    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    widget.output.setText(str(out_parent / "run1"))
    widget.workers.setValue(1)
    qtbot.mouseClick(widget.movie_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.progress.value() > 0, timeout=LONG)
    qtbot.mouseClick(widget.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=LONG)
    assert widget.status.text() == "cancelled"
    assert not errors(notes)
    assert len(slow_frames) < sim.image.shape[0]  # it stopped before the end
    assert snapshot(viewer) == before  # no result layers
    threading.Event().wait(1.0)  # frames in flight when cancelled have finished
    assert list(out_parent.iterdir()) == []  # no results, no staging folder
    assert widget.movie_button.isEnabled() and not widget.cancel_button.isEnabled()
    assert widget.progress.value() == 0


def _same_layer(viewer, widget):
    widget.membrane_layer.setCurrentText("C0")


def _single_channel_layer(viewer, widget):
    widget.input_mode.setCurrentText(_detect._ONE_LAYER)
    widget.stack_layer.setCurrentText("C0")


def _one_channel_stack(viewer, widget):
    viewer.add_image(np.ones((8, 1, 160, 160), np.uint16), name="stack")
    widget.input_mode.setCurrentText(_detect._ONE_LAYER)
    widget.stack_layer.setCurrentText("stack")
    widget.channel_axis.setValue(1)


def _different_shapes(viewer, widget):
    viewer.add_image(np.ones((8, 100, 160), np.uint16), name="cropped")
    widget.membrane_layer.setCurrentText("cropped")


def _forced_3d(viewer, widget):
    widget.dims.setCurrentIndex(widget.dims.findData("3d"))


def _bad_params(viewer, widget):
    widget.set_param("donor.min_size_um", 3.0)
    widget.set_param("donor.max_size_um", 2.0)


def _existing_output(viewer, widget, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    widget.output.setText(str(tmp_path / "full"))


BAD = {
    "same layer for both roles": (_same_layer, "same layer"),
    "single-channel layer as a stack": (_single_channel_layer, "single channel"),
    "stack with one channel": (_one_channel_stack, "1 channel"),
    "layers of different shapes": (_different_shapes, "differ in shape"),
    "2D layer forced to 3D": (_forced_3d, "3D"),
    "inconsistent parameters": (_bad_params, "min_size_um"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("button", ["frame_button", "movie_button"])
def test_bad_input_is_a_notification(make_napari_viewer, qtbot, sim, notes, case, button):
    viewer, widget = make_widget(make_napari_viewer, sim)
    prepare, words = BAD[case]
    prepare(viewer, widget)
    before = snapshot(viewer)
    data = {layer.name: np.asarray(layer.data).copy() for layer in viewer.layers}
    qtbot.mouseClick(getattr(widget, button), Qt.LeftButton)
    assert not widget.running
    msgs = errors(notes)
    assert len(msgs) == 1 and words in msgs[0], msgs
    assert words in widget.status.text()
    assert snapshot(viewer) == before
    for layer in viewer.layers:
        np.testing.assert_array_equal(np.asarray(layer.data), data[layer.name])
    assert widget.frame_button.isEnabled() and widget.movie_button.isEnabled()


def test_existing_output_folder_is_refused(make_napari_viewer, qtbot, sim, notes, tmp_path):
    viewer, widget = make_widget(make_napari_viewer, sim)
    _existing_output(viewer, widget, tmp_path)
    qtbot.mouseClick(widget.movie_button, Qt.LeftButton)
    assert not widget.running
    assert errors(notes) and "not empty" in errors(notes)[0]
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


def test_empty_viewer(make_napari_viewer, qtbot, notes):
    viewer, widget = make_widget(make_napari_viewer)
    for button in (widget.frame_button, widget.movie_button):
        qtbot.mouseClick(button, Qt.LeftButton)
    assert not widget.running
    msgs = errors(notes)
    assert len(msgs) == 2 and all("no image layers" in m for m in msgs)
    assert len(viewer.layers) == 0


def test_param_file_round_trip(make_napari_viewer, qtbot, notes, tmp_path):
    _, widget = make_widget(make_napari_viewer)
    changed = {"recipient.marker": "filled", "recipient.cell_diameter_um": 22.5,
               "donor.threshold_sigma": 4.5, "event.margin_um": 1.2,
               "event.min_persistence_frames": 5, "bridge.enabled": False}
    for name, value in changed.items():
        widget.set_param(name, value)
    path = tmp_path / "mine.yaml"
    assert widget.save_params(path)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.yaml"]  # atomic, no temp left
    saved = load_params(path)
    assert saved.donor.threshold_sigma == 4.5 and saved.bridge.enabled is False

    widget.reset_params()
    assert widget.get_param("donor.threshold_sigma") == Params().donor.threshold_sigma
    assert widget.load_params(path)
    for name, value in changed.items():
        assert widget.get_param(name) == pytest.approx(value) if isinstance(value, float) \
            else widget.get_param(name) == value
    assert widget.params() == saved

    # a file setting a parameter not shown keeps it through the widget
    (tmp_path / "other.yaml").write_text("track:\n  max_gap_frames: 2\ndonor:\n"
                                         "  threshold_sigma: 7.0\n")
    assert widget.load_params(tmp_path / "other.yaml")
    assert widget.get_param("donor.threshold_sigma") == 7.0
    assert widget.params().track.max_gap_frames == 2
    assert not errors(notes)
    # a value finer than the spin box shows is kept as loaded until it is changed
    (tmp_path / "fine.yaml").write_text("event:\n  margin_um: 0.81234\n")
    assert widget.load_params(tmp_path / "fine.yaml")
    assert widget.params().event.margin_um == 0.81234
    widget.set_param("event.margin_um", 0.9)
    assert widget.params().event.margin_um == pytest.approx(0.9)
    assert widget.load_params(tmp_path / "other.yaml")

    # bad files: a notification, the widgets unchanged
    (tmp_path / "bad.yaml").write_text("donor:\n  threshold_sigmaa: 3\n")
    (tmp_path / "broken.yaml").write_text("donor: [unclosed\n")
    for bad in ("bad.yaml", "broken.yaml", "missing.yaml"):
        assert not widget.load_params(tmp_path / bad)
    msgs = errors(notes)
    assert len(msgs) == 3 and "threshold_sigmaa" in msgs[0]
    assert widget.get_param("donor.threshold_sigma") == 7.0
    # saving into a folder that does not exist: a notification too
    assert not widget.save_params(tmp_path / "nowhere" / "p.yaml")
    assert len(errors(notes)) == 4
