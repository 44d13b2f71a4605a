"""The dashboard from the command line: `users set-password` (stdin), `users end-sessions`,
and the first `servicetokens serve` printing the dashboard's URL and an administrator's
login once."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
from bench.harness import Server

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from tests.cli.test_cli import CLI, run_json

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_set_password_reads_stdin_and_the_user_can_sign_in(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    account = run_json(db, "accounts", "create", "acme")["id"]
    run_json(db, "users", "create", "ops@example.com", "--account", account)
    done = subprocess.run(
        [*CLI, "--database", db, "users", "set-password", "Ops@Example.com"],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "a long enough password" not in done.stdout + done.stderr
    service = build_service(Settings(database_url=db, pool_size=2))
    try:
        signed = service.people.sign_in(
            "ops@example.com", "a long enough password", origin="127.0.0.1", device=None
        )
        assert service.people.resume(signed.session_id) is not None
    finally:
        service.close()


def test_set_password_refusals(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    account = run_json(db, "accounts", "create", "acme")["id"]
    run_json(db, "users", "create", "ops@example.com", "--account", account)
    for email, password, message in (
        ("ops@example.com", "short", "at least 12 characters"),
        ("nobody@example.com", "a long enough password", "no user nobody@example.com"),
    ):
        done = subprocess.run(
            [*CLI, "--database", db, "users", "set-password", email],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert message in done.stderr


def test_end_sessions_signs_the_user_out_everywhere_and_says_how_often(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    service = build_service(Settings(database_url=db, pool_size=2))
    try:
        account = service.admin.create_account("acme")
        for email in ("ops@example.com", "other@example.com"):
            service.admin.create_user(email, account_id=account)
            service.people.set_password(email, "a long enough password")
        laptop, phone, colleague = (
            service.people.sign_in(email, "a long enough password", origin="127.0.0.1", device=None)
            for email in ("ops@example.com", "ops@example.com", "other@example.com")
        )
        ended = run_json(db, "users", "end-sessions", "Ops@Example.com")
        assert ended == {"email": "ops@example.com", "sessions_ended": 2}
        assert service.people.resume(laptop.session_id) is None
        assert service.people.resume(phone.session_id) is None
        assert service.people.resume(colleague.session_id) is not None
        (entry,) = [
            e for e in service.admin.audit_log(limit=1000) if e.action == "user.end_sessions"
        ]
        assert (entry.target, entry.actor_kind, entry.detail) == (
            "ops@example.com",
            "cli",
            {"sessions": 2},
        )
    finally:
        service.close()
    refused = subprocess.run(
        [*CLI, "--database", db, "users", "end-sessions", "nobody@example.com", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert "no user nobody@example.com" in refused.stderr
    assert refused.stdout == ""


def test_the_first_serve_prints_the_dashboard_login_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'first.db'}"
    log = tmp_path / "serve.log"
    with Server.api(db, log=log) as server:
        text = " ".join(log.read_text().split())
        assert f"Dashboard {server.url}/" in text
        email = re.search(r"email : (\S+)", text)
        password = re.search(r"password : (\S+)", text)
        assert email is not None
        assert password is not None
        with httpx.Client(base_url=server.url) as browser:
            form = browser.get("/sign-in")
            csrf = _CSRF.search(form.text)
            assert csrf is not None
            signed = browser.post(
                "/sign-in",
                data={
                    "csrf_token": csrf.group(1),
                    "email": email.group(1),
                    "password": password.group(1),
                },
            )
            assert signed.status_code == 303
            home = browser.get("/", follow_redirects=True)
            assert home.status_code == 200
            assert "Service tokens" in home.text
    # A second start on the same database prints no login again.
    again = tmp_path / "again.log"
    with Server.api(db, log=again):
        pass
    assert "password :" not in again.read_text()
