"""HTTP load from a second process: wrk (with a generated Lua script), else a Python fallback.

A `Load` names one request shape: method, a list of paths cycled through (each wrk thread
starts at a different place), fixed headers, an optional body, and optionally one header
whose value is cycled through a list too (client ids for the gate). Results carry requests/s,
latency percentiles and the count of non-2xx/3xx answers and socket errors.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["Load", "LoadResult", "have_wrk", "run_load"]

_RESULT = re.compile(r"^BENCH-RESULT (.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Load:
    """One request shape to drive."""

    method: str
    paths: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    cycle_header: str | None = None
    """A header whose value is taken from `cycle_values` (cycled independently of the paths)."""
    cycle_values: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load run measured."""

    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    bad_status: int
    """Answers that were not 2xx/3xx."""
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    """Whether the `wrk` binary is on PATH."""
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %d %d %.1f %.1f %.1f %.1f %d %d\\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

_CYCLE = """
local function load_lines(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = line end
  return t
end
local paths = load_lines(%(paths)s)
local values = %(values)s
local headers = %(headers)s
local body = %(body)s
local n = #paths
local i = 0
local j = 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  i = ((tid or 1) * 7919) %% n
  j = (tid or 1) * 7919
end
function request()
  i = i %% n + 1
  if values then
    j = j + 1
    headers[%(cycle_header)s] = values[j %% #values + 1]
  end
  return wrk.format(%(method)s, paths[i], headers, body)
end
"""


def _lua(load: Load, workdir: Path) -> str:
    headers = (
        "{"
        + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in load.headers.items())
        + "}"
    )
    body = "nil" if load.body is None else _lua_string(load.body.decode())
    if len(load.paths) == 1 and load.cycle_header is None:
        static = [
            f"wrk.method = {_lua_string(load.method)}",
            f"wrk.path = {_lua_string(load.paths[0])}",
            f"wrk.headers = {headers}",
        ]
        if load.body is not None:
            static.append(f"wrk.body = {body}")
        return "\n".join(static) + "\n" + _DONE
    paths_file = workdir / "paths.txt"
    paths_file.write_text("\n".join(load.paths) + "\n")
    values = "nil"
    if load.cycle_header is not None:
        values_file = workdir / "values.txt"
        values_file.write_text("\n".join(load.cycle_values) + "\n")
        values = f"load_lines({_lua_string(str(values_file))})"
    return (
        _CYCLE
        % {
            "paths": _lua_string(str(paths_file)),
            "values": values,
            "headers": headers,
            "body": body,
            "cycle_header": _lua_string(load.cycle_header or ""),
            "method": _lua_string(load.method),
        }
        + _DONE
    )


def _run_wrk(url: str, load: Load, *, seconds: float, threads: int, connections: int) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(_lua(load, Path(tmp)))
        completed = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
    found = _RESULT.search(completed.stdout)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}): {completed.stderr}{completed.stdout}"
        )
    requests, micros, p50, p99, mean, peak, bad, sockets = found.group(1).split()
    return LoadResult(
        tool="wrk",
        requests=int(requests),
        seconds=int(micros) / 1e6,
        p50_ms=float(p50) / 1000,
        p99_ms=float(p99) / 1000,
        mean_ms=float(mean) / 1000,
        max_ms=float(peak) / 1000,
        bad_status=int(bad),
        socket_errors=int(sockets),
    )


async def _python_load(url: str, load: Load, *, seconds: float, connections: int) -> LoadResult:
    latencies: list[float] = []
    bad = errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async def worker(offset: int, client: httpx.AsyncClient) -> None:
        nonlocal bad, errors
        i = offset
        while time.perf_counter() < deadline:
            i += 1
            headers = dict(load.headers)
            if load.cycle_header is not None:
                headers[load.cycle_header] = load.cycle_values[i % len(load.cycle_values)]
            began = time.perf_counter()
            try:
                answer = await client.request(
                    load.method, load.paths[i % len(load.paths)], headers=headers, content=load.body
                )
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
            if answer.status_code >= 400:
                bad += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        await asyncio.gather(*(worker(n * 7919, client) for n in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pick(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
        )

    return LoadResult(
        tool="python",
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=pick(0.50),
        p99_ms=pick(0.99),
        mean_ms=sum(latencies) / len(latencies) * 1000 if latencies else 0.0,
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
        bad_status=bad,
        socket_errors=errors,
    )


def run_load(
    url: str, load: Load, *, seconds: float, threads: int = 2, connections: int = 32
) -> LoadResult:
    """Drive `load` against the server at base `url` for `seconds`; wrk when available."""
    if have_wrk():
        return _run_wrk(url, load, seconds=seconds, threads=threads, connections=connections)
    return asyncio.run(_python_load(url, load, seconds=seconds, connections=connections))
