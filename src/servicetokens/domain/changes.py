"""What the change feed carries: one committed write to a service token."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenChange"]


@dataclass(frozen=True, slots=True)
class TokenChange:
    """One committed write to a service token."""

    seq: int
    client_id: str
    container: tuple[str, str]
    """(container kind, container id)."""
    changed_at: int
    """Microseconds since the epoch."""
