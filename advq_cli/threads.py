"""How many CPU threads PyTorch uses when the user has not said.

PyTorch starts one intra-op thread per physical core it sees, but it ignores a
container's CPU quota (cgroup ``cpu.max``): limited to 2 of a host's 64 cores, it runs 64
threads that take turns on 2 cores, and every parallel op waits for the slowest of them.
The count is a fixed property of the machine, never of its momentary load, so a run's
arithmetic (and so its result) is the same every time it is repeated there.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cpu_quota() -> int | None:
    """The container's CPU limit in whole cores (rounded up), or None when unlimited."""
    try:
        if CGROUP_V2.is_file():
            quota, period = CGROUP_V2.read_text().split()[:2]
        else:
            quota, period = (p.read_text().strip() for p in CGROUP_V1)
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by the container's quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, min(cores, quota) if quota else cores)


def configure_cpu_threads() -> int:
    """Cap PyTorch's intra-op threads at the usable cores, unless OMP/MKL_NUM_THREADS is set.

    Returns the number of threads in use.
    """
    import torch  # here, not at import: `advq --help` answers without PyTorch
    if not any(os.environ.get(name) for name in THREAD_VARIABLES):
        wanted = min(torch.get_num_threads(), usable_cores())
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
    return torch.get_num_threads()
