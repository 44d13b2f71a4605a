"""Self-hosted Access applications: what a request body may hold, and the stored value.

Only `type: "self_hosted"` exists here; any other type (or none) is refused with the real
API's message. `domain` is required; `name`, `destinations`, `self_hosted_domains` and
`session_duration` get their defaults; the other settings Cloudflare documents are checked
for their JSON type and stored and echoed as sent (`APP_SETTINGS`). A PUT replaces the whole
application except its `policies`, which an absent (or null) field leaves as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from servicetokens.domain.access.destinations import parse_destinations, parse_uri, public_uris
from servicetokens.domain.access.policies import DEFAULT_SESSION_DURATION
from servicetokens.domain.access.policy_items import PolicyItem, parse_policy_items
from servicetokens.domain.access.values import (
    JsonObject,
    boolean,
    duration,
    json_object,
    request_object,
    string,
    string_list,
)
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import validate_name
from servicetokens.domain.permissions import Container

__all__ = [
    "APP_SETTINGS",
    "DEFAULT_MAX_APPLICATIONS",
    "SELF_HOSTED",
    "AppFields",
    "Application",
    "parse_app_fields",
    "stored_fields",
]

SELF_HOSTED = "self_hosted"
DEFAULT_MAX_APPLICATIONS = 500
"""Cloudflare's limit of applications per account (a server setting here)."""
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
_SAME_SITE = frozenset({"strict", "lax", "none"})


def _header_name(value: object, field: str) -> str:
    text = string(value, field)
    if not _HEADER_NAME.match(text):
        raise ValidationError(f"{field} must be an HTTP header name")
    return text


def _same_site(value: object, field: str) -> str:
    text = string(value, field)
    if text.lower() not in _SAME_SITE:
        raise ValidationError(f"{field} must be one of strict, lax, none")
    return text


def _scim_config(value: object, field: str) -> JsonObject:
    config = json_object(value, field)
    for required in ("idp_uid", "remote_uri"):
        if not isinstance(config.get(required), str):
            raise ValidationError(f"{field}.{required} is required")
    return config


Check = Callable[[object, str], object]

APP_SETTINGS: dict[str, tuple[Check, object]] = {
    # field: (check, default; None: absent unless sent)
    "service_auth_401_redirect": (boolean, False),
    "options_preflight_bypass": (boolean, False),
    "http_only_cookie_attribute": (boolean, True),
    "path_cookie_attribute": (boolean, False),
    "enable_binding_cookie": (boolean, False),
    "auto_redirect_to_identity": (boolean, False),
    "app_launcher_visible": (boolean, True),
    "eager_redirect_cookie_setting": (boolean, True),
    "allowed_idps": (string_list, []),
    "tags": (string_list, []),
    "skip_interstitial": (boolean, None),
    "allow_authenticate_via_warp": (boolean, None),
    "allow_iframe": (boolean, None),
    "use_clientless_isolation_app_launcher_url": (boolean, None),
    "read_service_tokens_from_header": (_header_name, None),
    "custom_non_identity_deny_url": (string, None),
    "custom_deny_url": (string, None),
    "custom_deny_message": (string, None),
    "custom_pages": (string_list, None),
    "same_site_cookie_attribute": (_same_site, None),
    "logo_url": (string, None),
    "cors_headers": (json_object, None),
    "mfa_config": (json_object, None),
    "oauth_configuration": (json_object, None),
    "scim_config": (_scim_config, None),
}
"""Every other self-hosted field Cloudflare documents: checked for its JSON type, stored and
echoed as sent; the default is shown when it was not sent (None: the field is left out)."""


@dataclass(frozen=True, slots=True)
class AppFields:
    """An application's writable fields, validated, defaults applied (`body`), and the
    `policies` items when the request had the field (None: leave the policies alone)."""

    body: JsonObject
    policies: list[PolicyItem] | None = None

    @property
    def domain(self) -> str:
        """The primary hostname and path."""
        return str(self.body["domain"])

    @property
    def name(self) -> str:
        """The application's name (its domain unless one was given)."""
        return str(self.body["name"])

    @property
    def hosts(self) -> list[str]:
        """The public `host[/path]` URIs the application protects."""
        destinations = self.body["destinations"]
        assert isinstance(destinations, list)
        return public_uris(destinations)


@dataclass(frozen=True, slots=True)
class Application:
    """A stored self-hosted application."""

    id: str
    container: Container
    aud: str
    """The audience tag (64 hex) of the JWTs issued for it; never changes."""
    fields: AppFields
    created_at: datetime
    updated_at: datetime
    tokens_revoked_at: datetime | None = None
    """JWTs issued for this application at or before this moment are no longer accepted
    (`revoke_tokens`); service-token credentials are unaffected."""

    @property
    def account_id(self) -> str:
        """The account the application belongs to."""
        return self.container.account_id


def parse_app_fields(body: object) -> AppFields:
    """Validate a create or PUT body (400/12130). `type` is checked first: a missing or
    other type gets the real API's `app type is missing or invalid`."""
    data = request_object(body)
    if data.get("type") != SELF_HOSTED:
        raise ValidationError("app type is missing or invalid")
    if data.get("domain") is None:
        raise ValidationError("domain is required")
    domain = parse_uri(data["domain"], "domain")
    name = domain if data.get("name") is None else validate_name(data["name"])
    destinations, hosted = parse_destinations(
        domain, data.get("destinations"), data.get("self_hosted_domains")
    )
    session = data.get("session_duration")
    stored: JsonObject = {
        "type": SELF_HOSTED,
        "domain": domain,
        "name": name,
        "destinations": destinations,
        "self_hosted_domains": hosted,
        "session_duration": (
            DEFAULT_SESSION_DURATION if session is None else duration(session, "session_duration")
        ),
    }
    for field, (check, default) in APP_SETTINGS.items():
        value = data.get(field)
        if value is not None:
            stored[field] = check(value, field)
        elif default is not None:
            stored[field] = list(default) if isinstance(default, list) else default
    if stored["options_preflight_bypass"] and "cors_headers" in stored:
        raise ValidationError("options_preflight_bypass cannot be turned on if cors_headers is set")
    policies = data.get("policies")
    items = None if policies is None else parse_policy_items(policies)
    return AppFields(stored, items)


def stored_fields(body: Mapping[str, object]) -> AppFields:
    """Fields read back from storage (validated when they were written)."""
    return AppFields(dict(body))
