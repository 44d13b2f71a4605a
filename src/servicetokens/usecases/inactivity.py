"""The inactive-token job: what `service_token_inactivity` promises, done in the background.

Every `interval` seconds (`servicetokens serve --jobs-interval`, default 60) each API server
process runs `InactiveTokens.run_once`; one run at a time across every process: each batch
is one write transaction that first claims the job (a PostgreSQL advisory lock taken without
waiting: another process holding it makes this one skip its run; SQLite's write lock
already excludes other writers). A batch disables or deletes at most `batch` tokens, so no
run holds locks for long, and every action passes through `record_token_change` (version
bump, change feed: gates drop the token within a second; the audit entry, actor
`system`/`inactivity`). A token a policy names is never touched, and a deletion takes the
account's control-plane lock, so a policy naming it cannot commit in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from servicetokens.domain.access.inactivity import (
    InactivityRule,
    disabled_for_inactivity,
    inactivity_rules,
    is_inactive,
)
from servicetokens.domain.access.organization import InactivityAction
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.permissions import Principal, PrincipalKind
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.background import Periodic
from servicetokens.usecases.changes import record_token_change

__all__ = ["DEFAULT_JOBS_INTERVAL", "INACTIVITY", "InactiveTokens", "InactivityRun"]

log = logging.getLogger("servicetokens.usecases.inactivity")

DEFAULT_JOBS_INTERVAL = 60.0
"""Seconds between runs of the background jobs of an API server process."""
INACTIVITY = Principal(PrincipalKind.SYSTEM, "inactivity", ())
"""Who the audit log says acted: the job itself."""
_JOB = "service_token_inactivity"


@dataclass(slots=True)
class InactivityRun:
    """What one run did."""

    disabled: int = 0
    deleted: int = 0
    skipped: bool = False
    """Another process was running the job: this run did nothing."""


class InactiveTokens:
    """Disables or deletes the tokens every organization's inactivity setting reaches."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock = system_clock,
        interval: float = DEFAULT_JOBS_INTERVAL,
        batch: int = 100,
    ) -> None:
        self._database = database
        self._clock = clock
        self._batch = batch
        self._loop = Periodic("service-token-inactivity", self.run_once, interval=interval, log=log)

    def run_once(self) -> InactivityRun:
        """One full pass over every organization whose setting is on."""
        with self._database.read() as tx:
            rules = inactivity_rules(tx.organizations.all())
        run = InactivityRun()
        for rule in rules:
            while not self._loop.stopping.is_set():
                done = self._database.run_write(partial(self._batch_of, rule=rule))
                if done is None:
                    run.skipped = True
                    return run
                if rule.action is InactivityAction.DELETE:
                    run.deleted += done
                else:
                    run.disabled += done
                if done < self._batch:
                    break
        if run.disabled or run.deleted:
            log.info("inactive service tokens: %d disabled, %d deleted", run.disabled, run.deleted)
        return run

    def _batch_of(self, tx: Transaction, *, rule: InactivityRule) -> int | None:
        if not tx.versions.claim_job_run(_JOB):
            return None
        now = self._clock()
        cutoff = rule.cutoff(now)
        delete = rule.action is InactivityAction.DELETE
        if delete:
            tx.versions.lock_control_plane(rule.organization.container.account_id)
        tokens = tx.tokens.inactive(
            rule.organization.container, cutoff, enabled_only=not delete, limit=self._batch
        )
        threshold_days = rule.setting.threshold_days
        for token in tokens:
            assert is_inactive(token, cutoff)
            if delete:
                tx.tokens.delete(token.id)
                record_token_change(
                    tx,
                    INACTIVITY,
                    "inactivity_delete",
                    token,
                    now=now,
                    count_delta=-1,
                    threshold_days=threshold_days,
                )
            else:
                disabled = disabled_for_inactivity(token, now=now)
                tx.tokens.save(disabled)
                record_token_change(
                    tx,
                    INACTIVITY,
                    "inactivity_disable",
                    disabled,
                    now=now,
                    threshold_days=threshold_days,
                )
        return len(tokens)

    def start(self) -> None:
        """Run every `interval` seconds until `stop()`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop (a run in progress ends after its current batch)."""
        self._loop.stop()
