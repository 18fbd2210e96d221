"""Training one model with several processes under `torchrun` (DistributedDataParallel).

torchrun starts one process per GPU and tells each where it stands through WORLD_SIZE,
RANK and LOCAL_RANK. Every process draws the same permutation of the epoch and trains on
its own contiguous part (shard) of each global batch of ``--batch-size`` examples; DDP
averages the gradients, and each shard's mean loss is weighted so that this average is
the gradient of the global batch's mean loss, however unevenly the batch splits. Without
torchrun (or with one process) ``World()`` makes every helper here a no-op, so the
single-process loop does exactly what it did before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..devices import resolve_device
from ..errors import AdvqError


@dataclass(frozen=True)
class Shard:
    """This process's rows of one global batch, and the factor on their mean loss.

    ``weight`` is 0 when the global batch has fewer examples than there are processes and
    this process got none: it then trains on the batch's first row with no effect (every
    DDP process must run the backward), and that row is not counted anywhere.
    """

    rows: torch.Tensor
    weight: float


@dataclass(frozen=True)
class World:
    """Where this process stands among those training one model; the default is alone."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> World:
        """torchrun's variables, or a single process when they are absent."""
        if "WORLD_SIZE" not in environ:
            return cls()
        try:
            size = int(environ["WORLD_SIZE"])
            rank = int(environ.get("RANK", "0"))
            local_rank = int(environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise AdvqError("WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers (torchrun sets them).") from None
        if size < 1 or not 0 <= rank < size or local_rank < 0:
            raise AdvqError(
                f"Inconsistent torchrun variables: WORLD_SIZE={size}, RANK={rank}, LOCAL_RANK={local_rank}."
            )
        if size > 1 and not all(environ.get(name) for name in ("MASTER_ADDR", "MASTER_PORT")):
            raise AdvqError("WORLD_SIZE is set but MASTER_ADDR/MASTER_PORT are not: start the processes with torchrun.")
        return cls(rank, size, local_rank)

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and reports progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self, requested: str | None) -> torch.device:
        """``--device`` as usual; with several processes, CUDA means this process's GPU, cuda:LOCAL_RANK."""
        device = resolve_device(requested)
        if not self.distributed or device.type != "cuda":
            return device
        if device.index is not None and device.index != self.local_rank:
            raise AdvqError(
                f"Under torchrun each process uses the GPU of its LOCAL_RANK; pass --device cuda, not '{requested}'."
            )
        return resolve_device(f"cuda:{self.local_rank}")

    def shard(self, rows: torch.Tensor) -> Shard:
        """This process's contiguous part of a global batch; the first ``len % size`` parts get one row more.

        DDP averages gradients over the processes, so a shard's mean loss is weighted by
        size · len(shard) / len(batch): the average is then the global batch's mean loss.
        """
        if not self.distributed:
            return Shard(rows, 1.0)
        part = rows[self.part(len(rows))]
        if len(part) == 0:
            return Shard(rows[:1], 0.0)
        return Shard(part, self.size * len(part) / len(rows))

    def part(self, n: int) -> slice:
        """This process's contiguous share of ``n`` items (a batch's rows, the evaluation examples)."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def seed(self, seed: int) -> int:
        """A seed of this process's own for the attacks' random starts and augmentation; rank 0 keeps ``seed``."""
        return seed ^ (self.rank << 48)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes, in place (returned for chaining)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def share_buffers(self, model: nn.Module) -> None:
        """Give every process rank 0's buffers (batch-norm running statistics), so all evaluate one model.

        DDP sends them at the start of each training forward, but the forward itself then
        moves each process's statistics with its own shard.
        """
        if self.distributed:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def wrap(self, net: nn.Module, device: torch.device) -> nn.Module:
        """``net`` in DDP (gradients averaged; rank 0's buffers sent to all at each forward), or itself alone."""
        if not self.distributed:
            return net
        return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


@contextmanager
def process_group(world: World, device: torch.device) -> Iterator[None]:
    """Joins the other processes (NCCL on CUDA, Gloo on the CPU) and leaves them afterwards.

    A group that the caller already set up is used as it is and left in place.
    """
    if not world.distributed or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size)
    try:
        yield
    finally:
        dist.destroy_process_group()
