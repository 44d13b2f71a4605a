"""Telling an unreachable database from one that refuses what was written."""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["is_outage"]


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is unreachable or busy (a lost or refused
    connection, a lock timeout, an exhausted pool): the same write may succeed later.
    Anything else (`DataError`, `IntegrityError`, a value the driver cannot encode) is a
    refusal of what was written, and would fail the same way again."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError)
