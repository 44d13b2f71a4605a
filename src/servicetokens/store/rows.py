"""Column values ↔ domain values that several aggregate stores share."""

from __future__ import annotations

from datetime import datetime

from servicetokens.domain.clock import from_micros, to_micros

__all__ = ["micros_or_none", "moment_or_none"]


def micros_or_none(moment: datetime | None) -> int | None:
    """`to_micros`, passing None through (a nullable timestamp column)."""
    return None if moment is None else to_micros(moment)


def moment_or_none(micros: int | None) -> datetime | None:
    """`from_micros`, passing None through."""
    return None if micros is None else from_micros(micros)
