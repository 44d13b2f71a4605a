"""Gate throughput serving Access applications: 1 application vs 1,000 applications holding
10,000 policies, against the unchecked proxy.

    python -m bench.gate_apps   [--duration 10] [--rounds 3] [--apps 1000]
                                [--policies-per-app 10] [--in-process 20000]

One command: a temporary SQLite database with two accounts made through the control plane's
use cases (as the API makes them): one with 1 application, one with `--apps` applications,
each application with `--policies-per-app` inline policies, and a strict organization each.
Each application's policies are the bad case `bench/enforcement.py` uses: Service Auth and
Bypass policies that do not admit the bench token (other tokens, an `ip` range the client is
outside of, an `exclude` that refuses it) run before the one that admits it (which also
checks a `require`), Allow and Block policies behind. Hosts are 70 % exact names, 20 % path
applications on 37 shared hosts, 10 % wildcard subdomains (`--route` per wildcard zone, and
`*.example.com` for the rest).

Gate processes, built as `servicetokens gate` builds them and pinned to CPU 0 (upstream nginx
and wrk on the others): `unchecked` (bench/gate.py's subclass: the same proxy with checking
taken out), `checked` (the single-upstream form, `--no-cookie`, for reference), `apps-1` and
`apps-N` (`--account ... --route ...`). Modes (alternating per round): the four, with
`apps-N` driven twice: every request to one application (`apps-N-one`), and requests cycling
through every application (`apps-N-spread`, a wrk Lua script setting `Host` and path), which
is compared with the unchecked gate driven by the same script (`unchecked-spread`: the
script costs wrk time). The other modes all send the same request (the first application's
`Host`, path and query, `/index.html?x=1`), so the unchecked proxy forwards what the
application gates forward. Before timing, every application is asked once and must admit
with its own JWT.

Then, in this process: µs per decision (`AccessDecider.decide` on a cached token, and the
single-upstream `Verifier.decide` beside it), no HTTP.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/gate_apps.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.apps_world import build_world, check_world, in_process, lua_script
from bench.gate import NGINX_UPSTREAM, Result, cpu_seconds, drive, pin
from bench.harness import free_port, wait_http

__all__ = ["MODES", "main", "report"]


MODES = ("unchecked", "checked", "apps-1", "apps-N-one", "unchecked-spread", "apps-N-spread")
BASELINE = {"apps-N-spread": "unchecked-spread"}
"""The unchecked run each mode is compared with (default `unchecked`): the same load script,
so the load generator's own cost cancels out."""


def _launch(
    here: str, code: str, processes: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); {code}"]
    )
    processes.append(process)
    return process


