"""Hosts and paths an application covers (§5.1, the docs' app-paths examples), and the
normalisation both sides of a comparison go through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.enforcement.locations import (
    HostPattern,
    PathPattern,
    normalize_host,
    normalize_path,
    path_keys,
    split_location,
)


def host_covers(pattern: str, host: str) -> bool:
    parsed = HostPattern.parse(pattern)
    name = normalize_host(host)
    assert parsed is not None
    return name is not None and parsed.covers(name)


@pytest.mark.parametrize(
    ("pattern", "covered", "not_covered"),
    [
        # the docs' tables
        (
            "*.example.com",
            ["alpha.example.com", "beta.example.com"],
            ["example.com", "foo.bar.example.com"],
        ),
        ("example.com", ["example.com"], ["alpha.example.com"]),
        ("*.test.example.com", ["alpha.test.example.com"], ["test.example.com", "example.com"]),
        (
            "*test.example.com",
            ["test.example.com", "alphatest.example.com"],
            ["beta.test.example.com"],
        ),
        # several wildcard labels, wildcard at a label's end or middle
        ("*.*.example.com", ["a.b.example.com"], ["a.example.com", "a.b.c.example.com"]),
        ("app*.example.com", ["app.example.com", "app-2.example.com"], ["myapp.example.com"]),
        ("a*z.example.com", ["az.example.com", "abcz.example.com"], ["abc.example.com"]),
        # case, ports and a trailing dot are not part of the match
        (
            "App.Example.COM:8443",
            ["app.example.com", "APP.example.com:443", "app.example.com."],
            [],
        ),
    ],
)
def test_hosts(pattern: str, covered: list[str], not_covered: list[str]) -> None:
    assert all(host_covers(pattern, h) for h in covered)
    assert not any(host_covers(pattern, h) for h in not_covered)


def path_covers(pattern: str, path: str, *, subpaths: bool = True) -> bool:
    return PathPattern.parse(pattern, subpaths=subpaths).covers(normalize_path(path))


@pytest.mark.parametrize(
    ("pattern", "covered", "not_covered"),
    [
        ("", ["/", "/alpha", "/beta/x"], []),
        ("/*", ["/", "/alpha", "/beta/x"], []),
        ("/", ["/", "/alpha"], []),
        ("/alpha/*", ["/alpha/one", "/alpha/two", "/alpha/one/two"], ["/alpha", "/", "/alphabet"]),
        (
            "/foo*/bar",
            ["/foo/bar", "/food/bar", "/food/stuff/bar", "/food/bar/more"],
            ["/foo", "/bar"],
        ),
        ("/eng", ["/eng", "/eng/", "/eng/exec"], ["/engineering", "/en", "/"]),
        ("/eng/", ["/eng/", "/eng/exec"], ["/eng", "/engineering"]),
        ("/a*/", ["/ab/", "/ab/c"], ["/ab"]),
        ("/Admin", ["/admin", "/ADMIN/x"], ["/admins"]),
    ],
)
def test_application_paths(pattern: str, covered: list[str], not_covered: list[str]) -> None:
    assert all(path_covers(pattern, p) for p in covered)
    assert not any(path_covers(pattern, p) for p in not_covered)


@pytest.mark.parametrize(
    ("pattern", "covered", "not_covered"),
    [
        ("/public/*", ["/public/a", "/public/a/b"], ["/public"]),
        ("/health", ["/health"], ["/health/x", "/healthz"]),  # no implicit subpaths
        ("/static/*.css", ["/static/site.css"], ["/static/site.css/x"]),
    ],
)
def test_override_paths_cover_exactly_what_they_match(
    pattern: str, covered: list[str], not_covered: list[str]
) -> None:
    assert all(path_covers(pattern, p, subpaths=False) for p in covered)
    assert not any(path_covers(pattern, p, subpaths=False) for p in not_covered)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/a?x=1", "/a"),
        ("/a#frag", "/a"),
        ("", "/"),
        ("a/b", "/a/b"),
        ("/A/B", "/a/b"),
        ("//admin///x", "/admin/x"),
        ("/public/../admin", "/admin"),
        ("/public/%2e%2e/admin", "/admin"),
        ("/public%2F..%2Fadmin", "/admin"),
        ("/%61dmin", "/admin"),
        ("/a/./b/.", "/a/b/"),
        ("/..", "/"),
        ("/a%20b", "/a%20b"),  # reserved and other escapes stay (in lower case)
        ("/%252e%252e/x", "/%252e%252e/x"),  # no double decoding
    ],
)
def test_path_normalisation(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("App.Example.com", "app.example.com"),
        ("app.example.com:8443", "app.example.com"),
        ("app.example.com.", "app.example.com"),
        ("[2001:db8::1]:443", "[2001:db8::1]"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("", None),
        ("a..b", None),
        (".example.com", None),
        ("*.example.com", None),
        ("evil.com/x", None),
        ("user@host", None),
        ("a b", None),
        ("a:b:c", None),
    ],
)
def test_host_normalisation(raw: str, normal: str | None) -> None:
    assert normalize_host(raw) == normal


def test_path_keys() -> None:
    assert path_keys("/") == [""]
    assert path_keys("/a") == ["", "/a"]
    assert path_keys("/a/b") == ["", "/a", "/a/b"]
    assert path_keys("/a/b/") == ["", "/a", "/a/b"]


def test_split_location() -> None:
    assert split_location("app.example.com") == ("app.example.com", "")
    assert split_location("app.example.com/a/b") == ("app.example.com", "/a/b")
    assert split_location("https://app.example.com:8443/a") == ("app.example.com:8443", "/a")


def test_unusable_host_patterns() -> None:
    for text in ("", "a..b", "evil.com/x", " "):
        assert HostPattern.parse(text) is None


SEGMENT = st.sampled_from(["a", "B", "ab", ".", "..", "%2e", "%2F", "%41", "x y", ""])


@given(st.lists(SEGMENT, max_size=6), st.booleans())
def test_normalisation_is_idempotent(segments: list[str], trailing: bool) -> None:
    raw = "/" + "/".join(segments) + ("/" if trailing else "")
    once = normalize_path(raw)
    assert normalize_path(once) == once
    assert once.startswith("/")
    assert "//" not in once
    assert "/../" not in once + "/"
    assert "/./" not in once + "/"


@given(st.lists(SEGMENT, max_size=6), st.sampled_from(["", "/", "/*", "*"]))
def test_every_covered_path_has_the_patterns_index_key(segments: list[str], tail: str) -> None:
    pattern = PathPattern.parse("/" + "/".join(segments[:3]) + tail)
    for path in (normalize_path("/" + "/".join(segments) + suffix) for suffix in ("", "/x")):
        if pattern.covers(path):
            assert pattern.index_key() in path_keys(path)
