"""Access enforcement in-process: match + decide per request, 1 application vs 1,000.

    python -m bench.enforcement   [--requests 200000] [--rounds 5] [--apps 1000]
                                  [--policies-per-app 10]

Builds two worlds with the same per-application shape: one application, and `--apps`
applications holding `--apps × --policies-per-app` policies (10,000 by default). Hosts mix
exact names, path applications sharing a host, and wildcard subdomains. Each application's
policies are a bad case for a token that passes: Service Auth and Bypass policies that do not
match it (other token ids, an `ip` range it is outside of, an `exclude` that refuses it) come
before the one that admits it (which also checks a `require`), and Allow/Block policies wait
behind them.

Every request of a round goes through `AppIndex.lookup` and `decide` exactly as the gate
will call them; requests cycle through every application of the world (so the large world
is not served from one warm bucket). Before timing, each request is checked to be admitted
by its own application and policy. A naive scan over every route (the same pattern tests,
no index) is timed on the large world for comparison. Prints µs per request (best and
median of the rounds) and the large/small ratio; the target is a ratio near 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as `python bench/enforcement.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from servicetokens.domain.enforcement import (
    AppIndex,
    AppView,
    Match,
    OrgView,
    Outcome,
    PolicyView,
    RequestFacts,
    TokenFacts,
    compile_apps,
    decide,
)
from servicetokens.domain.enforcement.apps import compile_app, locations_of
from servicetokens.domain.enforcement.locations import normalize_host, normalize_path

__all__ = ["World", "build_world", "check", "linear_lookup", "main", "measure"]

ACCOUNT = "a" * 32
ORG = OrgView(auth_domain="bench.cloudflareaccess.com", strict_service_token_auth=True)


@dataclass(frozen=True)
class World:
    """Applications, their index, and one request per application (admitted by it)."""

    apps: list[AppView]
    index: AppIndex
    requests: list[RequestFacts]
    expected: list[tuple[str, str]]
    """(application id, policy id) that must admit each request."""

    @property
    def policies(self) -> int:
        return sum(len(a.policies) for a in self.apps)


def _policies(i: int, per_app: int) -> tuple[PolicyView, ...]:
    """`per_app` policies; the last Service Auth one admits token `tok-<i>`."""
    others = [{"service_token": {"token_id": f"other-{i}-{k}"}} for k in range(3)]
    made: list[PolicyView] = []
    for k in range(per_app - 1):
        kind = k % 5
        if kind == 0:
            made.append(PolicyView(f"p{i}-{k}", "non_identity", k, tuple(others)))
        elif kind == 1:  # the token's address is outside this range
            made.append(PolicyView(f"p{i}-{k}", "bypass", k, ({"ip": {"ip": "203.0.113.0/24"}},)))
        elif kind == 2:  # its include holds for the token, but its exclude refuses it
            made.append(
                PolicyView(
                    f"p{i}-{k}",
                    "non_identity",
                    k,
                    ({"any_valid_service_token": {}},),
                    exclude=({"ip": {"ip": "198.51.100.0/25"}},),
                )
            )
        elif kind == 3:
            made.append(PolicyView(f"p{i}-{k}", "allow", k, ({"email": {"email": "a@b.c"}},)))
        else:
            made.append(PolicyView(f"p{i}-{k}", "deny", k, ({"ip": {"ip": "192.0.2.0/24"}},)))
    admit = ({"service_token": {"token_id": f"tok-{i}"}}, *others)
    made.append(
        PolicyView(
            f"p{i}-admit",
            "non_identity",
            per_app + 1,
            admit,
            require=({"ip": {"ip": "198.51.100.0/24"}},),
        )
    )
    return tuple(made)


def _location(i: int) -> tuple[str, str, str]:
    """(domain, request host, request path) for application `i`: 70 % exact hosts, 20 %
    path applications on shared hosts, 10 % wildcard subdomains."""
    if i % 10 < 7:
        return f"app{i}.example.com", f"app{i}.example.com", "/index.html?x=1"
    if i % 10 < 9:
        host = f"site{i % 37}.example.com"
        return f"{host}/svc{i}", host, f"/svc{i}/items/42"
    return f"*.zone{i}.example.com", f"host.zone{i}.example.com", "/"


def build_world(indices: Sequence[int], per_app: int) -> World:
    """Applications `indices` (their shape per `_location`) with `per_app` policies each,
    and one request per application."""
    apps: list[AppView] = []
    requests: list[RequestFacts] = []
    expected: list[tuple[str, str]] = []
    for i in indices:
        domain, host, path = _location(i)
        app = AppView(
            id=f"app-{i:05d}",
            aud=f"{i:064x}",
            domain=domain,
            account_id=ACCOUNT,
            policies=_policies(i, per_app),
        )
        apps.append(app)
        token = TokenFacts(f"tok-{i}", f"client-{i}.access", ACCOUNT)
        requests.append(RequestFacts(host, path, "198.51.100.7", token))
        expected.append((app.id, f"p{i}-admit"))
    return World(apps, compile_apps(apps), requests, expected)


def check(world: World) -> None:
    """Every request is admitted by its own application's admitting policy."""
    for request, (app_id, policy_id) in zip(world.requests, world.expected, strict=True):
        verdict = decide(world.index.lookup(request.host, request.path), ORG, request)
        assert verdict.outcome is Outcome.ADMIT, (request, verdict.reason)
        assert verdict.app is not None
        assert verdict.policy is not None
        assert (verdict.app.id, verdict.policy.id) == (app_id, policy_id), request


