"""`python -m servicetokens.cli`."""

from servicetokens.cli.main import main

main()
