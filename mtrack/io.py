"""Read movies lazily as :class:`Movie` objects, check them, and write them.

Inputs are TIFF, OME-TIFF and ImageJ hyperstacks, and OME-Zarr (NGFF 0.4 / 0.5) folders,
with axes T, C, Z, Y, X in any order (missing axes have length 1). Pixels stay on disk:
``Movie.data`` is a zarr array (over tifffile's store for TIFF), and :meth:`Movie.frame`
reads one time point. Every problem with an input raises :class:`MovieError` whose message
is one line starting with the file path. OME-Zarr reading and writing live in
:mod:`mtrack.omezarr`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
import warnings
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import tifffile
import zarr

__all__ = ["CalibrationWarning", "Movie", "MovieError", "check_roles", "frame_ranges",
           "inspect_movie", "movie_from_array", "movie_problems", "open_movie",
           "write_movie_tiff"]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf2", ".tf8")
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
_LENGTH_UM = {"um": 1.0, "µm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
              "nm": 1e-3, "å": 1e-4, "pm": 1e-6, "mm": 1e3, "cm": 1e4, "m": 1e6,
              "nanometer": 1e-3, "angstrom": 1e-4, "picometer": 1e-6, "millimeter": 1e3,
              "centimeter": 1e4, "meter": 1e6}  # long names: NGFF (UDUNITS-2) axis units
_TIME_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "µs": 1e-6,
           "us": 1e-6, "min": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
           "millisecond": 1e-3, "microsecond": 1e-6, "minute": 60.0}
_LENGTH_RANGE_UM = (1e-3, 100.0)
_FATAL_LOG = ("corrupt", "invalid page offset", "truncat", "raised tifffileerror")
_DEFAULTS = {"pixel_size": 1.0, "z_step": 1.0, "frame_interval": 1.0}
_FLAGS = {"pixel_size": "pixel_size_um", "z_step": "z_step_um",
          "frame_interval": "frame_interval_s"}


class MovieError(ValueError):
    """An input movie cannot be used; the message is one line starting with its path."""


class CalibrationWarning(UserWarning):
    """A calibration value was missing from the metadata and a default was assumed."""


def _where(source: Path | None) -> str:
    return "<array>" if source is None else str(source)


def _oneline(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _error(source: Path | None, what: str) -> MovieError:
    return MovieError(f"{_where(source)}: {' '.join(what.split())}")


@dataclass(frozen=True, eq=False)
class Movie:
    """A lazily read movie; ``data`` keeps the stored axis order named by ``axes``.

    ``shape`` is canonical ``(T, C, Z, Y, X)``, ``scale`` is ``(z, y, x)`` in µm,
    ``frame_interval`` is in s, and ``calibration`` says where each value came from
    (``"metadata"``, ``"override"`` or ``"assumed"``).
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
        return tuple(int(sizes.get(a, 1)) for a in "TCZYX")  # type: ignore[return-value]

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
            If `t` is out of range or the data cannot be read (e.g. a truncated file).
        """
        n = self.shape[0]
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not -n <= t < n:
            raise _error(self.source, f"frame {t!r} is out of range (the movie has {n} frames)")
        t = int(t) % n
        try:
            block = np.asarray(self.data[tuple(t if a == "T" else slice(None) for a in self.axes)])
        except Exception as exc:
            raise _error(self.source, f"cannot read frame {t}: {_oneline(exc)}") from exc
        if isinstance(self.data, np.ndarray):
            block = block.copy()  # never hand out a view of the caller's array
        kept = [a for a in self.axes if a != "T"]
        for a in "CZYX":
            if a not in kept:
                block, kept = block[..., np.newaxis], kept + [a]
        return np.ascontiguousarray(block.transpose([kept.index(a) for a in "CZYX"]))

    def describe(self) -> str:
        """Return a short multi-line summary: axes, shape, dtype, calibration, channels."""
        t, c, z, y, x = self.shape
        cal = self.calibration
        return "\n".join([
            f"source: {_where(self.source)}",
            (f"axes: {self.axes} (stored) -> T={t} C={c} Z={z} Y={y} X={x} "
             f"({'3D' if self.is_3d else '2D'}, {t} frame{'s' * (t > 1)})"),
            f"dtype: {self.dtype}",
            f"pixel size: {self.scale[1]:g} x {self.scale[2]:g} um (y, x; {cal['pixel_size']})",
            f"z step: {self.scale[0]:g} um ({cal['z_step']})",
            f"frame interval: {self.frame_interval:g} s ({cal['frame_interval']})",
            "channels: " + ", ".join(f"{i}={n}" for i, n in enumerate(self.channel_names)),
        ])

    def __repr__(self) -> str:
        return (f"Movie(source={_where(self.source)!r}, axes={self.axes!r}, "
                f"shape_tczyx={self.shape}, dtype={self.dtype}, scale={self.scale}, "
                f"frame_interval={self.frame_interval}, channel_names={self.channel_names})")

    def close(self) -> None:
        """Close the file behind a file-backed movie (reading again reopens it)."""
        close = getattr(getattr(self.data, "store", None), "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # tifffile's store holds a lock and a file handle: pickle the path, reopen on load
        state = dict(self.__dict__)
        if type(getattr(self.data, "store", None)).__module__.startswith("tifffile"):
            state["data"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state["data"] is None:
            state["data"] = _tiff_zarr(Path(state["source"]))
        self.__dict__.update(state)


def _tiff_zarr(path: Path) -> Any:
    """Open series 0, level 0 as a zarr array (``aszarr`` is ``return_as`` in newer tifffile)."""
    try:
        store = tifffile.imread(str(path), aszarr=True, series=0, level=0)
    except TypeError:
        store = tifffile.imread(str(path), return_as="zarr", series=0, level=0)
    if isinstance(store, zarr.Array):
        return store
    array = zarr.open(store, mode="r")
    weakref.finalize(array, store.close)  # close the file when the movie is dropped
    return array


def _canonical_axes(source: Path | None, axes: Any, shape: tuple[int, ...], given: bool) -> str:
    """Map axes to letters of TCZYX ('S' samples count as C) and validate them."""
    if not isinstance(axes, str):
        raise _error(source, f"axes must be a string such as 'TCZYX', got {axes!r}")
    letters = axes.upper().replace("S", "C")
    if len(letters) != len(shape):
        raise _error(source, f"axes {axes!r} do not match the {len(shape)} dimensions of {shape}")
    unique = len(set(letters)) == len(letters)
    if set(letters) - set("TCZYX") or not unique or not {"Y", "X"} <= set(letters):
        if given:
            raise _error(source, f"axes {axes!r} must use the letters T, C, Z, Y, X (each at most "
                                 "once, Y and X required)")
        raise _error(source, f"unknown or ambiguous axes {axes!r} (shape {shape}): cannot tell "
                             "time, channels and z apart; pass axes= (e.g. axes='TCYX') or save "
                             "the movie as an ImageJ hyperstack or OME-TIFF")
    return letters


def _check_value(source: Path | None, value: Any, name: str, origin: str, length: bool) -> float:
    """Return `value` as a float, or raise MovieError if it is not a sane calibration."""
    unit = "um" if length else "s"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _error(source, f"{name} {value!r} ({origin}) is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise _error(source, f"{name} {v!r} {unit} ({origin}) must be a positive finite number")
    lo, hi = _LENGTH_RANGE_UM
    if length and not lo <= v <= hi:
        raise _error(source, f"{name} {v:g} um ({origin}) is absurd (outside {lo:g}-{hi:g} um); "
                             "check the metadata or set it explicitly")
    return v


def _calibrate(source: Path | None, shape: tuple[int, ...], meta: dict[str, Any],
               overrides: dict[str, Any]) -> tuple[dict[str, tuple[float, ...]], dict[str, str]]:
    """Resolve each calibration value: override > metadata > assumed (warn if it matters)."""
    needed = {"pixel_size": True, "z_step": shape[2] > 1, "frame_interval": shape[0] > 1}
    values, calibration = {}, {}
    for key, flag in _FLAGS.items():
        name, length = key.replace("_", " "), key != "frame_interval"
        given, found = overrides.get(key), meta.get(key)
        if given is not None:
            given = given if isinstance(given, tuple) else (given,)
            values[key] = tuple(_check_value(source, v, name, f"from {flag}", length)
                                for v in given)
            calibration[key] = "override"
            continue
        if found is not None:
            try:
                values[key] = tuple(_check_value(source, v, name, "from metadata", length)
                                    for v in found)
                calibration[key] = "metadata"
                continue
            except MovieError:
                if needed[key]:
                    raise  # nonsense that matters; irrelevant values (z of a 2D movie) are ignored
        values[key], calibration[key] = (_DEFAULTS[key],), "assumed"
        if needed[key]:
            why = meta.get("notes", {}).get(key, "is not in the metadata")
            warnings.warn(f"{_where(source)}: {name} {why}; assuming {_DEFAULTS[key]:g} "
                          f"{'um' if length else 's'} (set it with --{key.replace('_', '-')} "
                          f"or input.{flag})",
                          CalibrationWarning, stacklevel=4)
    return values, calibration


def _make_movie(source: Path | None, data: Any, axes: str, meta: dict[str, Any],
                overrides: dict[str, Any]) -> Movie:
    sizes = dict(zip(axes, (int(s) for s in data.shape)))
    shape = tuple(sizes.get(a, 1) for a in "TCZYX")
    if 0 in shape:
        raise _error(source, f"the image is empty (shape {tuple(data.shape)})")
    values, calibration = _calibrate(source, shape, meta, overrides)
    names = meta.get("channel_names")
    if names is None or len(names) != shape[1]:
        names = [f"C{i}" for i in range(shape[1])]
    scale = (values["z_step"][0], values["pixel_size"][0], values["pixel_size"][-1])
    return Movie(source, data, axes, scale, values["frame_interval"][0],
                 tuple(str(n) for n in names), calibration)


def _unit_factor(unit: Any, table: dict[str, float]) -> float | None:
    """µm or s per `unit`, or None if the unit is not understood."""
    name = str(unit).strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ").replace("μ", "µ")
    return table.get(name, table.get(name.lower()))


def _put(meta: dict[str, Any], key: str, values: Sequence[Any], unit: Any,
         table: dict[str, float]) -> None:
    """Store `values` converted to µm or s, or a note that the unit is not understood."""
    factor = _unit_factor(unit, table)
    if factor is None:
        meta["notes"][key] = f"has an unknown unit {unit!r}"
    else:
        meta[key] = tuple(float(v) * factor for v in values)


def _ome_metadata(xml: str, meta: dict[str, Any]) -> None:
    """Fill `meta` from the first OME Image: PhysicalSize*, TimeIncrement or DeltaT, Channels."""
    root = ET.fromstring(xml)
    for el in root.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    pixels = root.find("Image/Pixels")
    if pixels is None:
        return
    a = pixels.attrib
    size = {ax: a.get(f"PhysicalSize{ax}") for ax in "XYZ"}
    unit = {ax: a.get(f"PhysicalSize{ax}Unit", "µm") for ax in "XYZ"}
    if size["X"] or size["Y"]:
        _put(meta, "pixel_size", (size["Y"] or size["X"], size["X"] or size["Y"]),
             unit["X" if size["X"] else "Y"], _LENGTH_UM)
    if size["Z"]:
        _put(meta, "z_step", (size["Z"],), unit["Z"], _LENGTH_UM)
    if "TimeIncrement" in a:
        _put(meta, "frame_interval", (a["TimeIncrement"],), a.get("TimeIncrementUnit", "s"),
             _TIME_S)
    else:  # mean DeltaT step between the first and last time points (plane C=0, Z=0)
        stamps = sorted((int(p.get("TheT", 0)), p.get("DeltaT"), p.get("DeltaTUnit", "s"))
                        for p in pixels.iter("Plane") if p.get("DeltaT") is not None
                        and p.get("TheC", "0") == "0" and p.get("TheZ", "0") == "0")
        if len(stamps) > 1 and stamps[-1][0] > stamps[0][0]:
            (t0, s0, u0), (t1, s1, _) = stamps[0], stamps[-1]
            _put(meta, "frame_interval", ((float(s1) - float(s0)) / (t1 - t0),), u0, _TIME_S)
    names = [ch.get("Name") for ch in pixels.findall("Channel")]
    if names and all(names):
        meta["channel_names"] = names


def _imagej_metadata(ij: dict[str, Any], page: Any, n_channels: int, meta: dict[str, Any]) -> None:
    """Fill `meta` from ImageJ metadata: unit with X/YResolution, spacing, finterval, Labels."""
    unit = ij.get("unit")
    res = [page.tags.valueof(k) for k in ("YResolution", "XResolution")]
    if unit not in (None, "", "pixel", "pixels") and all(res):  # else uncalibrated
        _put(meta, "pixel_size", [r[1] / r[0] if r[0] else math.inf for r in res], unit, _LENGTH_UM)
        if ij.get("spacing") is not None:
            _put(meta, "z_step", (ij["spacing"],), unit, _LENGTH_UM)
    if ij.get("finterval") is not None:
        _put(meta, "frame_interval", (ij["finterval"],), ij.get("tunit", "s"), _TIME_S)
    labels = ij.get("Labels")
    if labels and len(labels) >= n_channels and all(labels[:n_channels]):
        meta["channel_names"] = list(labels[:n_channels])


def _open_tiff(path: Path) -> tuple[Any, str, dict[str, Any]]:
    """Open series 0 of a TIFF lazily, check that it is complete, read its metadata."""
    meta: dict[str, Any] = {"notes": {}}
    records: list[logging.LogRecord] = []
    me, logger = threading.get_ident(), logging.getLogger("tifffile")

    def hold(record: logging.LogRecord) -> bool:  # hold back tifffile's complaints, keep them
        if record.thread == me:
            records.append(record)
        return record.thread != me

    logger.addFilter(hold)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape, size = series.axes, tuple(series.shape), path.stat().st_size
            len(tif.pages)  # walk the whole IFD chain: a cut tail shows up in the log
            if series.dataoffset is not None:
                complete = series.dataoffset + series.nbytes <= size
            else:
                pages = list(series.pages)
                complete = all(p is not None for p in pages) and all(
                    o + n <= size for p in pages for o, n in zip(p.dataoffsets, p.databytecounts))
            fatal = [m for m in (" ".join(r.getMessage().split()) for r in records)
                     if any(k in m.lower() for k in _FATAL_LOG)]
            if fatal or not complete:
                why = fatal[0] if fatal else "image data missing or beyond the end of the file"
                raise _error(path, f"truncated or corrupted TIFF: {why}")
            n_channels = dict(zip(axes.replace("S", "C"), shape)).get("C", 1)
            try:
                if tif.is_ome and tif.ome_metadata:
                    _ome_metadata(tif.ome_metadata, meta)
                elif tif.is_imagej and tif.imagej_metadata is not None:
                    _imagej_metadata(tif.imagej_metadata, series.keyframe, n_channels, meta)
            except (ET.ParseError, ValueError, TypeError, KeyError) as exc:
                meta = {"notes": dict.fromkeys(_DEFAULTS, f"is unreadable ({_oneline(exc)})")}
        data = _tiff_zarr(path)
    except MovieError:
        raise
    except Exception as exc:
        raise _error(path, f"cannot read TIFF, truncated or corrupted? ({_oneline(exc)})") from exc
    finally:
        logger.removeFilter(hold)
    if tuple(data.shape) != shape:
        raise _error(path, f"zarr view {tuple(data.shape)} differs from the TIFF series {shape}")
    return data, axes, meta


def open_movie(path: str | os.PathLike, *, pixel_size_um: float | None = None,
               z_step_um: float | None = None, frame_interval_s: float | None = None,
               axes: str | None = None) -> Movie:
    """Open a TIFF, OME-TIFF, ImageJ hyperstack or OME-Zarr lazily.

    Parameters
    ----------
    path : str or PathLike
        Movie file, or OME-Zarr folder (NGFF 0.4 in zarr v2, NGFF 0.5 in zarr v3; its
        highest resolution is read, with scale, units and ``omero`` channel labels), or a
        plain zarr array folder together with `axes`. Axes T, C, Z, Y, X may come in any
        order; missing ones get length 1.
    pixel_size_um, z_step_um, frame_interval_s : float, optional
        Calibration overrides; they win over the file's OME, ImageJ or NGFF metadata.
    axes : str, optional
        Axes of the stored array (e.g. ``"TCYX"``) for files whose axes are unknown.

    Returns
    -------
    Movie
        A lazy movie; no pixel data are read here.

    Raises
    ------
    MovieError
        Missing, unreadable, truncated or unsupported file or folder; unknown axes; nonsense
        calibration.

    Warns
    -----
    CalibrationWarning
        When a needed calibration value is absent and a default (1 µm, 1 s) is assumed.
    """
    path = Path(path)
    overrides = {"pixel_size": pixel_size_um, "z_step": z_step_um,
                 "frame_interval": frame_interval_s}
    if not path.exists():
        raise _error(path, "folder not found" if path.suffix.lower() == ".zarr" else "file not found")
    if path.is_dir():
        from .omezarr import is_zarr, open_zarr

        if not is_zarr(path):
            raise _error(path, "is a folder, not a movie file or an OME-Zarr folder (no .zattrs, "
                               ".zgroup or zarr.json in it)")
        data, letters, meta = open_zarr(path, axes)
        return _make_movie(path, data, letters, meta, overrides)
    try:
        with open(path, "rb") as fh:
            header = fh.read(4)
    except OSError as exc:
        raise _error(path, f"cannot read the file ({_oneline(exc)})") from exc
    if header not in _TIFF_MAGIC:
        if not header:
            raise _error(path, "the file is empty")
        if path.suffix.lower() in TIFF_SUFFIXES:
            raise _error(path, "not an image: no TIFF header (a renamed or damaged file?)")
        raise _error(path, f"unsupported format {path.suffix or '(no extension)'!r}: mtrack reads "
                           f"TIFF, OME-TIFF and ImageJ hyperstacks ({', '.join(TIFF_SUFFIXES)}) "
                           "and OME-Zarr folders (.zarr)")
    data, file_axes, meta = _open_tiff(path)
    letters = _canonical_axes(path, file_axes if axes is None else axes, tuple(data.shape),
                              axes is not None)
    return _make_movie(path, data, letters, meta, overrides)


def movie_from_array(array: Any, axes: str = "TCZYX", *, scale: Sequence[float] = (1.0, 1.0, 1.0),
                     frame_interval: float = 1.0,
                     channel_names: Sequence[str] | None = None) -> Movie:
    """Wrap an in-memory (or lazy, indexable) array as a :class:`Movie`.

    Parameters
    ----------
    array : array-like
        Image whose axes are named by `axes`.
    axes : str
        Letters of TCZYX in any order ('S' counts as C); missing axes get length 1.
    scale : sequence of 3 floats
        ``(z, y, x)`` voxel size in µm.
    frame_interval : float
        Seconds between frames.
    channel_names : sequence of str, optional
        One name per channel; default ``C0, C1, ...``.

    Returns
    -------
    Movie
        With ``source=None``; calibration is recorded as ``"override"``.
    """
    if not (hasattr(array, "shape") and hasattr(array, "dtype") and hasattr(array, "__getitem__")):
        array = np.asarray(array)
    letters = _canonical_axes(None, axes, tuple(array.shape), True)
    scale = tuple(scale)
    if len(scale) != 3:
        raise _error(None, f"scale must be (z, y, x) in um, got {scale!r}")
    n_c = dict(zip(letters, array.shape)).get("C", 1)
    if channel_names is not None and len(channel_names) != n_c:
        raise _error(None, f"{len(channel_names)} channel names given for {n_c} channels")
    overrides = {"pixel_size": scale[1:], "z_step": scale[0], "frame_interval": frame_interval}
    return _make_movie(None, array, letters, {"channel_names": channel_names}, overrides)


def check_roles(movie: Movie, mito_channel: int, membrane_channel: int,
                nuclei_channel: int | None = None) -> None:
    """Check that the channel roles exist and are distinct channels.

    Raises
    ------
    MovieError
        For a single-channel movie, a channel out of range, or two roles on one channel.
    """
    n = movie.shape[1]
    if n < 2:
        raise _error(movie.source, "needs two channels: donor mitochondria and recipient "
                                   "membrane; this movie has 1 channel")
    roles = {"mito": mito_channel, "membrane": membrane_channel, "nuclei": nuclei_channel}
    roles = {r: c for r, c in roles.items() if c is not None or r != "nuclei"}
    for role, ch in roles.items():
        if isinstance(ch, bool) or not isinstance(ch, (int, np.integer)) or not 0 <= ch < n:
            raise _error(movie.source, f"{role} channel {ch!r} is out of range: the movie has {n} "
                                       f"channels (0-{n - 1}: {', '.join(movie.channel_names)})")
    if len({int(c) for c in roles.values()}) != len(roles):
        raise _error(movie.source, "channel roles must be different channels, got "
                                   + ", ".join(f"{r}={c}" for r, c in roles.items()))


def frame_ranges(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-channel finite minimum and maximum of one ``(C, Z, Y, X)`` frame.

    Returns ``(lo, hi, nonfinite)``: arrays of length C (``inf``/``-inf`` for a channel
    with no finite value) and whether the frame holds NaN or infinite values. The
    pipeline gathers these per frame so that :func:`movie_problems` needs no extra pass.
    """
    rows = list(np.asarray(frame).reshape(frame.shape[0], -1))
    nonfinite = rows[0].dtype.kind in "fc" and not all(np.isfinite(r).all() for r in rows)
    if nonfinite:
        rows = [r[np.isfinite(r)] for r in rows]
    lo = np.array([float(r.min()) if r.size else np.inf for r in rows])
    hi = np.array([float(r.max()) if r.size else -np.inf for r in rows])
    return lo, hi, bool(nonfinite)


