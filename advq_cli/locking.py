"""One writer per output: an exclusive lock beside every file or folder a command writes.

The lock is ``.<name>.lock`` in the output's folder (after following symbolic links, so a
link and its target share one lock), taken with ``filelock`` (``flock`` on POSIX) and held
for the whole command, and removed when the command ends. The kernel drops the lock of a
process that dies, however it dies, so a stale lock file left by ``kill -9`` is simply
taken over by the next writer.
The holder writes its PID into the lock file; a second writer names it when it stops
(or, with ``wait``, while it waits).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from .atomic import real_path
from .errors import AdvqError, OutputLockedError
from .progress import NullReporter, Reporter


def lock_path(target: str | Path) -> Path:
    target = real_path(target)
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def exclusive(*targets: str | Path | None, wait: bool = False, reporter: Reporter | None = None) -> Iterator[None]:
    """Hold the locks of ``targets`` (None entries skipped) until the block ends.

    Taken in a fixed order, so two commands waiting on overlapping outputs cannot deadlock.
    Without ``wait`` an output another process holds stops the command with
    ``OutputLockedError``, before anything is written.
    """
    reporter = reporter or NullReporter()
    paths = sorted({real_path(t) for t in targets if t is not None})
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(_hold(path, wait, reporter))
        yield


@contextlib.contextmanager
def _hold(target: Path, wait: bool, reporter: Reporter) -> Iterator[None]:
    path = lock_path(target)
    created = _make_parent(target)
    lock = FileLock(path, on_acquired=_write_pid)
    try:
        try:
            lock.acquire(blocking=False)
        except Timeout:
            holder = _holder(path)
            if not wait:
                raise OutputLockedError(
                    f"{target} is being written by {holder}: wait for it to finish (or pass --wait to wait for it)."
                ) from None
            reporter.info(f"Waiting for {holder}, which is writing {target} …")
            lock.acquire()
        except OSError as exc:
            raise AdvqError(f"Cannot lock {target} for writing ({path}: {exc.strerror or exc}).") from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held: a waiter on the old file sees it unlinked and retries
            lock.release()
    finally:
        for folder in created:  # made only to hold the lock: a command that wrote nothing leaves none behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def _make_parent(target: Path) -> list[Path]:
    """Make the output's folder (to hold the lock); returns the folders made, deepest first.

    One clear line when a part of the path is a file.
    """
    missing = []
    for folder in (target.parent, *target.parent.parents):
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                raise AdvqError(f"Cannot write {target}: {folder} is a file, not a folder.")
            break
        missing.append(folder)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AdvqError(f"Cannot create the folder {target.parent} ({exc.strerror or exc}).") from None
    return missing


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _holder(path: Path) -> str:
    """'process <PID>' as the holder wrote it, or a vaguer phrase while it has not yet."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"process {text}" if text.isdigit() else "another process"
