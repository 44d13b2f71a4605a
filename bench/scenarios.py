"""The scenarios: what each one requests, and how one answer is checked to be the real thing.

API scenarios run against `servicetokens serve`; gate scenarios against `servicetokens gate`
(forward-auth, so no upstream is involved). Each names the baseline its ratio is taken
against: the API's own `GET /healthz`, or the gate's own health endpoint for gate rows.

Reads that filter (`name`, `search`, `get`) cycle through many different values spread over
the whole table, so they measure the index, not one hot row; page 1 and the deep page repeat
one URL, as a dashboard or a paginating client would.

The server memoises rendered list pages until their container changes, so a list URL seen
before is answered from memory. The `-nocache` variants make every request a query not seen
before (each value paired with a different `per_page` from 10 to 1000, which changes neither
the rows matched nor, for the filters, the rows returned), so they measure the database path:
indexes and scans. Their note says whether the run stayed below the number of distinct queries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from bench.load import Load
from bench.seed import NAME_GROUP, Seeded, name_for

__all__ = ["API", "GATE", "SCENARIOS", "Scenario", "by_name"]

API = "api"
GATE = "gate"

GATE_HEALTH_PATH = "/cdn-cgi/servicetokens/health"
FORWARD_AUTH_PATH = "/cdn-cgi/access/authorize"

Check = Callable[[httpx.Response], str | None]
"""None when an answer is right, else what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the table."""

    name: str
    target: str
    """API or GATE: which server answers."""
    baseline: str
    """The scenario this one's throughput is divided by."""
    build: Callable[[Seeded], tuple[Load, Check]]
    warmup: bool = True
    note: str = ""


def _collection(seeded: Seeded) -> str:
    return f"/client/v4/accounts/{seeded.account_id}/access/service_tokens"


def _auth(seeded: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.api_token}"}


def _status(expected: int) -> Check:
    def check(answer: httpx.Response) -> str | None:
        if answer.status_code != expected:
            return f"status {answer.status_code} (want {expected}): {answer.text[:200]}"
        return None

    return check


def _listing(count: Callable[[int], bool], want: str) -> Check:
    def check(answer: httpx.Response) -> str | None:
        if answer.status_code != 200:
            return f"status {answer.status_code}: {answer.text[:200]}"
        body = orjson.loads(answer.content)
        result = body.get("result")
        if not body.get("success") or not isinstance(result, list) or not count(len(result)):
            return f"want {want} tokens, got {answer.text[:200]}"
        return None

    return check


