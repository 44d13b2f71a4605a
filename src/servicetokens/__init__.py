"""servicetokens: self-hosted Cloudflare Access service tokens.

Two entrypoints share one service layer: the Cloudflare v4-compatible management API
(`servicetokens.api`) and the enforcing gate (`servicetokens.gate`).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
