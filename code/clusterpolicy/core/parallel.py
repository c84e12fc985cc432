"""Where parallel work runs: local processes (joblib's loky) or a Dask cluster.

Every parallel loop of the package (bootstrap replicates, Monte Carlo replications,
per-industry estimation) goes through ``joblib.Parallel`` with seeds spawned from one
``numpy.random.SeedSequence`` (:func:`clusterpolicy.core.seeding.spawn`), so the numbers do
not depend on where or in how many workers the tasks run (:func:`run_tasks`). A chapter wraps
its work in :func:`backend` with the ``dask_scheduler`` parameter of the run: empty means local
processes; an address (``tcp://host:8786``) sends the tasks to that Dask cluster; ``"local"``
starts a ``LocalCluster`` on this machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import joblib


def default_n_jobs() -> int:
    """Worker count for local runs: every core this process may use.

    Returns
    -------
    int
        The CPUs of this process's affinity mask (Linux), else the machine's CPU count; at
        least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def backend(dask_scheduler: str | None = None, n_workers: int | None = None) -> Iterator[str]:
    """Run the joblib loops inside this block locally or on a Dask cluster.

    Parameters
    ----------
    dask_scheduler : str, optional
        Empty or None: local processes (joblib's loky). ``"local"``: a ``LocalCluster`` on this
        machine, closed when the block ends. Otherwise the address of a running scheduler
        (``tcp://host:8786``).
    n_workers : int, optional
        Workers of the ``LocalCluster`` (default :func:`default_n_jobs`).

    Yields
    ------
    str
        A short description of where the work runs, for the page to state.
    """
    if not dask_scheduler:
        yield f"local processes (joblib loky, {default_n_jobs()} workers)"
        return
    from dask.distributed import Client, LocalCluster

    cluster = None
    if dask_scheduler == "local":
        cluster = LocalCluster(n_workers=n_workers or default_n_jobs(), threads_per_worker=1,
                               processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(dask_scheduler)
    try:
        with joblib.parallel_config(backend="dask"):
            workers = len(client.scheduler_info()["workers"])
            yield f"Dask cluster at {client.scheduler.address} ({workers} workers)"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def worker_count(n_jobs: int | None) -> int:
    """How many workers ``n_jobs`` means (joblib's semantics), for sizing batches.

    Parameters
    ----------
    n_jobs : int or None
        ``None``, 0 or 1: one; a positive number: that many; ``-1``: every core this process
        may use (:func:`default_n_jobs`), ``-2`` all but one, and so on.

    Returns
    -------
    int
        At least 1.
    """
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, default_n_jobs() + 1 + int(n_jobs))
    return int(n_jobs)


def batches(n: int, size: int) -> list[range]:
    """Split ``range(n)`` into consecutive batches (tasks of several replicates each).

    Parameters
    ----------
    n : int
        Number of items.
    size : int
        Items per batch (the last batch may be smaller).

    Returns
    -------
    list of range
    """
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def default_batch_size(n: int, n_jobs: int | None) -> int:
    """Items per task when the caller names no batch size: about four tasks per worker.

    Parameters
    ----------
    n : int
        Number of items (replications).
    n_jobs : int or None
        Workers, with joblib's semantics (:func:`worker_count`).

    Returns
    -------
    int
        ``max(1, ceil(n / (4 workers)))``.
    """
    return max(1, -(-int(n) // (4 * worker_count(n_jobs))))


def run_tasks(function: Callable[..., Any], tasks: Sequence[Any], n_jobs: int | None,
              *args: Any) -> list[Any]:
    """``[function(task, *args) for task in tasks]``, in parallel unless ``n_jobs == 1``.

    The tasks run through ``joblib.Parallel``, so on whatever backend :func:`backend` (or a
    ``joblib.parallel_config``) set; with ``n_jobs=1`` they run in this process.

    Parameters
    ----------
    function : callable
        Called as ``function(task, *args)``; must be picklable (a top-level function) for
        process back ends.
    tasks : sequence
        One item per task (e.g. a batch of replications).
    n_jobs : int or None
        Workers (joblib's semantics).
    *args
        Passed to every call.

    Returns
    -------
    list
        The results in the order of ``tasks``.
    """
    if n_jobs == 1:
        return [function(task, *args) for task in tasks]
    return list(joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(function)(task, *args)
                                               for task in tasks))
