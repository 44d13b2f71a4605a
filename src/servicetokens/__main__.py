"""`python -m servicetokens`."""

from servicetokens.cli.main import main

main()
