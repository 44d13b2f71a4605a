"""The `servicetokens` command line (Typer + Rich)."""
