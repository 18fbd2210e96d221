"""The adversarial training loop.

The training set lives on the device as uint8; each batch is indexed, converted and
augmented there. Per-batch statistics stay on the device and are read once per epoch.
Every epoch re-seeds the random generators from (seed, epoch), so a resumed run repeats
exactly what an uninterrupted one would have done, without saving RNG states.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_write_text
from ..attacks.pgd import PGD
from ..checkpoint import dataset_spec, model_spec, read_checkpoint, save_checkpoint
from ..config import to_plain, to_yaml
from ..curation.training_subset import load_subset
from ..datasets import DatasetBundle
from ..devices import to_device
from ..errors import AdvqError
from ..events import notify
from ..hookspecs import EpochEvent
from ..locking import exclusive
from ..lookups import build_method, build_model, get_dataset
from ..methods.base import Method
from ..progress import NullReporter, Reporter
from .augment import crop_and_flip
from .config import RESUMABLE_DIFFERENCES, TrainConfig
from .distributed import World, process_group
from .evaluation import correctness
from .performance import fast_forward

@dataclass
class EpochStats:
    epoch: int
    lr: float
    train_loss: float
    train_clean_acc: float
    train_robust_acc: float
    test_clean_acc: float
    test_robust_acc: float
    seconds: float


@dataclass
class TrainResult:
    out: Path
    best_epoch: int
    best_robust_acc: float
    best_clean_acc: float
    history: list[EpochStats] = field(default_factory=list)


class BatchObserver(Protocol):
    """Sees, for every training batch, the logits under the training attack (profiling)."""

    def observe(self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None: ...


def eval_mode_logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The logits of ``net`` in eval mode, without gradients; ``net`` is left in train mode."""
    net.eval()
    with torch.no_grad():
        logits = net(x)
    net.train()
    return logits


