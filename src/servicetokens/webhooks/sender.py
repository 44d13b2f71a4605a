"""One webhook POST, safely: the target rules checked after DNS resolution, the connection
made to the address that was checked, no redirects, no proxies, a total timeout, and at
most 64 KiB of the answer read.

aiohttp resolves names through `_VettingResolver`, which refuses the whole name when any
address it resolves to is not allowed; the connection then uses those very addresses, so a
name that resolves differently a moment later (DNS rebinding) gains nothing. Address
literals never reach a resolver, so they are checked before the request, as aiohttp will
read them (yarl's IDNA turns `①②⑦.0.0.1` into `127.0.0.1`). And whatever path an address
took, the socket factory checks it once more right before `connect`: the last word is
the address the socket is about to reach, not how the URL spelled it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import aiohttp
from aiohappyeyeballs import AddrInfoType as AddrInfo
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from servicetokens import __version__
from servicetokens.domain.notifications.errors import InvalidWebhookUrl
from servicetokens.domain.notifications.targets import TargetRules, parse_target

__all__ = ["DEFAULT_TIMEOUT", "SendResult", "WebhookSender", "post_once"]

DEFAULT_TIMEOUT = 15.0
"""Seconds a receiver may take, connection included, before the attempt counts as failed."""
_CONNECT_TIMEOUT = 5.0
_MAX_ANSWER = 64 * 1024
_USER_AGENT = f"servicetokens-notifications/{__version__}"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one POST came to: the status (None: no answer), its latency, what went wrong,
    and a `Retry-After` the receiver asked for (seconds from now)."""

    status: int | None
    latency_ms: int
    error: str | None = None
    retry_after: float | None = None
    refused: str | None = None
    """Why the target rules refused the destination (nothing was sent)."""


class _VettingResolver(AbstractResolver):
    def __init__(self, rules: TargetRules) -> None:
        self._rules = rules
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self._rules.check_addresses([result["host"] for result in results], name=host)
        return results

    async def close(self) -> None:
        await self._inner.close()


class _RefusedAddress(OSError):
    """The socket factory's refusal (an OSError, so aiohttp reports it as a failed
    connection with this as its cause)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _guarded_socket(rules: TargetRules) -> Callable[[AddrInfo], socket.socket]:
    def factory(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        try:
            rules.check_addresses([str(sockaddr[0])])
        except InvalidWebhookUrl as exc:
            raise _RefusedAddress(exc.reason) from None
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


def _refusal(exc: BaseException) -> str | None:
    cause = exc.__cause__
    if isinstance(cause, InvalidWebhookUrl):
        return cause.reason
    if isinstance(cause, _RefusedAddress):
        return cause.reason
    return None


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds from now: delay-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC, by RFC 5322
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - time.time())


class WebhookSender:
    """An HTTP client for webhooks (one per event loop): `async with WebhookSender(rules)`."""

    def __init__(
        self,
        rules: TargetRules,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        per_destination: int = 4,
    ) -> None:
        self._rules = rules
        self._timeout = timeout
        self._per_destination = per_destination
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        connector = aiohttp.TCPConnector(
            resolver=_VettingResolver(self._rules),
            limit=64,
            limit_per_host=self._per_destination,
            use_dns_cache=False,  # every send resolves (and checks) afresh
            socket_factory=_guarded_socket(self._rules),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout, connect=_CONNECT_TIMEOUT),
            trust_env=False,  # no proxy from the environment: the target is the target
            auto_decompress=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check(self, url: str) -> None:
        """The rules that need no DNS: URL shape, port, and an address literal's class
        (the host as aiohttp will connect to it, after yarl's normalisation)."""
        target = parse_target(url)
        self._rules.check_port(target)
        try:
            host = URL(url).raw_host or ""
        except (ValueError, UnicodeError) as exc:
            raise InvalidWebhookUrl(f"malformed host ({str(exc)[:100]})") from None
        for candidate in {target.host, host.strip("[]")}:
            try:
                ipaddress.ip_address(candidate.split("%", 1)[0])
            except ValueError:
                continue
            self._rules.check_addresses([candidate])

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        """POST `body` to `url` with `headers` (plus JSON content type and user agent)."""
        assert self._session is not None, "use WebhookSender as an async context manager"
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            self.check(url)
            sent: dict[str, Any] = {
                **headers,
                "Content-Type": "application/json",
                "User-Agent": _USER_AGENT,
            }
            async with self._session.post(
                url, data=body, headers=sent, allow_redirects=False
            ) as response:
                await response.content.read(_MAX_ANSWER)
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
                return SendResult(
                    response.status,
                    elapsed(),
                    error,
                    _retry_after(response.headers.get("Retry-After")),
                )
        except InvalidWebhookUrl as exc:
            return SendResult(None, elapsed(), f"refused: {exc.reason}", refused=exc.reason)
        except TimeoutError:
            return SendResult(None, elapsed(), f"timed out after {self._timeout:g} s")
        except aiohttp.ClientError as exc:
            refused = _refusal(exc)
            if refused is not None:
                return SendResult(None, elapsed(), f"refused: {refused}", refused=refused)
            return SendResult(None, elapsed(), f"{type(exc).__name__}: {str(exc)[:200]}")
        except (OSError, ValueError) as exc:  # ValueError: e.g. a host IDNA cannot encode
            return SendResult(None, elapsed(), f"{type(exc).__name__}: {str(exc)[:200]}")


def post_once(
    rules: TargetRules, url: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> SendResult:
    """One POST from synchronous code (a thread with no event loop of its own)."""

    async def send() -> SendResult:
        async with WebhookSender(rules, timeout=timeout) as sender:
            return await sender.post(url, body, headers)

    return asyncio.run(send())
