"""Options declared once: the commands that take `advq train`'s options from a stored run take
the training-option group's own declaration, and what is typed, only that, reaches their configs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from advq_cli.cli import app
from advq_cli.cli.configs import resolved_config
from advq_cli.cli.explain import FINETUNE_EVALUATION
from advq_cli.cli.options import SHARED
from advq_cli.explaining import CompetingConfig, FinetuneConfig
from advq_cli.explaining.competing_config import TRAINING_OPTIONS
from advq_cli.explaining.sweep_config import SET_BY_SWEEP


def command(*words: str) -> Any:
    found = typer.main.get_command(app)
    for word in words:
        found = found.commands[word]
    return found


def options(*words: str) -> dict[str, Any]:
    return {p.name: p for p in command(*words).params}


def typed(config_class: type, words: tuple[str, ...], args: list[str]):
    """The command's config from these arguments, parsed as the command line parses them."""
    ctx = command(*words).make_context(words[-1], list(args))  # parsing consumes the list
    return resolved_config(config_class, ctx)


SWEEP_TAKES = [name for name in SHARED if name not in SET_BY_SWEEP and name != "wait"]


@pytest.mark.parametrize("words, taken, source, panel", [
    pytest.param(("explain", "sweep"), SWEEP_TAKES, "the profile's", None, id="sweep"),
    pytest.param(("explain", "competing"), TRAINING_OPTIONS, "the profile's", None, id="competing"),
    pytest.param(("explain", "finetune"), FINETUNE_EVALUATION, "the checkpoint's", "Evaluation attack (L∞ PGD)",
                 id="finetune"),
])
def test_a_stored_runs_options_read_as_train_declares_them(words, taken, source, panel) -> None:
    train, mine = options("train"), options(*words)
    for name in taken:
        ours, theirs = mine[name], train[name]
        assert (ours.opts, ours.secondary_opts, ours.type.name, ours.rich_help_panel) == (
            theirs.opts, theirs.secondary_opts, theirs.type.name, panel or theirs.rich_help_panel
        ), name
        # train's words, less what a new run would default to: a stored run's value is the default here
        assert ours.help == re.sub(r" \(default: [^()]*\)", "", theirs.help) and "(default:" not in ours.help, name
        assert ours.show_default == source and theirs.show_default != source, name  # train's own is untouched


def test_competing_passes_on_only_the_training_options_typed(tmp_path) -> None:
    args = [str(tmp_path / "p.h5"), "--classes", "3", "--epochs", "2", "--milestones", "1",
            "--eps", "0.1", "--eval-zero-start", "--device", "cpu"]
    config = typed(CompetingConfig, ("explain", "competing"), args)
    assert config.training_options() == {
        **dict.fromkeys(TRAINING_OPTIONS), "epochs": 2, "milestones": [1], "eps": 0.1, "eval_random_start": False,
        "device": "cpu",
    }


def test_finetune_keeps_the_checkpoints_evaluation_threat_unless_typed(tmp_path) -> None:
    args = [str(tmp_path / "best.pt"), "--profile", str(tmp_path / "p.h5"), "--pairs", "0:8"]
    kept = typed(FinetuneConfig, ("explain", "finetune"), args)
    assert (kept.eval_eps, kept.eval_step_size, kept.eval_random_start) == (None, None, None)
    given = typed(FinetuneConfig, ("explain", "finetune"), [*args, "--eval-eps", "0.2", "--eval-random-start"])
    assert (given.eval_eps, given.eval_step_size, given.eval_random_start) == (0.2, None, True)
