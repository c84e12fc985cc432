"""Where parallel work runs: local processes (joblib's loky) or a Dask cluster.

Every parallel loop of the package (bootstrap replicates, Monte Carlo replications,
per-industry estimation) goes through ``joblib.Parallel`` with seeds spawned from one
``numpy.random.SeedSequence``, so the numbers do not depend on where or in how many workers
the tasks run. A chapter wraps its work in :func:`backend` with the ``dask_scheduler``
parameter of the run: empty means local processes; an address (``tcp://host:8786``) sends the
tasks to that Dask cluster; ``"local"`` starts a ``LocalCluster`` on this machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import joblib
import numpy as np


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


def spawn_seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed``: task ``i`` gets the same stream everywhere.

    Parameters
    ----------
    seed : int
        Root seed.
    n : int
        Number of children.

    Returns
    -------
    list of numpy.random.SeedSequence
        ``SeedSequence(seed).spawn(n)``.
    """
    return np.random.SeedSequence(seed).spawn(n)


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
