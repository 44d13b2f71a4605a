"""The dashboard's list page with 1,000 tokens: server-side render time and page weight.

`python -m bench.dashboard [--tokens 1000] [--requests 200]` seeds an account with that many
tokens and a member with a password (through the use cases), starts `servicetokens serve`
on it exactly as an operator would, signs in through the form, then times sequential GETs
(one connection, as one person's browser) of: `/healthz` (the baseline, in the same run),
the default list page (50 rows of 1,000), the largest page (100 rows), and a search over
all of them. Prints p50/p90/p99 in ms, each p50 as a ratio to the baseline's, and the
bytes of the list page with its CSS and JS (what a first visit loads).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import Server
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

__all__ = ["main", "measure"]

EMAIL = "bench@example.com"
PASSWORD = "a benchmark password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _seed(database: str, tokens: int) -> str:
    service = build_service(Settings(database_url=database, pool_size=4))
    try:
        account = service.admin.create_account("bench")
        service.admin.create_user(EMAIL, account_id=account)
        service.people.set_password(EMAIL, PASSWORD)
        writer = Principal(
            PrincipalKind.OPERATOR,
            "bench",
            (Grant(ContainerKind.ACCOUNT, account, Permission.WRITE),),
        )
        ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
        for i in range(tokens):
            service.tokens.create(writer, ref, TokenFields(name=f"worker-{i:05d}", duration="720h"))
        return account
    finally:
        service.close()


def _times(client: httpx.Client, url: str, requests: int) -> list[float]:
    client.get(url).raise_for_status()  # warm
    spent = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        spent.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return spent


def _quantiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[89], cuts[98]


def measure(*, tokens: int = 1000, requests: int = 200) -> dict[str, object]:
    """Seed, serve, sign in, time; the results as a JSON-ready dictionary."""
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{Path(tmp) / 'dash.db'}"
        account = _seed(database, tokens)
        with (
            Server.api(database, log=Path(tmp) / "serve.log") as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            form = client.get("/sign-in")
            found = _CSRF.search(form.text)
            assert found is not None
            signed = client.post(
                "/sign-in",
                data={"csrf_token": found.group(1), "email": EMAIL, "password": PASSWORD},
            )
            assert signed.status_code == 303, signed.text
            base = f"/accounts/{account}/tokens"
            urls = {
                "healthz (baseline)": "/healthz",
                f"list, 50 of {tokens}": base,
                f"list, 100 of {tokens}": f"{base}?per_page=100",
                f"search over {tokens}": f"{base}?search=worker-0099",
            }
            rows: dict[str, dict[str, float]] = {}
            for label, url in urls.items():
                p50, p90, p99 = _quantiles(_times(client, url, requests))
                rows[label] = {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99}
            baseline = rows["healthz (baseline)"]["p50_ms"]
            for row in rows.values():
                row["p50_vs_baseline"] = row["p50_ms"] / baseline
            page = client.get(base)
            assets = sum(
                len(client.get(f"/static/{name}").content)
                for name in ("dashboard.css", "dashboard.js")
            )
            weight = {
                "list_html_bytes": len(page.content),
                "css_js_bytes": assets,
                "total_bytes": len(page.content) + assets,
            }
    return {"tokens": tokens, "requests": requests, "rows": rows, "weight": weight}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args()
    results = measure(tokens=options.tokens, requests=options.requests)
    if options.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'page':<24} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p50 / baseline':>15}")
    rows = results["rows"]
    assert isinstance(rows, dict)
    for label, row in rows.items():
        print(
            f"{label:<24} {row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['p50_vs_baseline']:>14.1f}x"
        )
    print(f"page weight: {results['weight']}")


if __name__ == "__main__":
    main()
