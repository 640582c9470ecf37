"""Scaling figures of the mtrack pipeline on simulated movies of growing size, 2D and 3D.

Each section prints one plain-text table per dimensionality (``--json PATH`` saves every
figure, the machine and the versions as JSON). Movies come from
:func:`mtrack.simulate.simulate_movie`; the longer movies of one field are the simulated
frames played forward and backward (ping-pong, so motion stays continuous), with fresh
seeded Poisson noise on every repeated frame, written frame by frame with
:func:`mtrack.io.write_movie_tiff` and read back lazily with :func:`mtrack.io.open_movie`,
as the command line does. Parameters are the bundled ``pipelines/confocal_2d.yaml`` (2D)
and ``pipelines/spinning_disk_3d.yaml`` (3D). A voxel is one input value: T*C*Z*Y*X.

Sections (``--sections``; all by default):

throughput
    Megavoxels per second, per field size, of (a) the whole pipeline
    (:func:`mtrack.pipeline.run_movie` on the file-backed movie, labels streamed to a
    scratch ``labels.zarr``, 1 worker and all ``--workers``), and (b) each stage of the
    per-frame core, timed separately by calling, frame by frame and in the same order, the
    functions :func:`mtrack.frame.process_frame` calls (frame read, recipient segmentation,
    donor enhancement, donor segmentation, donor bodies, depth/distance maps, object table,
    bridges, cell table, presence map, label writing), then each whole-movie step that
    :func:`~mtrack.pipeline.run_movie` runs after the frame stage (assembling the tables,
    tracking recipients and bridges, calling events, assigning routes, finishing). The
    staged mirror is checked against ``process_frame`` on the first frame ("mirror check").
    No goal: this shows where the time goes and whether the cost per voxel stays constant
    as the field grows.
memory
    Peak resident memory (``VmHWM`` of a fresh interpreter running ``mtrack.cli.main(["run",
    ...])``, which writes a full results folder with ``labels.zarr``) for 10, 40 and 160
    frames of the same field (4, 8, 16 with ``--quick``), uncompressed input,
    ``--memory-workers`` workers (default 2), beside the resident memory after importing
    mtrack only. Goal: peak at 160 frames at most 1.3x the peak at 10 frames. Also the input
    file size, the wall time and the output/input size ratio of each run.
speedup
    Wall time of ``run_movie`` for 1, 2, 4, 8, 16 ... workers (up to ``--workers``, default
    all cores), schedulers ``threads``, ``processes`` and ``distributed`` (a LocalCluster of
    single-threaded worker processes, started before timing; ``--schedulers``), on a movie with at least 4 frames
    per worker (2 with ``--quick``); speed-up = time(1 worker) / time(N workers), for the
    whole call and for the frame stage alone (``run.json`` timing). Goal on a 2-core
    machine: at least 1.7x from 1 to 2 workers.
overhead
    The cost of the dask layer: ``run_movie(workers=1, scheduler="threads")`` against a
    plain Python loop calling :func:`mtrack.pipeline.analyse_frame` frame by frame, followed
    by the same whole-movie steps; both stream labels; interleaved in one process, the
    minimum of ``--repeats`` (at least 2) runs each. Goal: ratio at most 1.1x. (The ``synchronous``
    scheduler is shown too.)
size
    Size on disk of a results folder written by ``mtrack run`` (here run in-process through
    :func:`mtrack.cli.main`; every file, ``labels.zarr`` included) over the size of the
    input movie, for an uncompressed and for a zlib-compressed input TIFF of the same
    frames. Goal: at most 1.5x. Apparent sizes (bytes in the files); allocated blocks shown
    beside them.

Usage::

    python benchmarks/scale.py [--ndim 2|3|both] [--sections throughput,memory,...]
                               [--workers N] [--frames T] [--repeats R] [--quick]
                               [--json PATH]

Fields (the first of each list is the field of the memory, speedup, overhead and size
sections): 2D 256x256, 512x512, 1024x1024 (pixel 0.3 µm), 3D 14x160x160, 20x224x224,
28x320x320 (0.4 µm, z step 1 µm); base movies of ``--frames`` frames (20 in 2D, 12 in 3D).
``--quick`` uses 128x128 and 192x192 (2D), 10x96x96 (3D), 8 and 4 frames: a smoke test of
about a minute; the figures to report come from a run without it on an otherwise idle
machine. Scratch movies and results go to a temporary folder (``--keep DIR`` keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
from skimage.measure import block_reduce

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # benchmark the working tree, installed or not
    sys.path.insert(0, str(REPO))

import mtrack
from mtrack import frame as core
from mtrack.donors import enhance_donors, segment_donor_bodies, segment_donors
from mtrack.events import call_events, mark_positive
from mtrack.io import Movie, open_movie, write_movie_tiff
from mtrack.params import Params, load_params
from mtrack.pipeline import analyse_frame, run_movie
from mtrack.results import LABEL_LAYERS, LabelWriter, create_label_store
from mtrack.scheduler import open_scheduler
from mtrack.trajectories import link_donor_objects
from mtrack.segment import segment_recipients
from mtrack.simulate import simulate_movie
from mtrack.track import track_bridges, track_recipients

SECTIONS = ("throughput", "memory", "speedup", "overhead", "size")
PIPELINE_FILES = {2: REPO / "pipelines" / "confocal_2d.yaml",
                  3: REPO / "pipelines" / "spinning_disk_3d.yaml"}
# spatial shapes: (Y, X) in 2D, (Z, Y, X) in 3D; the first is the field of the other sections
SHAPES = {
    "full": {2: [(256, 256), (512, 512), (1024, 1024)],
             3: [(14, 160, 160), (20, 224, 224), (28, 320, 320)]},
    "quick": {2: [(128, 128), (192, 192)], 3: [(10, 96, 96)]},
}
MEMORY_FRAMES = {"full": (10, 40, 160), "quick": (4, 8, 16)}
BASE_FRAMES = {"full": {2: 20, 3: 12}, "quick": {2: 8, 3: 4}}
FRAME_STAGES = ("read", "recipients", "donor_enhance", "donor_segment", "donor_bodies",
                "distances", "objects", "bridges", "cells", "presence", "labels")
MOVIE_STEPS = ("assemble", "track_recipients", "track_bridges", "link_donors",
               "call_events", "finish")
MB = 1e6

# Runs the command line in a fresh interpreter and writes its own peak resident memory and
# wall time to argv[1]; "--imports-only" reports after the imports alone. The peak is VmHWM of
# /proc/self/status, the high-water mark of this process's own address space: ru_maxrss is
# not used because Linux carries it over from the forking parent across exec, so a child of a
# big benchmark process would report at least the parent's size (RUSAGE_CHILDREN likewise
# keeps the largest child, not the latest one).
_LAUNCHER = r"""
import json, resource, sys, time
start = time.perf_counter()
report, argv = sys.argv[1], sys.argv[2:]
if argv == ["--imports-only"]:
    import mtrack.cli, mtrack.io, mtrack.params, mtrack.pipeline, mtrack.results
    rc = 0
