"""R training runs that differ only in their seed, trained in one pass (a stacked ensemble).

Every step takes each run's own batch (its own permutation of the epoch), stacks the R
batches, augments and attacks them and updates all R models at once through
``StackedModels``. Each run keeps its initialisation, data order, augmentation and attack
starts (its draws come from its own generator, seeded as the run alone seeds the global
one: ``random_streams``), its optimiser state and schedule, its evaluation and best
epoch, and its records. The ``TrainingRun`` objects stay the source of truth between
epochs: the stack is loaded from them before an epoch and unloaded into them after, so
their checkpoints, ``restore`` and epoch rows are those of runs trained alone.

What stays different from runs trained alone is float rounding: the stacked kernels
add in another order (``stacked``), so the runs match lone ones to a tight tolerance,
not bit for bit. The training loss is the sum over runs of each run's mean loss, so each
model's gradient is its own mean's; SGD with momentum and weight decay is elementwise,
so one optimiser over the stacked weights is R optimisers.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..methods.base import Method
from ..progress import NullReporter, Reporter
from ..random_streams import split_by_run
from .augment import crop_and_flip
from .config import TrainConfig
from .evaluation import correctness
from .loop import (
    AfterEpoch, BatchObserver, EpochStats, TrainingRun, epoch_seed, eval_mode_logits, tracking_logits, train_epochs,
)
from .performance import MixedPrecision
from .stacked import StackedModels


def why_not_together(config: TrainConfig, method: Method, distributed: bool = False) -> str | None:
    """Why runs configured so cannot train stacked (None: they can), in words for one line."""
    if distributed:
        return "under torchrun each run is already split across processes"
    if config.compile or config.channels_last:
        return "--compile and --channels-last apply to one model at a time"
    if not getattr(method, "stackable", True):
        return f"method {config.method} couples the examples of a batch (its losses depend on the whole batch)"
    return None


def train_together(
    runs: Sequence[TrainingRun], command: str, out: Path, after_epochs: Sequence[AfterEpoch], reporter: Reporter,
    label: str, observers: Sequence[BatchObserver | None] | None = None,
) -> None:
    """``train_epochs`` for ``runs`` trained together (all at one epoch)."""
    together = RunsTogether(runs)
    train_epochs(runs, lambda: together.run_epoch(observers, reporter), command, out, after_epochs, reporter, label)


class RunsTogether:
    """``runs`` (same configuration but the seed, all at the same epoch) trained one epoch at a time, together."""

    def __init__(self, runs: Sequence[TrainingRun]) -> None:
        self.runs = list(runs)
        first = self.runs[0]
        for run in self.runs[1:]:
            run.use_data_of(first)
        self.device = first.device
        self.stacked = StackedModels([run.model for run in self.runs]).to(self.device)
        self.net: nn.Module = MixedPrecision(self.stacked, self.device.type) if first.config.amp else self.stacked
        cfg = first.config
        self.optimizer = torch.optim.SGD(
            self.stacked.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )

    @property
    def size(self) -> int:
        return len(self.runs)

    def run_epoch(
        self, observers: Sequence[BatchObserver | None] | None = None, reporter: Reporter | None = None
    ) -> list[EpochStats]:
        """One epoch of every run, evaluated; each run's epoch row, in the order of ``runs``."""
        reporter = reporter or NullReporter()
        observers = list(observers) if observers is not None else [None] * self.size
        first = self.runs[0]
        epoch = first.epochs_done + 1
        if any(run.epochs_done + 1 != epoch for run in self.runs):
            raise ValueError("runs trained together must be at the same epoch")
        started = time.perf_counter()
        seeds = [epoch_seed(run.config.seed, epoch) for run in self.runs]
        generators = [torch.Generator(self.device).manual_seed(seed) for seed in seeds]
        n = len(first.labels)
        orders = torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(seed)) for seed in seeds])
        orders = orders.to(self.device)
        lr = first.optimizer.param_groups[0]["lr"]
        self._load(lr)
        with split_by_run(generators):
            totals = self._train(epoch, orders, observers, reporter)
            with warnings.catch_warnings():  # the runs' own optimisers do not step here: the stacked one does
                warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
                for run in self.runs:
                    run.scheduler.step()
            evaluated = self._evaluate(reporter)
        self._unload()
        loss, clean, robust = (totals / n).T.tolist()
        seconds = time.perf_counter() - started
        all_stats = []
        for r, run in enumerate(self.runs):
            stats = EpochStats(epoch, lr, loss[r], clean[r], robust[r], *evaluated[r], seconds)
            run.epochs_done = epoch
            run.history.append(stats)
            run.update_best(stats)
            all_stats.append(stats)
        return all_stats

    def _train(
        self, epoch: int, orders: torch.Tensor, observers: Sequence[BatchObserver | None], reporter: Reporter
    ) -> torch.Tensor:
        """The epoch's steps; per run, the sums of loss, clean correct and robust correct, (R, 3)."""
        first, runs = self.runs[0], self.size
        cfg = first.config
        totals = torch.zeros(runs, 3, dtype=torch.float64, device=self.device)
        tracks = any(o is not None for o in observers) and not getattr(first.method, "tracks_training_attack", True)
        first.method.start_epoch(epoch)
        self.net.train()
        reporter.start("batches", f"epoch {epoch}/{cfg.epochs}, {runs} runs together", first.n_batches)
        for start in range(0, orders.shape[1], cfg.batch_size):
            rows = orders[:, start : start + cfg.batch_size]
            flat = rows.reshape(-1)
            x = first.images[flat].float().div_(255)
            if first.bundle.augment:
                x = crop_and_flip(x)
            y = first.labels[flat]
            out = first.method(self.net, x, y)
            tracked = tracking_logits(self.net, first.tracking_attack, x, y) if tracks else out.adv_logits
            loss = out.losses.view(runs, -1).mean(1).sum()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            clean_logits = out.clean_logits if out.clean_logits is not None else eval_mode_logits(self.net, x)
            totals += torch.stack([
                out.losses.detach().view(runs, -1).sum(1).double(),
                (clean_logits.argmax(1) == y).view(runs, -1).sum(1).double(),
                (out.adv_logits.argmax(1) == y).view(runs, -1).sum(1).double(),
            ], 1)
            per_run = tracked.detach().view(runs, rows.shape[1], -1)
            for r, observer in enumerate(observers):
                if observer is not None:
                    observer.observe(first.global_index[rows[r]], per_run[r], y.view(runs, -1)[r])
            reporter.advance("batches")
        reporter.finish("batches")
        return totals

    def _evaluate(self, reporter: Reporter) -> list[tuple[float, float]]:
        """Each run's clean and PGD accuracy under the evaluation threat, as ``TrainingRun._evaluate``.

        Each batch of evaluation examples goes to the stack once per run, so every run
        sees the batches and draws its attack starts in the order it would alone.
        """
        first, runs = self.runs[0], self.size
        n = len(first.eval_labels)
        if n == 0:
            return [(math.nan, math.nan)] * runs
        batch = 2 * first.config.batch_size
        index = torch.cat([
            torch.arange(start, min(start + batch, n), device=self.device).repeat(runs) for start in range(0, n, batch)
        ])
        owner = torch.cat([
            torch.arange(runs, device=self.device).repeat_interleave(min(batch, n - start)) for start in range(0, n, batch)
        ])
        images, labels = first.eval_images[index], first.eval_labels[index]
        clean = correctness(self.net, images, labels, batch_size=runs * batch)
        reporter.start("eval", f"robust test accuracy, {runs} runs", n)
        robust = correctness(
            self.net, images, labels, first.eval_attack, runs * batch,
            on_batch=lambda k: reporter.advance("eval", k // runs),
        )
        reporter.finish("eval")
        counts = torch.stack([torch.bincount(owner, clean.float(), runs), torch.bincount(owner, robust.float(), runs)], 1)
        return [tuple(row) for row in (counts.float() / n).tolist()]  # float32, as a run alone divides

    def _load(self, lr: float) -> None:
        """The runs' weights, buffers and momentum into the stack and its optimiser, at this epoch's rate."""
        self.stacked.load([run.model for run in self.runs])
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        run_parameters = [list(run.model.parameters()) for run in self.runs]
        for i, stacked in enumerate(self.stacked.parameters()):
            momenta = [run.optimizer.state.get(params[i], {}).get("momentum_buffer")
                       for run, params in zip(self.runs, run_parameters)]
            self.optimizer.state.pop(stacked, None)
            if all(isinstance(m, torch.Tensor) for m in momenta):
                self.optimizer.state[stacked]["momentum_buffer"] = torch.stack(momenta)

    def _unload(self) -> None:
        """The stack's weights, buffers and momentum back into each run's model and optimiser."""
        self.stacked.unload([run.model for run in self.runs])
        run_parameters = [list(run.model.parameters()) for run in self.runs]
        for i, stacked in enumerate(self.stacked.parameters()):
            momentum = self.optimizer.state.get(stacked, {}).get("momentum_buffer")
            if momentum is None:
                continue
            for r, (run, parameters) in enumerate(zip(self.runs, run_parameters)):
                run.optimizer.state[parameters[i]]["momentum_buffer"] = momentum[r].clone()
