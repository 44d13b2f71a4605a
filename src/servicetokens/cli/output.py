"""Printing command results: a JSON object with --json, a Rich table otherwise."""

from __future__ import annotations

import json
from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["console", "emit", "fail", "plain"]

console = Console()
_errors = Console(stderr=True)


def plain(value: object) -> Text:
    """`value` as terminal-safe plain text: Rich reads no markup in it, and characters that
    are not printable (escape sequences, bidi overrides, lone surrogates) are shown as
    `\\uXXXX` instead of acting on the terminal."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return Text(text)


def emit(data: Mapping[str, object], *, as_json: bool, title: str) -> None:
    """Print `data`: exactly one JSON object on stdout with --json, else a table."""
    if as_json:
        print(json.dumps(dict(data)))
        return
    table = Table(title=title, show_header=False)
    for key, value in data.items():
        # Values may come from users (names, emails): plain text, never Rich markup.
        table.add_row(plain(key), plain(value))
    console.print(table)


def fail(message: str) -> None:
    """Print an error to stderr."""
    _errors.print(f"[red]error:[/red] {escape(message)}")