else:
    from mtrack.cli import main
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
wall = time.perf_counter() - start
hwm = None
try:
    with open("/proc/self/status") as fh:
        hwm = [int(l.split()[1]) for l in fh if l.startswith("VmHWM:")][0]
except (OSError, IndexError, ValueError):
    pass
with open(report, "w") as fh:
    json.dump({"rc": rc, "vmhwm_kib": hwm, "wall_s": wall,
               "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, fh)
"""


# --------------------------------------------------------------------------- helpers


class Clock:
    """Accumulate wall time per named step (``with clock("name"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time (s) of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(max(1, repeats)):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def table(title: str, header: list[str], rows: list[list[object]]) -> str:
    """Format a plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))

    out = [title, line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def shape_name(shape: tuple[int, ...]) -> str:
    """``(14, 160, 160)`` -> ``"14x160x160"``."""
    return "x".join(str(s) for s in shape)


def folder_bytes(path: Path) -> tuple[int, int]:
    """Apparent bytes (sum of file sizes) and allocated bytes of every file under ``path``."""
    apparent = allocated = 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def machine() -> dict:
    """Cores, memory, CPU model, load, date and versions of this run."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {"mtrack": mtrack.__version__, "python": platform.python_version()}
    for name in ("numpy", "dask", "scipy", "scikit-image", "tifffile", "zarr", "pandas"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10,
                                check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "ram_bytes": ram,
        "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "git": commit or None,
        "versions": versions,
    }


def header_text(info: dict, args: argparse.Namespace) -> str:
    """The header printed above the tables."""
    v = info["versions"]
    ram = f"{info['ram_bytes'] / 2**30:.1f} GiB" if info["ram_bytes"] else "unknown"
    load = info["loadavg_1min"]
    load = f"{load:.2f}" if load is not None else "unknown"
    lines = [
        f"mtrack scaling benchmark  {info['date']}  ({'quick' if args.quick else 'full'} sizes)",
        (f"machine: {info['cpu_count']} cores ({info['cpus_usable']} usable), {ram} RAM, "
         f"{info['cpu_model']}; load {load} at start"),
        (f"versions: mtrack {v['mtrack']} (git {info['git']}), python {v['python']}, "
         f"numpy {v['numpy']}, dask {v['dask']}, scipy {v['scipy']}, scikit-image "
         f"{v['scikit-image']}, zarr {v['zarr']}, tifffile {v['tifffile']}"),
        (f"settings: ndim {args.ndim}, sections {','.join(args.sections)}, max workers "
         f"{args.workers}, memory/size workers {args.memory_workers}, repeats {args.repeats}, "
         f"seed {args.seed}"),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- movies


class PingPong:
    """A lazy ``(T, C, Z, Y, X)`` movie of ``frames`` frames cycled from a simulation.

    Frame ``t`` is simulated frame ``0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...``; frames after
    the first pass carry fresh Poisson noise drawn from ``default_rng((seed, t))`` (the
    values are resampled as Poisson counts, so their noise variance about doubles).
    Indexable as ``image[t, c, z]`` (what :func:`mtrack.io.write_movie_tiff` reads).
    """

    def __init__(self, image: np.ndarray, frames: int, seed: int) -> None:
        self.base = image
        self.shape = (frames, *image.shape[1:])
        self.dtype = image.dtype
        self.seed = seed
        self._cached: tuple[int, np.ndarray] | None = None

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as a ``(C, Z, Y, X)`` array."""
        if self._cached is not None and self._cached[0] == t:
            return self._cached[1]
        n = self.base.shape[0]
        period = max(2 * (n - 1), 1)
        i = t % period
        src = i if i < n else period - i
        out = self.base[src]
        if t >= n:
            rng = np.random.default_rng((self.seed, t))
            out = np.clip(rng.poisson(out.astype(np.float64)), 0, np.iinfo(np.uint16).max)
            out = out.astype(self.dtype)
        self._cached = (t, out)
        return out

    def __getitem__(self, key: tuple) -> np.ndarray:
        t, *rest = key
        return self.frame(int(t))[tuple(rest)]


class Movies:
    """Simulates each field once and writes movies of it into a scratch folder."""

    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.seed = seed
        self._sims: dict = {}

    def simulation(self, ndim: int, shape: tuple[int, ...], frames: int):
        """The simulation of this field (``max(8, frames)`` frames), computed once."""
        key = (ndim, shape, max(8, frames))
        if key not in self._sims:
            self._sims[key] = simulate_movie(ndim=ndim, frames=key[2], seed=self.seed,
                                             shape=shape)
        return self._sims[key]

    def write(self, ndim: int, shape: tuple[int, ...], frames: int, *, sim_frames: int,
              compress: bool = False) -> Path:
        """Write (once) a ``frames``-frame movie of the field simulated over ``sim_frames``."""
        path = self.folder / (f"movie_{ndim}d_{shape_name(shape)}_{sim_frames}s_{frames}t"
                              f"{'_zlib' if compress else ''}.tif")
        if not path.exists():
            sim = self.simulation(ndim, shape, sim_frames)
            write_movie_tiff(path, PingPong(sim.image, frames, self.seed), scale=sim.scale,
                             frame_interval=sim.frame_interval, channel_names=sim.channel_names,
                             compress=compress)
        return path


def voxels(movie: Movie) -> int:
    """Input voxels T*C*Z*Y*X."""
    return int(np.prod(movie.shape))


def label_store(folder: Path, movie: Movie, name: str) -> LabelWriter:
    """A fresh scratch ``labels.zarr`` for ``movie``."""
    n_t, _, n_z, n_y, n_x = movie.shape
    path = folder / name
    shutil.rmtree(path, ignore_errors=True)
    return create_label_store(path, (n_t, n_z, n_y, n_x), movie.scale)


# --------------------------------------------------------------------------- the mirror


def staged_frame(movie: Movie, t: int, params: Params, clock: Clock,
                 labels: LabelWriter | None) -> tuple:
    """:func:`mtrack.pipeline.analyse_frame` step by step, each step timed on ``clock``.

    Mirrors :func:`mtrack.frame.process_frame` call for call (its public functions, and
    the module's private helpers ``_edt``, ``_object_measurements``, ``_bridges`` and
    ``_cell_measurements`` where it calls them); :func:`mirror_check` catches drift. Returns
    ``(FrameResult, (cells, objects, presence, bridge_table))`` as analyse_frame makes them.
    """
    scale, roles = movie.scale, params.input
    with clock("read"):
        frame = movie.frame(t)
        if np.issubdtype(frame.dtype, np.floating) and not np.all(np.isfinite(frame)):
            raise ValueError(f"frame {t} contains NaN or infinite values")
        mito = np.asarray(frame[roles.mito_channel], dtype=np.float32)
        membrane = np.asarray(frame[roles.membrane_channel], dtype=np.float32)
        nuclei = None
        if roles.nuclei_channel is not None:
            nuclei = np.asarray(frame[roles.nuclei_channel], dtype=np.float32)
    with clock("recipients"):
        recipients = segment_recipients(membrane, scale, params.recipient, nuclei=nuclei)
    with clock("donor_enhance"):
        tophat, snr = enhance_donors(mito, scale, params.donor, membrane=membrane)
    with clock("donor_segment"):
        donors = segment_donors(snr, scale, params.donor)
    with clock("donor_bodies"):
        bodies = segment_donor_bodies(snr >= params.donor.threshold_sigma / 2, recipients,
                                      scale, params.donor)
    with clock("distances"):
        depth = core.recipient_depth(recipients, scale)
        body_distance = (core._edt(~bodies, scale) if bodies.any()
                         else np.full(mito.shape, np.inf))
    with clock("objects"):
        objects = core._object_measurements(donors, recipients, depth, body_distance, mito,
                                            tophat, snr, scale, params)
    with clock("bridges"):
        skeleton, bridge_table, on_bridge = core._bridges(membrane, recipients, bodies, objects,
                                                          scale, params)
        objects["bridge"] = on_bridge
    with clock("cells"):
        cells = core._cell_measurements(recipients, donors, bodies, body_distance, mito,
                                        objects, scale, params)
    with clock("presence"):
        presence = block_reduce(snr, core.presence_block(scale, snr.shape[0] > 1, params),
                                     np.max).astype(np.float32)
    result = core.FrameResult(recipients, donors, bodies, cells, objects, presence, skeleton,
                              bridge_table)
    with clock("labels"):
        if labels is not None:
            labels.write(t, {name: getattr(result, name) for name in LABEL_LAYERS})
        tables = (cells.assign(t=t), objects.assign(t=t), presence, bridge_table.assign(t=t))
    return result, tables


def mirror_check(movie: Movie, params: Params) -> str:
    """Compare the staged mirror with :func:`mtrack.frame.process_frame` on frame 0."""
    staged, _ = staged_frame(movie, 0, params, Clock(), None)
    direct = core.process_frame(movie.frame(0), movie.scale, params)
    bad = []
    for name in ("recipients", "donors", "bodies", "presence", "bridges"):
        if not np.array_equal(getattr(staged, name), getattr(direct, name)):
            bad.append(name)
    for name in ("cells", "objects", "bridge_table"):
        a, b = getattr(staged, name), getattr(direct, name)
        if not (a.shape == b.shape and a.reset_index(drop=True).equals(b.reset_index(drop=True))):
            bad.append(name)
    return "ok" if not bad else "MISMATCH in " + ", ".join(bad) + " (update staged_frame)"


def movie_steps(per_frame: list[tuple], movie: Movie, params: Params, clock: Clock) -> tuple:
    """The whole-movie steps of :func:`mtrack.pipeline.run_movie` after the frame stage."""
    import pandas as pd

    with clock("assemble"):
        cells = pd.concat([f[0] for f in per_frame], ignore_index=True)
        objects = pd.concat([f[1] for f in per_frame], ignore_index=True)
        presence = np.stack([f[2] for f in per_frame])
        bridges = pd.concat([f[3] for f in per_frame], ignore_index=True)
    with clock("track_recipients"):
        cells = track_recipients(cells, movie.scale, params.track)
    with clock("track_bridges"):
        bridges = track_bridges(bridges, cells, movie.scale, params.track)
    with clock("link_donors"):
        trajectories = link_donor_objects(objects, movie.scale, movie.frame_interval,
                                          params.track)
    with clock("call_events"):
        events = call_events(objects, cells, movie.scale, movie.frame_interval, params,
                             presence, bridges=bridges, trajectories=trajectories)
    with clock("finish"):
        transits = events.loc[events["route"] == "tnt", "bridge_id"].astype(int).value_counts()
        bridges["transits"] = bridges["bridge_id"].map(transits).fillna(0).astype(int)
        cells["positive"] = mark_positive(cells, events)
        cells = cells.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
    return events, cells, bridges


def plain_loop(movie: Movie, params: Params, labels: LabelWriter | None) -> tuple:
    """The pipeline without dask: analyse_frame frame by frame, then the movie steps."""
    per_frame = [analyse_frame(movie, t, params, labels) for t in range(movie.shape[0])]
    return movie_steps(per_frame, movie, params, Clock())


# --------------------------------------------------------------------------- sections


def section_throughput(ctx: dict, ndim: int) -> tuple[dict, str]:
    """Megavoxels/s of the whole pipeline and of every stage, for growing fields."""
    args, movies, params, scratch = ctx["args"], ctx["movies"], ctx["params"][ndim], ctx["tmp"]
    frames = ctx["frames"][ndim]
    rows_data = []
    for shape in ctx["shapes"][ndim]:
        movie = open_movie(movies.write(ndim, shape, frames, sim_frames=frames))
        n_vox = voxels(movie)
        check = mirror_check(movie, params)
        clock = Clock()  # per stage, the best of the repeats
        for _ in range(args.repeats):
            run = Clock()
            labels = label_store(scratch, movie, "throughput_labels.zarr")
            gc.collect()
            per_frame = [staged_frame(movie, t, params, run, labels)[1]
                         for t in range(movie.shape[0])]
            movie_steps(per_frame, movie, params, run)
            for name, seconds in run.seconds.items():
                clock.seconds[name] = min(clock.seconds.get(name, seconds), seconds)
        whole = {}
        for w in sorted({1, args.workers}):
            whole[w] = best_of(lambda w=w, movie=movie: run_movie(
                movie, params, scheduler="threads", workers=w,
                labels=label_store(scratch, movie, "throughput_labels.zarr")), args.repeats)
        frame_s = sum(clock.seconds[s] for s in FRAME_STAGES)
        movie_s = sum(clock.seconds[s] for s in MOVIE_STEPS)
        rows_data.append({
            "shape_zyx": list(shape), "frames": movie.shape[0], "voxels": n_vox,
            "mirror_check": check, "stage_s": dict(clock.seconds),
            "frame_stage_sum_s": frame_s, "movie_steps_sum_s": movie_s,
            "whole_pipeline_s": {str(w): s for w, s in whole.items()},
            "whole_pipeline_mvox_s": {str(w): n_vox / s / MB for w, s in whole.items()},
        })
    # table: one row per stage, per field two columns (ms per frame, MVox/s)
    header = ["stage"]
    for r in rows_data:
        header += [f"{shape_name(r['shape_zyx'])} ms/fr", "MVox/s"]
    rows = []

    def add(name: str, seconds: list[float]) -> None:
        row: list[object] = [name]
        for r, s in zip(rows_data, seconds):
            row += [1000 * s / r["frames"], r["voxels"] / s / MB if s > 0 else float("nan")]
        rows.append(row)

    for stage in FRAME_STAGES:
        add(stage, [r["stage_s"].get(stage, 0.0) for r in rows_data])
    add("= per-frame core (sum)", [r["frame_stage_sum_s"] for r in rows_data])
    for step in MOVIE_STEPS:
        add(f"movie: {step}", [r["stage_s"].get(step, 0.0) for r in rows_data])
    add("= movie steps (sum)", [r["movie_steps_sum_s"] for r in rows_data])
    add("= staged total", [r["frame_stage_sum_s"] + r["movie_steps_sum_s"] for r in rows_data])
    for w in sorted({1, args.workers}):
        add(f"run_movie, {w} worker{'s' * (w > 1)} (threads)",
            [r["whole_pipeline_s"][str(w)] for r in rows_data])
    fields = "; ".join(f"{shape_name(r['shape_zyx'])}: {r['frames']} frames, "
                       f"{r['voxels'] / MB:.1f} MVox, mirror check {r['mirror_check']}"
                       for r in rows_data)
    text = table(f"[throughput {ndim}D] time per frame and megavoxels/s (T*C*Z*Y*X of the "
                 f"input); stages single-threaded; each figure best of {args.repeats}\n"
                 f"fields: {fields}", header, rows)
    return {"fields": rows_data}, text


def run_cli(movie: Path, out: Path, ndim: int, workers: int) -> dict:
    """``mtrack run`` in a fresh interpreter; its peak RSS, wall time and exit status."""
    report = out.parent / f".{out.name}.report.json"
    if movie.name == "--imports-only":
        cli = ["--imports-only"]
    else:
        shutil.rmtree(out, ignore_errors=True)
        cli = ["run", str(movie), "--out", str(out), "--config", str(PIPELINE_FILES[ndim]),
               "--workers", str(workers), "--quiet"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), *cli], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not report.is_file():
        raise RuntimeError(f"mtrack run failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    got = json.loads(report.read_text())
    report.unlink()
    if got["rc"] != 0:
        raise RuntimeError(f"mtrack run exited {got['rc']}: {proc.stderr.strip()[-2000:]}")
    # VmHWM where /proc exists; else ru_maxrss (an upper bound, see _LAUNCHER)
    got["peak_rss_source"] = "VmHWM" if got["vmhwm_kib"] is not None else "ru_maxrss"
    got["peak_rss_bytes"] = (got["vmhwm_kib"] or got["ru_maxrss_kib"]) * 1024
    got["process_wall_s"] = wall
    if out.is_dir():
        got["run_json_timings_s"] = json.loads((out / "run.json").read_text())["timings_s"]
    return got


def run_cli_here(movie: Path, out: Path, ndim: int, workers: int) -> None:
    """``mtrack run`` in this process (:func:`mtrack.cli.main`), its messages captured."""
    from mtrack.cli import main as cli_main

    shutil.rmtree(out, ignore_errors=True)
    argv = ["run", str(movie), "--out", str(out), "--config", str(PIPELINE_FILES[ndim]),
            "--workers", str(workers), "--quiet"]
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        rc = cli_main(argv)
    if rc != 0:
        raise RuntimeError(f"mtrack run exited {rc}: {captured.getvalue().strip()[-2000:]}")


def section_memory(ctx: dict, ndim: int) -> tuple[dict, str]:
    """Peak RSS of fresh ``mtrack run`` processes for a growing number of frames."""
    args, movies, scratch = ctx["args"], ctx["movies"], ctx["tmp"]
    shape = ctx["shapes"][ndim][0]
    counts = MEMORY_FRAMES["quick" if args.quick else "full"]
    base = run_cli(Path("--imports-only"), scratch / "imports", ndim, 1)
    runs = []
    for n in counts:
        path = movies.write(ndim, shape, n, sim_frames=counts[0])
        out = scratch / f"memory_{ndim}d_{n}"
        got = run_cli(path, out, ndim, args.memory_workers)
        in_bytes = path.stat().st_size
        out_bytes = folder_bytes(out)[0]
        n_vox = n * int(np.prod(open_movie(path).shape[1:]))
        runs.append({"frames": n, "input_bytes": in_bytes, "output_bytes": out_bytes,
                     "voxels": n_vox, **got})
        shutil.rmtree(out, ignore_errors=True)
    first = runs[0]["peak_rss_bytes"]
    rows = [["imports only", "-", "-", base["peak_rss_bytes"] / MB, "-", base["wall_s"], "-",
             "-"]]
    for r in runs:
        total = r.get("run_json_timings_s", {}).get("total", float("nan"))
        rows.append([f"{r['frames']} frames", r["input_bytes"] / MB, r["voxels"] / MB,
                     r["peak_rss_bytes"] / MB, r["peak_rss_bytes"] / first, r["process_wall_s"],
                     r["voxels"] / total / MB if total > 0 else float("nan"),
                     r["output_bytes"] / r["input_bytes"]])
    growth = runs[-1]["peak_rss_bytes"] / first
    text = table(
        f"[memory {ndim}D] peak RSS of `mtrack run` (fresh process, results folder with "
        f"labels.zarr), field {shape_name(shape)}, uncompressed input, --workers "
        f"{args.memory_workers}\ngrowth {counts[0]} -> {counts[-1]} frames: {growth:.2f}x "
        f"(goal <= 1.3x: {'met' if growth <= 1.3 else 'NOT met'})",
        ["run", "input MB", "MVox", "peak RSS MB", "vs first", "wall s", "MVox/s", "out/in"],
        rows)
    return {"imports_only": base, "runs": runs, "growth": growth, "goal": 1.3,
            "shape_zyx": list(shape), "workers": args.memory_workers}, text


def worker_counts(maximum: int) -> list[int]:
    """1, 2, 4, 8, ... up to ``maximum``, and ``maximum`` itself."""
    counts, w = [], 1
    while w <= maximum:
        counts.append(w)
        w *= 2
    if counts[-1] != maximum:
        counts.append(maximum)
    return counts


def section_speedup(ctx: dict, ndim: int) -> tuple[dict, str]:
    """Speed-up of run_movie from 1 to N workers, per scheduler (threads, processes, distributed)."""
    args, movies, params, scratch = ctx["args"], ctx["movies"], ctx["params"][ndim], ctx["tmp"]
    shape = ctx["shapes"][ndim][0]
    counts = worker_counts(args.workers)
    frames = max((2 if args.quick else 4) * counts[-1], ctx["frames"][ndim])
    sim_frames = min(frames, ctx["frames"][ndim])
    movie = open_movie(movies.write(ndim, shape, frames, sim_frames=sim_frames))
    data: dict = {"shape_zyx": list(shape), "frames": frames, "voxels": voxels(movie),
                  "schedulers": {}}
    rows = []
    for name in args.schedulers.split(","):
        timing = {}
        for w in counts:
            frame_stage = []
            # a distributed cluster is started before the clock starts, as a user's would be
            with open_scheduler(name, w) as scheduler:

                def once(w: int = w, scheduler=scheduler, frame_stage: list = frame_stage) -> None:
                    res = run_movie(movie, params, scheduler=scheduler, workers=w,
                                    labels=label_store(scratch, movie, "speedup_labels.zarr"))
                    frame_stage.append(res.run["timings_s"]["frames"])

                total = best_of(once, args.repeats)
            timing[w] = {"total_s": total, "frames_s": min(frame_stage)}
        scheduler = name
        data["schedulers"][scheduler] = {str(w): t for w, t in timing.items()}
        one = timing[1]
        for w in counts:
            t = timing[w]
            speed = one["total_s"] / t["total_s"]
            t.update(speedup=speed, frames_speedup=one["frames_s"] / t["frames_s"])
            rows.append([scheduler, w, t["total_s"], voxels(movie) / t["total_s"] / MB, speed,
                         speed / w, t["frames_s"], t["frames_speedup"]])
    two = {s: data["schedulers"][s].get("2", {}).get("speedup") for s in data["schedulers"]}
    goal = "; ".join(f"{s}: {v:.2f}x ({'met' if v >= 1.7 else 'NOT met'})"
                     for s, v in two.items() if v is not None) or "n/a (fewer than 2 workers)"
    text = table(
        f"[speedup {ndim}D] run_movie on {frames} frames of {shape_name(shape)} (file-backed, "
        f"labels streamed), best of {args.repeats}\nspeed-up 1 -> 2 workers (goal >= 1.7x): "
        f"{goal}", ["scheduler", "workers", "wall s", "MVox/s", "speed-up", "efficiency",
                    "frame stage s", "frame speed-up"], rows)
    return data, text


def section_overhead(ctx: dict, ndim: int) -> tuple[dict, str]:
    """run_movie(workers=1) against a plain loop over analyse_frame, interleaved."""
    args, movies, params, scratch = ctx["args"], ctx["movies"], ctx["params"][ndim], ctx["tmp"]
    shape, frames = ctx["shapes"][ndim][0], ctx["frames"][ndim]
    movie = open_movie(movies.write(ndim, shape, frames, sim_frames=frames))
    variants = {
        "plain loop (analyse_frame + movie steps)":
            lambda: plain_loop(movie, params, label_store(scratch, movie, "oh_labels.zarr")),
        "run_movie threads, 1 worker":
            lambda: run_movie(movie, params, scheduler="threads", workers=1,
                              labels=label_store(scratch, movie, "oh_labels.zarr")),
        "run_movie synchronous":
            lambda: run_movie(movie, params, scheduler="synchronous", workers=1,
                              labels=label_store(scratch, movie, "oh_labels.zarr")),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(2, args.repeats)):
        for name, fn in variants.items():
            times[name].append(best_of(fn, 1))
    loop = min(times["plain loop (analyse_frame + movie steps)"])
    rows = [[name, min(ts), float(np.median(ts)), 1000 * min(ts) / frames, min(ts) / loop]
            for name, ts in times.items()]
    ratio = min(times["run_movie threads, 1 worker"]) / loop
    text = table(
        f"[overhead {ndim}D] {frames} frames of {shape_name(shape)} (file-backed, labels "
        f"streamed), {len(times['run_movie synchronous'])} interleaved runs each\n"
        f"run_movie(threads, 1 worker) / plain loop = {ratio:.3f}x "
        f"(goal <= 1.1x: {'met' if ratio <= 1.1 else 'NOT met'})",
        ["variant", "min s", "median s", "ms/frame", "vs loop"], rows)
    return {"shape_zyx": list(shape), "frames": frames, "runs_s": times, "ratio": ratio,
            "goal": 1.1}, text


def section_size(ctx: dict, ndim: int) -> tuple[dict, str]:
    """Results folder size over input size, uncompressed and zlib-compressed input."""
    args, movies, scratch = ctx["args"], ctx["movies"], ctx["tmp"]
    shape, frames = ctx["shapes"][ndim][0], ctx["frames"][ndim]
    rows, data = [], {"shape_zyx": list(shape), "frames": frames, "goal": 1.5, "inputs": {}}
    for compress in (False, True):
        kind = "zlib TIFF" if compress else "uncompressed TIFF"
        path = movies.write(ndim, shape, frames, sim_frames=frames, compress=compress)
        out = scratch / f"size_{ndim}d_{'zlib' if compress else 'raw'}"
        run_cli_here(path, out, ndim, args.memory_workers)
        in_bytes = path.stat().st_size
        total, allocated = folder_bytes(out)
        zarr_bytes = folder_bytes(out / "labels.zarr")[0]
        parts = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
        ratio = total / in_bytes
        in_allocated = path.stat().st_blocks * 512
        data["inputs"][kind] = {"input_bytes": in_bytes, "output_bytes": total,
                                "input_allocated_bytes": in_allocated,
                                "output_allocated_bytes": allocated,
                                "labels_zarr_bytes": zarr_bytes, "files_bytes": parts,
                                "ratio": ratio, "ratio_allocated": allocated / in_allocated}
        rows.append([kind, in_bytes / MB, total / MB, zarr_bytes / MB,
                     (total - zarr_bytes) / MB, ratio, "met" if ratio <= 1.5 else "NOT met",
                     allocated / in_allocated])
        shutil.rmtree(out, ignore_errors=True)
    text = table(
        f"[size {ndim}D] results folder / input movie, {frames} frames of {shape_name(shape)} "
        "(MB = 1e6 bytes; out/in from apparent sizes, the goal's figure, <= 1.5x;\n"
        "allocated: the same from disk blocks in use, which round every small file up)",
        ["input", "input MB", "output MB", "labels.zarr MB", "other files MB", "out/in", "goal",
         "allocated out/in"], rows)
    return data, text


SECTION_FUNCS = {"throughput": section_throughput, "memory": section_memory,
                 "speedup": section_speedup, "overhead": section_overhead, "size": section_size}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ndim", choices=("2", "3", "both"), default="both")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="largest worker count (default: all cores)")
    parser.add_argument("--memory-workers", type=int, default=2,
                        help="--workers of the `mtrack run` processes (memory, size)")
    parser.add_argument("--frames", type=int,
                        help="frames of the base movies (default 20 in 2D, 12 in 3D; quick 8, 4)")
    parser.add_argument("--repeats", type=int, help="timing repeats, best kept (default 3; "
                        "1 quick)")
    parser.add_argument("--schedulers", default="threads,processes,distributed",
                        help="schedulers of the speedup section (comma-separated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also save every figure here")
    parser.add_argument("--keep", type=Path, help="keep the scratch movies and results here "
                        "(default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(SECTIONS)}")
    if args.workers < 1 or args.memory_workers < 1:
        parser.error("--workers and --memory-workers must be at least 1")
    if args.frames is not None and args.frames < 2:
        parser.error("--frames must be at least 2")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections and print their tables."""
    args = parse_args(argv)
    dims = [2, 3] if args.ndim == "both" else [int(args.ndim)]
    info = machine()
    print(header_text(info, args), flush=True)
    size = "quick" if args.quick else "full"
    frames = {d: args.frames or BASE_FRAMES[size][d] for d in dims}
    params = {}
    for d in dims:
        if PIPELINE_FILES[d].is_file():
            params[d] = load_params(PIPELINE_FILES[d])
        else:
            print(f"warning: {PIPELINE_FILES[d]} not found; default parameters", flush=True)
            params[d] = Params()
    print("params: " + ", ".join(f"{d}D {PIPELINE_FILES[d].relative_to(REPO)}" for d in dims))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        scratch, cleanup = args.keep, None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="mtrack-scale-")
        scratch = Path(cleanup.name)
    ctx = {"args": args, "movies": Movies(scratch, args.seed), "params": params,
           "frames": frames, "shapes": SHAPES[size], "tmp": scratch}
    report: dict = {"machine": info, "settings": {
        "ndim": dims, "sections": args.sections, "workers": args.workers,
        "memory_workers": args.memory_workers, "frames": frames, "repeats": args.repeats,
        "seed": args.seed, "quick": args.quick,
        "params": {d: str(PIPELINE_FILES[d].relative_to(REPO)) for d in dims}},
        "results": {}}
    started = time.perf_counter()
    try:
        for section in SECTIONS:
            if section not in args.sections:
                continue
            for d in dims:
                t0 = time.perf_counter()
                data, text = SECTION_FUNCS[section](ctx, d)
                data["section_wall_s"] = time.perf_counter() - t0
                report["results"].setdefault(section, {})[f"{d}d"] = data
                print(f"\n{text}\n({section} {d}D took {data['section_wall_s']:.1f} s)",
                      flush=True)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    report["wall_s"] = time.perf_counter() - started
    print(f"\ntotal {report['wall_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
        print(f"figures saved to {args.json}")
    return 0


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
