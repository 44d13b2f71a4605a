"""Pure rules of servicetokens: no I/O, no framework, no SQL."""
