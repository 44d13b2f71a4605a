"""Signing keys at rest: the key-encryption key, its sources, and the public key set.

Nothing here needs a private key in the clear outside a process that signs: private keys
are stored wrapped under a key-encryption key (KEK) that never enters the database, and
what the API publishes (`/cdn-cgi/access/certs`) is built from public certificates alone.
"""
