"""The dashboard: server-rendered pages where a person manages service tokens (an
entrypoint over the same use cases as the API; see docs/dashboard.md)."""

from servicetokens.dashboard.app import mount_dashboard

__all__ = ["mount_dashboard"]
