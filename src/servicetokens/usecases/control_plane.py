"""What a gate reads of the control plane: an account's version, and everything at once.

Every control-plane write bumps the account's version in its own transaction (and NOTIFYs
the account id on PostgreSQL, channel `store.versions.CONTROL_PLANE_CHANNEL`), so a gate
that polls `version` (or listens) and reloads `snapshot` when it moves sees every change.
The snapshot is read in one database snapshot, version first, so it is never torn and
never labelled newer than it is. Trusted callers only (the gate, operators): no principal.
"""

from __future__ import annotations

from collections import defaultdict

from servicetokens.domain.access.policies import AccessPolicy
from servicetokens.domain.access.snapshot import ControlPlaneSnapshot
from servicetokens.store.access_policies import DecodedPolicies
from servicetokens.store.database import Database
from servicetokens.usecases.access_common import assemble

__all__ = ["ControlPlane"]


class ControlPlane:
    """An account's applications, policies and organizations, for enforcement."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._decoded = DecodedPolicies()
        """The policies the last snapshot decoded: a gate re-reads them all on every
        change, and decodes only those that changed."""

    def version(self, account_id: str) -> int:
        """The account's control-plane version (0 before its first write): one indexed
        read, cheap enough to poll."""
        with self._database.read() as tx:
            return tx.versions.control_plane_version(account_id)

    def snapshot(self, account_id: str) -> ControlPlaneSnapshot:
        """Every application of the account and its zones (policies resolved, by
        precedence), every reusable policy, the account's and zones' organizations, and the
        version they were read at."""
        with self._database.snapshot() as tx:
            version = tx.versions.control_plane_version(account_id)
            apps = tx.access_apps.of_account(account_id)
            policies = tx.access_policies.of_account(account_id, self._decoded)
            links = tx.access_apps.links([app.id for app in apps])
            organizations = tx.organizations.of_account(account_id)
        reusable = {policy.id: policy for policy in policies if policy.reusable}
        scoped: defaultdict[str, list[AccessPolicy]] = defaultdict(list)
        for policy in policies:
            if policy.app_id is not None:
                scoped[policy.app_id].append(policy)
        return ControlPlaneSnapshot(
            account_id=account_id,
            version=version,
            applications=tuple(assemble(apps, links, scoped, reusable)),
            reusable_policies=tuple(reusable.values()),
            organizations=tuple(organizations),
        )
