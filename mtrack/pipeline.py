"""Orchestration: Movie -> per-frame core in parallel (dask) -> tracks -> events -> Results.

Each dask task reads one frame (all channels) from the lazy movie, runs the per-frame
core and returns only its small tables, so memory does not grow with the number of
frames. Tables are assembled in frame order, which makes the output independent of the
scheduler and of the order in which tasks finish.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
from dask.callbacks import Callback
from threadpoolctl import threadpool_limits

from . import __version__
from .cellsize import resolve_cell_diameter, sample_frames
from .events import call_events, mark_positive
from .frame import process_frame
from .io import Movie, MovieError, check_roles, frame_ranges, movie_problems, open_movie
from .params import Params
from .results import (
    BRIDGE_CSV_COLUMNS,
    CELL_CSV_COLUMNS,
    LABEL_LAYERS,
    LabelWriter,
    Results,
    check_output,
    create_label_store,
    save_results,
    stage_output,
)
from .track import track_bridges, track_recipients
from .trajectories import link_donor_objects

__all__ = ["analyse_frame", "analyse_movie", "analyse_tables", "movie_array", "run_movie"]

FrameTables = tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.DataFrame, tuple]


def _analyse(frame: np.ndarray, t: int, scale: tuple[float, float, float], params: Params,
             labels: LabelWriter | None, source: Path | None) -> FrameTables:
    ranges = frame_ranges(frame)  # for the movie-wide checks, without a second pass
    if ranges[2]:
        raise MovieError(f"{source or 'array'}: frame {t} contains NaN or infinite values")
    result = process_frame(frame, scale, params)
    if labels is not None:
        labels.write(t, {name: getattr(result, name) for name in LABEL_LAYERS})
    cells = result.cells.assign(t=t)
    objects = result.objects.assign(t=t)
    return cells, objects, result.presence, result.bridge_table.assign(t=t), ranges


def analyse_frame(movie: Movie, t: int, params: Params,
                  labels: LabelWriter | None = None) -> FrameTables:
    """Read frame ``t`` and run the per-frame core; return its tables and presence map.

    This is the plain (no dask) path: ``[analyse_frame(movie, t, params) for t in ...]``
    gives the same tables as :func:`run_movie`. With ``labels``, the frame's label
    images are written to the label store.
    """
    return _analyse(movie.frame(t), t, movie.scale, params, labels, movie.source)


class _FrameReader:
    """Array-like view of a Movie in canonical (T, C, Z, Y, X) order for dask.from_array."""

    def __init__(self, movie: Movie):
        self.movie = movie
        self.shape = movie.shape
        self.dtype = movie.dtype
        self.ndim = 5

    def __getitem__(self, index: tuple[int | slice, ...]) -> np.ndarray:
        first = index[0]
        if isinstance(first, slice):
            times = range(*first.indices(self.shape[0]))
            return np.stack([self.movie.frame(t) for t in times])[(slice(None), *index[1:])]
        return self.movie.frame(first)[tuple(index[1:])]


def movie_array(movie: Movie, frames_per_chunk: int = 1) -> da.Array:
    """The movie as a lazy ``(T, C, Z, Y, X)`` dask array, chunked by whole frames.

    Each chunk holds ``frames_per_chunk`` time points with all channels and planes, and
    is read from the file only when a task needs it.
    """
    _, c, z, y, x = movie.shape
    token = dask.base.tokenize(str(movie.source), id(movie) if movie.source is None else 0,
                               movie.shape, str(movie.dtype), frames_per_chunk)
    return da.from_array(_FrameReader(movie), chunks=(frames_per_chunk, c, z, y, x),
                         asarray=False, name=f"movie-{token}",
                         meta=np.empty((0,) * 5, dtype=movie.dtype))


def _analyse_block(block: np.ndarray, scale: tuple[float, float, float], params: Params,
                   labels: LabelWriter | None, source: Path | None,
                   block_info: dict | None = None) -> np.ndarray:
    """Run the per-frame core on each frame of one chunk; pack the tables in an object array."""
    t0 = block_info[0]["array-location"][0][0]
    out = np.empty((block.shape[0], 1, 1, 1, 1), dtype=object)
    for i, frame in enumerate(block):
        out[i, 0, 0, 0, 0] = _analyse(frame, t0 + i, scale, params, labels, source)
    return out


def _compute_frames(
    movie: Movie, params: Params, scheduler: Any, workers: int | None,
    frames_per_chunk: int, progress: Callable[[int, int], None] | None,
    labels: LabelWriter | None,
) -> list[FrameTables]:
    """Run the per-frame core over the movie on ``scheduler``; tables in frame order."""
    frames = movie_array(movie, frames_per_chunk)
    tables = frames.map_blocks(
        _analyse_block, movie.scale, params, labels, movie.source, dtype=object,
        chunks=(frames.chunks[0], (1,), (1,), (1,), (1,)),
        meta=np.empty((0,) * 5, dtype=object))
    blocks = list(tables.to_delayed().ravel())
    sizes = dict(zip((b.key for b in blocks), frames.chunks[0]))
    n_frames, done = movie.shape[0], 0

    def finished(key: Any) -> None:
        nonlocal done
        if key in sizes:
            done += sizes[key]
            if progress is not None:
                progress(done, n_frames)

    if _is_client(scheduler):
        from distributed import as_completed

        futures = scheduler.compute(blocks)
        for future in as_completed(futures):
            finished(future.key)
        results = scheduler.gather(futures)
    else:
        class _Progress(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                finished(key)

        with _Progress(), threadpool_limits(limits=1):
            results = dask.compute(*blocks, scheduler=scheduler, num_workers=workers)
    return [table for block in results for table in block.ravel()]


def analyse_tables(
    per_frame: list[FrameTables],
    scale: tuple[float, float, float],
    frame_interval: float,
    params: Params,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The movie-wide steps after the per-frame core: tracks, trajectories, events.

    Parameters
    ----------
    per_frame : list of frame tables
        :func:`analyse_frame` results in frame order.
    scale : tuple of 3 floats
        Voxel size (z, y, x) in µm.
    frame_interval : float
        Seconds between frames.
    params : Params

    Returns
    -------
    events, cells, objects, bridges : DataFrame
        Events; recipient rows with ``track_id``, ``parent_track_id`` and ``positive``
        (sorted by track and frame); donor objects with their ``trajectory``; tracked
        bridges with ``transits``.
    """
    cells = pd.concat([f[0] for f in per_frame], ignore_index=True)
    objects = pd.concat([f[1] for f in per_frame], ignore_index=True)
    presence = [f[2] for f in per_frame]  # small block maps, not stacked into a copy
    bridges = pd.concat([f[3] for f in per_frame], ignore_index=True)
    cells = track_recipients(cells, scale, params.track)
    bridges = track_bridges(bridges, cells, scale, params.track)
    trajectories = link_donor_objects(objects, scale, frame_interval, params.track)
    events = call_events(objects, cells, scale, frame_interval, params, presence,
                         bridges=bridges, trajectories=trajectories)
    transits = events.loc[events["route"] == "tnt", "bridge_id"].astype(int).value_counts()
    bridges["transits"] = bridges["bridge_id"].map(transits).fillna(0).astype(int)
    cells["positive"] = mark_positive(cells, events)
    cells = cells.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
    return events, cells, trajectories[0], bridges