def tracking_logits(net: nn.Module, attack: PGD, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logits under cross-entropy PGD with the training threat, for methods whose own attack is not that."""
    return eval_mode_logits(net, attack(net, x, y))


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63 - 1)


class TrainingRun:
    """One model being trained: data on the device, model, method, optimiser, schedule.

    ``world`` says which process of a torchrun job this is (alone by default); every
    process holds the whole training set and trains on its shard of each batch.
    ``method`` replaces the configured one (``explain finetune``'s targeted training).
    """

    def __init__(
        self, config: TrainConfig, bundle: DatasetBundle | None = None, world: World | None = None,
        method: Method | None = None,
    ) -> None:
        self.world = world or World()
        self.device = self.world.device(config.device)
        self.bundle = bundle or get_dataset(config.dataset, config.data_dir, config.download)
        b = self.bundle
        self.config = config = config.with_evaluation_threat(b)
        if config.subset:
            indices = load_subset(config.subset, b)
        else:
            indices = np.arange(b.n_train, dtype=np.int64)
        self.train_indices = indices
        index = torch.from_numpy(indices)
        n_eval = b.test_images.shape[0] if config.eval_examples is None else min(config.eval_examples, len(b.test_images))
        self.global_index, self.images, self.labels, self.eval_images, self.eval_labels = to_device(
            [index, b.train_images[index], b.train_labels[index], b.test_images[:n_eval], b.test_labels[:n_eval]],
            self.device, f"The images of '{b.name}' (uint8, {len(index)} train + {n_eval} test)",
        )

        torch.manual_seed(config.seed)
        self.model_spec = model_spec(config.model, config.model_kwargs(), b)
        self.model: nn.Module = build_model(
            config.model, b.num_classes, b.in_channels, b.image_size, b.mean, b.std, **config.model_kwargs()
        ).to(self.device)
        self.net = fast_forward(
            self.model, self.device, amp=config.amp, channels_last=config.channels_last, compiled=config.compile
        )
        """What the loop calls: ``self.model`` run as configured (same parameters; ``self.model`` is saved)."""
        self.step_net = self.world.wrap(self.net, self.device)
        """What the training step calls: ``self.net``, in DDP when several processes train it."""
        self.method = method or build_method(config.method, config.threat, **config.method_kwargs())
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, config.milestones, gamma=0.1)
        self.epochs_done = 0
        self.history: list[EpochStats] = []
        self.best_epoch = 0
        self.best_robust_acc = -math.inf
        self.best_clean_acc = math.nan
        self.best_state: dict[str, torch.Tensor] = {}
        self.improved = False
        self.tracking_attack = PGD(config.eps, config.steps, config.step_size, config.random_start)
        e = config.eval_threat
        self.eval_attack = PGD(e.eps, e.steps, e.step_size, e.random_start)

    def use_data_of(self, other: TrainingRun) -> None:
        """Share ``other``'s training and evaluation tensors (same dataset, subset and evaluation
        examples), so runs trained together hold one copy of the data on the device."""
        if not np.array_equal(self.train_indices, other.train_indices) or len(self.eval_labels) != len(other.eval_labels):
            raise ValueError("runs sharing their data must train and evaluate on the same examples")
        self.global_index, self.images, self.labels = other.global_index, other.images, other.labels
        self.eval_images, self.eval_labels = other.eval_images, other.eval_labels

    @property
    def n_batches(self) -> int:
        return math.ceil(len(self.labels) / self.config.batch_size)

    def run_epoch(self, observer: BatchObserver | None = None, reporter: Reporter | None = None) -> EpochStats:
        """Train one epoch, evaluate, and update the best epoch. Returns the epoch's row."""
        reporter = reporter or NullReporter()
        cfg = self.config
        epoch = self.epochs_done + 1
        started = time.perf_counter()
        seed = epoch_seed(cfg.seed, epoch)
        torch.manual_seed(self.world.seed(seed))
        order = torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(seed)).to(self.device)
        lr = self.optimizer.param_groups[0]["lr"]
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss, clean correct, robust correct
        track_separately = observer is not None and not getattr(self.method, "tracks_training_attack", True)
        self.method.start_epoch(epoch)
        self.net.train()
        reporter.start("batches", f"epoch {epoch}/{cfg.epochs}", self.n_batches)
        for start in range(0, len(order), cfg.batch_size):
            shard = self.world.shard(order[start : start + cfg.batch_size])
            rows = shard.rows
            x = self.images[rows].float().div_(255)
            if self.bundle.augment:
                x = crop_and_flip(x)
            y = self.labels[rows]
            out = self.method(self.step_net, x, y)
            # the record is of the weights this step trained, before the optimiser moves them (as PGD-AT's)
            tracked = tracking_logits(self.net, self.tracking_attack, x, y) if track_separately and shard.weight else out.adv_logits
            loss = out.losses.mean() * shard.weight
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if shard.weight:  # 0: a stand-in row of a process that got none of this batch
                clean_logits = out.clean_logits if out.clean_logits is not None else eval_mode_logits(self.net, x)
                totals += torch.stack([
                    out.losses.detach().sum().double(),
                    (clean_logits.argmax(1) == y).sum().double(),
                    (out.adv_logits.argmax(1) == y).sum().double(),
                ])
                if observer is not None:
                    observer.observe(self.global_index[rows], tracked.detach(), y)
            reporter.advance("batches")
        reporter.finish("batches")
        self.scheduler.step()
        loss_sum, clean_sum, robust_sum = self.world.sum(totals).tolist()
        n = len(self.labels)
        test_clean, test_robust = self._evaluate(reporter)
        stats = EpochStats(epoch, lr, loss_sum / n, clean_sum / n, robust_sum / n, test_clean, test_robust,
                           time.perf_counter() - started)
        self.epochs_done = epoch
        self.history.append(stats)
        self.update_best(stats)
        return stats


    def _evaluate(self, reporter: Reporter) -> tuple[float, float]:
        """Clean and PGD accuracy under the evaluation threat on the evaluation examples, each process
        taking its part of them."""
        n = len(self.eval_labels)
        if n == 0:
            return math.nan, math.nan
        self.world.share_buffers(self.model)
        part = self.world.part(n)
        images, labels = self.eval_images[part], self.eval_labels[part]
        batch = 2 * self.config.batch_size
        clean = correctness(self.net, images, labels, batch_size=batch)
        reporter.start("eval", "robust test accuracy", len(labels))
        robust = correctness(
            self.net, images, labels, self.eval_attack, batch, on_batch=lambda k: reporter.advance("eval", k)
        )
        reporter.finish("eval")
        counts = self.world.sum(torch.stack([clean.float().sum(), robust.float().sum()]))
        clean_acc, robust_acc = (counts / n).tolist()
        return clean_acc, robust_acc

    def update_best(self, stats: EpochStats) -> None:
        """Early stopping on robust test accuracy (Rice et al. 2020); without evaluation, the last epoch."""
        robust = stats.test_robust_acc
        self.improved = math.isnan(robust) or robust > self.best_robust_acc
        if self.improved:
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            self.best_epoch = stats.epoch
            self.best_robust_acc = robust
            self.best_clean_acc = stats.test_clean_acc

    # -- persistence --------------------------------------------------------------------

    def _description(self) -> dict[str, Any]:
        """What every checkpoint of this run holds besides weights."""
        return {"model": self.model_spec, "dataset": dataset_spec(self.bundle), "config": to_plain(self.config)}

    def _payload(self) -> dict[str, Any]:
        """The description with the current weights."""
        return {**self._description(), "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}

    def epoch_event(self, command: str, out: Path) -> EpochEvent:
        """What the ``advq_on_epoch_end`` hook is told about the epoch just finished, in plain values."""
        run_dir = Path(self.config.out)
        history = tuple(asdict(stats) for stats in self.history)
        return EpochEvent(
            command=command, out=Path(out), run_dir=run_dir, run_id=run_dir.name, seed=self.config.seed,
            epoch=self.epochs_done, epochs=self.config.epochs, stats=history[-1], history=history,
            config=to_plain(self.config),
        )

    def save(self, run_dir: Path) -> None:
        """best.pt when this epoch improved, then last.pt with everything needed to resume.

        last.pt also carries the best weights, so a crash between the two writes is
        repaired on resume (``restore`` rewrites a best.pt that disagrees with last.pt).
        """
        if self.improved:
            save_checkpoint(run_dir / "best.pt", self._best_payload())
        save_checkpoint(run_dir / "last.pt", {
            **self._payload(),
            "epoch": self.epochs_done,
            "best": self._best_info(),
            "best_state_dict": self.best_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": [asdict(h) for h in self.history],
        })

    def _best_info(self) -> dict[str, Any]:
        return {"epoch": self.best_epoch, "robust_acc": self.best_robust_acc, "clean_acc": self.best_clean_acc}

    def _best_payload(self) -> dict[str, Any]:
        return {**self._description(), "state_dict": self.best_state, **self._best_info()}

    def restore(self, run_dir: Path) -> None:
        last = run_dir / "last.pt"
        state = read_checkpoint(last)
        stored = state.get("config")
        check_same_config(stored if isinstance(stored, dict) else {}, to_plain(self.config), last)
        try:
            self.model.load_state_dict(state["state_dict"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.epochs_done = int(state["epoch"])
            self.history = [EpochStats(**h) for h in state["history"]]
            best = state["best"]
            self.best_epoch, self.best_robust_acc, self.best_clean_acc = best["epoch"], best["robust_acc"], best["clean_acc"]
            self.best_state = dict(state["best_state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise AdvqError(
                f"{last} carries advq's format tag but cannot be resumed from ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else 'incomplete'}); "
                "pass --overwrite to start the run again."
            ) from None
        best_path = run_dir / "best.pt"
        if not (self.world.is_main and self.best_epoch):
            return  # only rank 0 writes, and there is no best epoch yet
        if not best_path.is_file() or read_checkpoint(best_path).get("epoch") != self.best_epoch:
            save_checkpoint(best_path, self._best_payload())


AfterEpoch = Callable[[EpochStats], None]
"""A command's own writes after an epoch (the profile's record, checkpoints), before the plugins hear of it."""


def run_epochs(
    run: TrainingRun, command: str, out: Path, after_epoch: AfterEpoch, reporter: Reporter, label: str,
    observer: BatchObserver | None = None, until: int | None = None,
) -> None:
    """Train ``run`` up to its configured epochs, or ``until`` (``train_epochs`` with one run alone)."""
    train_epochs(
        [run], lambda: [run.run_epoch(observer, reporter)], command, out, [after_epoch], reporter, label, until
    )


def train_epochs(
    runs: Sequence[TrainingRun], epoch: Callable[[], list[EpochStats]], command: str, out: Path,
    after_epochs: Sequence[AfterEpoch], reporter: Reporter, label: str, until: int | None = None,
) -> None:
    """Train ``runs`` (all at one epoch) up to their configured epochs: the one epoch loop of every command.

    ``epoch()`` trains every run one epoch, one alone or several together
    (``training.together``), and returns their rows. After each epoch the main process
    calls each run's ``after_epoch`` and then ``advq_on_epoch_end`` for it (the built-in
    CSV logger writes the run's history.csv there); under torchrun the other processes
    only train. Progress shows the runs' mean accuracies. ``until`` stops at that epoch
    rather than the configured last.
    """
    first = runs[0]
    epochs = first.config.epochs if until is None else until
    reporter.start("epochs", label, epochs)
    reporter.advance("epochs", first.epochs_done)
    while first.epochs_done < epochs:
        all_stats = epoch()
        if first.world.is_main:
            for run, after_epoch, stats in zip(runs, after_epochs, all_stats):
                after_epoch(stats)
                notify(run.epoch_event(command, out))
        shown = {
            "robust": statistics.fmean(s.train_robust_acc for s in all_stats),
            "test_robust": statistics.fmean(s.test_robust_acc for s in all_stats),
        }
        reporter.advance("epochs", 1, **{k: v for k, v in shown.items() if not math.isnan(v)})
    reporter.finish("epochs")


def check_same_config(stored: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    """A resume must continue the same experiment: refuse any other difference."""
    keys = (set(stored) | set(current)) - RESUMABLE_DIFFERENCES
    differing = sorted(k for k in keys if stored.get(k) != current.get(k))
    if differing:
        shown = ", ".join(f"{k} ({stored.get(k)!r} → {current.get(k)!r})" for k in differing)
        raise AdvqError(f"Cannot resume {where}: the configuration differs in {shown}.")


RUN_FILES = ("config.yaml", "best.pt", "last.pt", "history.csv")
"""What ``train`` writes into its run folder: any one of them means the folder holds a run."""


def prepare_run_dir(config: TrainConfig) -> tuple[Path, bool]:
    """The output folder, and whether there is a run in it to resume.

    A folder holding any of advq's run files, or files of anything else, is replaced only
    with ``--overwrite``; ``--resume`` needs the run's ``last.pt``.
    """
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise AdvqError(f"--out {out} exists and is not a folder.")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    ours = [name for name in entries if name in RUN_FILES]
    foreign = [name for name in entries if name not in RUN_FILES and not name.startswith(".")]
    resumable = "last.pt" in ours
    if config.overwrite or (config.resume and resumable):
        return out, resumable and config.resume
    if ours:
        hint = "pass --resume to continue it or" if resumable else f"it has no last.pt to resume from ({', '.join(ours)}):"
        raise AdvqError(f"{out} already holds a run: {hint} --overwrite to replace it.")
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise AdvqError(f"--out {out} holds other files ({shown}): choose an empty folder, or pass --overwrite to write beside them.")
    return out, False


def train(config: TrainConfig, reporter: Reporter | None = None, observer: BatchObserver | None = None) -> TrainResult:
    """Train as configured, writing config.yaml, best.pt, last.pt and history.csv to ``config.out``.

    Under torchrun every process trains its shard of each batch (``distributed``); rank 0
    alone writes files, reports progress and tells the plugins, and every process returns
    the same result once the files are written.
    """
    world = World.from_environment()
    reporter = (reporter or NullReporter()) if world.is_main else NullReporter()
    with exclusive(config.out if world.is_main else None, wait=config.wait, reporter=reporter):
        return _train_locked(config, world, reporter, observer)


def _train_locked(config: TrainConfig, world: World, reporter: Reporter, observer: BatchObserver | None) -> TrainResult:
    """``train`` once this process alone writes ``config.out``."""
    out, resuming = prepare_run_dir(config)
    with process_group(world, world.device(config.device)):
        run = TrainingRun(config, world=world)
        if resuming:
            run.restore(out)
            reporter.info(f"Resuming {out} after epoch {run.epochs_done}.")

        def save(stats: EpochStats) -> None:
            out.mkdir(parents=True, exist_ok=True)
            run.save(out)
            # with the epoch's checkpoint, so an --overwrite killed in its first epoch leaves the old run whole
            atomic_write_text(out / "config.yaml", to_yaml(run.config))  # with the evaluation threat filled in

        run_epochs(run, "train", out, save, reporter, "training", observer)
        world.barrier()
    return TrainResult(out, run.best_epoch, run.best_robust_acc, run.best_clean_acc, run.history)
