"""Helpers for testing code that uses Arda: a private ``redis-server`` (``arda.testing.redis_server``).

The in-process twin of the bus itself is ``EventBus("memory://name")``.
"""
