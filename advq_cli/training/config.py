"""The options of `advq train` (and the training part of `advq profile`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import parse_eps, parse_int_list, parse_optional_eps
from ..datasets.spec import configured_dataset_name
from ..threat import Threat

if TYPE_CHECKING:
    from ..datasets import DatasetBundle

EVAL_STEPS = 10
"""PGD-10, the paper's test attack (appendix F)."""

SEED_LIMIT = 2**63
"""Seeds reach torch.manual_seed and NumPy as 64-bit integers; every seed advq derives stays below this."""


def check_seed(seed: int, last: int | None = None) -> None:
    """Refuse a seed (or a range of seeds up to ``last``) that the random generators cannot take."""
    if not -SEED_LIMIT < seed <= (last if last is not None else seed) < SEED_LIMIT:
        raise ValueError(f"--seed must lie between -(2**63) and 2**63 - 1 (its runs' seeds too), got {seed}.")


def _eps_field(default: float | None) -> Any:
    return field(default=default, metadata={"parse": parse_eps if default is not None else parse_optional_eps})


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
    eval_eps: float | None = _eps_field(None)
    eval_step_size: float | None = _eps_field(None)
    eval_steps: int | None = None
    eval_random_start: bool = False
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
        if self.eval_steps is not None and self.eval_steps < 0:
            raise ValueError(f"--eval-steps must be 0 or more, got {self.eval_steps}.")

    @property
    def threat(self) -> Threat:
        return Threat(eps=self.eps, steps=self.steps, step_size=self.step_size, random_start=self.random_start)

    def with_evaluation_threat(self, bundle: DatasetBundle) -> TrainConfig:
        """This configuration with the evaluation threat filled in, as it is stored, so every test
        number says at which radius it was measured.

        Unset, it is the dataset's (``bundle.eval_eps``: 8/255, step 2/255, PGD-10 on the paper's
        datasets) or, where the dataset declares none, the training attack's ε, step size and
        iterations. A given ``eval_eps`` alone steps ε/4 with 10 iterations (2/255 at 8/255).
        """
        if self.eval_eps is not None:
            eps, step_size, steps = self.eval_eps, self.eval_eps / 4, EVAL_STEPS
        elif bundle.eval_eps is not None:
            eps, steps = bundle.eval_eps, EVAL_STEPS
            step_size = bundle.eval_step_size if bundle.eval_step_size is not None else eps / 4
        else:
            eps, step_size, steps = self.eps, self.step_size, self.steps
        return dataclasses.replace(
            self, eval_eps=eps, eval_step_size=self.eval_step_size if self.eval_step_size is not None else step_size,
            eval_steps=self.eval_steps if self.eval_steps is not None else steps,
        )

    @property
    def eval_threat(self) -> Threat:
        """The evaluation attack (early stopping), once ``with_evaluation_threat`` has filled it in."""
        if self.eval_eps is None or self.eval_step_size is None or self.eval_steps is None:
            raise ValueError("the evaluation threat is resolved from the dataset first (with_evaluation_threat)")
        return Threat(eps=self.eval_eps, steps=self.eval_steps, step_size=self.eval_step_size,
                      random_start=self.eval_random_start)

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
    {"resume", "overwrite", "wait", "device", "out", "data_dir", "download", "channels_last", "compile"}
)
