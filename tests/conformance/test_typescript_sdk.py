"""The official TypeScript SDK (npm ``cloudflare``), unmodified, against a live server.

The scripts in ``ts/`` are run with Node; they read the base URL and credentials from the
environment, as a user's script would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cloudflare import Cloudflare

if TYPE_CHECKING:
    from tests.conformance.conftest import LiveServer

TS_DIR = Path(__file__).resolve().parent / "ts"
NODE_TIMEOUT_S = 60
NPM_TIMEOUT_S = 600
CLIENT_ID = re.compile(r"^[0-9a-f]{32}\.access$")
pytestmark = pytest.mark.node  # deselected, with one line saying so, without node and npm


@pytest.fixture(scope="module")
def node() -> str:
    """Node on PATH, with the SDK installed from the lock file when it is not yet."""
    node = shutil.which("node")
    if node is None:  # the `node` marker deselects these tests without it (tests/prerequisites.py)
        pytest.fail("node is not on PATH: the TypeScript SDK cannot be exercised")
    if not (TS_DIR / "node_modules" / "cloudflare" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node is on PATH but npm is not: cannot install the TypeScript SDK")
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=TS_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
        if proc.returncode != 0:
            pytest.fail(f"npm ci failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return node


@pytest.fixture
def py_client(live_server: LiveServer) -> Iterator[Cloudflare]:
    with Cloudflare(api_token=live_server.write_token, base_url=live_server.base_url) as client:
        yield client


def run_script(node: str, script: str, live_server: LiveServer, **env: str) -> list[Any]:
    """Run a script of ``ts/`` and return its stdout as parsed JSON lines."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    child_env |= {
        "CLOUDFLARE_BASE_URL": live_server.base_url,
        "CLOUDFLARE_API_TOKEN": live_server.write_token,
        "ACCOUNT_ID": live_server.account_id,
        **env,
    }
    try:
        proc = subprocess.run(
            [node, script],
            cwd=TS_DIR,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        if isinstance(out, bytes):  # POSIX hands back bytes here even with text=True
            out = out.decode(errors="replace")
        pytest.fail(
            f"node {script} still running after {NODE_TIMEOUT_S} s (a list only ends on an"
            f" empty page: does a page past the end return []?)\nlast output:\n{out[-2000:]}"
        )
    assert proc.returncode == 0, (
        f"node {script} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        f"\nserver log (tail):\n{live_server.log_text()[-4000:]}"
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def create_tokens(client: Cloudflare, account_id: str, prefix: str, count: int) -> dict[str, str]:
    created: dict[str, str] = {}
    for i in range(count):
        token = client.zero_trust.access.service_tokens.create(
            account_id=account_id, name=f"{prefix}-{i:02d}"
        )
        assert token is not None
        assert token.id is not None
        created[token.id] = f"{prefix}-{i:02d}"
    return created


@pytest.mark.parametrize("per_page", ["7", None], ids=["per_page_7", "server_default"])
def test_list_yields_every_token_once(
    node: str,
    py_client: Cloudflare,
    live_server: LiveServer,
    unique_name: str,
    per_page: str | None,
) -> None:
    created = create_tokens(py_client, live_server.account_id, unique_name, 20)

    env = {"PER_PAGE": per_page} if per_page else {}
    rows = run_script(node, "list.mjs", live_server, **env)

    ids = [row["id"] for row in rows]
    counts = Counter(ids)
    assert {i: counts[i] for i in created} == dict.fromkeys(created, 1)
    assert len(ids) == len(set(ids)), "a token was listed twice"
    names = {row["id"]: row["name"] for row in rows}
    assert {i: names[i] for i in created} == created
    if per_page:
        assert len(rows) > int(per_page), "only one page was exercised"


def test_create_then_visible_through_the_api(
    node: str, py_client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    [row] = run_script(node, "create.mjs", live_server, TOKEN_NAME=unique_name, DURATION="90m")
    assert row["name"] == unique_name
    assert row["duration"] == "90m"
    assert row["client_secret"]
    assert CLIENT_ID.match(row["client_id"])
    assert str(uuid.UUID(row["id"])) == row["id"]

    tokens = py_client.zero_trust.access.service_tokens
    fetched = tokens.get(row["id"], account_id=live_server.account_id)
    assert fetched is not None
    assert (fetched.name, fetched.client_id, fetched.duration) == (
        unique_name,
        row["client_id"],
        "90m",
    )
    listed = [t.id for t in tokens.list(account_id=live_server.account_id, name=unique_name)]
    assert listed == [row["id"]]


def test_a_policy_and_an_application_created_and_listed(
    node: str, py_client: Cloudflare, live_server: LiveServer, unique_name: str
) -> None:
    for i in range(3):  # enough policies that a page of 2 is not the whole list
        py_client.zero_trust.access.policies.create(
            account_id=live_server.account_id,
            name=f"{unique_name}-{i}",
            decision="non_identity",
            include=[{"any_valid_service_token": {}}],
        )
    domain = f"{uuid.uuid4().hex[:12]}.example.com"
    rows = run_script(
        node, "control_plane.mjs", live_server, NAME=unique_name, DOMAIN=domain, PER_PAGE="2"
    )
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row.pop("kind"), []).append(row)
    [policy] = by_kind["created-policy"]
    assert policy["name"] == unique_name
    assert policy["decision"] == "non_identity"
    assert policy["include"] == [{"any_valid_service_token": {}}]
    assert policy["app_count"] == 0
    [app] = by_kind["created-app"]
    assert (app["domain"], app["type"]) == (domain, "self_hosted")
    assert re.fullmatch(r"[0-9a-f]{64}", app["aud"])
    assert app["policies"] == [{"id": policy["id"], "precedence": 1}]

    listed_policies = [row["id"] for row in by_kind["policy"]]
    assert len(listed_policies) == len(set(listed_policies)) >= 4
    assert {row["id"]: row["app_count"] for row in by_kind["policy"]}[policy["id"]] == 1
    assert [row["id"] for row in by_kind["app"]].count(app["id"]) == 1

    fetched = py_client.zero_trust.access.applications.get(
        app["id"], account_id=live_server.account_id
    )
    assert fetched is not None
    assert fetched.to_dict()["aud"] == app["aud"]


def test_typescript_sdk_creates_and_lists_webhooks_and_policies(
    node: str, notify_server: LiveServer, unique_name: str
) -> None:
    from tests.notifications.receiver import Receiver

    with Receiver() as receiver:
        rows = run_script(
            node, "notifications.mjs", notify_server, NAME=unique_name, RECEIVER_URL=receiver.url
        )
        assert len(receiver.received) == 1  # the create's test message
        assert receiver.received[0].headers["cf-webhook-auth"] == "s3cret"
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row.pop("kind"), []).append(row)
    [webhook] = by_kind["created-webhook"]
    [policy] = by_kind["created-policy"]
    listed_webhooks = {row["id"]: row for row in by_kind["webhook"]}
    assert listed_webhooks[webhook["id"]] == {
        "id": webhook["id"],
        "name": unique_name,
        "type": "generic",
        "url": receiver.url,
        "secret": None,  # write-only
    }
    listed_policies = {row["id"]: row for row in by_kind["policy"]}
    assert listed_policies[policy["id"]]["alert_type"] == "expiring_service_token_alert"
    assert listed_policies[policy["id"]]["enabled"] is True
    assert listed_policies[policy["id"]]["mechanisms"] == {"webhooks": [{"id": webhook["id"]}]}
    assert by_kind["fetched-policy"] == [
        {"id": policy["id"], "alert_type": "expiring_service_token_alert"}
    ]
