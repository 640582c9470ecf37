"""Where the per-frame tasks run: a local dask scheduler, a distributed cluster, or a queue.

:func:`open_scheduler` turns the user's choice into what :func:`mtrack.pipeline.run_movie`
takes as ``scheduler``: the name of a local dask scheduler, or a ``distributed.Client``
connected to a new local cluster, an existing scheduler's address, or a SLURM/PBS
cluster described by a file (see :mod:`mtrack.cluster`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LOCAL_SCHEDULERS", "SchedulerError", "open_scheduler"]

LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
_ADDRESS = re.compile(r"^(?:[a-z]+://\S+|[\w.\-\[\]:]+:\d+)$")  # tcp://h:p, inproc://.., h:p


class SchedulerError(ValueError):
    """The chosen scheduler cannot be used (bad name, unreachable address, ...)."""


@contextlib.contextmanager
def open_scheduler(scheduler: str = "threads", workers: int | None = None, *,
                   cluster_config: str | Path | None = None,
                   performance_report: str | Path | None = None) -> Iterator[Any]:
    """Start (or connect to) the chosen scheduler for the duration of a ``with`` block.

    Parameters
    ----------
    scheduler : str
        ``"threads"`` (default), ``"processes"`` or ``"synchronous"`` for dask's local
        schedulers; ``"distributed"`` for a new ``distributed.LocalCluster`` of
        ``workers`` single-threaded worker processes; or the address of a running dask
        scheduler (``tcp://host:8786``).
    workers : int, optional
        Parallel workers (default: all cores). Ignored for a remote address.
    cluster_config : path, optional
        A cluster file (``pipelines/cluster_slurm.yaml``): start dask workers as SLURM or
        PBS jobs through dask-jobqueue. Overrides ``scheduler``.
    performance_report : path, optional
        Write dask's HTML performance report of everything run in the block (needs a
        distributed scheduler).

    Yields
    ------
    str or distributed.Client
        What :func:`mtrack.pipeline.run_movie` takes as ``scheduler``.
    """
    if workers is not None and workers < 1:
        raise SchedulerError(f"--workers must be at least 1, got {workers}")
    if cluster_config is None and scheduler in LOCAL_SCHEDULERS:
        if performance_report is not None:
            raise SchedulerError("--performance-report needs a distributed scheduler "
                                 "(--scheduler distributed, an address, or --cluster)")
        yield scheduler
        return
    if cluster_config is None and scheduler != "distributed" and not _ADDRESS.match(scheduler):
        raise SchedulerError(f"unknown scheduler {scheduler!r}: use threads, processes, "
                             "synchronous, distributed or a scheduler address like "
                             "tcp://host:8786")
    from distributed import Client, LocalCluster
    from distributed import performance_report as report

    with contextlib.ExitStack() as stack:
        if cluster_config is not None:
            from .cluster import load_cluster_config, make_cluster

            cluster = stack.enter_context(make_cluster(load_cluster_config(cluster_config)))
            client = stack.enter_context(Client(cluster))
        elif scheduler == "distributed":
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                processes=True, dashboard_address=":0", silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            except (OSError, TimeoutError) as err:
                raise SchedulerError(f"cannot reach the dask scheduler at {scheduler}: "
                                     f"{' '.join(str(err).split())}") from None
        if performance_report is not None:
            stack.enter_context(report(filename=str(performance_report)))
        yield client
