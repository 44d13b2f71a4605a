"""An attacker's review of notifications: host spellings that normalise to an internal
address, address blocks Python 3.11's `ipaddress` calls global, what a refusal tells the
caller, inputs that used to answer 500, and one bad delivery that must not stall the
rest of its batch."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from servicetokens.domain.notifications.destinations import WebhookDestination, new_alerting_id
from servicetokens.domain.notifications.errors import InvalidWebhookUrl
from servicetokens.domain.notifications.targets import TargetRules, address_refusal
from servicetokens.usecases.expiry_alerts import ExpiryAlerts
from servicetokens.usecases.facade import UseCases
from servicetokens.webhooks.sender import WebhookSender, post_once
from tests.clocks import HandClock
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, error, make_policy, make_webhook
from tests.notifications.test_delivery import create_token, worker

STRICT = TargetRules(allow_private=False)


@pytest.fixture
def port80() -> Iterator[socket.socket]:
    """A listener on 127.0.0.1:80 that records whether anything connected (the strict
    rules allow only ports 80, 443 and 8088, so a bypass would land here)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", 80))
    except OSError:
        pytest.skip("127.0.0.1:80 is taken or needs privileges")
    server.listen(16)
    server.settimeout(0.0)
    yield server
    server.close()


def _connected(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize(
    "url",
    [
        "http://\u2460\u2461\u2466.0.0.1/",  # circled digits: IDNA's NFKC makes 127.0.0.1
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # full-width digits
        "http://127\u30020\u30020\u30021/",  # ideographic full stops
    ],
)
def test_host_spellings_that_normalise_to_loopback_never_connect(
    url: str, port80: socket.socket
) -> None:
    result = post_once(STRICT, url, b"{}", {}, timeout=3)
    assert result.status is None
    assert result.refused is not None, result.error
    assert not _connected(port80)


def test_the_connection_itself_refuses_a_non_public_address() -> None:
    # Whatever spelling or resolver path reaches the connector, the socket is refused.
    async def attempt() -> str | None:
        async with WebhookSender(STRICT, timeout=3) as sender:
            connector = sender._session.connector  # type: ignore[union-attr]
            factory = connector._socket_factory  # type: ignore[union-attr]
            assert factory is not None
            with pytest.raises(OSError, match="loopback"):
                factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
            sock = factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("1.1.1.1", 80)))
            sock.close()
            return None

    asyncio.run(attempt())


@pytest.mark.parametrize(
    "address",
    [
        "192.0.0.8",  # IETF protocol assignments (192.0.0.0/24, refused by the spec)
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT) 127.0.0.1
        "5f00::1",  # SRv6 SIDs (RFC 9602)
        "3fff::1",  # documentation (RFC 9637)
        "fec0::1",  # deprecated site-local
        "100:0:0:1::1",  # dummy prefix (RFC 9780)
    ],
)
def test_blocks_python_311_calls_global_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(InvalidWebhookUrl):
        STRICT.check_addresses([address])


def test_a_refused_name_does_not_tell_what_it_resolves_to() -> None:
    # Otherwise the test message is an oracle for the server's internal DNS.
    with pytest.raises(InvalidWebhookUrl) as refused:
        STRICT.check_addresses(["10.20.30.40"], name="db.internal")
    assert "10.20.30.40" not in refused.value.reason
    assert "db.internal" in refused.value.reason
    result = post_once(STRICT, "http://localhost/hook", b"{}", {}, timeout=3)
    assert result.refused is not None
    assert "127.0.0.1" not in (result.error or "")
    assert "::1" not in (result.error or "")


def test_a_host_label_idna_cannot_encode_is_a_failed_send_not_a_crash() -> None:
    result = post_once(
        TargetRules(allow_private=True), "http://" + "a" * 70 + ".example/", b"{}", {}, timeout=3
    )
    assert result.status is None
    assert result.error is not None


def test_a_url_idna_cannot_encode_is_refused_with_a_4xx(
    api: TestClient, notify_world: World
) -> None:
    url = f"{alerting(notify_world.account_a)}/destinations/webhooks"
    auth = notify_world.bearer(notify_world.write_a)
    error(api.post(url, json={"name": "n", "url": "http://" + "a" * 70 + ".example/"},
                   headers=auth), 400, 17907)  # fmt: skip


@pytest.mark.parametrize(
    "query",
    ["since=9999-12-31T23:00:00-05:00", "before=0001-01-01T00:00:00%2B05:00"],
)
def test_history_moments_past_the_calendar_are_a_400(
    api: TestClient, notify_world: World, query: str
) -> None:
    url = f"{alerting(notify_world.account_a)}/history?{query}"
    error(api.get(url, headers=notify_world.bearer(notify_world.read_a)), 400, 17906)


def test_one_delivery_that_cannot_be_sent_does_not_stall_its_batch(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    # A stored URL whose host IDNA cannot encode (written before the rules were what
    # they are now): its delivery fails; the good one beside it is sent once and recorded.
    good = make_webhook(api, notify_world, receiver.url)
    bad = WebhookDestination(
        id=new_alerting_id(),
        account_id=notify_world.account_a,
        name="broken",
        url="http://" + "a" * 70 + ".example/",
        sealed_secret=None,
        secret_kek_id=None,
        type="generic",
        created_at=clock(),
    )
    notify_service.database.run_write(lambda tx: tx.webhooks.insert(bad))
    make_policy(api, notify_world, good, mechanisms={"webhooks": [{"id": good}, {"id": bad.id}]})
    create_token(api, notify_world, "24h")
    ExpiryAlerts(notify_service.database, clock=clock).run_once()
    sender = worker(notify_service, clock)
    assert sender.run_once().sent == 2
    clock.advance(timedelta(minutes=2))
    sender.run_once()
    assert len(receiver.messages()) == 1
    with notify_service.database.read() as tx:
        assert tx.outbox.open_count() == 1  # only the broken one, retrying


def test_moving_a_destination_to_another_host_does_not_carry_its_secret_there(
    api: TestClient, notify_world: World, receiver: Receiver
) -> None:
    # The secret is write-only; if a URL change kept it, whoever may edit the destination
    # could point it at their own server and read `cf-webhook-auth` off the test message.
    world = notify_world
    base, auth = alerting(world.account_a), world.bearer(world.write_a)
    webhook_id = make_webhook(api, world, receiver.url, secret="s3cret")
    item = f"{base}/destinations/webhooks/{webhook_id}"
    with Receiver() as elsewhere:
        error(api.put(item, json={"name": "ops", "url": elsewhere.url}, headers=auth), 400, 17906)
        assert elsewhere.received == []
        shown = api.get(item, headers=auth).json()["result"]
        assert shown["url"] == receiver.url
        # Saying the secret again (or "" for none) moves it.
        moved = {"name": "ops", "url": elsewhere.url, "secret": "other"}
        assert api.put(item, json=moved, headers=auth).status_code == 200
        assert elsewhere.received[-1].headers["cf-webhook-auth"] == "other"
    # Another path on the same origin keeps the secret, as before.
    same_origin = {"name": "ops", "url": receiver.url + "/v2"}
    assert api.put(item, json={"name": "ops", "url": receiver.url, "secret": "s3cret"},
                   headers=auth).status_code == 200  # fmt: skip
    assert api.put(item, json=same_origin, headers=auth).status_code == 200
    assert receiver.received[-1].headers["cf-webhook-auth"] == "s3cret"
