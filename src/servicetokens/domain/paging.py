"""List parameters: filters and pages, validated from query strings."""

from __future__ import annotations

from dataclasses import dataclass

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import MAX_NAME_LENGTH

__all__ = ["DEFAULT_PER_PAGE", "MAX_PER_PAGE", "ListQuery", "PageInfo", "parse_list_query"]

DEFAULT_PER_PAGE = 1000
MAX_PER_PAGE = 1000
_MAX_OFFSET = 2**62  # beyond this no store holds a row; keeps OFFSET inside a signed 64-bit int
_MAX_FILTER_LENGTH = 4 * MAX_NAME_LENGTH


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated list request."""

    name: str | None = None
    """Exact, case-sensitive match on the name."""
    search: str | None = None
    """Case-insensitive substring of the name or the client id."""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

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


def parse_list_query(
    *, name: str | None, search: str | None, page: str | None, per_page: str | None
) -> ListQuery:
    """Validate list query parameters; `per_page` above 1000 is clamped to 1000."""
    return ListQuery(
        name=_filter(name, field="name"),
        search=_filter(search, field="search"),
        page=1 if page is None or page == "" else _positive_int(page, field="page"),
        per_page=(
            DEFAULT_PER_PAGE
            if per_page is None or per_page == ""
            else min(_positive_int(per_page, field="per_page"), MAX_PER_PAGE)
        ),
    )
