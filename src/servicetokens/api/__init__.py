"""The Cloudflare v4-compatible management API (FastAPI)."""

from servicetokens.api.app import create_app

__all__ = ["create_app"]
