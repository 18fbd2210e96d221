"""Data profiling for adversarial training: `advq profile` as a library.

``profile(ProfileConfig(...))`` trains R runs, records per example and epoch whether it is
classified correctly under the training attack and its true-class probability, computes
the quality measures (plugins taking a ``RunRecord``) and the averaged problem rank, and
writes everything to one HDF5 file (see ``store``).
"""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ProfileConfig": ".config",
    "RunRecord": ".measures",
    "compute_measures": ".measures",
    "minimal_linf_steps": ".measures",
    "average_ranks": ".ranks",
    "normalised_rank": ".ranks",
    "EpochRecorder": ".recorder",
    "ProfileResult": ".run",
    "profile": ".run",
    "read_result": ".run",
    "checkpoints_dir": ".store",
    "read_quality": ".store",
})
