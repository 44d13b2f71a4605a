"""The gate: enforces service tokens in front of an upstream, as a proxy or forward-auth."""

from __future__ import annotations

from servicetokens.gate.app import GateApp, build_gate
from servicetokens.gate.settings import FORWARD_AUTH_PATH, GateSettings

__all__ = ["FORWARD_AUTH_PATH", "GateApp", "GateSettings", "build_gate"]
