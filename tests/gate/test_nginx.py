"""Real nginx `auth_request` in front of an upstream, asking the gate's forward-auth endpoint."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests import prerequisites
from tests.gate.conftest import GateFactory, Tenant, creds, free_port, wait_http

NGINX = prerequisites.nginx_program()
pytestmark = pytest.mark.nginx  # deselected, with one line saying so, without nginx on PATH

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
    server {{
        listen 127.0.0.1:{port};
        location = /_servicetokens {{
            internal;
            proxy_pass {gate}/cdn-cgi/access/authorize;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}
        location / {{
            auth_request /_servicetokens;
            auth_request_set $assertion $upstream_http_cf_access_jwt_assertion;
            proxy_set_header Cf-Access-Jwt-Assertion $assertion;
            proxy_set_header CF-Access-Client-Id "";
            proxy_set_header CF-Access-Client-Secret "";
            proxy_pass {upstream};
        }}
    }}
}}
"""


@contextmanager
def running_nginx(tmp: Path, gate: str, upstream: str) -> Iterator[str]:
    """nginx with `auth_request` to `gate`, proxying to `upstream`; yields its URL."""
    assert NGINX is not None
    port = free_port()
    config = tmp / "nginx.conf"
    config.write_text(CONFIG.format(tmp=tmp, port=port, gate=gate, upstream=upstream))
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
