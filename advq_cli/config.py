"""Command configuration: YAML files, command-line overrides, and value parsing.

Keys in a config file are a command's long option names, with dashes or underscores.
The precedence is: the config dataclass's defaults, then the file, then options given on
the command line. The resolved configuration is stored with every output.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from difflib import get_close_matches
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import AdvqError

C = TypeVar("C")

# Exponents of at most three digits: `Fraction("1e-999999999")` would build a billion-digit integer.
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?\s*$")


def parse_eps(value: Any, what: str = "ε") -> float:
    """`8/255`, `0.0314` or a number → a float in [0, 1] (pixel units)."""
    if isinstance(value, bool):
        raise AdvqError(f"Malformed {what} '{value}': use a number such as 0.0314 or a fraction such as 8/255.")
    if isinstance(value, (int, float)):
        result = float(value)
    else:
        text = str(value).strip()
        parts = text.split("/")
        try:
            if len(parts) == 2 and all(_NUMBER.match(p) for p in parts):
                result = float(Fraction(parts[0].strip()) / Fraction(parts[1].strip()))
            elif len(parts) == 1 and _NUMBER.match(text):
                result = float(text)
            else:
                raise ValueError(text)
        except (ValueError, ZeroDivisionError, OverflowError):
            raise AdvqError(
                f"Malformed {what} '{text}': use a number such as 0.0314 or a fraction such as 8/255."
            ) from None
    if not math.isfinite(result) or not 0.0 <= result <= 1.0:
        raise AdvqError(f"{what} must lie in [0, 1] (pixel units), got {value}.")
    return result


def parse_optional_eps(value: Any, what: str = "ε") -> float | None:
    """``parse_eps``, with None meaning "the stored default" (the checkpoint's or the profile's ε)."""
    return None if value is None else parse_eps(value, what)


def parse_fraction(value: Any, what: str = "fraction") -> float:
    """A fraction strictly inside (0, 1); accepts `0.2` or `1/5`."""
    result = parse_eps(value, what)
    if not 0.0 < result < 1.0:
        raise AdvqError(f"{what} must lie strictly between 0 and 1, got {value}.")
    return result


def parse_int_list(value: Any, what: str = "list") -> list[int]:
    """`80,120` or a YAML list → ascending non-negative integers."""
    items = value if isinstance(value, (list, tuple)) else [p for p in str(value).replace(" ", "").split(",") if p]
    try:
        numbers = [_strict_int(v) for v in items]
    except (TypeError, ValueError):
        raise AdvqError(f"Malformed {what} '{value}': use whole numbers separated by commas, such as 80,120.") from None
    if any(n < 0 for n in numbers) or numbers != sorted(set(numbers)):
        raise AdvqError(f"{what} must be ascending, distinct, non-negative whole numbers, got '{value}'.")
    return numbers


def parse_name_list(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _strict_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(str(value).strip())


def load_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a YAML mapping with `safe_load`; keys normalised to underscores."""
    if path is None:
        return {}
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise AdvqError(f"Config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a file of options.")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdvqError(f"Cannot read config file {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise AdvqError(f"Config file {path} is not UTF-8 text.") from None
    try:
        check_expanded_size(yaml.compose(text, Loader=yaml.SafeLoader), path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise AdvqError(f"Config file {path} is not valid YAML{line}.") from None
    except RecursionError:
        raise AdvqError(f"Config file {path} nests too deeply to be a mapping of options.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AdvqError(f"Config file {path} must hold a mapping of option names to values.")
    return {normalise_key(k): v for k, v in data.items()}


MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_VALUES = 100_000
"""Values a config may hold once its aliases are expanded: a "billion laughs" file stops here."""


def check_expanded_size(root: yaml.Node | None, path: Path) -> None:
    """Refuse YAML whose aliases expand to more than ``MAX_CONFIG_VALUES`` values, or refer to themselves.

    Counted on the composed node graph, where an alias is a shared node: nothing is expanded.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise AdvqError(f"Config file {path} holds a value that contains itself (a recursive alias).")
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1 + sum(size(child) for child in children)
        if total > MAX_CONFIG_VALUES:
            raise AdvqError(
                f"Config file {path} expands (through its aliases) to more than {MAX_CONFIG_VALUES} values: "
                "not a file of options."
            )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    if root is not None:
        size(root)


def normalise_key(key: Any) -> str:
    name = str(key).strip().lstrip("-").replace("-", "_")
    return "lambda_" if name == "lambda" else name


def option_name(field_name: str) -> str:
    return "--" + field_name.rstrip("_").replace("_", "-")


def resolve(cls: type[C], file_values: dict[str, Any], cli_values: dict[str, Any]) -> C:
    """Defaults < file < command line, each value parsed and validated."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    merged: dict[str, Any] = {}
    for source in (file_values, cli_values):
        for key, value in source.items():
            key = normalise_key(key)
            if key not in fields:
                hint = get_close_matches(key, list(fields), n=1)
                suggestion = f"; did you mean '{option_name(hint[0])}'?" if hint else "."
                raise AdvqError(f"Unknown option '{option_name(key)}' in the configuration{suggestion}")
            merged[key] = value
    hints = typing.get_type_hints(cls)
    parsed = {key: _coerce(fields[key], hints[key], value) for key, value in merged.items()}
    try:
        return cls(**parsed)
    except ValueError as exc:
        raise AdvqError(str(exc)) from None


def _coerce(field: dataclasses.Field, hint: Any, value: Any) -> Any:
    parser = field.metadata.get("parse")
    what = option_name(field.name)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    if value is None:
        if optional:
            return None
        raise AdvqError(f"{what} needs a value.")
    if parser is not None:
        return parser(value, what)
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    try:
        if base is bool:
            return _parse_bool(value)
        if base is int:
            return _strict_int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError(value)
            result = float(value)
            if not math.isfinite(result):
                raise ValueError(value)
            return result
        if base is str:
            return str(value)
        if base is Path:
            return Path(str(value))
        if typing.get_origin(base) is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return {normalise_key(k): v for k, v in value.items()}
    except (TypeError, ValueError):
        shown = repr(value) if isinstance(value, str) else f"'{value}'"  # a string's newlines escaped: one line
        raise AdvqError(f"Malformed value for {what}: {shown}.") from None
    return value


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def to_plain(config: Any) -> dict[str, Any]:
    """The config as YAML-ready plain values (paths as strings), keyed by option names."""
    plain: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, Path):
            value = str(value)
        plain[f.name.rstrip("_") if f.name == "lambda_" else f.name] = value
    return plain


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(to_plain(config), sort_keys=False)
