"""Acknowledgements: a user's read state, and how their other connections learn of it.

An ``acknowledge`` becomes a read mark in the bus's read state (:meth:`EventBus.mark_read
<arda.events.EventBus.mark_read>`), kept beside the tenant's history and never in it — so acknowledgements
can never push events out of the capped history — and, when the mark is new, a ``notification.acknowledged``
event delivered live (not stored) on the notification's tenant with ``recipients = [the user]``: every
instance passes it to that user's other connections as an ``acknowledged`` message. A client resuming later
is sent ``acknowledged`` for the marks made since its position. (Histories written by earlier versions may
still hold stored acknowledgement events: they are replayed the same way.)

Notification ids carry their tenant: ``"{tenantId}:{eventId}"`` (tenant ids never contain ``:``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from ..events import Event, register_event_type, validate_tenant_id
from ..events.errors import InvalidTenantError

ACK_EVENT_TYPE = "notification.acknowledged"


@register_event_type
class NotificationAcknowledged(Event, tag=ACK_EVENT_TYPE, kw_only=True):
    """A user acknowledged (read) a notification."""

    description: ClassVar[str] = "A user acknowledged (read) a notification; sent to that user's connections."
    notification_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    #: The connection that acknowledged, so it is not told twice (opaque; may be absent).
    origin: Annotated[str, msgspec.Meta(max_length=128)] | None = None


def notification_id(tenant_id: str, event_id: str) -> str:
    return f"{tenant_id}:{event_id}"


def split(notification_id: str) -> tuple[str, str] | None:
    """``(tenant, event id)`` of a notification id, or None when it is not of the form ``tenant:event``."""
    tenant, sep, event_id = notification_id.partition(":")
    if not sep or not event_id:
        return None
    try:
        return validate_tenant_id(tenant), event_id
    except InvalidTenantError:
        return None
