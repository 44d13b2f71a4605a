"""Audit entries are bounded before storage: no value can make the write fail."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.audit import (
    AUDIT_FIELD_LIMITS,
    MAX_DETAIL_CHARS,
    AuditEntry,
    detail_json,
    storable,
)
from servicetokens.store.schema import audit_log

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_limits_are_the_columns() -> None:
    for name, limit in AUDIT_FIELD_LIMITS.items():
        assert audit_log.c[name].type.length == limit, name


@given(
    st.text(),
    st.text(),
    st.text(),
    st.none() | st.text(),
    st.none() | st.text(),
    st.none() | st.text() | st.ip_addresses().map(str),
    st.dictionaries(st.text(), st.text() | st.integers() | st.none()),
)
def test_every_stored_field_fits_and_is_encodable(
    actor_kind: str,
    actor_id: str,
    action: str,
    account_id: str | None,
    target: str | None,
    origin: str | None,
    detail: dict[str, object],
) -> None:
    entry = AuditEntry(AT, actor_kind, actor_id, action, account_id, target, origin, detail)
    bounded = storable(entry)
    for name, limit in AUDIT_FIELD_LIMITS.items():
        value = getattr(bounded, name)
        if value is None:
            assert getattr(entry, name) is None or name == "origin"
            continue
        assert len(value) <= limit
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogate left
    if bounded.origin is not None:
        assert str(ipaddress.ip_address(bounded.origin)) == bounded.origin
    text = detail_json(bounded)
    assert len(text) <= MAX_DETAIL_CHARS
    assert text.isascii()
    assert isinstance(json.loads(text), dict)


def test_values_that_fit_are_kept_and_addresses_are_canonical() -> None:
    entry = AuditEntry(AT, "gate", "acct", "gate.auth_failed", "a" * 32, "t", "::ffff:10.0.0.1")
    assert storable(entry) == AuditEntry(
        AT, "gate", "acct", "gate.auth_failed", "a" * 32, "t", "10.0.0.1"
    )
    assert storable(AuditEntry(AT, "k", "i", "a", origin="2001:DB8::1")).origin == "2001:db8::1"
    for bad in ("testclient", "1.2.3.4:80", "x" * 100, "", "1.2.3.4\x00"):
        assert storable(AuditEntry(AT, "k", "i", "a", origin=bad)).origin is None


def test_a_huge_detail_is_replaced_by_a_bounded_marker() -> None:
    entry = AuditEntry(AT, "k", "i", "a", detail={"name": "\"'\\" * 100_000})
    stored = json.loads(detail_json(entry))
    assert set(stored) == {"detail_truncated"}
    assert len(detail_json(entry)) <= MAX_DETAIL_CHARS
