"""A database reader cannot mint an admission: keys wrapped, `sfp` keyed, files private.

The attacker here holds a copy of the database files (read access is all it takes to copy
them) and everything in them, but not the key-encryption key, which is never stored there.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from alembic import command
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicetokens.domain.signing_keys import KeySchedule
from servicetokens.gate.app import GateApp
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import _config, upgrade
from servicetokens.usecases.signing_keys import KeyRing
from tests.gate.conftest import GateFactory, Tenant, creds, make_tenant

PEM_MARKER = b"PRIVATE KEY"


def _copy_database(database_url: str, into: Path) -> Path:
    """What a reader takes: the database file and, if present, its -wal and -shm."""
    source = Path(database_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", into / f"copy.db{suffix}")
    return into / "copy.db"


def _rows(copy: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def _private_key_in(value: object) -> rsa.RSAPrivateKey | None:
    """Whatever a stored value yields as an RSA private key: PEM, or DER in base64."""
    candidates: list[bytes] = []
    if isinstance(value, str):
        candidates.append(value.encode())
        with contextlib.suppress(ValueError):
            candidates.append(base64.urlsafe_b64decode(value.partition(":")[2] or value))
    for blob in candidates:
        for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
            try:
                key = load(blob, password=None)
            except (ValueError, TypeError):
                continue
            if isinstance(key, rsa.RSAPrivateKey):
                return key
    return None


def _unkeyed_sfp(secret_digest: bytes) -> str:
    """The `sfp` as computed from the stored digest alone (the old, unkeyed scheme)."""
    mac = hashlib.sha256(b"servicetokens-sfp\0" + secret_digest).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode("ascii")


def _forged(
    app: GateApp, key: rsa.RSAPrivateKey, kid: str, client_id: str, token_id: str, sfp: str
) -> str:
    now = int(time.time())
    claims = {
        "type": "app",
        "aud": [app.settings.aud],
        "iss": app.settings.iss,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "common_name": client_id,
        "sub": "",
        "token_id": token_id,
        "sfp": sfp,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def gate(start_gate: GateFactory) -> str:
    return start_gate()


def test_a_copy_of_the_database_cannot_forge_an_admission(
    tenant: Tenant, gate: str, start_gate: GateFactory, tmp_path: Path
) -> None:
    token, secret = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200
    copy = _copy_database(tenant.database_url, tmp_path)
    keys = _rows(copy, "SELECT * FROM signing_keys")
    assert keys, "the gate stored its signing key"
    (row,) = _rows(copy, "SELECT * FROM service_tokens WHERE client_id = ?", token.client_id)
    sfp = _unkeyed_sfp(bytes(row["secret_digest"]))
    app = start_gate.apps[gate]
    attempts = 0
    for stored in keys:
        found = [_private_key_in(value) for value in stored]  # every column's value
        # With no private key in the row, the best a reader can do is sign with its own key
        # under the published kid.
        key = next((k for k in found if k is not None), None) or rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        forged = _forged(app, key, stored["kid"], token.client_id, token.id, sfp)
        for headers in ({"cf-access-token": forged}, {"Cookie": f"CF_Authorization={forged}"}):
            answer = httpx.get(gate, headers=headers)
            assert answer.status_code == 401, answer.text
            attempts += 1
    assert attempts >= 2


def test_the_database_files_hold_no_private_key(tenant: Tenant, gate: str, tmp_path: Path) -> None:
    token, secret = tenant.token()
    assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200
    copy = _copy_database(tenant.database_url, tmp_path)
    for path in copy.parent.iterdir():
        assert PEM_MARKER not in path.read_bytes(), path.name
    for stored in _rows(copy, "SELECT * FROM signing_keys"):
        assert all(_private_key_in(value) is None for value in stored)


def test_even_the_signing_key_without_the_kek_cannot_bind_a_jwt_to_a_secret(
    tenant: Tenant, gate: str, start_gate: GateFactory, tmp_path: Path
) -> None:
    """`sfp` is keyed by the KEK: a JWT signed with the real key (say it leaked from a
    process's memory) but naming the secret as the database would is refused."""
    token, secret = tenant.token()
    admitted = httpx.get(gate, headers=creds(token.client_id, secret))
    assert admitted.status_code == 200
    issued = jwt.decode(
        admitted.json()["headers"]["cf-access-jwt-assertion"][0],
        options={"verify_signature": False},
    )
    app = start_gate.apps[gate]
    signing = app.keys.signing_key()
    (row,) = _rows(
        _copy_database(tenant.database_url, tmp_path),
        "SELECT secret_digest FROM service_tokens WHERE client_id = ?",
        token.client_id,
    )
    database_sfp = _unkeyed_sfp(bytes(row["secret_digest"]))
    forged = _forged(app, signing.private_key, signing.kid, token.client_id, token.id, database_sfp)
    assert issued["sfp"] != database_sfp
    assert httpx.get(gate, headers={"cf-access-token": forged}).status_code == 401
    # The same JWT naming the secret as the gate does (with the KEK) is admitted: the
    # refusal above is the sfp's doing, nothing else.
    keyed = _forged(app, signing.private_key, signing.kid, token.client_id, token.id, issued["sfp"])
    assert httpx.get(gate, headers={"cf-access-token": keyed}).status_code == 200


def test_upgrading_destroys_plaintext_keys_left_by_earlier_versions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}", pool_size=1)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO signing_keys (kid, private_pem, cert_pem, created_at, activates_at) "
            "VALUES ('k', ?, 'c', 0, 0)",
            (pem,),
        )
    assert any(PEM_MARKER in p.read_bytes() for p in tmp_path.iterdir())
    upgrade(engine)
    ring = KeyRing(Database(engine), schedule=KeySchedule(), kek=KeyEncryptionKey.generate())
    ring.sync()  # a gate starting on the upgraded database makes a wrapped key
    engine.dispose()
    for file in tmp_path.iterdir():
        assert PEM_MARKER not in file.read_bytes(), file.name
    (row,) = _rows(path, "SELECT * FROM signing_keys")
    assert row["kid"] != "k"
    assert _private_key_in(row["wrapped_key"]) is None


@pytest.mark.postgres
def test_a_read_only_postgresql_session_cannot_forge_an_admission(
    pg_database: str, upstream: str
) -> None:
    """A read-only role's view of PostgreSQL: every column of every signing key."""
    tenant = make_tenant(pg_database)
    factory = GateFactory(tenant, upstream)
    try:
        gate = factory()
        token, secret = tenant.token()
        assert httpx.get(gate, headers=creds(token.client_id, secret)).status_code == 200
        with psycopg.connect(pg_database) as connection:
            connection.read_only = True
            keys = connection.execute("SELECT * FROM signing_keys").fetchall()
            (digest_row,) = connection.execute(
                "SELECT secret_digest FROM service_tokens WHERE client_id = %s",
                (token.client_id,),
            ).fetchall()
        assert keys
        sfp = _unkeyed_sfp(bytes(digest_row[0]))
        for stored in keys:
            found = [_private_key_in(value) for value in stored]
            assert found == [None] * len(stored)
            forged = _forged(
                factory.apps[gate],
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                stored[0],
                token.client_id,
                token.id,
                sfp,
            )
            assert httpx.get(gate, headers={"cf-access-token": forged}).status_code == 401
    finally:
        factory.close()
        tenant.service.database.engine.dispose()
