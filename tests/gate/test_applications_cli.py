"""`servicetokens gate --account ID --route HOST=URL`: what it refuses to start with, and a
real gate process on SQLite following the API's changes within a second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import Server

from servicetokens.signing.kek import KeyEncryptionKey
from tests.gate.access_world import app, delete_app, make_org, rule_token, service_auth
from tests.gate.conftest import Tenant, creds, make_tenant, until
from tests.gate.test_keys_cli import Done, run


def _usage(done: Done, *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    for needle in needles:
        assert needle in message, done.stderr


@pytest.fixture(scope="module")
def sqlite_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    tenant = make_tenant(f"sqlite:///{tmp_path_factory.mktemp('apps-cli') / 'st.db'}")
    yield tenant
    tenant.service.database.engine.dispose()


def test_options_of_the_single_upstream_form_are_refused_with_routes(
    sqlite_tenant: Tenant,
) -> None:
    url, account = sqlite_tenant.database_url, sqlite_tenant.account
    kek = KeyEncryptionKey.generate().encoded()
    gate = ["gate", "--account", account]
    for extra, needle in (
        (["--policy", "any"], "--policy go with --upstream"),
        (["--jwt-ttl", "60", "--audience", "x"], "--audience, --jwt-ttl go with --upstream"),
        (["--token-header", "X-T"], "--token-header go with --upstream"),
        (["--route", "a.test=http://127.0.0.1:9", "--upstream", "http://127.0.0.1:9"], "not both"),
        (["--route", "a.test"], "a route is HOST=URL"),
        (["--route", "a.test=ftp://x"], "must be an http(s) URL"),
        (["--route", "a/b=http://127.0.0.1:9"], "not a hostname"),
        (["--route", "a.test=http://x", "--route", "A.TEST=http://y"], "two routes for"),
    ):
        _usage(run(url, *gate, *extra, kek=kek), needle)


def test_a_gate_for_applications_needs_an_organization(sqlite_tenant: Tenant) -> None:
    done = run(
        sqlite_tenant.database_url,
        "gate",
        "--account",
        sqlite_tenant.account,
        "--route",
        "a.test=http://127.0.0.1:9",
        kek=KeyEncryptionKey.generate().encoded(),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "has no Zero Trust organization" in " ".join(done.stderr.split())


def test_a_gate_process_follows_changes_within_a_second(tmp_path: Path, upstream: str) -> None:
    tenant = make_tenant(f"sqlite:///{tmp_path / 'st.db'}")
    try:
        make_org(tenant, "cli.gate-tests.example")
        token, secret = tenant.token()
        made = app(tenant, "a.test", [service_auth(rule_token(token.id))])
        headers = {"Host": "a.test", **creds(token.client_id, secret)}
        with Server.gate(
            tenant.database_url,
            account=tenant.account,
            routes=[f"a.test={upstream}"],
            log=tmp_path / "gate.log",
        ) as gate:
            assert httpx.get(gate.url, headers=headers).status_code == 200
            assert "1 applications" in gate.log_text()
            delete_app(tenant, made.app.id)
            until(lambda: httpx.get(gate.url, headers=headers).status_code == 403, within=1)
            app(tenant, "a.test", [service_auth(rule_token(token.id))])
            until(lambda: httpx.get(gate.url, headers=headers).status_code == 200, within=1)
    finally:
        tenant.service.database.engine.dispose()
