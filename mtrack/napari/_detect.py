"""The "Detect transfer" dock widget: choose channels, tune key parameters, run detection.

The widget is a thin shell around the core: it turns the viewer's image layers into a
lazy :class:`mtrack.io.Movie` (a stack of the layers' data, read one frame at a time),
runs :func:`mtrack.frame.process_frame` on the current frame for quick tuning or
:func:`mtrack.pipeline.run_movie` on the whole movie in a worker thread, saves the
results folder with :func:`mtrack.results.save_results` (staged under a hidden name,
renamed when complete) and adds the result layers.

Expected problems (wrong layers, bad parameters, an existing output folder) end as a
napari notification plus a line in the widget; the layers are never modified.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import typing
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from napari.layers import Image, Labels, Layer
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..frame import FrameResult, process_frame
from ..io import Movie, MovieError, _oneline, movie_from_array
from ..params import InputParams, Params, ParamsError, dump_params, load_params
from ..pipeline import run_movie
from ..results import (
    OutputError,
    check_output,
    create_label_store,
    save_results,
    stage_output,
)
from ._layers import META_KEY, mtrack_meta, results_layers

__all__ = ["DetectWidget"]

_NONE = "(none)"
_AUTO = "auto"  # a parameter estimated from the data (recipient.cell_diameter_um)
_TWO_LAYERS, _ONE_LAYER = "separate layers", "channels of one layer"
_DIMS = {"auto": "auto (from the layer shape)", "2d": "2D + time", "3d": "3D + time"}
#: the parameters shown in the widget: (section, key, label, unit suffix)
KEY_PARAMS: tuple[tuple[str, str, str, str], ...] = (
    ("recipient", "marker", "membrane marker", ""),
    ("recipient", "cell_diameter_um", "recipient cell diameter", "µm"),
    ("donor", "mito_width_um", "mitochondrion width", "µm"),
    ("donor", "threshold_sigma", "donor threshold", "σ"),
    ("donor", "min_size_um", "min donor object size", "µm"),
    ("donor", "max_size_um", "max donor object size", "µm"),
    ("event", "margin_um", "event margin", "µm"),
    ("event", "min_persistence_frames", "min persistence", "frames"),
    ("event", "min_event_snr", "min event SNR", ""),
    ("bridge", "enabled", "detect bridges", ""),
    ("bridge", "max_width_um", "max bridge width", "µm"),
)
_PREVIEW = {"recipients": "recipients", "donors": "donor objects", "bridges": "bridges"}
_MAX_CHANNELS = 16  # a longer "channel" axis is a mistake (Y or Z chosen as channels)


class _Cancelled(Exception):
    """Raised from the progress callback (and label writes) once cancel is requested."""


class InputError(ValueError):
    """The chosen layers cannot be analysed; the message says why, in one line."""


class _Signals(QObject):
    progress = Signal(int, int)


class _GuardedWriter:
    """A label writer that refuses writes after a stop, and can wait for writes in flight.

    After a cancel the dask tasks already running finish in the background; they must
    not write into a staging folder that is being removed.
    """

    def __init__(self, writer: Any, cancel: threading.Event):
        self._writer = writer
        self._cancel = cancel
        self._stopped = False
        self._active = 0
        self._cond = threading.Condition()

    def write(self, t: int, layers: dict[str, np.ndarray]) -> None:
        with self._cond:
            if self._stopped or self._cancel.is_set():
                raise _Cancelled()
            self._active += 1
        try:
            self._writer.write(t, layers)
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def stop_and_wait(self, timeout: float = 600.0) -> None:
        """Refuse further writes and wait until no write is in progress."""
        with self._cond:
            self._stopped = True
            self._cond.wait_for(lambda: self._active == 0, timeout=timeout)

    def __dask_tokenize__(self) -> tuple:
        return ("mtrack-guarded-writer", str(getattr(self._writer, "path", "")), id(self))


def _run_job(movie: Movie, params: Params, out: Path, overwrite: bool, workers: int | None,
             cancel: threading.Event, report: Any) -> tuple[str, Any]:
    """Worker-thread body of a whole-movie run: stage, run, save; clean up on any failure.

    Returns ``("done", (out, results))``, ``("cancelled", None)`` or ``("error", message)``
    for expected problems; unexpected exceptions propagate.
    """
    def progress(done: int, total: int) -> None:
        if cancel.is_set():
            raise _Cancelled()
        report(done, total)

    try:
        staging = stage_output(out, overwrite=overwrite)
    except (OutputError, OSError) as err:
        return "error", str(err)
    writer = None
    try:
        n_t, _, n_z, n_y, n_x = movie.shape
        writer = _GuardedWriter(
            create_label_store(staging / "labels.zarr", (n_t, n_z, n_y, n_x), movie.scale),
            cancel)
        results = run_movie(movie, params, scheduler="threads", workers=workers,
                            progress=progress, labels=writer)
        if cancel.is_set():
            raise _Cancelled()
        writer.stop_and_wait()
        save_results(results, out, overwrite=overwrite, staging=staging)
    except BaseException as err:
        if writer is not None:
            writer.stop_and_wait()  # tasks still running must not write into the staging
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, _Cancelled):
            return "cancelled", None
        if isinstance(err, (MovieError, ParamsError, OutputError, ValueError, OSError)):
            return "error", _oneline(err)
        raise
    return "done", (out, results)


def _frame_job(movie: Movie, t: int, params: Params) -> tuple[str, Any]:
    """Worker-thread body of a current-frame run."""
    try:
        return "done", process_frame(movie.frame(t), movie.scale, params)
    except (MovieError, ParamsError, ValueError) as err:
        return "error", _oneline(err)


def _base_data(layer: Image) -> Any:
    """The full-resolution array of an image layer (level 0 of a multiscale layer)."""
    return layer.data[0] if layer.multiscale else layer.data


def _spatial_axes(name: str, shape: tuple[int, ...], dims: str) -> str:
    """Axis letters of a one-channel array of ``shape`` (``YX``, ``TYX`` or ``TZYX``)."""
    ndim = len(shape)
    if ndim == 2:
        if dims == "3d":
            raise InputError(f"layer '{name}' is a single 2D image {shape}, but 3D data was "
                             "chosen: pick a (T, Z, Y, X) layer or set the data to 2D/auto")
        return "YX"
    if ndim == 3:
        if dims == "3d":
            raise InputError(f"layer '{name}' is 2D + time (T, Y, X) = {shape}, but 3D data "
                             "was chosen: pick a (T, Z, Y, X) layer or set the data to 2D/auto")
        return "TYX"
    if ndim == 4:
        if dims == "3d" and shape[1] == 1:
            raise InputError(f"layer '{name}' {shape} has a single z plane, but 3D data was "
                             "chosen: set the data to 2D/auto")
        if dims == "2d" and shape[1] > 1:
            raise InputError(f"layer '{name}' is 3D + time (T, Z, Y, X) = {shape}, but 2D data "
                             "was chosen: set the data to 3D/auto")
        return "TZYX"
    raise InputError(f"layer '{name}' has {ndim} dimensions {shape}: expected (T, Y, X) for "
                     "2D + time or (T, Z, Y, X) for 3D + time")


class _ChannelStack:
    """Lazy ``(T, C, [Z,] Y, X)`` array over the layers' data, read one index at a time.

    Each channel is ``(data, channel_axis, channel_index)``: a layer's array of one channel
    (``channel_axis`` None) or one channel of a multichannel array. Indexing reads only the
    requested part of each channel; dask data is computed with the synchronous scheduler,
    so a read inside a pipeline task starts no thread pool of its own. Nothing is copied
    or read when the stack is made.
    """

    def __init__(self, channels: list[tuple[Any, int | None, int]], shape: tuple[int, ...],
                 has_t: bool):
        self.channels = channels
        self.has_t = has_t
        rest = shape if has_t else (1, *shape)
        self.shape = (rest[0], len(channels), *rest[1:])
        self.ndim = len(self.shape)
        self.dtype = np.result_type(*[np.dtype(data.dtype) for data, _, _ in channels])

    def _read(self, c: int, key: tuple) -> np.ndarray:
        data, axis, index = self.channels[c]
        if not self.has_t:  # a single image: the only frame is 0
            t, key = key[0], key[1:]
            frame = self._read_key(data, axis, index, key)
            return frame[None] if isinstance(t, slice) else frame
        return self._read_key(data, axis, index, key)

    @staticmethod
    def _read_key(data: Any, axis: int | None, index: int, key: tuple) -> np.ndarray:
        if axis is not None:
            key = (*key[:axis], index, *key[axis:])
        block = data[key]
        if isinstance(block, da.Array):
            block = block.compute(scheduler="synchronous")
        return np.asarray(block, dtype=None)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > self.ndim or any(k is Ellipsis or k is None for k in key):
            raise IndexError(f"unsupported index {key!r}")
        key = key + (slice(None),) * (self.ndim - len(key))
        t, c, rest = key[0], key[1], key[2:]
        if isinstance(c, (int, np.integer)):
            return self._read(int(c), (t, *rest)).astype(self.dtype, copy=False)
        blocks = [self._read(i, (t, *rest)).astype(self.dtype, copy=False)
                  for i in range(self.shape[1])[c]]
        return np.stack(blocks, axis=0 if isinstance(t, (int, np.integer)) else 1)


def _auto_number(annotation: Any) -> bool:
    """Whether a field takes a number or ``"auto"`` (``float | Literal["auto"]``)."""
    args = typing.get_args(annotation)
    return (float in args and any(typing.get_origin(a) is typing.Literal
                                  and typing.get_args(a) == (_AUTO,) for a in args))


def _float_range(field: Any) -> tuple[float, float]:
    """Spin-box range from a pydantic field's bounds (annotated-types ge/gt/le/lt)."""
    lo, hi = 0.0, 1e6
    for m in field.metadata:
        if getattr(m, "ge", None) is not None:
            lo = float(m.ge)
        elif getattr(m, "gt", None) is not None:
            lo = float(m.gt) + 1e-3
        elif getattr(m, "le", None) is not None:
            hi = float(m.le)
        elif getattr(m, "lt", None) is not None:
            hi = float(m.lt) - 1e-3
    return lo, hi