def movie_problems(movie: Movie, ranges: Sequence[tuple[np.ndarray, np.ndarray, bool]]
                   ) -> list[str]:
    """List a movie's pixel-data problems from its per-frame :func:`frame_ranges`."""
    where = _where(movie.source)
    lo = np.min([r[0] for r in ranges], axis=0)
    hi = np.max([r[1] for r in ranges], axis=0)
    nonfinite = [t for t, r in enumerate(ranges) if r[2]]
    flat = [[t for t, r in enumerate(ranges) if r[0][c] == r[1][c]] for c in range(len(lo))]

    def frames(ts: list[int]) -> str:
        return ", ".join(map(str, ts[:10])) + (f" and {len(ts) - 10} more" if len(ts) > 10 else "")

    problems = []
    if nonfinite:
        problems.append(f"{where}: NaN or infinite values in frame(s) {frames(nonfinite)}")
    if np.all(lo == 0) and np.all(hi == 0):
        return problems + [f"{where}: the movie is all zero"]
    if np.all(lo == lo[0]) and np.all(hi == lo[0]):
        return problems + [f"{where}: the movie is constant (every pixel is {lo[0]:g})"]
    for c, name in enumerate(movie.channel_names):
        if not np.isfinite(lo[c]):
            problems.append(f"{where}: channel {c} ({name}) has no finite values")
        elif lo[c] == hi[c]:
            problems.append(f"{where}: channel {c} ({name}) is constant ({lo[c]:g}): "
                            "empty channel?")
        elif flat[c]:
            problems.append(f"{where}: channel {c} ({name}) is constant in frame(s) "
                            f"{frames(flat[c])}")
    return problems


