"""The one seeding scheme of the package.

Every random draw starts from one integer seed (:data:`DEFAULT_SEED` unless the user gives
another) and is spread into independent streams with :class:`numpy.random.SeedSequence`.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SEED = 20240624


# Streams of the seed sequence: one per component, so changing one part of the generator does
# not move the random numbers of the others.
STREAMS = {"firms": 1, "productivity": 2, "membership": 3, "inputs": 4, "outputs": 5,
           "trade": 6, "mess": 7, "tech": 11}


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
