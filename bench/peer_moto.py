"""The peer: moto's server answering Secrets Manager `ListSecrets` over N secrets.

moto (PyPI `moto[server]`, the `bench` extra) is started as `moto_server -p PORT`, seeded with
N secrets through `CreateSecret` (its only way in: one at a time, and each create scans every
stored secret, so seeding is quadratic: 10^3 takes ~4 s, 10^5 would take hours), and
driven with the same load tool. moto does not verify SigV4 signatures, so a well-formed static
`Authorization` header is enough; one answer per scenario is checked to be a real list.

Secret names follow the service tokens' naming: `svc-000042-0` ... `svc-000042-9` share the
prefix `svc-000042`, so the name filter matches ten secrets, like the `name` scenario.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from bench.harness import Server, free_port
from bench.load import Load, LoadResult, run_load
from bench.seed import NAME_GROUP, name_for
from bench.server import RssSampler

__all__ = ["MOTO_SCENARIOS", "moto_available", "run_moto"]

_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Date": "20240101T000000Z",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/secretsmanager/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64
    ),
}

MOTO_SCENARIOS = {
    "moto-list-20": {"MaxResults": 20},
    "moto-list-name": {"MaxResults": 20, "Filters": [{"Key": "name", "Values": ["svc-000042"]}]},
}
"""Scenario name → ListSecrets body. Each maps to our `list-20` / `list-name` row."""

_EXPECTED = {"moto-list-20": 20, "moto-list-name": NAME_GROUP}


def _moto_server() -> str | None:
    local = Path(sys.executable).parent / "moto_server"
    return str(local) if local.exists() else shutil.which("moto_server")


def moto_available() -> bool:
    """Whether `moto_server` is installed (`pip install -e '.[bench]'`)."""
    return _moto_server() is not None


def _headers(target: str) -> dict[str, str]:
    return {**_HEADERS, "X-Amz-Target": f"secretsmanager.{target}"}


def _seed(url: str, count: int) -> None:
    # One at a time: moto's secret store is not safe for concurrent CreateSecret (it raises
    # "dictionary changed size during iteration"), and each create scans every stored secret.
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(count):
            body = {"Name": f"{name_for(i)}-{i % NAME_GROUP}", "SecretString": "x" * 64}
            answer = client.post("/", headers=_headers("CreateSecret"), content=orjson.dumps(body))
            answer.raise_for_status()


def _check(url: str, scenario: str) -> None:
    body = orjson.dumps(MOTO_SCENARIOS[scenario])
    answer = httpx.post(url + "/", headers=_headers("ListSecrets"), content=body, timeout=60)
    secrets = orjson.loads(answer.content).get("SecretList")
    if (
        answer.status_code != 200
        or not isinstance(secrets, list)
        or len(secrets) != _EXPECTED[scenario]
    ):
        raise RuntimeError(f"moto {scenario}: unexpected answer {answer.text[:300]}")


def run_moto(
    count: int, *, seconds: float, workdir: Path, log: Callable[[str], None]
) -> dict[str, tuple[LoadResult, float, float]]:
    """Seed moto with `count` secrets and drive each ListSecrets scenario.

    Returns scenario → (result, peak RSS and PSS in MB of moto's process tree).
    """
    binary = _moto_server()
    assert binary is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results: dict[str, tuple[LoadResult, float, float]] = {}
    argv = [binary, "-p", str(port)]
    with Server(argv, url=url, ready_path="/moto-api/", log=workdir / "moto.log") as server:
        began = time.perf_counter()
        _seed(url, count)
        log(f"moto: seeded {count} secrets in {time.perf_counter() - began:.1f}s")
        for scenario, request in MOTO_SCENARIOS.items():
            _check(url, scenario)
            load = Load("POST", ["/"], _headers("ListSecrets"), orjson.dumps(request))
            run_load(url, load, seconds=1)
            with RssSampler(server.pid) as rss:
                result = run_load(url, load, seconds=seconds)
            results[scenario] = (result, rss.peak_mb, rss.peak_pss_mb)
            log(f"moto {scenario} @{count}: {result.rps:.0f} rps p50 {result.p50_ms:.1f} ms")
    return results
