"""JWT signing keys: private keys wrapped under the key-encryption key, and certificates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import delete, insert, select, update

from servicetokens.domain.signing_keys import SigningKeyRecord
from servicetokens.store.dialect import Session
from servicetokens.store.schema import signing_keys

__all__ = ["SigningKeyStore"]

_ROTATION_LOCK = 0x5E_2F_1C_E8  # advisory lock key: one key rotation at a time


class SigningKeyStore(Session):
    """The stored signing keys of every gate."""

    __slots__ = ()

    def all(self) -> list[SigningKeyRecord]:
        """Every stored signing key, oldest activation first."""
        rows = self._conn.execute(
            select(signing_keys).order_by(signing_keys.c.activates_at, signing_keys.c.kid)
        )
        return [
            SigningKeyRecord(
                row.kid,
                row.wrapped_key,
                row.kek_id,
                row.cert_pem,
                row.created_at,
                row.activates_at,
            )
            for row in rows
        ]

    def lock(self) -> None:
        """Serialise key rotation across processes until this transaction ends."""
        self._dialect.advisory_lock(self._conn, _ROTATION_LOCK)

    def add(self, key: SigningKeyRecord) -> None:
        """Store a new signing key."""
        self._conn.execute(
            insert(signing_keys).values(
                kid=key.kid,
                wrapped_key=key.wrapped_key,
                kek_id=key.kek_id,
                cert_pem=key.cert_pem,
                created_at=key.created_at,
                activates_at=key.activates_at,
            )
        )

    def delete(self, kids: Sequence[str]) -> None:
        """Forget retired signing keys."""
        if kids:
            self._conn.execute(delete(signing_keys).where(signing_keys.c.kid.in_(list(kids))))

    def rewrap(self, kid: str, *, wrapped_key: str, kek_id: str) -> None:
        """Store `kid`'s private key wrapped anew (under the key-encryption key `kek_id`)."""
        self._conn.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(wrapped_key=wrapped_key, kek_id=kek_id)
        )

    @contextmanager
    def erasing(self) -> Iterator[None]:
        """Key material deleted or replaced inside the block does not linger in free pages
        (SQLite `secure_delete`; see `Dialect.erasing`)."""
        with self._dialect.erasing(self._conn):
            yield
