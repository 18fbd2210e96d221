"""Options several commands take, declared once: the training-option group (``SHARED``) and
``Annotated`` aliases.

`advq train` and `advq profile` take the whole group, its defaults shown in `--help` coming from
``TrainConfig``; `advq explain sweep|competing|finetune` take some of it, defaulting to the stored
run's values (``inherited``). Only options typed on the command line override a `--config` file
(see ``configs.resolved_config``).
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..training.config import TrainConfig

D = TrainConfig()
TRAINING = "Training"
ATTACK = "Training attack (L∞)"
EVALUATION = "Evaluation attack (L∞ PGD, early stopping)"
DATA = "Data and model"
PERFORMANCE = "Performance"


def _opt(default: Any, *names: str, help: str, panel: str, hidden: bool = False) -> Any:
    return default, typer.Option(*names, help=help, rich_help_panel=panel, hidden=hidden)


def _eps_text(value: float) -> str:
    for denominator in (255,):
        if abs(value * denominator - round(value * denominator)) < 1e-9:
            return f"{round(value * denominator)}/{denominator}"
    return str(value)


WAIT_HELP = "If another advq process is writing the same output, wait for it instead of stopping."
DEVICE_HELP = "cpu, cuda, cuda:N (default: cuda when available)."

SharedOption = tuple[Any, tuple[Any, Any]]
"""(type hint, (default, typer.Option)) of one option a command adds to its own."""

SHARED: dict[str, SharedOption] = {
    "dataset": (str, _opt(D.dataset, "--dataset", help="Dataset plugin name (see `advq plugins`), or imagefolder:PATH, npz:FILE, hf:NAME_OR_PATH.", panel=DATA)),
    "data_dir": (Optional[str], _opt(None, "--data-dir", help="Where the dataset's files are.", panel=DATA)),
    "image_size": (Optional[str], _opt(None, "--image-size", help="Resize your own images (imagefolder:, npz:, hf:) to H or H,W pixels (bilinear).", panel=DATA)),
    "channels": (Optional[int], _opt(None, "--channels", help="Convert your own images to 1 (greyscale) or 3 (RGB) channels.", panel=DATA)),
    "download": (bool, _opt(D.download, "--download", help="Download the dataset if missing.", panel=DATA)),
    "subset": (Optional[str], _opt(None, "--subset", help="Train on FILE.npy or FILE.h5:NAME only.", panel=DATA)),
    "model": (str, _opt(D.model, "--model", help="Model plugin name.", panel=DATA)),
    "depth": (Optional[int], _opt(None, "--depth", help="Model depth (wrn).", panel=DATA)),
    "width": (Optional[int], _opt(None, "--width", help="Model width (wrn, small-cnn).", panel=DATA)),
    "method": (str, _opt(D.method, "--method", help="pgd-at, trades, mart, gairat, standard, or a plugin.", panel=TRAINING)),
    "beta": (float, _opt(D.beta, "--beta", help="TRADES/MART regularisation weight.", panel=TRAINING)),
    "lambda_": (float, _opt(D.lambda_, "--lambda", help="GAIRAT λ.", panel=TRAINING)),
    "begin_epoch": (Optional[int], _opt(None, "--begin-epoch", help="GAIRAT: first epoch with weights, plain PGD-AT before (default: half of --epochs, the reference's 60 of 120; 1: weights from the start).", panel=TRAINING)),
    "lambda_schedule": (str, _opt(D.lambda_schedule, "--lambda-schedule", help="GAIRAT λ schedule: fixed (the reference's) or piecewise (λ−1 from 3/4 of --epochs, λ−1.5 from 11/12).", panel=TRAINING)),
    "epochs": (int, _opt(D.epochs, "--epochs", help="Training epochs.", panel=TRAINING)),
    "milestones": (str, _opt("80,120", "--milestones", help="Epochs where the learning rate drops ×0.1.", panel=TRAINING)),
    "lr": (float, _opt(D.lr, "--lr", help="Initial SGD learning rate.", panel=TRAINING)),
    "momentum": (float, _opt(D.momentum, "--momentum", help="SGD momentum.", panel=TRAINING)),
    "weight_decay": (float, _opt(D.weight_decay, "--weight-decay", help="SGD weight decay.", panel=TRAINING)),
    "batch_size": (int, _opt(D.batch_size, "--batch-size", help="Examples per step.", panel=TRAINING)),
    "eval_examples": (Optional[int], _opt(None, "--eval-examples", help="Test examples for per-epoch evaluation (all by default; 0: off, keep the last epoch).", panel=TRAINING)),
    "seed": (int, _opt(D.seed, "--seed", help="Random seed.", panel=TRAINING)),
    "device": (Optional[str], _opt(None, "--device", help=DEVICE_HELP, panel=TRAINING)),
    "resume": (bool, _opt(D.resume, "--resume", help="Continue an interrupted run in --out.", panel=TRAINING)),
    "overwrite": (bool, _opt(D.overwrite, "--overwrite", help="Replace a finished run in --out.", panel=TRAINING)),
    "wait": (bool, _opt(D.wait, "--wait", help=WAIT_HELP, panel=TRAINING)),
    "eps": (str, _opt(_eps_text(D.eps), "--eps", help="Perturbation radius, e.g. 8/255 or 0.0314.", panel=ATTACK)),
    "steps": (int, _opt(D.steps, "--steps", help="PGD iterations.", panel=ATTACK)),
    "step_size": (str, _opt(_eps_text(D.step_size), "--step-size", help="PGD step size, e.g. 2/255.", panel=ATTACK)),
    "random_start": (bool, _opt(D.random_start, "--random-start/--no-random-start", help="Uniform random start in the ε-ball.", panel=ATTACK)),
    "eval_eps": (Optional[str], _opt(None, "--eval-eps", help="Radius robust test accuracy is measured at, e.g. 8/255 (default: the dataset's: 8/255 on cifar10, cifar100 and tiny-imagenet, as the paper, also for --eps 12/255; the training --eps on digits and fashion-mnist, for which the paper sets none).", panel=EVALUATION)),
    "eval_step_size": (Optional[str], _opt(None, "--eval-step-size", help="Test PGD step size (default: the dataset's, 2/255 on the paper's datasets; --eval-eps/4 with --eval-eps; the training --step-size where the training radius is used).", panel=EVALUATION)),
    "eval_steps": (Optional[int], _opt(None, "--eval-steps", help="Test PGD iterations (default: 10; the training --steps where the training radius is used).", panel=EVALUATION)),
    "eval_random_start": (bool, _opt(D.eval_random_start, "--eval-random-start/--eval-zero-start", help="Start the test PGD at a uniform random point instead of at x (default: at x, as the paper's code).", panel=EVALUATION)),
    "amp": (bool, _opt(D.amp, "--amp", help="bf16 mixed precision for the model's forward passes (fast on recent GPUs; attack gradients stay fp32).", panel=PERFORMANCE)),
    "channels_last": (bool, _opt(D.channels_last, "--channels-last", help="Channels-last memory format for the model and batches (faster convolutions on GPU).", panel=PERFORMANCE)),
    "compile": (bool, _opt(D.compile, "--compile", help="torch.compile the model (compiles for a while first; pays off on long GPU runs).", panel=PERFORMANCE)),
}

# Options several commands take, declared once.
CONFIG_FILE = Annotated[
    Optional[Path], typer.Option("--config", help="YAML file of options (long names); the command line overrides it.")
]
Wait = Annotated[bool, typer.Option("--wait", help=WAIT_HELP)]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout instead of tables.")]
Device = Annotated[Optional[str], typer.Option("--device", help=DEVICE_HELP)]
NExamples = Annotated[Optional[int], typer.Option("--n-examples", help="Evaluate the first N test examples (default: all).")]
DataDir = Annotated[
    Optional[str], typer.Option("--data-dir", help="Where the dataset's files are (default: where they were when the input was made).")
]


def with_options(options: Mapping[str, SharedOption]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add these options to a command's signature after its own; they arrive in **kwargs and in ``ctx.params``."""

    def add(func: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p for p in inspect.signature(func, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[hint, option])
            for name, (hint, (default, option)) in options.items()
        ]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        params = own + added
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return add


with_training_options = with_options(SHARED)
"""Every shared training option (`advq train`, `advq profile`)."""


def inherited(names: Collection[str], source: str, panel: str | None = None) -> dict[str, SharedOption]:
    """The shared training options among ``names`` (in the group's order) for a command whose runs
    take every option not typed from a stored run: the help shows ``source`` ("the profile's") as
    the default, in place of the group's "(default: …)" for a new run, and the options under
    ``panel`` where given. Only options typed reach the config (``configs.explicit_options``)."""
    return {name: _default_from(SHARED[name], source, panel) for name in SHARED if name in names}


_NEW_RUN_DEFAULT = re.compile(r" \(default: [^()]*\)")


def _default_from(shared: SharedOption, source: str, panel: str | None) -> SharedOption:
    hint, (default, option) = shared
    option = copy.copy(option)  # the group's own declaration keeps its default for `advq train`
    option.show_default = source
    option.help = _NEW_RUN_DEFAULT.sub("", option.help or "")
    option.rich_help_panel = panel or option.rich_help_panel
    return hint, (default, option)
