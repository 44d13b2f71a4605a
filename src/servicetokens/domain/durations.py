"""Go durations, and the rules of a service token's ``duration`` field.

Cloudflare validates ``duration`` with Go's ``time.ParseDuration`` and echoes durations in
the shape of Go's ``Duration.String``. Both are reproduced here to the nanosecond, overflow
behaviour included, so that this API accepts and rejects exactly what Cloudflare does.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "DEFAULT_DURATION",
    "FOREVER",
    "DurationError",
    "format_go_duration",
    "parse_go_duration",
    "parse_token_duration",
]

FOREVER: str = "forever"
"""The ``duration`` of a token that never expires."""

DEFAULT_DURATION: str = "8760h"
"""The ``duration`` a token gets when the request names none (one year)."""

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
# Go accumulates the magnitude in a uint64 and only applies the sign at the end, so a
# magnitude of 2**63 is still allowed (it becomes MinInt64 when negative).
_MAGNITUDE_LIMIT = 1 << 63
_UINT64_MASK = (1 << 64) - 1

_NANOS_PER_UNIT: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # MICRO SIGN
    "\u03bcs": 1_000,  # GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_NANOS_PER_SECOND = 1_000_000_000


class DurationError(ValueError):
    """A ``duration`` that Go would not parse, or that breaks a service-token rule."""


def _is_digit(c: str) -> bool:
    # ASCII only: str.isdigit() also accepts digits such as "٣" or "３", which Go rejects.
    return "0" <= c <= "9"


def _quote(text: str) -> str:
    """``text`` in double quotes, escaped as Go's time package does in its errors.

    Control and non-ASCII characters become ``\\xNN`` per UTF-8 byte (DEL too, which Go
    leaves as is), so the message is printable ASCII whatever the input was.
    """
    out = ['"']
    for c in text:
        if c < " " or c >= "\x7f":
            out.extend(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + c if c in '"\\' else c)
    out.append('"')
    return "".join(out)


def _invalid(text: str) -> DurationError:
    return DurationError(f"invalid duration {_quote(text)}")


def _out_of_range(text: str) -> DurationError:
    return DurationError(f"duration {_quote(text)} is out of range")


def parse_go_duration(text: str) -> int:
    """The nanoseconds ``text`` stands for, exactly as Go's ``time.ParseDuration`` reads it.

    The grammar is ``[-+]?([0-9]*(\\.[0-9]*)?unit)+`` with unit one of ns, us, µs, μs, ms,
    s, m and h, plus a bare ``0``. Anything Go rejects, including a result outside int64
    nanoseconds, raises DurationError.
    """
    if not isinstance(text, str):
        raise DurationError("duration must be a string")
    n = len(text)
    pos = 0
    neg = False
    if text[:1] in ("-", "+"):
        neg = text[0] == "-"
        pos = 1
    if text[pos:] == "0":
        return 0
    if pos == n:
        raise _invalid(text)

    total = 0
    while pos < n:
        if not (text[pos] == "." or _is_digit(text[pos])):
            raise _invalid(text)

        # Whole part (Go's leadingInt): an error as soon as it passes 2**63.
        start = pos
        whole = 0
        while pos < n and _is_digit(text[pos]):
            whole = whole * 10 + ord(text[pos]) - ord("0")
            if whole > _MAGNITUDE_LIMIT:
                raise _out_of_range(text)
            pos += 1
        has_whole = pos > start

        # Fraction (Go's leadingFraction): digits past 2**63 are consumed but ignored, and
        # the scale is a float64 because Go computes with one.
        frac = 0
        scale = 1.0
        has_frac = False
        if pos < n and text[pos] == ".":
            pos += 1
            start = pos
            saturated = False
            while pos < n and _is_digit(text[pos]):
                if not saturated:
                    candidate = frac * 10 + ord(text[pos]) - ord("0")
                    if candidate > _MAGNITUDE_LIMIT:
                        saturated = True
                    else:
                        frac = candidate
                        scale *= 10
                pos += 1
            has_frac = pos > start
        if not has_whole and not has_frac:
            raise _invalid(text)  # e.g. ".s" or "-.s"

        # Unit: every character up to the next digit or ".", which must name a unit.
        start = pos
        while pos < n and not (text[pos] == "." or _is_digit(text[pos])):
            pos += 1
        unit = _NANOS_PER_UNIT.get(text[start:pos])
        if unit is None:
            raise _invalid(text)  # missing ("3") or unknown ("1d") unit

        if whole > _MAGNITUDE_LIMIT // unit:
            raise _out_of_range(text)
        value = whole * unit
        if frac > 0:
            # Same float64 expression as Go, truncated the same way, so that fractions
            # such as "0.3333333333333333333h" land on the same nanosecond.
            value += int(float(frac) * (float(unit) / scale))
            if value > _MAGNITUDE_LIMIT:
                raise _out_of_range(text)
        # Go adds in a uint64: two groups of exactly 2**63 wrap to 0 rather than failing.
        total = (total + value) & _UINT64_MASK
        if total > _MAGNITUDE_LIMIT:
            raise _out_of_range(text)

    if neg:
        return -total
    if total > _INT64_MAX:
        raise _out_of_range(text)
    return total


def parse_token_duration(text: object) -> timedelta | None:
    """The lifetime a service token's ``duration`` asks for; None means ``forever``.

    Anything else must be a positive Go duration of at least one microsecond (the
    resolution of a timedelta); shorter parts of a microsecond are truncated.
    """
    if not isinstance(text, str):
        raise DurationError("duration must be a string")
    if text == FOREVER:
        return None
    ns = parse_go_duration(text)
    if ns <= 0:
        raise DurationError("duration must be positive")
    if ns < 1_000:
        raise DurationError("duration must be at least 1us")
    return timedelta(microseconds=ns // 1_000)


def _decimal(value: int, places: int) -> str:
    """``value / 10**places`` with trailing fractional zeros (and a bare point) dropped."""
    whole, rest = divmod(value, 10**places)
    if rest == 0:
        return str(whole)
    return f"{whole}.{rest:0{places}d}".rstrip("0")


def format_go_duration(ns: int) -> str:
    """``ns`` nanoseconds written as Go's ``Duration.String`` writes them.

    For example "0s", "1.5s", "300ms", "1µs" (MICRO SIGN), "2h45m0s", "-1m0s".
    Raises DurationError outside int64.
    """
    if not _INT64_MIN <= ns <= _INT64_MAX:
        raise DurationError(f"duration {ns} is out of range")
    # Go negates in a uint64, so MinInt64 has magnitude 2**63, which abs() also gives.
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u == 0:
        return "0s"
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_decimal(u, 3)}\u00b5s"
    if u < _NANOS_PER_SECOND:
        return f"{sign}{_decimal(u, 6)}ms"
    # Hours are the largest unit because days vary in length.
    minutes, sub_minute = divmod(u, 60 * _NANOS_PER_SECOND)
    hours, minutes = divmod(minutes, 60)
    text = _decimal(sub_minute, 9) + "s"
    if hours:
        text = f"{hours}h{minutes}m{text}"
    elif minutes:
        text = f"{minutes}m{text}"
    return sign + text
