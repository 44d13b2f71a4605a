"""What a reader of the database files finds: digests of secrets, never the secrets."""

from __future__ import annotations

from pathlib import Path

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.domain.secrets import digest
from servicetokens.usecases.authorization import ContainerRef


def test_the_database_files_hold_no_secret_only_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "at-rest.db"
    service = build_service(Settings(database_url=f"sqlite:///{path}", pool_size=2))
    try:
        account = service.admin.create_account("a")
        api_token = service.admin.create_api_token(
            "t", scope=ContainerKind.ACCOUNT, scope_id=account, permission=Permission.WRITE
        )
        user = service.admin.create_user("reader@example.com", account_id=account)
        principal = service.authentication.principal_for_api_token(api_token.secret)
        ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
        token, secret = service.tokens.create(principal, ref, TokenFields(name="at rest"))
        _, rotated = service.tokens.rotate(principal, ref, token.id, previous_expires_at=None)
        stored = b"".join(
            p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("at-rest.db")
        )
    finally:
        service.database.engine.dispose()
    for plaintext in (secret, rotated, api_token.secret, user.secret):
        assert plaintext.encode() not in stored
        assert plaintext.encode().hex().encode() not in stored
    assert digest(rotated) in stored  # what is kept instead
