"""clusterpolicy: the helper package of the living replication report on cluster policy."""

__version__ = "0.1.0"
