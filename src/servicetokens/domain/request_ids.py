"""Request ids: one per request, in the JSON request log and in `X-Request-Id` to the
gate's upstream, so one request can be followed through every process it crossed.

A request id a trusted proxy sent (`X-Request-Id`) is kept when it looks like one; any
other is replaced (a client could otherwise write what it likes into the operators' logs
and the upstream's). New ids are a random per-process prefix and a counter: unique across
processes, cheap on the hot path, and not a secret (nothing is authorised by one).
"""

from __future__ import annotations

import itertools
import re
import secrets

__all__ = ["MAX_REQUEST_ID", "RequestIds", "accepted_request_id"]

MAX_REQUEST_ID = 128
"""The longest request id kept from a trusted proxy (bytes)."""

_ID = re.compile(rb"^[A-Za-z0-9._:+/=@-]{1,128}\Z")


def accepted_request_id(value: bytes) -> str | None:
    """A trusted proxy's `X-Request-Id`, if it is 1-128 printable characters without
    spaces, quotes or separators that could forge a log field; None otherwise."""
    if len(value) > MAX_REQUEST_ID or not _ID.match(value):
        return None
    return value.decode("ascii")


class RequestIds:
    """New request ids: `<16 random hex digits>-<counter in hex>`."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8) + "-"
        self._counter = itertools.count(1)

    def new(self) -> str:
        """The next request id of this process."""
        return f"{self._prefix}{next(self._counter):x}"
