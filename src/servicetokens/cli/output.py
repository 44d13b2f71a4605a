"""Printing command results: a JSON object with --json, a Rich table otherwise."""

from __future__ import annotations

import json
from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["console", "emit", "fail"]

console = Console()
_errors = Console(stderr=True)


def emit(data: Mapping[str, object], *, as_json: bool, title: str) -> None:
    """Print `data`: exactly one JSON object on stdout with --json, else a table."""
    if as_json:
        print(json.dumps(dict(data)))
        return
    table = Table(title=title, show_header=False)
    for key, value in data.items():
        table.add_row(key, str(value))
    console.print(table)


def fail(message: str) -> None:
    """Print an error to stderr."""
    # The message may quote operator input: print it as text, never as Rich markup.
    _errors.print(f"[red]error:[/red] {escape(message)}")
