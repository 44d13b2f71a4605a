"""The test suite runs from a clone on its own, and says what it skipped for want of what.

Each test runs pytest in a subprocess, on a copy of the database or on a few real test
files, with the machine narrowed down: an unreachable PostgreSQL, a PATH without nginx, node
or npm, a Chromium path that holds none.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import prerequisites

ROOT = Path(__file__).resolve().parents[2]
PYTEST_TIMEOUT_S = 240

# Real tests, one group per prerequisite (the CLI one needs PostgreSQL only through its
# `postgres_database` fixture), and one group that needs nothing.
NEEDING = {
    "PostgreSQL": [
        "tests/gate/test_postgres.py",
        "tests/cli/test_cli.py::test_postgres_url_is_accepted",
    ],
    "nginx": ["tests/gate/test_nginx.py"],
    "node and npm": [  # not its notifications test, whose PostgreSQL run also needs PostgreSQL
        "tests/conformance/test_typescript_sdk.py::test_list_yields_every_token_once",
        "tests/conformance/test_typescript_sdk.py::test_create_then_visible_through_the_api",
        "tests/conformance/test_typescript_sdk.py::test_a_policy_and_an_application_created_and_listed",
    ],
    "Chromium": ["tests/dashboard/test_browser.py"],
}
NEEDING_NOTHING = "tests/unit/test_durations.py"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port held bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def pytest_run(
    root: Path, args: list[str], *, path: str, database_url: str, require_all: bool
) -> subprocess.CompletedProcess[str]:
    """`pytest ARGS` in `root` with that PATH and PostgreSQL URL, as a user would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICETOKENS_TEST_")}
    env["PATH"] = path
    env[prerequisites.CHROMIUM_VARIABLE] = str(Path(path.split(os.pathsep)[0]) / "chromium")
    env["PYTHONPATH"] = str(root / "src")
    env[prerequisites.DATABASE_URL_VARIABLE] = database_url
    if require_all:
        env[prerequisites.REQUIRE_ALL_VARIABLE] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=PYTEST_TIMEOUT_S,
    )


def test_a_copy_of_the_repository_on_its_own_collects_every_test(
    tmp_path: Path, closed_port: int
) -> None:
    """Nothing outside the database is read: a copy in an empty directory collects."""
    copy = tmp_path / "alone" / "servicetokens"
    junk = shutil.ignore_patterns(
        "node_modules", "__pycache__", ".*_cache", ".hypothesis", "*.db", "*.db-*", "results"
    )
    for part in ("src", "tests", "bench"):
        shutil.copytree(ROOT / part, copy / part, ignore=junk)
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")

    url = f"postgresql://postgres@127.0.0.1:{closed_port}/postgres"
    run = pytest_run(
        copy,
        # `make test`'s selection: collecting the deep fuzz too builds its coverage cases
        # (half a minute) from the same spec files.
        ["--collect-only", "-q", "-m", "not slow"],
        path=os.environ["PATH"],
        database_url=url,
        require_all=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "tests/fuzz/test_cloudflare_spec.py::" in run.stdout  # Cloudflare's spec was read


# Serially, and with the pytest-xdist workers `make test` runs (the workers collect; the
# controller prints the lines they hand over, each once).
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_missing_prerequisites_are_skipped_with_one_line_each(
    tmp_path: Path, closed_port: int, workers: list[str]
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/postgres"
    selection = [*workers, NEEDING_NOTHING, *(t for tests in NEEDING.values() for t in tests)]
    empty_path = tmp_path / "bin"  # no nginx, node or npm
    empty_path.mkdir()

    run = pytest_run(ROOT, selection, path=str(empty_path), database_url=url, require_all=False)

    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert len(lines) == len(NEEDING), output[-3000:]  # one each, none per test (`-ra`)
    counts = {}
    for what, line in zip(NEEDING, lines, strict=True):
        found = re.fullmatch(rf"SKIPPED (\d+) tests? that needs? {what}: (.+) \((.+)\)", line)
        assert found, line
        counts[what] = int(found[1])
        assert "to enable" in found[3], line
    assert f"no server at {url}" in lines[0]
    assert prerequisites.DATABASE_URL_VARIABLE in lines[0]
    assert "apt-get install nginx" in lines[1]
    assert "apt-get install nodejs npm" in lines[2]
    assert "apt-get install chromium" in lines[3]
    if workers:  # the controller sees no deselection: its workers did it
        assert re.search(r" \d+ passed in ", output), output[-3000:]
    else:
        stats = re.search(r"(\d+) passed, (\d+) deselected", output)
        assert stats, output[-3000:]
        assert int(stats[1]) > 0
        assert int(stats[2]) == sum(counts.values())
    assert counts["PostgreSQL"] >= 2  # the fixture-only CLI test was found too


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_require_all_turns_each_missing_prerequisite_into_a_failure(
    tmp_path: Path, closed_port: int, workers: list[str]
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/postgres"
    selection = [*workers, NEEDING_NOTHING, *(t for tests in NEEDING.values() for t in tests)]
    empty_path = tmp_path / "bin"
    empty_path.mkdir()

    run = pytest_run(ROOT, selection, path=str(empty_path), database_url=url, require_all=True)

    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-3000:]
    for marker in ("postgres", "nginx", "node", "chromium"):
        assert f"FAILED tests/prerequisites.py::{marker}" in output, output[-3000:]
    assert f"no server at {url}" in output
    assert not [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert re.search(r"4 failed, \d+ passed", output), output[-3000:]


def test_database_urls_keep_the_server_and_hide_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = "postgresql://admin:s3cret@db.internal:6543/postgres?sslmode=require"
    monkeypatch.setenv(prerequisites.DATABASE_URL_VARIABLE, admin)
    assert prerequisites.admin_url() == admin
    assert (
        prerequisites.database_url("st_test_1")
        == "postgresql://admin:s3cret@db.internal:6543/st_test_1?sslmode=require"
    )
    assert prerequisites.shown(admin) == (
        "postgresql://admin:***@db.internal:6543/postgres?sslmode=require"
    )
    monkeypatch.delenv(prerequisites.DATABASE_URL_VARIABLE)
    assert prerequisites.admin_url() == prerequisites.DEFAULT_DATABASE_URL
