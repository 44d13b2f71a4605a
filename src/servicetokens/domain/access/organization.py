"""The Zero Trust organization of an account (or zone): its auth domain and settings.

A PUT merges the sent fields into the stored ones (the SDKs send only what the caller
passed; Terraform creates the organization with a PUT). `auth_domain` becomes the JWT
issuer `https://<auth_domain>`. Organizations created while the server enforces the
2026-10-05 rule (`strict_locked`) have `strict_service_token_auth` on, for good.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from servicetokens.domain.access.values import (
    JsonObject,
    boolean,
    duration,
    json_object,
    request_object,
    string,
    string_list,
)
from servicetokens.domain.durations import parse_go_duration
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import validate_name
from servicetokens.domain.permissions import Container

__all__ = [
    "INACTIVITY_DAYS",
    "InactivityAction",
    "Organization",
    "ServiceTokenInactivity",
    "parse_organization",
]

INACTIVITY_DAYS = range(30, 366)
"""`service_token_inactivity.inactivity_threshold_days`: 30 to 365."""

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MIN_SEAT_EXPIRATION_NS = 730 * 3600 * 10**9


class InactivityAction(enum.StrEnum):
    """What happens to an inactive service token."""

    DISABLE = "disable"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ServiceTokenInactivity:
    """`service_token_inactivity`: tokens unused for `threshold_days` are disabled or
    deleted, unless a policy names them directly."""

    enabled: bool
    threshold_days: int
    action: InactivityAction


def _auth_domain(value: object, field: str) -> str:
    text = string(value, field, max_length=253)
    labels = text.lower().split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValidationError(f"{field} must be a hostname such as team.cloudflareaccess.com")
    return text


def _inactivity(value: object, field: str) -> JsonObject:
    data = json_object(value, field)
    for required in ("enabled", "inactivity_threshold_days", "action"):
        if data.get(required) is None:
            raise ValidationError(f"{field}.{required} is required")
    boolean(data["enabled"], f"{field}.enabled")
    days = data["inactivity_threshold_days"]
    if isinstance(days, float) and days.is_integer():
        days = data["inactivity_threshold_days"] = int(days)
    if isinstance(days, bool) or not isinstance(days, int) or days not in INACTIVITY_DAYS:
        raise ValidationError(f"{field}.inactivity_threshold_days must be a whole number, 30-365")
    if data["action"] not in {action.value for action in InactivityAction}:
        raise ValidationError(f"{field}.action must be disable or delete")
    return data


def _seat_expiration(value: object, field: str) -> str:
    text = duration(value, field)
    if parse_go_duration(text) < _MIN_SEAT_EXPIRATION_NS:
        raise ValidationError(f"{field} must be at least 730h")
    return text


def _custom_pages(value: object, field: str) -> JsonObject:
    pages = json_object(value, field)
    for key in ("forbidden", "identity_denied"):
        if pages.get(key) is not None:
            string(pages[key], f"{field}.{key}")
    return pages


def _warp_duration(value: object, field: str) -> str:
    return duration(value, field, units="mh")


Check = Callable[[object, str], object]

_FIELDS: dict[str, tuple[Check, object]] = {
    # field: (check, default; None: absent unless sent)
    "session_duration": (duration, None),
    "strict_service_token_auth": (boolean, None),  # default decided by `strict_locked`
    "service_token_inactivity": (_inactivity, None),
    "deny_unmatched_requests": (boolean, False),
    "deny_unmatched_requests_exempted_zone_names": (string_list, []),
    "is_ui_read_only": (boolean, False),
    "ui_read_only_toggle_reason": (string, None),
    "allow_authenticate_via_warp": (boolean, False),
    "warp_auth_session_duration": (_warp_duration, None),
    "warp_auth_non_browser_401": (boolean, False),
    "auto_redirect_to_identity": (boolean, False),
    "login_design": (json_object, None),
    "mfa_config": (json_object, None),
    "mfa_piv_key_requirements": (json_object, None),
    "mfa_required_for_all_apps": (boolean, False),
    "user_seat_expiration_inactive_time": (_seat_expiration, None),
    "custom_pages": (_custom_pages, None),
}


@dataclass(frozen=True, slots=True)
class Organization:
    """A stored organization."""

    container: Container
    body: JsonObject
    """`name`, `auth_domain` and every setting, as the API shows them."""
    strict_locked: bool
    """Created under the rule that strict service-token authentication cannot be off."""
    created_at: datetime
    updated_at: datetime

    @property
    def auth_domain(self) -> str:
        """The team domain: the issuer of the applications' JWTs is `https://<this>`."""
        return str(self.body["auth_domain"])

    @property
    def strict_service_token_auth(self) -> bool:
        """Whether token requests get strict 401/403 and no cookie."""
        return self.body.get("strict_service_token_auth") is True

    @property
    def inactivity(self) -> ServiceTokenInactivity | None:
        """The inactive-token cleanup settings, if set."""
        data = self.body.get("service_token_inactivity")
        if not isinstance(data, Mapping):
            return None
        days = data["inactivity_threshold_days"]
        assert isinstance(days, int)
        return ServiceTokenInactivity(
            data["enabled"] is True, days, InactivityAction(str(data["action"]))
        )


def parse_organization(
    body: object, *, stored: Mapping[str, object] | None, strict_locked: bool
) -> JsonObject:
    """The organization's fields after a create (`stored` None) or an update (the sent
    fields merged over `stored`; one sent as null takes its default). `name` and
    `auth_domain` are required once merged; read-only and unknown fields are ignored."""
    data = request_object(body)
    merged = {**(stored or {}), **data}
    for required in ("name", "auth_domain"):
        if merged.get(required) is None:
            raise ValidationError(f"{required} is required")
    result: JsonObject = {
        "name": validate_name(merged["name"]),
        "auth_domain": _auth_domain(merged["auth_domain"], "auth_domain"),
    }
    for field, (check, default) in _FIELDS.items():
        value = merged.get(field)
        if value is not None:
            result[field] = check(value, field)
        elif default is not None:
            result[field] = list(default) if isinstance(default, list) else default
    strict = result.get("strict_service_token_auth")
    if strict is None:
        result["strict_service_token_auth"] = strict_locked
    elif strict is False and strict_locked:
        raise ValidationError(
            "strict service token authentication cannot be turned off for this organization"
        )
    result["trusted_accounts"] = []
    return result
