"""Validated input for creating and updating a service token.

Turns the decoded JSON body of a create, update or rotate request into typed values, with
one clear 400 (code 12130) per broken rule. Unknown fields are ignored, as Cloudflare does.
"""

from __future__ import annotations

import enum
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from servicetokens.domain.durations import DurationError, parse_token_duration
from servicetokens.domain.errors import ValidationError

__all__ = [
    "MAX_DURATION_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_SECRET_VERSION",
    "UNSET",
    "TokenFields",
    "Unset",
    "parse_rotate_body",
    "parse_timestamp",
    "parse_token_fields",
    "validate_name",
]

MAX_NAME_LENGTH = 350
"""Cloudflare's documented character limit for a service token name."""

MAX_DURATION_LENGTH = 64
"""How long a `duration` string may be (every useful Go duration is far shorter)."""

MAX_SECRET_VERSION = 2**53 - 1
"""The largest integer every SDK's `number` holds exactly."""


class Unset(enum.Enum):
    """The type of `UNSET`: a field the request did not send."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class TokenFields:
    """The writable fields of a service token; `UNSET` where the request left one out."""

    name: str | Unset = UNSET
    duration: str | Unset = UNSET
    """As sent (a Go duration or `forever`); already checked to parse."""
    client_secret_version: int | Unset = UNSET
    previous_client_secret_expires_at: datetime | Unset | None = UNSET
    enabled: bool | Unset = UNSET


def validate_name(value: object) -> str:
    """A service token name: a non-blank string of at most 350 printable characters."""
    if not isinstance(value, str):
        raise ValidationError("name must be a string")
    if not value.strip():
        raise ValidationError("name must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"name is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs":
            raise ValidationError("name must not contain control characters or lone surrogates")
    return value


def _validate_duration(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError('duration must be a string such as "8760h" or "forever"')
    if len(value) > MAX_DURATION_LENGTH:
        raise ValidationError(
            f"duration is {len(value)} characters long; the limit is {MAX_DURATION_LENGTH}"
        )
    try:
        parse_token_duration(value)
    except DurationError as exc:
        raise ValidationError(str(exc)) from None
    return value


def _validate_secret_version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("client_secret_version must be a number")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ValidationError("client_secret_version must be a whole number")
    version = int(value)
    if not 1 <= version <= MAX_SECRET_VERSION:
        raise ValidationError(f"client_secret_version must be between 1 and {MAX_SECRET_VERSION}")
    return version


def parse_timestamp(value: object, *, field: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an RFC 3339 date-time string")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field} is not a valid RFC 3339 date-time: {value[:64]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{field} is out of range") from None


def _optional_timestamp(value: object, *, field: str) -> datetime | None:
    return None if value is None else parse_timestamp(value, field=field)


def _require_object(body: object) -> Mapping[str, object]:
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object")
    return body


def parse_token_fields(body: object, *, require_name: bool) -> TokenFields:
    """Validate a create (`require_name=True`) or update body."""
    data = _require_object(body)
    if require_name and "name" not in data:
        raise ValidationError("name is required")
    enabled = data.get("enabled", UNSET)
    if enabled is not UNSET and not isinstance(enabled, bool):
        raise ValidationError("enabled must be a boolean")
    return TokenFields(
        name=validate_name(data["name"]) if "name" in data else UNSET,
        duration=_validate_duration(data["duration"]) if "duration" in data else UNSET,
        client_secret_version=(
            _validate_secret_version(data["client_secret_version"])
            if "client_secret_version" in data
            else UNSET
        ),
        previous_client_secret_expires_at=(
            _optional_timestamp(
                data["previous_client_secret_expires_at"],
                field="previous_client_secret_expires_at",
            )
            if "previous_client_secret_expires_at" in data
            else UNSET
        ),
        enabled=enabled,
    )


def parse_rotate_body(body: object) -> datetime | None:
    """The optional `previous_client_secret_expires_at` of a rotate request (None: now)."""
    if body is None:
        return None
    data = _require_object(body)
    return _optional_timestamp(
        data.get("previous_client_secret_expires_at"), field="previous_client_secret_expires_at"
    )
