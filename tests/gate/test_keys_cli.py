"""The CLI at rest: readable databases refused, KEKs found or required, `keys` commands."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from bench.harness import GATE_READY_PATH, Server, free_port
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from servicetokens.cli.main import app
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.signing.kek_source import KEK_ENV
from tests.gate.conftest import creds, make_tenant

NO_ACCOUNT = "0" * 32


def _environ(kek: str | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != KEK_ENV}
    if kek is not None:
        environ[KEK_ENV] = kek
    return environ


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def run(database: str, *args: str, kek: str | None = None) -> Done:
    """A CLI command that ends by itself (run in this process: no interpreter start-up),
    with `kek` (or none) in its environment. A crash shows as a traceback on stderr."""
    result = CliRunner().invoke(app, ["--database", database, *args], env={KEK_ENV: kek})
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback: " + repr(result.exception)
    return Done(result.exit_code, result.stdout, stderr)


def run_json(database: str, *args: str, kek: str | None = None) -> dict[str, Any]:
    done = run(database, *args, "--json", kek=kek)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def gate_cli(database: str, account: str, upstream: str, *extra: str, log: Path) -> Server:
    """A `servicetokens gate` process that is expected to start (on entering `with`), with no
    key-encryption key in its environment."""
    command = ["gate", "--account", account, "--upstream", upstream, *extra]
    return Server.cli(database, command, log=log, ready_path=GATE_READY_PATH, env=_environ(None))


def _refused(done: Done, *needles: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    for needle in needles:
        assert needle in message, done.stderr


@pytest.fixture
def sqlite(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "st.db"
    return f"sqlite:///{path}", path


def test_serve_and_gate_refuse_a_database_others_can_read(sqlite: tuple[str, Path]) -> None:
    url, path = sqlite
    assert run(url, "db", "upgrade").returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    for command in (
        ["serve", "--port", str(free_port())],
        ["gate", "--account", NO_ACCOUNT, "--upstream", "http://127.0.0.1:9"],
    ):
        _refused(
            run(url, *command, kek=KeyEncryptionKey.generate().encoded()),
            str(path),
            f"chmod 600 {path}",
            "--allow-readable-database",
        )
    # The override gets past the check (here to the next refusal: no such account).
    allowed = run(
        url,
        "gate",
        "--account",
        NO_ACCOUNT,
        "--upstream",
        "http://127.0.0.1:9",
        "--allow-readable-database",
        kek=KeyEncryptionKey.generate().encoded(),
    )
    _refused(allowed, f"no account {NO_ACCOUNT}")


@pytest.mark.postgres
def test_a_gate_on_postgresql_without_a_kek_refuses_naming_the_setting(
    pg_database: str,
) -> None:
    done = run(pg_database, "gate", "--account", NO_ACCOUNT, "--upstream", "http://127.0.0.1:9")
    _refused(done, KEK_ENV, "--key-file", "keys generate-kek")
    # `keys rotate` signs too; `keys list` only reads, and needs none.
    _refused(run(pg_database, "keys", "rotate"), KEK_ENV)
    assert run(pg_database, "keys", "list", "--json").returncode == 0


def test_a_gate_on_sqlite_makes_its_kek_beside_the_database_and_refuses_another(
    sqlite: tuple[str, Path], tmp_path: Path, upstream: str
) -> None:
    url, path = sqlite
    tenant = make_tenant(url)
    try:
        token, secret = tenant.token()
        with gate_cli(url, tenant.account, upstream, log=tmp_path / "gate.log") as gate:
            assert httpx.get(gate.url, headers=creds(token.client_id, secret)).status_code == 200
        kek_file = Path(f"{path}.kek")
        said = " ".join(gate.log.read_text().split())
        assert f"generated a key-encryption key in {kek_file} (mode 0600)" in said
        assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
        Fernet(kek_file.read_text().strip())  # the form of a Fernet key
        stranger = KeyEncryptionKey.generate()
        done = run(
            url,
            "gate",
            "--account",
            tenant.account,
            "--upstream",
            upstream,
            kek=stranger.encoded(),
        )
        _refused(done, "key-encryption key", stranger.key_id, KEK_ENV, "--discard-existing")
    finally:
        tenant.service.database.engine.dispose()


def test_keys_commands_rotate_list_and_rewrap(
    sqlite: tuple[str, Path], tmp_path: Path, upstream: str
) -> None:
    url, path = sqlite
    generated = run(url, "keys", "generate-kek")
    assert generated.returncode == 0
    Fernet(generated.stdout.strip())
    old_file, new_file = tmp_path / "old.kek", tmp_path / "new.kek"
    old_file.write_text(generated.stdout)
    old_file.chmod(0o600)
    new = run_json(url, "keys", "generate-kek")
    new_file.write_text(new["key_encryption_key"])
    new_file.chmod(0o600)
    old_id = KeyEncryptionKey.parse(generated.stdout, source="old").key_id

    assert run_json(url, "keys", "list") == {"keys": []}
    first = run_json(url, "keys", "rotate", "--key-file", str(old_file))
    successor = run_json(url, "keys", "rotate", "--key-file", str(old_file))
    waiting = run_json(url, "keys", "rotate", "--key-file", str(old_file))
    assert waiting["added"] is None
    listed = run_json(url, "keys", "list")["keys"]
    assert [(k["kid"], k["state"], k["kek_id"]) for k in listed] == [
        (first["added"], "signing", old_id),
        (successor["added"], "upcoming", old_id),
    ]
    assert not Path(f"{path}.kek").exists()  # a key file was given: nothing generated

    rewrapped = run_json(
        url, "keys", "rewrap", "--key-file", str(old_file), "--new-key-file", str(new_file)
    )
    assert rewrapped == {"rewrapped": 2, "kek_id": new["kek_id"]}
    assert {k["kek_id"] for k in run_json(url, "keys", "list")["keys"]} == {new["kek_id"]}
    # The old KEK opens nothing any more, and adds nothing beside keys it cannot open.
    _refused(run(url, "keys", "rotate", "--key-file", str(old_file)), new["kek_id"])
    tenant = make_tenant(url)
    try:
        _refused(
            run(
                url, "gate", "--account", tenant.account, "--upstream", upstream,
                "--key-file", str(old_file),
            ),
            "key-encryption key",
        )  # fmt: skip
        token, secret = tenant.token()
        with gate_cli(
            url, tenant.account, upstream, "--key-file", str(new_file), log=tmp_path / "g.log"
        ) as gate:
            answer = httpx.get(gate.url, headers=creds(token.client_id, secret))
            assert answer.status_code == 200
            assertion = answer.json()["headers"]["cf-access-jwt-assertion"][0]
        # Signed with the key made under the old KEK, now opened by the new one.
        assert jwt.get_unverified_header(assertion)["kid"] == first["added"]
    finally:
        tenant.service.database.engine.dispose()
