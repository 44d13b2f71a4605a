"""List parameters: filters, order and pages, validated from query strings.

Beyond Cloudflare's `name`, `search`, `page` and `per_page`, the token list takes lifecycle
filters (`expires_before`, `expires_after`, `last_seen_before`, `enabled`) and an order
(`order`, `direction`): extensions the official SDKs pass through `extra_query`
(docs/compatibility.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import MAX_NAME_LENGTH

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "Direction",
    "ListQuery",
    "Order",
    "PageInfo",
    "SeekKey",
    "parse_list_query",
]

SeekKey = tuple[int | str, ...]
"""Where a page ended: the stored values of its last token's sort key (the order's column,
then creation time and id), from which the next page is read by a seek."""


class Order(enum.Enum):
    """What a list is sorted by; ties are broken by creation time and id, so the order of
    a list is total (a page boundary never splits equal keys ambiguously)."""

    CREATED_AT = "created_at"
    EXPIRES_AT = "expires_at"
    LAST_SEEN_AT = "last_seen_at"
    """Never-seen tokens sort as if seen when they were created."""
    NAME = "name"


class Direction(enum.Enum):
    """Ascending or descending, for every column of the sort key."""

    ASC = "asc"
    DESC = "desc"


DEFAULT_PER_PAGE = 1000
MAX_PER_PAGE = 1000
_MAX_OFFSET = 2**62  # beyond this no store holds a row; keeps OFFSET inside a signed 64-bit int
_MAX_FILTER_LENGTH = 4 * MAX_NAME_LENGTH
_E = TypeVar("_E", bound=enum.Enum)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated list request."""

    name: str | None = None
    """Exact, case-sensitive match on the name."""
    search: str | None = None
    """Case-insensitive substring of the name or the client id."""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    expires_before: datetime | None = None
    """Only tokens whose `expires_at` is strictly earlier."""
    expires_after: datetime | None = None
    """Only tokens whose `expires_at` is strictly later."""
    last_seen_before: datetime | None = None
    """Only tokens last seen strictly earlier (never seen: created strictly earlier)."""
    enabled: bool | None = None
    """Only enabled (True) or disabled (False) tokens."""
    order: Order = Order.CREATED_AT
    direction: Direction = Direction.ASC

    @property
    def filtered(self) -> bool:
        """Whether a filter narrows the list (then its total must be counted)."""
        return (
            self.name is not None
            or self.search is not None
            or self.expires_before is not None
            or self.expires_after is not None
            or self.last_seen_before is not None
            or self.enabled is not None
        )

    @property
    def matching(self) -> ListQuery:
        """The same filters with the default page, page size and order: what the count of
        matches depends on."""
        return ListQuery(
            name=self.name,
            search=self.search,
            expires_before=self.expires_before,
            expires_after=self.expires_after,
            last_seen_before=self.last_seen_before,
            enabled=self.enabled,
        )

    def at_page(self, page: int) -> ListQuery:
        """The same list (filters, order, page size) at another page."""
        return replace(self, page=page)

    @property
    def offset(self) -> int:
        """Rows to skip before this page."""
        return (self.page - 1) * self.per_page

    @property
    def past_any_end(self) -> bool:
        """Whether the page lies so far out that it must be empty, whatever is stored."""
        return self.offset >= _MAX_OFFSET


@dataclass(frozen=True, slots=True)
class PageInfo:
    """Cloudflare's `result_info` for one page."""

    page: int
    per_page: int
    count: int
    total_count: int

    @property
    def total_pages(self) -> int:
        """ceil(total_count / per_page); 0 when nothing matches."""
        return -(-self.total_count // self.per_page)

    def as_dict(self) -> dict[str, int]:
        """The `result_info` object."""
        return {
            "page": self.page,
            "per_page": self.per_page,
            "count": self.count,
            "total_count": self.total_count,
            "total_pages": self.total_pages,
        }


def _positive_int(raw: str, *, field: str) -> int:
    text = raw.strip()
    # Accept "2" and "2.0" (the TS SDK types these as `number`); reject everything else.
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValidationError(f"{field} must be a positive integer, got {raw[:32]!r}")
    value = int(text)
    if value < 1:
        raise ValidationError(f"{field} must be at least 1")
    return value


def _filter(raw: str | None, *, field: str) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > _MAX_FILTER_LENGTH:
        raise ValidationError(f"{field} is longer than {_MAX_FILTER_LENGTH} characters")
    if "\x00" in raw:
        raise ValidationError(f"{field} must not contain NUL characters")
    return raw


def _moment(raw: str | None, *, field: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        # RFC 3339: a date, a time and an offset (Z or ±hh:mm); no naive times.
        moment = datetime.fromisoformat(text) if "T" in text.upper() else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or len(text) > 40:
        raise ValidationError(
            f"{field} must be an RFC 3339 time with an offset "
            f"(e.g. 2030-01-02T15:04:05Z), got {raw[:40]!r}"
        )
    if not 1 <= moment.year <= 9998:  # stored as microseconds since 1970 in 64 bits
        raise ValidationError(f"{field} is out of range")
    return moment


def _boolean(raw: str | None, *, field: str) -> bool | None:
    if raw is None or raw == "":
        return None
    folded = raw.strip().lower()
    if folded not in ("true", "false"):
        raise ValidationError(f"{field} must be true or false, got {raw[:32]!r}")
    return folded == "true"


def _choice(raw: str | None, kind: type[_E], default: _E, *, field: str) -> _E:
    if raw is None or raw == "":
        return default
    try:
        return kind(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValidationError(f"{field} must be one of {allowed}, got {raw[:32]!r}") from None


def parse_list_query(
    *,
    name: str | None,
    search: str | None,
    page: str | None,
    per_page: str | None,
    expires_before: str | None = None,
    expires_after: str | None = None,
    last_seen_before: str | None = None,
    enabled: str | None = None,
    order: str | None = None,
    direction: str | None = None,
) -> ListQuery:
    """Validate list query parameters (each a 400 when malformed); `per_page` above 1000 is
    clamped to 1000."""
    return ListQuery(
        name=_filter(name, field="name"),
        search=_filter(search, field="search"),
        page=1 if page is None or page == "" else _positive_int(page, field="page"),
        per_page=(
            DEFAULT_PER_PAGE
            if per_page is None or per_page == ""
            else min(_positive_int(per_page, field="per_page"), MAX_PER_PAGE)
        ),
        expires_before=_moment(expires_before, field="expires_before"),
        expires_after=_moment(expires_after, field="expires_after"),
        last_seen_before=_moment(last_seen_before, field="last_seen_before"),
        enabled=_boolean(enabled, field="enabled"),
        order=_choice(order, Order, Order.CREATED_AT, field="order"),
        direction=_choice(direction, Direction, Direction.ASC, field="direction"),
    )
