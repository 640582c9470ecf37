"""Read microscopy movies lazily as :class:`Movie` objects, check them, write them.

Supported inputs are TIFF, OME-TIFF and ImageJ hyperstacks with axes T, C, Z, Y, X in
any order (missing axes have length 1). Pixel data stay on disk: ``Movie.data`` is a
zarr array over tifffile's store and :meth:`Movie.frame` reads one time point.
Every problem with an input raises :class:`MovieError` with one line that starts with
the file path.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tifffile
import zarr

__all__ = ["CalibrationWarning", "Movie", "MovieError", "check_roles", "inspect_movie",
           "movie_from_array", "open_movie", "write_movie_tiff"]

CANONICAL_AXES = "TCZYX"
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf2", ".tf8")
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
_LENGTH_UM = {"um": 1.0, "µm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
              "nm": 1e-3, "å": 1e-4, "a": 1e-4, "pm": 1e-6, "mm": 1e3, "cm": 1e4, "m": 1e6}
_TIME_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "µs": 1e-6,
           "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0}
_RESUNIT_UM = {3: 1e4, 4: 1e3, 5: 1.0}  # TIFF ResolutionUnit: centimetre, millimetre, micrometre
_LENGTH_RANGE_UM = (1e-3, 100.0)
_FATAL_LOG = ("corrupt", "invalid page offset", "raised", "truncat")
_DEFAULTS = {"pixel_size": 1.0, "z_step": 1.0, "frame_interval": 1.0}


class MovieError(ValueError):
    """An input movie cannot be used; the message is one line starting with its path."""


class CalibrationWarning(UserWarning):
    """A calibration value was missing from the metadata and a default was assumed."""


def _where(source: Path | str | None) -> str:
    return "<array>" if source is None else str(source)


def _oneline(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _error(source: Path | str | None, what: str) -> MovieError:
    return MovieError(f"{_where(source)}: {' '.join(what.split())}")


@dataclass(frozen=True, eq=False)
class Movie:
    """A lazily read movie; ``data`` keeps the stored axis order given by ``axes``.

    ``shape`` is always canonical ``(T, C, Z, Y, X)``, ``scale`` is ``(z, y, x)`` in µm
    and ``calibration`` says where each value came from: ``"metadata"``,
    ``"override"`` or ``"assumed"``.
    """

    source: Path | None
    data: Any = field(repr=False)
    axes: str
    scale: tuple[float, float, float]
    frame_interval: float
    channel_names: tuple[str, ...]
    calibration: dict[str, str]

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """Canonical ``(T, C, Z, Y, X)`` shape."""
        sizes = dict(zip(self.axes, self.data.shape))
        return tuple(int(sizes.get(a, 1)) for a in CANONICAL_AXES)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        """Native pixel type."""
        return np.dtype(self.data.dtype)

    @property
    def is_3d(self) -> bool:
        """True when the movie has more than one z plane."""
        return self.shape[2] > 1

    def frame(self, t: int) -> np.ndarray:
        """Read time point `t` only, as a new ``(C, Z, Y, X)`` array of native dtype.

        Raises
        ------
        MovieError
            If `t` is out of range or the data cannot be read (e.g. truncated file).
        """
        n = self.shape[0]
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not -n <= t < n:
            raise _error(self.source, f"frame {t!r} is out of range (the movie has {n} frames)")
        t = int(t) % n
        index = tuple(t if a == "T" else slice(None) for a in self.axes)
        try:
            block = np.array(self.data[index], copy=True)
        except Exception as exc:
            raise _error(self.source, f"cannot read frame {t}: {_oneline(exc)}") from exc
        kept = [a for a in self.axes if a != "T"]
        for a in "CZYX":
            if a not in kept:
                block, kept = block[..., np.newaxis], kept + [a]
        return np.ascontiguousarray(block.transpose([kept.index(a) for a in "CZYX"]))

    def describe(self) -> str:
        """Short multi-line summary (axes, shape, dtype, calibration, channels)."""
        t, c, z, y, x = self.shape
        cal = self.calibration
        return "\n".join([
            f"source: {_where(self.source)}",
            f"axes: {self.axes} as stored -> T={t} C={c} Z={z} Y={y} X={x} ({'3D' if self.is_3d else '2D'}+t)",
            f"dtype: {self.dtype}",
            f"pixel size: {self.scale[2]:g} x {self.scale[1]:g} um (x, y; {cal['pixel_size']})",
            f"z step: {self.scale[0]:g} um ({cal['z_step']})",
            f"frame interval: {self.frame_interval:g} s ({cal['frame_interval']})",
            "channels: " + ", ".join(f"{i}={n}" for i, n in enumerate(self.channel_names)),
        ])

    def __repr__(self) -> str:
        return (f"Movie(source={_where(self.source)!r}, axes={self.axes!r}, shape(TCZYX)={self.shape}, "
                f"dtype={self.dtype}, scale={self.scale}, frame_interval={self.frame_interval}, "
                f"channel_names={self.channel_names})")

    def __getstate__(self) -> dict[str, Any]:
        # tifffile's store holds a lock and a file handle: pickle the path, reopen on load
        state = dict(self.__dict__)
        if self.source is not None and isinstance(self.data, zarr.Array) and _is_tiff(self.source):
            state["data"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state["data"] is None:
            state["data"] = _tiff_zarr(Path(state["source"]))
        self.__dict__.update(state)


def _is_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _TIFF_MAGIC
    except OSError:
        return False


def _tiff_zarr(path: Path) -> Any:
    """Lazy zarr array over series 0, level 0 (``aszarr`` renamed ``return_as`` later)."""
    try:
        store = tifffile.imread(str(path), aszarr=True, series=0, level=0)
    except TypeError:
        store = tifffile.imread(str(path), return_as="zarr", series=0, level=0)
    return store if isinstance(store, zarr.Array) else zarr.open(store, mode="r")


def _canonical_axes(source: Path | None, axes: str, shape: tuple[int, ...], given: bool) -> str:
    """Map axes to letters of TCZYX ('S' samples count as C) and validate them."""
    if not isinstance(axes, str):
        raise _error(source, f"axes must be a string such as 'TCZYX', got {axes!r}")
    letters = axes.upper().replace("S", "C")
    hint = ("pass axes=... (e.g. axes='TCYX') or save the movie as an ImageJ hyperstack or OME-TIFF"
            if not given else "use only the letters T, C, Z, Y, X, each once")
    if len(letters) != len(shape):
        raise _error(source, f"axes {axes!r} do not match the {len(shape)} dimensions of shape {shape}")
    if set(letters) - set(CANONICAL_AXES) or len(set(letters)) != len(letters) or not {"Y", "X"} <= set(letters):
        what = "the axes" if given else "the file's axes"
        raise _error(source, f"cannot tell time, channel and z apart: {what} {axes!r} (shape {shape}) "
                             f"are unknown or ambiguous; {hint}")
    return letters


def _check_value(source: Path | None, value: Any, name: str, origin: str, length: bool) -> float:
    unit = "um" if length else "s"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _error(source, f"{name} {value!r} ({origin}) is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise _error(source, f"{name} {value!r} {unit} ({origin}) must be a positive finite number")
    lo, hi = _LENGTH_RANGE_UM
    if length and not lo <= v <= hi:
        raise _error(source, f"{name} {v:g} um ({origin}) is implausible (outside {lo:g}-{hi:g} um); "
                             f"check the metadata or set it explicitly")
    return v


def _calibrate(source: Path | None, shape: tuple[int, ...], meta: dict[str, Any],
               overrides: dict[str, float | None]) -> tuple[tuple[float, float, float], float, dict[str, str]]:
    """Resolve scale and interval: override > metadata > assumed (with a warning if it matters)."""
    t, _, z, _, _ = shape
    needed = {"pixel_size": True, "z_step": z > 1, "frame_interval": t > 1}
    flags = {"pixel_size": "pixel_size_um", "z_step": "z_step_um", "frame_interval": "frame_interval_s"}
    values: dict[str, tuple[float, ...]] = {}
    calibration: dict[str, str] = {}
    for key, flag in flags.items():
        name, length = key.replace("_", " "), key != "frame_interval"
        found = meta.get(key)
        if overrides.get(key) is not None:
            v = _check_value(source, overrides[key], name, f"from {flag}", length)
            values[key], calibration[key] = (v, v), "override"
        elif found is not None and (needed[key] or all(
                math.isfinite(f) and f > 0 for f in found)):
            values[key] = tuple(_check_value(source, f, name, "from metadata", length) for f in found)
            calibration[key] = "metadata"
        else:
            d = _DEFAULTS[key]
            values[key], calibration[key] = (d, d), "assumed"
            if needed[key]:
                why = meta.get("notes", {}).get(key, "not in the metadata")
                warnings.warn(f"{_where(source)}: {name} {why}; assuming {d:g} {'um' if length else 's'} "
                              f"(set it with {flag})", CalibrationWarning, stacklevel=4)
    scale = (values["z_step"][0], values["pixel_size"][0], values["pixel_size"][-1])
    return scale, values["frame_interval"][0], calibration


def _make_movie(source: Path | None, data: Any, axes: str, meta: dict[str, Any],
                overrides: dict[str, float | None]) -> Movie:
    shape = tuple(int(s) for s in data.shape)
    sizes = dict(zip(axes, shape))
    canonical = tuple(sizes.get(a, 1) for a in CANONICAL_AXES)
    if 0 in canonical:
        raise _error(source, f"the image is empty (shape {shape})")
    scale, interval, calibration = _calibrate(source, canonical, meta, overrides)
    names = meta.get("channel_names")
    if names is None or len(names) != canonical[1]:
        names = [f"C{i}" for i in range(canonical[1])]
    return Movie(source, data, axes, scale, interval, tuple(str(n) for n in names), calibration)


def _unit_factor(unit: Any, table: dict[str, float], default: str) -> float | None:
    key = default if unit is None else str(unit).strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    key = key.replace("μ", "µ").replace("Å", "å")
    return table.get(key) if key in table else table.get(key.lower())


def _ome_metadata(xml: str, meta: dict[str, Any]) -> None:
    """Fill `meta` from the first OME Image (PhysicalSize*, TimeIncrement or DeltaT, Channel)."""
    root = ET.fromstring(xml)
    for el in root.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    pixels = root.find("Image/Pixels")
    if pixels is None:
        return
    a = pixels.attrib

    def length(axis: str) -> float | None:
        if f"PhysicalSize{axis}" not in a:
            return None
        factor = _unit_factor(a.get(f"PhysicalSize{axis}Unit"), _LENGTH_UM, "µm")
        if factor is None:
            meta["notes"]["pixel_size" if axis != "Z" else "z_step"] = \
                f"has unknown unit {a.get(f'PhysicalSize{axis}Unit')!r}"
            return None
        return float(a[f"PhysicalSize{axis}"]) * factor

    x, y, z = length("X"), length("Y"), length("Z")
    if x is not None or y is not None:
        meta["pixel_size"] = (y if y is not None else x, x if x is not None else y)
    if z is not None:
        meta["z_step"] = (z,)
    if "TimeIncrement" in a:
        factor = _unit_factor(a.get("TimeIncrementUnit"), _TIME_S, "s")
        if factor is not None:
            meta["frame_interval"] = (float(a["TimeIncrement"]) * factor,)
    else:
        planes = sorted((int(p.get("TheT", 0)), float(p.get("DeltaT")) * (_unit_factor(
            p.get("DeltaTUnit"), _TIME_S, "s") or math.nan)) for p in pixels.iter("Plane")
            if p.get("DeltaT") is not None and p.get("TheC", "0") == "0" and p.get("TheZ", "0") == "0")
        if len(planes) > 1 and planes[-1][0] > planes[0][0]:
            meta["frame_interval"] = ((planes[-1][1] - planes[0][1]) / (planes[-1][0] - planes[0][0]),)
    names = [ch.get("Name") for ch in pixels.findall("Channel")]
    if names and all(names):
        meta["channel_names"] = names


def _imagej_metadata(ij: dict[str, Any], page: Any, n_channels: int, meta: dict[str, Any]) -> None:
    """Fill `meta` from ImageJ metadata (unit, XResolution, spacing, finterval, Labels)."""
    unit = ij.get("unit")
    factor = _unit_factor(unit, _LENGTH_UM, "") if unit not in (None, "", "pixel", "pixels") else None
    if unit not in (None, "", "pixel", "pixels") and factor is None:
        meta["notes"]["pixel_size"] = meta["notes"]["z_step"] = f"has unknown unit {unit!r}"
    if factor is not None:
        res = [page.tags[k].value if k in page.tags else None for k in ("YResolution", "XResolution")]
        sizes = [factor * den / num if num else math.inf for num, den in (r for r in res if r)]
        if sizes:
            meta["pixel_size"] = (sizes[0], sizes[-1])
        if ij.get("spacing") is not None:
            meta["z_step"] = (float(ij["spacing"]) * factor,)
    if ij.get("finterval") is not None:
        tfactor = _unit_factor(ij.get("tunit"), _TIME_S, "s")
        if tfactor is not None:
            meta["frame_interval"] = (float(ij["finterval"]) * tfactor,)
    labels = ij.get("Labels")
    if labels and len(labels) >= n_channels and all(labels[:n_channels]):
        meta["channel_names"] = list(labels[:n_channels])


class _LogCapture(logging.Filter):
    """Collect (and hold back) tifffile log records emitted by this thread."""

    def __init__(self) -> None:
        super().__init__()
        self.thread, self.records = threading.get_ident(), []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        self.records.append(record)
        return False


def _open_tiff(path: Path) -> tuple[Any, str, dict[str, Any]]:
    """Open series 0 of a TIFF lazily; check it is complete; read its calibration."""
    meta: dict[str, Any] = {"notes": {}}
    logger, capture = logging.getLogger("tifffile"), _LogCapture()
    logger.addFilter(capture)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape, size = series.axes, tuple(series.shape), path.stat().st_size
            if series.dataoffset is not None:
                complete = series.dataoffset + series.nbytes <= size
            else:
                pages = list(series.pages)
                complete = all(p is not None for p in pages) and all(
                    o + n <= size for p in pages for o, n in zip(p.dataoffsets, p.databytecounts))
            problems = [" ".join(r.getMessage().split()) for r in capture.records]
            fatal = [m for m in problems if any(k in m.lower() for k in _FATAL_LOG)]
            if fatal or not complete:
                reason = f" ({fatal[0]})" if fatal else ": image data end beyond the end of the file"
                raise _error(path, f"truncated or corrupted TIFF{reason}")
            n_channels = shape[axes.index("C")] if "C" in axes else (shape[axes.index("S")] if "S" in axes else 1)
            try:
                if tif.is_ome and tif.ome_metadata:
                    _ome_metadata(tif.ome_metadata, meta)
                elif tif.is_imagej and tif.imagej_metadata is not None:
                    _imagej_metadata(tif.imagej_metadata, series.keyframe, n_channels, meta)
                else:
                    page = series.keyframe
                    factor = _RESUNIT_UM.get(int(page.tags.valueof("ResolutionUnit", 1)))
                    res = page.tags.valueof("XResolution")
                    if factor and res and tuple(res) != (1, 1):
                        meta["pixel_size"] = (factor * res[1] / res[0] if res[0] else math.inf,) * 2
            except (ET.ParseError, ValueError, TypeError, KeyError, AttributeError) as exc:
                meta["notes"] = dict.fromkeys(_DEFAULTS, f"metadata could not be parsed ({_oneline(exc)})")
        data = _tiff_zarr(path)
    except MovieError:
        raise
    except Exception as exc:
        raise _error(path, f"cannot read TIFF, truncated or corrupted? ({_oneline(exc)})") from exc
    finally:
        logger.removeFilter(capture)
    for record in capture.records:  # benign warnings go on to the usual handlers
        if not any(k in record.getMessage().lower() for k in _FATAL_LOG):
            logger.handle(record)
    if tuple(data.shape) != shape:
        raise _error(path, f"tifffile's zarr view {tuple(data.shape)} differs from the series shape {shape}")
    return data, axes, meta


def open_movie(path: str | os.PathLike, *, pixel_size_um: float | None = None, z_step_um: float | None = None,
               frame_interval_s: float | None = None, axes: str | None = None) -> Movie:
    """Open a TIFF, OME-TIFF or ImageJ hyperstack lazily.

    Parameters
    ----------
    path : str or PathLike
        Movie file. Axes T, C, Z, Y, X may come in any order; missing ones get length 1.
    pixel_size_um, z_step_um, frame_interval_s : float, optional
        Calibration overrides; they win over the file's OME or ImageJ metadata.
    axes : str, optional
        Axes of the stored array (e.g. ``"TCYX"``), for files whose axes are unknown.

    Returns
    -------
    Movie
        Lazy movie; no pixel data is read here.

    Raises
    ------
    MovieError
        Missing, unreadable, truncated or non-TIFF file; unknown axes; nonsense calibration.

    Warns
    -----
    CalibrationWarning
        When a needed calibration value is absent and a default (1 µm, 1 s) is assumed.
    """
    path = Path(path)
    if not path.exists():
        raise _error(path, "file not found")
    if path.is_dir():
        raise _error(path, "is a folder, not a movie file (mtrack reads TIFF, OME-TIFF and ImageJ hyperstacks)")
    try:
        with open(path, "rb") as fh:
            header = fh.read(4)
    except OSError as exc:
        raise _error(path, f"cannot read the file ({_oneline(exc)})") from exc
    if header not in _TIFF_MAGIC:
        if not header:
            raise _error(path, "the file is empty")
        if path.suffix.lower() in TIFF_SUFFIXES:
            raise _error(path, "not an image: the file does not start with a TIFF header (renamed or damaged file?)")
        raise _error(path, f"unsupported format {path.suffix or '(no extension)'!r}: "
                           f"mtrack reads TIFF, OME-TIFF and ImageJ hyperstacks ({', '.join(TIFF_SUFFIXES)})")
    data, file_axes, meta = _open_tiff(path)
    letters = _canonical_axes(path, file_axes if axes is None else axes, tuple(data.shape), axes is not None)
    overrides = {"pixel_size": pixel_size_um, "z_step": z_step_um, "frame_interval": frame_interval_s}
    return _make_movie(path, data, letters, meta, overrides)


def movie_from_array(array: Any, axes: str = "TCZYX", *, scale: Sequence[float] = (1.0, 1.0, 1.0),
                     frame_interval: float = 1.0, channel_names: Sequence[str] | None = None) -> Movie:
    """Wrap an in-memory (or any lazy, indexable) array as a :class:`Movie`.

    Parameters
    ----------
    array : array-like
        Image with the axes given by `axes` (letters of TCZYX, 'S' counts as C, any order).
    axes : str
        Axes of `array`; missing axes get length 1.
    scale : sequence of 3 floats
        ``(z, y, x)`` voxel size in µm.
    frame_interval : float
        Seconds between frames.
    channel_names : sequence of str, optional
        One name per channel; default ``C0, C1, ...``.

    Returns
    -------
    Movie
        With ``source=None``; all calibration is recorded as ``"override"``.
    """
    if not hasattr(array, "shape") or not hasattr(array, "__getitem__"):
        array = np.asarray(array)
    letters = _canonical_axes(None, axes, tuple(array.shape), True)
    if len(tuple(scale)) != 3:
        raise _error(None, f"scale must be (z, y, x), got {scale!r}")
    z, y, x = scale
    meta: dict[str, Any] = {"pixel_size": (y, x), "z_step": (z,), "frame_interval": (frame_interval,), "notes": {}}
    movie = _make_movie(None, array, letters, meta, {})
    if channel_names is not None:
        if len(channel_names) != movie.shape[1]:
            raise _error(None, f"{len(channel_names)} channel names for {movie.shape[1]} channels")
        object.__setattr__(movie, "channel_names", tuple(str(n) for n in channel_names))
    object.__setattr__(movie, "calibration", dict.fromkeys(_DEFAULTS, "override"))
    return movie


def check_roles(movie: Movie, mito_channel: int, membrane_channel: int, nuclei_channel: int | None = None) -> None:
    """Check that the channel roles exist and are distinct channels.

    Raises
    ------
    MovieError
        Single-channel movie, channel out of range, or two roles on one channel.
    """
    n = movie.shape[1]
    if n < 2:
        raise _error(movie.source, "needs two channels: donor mitochondria and recipient membrane; "
                                   "this movie has 1 channel")
    roles = {"mito": mito_channel, "membrane": membrane_channel}
    if nuclei_channel is not None:
        roles["nuclei"] = nuclei_channel
    for role, ch in roles.items():
        if isinstance(ch, bool) or not isinstance(ch, (int, np.integer)) or not 0 <= ch < n:
            raise _error(movie.source, f"{role} channel {ch!r} is out of range: the movie has {n} channels "
                                       f"(0-{n - 1}: {', '.join(movie.channel_names)})")
    if len(set(int(c) for c in roles.values())) != len(roles):
        raise _error(movie.source, "channel roles must be different channels, got "
                                   + ", ".join(f"{r}={c}" for r, c in roles.items()))


def inspect_movie(movie: Movie) -> list[str]:
    """Scan the movie frame by frame and list problems, one line each ([] if none).

    Finds NaN/inf values, an all-zero or constant movie, constant (e.g. empty) channels
    and frames where a channel is constant (dropped frames).
    """
    where = _where(movie.source)
    n_t, n_c = movie.shape[:2]
    lo, hi = np.full(n_c, np.inf), np.full(n_c, -np.inf)
    nonfinite: list[int] = []
    flat: dict[int, list[int]] = {c: [] for c in range(n_c)}
    for t in range(n_t):
        f = movie.frame(t).reshape(n_c, -1)
        if f.dtype.kind in "fc":
            finite = np.isfinite(f)
            if not finite.all():
                nonfinite.append(t)
            f = [row[ok] for row, ok in zip(f, finite)]
        for c, row in enumerate(f):
            if row.size:
                mn, mx = float(row.min()), float(row.max())
                lo[c], hi[c] = min(lo[c], mn), max(hi[c], mx)
                if mn == mx:
                    flat[c].append(t)

    def frames(ts: list[int]) -> str:
        return ", ".join(map(str, ts[:10])) + (f" and {len(ts) - 10} more" if len(ts) > 10 else "")

    problems = []
    if nonfinite:
        problems.append(f"{where}: NaN or infinite values in frame(s) {frames(nonfinite)}")
    if np.all(lo == 0) and np.all(hi == 0):
        return problems + [f"{where}: the movie is all zero"]
    if np.all(lo == lo[0]) and np.all(hi == lo[0]):
        return problems + [f"{where}: the movie is constant (every pixel is {lo[0]:g})"]
    for c in range(n_c):
        name = movie.channel_names[c]
        if lo[c] == hi[c] or not np.isfinite(lo[c]):
            problems.append(f"{where}: channel {c} ({name}) is constant ({lo[c]:g}): empty channel?")
        elif flat[c]:
            problems.append(f"{where}: channel {c} ({name}) is constant in frame(s) {frames(flat[c])}")
    return problems


def _imagej_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    if dtype.kind == "f" and dtype != np.float32:
        return np.dtype(np.float32)
    if dtype.kind in "iu" and dtype not in (np.uint8, np.uint16, np.int16):
        return np.dtype(np.uint16)
    return dtype


def write_movie_tiff(path: str | os.PathLike, image: Any, *, scale: Sequence[float], frame_interval: float,
                     channel_names: Sequence[str]) -> None:
    """Write a ``(T, C, Z, Y, X)`` image as an uncompressed ImageJ hyperstack, atomically.

    Parameters
    ----------
    path : str or PathLike
        Output file; written under a temporary name in the same folder, then renamed.
    image : array-like
        ``(T, C, Z, Y, X)``; written plane by plane (a lazy array stays lazy).
        uint8, uint16, int16 and float32 are kept; bool becomes uint8, other floats
        float32, other integers uint16 (values outside 0-65535 raise).
    scale : sequence of 3 floats
        ``(z, y, x)`` voxel size in µm.
    frame_interval : float
        Seconds between frames.
    channel_names : sequence of str
        One name per channel (stored as ImageJ slice labels).
    """
    path = Path(path)
    shape = tuple(int(s) for s in image.shape)
    if len(shape) != 5:
        raise _error(path, f"expected a (T, C, Z, Y, X) image, got shape {shape}")
    n_t, n_c, n_z, n_y, n_x = shape
    names = [str(n) for n in channel_names]
    if len(names) != n_c:
        raise _error(path, f"{len(names)} channel names for {n_c} channels")
    z, y, x = (_check_value(path, v, "scale", "argument", True) for v in scale)
    interval = _check_value(path, frame_interval, "frame interval", "argument", False)
    dtype = _imagej_dtype(np.dtype(image.dtype))

    def planes():
        for t in range(n_t):
            for k in range(n_z):
                for c in range(n_c):
                    plane = np.asarray(image[t, c, k])
                    if plane.dtype.kind in "iu" and dtype.kind in "iu" and plane.size and (
                            plane.min() < np.iinfo(dtype).min or plane.max() > np.iinfo(dtype).max):
                        raise _error(path, f"values of frame {t} channel {c} do not fit in {dtype} "
                                           f"(ImageJ TIFF holds uint8, uint16, int16 or float32)")
                    yield plane.astype(dtype, copy=False)

    metadata = {"axes": "TZCYX", "spacing": z, "unit": "um", "finterval": interval, "Labels": names * (n_t * n_z)}
    if n_c > 1:
        metadata["mode"] = "composite"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tifffile.imwrite(tmp, planes(), shape=(n_t, n_z, n_c, n_y, n_x), dtype=dtype, imagej=True,
                         resolution=(1.0 / x, 1.0 / y), metadata=metadata, compression=None)
        os.replace(tmp, path)
    except MovieError:
        raise
    except Exception as exc:
        raise _error(path, f"cannot write the movie ({_oneline(exc)})") from exc
    finally:
        tmp.unlink(missing_ok=True)
