"""SQLAlchemy Core tables and indexes: one schema for SQLite and PostgreSQL.

Timestamps are stored as integer microseconds since the Unix epoch (UTC): the same type,
ordering and precision on both engines, and cheap to index.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from servicetokens.store.alerting_tables import alerting_tables

__all__ = [
    "access_app_claims",
    "access_app_links",
    "access_applications",
    "access_organizations",
    "access_policies",
    "access_policy_tokens",
    "accounts",
    "alert_deliveries",
    "alert_fired",
    "alert_policies",
    "alert_webhooks",
    "api_tokens",
    "audit_log",
    "container_versions",
    "dashboard_sessions",
    "login_throttle",
    "memberships",
    "metadata",
    "service_tokens",
    "signing_keys",
    "token_changes",
    "users",
    "worker_leases",
    "zones",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

zones = Table(
    "zones",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("api_key_digest", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    # The dashboard's sign-in (migration 0011): an argon2id hash, NULL until one is set.
    Column("password_hash", Text, nullable=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("email", String(254), ForeignKey("users.email"), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("token_digest", LargeBinary(32), nullable=False, unique=True),
    Column("scope_kind", String(8), nullable=False),
    Column("scope_id", String(32), nullable=False),
    Column("permission", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # Written behind by the API processes (a few seconds stale at most), never per request.
    Column("last_used_at", BigInteger, nullable=True),
)

service_tokens = Table(
    "service_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("container_kind", String(8), nullable=False),
    Column("container_id", String(32), nullable=False),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("search_key", Text, nullable=False),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("secret_digest", LargeBinary(32), nullable=False),
    Column("client_secret_version", BigInteger, nullable=False),
    Column("previous_secret_digest", LargeBinary(32), nullable=True),
    Column("previous_client_secret_expires_at", BigInteger, nullable=True),
    Column("duration", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=True),
    # The list order and the `name` filter are both served from an index, never a scan.
    Index("ix_service_tokens_list", "container_kind", "container_id", "created_at", "id"),
    Index("ix_service_tokens_name", "container_kind", "container_id", "name", "created_at", "id"),
    Index("ix_service_tokens_account_expiry", "account_id", "expires_at"),  # expiry alerts
    # The lifecycle order and filters (migration 0013), which also adds
    # ix_service_tokens_seen on (container_kind, container_id,
    # coalesce(last_seen_at, created_at), id): an expression index, kept out of the metadata.
    Index("ix_service_tokens_expires", "container_kind", "container_id", "expires_at", "id"),
    # On PostgreSQL, migration 0005 adds ix_service_tokens_search_trgm: a pg_trgm GIN index
    # on search_key, so `search` does not read every row of the container.
)

token_changes = Table(
    "token_changes",
    metadata,
    # A feed of writes to service tokens, in commit order. Gates (and response caches) read
    # it to evict what they hold: revocation beats every cache, across processes.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("client_id", String(64), nullable=False),
    Column("container_kind", String(8), nullable=False),
    Column("container_id", String(32), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Index("ix_token_changes_changed_at", "changed_at"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    # RS256 keys the gate signs JWTs with, shared by every replica. A key is published
    # before it signs (`activates_at` lies ahead when it is made) and stays published for
    # an overlap after its successor activates, so no verifier ever meets an unknown kid.
    # The private key is stored only wrapped under a key-encryption key that is never in
    # the database (`signing/kek.py`); `kek_id` names that KEK. The certificate is public.
    Column("kid", String(64), primary_key=True),
    Column("wrapped_key", Text, nullable=False),
    Column("kek_id", String(16), nullable=False),
    Column("cert_pem", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("activates_at", BigInteger, nullable=False),
    Index("ix_signing_keys_activates_at", "activates_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Who did what to which token, when and from where: every mutation, and every failed
    # gate attempt for a recognised client id. Never a secret.
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", BigInteger, nullable=False),
    Column("account_id", String(32), nullable=True),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(254), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(64), nullable=True),
    Column("origin", String(64), nullable=True),
    Column("detail", Text, nullable=False),
    Index("ix_audit_log_account_id_at", "account_id", "at"),
    Index("ix_audit_log_at", "at"),
)

container_versions = Table(
    "container_versions",
    metadata,
    # Bumped in the same transaction as every token mutation in the container: a response
    # cache is valid while the version it was built at is current. Also holds the token count,
    # so an unfiltered list needs no COUNT(*) over the container.
    Column("container_kind", String(16), primary_key=True),
    Column("container_id", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("token_count", BigInteger, nullable=False),
)


# -- the Access control plane (migration 0009) ----------------------------------------------
# Bodies are the JSON the API shows (rules, settings), stored verbatim; the columns beside
# them are what is filtered, ordered or kept unique. Every write here also bumps the
# account's `control_plane` row of container_versions (store/versions.py).

access_policies = Table(
    "access_policies",
    metadata,
    # Reusable policies (app_id NULL, the account's) and app-scoped ones (the app's
    # container, ordered by precedence).
    Column("id", String(36), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("container_kind", String(8), nullable=False),
    Column("container_id", String(32), nullable=False),
    Column("app_id", String(36), nullable=True),
    Column("precedence", BigInteger, nullable=True),
    Column("name", Text, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_access_policies_account", "account_id", "app_id", "created_at", "id"),
    Index("ix_access_policies_app", "app_id", "precedence"),
)

access_policy_tokens = Table(
    "access_policy_tokens",
    metadata,
    # The service tokens each policy's rules name: a token named here cannot be deleted
    # (12139), found by one indexed lookup.
    Column("policy_id", String(36), primary_key=True),
    Column("token_id", String(36), primary_key=True),
    Index("ix_access_policy_tokens_token_id", "token_id"),
)

access_applications = Table(
    "access_applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("container_kind", String(8), nullable=False),
    Column("container_id", String(32), nullable=False),
    Column("aud", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("domain", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("tokens_revoked_at", BigInteger, nullable=True),
    Index("ix_access_applications_list", "container_kind", "container_id", "created_at", "id"),
    Index("ix_access_applications_account", "account_id", "created_at", "id"),
)

access_app_links = Table(
    "access_app_links",
    metadata,
    # Reusable policies linked to applications, at a precedence (`app_count` counts these).
    Column("app_id", String(36), primary_key=True),
    Column("policy_id", String(36), primary_key=True),
    Column("precedence", BigInteger, nullable=False),
    Index("ix_access_app_links_policy_id", "policy_id"),
)

access_app_claims = Table(
    "access_app_claims",
    metadata,
    # The public hostnames and paths each application protects, case-folded: one
    # application per claim in an account (409/11010 otherwise).
    Column("account_id", String(32), primary_key=True),
    Column("claim", Text, primary_key=True),
    Column("app_id", String(36), nullable=False),
    Index("ix_access_app_claims_app_id", "app_id"),
)

access_organizations = Table(
    "access_organizations",
    metadata,
    # One per account or zone; auth_domain (case-folded) is unique across accounts.
    Column("container_kind", String(8), primary_key=True),
    Column("container_id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("auth_domain", String(253), nullable=False, unique=True),
    Column("strict_locked", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)


# -- notifications (migration 0010): store/alerting_tables.py -------------------------------
alert_webhooks, alert_policies, alert_deliveries, alert_fired, worker_leases = alerting_tables(
    metadata
)

# -- the dashboard (migration 0011) -----------------------------------------------------------

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    # Server-side sessions of people signed in to the dashboard. The cookie carries the
    # session id; only its SHA-256 digest is stored. A session ends at `expires_at`
    # (absolute), at `idle_expires_at` (moved on use), or when revoked (sign-out).
    Column("id_digest", LargeBinary(32), primary_key=True),
    Column("email", String(254), ForeignKey("users.email"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("idle_expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    # A secret waiting to be shown once (after create or rotate), sealed with AES-GCM under
    # a key derived from the session id, which only the browser's cookie holds.
    Column("pending_token_id", String(36), nullable=True),
    Column("pending_secret", Text, nullable=True),
    Column("pending_until", BigInteger, nullable=True),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    # Failed sign-ins counted per client address, per email and per known device (a device
    # row is made on a successful sign-in and names its email): see usecases/sign_in.py.
    Column("key", String(128), primary_key=True),
    Column("email", String(254), nullable=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", BigInteger, nullable=False),
    Column("blocked_until", BigInteger, nullable=True),
)
