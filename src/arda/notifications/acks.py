"""Acknowledgements travel as events: ``notification.acknowledged``, published on the notification's tenant
with ``recipients = [the user]``. Every instance delivers it to that user's connections (an ``acknowledged``
message), and it is stored in the tenant's history like any event, so a client resuming later learns of
acknowledgements made in its absence.

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


def tenant_of(notification_id: str) -> str | None:
    """The tenant a notification id belongs to, or None when it is not of the form ``tenant:event``."""
    tenant, sep, rest = notification_id.partition(":")
    if not sep or not rest:
        return None
    try:
        return validate_tenant_id(tenant)
    except InvalidTenantError:
        return None
