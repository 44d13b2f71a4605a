"""Reading credentials from request headers, with strict-mode rules. Pure: no I/O.

Exactly one form may be used: the `CF-Access-Client-Id` + `CF-Access-Client-Secret` pair,
or the single JSON header, or (only when neither is present) a JWT the gate issued, in the
`cf-access-token` header or the `CF_Authorization` cookie. Duplicates, halves and mixtures
are malformed.

Also here: the `CF_Authorization` cookie the gate offers (`set_cookie_value`) and whether
a request already holds a given one (`presents_cookie`), so it is offered only when needed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

__all__ = [
    "COOKIE_NAME",
    "ClientCredentials",
    "JwtCredential",
    "Malformed",
    "Missing",
    "Presented",
    "credential_header_names",
    "presents_cookie",
    "read_credentials",
    "set_cookie_value",
]

COOKIE_NAME = "CF_Authorization"
_COOKIE_PREFIX = COOKIE_NAME.encode() + b"="
_COOKIE_SEPARATORS = frozenset(b"; \t")
_ID = b"cf-access-client-id"
_SECRET = b"cf-access-client-secret"
_JWT = b"cf-access-token"
_JSON_ID = "cf-access-client-id"
_JSON_SECRET = "cf-access-client-secret"
_MAX_VALUE = 4096


@dataclass(slots=True)
class ClientCredentials:
    """A client id and secret, from either header form.

    Not a frozen dataclass, though nothing changes it: one is built for every request, and
    a frozen dataclass's `__init__` (one `object.__setattr__` per field) costs four times
    as much."""

    client_id: str
    secret: str = field(repr=False)
    cookies: tuple[bytes, ...] = field(default=(), compare=False, repr=False)
    """The request's raw `Cookie` headers (to tell whether it already holds the JWT)."""


@dataclass(frozen=True, slots=True)
class JwtCredential:
    """A JWT presented for reuse."""

    token: str


class Malformed(enum.Enum):
    """Why the credential headers cannot be read (each is a 401)."""

    DUPLICATE = "duplicate credential headers"
    INCOMPLETE = "incomplete credentials"
    BOTH_FORMS = "credentials in both header forms"
    INVALID = "unreadable credentials"


class Missing(enum.Enum):
    """No credential of any form."""

    NONE = "no credentials"


Presented = ClientCredentials | JwtCredential | Malformed | Missing


def credential_header_names(token_header: str | None) -> frozenset[bytes]:
    """Lowercased header names that carry credentials (never forwarded upstream)."""
    names = {_ID, _SECRET, _JWT}
    if token_header:
        names.add(token_header.lower().encode("latin-1"))
    return frozenset(names)


def _text(value: bytes) -> str | None:
    if not value or len(value) > _MAX_VALUE:
        return None
    try:
        return value.decode("ascii").strip() or None
    except UnicodeDecodeError:
        return None


def _cookie_values(cookie_headers: list[bytes]) -> list[str]:
    found = []
    for header in cookie_headers:
        for part in header.decode("latin-1").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name == COOKIE_NAME and value:
                found.append(value.strip('"'))
    return found


def _single_header(values: list[bytes]) -> Presented:
    if len(values) > 1:
        return Malformed.DUPLICATE
    try:
        parsed = orjson.loads(values[0])
    except orjson.JSONDecodeError:
        return Malformed.INVALID
    if not isinstance(parsed, dict):
        return Malformed.INVALID
    client_id, secret = parsed.get(_JSON_ID), parsed.get(_JSON_SECRET)
    if client_id is None or secret is None:
        return Malformed.INCOMPLETE
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return Malformed.INVALID
    if not client_id or not secret or len(client_id) + len(secret) > _MAX_VALUE:
        return Malformed.INVALID
    return ClientCredentials(client_id, secret)


def read_credentials(
    headers: Iterable[tuple[bytes, bytes]], *, token_header: bytes | None = None
) -> Presented:
    """The credential the request presents, or why it presents none usable.

    `headers` are ASGI headers (lowercase names); `token_header` is the lowercased name of
    the single-header mode header, if enabled.
    """
    ids: list[bytes] = []
    secrets: list[bytes] = []
    singles: list[bytes] = []
    jwts: list[bytes] = []
    cookies: list[bytes] = []
    for name, value in headers:
        if name == _ID:
            ids.append(value)
        elif name == _SECRET:
            secrets.append(value)
        elif name == token_header:
            singles.append(value)
        elif name == _JWT:
            jwts.append(value)
        elif name == b"cookie":
            cookies.append(value)
    if ids or secrets:
        if singles:
            return Malformed.BOTH_FORMS
        if len(ids) == 1 == len(secrets):
            client_id, secret = _text(ids[0]), _text(secrets[0])
            if client_id is None or secret is None:
                return Malformed.INCOMPLETE
            return ClientCredentials(client_id, secret, tuple(cookies) if cookies else ())
        return Malformed.DUPLICATE if len(ids) > 1 or len(secrets) > 1 else Malformed.INCOMPLETE
    if singles:
        presented = _single_header(singles)
        if cookies and isinstance(presented, ClientCredentials):
            return ClientCredentials(presented.client_id, presented.secret, tuple(cookies))
        return presented
    tokens = [t for t in (_text(v) for v in jwts) if t is not None]
    tokens.extend(_cookie_values(cookies) if not tokens else ())
    if not tokens:
        return Malformed.INVALID if jwts else Missing.NONE
    if len(set(tokens)) > 1:
        return Malformed.DUPLICATE
    return JwtCredential(tokens[0])


def set_cookie_value(jwt: str, *, max_age: int) -> bytes:
    """The `Set-Cookie` value offering `jwt` for reuse (the caller adds `Secure` over HTTPS)."""
    return b"%s%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d" % (
        _COOKIE_PREFIX,
        jwt.encode("ascii"),
        max_age,
    )


def presents_cookie(cookie_headers: tuple[bytes, ...], jwt: bytes) -> bool:
    """Whether one of the `Cookie` headers holds `CF_Authorization=<jwt>` exactly."""
    wanted = _COOKIE_PREFIX + jwt
    for header in cookie_headers:
        start = header.find(wanted)
        while start >= 0:
            end = start + len(wanted)
            if (start == 0 or header[start - 1] in _COOKIE_SEPARATORS) and (
                end == len(header) or header[end] in _COOKIE_SEPARATORS
            ):
                return True
            start = header.find(wanted, start + 1)
    return False
