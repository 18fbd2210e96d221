"""Dataset names with a scheme: ``imagefolder:PATH``, ``npz:FILE?channels=1``, ``hf:NAME``.

A plain name (``cifar10``) is looked up as it is. A name with a ``scheme:`` prefix is
looked up by its scheme, registered as ``"<scheme>:"`` through ``advq_register_datasets``;
the rest is a location (kept verbatim: paths are case-sensitive) and, after the first
``?``, options ``key=value`` joined by ``&``. The canonical text of a loaded dataset
(its ``DatasetBundle.name``) carries everything needed to load it again, so every later
command reloads it from the name stored in a profile, checkpoint or subsets file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AdvqError
from ..registry import normalise_name

SCHEME_MARK = ":"
OPTIONS_MARK = "?"


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset name: ``scheme`` is empty for a plain registered name."""

    name: str
    scheme: str = ""
    location: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def registered_name(self) -> str:
        """The registry key: the plain name, or ``<scheme>:``."""
        return f"{self.scheme}{SCHEME_MARK}" if self.scheme else self.name

    @property
    def text(self) -> str:
        """The canonical name: normalised scheme, location verbatim, options sorted."""
        if not self.scheme:
            return normalise_name(self.name)
        query = "&".join(f"{key}={value}" for key, value in sorted(self.options.items()))
        return f"{self.scheme}{SCHEME_MARK}{self.location}" + (f"{OPTIONS_MARK}{query}" if query else "")

    def location_path(self, data_dir: str | Path | None = None) -> Path:
        """The location as an absolute path: a relative one is below ``data_dir``, else the current folder."""
        path = Path(self.location).expanduser()
        return (path if path.is_absolute() else Path(data_dir or Path.cwd()) / path).resolve()

    def resolved(self, data_dir: str | Path | None = None) -> DatasetSpec:
        """The same spec with its location made absolute (``location_path``)."""
        return DatasetSpec(self.name, self.scheme, str(self.location_path(data_dir)), self.options)

    def with_options(self, **options: object) -> DatasetSpec:
        """These options added (None values skipped); one given twice with two values is refused."""
        given = {normalise_name(key): str(value) for key, value in options.items() if value is not None}
        if given and not self.scheme:
            raise AdvqError(
                f"Dataset '{self.name}' takes no options ({', '.join(sorted(given))}); "
                "they apply to datasets named scheme:LOCATION such as imagefolder:PATH, npz:FILE, hf:NAME."
            )
        for key, value in given.items():
            if self.options.get(key, value) != value:
                raise AdvqError(f"Dataset '{self.name}': option {key} is both {self.options[key]} and {value}.")
        return DatasetSpec(self.name, self.scheme, self.location, {**self.options, **given})


def parse_dataset_name(name: str) -> DatasetSpec:
    """``scheme:location?key=value&…`` or a plain name; a malformed option is one clear error."""
    name = name.strip()
    scheme, mark, rest = name.partition(SCHEME_MARK)
    if not mark:
        return DatasetSpec(name)
    location, _, query = rest.partition(OPTIONS_MARK)
    if not scheme or not location:
        raise AdvqError(f"Dataset '{name}': write SCHEME:LOCATION, e.g. imagefolder:PATH, npz:FILE or hf:NAME.")
    options: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise AdvqError(f"Dataset '{name}': option '{pair}' is not key=value.")
        options[normalise_name(key)] = value.strip()
    return DatasetSpec(name, normalise_name(scheme), location, options)


def configured_dataset_name(name: str, data_dir: str | Path | None = None, **options: object) -> str:
    """The name a command stores: options such as ``image_size`` folded in (``--image-size 32``),
    and a relative location that exists made absolute, so stored configs work from any folder
    (a hub name, which is no path here, stays as it is)."""
    spec = parse_dataset_name(name)
    if not spec.scheme and all(value is None for value in options.values()):
        return name
    spec = spec.with_options(**options)
    if spec.scheme and spec.location_path(data_dir).exists():
        spec = spec.resolved(data_dir)
    return spec.text


def take_options(spec: DatasetSpec, known: tuple[str, ...]) -> dict[str, str]:
    """The spec's options, refusing any that its scheme does not know."""
    unknown = sorted(set(spec.options) - set(known))
    if unknown:
        raise AdvqError(
            f"Dataset '{spec.name}': unknown option {', '.join(unknown)}; "
            f"{spec.scheme}: takes {', '.join(known)}."
        )
    return dict(spec.options)


def same_dataset(first: str, second: str, data_dir: str | Path | None = None) -> bool:
    """Whether two names denote one dataset: same scheme and options, locations resolving alike."""
    a, b = parse_dataset_name(first), parse_dataset_name(second)
    if not (a.scheme and b.scheme):
        return a.text == b.text
    return a.resolved(data_dir).text == b.resolved(data_dir).text
