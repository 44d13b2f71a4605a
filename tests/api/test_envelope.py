"""The envelope is written once (`api/envelope.py`) and described once (`api/schemas.py`, the
served OpenAPI): every body the writer makes validates against the description."""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.api import schemas
from servicetokens.api.envelope import (
    dumps,
    failure_body,
    render_page,
    serialize_token,
    success_body,
)
from servicetokens.domain import errors
from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import PageInfo
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken, create_token
from servicetokens.usecases.service_tokens import TokenPage

ACCOUNT = Container(ContainerKind.ACCOUNT, "a" * 32, "a" * 32)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DOMAIN_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.DomainError)
]

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)


def _token(name: str, duration: str, seconds: int) -> tuple[ServiceToken, str]:
    return create_token(
        TokenFields(name=name, duration=duration),
        container=ACCOUNT,
        now=T0 + timedelta(seconds=seconds),
    )


@given(
    name=names.filter(str.strip),
    duration=st.sampled_from(["8760h", "forever", "1h30m", "24h"]),
    seconds=st.integers(0, 10**9),
)
def test_every_token_body_matches_the_described_envelopes(
    name: str, duration: str, seconds: int
) -> None:
    token, secret = _token(name, duration, seconds)
    body = dumps(success_body(serialize_token(token)))
    schemas.ServiceTokenEnvelope.model_validate_json(body)
    schemas.ServiceTokenWithSecretEnvelope.model_validate_json(
        dumps(success_body(serialize_token(token, secret=secret)))
    )
    schemas.ServiceTokenUpdateEnvelope.model_validate_json(body)


@given(count=st.integers(0, 5), page=st.integers(1, 50), per_page=st.integers(1, 1000))
def test_a_rendered_list_page_matches_the_described_list_envelope(
    count: int, page: int, per_page: int
) -> None:
    tokens = [_token(f"t{i}", "forever", i)[0] for i in range(count)]
    info = PageInfo(page, per_page, count, count + (page - 1) * per_page)
    body = orjson.loads(render_page(TokenPage(tokens, info, version=1)))
    parsed = schemas.ServiceTokenListEnvelope.model_validate(body)
    assert [t.id for t in parsed.result] == [t.id for t in tokens]
    assert parsed.result_info.total_pages == info.total_pages
    assert all("client_secret" not in item for item in body["result"])


def _arguments(cls: type[errors.DomainError]) -> list[object]:
    """Plausible values for an error's required constructor arguments."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    return [1024 if p.annotation in ("int", int) else "x-detail" for p in required]


def test_every_domain_error_makes_a_described_failure() -> None:
    assert len(DOMAIN_ERRORS) >= 10
    for cls in DOMAIN_ERRORS:
        error = cls(*_arguments(cls))
        body = failure_body(error)
        parsed = schemas.Failure.model_validate(body)
        assert parsed.errors[0].code == error.code
        assert body["success"] is False
        assert body["result"] is None


def test_a_success_body_with_messages_and_info_keeps_both() -> None:
    body = success_body(
        [],
        result_info={"page": 1, "per_page": 20, "count": 0, "total_count": 0, "total_pages": 0},
        messages=[{"code": 1, "message": "m"}],
    )
    assert list(body) == ["success", "errors", "messages", "result", "result_info"]
    assert body["messages"] == [{"code": 1, "message": "m"}]


moments = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)


@given(created=moments, seen=st.none() | moments, previous=st.none() | moments)
def test_token_times_are_written_as_format_timestamp_writes_them(
    created: datetime, seen: datetime | None, previous: datetime | None
) -> None:
    token, _ = _token("t", "forever", 0)
    token = replace(
        token,
        created_at=created,
        updated_at=created.replace(microsecond=0),
        expires_at=created + timedelta(microseconds=1),
        last_seen_at=seen,
        previous_client_secret_expires_at=previous,
    )
    written = orjson.loads(dumps(serialize_token(token)))
    fields = ("created_at", "updated_at", "expires_at", "last_seen_at")
    for field in (*fields, "previous_client_secret_expires_at"):
        moment = getattr(token, field)
        assert written[field] == (None if moment is None else format_timestamp(moment)), field
    page = TokenPage([token], PageInfo(1, 20, 1, 1), version=1)
    assert orjson.loads(render_page(page))["result"] == [written]
