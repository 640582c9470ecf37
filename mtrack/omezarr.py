"""OME-Zarr (NGFF 0.4 / 0.5) movies: open one lazily, write one atomically.

:func:`mtrack.io.open_movie` reads OME-Zarr folders through :func:`open_zarr`;
:func:`write_movie_zarr` writes a movie, from an array or frame by frame, as NGFF 0.4.
Errors are :class:`mtrack.io.MovieError`, one line starting with the path.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import Blosc

from .io import (
    _LENGTH_UM,
    _TIME_S,
    MovieError,
    _canonical_axes,
    _check_value,
    _error,
    _oneline,
    _unit_factor,
)

__all__ = ["is_zarr", "open_zarr", "write_movie_zarr"]

_ZARR_MARKERS = (".zgroup", ".zattrs", ".zarray", "zarr.json")
_COLORS = ("00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF", "FFFFFF")


def is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or any((path / m).is_file() for m in _ZARR_MARKERS)


def open_zarr(path: Path, axes: str | None) -> tuple[Any, str, dict[str, Any]]:
    """Open datasets[0] of an OME-Zarr image (or a plain zarr array) lazily, read its metadata.

    Returns the array, its canonical axes letters and the calibration metadata.
    """
    meta: dict[str, Any] = {"notes": {}}
    if not any((path / m).is_file() for m in _ZARR_MARKERS):
        raise _error(path, "not a zarr folder: no .zgroup, .zattrs, .zarray or zarr.json in it")
    try:  # an absolute root keeps the pickled array valid in workers with another cwd
        node = zarr.open(str(path.absolute()), mode="r")
    except Exception as exc:
        raise _error(path, f"not a readable zarr folder ({_oneline(exc)})") from exc
    if isinstance(node, zarr.Array):
        if axes is None:
            raise _error(path, f"a plain zarr array {tuple(node.shape)} without OME-Zarr metadata: "
                               "its axes are unknown; pass --axes (axes=), e.g. 'TCZYX'")
        return node, _canonical_axes(path, axes, tuple(node.shape), True), meta
    attrs = node.attrs.asdict()
    ome = attrs.get("ome", attrs)  # NGFF 0.5 (zarr v3) nests everything under "ome"
    multiscales = ome.get("multiscales") if isinstance(ome, dict) else None
    if not multiscales or not isinstance(multiscales, list):
        raise _error(path, "a zarr group without OME-Zarr 'multiscales' metadata "
                           "(not an OME-Zarr image?)")
    try:
        ms, scale = multiscales[0], None
        dataset = ms["datasets"][0]
        file_axes = [{"name": a} if isinstance(a, str) else dict(a) for a in ms.get("axes") or []]
        for transforms in (dataset.get("coordinateTransformations"),
                           ms.get("coordinateTransformations")):
            for tr in transforms or []:
                if tr.get("type") == "scale":
                    scale = [a * float(b) for a, b in zip(scale or [1.0] * len(tr["scale"]),
                                                          tr["scale"], strict=True)]
        names = [str(a["name"]) for a in file_axes]
    except Exception as exc:
        raise _error(path, f"malformed OME-Zarr multiscales metadata ({_oneline(exc)})") from exc
    try:
        data = node[str(dataset["path"])]
    except Exception as exc:
        raise _error(path, f"dataset {dataset.get('path')!r} named in the multiscales metadata is "
                           f"missing or unreadable ({_oneline(exc)})") from exc
    if not isinstance(data, zarr.Array):
        raise _error(path, f"dataset {dataset['path']!r} is a zarr group, not an array")
    if axes is None:
        unknown = [n for n in names if n.lower() not in ("t", "c", "z", "y", "x")]
        if not names:
            raise _error(path, "the multiscales metadata names no axes; pass --axes (axes=)")
        if unknown:
            raise _error(path, f"unknown axis name {unknown[0]!r} in {names}: mtrack reads t, c, "
                               "z, y, x; pass --axes (axes=) to name them")
        axes = "".join(names).upper()
    letters = _canonical_axes(path, axes, tuple(data.shape), True)
    if scale is not None and len(scale) != len(letters):
        raise _error(path, f"the OME-Zarr scale {scale} does not match the axes {letters}")
    for key, group in (("pixel_size", "YX"), ("z_step", "Z"), ("frame_interval", "T")):
        idx = [letters.index(a) for a in group if a in letters]
        if scale is None or not idx:
            continue
        units = [file_axes[i].get("unit") if i < len(file_axes) else None for i in idx]
        factors = [_unit_factor(u, _TIME_S if key == "frame_interval" else _LENGTH_UM)
                   for u in units]
        if None in factors:
            bad = units[factors.index(None)]
            meta["notes"][key] = ("has no unit in the OME-Zarr axes" if bad is None
                                  else f"has an unknown unit {bad!r}")
        else:
            meta[key] = tuple(scale[i] * f for i, f in zip(idx, factors))
    omero = ome.get("omero")
    channels = omero.get("channels") if isinstance(omero, dict) else None
    if isinstance(channels, list):
        labels = [c.get("label") if isinstance(c, dict) else None for c in channels]
        if labels and all(labels):
            meta["channel_names"] = labels
    return data, letters, meta


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_movie_zarr(path: str | os.PathLike, image_or_frames: Any, *, scale: Sequence[float],
                     frame_interval: float, channel_names: Sequence[str] | None = None,
                     shape: Sequence[int] | None = None, dtype: Any = None,
                     overwrite: bool = False, chunks_t: int = 1) -> None:
    """Write a ``(T, C, Z, Y, X)`` movie as an OME-Zarr (NGFF 0.4, zarr v2), atomically.

    One resolution level (dataset ``"0"``), axes ``t, c, z, y, x`` in s and µm, zstd-compressed
    (blosc, bitshuffle) chunks of `chunks_t` time points with all channels, and ``omero``
    channel labels (with display windows for integer data). Memory stays at one chunk.

    Parameters
    ----------
    path : str or PathLike
        Output folder (``.ome.zarr`` by convention); written under a temporary name in the
        same folder, then renamed.
    image_or_frames : array-like or callable
        ``(T, C, Z, Y, X)`` image (a lazy array stays lazy: `chunks_t` frames are read at a
        time), or a function ``frame(t) -> (C, Z, Y, X) array`` that needs `shape` and
        `dtype`, so that a movie larger than memory can be generated frame by frame.
    scale : sequence of 3 floats
        ``(z, y, x)`` voxel size in µm.
    frame_interval : float
        Seconds between frames.
    channel_names : sequence of str, optional
        One name per channel; default ``C0, C1, ...``.
    shape : sequence of 5 ints, optional
        ``(T, C, Z, Y, X)``; required with a frame function, else taken from the image.
    dtype : dtype-like, optional
        Stored pixel type; required with a frame function, else the image's. Integer values
        that do not fit it raise MovieError.
    overwrite : bool
        Replace an existing `path`; otherwise an existing path raises MovieError.
    chunks_t : int
        Time points per chunk.
    """
    path = Path(path)
    if callable(image_or_frames):
        if shape is None or dtype is None:
            raise _error(path, "a frame function needs shape=(T, C, Z, Y, X) and dtype=")

        def block(t0: int, t1: int) -> np.ndarray:
            return np.stack([np.asarray(image_or_frames(t)) for t in range(t0, t1)])
    else:
        image = image_or_frames
        if not all(hasattr(image, a) for a in ("shape", "dtype", "__getitem__")):
            image = np.asarray(image)
        if shape is not None and tuple(int(s) for s in shape) != tuple(image.shape):
            raise _error(path, f"shape {tuple(shape)} differs from the image's {image.shape}")
        shape, dtype = image.shape, image.dtype if dtype is None else dtype

        def block(t0: int, t1: int) -> np.ndarray:
            return np.asarray(image[t0:t1])
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    names = ([f"C{i}" for i in range(shape[1])] if channel_names is None and len(shape) == 5
             else [str(n) for n in channel_names or ()])
    if len(shape) != 5 or min(shape) < 1 or len(tuple(scale)) != 3 or len(names) != shape[1]:
        raise _error(path, "expected a (T, C, Z, Y, X) movie, a (z, y, x) scale and one name per "
                           f"channel, got shape {shape}, scale {scale!r}, names {channel_names!r}")
    if isinstance(chunks_t, bool) or not isinstance(chunks_t, (int, np.integer)) or chunks_t < 1:
        raise _error(path, f"chunks_t must be a positive integer, got {chunks_t!r}")
    z, y, x = (_check_value(path, v, "scale", "argument", True) for v in scale)
    interval = _check_value(path, frame_interval, "frame interval", "argument", False)
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise _error(path, "already exists; pass overwrite=True to replace it")
    (n_t, n_c), chunks_t = shape[:2], min(int(chunks_t), shape[0])
    lo, hi = np.full(n_c, np.inf), np.full(n_c, -np.inf)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    old = tmp.with_suffix(".old")
    try:
        group = zarr.open_group(str(tmp), mode="w-", zarr_format=2)
        array = group.create_array(
            "0", shape=shape, chunks=(chunks_t, *shape[1:]), dtype=dtype, fill_value=0,
            compressors=Blosc(cname="zstd", clevel=5, shuffle=Blosc.BITSHUFFLE),
            chunk_key_encoding={"name": "v2", "separator": "/"})
        for t0 in range(0, n_t, chunks_t):
            t1 = min(t0 + chunks_t, n_t)
            data = block(t0, t1)
            if data.shape != (t1 - t0, *shape[1:]):
                raise _error(path, f"frames {t0}-{t1 - 1} have shape {data.shape[1:]}, expected "
                                   f"(C, Z, Y, X) = {shape[1:]}")
            if dtype.kind in "iu" and data.dtype.kind in "iuf":
                lo = np.minimum(lo, data.min(axis=(0, 2, 3, 4)))
                hi = np.maximum(hi, data.max(axis=(0, 2, 3, 4)))
                if not (np.iinfo(dtype).min <= lo.min() and hi.max() <= np.iinfo(dtype).max):
                    raise _error(path, f"values in frames {t0}-{t1 - 1} do not fit {dtype}")
            array[t0:t1] = data.astype(dtype, copy=False)
        axes = [{"name": "t", "type": "time", "unit": "second"}, {"name": "c", "type": "channel"}]
        axes += [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
        channels = [{"label": n, "color": _COLORS[i % len(_COLORS)], "active": True}
                    for i, n in enumerate(names)]
        if dtype.kind in "iu":
            for c, ch in enumerate(channels):
                ch["window"] = {"min": int(np.iinfo(dtype).min), "max": int(np.iinfo(dtype).max),
                                "start": int(lo[c]), "end": int(hi[c])}
        group.attrs.update({
            "multiscales": [{
                "version": "0.4", "name": path.name.split(".")[0], "axes": axes,
                "datasets": [{"path": "0", "coordinateTransformations": [
                    {"type": "scale", "scale": [interval, 1.0, z, y, x]}]}]}],
            "omero": {"version": "0.4", "channels": channels, "rdefs": {"model": "color"}}})
        if path.exists() or path.is_symlink():
            os.rename(path, old)
        os.rename(tmp, path)
    except MovieError:
        raise
    except Exception as exc:
        raise _error(path, f"cannot write the movie ({_oneline(exc)})") from exc
    finally:
        if (old.exists() or old.is_symlink()) and not path.exists():
            os.rename(old, path)  # the new movie did not arrive: put the old one back
        _remove(tmp)
        _remove(old)
