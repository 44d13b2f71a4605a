"""The gate's Access enforcement engine, pure (standard library only).

The gate builds `AppView`s (with their `PolicyView`s, rules as stored) and an `OrgView` from
what the API stored, compiles them once with `compile_apps`, and for each request:

1. `index.lookup(host, path)` → the most specific application (`Match`) or None (§5.1);
2. reads the credentials (the app's `read_service_tokens_from_header` included) into
   `RequestFacts`;
3. `decide(match, org, facts)` → a `Verdict` (§5.2–§5.4, §6.1, §6.3);
4. on `Outcome.ADMIT`, signs `jwt_claims(...)` (§8).

Modules: `views` (inputs), `rules` (the three classes of rule), `policies` (one policy,
ordering), `locations` (host and path patterns), `apps` and `index` (matching),
`verdict` (the decision), `claims` (the JWT payload).
"""

from __future__ import annotations

from servicetokens.domain.enforcement.claims import issuer, jwt_claims, session_seconds
from servicetokens.domain.enforcement.index import AppIndex, Match, compile_apps
from servicetokens.domain.enforcement.policies import order_policies, policy_matches
from servicetokens.domain.enforcement.rules import RuleClass, classify_rule, rule_value
from servicetokens.domain.enforcement.verdict import Outcome, Verdict, decide, enforce, login_url
from servicetokens.domain.enforcement.views import (
    AppView,
    OrgView,
    PolicyDecision,
    PolicyView,
    RequestFacts,
    TokenFacts,
)

__all__ = [
    "AppIndex",
    "AppView",
    "Match",
    "OrgView",
    "Outcome",
    "PolicyDecision",
    "PolicyView",
    "RequestFacts",
    "RuleClass",
    "TokenFacts",
    "Verdict",
    "classify_rule",
    "compile_apps",
    "decide",
    "enforce",
    "issuer",
    "jwt_claims",
    "login_url",
    "order_policies",
    "policy_matches",
    "rule_value",
    "session_seconds",
]
