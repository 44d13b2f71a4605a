"""The Access control plane: reusable and app-scoped policies and their rules, self-hosted
applications, and the organization. Pure values and the rules that validate them; the
store keeps them and the use cases tie them to tokens, accounts and zones."""

__all__: list[str] = []
