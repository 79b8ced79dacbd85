"""Task configuration: defaults (the frozen dataclass) < a preset file (JSON) < ``key=value``
overrides from the command line, each checked against the field's type."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class ConfigError(ValueError):
    """An unknown key or a value of the wrong type."""


def _convert(key: str, text, kind):
    if typing.get_origin(kind) is not None:          # tuple[int, int], dict[str, float], X | None: JSON
        return _convert_structured(key, text, kind)
    if not isinstance(text, str):
        if kind is float and isinstance(text, int) and not isinstance(text, bool):
            return float(text)
        if isinstance(text, kind) and not (kind is int and isinstance(text, bool)):
            return text
        raise ConfigError(f"{key}: expected {kind.__name__}, got {text!r}")
    try:
        if kind is bool:
            if text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            raise ValueError
        return kind(text)
    except ValueError:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {text!r}") from None


def _convert_structured(key: str, text, kind):
    """A value of a parameterised type, given as JSON on the command line (``k_range=[4, 8]``,
    ``weights=null``) or as JSON in a preset, validated by pydantic against the field's type."""
    from pydantic import TypeAdapter, ValidationError

    try:
        value = json.loads(text) if isinstance(text, str) else text
        return TypeAdapter(kind).validate_python(value, strict=False)
    except (json.JSONDecodeError, ValidationError):
        raise ConfigError(f"{key}: expected {kind} as JSON, got {text!r}") from None


def resolve_config(config_type, preset: Path | None = None, overrides: typing.Sequence[str] = ()):
    """The config with the preset's values, then the overrides, applied over the defaults."""
    hints = typing.get_type_hints(config_type)
    known = {f.name for f in dataclasses.fields(config_type)}
    values: dict[str, object] = {}
    sources = []
    if preset is not None:
        sources += list(json.loads(Path(preset).read_text()).items())
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator:
            raise ConfigError(f"override {override!r} is not key=value")
        sources.append((key.strip(), text.strip()))
    for key, raw in sources:
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(known))}")
        values[key] = _convert(key, raw, hints[key])
    return dataclasses.replace(config_type(), **values)
