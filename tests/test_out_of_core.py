"""Out-of-core: a movie bigger than the process may address runs through with flat memory.

``mtrack run`` reads one frame per task and streams its label images to ``labels.zarr``,
so neither the movie nor the label stacks are ever held whole. The test checks that from
outside, in a subprocess whose address space is capped with ``RLIMIT_AS`` (the ``ulimit -v``
of the shell):

- the cap is the virtual size the process has right after importing mtrack and its
  libraries (measured in the process itself: 523 MiB on the 2-core development machine,
  numba/llvmlite included) plus ``HEADROOM`` = 320 MiB. What a run adds on top of the
  imports (one frame's working arrays, thread stacks, a malloc arena, numba's compiled
  code) measured 170 MiB with the thread pools pinned as in ``ENV`` (150-205 MiB without);
- the movie is an OME-Zarr generated frame by frame (never in memory) whose *uncompressed*
  size, ``T_LONG * C * Y * X * 2`` bytes = 660 MiB, is twice ``HEADROOM``: a pipeline that
  loaded the movie, or kept its frames, fails with MemoryError under the cap;
- flat memory: the peak resident memory of the long run exceeds that of a run on the same
  movie cut to ``T_SHORT`` frames (82 MiB) by at most ``RSS_GROWTH`` (measured: 0-15 MiB;
  what legitimately grows with T is only the per-frame tables and the small presence
  maps). Keeping the label images in memory instead of streaming them adds 54 MiB and fails.

About 45 s alone on the development machine (80 s with a second copy running beside it).

The movie cycles (forth and back, so there is no jump) the frames of one small simulated
2D movie with fresh read noise per frame. Image analysis costs time per analysed pixel, so
to make a movie bigger than the budget in a time CI can afford, the two analysed channels
(mitochondria, membrane) come with ``C - 2`` further channels that mtrack reads with every
frame but does not analyse (other stains of a multiplexed acquisition; here rotated and
shifted copies of the simulated channels).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from mtrack.io import open_movie
from mtrack.omezarr import write_movie_zarr
from mtrack.params import Params
from mtrack.pipeline import run_movie
from mtrack.results import save_results
from mtrack.simulate import simulate_movie

MiB = 1 << 20
T_LONG = 120  # frames of the long movie
T_SHORT = T_LONG // 8  # frames of the short one
C = 44  # channels: mito, membrane and 42 not analysed
HEADROOM = 320 * MiB  # address space allowed above the post-import virtual size
RSS_GROWTH = 32 * MiB  # peak RSS the long run may add to the short run's
SEED = 11

# Runs `mtrack` (argv[2:]) under RLIMIT_AS = post-import VmSize + argv[1] bytes; prints the
# memory figures as the last line of stdout.
LAUNCHER = r"""
import json, resource, sys
import dask.array, numpy, pandas, scipy.ndimage, skan, skimage.morphology, zarr  # noqa
import mtrack.cli, mtrack.pipeline  # noqa

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

base_vm, base_rss = status("VmSize"), status("VmRSS")
limit = base_vm + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
code = mtrack.cli.main(sys.argv[2:])
sys.stdout.flush()
print("MEMORY " + json.dumps({
    "base_vm": base_vm, "base_rss": base_rss, "limit": limit, "peak_vm": status("VmPeak"),
    "peak_rss": status("VmHWM")}))  # not ru_maxrss: it keeps the forking parent's peak
