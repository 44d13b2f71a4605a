"""What the API's metrics middleware costs per request, in-process (no HTTP, no server).

    python -m bench.observe_cost [--requests 200000] [--rounds 5]

A trivial ASGI app (answers 200 with a two-byte body) is called directly, bare and wrapped
in `api.observe.Observe` (metrics on; metrics on with the JSON request log going to a
handler that drops it), on one event loop; the best of `--rounds` rounds is reported, as µs
per request. The scope carries a matched route, as Starlette leaves it, so the route
template lookup runs as it does in the server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

from servicetokens.api.metrics import ApiMetrics
from servicetokens.api.observe import Observe
from servicetokens.domain.histogram import Histogram
from servicetokens.domain.network import TrustedProxies
from servicetokens.json_logs import REQUEST_LOGGER
from servicetokens.store.database import PoolUse


class _Route:
    path = "/client/v4/accounts/{account_id}/access/service_tokens"


class _Health:
    pool_waits = Histogram()

    def pool_use(self) -> PoolUse:
        return PoolUse(10, 0, -10)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


_APP = SimpleNamespace(routes=())


async def _send(_: dict[str, Any]) -> None:
    return None


async def _per_request(app: Any, requests: int) -> float:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/client/v4/accounts/a/access/service_tokens",
        "headers": [(b"host", b"x"), (b"authorization", b"Bearer t")],
        "client": ("127.0.0.1", 5000),
        "app": _APP,
    }
    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), None, _send)
    return (time.perf_counter() - started) / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observe_cost")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    logging.getLogger(REQUEST_LOGGER).addHandler(logging.NullHandler())
    logging.getLogger(REQUEST_LOGGER).propagate = False
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO)
    metrics = ApiMetrics(_Health(), {})  # type: ignore[arg-type]
    apps = {
        "bare": _app,
        "metrics": Observe(_app, metrics=metrics, request_log=False, proxies=TrustedProxies()),
        "metrics + json log": Observe(
            _app, metrics=metrics, request_log=True, proxies=TrustedProxies()
        ),
    }
    best = {
        name: min(asyncio.run(_per_request(app, args.requests)) for _ in range(args.rounds))
        for name, app in apps.items()
    }
    for name, micros in best.items():
        print(f"{name:20s} {micros:6.2f} µs/request  (+{micros - best['bare']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
