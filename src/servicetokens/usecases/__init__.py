"""The service layer: the use cases the entrypoints (API, gate, CLI, workers) call.

Use cases take domain values (and, for the management API, a principal), decide every
authorization question, and reach storage through `servicetokens.store`; entrypoints never do.
"""
