"""Safe targets: every refused address class, the URL rules, refusal at create time over the
API, refusal at send time after DNS (a name resolving to loopback), redirects not followed,
and a slow receiver cut off by the timeout."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.testclient import TestClient

from servicetokens.domain.notifications.errors import InvalidWebhookUrl
from servicetokens.domain.notifications.targets import TargetRules, address_refusal, parse_target
from servicetokens.webhooks.sender import post_once
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, error

STRICT = TargetRules(allow_private=False)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "::1",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata
        "fe80::1",
        "fc00::1",  # unique local
        "100.64.0.1",  # shared address space
        "0.0.0.0",
        "::",
        "224.0.0.1",  # multicast
        "198.18.0.1",  # benchmarking
        "192.0.2.1",  # documentation
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "240.0.0.1",  # reserved
    ],
)
def test_every_non_public_address_class_is_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(InvalidWebhookUrl):
        STRICT.check_addresses([address])


@pytest.mark.parametrize("address", ["1.1.1.1", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert STRICT.check_addresses([address]) == [address]


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    with pytest.raises(InvalidWebhookUrl):
        STRICT.check_addresses(["1.1.1.1", "10.0.0.1"])


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com",
        "http:///nohost",
        "https://example.com/hook#frag",
        "https://exa mple.com/",
        "https://example.com:99999/",
        "https://example.com/" + "a" * 2100,
        "",
    ],
)
def test_url_shapes_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        parse_target(url)


def test_ports_outside_80_443_8088_are_refused_unless_private_is_allowed() -> None:
    target = parse_target("https://example.com:8443/hook")
    with pytest.raises(InvalidWebhookUrl):
        STRICT.check_port(target)
    TargetRules(allow_private=True).check_port(target)
    STRICT.check_port(parse_target("https://example.com/hook"))


def test_send_refuses_names_resolving_to_loopback(receiver: Receiver) -> None:
    # "localhost" resolves to loopback: refused after DNS, before any connection.
    url = f"http://localhost:{receiver.port}/hook"
    result = post_once(TargetRules(allow_private=True), url, b"{}", {}, timeout=5)
    assert result.status == 200
    strict = post_once(STRICT, url.replace(f":{receiver.port}", ":80"), b"{}", {}, timeout=5)
    assert strict.status is None
    assert strict.error is not None
    assert strict.error.startswith("refused:")
    literal = post_once(STRICT, "http://127.0.0.1:80/hook", b"{}", {}, timeout=5)
    assert literal.error is not None
    assert literal.error.startswith("refused:")
    assert len(receiver.received) == 1


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    with Receiver() as elsewhere:
        receiver.redirect_to = elsewhere.url
        result = post_once(TargetRules(allow_private=True), receiver.url, b"{}", {}, timeout=5)
        assert result.status == 302  # a failure: 3xx is not 2xx, and it was not followed
        assert elsewhere.received == []


def test_a_slow_receiver_is_cut_off_by_the_timeout(receiver: Receiver) -> None:
    receiver.delay = 3
    result = post_once(TargetRules(allow_private=True), receiver.url, b"{}", {}, timeout=0.5)
    assert result.status is None
    assert result.error is not None
    assert "timed out" in result.error
    assert result.latency_ms < 2500


def test_the_api_refuses_private_targets_at_create_time(
    notify_world: World, notify_service: object
) -> None:
    from servicetokens.api import create_app
    from servicetokens.bootstrap import build_use_cases

    service = build_use_cases(notify_service.database)  # type: ignore[attr-defined]
    with TestClient(create_app(service), raise_server_exceptions=False) as strict_api:
        url = f"{alerting(notify_world.account_a)}/destinations/webhooks"
        auth = notify_world.bearer(notify_world.write_a)
        for target in ("http://127.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
                       "http://[::1]/hook", "http://10.0.0.1:8088/hook"):  # fmt: skip
            message = error(strict_api.post(url, json={"name": "n", "url": target},
                                            headers=auth), 400, 17908)  # fmt: skip
            assert message.startswith("invalid webhook URL: ")
        error(strict_api.post(url, json={"name": "n", "url": "http://192.0.2.1:22/"},
                              headers=auth), 400, 17908)  # fmt: skip
        error(strict_api.post(url, json={"name": "n", "url": "ftp://x/"}, headers=auth), 400, 17908)
