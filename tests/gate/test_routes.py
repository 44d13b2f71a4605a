"""`--route HOST=URL`: how hostnames find their upstream."""

from __future__ import annotations

import pytest

from servicetokens.gate.routes import Routes, parse_route


def test_exact_hosts_win_over_wildcards_which_cover_one_label() -> None:
    routes = Routes(
        [("api.example.com", "http://10.0.0.1:8080"), ("*.example.com", "http://10.0.0.2/base")]
    )
    assert len(routes) == 2
    exact = routes.upstream("API.example.com:443")
    assert exact is not None
    assert (exact.host, exact.port, exact.base_path) == ("10.0.0.1", 8080, "")
    wild = routes.upstream("www.example.com.")
    assert wild is not None
    assert (wild.host, wild.port, wild.base_path) == ("10.0.0.2", 80, "/base")
    for host in ("example.com", "a.b.example.com", "example.org", None, "bad host", "[::1]"):
        assert routes.upstream(host) is None, host
    assert routes.describe() == (
        "api.example.com -> http://10.0.0.1:8080, *.example.com -> http://10.0.0.2/base"
    )


@pytest.mark.parametrize(
    "text",
    ["a.test", "=http://x", "a.test=", "*=http://x", "a.*.test=http://x", "*.a*.test=http://x"],
)
def test_malformed_routes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="route"):
        parse_route(text)


def test_a_host_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="two routes"):
        Routes([("a.test", "http://x"), ("A.test.", "http://y")])
