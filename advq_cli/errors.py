"""Errors the user can act on.

The library raises these; the CLI boundary prints their message as one line and exits
with status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from difflib import get_close_matches
from collections.abc import Iterable


class AdvqError(Exception):
    """Bad input or state the user can fix; no traceback needed."""


class UnknownNameError(AdvqError):
    """A plugin name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = get_close_matches(name, known, n=1)
        suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
        super().__init__(
            f"Unknown {kind} '{name}'.{suggestion} Known: {', '.join(known) or '(none)'}."
        )
        self.kind = kind
        self.name = name


class DuplicateNameError(AdvqError):
    """Two plugins registered the same name for the same kind."""


class DatasetNotFoundError(AdvqError):
    """The dataset's files are not where we looked."""


class FingerprintMismatchError(AdvqError):
    """A file written for one dataset was given for another."""


class OutputLockedError(AdvqError):
    """Another process is writing the output this command would write."""


class OutOfSpaceError(AdvqError):
    """The disk (or the process's file-size limit) ran out while writing; the previous file is intact."""
