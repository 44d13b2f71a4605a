"""Domain errors, each naming its HTTP status and Cloudflare error code once.

The API renders every one of these into the v4 failure envelope; nothing else in the
code base decides a status or an error code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = [
    "ApplicationAlreadyExists",
    "AuthenticationError",
    "Conflict",
    "DestinationClaimed",
    "DomainError",
    "InvalidAccessToken",
    "InvalidHeaders",
    "InvalidIdentifier",
    "MissingCredentials",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ServiceTokenInUse",
    "ServiceUnavailable",
    "UnknownEmailOrKey",
    "ValidationError",
]


class DomainError(Exception):
    """Base of every error the API turns into a v4 failure envelope."""

    status: int = 400
    code: int = 1000
    message: str = "Bad request"
    headers: ClassVar[Mapping[str, str]] = {}
    """Response headers the error always carries."""

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    @property
    def error_chain(self) -> list[dict[str, object]] | None:
        """Nested `{code, message}` items Cloudflare attaches to some errors."""
        return None


class ValidationError(DomainError):
    """A request body, query or value that breaks a rule (400, code 12130)."""

    status = 400
    code = 12130

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"access.api.error.invalid_request: {detail}")


class NotFound(DomainError):
    """No service token, policy, application or organization with that id in that
    container (404, code 12135)."""

    status = 404
    code = 12135
    message = "access.api.error.not_found"


class ServiceTokenInUse(DomainError):
    """Deleting a service token a policy still names (400, code 12139), in Cloudflare's
    words."""

    status = 400
    code = 12139
    message = (
        "access.api.error.service_token_in_use: cannot delete service token because it is "
        "used by a policy, group, or app SCIM configuration."
    )


class Conflict(DomainError):
    """A write that conflicts with what is stored (409, code 12130). Always sent with
    `x-should-retry: false`: the SDKs otherwise repeat a 409 twice."""

    status = 409
    code = 12130
    headers: ClassVar[Mapping[str, str]] = {"x-should-retry": "false"}

    def __init__(self, detail: str) -> None:
        super().__init__(f"access.api.error.conflict: {detail}")


class ApplicationAlreadyExists(DomainError):
    """Another application of the account already protects that hostname and path (409,
    code 11010)."""

    status = 409
    code = 11010
    message = "access.api.error.application_already_exists"
    headers: ClassVar[Mapping[str, str]] = {"x-should-retry": "false"}


class DestinationClaimed(DomainError):
    """One of the application's other destinations is another application's (409, code
    11010)."""

    status = 409
    code = 11010
    message = "access.api.error.conflict: destination belongs to another application"
    headers: ClassVar[Mapping[str, str]] = {"x-should-retry": "false"}


class InvalidIdentifier(DomainError):
    """A malformed account/zone id in the path (400, code 7003)."""

    status = 400
    code = 7003

    def __init__(self, path: str) -> None:
        super().__init__(f"Could not route to {path}, perhaps your object identifier is invalid?")


class MissingCredentials(DomainError):
    """No credential headers at all (400, code 9106)."""

    status = 400
    code = 9106
    message = "Missing X-Auth-Key, X-Auth-Email or Authorization headers"


class InvalidHeaders(DomainError):
    """A credential header whose value is malformed (400, code 6003 with a 61xx chain)."""

    status = 400
    code = 6003
    message = "Invalid request headers"

    _CHAIN: ClassVar[dict[str, int]] = {
        "X-Auth-Key": 6103,
        "X-Auth-Email": 6102,
        "Authorization": 6111,
    }

    def __init__(self, header: str) -> None:
        self.header = header
        super().__init__()

    @property
    def error_chain(self) -> list[dict[str, object]]:
        return [
            {
                "code": self._CHAIN.get(self.header, 6100),
                "message": f"Invalid format for {self.header} header",
            }
        ]


class InvalidAccessToken(DomainError):
    """An unknown, revoked or expired API token (403, code 9109)."""

    status = 403
    code = 9109
    message = "Invalid access token"


class UnknownEmailOrKey(DomainError):
    """An X-Auth-Email/X-Auth-Key pair that matches no user (403, code 9103)."""

    status = 403
    code = 9103
    message = "Unknown X-Auth-Key or X-Auth-Email"


class AuthenticationError(DomainError):
    """Generic authentication failure on /user/tokens/verify (401, code 1000)."""

    status = 401
    code = 1000
    message = "Invalid API Token"


class PermissionDenied(DomainError):
    """A valid credential that lacks the permission, or names another account (403, 10000)."""

    status = 403
    code = 10000
    message = "Authentication error"


class PayloadTooLarge(DomainError):
    """A request body over the size cap (413)."""

    status = 413
    code = 12130

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"access.api.error.invalid_request: request body exceeds the limit of {limit} bytes"
        )


class ServiceUnavailable(DomainError):
    """The database cannot be reached right now (503); clients may retry."""

    status = 503
    code = 10001
    message = "Service temporarily unavailable: the database cannot be reached"
