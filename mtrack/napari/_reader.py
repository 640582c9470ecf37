"""npe2 reader: movies (TIFF, OME-TIFF, ImageJ, OME-Zarr) and mtrack results folders.

:func:`get_reader` decides from cheap checks only (suffix and the 4-byte TIFF header of a
file; the names of a folder's entries and a small zarr metadata file), never opening the
image. Problems found later, while reading, are shown as a napari error notification with
mtrack's one-line message, and the reader returns napari's *null layer* sentinel
``[(None,)]``: the open then ends quietly with no layer. (A reader function returning
``None`` or ``[]`` makes npe2 raise "returned no data", which napari turns into a
``ReaderPluginError``; in the GUI that opens the reader-choice dialog with the error, and in
``viewer.open`` it is an exception.)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..io import _TIFF_MAGIC, TIFF_SUFFIXES, open_movie
from ._layers import LayerDataTuple, _read_run, movie_layers, results_layers

__all__ = ["get_reader", "read_movie", "read_results"]

log = logging.getLogger(__name__)

PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]
ReaderFunction = Callable[[PathOrPaths], list[LayerDataTuple]]

#: what a reader function returns when it accepted a path but has nothing to show
NO_LAYERS: list[tuple[None]] = [(None,)]
_RESULTS_MARKERS = ("events.csv", "run.json")
_ZARR_ATTRS = (".zattrs", "zarr.json")
_MAX_ATTRS_BYTES = 4 << 20


def _one_path(path: PathOrPaths) -> Path | None:
    if isinstance(path, Sequence) and not isinstance(path, str):
        if len(path) != 1:
            return None  # a stack of several files: not for mtrack
        path = path[0]
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        return None  # Path("") would be the working directory
    return Path(path)


def _is_ome_zarr(folder: Path) -> bool:
    """A zarr group whose attributes name ``multiscales`` (OME-Zarr image), cheaply."""
    for name in _ZARR_ATTRS:
        attrs = folder / name
        if attrs.is_file() and attrs.stat().st_size <= _MAX_ATTRS_BYTES:
            try:
                meta = json.loads(attrs.read_text())
            except (OSError, ValueError):
                return False
            meta = meta.get("attributes", meta) if isinstance(meta, dict) else {}
            meta = meta.get("ome", meta) if isinstance(meta, dict) else {}
            return isinstance(meta, dict) and "multiscales" in meta
    return False


def _kind(path: Path) -> str | None:
    """``"results"``, ``"movie"`` or None, from names and headers only."""
    if path.is_dir():
        if any((path / m).is_file() for m in _RESULTS_MARKERS):
            return "results"
        return "movie" if _is_ome_zarr(path) else None
    if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
        with open(path, "rb") as fh:
            return "movie" if fh.read(4) in _TIFF_MAGIC else None
    return None


def get_reader(path: PathOrPaths) -> ReaderFunction | None:
    """Return a reader function for a movie or a results folder, or None.

    Parameters
    ----------
    path : str or list of str
        What napari asks about: a file, a folder, or a list (only a list of one is taken).

    Returns
    -------
    callable or None
        :func:`read_movie` for a TIFF file (TIFF header checked) or an OME-Zarr folder
        (``multiscales`` in its attributes); :func:`read_results` for a folder holding
        ``events.csv`` or ``run.json``; None for anything else (and on any error while
        checking). Nothing is read beyond a few bytes.
    """
    try:
        where = _one_path(path)
        kind = None if where is None else _kind(where)
    except Exception:  # a path we cannot even inspect is not ours
        log.debug("mtrack reader: cannot inspect %r", path, exc_info=True)
        return None
    if kind == "results":
        return read_results
    if kind == "movie":
        return read_movie
    return None


def _show_error(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(message)


def _show_warning(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(message)


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if type(exc).__module__.startswith("mtrack") or isinstance(exc, (ValueError, OSError)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_movie(path: PathOrPaths) -> list[LayerDataTuple] | list[tuple[None]]:
    """Open a movie lazily as one image layer per channel (see ``movie_layers``).

    Channel roles are the defaults (mitochondria = 0, membrane = 1). On an error (corrupt
    or truncated file, unknown axes, nonsense calibration) an error notification shows
    the one-line message and ``[(None,)]`` is returned.
    """
    where = _one_path(path)
    try:
        movie = open_movie(where)
        return movie_layers(movie)
    except Exception as exc:
        log.debug("mtrack reader failed on %s", where, exc_info=True)
        _show_error(f"mtrack: {_message(exc)}")
        return NO_LAYERS


def _roles(folder: Path) -> tuple[int, int]:
    """(mito, membrane) channels of the run, from params.yaml; (0, 1) if unknown."""
    try:
        import yaml

        params = yaml.safe_load((folder / "params.yaml").read_text()) or {}
        roles = params.get("input", {})
        return int(roles.get("mito_channel", 0)), int(roles.get("membrane_channel", 1))
    except Exception:  # noqa: BLE001 - params.yaml is optional: default roles
        return 0, 1


def _input_movie_layers(folder: Path, run: dict[str, Any]) -> list[LayerDataTuple]:
    """The analysed movie's channels, if run.json names a file that is still there."""
    info = run.get("input") or {}
    source = info.get("path")
    if not source or not Path(source).exists():
        return []
    shape = run.get("shape_tczyx") or [0, 0, 1, 0, 0]
    scale = run.get("scale_zyx_um") or [None, None, None]
    try:
        size = info.get("bytes")
        if size is not None and Path(source).is_file() and Path(source).stat().st_size != size:
            raise ValueError(f"{source}: the movie has changed since it was analysed "
                             f"({folder / 'run.json'} records {size} bytes)")
        same_xy = scale[1] is not None and scale[1] == scale[2]
        movie = open_movie(source, pixel_size_um=scale[1] if same_xy else None,
                           z_step_um=scale[0] if shape[2] > 1 else None,
                           frame_interval_s=run.get("frame_interval_s"),
                           axes=run.get("axes"))
        if list(movie.shape) != list(shape):
            raise ValueError(f"{source}: shape {list(movie.shape)} differs from the analysed "
                             f"movie's {list(shape)}")
        return movie_layers(movie, roles=_roles(folder))
    except Exception as exc:
        log.debug("mtrack reader: input movie of %s", folder, exc_info=True)
        _show_warning(f"mtrack: results shown without the movie: {_message(exc)}")
        return []


def read_results(path: PathOrPaths) -> list[LayerDataTuple] | list[tuple[None]]:
    """Open a results folder: the analysed movie's channels (if found), then the results.

    The movie is the file named in ``run.json`` (``input.path``), reopened with the
    calibration of the run; if it is gone, has changed or fails to open, a warning
    notification says so and the results alone are shown. A results folder that cannot be
    shown (e.g. ``cells.csv`` missing) gives an error notification with the one-line message
    and ``[(None,)]``.
    """
    folder = _one_path(path)
    try:
        layers = results_layers(folder)
        run = _read_run(folder)  # the same checked reading results_layers did
    except Exception as exc:
        log.debug("mtrack reader failed on %s", folder, exc_info=True)
        _show_error(f"mtrack: {_message(exc)}")
        return NO_LAYERS
    return _input_movie_layers(folder, run) + layers
