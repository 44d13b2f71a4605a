"""The gate: enforces service tokens in front of an upstream, as a proxy or forward-auth.

Import what you need from its modules (`gate.app.GateApp`, `gate.settings.GateSettings`); a
gate is built by `servicetokens.bootstrap.build_gate`. This package imports nothing on its
own, so the CLI, which reads `GateSettings` to parse its options, does not pull the proxy and
its HTTP client into every command.
"""
