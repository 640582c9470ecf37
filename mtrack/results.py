"""Results of one movie: tables plus provenance; save to and load from a folder.

A results folder is written under a temporary name and renamed into place, so a
crash never leaves a folder that looks complete. An existing folder is replaced only
with ``overwrite=True``, and then only after the new one is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from .events import EVENT_COLUMNS
from .params import Params, dump_params, load_params

__all__ = ["Results", "OutputError", "LabelWriter", "BRIDGE_CSV_COLUMNS", "CELL_CSV_COLUMNS",
           "LABEL_LAYERS", "check_output", "create_label_store", "stage_output", "save_results",
           "load_results"]

CELL_CSV_COLUMNS = [
    "track_id", "parent_track_id", "t", "label", "area_or_volume", "z", "y", "x",
    "donor_objects", "donor_signal", "diffuse_signal", "positive",
]


BRIDGE_CSV_COLUMNS = [
    "bridge_id", "t", "cell_a", "cell_b", "length_um", "width_um", "donor_objects",
    "straightness", "height_um", "lifetime", "transits", "z", "y", "x",
]


LABEL_LAYERS = ("recipients", "donors", "bridges")


class OutputError(OSError):
    """The output folder cannot be written as asked."""


@dataclass
class Results:
    """Tables and provenance of one analysed movie."""

    events: pd.DataFrame
    cells: pd.DataFrame
    objects: pd.DataFrame
    params: Params
    run: dict = field(default_factory=dict)
    bridges: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=BRIDGE_CSV_COLUMNS))


def check_output(out: str | Path, overwrite: bool) -> Path:
    """Refuse an existing output folder unless ``overwrite``; check the parent is writable."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: output folder exists; pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    existing = out.absolute().parent
    while not existing.exists():  # missing parent folders are created when saving
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{existing}: is not a folder, cannot hold the output")
    if not os.access(existing, os.W_OK):
        raise OutputError(f"{existing}: output location is not writable")
    return out


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")


def stage_output(out: str | Path, *, overwrite: bool = False) -> Path:
    """Create the hidden staging folder beside ``out`` that :func:`save_results` fills.

    Large outputs (label stacks) can stream into it while the movie is analysed; the
    folder becomes ``out`` only when everything is written.
    """
    out = check_output(out, overwrite)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))


def save_results(results: Results, out: str | Path, *, overwrite: bool = False,
                 staging: Path | None = None) -> Path:
    """Write ``events.csv``, ``cells.csv``, ``bridges.csv``, ``params.yaml`` and ``run.json``.

    The tables go into ``staging`` (from :func:`stage_output`; a new one when None),
    which is then renamed to ``out``; an existing ``out`` is replaced only with
    ``overwrite``. On any failure the staging folder is removed and ``out`` is untouched.
    """
    out = check_output(out, overwrite)
    parent = out.absolute().parent
    tmp = staging if staging is not None else stage_output(out, overwrite=overwrite)
    try:
        _write_csv(results.events[EVENT_COLUMNS], tmp / "events.csv")
        _write_csv(results.cells[CELL_CSV_COLUMNS], tmp / "cells.csv")
        _write_csv(results.bridges[BRIDGE_CSV_COLUMNS].rename(
            columns={"donor_objects": "donor_objects_on_bridge"}), tmp / "bridges.csv")
        (tmp / "params.yaml").write_text(dump_params(results.params))
        (tmp / "run.json").write_text(json.dumps(results.run, indent=2, default=str) + "\n")
        os.chmod(tmp, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.rename(out, old / out.name)
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


@dataclass(frozen=True)
class LabelWriter:
    """Streams each frame's label images into ``labels.zarr`` (one chunk per frame).

    Holds only a path, so it pickles to worker processes; each write opens the arrays.
    Layers: ``recipients``, ``donors`` (donor objects) and ``bridges`` (skeletons),
    int32, shape (T, Z, Y, X).
    """

    path: Path

    def write(self, t: int, layers: dict[str, np.ndarray]) -> None:
        """Store frame ``t`` of every layer."""
        for name, image in layers.items():
            zarr.open_array(str(self.path / name), mode="r+")[t] = image


def create_label_store(folder: Path, shape_tzyx: tuple[int, int, int, int],
                       scale: tuple[float, float, float]) -> LabelWriter:
    """Create ``folder`` as a zarr group with empty label layers; return its writer."""
    group = zarr.open_group(str(folder), mode="w")
    for name in LABEL_LAYERS:
        array = group.zeros(name=name, shape=shape_tzyx, chunks=(1, *shape_tzyx[1:]),
                            dtype="int32")
        array.attrs["scale_zyx_um"] = list(scale)
    return LabelWriter(Path(folder))


def load_results(folder: str | Path) -> Results:
    """Read a results folder written by :func:`save_results`."""
    folder = Path(folder)
    missing = [n for n in ("events.csv", "cells.csv", "params.yaml", "run.json")
               if not (folder / n).is_file()]
    if missing:
        raise OutputError(f"{folder}: not an mtrack results folder (missing {', '.join(missing)})")
    events = pd.read_csv(folder / "events.csv", keep_default_na=False,
                         dtype={"route": str, "bridge_id": str, "status": str})
    cells = pd.read_csv(folder / "cells.csv")
    run = json.loads((folder / "run.json").read_text())
    bridges = (pd.read_csv(folder / "bridges.csv").rename(
        columns={"donor_objects_on_bridge": "donor_objects"})
        if (folder / "bridges.csv").is_file() else pd.DataFrame(columns=BRIDGE_CSV_COLUMNS))
    return Results(events, cells, pd.DataFrame(), load_params(folder / "params.yaml"), run,
                   bridges=bridges)
