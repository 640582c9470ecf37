"""Schedulers and chunking: identical tables on every engine, clear errors otherwise."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from mtrack.io import movie_from_array, open_movie
from mtrack.omezarr import write_movie_zarr
from mtrack.params import Params
from mtrack.pipeline import movie_array, run_movie
from mtrack.scheduler import SchedulerError, open_scheduler
from mtrack.simulate import simulate_movie

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def sim():
    return simulate_movie(ndim=2, seed=4, frames=9, shape=(192, 192), n_recipients=3,
                          n_transfers=1)


@pytest.fixture(scope="module")
def reference(sim):
    return run_movie(_movie(sim), Params(), scheduler="synchronous")


def _movie(sim):
    return movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                            frame_interval=sim.frame_interval, channel_names=sim.channel_names)


def _same(results, reference):
    for table in ("events", "cells", "bridges"):
        pd.testing.assert_frame_equal(getattr(results, table), getattr(reference, table))
    assert len(reference.cells) > 0


def test_movie_array_is_lazy_whole_frame_chunks(sim):
    array = movie_array(_movie(sim), frames_per_chunk=4)
    assert array.shape == sim.image.shape and array.chunks[0] == (4, 4, 1)
    assert array.chunks[1:] == tuple((n,) for n in sim.image.shape[1:])
    assert (array[5].compute() == sim.image[5]).all()


@pytest.mark.parametrize("frames_per_chunk", [2, 9])
def test_same_tables_whatever_the_chunking(sim, reference, frames_per_chunk):
    _same(run_movie(_movie(sim), Params(), workers=2, frames_per_chunk=frames_per_chunk),
          reference)


def test_same_tables_from_zarr_stores_chunked_differently(sim, reference, tmp_path):
    kw = {"scale": sim.scale, "frame_interval": sim.frame_interval,
          "channel_names": sim.channel_names}
    for chunks_t in (1, 4):
        write_movie_zarr(tmp_path / f"m{chunks_t}.zarr", sim.image, chunks_t=chunks_t, **kw)
        movie = open_movie(tmp_path / f"m{chunks_t}.zarr")
        _same(run_movie(movie, Params(), scheduler="processes", workers=2), reference)


def test_distributed_local_cluster_and_address(sim, reference, tmp_path):
    from distributed import LocalCluster

    report = tmp_path / "report.html"
    with open_scheduler("distributed", 2, performance_report=report) as client:
        _same(run_movie(_movie(sim), Params(), scheduler=client), reference)
        assert len(client.scheduler_info()["workers"]) == 2
    assert report.stat().st_size > 10_000 and b"<html" in report.read_bytes()[:2000].lower()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with open_scheduler(cluster.scheduler_address) as client:
            seen = []
            results = run_movie(_movie(sim), Params(), scheduler=client,
                                progress=lambda done, total: seen.append((done, total)))
            _same(results, reference)
    assert seen[-1] == (9, 9) and len(seen) == 9


@pytest.mark.parametrize("name, message", [
    ("spark", "unknown scheduler 'spark'"),
    ("tcp://127.0.0.1:9", "cannot reach the dask scheduler at tcp://127.0.0.1:9"),
])
def test_bad_scheduler_is_one_line(name, message):
    with pytest.raises(SchedulerError, match=message) as info:
        with open_scheduler(name, 1):
            pass
    assert "\n" not in str(info.value)


def test_performance_report_needs_distributed(tmp_path):
    with pytest.raises(SchedulerError, match="needs a distributed scheduler"):
        with open_scheduler("threads", 1, performance_report=tmp_path / "r.html"):
            pass
    with pytest.raises(SchedulerError, match="at least 1"):
        with open_scheduler("threads", 0):
            pass
