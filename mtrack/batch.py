"""Many movies in one go: one results folder per movie and a ``summary.csv`` across them.

A batch can be stopped and started again: a movie whose results folder exists is
finished (folders appear only when complete, see :mod:`mtrack.results`) and is skipped;
one that was interrupted left only a hidden staging folder, which is removed before the
movie is redone. A movie that fails is recorded with its error and the others go on.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .params import Params

__all__ = ["SUMMARY_COLUMNS", "BatchError", "expand_inputs", "read_task_list", "result_names",
           "run_batch", "write_summary"]

MOVIE_SUFFIXES = (".tif", ".tiff", ".zarr")
SUMMARY_COLUMNS = ["movie", "results", "status", "frames", "recipients", "positive_recipients",
                   "events", "bridges", "seconds", "error"]


class BatchError(ValueError):
    """The batch itself cannot run (no inputs, unreadable task list, ...)."""


def _is_movie(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(MOVIE_SUFFIXES)


def expand_inputs(items: Sequence[str | os.PathLike]) -> list[Path]:
    """Turn files, folders and glob patterns into a list of movie paths.

    A folder gives the movies directly inside it (``.tif``, ``.tiff``, ``.ome.tif`` files
    and ``.zarr`` folders), sorted by name; a pattern (``*``, ``?``, ``[``; ``**`` recurses)
    gives its matches, sorted. A path that does not exist is kept, so that it is reported
    as a failed movie rather than silently dropped. Duplicates are removed, first kept.
    """
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir() and not path.name.lower().endswith(".zarr"):
            found += sorted(p for p in path.iterdir() if _is_movie(p))
        elif any(ch in text for ch in "*?[") and not path.exists():
            found += sorted(Path(p) for p in glob.glob(text, recursive=True)
                            if _is_movie(Path(p)))
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.absolute(), None)
    return list(unique)


def read_task_list(path: str | os.PathLike) -> list[Path]:
    """Read a task list: one movie path per line; blank lines and ``#`` comments skipped.

    Relative paths are taken relative to the list's folder.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise BatchError(f"{path}: cannot read the task list ({err.__class__.__name__})") from None
    entries = [line.strip() for line in lines]
    return [(path.parent / e).absolute() for e in entries if e and not e.startswith("#")]


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name


def result_names(paths: Sequence[Path]) -> list[str]:
    """One results-folder name per movie: its file stem, made unique with parent folders.

    ``plate1/A01.tif`` and ``plate2/A01.tif`` become ``plate1_A01`` and ``plate2_A01``;
    the names depend only on the list of paths, so a resumed batch finds its folders.
    """
    paths = [Path(p).absolute() for p in paths]
    depth = {i: 0 for i in range(len(paths))}

    def name(i: int) -> str:
        parents = paths[i].parent.parts[len(paths[i].parent.parts) - depth[i]:]
        return "_".join([*parents, _stem(paths[i])]) if depth[i] else _stem(paths[i])

    while True:
        names = [name(i) for i in range(len(paths))]
        clashes = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names)
                if n in clashes and depth[i] < len(paths[i].parent.parts) - 1]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return unique


def _finished_row(movie: Path, folder: Path) -> dict[str, Any]:
    """Summary figures of a finished results folder, read back from its tables."""
    run = json.loads((folder / "run.json").read_text())
    cells = pd.read_csv(folder / "cells.csv", usecols=["track_id", "positive"])
    counts = run.get("counts", {})
    return {
        "movie": str(movie), "results": str(folder), "frames": counts.get("frames"),
        "recipients": int(cells["track_id"].nunique()),
        "positive_recipients": int(cells.loc[cells["positive"].astype(bool), "track_id"]
                                   .nunique()),
        "events": counts.get("events"), "bridges": counts.get("bridges"),
        "seconds": run.get("timings_s", {}).get("total"), "error": "",
    }


