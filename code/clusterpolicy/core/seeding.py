"""The one seeding scheme of the package.

Every random draw of the package starts from one integer seed, :data:`DEFAULT_SEED` unless the
user gives another (the shared parameter ``seed`` of the book, ``--seed`` of the command line),
and reaches its generator through this module, in one of three ways:

**Named streams** (the synthetic data generators)
    A component of the generated data (firms, productivity, membership, ...) draws from its own
    stream: :func:`stream_rng` seeds ``numpy.random.default_rng`` with the entropy
    ``[seed, STREAMS[stream]]``. Changing one component of a generator does not move the random
    numbers of the others, and the stream numbers in :data:`STREAMS` are fixed for good.
**Spawned children** (replications, bootstrap replicates, per-group tasks)
    Task ``i`` of ``n`` uses ``SeedSequence(seed).spawn(n)[i]`` (:func:`spawn`), so its draws do
    not depend on how tasks are batched, on how many workers run them or where, nor on the
    number of tasks after it. A task that needs integer seeds for an API taking an ``int`` (a
    data generator, a matching's ties) takes the first words of its own child
    (:func:`words`): word 0 seeds its data set, further words its other random choices.
**A generator from a seed** (one seeded random choice: ties of a matching, a resample)
    :func:`generator` is ``numpy.random.default_rng(seed)`` for an integer seed or a
    ``SeedSequence`` (a spawned child).

:func:`sequence` turns a seed argument into its root ``SeedSequence`` (``None``: fresh entropy
from the operating system, which the caller records).
"""

from __future__ import annotations

import numpy as np

#: The seed of every run that names no other (the book's default data are generated with it).
DEFAULT_SEED = 20240624


#: Streams of the synthetic generators, one per component, so changing one part of the
#: generator does not move the random numbers of the others.
STREAMS = {"firms": 1, "productivity": 2, "membership": 3, "inputs": 4, "outputs": 5,
           "trade": 6, "mess": 7, "tech": 11,
           # the scenarios' own components (clusterpolicy.synthetic.scenarios)
           "firm-effect": 21, "industry-year": 22, "exit-tfp": 23, "materials-error": 24,
           "tech-scenario": 31}

Seed = int | np.integer | np.random.SeedSequence


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """The random generator of one component of the synthetic data.

    Parameters
    ----------
    seed : int
        The run's seed.
    stream : str
        A key of :data:`STREAMS` (``"firms"``, ``"productivity"``, ...).

    Returns
    -------
    numpy.random.Generator
        Seeded with ``[seed, STREAMS[stream]]``: the same draws for the same seed and stream.
    """
    return np.random.default_rng([int(seed), STREAMS[stream]])


def sequence(seed: Seed | None) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of a seed argument.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        An integer seed; a ``SeedSequence`` (returned as it is, e.g. a child spawned by
        :func:`spawn`); ``None``: fresh entropy from the operating system (its ``entropy``
        attribute records it).

    Returns
    -------
    numpy.random.SeedSequence
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def spawn(seed: Seed, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent children of ``seed``: task ``i`` gets child ``i``, wherever it runs.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence
        The root seed. A ``SeedSequence`` spawns from its own state: spawning twice from the
        same object gives new children, as :meth:`numpy.random.SeedSequence.spawn` does.
    n : int
        Number of children.

    Returns
    -------
    list of numpy.random.SeedSequence
        ``SeedSequence(seed).spawn(n)``.
    """
    return sequence(seed).spawn(int(n))


def words(seq: np.random.SeedSequence, n: int = 4) -> list[int]:
    """The first ``n`` 32-bit words of a child: integer seeds of one task.

    The words of a ``SeedSequence`` are a fixed sequence: the first word is the same whatever
    ``n`` (so ``words(seq, 1)[0] == words(seq, 4)[0]``).

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The task's child (:func:`spawn`).
    n : int, default 4
        Number of words.

    Returns
    -------
    list of int
        ``seq.generate_state(n, dtype=numpy.uint32)`` as Python integers in ``[0, 2**32)``.
    """
    return [int(v) for v in seq.generate_state(int(n), dtype=np.uint32)]


def generator(seed: Seed | None) -> np.random.Generator:
    """The random generator of one seeded choice.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        An integer seed or a spawned child (``None``: fresh OS entropy).

    Returns
    -------
    numpy.random.Generator
        ``numpy.random.default_rng(seed)`` (PCG64 seeded with ``SeedSequence(seed)``).
    """
    return np.random.default_rng(seed)
