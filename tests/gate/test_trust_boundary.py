"""The gate alone speaks for the caller: what a client says about itself never reaches the
upstream, request targets cannot leave the upstream, and the client address is one notion."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servicetokens.gate.forwarding import dropped, resolve_path
from tests.gate.conftest import GateFactory, Tenant, creds, until

# Cloudflare's identity and network headers, the forwarding family, and their cousins.
IDENTITY_HEADERS = [
    "Cf-Access-Authenticated-User-Email",
    "Cf-Access-Authenticated-User-Id",
    "Cf-Access-Jwt-Assertion",
    "CF-Connecting-IP",
    "CF-Connecting-IPv6",
    "CF-IPCountry",
    "CF-IPCity",
    "CF-Ray",
    "CF-Visitor",
    "CF-Worker",
    "CF-EW-Via",
    "CF-Pseudo-IPv4",
    "Cf-Warp-Tag-Id",
    "Cf-Device-Type",
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Server",
    "X-Forwarded-Ssl",
    "X-Forwarded-Uri",
    "X-Real-IP",
    "True-Client-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "Fastly-Client-IP",
    "Client-IP",
    "X-Original-Forwarded-For",
]
GATE_OWNED = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "cf-connecting-ip")


@pytest.fixture(scope="module")
def untrusting_gate(start_gate: GateFactory) -> str:
    """A gate that trusts no proxy: the test client (127.0.0.1) is a plain client."""
    return start_gate(trusted_proxies=("none",))


@pytest.fixture(scope="module")
def token(tenant: Tenant) -> tuple[str, str]:
    made, secret = tenant.token("trust boundary")
    return made.client_id, secret


def _echoed(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers.get("x-upstream") == "yes"
    headers: dict[str, list[str]] = response.json()["headers"]
    return headers


_names = st.one_of(
    st.sampled_from(IDENTITY_HEADERS),
    st.from_regex(r"\A(cf|CF|Cf)-[A-Za-z0-9-]{1,20}\Z"),
    st.from_regex(r"\AX-Forwarded-[A-Za-z0-9-]{1,20}\Z"),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extra=st.lists(_names, min_size=0, max_size=20), use_ip_values=st.booleans())
def test_no_client_sent_identity_header_reaches_the_upstream(
    untrusting_gate: str, token: tuple[str, str], extra: list[str], use_ip_values: bool
) -> None:
    sent: list[tuple[str, str]] = []
    values: list[str] = []
    for name in [*IDENTITY_HEADERS, *extra, "X-Hop-Secret"]:
        value = f"6.6.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
        if not use_ip_values or name == "X-Hop-Secret":
            value = f"forged-{secrets.token_hex(8)}"
        values.append(value)
        sent.append((name, value))
    sent.append(("Connection", "keep-alive, X-Hop-Secret"))
    assert len(sent) >= 31
    response = httpx.get(
        f"{untrusting_gate}/who",
        headers=[*creds(*token).items(), *sent, ("Host", "app.example")],
    )
    received = _echoed(response)
    everything = "\n".join(v for vs in received.values() for v in vs)
    for value in values:
        assert value not in everything
    assert "x-hop-secret" not in received
    for name in GATE_OWNED:
        assert len(received[name]) == 1, name
    assert received["x-forwarded-for"] == ["127.0.0.1"]
    assert received["cf-connecting-ip"] == ["127.0.0.1"]
    assert received["x-forwarded-proto"] == ["http"]
    assert received["x-forwarded-host"] == ["app.example"]
    assert len(received["cf-access-jwt-assertion"]) == 1
    assert not any(
        name.startswith("cf-")
        and name
        not in (
            "cf-connecting-ip",
            "cf-access-jwt-assertion",
        )
        for name in received
    )


def test_a_trusted_proxy_names_the_client(
    tenant: Tenant, start_gate: GateFactory, token: tuple[str, str]
) -> None:
    gate = start_gate()  # the default trusts loopback: the test client plays the proxy
    response = httpx.get(
        gate,
        headers={
            **creds(*token),
            "X-Forwarded-For": "6.6.6.6, 198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "app.example",
        },
    )
    received = _echoed(response)
    assert received["x-forwarded-for"] == ["198.51.100.7, 127.0.0.1"]
    assert received["cf-connecting-ip"] == ["198.51.100.7"]
    assert received["x-forwarded-proto"] == ["https"]
    assert received["x-forwarded-host"] == ["app.example"]
    assert response.headers["set-cookie"].endswith("; Secure")


@pytest.mark.parametrize(
    ("proto", "secure"), [("HTTPS", True), ("https, http", True), ("http", False), ("ftp", False)]
)
def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(
    start_gate: GateFactory, token: tuple[str, str], proto: str, secure: bool
) -> None:
    gate = start_gate()
    response = httpx.get(gate, headers={**creds(*token), "X-Forwarded-Proto": proto})
    assert response.headers["set-cookie"].endswith("; Secure") is secure


def test_an_untrusted_client_cannot_claim_https_or_an_address(
    untrusting_gate: str, token: tuple[str, str]
) -> None:
    response = httpx.get(
        untrusting_gate,
        headers={**creds(*token), "X-Forwarded-Proto": "https", "X-Forwarded-For": "6.6.6.6"},
    )
    assert not response.headers["set-cookie"].endswith("; Secure")
    assert _echoed(response)["cf-connecting-ip"] == ["127.0.0.1"]


def test_the_audit_log_and_the_limiter_see_the_same_client(
    tenant: Tenant, start_gate: GateFactory
) -> None:
    gate = start_gate(failure_limit=2)
    made, _ = tenant.token("audited")
    behind = {"X-Forwarded-For": "198.51.100.23"}
    for _ in range(2):
        assert httpx.get(gate, headers={**creds(made.client_id, "x"), **behind}).status_code == 401
    limited = httpx.get(gate, headers={**creds(made.client_id, "x"), **behind})
    assert limited.status_code == 429
    # Another client behind the same proxy has a budget of its own.
    other = {"X-Forwarded-For": "198.51.100.24"}
    assert httpx.get(gate, headers={**creds(made.client_id, "x"), **other}).status_code == 401

    def origins() -> set[str | None]:
        return {
            e.origin
            for e in tenant.service.admin.audit_log(account_id=tenant.account, limit=1000)
            if e.action == "gate.auth_failed" and e.target == made.id
        }

    until(lambda: origins() == {"198.51.100.23", "198.51.100.24"}, within=5, step=0.1)


# -- request targets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "resolved"),
    [
        (b"/", "/"),
        (b"/a/b", "/a/b"),
        (b"/a/./b", "/a/b"),
        (b"/a/../b", "/b"),
        (b"/../../etc/passwd", "/etc/passwd"),
        (b"/a/b/..", "/a/"),
        (b"/a/%2e%2E/b", "/b"),
        (b"/%2e%2e/%2e%2e/x", "/x"),
        (b"/.%2e/x", "/x"),
        (b"/a/%2e/b", "/a/b"),
        (b"//double//slash", "//double//slash"),
        (b"/a%20b/c%2Fd", "/a%20b/c%2Fd"),
        (b"/..%2f..%2fetc", None),
        (b"/..%5c..%5cetc", None),
        (b"/a\\..\\b", None),
        (b"@169.254.169.254/latest/meta-data/", None),
        (b"http://evil.example/x", None),
        (b"evil.example:443", None),
        (b"*", None),
        (b"", None),
        (b"/a#frag", None),
        (b"/..;/admin", None),
        (b"/%2e%2e%3b/x", None),
        (b"/a/.;x/b", None),
        (b"/a;v=1/b", "/a;v=1/b"),
    ],
)
def test_resolve_path(raw: bytes, resolved: str | None) -> None:
    assert resolve_path(raw) == resolved


_segments = st.lists(
    st.one_of(
        st.sampled_from(["..", ".", "%2e%2e", "%2E.", ".%2e", "%2e", "a", "b%20c", ""]),
        st.from_regex(r"\A[A-Za-z0-9._~%-]{0,8}\Z"),
    ),
    max_size=12,
)


@given(segments=_segments)
def test_a_resolved_path_never_holds_a_dot_segment(segments: list[str]) -> None:
    from urllib.parse import unquote

    resolved = resolve_path(("/" + "/".join(segments)).encode())
    if resolved is None:
        return
    assert resolved.startswith("/")
    for part in resolved.split("/"):
        assert unquote(part) not in (".", "..")


def _raw_request(url: str, target: bytes, headers: dict[str, str] | None = None) -> bytes:
    """One request with a request target httpx would not send as it is."""
    host, port = url.removeprefix("http://").split(":")
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: app.example", b"Connection: close"]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def based_gate(start_gate: GateFactory, upstream: str) -> Iterator[str]:
    return start_gate(upstream=f"{upstream}/base")


@pytest.mark.parametrize(
    ("target", "upstream_path"),
    [
        (b"/x", "/base/x"),
        (b"/../../etc/passwd", "/base/etc/passwd"),
        (b"/%2e%2e/%2E%2e/secret", "/base/secret"),
        (b"/a/..%2F..%2Fsecret", None),
        (b"@169.254.169.254/latest/meta-data/", None),
        (b"*", None),
    ],
)
def test_request_targets_stay_inside_the_upstreams_base(
    based_gate: str, token: tuple[str, str], target: bytes, upstream_path: str | None
) -> None:
    answer = _raw_request(based_gate, target, creds(*token))
    status = int(answer.split(b" ", 2)[1])
    if upstream_path is None:
        assert status == 400, answer
        assert b"x-upstream" not in answer.lower()
        return
    assert status == 200, answer
    assert b'"path":"' + upstream_path.encode() + b'"' in answer


def test_reserved_paths_are_found_after_resolution(based_gate: str) -> None:
    answer = _raw_request(based_gate, b"/x/../cdn-cgi/servicetokens/health")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b'{"status":"ok"}' in answer
    assert b"x-upstream" not in answer.lower()


def test_dropped_covers_the_families() -> None:
    for name in IDENTITY_HEADERS:
        assert dropped(name.lower().encode()), name
    assert not dropped(b"x-custom")
    assert not dropped(b"cookie")


def test_underscore_spellings_and_expect_never_reach_the_upstream(
    untrusting_gate: str, token: tuple[str, str]
) -> None:
    forged = {
        "CF_CONNECTING_IP": "6.6.6.6",
        "Cf_Access_Authenticated_User_Email": "admin@corp.example",
        "X_FORWARDED_PROTO": "https",
        "x_forwarded_for": "6.6.6.7",
        "X_Real_IP": "6.6.6.8",
    }
    response = httpx.post(
        untrusting_gate,
        headers={**creds(*token), **forged, "Expect": "100-continue"},
        content=b"body",
    )
    received = _echoed(response)
    everything = "\n".join(v for values in received.values() for v in values)
    for value in forged.values():
        assert value not in everything
    assert not [name for name in received if "_" in name]
    assert "expect" not in received
    assert response.json()["body_size"] == 4


def test_nothing_longer_than_a_host_or_an_address_is_remembered() -> None:
    from servicetokens.domain.network import TrustedProxies
    from servicetokens.gate import forwarding

    proxies = TrustedProxies()
    for size in (300, 100_000):
        scope = {
            "headers": [
                (b"host", b"h" * size),
                (b"x-forwarded-for", b"1" * size),
                (b"x-forwarded-host", b"x" * size),
            ],
            "client": ("127.0.0.1", 1),
            "scheme": "http",
        }
        found = forwarding.read_forwarded(scope, proxies)
        assert found.host is None
        assert found.client == "127.0.0.1"
    assert all(len(value) <= 255 for value in forwarding._hosts)
    assert all(key is None or len(key) <= 64 for key in proxies._peers)
