"""Go duration parsing and formatting, and the service-token ``duration`` rules.

The tables come from Go's own src/time/time_test.go (parseDurationTests,
parseDurationErrorTests, durationTests), so they pin this module to Go's behaviour.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicetokens.domain.durations import (
    DEFAULT_DURATION,
    FOREVER,
    DurationError,
    format_go_duration,
    parse_go_duration,
    parse_token_duration,
)

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

NS = 1
US = 1_000 * NS
MS = 1_000 * US
SEC = 1_000 * MS
MIN = 60 * SEC
HOUR = 60 * MIN

# No example database: the properties are cheap and nothing is left in the work tree.
quick = settings(database=None, max_examples=300)

# Go: parseDurationTests.
GO_PARSE_CASES = [
    # simple
    ("0", 0),
    ("5s", 5 * SEC),
    ("30s", 30 * SEC),
    ("1478s", 1478 * SEC),
    # sign
    ("-5s", -5 * SEC),
    ("+5s", 5 * SEC),
    ("-0", 0),
    ("+0", 0),
    # decimal
    ("5.0s", 5 * SEC),
    ("5.6s", 5 * SEC + 600 * MS),
    ("5.s", 5 * SEC),
    (".5s", 500 * MS),
    ("1.0s", 1 * SEC),
    ("1.00s", 1 * SEC),
    ("1.004s", 1 * SEC + 4 * MS),
    ("1.0040s", 1 * SEC + 4 * MS),
    ("100.00100s", 100 * SEC + 1 * MS),
    # different units
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),  # MICRO SIGN
    ("12\u03bcs", 12 * US),  # GREEK SMALL LETTER MU
    ("13ms", 13 * MS),
    ("14s", 14 * SEC),
    ("15m", 15 * MIN),
    ("16h", 16 * HOUR),
    # composite durations
    ("3h30m", 3 * HOUR + 30 * MIN),
    ("10.5s4m", 4 * MIN + 10 * SEC + 500 * MS),
    ("-2m3.4s", -(2 * MIN + 3 * SEC + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS),
    # large value
    ("52763797000ns", 52763797000 * NS),
    # more than 9 digits after decimal point, see https://golang.org/issue/6617
    ("0.3333333333333333333h", 20 * MIN),
    # 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
    ("9007199254740993ns", (1 << 53) + 1),
    # largest duration that can be represented by int64 in nanoseconds
    ("9223372036854775807ns", INT64_MAX),
    ("9223372036854775.807us", INT64_MAX),
    ("9223372036s854ms775us807ns", INT64_MAX),
    ("-9223372036854775808ns", INT64_MIN),
    ("-9223372036854775.808us", INT64_MIN),
    ("-9223372036s854ms775us808ns", INT64_MIN),
    # largest negative round trip value, see https://golang.org/issue/48629
    ("-2562047h47m16.854775808s", INT64_MIN),
    # huge string; issue 15011.
    ("0.100000000000000000000h", 6 * MIN),
    # This value tests the first overflow check in leadingFraction.
    ("0.830103483285477580700h", 49 * MIN + 48 * SEC + 372539827 * NS),
]

# Go: parseDurationErrorTests. Python strings are code points, so Go's invalid UTF-8
# bytes become the code points U+0085 and U+00FF here: non-ASCII all the same.
GO_PARSE_ERRORS = [
    # invalid
    "",
    "3",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "1d",
    "\x85\x85",
    "\xffff",
    "hello \xffff world",
    "\ufffd",
    "\ufffd hello \ufffd world",
    # overflow
    "9223372036854775810ns",
    "9223372036854775808ns",
    "-9223372036854775809ns",
    "9223372036854776us",
    "3000000h",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
]

MORE_PARSE_CASES = [
    ("1.5h", 90 * MIN),
    ("8760h", 365 * 24 * HOUR),
    ("2h45m", 2 * HOUR + 45 * MIN),
    ("300ms", 300 * MS),
    ("-1.5h", -90 * MIN),
    ("0s", 0),
    ("-0s", 0),
    ("0h0m0s", 0),
    ("1s1s", 2 * SEC),  # a unit may repeat
    ("00001s", 1 * SEC),
    ("1.000000000000000000000000001s", 1 * SEC),  # digits past int64 are ignored
    ("0.5ns", 0),  # fractions of a nanosecond truncate
    ("1.9ns", 1),
    ("0.0000001h", 360 * US),
    # Go sums group magnitudes in a uint64: two groups of exactly 2**63 wrap to zero.
    ("9223372036854775808ns9223372036854775808ns", 0),
    ("-9223372036854775808ns9223372036854775808ns", 0),
    ("9223372036854775808ns9223372036854775808ns5s", 5 * SEC),
]

MORE_PARSE_ERRORS = [
    "-9223372036854775.809us",
    "-9223372036854775809ns",
    "9223372036854s775ms807us",  # 9223372036854 s alone exceeds int64 nanoseconds
    "2562048h",
    "-2562048h",
    "1e3s",
    "00",
    "+-1s",
    "--1s",
    "1s-1s",
    " 1s",
    "1s ",
    "1 s",
    "1S",
    "1H",
    "1sec",
    "1µ",
    "1.2.3s",
    "..5s",
    "1_000s",
    "\u0661s",  # ARABIC-INDIC DIGIT ONE: str.isdigit() but not a Go digit
    "\uff11s",  # FULLWIDTH DIGIT ONE
    "\ud800s",  # lone surrogate
    "1\x00s",
    "forever",
    "infinity",
]

# Go: durationTests (Duration.String), each also checked negated.
GO_FORMAT_CASES = [
    ("0s", 0),
    ("1ns", 1 * NS),
    ("1.1\u00b5s", 1100 * NS),
    ("2.2ms", 2200 * US),
    ("3.3s", 3300 * MS),
    ("4m5s", 4 * MIN + 5 * SEC),
    ("4m5.001s", 4 * MIN + 5001 * MS),
    ("5h6m7.001s", 5 * HOUR + 6 * MIN + 7001 * MS),
    ("8m0.000000001s", 8 * MIN + 1 * NS),
    ("2562047h47m16.854775807s", INT64_MAX),
]

MORE_FORMAT_CASES = [
    ("1h0m0s", HOUR),
    ("1m0s", MIN),
    ("2h45m0s", 2 * HOUR + 45 * MIN),
    ("1.5s", 1500 * MS),
    ("300ms", 300 * MS),
    ("1\u00b5s", US),
    ("999ns", 999 * NS),
    ("999.999999ms", SEC - 1),
    ("8760h0m0s", 8760 * HOUR),
    ("-1m0s", -MIN),
    ("-2562047h47m16.854775808s", INT64_MIN),
]


@pytest.mark.parametrize(("text", "want"), GO_PARSE_CASES + MORE_PARSE_CASES)
def test_parse_go_duration(text: str, want: int) -> None:
    assert parse_go_duration(text) == want


@pytest.mark.parametrize("text", GO_PARSE_ERRORS + MORE_PARSE_ERRORS)
def test_parse_go_duration_rejects(text: str) -> None:
    with pytest.raises(DurationError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1d", 'invalid duration "1d"'),
        ("", 'invalid duration ""'),
        ("3", 'invalid duration "3"'),
        ("9223372036854775808ns", 'duration "9223372036854775808ns" is out of range'),
        ("3000000h", 'duration "3000000h" is out of range'),
        # Go quotes control and non-ASCII characters as their UTF-8 bytes.
        ("\ufffd", 'invalid duration "\\xef\\xbf\\xbd"'),
        ("1\u00b5", 'invalid duration "1\\xc2\\xb5"'),
        ('1"\\', 'invalid duration "1\\"\\\\"'),
        ("\ud800", 'invalid duration "\\xed\\xa0\\x80"'),
    ],
)
def test_parse_error_messages(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("value", [None, 5, 1.5, b"1h", ["1h"]])
def test_parse_go_duration_rejects_non_strings(value: object) -> None:
    with pytest.raises(DurationError, match=r"^duration must be a string$"):
        parse_go_duration(value)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(("want", "ns"), GO_FORMAT_CASES)
def test_format_go_duration_go_table(want: str, ns: int) -> None:
    assert format_go_duration(ns) == want
    if ns > 0:
        assert format_go_duration(-ns) == "-" + want


@pytest.mark.parametrize(("want", "ns"), MORE_FORMAT_CASES)
def test_format_go_duration(want: str, ns: int) -> None:
    assert format_go_duration(ns) == want


@pytest.mark.parametrize("ns", [INT64_MAX + 1, INT64_MIN - 1])
def test_format_go_duration_rejects_beyond_int64(ns: int) -> None:
    with pytest.raises(DurationError, match="out of range"):
        format_go_duration(ns)


def test_constants() -> None:
    assert FOREVER == "forever"
    assert DEFAULT_DURATION == "8760h"
    assert parse_token_duration(DEFAULT_DURATION) == timedelta(days=365)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("forever", None),
        ("8760h", timedelta(hours=8760)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("+24h", timedelta(days=1)),
        ("1us", timedelta(microseconds=1)),
        ("1\u00b5s", timedelta(microseconds=1)),
        ("1000ns", timedelta(microseconds=1)),
        ("1999ns", timedelta(microseconds=1)),  # truncated, not rounded
        ("1.0000019s", timedelta(seconds=1, microseconds=1)),
        ("9223372036854775807ns", timedelta(microseconds=INT64_MAX // 1_000)),
    ],
)
def test_parse_token_duration(text: str, want: timedelta | None) -> None:
    assert parse_token_duration(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "duration must be positive"),
        ("0s", "duration must be positive"),
        ("-0", "duration must be positive"),
        ("-1s", "duration must be positive"),
        ("-9223372036854775808ns", "duration must be positive"),
        ("0.1ns", "duration must be positive"),  # truncates to 0 ns, as in Go
        ("1ns", "duration must be at least 1us"),
        ("999ns", "duration must be at least 1us"),
        ("Forever", 'invalid duration "Forever"'),
        ("FOREVER", 'invalid duration "FOREVER"'),
        (" forever", 'invalid duration " forever"'),
        ("forever ", 'invalid duration "forever "'),
        ("1d", 'invalid duration "1d"'),
        ("", 'invalid duration ""'),
        ("2562048h", 'duration "2562048h" is out of range'),
    ],
)
def test_parse_token_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_token_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("value", [None, 0, 3600, 1.5, True, b"forever", {"h": 1}])
def test_parse_token_duration_rejects_non_strings(value: object) -> None:
    with pytest.raises(DurationError, match=r"^duration must be a string$"):
        parse_token_duration(value)


# --- properties -------------------------------------------------------------------------

int64s = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)

UNIT_NANOS = {
    "ns": NS,
    "us": US,
    "\u00b5s": US,
    "\u03bcs": US,
    "ms": MS,
    "s": SEC,
    "m": MIN,
    "h": HOUR,
}


@st.composite
def groups(draw: st.DrawFn) -> tuple[str, int]:
    """One ``<number><unit>`` group and its exact value in nanoseconds.

    Fractions get at most as many digits as the unit has trailing zeros, so the exact
    value is an integer and Go's float64 step is exact for it too.
    """
    unit = draw(st.sampled_from(sorted(UNIT_NANOS)))
    nanos = UNIT_NANOS[unit]
    whole = draw(st.integers(0, 10_000) | st.integers(0, (1 << 63) // nanos))
    places = draw(st.integers(0, len(str(nanos)) - len(str(nanos).rstrip("0"))))
    frac = draw(st.integers(0, 10**places - 1))
    number = str(whole)
    if places:
        number += f".{frac:0{places}d}"
        if whole == 0 and draw(st.booleans()):
            number = number[1:]  # ".5s"
    elif draw(st.booleans()):
        number += "."  # "5.s"
    return number + unit, whole * nanos + frac * (nanos // 10**places)


def go_total(values: list[int], negative: bool) -> int | None:
    """What Go makes of groups worth ``values``: None when it reports an overflow."""
    total = 0
    for value in values:
        if value > 1 << 63:
            return None
        total = (total + value) % (1 << 64)  # uint64 addition
        if total > 1 << 63:
            return None
    if negative:
        return -total
    return total if total <= INT64_MAX else None


@quick
@given(int64s)
def test_format_round_trips_through_parse(ns: int) -> None:
    assert parse_go_duration(format_go_duration(ns)) == ns


@quick
@given(st.sampled_from(["", "+", "-"]), st.lists(groups(), min_size=1, max_size=6))
def test_parse_of_groups_is_their_sum(sign: str, parts: list[tuple[str, int]]) -> None:
    text = sign + "".join(part for part, _ in parts)
    want = go_total([value for _, value in parts], negative=sign == "-")
    if want is None:
        with pytest.raises(DurationError, match="out of range"):
            parse_go_duration(text)
    else:
        assert parse_go_duration(text) == want


@quick
@given(st.text() | st.text(alphabet="0123456789.+-nsuµμmhd \u0661"))
def test_parse_returns_an_int64_or_raises_duration_error(text: str) -> None:
    try:
        ns = parse_go_duration(text)
    except DurationError as error:
        message = str(error)
        assert message.startswith(("invalid duration ", "duration "))
        assert message.isprintable()
        assert message.isascii()
    else:
        assert isinstance(ns, int)
        assert INT64_MIN <= ns <= INT64_MAX


@quick
@given(st.integers(min_value=INT64_MIN, max_value=0))
def test_token_duration_rejects_non_positive(ns: int) -> None:
    with pytest.raises(DurationError, match=re.escape("duration must be positive")):
        parse_token_duration(format_go_duration(ns))


@quick
@given(st.integers(min_value=1, max_value=INT64_MAX))
def test_token_duration_accepts_positive(ns: int) -> None:
    text = format_go_duration(ns)
    if ns < US:
        with pytest.raises(DurationError, match=re.escape("duration must be at least 1us")):
            parse_token_duration(text)
    else:
        assert parse_token_duration(text) == timedelta(microseconds=ns // US)


@quick
@given(st.sampled_from([FOREVER]) | st.text())
def test_token_duration_forever_is_none_only_for_forever(text: str) -> None:
    try:
        result = parse_token_duration(text)
    except DurationError:
        assert text != FOREVER
    else:
        assert (result is None) == (text == FOREVER)
        assert result is None or result > timedelta(0)
