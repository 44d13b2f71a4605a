"""JSON request values, checked field by field with Cloudflare's 400/12130 errors.

The control-plane objects store much of what a client sends verbatim (so SDK and Terraform
round trips are exact); these helpers check only the JSON type a field must have, so that
what is stored is always what the served schema promises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias

from servicetokens.domain.durations import DurationError, parse_go_duration
from servicetokens.domain.errors import ValidationError

__all__ = [
    "JsonObject",
    "boolean",
    "duration",
    "json_object",
    "number",
    "object_list",
    "request_object",
    "string",
    "string_list",
]

JsonObject: TypeAlias = dict[str, object]
"""A decoded JSON object, kept in the order it was sent."""

MAX_TEXT = 4096
"""The longest free-text field stored (names have their own, shorter limit)."""


def request_object(body: object) -> Mapping[str, object]:
    """The request body as an object (`{}` for an empty body)."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object")
    return body


def boolean(value: object, field: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be a boolean")
    return value


def string(value: object, field: str, *, max_length: int = MAX_TEXT) -> str:
    """A JSON string of at most `max_length` characters, without NUL."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string")
    if len(value) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters")
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters")
    return value


def number(value: object, field: str, *, minimum: float | None = None) -> int | float:
    """A finite JSON number (not a boolean), at least `minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{field} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{field} must be a finite number")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{field} must be at least {minimum:g}")
    return value


def json_object(value: object, field: str) -> JsonObject:
    """A JSON object, kept as sent (checked only to be one)."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be an object")
    return _copy(value, field)


def string_list(value: object, field: str, *, max_items: int = 1000) -> list[str]:
    """A JSON array of strings."""
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be an array of strings")
    if len(value) > max_items:
        raise ValidationError(f"{field} has more than {max_items} items")
    return [string(item, f"{field}[{i}]") for i, item in enumerate(value)]


def object_list(value: object, field: str, *, max_items: int = 1000) -> list[JsonObject]:
    """A JSON array of objects, each kept as sent."""
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be an array of objects")
    if len(value) > max_items:
        raise ValidationError(f"{field} has more than {max_items} items")
    return [json_object(item, f"{field}[{i}]") for i, item in enumerate(value)]


def duration(value: object, field: str, *, units: str | None = None) -> str:
    """A non-negative Go duration such as `24h` or `30m`, kept as sent; `units`, when given,
    lists the only unit letters allowed (e.g. `mh`)."""
    text = string(value, field, max_length=64)
    try:
        nanoseconds = parse_go_duration(text)
    except DurationError as exc:
        raise ValidationError(f"{field}: {exc}") from None
    if nanoseconds < 0:
        raise ValidationError(f"{field} must not be negative")
    if units is not None and text != "0":
        letters = {c for c in text if c.isalpha()}
        if not letters <= set(units):
            raise ValidationError(f"{field} may only use the units {', '.join(units)}")
    return text


def _copy(value: Mapping[object, object], field: str, depth: int = 0) -> JsonObject:
    # Decoded JSON has string keys already; the copy detaches it from the caller and bounds
    # the nesting (a body is at most 1 MiB, but a deep one would cost recursion elsewhere).
    if depth > 32:
        raise ValidationError(f"{field} is nested too deeply")
    copied: JsonObject = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError(f"{field} has a key that is not a string")
        copied[key] = _copy_value(item, field, depth + 1)
    return copied


def _copy_value(item: object, field: str, depth: int) -> object:
    if isinstance(item, Mapping):
        return _copy(item, field, depth)
    if isinstance(item, list):
        if depth > 32:
            raise ValidationError(f"{field} is nested too deeply")
        return [_copy_value(element, field, depth + 1) for element in item]
    return item