def _unique_path(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}-{n}")
        n += 1
    return candidate


class DetectWidget(QWidget):
    """Dock widget that detects mitochondrial transfer in the viewer's image layers.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (npe2 passes it by this name).
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self._base = Params()  # parameters not shown in the widget (from a loaded file)
        self._worker: Any = None
        self._mode: str | None = None  # "frame" or "movie" while running
        self._cancel = threading.Event()
        self._job: dict[str, Any] = {}
        self._prefilled_from: str | None = None
        self.last_output: Path | None = None
        self.last_results: Any = None
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_input())
        layout.addWidget(self._build_params())
        layout.addWidget(self._build_run())
        layout.addStretch(1)

        events = self.viewer.layers.events
        events.inserted.connect(self._on_layers_changed)
        events.removed.connect(self._on_layers_changed)
        events.moved.connect(self._on_layers_changed)
        for layer in self.viewer.layers:
            layer.events.name.connect(self._on_layers_changed)
        self._refresh_layers()

    # ------------------------------------------------------------------ construction
    def _build_input(self) -> QGroupBox:
        box = QGroupBox("Input")
        form = QFormLayout(box)
        self.input_mode = QComboBox()
        self.input_mode.addItems([_TWO_LAYERS, _ONE_LAYER])
        self.input_mode.setToolTip("one image layer per channel (what the mtrack reader opens), "
                                   "or one multichannel layer with a channel axis")
        self.input_mode.currentTextChanged.connect(self._on_mode_changed)
        form.addRow("channels from", self.input_mode)

        self.mito_layer = QComboBox()
        self.mito_layer.setToolTip("image layer of the donor mitochondria")
        self.membrane_layer = QComboBox()
        self.membrane_layer.setToolTip("image layer of the recipient membrane (or cytoplasm)")
        self.nuclei_layer = QComboBox()
        self.nuclei_layer.setToolTip("optional image layer of nuclei, seeds the splitting of "
                                     "touching recipient cells")
        self.mito_layer.currentTextChanged.connect(self._on_mito_changed)
        self.two_layers = QWidget()
        two = QFormLayout(self.two_layers)
        two.setContentsMargins(0, 0, 0, 0)
        two.addRow("mito layer", self.mito_layer)
        two.addRow("membrane layer", self.membrane_layer)
        two.addRow("nuclei layer", self.nuclei_layer)
        form.addRow(self.two_layers)

        self.stack_layer = QComboBox()
        self.stack_layer.setToolTip("a multichannel image layer")
        self.stack_layer.currentTextChanged.connect(self._on_mito_changed)
        self.channel_axis = QSpinBox()
        self.channel_axis.setRange(0, 5)
        self.channel_axis.setValue(1)
        self.channel_axis.setToolTip("axis of the layer that holds the channels, e.g. 1 for "
                                     "(T, C, Y, X)")
        self.mito_channel = QSpinBox()
        self.mito_channel.setRange(0, _MAX_CHANNELS - 1)
        self.mito_channel.setValue(0)
        self.mito_channel.setToolTip(InputParams.model_fields["mito_channel"].description)
        self.membrane_channel = QSpinBox()
        self.membrane_channel.setRange(0, _MAX_CHANNELS - 1)
        self.membrane_channel.setValue(1)
        self.membrane_channel.setToolTip(
            InputParams.model_fields["membrane_channel"].description)
        self.one_layer = QWidget()
        one = QFormLayout(self.one_layer)
        one.setContentsMargins(0, 0, 0, 0)
        one.addRow("image layer", self.stack_layer)
        one.addRow("channel axis", self.channel_axis)
        one.addRow("mito channel", self.mito_channel)
        one.addRow("membrane channel", self.membrane_channel)
        form.addRow(self.one_layer)

        self.dims = QComboBox()
        for key, text in _DIMS.items():
            self.dims.addItem(text, key)
        self.dims.setToolTip("(T, Y, X) layers are 2D + time, (T, Z, Y, X) layers 3D + time; "
                             "force one to be told when a layer does not match")
        form.addRow("data", self.dims)

        self.pixel_size = QDoubleSpinBox()
        self.pixel_size.setRange(0.001, 100.0)
        self.pixel_size.setDecimals(4)
        self.pixel_size.setSingleStep(0.01)
        self.pixel_size.setValue(1.0)
        self.pixel_size.setSuffix(" µm")
        self.pixel_size.setToolTip("x/y pixel size; filled from the layer scale")
        self.z_step = QDoubleSpinBox()
        self.z_step.setRange(0.001, 100.0)
        self.z_step.setDecimals(4)
        self.z_step.setSingleStep(0.1)
        self.z_step.setValue(1.0)
        self.z_step.setSuffix(" µm")
        self.z_step.setToolTip("z step (3D data); filled from the layer scale")
        self.frame_interval = QDoubleSpinBox()
        self.frame_interval.setRange(0.001, 1e6)
        self.frame_interval.setDecimals(3)
        self.frame_interval.setValue(1.0)
        self.frame_interval.setSuffix(" s")
        self.frame_interval.setToolTip("time between frames; filled from the layer metadata")
        form.addRow("pixel size", self.pixel_size)
        form.addRow("z step", self.z_step)
        form.addRow("frame interval", self.frame_interval)
        self._on_mode_changed(self.input_mode.currentText())
        return box

    def _build_params(self) -> QGroupBox:
        box = QGroupBox("Parameters")
        form = QFormLayout(box)
        self.param_widgets: dict[str, QWidget] = {}
        defaults = Params()
        for section, key, label, unit in KEY_PARAMS:
            model = type(getattr(defaults, section))
            field = model.model_fields[key]
            default = getattr(getattr(defaults, section), key)
            annotation = field.annotation
            if _auto_number(annotation):  # a number or "auto": 0 in the box shows "auto"
                widget = QDoubleSpinBox()
                widget.setDecimals(3)
                widget.setRange(0.0, 1e6)
                widget.setSingleStep(0.5)
                widget.setSpecialValueText(_AUTO)
            elif typing.get_origin(annotation) is typing.Literal:
                widget = QComboBox()
                widget.addItems([str(a) for a in typing.get_args(annotation)])
            elif annotation is bool:
                widget = QCheckBox()
            elif annotation is int:
                widget = QSpinBox()
                lo, hi = _float_range(field)
                widget.setRange(int(np.ceil(lo)), int(min(hi, 10_000)))
            else:
                widget = QDoubleSpinBox()
                widget.setDecimals(3)
                widget.setRange(*_float_range(field))
                widget.setSingleStep(0.1)
            if unit and hasattr(widget, "setSuffix"):
                widget.setSuffix(f" {unit}")
            tip = (field.description or "").strip()
            if _auto_number(annotation):
                tip += "; set to 0 (shown as 'auto') to estimate it from the data"
            widget.setToolTip(f"{tip[:1].upper()}{tip[1:]} ({section}.{key}, default {default}"
                              f"{' ' + unit if unit else ''})")
            name = f"{section}.{key}"
            self.param_widgets[name] = widget
            self._set_widget_value(widget, default)
            form.addRow(f"{label}", widget)

        buttons = QHBoxLayout()
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("load a parameter file (YAML); the widgets take its values")
        self.load_button.clicked.connect(lambda: self.load_params())
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("save all parameters (with the values above) as YAML")
        self.save_button.clicked.connect(lambda: self.save_params())
        self.reset_button = QPushButton("Defaults")
        self.reset_button.setToolTip("back to the default parameters")
        self.reset_button.clicked.connect(self.reset_params)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.reset_button)
        form.addRow("parameter file", buttons)
        self.params_source = QLabel("defaults")
        self.params_source.setWordWrap(True)
        form.addRow("", self.params_source)
        return box

    def _build_run(self) -> QGroupBox:
        box = QGroupBox("Run")
        form = QFormLayout(box)
        out_row = QHBoxLayout()
        self.output = QLineEdit()
        self.output.setPlaceholderText("new folder under the system temp")
        self.output.setToolTip("results folder to create; an existing folder must be empty "
                               "(nothing is overwritten). Empty: a new folder under "
                               f"{tempfile.gettempdir()}")
        self.browse_button = QPushButton("…")
        self.browse_button.setToolTip("choose where the results folder goes")
        self.browse_button.clicked.connect(self._browse_output)
        out_row.addWidget(self.output, 1)
        out_row.addWidget(self.browse_button)
        form.addRow("output folder", out_row)

        self.workers = QSpinBox()
        self.workers.setRange(1, max(os.cpu_count() or 1, 1))
        self.workers.setValue(max(os.cpu_count() or 1, 1))
        self.workers.setToolTip("frames analysed in parallel (threads)")
        form.addRow("threads", self.workers)

        buttons = QHBoxLayout()
        self.frame_button = QPushButton("Current frame")
        self.frame_button.setToolTip("segment the frame shown in the viewer only (quick tuning)")
        self.frame_button.clicked.connect(self.run_current_frame)
        self.movie_button = QPushButton("Whole movie")
        self.movie_button.setToolTip("detect transfer events in every frame, save the results "
                                     "folder and show the result layers")
        self.movie_button.clicked.connect(self.run_whole_movie)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the run; nothing is saved")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.frame_button)
        buttons.addWidget(self.movie_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        form.addRow(self.progress)
        self.status = QLabel("ready")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form.addRow(self.status)
        return box

    # ------------------------------------------------------------------ layer choice
    def _image_layers(self) -> list[Image]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _on_layers_changed(self, event: Any = None) -> None:
        value = getattr(event, "value", None)
        if isinstance(value, Layer) and getattr(event, "type", "") == "inserted":
            value.events.name.connect(self._on_layers_changed)
        self._refresh_layers()

    def _refresh_layers(self) -> None:
        """Repopulate the layer choices, keeping the current choice or picking by role."""
        images = self._image_layers()
        names = [layer.name for layer in images]
        by_role: dict[str, str] = {}
        for layer in images:
            role = mtrack_meta(layer.metadata).get("role")
            if isinstance(role, str):
                by_role.setdefault(role, layer.name)

        def guess(role: str, fallback: int | None) -> str | None:
            if role in by_role:
                return by_role[role]
            for name in names:
                if role in name.lower():
                    return name
            if fallback is not None and len(names) > fallback:
                return names[fallback]
            return None

        mito = guess("mito", 0)
        membrane = guess("membrane", None)
        if membrane is None:
            membrane = next((n for n in names if n != mito), None)
        stack = next((layer.name for layer in images
                      if not mtrack_meta(layer.metadata).get("role") and layer.ndim >= 4),
                     names[0] if names else None)
        self._fill(self.mito_layer, names, mito)
        self._fill(self.membrane_layer, names, membrane)
        self._fill(self.nuclei_layer, [_NONE, *names], guess("nuclei", None) or _NONE)
        self._fill(self.stack_layer, names, stack)
        self._on_mito_changed()

    @staticmethod
    def _fill(combo: QComboBox, names: list[str], preferred: str | None) -> None:
        current = combo.currentText()
        keep = current if current in names and current != _NONE else preferred
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(names)
        if keep in names:
            combo.setCurrentIndex(names.index(keep))
        combo.blockSignals(False)

    def _on_mode_changed(self, text: str = "") -> None:
        two = self.input_mode.currentText() == _TWO_LAYERS
        self.two_layers.setVisible(two)
        self.one_layer.setVisible(not two)
        self._prefilled_from = None
        self._on_mito_changed()

    def _reference_name(self) -> str:
        combo = self.mito_layer if self.input_mode.currentText() == _TWO_LAYERS \
            else self.stack_layer
        return combo.currentText()

    def _on_mito_changed(self, *_: Any) -> None:
        """Fill the calibration fields from the reference layer when the choice changes."""
        name = self._reference_name()
        if not name or name == self._prefilled_from or name not in self.viewer.layers:
            return
        self._prefilled_from = name
        layer = self.viewer.layers[name]
        scale = [float(s) for s in layer.scale]
        meta = mtrack_meta(layer.metadata)
        if self.input_mode.currentText() == _ONE_LAYER:
            axis = self.channel_axis.value()
            if axis < len(scale):
                scale.pop(axis)
        if len(scale) >= 2 and scale[-1] > 0:
            self.pixel_size.setValue(scale[-1])
        zyx = meta.get("scale_zyx")
        if len(scale) >= 4 and scale[-3] > 0:
            self.z_step.setValue(scale[-3])
        elif isinstance(zyx, (list, tuple)) and len(zyx) == 3 and float(zyx[0]) > 0:
            self.z_step.setValue(float(zyx[0]))
        interval = meta.get("frame_interval")
        if isinstance(interval, (int, float)) and interval > 0:
            self.frame_interval.setValue(float(interval))

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Where to put the results folder")
        if not folder:
            return
        folder = Path(folder)
        if any(folder.iterdir()):
            folder = _unique_path(folder / f"{self._safe_name()}-results")
        self.output.setText(str(folder))

    def _safe_name(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self._reference_name() or "movie").strip("._")
        return name or "movie"

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _set_widget_value(widget: QWidget, value: Any) -> None:
        if isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif value == _AUTO and isinstance(widget, QDoubleSpinBox):
            widget.setValue(widget.minimum())  # shows the special value text "auto"
        else:
            widget.setValue(value)

    @staticmethod
    def _widget_value(widget: QWidget) -> Any:
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QDoubleSpinBox) and widget.specialValueText() == _AUTO \
                and widget.value() == widget.minimum():
            return _AUTO
        return widget.value()

    def get_param(self, name: str) -> Any:
        """Value of a shown parameter, e.g. ``get_param("donor.threshold_sigma")``."""
        return self._widget_value(self.param_widgets[name])

    def set_param(self, name: str, value: Any) -> None:
        """Set a shown parameter's widget, e.g. ``set_param("event.margin_um", 1.0)``."""
        self._set_widget_value(self.param_widgets[name], value)

    def params(self) -> Params:
        """The parameters as shown: the loaded (or default) ones updated with the widgets.

        Raises
        ------
        ParamsError
            When the values are inconsistent (e.g. min size not below max size).
        """
        overrides: dict[str, dict[str, Any]] = {}
        for name, widget in self.param_widgets.items():
            section, key = name.split(".")
            value = self._widget_value(widget)
            loaded = getattr(getattr(self._base, section), key)
            if isinstance(widget, QDoubleSpinBox) and isinstance(loaded, float) \
                    and isinstance(value, float):  # a loaded value finer than the box shows
                if round(loaded, widget.decimals()) == round(value, widget.decimals()):
                    value = loaded
            overrides.setdefault(section, {})[key] = value
        if self.input_mode.currentText() == _ONE_LAYER:
            overrides["input"] = {"mito_channel": self.mito_channel.value(),
                                  "membrane_channel": self.membrane_channel.value()}
        return self._base.updated(overrides)

    def _show_params(self, params: Params) -> None:
        for name, widget in self.param_widgets.items():
            section, key = name.split(".")
            self._set_widget_value(widget, getattr(getattr(params, section), key))
        roles = params.input
        self.mito_channel.setValue(roles.mito_channel)
        self.membrane_channel.setValue(roles.membrane_channel)
        if roles.pixel_size_um is not None:
            self.pixel_size.setValue(roles.pixel_size_um)
        if roles.z_step_um is not None:
            self.z_step.setValue(roles.z_step_um)
        if roles.frame_interval_s is not None:
            self.frame_interval.setValue(roles.frame_interval_s)

    def load_params(self, path: str | Path | None = None) -> bool:
        """Load a YAML parameter file into the widget (a file dialog when ``path`` is None)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load mtrack parameters", "",
                                                  "YAML (*.yaml *.yml);;All files (*)")
            if not path:
                return False
        try:
            params = load_params(path)
        except (ParamsError, OSError, UnicodeDecodeError) as err:
            self._fail(f"cannot load parameters: {err}")
            return False
        self._base = params
        self._show_params(params)
        self.params_source.setText(f"from {Path(path).name}")
        self._say(f"loaded parameters from {path}")
        return True

    def save_params(self, path: str | Path | None = None) -> bool:
        """Save the parameters as shown to a YAML file, written atomically."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save mtrack parameters", "params.yaml",
                                                  "YAML (*.yaml *.yml)")
            if not path:
                return False
        path = Path(path)
        try:
            text = dump_params(self.params())
        except ParamsError as err:
            self._fail(f"cannot save parameters: {err}")
            return False
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                       dir=path.absolute().parent)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError as err:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            self._fail(f"cannot save parameters: {path}: {err.strerror or err}")
            return False
        self.params_source.setText(f"saved to {path.name}")
        self._say(f"saved parameters to {path}")
        return True

    def reset_params(self) -> None:
        """Back to the default parameters."""
        self._base = Params()
        self._show_params(self._base)
        self.params_source.setText("defaults")

    # ------------------------------------------------------------------ input -> Movie
    def _movie(self) -> tuple[Movie, str, Image, str]:
        """The chosen layers as a lazy Movie, the axes of one channel (``TYX``...), the
        reference layer and its axes (with ``C`` for a multichannel layer).

        Raises
        ------
        InputError, MovieError
        """
        images = self._image_layers()
        if not images:
            raise InputError("no image layers: open a movie (mito and membrane channels) first")
        dims = self.dims.currentData()
        scale = (self.z_step.value(), self.pixel_size.value(), self.pixel_size.value())
        if self.input_mode.currentText() == _TWO_LAYERS:
            chosen = {"mito": self.mito_layer.currentText(),
                      "membrane": self.membrane_layer.currentText()}
            if self.nuclei_layer.currentText() not in ("", _NONE):
                chosen["nuclei"] = self.nuclei_layer.currentText()
            for role, name in chosen.items():
                if not name or name not in self.viewer.layers:
                    raise InputError(f"choose a {role} layer")
            names = list(chosen.values())
            twice = [n for n in names if names.count(n) > 1]
            if twice:
                raise InputError(f"the same layer '{twice[0]}' is chosen for two roles: each "
                                 "role needs its own layer (channel)")
            layers = [self.viewer.layers[n] for n in names]
            for layer in layers:
                if not isinstance(layer, Image):
                    raise InputError(f"layer '{layer.name}' is not an image layer")
                if layer.rgb:
                    raise InputError(f"layer '{layer.name}' is RGB: split it into one layer "
                                     "per channel first")
            shapes = [tuple(_base_data(layer).shape) for layer in layers]
            if len(set(shapes)) > 1:
                raise InputError("the layers differ in shape: " + ", ".join(
                    f"'{n}' {s}" for n, s in zip(names, shapes)) + "; they must be channels "
                    "of one movie")
            axes = _spatial_axes(names[0], shapes[0], dims)
            stack = _ChannelStack([(_base_data(layer), None, 0) for layer in layers],
                                  shapes[0], has_t="T" in axes)
            reference = layers[0]
            layer_axes = axes
            channel_names = tuple(chosen)
        else:
            name = self.stack_layer.currentText()
            if not name or name not in self.viewer.layers:
                raise InputError("choose a multichannel image layer")
            layer = self.viewer.layers[name]
            if not isinstance(layer, Image):
                raise InputError(f"layer '{name}' is not an image layer")
            data = _base_data(layer)
            shape = tuple(data.shape)
            role = mtrack_meta(layer.metadata).get("role")
            axis = self.channel_axis.value()
            if layer.rgb:
                raise InputError(f"layer '{name}' is RGB: split it into one layer per channel "
                                 "first")
            if role or axis >= len(shape) or len(shape) < 3:
                raise InputError(f"layer '{name}' {shape} holds a single channel"
                                 f"{f' ({role})' if role else ''}: choose separate mito and "
                                 "membrane layers, or a layer with a channel axis")
            n_c = shape[axis]
            if n_c < 2:
                raise InputError(f"layer '{name}' has 1 channel on axis {axis} {shape}: mtrack "
                                 "needs a mito and a membrane channel")
            if n_c > _MAX_CHANNELS:
                raise InputError(f"axis {axis} of layer '{name}' {shape} has {n_c} entries, not "
                                 "channels: set the channel axis")
            mito, membrane = self.mito_channel.value(), self.membrane_channel.value()
            for role_name, ch in (("mito", mito), ("membrane", membrane)):
                if ch >= n_c:
                    raise InputError(f"{role_name} channel {ch} is out of range: layer '{name}' "
                                     f"has {n_c} channels (0-{n_c - 1})")
            if mito == membrane:
                raise InputError(f"mito and membrane are both channel {mito}: each role needs "
                                 "its own channel")
            rest = shape[:axis] + shape[axis + 1:]
            axes = _spatial_axes(name, rest, dims)
            stack = _ChannelStack([(data, axis, mito), (data, axis, membrane)], rest,
                                  has_t="T" in axes)
            reference = layer
            layer_axes = axes[:axis] + "C" + axes[axis:]
            channel_names = ("mito", "membrane")
        movie = movie_from_array(stack, "TC" + axes.replace("T", ""), scale=scale,
                                 frame_interval=self.frame_interval.value(),
                                 channel_names=channel_names)
        return movie, axes, reference, layer_axes

    @staticmethod
    def _grid(reference: Image, layer_axes: str) -> dict[str, Any]:
        """Scale and translate of the reference layer on the axes of one channel."""
        keep = [i for i, a in enumerate(layer_axes) if a != "C"]
        return {"scale": tuple(float(reference.scale[i]) for i in keep),
                "translate": tuple(float(reference.translate[i]) for i in keep)}

    def _run_params(self, movie: Movie) -> Params:
        """Widget parameters with the channel roles of the stacked movie (0, 1 and 2)."""
        params = self.params()
        data = params.model_dump()
        data["input"].update(mito_channel=0, membrane_channel=1,
                             nuclei_channel=2 if movie.shape[1] > 2 else None)
        try:
            return Params.model_validate(data)
        except ValueError as err:  # pydantic's ValidationError is a ValueError
            raise ParamsError(str(err).splitlines()[0]) from None

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self._worker is not None

    def run_current_frame(self) -> bool:
        """Segment the frame shown in the viewer (in a worker); preview Labels layers."""
        if self.running:
            return False
        try:
            movie, axes, reference, layer_axes = self._movie()
            params = self._run_params(movie)
        except (InputError, MovieError, ParamsError) as err:
            self._fail(str(err))
            return False
        position = reference.world_to_data(self.viewer.dims.point)
        t = c = 0
        if "T" in axes:
            t = round(float(position[layer_axes.index("T")]))
            t = min(max(t, 0), movie.shape[0] - 1)
        if "C" in layer_axes:  # the preview shows on the channel being looked at
            c = round(float(position[layer_axes.index("C")]))
        self._job = {"mode": "frame", "t": t, "c": c, "axes": axes, "layer_axes": layer_axes,
                     "reference": reference.name, "scale": tuple(reference.scale),
                     "translate": tuple(reference.translate)}
        self._cancel = threading.Event()
        self._start(_frame_job, movie, t, params, mode="frame",
                    message=f"segmenting frame {t}…")
        return True

    def run_whole_movie(self) -> bool:
        """Detect transfer on the whole movie in a worker; save and show the results."""
        if self.running:
            return False
        try:
            movie, axes, reference, layer_axes = self._movie()
            params = self._run_params(movie)
            out, overwrite = self._output_target()
        except (InputError, MovieError, ParamsError, OutputError) as err:
            self._fail(str(err))
            return False
        self._job = {"mode": "movie", "axes": axes, "ndim": 3 if "Z" in axes else 2,
                     "out": out, "reference": reference.name,
                     **self._grid(reference, layer_axes)}
        self._warn_channel_axis(layer_axes)
        self._cancel = threading.Event()
        self._start(_run_job, movie, params, out, overwrite, self.workers.value(), self._cancel,
                    self._signals.progress.emit, mode="movie",
                    message=f"analysing {movie.shape[0]} frames…")
        return True

    def _warn_channel_axis(self, layer_axes: str) -> None:
        if "C" in layer_axes:
            show_warning("mtrack: the result layers have no channel axis, and napari lines up "
                         "layers by their last axes: to see them over the movie, open its "
                         "channels as separate layers (the mtrack reader does)")

    def _output_target(self) -> tuple[Path, bool]:
        """The results folder to create and whether an (empty) existing one is replaced."""
        text = self.output.text().strip()
        if not text:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = _unique_path(Path(tempfile.gettempdir()) / f"mtrack-{self._safe_name()}-{stamp}")
            return check_output(out, False), False
        out = Path(text).expanduser()
        if out.exists():
            if out.is_dir() and not any(out.iterdir()):
                return check_output(out, True), True  # an empty folder: nothing to lose
            raise OutputError(f"{out}: exists and is not empty; choose a new folder (results "
                              "never overwrite a folder)")
        return check_output(out, False), False

    def _start(self, func: Any, *args: Any, mode: str, message: str) -> None:
        worker = create_worker(func, *args, _start_thread=False)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        self._worker = worker
        self._mode = mode
        self._set_busy(True)
        self.progress.setValue(0)
        self.progress.setRange(0, 100 if mode == "movie" else 0)  # frame: busy indicator
        self._say(message)
        worker.start()

    def cancel(self) -> None:
        """Ask the run in progress to stop; the UI returns to idle when it has."""
        if not self.running:
            return
        self._cancel.set()
        self._say("cancelling…")

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.frame_button, self.movie_button, self.load_button,
                       self.reset_button):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _idle(self) -> None:
        self._worker = None
        self._mode = None
        self._set_busy(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 100)

    def _on_progress(self, done: int, total: int) -> None:
        if self._mode == "movie" and total > 0:
            self.progress.setValue(round(100 * done / total))
            if not self._cancel.is_set():
                self.status.setText(f"analysing: {done}/{total} frames")

    def _on_errored(self, exc: BaseException) -> None:
        # an unexpected bug: napari reports it with its traceback; the widget becomes usable
        self._idle()
        self.progress.setValue(0)
        self.status.setText(f"failed: {type(exc).__name__}: {exc}")

    def _on_returned(self, value: tuple[str, Any]) -> None:
        mode, job = self._mode, self._job
        cancelled = self._cancel.is_set()
        self._idle()
        status, payload = value
        if status == "cancelled" or (cancelled and mode == "frame"):
            self.progress.setValue(0)
            self._say("cancelled", notify=False)
            show_info("mtrack: detection cancelled")
            return
        if status == "error":
            self.progress.setValue(0)
            self._fail(payload)
            return
        if mode == "frame":
            self._show_frame(payload, job)
        else:
            self._show_results(*payload, job)

    def _show_frame(self, result: FrameResult, job: dict) -> None:
        t, axes, layer_axes = job["t"], job["axes"], job["layer_axes"]
        scale, translate = list(job["scale"]), list(job["translate"])
        for axis, index in (("T", t), ("C", job["c"])):  # one frame (and channel) long
            if axis in layer_axes:
                translate[layer_axes.index(axis)] += index * scale[layer_axes.index(axis)]
        suffix = f" (frame {t})" if "T" in axes else " (frame)"
        for attr, label in _PREVIEW.items():
            image = getattr(result, attr)  # (Z, Y, X)
            if "Z" not in axes:
                image = image[0]
            if "T" in axes:
                image = image[None]
            if "C" in layer_axes:
                image = np.expand_dims(image, layer_axes.index("C"))
            self._put_preview(attr, label + suffix, np.asarray(image, np.int32), scale,
                              translate)
        n_cells = len(result.cells)
        n_objects = len(result.objects)
        n_bridges = len(result.bridge_table)
        self.progress.setValue(100)
        self._say(f"frame {t}: {n_cells} recipient cells, {n_objects} donor objects, "
                  f"{n_bridges} bridges", notify=False)

    def _put_preview(self, kind: str, name: str, data: np.ndarray, scale: list, translate: list
                     ) -> None:
        existing = [layer for layer in self.viewer.layers if isinstance(layer, Labels)
                    and mtrack_meta(layer.metadata).get("preview") == kind]
        for layer in existing:
            if layer.ndim == data.ndim:
                layer.data = data
                layer.scale = scale
                layer.translate = translate
                layer.name = name
                return
        for layer in existing:
            self.viewer.layers.remove(layer)
        layer = Labels(data, name=name, scale=scale, translate=translate,
                       metadata={META_KEY: {"preview": kind}},
                       opacity=0.5 if kind == "recipients" else 0.8)
        if kind == "recipients":
            layer.contour = 1
        self.viewer.add_layer(layer)

    def _show_results(self, out: Path, results: Any, job: dict) -> None:
        self.last_output = Path(out)
        self.last_results = results
        self.progress.setValue(100)
        try:
            tuples = results_layers(Path(out), ndim=job["ndim"])
        except (OutputError, MovieError, ParamsError, ValueError, OSError) as err:
            self._fail(f"results saved to {out}, but they cannot be shown: {err}")
            return
        for data, meta, layer_type in tuples:
            meta = dict(meta)
            if len(meta.get("scale", ())) == len(job["scale"]):
                # on the grid of the analysed image layer, whatever its time scale or offset
                meta["scale"], meta["translate"] = job["scale"], job["translate"]
            self.viewer.add_layer(Layer.create(data, meta, layer_type))
        n = len(results.events)
        self._say(f"done: {n} transfer event{'s' * (n != 1)}; results in {out}", notify=True)

    # ------------------------------------------------------------------ messages
    def _say(self, message: str, notify: bool = False) -> None:
        self.status.setStyleSheet("")
        self.status.setText(message)
        if notify:
            show_info(f"mtrack: {message}")

    def _fail(self, message: str) -> None:
        self.status.setStyleSheet("color: #e0605a;")
        self.status.setText(message)
        show_error(f"mtrack: {message}")

    def closeEvent(self, event: Any) -> None:
        self._cancel.set()
        super().closeEvent(event)
