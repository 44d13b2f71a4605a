"""List queries of the control plane: the applications list's filters and page."""

from __future__ import annotations

from dataclasses import dataclass

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.paging import ListQuery, parse_list_query

__all__ = ["AppFilter", "parse_app_filter", "parse_page"]

_MAX_FILTER = 1400


@dataclass(frozen=True, slots=True)
class AppFilter:
    """`GET /access/apps` filters: `name` and `domain` are case-insensitive substrings
    unless `exact` (then equal); `aud` is exact; `search` is a substring of the name or the
    domain. None: no filter."""

    aud: str | None = None
    domain: str | None = None
    name: str | None = None
    search: str | None = None
    exact: bool = False


def _text(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > _MAX_FILTER or "\x00" in value:
        raise ValidationError(f"{field} must be at most {_MAX_FILTER} characters, without NUL")
    return value


def parse_page(page: str | None, per_page: str | None) -> ListQuery:
    """`page` and `per_page` (default 1000, clamped to 1–1000), as the token lists read them."""
    return parse_list_query(name=None, search=None, page=page, per_page=per_page)


def parse_app_filter(
    *,
    aud: str | None,
    domain: str | None,
    name: str | None,
    search: str | None,
    exact: str | None,
) -> AppFilter:
    """Validate the apps list's filters; `exact` is `true` or `false` (as the SDKs send it)."""
    if exact is None or exact == "" or exact.lower() == "false":
        is_exact = False
    elif exact.lower() == "true":
        is_exact = True
    else:
        raise ValidationError("exact must be true or false")
    return AppFilter(
        aud=_text(aud, "aud"),
        domain=_text(domain, "domain"),
        name=_text(name, "name"),
        search=_text(search, "search"),
        exact=is_exact,
    )
