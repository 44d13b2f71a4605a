"""A real webhook receiver on loopback for the notification tests: an aiohttp server on its
own thread and event loop that records every request and answers with the status the test
sets (`receiver.status = 503` takes it "down" without closing the port; `stop()` closes it),
with the headers it sets (`receiver.answer_headers = {"Retry-After": "30"}`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from bench.harness import free_port

__all__ = ["Received", "Receiver"]


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """`with Receiver() as receiver:` — POST to `receiver.url`."""

    def __init__(self, *, port: int | None = None, status: int = 200, delay: float = 0) -> None:
        self.port = port or free_port()
        self.status = status
        self.delay = delay
        """Seconds to wait before answering (a slow receiver)."""
        self.redirect_to: str | None = None
        self.answer_headers: dict[str, str] = {}
        """Headers sent with every answer."""
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._arrived:
            self.received.append(Received(request.path, dict(request.headers), body))
            self._arrived.notify_all()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.redirect_to is not None:
            return web.Response(status=302, headers={"Location": self.redirect_to})
        return web.Response(status=self.status, text="ok", headers=self.answer_headers)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        loop.run_until_complete(site.start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def start(self) -> Receiver:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="receiver", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the receiver did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], *, timeout: float = 10.0
    ) -> list[Received]:
        """Block until `predicate(received)` holds (or fail after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; received {len(self.received)} requests")
                self._arrived.wait(left)
            return list(self.received)

    def messages(self) -> list[Received]:
        """Everything received that is not a creation-time test message."""
        with self._lock:
            return [r for r in self.received if b'"alert_type"' in r.body]
