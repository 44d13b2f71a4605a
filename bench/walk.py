"""A walk of a whole large account, page by page, as the official SDKs auto-paginate.

    python -m bench.walk --tokens 1000000 --engine postgresql [--per-page 1000] [--workers 2]
    python -m bench.walk --database URL --account ID --api-token T   # an existing database

Seeds `--tokens` tokens in one account (bench/seed.py), starts `servicetokens serve`, then:

1. page 1, cold: `--reference` reads of page 1, each with a page size not asked before
   (per_page - 1, - 2, ...: no memoised answer), whose median is the reference latency;
2. the walk: pages 1, 2, 3, ... at `per_page` until a page comes back empty, one request at
   a time, every latency recorded; every token must be seen exactly once;
3. cold jumps: a page at a few depths asked by a caller with no previous page there (a
   second API token, and `per_page - 1` so that no page the walk left memoised answers),
   which the server reads by OFFSET: what every page of a walk cost before page N+1
   continued from page N.

Prints one table: the walk's total seconds, its pages' p50 / p99 / max latency, each as a
multiple of the page-1 reference, how many pages took more than twice the reference, and
the jumps' latencies.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

if not __package__:  # run as `python bench/walk.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Server
from bench.run import database, log
from bench.seed import seed

__all__ = ["Walk", "main", "walk"]


@dataclass(frozen=True, slots=True)
class Walk:
    """What one walk measured (milliseconds)."""

    tokens: int
    pages: int
    seconds: float
    reference_ms: float
    page_ms: list[float]
    jumps_ms: dict[int, float]

    @property
    def over_twice(self) -> int:
        return sum(1 for ms in self.page_ms if ms > 2 * self.reference_ms)

    def row(self, label: str) -> str:
        cut = sorted(self.page_ms)
        p50 = statistics.median(cut)
        p99 = cut[min(len(cut) - 1, int(len(cut) * 0.99))]
        ref = self.reference_ms
        jumps = ", ".join(f"page {page:,}: {ms:,.0f} ms" for page, ms in self.jumps_ms.items())
        return (
            f"| {label} | {self.tokens:,} | {self.pages:,} | {self.seconds:.1f} | {ref:.1f} | "
            f"{p50:.1f} ({p50 / ref:.2f}×) | {p99:.1f} ({p99 / ref:.2f}×) | "
            f"{cut[-1]:.1f} ({cut[-1] / ref:.2f}×) | {self.over_twice} | {jumps} |"
        )


HEADER = (
    "| engine | tokens | pages | walk s | page 1 cold ms (ref) | page p50 ms | page p99 ms | "
    "page max ms | pages > 2× ref | cold jumps (OFFSET) |\n" + "|---" * 10 + "|"
)


def _get(http: httpx.Client, url: str, params: dict[str, int]) -> tuple[list[str], float]:
    began = time.perf_counter()
    answer = http.get(url, params=params)
    elapsed = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{answer.status_code}: {answer.text[:200]}")
    return [token["id"] for token in orjson.loads(answer.content)["result"]], elapsed


def walk(
    base_url: str,
    account_id: str,
    token: str,
    *,
    jump_token: str,
    per_page: int,
    expected: int,
    reference: int = 7,
    jumps: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0),
) -> Walk:
    """Measure one walk of the account's list on a running server (see the module)."""
    url = f"{base_url}/client/v4/accounts/{account_id}/access/service_tokens"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600) as http:
        cold = [_get(http, url, {"per_page": per_page - 1 - i})[1] for i in range(reference)]
        seen: set[str] = set()
        latencies: list[float] = []
        began = time.perf_counter()
        page = 1
        while True:
            ids, ms = _get(http, url, {"page": page, "per_page": per_page})
            if not ids:
                break
            latencies.append(ms)
            before = len(seen)
            seen.update(ids)
            if len(seen) != before + len(ids):
                raise RuntimeError(f"page {page} repeated a token")
            page += 1
        seconds = time.perf_counter() - began
    if len(seen) != expected:
        raise RuntimeError(f"the walk saw {len(seen):,} tokens, not {expected:,}")
    last = -(-expected // per_page)
    jumped: dict[int, float] = {}
    headers = {"Authorization": f"Bearer {jump_token}"}
    with httpx.Client(headers=headers, timeout=600) as http:
        for share in jumps:
            number = max(2, round(last * share))
            # One fewer per page than the walk: not a page the walk left memoised.
            params = {"page": number, "per_page": per_page - 1}
            jumped[number] = _get(http, url, params)[1]
    return Walk(expected, len(latencies), seconds, statistics.median(cold), latencies, jumped)


def _second_token(database_url: str, account_id: str) -> str:
    from servicetokens.bootstrap import build_service
    from servicetokens.config import Settings
    from servicetokens.domain.permissions import ContainerKind, Permission

    service = build_service(Settings(database_url=database_url, pool_size=1))
    try:
        return service.admin.create_api_token(
            "bench-jump",
            scope=ContainerKind.ACCOUNT,
            scope_id=account_id,
            permission=Permission.READ,
        ).secret
    finally:
        service.database.engine.dispose()


def _measure(url: str, account: str, token: str, args: argparse.Namespace, workdir: Path) -> Walk:
    jump_token = _second_token(url, account)
    command = ["serve", "--workers", str(args.workers)]
    with Server.cli(url, command, log=workdir / "api.log", ready_path="/healthz") as server:
        time.sleep(1)
        result = walk(
            server.url,
            account,
            token,
            jump_token=jump_token,
            per_page=args.per_page,
            expected=args.expected,
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.walk", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--per-page", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="walks (each on a fresh server)")
    parser.add_argument("--database", help="an already seeded database (with --account ...)")
    parser.add_argument("--account")
    parser.add_argument("--api-token")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="servicetokens-walk-"))
    rows = []
    if args.database:
        args.expected = args.tokens
        for _ in range(args.rounds):
            result = _measure(args.database, args.account, args.api_token, args, workdir)
            rows.append(result.row(args.engine))
    else:
        with database(args.engine, workdir) as url:
            log(f"{args.engine} @{args.tokens:,}: seeding")
            seeded = seed(url, args.tokens)
            log(f"seeded in {seeded.seconds:.0f} s")
            args.expected = args.tokens
            for _ in range(args.rounds):
                result = _measure(url, seeded.account_id, seeded.api_token, args, workdir)
                rows.append(result.row(args.engine))
                log(rows[-1])
    print(HEADER)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