def _is_client(scheduler: Any) -> bool:
    return type(scheduler).__name__ == "Client" and hasattr(scheduler, "gather")


def _fingerprint(path: Path | None) -> dict:
    """Where the input was and a cheap digest of it (head and tail of a file; the
    metadata documents of an OME-Zarr folder)."""
    if path is None or not Path(path).exists():
        return {}
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for pattern in ("*", "*/*"):  # group and array metadata, not the chunks
            for doc in sorted(path.glob(pattern)):
                if doc.name in (".zattrs", ".zarray", ".zgroup", "zarr.json"):
                    digest.update(doc.relative_to(path).as_posix().encode() + doc.read_bytes())
        return {"path": str(path.resolve()), "sha256_metadata": digest.hexdigest()}
    size = path.stat().st_size
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


def _resolve_cell_diameter(movie: Movie, params: Params) -> tuple[Params, str]:
    """Numeric ``recipient.cell_diameter_um``: estimated from the first, middle and last
    frames when it is ``"auto"`` (see :mod:`mtrack.cellsize`); ``(params, source)``."""
    if params.recipient.cell_diameter_um != "auto":
        return params, "given"
    roles = params.input
    frames = [movie.frame(t) for t in sample_frames(movie.shape[0])]
    nuclei = None if roles.nuclei_channel is None else [f[roles.nuclei_channel] for f in frames]
    return resolve_cell_diameter(params, [f[roles.membrane_channel] for f in frames],
                                 movie.scale, nuclei)


