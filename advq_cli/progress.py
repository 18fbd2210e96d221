"""How long work reports progress without the library knowing about terminals.

The CLI passes a rich-backed reporter; notebooks and tests use ``NullReporter``.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def start(self, key: str, description: str, total: int) -> None: ...

    def advance(self, key: str, n: int = 1, **fields: Any) -> None: ...

    def finish(self, key: str) -> None: ...

    def info(self, message: str) -> None: ...


class NullReporter:
    """Reports nothing."""

    def start(self, key: str, description: str, total: int) -> None:
        pass

    def advance(self, key: str, n: int = 1, **fields: Any) -> None:
        pass

    def finish(self, key: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass
