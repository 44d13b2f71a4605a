"""Standard Webhooks signatures (v1): `webhook-id`, `webhook-timestamp`, and
`webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`.

The key is the destination's secret: when it starts with `whsec_`, the base64 after the
prefix (Standard Webhooks' own secret format, so receivers' libraries take it as is);
otherwise the secret's UTF-8 bytes. The id stays the same on every attempt of one delivery
(receivers de-duplicate on it); the timestamp and signature are made fresh per attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["message_id", "signature_key", "signed_headers"]

_PREFIX = "whsec_"


def signature_key(secret: str) -> bytes:
    """The HMAC key a destination's secret stands for."""
    if secret.startswith(_PREFIX):
        encoded = secret[len(_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            key = b""
        if key:
            return key
    return secret.encode()


def message_id(delivery_id: str) -> str:
    """The `webhook-id` of a delivery (no `.` in it, as the spec requires)."""
    return f"msg_{delivery_id}"


def signed_headers(
    *, delivery_id: str, timestamp: int, body: bytes, secret: str | None
) -> dict[str, str]:
    """The headers one attempt carries besides `Content-Type`: `cf-webhook-auth` and the
    signature when the destination has a secret, the id and timestamp always."""
    msg_id = message_id(delivery_id)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(signature_key(secret), signed, hashlib.sha256).digest()
        headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
        headers["cf-webhook-auth"] = secret
    return headers
