"""What parts of the test suite need beyond Python and make, and whether this machine has it.

Each prerequisite is looked for at most once per session, and only when a collected test
needs it:

- **PostgreSQL**: a server at `SERVICETOKENS_TEST_DATABASE_URL` (default
  `postgresql://postgres@127.0.0.1:5432/postgres`), an admin URL of a server on which the tests
  may create and drop databases. Needed by tests marked `postgres` and by tests using the
  `postgres_database` or `pg_database` fixtures.
- **nginx**: `nginx` on PATH (Debian installs it as /usr/sbin/nginx). Tests marked `nginx`.
- **node**: `node` and `npm` on PATH (the TypeScript SDK conformance tests). Tests marked
  `node`.
- **Chromium**: Debian's `chromium` (/usr/bin/chromium, or `chromium` on PATH) and the
  `playwright` package, for the dashboard's browser tests. Tests marked `chromium` (no
  browser is ever downloaded: Playwright drives that one through `executable_path`).
- **PgBouncer**: `pgbouncer` on PATH or in /usr/sbin (Debian's package), for tests that put
  a PgBouncer in transaction mode in front of the PostgreSQL server (`tests/pooler.py`).
  Tests marked `pgbouncer` or using the `pgbouncer` fixture.
- **PostgreSQL's server programs**: `initdb` and `pg_ctl`, where Debian keeps them
  (/usr/lib/postgresql/*/bin) or on PATH, for tests that run a private cluster. Tests marked
  `postgres_cluster`.

When one is missing its tests are deselected and the terminal summary says so in one line,
with how to enable them. With `SERVICETOKENS_TEST_REQUIRE_ALL=1` (CI) a missing prerequisite
is a failure instead: one failing item per prerequisite, naming what is missing.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

DATABASE_URL_VARIABLE = "SERVICETOKENS_TEST_DATABASE_URL"
REQUIRE_ALL_VARIABLE = "SERVICETOKENS_TEST_REQUIRE_ALL"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 3  # libpq's minimum is 2 s

# Fixtures that create a database on the PostgreSQL server: a test using one needs it even
# when nobody marked the test.
POSTGRES_FIXTURES = frozenset({"postgres_database", "pg_database"})


def admin_url() -> str:
    """The PostgreSQL admin URL the tests use (`SERVICETOKENS_TEST_DATABASE_URL`)."""
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def database_url(name: str) -> str:
    """The admin URL with its database replaced by `name` (user, host and options kept)."""
    parts = urlsplit(admin_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def shown(url: str) -> str:
    """`url` with any password replaced by `***`, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def require_all() -> bool:
    """Whether `SERVICETOKENS_TEST_REQUIRE_ALL` turns a missing prerequisite into a failure."""
    return os.environ.get(REQUIRE_ALL_VARIABLE, "") not in ("", "0")


def nginx_program() -> str | None:
    """The `nginx` on PATH, if any."""
    return shutil.which("nginx")


CHROMIUM_VARIABLE = "SERVICETOKENS_TEST_CHROMIUM"


