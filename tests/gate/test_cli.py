"""The real `servicetokens gate` and `servicetokens serve` processes on one SQLite file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from bench.harness import CLI, Server

from tests.gate.conftest import Tenant, creds, make_tenant, until


@pytest.fixture(scope="module")
def cli_world(
    tmp_path_factory: pytest.TempPathFactory, upstream: str
) -> Iterator[tuple[Tenant, str, str]]:
    tmp = tmp_path_factory.mktemp("cli")
    tenant = make_tenant(f"sqlite:///{tmp / 'cli.db'}")
    processes: list[Server] = []
    try:
        processes.append(Server.api(tenant.database_url, log=tmp / "api.log"))
        gate = Server.gate(
            tenant.database_url,
            account=tenant.account,
            upstream=upstream,
            log=tmp / "gate.log",
            extra=["--audience", "cli-app", "--no-cookie"],
        )
        processes.append(gate)
        yield tenant, processes[0].url, gate.url
    finally:
        for process in processes:
            process.stop()
        tenant.service.database.engine.dispose()


def _api_token_path(tenant: Tenant, token_id: str) -> str:
    return f"/client/v4/accounts/{tenant.account}/access/service_tokens/{token_id}"


def test_delete_through_the_api_is_enforced_within_a_second(
    cli_world: tuple[Tenant, str, str],
) -> None:
    tenant, api, gate = cli_world
    token, secret = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200
    deleted = httpx.delete(api + _api_token_path(tenant, token.id), headers=tenant.api_headers())
    assert deleted.status_code == 200, deleted.text
    until(
        lambda: httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 401, within=1
    )


def test_disable_through_the_api_beats_a_reused_jwt(cli_world: tuple[Tenant, str, str]) -> None:
    tenant, api, gate = cli_world
    token, secret = tenant.token()
    first = httpx.get(gate, headers=creds(token.client_id, secret))
    assert first.status_code == 200
    assertion = first.json()["headers"]["cf-access-jwt-assertion"][0]
    assert httpx.get(gate, headers={"cf-access-token": assertion}).status_code == 200
    updated = httpx.put(
        api + _api_token_path(tenant, token.id),
        headers=tenant.api_headers(),
        json={"name": token.name, "enabled": False},
    )
    assert updated.status_code == 200, updated.text
    until(
        lambda: httpx.get(gate, headers={"cf-access-token": assertion}).status_code == 401, within=1
    )


def test_pyjwt_validates_issued_jwts_against_gate_and_api_certs(
    cli_world: tuple[Tenant, str, str],
) -> None:
    tenant, api, gate = cli_world
    token, secret = tenant.token()
    response = httpx.get(gate, headers=creds(token.client_id, secret))
    assertion = response.json()["headers"]["cf-access-jwt-assertion"][0]
    header = jwt.get_unverified_header(assertion)
    assert (header["alg"], header["typ"]) == ("RS256", "JWT")
    assert header["kid"]
    for base in (gate, api):
        certs = httpx.get(f"{base}/cdn-cgi/access/certs").json()
        assert set(certs) == {"keys", "public_cert", "public_certs"}
        assert certs["public_cert"]["kid"] == header["kid"]
        assert certs["public_cert"]["cert"].startswith("-----BEGIN CERTIFICATE-----")
        assert {k["kid"] for k in certs["keys"]} == {c["kid"] for c in certs["public_certs"]}
        client = jwt.PyJWKClient(f"{base}/cdn-cgi/access/certs")
        key = client.get_signing_key_from_jwt(assertion)
        claims = jwt.decode(
            assertion,
            key.key,
            algorithms=["RS256"],
            audience="cli-app",
            issuer=f"servicetokens:{tenant.account}",
        )
        assert claims["type"] == "app"
        assert claims["aud"] == ["cli-app"]
        assert claims["common_name"] == token.client_id
        assert claims["sub"] == ""
        assert claims["token_id"] == token.id
        assert claims["exp"] - claims["iat"] == 3600


def test_forward_auth_endpoint(cli_world: tuple[Tenant, str, str]) -> None:
    tenant, _, gate = cli_world
    token, secret = tenant.token()
    url = f"{gate}/cdn-cgi/access/authorize"
    allowed = httpx.get(url, headers=creds(token.client_id, secret))
    assert allowed.status_code == 200
    assert allowed.content == b""
    assert allowed.headers["cf-access-jwt-assertion"].count(".") == 2
    refused = httpx.get(url, headers=creds(token.client_id, "wrong"))
    assert refused.status_code == 401
    assert refused.json() == {"error": "unauthorized", "reason": "invalid credentials"}


def test_last_seen_at_is_visible_through_the_api(cli_world: tuple[Tenant, str, str]) -> None:
    tenant, api, gate = cli_world
    token, secret = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200

    def seen() -> bool:
        body = httpx.get(api + _api_token_path(tenant, token.id), headers=tenant.api_headers())
        return body.json()["result"]["last_seen_at"] is not None

    until(seen, within=5, step=0.2)


def test_gate_refuses_an_unknown_account(tmp_path: Path, upstream: str) -> None:
    tenant = make_tenant(f"sqlite:///{tmp_path / 'x.db'}")
    tenant.service.database.engine.dispose()
    result = subprocess.run(
        [
            CLI,
            "--database",
            tenant.database_url,
            "gate",
            "--account",
            "0" * 32,
            "--upstream",
            upstream,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no account" in result.stderr + result.stdout


def test_no_cookie_flag_offers_no_cookie_but_jwt_reuse_works(
    cli_world: tuple[Tenant, str, str],
) -> None:
    tenant, _, gate = cli_world
    token, secret = tenant.token()
    first = httpx.get(gate, headers=creds(token.client_id, secret))
    assert first.status_code == 200
    assert "set-cookie" not in first.headers
    assertion = first.json()["headers"]["cf-access-jwt-assertion"][0]
    assert httpx.get(gate, headers={"cf-access-token": assertion}).status_code == 200
