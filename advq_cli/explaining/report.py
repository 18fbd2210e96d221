"""The outputs every `advq explain` subcommand shares: its folder, ``report.md`` and
``summary.json``, each written atomically, and the result handed back to the caller.

A subcommand computes everything first (so bad input fails before anything is written),
then writes its figures, then ``report.md``, and ``summary.json`` last: a folder with a
``summary.json`` holds a complete set of outputs.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..errors import AdvqError
from ..locking import exclusive
from ..progress import Reporter
from .figures import Drawn

SUMMARY, REPORT = "summary.json", "report.md"


@dataclass
class ExplainResult:
    """What a subcommand wrote: its folder, the summary as stored, and the files."""

    command: str
    out_dir: Path
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    """The figures, then ``report.md`` and ``summary.json``."""
    drawn: dict[str, Drawn] = field(default_factory=dict)
    """Per figure file name, the arrays its artists hold (for checks, not stored)."""


@contextlib.contextmanager
def writing(out_dir: Path | None, source: Path, command: str, wait: bool, reporter: Reporter | None = None) -> Iterator[Path]:
    """The subcommand's output folder (``output_dir``), locked against other writers until the block ends."""
    folder = Path(out_dir) if out_dir is not None else source.with_name(f"{source.stem}-{command}")
    with exclusive(folder, wait=wait, reporter=reporter):
        yield output_dir(folder, source, command)


def output_dir(out_dir: Path | None, source: Path, command: str) -> Path:
    """``out_dir``, else ``<source stem>-<command>/`` beside the source; refuses a file, and a
    folder holding another subcommand's summary (its report and summary would be replaced)."""
    folder = Path(out_dir) if out_dir is not None else source.with_name(f"{source.stem}-{command}")
    if folder.exists() and not folder.is_dir():
        raise AdvqError(f"--out-dir {folder} is a file; give a folder.")
    summary = folder / SUMMARY
    if summary.exists():
        try:
            previous = json.loads(summary.read_text(encoding="utf-8")).get("command")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != command:
            owner = f"`advq explain {previous}`" if isinstance(previous, str) else "something else"
            raise AdvqError(f"{folder} holds the outputs of {owner} ({SUMMARY}); choose another --out-dir.")
    return folder


def finish(
    command: str, out_dir: Path, summary: dict[str, Any], report: str, figures: dict[str, Drawn]
) -> ExplainResult:
    """Write ``report.md`` and then ``summary.json`` beside the figures already saved."""
    plain = to_plain({"command": command, **summary})
    atomic_write_text(out_dir / REPORT, report)
    atomic_write_text(out_dir / SUMMARY, json.dumps(plain, indent=2, allow_nan=False) + "\n")
    files = [out_dir / name for name in figures] + [out_dir / REPORT, out_dir / SUMMARY]
    return ExplainResult(command, out_dir, plain, files, figures)


def to_plain(value: Any) -> Any:
    """JSON-ready values: numpy numbers and arrays to Python, paths to text, NaN to null."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    """A value for a table; a dash for a missing one."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
