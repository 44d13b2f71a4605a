"""Live servers for the benchmark and the tests: free ports, readiness, and the real CLI.

One place for what both need: `free_port`, `wait_http` (poll a URL with a deadline, failing
early when the server process has died), `Server` (a command in its own process group,
ready once a URL answers, stopped with SIGTERM then SIGKILL), `Server.api` / `Server.gate`
(`servicetokens --database URL serve|gate ... --port P` exactly as an operator starts
them), and `ServerThread` (an ASGI app under a real uvicorn in a thread of this process).

It lives in `bench/` because the benchmark must not import the tests, while the tests may
import the benchmark (as `tests/bench` does); it imports only the standard library, httpx
and (lazily) uvicorn, never `servicetokens`, so the tests' subprocesses run the code under
test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = ["CLI", "GATE_READY_PATH", "Server", "ServerThread", "free_port", "wait_http"]

CLI = str(Path(sys.executable).parent / "servicetokens")
"""The `servicetokens` console script of the interpreter running this code."""

GATE_READY_PATH = "/cdn-cgi/servicetokens/health"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _not_a_server_error(status: int) -> bool:
    return status < 500


def wait_http(
    url: str,
    *,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    ready: Callable[[int], bool] = _not_a_server_error,
    log: Path | None = None,
) -> None:
    """Poll `url` until it answers with a status `ready` accepts (by default, below 500).

    Raises RuntimeError when `process` (the server behind the URL) exits first, TimeoutError
    when `timeout` seconds pass; both quote the tail of `log` when given.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"exited with {process.returncode} before {url} answered{_tail(log)}"
            )
        try:
            if ready(httpx.get(url, timeout=1.0).status_code):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready within {timeout:g} s{_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path | None, size: int = 4000) -> str:
    if log is None or not log.exists():
        return ""
    return f"; log {log}:\n" + log.read_text(errors="replace")[-size:]


class Server:
    """A command started in its own process group, ready once `url + ready_path` answers.

    Starts on `start()` (or entering the `with` block); output goes to `log` (appended);
    `env` is the child's whole environment (None: this process's). `stop()` sends SIGTERM to
    the group (the graceful path the tests check) and SIGKILL after 15 s.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        url: str,
        ready_path: str,
        log: Path,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        ready: Callable[[int], bool] = _not_a_server_error,
    ) -> None:
        self.argv = list(argv)
        self.url = url
        """Base URL, e.g. `http://127.0.0.1:8787`."""
        self.port = int(url.rsplit(":", 1)[1])
        self.ready_url = url + ready_path
        self.log = log
        self.env = dict(env) if env is not None else None
        self.timeout = timeout
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def cli(
        cls,
        database: str,
        command: Sequence[str],
        *,
        log: Path,
        ready_path: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        ready: Callable[[int], bool] = _not_a_server_error,
    ) -> Server:
        """`servicetokens --database URL <command...> --port P` on a free port (not started).

        `--database` is a global option, so it comes before the command."""
        port = free_port()
        argv = [CLI, "--database", database, *command, "--port", str(port)]
        return cls(
            argv,
            url=f"http://127.0.0.1:{port}",
            ready_path=ready_path,
            log=log,
            env=env,
            timeout=timeout,
            ready=ready,
        )

    @classmethod
    def api(cls, database: str, *, log: Path, extra: Sequence[str] = (), **options: Any) -> Server:
        """A started `servicetokens serve`, ready once `/healthz` answers."""
        return cls.cli(
            database, ["serve", *extra], log=log, ready_path="/healthz", **options
        ).start()

    @classmethod
    def gate(
        cls,
        database: str,
        *,
        account: str,
        upstream: str | None = None,
        log: Path,
        routes: Sequence[str] = (),
        extra: Sequence[str] = (),
        **options: Any,
    ) -> Server:
        """A started `servicetokens gate`, ready once its health path answers: in front of
        `upstream`, or (without one) serving the account's applications with `routes`
        (`HOST=URL` each)."""
        command = ["gate", "--account", account]
        command += ["--upstream", upstream] if upstream is not None else []
        for route in routes:
            command += ["--route", route]
        command += extra
        return cls.cli(database, command, log=log, ready_path=GATE_READY_PATH, **options).start()

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> Server:
        """Start the command and wait until it is ready (stopping it if it never is)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
            )
        try:
            wait_http(
                self.ready_url,
                timeout=self.timeout,
                process=self.process,
                ready=self.ready,
                log=self.log,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """SIGTERM to the server's process group, SIGKILL after 15 s; the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Server:
        return self if self.process is not None else self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerThread:
    """An ASGI app under a real uvicorn on a free port, in a thread of this process."""

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options: dict[str, Any] = {
            "lifespan": "on",
            "log_level": "warning",
            "access_log": False,
            "date_header": False,
            "proxy_headers": False,  # as the CLI runs the gate: it decides the client itself
            **config,
        }
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, **options)
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self._thread.join(15)
