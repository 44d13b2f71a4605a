"""Helpers for the reliability suites: the CLI for set-up, raw HTTP exchanges, and process
memory readings. The servers themselves are `bench.harness.Server.api` / `.gate`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["NO_UPSTREAM", "cli_json", "raw_exchange", "rss_bytes"]

NO_UPSTREAM = "http://127.0.0.1:9"  # the discard port: for gates whose upstream is never reached


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
