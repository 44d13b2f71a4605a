"""Webhook secrets at rest, on both engines: the database row holds the secret sealed under
the deployment's key-encryption key (never the secret, in any encoding), delivery still
signs with it, a sealed secret moved to another row does not open, rows written before
sealing are sealed when the API starts, and a server without the KEK refuses to store a
secret (503) and sends nothing unsigned."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.signing.kek import KekError, KeyEncryptionKey
from servicetokens.store.schema import alert_webhooks
from servicetokens.usecases.expiry_alerts import ExpiryAlerts
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.webhook_secrets import WebhookSecrets
from tests.clocks import HandClock
from tests.conftest import World
from tests.notifications.receiver import Receiver
from tests.notifications.test_alerting_api import alerting, make_policy, make_webhook
from tests.notifications.test_delivery import create_token, worker

SECRET = "whsec_" + base64.b64encode(b"a very secret signing key 0123").decode()


def stored_row(service: UseCases, webhook_id: str) -> tuple[str | None, str | None]:
    with service.database.engine.connect() as conn:
        row = conn.execute(
            select(alert_webhooks.c.secret, alert_webhooks.c.secret_kek_id).where(
                alert_webhooks.c.id == webhook_id
            )
        ).one()
    return row.secret, row.secret_kek_id


def all_stored_text(service: UseCases) -> str:
    with service.database.engine.connect() as conn:
        return repr(conn.execute(select(alert_webhooks)).all())


def test_the_row_holds_the_secret_sealed_and_delivery_signs_with_it(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    webhook_id = make_webhook(api, notify_world, receiver.url, secret=SECRET)
    make_policy(api, notify_world, webhook_id)
    sealed, kek_id = stored_row(notify_service, webhook_id)
    assert sealed is not None
    assert kek_id == notify_service.webhooks.secrets.kek().key_id
    dump = all_stored_text(notify_service)
    for form in (SECRET, SECRET.removeprefix("whsec_"), "a very secret signing key"):
        assert form not in dump

    create_token(api, notify_world, "72h")
    assert ExpiryAlerts(notify_service.database, clock=clock).run_once().expiring == 1
    assert worker(notify_service, clock).run_once().succeeded == 1
    (message,) = receiver.messages()
    assert message.headers["cf-webhook-auth"] == SECRET
    Webhook(SECRET).verify(message.body, message.headers)

    # An update that keeps the secret keeps signing with it; the API never shows it.
    base, auth = alerting(notify_world.account_a), notify_world.bearer(notify_world.write_a)
    renamed = api.put(
        f"{base}/destinations/webhooks/{webhook_id}",
        json={"name": "renamed", "url": receiver.url},
        headers=auth,
    )
    assert renamed.status_code == 200, renamed.text
    assert SECRET not in renamed.text
    assert len(receiver.received) == 2  # nothing changed that needs a new test message
    webhook, sent = notify_service.webhooks.test_as_operator(
        webhook_id, account_id=notify_world.account_a
    )
    assert sent.status == 200
    assert receiver.received[-1].headers["cf-webhook-auth"] == SECRET
    assert stored_row(notify_service, webhook_id)[0] not in (None, SECRET)
    assert webhook.name == "renamed"


def test_a_sealed_secret_opens_only_in_its_own_row_under_its_own_kek(
    api: TestClient, notify_service: UseCases, notify_world: World, receiver: Receiver
) -> None:
    first = make_webhook(api, notify_world, receiver.url, secret=SECRET, name="one")
    second = make_webhook(api, notify_world, receiver.url, secret="other", name="two")
    secrets = notify_service.webhooks.secrets
    with notify_service.database.read() as tx:
        one = tx.webhooks.get(notify_world.account_a, first)
        two = tx.webhooks.get(notify_world.account_a, second)
    assert one is not None
    assert two is not None
    assert secrets.open(one) == SECRET
    moved = replace(two, sealed_secret=one.sealed_secret)
    with pytest.raises(KekError, match="does not decrypt"):
        secrets.open(moved)
    stranger = WebhookSecrets(KeyEncryptionKey.generate)
    with pytest.raises(KekError, match="key-encryption key"):
        stranger.open(one)


def test_rows_written_before_sealing_are_sealed_at_start(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    webhook_id = make_webhook(api, notify_world, receiver.url, secret=SECRET)
    make_policy(api, notify_world, webhook_id)
    with notify_service.database.engine.begin() as conn:  # as migration 0010 left it
        conn.execute(
            update(alert_webhooks)
            .where(alert_webhooks.c.id == webhook_id)
            .values(secret=SECRET, secret_kek_id=None)
        )
    create_token(api, notify_world, "72h")
    assert ExpiryAlerts(notify_service.database, clock=clock).run_once().expiring == 1
    assert worker(notify_service, clock).run_once().succeeded == 1  # still signed
    Webhook(SECRET).verify(receiver.messages()[0].body, receiver.messages()[0].headers)

    assert notify_service.webhooks.seal_stored() == 1
    assert notify_service.webhooks.seal_stored() == 0
    sealed, kek_id = stored_row(notify_service, webhook_id)
    assert kek_id is not None
    assert sealed != SECRET
    assert SECRET not in all_stored_text(notify_service)


def test_without_a_kek_no_secret_is_stored_and_nothing_is_sent_unsigned(
    api: TestClient,
    notify_service: UseCases,
    notify_world: World,
    receiver: Receiver,
    clock: HandClock,
) -> None:
    webhook_id = make_webhook(api, notify_world, receiver.url, secret=SECRET)
    make_policy(api, notify_world, webhook_id)

    def missing() -> KeyEncryptionKey:
        raise KekError("no key-encryption key: set SERVICETOKENS_KEY_ENCRYPTION_KEY")

    keyless = build_use_cases(
        notify_service.database,
        clock=clock,
        allow_private_webhooks=True,
        webhook_secrets=WebhookSecrets(missing),
    )
    with TestClient(create_app(keyless), client=("127.0.0.1", 50000)) as client:
        base = alerting(notify_world.account_a)
        refused = client.post(
            f"{base}/destinations/webhooks",
            json={"name": "x", "url": receiver.url, "secret": "s3cret"},
            headers=notify_world.bearer(notify_world.write_a),
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["errors"][0]["code"] == 17909
        assert "SERVICETOKENS" not in refused.text  # the fix is the operator's, in the log
        plain = client.post(  # a destination without a secret needs no key
            f"{base}/destinations/webhooks",
            json={"name": "y", "url": receiver.url},
            headers=notify_world.bearer(notify_world.write_a),
        )
        assert plain.status_code == 201, plain.text

    create_token(api, notify_world, "72h")
    assert ExpiryAlerts(notify_service.database, clock=clock).run_once().expiring == 1
    keyless_worker = worker(notify_service, clock, secrets=WebhookSecrets(missing))
    assert keyless_worker.run_once().succeeded == 0
    assert receiver.messages() == []  # failed (and retried later), never sent unsigned
