"""`/accounts/{account_id}/alerting/v3/…`: Cloudflare's Notifications API for service-token
alerts (webhook destinations, policies, available alerts, eligible destinations, history,
and PagerDuty answered as "nothing connected", its `connect` calls as "not entitled").
Account scope only, as Cloudflare has it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from servicetokens.api.alerting_bodies import serialize_policy, serialize_webhook
from servicetokens.api.alerting_schemas import (
    AvailableAlertsEnvelope,
    DeleteEnvelope,
    EligibleEnvelope,
    HistoryListEnvelope,
    IdEnvelope,
    PagerdutyListEnvelope,
    PolicyEnvelope,
    PolicyInput,
    PolicyListEnvelope,
    WebhookEnvelope,
    WebhookInput,
    WebhookListEnvelope,
)
from servicetokens.api.authorized import CanRead, CanWrite
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import success
from servicetokens.api.route_table import Route, page_response, query_param, register
from servicetokens.api.schemas import request_body
from servicetokens.domain.notifications.destinations import alerting_path_id
from servicetokens.domain.notifications.errors import NotEntitled
from servicetokens.domain.notifications.history import history_item, parse_history_query
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["ROUTES", "router"]

# (No docstrings on handlers: FastAPI would serve them as the operations' descriptions.)


async def list_webhooks(caller: CanRead) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        webhooks = service.webhooks.of_account(principal, ref)
        return success([serialize_webhook(webhook) for webhook in webhooks])

    return await caller.call(run)


async def create_webhook(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        webhook = service.webhooks.create(principal, ref, decode_json(raw))
        return success({"id": webhook.id}, status=201)

    return await caller.call(run)


async def get_webhook(caller: CanRead, webhook_id: str) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        found = alerting_path_id(webhook_id, path=ref.path)
        return success(serialize_webhook(service.webhooks.get(principal, ref, found)))

    return await caller.call(run)


async def update_webhook(request: Request, caller: CanWrite, webhook_id: str) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        found = alerting_path_id(webhook_id, path=ref.path)
        webhook = service.webhooks.update(principal, ref, found, decode_json(raw))
        return success({"id": webhook.id})

    return await caller.call(run)


async def delete_webhook(request: Request, caller: CanWrite, webhook_id: str) -> Response:
    raw = await request.body()  # none expected; accepted if empty or JSON

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        found = alerting_path_id(webhook_id, path=ref.path)
        decode_json(raw)
        service.webhooks.delete(principal, ref, found)
        return success(None)

    return await caller.call(run)


async def list_policies(caller: CanRead) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        policies = service.notification_policies.of_account(principal, ref)
        return success([serialize_policy(policy) for policy in policies])

    return await caller.call(run)


async def create_policy(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        written = service.notification_policies.create(principal, ref, decode_json(raw))
        return success({"id": written.policy.id}, messages=written.messages)

    return await caller.call(run)


async def get_policy(caller: CanRead, policy_id: str) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        found = alerting_path_id(policy_id, path=ref.path)
        policy = service.notification_policies.get(principal, ref, found)
        return success(serialize_policy(policy))

    return await caller.call(run)


async def update_policy(request: Request, caller: CanWrite, policy_id: str) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        found = alerting_path_id(policy_id, path=ref.path)
        written = service.notification_policies.update(principal, ref, found, decode_json(raw))
        return success({"id": written.policy.id}, messages=written.messages)

    return await caller.call(run)


async def delete_policy(request: Request, caller: CanWrite, policy_id: str) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        found = alerting_path_id(policy_id, path=ref.path)
        decode_json(raw)
        service.notification_policies.delete(principal, ref, found)
        return success(None)

    return await caller.call(run)


async def available_alerts(caller: CanRead) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        return success(service.notification_policies.available_alerts(principal, ref))

    return await caller.call(run)


async def eligible(caller: CanRead) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        return success(service.notification_policies.eligible(principal, ref))

    return await caller.call(run)


async def history(request: Request, caller: CanRead) -> Response:
    params = request.query_params

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        query = parse_history_query(
            since=params.get("since"),
            before=params.get("before"),
            page=params.get("page"),
            per_page=params.get("per_page"),
            status=params.get("delivery_status"),
        )
        page = service.notification_policies.history(principal, ref, query)
        return page_response([history_item(d) for d in page.deliveries], page.info)

    return await caller.call(run)


async def pagerduty_list(caller: CanRead) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        return success([])

    return await caller.call(run)


async def pagerduty_delete(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        decode_json(raw)
        return success(None)

    return await caller.call(run)


async def pagerduty_connect(caller: CanWrite) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        raise NotEntitled()  # PagerDuty is not delivered: nothing can be connected

    return await caller.call(run)


async def pagerduty_connect_token(caller: CanWrite, token_id: str) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        raise NotEntitled()

    return await caller.call(run)


_WEBHOOKS = "/destinations/webhooks"
_WEBHOOK = _WEBHOOKS + "/{webhook_id}"
_POLICY = "/policies/{policy_id}"
_HISTORY_PARAMS = (
    query_param("since", "ISO 8601; inclusive.", {"type": "string"}),
    query_param("before", "ISO 8601; exclusive.", {"type": "string"}),
    query_param("page", "Page number, from 1.", {"type": "number", "default": 1}),
    query_param("per_page", "5 to 1000 (clamped).", {"type": "number", "default": 25}),
    query_param(
        "delivery_status",
        "servicetokens extension: pending, retrying, succeeded, failed or cancelled.",
        {"type": "string"},
    ),
)
_WEBHOOK_BODY = request_body(WebhookInput, required=True)
_POLICY_BODY = request_body(PolicyInput, required=True)

ROUTES = (
    Route("GET", "/available_alerts", "alert-types-get-alert-types", "Get Alert Types",
          available_alerts, AvailableAlertsEnvelope),
    Route("GET", "/destinations/eligible",
          "mechanism-eligibility-get-delivery-mechanism-eligibility",
          "Get delivery mechanism eligibility", eligible, EligibleEnvelope),
    Route("GET", "/destinations/pagerduty", "destinations-with-pager-duty-list-pager-duty-services",
          "List PagerDuty services", pagerduty_list, PagerdutyListEnvelope),
    Route("DELETE", "/destinations/pagerduty",
          "destinations-with-pager-duty-delete-pager-duty-services",
          "Delete PagerDuty Services", pagerduty_delete, DeleteEnvelope),
    Route("POST", "/destinations/pagerduty/connect",
          "destinations-with-pager-duty-connect-pager-duty",
          "Create PagerDuty integration token (always 400/17200 here)", pagerduty_connect,
          IdEnvelope),
    Route("GET", "/destinations/pagerduty/connect/{token_id}",
          "destinations-with-pager-duty-connect-pager-duty-token",
          "Connect PagerDuty token (always 400/17200 here)", pagerduty_connect_token,
          IdEnvelope),
    Route("GET", _WEBHOOKS, "webhooks-list-webhooks", "List webhooks", list_webhooks,
          WebhookListEnvelope),
    Route("POST", _WEBHOOKS, "webhooks-create-a-webhook", "Create a webhook", create_webhook,
          IdEnvelope, 201, body=_WEBHOOK_BODY),
    Route("GET", _WEBHOOK, "webhooks-get-a-webhook", "Get a webhook", get_webhook,
          WebhookEnvelope),
    Route("PUT", _WEBHOOK, "webhooks-update-a-webhook", "Update a webhook", update_webhook,
          IdEnvelope, body=_WEBHOOK_BODY),
    Route("DELETE", _WEBHOOK, "webhooks-delete-a-webhook", "Delete a webhook", delete_webhook,
          DeleteEnvelope),
    Route("GET", "/history", "history-list-history", "List History", history,
          HistoryListEnvelope, params=_HISTORY_PARAMS),
    Route("GET", "/policies", "policies-list-notification-policies",
          "List Notification policies", list_policies, PolicyListEnvelope),
    Route("POST", "/policies", "policies-create-a-notification-policy",
          "Create a Notification policy", create_policy, IdEnvelope, body=_POLICY_BODY),
    Route("GET", _POLICY, "policies-get-a-notification-policy", "Get a Notification policy",
          get_policy, PolicyEnvelope),
    Route("PUT", _POLICY, "policies-update-a-notification-policy",
          "Update a Notification policy", update_policy, IdEnvelope, body=_POLICY_BODY),
    Route("DELETE", _POLICY, "policies-delete-a-notification-policy",
          "Delete a Notification policy", delete_policy, DeleteEnvelope),
)  # fmt: skip
"""Every alerting operation (account scope only)."""

router = APIRouter(tags=["Notifications"])
register(
    router,
    ContainerKind.ACCOUNT,
    collection="",
    op_prefix="notification",
    routes=ROUTES,
    area="alerting/v3",
)
