"""How one gate enforces: which account; one upstream and its policy, or the account's Access
applications and where each hostname goes; and its tunables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from servicetokens.domain.network import DEFAULT_TRUSTED_PROXIES
from servicetokens.domain.signing_keys import KeySchedule
from servicetokens.usecases.audit_retention import DEFAULT_RETENTION_DAYS

__all__ = ["FORWARD_AUTH_PATH", "GateSettings", "default_audience", "gate_default"]

FORWARD_AUTH_PATH = "/cdn-cgi/access/authorize"
"""The forward-auth endpoint (nginx `auth_request`, Traefik ForwardAuth, Caddy forward_auth)."""

_KEYS = KeySchedule()
"""The signing-key schedule's defaults, written once in the domain."""


def default_audience(account_id: str, upstream: str) -> str:
    """An AUD tag stable across restarts and replicas: 64 hex digits, like Cloudflare's."""
    return hashlib.sha256(f"servicetokens\n{account_id}\n{upstream}".encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class GateSettings:
    """Everything a gate process needs besides its database."""

    account_id: str
    """Only tokens of this account (its own or its zones') authenticate."""
    upstream: str | None = None
    """The single-upstream form: the base URL every request is proxied to, e.g.
    `http://127.0.0.1:8080`, guarded by one implicit application (`policy`, `audience`,
    `issuer`, `token_header`). None: the gate serves the account's Access applications."""
    routes: tuple[tuple[str, str], ...] = ()
    """Application mode: (hostname or `*.domain`, base URL) pairs saying where requests
    for each hostname are proxied (`--route HOST=URL`)."""
    policy: frozenset[str] | None = None
    """Token ids (UUIDs) the policy admits; None admits any valid token of the account."""
    audience: str = ""
    """The `aud` of issued JWTs; empty means `default_audience(account_id, upstream)`."""
    issuer: str = ""
    """The `iss` of issued JWTs; empty means `servicetokens:<account_id>`."""
    token_header: str | None = None
    """Single-header mode: the header holding `{"cf-access-client-id", ...}` JSON."""
    jwt_ttl: timedelta = timedelta(hours=1)
    """Lifetime of an issued JWT (reuse still re-checks the token on every request)."""
    key_rotation: timedelta = _KEYS.rotation
    """How long a signing key signs before its successor takes over."""
    key_overlap: timedelta = _KEYS.overlap
    """How long a superseded key stays published (must outlive `jwt_ttl`)."""
    key_lead: timedelta = _KEYS.lead
    """How long a new key is published before it signs (replicas refresh within a minute)."""
    failure_limit: int = 30
    """Failed attempts allowed per client id per `failure_window`; 0 disables the limit."""
    failure_window: timedelta = timedelta(minutes=1)
    """The window the failure limit refills over."""
    last_seen_interval: float = 1.0
    """Seconds between last_seen_at flushes (the documented staleness bound is 5 s)."""
    poll_interval: float = 0.15
    """Seconds between reads of the change feed (the PostgreSQL backstop uses 0.5 s)."""
    cache_size: int = 100_000
    """Most tokens kept in the verification cache (unknown client ids have an LRU of their
    own, of 10 000)."""
    cache_max_age: float = 60.0
    """Seconds after which a cached token is read again even if no change was announced."""
    upstream_timeout: float = 60.0
    """Seconds to wait for the upstream to connect, send or answer."""
    cookie: bool = True
    """Return the JWT as the `CF_Authorization` cookie for reuse."""
    audit_retention_days: int = DEFAULT_RETENTION_DAYS
    """Days of audit log kept (0: forever); the gate prunes older entries hourly."""
    audit_prune_interval: float = 3600.0
    """Seconds between audit log prunes (the first runs a minute after startup, or sooner)."""
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    """CIDRs of proxies whose `X-Forwarded-*` headers are believed (see `domain.network`)."""
    request_log: bool = False
    """One JSON log line per request with its request id (`--log-format json`)."""

    def __post_init__(self) -> None:
        if self.upstream is None:
            single = {
                "policy": self.policy is not None,
                "audience": bool(self.audience),
                "issuer": bool(self.issuer),
                "token_header": self.token_header is not None,
            }
            given = [name for name, set_ in single.items() if set_]
            if given:
                raise ValueError(
                    f"{', '.join(given)} belong to the single-upstream form (with an upstream);"
                    " applications carry their own"
                )
        elif self.routes:
            raise ValueError("routes serve applications: give routes or an upstream, not both")

    @property
    def applications(self) -> bool:
        """Whether this gate serves the account's Access applications (no upstream)."""
        return self.upstream is None

    @property
    def aud(self) -> str:
        """The effective audience (single-upstream form)."""
        return self.audience or default_audience(self.account_id, self.upstream or "")

    @property
    def iss(self) -> str:
        """The effective issuer."""
        return self.issuer or f"servicetokens:{self.account_id}"


def gate_default(name: str) -> Any:
    """The default of `GateSettings.<name>`: the CLI's options read their defaults here, so
    each is written once."""
    return GateSettings.__dataclass_fields__[name].default
