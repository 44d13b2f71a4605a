"""JWT signing keys: the stored record, the rotation schedule, and its timing rules.

A key is stored `lead` before it starts signing, so every replica (and every verifier caching
`/cdn-cgi/access/certs`) has seen it before the first JWT under it; it signs until its
successor activates, `rotation` after it did; it stays published for `overlap` after that
(JWTs it signed must outlive it), and is deleted a day later. Stored times are microseconds
since the epoch; the published-key rules below work on anything with an `activates_at`.

Everything here is pure: the RSA work is `signing/`'s, storage is `store/signing_keys.py`'s,
and `usecases/signing_keys.py` applies these rules to the stored keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from servicetokens.domain.clock import delta_micros

__all__ = [
    "CERTIFICATE_MARGIN",
    "Activated",
    "KeySchedule",
    "RotationPlan",
    "SigningKeyRecord",
    "certificate_validity",
    "key_state",
    "plan_rotation",
    "published",
    "signing",
    "successor_activation",
]

CERTIFICATE_MARGIN = timedelta(days=30)
"""How long a key's certificate stays valid past the end of its published life."""
_CLOCK_SKEW = timedelta(minutes=5)
"""How far before its creation a certificate is already valid (another host's clock)."""
_RETIRED_FOR = timedelta(days=1)
"""How long a key no longer published is kept before it is deleted."""


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A stored JWT signing key: its private key wrapped under the key-encryption key
    `kek_id` names, its self-signed certificate, and when it starts signing (microseconds
    since the epoch)."""

    kid: str
    wrapped_key: str
    kek_id: str
    cert_pem: str
    created_at: int
    activates_at: int


@dataclass(frozen=True, slots=True)
class KeySchedule:
    """When keys rotate: each signs for `rotation`, is published `lead` before and
    `overlap` after."""

    rotation: timedelta = timedelta(weeks=6)
    overlap: timedelta = timedelta(days=7)
    lead: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """What the stored keys need now: a key to add (when it activates, microseconds) and
    the kids of retired keys to delete."""

    add_at: int | None
    retire: tuple[str, ...]


def plan_rotation(
    records: Sequence[SigningKeyRecord], now: int, schedule: KeySchedule
) -> RotationPlan:
    """The plan for `records` (sorted by activation) at `now` (microseconds).

    With no key, one that signs at once. With no successor waiting, one once the signing
    key is within `lead` of the end of its `rotation`: it activates a full `lead` from now,
    and never before that end. A key is retired a day after it stopped being published
    (`overlap` after its successor activated)."""
    active = [r for r in records if r.activates_at <= now]
    upcoming = [r for r in records if r.activates_at > now]
    rotation, lead = delta_micros(schedule.rotation), delta_micros(schedule.lead)
    add: int | None = None
    if not active and not upcoming:
        add = now
    elif active and not upcoming and now >= active[-1].activates_at + rotation - lead:
        add = max(now + lead, active[-1].activates_at + rotation)
    keep_after = now - delta_micros(schedule.overlap + _RETIRED_FOR)
    retire = tuple(
        r.kid for r, successor in itertools.pairwise(records) if successor.activates_at < keep_after
    )
    return RotationPlan(add, retire)


def successor_activation(
    records: Sequence[SigningKeyRecord], now: int, schedule: KeySchedule
) -> int | None:
    """When a successor added on demand at `now` activates (`servicetokens keys rotate`):
    a full `lead` from now (every replica re-reads keys well within it), or at once when
    there is no key; None while a successor is already waiting."""
    if any(r.activates_at > now for r in records):
        return None
    return now + delta_micros(schedule.lead) if records else now


def certificate_validity(
    now: datetime, activates_at: datetime, schedule: KeySchedule
) -> tuple[datetime, datetime]:
    """(not before, not after) of the certificate of a key made at `now` that activates at
    `activates_at`: its whole published life, with room for clock skew before and a margin
    after."""
    return (
        now - _CLOCK_SKEW,
        activates_at + schedule.rotation + schedule.overlap + CERTIFICATE_MARGIN,
    )


def key_state(
    record: SigningKeyRecord, successor: SigningKeyRecord | None, now: int, overlap: timedelta
) -> str:
    """`upcoming`, `signing`, `published` (superseded, inside its overlap) or `retired`, at
    `now` (microseconds), for a key and the one after it."""
    if record.activates_at > now:
        return "upcoming"
    if successor is None or successor.activates_at > now:
        return "signing"
    return "published" if now < successor.activates_at + delta_micros(overlap) else "retired"


class Activated(Protocol):
    """Anything with a moment it starts signing."""

    @property
    def activates_at(self) -> datetime: ...


K = TypeVar("K", bound=Activated)


def published(keys: Sequence[K], *, now: datetime, overlap: timedelta) -> list[K]:
    """Of `keys` (sorted by activation): upcoming, current, and superseded keys still
    inside their `overlap`."""
    shown = []
    for key, successor in zip(keys, [*keys[1:], None][: len(keys)], strict=True):
        if successor is None or now < successor.activates_at + overlap:
            shown.append(key)
    return shown


def signing(keys: Sequence[K], *, now: datetime) -> K | None:
    """Of `keys` (sorted by activation): the one that signs at `now` (newest active)."""
    active = [k for k in keys if k.activates_at <= now]
    return active[-1] if active else None
