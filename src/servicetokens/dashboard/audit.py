"""The account's audit log page: filter by token, actor, action and time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard.http import Handler, Page, Seen
from servicetokens.domain.errors import ValidationError
from servicetokens.usecases.audit_reading import AuditFilter

__all__ = ["PAGES", "parse_day"]

_MAX_TEXT = 254


def parse_day(text: str, *, field: str) -> datetime | None:
    """A `YYYY-MM-DD` date field (midnight UTC); None when empty."""
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(f"{field} must be a date (YYYY-MM-DD)") from None


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:_MAX_TEXT] or None


def audit_page(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        params = request.query_params
        errors: dict[str, str] = {}
        since = until = None
        try:
            since = parse_day(params.get("since", ""), field="From")
        except ValidationError as exc:
            errors["since"] = exc.detail
        try:
            day = parse_day(params.get("until", ""), field="To")
            until = None if day is None else day + timedelta(days=1)
        except ValidationError as exc:
            errors["until"] = exc.detail
        except OverflowError:  # 9999-12-31: the day after it is past the calendar
            errors["until"] = "To must be a date before 9999-12-31"
        where = AuditFilter(
            target=_text(params.get("token")),
            actor_id=_text(params.get("actor")),
            action=_text(params.get("action")),
            since=since,
            until=until,
            limit=200,
        )
        entries = await run_in_threadpool(
            page.service.audit.entries,
            seen.visitor.principal,
            request.path_params["account_id"],
            where,
        )
        return page.render(
            request,
            "audit.html",
            seen=seen,
            status=400 if errors else 200,
            entries=entries,
            errors=errors,
            values={k: params.get(k, "") for k in ("token", "actor", "action", "since", "until")},
        )

    return handler


PAGES: tuple[tuple[str, list[str], Callable[[Page], Handler]], ...] = (
    ("/accounts/{account_id}/audit", ["GET"], audit_page),
)
