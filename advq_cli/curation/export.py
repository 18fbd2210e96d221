"""Exporting stored sets through the exporter plugins, atomically, with a manifest beside each.

An exporter writes into a fresh hidden staging folder inside the export folder; only
when it has finished are its entries renamed into place, and the manifest
``<name>.manifest.json`` is written last. A crash leaves the old export or the new one,
never half of one (at most a hidden ``.<name>.*.export`` folder to delete).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text, out_of_space
from ..datasets import DatasetBundle
from ..errors import AdvqError, OutOfSpaceError
from ..version import __version__
from ..plugins import registry
from ..registry import Entry
from .store import CuratedSet


def exporter_entries(formats: list[str]) -> list[Entry]:
    """The exporter plugins for these format names (an unknown name is an error)."""
    return [registry("exporters").entry(f) for f in formats]


def check_export_dir(folder: Path, names: list[str], overwrite: bool) -> None:
    """Refuse to replace earlier exports of these names unless overwriting."""
    if folder.exists() and not folder.is_dir():
        raise AdvqError(f"Export folder {folder} is a file.")
    limit = _longest_file_name(folder) - NAME_MARGIN
    for name in names:
        if len(os.fsencode(name)) > limit:
            raise AdvqError(
                f"Set name '{name[:40]}…' is {len(os.fsencode(name))} bytes long: exported files need names of at most "
                f"{limit} bytes in {folder}; choose a shorter --name."
            )
    if overwrite or not folder.exists():
        return
    taken = sorted(p.name for p in folder.iterdir() if any(_belongs(p.name, n) for n in names))
    if taken:
        raise AdvqError(f"{folder} already holds {', '.join(taken)}; add --overwrite to replace.")


NAME_MARGIN = 32
"""Bytes a file name adds to its set's name: ``.manifest.json``, the staging folder's ``.<name>.XXXXXXXX.export``, an exporter's extension."""


def _longest_file_name(folder: Path) -> int:
    """The file system's limit on one file name where ``folder`` is (or would be created)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        return int(os.pathconf(existing, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer: the common limit
        return 255


def manifest_for(subset: CuratedSet, bundle: DatasetBundle) -> dict[str, Any]:
    """What an export is: which examples, from which rank, by which rule, for which dataset."""
    return {
        "name": subset.name,
        "size": int(subset.indices.size),
        "dataset": bundle.name,
        "dataset_fingerprint": bundle.fingerprint,
        "n_train": bundle.n_train,
        "classes": list(bundle.classes),
        "class_counts": subset.class_counts(bundle),
        "rule": subset.rule,
        "params": subset.params,
        "seed": subset.seed,
        "source": subset.source,
        "mean_rank": None if np.isnan(subset.mean_rank) else subset.mean_rank,
        "config": subset.config,
        "advq_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def export_set(subset: CuratedSet, bundle: DatasetBundle, exporters: list[Entry], folder: Path) -> list[Path]:
    """Write the set in every format, then its manifest; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = manifest_for(subset, bundle)
    files: dict[str, list[str]] = {}
    for entry in exporters:
        files[entry.name] = _run_exporter(entry, subset, bundle, folder, manifest)
    manifest_path = folder / f"{subset.name}.manifest.json"
    atomic_write_text(manifest_path, json.dumps({**manifest, "files": files}, indent=2) + "\n")
    return [folder / n for names in files.values() for n in names] + [manifest_path]


def _run_exporter(
    entry: Entry, subset: CuratedSet, bundle: DatasetBundle, folder: Path, manifest: dict[str, Any]
) -> list[str]:
    stage = Path(tempfile.mkdtemp(prefix=f".{subset.name}.", suffix=".export", dir=folder))
    try:
        try:
            entry.obj(bundle, subset.indices, stage, subset.name, manifest)
        except Exception as exc:
            reason = out_of_space(exc, stage)
            if reason is None:
                raise
            raise OutOfSpaceError(
                f"Cannot export {subset.name} to {folder}: {reason}; no earlier export was changed. "
                "Free some space and run the command again."
            ) from None
        written = sorted(p.name for p in stage.iterdir())
        stray = [n for n in written if not _belongs(n, subset.name)]
        if not written or stray:
            raise AdvqError(
                f"Exporter '{entry.name}' (plugin {entry.plugin}) wrote {', '.join(stray) or 'nothing'}; "
                f"it must write entries named '{subset.name}' or '{subset.name}.<ext>'."
            )
        for n in written:
            target = folder / n
            if target.exists():
                os.replace(target, stage / f".old-{n}")
            os.replace(stage / n, target)
        return written
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _belongs(entry: str, name: str) -> bool:
    return entry == name or entry.startswith(name + ".")
