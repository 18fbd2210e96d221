"""The options of `advq train` (and the training part of `advq profile`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_eps, parse_int_list
from ..threat import Threat


def _eps_field(default: float) -> Any:
    return field(default=default, metadata={"parse": parse_eps})


@dataclass
class TrainConfig:
    """Defaults are the paper's settings (appendix F): PreAct ResNet-18, PGD-10 at 8/255."""

    dataset: str = "cifar10"
    data_dir: str | None = None
    download: bool = False
    model: str = "preact-resnet18"
    depth: int | None = None
    width: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    method: str = "pgd-at"
    beta: float = 6.0
    lambda_: float = 0.0
    begin_epoch: int | None = None
    lambda_schedule: str = "fixed"
    method_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 160
    milestones: list[int] = field(default_factory=lambda: [80, 120], metadata={"parse": parse_int_list})
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    eps: float = _eps_field(8 / 255)
    steps: int = 10
    step_size: float = _eps_field(2 / 255)
    random_start: bool = True
    eval_examples: int | None = None
    subset: str | None = None
    seed: int = 0
    device: str | None = None
    # How the model is run (training/performance.py); checkpoints are the same either way.
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    out: Path = Path("runs/train")
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "steps"):
            if getattr(self, name) < (0 if name == "steps" else 1):
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        if self.lr <= 0 or self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("--lr must be positive; --momentum and --weight-decay non-negative.")
        if self.eval_examples is not None and self.eval_examples < 0:
            raise ValueError("--eval-examples must be 0 (off) or positive.")

    @property
    def threat(self) -> Threat:
        return Threat(eps=self.eps, steps=self.steps, step_size=self.step_size, random_start=self.random_start)

    def model_kwargs(self) -> dict[str, Any]:
        return {**self.model_options, "depth": self.depth, "width": self.width}

    def method_kwargs(self) -> dict[str, Any]:
        return {
            **self.method_options, "beta": self.beta, "lambda_": self.lambda_, "begin_epoch": self.begin_epoch,
            "lambda_schedule": self.lambda_schedule, "epochs": self.epochs,
        }


# Options that may differ between an interrupted run and its resumption.
# channels-last and compilation change only how the same arithmetic is scheduled.
RESUMABLE_DIFFERENCES = frozenset(
    {"resume", "overwrite", "device", "out", "data_dir", "download", "channels_last", "compile"}
)
