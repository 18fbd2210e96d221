"""Where dataset files are looked for, shared by every loader so all of them behave alike.

``data_dir`` given: only there. Otherwise ``$ADVQ_DATA_DIR`` (when set), then ``./data``,
then any system-wide place a loader adds (a Debian dataset package). A dataset that is not
found raises one line naming every place looked in and how to get the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import AdvqError, DatasetNotFoundError

ENV_VAR = "ADVQ_DATA_DIR"


@dataclass(frozen=True)
class Layout:
    """How one dataset sits on disk.

    ``subdirs`` are tried below every search dir ("" is the dir itself); ``complete`` tells
    whether a candidate folder holds all the files; ``how_to_get`` ends the not-found
    message and may use ``{root}`` (where a download or unzip would go).
    """

    name: str
    subdirs: tuple[str, ...]
    complete: Callable[[Path], bool]
    how_to_get: str
    system_dirs: tuple[Path, ...] = ()


def search_dirs(data_dir: Path | None, system_dirs: Sequence[Path] = ()) -> list[Path]:
    """The folders to look in, in order."""
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = [Path(env)] if (env := os.environ.get(ENV_VAR)) else []
    return [*dirs, Path.cwd() / "data", *system_dirs]


def download_root(data_dir: Path | None) -> Path:
    """Where a download (or a manual unzip) goes: the first user folder searched."""
    return search_dirs(data_dir)[0]


def candidates(layout: Layout, data_dir: Path | None) -> list[Path]:
    """Every folder that may hold the dataset's files, in search order."""
    return [base / sub if sub else base for base in search_dirs(data_dir, layout.system_dirs) for sub in layout.subdirs]


def locate(layout: Layout, data_dir: Path | None) -> Path:
    """The first complete folder, or a one-line DatasetNotFoundError listing all tried."""
    tried = candidates(layout, data_dir)
    for folder in tried:
        if folder.is_dir() and layout.complete(folder):
            return folder
    how = layout.how_to_get.format(root=download_root(data_dir))
    raise DatasetNotFoundError(
        f"Dataset '{layout.name}' not found; looked in: {', '.join(map(str, tried))}. {how}"
    )


def locate_or_fetch(
    layout: Layout, data_dir: Path | None, download: bool, fetch: Callable[[Path], None]
) -> Path:
    """Like ``locate``; when absent and ``download`` is set, ``fetch(root)`` first, then look in root."""
    try:
        return locate(layout, data_dir)
    except DatasetNotFoundError:
        if not download:
            raise
    root = download_root(data_dir)
    try:
        fetch(root)
    except (OSError, RuntimeError) as error:
        detail = " ".join(str(error).split())
        raise AdvqError(f"Downloading dataset '{layout.name}' into {root} failed: {detail}") from error
    return locate(layout, root)
