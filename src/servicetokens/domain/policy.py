"""Which valid tokens a gate admits (a Service Auth policy): the account, then `any` or a list
of token ids."""

from __future__ import annotations

from dataclasses import dataclass

from servicetokens.domain.tokens import ServiceToken

__all__ = ["Policy", "parse_policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """A Service Auth policy: any valid token of the account, or only the listed ones."""

    account_id: str
    token_ids: frozenset[str] | None
    """None admits any token of the account (`any_valid_service_token`)."""

    def owns(self, token: ServiceToken) -> bool:
        """Whether the token belongs to the account (its own or one of its zones)."""
        return token.container.account_id == self.account_id

    def admits(self, token: ServiceToken) -> bool:
        """Whether an authenticated token of the account may pass (else 403)."""
        return self.token_ids is None or token.id in self.token_ids


def parse_policy(text: str) -> frozenset[str] | None:
    """`any` → None; `UUID,UUID,...` → those ids (lowercased). Raises ValueError."""
    text = text.strip()
    if text.lower() == "any":
        return None
    ids = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    if not ids:
        raise ValueError("the policy needs `any` or at least one token id")
    return ids
