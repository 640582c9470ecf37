"""The Review widget: keyboard review of the events of a results folder, add by click,
colours, crop strip, counts, save and reopen, evaluate the reviewed table, bad input
(napari GUI tests; pytest-xvfb provides the display).

Set ``MTRACK_SCREENSHOTS=1`` to write the screenshot of the reviewed 2D sample into
``docs/screenshots/review_sim2d.png`` (otherwise it goes to the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari._qt.dialogs.qt_notification import NapariQtNotification
from napari.layers import Labels
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QApplication

from mtrack.cli import main
from mtrack.events import EVENT_COLUMNS
from mtrack.napari import _review, _writer
from mtrack.napari._layers import ROUTE_COLORS, STATUS_COLORS
from mtrack.napari._review import ReviewWidget, crop_strip, review_counts
from mtrack.napari._writer import AUTO_BACKUP

pytestmark = [pytest.mark.gui, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
MOVIE_2D = REPO / "sample_data" / "sim2d" / "movie.tif"
MOVIE_3D = REPO / "sample_data" / "sim3d" / "movie.tif"
SCREENSHOT = "review_sim2d.png"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def results_2d(tmp_path_factory) -> Path:
    """``mtrack run`` on the bundled 2D sample (pristine; tests review copies)."""
    out = tmp_path_factory.mktemp("review2d") / "sim2d"
    assert main(["run", str(MOVIE_2D), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def folder(results_2d, tmp_path) -> Path:
    """A fresh copy of the 2D results folder (it names the movie by absolute path)."""
    copy = tmp_path / "sim2d"
    shutil.copytree(results_2d, copy)
    return copy


def errors(notes):
    return [n.message for n in notes if str(n.severity) == "error"]


class MouseCounter(QObject):
    """Counts mouse button and wheel events anywhere in the application."""

    KINDS = (QEvent.MouseButtonPress, QEvent.MouseButtonRelease, QEvent.MouseButtonDblClick,
             QEvent.Wheel)

    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):
        if event.type() in self.KINDS:
            self.count += 1
        return False


def open_review(make_napari_viewer, qtbot, folder: Path, *, size=(1400, 860)):
    """A shown viewer with the results folder opened by the mtrack reader and the Review
    widget docked through the plugin manifest."""
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(*size)
    viewer.open(folder, plugin="mtrack")
    _dock, widget = viewer.window.add_plugin_dock_widget("mtrack", "Review events")
    assert isinstance(widget, ReviewWidget)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.wait(50)
    return viewer, widget


def press(qtbot, viewer, key, modifier=Qt.NoModifier, target=None):
    """A real key press on the viewer window (or ``target``), as a person types it."""
    qtbot.keyClick(target if target is not None else viewer.window._qt_window, key, modifier)


def events_csv(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "events.csv", keep_default_na=False,
                       dtype={"route": str, "bridge_id": str, "status": str})


def hex_rgba(colour: str) -> np.ndarray:
    c = colour.lstrip("#")
    return np.array([int(c[i:i + 2], 16) / 255 for i in (0, 2, 4)] + [1.0])


def world_of(widget, index):
    layer = widget.layer
    return np.asarray(layer.data_to_world(layer.data[index]), dtype=float)


def event_row(widget, index):
    return widget.layer.features.iloc[index]


# ----------------------------------------------------------------------------- pure helpers


def test_review_counts():
    c = review_counts(["auto", "accepted", "rejected", "added", "accepted", "", None])
    assert c == {"total": 6, "reviewed": 3, "remaining": 3, "accepted": 2, "rejected": 1,
                 "added": 1}


def test_crop_strip_reads_only_its_frames_and_pads():
    data = np.zeros((5, 100, 100), np.uint16)
    data[2, 48:52, 58:62] = 1000  # a spot at (50, 60) in frame 2

    class Spy:  # array-like recording what is read
        shape, dtype, ndim = data.shape, data.dtype, data.ndim

        def __init__(self):
            self.reads = []

        def __getitem__(self, key):
            self.reads.append(key)
            return data[key]

    spy = Spy()
    strip, frames = crop_strip([(spy, (1.0, 0.0, 1.0), (0, 1000))], (2, 50, 60),
                               frames=(-2, 3), size=20)
    assert frames == [0, 1, 2, 3, 4, 5]
    assert strip.shape == (20, 6 * 20 + 5 * 3, 3) and strip.dtype == np.uint8
    # one read of the frames shown (a lazy array computes once); frame 5 is outside the
    # movie: not read, black
    assert spy.reads == [(slice(0, 5), slice(40, 60), slice(50, 70))]
    tile = strip[:, 2 * 23:2 * 23 + 20]
    assert tile[10, 10, 0] == 255 and tile[10, 10, 1] == 0 and tile[10, 10, 2] == 255
    assert strip[:, 5 * 23:].max() == 0
    # near the border the crop is padded with black, not shifted
    strip, _ = crop_strip([(data, (0.0, 1.0, 0.0), (0, 1000))], (2, 2, 60), size=20)
    assert strip.shape == (20, 135, 3)


# ----------------------------------------------------------------------------- GUI


def test_keyboard_flow(make_napari_viewer, qtbot, folder, notes):
    """N jumps (frame, centre, zoom, strip); A/R/U change statuses, colours and counts."""
    viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    layer = widget.layer
    assert layer is not None and layer.name == "events"
    assert widget.layer_combo.currentText() == "events"
    table = events_csv(folder)
    assert len(table) >= 3, "the 2D sample should give a few events"
    assert widget.table.rowCount() == len(table)
    headers = [widget.table.horizontalHeaderItem(j).text()
               for j in range(widget.table.columnCount())]
    assert headers[:3] == ["event_id", "status", "t"] and "route" in headers
    assert widget.table.isSortingEnabled()

    # starts at the first unreviewed event, in view
    assert widget.current == 0
    assert viewer.dims.current_step[0] == int(table.t[0])

    press(qtbot, viewer, Qt.Key_N)
    assert widget.current == 1
    t1 = int(table.t[1])
    assert viewer.dims.current_step[0] == t1
    centre = np.asarray(viewer.scene.camera.center)[-2:]
    np.testing.assert_allclose(centre, world_of(widget, 1)[-2:], atol=1e-3)
    np.testing.assert_allclose(centre, [table.y_um[1], table.x_um[1]], atol=1e-2)
    field_um = min(viewer.canvas.size) / viewer.scene.camera.zoom  # world unit: µm
    assert 30 < field_um < 50
    assert widget.table.currentRow() == widget._row_of(1)
    assert layer.size[1] > layer.size[0]  # the current event is highlighted
    # the crop strip: frames t-2 .. t+3 of both channels around the event
    assert widget.strip_frames == list(range(t1 - 2, t1 + 4))
    assert widget.strip_rgb is not None and widget.strip_rgb.shape[0] == 40
    assert widget.strip_rgb[..., 0].max() > 0 and widget.strip_rgb[..., 1].max() > 0
    assert widget.strip_label.pixmap() is not None

    press(qtbot, viewer, Qt.Key_P)
    assert widget.current == 0 and viewer.dims.current_step[0] == int(table.t[0])
    press(qtbot, viewer, Qt.Key_Space)
    assert widget.current == 1

    # accept: status, colour, counts, and on to the next unreviewed event
    press(qtbot, viewer, Qt.Key_A)
    assert layer.features.status[1] == "accepted"
    np.testing.assert_allclose(layer.face_color[1], hex_rgba(STATUS_COLORS["accepted"]),
                               atol=0.01)
    np.testing.assert_allclose(layer.face_color[0], hex_rgba(STATUS_COLORS["auto"]), atol=0.01)
    route = str(layer.features.route[1])
    np.testing.assert_allclose(layer.border_color[1], hex_rgba(ROUTE_COLORS[route]), atol=0.01)
    assert widget.current == 2
    assert viewer.dims.current_step[0] == int(table.t[2])
    c = widget.review_counts()
    assert (c["reviewed"], c["remaining"], c["accepted"]) == (1, len(table) - 1, 1)
    assert f"reviewed 1/{len(table)}" in widget.counts_label.text()
    assert f"remaining {len(table) - 1}" in widget.counts_label.text()
    status_col = headers.index("status")
    assert widget.table.item(widget._row_of(1), status_col).text() == "accepted"

    # reject from the canvas with another layer active whose own keys would clash
    viewer.layers.selection.active = next(la for la in viewer.layers if isinstance(la, Labels))
    press(qtbot, viewer, Qt.Key_R, target=viewer.window._qt_viewer.canvas.native)
    assert layer.features.status[2] == "rejected"
    np.testing.assert_allclose(layer.face_color[2], hex_rgba(STATUS_COLORS["rejected"]),
                               atol=0.01)
    assert widget.review_counts()["rejected"] == 1

    # undo from the table (focus in the widget)
    widget.table.setFocus()
    widget.go_to(2)
    press(qtbot, viewer, Qt.Key_U, target=widget.table)
    assert layer.features.status[2] == "auto"
    np.testing.assert_allclose(layer.face_color[2], hex_rgba(STATUS_COLORS["auto"]), atol=0.01)
    assert widget.review_counts()["reviewed"] == 1

    # clicking a row jumps too
    row = widget._row_of(0)
    widget.table.setCurrentCell(row, 1)
    assert widget.current == 0 and viewer.dims.current_step[0] == int(table.t[0])

    # sorting the table changes what "next" means
    score_col = headers.index("score")
    widget.table.sortItems(score_col, Qt.DescendingOrder)
    order = list(np.argsort(-table.score.to_numpy(), kind="stable"))
    assert widget._view_order() == order
    widget.go_to(order[0])
    press(qtbot, viewer, Qt.Key_N)
    assert widget.current == order[1]

    # the keys are also bound on the viewer (for a floating widget and for scripts)
    for key in ("A", "R", "U", "N", "P", "Space", "E", "S"):
        assert any(str(k) == key for k in viewer.keymap), key
    assert not errors(notes)


def test_keys_with_floating_or_hidden_widget(make_napari_viewer, qtbot, folder, notes):
    viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    layer = widget.layer
    canvas = viewer.window._qt_viewer.canvas.native
    viewer.layers.selection.active = layer  # napari's Points keys: A selects all, ...
    dock = viewer.window._dock_widgets["Review events (mtrack)"]
    dock.setFloating(True)
    qtbot.wait(50)
    window = viewer.window._qt_window
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    press(qtbot, viewer, Qt.Key_A, target=canvas)
    assert layer.features.status[0] == "accepted" and widget.current == 1
    # hidden: the keys are napari's again (A selects all points of the slice)
    dock.hide()
    qtbot.waitUntil(lambda: not widget.isVisible(), timeout=5000)
    layer.mode = "select"
    press(qtbot, viewer, Qt.Key_A, target=canvas)
    assert list(layer.features.status[:2]) == ["accepted", "auto"]
    assert len(layer.selected_data) > 0
    layer.selected_data = set()
    dock.show()
    qtbot.waitUntil(widget.isVisible, timeout=5000)
    press(qtbot, viewer, Qt.Key_A, target=canvas)
    assert layer.features.status[1] == "accepted"
    assert not errors(notes)


def test_add_event_by_click(make_napari_viewer, qtbot, folder, notes):
    viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    layer = widget.layer
    n = len(layer.data)
    widget.go_to(1)
    t = viewer.dims.current_step[0]
    press(qtbot, viewer, Qt.Key_E)
    assert widget.add_mode and widget.buttons["add"].isChecked()
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.mouseClick(canvas, Qt.LeftButton, pos=canvas.rect().center())
    qtbot.waitUntil(lambda: len(layer.data) == n + 1, timeout=5000)
    assert not widget.add_mode  # one click, then the mode ends
    new = layer.features.iloc[-1]
    assert new.status == "added" and int(new.t) == t
    assert int(new.event_id) == int(events_csv(folder).event_id.max()) + 1
    # at the clicked place: the canvas centre, i.e. the camera centre
    np.testing.assert_allclose(np.asarray(layer.data_to_world(layer.data[-1]))[-2:],
                               np.asarray(viewer.scene.camera.center)[-2:], atol=0.5)
    assert layer.data[-1][0] == t
    np.testing.assert_allclose(layer.face_color[-1], hex_rgba(STATUS_COLORS["added"]), atol=0.01)
    assert widget.review_counts()["added"] == 1
    assert widget.table.rowCount() == n + 1
    assert widget.current == n

    # E then Escape cancels; a drag (pan) does not add
    press(qtbot, viewer, Qt.Key_E)
    assert widget.add_mode
    press(qtbot, viewer, Qt.Key_Escape)
    assert not widget.add_mode
    press(qtbot, viewer, Qt.Key_E)
    centre = canvas.rect().center()
    qtbot.mousePress(canvas, Qt.LeftButton, pos=centre)
    qtbot.mouseMove(canvas, pos=centre + type(centre)(60, 40))
    qtbot.mouseRelease(canvas, Qt.LeftButton, pos=centre + type(centre)(60, 40))
    qtbot.wait(50)
    assert len(layer.data) == n + 1
    widget.set_add_mode(False)

    # U on an added event removes it
    widget.go_to(n)
    press(qtbot, viewer, Qt.Key_U)
    assert len(layer.data) == n and widget.review_counts()["added"] == 0
    assert widget.table.rowCount() == n
    # an added event through the callback with a stand-in mouse event
    widget.set_add_mode(True)

    class Event:
        type = "mouse_press"
        button = 1
        position = (3.0, 30.0, 30.0)  # world: frame 3, y = x = 30 µm
        pos = (10, 10)

    event = Event()
    gen = widget._drag_callback(viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert len(layer.data) == n + 1
    np.testing.assert_allclose(layer.data[-1], [3, 100, 100], atol=1e-6)

    # a point added with napari's own Points tool is an added event too
    layer.add([[5.0, 50.0, 200.0]])
    assert widget.table.rowCount() == n + 2
    assert layer.features.status.iloc[-1] == "added"
    ids = layer.features.event_id.to_numpy()
    assert len(set(ids)) == len(ids) and ids[-1] > 0
    assert widget.review_counts()["added"] == 2 and widget.dirty
    np.testing.assert_allclose(layer.face_color[-1], hex_rgba(STATUS_COLORS["added"]), atol=0.01)
    press(qtbot, viewer, Qt.Key_S)
    saved = events_csv(folder)
    assert list(saved.status[-2:]) == ["added", "added"] and saved.event_id.is_unique
    assert not errors(notes)


def test_save_reopen_and_evaluate(make_napari_viewer, qtbot, folder, notes):
    original = (folder / "events.csv").read_bytes()
    auto = events_csv(folder)
    assert (auto.status == "auto").all()
    viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    layer = widget.layer
    n = len(auto)
    assert widget.current == 0
    press(qtbot, viewer, Qt.Key_A)            # event 0 accepted -> 1
    press(qtbot, viewer, Qt.Key_R)            # event 1 rejected -> 2
    assert widget.current == 2
    press(qtbot, viewer, Qt.Key_N)            # skip event 2
    press(qtbot, viewer, Qt.Key_A)            # event 3 accepted -> back to 2
    assert widget.current == 2
    # a missed event far from the calls, then save
    widget.add_event_at([0.0, 6.0, 6.0])
    assert widget.dirty
    press(qtbot, viewer, Qt.Key_S)
    assert not widget.dirty and "unsaved" not in widget.counts_label.text()
    saved = events_csv(folder)
    assert list(saved.columns) == EVENT_COLUMNS
    assert list(saved.status[:4]) == ["accepted", "rejected", "auto", "accepted"]
    assert saved.status.iloc[-1] == "added" and len(saved) == n + 1
    assert (folder / AUTO_BACKUP).read_bytes() == original  # automatic calls kept

    # Ctrl+S with the focus in the widget saves too (napari's own Ctrl+S elsewhere)
    widget.go_to(2)
    press(qtbot, viewer, Qt.Key_R)
    widget.table.setFocus()
    press(qtbot, viewer, Qt.Key_S, Qt.ControlModifier, target=widget.table)
    assert events_csv(folder).status[2] == "rejected"
    assert not widget.dirty
    widget.go_to(2)
    press(qtbot, viewer, Qt.Key_U)
    press(qtbot, viewer, Qt.Key_S)
    assert (folder / AUTO_BACKUP).read_bytes() == original  # backed up once only
    viewer.layers.clear()

    # reopen: the review comes back and the widget starts at the unreviewed event
    viewer.open(folder, plugin="mtrack")
    layer = widget.layer
    assert layer is not None
    assert list(layer.features.status) == ["accepted", "rejected", "auto", "accepted", "added"]
    assert widget.current == 2
    c = widget.review_counts()
    assert c == {"total": n, "reviewed": n - 1, "remaining": 1, "accepted": 2, "rejected": 1,
                 "added": 1}
    assert viewer.dims.current_step[0] == int(auto.t[2])
    np.testing.assert_allclose(layer.face_color[0], hex_rgba(STATUS_COLORS["accepted"]),
                               atol=0.01)
    np.testing.assert_allclose(layer.face_color[4], hex_rgba(STATUS_COLORS["added"]), atol=0.01)

    # mtrack evaluate on the reviewed table: the automatic calls' precision
    assert main(["evaluate", str(folder), str(folder / "events.csv")]) == 0
    scores = json.loads((folder / "evaluation.json").read_text())
    assert scores["precision"] == pytest.approx(2 / 3, abs=1e-4)  # accepted/(acc. + rej.)
    assert scores["unreviewed"] == 1 and scores["fn"] == 1  # the added one was missed
    assert not errors(notes)


def test_whole_sample_from_the_keyboard(make_napari_viewer, qtbot, folder, notes, tmp_path):
    """The 2D sample reviewed with keys alone after opening; then the screenshot."""
    viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    counter = MouseCounter()
    app = QApplication.instance()
    app.installEventFilter(counter)
    try:
        n = len(widget.layer.data)
        decisions = {}
        for _ in range(4 * n + 4):
            if widget.review_counts()["remaining"] == 0:
                break
            i = widget.current
            if widget.layer.features.status[i] != "auto":
                press(qtbot, viewer, Qt.Key_N)
                continue
            # reject the weakest call, accept the others
            weakest = int(np.argmin(widget.layer.features.score.to_numpy()))
            key = Qt.Key_R if i == weakest else Qt.Key_A
            decisions[i] = "rejected" if i == weakest else "accepted"
            press(qtbot, viewer, key)
        assert widget.review_counts()["remaining"] == 0
        press(qtbot, viewer, Qt.Key_S)
        assert counter.count == 0, "reviewing needed the mouse"
    finally:
        app.removeEventFilter(counter)
    saved = events_csv(folder)
    assert dict(enumerate(saved.status)) == decisions
    assert (saved.status == "accepted").sum() == n - 1

    # screenshot: movie, results layers and the docked widget, at the rejected event
    widget.go_to(int(np.argmin(widget.layer.features.score.to_numpy())))
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # the "saved" message would hide part of the canvas
    qtbot.wait(200)
    if os.environ.get("MTRACK_SCREENSHOTS") == "1":
        out = REPO / "docs" / "screenshots" / SCREENSHOT
    else:
        out = tmp_path / "screenshots" / SCREENSHOT
    out.parent.mkdir(parents=True, exist_ok=True)
    image = viewer.screenshot(path=str(out), canvas_only=False, flash=False)
    assert out.is_file() and out.stat().st_size > 10_000
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 800
    rgb = image[..., :3].reshape(-1, 3)
    assert len(np.unique(rgb[:: max(1, len(rgb) // 100_000)], axis=0)) > 50  # not blank
    canvas = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    assert canvas.std() > 5 and canvas.max() > 100  # the canvas shows the movie
    assert not errors(notes)


def test_3d_jump_sets_plane(make_napari_viewer, qtbot, tmp_path, notes):
    out = tmp_path / "sim3d"
    assert main(["run", str(MOVIE_3D), "--out", str(out), "--quiet"]) == 0
    table = events_csv(out)
    assert len(table) >= 1
    viewer, widget = open_review(make_napari_viewer, qtbot, out)
    assert widget.layer.ndim == 4
    headers = [widget.table.horizontalHeaderItem(j).text()
               for j in range(widget.table.columnCount())]
    assert "z" in headers
    for i in range(len(table)):
        widget.go_to(i)
        step = viewer.dims.current_step
        assert step[0] == int(table.t[i]) and step[1] == round(table.z[i])
        np.testing.assert_allclose(np.asarray(viewer.scene.camera.center)[-2:],
                                   [table.y_um[i], table.x_um[i]], atol=1e-2)
        assert widget.strip_rgb is not None and widget.strip_rgb.max() > 0
    press(qtbot, viewer, Qt.Key_A)
    assert widget.layer.features.status.iloc[-1] == "accepted"
    assert not errors(notes)


# ----------------------------------------------------------------------------- bad input


def test_buttons(make_napari_viewer, qtbot, folder, notes):
    """The same actions with the mouse, for those who prefer it."""
    _viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    qtbot.mouseClick(widget.buttons["accept"], Qt.LeftButton)
    assert widget.layer.features.status[0] == "accepted" and widget.current == 1
    qtbot.mouseClick(widget.buttons["reject"], Qt.LeftButton)
    assert widget.layer.features.status[1] == "rejected" and widget.current == 2
    qtbot.mouseClick(widget.buttons["previous"], Qt.LeftButton)
    assert widget.current == 1
    qtbot.mouseClick(widget.buttons["undo"], Qt.LeftButton)
    assert widget.layer.features.status[1] == "auto"
    qtbot.mouseClick(widget.buttons["next"], Qt.LeftButton)
    assert widget.current == 2
    qtbot.mouseClick(widget.buttons["add"], Qt.LeftButton)
    assert widget.add_mode
    qtbot.mouseClick(widget.buttons["add"], Qt.LeftButton)
    assert not widget.add_mode
    qtbot.mouseClick(widget.buttons["save"], Qt.LeftButton)
    assert list(events_csv(folder).status[:2]) == ["accepted", "auto"]
    assert not errors(notes)


def test_no_events_layer_is_a_message(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer(show=True)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review events")
    assert widget.layer is None and widget.layer_combo.count() == 0
    assert "No events layer" in widget.counts_label.text()
    for action in (widget.next, widget.previous, widget.accept, widget.reject, widget.undo,
                   widget.save, widget.toggle_add_mode):
        action()
    assert notes and not errors(notes)
    assert all("no events layer" in n.message.lower() for n in notes)
    # a points layer that is not an mtrack events layer is not offered
    viewer.add_points([[0, 5, 5]], name="other")
    assert widget.layer_combo.count() == 0


def test_events_layer_without_table(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer(show=True)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review events")
    viewer.add_points([[0, 5, 5], [1, 6, 6]], name="events",
                      metadata={"mtrack": {"kind": "events"}})
    assert widget.layer_combo.count() == 1
    assert widget.layer is None
    assert any("no event table" in n.message for n in notes)
    widget.accept()
    widget.next()
    assert not errors(notes)


def test_results_folder_missing_a_table(make_napari_viewer, qtbot, folder, notes):
    (folder / "cells.csv").unlink()
    viewer = make_napari_viewer(show=True)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review events")
    viewer.open(folder, plugin="mtrack")  # the reader says what is missing
    assert any("cells.csv" in n.message for n in notes)
    assert widget.layer is None
    widget.next()
    widget.save()
    assert not (folder / AUTO_BACKUP).exists()


def test_results_folder_gone_or_unwritable_keeps_the_review(
        make_napari_viewer, qtbot, folder, notes, monkeypatch):
    viewer, widget = open_review(make_napari_viewer, qtbot, folder)
    original = (folder / "events.csv").read_bytes()
    press(qtbot, viewer, Qt.Key_A)
    press(qtbot, viewer, Qt.Key_R)
    statuses = list(widget.layer.features.status)

    def refuse(table, path):  # a read-only folder (the tests may run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_writer, "write_table", refuse)
    press(qtbot, viewer, Qt.Key_S)
    message = " ".join(errors(notes))
    assert "could not save" in message and "Permission denied" in message
    assert "events.csv" in message
    assert widget.dirty and "unsaved" in widget.counts_label.text()
    assert list(widget.layer.features.status) == statuses  # nothing lost
    assert (folder / "events.csv").read_bytes() == original
    monkeypatch.undo()
    notes.clear()
    press(qtbot, viewer, Qt.Key_S)
    assert not widget.dirty and not errors(notes)
    assert list(events_csv(folder).status) == statuses

    # the folder has gone: a message, the review stays in the viewer
    moved = folder.with_name("moved")
    folder.rename(moved)
    blocker = folder  # a file where the folder was: nothing can be written there
    blocker.write_text("not a folder")
    press(qtbot, viewer, Qt.Key_U)
    press(qtbot, viewer, Qt.Key_S)
    assert any("could not save" in m for m in errors(notes))
    assert widget.dirty


def test_errors_inside_actions_become_notifications(make_napari_viewer, qtbot, folder, notes,
                                                    monkeypatch):
    viewer, _widget = open_review(make_napari_viewer, qtbot, folder)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(_review, "crop_strip", broken)
    press(qtbot, viewer, Qt.Key_N)  # no exception escapes into Qt
    assert any("boom" in m for m in errors(notes))
