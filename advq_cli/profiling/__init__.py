"""Data profiling for adversarial training: `advq profile` as a library.

``profile(ProfileConfig(...))`` trains R runs, records per example and epoch whether it is
classified correctly under the training attack and its true-class probability, computes
the quality measures (plugins taking a ``RunRecord``) and the averaged problem rank, and
writes everything to one HDF5 file (see ``store``).
"""

from .config import ProfileConfig
from .measures import RunRecord, compute_measures, minimal_linf_steps
from .ranks import average_ranks, normalised_rank
from .recorder import EpochRecorder
from .run import ProfileResult, profile, read_result
from .store import checkpoints_dir, read_quality

__all__ = [
    "EpochRecorder", "ProfileConfig", "ProfileResult", "RunRecord", "average_ranks", "checkpoints_dir",
    "compute_measures", "minimal_linf_steps", "normalised_rank", "profile", "read_quality", "read_result",
]
