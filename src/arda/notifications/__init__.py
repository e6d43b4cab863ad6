"""``arda.notifications`` — the WebSocket notification service (``arda serve``).

Importing it registers the ``notification.acknowledged`` event type (see :mod:`.acks`).
"""

from . import acks as _acks  # noqa: F401