def chromium_program() -> str | None:
    """Debian's Chromium: `SERVICETOKENS_TEST_CHROMIUM` when set (a path), else
    /usr/bin/chromium, else `chromium` on PATH."""
    chosen = os.environ.get(CHROMIUM_VARIABLE)
    if chosen is not None:
        return chosen if os.access(chosen, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program (`initdb`, `pg_ctl`): Debian's newest, else the one on PATH.

    Debian's directory first, so that `initdb` and `pg_ctl` come from one version."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@functools.cache
def _postgres_problem() -> str | None:
    url = admin_url()
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.rpartition(" failed: ")[2]  # libpq repeats the host and port
        return f"no server at {shown(url)}: {reason}"
    if not (row and row[0]):
        return f"the role of {shown(url)} may not create databases"
    return None


@functools.cache
def _nginx_problem() -> str | None:
    return None if nginx_program() else "not on PATH"


@functools.cache
def _pgbouncer_problem() -> str | None:
    from tests.pooler import pgbouncer_program

    return None if pgbouncer_program() else "not on PATH or in /usr/sbin"


@functools.cache
def _node_problem() -> str | None:
    absent = [name for name in ("node", "npm") if shutil.which(name) is None]
    return f"{' and '.join(absent)} not on PATH" if absent else None


@functools.cache
def _chromium_problem() -> str | None:
    if chromium_program() is None:
        chosen = os.environ.get(CHROMIUM_VARIABLE)
        return f"no program at {chosen}" if chosen else "not at /usr/bin/chromium nor on PATH"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@functools.cache
def _postgres_cluster_problem() -> str | None:
    absent = [name for name in ("initdb", "pg_ctl") if postgres_program(name) is None]
    if absent:
        return f"{' and '.join(absent)} not found on PATH or in /usr/lib/postgresql/*/bin"
    return None


@dataclass(frozen=True)
class Prerequisite:
    """Something outside Python that some tests need."""

    marker: str
    """Tests marked with this need it."""
    title: str
    """What it is, in the skip line."""
    how: str
    """How to enable its tests."""
    problem: Callable[[], str | None]
    """Why it is not usable here, or None when it is."""
    fixtures: frozenset[str] = frozenset()
    """Tests using one of these fixtures need it too."""

    def needed_by(self, item: pytest.Item) -> bool:
        fixtures: Iterable[str] = getattr(item, "fixturenames", ())
        return item.get_closest_marker(self.marker) is not None or any(
            name in self.fixtures for name in fixtures
        )


PREREQUISITES = (
    Prerequisite(
        "postgres",
        "PostgreSQL",
        f"start it, or set {DATABASE_URL_VARIABLE}, to enable",
        _postgres_problem,
        POSTGRES_FIXTURES,
    ),
    Prerequisite(
        "postgres_cluster",
        "PostgreSQL's server programs",
        "apt-get install postgresql to enable",
        _postgres_cluster_problem,
    ),
    Prerequisite(
        "nginx", "nginx", "apt-get install nginx, with /usr/sbin on PATH, to enable", _nginx_problem
    ),
    Prerequisite("node", "node and npm", "apt-get install nodejs npm to enable", _node_problem),
    Prerequisite(
        "chromium",
        "Chromium",
        "apt-get install chromium (and pip install the test extra) to enable",
        _chromium_problem,
    ),
    Prerequisite(
        "pgbouncer",
        "PgBouncer",
        "apt-get install pgbouncer to enable",
        _pgbouncer_problem,
        frozenset({"pgbouncer"}),
    ),
)

# Registered by tests/conftest.py (`postgres` is in pyproject.toml, with the other markers).
MARKERS = (
    "postgres_cluster: runs a private PostgreSQL cluster (needs initdb and pg_ctl)",
    "nginx: needs nginx on PATH",
    "node: needs node and npm on PATH",
    "chromium: drives Debian's Chromium with Playwright (the dashboard's browser tests)",
    "pgbouncer: needs pgbouncer (a PgBouncer in front of the PostgreSQL server)",
)


@dataclass(frozen=True)
class Missing:
    """A prerequisite this machine lacks, and how many collected tests needed it."""

    prerequisite: Prerequisite
    problem: str
    count: int

    def line(self) -> str:
        """The one line the run prints for it."""
        tests = "test that needs" if self.count == 1 else "tests that need"
        what = self.prerequisite
        return f"{self.count} {tests} {what.title}: {self.problem} ({what.how})"

    def failure(self) -> str:
        """What the failing item says under `SERVICETOKENS_TEST_REQUIRE_ALL`."""
        what = self.prerequisite
        return (
            f"missing {what.title}: {self.problem} ({what.how}); {self.count} selected tests"
            f" need it, and {REQUIRE_ALL_VARIABLE}=1 forbids skipping them"
        )


_MISSING = pytest.StashKey[list[Missing]]()


class MissingPrerequisite(pytest.Item):
    """Stands for the tests of a missing prerequisite when the run must not skip them."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def runtest(self) -> None:
        raise pytest.fail.Exception(self.message, pytrace=False)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"missing prerequisite: {self.name}"


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests whose prerequisites are missing (remembering one line for each);
    under `SERVICETOKENS_TEST_REQUIRE_ALL`, add one failing item per missing prerequisite."""
    missing: list[Missing] = []
    dropped: set[int] = set()
    for prerequisite in PREREQUISITES:
        needing = [i for i, item in enumerate(items) if prerequisite.needed_by(item)]
        if not needing:
            continue  # not looked for: a run of unit tests does not wait on a connect timeout
        problem = prerequisite.problem()
        if problem is not None:
            missing.append(Missing(prerequisite, problem, len(needing)))
            dropped.update(needing)
    config.stash[_MISSING] = missing
    if not dropped:
        return
    config.hook.pytest_deselected(items=[items[i] for i in sorted(dropped)])
    kept = [item for i, item in enumerate(items) if i not in dropped]
    if require_all():
        session = items[0].session
        for gap in missing:
            kept.append(
                MissingPrerequisite.from_parent(
                    session,
                    name=gap.prerequisite.title,
                    nodeid=f"tests/prerequisites.py::{gap.prerequisite.marker}",
                    message=gap.failure(),
                )
            )
    items[:] = kept


def summary(config: pytest.Config) -> list[str]:
    """One line per missing prerequisite: what was skipped and how to enable it. (Under
    `SERVICETOKENS_TEST_REQUIRE_ALL` the failing items say it instead.)

    Under pytest-xdist the workers collect and the controller prints: each worker hands its
    lines over (`hand_over`, `take_over`), and the controller prints each line once."""
    if require_all():
        return []
    lines = [f"SKIPPED {gap.line()}" for gap in config.stash.get(_MISSING, [])]
    lines += config.stash.get(_HANDED_OVER, [])
    return list(dict.fromkeys(lines))


_HANDED_OVER = pytest.StashKey[list[str]]()
WORKER_OUTPUT_KEY = "servicetokens_missing_prerequisites"


def hand_over(config: pytest.Config) -> None:
    """In a pytest-xdist worker: give the controller this worker's summary lines."""
    output: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if output is not None:
        output[WORKER_OUTPUT_KEY] = summary(config)


def take_over(config: pytest.Config, worker_output: dict[str, Any]) -> None:
    """In the pytest-xdist controller: keep a finished worker's summary lines."""
    lines = config.stash.setdefault(_HANDED_OVER, [])
    lines.extend(worker_output.get(WORKER_OUTPUT_KEY, []))