def _spread(seeded: Seeded, how_many: int) -> list[int]:
    """Name-group numbers spread evenly over the table."""
    groups = max(1, seeded.count // NAME_GROUP)
    step = max(1, groups // how_many)
    return list(range(0, groups, step))[:how_many]


def _healthz(seeded: Seeded) -> tuple[Load, Check]:
    return Load("GET", ["/healthz"]), _status(200)


def _page1(per_page: int) -> Callable[[Seeded], tuple[Load, Check]]:
    def build(seeded: Seeded) -> tuple[Load, Check]:
        want = min(per_page, seeded.count)
        path = f"{_collection(seeded)}?per_page={per_page}"
        return Load("GET", [path], _auth(seeded)), _listing(lambda n: n == want, str(want))

    return build


_PER_PAGES = range(10, 1001)
_NOCACHE_VALUES = 200_000
"""The most distinct values a `-nocache` filter scenario cycles through."""


def _filtered(param: str, *, nocache: bool) -> Callable[[Seeded], tuple[Load, Check]]:
    def build(seeded: Seeded) -> tuple[Load, Check]:
        if nocache:
            # Every name once, in a random order (the same in every run), each with its own
            # per_page: no value repeats before all have been asked, so neither the page
            # memo nor the server's first-matches memo (which serves any page size of a
            # value it has read) answers, and the run measures the database.
            groups = list(range(max(1, seeded.count // NAME_GROUP)))[:_NOCACHE_VALUES]
            random.Random(13).shuffle(groups)
            pairs = [
                (name_for(g * NAME_GROUP), _PER_PAGES[i % len(_PER_PAGES)])
                for i, g in enumerate(groups)
            ]
        else:
            pairs = [(name_for(g * NAME_GROUP), 20) for g in _spread(seeded, 500)]
        paths = [f"{_collection(seeded)}?{param}={n}&per_page={pp}" for n, pp in pairs]
        return Load("GET", paths, _auth(seeded)), _listing(lambda n: n == NAME_GROUP, "10")

    return build


def _deep(*, nocache: bool) -> Callable[[Seeded], tuple[Load, Check]]:
    def build(seeded: Seeded) -> tuple[Load, Check]:
        per_pages = _PER_PAGES if nocache else [20]
        paths = [
            f"{_collection(seeded)}?per_page={pp}&page={-(-seeded.count // pp)}" for pp in per_pages
        ]
        return Load("GET", paths, _auth(seeded)), _listing(lambda n: n >= 1, "the last page of")

    return build


COMMON_TERMS = ("acc", ".access", "svc")
"""Terms every bench token matches (client ids end in `.access`, names start `svc-`)."""


def _common_search(seeded: Seeded) -> tuple[Load, Check]:
    paths = [
        f"{_collection(seeded)}?search={term}&per_page={pp}"
        for pp in _PER_PAGES
        for term in COMMON_TERMS
    ]
    return Load("GET", paths, _auth(seeded)), _listing(lambda n: n >= 1, "some")


def _get(seeded: Seeded) -> tuple[Load, Check]:
    paths = [f"{_collection(seeded)}/{token_id}" for token_id in seeded.token_ids]
    return Load("GET", paths, _auth(seeded)), _status(200)


def _create(seeded: Seeded) -> tuple[Load, Check]:
    body = orjson.dumps({"name": "bench-create", "duration": "8760h"})
    headers = {**_auth(seeded), "Content-Type": "application/json"}
    return Load("POST", [_collection(seeded)], headers, body), _status(201)


def _rotate(seeded: Seeded) -> tuple[Load, Check]:
    paths = [f"{_collection(seeded)}/{token_id}/rotate" for token_id in seeded.token_ids]
    headers = {**_auth(seeded), "Content-Type": "application/json"}
    return Load("POST", paths, headers, b"{}"), _status(200)


def _gate_health(seeded: Seeded) -> tuple[Load, Check]:
    return Load("GET", [GATE_HEALTH_PATH]), _status(200)


def _gate_headers(seeded: Seeded) -> dict[str, str]:
    return {"CF-Access-Client-Id": seeded.client_ids[0], "CF-Access-Client-Secret": seeded.secret}


def _gate_warm(seeded: Seeded) -> tuple[Load, Check]:
    return Load("GET", [FORWARD_AUTH_PATH], _gate_headers(seeded)), _status(200)


def _gate_cold(seeded: Seeded) -> tuple[Load, Check]:
    load = Load(
        "GET",
        [FORWARD_AUTH_PATH],
        _gate_headers(seeded),
        cycle_header="CF-Access-Client-Id",
        cycle_values=seeded.client_ids,
    )
    return load, _status(200)


_NAMES = "name=<≤500 names>, 10 hits each"
_TERMS = "search=<≤500 terms>, 10 hits each"
_NAMES_ONCE = "name=<every name once, shuffled>, 10 hits each"
_TERMS_ONCE = "search=<every name once, shuffled>, 10 hits each"

SCENARIOS: list[Scenario] = [
    Scenario("healthz", API, "healthz", _healthz, note="framework ceiling (baseline)"),
    Scenario("list-20", API, "healthz", _page1(20), note="page 1, per_page=20"),
    Scenario("list-1000", API, "healthz", _page1(1000), note="page 1, per_page=1000"),
    Scenario("list-name", API, "healthz", _filtered("name", nocache=False), note=_NAMES),
    Scenario(
        "list-name-nocache",
        API,
        "healthz",
        _filtered("name", nocache=True),
        warmup=False,
        note=_NAMES_ONCE,
    ),
    Scenario("list-search", API, "healthz", _filtered("search", nocache=False), note=_TERMS),
    Scenario(
        "list-search-nocache",
        API,
        "healthz",
        _filtered("search", nocache=True),
        warmup=False,
        note=_TERMS_ONCE,
    ),
    Scenario(
        "list-search-common",
        API,
        "healthz",
        _common_search,
        warmup=False,
        note="search=acc|.access|svc (every token matches), per_page=10..1000 "
        "(after a term's first read, pages are cut from its first matches)",
    ),
    Scenario("list-deep", API, "healthz", _deep(nocache=False), note="last page, per_page=20"),
    Scenario(
        "list-deep-nocache",
        API,
        "healthz",
        _deep(nocache=True),
        warmup=False,
        note="last page, per_page=10..1000",
    ),
    Scenario("get", API, "healthz", _get, note="2,000 ids spread over the table"),
    Scenario("create", API, "healthz", _create, note="durable commits"),
    Scenario("rotate", API, "healthz", _rotate, note="2,000 ids, cycled"),
    Scenario("gate-health", GATE, "gate-health", _gate_health, note="gate baseline (1 proc)"),
    Scenario("gate-warm", GATE, "gate-health", _gate_warm, note="one client id, cached"),
    Scenario(
        "gate-cold",
        GATE,
        "gate-health",
        _gate_cold,
        warmup=False,
        note="client ids cycled",
    ),
]


def by_name(name: str) -> Scenario:
    """The scenario called `name`."""
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(name)
