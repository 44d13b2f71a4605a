"""Control-plane objects as the API shows them: policies, applications, organizations."""

from __future__ import annotations

from servicetokens.domain.access.applications import Application
from servicetokens.domain.access.organization import Organization
from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.clock import format_timestamp
from servicetokens.usecases.access_common import PolicyView

__all__ = ["serialize_app", "serialize_organization", "serialize_policy"]


def serialize_policy(view: PolicyView) -> dict[str, object]:
    """A policy: its fields, then `id`, timestamps and `reusable`; a reusable policy at
    `/access/policies` adds `account_id` and `app_count`, one seen through an application
    adds its `precedence` there."""
    policy = view.policy
    body: dict[str, object] = {
        "id": policy.id,
        **policy.fields.as_body(),
        "created_at": format_timestamp(policy.created_at),
        "updated_at": format_timestamp(policy.updated_at),
        "reusable": policy.reusable,
    }
    if view.app_count is not None:
        body["account_id"] = policy.account_id
        body["app_count"] = view.app_count
    if view.precedence is not None:
        body["precedence"] = view.precedence
    return body


def _app_body(app: Application) -> dict[str, object]:
    return {
        "id": app.id,
        "aud": app.aud,
        **app.fields.body,
        "created_at": format_timestamp(app.created_at),
        "updated_at": format_timestamp(app.updated_at),
    }


def serialize_app(expanded: AppWithPolicies) -> dict[str, object]:
    """An application with its policies expanded, by precedence (each with `reusable` and
    its `precedence` in this application)."""
    body = _app_body(expanded.app)
    body["policies"] = [
        serialize_policy(PolicyView(linked.policy, precedence=linked.precedence))
        for linked in expanded.policies
    ]
    return body


def serialize_organization(organization: Organization) -> dict[str, object]:
    """An organization: its fields and timestamps."""
    return {
        **organization.body,
        "created_at": format_timestamp(organization.created_at),
        "updated_at": format_timestamp(organization.updated_at),
    }
