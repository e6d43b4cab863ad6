"""Arda Realtime: typed events over Redis, delivered to browsers.

Packages:
- ``arda.events`` — the event bus library (typed events, Redis transport, history).
- ``arda.notifications`` — the WebSocket notification service (next milestone).
"""

__version__ = "0.1.0"
