"""Gate overhead: requests/s and p50/p99 through the gate with checking on vs. off.

    python -m bench.gate   (or: python bench/gate.py)  [--duration 10] [--rounds 3]
                           [--profile DIR]   (one more round per mode under py-spy)

One command starts everything on loopback: an upstream (nginx answering a tiny 200 when
nginx is installed, else a minimal Python ASGI app), two gate processes built the same way
(`GateApp` under uvicorn with the CLI's settings) on one temporary SQLite database, one with
checking and one with checking taken out (`unchecked`: a bench-only subclass; production
settings have no switch for it), then drives each from a separate load process (wrk when
installed, else a Python asyncio/httpx generator) with valid credentials on every request.
The checking client sends its secret every time and ignores cookies, so it is offered
`Set-Cookie` on every answer (`--cookie-client` adds one that sends the cookie back).

Rounds cycle through the modes so drift hits all of them. The gate process is pinned to CPU 0
and the upstream and load generator to the other CPUs (when there are at least two), so the
comparison is of the gate's own CPU cost. Prints one table and the checked/unchecked ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as `python bench/gate.py`: make the database importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import free_port, wait_http
from bench.profile import record

NGINX_UPSTREAM = """
daemon off; master_process off; worker_processes 1; pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p; fastcgi_temp_path {tmp}/f;
    uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s;
    keepalive_requests 1000000;
    server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}
}}
"""


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0
    """CPU time the gate process spent per request (robust on a busy machine)."""


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process so far (Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpus: set[int]) -> None:
    if hasattr(os, "sched_setaffinity") and cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


# -- processes launched by this script -----------------------------------------------------


async def _tiny_upstream(scope: dict[str, object], receive: object, send: object) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok\n"})  # type: ignore[operator]


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(_tiny_upstream, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def serve_gate(
    database: str, account: str, upstream: str, port: int, check: bool, cookie: bool = True
) -> None:
    """The gate exactly as `servicetokens gate` runs it; with `check` off, the same gate
    with its decision taken out (`unchecked`)."""
    import uvicorn

    from servicetokens.bootstrap import build_gate
    from servicetokens.config import Settings
    from servicetokens.gate.settings import GateSettings

    gate = build_gate(
        GateSettings(account_id=account, upstream=upstream, cookie=cookie),
        Settings(database_url=database),
    )
    uvicorn.run(
        gate if check else unchecked(gate),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        proxy_headers=False,  # as the CLI runs it: the gate decides the client itself
        lifespan="on",
    )


def unchecked(gate: Any) -> Any:
    """`gate` (a `GateApp`) with checking taken out, for this benchmark only: the same request
    target resolution, forwarding facts, header filtering and proxy, then straight to the
    upstream with no credential check, no JWT and no background work. Production code has no
    switch for this; it is a subclass that exists here."""
    from servicetokens.gate.app import GateApp

    class UncheckedGate(GateApp):
        async def startup(self) -> None:
            await self.proxy.start()

        async def shutdown(self) -> None:
            await self.proxy.aclose()

        async def _admit(
            self, scope: Any, receive: Any, send: Any, target: str, forwarded: Any
        ) -> None:
            await self.proxy.forward(
                scope, receive, send, target=target, forwarded=forwarded, assertion=None
            )

        def _current(self) -> bool:
            return True

    gate.__class__ = UncheckedGate
    return gate


def load_python(url: str, seconds: float, connections: int, headers: dict[str, str]) -> None:
    """Fallback load generator: `connections` keep-alive clients in one asyncio loop."""

    async def run() -> None:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:
            end = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < end:
                    start = time.perf_counter()
                    try:
                        response = await client.get(url)
                        if response.status_code != 200:
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - start)

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - began
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(f"RESULT {len(latencies) / elapsed:.1f} {p50:.3f} {p99:.3f} {errors}")

    asyncio.run(run())


# -- the driver ---------------------------------------------------------------------------


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def drive(
    url: str, seconds: float, connections: int, headers: dict[str, str], cpus: set[int]
) -> Result:
    wrk = shutil.which("wrk")
    if wrk:
        args = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
        for name, value in headers.items():
            args[1:1] = ["-H", f"{name}: {value}"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        pin(process.pid, cpus)
        out, _ = process.communicate()
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
        return Result(rps, p50, p99, errors)
    here = str(Path(__file__).resolve().parents[1])
    call = (
        f"load_python({url!r}, {seconds!r}, {connections!r}, json.loads({json.dumps(headers)!r}))"
    )
    code = f"import sys, json; sys.path.insert(0, {here!r}); from bench.gate import *; {call}"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pin(process.pid, cpus)
    out, _ = process.communicate()
    rps, p50, p99, errors = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+)", out).groups()  # type: ignore[union-attr]
    return Result(float(rps), float(p50), float(p99), int(errors))


MODES: tuple[str, ...] = ("unchecked", "checked")
"""unchecked: checking off; checked: the secret on every request (a client that ignores
cookies: offered `Set-Cookie` every time). With `--cookie-client`, also checked+cookie: the
secret and the cookie it was offered (not offered again; it carries the JWT inbound instead,
which the gate strips before the upstream, so it is not cheaper)."""


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--python-upstream", action="store_true", help="never use nginx")
    parser.add_argument(
        "--no-cookie",
        action="store_true",
        help="gates as `servicetokens gate --no-cookie` (no CF_Authorization cookie offered)",
    )
    parser.add_argument(
        "--cookie-client",
        action="store_true",
        help="also measure a client that sends back the CF_Authorization cookie",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="after the measured rounds, one more round per mode under py-spy "
        "(collapsed stacks in DIR/<mode>.txt)",
    )
    args = parser.parse_args()

    from servicetokens.bootstrap import build_service
    from servicetokens.config import Settings
    from servicetokens.domain.fields import TokenFields
    from servicetokens.domain.permissions import (
        ContainerKind,
        Grant,
        Permission,
        Principal,
        PrincipalKind,
    )
    from servicetokens.usecases.authorization import ContainerRef

    modes = (*MODES, "checked+cookie") if args.cookie_client else MODES
    load_before = _loadavg()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    gate_cpus = {cpus[0]} if len(cpus) >= 2 else set()
    other_cpus = set(cpus[1:]) if len(cpus) >= 2 else set()

    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    database = f"sqlite:///{tmp / 'bench.db'}"
    service = build_service(Settings(database_url=database))
    account = service.admin.create_account("bench")
    grant = Grant(ContainerKind.ACCOUNT, account, Permission.WRITE)
    principal = Principal(PrincipalKind.API_TOKEN, "bench", (grant,))
    token, secret = service.tokens.create(
        principal, ContainerRef(ContainerKind.ACCOUNT, account, "/"), TokenFields(name="bench")
    )
    service.database.engine.dispose()
    headers = {"CF-Access-Client-Id": token.client_id, "CF-Access-Client-Secret": secret}

    processes: list[subprocess.Popen[bytes]] = []
    here = str(Path(__file__).resolve().parents[1])

    def launch(code: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); {code}"]
        )
        processes.append(process)
        return process

    try:
        upstream_port = free_port()
        nginx = (
            None
            if args.python_upstream
            else shutil.which("nginx")
            or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        )
        if nginx:
            conf = tmp / "nginx.conf"
            conf.write_text(NGINX_UPSTREAM.format(tmp=tmp, port=upstream_port))
            process = subprocess.Popen(
                [nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "nginx-error.log")]
            )
            processes.append(process)
            upstream_kind = "nginx"
        else:
            process = launch(
                f"from bench.gate import serve_upstream; serve_upstream({upstream_port})"
            )
            upstream_kind = "python (uvicorn raw ASGI)"
        pin(process.pid, other_cpus)
        upstream = f"http://127.0.0.1:{upstream_port}"
        wait_http(upstream, process=process)

        gates: dict[str, str] = {}
        pids: dict[str, int] = {}
        for mode, check in (("unchecked", False), ("checked", True)):
            port = free_port()
            process = launch(
                f"from bench.gate import serve_gate; "
                f"serve_gate({database!r}, {account!r}, {upstream!r}, {port}, {check}, "
                f"{not args.no_cookie})"
            )
            pin(process.pid, gate_cpus)
            pids[mode] = process.pid
            gates[mode] = f"http://127.0.0.1:{port}/bench"
            wait_http(gates[mode], process=process)

        probe = httpx.get(gates["checked"], headers=headers)
        assert probe.status_code == 200, probe.text
        assert httpx.get(gates["checked"]).status_code == 401
        sent = {mode: headers for mode in modes}
        if "checked+cookie" in modes:
            # A client that keeps the cookie it is offered sends it back with its secret and
            # is not offered it again: same gate process, other headers.
            jwt = probe.headers["set-cookie"].split(";")[0].removeprefix("CF_Authorization=")
            sent["checked+cookie"] = {**headers, "Cookie": f"CF_Authorization={jwt}"}
            gates["checked+cookie"], pids["checked+cookie"] = gates["checked"], pids["checked"]
            held = httpx.get(gates["checked+cookie"], headers=sent["checked+cookie"])
            assert held.status_code == 200, held.text
            assert "set-cookie" not in held.headers, held.headers
        for mode in modes:  # warm up: connection pools, caches, the JWT
            drive(gates[mode], 2, args.connections, sent[mode], other_cpus)

        results: dict[str, list[Result]] = {mode: [] for mode in modes}
        for _ in range(args.rounds):
            for mode in modes:
                before = cpu_seconds(pids[mode])
                result = drive(gates[mode], args.duration, args.connections, sent[mode], other_cpus)
                spent = cpu_seconds(pids[mode]) - before
                served = result.rps * args.duration
                result = Result(
                    result.rps, result.p50_ms, result.p99_ms, result.errors, spent / served * 1e6
                )
                results[mode].append(result)
                print(
                    f"  {mode:14} {result.rps:9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                    f"p99 {result.p99_ms:6.2f} ms  errors {result.errors}  "
                    f"gate CPU {result.cpu_us:5.0f} us/req",
                    flush=True,
                )
        if args.profile is not None:
            for mode in modes:
                # Non-blocking, Python frames only: the gate under load is not slowed down.
                sampler = record(
                    pids[mode],
                    seconds=max(1, int(args.duration / 2)),
                    out=args.profile / f"{mode}.txt",
                    rate=500,
                    native=False,
                    nonblocking=True,
                )
                drive(gates[mode], args.duration, args.connections, sent[mode], other_cpus)
                sampler.wait(30)
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    def summary(mode: str) -> Result:
        runs = results[mode]
        return Result(
            statistics.median(r.rps for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
            sum(r.errors for r in runs),
            statistics.median(r.cpu_us for r in runs),
        )

    loader = "wrk" if shutil.which("wrk") else "python httpx"
    print(
        f"\nupstream: {upstream_kind}; load: {loader}, {args.connections} connections, "
        f"{args.rounds} x {args.duration:g} s per mode; "
        f"gate pinned to CPU {sorted(gate_cpus) or 'any'}"
    )
    print(f"load average before: {load_before}; after: {_loadavg()}")
    print(f"{'mode':15} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU us/req':>11}")
    for mode in modes:
        r = summary(mode)
        print(
            f"{mode:15} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} {r.cpu_us:11.0f}"
        )
    base = summary("unchecked")
    for mode in modes[1:]:
        ratio = summary(mode).rps / base.rps
        capacity = base.cpu_us / summary(mode).cpu_us
        # Paired: each round's checked run against the unchecked run just before it, so
        # drift in the machine's load between rounds cancels out.
        paired = statistics.median(
            c.rps / u.rps for u, c in zip(results["unchecked"], results[mode], strict=True)
        )
        print(
            f"{mode} / unchecked: throughput {ratio:.3f} (median of per-round ratios "
            f"{paired:.3f}; target >= 0.85), capacity by gate CPU per request {capacity:.3f}"
        )


if __name__ == "__main__":
    main()
