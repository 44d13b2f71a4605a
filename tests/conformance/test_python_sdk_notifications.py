"""The official Python SDK (PyPI ``cloudflare``), unmodified, against a live server on
SQLite and on PostgreSQL: a webhook destination (created through the test message to a real
loopback receiver), a policy for ``expiring_service_token_alert``, read back; available
alerts, eligibility; and the history, auto-paged, holding the alert a 72h token raised."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from cloudflare import Cloudflare, NotFoundError

from tests.notifications.receiver import Receiver

if TYPE_CHECKING:
    from tests.conformance.conftest import LiveServer


@pytest.fixture
def sdk(notify_server: LiveServer) -> Iterator[Cloudflare]:
    with Cloudflare(
        api_token=notify_server.write_token, base_url=notify_server.base_url, max_retries=0
    ) as client:
        yield client


def test_sdk_manages_destinations_policies_and_reads_history(
    sdk: Cloudflare, notify_server: LiveServer
) -> None:
    account = notify_server.account_id
    alerting = sdk.alerting
    with Receiver() as receiver:
        created = alerting.destinations.webhooks.create(
            account_id=account, name="ops", url=receiver.url, secret="s3cret"
        )
        assert created is not None
        assert created.id is not None
        assert len(receiver.received) == 1  # the test message
        webhook = alerting.destinations.webhooks.get(created.id, account_id=account)
        assert webhook is not None
        assert webhook.name == "ops"
        assert webhook.type == "generic"
        assert webhook.last_success is None
        listed = list(alerting.destinations.webhooks.list(account_id=account))
        assert created.id in [w.id for w in listed]

        policy = alerting.policies.create(
            account_id=account,
            alert_type="expiring_service_token_alert",
            enabled=True,
            mechanisms={"webhooks": [{"id": created.id}]},
            name="Expiring tokens",
        )
        assert policy is not None
        assert policy.id is not None
        read = alerting.policies.get(policy.id, account_id=account)
        assert read is not None
        assert read.alert_type == "expiring_service_token_alert"
        assert read.mechanisms is not None
        assert read.mechanisms.webhooks is not None
        assert read.mechanisms.webhooks[0].id == created.id
        assert policy.id in [p.id for p in alerting.policies.list(account_id=account)]
        alerting.policies.update(policy.id, account_id=account, description="seven days")

        available = alerting.available_alerts.list(account_id=account)
        assert available is not None
        eligible = alerting.destinations.eligible.get(account_id=account)
        assert eligible is not None

        token = sdk.zero_trust.access.service_tokens.create(
            account_id=account, name="ci-deploy", duration="72h"
        )
        assert token is not None
        messages = receiver.wait_for(
            lambda got: any(b"expiring_service_token_alert" in r.body for r in got), timeout=60
        )
        alerts = [m for m in messages if b"expiring_service_token_alert" in m.body]
        assert len(alerts) == 1
        assert alerts[0].headers["cf-webhook-auth"] == "s3cret"

        history = list(alerting.history.list(account_id=account, per_page=5))
        mine = [h for h in history if h.policy_id == policy.id]
        assert len(mine) == 1
        assert mine[0].mechanism == created.id
        assert mine[0].mechanism_type == "webhook"
        assert mine[0].alert_type == "expiring_service_token_alert"

        alerting.policies.delete(policy.id, account_id=account)
        alerting.destinations.webhooks.delete(created.id, account_id=account)
        with pytest.raises(NotFoundError):
            alerting.destinations.webhooks.get(created.id, account_id=account)
