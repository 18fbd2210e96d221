"""Where the runs of `advq profile` execute: one after another in this process, K at once
in worker processes on this machine, or as tasks on a Ray cluster.

An executor only decides where and when each ``RunGroup`` runs (runs trained together in
one pass, ``--runs-together``, or one run alone); what a group does is the ``work``
function the driver hands it. In-process runs write straight into the profile file;
every other run writes its own run file, and the driver merges a group's runs when
``on_done`` is called for it (in this process, one group at a time, in the order groups
finish).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import AdvqError
from .config import DEFAULT_PARALLEL, PARALLEL, RAY, ProfileConfig
from .store import RunState


@dataclass(frozen=True)
class RunJob:
    """Everything one run needs, picklable so that it can travel to another process or node."""

    config: ProfileConfig
    out: Path
    """The profile file (its folder anchors the checkpoints)."""
    record: Path
    """Where the run's epochs go: ``out`` itself in-process, else the run's own file."""
    k: int
    seed: int
    previous: RunState | None
    """The progress ``record`` already holds for this run, if any."""
    threads: int
    """The driver's CPU threads: the same count gives the same arithmetic as a sequential run."""
    fingerprint: str


@dataclass(frozen=True)
class RunGroup:
    """Runs trained together in one pass (``training.together``); a run alone is a group of one."""

    jobs: tuple[RunJob, ...]

    @property
    def config(self) -> ProfileConfig:
        return self.jobs[0].config


Work = Callable[[RunGroup], None]


class Executor(Protocol):
    in_process: bool
    """Whether runs write straight into the profile file (else into their own run files)."""

    def run(self, groups: Sequence[RunGroup], work: Work, on_done: Callable[[RunGroup], None]) -> None: ...


class SequentialExecutor:
    """One group after another, here, with per-epoch progress."""

    in_process = True

    def run(self, groups: Sequence[RunGroup], work: Work, on_done: Callable[[RunGroup], None]) -> None:
        for group in groups:
            work(group)
            on_done(group)


class ProcessExecutor:
    """K groups at once, each in a fresh spawned process (its own CUDA context, memory freed when it ends).

    A failed group stops the others at once (their run files keep every finished epoch).
    """

    in_process = False

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, groups: Sequence[RunGroup], work: Work, on_done: Callable[[RunGroup], None]) -> None:
        if not groups:
            return
        outcomes: queue.Queue[tuple[RunGroup, BaseException | None]] = queue.Queue()
        pool = multiprocessing.get_context("spawn").Pool(min(self.workers, len(groups)), maxtasksperchild=1)
        try:
            for group in groups:
                pool.apply_async(
                    work, (group,), callback=lambda _, group=group: outcomes.put((group, None)),
                    error_callback=lambda error, group=group: outcomes.put((group, error)),
                )
            for _ in groups:
                group, error = outcomes.get()
                if error is not None:
                    raise error
                on_done(group)
        finally:
            pool.terminate()
            pool.join()


class RayExecutor:
    """Each group a Ray task asking for one GPU (or one CPU), on the cluster at ``address``.

    Without an address, a Ray already initialised in this process is used, else a local
    one is started (and shut down at the end). The tasks write their run files on the
    nodes' shared file system, so every node must see ``<out>.runs/`` at the same path.
    """

    in_process = False

    def __init__(self, address: str | None, max_running: int | None) -> None:
        self.ray = import_ray()
        self.address = address
        self.max_running = max_running

    def run(self, groups: Sequence[RunGroup], work: Work, on_done: Callable[[RunGroup], None]) -> None:
        if not groups:
            return
        ray = self.ray
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except ConnectionError as error:
                raise AdvqError(f"Cannot reach the Ray cluster at {self.address}: {error}".rstrip(".") + ".") from None
        try:
            gpus = 1 if _wants_gpu(groups[0].config.device, ray) else 0
            task = ray.remote(work).options(num_cpus=1, num_gpus=gpus, max_retries=0)
            waiting = [_on_task_device(group) for group in groups]
            running: dict[Any, RunGroup] = {}
            while waiting or running:
                while waiting and (self.max_running is None or len(running) < self.max_running):
                    group = waiting.pop(0)
                    running[task.remote(group)] = group
                ready, _ = ray.wait(list(running), num_returns=1)
                group = running.pop(ready[0])
                self._result(ready[0])
                on_done(group)
        finally:
            if started_here:
                ray.shutdown()

    def _result(self, ref: Any) -> None:
        """The task's outcome; a user error inside it is raised here as itself (one line)."""
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, AdvqError):
                raise error.cause from None
            raise


def _wants_gpu(device: str | None, ray: Any) -> bool:
    """A named CUDA device, or no device named and GPUs in the cluster."""
    if device:
        return device.startswith("cuda")
    return ray.cluster_resources().get("GPU", 0) > 0


def _on_task_device(group: RunGroup) -> RunGroup:
    """Ray hands a task its GPU as the only visible one: ``cuda:N`` becomes ``cuda`` there."""
    device = group.config.device
    if device and device.startswith("cuda:"):
        return RunGroup(tuple(
            dataclasses.replace(job, config=dataclasses.replace(job.config, device="cuda")) for job in group.jobs
        ))
    return group


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AdvqError("--executor ray needs Ray, which is not installed: pip install 'advq[ray]'.") from None
    return ray


def make_executor(config: ProfileConfig) -> Executor:
    """The executor ``config.executor`` names (Ray is imported here, before anything is written)."""
    if config.executor == RAY:
        return RayExecutor(config.ray_address, config.parallel)
    if config.executor == PARALLEL:
        return ProcessExecutor(config.parallel or DEFAULT_PARALLEL)
    return SequentialExecutor()
