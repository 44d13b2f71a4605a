"""Instructions per request through the gate, counted by valgrind: what wrk cannot tell apart
on a shared 2-CPU machine (a few µs in ~100) is a count here.

    python -m bench.gate_instructions   [--requests 4480] [--apps 1000] [--policies-per-app 10]
                                        [--modes unchecked,checked,apps-1,apps-N]

One command (needs valgrind and nginx): the worlds of `bench/gate_apps.py` (an account with
1 application, one with `--apps` applications of `--policies-per-app` policies) in a
temporary SQLite database, and an nginx upstream. For each mode the gate is built as
`servicetokens gate` builds it (`unchecked` is bench/gate.py's subclass, `checked` the
single-upstream form with `--no-cookie`, `apps-1` / `apps-N` the application gates) with
its background threads and its aiohttp client to nginx, and driven in process through ASGI,
32 requests at a time on its event loop, each the request bench/gate_apps.py sends to every
mode but the spread one (`Host: app0.example.com`, `/index.html?x=1`, the bench token's id
and secret). Under `valgrind --tool=callgrind --separate-threads=yes`, twice: 320 requests,
then 320 + `--requests`; the difference of the event-loop thread's instruction counts over
`--requests` is what one request costs that thread. Not counted: uvicorn's parsing and the
kernel's sockets (the same in every mode) and the background threads (the change feed and
configuration polls, last_seen writes: time-driven, so they would be counted by how slowly
valgrind runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/gate_instructions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gate import NGINX_UPSTREAM
from bench.harness import free_port, wait_http

__all__ = ["MODES", "main"]

MODES = ("unchecked", "checked", "apps-1", "apps-N")
_WARM = 320
_CONCURRENCY = 32


def _scope(world: dict[str, Any]) -> dict[str, Any]:
    host, target = world["targets"][0]
    path, _, query = target.partition("?")
    headers = [
        (b"host", host.encode()),
        (b"cf-access-client-id", world["client_id"].encode()),
        (b"cf-access-client-secret", world["secret"].encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _drive(gate: Any, scope: dict[str, Any], requests: int) -> None:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def client(count: int) -> None:
        for _ in range(count):
            await gate(dict(scope, headers=list(scope["headers"])), receive, send)

    await asyncio.gather(*(client(requests // _CONCURRENCY) for _ in range(_CONCURRENCY)))
    if len(statuses) != requests or any(status != 200 for status in statuses):
        raise SystemExit(f"the gate answered {sorted(set(statuses))}, not only 200")


def child(mode: str, requests: int, database: str, worlds: str, upstream: str) -> None:
    """One run: build the mode's gate, drive `_WARM` then `requests` requests, stop."""
    import uvloop

    from bench.gate import unchecked
    from servicetokens.bootstrap import build_gate
    from servicetokens.config import Settings
    from servicetokens.gate.settings import GateSettings

    world = json.loads(Path(worlds).read_text())["many" if mode == "apps-N" else "one"]
    if mode in ("unchecked", "checked"):
        settings = GateSettings(account_id=world["account"], upstream=upstream, cookie=False)
    else:
        settings = GateSettings(account_id=world["account"], routes=tuple(world["routes"]))
    gate = build_gate(settings, Settings(database_url=database))
    if mode == "unchecked":
        gate = unchecked(gate)

    async def run() -> None:
        await gate.startup()
        try:
            await _drive(gate, _scope(world), _WARM)
            await _drive(gate, _scope(world), requests)
        finally:
            await gate.shutdown()

    uvloop.run(run())


def _count(mode: str, requests: int, args: list[str], out: Path) -> int:
    """Instructions of the event-loop thread over a whole child run of `requests`."""
    command = [sys.executable, "-m", "bench.gate_instructions", "--child", mode, str(requests)]
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            *command,
            *args,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],
    )
    main_thread = out.with_name(out.name + "-01")
    for line in main_thread.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {main_thread}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the table, return instructions per request by mode."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4480, help="a multiple of 32")
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--policies-per-app", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", nargs=2, metavar=("MODE", "REQUESTS"), help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs=3, metavar=("DB", "WORLDS", "UPSTREAM"), help="(internal)")
    args = parser.parse_args(argv)
    requests = args.requests // _CONCURRENCY * _CONCURRENCY
    if args.child:
        child(args.child[0], int(args.child[1]), *args.run)
        return {}
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if shutil.which("valgrind") is None or not Path(nginx).exists():
        raise SystemExit("bench.gate_instructions needs valgrind and nginx")

    from bench.apps_world import build_world
    from servicetokens.bootstrap import build_use_cases
    from servicetokens.store.database import Database
    from servicetokens.store.engine import make_engine
    from servicetokens.store.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-instructions-"))
    database = f"sqlite:///{tmp / 'bench.db'}"
    nginx_process = None
    try:
        port = free_port()
        upstream = f"http://127.0.0.1:{port}"
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_UPSTREAM.format(tmp=tmp, port=port))
        nginx_process = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "e.log")]
        )
        wait_http(upstream)
        engine = make_engine(database, pool_size=2)
        upgrade(engine)
        service = build_use_cases(Database(engine), max_applications=max(args.apps, 500))
        worlds = {}
        for name, apps in (("one", 1), ("many", args.apps)):
            world = build_world(service, name, apps, args.policies_per_app, upstream)
            worlds[name] = {
                "account": world.account,
                "client_id": world.client_id,
                "secret": world.secret,
                "targets": world.targets,
                "routes": world.routes,
            }
        engine.dispose()
        (tmp / "worlds.json").write_text(json.dumps(worlds))
        run = ["--run", database, str(tmp / "worlds.json"), upstream]
        # Outside valgrind first: the key-encryption key and signing keys are made once.
        subprocess.run(
            [sys.executable, "-m", "bench.gate_instructions", "--child", "apps-1", "32", *run],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        figures: dict[str, float] = {}
        print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for mode in args.modes.split(","):
            short = _count(mode, 0, run, tmp / f"{mode}-short.out")
            long = _count(mode, requests, run, tmp / f"{mode}-long.out")
            figures[mode] = (long - short) / requests
            print(f"  {mode:10} {figures[mode]:10,.0f} instructions per request", flush=True)
    finally:
        if nginx_process is not None:
            nginx_process.terminate()
            nginx_process.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    base = figures.get("unchecked")
    print(f"\n{requests} requests per mode (after {_WARM}), event-loop thread, callgrind")
    print("| mode | instructions per request | over unchecked |\n|---|---:|---:|")
    for mode, value in figures.items():
        over = f"{value / base - 1:+.1%}" if base else ""
        print(f"| {mode} | {value:,.0f} | {over} |")
    return figures


if __name__ == "__main__":
    main()
