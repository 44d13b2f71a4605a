"""Sending webhooks: HTTP POSTs to destinations the target rules allow, over aiohttp.

Used by the service layer (the delivery worker, the test message); imports only the domain.
"""