def inspect_movie(movie: Movie) -> list[str]:
    """Scan a movie frame by frame and list its problems, one line each.

    Parameters
    ----------
    movie : Movie
        The movie; one frame at a time is read.

    Returns
    -------
    list of str
        NaN/inf values (with frames), an all-zero or constant movie, constant (empty)
        channels, frames in which a channel is constant (dropped frames); [] if none.
    """
    return movie_problems(movie, [frame_ranges(movie.frame(t)) for t in range(movie.shape[0])])


def write_movie_tiff(path: str | os.PathLike, image: Any, *, scale: Sequence[float],
                     frame_interval: float, channel_names: Sequence[str],
                     compress: bool = False) -> None:
    """Write a ``(T, C, Z, Y, X)`` image as an ImageJ hyperstack, atomically.

    Uncompressed by default (cheapest to read lazily); ``compress=True`` writes each
    plane zlib-compressed (Fiji and tifffile read it; used for the bundled samples).

    Parameters
    ----------
    path : str or PathLike
        Output file; written under a temporary name in the same folder, then renamed.
    image : array-like
        ``(T, C, Z, Y, X)`` image, written plane by plane (a lazy array stays lazy).
        uint8, uint16, int16 and float32 are kept; bool becomes uint8, other floats
        float32, other integers uint16 (values outside 0-65535 raise MovieError).
    scale : sequence of 3 floats
        ``(z, y, x)`` voxel size in µm.
    frame_interval : float
        Seconds between frames.
    channel_names : sequence of str
        One name per channel, stored as ImageJ slice labels.
    """
    path = Path(path)
    shape = tuple(int(s) for s in image.shape)
    if len(shape) != 5 or len(tuple(scale)) != 3 or len(channel_names) != (shape + (0, 0))[1]:
        raise _error(path, "expected a (T, C, Z, Y, X) image, a (z, y, x) scale and one name per "
                           f"channel, got shape {shape}, scale {scale!r}, names {channel_names!r}")
    n_t, n_c, n_z, n_y, n_x = shape
    z, y, x = (_check_value(path, v, "scale", "argument", True) for v in scale)
    interval = _check_value(path, frame_interval, "frame interval", "argument", False)
    kind, dtype = np.dtype(image.dtype).kind, np.dtype(image.dtype)
    if dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        dtype = np.dtype({"b": np.uint8, "f": np.float32}.get(kind, np.uint16))

    def planes():
        for t in range(n_t):
            for k in range(n_z):
                for c in range(n_c):
                    plane = np.asarray(image[t, c, k])
                    if plane.dtype.kind in "iu" and plane.size and dtype.kind in "iu" and (
                            plane.min() < np.iinfo(dtype).min or plane.max() > np.iinfo(dtype).max):
                        raise _error(path, f"values in frame {t}, channel {c} do not fit {dtype} "
                                           "(ImageJ TIFF holds uint8, uint16, int16 or float32)")
                    yield plane.astype(dtype, copy=False)

    metadata = {"axes": "TZCYX", "spacing": z, "unit": "um", "finterval": interval,
                "Labels": [str(n) for n in channel_names] * (n_t * n_z)}
    if n_c > 1:
        metadata["mode"] = "composite"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tifffile.imwrite(tmp, planes(), shape=(n_t, n_z, n_c, n_y, n_x), dtype=dtype, imagej=True,
                         resolution=(1.0 / x, 1.0 / y), metadata=metadata,
                         compression="zlib" if compress else None)
        os.replace(tmp, path)
    except MovieError:
        raise
    except Exception as exc:
        raise _error(path, f"cannot write the movie ({_oneline(exc)})") from exc
    finally:
        tmp.unlink(missing_ok=True)
