"""Every command's help reads well at 80 columns: no value placeholder on flags, whole sentences."""

from __future__ import annotations

import inspect

import pytest
import typer.main
from typer.testing import CliRunner

from advq_cli.cli import app

NARROW = {"COLUMNS": "80", "TERMINAL_WIDTH": "80", "NO_COLOR": "1"}


def command_paths(command=None, path=()):
    """Every command and subcommand of `advq`, as the words that name it."""
    command = command or typer.main.get_command(app)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield (*path, name), sub
        yield from command_paths(sub, (*path, name))


COMMANDS = dict(command_paths())


def render_help(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], env=NARROW)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("words", [(), *COMMANDS], ids=lambda words: " ".join(words) or "advq")
def test_help_fits_80_columns_and_flags_take_no_value(words: tuple[str, ...]) -> None:
    text = render_help(*words)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "<bool>" not in text
    if words:
        assert f"Usage: advq {' '.join(words)}" in " ".join(text.split())


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_each_command_summary_is_one_whole_sentence(words: tuple[str, ...]) -> None:
    """The first paragraph is what the parent's command list shows: one line, ending a sentence."""
    summary = inspect.cleandoc(COMMANDS[words].help or "").split("\n\n")[0]
    assert summary and "\n" not in summary
    assert summary.endswith((".", ")."))


def test_command_list_shows_each_summary_unbroken() -> None:
    listed = " ".join(render_help().replace("│", " ").split())
    for words, command in COMMANDS.items():
        if len(words) == 1:
            summary = inspect.cleandoc(command.help or "").split("\n\n")[0]
            assert " ".join(summary.split()) in listed


def test_plugins_table_keeps_names_whole_at_80_columns() -> None:
    from advq_cli.plugins import KINDS, registry

    result = CliRunner().invoke(app, ["plugins"], env=NARROW)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = {cell.strip() for line in lines for cell in line.split("│")}
    for kind in KINDS:
        for entry in registry(kind).entries():
            assert entry.name in cells
