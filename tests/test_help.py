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


HEAVY = ("torch", "torchvision", "h5py", "matplotlib", "scipy", "sklearn")
IMPORTS_AFTER = """
import sys
from advq_cli.cli import main
sys.argv = ["advq", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("heavy:", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("words", [("--help",), ("--version",), *((*w, "--help") for w in COMMANDS)],
                         ids=" ".join)
def test_help_and_version_answer_without_pytorch(words: tuple[str, ...]) -> None:
    """PyTorch takes seconds to import: the commands import it where their work starts."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", IMPORTS_AFTER.format(heavy=HEAVY), *words],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "heavy: "


def test_shell_completion_answers_without_pytorch() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "_ADVQ_COMPLETE": "complete_bash", "COMP_CWORD": "2", "COMP_WORDS": "advq train --ep"}
    done = subprocess.run([sys.executable, "-c", IMPORTS_AFTER.format(heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120, env=env)
    *completions, last = done.stdout.split()
    assert "--epochs" in completions and all(c.startswith("--ep") for c in completions) and last == "heavy:"


def test_the_executable_settles_the_process_once_work_starts() -> None:
    """What `--help` skips still happens for a command that works: threads capped, imports frozen."""
    import os
    import subprocess
    import sys

    script = ("import gc, sys, torch\nfrom advq_cli.cli import main\nfrom advq_cli.threads import usable_cores\n"
              "torch.set_num_threads(usable_cores() + 3)\nsys.argv = ['advq', 'plugins', '--json']\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(torch.get_num_threads() == usable_cores(), gc.get_freeze_count() > 0)")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "True True"
