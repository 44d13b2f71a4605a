"""What a new user sees the first time `servicetokens serve` starts on an empty database."""

from __future__ import annotations

from rich.console import Console

__all__ = ["print_welcome"]


def print_welcome(
    *, host: str, port: int, account_id: str, token: str, email: str, password: str
) -> None:
    """Print the first account, its Write token and the dashboard's administrator login
    (both shown once) and examples to paste."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    site = f"http://{shown_host}:{port}"
    base = f"{site}/client/v4"
    text = f"""[bold]A first account was created. The token and the password are shown only
this once.[/bold]

  account id : {account_id}
  API token  : {token}   (Access: Service Tokens Write)
  base URL   : {base}

[bold]Dashboard[/bold]  {site}/
  email      : {email}
  password   : {password}
  (change it: servicetokens users set-password {email})

[bold]curl[/bold]
  curl -s -X POST {base}/accounts/{account_id}/access/service_tokens \\
    -H "Authorization: Bearer {token}" \\
    -H "Content-Type: application/json" \\
    -d '{{"name": "my-first-token", "duration": "8760h"}}'

[bold]Python SDK[/bold] (pip install cloudflare)
  from cloudflare import Cloudflare
  client = Cloudflare(api_token="{token}", base_url="{base}")
  created = client.zero_trust.access.service_tokens.create(
      account_id="{account_id}", name="my-first-token")
  print(created.client_id, created.client_secret)
"""
    # soft_wrap and no panel: long tokens and commands must stay intact for copy-paste.
    Console(soft_wrap=True, highlight=False).print(text)