def _clear_partial(out: Path, name: str) -> None:
    """Remove staging folders an interrupted run of ``name`` left behind."""
    for leftover in out.glob(f".{name}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def write_summary(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the batch summary table atomically (temporary name, then rename)."""
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            table.to_csv(fh, index=False, float_format="%.6g", lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class MovieProgress:
    """Callbacks a batch reports through (all optional)."""

    start: Callable[[int, Path], None] | None = None  # (index, movie)
    frames: Callable[[int, int], None] | None = None  # (done, total) within the movie
    end: Callable[[int, dict[str, Any]], None] | None = None  # (index, summary row)


def run_batch(
    movies: Sequence[Path],
    out: str | Path,
    params: Params,
    *,
    axes: str | None = None,
    scheduler: Any = "threads",
    workers: int | None = None,
    overwrite: bool = False,
    only: Sequence[int] | None = None,
    summary: bool = True,
    progress: MovieProgress | None = None,
    movie_params: Mapping[Path, Params] | None = None,
    report: bool = False,
) -> pd.DataFrame:
    """Analyse each movie into ``out/<name>`` and write ``out/summary.csv``.

    Parameters
    ----------
    movies : sequence of Path
        Movie files or OME-Zarr folders (see :func:`expand_inputs`).
    out : path
        Batch folder; created if needed. Results go to ``out/<name>`` with names from
        :func:`result_names`.
    params : Params
        Parameters for every movie.
    axes, scheduler, workers
        Passed to :func:`mtrack.pipeline.analyse_movie`.
    overwrite : bool
        Redo movies that are already finished (default: skip them).
    only : sequence of int, optional
        Indices of the movies to process (a job-array task); the others are left alone.
    summary : bool
        Write ``summary.csv`` (after every movie, so it is current if the batch stops).
    progress : MovieProgress, optional
        Progress callbacks.
    movie_params : mapping of Path to Params, optional
        Parameters for particular movies (e.g. their own bleed-through coefficient).
    report : bool
        Also write each analysed movie's ``report.html`` (:func:`mtrack.report.write_report`);
        a report that fails is noted in ``error`` and the movie still counts as done.

    Returns
    -------
    pandas.DataFrame
        The summary, one row per processed movie, with ``status`` ``done``, ``skipped``
        (finished earlier) or ``failed`` and the error message of a failure.
    """
    from .pipeline import analyse_movie

    if not movies:
        raise BatchError("no movies to analyse")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BatchError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    names = result_names(movies)
    selected = range(len(movies)) if only is None else only
    for i in selected:
        if not 0 <= i < len(movies):
            raise BatchError(f"task {i} is out of range (the batch has {len(movies)} movies)")
    progress = progress or MovieProgress()
    rows: list[dict[str, Any]] = []
    for i in selected:
        movie, folder = Path(movies[i]), out / names[i]
        started = time.perf_counter()
        if progress.start:
            progress.start(i, movie)
        if folder.is_dir() and (folder / "run.json").is_file() and not overwrite:
            row = {**_finished_row(movie, folder), "status": "skipped"}
        else:
            _clear_partial(out, names[i])
            try:
                own = (movie_params or {}).get(Path(movie).absolute(), params)
                analyse_movie(movie, folder, own, axes=axes, scheduler=scheduler,
                              workers=workers, progress=progress.frames, overwrite=overwrite)
                row = {**_finished_row(movie, folder), "status": "done"}
            except Exception as err:  # noqa: BLE001 (isolate one movie's failure; the batch goes on)
                row = {"movie": str(movie), "results": "", "status": "failed",
                       "error": _one_line(err)}
            if report and row["status"] == "done":
                from .report import write_report

                try:
                    write_report(folder)
                except Exception as err:  # noqa: BLE001 (the results stand without a report)
                    row["error"] = f"report not written: {_one_line(err)}"
            row["seconds"] = round(time.perf_counter() - started, 3)
        rows.append(row)
        if progress.end:
            progress.end(i, row)
        if summary:
            write_summary(rows if only is not None else rows + _pending(movies, rows),
                          out / "summary.csv")
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, (ValueError, OSError)) and text:
        return text  # mtrack's own errors already name the file and the problem
    return f"{err.__class__.__name__}: {text}" if text else err.__class__.__name__


def _pending(movies: Sequence[Path], rows: list[dict]) -> list[dict]:
    """Rows for the movies not reached yet, so an interrupted batch's summary lists them."""
    return [{"movie": str(m), "results": "", "status": "pending"}
            for m in list(movies)[len(rows):]]