def linear_lookup(apps: Sequence[AppView]) -> Callable[[str, str], Match | None]:
    """A lookup testing every route of every application (what the index avoids)."""
    from servicetokens.domain.enforcement.index import specificity

    routes = []
    for view in apps:
        compiled = compile_app(view)
        for location in locations_of(view)[0]:
            routes.append((specificity(view.id, location), compiled, location))

    def lookup(host: str, path: str) -> Match | None:
        name = normalize_host(host)
        if name is None:
            return None
        target = normalize_path(path)
        best = None
        for rank, compiled, location in routes:
            covered = location.host.covers(name) and location.path.covers(target)
            if covered and (best is None or rank < best[0]):
                best = (rank, compiled, location)
        return None if best is None else Match(best[1], best[2], False)

    return lookup


def time_round(
    lookup: Callable[[str, str], Match | None], requests: list[RequestFacts], n: int
) -> float:
    """µs per request over `n` requests cycling through `requests`."""
    count = len(requests)
    started = time.perf_counter()
    for k in range(n):
        request = requests[k % count]
        decide(lookup(request.host, request.path), ORG, request)
    return (time.perf_counter() - started) / n * 1e6


def measure(
    lookup: Callable[[str, str], Match | None], requests: list[RequestFacts], n: int, rounds: int
) -> tuple[float, float]:
    """(best, median) µs per request over `rounds` rounds."""
    time_round(lookup, requests, min(n, 10_000))  # warm the caches
    samples = [time_round(lookup, requests, n) for _ in range(rounds)]
    return min(samples), statistics.median(samples)


SHAPES = (("exact host", 0, 0.7), ("path on a shared host", 7, 0.2), ("wildcard host", 9, 0.1))
"""(name, an application index of that shape, its share of the large world)."""


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the table, return the figures (best µs per request)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--apps", type=int, default=1_000)
    parser.add_argument("--policies-per-app", type=int, default=10)
    parser.add_argument("--scan-requests", type=int, default=5_000)
    args = parser.parse_args(argv)
    per_app, n, rounds = args.policies_per_app, args.requests, args.rounds

    large = build_world(range(args.apps), per_app)
    check(large)
    rows: list[tuple[str, float, float]] = []
    mix = 0.0
    for name, index, share in SHAPES:
        small = build_world([index], per_app)
        check(small)
        best, median = measure(small.index.lookup, small.requests, n, rounds)
        rows.append((f"1 app ({name}), {small.policies} policies", best, median))
        mix += share * best
    size = f"{len(large.apps)} apps, {large.policies} policies"
    one_best, one_median = measure(large.index.lookup, large.requests[:1], n, rounds)
    rows.append((f"{size}: one app's requests", one_best, one_median))
    all_best, all_median = measure(large.index.lookup, large.requests, n, rounds)
    rows.append((f"{size}: every app's requests", all_best, all_median))
    scan, _ = measure(linear_lookup(large.apps), large.requests, args.scan_requests, 1)
    rows.append((f"{size}: linear scan, every app", scan, scan))

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; load average {load}"
    )
    print(
        f"command: python -m bench.enforcement {' '.join(sys.argv[1:] if argv is None else argv)}"
    )
    print("| world | best µs/request | median µs/request |\n|---|---|---|")
    for label, best, median in rows:
        print(f"| {label} | {best:.2f} | {median:.2f} |")
    shares = "/".join(f"{share:.0%}" for *_, share in SHAPES)
    print(f"1 app, weighted as the large world's shapes ({shares}): {mix:.2f} µs")
    print(
        f"ratio {args.apps} apps / 1 app: {all_best / mix:.2f} (requests spread over every app), "
        f"{one_best / rows[0][1]:.2f} (one app's requests); linear scan / index: "
        f"{scan / all_best:.0f}×"
    )
    return {"one_app_mix": mix, "one_of_many": one_best, "every_app": all_best, "scan": scan}


if __name__ == "__main__":
    main()
