"""npe2 writer: a points layer of events as an ``events.csv`` (the reviewed table).

The table is written to a temporary file beside the target and renamed over it, so a crash
never leaves a half-written ``events.csv``. Before the first overwrite of the ``events.csv``
of a results folder, the automatic calls are copied once to ``events_auto.csv`` (kept from
then on), so reviewing never loses them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import _oneline
from ._layers import events_table, layer_scale_zyx

__all__ = ["AUTO_BACKUP", "write_events", "write_table"]

#: name of the copy of a results folder's automatic calls
AUTO_BACKUP = "events_auto.csv"
_RESULTS_MARKERS = ("run.json", "cells.csv")


def _replace(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a temporary name beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table as plain CSV (mtrack's number format) to a temporary name, then rename."""
    _replace(Path(path), lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g",
                                                  lineterminator="\n"))


def _backup_auto_calls(path: Path) -> None:
    """Copy a results folder's events.csv to events_auto.csv once, before it is replaced."""
    folder = path.parent
    backup = folder / AUTO_BACKUP
    if (path.name != "events.csv" or not path.is_file() or backup.exists()
            or not any((folder / m).is_file() for m in _RESULTS_MARKERS)):
        return
    _replace(backup, lambda tmp: shutil.copy2(path, tmp))


def write_events(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one points layer as an events table (``events.csv`` columns).

    Parameters
    ----------
    path : str
        Target file; ``.csv`` is appended when it has no suffix.
    data : array-like, shape (N, 3) or (N, 4)
        The points, ``(t, [z,] y, x)`` in pixel/voxel indices.
    attributes : dict
        The layer's kwargs (``features``, ``metadata``, ``scale``); the physical scale and
        frame interval come from ``metadata["mtrack"]`` (set by the mtrack reader), else from
        the layer's scale.

    Returns
    -------
    list of str
        ``[path]`` as written.

    Raises
    ------
    OSError
        One line naming the file when it cannot be written (the old file is untouched).
    ValueError
        If the data are not point coordinates (see ``events_table``).

    Notes
    -----
    Rows come from :func:`mtrack.napari._layers.events_table`: coordinates from the points
    (so moved and added points are right), added points numbered after the largest
    ``event_id`` with ``status="added"``. Overwriting the ``events.csv`` of a results folder
    first copies the original once to ``events_auto.csv``.
    """
    target = Path(path)
    if not target.suffix:
        target = target.with_suffix(".csv")
    attributes = dict(attributes or {})
    scale_zyx, frame_interval = layer_scale_zyx(attributes)
    table = events_table(data, attributes.get("features"), scale_zyx=scale_zyx,
                         frame_interval=frame_interval)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _backup_auto_calls(target)
        write_table(table, target)
    except OSError as exc:
        raise OSError(f"{target}: cannot write the events table ({_oneline(exc)})") from exc
    return [str(target)]
