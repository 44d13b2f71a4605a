"""A real PgBouncer in transaction mode, started by the tests in front of the PostgreSQL
server at `SERVICETOKENS_TEST_DATABASE_URL`: its own ini in a temporary directory, on a free
loopback port, `auth_type = any` (every client logs in as the admin URL's user, as trust
authentication does on the server behind it) and `pool_mode = transaction`.

PgBouncer refuses to run as root; as root it is started with `-u nobody` (it reads its ini
before it drops to that user, and runs in the foreground without a pid file)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.harness import free_port

__all__ = ["PgBouncer", "pgbouncer_program", "start_pgbouncer"]

_READY_TIMEOUT_S = 15.0


def pgbouncer_program() -> str | None:
    """`pgbouncer` on PATH, or where Debian installs it (/usr/sbin)."""
    found = shutil.which("pgbouncer")
    if found is not None:
        return found
    return "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None


@dataclass
class PgBouncer:
    """A running PgBouncer: `url(...)` turns a server URL into the same database through it."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the pooler's (user, database
        and options kept)."""
        parts = urlsplit(database_url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_pgbouncer(server_url: str, workdir: Path, *, pool_size: int = 20) -> PgBouncer:
    """PgBouncer in transaction mode in front of the server of `server_url` (any database
    on it), ready to accept connections."""
    program = pgbouncer_program()
    if program is None:
        raise RuntimeError("pgbouncer is not installed")
    server = urlsplit(server_url)
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={server.hostname or '127.0.0.1'} port={server.port or 5432}"
        f" user={server.username or 'postgres'}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = any\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\n"
        "max_client_conn = 500\n"
    )
    log = workdir / "pgbouncer.log"
    argv = [program, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    pooler = PgBouncer(port, process, log)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return pooler
        except OSError:
            if time.monotonic() > deadline:
                pooler.stop()
                raise TimeoutError(f"pgbouncer not listening within {_READY_TIMEOUT_S} s") from None
            time.sleep(0.05)
