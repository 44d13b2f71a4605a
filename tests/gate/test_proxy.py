"""The gate in front of a real upstream (in-process uvicorn): who passes, who does not."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import httpx
import pytest

from servicetokens.domain.clock import system_clock
from tests.gate.conftest import GateFactory, Tenant, creds, until


@pytest.fixture(scope="module")
def gate(start_gate: GateFactory) -> str:
    return start_gate(token_header="x-access-credentials")


def echo(response: httpx.Response) -> dict[str, object]:
    assert response.headers.get("x-upstream") == "yes", response.text
    body: dict[str, object] = response.json()
    return body


def test_valid_credentials_pass_and_the_upstream_gets_a_jwt(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    response = httpx.post(
        f"{gate}/some/path?a=1&b=%2F",
        headers={**creds(token.client_id, secret), "Cookie": "theme=dark", "X-Custom": "kept"},
        content=b"hello",
    )
    assert response.status_code == 200
    seen = echo(response)
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert seen["path"] == "/some/path"
    assert seen["query"] == "a=1&b=%2F"
    assert seen["body_sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert "cf-access-client-id" not in headers
    assert "cf-access-client-secret" not in headers
    assert headers["x-custom"] == ["kept"]
    assert headers["cookie"] == ["theme=dark"]
    assert len(headers["cf-access-jwt-assertion"]) == 1
    assert "CF_Authorization=" in response.headers["set-cookie"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_is_proxied(tenant: Tenant, gate: str, method: str) -> None:
    token, secret = tenant.token()
    response = httpx.request(method, f"{gate}/m", headers=creds(token.client_id, secret))
    assert response.status_code == 200
    if method != "HEAD":
        assert echo(response)["method"] == method


def test_bodies_stream_both_ways(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    chunk = b"0123456789abcdef" * 4096

    def body():  # type: ignore[no-untyped-def]
        for _ in range(80):  # 5 MiB, chunked
            yield chunk

    response = httpx.post(f"{gate}/upload", headers=creds(token.client_id, secret), content=body())
    assert echo(response)["body_size"] == len(chunk) * 80
    assert echo(response)["body_sha256"] == hashlib.sha256(chunk * 80).hexdigest()
    with httpx.stream("GET", f"{gate}/stream/8", headers=creds(token.client_id, secret)) as r:
        assert r.status_code == 200
        assert sum(len(part) for part in r.iter_raw()) == 8 * 1024 * 1024


def test_a_spoofed_assertion_is_replaced(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    response = httpx.get(
        gate, headers={**creds(token.client_id, secret), "Cf-Access-Jwt-Assertion": "forged"}
    )
    assert echo(response)["headers"]["cf-access-jwt-assertion"] != ["forged"]  # type: ignore[index]


def _refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert "x-upstream" not in response.headers
    assert response.json() == {
        "error": {401: "unauthorized", 403: "forbidden", 429: "rate_limited"}[status],
        "reason": reason,
    }


def test_unknown_id_and_wrong_secret_answer_alike(tenant: Tenant, gate: str) -> None:
    token, _ = tenant.token()
    unknown = httpx.get(gate, headers=creds("0" * 32 + ".access", "f" * 64))
    wrong = httpx.get(gate, headers=creds(token.client_id, "f" * 64))
    _refused(unknown, 401, "invalid credentials")
    _refused(wrong, 401, "invalid credentials")
    assert unknown.content == wrong.content


def test_a_token_of_another_account_is_unknown(tenant: Tenant, gate: str) -> None:
    other = tenant.service.admin.create_account("other")
    from servicetokens.domain.fields import TokenFields
    from servicetokens.domain.permissions import (
        ContainerKind,
        Grant,
        Permission,
        Principal,
        PrincipalKind,
    )
    from servicetokens.usecases.authorization import ContainerRef

    principal = Principal(
        PrincipalKind.API_TOKEN, "x", (Grant(ContainerKind.ACCOUNT, other, Permission.WRITE),)
    )
    token, secret = tenant.service.tokens.create(
        principal, ContainerRef(ContainerKind.ACCOUNT, other, "/"), TokenFields(name="o")
    )
    _refused(httpx.get(gate, headers=creds(token.client_id, secret)), 401, "invalid credentials")


def test_expired_and_disabled_tokens_are_refused(tenant: Tenant, gate: str) -> None:
    expired, secret = tenant.expired_token()
    _refused(httpx.get(gate, headers=creds(expired.client_id, secret)), 401, "token expired")
    disabled, secret = tenant.token(enabled=False)
    _refused(httpx.get(gate, headers=creds(disabled.client_id, secret)), 401, "token disabled")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no credentials"),
        ({"CF-Access-Client-Id": "x.access"}, "incomplete credentials"),
        ({"CF-Access-Client-Secret": "s"}, "incomplete credentials"),
        ({"CF-Access-Client-Id": "", "CF-Access-Client-Secret": "s"}, "incomplete credentials"),
        (
            [
                ("CF-Access-Client-Id", "a.access"),
                ("CF-Access-Client-Id", "b.access"),
                ("CF-Access-Client-Secret", "s"),
            ],
            "duplicate credential headers",
        ),
        (
            {
                "CF-Access-Client-Id": "a.access",
                "CF-Access-Client-Secret": "s",
                "X-Access-Credentials": '{"cf-access-client-id":"a","cf-access-client-secret":"s"}',
            },
            "credentials in both header forms",
        ),
        ({"X-Access-Credentials": "not json"}, "unreadable credentials"),
        ({"X-Access-Credentials": '{"cf-access-client-id":"a"}'}, "incomplete credentials"),
        (
            {"X-Access-Credentials": '{"CF-Access-Client-Id":"a","CF-Access-Client-Secret":"s"}'},
            "incomplete credentials",
        ),
        ({"cf-access-token": "not-a-jwt"}, "invalid or expired token"),
    ],
)
def test_malformed_credentials_are_401(
    gate: str, headers: dict[str, str] | list[tuple[str, str]], reason: str
) -> None:
    _refused(httpx.get(gate, headers=headers), 401, reason)


def test_single_header_mode(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    value = json.dumps({"cf-access-client-id": token.client_id, "cf-access-client-secret": secret})
    response = httpx.get(gate, headers={"X-Access-Credentials": value})
    assert response.status_code == 200
    assert "x-access-credentials" not in echo(response)["headers"]  # type: ignore[operator]
    bad = json.dumps({"cf-access-client-id": token.client_id, "cf-access-client-secret": "no"})
    _refused(httpx.get(gate, headers={"X-Access-Credentials": bad}), 401, "invalid credentials")


def test_policy_refuses_other_tokens_with_403(tenant: Tenant, start_gate: GateFactory) -> None:
    admitted, admitted_secret = tenant.token()
    other, other_secret = tenant.token()
    gate = start_gate(policy=frozenset({admitted.id}))
    assert httpx.get(gate, headers=creds(admitted.client_id, admitted_secret)).status_code == 200
    _refused(
        httpx.get(gate, headers=creds(other.client_id, other_secret)), 403, "not allowed by policy"
    )
    # Authentication comes first: a wrong secret is still a 401, not a 403.
    _refused(httpx.get(gate, headers=creds(other.client_id, "x" * 64)), 401, "invalid credentials")


def test_previous_secret_works_during_grace_only(tenant: Tenant, gate: str) -> None:
    token, old = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, old)).status_code == 200
    grace_end = system_clock() + timedelta(seconds=1.5)
    new = tenant.rotate(token, grace_end)
    until(lambda: httpx.get(gate, headers=creds(token.client_id, new)).status_code == 200, within=1)
    during = httpx.get(gate, headers=creds(token.client_id, old))
    assert during.status_code == 200
    jwt_from_old = during.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    until(lambda: system_clock() > grace_end, within=2, step=0.05)
    _refused(httpx.get(gate, headers=creds(token.client_id, old)), 401, "invalid credentials")
    # A JWT earned with the previous secret dies with it.
    _refused(
        httpx.get(gate, headers={"cf-access-token": jwt_from_old}), 401, "invalid or expired token"
    )
    assert httpx.get(gate, headers=creds(token.client_id, new)).status_code == 200


def test_rotation_without_grace_refuses_the_old_secret_within_a_second(
    tenant: Tenant, gate: str
) -> None:
    token, old = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, old)).status_code == 200
    tenant.rotate(token, None)
    until(lambda: httpx.get(gate, headers=creds(token.client_id, old)).status_code == 401, within=1)


def test_jwt_is_reused_from_header_and_cookie(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    first = httpx.get(gate, headers=creds(token.client_id, secret))
    jwt = first.headers["set-cookie"].split(";")[0].removeprefix("CF_Authorization=")
    assert echo(first)["headers"]["cf-access-jwt-assertion"] == [jwt]  # type: ignore[index]
    by_header = httpx.get(gate, headers={"cf-access-token": jwt})
    assert by_header.status_code == 200
    assert "set-cookie" not in by_header.headers
    by_cookie = httpx.get(gate, headers={"Cookie": f"a=b; CF_Authorization={jwt}"})
    assert by_cookie.status_code == 200
    assert echo(by_cookie)["headers"]["cookie"] == ["a=b"]  # type: ignore[index]
    # A client keeping cookies reuses it without sending the secret again.
    with httpx.Client() as client:
        assert client.get(gate, headers=creds(token.client_id, secret)).status_code == 200
        assert client.get(f"{gate}/again").status_code == 200
    # ...until the token is disabled.
    tenant.update(token, enabled=False)
    until(lambda: httpx.get(gate, headers={"cf-access-token": jwt}).status_code == 401, within=1)


def test_the_cookie_is_offered_only_to_a_client_without_it(
    tenant: Tenant, start_gate: GateFactory
) -> None:
    token, secret = tenant.token()
    # A gate started after the creation reads it from the change feed before it serves, so
    # no later poll evicts the token (and signs its JWT again) while this test runs.
    gate = start_gate(token_header="x-access-credentials")
    offers = [
        httpx.get(gate, headers=creds(token.client_id, secret)).headers["set-cookie"]
        for _ in range(2)
    ]
    assert offers[0] == offers[1]  # the JWT is signed once and offered until it is held
    offered = offers[-1]
    assert offered.endswith("; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600")
    jwt = offered.split(";")[0].removeprefix("CF_Authorization=")
    # The secret again, holding that JWT as the cookie: admitted, nothing to offer.
    holding = httpx.get(
        gate,
        headers={**creds(token.client_id, secret), "Cookie": f"a=b; CF_Authorization={jwt}"},
    )
    assert holding.status_code == 200
    assert "set-cookie" not in holding.headers
    assert echo(holding)["headers"]["cookie"] == ["a=b"]  # type: ignore[index]
    assert echo(holding)["headers"]["cf-access-jwt-assertion"] == [jwt]  # type: ignore[index]
    # Holding something else (a stale or foreign JWT): offered the current one.
    stale = httpx.get(
        gate, headers={**creds(token.client_id, secret), "Cookie": "CF_Authorization=old.jwt.x"}
    )
    assert stale.headers["set-cookie"].startswith(f"CF_Authorization={jwt};")
    # Over HTTPS (as told by a proxy in front) the cookie is Secure.
    https = httpx.get(
        gate, headers={**creds(token.client_id, secret), "X-Forwarded-Proto": "https"}
    )
    assert https.headers["set-cookie"].endswith("; Secure")


def test_without_cookies_the_gate_offers_none(tenant: Tenant, start_gate: GateFactory) -> None:
    gate = start_gate(cookie=False)
    token, secret = tenant.token()
    response = httpx.get(gate, headers=creds(token.client_id, secret))
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    jwt = echo(response)["headers"]["cf-access-jwt-assertion"][0]  # type: ignore[index]
    assert httpx.get(gate, headers={"cf-access-token": jwt}).status_code == 200


def test_jwt_for_another_audience_is_refused(
    tenant: Tenant, gate: str, start_gate: GateFactory
) -> None:
    token, secret = tenant.token()
    elsewhere = start_gate(audience="another-app")
    jwt = httpx.get(elsewhere, headers=creds(token.client_id, secret)).headers["set-cookie"]
    jwt = jwt.split(";")[0].removeprefix("CF_Authorization=")
    _refused(httpx.get(gate, headers={"cf-access-token": jwt}), 401, "invalid or expired token")


def test_deletion_is_enforced_within_a_second(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200
    tenant.service.tokens.delete(tenant.principal, tenant.ref, token.id)
    elapsed = until(
        lambda: httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 401,
        within=1,
    )
    assert elapsed < 1


def test_a_token_created_after_its_id_was_tried_is_accepted(tenant: Tenant, gate: str) -> None:
    # The negative cache entry for an unknown id is evicted by the creation.
    token, secret = tenant.token()
    tenant.service.tokens.delete(tenant.principal, tenant.ref, token.id)
    until(
        lambda: httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 401, within=1
    )
    fresh, fresh_secret = tenant.token()
    assert httpx.get(gate, headers=creds(fresh.client_id, fresh_secret)).status_code == 200


def test_last_seen_at_moves_within_five_seconds(tenant: Tenant, gate: str) -> None:
    token, secret = tenant.token()
    assert tenant.get(token).last_seen_at is None
    before = system_clock()
    assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200
    until(lambda: tenant.get(token).last_seen_at is not None, within=5, step=0.1)
    seen = tenant.get(token).last_seen_at
    assert seen is not None
    assert seen >= before - timedelta(seconds=1)


def test_last_seen_is_flushed_on_shutdown(tenant: Tenant, upstream: str) -> None:
    from bench.harness import ServerThread

    from servicetokens.bootstrap import gate_on
    from servicetokens.gate.settings import GateSettings
    from servicetokens.store.database import Database
    from servicetokens.store.engine import make_engine

    token, secret = tenant.token()
    settings = GateSettings(account_id=tenant.account, upstream=upstream, last_seen_interval=3600)
    app = gate_on(settings, Database(make_engine(tenant.database_url, pool_size=2)))
    with ServerThread(app) as server:
        assert httpx.get(server.url, headers=creds(token.client_id, secret)).status_code == 200
        assert tenant.get(token).last_seen_at is None
    assert tenant.get(token).last_seen_at is not None


def test_failed_attempts_are_rate_limited_and_counted(
    tenant: Tenant, start_gate: GateFactory
) -> None:
    gate = start_gate(failure_limit=3, failure_window=timedelta(minutes=10))
    token, _ = tenant.token()
    for _ in range(3):
        _refused(httpx.get(gate, headers=creds(token.client_id, "x")), 401, "invalid credentials")
    limited = httpx.get(gate, headers=creds(token.client_id, "x"))
    _refused(limited, 429, "too many failed attempts")
    assert int(limited.headers["retry-after"]) >= 1
    # Unknown ids are throttled alike, so a 429 does not reveal that an id exists.
    unknown = "1" * 32 + ".access"
    for _ in range(3):
        httpx.get(gate, headers=creds(unknown, "x"))
    _refused(httpx.get(gate, headers=creds(unknown, "x")), 429, "too many failed attempts")
    metrics = httpx.get(f"{gate}/cdn-cgi/servicetokens/metrics").text
    # Every failed attempt is counted, the throttled one too.
    assert 'servicetokens_gate_failures_total{client="known",reason="wrong_secret"} 4.0' in metrics
    assert 'servicetokens_gate_decisions_total{outcome="rate_limited"} 2.0' in metrics
    # Other ids are unaffected.
    other, other_secret = tenant.token()
    assert httpx.get(gate, headers=creds(other.client_id, other_secret)).status_code == 200


def test_upstream_down_is_502(tenant: Tenant, start_gate: GateFactory) -> None:
    from bench.harness import free_port

    gate = start_gate(upstream=f"http://127.0.0.1:{free_port()}")
    token, secret = tenant.token()
    response = httpx.get(gate, headers=creds(token.client_id, secret))
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"


def test_health_and_unknown_reserved_paths(gate: str) -> None:
    assert httpx.get(f"{gate}/cdn-cgi/servicetokens/health").json() == {"status": "ok"}
    assert httpx.get(f"{gate}/cdn-cgi/nothing").status_code == 404


def test_failed_attempts_for_known_ids_are_audited_without_secrets(
    tenant: Tenant, gate: str
) -> None:
    token, secret = tenant.token()
    wrong = "f" * 64
    _refused(httpx.get(gate, headers=creds(token.client_id, wrong)), 401, "invalid credentials")
    httpx.get(gate, headers=creds("0" * 32 + ".access", wrong))  # unknown: not attributable

    def failures() -> list[object]:
        return [
            e
            for e in tenant.service.admin.audit_log(account_id=tenant.account, limit=1000)
            if e.action == "gate.auth_failed" and e.target == token.id
        ]

    until(lambda: len(failures()) == 1, within=5, step=0.1)
    (entry,) = failures()
    assert entry.target == token.id  # type: ignore[attr-defined]
    assert entry.origin == "127.0.0.1"  # type: ignore[attr-defined]
    assert entry.detail == {"client_id": token.client_id, "reason": "wrong_secret"}  # type: ignore[attr-defined]
    assert wrong not in json.dumps(entry.detail)  # type: ignore[attr-defined]
    assert secret not in json.dumps(entry.detail)  # type: ignore[attr-defined]
