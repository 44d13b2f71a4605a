"""Access policies: reusable (account-wide, linked to applications) and app-scoped.

Both share one set of fields (`PolicyFields`): a `decision`, the `include` / `require` /
`exclude` rule lists, a `session_duration` and the approval, isolation and MFA settings,
which are stored as sent and echoed. A reusable policy is replaced whole by a PUT; an
app-scoped one is merged (`merge_policy_body`), as Cloudflare's SDKs may send only
`{"precedence": 2}`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from servicetokens.domain.access.rules import (
    IDENTITY_SELECTORS,
    parse_rules,
    selector,
    token_ids,
)
from servicetokens.domain.access.values import (
    JsonObject,
    boolean,
    duration,
    json_object,
    number,
    object_list,
    request_object,
    string,
)
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import validate_name
from servicetokens.domain.permissions import Container

__all__ = [
    "DEFAULT_SESSION_DURATION",
    "AccessPolicy",
    "Decision",
    "PolicyFields",
    "merge_policy_body",
    "parse_policy_fields",
    "parse_precedence",
]

DEFAULT_SESSION_DURATION = "24h"
"""A policy's and an application's `session_duration` when none is sent."""

_MAX_PRECEDENCE = 2**31 - 1


class Decision(enum.StrEnum):
    """What a matching policy does (dashboard names: Allow, Block, Service Auth, Bypass)."""

    ALLOW = "allow"
    DENY = "deny"
    NON_IDENTITY = "non_identity"
    BYPASS = "bypass"


_FLAGS = (
    "approval_required",
    "isolation_required",
    "purpose_justification_required",
)
"""Boolean settings, `false` unless sent."""


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """The writable fields of a policy, validated, defaults applied."""

    name: str
    decision: Decision
    include: list[JsonObject]
    require: list[JsonObject] = field(default_factory=list)
    exclude: list[JsonObject] = field(default_factory=list)
    session_duration: str = DEFAULT_SESSION_DURATION
    settings: JsonObject = field(default_factory=dict)
    """`approval_groups` and the flags (always present), and `purpose_justification_prompt`,
    `connection_rules`, `mfa_config` when they were sent: stored and echoed as sent."""

    @property
    def token_ids(self) -> frozenset[str]:
        """The service tokens the rules name (what must not be deleted while this exists)."""
        return token_ids((self.include, self.require, self.exclude))

    def as_body(self) -> JsonObject:
        """The fields as the API shows them (and as they are stored)."""
        return {
            "name": self.name,
            "decision": self.decision.value,
            "include": self.include,
            "require": self.require,
            "exclude": self.exclude,
            "session_duration": self.session_duration,
            **self.settings,
        }

    @classmethod
    def from_stored(cls, body: Mapping[str, object]) -> PolicyFields:
        """Fields read back from storage (validated when they were written)."""
        data = dict(body)
        name, decision = data.pop("name"), data.pop("decision")
        include, require, exclude = data.pop("include"), data.pop("require"), data.pop("exclude")
        session_duration = data.pop("session_duration")
        assert isinstance(name, str)
        assert isinstance(decision, str)
        assert isinstance(include, list)
        assert isinstance(require, list)
        assert isinstance(exclude, list)
        assert isinstance(session_duration, str)
        return cls(
            name, Decision(decision), include, require, exclude, session_duration, settings=data
        )


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """A stored policy: reusable when `app_id` is None, else scoped to that application."""

    id: str
    container: Container
    """The account (reusable), or the account or zone of the owning application."""
    app_id: str | None
    precedence: int | None
    """Its place among the application's policies (app-scoped only)."""
    fields: PolicyFields
    created_at: datetime
    updated_at: datetime

    @property
    def reusable(self) -> bool:
        """Whether this is a reusable policy (managed at `/access/policies`)."""
        return self.app_id is None

    @property
    def account_id(self) -> str:
        """The account the policy belongs to."""
        return self.container.account_id


def _decision(value: object) -> Decision:
    try:
        return Decision(value) if isinstance(value, str) else Decision("?")
    except ValueError:
        raise ValidationError("decision must be one of allow, deny, non_identity, bypass") from None


def _approval_groups(value: object) -> list[JsonObject]:
    groups = object_list(value, "approval_groups")
    for index, group in enumerate(groups):
        where = f"approval_groups[{index}]"
        if "approvals_needed" not in group:
            raise ValidationError(f"{where}.approvals_needed is required")
        number(group["approvals_needed"], f"{where}.approvals_needed", minimum=0)
    return groups


def _settings(data: Mapping[str, object]) -> JsonObject:
    settings: JsonObject = {
        "approval_groups": (
            [] if data.get("approval_groups") is None else _approval_groups(data["approval_groups"])
        )
    }
    for flag in _FLAGS:
        value = data.get(flag)
        settings[flag] = False if value is None else boolean(value, flag)
    if data.get("purpose_justification_prompt") is not None:
        prompt = data["purpose_justification_prompt"]
        settings["purpose_justification_prompt"] = string(prompt, "purpose_justification_prompt")
    for name in ("connection_rules", "mfa_config"):
        if data.get(name) is not None:
            settings[name] = json_object(data[name], name)
    return settings


def parse_policy_fields(body: object) -> PolicyFields:
    """Validate a whole policy (a create, or a reusable policy's PUT): `name`, `decision`
    and a non-empty `include` are required; omitted optional fields take their defaults;
    unknown and read-only fields are ignored."""
    data = request_object(body)
    for required in ("name", "decision", "include"):
        if data.get(required) is None:
            raise ValidationError(f"{required} is required")
    decision = _decision(data["decision"])
    include = parse_rules(data["include"], "include", required=True)
    require = [] if data.get("require") is None else parse_rules(data["require"], "require")
    exclude = [] if data.get("exclude") is None else parse_rules(data["exclude"], "exclude")
    if decision is Decision.BYPASS:
        for rule in (*include, *require, *exclude):
            if selector(rule) in IDENTITY_SELECTORS:
                raise ValidationError(
                    f"bypass policies cannot use identity-based rules ({selector(rule)})"
                )
    session = data.get("session_duration")
    return PolicyFields(
        name=validate_name(data["name"]),
        decision=decision,
        include=include,
        require=require,
        exclude=exclude,
        session_duration=(
            DEFAULT_SESSION_DURATION if session is None else duration(session, "session_duration")
        ),
        settings=_settings(data),
    )


def merge_policy_body(stored: PolicyFields, body: object) -> PolicyFields:
    """An app-scoped policy's PUT: the sent fields over the stored ones, then validated
    whole (a field sent as null takes its default)."""
    data = request_object(body)
    return parse_policy_fields({**stored.as_body(), **data})


def parse_precedence(value: object, field: str = "precedence") -> int:
    """A policy's precedence: a whole number from 0 (lower runs first)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer")
    if not 0 <= value <= _MAX_PRECEDENCE:
        raise ValidationError(f"{field} must be between 0 and {_MAX_PRECEDENCE}")
    return value
