"""Who is calling: the client address behind trusted proxies (`domain.network`)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.network import TrustedProxies, parse_ip

LOOPBACK = TrustedProxies()
NOBODY = TrustedProxies(["none"])
INTERNAL = TrustedProxies(["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("unknown", None),
        ("", None),
        (None, None),
        ("1.2.3.4:80", None),
        ("<script>", None),
        ("1" * 100, None),
    ],
)
def test_parse_ip(text: str | None, expected: str | None) -> None:
    assert parse_ip(text) == expected


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    found = LOOPBACK.resolve("203.0.113.9", [b"6.6.6.6"])
    assert (found.client, found.chain, found.trusted_peer) == (
        "203.0.113.9",
        ("203.0.113.9",),
        False,
    )
    assert NOBODY.resolve("127.0.0.1", [b"6.6.6.6"]).client == "127.0.0.1"


def test_a_trusted_proxy_names_the_client_and_only_what_it_vouches_for_is_kept() -> None:
    found = LOOPBACK.resolve("127.0.0.1", [b"6.6.6.6, 198.51.100.7"])
    assert found.client == "198.51.100.7"
    assert found.chain == ("198.51.100.7", "127.0.0.1")  # 6.6.6.6 was the client's own word
    assert found.trusted_peer
    chained = INTERNAL.resolve("127.0.0.1", [b"6.6.6.6", b"198.51.100.7, 10.1.2.3"])
    assert chained.client == "198.51.100.7"
    assert chained.chain == ("198.51.100.7", "10.1.2.3", "127.0.0.1")


def test_garbage_from_a_trusted_proxy_ends_the_walk_at_that_proxy() -> None:
    assert INTERNAL.resolve("127.0.0.1", [b"6.6.6.6, unknown, 10.1.2.3"]).client == "10.1.2.3"
    assert LOOPBACK.resolve("127.0.0.1", [b""]).client == "127.0.0.1"
    assert LOOPBACK.resolve("127.0.0.1", []).client == "127.0.0.1"
    assert LOOPBACK.resolve(None, [b"6.6.6.6"]).client is None
    assert LOOPBACK.resolve("not an ip", [b"6.6.6.6"]).client is None


def test_the_default_trusts_loopback_only() -> None:
    assert LOOPBACK.describe() == "127.0.0.0/8,::1/128"
    assert LOOPBACK.trusts("127.0.0.2")
    assert LOOPBACK.trusts("::1")
    assert not LOOPBACK.trusts("10.0.0.1")
    with pytest.raises(ValueError, match="does not appear to be"):
        TrustedProxies(["10.0.0.0/33"])


_ips = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), st.sampled_from(["10.0.0.1"])
)
_entries = st.one_of(_ips, st.text(max_size=12))


@given(peer=_ips, claimed=st.lists(_entries, max_size=8))
def test_the_client_is_the_peer_or_an_address_a_trusted_hop_reported(
    peer: str, claimed: list[str]
) -> None:
    found = INTERNAL.resolve(peer, [", ".join(claimed).encode("utf-8")])
    assert found.client is not None
    ipaddress.ip_address(found.client)  # always an address, never the client's text
    assert found.chain[-1] == parse_ip(peer)
    assert found.chain[0] == found.client
    for hop in found.chain[1:]:
        assert INTERNAL.trusts(hop)  # every hop right of the client vouched for its left
    if not INTERNAL.trusts(str(parse_ip(peer))):
        assert found.chain == (parse_ip(peer),)
