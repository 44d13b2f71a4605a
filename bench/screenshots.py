"""The screenshots of docs/dashboard.md, made again by anyone: `python -m bench.screenshots`.

Seeds a throw-away database (an account with a few tokens in various states and a member
with a password), starts `servicetokens serve` on it, and drives Debian's Chromium
(`/usr/bin/chromium`, through Playwright; nothing is downloaded) to the list, the create
form, the secret shown once and the rotate form, saving `docs/dashboard/*.png`.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.harness import Server
from servicetokens.bootstrap import build_service, build_use_cases
from servicetokens.config import Settings
from servicetokens.domain.clock import system_clock
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["main", "take"]

EMAIL = "alice@example.com"
PASSWORD = "a password for screenshots"
OUT = Path(__file__).resolve().parents[1] / "docs" / "dashboard"


def _seed(database: str) -> str:
    service = build_service(Settings(database_url=database, pool_size=2))
    try:
        account = service.admin.create_account("Example Corp")
        service.admin.create_user(EMAIL, account_id=account)
        service.people.set_password(EMAIL, PASSWORD)
        grant = Grant(ContainerKind.ACCOUNT, account, Permission.WRITE)
        writer = Principal(PrincipalKind.OPERATOR, "screenshots", (grant,))
        ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
        tokens = service.tokens
        tokens.create(writer, ref, TokenFields(name="ci-deploy", duration="8760h"))
        nightly, _ = tokens.create(writer, ref, TokenFields(name="nightly-backup", duration="720h"))
        tokens.rotate(
            writer, ref, nightly.id, previous_expires_at=system_clock() + timedelta(hours=24)
        )
        tokens.create(writer, ref, TokenFields(name="metrics-scraper", duration="forever"))
        paused, _ = tokens.create(writer, ref, TokenFields(name="legacy-cron", duration="8760h"))
        tokens.update(writer, ref, paused.id, TokenFields(enabled=False))
        earlier = build_use_cases(
            service.database, clock=lambda: system_clock() - timedelta(days=26)
        )
        earlier.tokens.create(writer, ref, TokenFields(name="partner-feed", duration="720h"))
        return account
    finally:
        service.close()


def take(out: Path = OUT, *, chromium: str = "/usr/bin/chromium") -> list[Path]:
    """Make the screenshots in `out`; their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{Path(tmp) / 'shots.db'}"
        _seed(database)
        with Server.api(database, log=Path(tmp) / "serve.log") as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium)
            page = browser.new_page(base_url=server.url, viewport={"width": 1024, "height": 640})

            def shot(name: str) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                shots.append(path)

            page.goto("/")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Service tokens").wait_for()
            shot("list")
            page.get_by_role("link", name="Create service token").click()
            page.get_by_label("Name").fill("staging-deploy")
            page.get_by_label("Duration", exact=True).select_option(label="90 days")
            shot("create")
            page.get_by_role("button", name="Create").click()
            page.get_by_role("heading", name="Save the secret").wait_for()
            shot("secret-once")
            page.get_by_role("link", name="Go to the token").click()
            page.get_by_label("Keep the old secret for 7 days").check()
            shot("rotate")
            browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    for path in take(options.out, chromium=options.chromium):
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
