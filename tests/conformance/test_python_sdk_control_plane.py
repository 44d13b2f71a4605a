"""The official Python SDK (PyPI ``cloudflare``), unmodified, against a live server on
SQLite and on PostgreSQL: every control-plane operation (reusable policies, applications
and their policies, the organization), auto-pagination, and the errors as the SDK's
exceptions (12139 as ``BadRequestError``; a 409 tried once)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cloudflare import (
    BadRequestError,
    Cloudflare,
    ConflictError,
    DefaultHttpxClient,
    NotFoundError,
)

from tests.api.access_helpers import SDK_RULES
from tests.conformance.test_python_sdk import as_dict, collect, first_error_code

if TYPE_CHECKING:
    from tests.conformance.conftest import LiveServer

AUD = re.compile(r"^[0-9a-f]{64}$")
IN_USE = (
    "access.api.error.service_token_in_use: cannot delete service token because it is used "
    "by a policy, group, or app SCIM configuration."
)
SERVICE_AUTH: list[Any] = [{"any_valid_service_token": {}}]


@pytest.fixture
def sdk(engine_server: LiveServer) -> Iterator[Cloudflare]:
    """Write on account A, no retries (a wrong status shows at once)."""
    with Cloudflare(
        api_token=engine_server.write_token, base_url=engine_server.base_url, max_retries=0
    ) as client:
        yield client


def domain() -> str:
    return f"{uuid.uuid4().hex[:12]}.example.com"


def test_reusable_policy_lifecycle(sdk: Cloudflare, engine_server: LiveServer) -> None:
    policies, account = sdk.zero_trust.access.policies, engine_server.account_id
    token = sdk.zero_trust.access.service_tokens.create(account_id=account, name="named")
    assert token is not None
    assert token.id is not None
    rules = [*SDK_RULES, {"service_token": {"token_id": token.id}}]
    created = policies.create(
        account_id=account,
        name="every rule",
        decision="non_identity",
        include=rules,  # type: ignore[arg-type]  # the SDK's union lacks the unknown selector
        exclude=[{"ip": {"ip": "10.0.0.0/8"}}],
        session_duration="30m",
        approval_required=True,
    )
    assert created is not None
    assert created.id is not None
    data = as_dict(created)
    assert data["include"] == rules
    assert data["exclude"] == [{"ip": {"ip": "10.0.0.0/8"}}]
    assert (data["reusable"], data["app_count"], data["session_duration"]) == (True, 0, "30m")
    assert created.decision == "non_identity"

    fetched = policies.get(created.id, account_id=account)
    assert as_dict(fetched) == data
    updated = policies.update(
        created.id, account_id=account, name="renamed", decision="bypass", include=SERVICE_AUTH
    )
    assert updated is not None
    assert (updated.name, updated.decision, updated.exclude) == ("renamed", "bypass", [])
    assert as_dict(updated)["include"] == SERVICE_AUTH
    assert as_dict(updated)["approval_required"] is False  # a PUT replaces

    deleted = policies.delete(created.id, account_id=account)
    assert deleted is not None
    assert deleted.id == created.id
    with pytest.raises(NotFoundError) as missing:
        policies.get(created.id, account_id=account)
    assert first_error_code(missing.value) == 12135


def test_policies_auto_paginate(sdk: Cloudflare, engine_server: LiveServer) -> None:
    policies, account = sdk.zero_trust.access.policies, engine_server.account_id
    tag = uuid.uuid4().hex[:8]
    made = set()
    for i in range(7):
        policy = policies.create(
            account_id=account, name=f"{tag}-{i}", decision="non_identity", include=SERVICE_AUTH
        )
        assert policy is not None
        made.add(policy.id)
    listed = [p.id for p in collect(policies.list(account_id=account, per_page=3))]
    assert made <= set(listed)
    assert len(listed) == len(set(listed))


def test_application_lifecycle_with_linked_policies(
    sdk: Cloudflare, engine_server: LiveServer
) -> None:
    apps, account = sdk.zero_trust.access.applications, engine_server.account_id
    first = sdk.zero_trust.access.policies.create(
        account_id=account, name="first", decision="non_identity", include=SERVICE_AUTH
    )
    second = sdk.zero_trust.access.policies.create(
        account_id=account, name="second", decision="deny", include=[{"everyone": {}}]
    )
    assert first is not None
    assert second is not None
    host = domain()
    created = apps.create(
        account_id=account,
        domain=host,
        type="self_hosted",
        name="sdk app",
        policies=[second.id or "", first.id or ""],
        service_auth_401_redirect=True,
        read_service_tokens_from_header="X-Token",
        destinations=[{"type": "public", "uri": host}, {"type": "public", "uri": f"{host}/v2"}],
    )
    data = as_dict(created)
    assert (data["type"], data["domain"], data["name"]) == ("self_hosted", host, "sdk app")
    assert AUD.match(data["aud"])
    assert [(p["id"], p["precedence"]) for p in data["policies"]] == [
        (second.id, 1),
        (first.id, 2),
    ]
    assert data["service_auth_401_redirect"] is True
    assert data["read_service_tokens_from_header"] == "X-Token"
    app_id = data["id"]

    assert as_dict(apps.get(app_id, account_id=account)) == data
    updated = as_dict(
        apps.update(
            app_id,
            account_id=account,
            domain=host,
            type="self_hosted",
            policies=[{"id": first.id or "", "precedence": 1}],
        )
    )
    assert updated["aud"] == data["aud"]
    assert [p["id"] for p in updated["policies"]] == [first.id]
    assert updated["service_auth_401_redirect"] is False  # a PUT replaces
    second_count = sdk.zero_trust.access.policies.get(second.id or "", account_id=account)
    assert as_dict(second_count)["app_count"] == 0

    with pytest.raises(ConflictError) as used:
        sdk.zero_trust.access.policies.delete(first.id or "", account_id=account)
    assert first_error_code(used.value) == 12130
    assert apps.revoke_tokens(app_id, account_id=account) is None
    deleted = apps.delete(app_id, account_id=account)
    assert deleted is not None
    assert deleted.id == app_id
    with pytest.raises(NotFoundError):
        apps.get(app_id, account_id=account)
    sdk.zero_trust.access.policies.delete(first.id or "", account_id=account)


def test_applications_list_filter_and_auto_paginate(
    sdk: Cloudflare, engine_server: LiveServer
) -> None:
    apps, account = sdk.zero_trust.access.applications, engine_server.account_id
    tag = uuid.uuid4().hex[:8]
    made = []
    for i in range(5):
        app = apps.create(
            account_id=account, domain=domain(), type="self_hosted", name=f"{tag}-{i}"
        )
        made.append(as_dict(app)["id"])
    listed = [
        as_dict(a)["id"] for a in collect(apps.list(account_id=account, name=tag, per_page=2))
    ]
    assert listed == made
    exact = [as_dict(a)["id"] for a in apps.list(account_id=account, name=f"{tag}-3", exact=True)]
    assert exact == [made[3]]


def test_zone_applications(engine_server: LiveServer) -> None:
    with Cloudflare(
        api_token=engine_server.zone_token, base_url=engine_server.base_url, max_retries=0
    ) as client:
        apps, zone = client.zero_trust.access.applications, engine_server.zone_id
        host = f"{uuid.uuid4().hex[:10]}.conformance.example.com"
        created = as_dict(apps.create(zone_id=zone, domain=host, type="self_hosted"))
        assert [as_dict(a)["id"] for a in apps.list(zone_id=zone, domain=host)] == [created["id"]]
        with pytest.raises(BadRequestError) as outside:
            apps.create(zone_id=zone, domain=domain(), type="self_hosted")
        assert "domain does not belong to zone" in outside.value.errors[0].message
        assert apps.delete(created["id"], zone_id=zone) is not None


def test_other_application_types_are_bad_requests(
    sdk: Cloudflare, engine_server: LiveServer
) -> None:
    with pytest.raises(BadRequestError) as refused:
        sdk.zero_trust.access.applications.create(
            account_id=engine_server.account_id, domain=domain(), type="saas"
        )
    assert refused.value.errors[0].message == (
        "access.api.error.invalid_request: app type is missing or invalid"
    )


def test_application_policies(sdk: Cloudflare, engine_server: LiveServer) -> None:
    account = engine_server.account_id
    app_id = as_dict(
        sdk.zero_trust.access.applications.create(
            account_id=account, domain=domain(), type="self_hosted"
        )
    )["id"]
    policies = sdk.zero_trust.access.applications.policies
    made = []
    for i in range(4):
        created = policies.create(
            app_id,
            account_id=account,
            name=f"own-{i}",
            decision="non_identity",
            include=SERVICE_AUTH,
        )
        assert created is not None
        made.append(created.id)
        assert as_dict(created)["precedence"] == i + 1
    listed = [p.id for p in collect(policies.list(app_id, account_id=account, per_page=3))]
    assert listed == made
    moved = policies.update(made[0] or "", app_id=app_id, account_id=account, precedence=10)
    assert as_dict(moved)["precedence"] == 10
    assert as_dict(moved)["name"] == "own-0"
    fetched = policies.get(made[0] or "", app_id=app_id, account_id=account)
    assert as_dict(fetched) == as_dict(moved)
    with pytest.raises(BadRequestError) as clash:
        policies.update(made[1] or "", app_id=app_id, account_id=account, precedence=10)
    assert clash.value.errors[0].message.endswith("policy precedences must be unique")
    deleted = policies.delete(made[0] or "", app_id=app_id, account_id=account)
    assert deleted is not None
    assert deleted.id == made[0]


def test_a_named_token_cannot_be_deleted(sdk: Cloudflare, engine_server: LiveServer) -> None:
    account = engine_server.account_id
    token = sdk.zero_trust.access.service_tokens.create(account_id=account, name="in use")
    assert token is not None
    assert token.id is not None
    sdk.zero_trust.access.policies.create(
        account_id=account,
        name="names it",
        decision="non_identity",
        include=[{"service_token": {"token_id": token.id}}],
    )
    with pytest.raises(BadRequestError) as refused:
        sdk.zero_trust.access.service_tokens.delete(token.id, account_id=account)
    assert refused.value.status_code == 400
    assert first_error_code(refused.value) == 12139
    assert refused.value.errors[0].message == IN_USE


def test_organization_lifecycle(engine_server: LiveServer) -> None:
    sent: list[httpx.Request] = []
    http = DefaultHttpxClient(event_hooks={"request": [sent.append]})
    with Cloudflare(
        api_token=engine_server.write_token, base_url=engine_server.base_url, http_client=http
    ) as client:  # default retries: a 409 must still be tried only once
        orgs, account = client.zero_trust.organizations, engine_server.account_id
        with pytest.raises(NotFoundError):
            orgs.list(account_id=account)
        team = f"{uuid.uuid4().hex[:10]}.cloudflareaccess.com"
        created = orgs.create(account_id=account, name="Conformance", auth_domain=team)
        assert created is not None
        assert (created.name, created.auth_domain) == ("Conformance", team)
        assert as_dict(created)["strict_service_token_auth"] is True
        inactivity = {"enabled": True, "inactivity_threshold_days": 60, "action": "disable"}
        updated = orgs.update(
            account_id=account,
            service_token_inactivity=inactivity,  # type: ignore[arg-type]
            deny_unmatched_requests=True,
        )
        data = as_dict(updated)
        assert data["service_token_inactivity"] == inactivity
        assert (data["name"], data["auth_domain"], data["deny_unmatched_requests"]) == (
            "Conformance",
            team,
            True,
        )
        assert as_dict(orgs.list(account_id=account)) == data
        sent.clear()
        with pytest.raises(ConflictError) as twice:
            orgs.create(account_id=account, name="Again", auth_domain=f"x{team}")
        assert twice.value.response.headers["x-should-retry"] == "false"
        assert len(sent) == 1, "the SDK retried a 409"
        with pytest.raises(BadRequestError):
            orgs.update(account_id=account, strict_service_token_auth=False)
