"""Review widget: accept, reject and add transfer events from the keyboard.

The widget works on the ``events`` Points layer that the mtrack reader makes from a
results folder (its ``features`` are the rows of ``events.csv``). It lists the events in
a sortable table, jumps to an event (frame, plane, centred and zoomed), shows a crop
strip of the event over time from the movie's channel layers, and records the decision
in the ``status`` feature (``auto``, ``accepted``, ``rejected``, ``added``), which also
colours the points. Saving writes ``events.csv`` through the mtrack writer, so opening
the folder again restores the review.

Keyboard (active whatever part of the viewer window has focus):

====================  ==========================================================
A                     accept the current event, go to the next unreviewed one
R                     reject the current event, go to the next unreviewed one
U                     undo: back to ``auto`` (an added event is removed)
N or Space            next event (table order)
P                     previous event
E                     add mode: the next click in the viewer adds an event
Escape                leave add mode
S (Ctrl+S in widget)  save the reviewed ``events.csv``
====================  ==========================================================
"""

from __future__ import annotations

import contextlib
import functools
import math
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from napari.layers import Image, Points
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QRectF, QSize, Qt, QTimer
from qtpy.QtGui import QColor, QFont, QImage, QKeySequence, QPainter, QPen, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QShortcut,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._layers import ROUTE_COLORS, STATUS_COLORS, mtrack_meta

__all__ = [
    "KEYMAP",
    "ReviewWidget",
    "crop_strip",
    "review_counts",
    "route_colors",
    "status_colors",
]

STATUSES = ("auto", "accepted", "rejected", "added")

#: key -> (action name, description); keys use napari's spelling.
KEYMAP = {
    "A": ("accept", "accept, go to the next unreviewed event"),
    "R": ("reject", "reject, go to the next unreviewed event"),
    "U": ("undo", "back to auto (an added event is removed)"),
    "N": ("next", "next event"),
    "Space": ("next", "next event"),
    "P": ("previous", "previous event"),
    "E": ("toggle_add_mode", "add mode: the next click adds an event"),
    "S": ("save", "save events.csv"),
    "Control-S": ("save", "save events.csv"),
}

TABLE_COLUMNS = ("event_id", "status", "t", "z", "track_id", "route", "score",
                 "persistence", "size_um")

FIELD_UM = 40.0      # width of the field shown around an event when jumping to it
CROP_PX = 40         # crop strip: tile size in pixels
CROP_FRAMES = (-2, 3)  # crop strip: frames t-2 .. t+3
_TILE_SCALE = 2      # crop strip: display pixels per image pixel
_GAP = 3             # crop strip: pixels between tiles
_HIGHLIGHT = 1.8     # size factor of the current event's point
_MAGENTA, _GREEN = (1.0, 0.0, 1.0), (0.0, 1.0, 0.0)  # crop strip: mito, membrane


# ----------------------------------------------------------------------------------
# pure helpers (numpy / pandas only)
# ----------------------------------------------------------------------------------

def _clean_status(values) -> np.ndarray:
    """Status strings; anything unknown or missing counts as ``auto``."""
    out = []
    for v in values:
        s = str(v).strip().lower() if isinstance(v, str) else "auto"
        out.append(s if s in STATUSES else "auto")
    return np.asarray(out, dtype=object)


def _rgba(colour: str) -> tuple[float, float, float, float]:
    c = colour.lstrip("#")
    return (int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255, 1.0)


def status_colors(statuses: Sequence) -> np.ndarray:
    """RGBA face colours (N, 4) for a sequence of statuses."""
    statuses = _clean_status(statuses)
    return np.array([_rgba(STATUS_COLORS[s]) for s in statuses], dtype=float).reshape(-1, 4)


def route_colors(routes: Sequence) -> np.ndarray:
    """RGBA border colours (N, 4) for a sequence of routes (others: the blank colour)."""
    return np.array([_rgba(ROUTE_COLORS.get(str(r).strip().lower(), ROUTE_COLORS[""]))
                     for r in routes], dtype=float).reshape(-1, 4)


def review_counts(statuses: Sequence) -> dict[str, int]:
    """Counts of a review: total, reviewed, remaining, accepted, rejected, added."""
    s = _clean_status(statuses)
    calls = s[s != "added"]
    counts = {k: int(np.sum(s == k)) for k in STATUSES}
    return {
        "total": len(calls),
        "reviewed": int(np.sum(calls != "auto")),
        "remaining": counts["auto"],
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "added": counts["added"],
    }


