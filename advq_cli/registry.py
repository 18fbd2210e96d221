"""Typed registries built from what plugins register through the hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import AdvqError, DuplicateNameError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: what it maps to, which plugin gave it, and what it is."""

    name: str
    obj: T
    plugin: str
    description: str


def normalise_name(name: str) -> str:
    """Names are case-insensitive and use dashes, so `pgd_at` and `PGD-AT` are one name."""
    return name.strip().lower().replace("_", "-")


class Registry(Generic[T]):
    """Names of one kind (models, attacks, …), refusing duplicates and empty names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, obj: T, *, plugin: str, description: str = "") -> None:
        key = normalise_name(name) if isinstance(name, str) else ""
        if not key:
            raise AdvqError(f"Plugin '{plugin}' registered a {self.kind} with an empty name.")
        if obj is None or not callable(obj):
            raise AdvqError(f"Plugin '{plugin}' registered {self.kind} '{key}' that is not callable.")
        if key in self._entries:
            first = self._entries[key].plugin
            raise DuplicateNameError(
                f"Two plugins register the {self.kind} '{key}': '{first}' and '{plugin}'."
            )
        self._entries[key] = Entry(key, obj, plugin, (description or "").strip())

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        key = normalise_name(name)
        if key not in self._entries:
            raise UnknownNameError(self.kind, name, self._entries)
        return self._entries[key]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise_name(name) in self._entries

    def __len__(self) -> int:
        return len(self._entries)


