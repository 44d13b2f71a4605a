"""What every command group shares: the --json flag, the service, and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from servicetokens.cli.output import fail
from servicetokens.config import Settings
from servicetokens.domain.errors import DomainError
from servicetokens.usecases.service import Service

__all__ = ["JsonFlag", "refusals", "service_for"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@contextmanager
def refusals(*, exit_code: int = 1) -> Iterator[None]:
    """A domain error ends the command with its message on stderr and `exit_code`."""
    try:
        yield
    except DomainError as exc:
        fail(exc.message)
        raise typer.Exit(exit_code) from None


def service_for(ctx: typer.Context) -> Service:
    """The service on the database the global `--database` option names (migrated)."""
    from servicetokens.bootstrap import build_service

    settings: Settings = ctx.obj
    return build_service(settings)
