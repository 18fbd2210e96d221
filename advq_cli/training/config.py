"""The options of `advq train` (and the training part of `advq profile`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_eps, parse_int_list
from ..datasets.spec import configured_dataset_name
from ..threat import Threat


SEED_LIMIT = 2**63
"""Seeds reach torch.manual_seed and NumPy as 64-bit integers; every seed advq derives stays below this."""


def check_seed(seed: int, last: int | None = None) -> None:
    """Refuse a seed (or a range of seeds up to ``last``) that the random generators cannot take."""
    if not -SEED_LIMIT < seed <= (last if last is not None else seed) < SEED_LIMIT:
        raise ValueError(f"--seed must lie between -(2**63) and 2**63 - 1 (its runs' seeds too), got {seed}.")


def _eps_field(default: float) -> Any:
    return field(default=default, metadata={"parse": parse_eps})


@dataclass
class TrainConfig:
    """Defaults are the paper's settings (appendix F): PreAct ResNet-18, PGD-10 at 8/255.

    ``image_size`` and ``channels`` are folded into a ``scheme:`` dataset's name as its
    options (``imagefolder:PATH?image-size=32``) and its path is made absolute, so every
    later command reads the stored name back from any folder.
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    image_size: str | None = None
    channels: int | None = None
    download: bool = False
    model: str = "preact-resnet18"
    depth: int | None = None
    width: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    method: str = "pgd-at"
    beta: float = 6.0
    lambda_: float = 0.0
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
    wait: bool = False
    """Wait for another process writing ``out`` to finish, instead of stopping (``locking``)."""

    def __post_init__(self) -> None:
        self.dataset = configured_dataset_name(
            self.dataset, self.data_dir, image_size=self.image_size, channels=self.channels
        )
        for name in ("epochs", "batch_size", "steps", "depth", "width"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}.")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("--lr must be positive and --weight-decay non-negative.")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must lie in [0, 1) (SGD diverges from 1 on), got {self.momentum}.")
        check_seed(self.seed)
        if self.eval_examples is not None and self.eval_examples < 0:
            raise ValueError("--eval-examples must be 0 (off) or positive.")

    @property
    def threat(self) -> Threat:
        return Threat(eps=self.eps, steps=self.steps, step_size=self.step_size, random_start=self.random_start)

    def model_kwargs(self) -> dict[str, Any]:
        return {**self.model_options, "depth": self.depth, "width": self.width}

    def method_kwargs(self) -> dict[str, Any]:
        return {**self.method_options, "beta": self.beta, "lambda_": self.lambda_}


# Options that may differ between an interrupted run and its resumption.
# channels-last and compilation change only how the same arithmetic is scheduled.
RESUMABLE_DIFFERENCES = frozenset(
    {"resume", "overwrite", "wait", "device", "out", "data_dir", "download", "channels_last", "compile"}
)
