"""Matching a request to an application (§5.1): the docs' examples, which of `destinations`,
`self_hosted_domains` and `domain` counts, and the index against a linear scan."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from servicetokens.domain.enforcement import AppView, compile_apps
from servicetokens.domain.enforcement.locations import normalize_host, normalize_path
from tests.unit.enforcement.builders import app


def matched(apps: list[AppView], host: str, path: str = "/") -> str | None:
    found = compile_apps(apps).match(host, path)
    return None if found is None else found.id


def test_the_more_specific_path_wins_and_nothing_is_inherited() -> None:
    apps = [app("dashboard.com/eng", id="eng"), app("dashboard.com/eng/exec", id="exec")]
    assert matched(apps, "dashboard.com", "/eng") == "eng"
    assert matched(apps, "dashboard.com", "/eng/tools") == "eng"
    assert matched(apps, "dashboard.com", "/eng/exec") == "exec"
    assert matched(apps, "dashboard.com", "/eng/exec/reports?q=1") == "exec"
    assert matched(apps, "dashboard.com", "/") is None  # fail closed: nothing covers "/"
    assert matched(apps, "dashboard.com", "/engineering") is None


def test_an_exact_host_beats_a_wildcard_host() -> None:
    apps = [app("*.example.com/admin", id="wild"), app("a.example.com", id="exact")]
    assert matched(apps, "a.example.com", "/admin") == "exact"
    assert matched(apps, "b.example.com", "/admin/x") == "wild"
    assert matched(apps, "b.example.com", "/") is None


def test_among_wildcards_the_longer_path_then_the_more_literal_host_wins() -> None:
    apps = [
        app("*.example.com", id="any"),
        app("*test.example.com", id="test"),
        app("*.example.com/api", id="api"),
    ]
    assert matched(apps, "xtest.example.com", "/") == "test"
    assert matched(apps, "xtest.example.com", "/api/v1") == "api"
    assert matched(apps, "other.example.com", "/") == "any"


def test_a_wildcard_path_beats_its_literal_parent() -> None:
    apps = [app("example.com/alpha", id="alpha"), app("example.com/alpha/*", id="star")]
    assert matched(apps, "example.com", "/alpha") == "alpha"
    assert matched(apps, "example.com", "/alpha/one") == "star"


def test_spelling_a_path_differently_does_not_step_around_a_specific_app() -> None:
    apps = [app("example.com", id="site"), app("example.com/admin", id="admin")]
    for path in ("/ADMIN", "//admin", "/public/../admin", "/%61dmin/x", "/x/..%2Fadmin"):
        assert matched(apps, "example.com", path) == "admin", path


def test_destinations_supersede_self_hosted_domains_which_supersede_domain() -> None:
    by_destinations = app(
        "old.example.com",
        destinations=(
            {"type": "public", "uri": "new.example.com"},
            {"type": "public", "uri": "also.example.com/x"},
            {"type": "private", "hostname": "private.example.com"},
        ),
        self_hosted_domains=("shd.example.com",),
    )
    assert matched([by_destinations], "new.example.com") == "app-1"
    assert matched([by_destinations], "also.example.com", "/x/y") == "app-1"
    for host in ("old.example.com", "shd.example.com", "private.example.com"):
        assert matched([by_destinations], host) is None
    by_domains = app("old.example.com", self_hosted_domains=("a.example.com", "b.example.com"))
    assert matched([by_domains], "b.example.com") == "app-1"
    assert matched([by_domains], "old.example.com") is None


def test_public_overrides_mark_the_match() -> None:
    site = app(
        "site.example.com",
        destinations=(
            {
                "type": "public",
                "uri": "site.example.com",
                "overrides": [
                    {"behavior": "public", "path_pattern": "/status"},
                    {"behavior": "something-else", "path_pattern": "/other"},
                ],
            },
        ),
    )
    index = compile_apps([site])
    status = index.lookup("site.example.com", "/status")
    assert status is not None
    assert status.public
    for path in ("/status/x", "/other", "/"):
        found = index.lookup("site.example.com", path)
        assert found is not None
        assert not found.public


def test_unusable_locations_are_reported_and_match_nothing() -> None:
    index = compile_apps([app("", id="empty"), app("a..b", id="bad"), app("ok.example.com")])
    assert index.ignored == (("empty", ""), ("bad", "a..b"))
    assert index.app_count == 3
    assert index.route_count == 1


def test_hosts_that_are_not_hostnames_match_nothing() -> None:
    apps = [app("*.example.com", id="wild")]
    for host in ("", "*.example.com", "a..example.com", "a.example.com/x", "a b.example.com"):
        assert matched(apps, host) is None


# --- the index against a linear scan ------------------------------------------------------


def _wildcards(pattern: str, star: str) -> re.Pattern[str]:
    return re.compile(star.join(re.escape(piece) for piece in pattern.split("*")), re.DOTALL)


def _oracle_host(pattern: str, host: str) -> bool:
    pattern = pattern.lower().split(":")[0].removesuffix(".")
    return _wildcards(pattern, "[^.]*").fullmatch(host) is not None


def _oracle_path(pattern: str, path: str) -> bool:
    """Covered: the pattern matches `path` or a prefix of it that `path` is a subpath of."""
    pattern = normalize_path(pattern) if pattern else "/"
    if pattern in ("/", "/*"):
        return True
    regex = _wildcards(pattern, ".*")
    for end in range(1, len(path) + 1):
        prefix = path[:end]
        if regex.fullmatch(prefix) and (
            end == len(path) or path[end] == "/" or prefix.endswith("/")
        ):
            return True
    return False


def _oracle_rank(view: AppView, host: str, path: str) -> tuple[Any, ...]:
    norm = normalize_path(path) if path else ""
    norm = "" if norm in ("/", "/*") else norm
    literal = norm.split("*", 1)[0]
    host_wild = host.count("*")
    return (
        host_wild > 0,
        -len(literal),
        host_wild + norm.count("*"),
        -(len(host) - host_wild),
        view.id,
        f"{host}{path}",
    )


def linear_scan(apps: list[AppView], host: str, path: str) -> str | None:
    """The oracle: test every location of every application, keep the most specific."""
    name = normalize_host(host)
    if name is None:
        return None
    target = normalize_path(path)
    best: tuple[tuple[Any, ...], str] | None = None
    for view in apps:
        location_host, _, location_path = view.domain.partition("/")
        location_path = "/" + location_path if location_path else ""
        if _oracle_host(location_host, name) and _oracle_path(location_path, target):
            rank = _oracle_rank(view, location_host, location_path)
            if best is None or rank < best[0]:
                best = (rank, view.id)
    return None if best is None else best[1]


HOST_LABEL = st.sampled_from(["a", "b", "ab", "*", "a*", "*b", "x"])
PATH_PIECE = st.sampled_from(["a", "b", "ab", "*", "a*", "x", ""])
DOMAIN_PATTERN = st.builds(
    lambda labels, pieces, end: (
        ".".join([*labels, "example.com"]) + ("/" + "/".join(pieces) + end if pieces else "")
    ),
    st.lists(HOST_LABEL, min_size=0, max_size=2),
    st.lists(PATH_PIECE, max_size=3),
    st.sampled_from(["", "/", "*"]),
)
REQUEST_HOST = st.builds(
    lambda labels, upper, port: (
        (
            ".".join([*labels, "example.com"]).upper()
            if upper
            else ".".join([*labels, "example.com"])
        )
        + port
    ),
    st.lists(st.sampled_from(["a", "b", "ab", "xab", "x"]), max_size=3),
    st.booleans(),
    st.sampled_from(["", ":443"]),
)
REQUEST_PATH = st.builds(
    lambda pieces, end: "/" + "/".join(pieces) + end,
    st.lists(st.sampled_from(["a", "b", "ab", "abx", "x", "A"]), max_size=4),
    st.sampled_from(["", "/", "?q=1"]),
)
APPS = st.lists(DOMAIN_PATTERN, max_size=12).map(
    lambda domains: [app(d, id=f"app-{i:02d}") for i, d in enumerate(domains)]
)


@settings(max_examples=300, deadline=None)
@given(APPS, st.lists(st.tuples(REQUEST_HOST, REQUEST_PATH), min_size=1, max_size=8))
def test_the_index_agrees_with_a_linear_scan(
    apps: list[AppView], requests: list[tuple[str, str]]
) -> None:
    index = compile_apps(apps)
    for host, path in requests:
        found = index.match(host, path)
        assert (None if found is None else found.id) == linear_scan(apps, host, path), (host, path)


@settings(deadline=None)
@given(APPS, st.lists(st.tuples(REQUEST_HOST, REQUEST_PATH), max_size=8), st.randoms())
def test_matching_does_not_depend_on_the_order_apps_are_listed(
    apps: list[AppView], requests: list[tuple[str, str]], rnd: Any
) -> None:
    shuffled = list(apps)
    rnd.shuffle(shuffled)
    first, second = compile_apps(apps), compile_apps(shuffled)
    for host, path in requests:
        assert first.match(host, path) == second.match(host, path)


@settings(max_examples=150, deadline=None)
@given(APPS, APPS, st.lists(st.tuples(REQUEST_HOST, REQUEST_PATH), min_size=1, max_size=8))
def test_an_index_reusing_an_earlier_one_answers_as_one_compiled_afresh(
    earlier: list[AppView], apps: list[AppView], requests: list[tuple[str, str]]
) -> None:
    """Reuse is keyed by the application's whole view: an application whose id is reused
    with another domain (or policies) is compiled again, never taken from the old index."""
    old = compile_apps(earlier)
    reused, fresh = compile_apps(apps, reuse=old), compile_apps(apps)
    for host, path in requests:
        assert reused.match(host, path) == fresh.match(host, path), (host, path)
    kept = {a.id for a in apps if any(a == b for b in earlier)}
    assert reused.reused == len(kept)
    for view in apps:
        if view.id in kept:
            assert reused.compiled[view.id] is old.compiled[view.id]
        else:
            assert reused.compiled[view.id].view is view