def _normalise(tile: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    lo, hi = float(limits[0]), float(limits[1])
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        finite = tile[np.isfinite(tile)]
        if finite.size == 0:
            return np.zeros_like(tile, dtype=float)
        lo, hi = np.percentile(finite, [1, 99.8])
        if hi <= lo:
            hi = lo + 1
    out = (np.nan_to_num(tile.astype(float), nan=lo) - lo) / (hi - lo)
    return np.clip(out, 0, 1)


def crop_strip(
    channels: Sequence[tuple[object, tuple[float, float, float], tuple[float, float]]],
    position: Sequence[float],
    *,
    frames: tuple[int, int] = CROP_FRAMES,
    size: int = CROP_PX,
) -> tuple[np.ndarray, list[int]]:
    """A row of RGB crops around an event, one per frame, channels composited.

    Parameters
    ----------
    channels : sequence of (array, rgb, limits)
        Each channel's array (T, [Z,] Y, X), numpy or lazy (dask/zarr: only the crops
        are read), its display colour (RGB in 0-1, e.g. magenta for the donor
        mitochondria, green for the membrane) and contrast limits.
    position : (t, [z,] y, x)
        Event position in the arrays' index space (an array with fewer axes than the
        position uses the last ones).
    frames : (before, after)
        Frames ``t + before`` .. ``t + after`` are shown (outside the movie: black).
    size : int
        Tile size in pixels.

    Returns
    -------
    strip : uint8 array (size, n_frames * size + gaps, 3)
    frame_numbers : list of int (frames shown; those outside the movie included)
    """
    n = frames[1] - frames[0] + 1
    t0 = round(position[0])
    frame_numbers = list(range(t0 + frames[0], t0 + frames[1] + 1))
    tiles = np.zeros((n, size, size, 3), dtype=float)
    half = size // 2
    for data, rgb, limits in channels:
        shape = tuple(data.shape)
        nd = len(shape)
        if nd < 2:
            continue
        pos = [float(p) for p in position][-nd:] if nd <= len(position) else (
            [0.0] * (nd - len(position)) + [float(p) for p in position])
        yc, xc = round(pos[-2]), round(pos[-1])
        y0, x0 = yc - half, xc - half
        ys, xs = max(y0, 0), max(x0, 0)
        ye, xe = min(y0 + size, shape[-2]), min(x0 + size, shape[-1])
        if ye <= ys or xe <= xs:
            continue
        middle = [min(max(round(p), 0), s - 1) for p, s in zip(pos[1:-2], shape[1:-2])]
        if nd >= 3:  # one read of the frames shown (lazy arrays: one compute)
            first = max(frame_numbers[0], 0)
            last = min(frame_numbers[-1], shape[0] - 1)
            if last < first:
                continue
            block = np.asarray(data[(slice(first, last + 1), *middle, slice(ys, ye),
                                     slice(xs, xe))], dtype=float)
            block = _normalise(block, limits)
            for k, t in enumerate(frame_numbers):
                if first <= t <= last:
                    tiles[k, ys - y0:ye - y0, xs - x0:xe - x0] += (
                        block[t - first][..., None] * np.asarray(rgb))
        else:  # a single image: the same crop in every tile
            tile = _normalise(np.asarray(data[ys:ye, xs:xe], dtype=float), limits)
            tiles[:, ys - y0:ye - y0, xs - x0:xe - x0] += tile[..., None] * np.asarray(rgb)
    tiles = np.clip(tiles, 0, 1)
    strip = np.full((size, n * size + (n - 1) * _GAP, 3), 0.25)
    for k in range(n):
        c0 = k * (size + _GAP)
        strip[:, c0:c0 + size] = tiles[k]
    return (strip * 255).round().astype(np.uint8), frame_numbers


# ----------------------------------------------------------------------------------
# Qt widget
# ----------------------------------------------------------------------------------
_LAYER_KEYS = ("A", "R", "P", "S", "E")  # keys napari's Points layer uses itself


def _is_events_layer(layer) -> bool:
    return isinstance(layer, Points) and mtrack_meta(layer.metadata).get("kind") == "events"


def _role(layer) -> str | None:
    return mtrack_meta(layer.metadata).get("role")


def _cycle_on(layer: Points, which: str, feature: str) -> bool:
    """Whether the layer's face/border colour is a colour cycle over ``feature``."""
    try:
        manager = getattr(layer, f"_{which}")
        return (str(getattr(layer, f"{which}_color_mode")).endswith("cycle")
                and manager.color_properties is not None
                and manager.color_properties.name == feature)
    except AttributeError:
        return False


def _guarded(func: Callable) -> Callable:
    """Run a user action or a viewer callback; any error becomes a napari notification,
    never a traceback dialog (and a callback reaching a deleted widget does nothing)."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        try:
            self.objectName()
        except RuntimeError:  # the Qt widget is gone (viewer closing): nothing to do
            return None
        try:
            return func(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - shown to the user, nothing lost
            show_error(f"Review events: {func.__name__.strip('_')} failed: "
                       f"{err.__class__.__name__}: {err}")
            return None

    return wrapper


class ReviewWidget(QWidget):
    """Review the transfer events of a results folder from the keyboard.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._layer: Points | None = None
        self._current: int | None = None
        self._syncing = False
        self._editing = False
        self._dirty = False
        self._base_size: float | None = None
        self._add_mode = False
        self._drag_callback = None
        self.strip_rgb: np.ndarray | None = None
        self._strip_info: tuple[int, int | None] | None = None
        self.strip_frames: list[int] = []
        self.saved_path: Path | None = None
        self.last_message = ""
        self._bound_layers: weakref.WeakSet = weakref.WeakSet()
        self._shown_once = False
        self.setObjectName("mtrack review")
        self.setMinimumWidth(360)
        self._build_ui()
        self._bind_keys()
        self._connect_viewer()
        self._refresh_layers()
        self.destroyed.connect(functools.partial(
            _forget_keys, weakref.ref(napari_viewer), self._bound_layers,
            self._viewer_key_handlers))

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Events layer:"))
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("Points layers of events (opened from an mtrack "
                                    "results folder)")
        self.layer_combo.currentIndexChanged.connect(self._on_combo)
        row.addWidget(self.layer_combo, 1)
        layout.addLayout(row)

        self.counts_label = QLabel("no events layer")
        bold = QFont()
        bold.setBold(True)
        self.counts_label.setFont(bold)
        self.counts_label.setWordWrap(True)
        layout.addWidget(self.counts_label)

        self.event_label = QLabel("")
        self.event_label.setWordWrap(True)
        layout.addWidget(self.event_label)

        self.strip_label = QLabel("")
        self.strip_label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.strip_label.setMinimumHeight(CROP_PX + 18)
        self.strip_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.strip_label.setToolTip("The event over time: frames t-2 .. t+3, donor "
                                    "mitochondria magenta, membrane green; the onset "
                                    "frame is framed in yellow")
        layout.addWidget(self.strip_label)

        self.buttons = {}
        rows = (
            (("accept", "Accept  A", "accept, go to the next unreviewed event"),
             ("reject", "Reject  R", "reject, go to the next unreviewed event"),
             ("undo", "Undo  U", "back to auto (an added event is removed)"),
             ("save", "Save  S", ("write events.csv into the results folder "
                                  "(Ctrl+S when this panel has the focus)"))),
            (("previous", "◀ Prev  P", "previous event"),
             ("next", "Next  N ▶", "next event (also Space)"),
             ("add", "Add event  E", ("the next click in the viewer adds an event "
                                      "(Escape cancels)"))),
        )
        for row_buttons in rows:
            row = QHBoxLayout()
            for name, text, tip in row_buttons:
                button = QPushButton(text)
                button.setToolTip(tip)
                button.setFocusPolicy(Qt.NoFocus)  # keys keep going to the shortcuts
                row.addWidget(button)
                self.buttons[name] = button
            layout.addLayout(row)
        self.buttons["add"].setCheckable(True)
        for name in ("accept", "reject", "undo", "previous", "next", "save"):
            # clicked(bool): the slot is called without the flag
            self.buttons[name].clicked.connect(
                functools.partial(_call, weakref.ref(self), name))
        self.buttons["add"].toggled.connect(functools.partial(_call, weakref.ref(self),
                                                              "set_add_mode"))

        self.table = QTableWidget(0, 0)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.currentCellChanged.connect(self._on_table_current)
        layout.addWidget(self.table, 1)

        help_text = ("A accept · R reject · U undo · N/Space next · P previous · "
                     "E add by click · S save")
        self.help_label = QLabel(help_text)
        self.help_label.setWordWrap(True)
        self.help_label.setStyleSheet("color: gray")
        layout.addWidget(self.help_label)

    def _bind_keys(self) -> None:
        """Widget shortcuts (whole window) and viewer key bindings (canvas)."""
        self.shortcuts: dict[str, QShortcut] = {}
        for key, (action, _) in KEYMAP.items():
            # Ctrl+S is napari's "save selected layers" in the window: here only when the
            # widget has focus (the widget claims it through ShortcutOverride)
            if key == "Control-S":
                continue
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.WindowShortcut)
            shortcut.setAutoRepeat(action in ("next", "previous"))
            shortcut.activated.connect(getattr(self, action))
            self.shortcuts[key] = shortcut
        self.escape = QShortcut(QKeySequence("Escape"), self)
        self.escape.setContext(Qt.WindowShortcut)
        self.escape.activated.connect(lambda: self.set_add_mode(False))
        self.escape.setEnabled(False)

        ref = weakref.ref(self)
        self._viewer_key_handlers: dict[str, Callable] = {}
        for key, (action, _) in KEYMAP.items():
            handler = _key_handler(ref, action)
            self.viewer.bind_key(key, handler, overwrite=True)
            self._viewer_key_handlers[key] = handler

    def _bind_layer_keys(self) -> None:
        """The events layer's own keys (A select all, P/S/E modes...) would come before
        the viewer's: while the widget is shown, the review keys win on that layer."""
        layer = self._layer
        if layer is None or layer in self._bound_layers:
            return
        for key in _LAYER_KEYS:
            layer.bind_key(key, self._viewer_key_handlers[key], overwrite=True)
        self._bound_layers.add(layer)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._bind_layer_keys()
        if not self._shown_once and self._current is not None:
            # the canvas has its final size only now that the widget is docked
            self._shown_once = True
            QTimer.singleShot(0, functools.partial(_call, weakref.ref(self), "_refocus"))

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        _unbind_layer_keys(self._bound_layers, self._viewer_key_handlers)

    @_guarded
    def _refocus(self) -> None:
        if self._layer is not None and self._current is not None:
            self._move_view(self._current)

    def sizeHint(self) -> QSize:
        return QSize(420, 720)

    def event(self, event) -> bool:
        if (event.type() == QEvent.ShortcutOverride
                and event.key() == Qt.Key_S and event.modifiers() & Qt.ControlModifier):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_S and event.modifiers() & Qt.ControlModifier:
            self.save()
            event.accept()
            return
        super().keyPressEvent(event)

    def _connect_viewer(self) -> None:
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)

    # ------------------------------------------------------------------ layers
    def _events_layers(self) -> list[Points]:
        return [layer for layer in self.viewer.layers if _is_events_layer(layer)]

    def _refresh_layers(self, prefer: Points | None = None) -> None:
        layers = self._events_layers()
        keep = prefer if prefer in layers else (
            self._layer if self._layer in layers else (layers[-1] if layers else None))
        self._syncing = True
        try:
            self.layer_combo.clear()
            for layer in layers:
                self.layer_combo.addItem(layer.name)
            if keep is not None:
                self.layer_combo.setCurrentIndex(layers.index(keep))
        finally:
            self._syncing = False
        if keep is not self._layer or keep is None:
            self.set_layer(keep)

    @_guarded
    def _on_layer_inserted(self, event) -> None:
        layer = event.value
        if _is_events_layer(layer):
            self._refresh_layers(prefer=layer)  # a newly opened folder is reviewed next
        elif isinstance(layer, Image) and self._current is not None:
            self._update_strip()

    @_guarded
    def _on_layer_removed(self, event) -> None:
        if event.value is self._layer:
            self._layer = None
        self._refresh_layers()

    @_guarded
    def _on_combo(self, index: int) -> None:
        if self._syncing:
            return
        layers = self._events_layers()
        self.set_layer(layers[index] if 0 <= index < len(layers) else None)

    def set_layer(self, layer: Points | None) -> None:
        """Review ``layer`` (an events Points layer); None: nothing to review."""
        if self._layer is not None:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self._layer.events.data.disconnect(self._on_data_change)
        self.set_add_mode(False)
        _unbind_layer_keys(self._bound_layers, self._viewer_key_handlers)
        self._layer = None
        self._current = None
        self._dirty = False
        self.table.setRowCount(0)
        self.strip_label.clear()
        self.event_label.setText("")
        if layer is None:
            self.counts_label.setText("No events layer: open an mtrack results folder "
                                      "(File > Open Folder…, plugin mtrack).")
            return
        features = layer.features
        if features is None or len(features.columns) == 0 or "status" not in features:
            show_warning(f"Review events: layer '{layer.name}' has no event table "
                         "(features with a 'status' column); open the results folder "
                         "with the mtrack reader.")
            self.counts_label.setText(f"'{layer.name}' has no event table.")
            return
        self._layer = layer
        self._base_size = float(np.median(layer.size)) if len(layer.data) else float(
            np.asarray(layer.current_size).mean())
        self._normalise_features()
        layer.events.data.connect(self._on_data_change)
        if self.isVisible():
            self._bind_layer_keys()
        self._rebuild_table()
        self.refresh_colors()
        first = self.next_unreviewed(None)
        if first is None and len(layer.data):
            first = self._view_order()[0]
        if first is not None:
            self.go_to(first)
        self._update_counts()

    def _say(self, message: str) -> None:
        """Routine feedback in the status bar (problems are notifications)."""
        self.viewer.status = f"Review events: {message}"
        self.last_message = message

    @property
    def layer(self) -> Points | None:
        return self._layer

    @property
    def current(self) -> int | None:
        """Index (row of the layer) of the current event."""
        return self._current

    def _normalise_features(self) -> None:
        """Statuses as plain strings; added rows (napari's own add tool) get ids."""
        layer = self._layer
        features = layer.features
        n = len(layer.data)
        if len(features) != n:
            return
        changed = False
        f = features.copy()
        for col in ("status", "route"):
            if col in f and isinstance(f[col].dtype, pd.CategoricalDtype):
                f[col] = f[col].astype(object)
                changed = True
        status = _clean_status(f["status"].to_numpy())
        if not np.array_equal(status, f["status"].to_numpy(dtype=object)):
            f["status"] = status
            changed = True
        if "event_id" in f:
            ids = pd.to_numeric(f["event_id"], errors="coerce").astype(float).copy()
            bad = ids.isna() | (ids < 0) | ids.duplicated()
            if bad.any():
                start = int(np.nanmax(ids.where(~bad))) + 1 if (~bad).any() else 1
                ids[bad] = np.arange(start, start + int(bad.sum()))
                f["event_id"] = ids.astype(int)
                changed = True
        if changed:
            self._editing = True
            try:
                layer.features = f
            finally:
                self._editing = False

    @_guarded
    def _on_data_change(self, event=None) -> None:
        action = getattr(event, "action", None)
        if self._editing or str(action).lower().endswith(("adding", "removing", "changing")):
            return
        if self._layer is None:
            return
        self._normalise_features()
        n = len(self._layer.data)
        if self._current is not None and self._current >= n:
            self._current = n - 1 if n else None
        self._dirty = True
        self._rebuild_table()
        self.refresh_colors()
        self._update_counts()

    # ------------------------------------------------------------------ table
    def _columns(self) -> list[str]:
        features = self._layer.features
        cols = [c for c in TABLE_COLUMNS if c in features]
        if self._layer.ndim < 4 and "z" in cols:
            cols.remove("z")
        return cols

    def _rebuild_table(self) -> None:
        layer = self._layer
        features = layer.features
        cols = self._columns()
        self._syncing = True
        try:
            self.table.setSortingEnabled(False)
            self.table.clear()
            self.table.setColumnCount(len(cols))
            self.table.setHorizontalHeaderLabels(
                ["track" if c == "track_id" else c for c in cols])
            self.table.setRowCount(len(features))
            self._items: dict[int, QTableWidgetItem] = {}
            for i in range(len(features)):
                for j, col in enumerate(cols):
                    item = self._make_item(features[col].iloc[i], col)
                    if j == 0:
                        item.setData(Qt.UserRole, i)
                        self._items[i] = item
                    self.table.setItem(i, j, item)
                self._style_row(i)
            self.table.setSortingEnabled(True)
            header = self.table.horizontalHeader()
            if header.sortIndicatorSection() < 0 or header.sortIndicatorSection() >= len(cols):
                self.table.sortItems(0, Qt.AscendingOrder)
            else:
                self.table.sortItems(header.sortIndicatorSection(), header.sortIndicatorOrder())
        finally:
            self._syncing = False
        if self._current is not None:
            self._select_row(self._current)

    @staticmethod
    def _make_item(value, col: str) -> QTableWidgetItem:
        item = QTableWidgetItem()
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
                value, bool):
            v = float(value)
            if math.isnan(v):
                item.setData(Qt.DisplayRole, "")
            elif col in ("event_id", "t", "z", "track_id", "persistence") and v.is_integer():
                item.setData(Qt.DisplayRole, int(v))
            else:
                item.setData(Qt.DisplayRole, round(v, 3))
        else:
            item.setData(Qt.DisplayRole, "" if value is None else str(value))
        item.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)
        return item

    def _row_of(self, index: int) -> int:
        item = self._items.get(index)
        return self.table.row(item) if item is not None else -1

    def _view_order(self) -> list[int]:
        """Layer indices in the table's current (sorted) order."""
        order = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None:
                order.append(int(item.data(Qt.UserRole)))
        return order

    def _style_row(self, index: int) -> None:
        row = self._row_of(index)
        if row < 0:
            return
        cols = self._columns()
        status = _clean_status([self._layer.features["status"].iloc[index]])[0]
        rgba = _rgba(STATUS_COLORS[status])
        colour = QColor.fromRgbF(rgba[0], rgba[1], rgba[2], 0.35)
        if "status" in cols:
            item = self.table.item(row, cols.index("status"))
            if item is not None:
                item.setData(Qt.DisplayRole, status)
                item.setBackground(colour)

    def _select_row(self, index: int) -> None:
        row = self._row_of(index)
        if row < 0:
            return
        self._syncing = True
        try:
            self.table.setCurrentCell(row, 0)
            self.table.selectRow(row)
            item = self.table.item(row, 0)
            if item is not None:
                self.table.scrollToItem(item, QAbstractItemView.EnsureVisible)
        finally:
            self._syncing = False

    @_guarded
    def _on_table_current(self, row: int, column: int, prev_row: int, prev_col: int) -> None:
        if self._syncing or row < 0 or self._layer is None:
            return
        item = self.table.item(row, 0)
        if item is not None and row != prev_row:
            self.go_to(int(item.data(Qt.UserRole)))

    # ------------------------------------------------------------------ navigation
    def _statuses(self) -> np.ndarray:
        return _clean_status(self._layer.features["status"].to_numpy())

    def next_unreviewed(self, after: int | None) -> int | None:
        """The first ``auto`` event after ``after`` in table order (wrapping), or None."""
        if self._layer is None:
            return None
        order = self._view_order()
        status = self._statuses()
        if after in order:
            k = order.index(after)
            order = order[k + 1:] + order[:k + 1]
        for i in order:
            if i < len(status) and status[i] == "auto":
                return i
        return None

    def _need_layer(self) -> bool:
        if self._layer is None:
            show_info("Review events: no events layer to review; open an mtrack results "
                      "folder first (File > Open Folder…).")
            return False
        if len(self._layer.data) == 0:
            show_info("Review events: the events layer is empty (press E to add one).")
            return False
        return True

    @_guarded
    def next(self) -> None:
        """Go to the next event in table order."""
        self._step(+1)

    @_guarded
    def previous(self) -> None:
        """Go to the previous event in table order."""
        self._step(-1)

    def _step(self, direction: int) -> None:
        if not self._need_layer():
            return
        order = self._view_order()
        if self._current not in order:
            self.go_to(order[0] if direction > 0 else order[-1])
            return
        k = order.index(self._current) + direction
        if 0 <= k < len(order):
            self.go_to(order[k])
        else:
            self._say(("last" if direction > 0 else "first") + " event")

    @_guarded
    def go_to(self, index: int) -> None:
        """Make event ``index`` current: frame, plane, centre, zoom, highlight, strip."""
        layer = self._layer
        if layer is None or not 0 <= index < len(layer.data):
            return
        self._current = index
        self._select_row(index)
        self._highlight(index)
        self._move_view(index)
        self._update_strip()
        self._update_event_label()

    def _move_view(self, index: int) -> None:
        layer, viewer = self._layer, self.viewer
        world = np.asarray(layer.data_to_world(layer.data[index]), dtype=float)
        nv = viewer.dims.ndim
        axes = list(range(nv - layer.ndim, nv))
        displayed = list(viewer.dims.displayed)
        sliced = [(a, w) for a, w in zip(axes, world) if a not in displayed and a >= 0]
        if sliced:
            viewer.dims.set_point([a for a, _ in sliced], [w for _, w in sliced])
        camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
        centre = {a: w for a, w in zip(axes, world)}
        current = list(camera.center)
        wanted = [centre.get(a, viewer.dims.point[a]) for a in displayed]
        if len(current) > len(wanted):
            wanted = current[:len(current) - len(wanted)] + wanted
        camera.center = tuple(wanted[-len(current):]) if len(current) else tuple(wanted)
        field = self._field_world()
        canvas = viewer.canvas.size if hasattr(viewer, "canvas") else (600, 600)
        if field > 0 and min(canvas) > 0:
            camera.zoom = float(min(canvas)) / field

    def _pixel_um(self) -> float | None:
        x_um = self._ratio("x_um", "x")
        return x_um if x_um is not None else self._ratio("y_um", "y")

    def _field_world(self) -> float:
        """Width of a FIELD_UM field in world units."""
        world_per_px = float(abs(self._layer.scale[-1])) or 1.0
        px_um = self._pixel_um()
        if px_um is None or px_um <= 0:
            # no calibration in the table: assume a world unit of 1 um when scaled,
            # else 0.3 um pixels
            px_um = world_per_px if world_per_px != 1.0 else 0.3
        return FIELD_UM / px_um * world_per_px

    def _highlight(self, index: int | None) -> None:
        layer = self._layer
        if layer is None or self._base_size is None or len(layer.data) == 0:
            return
        sizes = np.full(len(layer.data), self._base_size)
        if index is not None and index < len(sizes):
            sizes[index] = self._base_size * _HIGHLIGHT
        self._editing = True
        try:
            layer.size = sizes
        finally:
            self._editing = False

    # ------------------------------------------------------------------ decisions
    def _set_status(self, status: str, advance: bool) -> None:
        if not self._need_layer():
            return
        if self._current is None:
            self.go_to(self._view_order()[0])
        index = self._current
        layer = self._layer
        f = layer.features.copy()
        if isinstance(f["status"].dtype, pd.CategoricalDtype):
            f["status"] = f["status"].astype(object)
        old = _clean_status([f["status"].iloc[index]])[0]
        if old == "added" and status != "added":
            if status == "auto":  # undo an addition: the point goes
                self._remove(index)
                return
            self._say("an added event stays 'added' (U removes it)")
            status = "added"
        f.loc[f.index[index], "status"] = status
        self._editing = True
        try:
            layer.features = f
        finally:
            self._editing = False
        self._dirty = True
        self._style_row(index)
        self.refresh_colors()
        self._update_counts()
        self._update_event_label()
        if advance:
            nxt = self.next_unreviewed(index)
            if nxt is not None:
                self.go_to(nxt)
            elif self.review_counts()["remaining"] == 0:
                self._say("all events reviewed; press S to save")

    @_guarded
    def accept(self) -> None:
        """Accept the current event and go to the next unreviewed one."""
        self._set_status("accepted", advance=True)

    @_guarded
    def reject(self) -> None:
        """Reject the current event and go to the next unreviewed one."""
        self._set_status("rejected", advance=True)

    @_guarded
    def undo(self) -> None:
        """Back to ``auto`` (an added event is removed)."""
        self._set_status("auto", advance=False)

    def _remove(self, index: int) -> None:
        layer = self._layer
        order = self._view_order()
        k = order.index(index) if index in order else 0
        self._editing = True
        try:
            layer.selected_data = set()
            layer.remove([index])
        finally:
            self._editing = False
        self._dirty = True
        self._current = None
        self._rebuild_table()
        self.refresh_colors()
        self._update_counts()
        order = self._view_order()
        if order:
            self.go_to(order[min(k, len(order) - 1)])
        else:
            self.strip_label.clear()
            self.event_label.setText("")

    def refresh_colors(self) -> None:
        """Face colour by status, border colour by route (after a status change).

        A layer from the reader colours by its ``status``/``route`` features through
        colour cycles, which are refreshed; other layers get the colours directly.
        """
        layer = self._layer
        if layer is None or len(layer.data) == 0:
            return
        f = layer.features
        self._editing = True
        try:
            if _cycle_on(layer, "face", "status") and _cycle_on(layer, "border", "route"):
                layer.refresh_colors(update_color_mapping=False)
            else:
                layer.face_color = status_colors(f["status"].to_numpy())
                routes = f["route"].to_numpy() if "route" in f else [""] * len(f)
                layer.border_color = route_colors(routes)
            layer.refresh()
        finally:
            self._editing = False

    def review_counts(self) -> dict[str, int]:
        """Total calls, reviewed, remaining, accepted, rejected, added."""
        if self._layer is None:
            return review_counts([])
        return review_counts(self._statuses())

    def _update_counts(self) -> None:
        c = self.review_counts()
        text = (f"reviewed {c['reviewed']}/{c['total']} · remaining {c['remaining']} · "
                f"accepted {c['accepted']} · rejected {c['rejected']} · added {c['added']}")
        if self._dirty:
            text += " · unsaved"
        self.counts_label.setText(text)

    def _update_event_label(self) -> None:
        if self._layer is None or self._current is None:
            self.event_label.setText("")
            return
        row = self._layer.features.iloc[self._current]

        def get(name, fmt="{}"):
            v = row.get(name, None)
            if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
                return "–"
            return fmt.format(v)

        z = f" z {get('z', '{:.0f}')}" if self._layer.ndim >= 4 else ""
        self.event_label.setText(
            f"event {get('event_id', '{:.0f}')} · t {get('t', '{:.0f}')}{z} · "
            f"track {get('track_id', '{:.0f}')} · {get('route')} · "
            f"score {get('score', '{:.2f}')} · <b>{get('status')}</b>")

    # ------------------------------------------------------------------ crop strip
    def _channel_layers(self) -> list[tuple[Image, tuple[float, float, float]]]:
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image)
                  and not layer.rgb]
        mito = [im for im in images if _role(im) == "mito"]
        membrane = [im for im in images if _role(im) == "membrane"]
        if mito or membrane:
            return [(im, _MAGENTA) for im in mito[:1]] + [(im, _GREEN) for im in membrane[:1]]
        return list(zip(images[:2], (_MAGENTA, _GREEN)))

    def _update_strip(self) -> None:
        layer, index = self._layer, self._current
        if layer is None or index is None:
            return
        chosen = self._channel_layers()
        if not chosen:
            self.strip_rgb, self.strip_frames = None, []
            self.strip_label.setText("(no movie layers: open the movie to see the event "
                                     "over time)")
            return
        world = np.asarray(layer.data_to_world(layer.data[index]), dtype=float)
        full = np.asarray(self.viewer.dims.point, dtype=float)
        full[len(full) - len(world):] = world[-len(full):]
        channels = []
        t_index = None
        for image, rgb in chosen:
            data = image.data[0] if image.multiscale else image.data
            position = np.asarray(image.world_to_data(full), dtype=float)
            if t_index is None:
                t_index = position
            channels.append((data, rgb, tuple(image.contrast_limits)))
        strip, frames = crop_strip(channels, t_index)
        self.strip_rgb, self.strip_frames = strip, frames
        data = channels[0][0]
        n_frames = data.shape[0] if data.ndim >= 3 else None
        onset = round(t_index[0])
        self._strip_info = (onset, n_frames)
        self.strip_label.setPixmap(self._strip_pixmap(strip, frames, onset, n_frames))

    def _strip_pixmap(self, strip: np.ndarray, frames: list[int], onset: int,
                      n_frames: int | None) -> QPixmap:
        """The strip scaled to the widget's width, frame numbers above, onset framed."""
        width = max(self.strip_label.width(), 6 * 40)
        scale = min(float(_TILE_SCALE), (width - 1) / strip.shape[1])
        rgb = np.ascontiguousarray(strip)
        h, w = rgb.shape[:2]
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
        sw, sh = max(int(w * scale), 1), max(int(h * scale), 1)
        image = image.scaled(sw, sh, Qt.IgnoreAspectRatio, Qt.FastTransformation)
        label_h = 16
        pixmap = QPixmap(sw, sh + label_h)
        pixmap.fill(QColor(38, 41, 48))
        painter = QPainter(pixmap)
        try:
            painter.drawImage(0, label_h, image)
            tile = CROP_PX * scale
            gap = _GAP * scale
            font = painter.font()
            font.setPointSize(8)
            painter.setFont(font)
            for k, t in enumerate(frames):
                x0 = k * (tile + gap)
                inside = n_frames is None or 0 <= t < n_frames
                painter.setPen(QColor(255, 230, 0) if t == onset else (
                    QColor(220, 220, 220) if inside else QColor(110, 110, 110)))
                painter.drawText(QRectF(x0, 0, tile, label_h), Qt.AlignCenter, f"t={t}")
                if t == onset:
                    pen = QPen(QColor(255, 230, 0))
                    pen.setWidth(2)
                    painter.setPen(pen)
                    painter.drawRect(QRectF(x0 + 1, label_h + 1, tile - 2, tile - 2))
                pen = QPen(QColor(255, 255, 255, 160))
                pen.setWidth(1)
                painter.setPen(pen)
                c = tile / 2
                r = 4 * scale
                painter.drawEllipse(QRectF(x0 + c - r, label_h + c - r, 2 * r, 2 * r))
        finally:
            painter.end()
        return pixmap

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.strip_rgb is not None and self._strip_info is not None:
            with contextlib.suppress(Exception):  # cosmetic
                self.strip_label.setPixmap(self._strip_pixmap(
                    self.strip_rgb, self.strip_frames, *self._strip_info))

    # ------------------------------------------------------------------ add mode
    @_guarded
    def toggle_add_mode(self) -> None:
        """E: start (or cancel) add mode."""
        if not self._add_mode and self._layer is None:
            self._need_layer()
            return
        self.set_add_mode(not self._add_mode)

    @_guarded
    def set_add_mode(self, on: bool) -> None:
        """Start or end add mode (the next click in the viewer adds an event)."""
        on = bool(on) and self._layer is not None
        self._add_mode = on
        button = self.buttons["add"]
        if button.isChecked() != on:
            button.blockSignals(True)
            button.setChecked(on)
            button.blockSignals(False)
        self.escape.setEnabled(on)
        callbacks = self.viewer.mouse_drag_callbacks
        if on and self._drag_callback is None:
            self._drag_callback = functools.partial(_add_click, weakref.ref(self))
            callbacks.append(self._drag_callback)
            layer = self._layer
            self.viewer.layers.selection.active = layer
            layer.mode = "pan_zoom"
            self.viewer.status = "Add event: click where the missed event is (Escape cancels)"
        elif not on and self._drag_callback is not None:
            if self._drag_callback in callbacks:
                callbacks.remove(self._drag_callback)
            self._drag_callback = None

    @property
    def add_mode(self) -> bool:
        return self._add_mode

    @_guarded
    def add_event_at(self, world_position: Sequence[float]) -> int | None:
        """Add an event (status ``added``) at a viewer position (world coordinates).

        Returns the new point's index. Ends add mode.
        """
        self.set_add_mode(False)
        layer = self._layer
        if layer is None:
            self._need_layer()
            return None
        world = np.asarray(world_position, dtype=float)
        coords = np.asarray(layer.world_to_data(world), dtype=float)
        coords[:-2] = np.round(coords[:-2])  # frame (and plane) are whole numbers
        f = layer.features
        ids = pd.to_numeric(f["event_id"], errors="coerce") if "event_id" in f else None
        new_id = int(np.nanmax(ids)) + 1 if ids is not None and ids.notna().any() else 1
        row = {c: np.nan for c in f.columns}
        t = int(coords[0])
        z = int(coords[1]) if layer.ndim >= 4 else 0
        y, x = float(coords[-2]), float(coords[-1])
        row.update(event_id=new_id, t=t, z=z, y=round(y, 3), x=round(x, 3),
                   route="", bridge_id="", status="added")
        px_um = self._pixel_um()
        if px_um is not None:
            row.update(y_um=round(y * px_um, 4), x_um=round(x * px_um, 4))
            if "z_um" in f:
                zr = self._ratio("z_um", "z")
                row["z_um"] = round(z * zr, 4) if zr is not None else (0.0 if z == 0 else np.nan)
        dt = self._ratio("time_s", "t")
        if dt is not None:
            row["time_s"] = round(t * dt, 4)
        new = f.copy()
        for col in ("status", "route", "bridge_id"):
            if col in new and isinstance(new[col].dtype, pd.CategoricalDtype):
                new[col] = new[col].astype(object)
        new = pd.concat([new, pd.DataFrame([row], columns=f.columns)], ignore_index=True)
        self._editing = True
        try:
            layer.add(coords)
            layer.features = new
            layer.selected_data = set()
        finally:
            self._editing = False
        self._dirty = True
        index = len(layer.data) - 1
        self._rebuild_table()
        self.refresh_colors()
        self._update_counts()
        self.go_to(index)
        self._say(f"added event {new_id} at t={t}, y={y:.0f}, x={x:.0f}")
        return index

    def _ratio(self, um: str, px: str) -> float | None:
        f = self._layer.features
        if um not in f or px not in f:
            return None
        a = pd.to_numeric(f[um], errors="coerce").to_numpy(float)
        b = pd.to_numeric(f[px], errors="coerce").to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(b) & (b > 0.5)
        return float(np.median(a[ok] / b[ok])) if ok.any() else None

    # ------------------------------------------------------------------ save
    def _results_folder(self) -> Path | None:
        folder = None if self._layer is None else mtrack_meta(self._layer.metadata).get("results")
        return Path(folder) if folder else None

    @_guarded
    def save(self) -> Path | None:
        """Write the reviewed ``events.csv`` into the results folder (through the writer).

        On failure (read-only folder, folder gone...) a message says so and the review
        stays in the viewer, unsaved.
        """
        if self._layer is None:
            self._need_layer()
            return None
        folder = self._results_folder()
        if folder is None:
            show_warning("Review events: this events layer does not come from a results "
                         "folder; save it with File > Save Selected Layers… (mtrack writer).")
            return None
        path = folder / "events.csv"
        from ._writer import write_events

        data, attributes, _ = self._layer.as_layer_data_tuple()
        try:
            written = write_events(str(path), data, attributes)
        except Exception as err:  # noqa: BLE001 - reported, review kept in the viewer
            show_error(f"Review events: could not save {path}: {err}. The review is kept "
                       "in the viewer (unsaved); make the folder writable and press S "
                       "again, or save the layer elsewhere with File > Save Selected "
                       "Layers….")
            return None
        if not written:
            show_error(f"Review events: the writer did not write {path}; the review is "
                       "kept in the viewer (unsaved).")
            return None
        self._dirty = False
        self.saved_path = Path(written[0] if isinstance(written, (list, tuple)) else written)
        self._update_counts()
        c = self.review_counts()
        self._say(f"saved {path.name} (accepted {c['accepted']}, rejected {c['rejected']}, "
                  f"added {c['added']}, unreviewed {c['remaining']})")
        show_info(f"Review events: saved {path} (accepted {c['accepted']}, rejected "
                  f"{c['rejected']}, added {c['added']}, unreviewed {c['remaining']})")
        return self.saved_path

    @property
    def dirty(self) -> bool:
        """Unsaved changes."""
        return self._dirty