sys.exit(code)
"""

# one BLAS thread, at most two malloc arenas, one zarr I/O thread and one blosc thread: each
# thread reserves an 8 MiB stack and each arena 64 MiB of address space, and their number
# would otherwise depend on the machine
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "MALLOC_ARENA_MAX": "2", "ZARR_THREADING__MAX_WORKERS": "1", "BLOSC_NTHREADS": "1"}


def _frame_function(image: np.ndarray, n_channels: int):
    """``frame(t)``: the simulated frames forth and back, fresh noise, extra channels."""
    n = image.shape[0]
    period = 2 * n - 2

    def frame(t: int) -> np.ndarray:
        k = t % period
        k = k if k < n else period - k
        rng = np.random.default_rng([SEED, t])
        analysed = image[k] + rng.poisson(2.0, image[k].shape).astype(image.dtype)
        others = [np.roll(np.rot90(image[k, j % 2], j // 2 % 4, axes=(1, 2)), 7 * j + t, axis=-1)
                  for j in range(n_channels - 2)]
        return np.concatenate([analysed, np.stack(others)])

    return frame


def _write_movie(path: Path, sim, n_frames: int) -> int:
    _, _, z, y, x = sim.image.shape
    names = list(sim.channel_names) + [f"stain{j}" for j in range(C - 2)]
    shape = (n_frames, C, z, y, x)
    write_movie_zarr(path, _frame_function(sim.image, C), shape=shape, dtype=np.uint16,
                     scale=sim.scale, frame_interval=sim.frame_interval, channel_names=names)
    return int(np.prod(shape)) * 2


def _run_capped(movie: Path, out: Path) -> dict:
    cmd = [sys.executable, "-c", LAUNCHER, str(HEADROOM), "run", str(movie), "--out", str(out),
           "--quiet", "--workers", "1"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=400,
                          env={**os.environ, **ENV})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MEMORY ")]
    assert proc.returncode == 0 and lines, (
        f"mtrack run {movie.name} failed under RLIMIT_AS (headroom {HEADROOM / MiB:.0f} MiB): "
        f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("MEMORY "):])


def _check_results(out: Path, n_frames: int) -> None:
    for name in ("events.csv", "cells.csv", "bridges.csv", "params.yaml", "run.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["counts"]["frames"] == n_frames
    cells = pd.read_csv(out / "cells.csv")
    assert sorted(cells["t"].unique()) == list(range(n_frames)), "a frame has no cells"
    assert len(pd.read_csv(out / "events.csv")) > 0
    labels = zarr.open_group(str(out / "labels.zarr"), mode="r")
    for layer in ("recipients", "donors", "bridges"):
        assert labels[layer].shape[0] == n_frames, layer
    assert np.any(labels["recipients"][n_frames - 1]), "last frame's recipients not written"
    assert np.any(labels["donors"][n_frames - 1]), "last frame's donor objects not written"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_movie_larger_than_address_space_runs_with_flat_memory(tmp_path):
    started = time.perf_counter()
    sim = simulate_movie(ndim=2, seed=SEED, frames=8)
    short_movie, long_movie = tmp_path / "short.ome.zarr", tmp_path / "long.ome.zarr"
    short_bytes = _write_movie(short_movie, sim, T_SHORT)
    long_bytes = _write_movie(long_movie, sim, T_LONG)
    assert long_bytes >= 2 * HEADROOM, "the long movie must be twice the headroom"

    short = _run_capped(short_movie, tmp_path / "short")
    long = _run_capped(long_movie, tmp_path / "long")
    _check_results(tmp_path / "short", T_SHORT)
    _check_results(tmp_path / "long", T_LONG)

    summary = (f"movie {long_bytes / MiB:.0f} MiB uncompressed ({T_LONG}x{C}x"
               f"{sim.image.shape[-2]}x{sim.image.shape[-1]} uint16); RLIMIT_AS "
               f"{long['limit'] / MiB:.0f} MiB = post-import VmSize {long['base_vm'] / MiB:.0f} "
               f"MiB + {HEADROOM / MiB:.0f} MiB; VmPeak {long['peak_vm'] / MiB:.0f} MiB; "
               f"peak RSS {short['peak_rss'] / MiB:.0f} MiB ({T_SHORT} frames, "
               f"{short_bytes / MiB:.0f} MiB) -> {long['peak_rss'] / MiB:.0f} MiB ({T_LONG} "
               f"frames); post-import RSS {long['base_rss'] / MiB:.0f} MiB")
    print(f"\n{summary}; {time.perf_counter() - started:.0f} s")
    assert long["peak_vm"] <= long["limit"]
    assert long["peak_rss"] - short["peak_rss"] <= RSS_GROWTH, summary
    assert long["peak_rss"] < long["base_rss"] + HEADROOM, summary

    # the chunking does not change the tables: the short movie in-process, 3 frames per task
    movie = open_movie(short_movie)
    try:
        again = run_movie(movie, Params(), scheduler="synchronous", frames_per_chunk=3)
    finally:
        movie.close()
    save_results(again, tmp_path / "again")
    for name in ("events.csv", "cells.csv", "bridges.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "short" / name).read_bytes(), name
