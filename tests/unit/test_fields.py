"""Validation of create/update/rotate bodies and list queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import (
    UNSET,
    parse_rotate_body,
    parse_timestamp,
    parse_token_fields,
    validate_name,
)
from servicetokens.domain.paging import MAX_PER_PAGE, PageInfo, parse_list_query


def test_update_fields_are_optional() -> None:
    fields = parse_token_fields({}, require_name=False)
    assert fields.name is UNSET
    assert fields.duration is UNSET
    assert fields.enabled is UNSET


def test_create_requires_name() -> None:
    with pytest.raises(ValidationError, match="name is required"):
        parse_token_fields({"duration": "1h"}, require_name=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00+00:00", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T02:00:00.250000+02:00", datetime(2030, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        ("2030-01-01T00:00:00.12345Z", datetime(2030, 1, 1, 0, 0, 0, 123450, tzinfo=UTC)),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    assert parse_timestamp(text, field="f") == expected


@pytest.mark.parametrize("text", ["", "soon", "2030-13-01T00:00:00Z", "0000-01-01", 17, None])
def test_bad_timestamps(text: object) -> None:
    with pytest.raises(ValidationError):
        parse_timestamp(text, field="f")


@given(st.datetimes(timezones=st.just(UTC)))
def test_isoformat_round_trips(moment: datetime) -> None:
    # What the Python SDK sends: datetime.isoformat(), with or without an offset.
    assert parse_timestamp(moment.isoformat(), field="f") == moment
    assert parse_timestamp(moment.replace(tzinfo=None).isoformat(), field="f") == moment
    shifted = moment.astimezone(timezone(timedelta(hours=-5))) if moment.year > 1 else moment
    assert parse_timestamp(shifted.isoformat(), field="f") == moment


def test_rotate_body() -> None:
    assert parse_rotate_body(None) is None
    assert parse_rotate_body({}) is None
    assert parse_rotate_body({"previous_client_secret_expires_at": None}) is None
    assert parse_rotate_body(
        {"previous_client_secret_expires_at": "2030-01-01T00:00:00Z"}
    ) == datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError):
        parse_rotate_body([])


def _acceptable(name: str) -> bool:
    forbidden = any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in name)
    return bool(name.strip()) and not forbidden


@given(st.text(min_size=1, max_size=350))
def test_names(name: str) -> None:
    if _acceptable(name):
        assert validate_name(name) == name
    else:
        with pytest.raises(ValidationError):
            validate_name(name)


def test_name_length_counts_characters() -> None:
    assert validate_name("🔑" * 350)
    with pytest.raises(ValidationError, match="351"):
        validate_name("🔑" * 351)


def test_list_query_defaults_and_clamp() -> None:
    query = parse_list_query(name=None, search="", page=None, per_page=None)
    assert (query.page, query.per_page, query.search, query.offset) == (1, 1000, None, 0)
    assert (
        parse_list_query(name="n", search=None, page="3", per_page="99999").per_page == MAX_PER_PAGE
    )
    assert parse_list_query(name=None, search=None, page="3", per_page="20").offset == 40


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=1000))
def test_total_pages(total: int, per_page: int) -> None:
    info = PageInfo(page=1, per_page=per_page, count=0, total_count=total)
    assert (info.total_pages - 1) * per_page < total <= info.total_pages * per_page or total == 0
    assert info.as_dict()["total_pages"] == info.total_pages