def run_movie(
    movie: Movie,
    params: Params,
    *,
    scheduler: Any = "threads",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    labels: LabelWriter | None = None,
    frames_per_chunk: int = 1,
) -> Results:
    """Detect transfer events in a movie.

    The movie is read as a dask array of whole-frame chunks (:func:`movie_array`); one
    task per chunk reads it and runs the per-frame core, writing label images to
    ``labels`` and returning only small tables, so peak memory does not grow with the
    number of frames. Tables are put in frame order before tracking, so the result is
    the same whatever the scheduler, worker count or chunking.

    Parameters
    ----------
    movie : Movie
        Lazily read movie (see :func:`mtrack.io.open_movie`).
    params : Params
        Resolved parameters (channel roles already checked against the movie).
    scheduler : {"threads", "processes", "synchronous"} or distributed.Client
        Where the per-frame tasks run.
    workers : int, optional
        Number of parallel workers for the local schedulers (dask default when None).
    progress : callable(done, total), optional
        Called as frames complete.
    labels : LabelWriter, optional
        Where to stream recipient, donor-object and bridge label images (see
        :func:`mtrack.results.create_label_store`).
    frames_per_chunk : int
        Time points per dask chunk (and task).

    Returns
    -------
    Results
    """
    started = time.perf_counter()
    n_frames = movie.shape[0]
    params, diameter_source = _resolve_cell_diameter(movie, params)
    per_frame = _compute_frames(movie, params, scheduler, workers, frames_per_chunk, progress,
                                labels)
    problems = movie_problems(movie, [f[4] for f in per_frame])
    if problems:  # an empty or constant movie (or channel, or dropped frames)
        raise MovieError(problems[0])
    frame_s = time.perf_counter() - started

    events, cells, objects, bridges = analyse_tables(per_frame, movie.scale,
                                                     movie.frame_interval, params)
    total_s = time.perf_counter() - started
    run = {
        "versions": _versions(),
        "input": _fingerprint(movie.source),
        "axes": movie.axes,
        "shape_tczyx": list(movie.shape),
        "scale_zyx_um": list(movie.scale),
        "frame_interval_s": movie.frame_interval,
        "calibration": dict(movie.calibration),
        "scheduler": scheduler if isinstance(scheduler, str) else "distributed",
        "workers": workers,
        "channel_names": list(movie.channel_names),
        "cell_diameter_um": params.recipient.cell_diameter_um,
        "cell_diameter_source": diameter_source,
        "timings_s": {
            "frames": round(frame_s, 3),
            "total": round(total_s, 3),
            "per_frame": round(frame_s / max(n_frames, 1), 4),
        },
        "counts": {
            "frames": n_frames,
            "recipient_tracks": int(cells["track_id"].nunique()) if len(cells) else 0,
            "events": len(events),
            "bridges": int(bridges["bridge_id"].nunique()) if len(bridges) else 0,
        },
    }
    return Results(events, cells[CELL_CSV_COLUMNS], objects, params, run,
                   bridges=bridges[BRIDGE_CSV_COLUMNS])


def analyse_movie(
    path: str | Path,
    out: str | Path,
    params: Params,
    *,
    axes: str | None = None,
    scheduler: Any = "threads",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
    frames_per_chunk: int = 1,
) -> Results:
    """Analyse one movie file into a results folder.

    Opens the movie with the calibration overrides of ``params.input``, checks the
    channel roles, runs :func:`run_movie` with the label stacks
    streaming into a hidden staging folder beside ``out``, and renames that folder to
    ``out`` only when every table is written. On any failure (or interruption) the
    staging folder is removed and an existing ``out`` is untouched.

    Raises
    ------
    MovieError, ParamsError, OutputError
        Bad movie, channel roles or output location (one-line messages).
    """
    check_output(out, overwrite)
    roles = params.input
    movie = open_movie(path, pixel_size_um=roles.pixel_size_um, z_step_um=roles.z_step_um,
                       frame_interval_s=roles.frame_interval_s, axes=axes)
    try:
        check_roles(movie, roles.mito_channel, roles.membrane_channel, roles.nuclei_channel)
        staging = stage_output(out, overwrite=overwrite)
        try:
            n_t, _, n_z, n_y, n_x = movie.shape
            labels = create_label_store(staging / "labels.zarr", (n_t, n_z, n_y, n_x),
                                        movie.scale)
            results = run_movie(movie, params, scheduler=scheduler, workers=workers,
                                progress=progress, labels=labels,
                                frames_per_chunk=frames_per_chunk)
            save_results(results, out, overwrite=overwrite, staging=staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        movie.close()
    return results
