"""Orchestration: Movie -> per-frame core in parallel (dask) -> tracks -> events -> Results.

Each dask task reads one frame (all channels) from the lazy movie, runs the per-frame
core and returns only its small tables, so memory does not grow with the number of
frames. Tables are assembled in frame order, which makes the output independent of the
scheduler and of the order in which tasks finish.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import dask
import numpy as np
import pandas as pd

from . import __version__
from .events import assign_routes, call_events, mark_positive
from .frame import process_frame
from .io import Movie, MovieError
from .params import Params
from .results import BRIDGE_CSV_COLUMNS, CELL_CSV_COLUMNS, LABEL_LAYERS, LabelWriter, Results
from .track import track_bridges, track_recipients

__all__ = ["analyse_frame", "run_movie"]


def analyse_frame(
    movie: Movie, t: int, params: Params, labels: LabelWriter | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Read frame ``t`` and run the per-frame core; return its tables and presence map.

    With ``labels``, the frame's label images are written to the label store here, in
    the worker, so they never travel back to the client.
    """
    frame = movie.frame(t)
    if np.issubdtype(frame.dtype, np.floating) and not np.all(np.isfinite(frame)):
        raise MovieError(f"{movie.source or 'array'}: frame {t} contains NaN or infinite values")
    result = process_frame(frame, movie.scale, params)
    if labels is not None:
        labels.write(t, {name: getattr(result, name) for name in LABEL_LAYERS})
    cells = result.cells.assign(t=t)
    objects = result.objects.assign(t=t)
    return cells, objects, result.presence, result.bridge_table.assign(t=t)


def _fingerprint(path: Path | None) -> dict:
    if path is None or not Path(path).is_file():
        return {}
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), 2)
            digest.update(fh.read())
    return {"path": str(path.resolve()), "bytes": size, "sha256_head_tail": digest.hexdigest()}


def _versions() -> dict:
    names = ["numpy", "scipy", "scikit-image", "tifffile", "zarr", "dask", "pandas", "pydantic",
             "skan"]
    out = {"mtrack": __version__, "python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_movie(
    movie: Movie,
    params: Params,
    *,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    labels: LabelWriter | None = None,
) -> Results:
    """Detect transfer events in a movie.

    Parameters
    ----------
    movie : Movie
        Lazily read movie (see :func:`mtrack.io.open_movie`).
    params : Params
        Resolved parameters (channel roles already checked against the movie).
    scheduler : {"threads", "processes", "synchronous"}
        dask scheduler for the per-frame stage.
    workers : int, optional
        Number of parallel workers (dask default when None).
    progress : callable(done, total), optional
        Called as frames complete.
    labels : LabelWriter, optional
        Where to stream recipient, donor-object and bridge label images (see
        :func:`mtrack.results.create_label_store`).

    Returns
    -------
    Results
    """
    started = time.perf_counter()
    n_frames = movie.shape[0]
    tasks = [dask.delayed(analyse_frame)(movie, t, params, labels) for t in range(n_frames)]
    per_frame: list[tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.DataFrame]] = []
    batch = max(1, workers or 2) * 4
    for start in range(0, n_frames, batch):
        chunk = tasks[start:start + batch]
        per_frame.extend(dask.compute(*chunk, scheduler=scheduler, num_workers=workers))
        if progress is not None:
            progress(min(start + batch, n_frames), n_frames)
    frame_s = time.perf_counter() - started

    cells = pd.concat([f[0] for f in per_frame], ignore_index=True)
    objects = pd.concat([f[1] for f in per_frame], ignore_index=True)
    presence = np.stack([f[2] for f in per_frame])
    bridges = pd.concat([f[3] for f in per_frame], ignore_index=True)
    cells = track_recipients(cells, movie.scale, params.track)
    bridges = track_bridges(bridges, cells, movie.scale, params.track)
    events = call_events(objects, cells, movie.scale, movie.frame_interval, params, presence)
    events = assign_routes(events, objects, bridges, params)
    transits = events.loc[events["route"] == "tnt", "bridge_id"].astype(int).value_counts()
    bridges["transits"] = bridges["bridge_id"].map(transits).fillna(0).astype(int)
    cells["positive"] = mark_positive(cells, events)
    cells = cells.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
    total_s = time.perf_counter() - started
    run = {
        "versions": _versions(),
        "input": _fingerprint(movie.source),
        "axes": movie.axes,
        "shape_tczyx": list(movie.shape),
        "scale_zyx_um": list(movie.scale),
        "frame_interval_s": movie.frame_interval,
        "calibration": dict(movie.calibration),
        "channel_names": list(movie.channel_names),
        "timings_s": {
            "frames": round(frame_s, 3),
            "total": round(total_s, 3),
            "per_frame": round(frame_s / max(n_frames, 1), 4),
        },
        "counts": {
            "frames": n_frames,
            "recipient_tracks": int(cells["track_id"].nunique()) if len(cells) else 0,
            "events": int(len(events)),
            "bridges": int(bridges["bridge_id"].nunique()) if len(bridges) else 0,
        },
    }
    return Results(events, cells[CELL_CSV_COLUMNS], objects, params, run,
                   bridges=bridges[BRIDGE_CSV_COLUMNS])
