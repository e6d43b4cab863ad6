"""Who may see an event, and as what: the one rule behind live delivery, replay and HTTP history.

* On a tenant stream, an event is a **notification** for every user of the tenant, or only for its
  ``recipients`` when it names them.
* A read announcement (``notification.acknowledged``, :mod:`.acks`) is an **acknowledgement** for its own user
  only — it tells that user's other connections and devices — and never a notification.
* On the ``global`` stream (monitors), every event but read announcements is a notification for the monitor,
  recipients or not: a monitor sees the whole platform.

Pure: no I/O.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from ..events import AnyEvent
from .acks import ACK_EVENT_TYPE, NotificationAcknowledged

GLOBAL = "global"


class As(Enum):
    NOTIFICATION = "notification"
    ACKNOWLEDGEMENT = "acknowledged"


class Audience(NamedTuple):
    """Who sees an event on a stream: ``users`` None means everyone subscribed; ``as_`` None means nobody."""

    as_: As | None
    users: tuple[str, ...] | None = None

    def sees(self, user_id: str | None) -> As | None:
        """What ``user_id`` sees of the event (None: nothing)."""
        if self.as_ is None or (self.users is not None and user_id not in self.users):
            return None
        return self.as_


NOBODY = Audience(None)
EVERYONE = Audience(As.NOTIFICATION)


def audience(stream: str, event: AnyEvent) -> Audience:
    """Who sees ``event`` on ``stream`` (a tenant id, or ``global``), and as what."""
    if event.type == ACK_EVENT_TYPE:
        if stream == GLOBAL or not isinstance(event, NotificationAcknowledged) or event.user_id is None:
            return NOBODY
        return Audience(As.ACKNOWLEDGEMENT, (event.user_id,))
    recipients = event.recipients
    if stream == GLOBAL or recipients is None:
        return EVERYONE
    return Audience(As.NOTIFICATION, tuple(recipients))


__all__ = ["EVERYONE", "GLOBAL", "NOBODY", "As", "Audience", "audience"]
