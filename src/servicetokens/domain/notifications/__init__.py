"""Notifications (Cloudflare's alerting v3): webhook destinations, notification policies,
the alerts servicetokens raises, their payloads, signatures, retries and safe targets.

Pure rules only, like the rest of `domain/`: the store keeps these values, the use cases
decide when to raise them, and `webhooks/` sends them."""
