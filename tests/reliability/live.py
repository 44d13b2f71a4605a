"""Real servers for the reliability suites: `servicetokens serve` / `servicetokens gate` as
subprocesses on free ports, the CLI for set-up, and process memory readings."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Server", "cli_json", "free_port", "raw_exchange", "rss_bytes"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_json(database: str, *args: str) -> dict[str, Any]:
    """Run a `servicetokens` command with `--json` and decode its output."""
    out = subprocess.run(
        [sys.executable, "-m", "servicetokens", "--database", database, *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Server:
    """A `servicetokens` CLI server in its own process group, stopped with SIGTERM."""

    def __init__(
        self,
        database: str,
        command: list[str],
        *,
        log: Path,
        ready_path: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "servicetokens",
                "--database",
                database,
                *command,
                "--port",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self._wait_ready(ready_path)

    @classmethod
    def api(cls, database: str, tmp: Path, **kw: Any) -> Server:
        return cls(database, ["serve"], log=tmp / "api.log", ready_path="/healthz", **kw)

    @classmethod
    def gate(cls, database: str, tmp: Path, account: str, *extra: str, **kw: Any) -> Server:
        command = ["gate", "--account", account, *extra]
        if "--upstream" not in extra:
            command += ["--upstream", "http://127.0.0.1:9"]  # discard port: never reached
        ready = "/cdn-cgi/servicetokens/health"
        return cls(database, command, log=tmp / "gate.log", ready_path=ready, **kw)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                httpx.get(f"{self.url}{path}", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def raw_exchange(port: int, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes and read the whole answer (until the server closes or times out)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
