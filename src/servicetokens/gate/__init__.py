"""The gate: enforces service tokens in front of an upstream, as a proxy or forward-auth.

Exports are loaded on first use, so the CLI, which reads `GateSettings` to parse its options,
does not pull the proxy and its HTTP client into every command. A gate is built by
`servicetokens.bootstrap.build_gate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicetokens.gate.app import GateApp
    from servicetokens.gate.settings import FORWARD_AUTH_PATH, GateSettings

__all__ = ["FORWARD_AUTH_PATH", "GateApp", "GateSettings"]

_HOMES = {
    "GateApp": "servicetokens.gate.app",
    "FORWARD_AUTH_PATH": "servicetokens.gate.settings",
    "GateSettings": "servicetokens.gate.settings",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_HOMES[name]), name)
