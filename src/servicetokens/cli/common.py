"""What every command group shares: the --json flag, the use cases, and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from servicetokens.cli.output import fail
from servicetokens.config import Settings
from servicetokens.domain.errors import DomainError
from servicetokens.usecases.admin import Admin
from servicetokens.usecases.facade import UseCases

__all__ = ["JsonFlag", "admin_for", "refusals", "service_for"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@contextmanager
def refusals(*, exit_code: int = 1) -> Iterator[None]:
    """A domain error ends the command with its message on stderr and `exit_code`."""
    try:
        yield
    except DomainError as exc:
        fail(exc.message)
        raise typer.Exit(exit_code) from None


def service_for(ctx: typer.Context) -> UseCases:
    """The use cases on the database the global `--database` option names (migrated)."""
    from servicetokens.bootstrap import build_service

    settings: Settings = ctx.obj
    return build_service(settings)


def admin_for(ctx: typer.Context) -> Admin:
    """The operator's use cases on the database the global `--database` option names."""
    return service_for(ctx).admin
