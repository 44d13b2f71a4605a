"""Real nginx `auth_request` in front of an upstream, asking the gate's forward-auth endpoint."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from bench.harness import free_port, wait_http

from tests import prerequisites
from tests.gate.conftest import GateFactory, Tenant, creds

NGINX = prerequisites.nginx_program()
pytestmark = pytest.mark.nginx  # deselected, with one line saying so, without nginx on PATH

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gate.md"
DOCS_GATE, DOCS_APP = "http://127.0.0.1:8788", "http://127.0.0.1:8080"


def documented_nginx() -> tuple[str, str]:
    """The forward-auth example of docs/gate.md, as written: its `http { }` part (the
    cookie map) and its `server { }` part (the locations)."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    http = next(b for b in blocks if b.startswith("# in http { }"))
    server = next(b for b in blocks if b.startswith("# in server { }"))
    return http, server


CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{http}
    server {{
        listen 127.0.0.1:{port};
{server}
    }}
}}
"""


@contextmanager
def running_nginx(tmp: Path, gate: str, upstream: str) -> Iterator[str]:
    """nginx with `auth_request` to `gate`, proxying to `upstream`; yields its URL."""
    assert NGINX is not None
    port = free_port()
    config = tmp / "nginx.conf"
    http, server = documented_nginx()
    server = server.replace(DOCS_GATE, gate).replace(DOCS_APP, upstream)
    config.write_text(CONFIG.format(tmp=tmp, port=port, http=http, server=server))
    process = subprocess.Popen(
        [NGINX, "-c", str(config), "-p", str(tmp), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def nginx(
    tmp_path_factory: pytest.TempPathFactory, start_gate: GateFactory, upstream: str
) -> Iterator[str]:
    with running_nginx(tmp_path_factory.mktemp("nginx"), start_gate(), upstream) as url:
        yield url


def test_nginx_admits_a_valid_token_and_forwards_the_jwt(tenant: Tenant, nginx: str) -> None:
    token, secret = tenant.token()
    response = httpx.get(f"{nginx}/app?x=1", headers=creds(token.client_id, secret))
    assert response.status_code == 200
    seen = response.json()
    assert seen["path"] == "/app"
    assert seen["headers"]["cf-access-jwt-assertion"][0].count(".") == 2
    assert "cf-access-client-secret" not in seen["headers"]


def test_nginx_refuses_what_does_not_authenticate(tenant: Tenant, nginx: str) -> None:
    token, _ = tenant.token()
    assert httpx.get(nginx, headers=creds(token.client_id, "wrong")).status_code == 401
    assert httpx.get(nginx).status_code == 401
    expired, secret = tenant.expired_token()
    assert httpx.get(nginx, headers=creds(expired.client_id, secret)).status_code == 401


def test_nginx_passes_on_the_gates_403(
    tenant: Tenant, tmp_path: Path, start_gate: GateFactory, upstream: str
) -> None:
    admitted, _ = tenant.token()
    other, other_secret = tenant.token()
    gate = start_gate(policy=frozenset({admitted.id}))
    with running_nginx(tmp_path, gate, upstream) as url:
        response = httpx.get(url, headers=creds(other.client_id, other_secret))
        assert response.status_code == 403


def test_nginx_passes_on_nothing_the_client_says_for_itself(tenant: Tenant, nginx: str) -> None:
    token, secret = tenant.token()
    first = httpx.get(nginx, headers=creds(token.client_id, secret))
    jwt = first.json()["headers"]["cf-access-jwt-assertion"][0]
    forged = {
        "Cf-Access-Authenticated-User-Email": "admin@corp.example",
        "Cf-Access-Jwt-Assertion": "forged.jwt.value",
        "CF-Connecting-IP": "6.6.6.6",
        "CF-IPCountry": "XX",
        "CF-Ray": "forged-ray",
        "CF-Visitor": '{"scheme":"forged"}',
        "X-Forwarded-For": "6.6.6.7",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "gopher",
        "X-Forwarded-Port": "6666",
        "X-Real-IP": "6.6.6.8",
        "True-Client-IP": "6.6.6.9",
        "Forwarded": "for=6.6.6.10",
    }
    response = httpx.get(
        nginx,
        headers={
            **creds(token.client_id, secret),
            **forged,
            "cf-access-token": jwt,
            "Cookie": f"theme=dark; CF_Authorization={jwt}; lang=en",
        },
    )
    assert response.status_code == 200, response.text
    seen = response.json()["headers"]
    everything = "\n".join(v for values in seen.values() for v in values)
    for value in [*forged.values(), secret, jwt]:
        if value != jwt:
            assert value not in everything, value
    assert "cf-access-client-id" not in seen
    assert "cf-access-client-secret" not in seen
    assert "cf-access-token" not in seen
    assert seen["cookie"] == ["theme=dark; lang=en"]
    assert seen["cf-connecting-ip"] == ["127.0.0.1"]  # what the gate worked out
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert len(seen["cf-access-jwt-assertion"]) == 1
    assert seen["cf-access-jwt-assertion"] != ["forged.jwt.value"]
