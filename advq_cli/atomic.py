"""Writes that never leave a half-written file: write beside, fsync, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutOfSpaceError

try:
    import resource
except ImportError:  # Windows: no file-size limits to ask about
    resource = None  # type: ignore[assignment]


def real_path(target: str | Path) -> Path:
    """The absolute path with every symbolic link followed: where the bytes really go."""
    return Path(os.path.realpath(target))


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces the target.

    ``os.replace`` is atomic on POSIX and Windows, so a reader (or a crash) sees either
    the old file or the new one. On an exception the temporary file is removed. A symbolic
    link is written through: its target gets the new content and the link stays a link.
    """
    target = real_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _mode_for(target))
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except Exception as exc:
        reason = out_of_space(exc, tmp)
        if reason is None:
            raise
        kept = f"{target.name} is unchanged" if target.exists() else "nothing was written"
        raise OutOfSpaceError(f"Cannot write {target}: {reason}; {kept}. Free some space and run the command again.") from None
    finally:
        tmp.unlink(missing_ok=True)


FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
        errno.EFBIG: "the file would exceed the size allowed to this process"}
LOW_SPACE = 1 << 20
"""Free bytes below which a write that failed without saying why is taken for a full disk."""


def out_of_space(exc: BaseException, tmp: Path) -> str | None:
    """Why a write failed, when the reason is a full disk or a file-size limit; None otherwise.

    Python names the cause in an ``OSError`` errno (also when chained), h5py in its message;
    torch.save reports only "unexpected pos", so then the file system itself is asked.
    """
    seen: BaseException | None = exc
    while seen is not None:
        for code, reason in FULL.items():
            if (isinstance(seen, OSError) and seen.errno == code) or f"errno = {code}," in str(seen):
                return reason
        seen = seen.__cause__ or seen.__context__
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    with contextlib.suppress(OSError):
        stats = os.statvfs(tmp.parent)
        if stats.f_bavail * stats.f_frsize < LOW_SPACE:
            return FULL[errno.ENOSPC]
        if resource is not None:
            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            if limit != resource.RLIM_INFINITY and tmp.stat().st_size >= limit:
                return FULL[errno.EFBIG]
    return None


def atomic_write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 less the umask."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
