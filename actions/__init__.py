"""Back-office systems of record and the governed tools that are the only door into them.

This package knows nothing of dialogue or channels: callers hand it an actor, arguments and an
idempotency key, and get back typed results with verification evidence.
"""