def _machine() -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; load average {load}"
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the tables, return the median req/s per mode and the
    in-process µs per decision."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--policies-per-app", type=int, default=10)
    parser.add_argument("--in-process", type=int, default=20_000, help="decisions per round")
    parser.add_argument(
        "--no-cookie",
        action="store_true",
        help="application gates as `servicetokens gate --no-cookie` (no CF_Authorization offered)",
    )
    args = parser.parse_args(argv)
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None or shutil.which("wrk") is None:
        raise SystemExit("bench.gate_apps needs nginx (the upstream) and wrk (the load)")

    from servicetokens.bootstrap import build_use_cases
    from servicetokens.store.database import Database
    from servicetokens.store.engine import make_engine
    from servicetokens.store.migrate import upgrade

    print(f"machine: {_machine()}")
    print(f"command: python -m bench.gate_apps {' '.join(sys.argv[1:] if argv is None else argv)}")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    gate_cpus = {cpus[0]} if len(cpus) >= 2 else set()
    other_cpus = set(cpus[1:]) if len(cpus) >= 2 else set()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-apps-"))
    database = f"sqlite:///{tmp / 'bench.db'}"
    here = str(Path(__file__).resolve().parents[1])
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, list[Result]] = {mode: [] for mode in MODES}
    try:
        upstream_port = free_port()
        upstream = f"http://127.0.0.1:{upstream_port}"
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_UPSTREAM.format(tmp=tmp, port=upstream_port))
        process = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "e.log")]
        )
        processes.append(process)
        pin(process.pid, other_cpus)
        wait_http(upstream, process=process)

        engine = make_engine(database, pool_size=2)
        upgrade(engine)
        service = build_use_cases(Database(engine), max_applications=max(args.apps, 500))
        started = time.monotonic()
        small = build_world(service, "one", 1, args.policies_per_app, upstream)
        large = build_world(service, "many", args.apps, args.policies_per_app, upstream)
        engine.dispose()
        print(f"seeded {args.apps + 1} applications in {time.monotonic() - started:.1f} s")
        script = lua_script(tmp / "spread.lua", large)

        gates: dict[str, str] = {}
        pids: dict[str, int] = {}
        launches = {
            "unchecked": f"from bench.gate import serve_gate; serve_gate({database!r}, "
            f"{small.account!r}, {upstream!r}, {{port}}, False, False)",
            "checked": f"from bench.gate import serve_gate; serve_gate({database!r}, "
            f"{small.account!r}, {upstream!r}, {{port}}, True, False)",
            "apps-1": f"from bench.apps_world import serve_app_gate; serve_app_gate({database!r}, "
            f"{small.account!r}, {small.routes!r}, {{port}}, {not args.no_cookie!r})",
            "apps-N": f"from bench.apps_world import serve_app_gate; serve_app_gate({database!r}, "
            f"{large.account!r}, {large.routes!r}, {{port}}, {not args.no_cookie!r})",
        }
        for name, code in launches.items():
            port = free_port()
            process = _launch(here, code.format(port=port), processes)
            pin(process.pid, gate_cpus)
            pids[name] = process.pid
            gates[name] = f"http://127.0.0.1:{port}"
            wait_http(gates[name] + "/cdn-cgi/servicetokens/health", process=process, timeout=120)
        check_world(gates["apps-1"], small)
        check_world(gates["apps-N"], large)
        host, path = small.targets[0]
        one = {"Host": host, **small.headers}  # every single-request mode sends this request
        plan = {
            "unchecked": (gates["unchecked"] + path, one, None, "unchecked"),
            "checked": (gates["checked"] + path, one, None, "checked"),
            "apps-1": (gates["apps-1"] + path, one, None, "apps-1"),
            "apps-N-one": (
                gates["apps-N"] + large.targets[0][1],
                {"Host": large.targets[0][0], **large.headers},
                None,
                "apps-N",
            ),
            "unchecked-spread": (gates["unchecked"], {}, script, "unchecked"),
            "apps-N-spread": (gates["apps-N"], {}, script, "apps-N"),
        }
        for mode in MODES:  # warm up
            url, headers, lua, _gate = plan[mode]
            drive(url, 2, args.connections, headers, other_cpus, lua)
        for _ in range(args.rounds):
            for mode in MODES:
                url, headers, lua, gate = plan[mode]
                before = cpu_seconds(pids[gate])
                result = drive(url, args.duration, args.connections, headers, other_cpus, lua)
                spent = cpu_seconds(pids[gate]) - before
                cpu_us = spent / (result.rps * args.duration) * 1e6
                result = Result(result.rps, result.p50_ms, result.p99_ms, result.errors, cpu_us)
                results[mode].append(result)
                print(
                    f"  {mode:14} {result.rps:9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                    f"p99 {result.p99_ms:6.2f} ms  errors {result.errors}  "
                    f"gate CPU {result.cpu_us:5.0f} us/req",
                    flush=True,
                )
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    decisions = in_process(database, {"1 app": small, f"{args.apps} apps": large}, args.in_process)
    shutil.rmtree(tmp, ignore_errors=True)
    return report(results, decisions, args)


def report(
    results: dict[str, list[Result]], decisions: dict[str, float], args: argparse.Namespace
) -> dict[str, float]:
    """Print the tables (markdown) and return the figures."""
    policies = args.apps * args.policies_per_app
    print(f"\nmachine after: {_machine()}")
    print(
        f"{args.apps} apps / {policies} policies; wrk, {args.connections} connections, "
        f"{args.rounds} x {args.duration:g} s per mode; gate pinned to one CPU"
    )
    cookie = "no CF_Authorization cookie" if args.no_cookie else "CF_Authorization offered"
    print(f"application gates: {cookie}; checked: --no-cookie")
    print(
        "| mode | req/s (median) | p50 ms | p99 ms | CPU µs/req | / its unchecked (per round) "
        "| by CPU µs/req (per round) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    figures: dict[str, float] = {}
    for mode in MODES:
        runs = results[mode]
        base = results[BASELINE.get(mode, "unchecked")]
        rps = statistics.median(r.rps for r in runs)
        paired = statistics.median(r.rps / u.rps for u, r in zip(base, runs, strict=True))
        by_cpu = statistics.median(
            u.cpu_us / r.cpu_us for u, r in zip(base, runs, strict=True) if r.cpu_us
        )
        figures[mode] = rps
        print(
            f"| {mode} | {rps:.0f} | {statistics.median(r.p50_ms for r in runs):.2f} | "
            f"{statistics.median(r.p99_ms for r in runs):.2f} | "
            f"{statistics.median(r.cpu_us for r in runs):.0f} | {paired:.3f} | {by_cpu:.3f} |"
        )
    print("\n| in process | µs per decision (best of 5) |\n|---|---:|")
    for name, micros in decisions.items():
        figures[f"in-process {name}"] = micros
        print(f"| {name} | {micros:.2f} |")
    return figures


if __name__ == "__main__":
    main()