def _call(ref: weakref.ref, action: str, *args) -> None:
    """Slot for a button: call the widget's action (``checked`` passed only to
    ``set_add_mode``)."""
    widget = ref()
    if widget is not None:
        getattr(widget, action)(*args[:1] if action == "set_add_mode" else ())


def _key_handler(ref: weakref.ref, action: str) -> Callable:
    """A key binding for the viewer (and the events layer) running the widget's action.

    A plain named function (napari's keymap handling needs ``__name__``) holding only a
    weak reference to the widget.
    """

    def handler(_viewer_or_layer=None) -> None:
        widget = ref()
        if widget is None:
            return
        try:
            visible = widget.isVisible()
        except RuntimeError:  # the C++ widget is gone
            return
        if visible:
            getattr(widget, action)()

    handler.__name__ = handler.__qualname__ = f"mtrack_review_{action}"
    return handler


def _unbind_layer_keys(layers: weakref.WeakSet, handlers: dict) -> None:
    """Give the events layers their own keys back."""
    for layer in list(layers):
        for key in _LAYER_KEYS:
            if layer.keymap.get(_coerce(key)) is handlers[key]:
                layer.bind_key(key, None)
        layers.discard(layer)


def _forget_keys(viewer_ref: weakref.ref, layers: weakref.WeakSet, handlers: dict,
                 *_) -> None:
    """When the widget goes, unbind its keys from the viewer and the events layers."""
    with contextlib.suppress(Exception):  # best effort while closing
        _unbind_layer_keys(layers, handlers)
    viewer = viewer_ref()
    if viewer is None:
        return
    for key, handler in handlers.items():
        with contextlib.suppress(Exception):
            if viewer.keymap.get(_coerce(key)) is handler:
                viewer.bind_key(key, None)


def _coerce(key):
    from napari.utils.key_bindings import coerce_keybinding

    return coerce_keybinding(key)


def _add_click(ref: weakref.ref, viewer, event):
    """Mouse drag callback of add mode: a click (press and release without dragging)
    adds an event at the pressed position."""
    widget = ref()
    if widget is None or not widget.add_mode or event.type != "mouse_press":
        return
    if getattr(event, "button", 1) not in (1, None):
        return
    start = np.asarray(event.position, dtype=float)
    start_px = np.asarray(getattr(event, "pos", (0, 0)), dtype=float)
    yield
    moved = 0.0
    while event.type == "mouse_move":
        moved = max(moved, float(np.hypot(*(np.asarray(getattr(event, "pos", start_px),
                                                        dtype=float) - start_px)[:2])))
        yield
    widget = ref()
    if widget is not None and widget.add_mode and moved < 5:
        widget.add_event_at(start)
