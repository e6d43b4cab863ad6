"""From events to notifications: the text a person reads, plus the event's masked data.

Contract:

- :meth:`NotificationMapper.map` turns one event into one :class:`Notification`. It runs **once per event**;
  the result is shared by every recipient, so it does no per-recipient work (and should stay cheap).
- ``id`` is ``"{tenantId}:{eventId}"`` (:func:`arda.notifications.acks.notification_id`): the same event,
  mapped again or replayed from history, gives the same id, so clients deduplicate on it; the tenant in it
  lets an ``acknowledge`` name its tenant.
- ``timestamp`` is the event's timestamp in UTC, ISO 8601 to the millisecond (truncated) with a ``Z``, as
  JavaScript's ``Date.toISOString()`` writes it (``"2026-11-27T08:00:00.123Z"``); a naive timestamp is taken
  as UTC. ``position`` is the event's position (``None`` when it has none).
- ``data`` is the event in wire form (camelCase, ``default_registry.to_wire(event)``) without ``position``,
  masked once by the mapper's :class:`~arda.notifications.masking.Masker`.
- ``title``, ``message``, ``severity`` and ``category`` come from the formatter registered for the event's
  type. The five built-in types have formatters (categories ``kanban``, ``orders``, ``loops``,
  ``recommendations``); a service registers its own with :meth:`NotificationMapper.register`, which also
  replaces an existing one. An event of a type without a formatter (a :class:`GenericEvent` or an
  unregistered type) gets the generic text: the title from the type (``"inventory.low"`` → ``"Inventory
  low"``), severity ``info``, category ``system``. So does an event whose formatter raises or returns
  something that is not a valid :class:`NotificationText`: the error is logged on the
  ``arda.notifications`` logger with the event's id and type, and mapping goes on.
- Texts are built from the event itself, not from the masked ``data``: formatters must not put sensitive
  fields into titles or messages. The built-in ones use ids, names, stages, statuses, amounts and the
  free-text ``reason``/``summary`` fields only.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, NamedTuple, TypeVar

import msgspec

from ..events import (
    AnyEvent,
    CardTransition,
    Event,
    LoopParametersChanged,
    OrderCreated,
    OrderStatusChanged,
    RelowisaRecommendation,
    default_registry,
)
from ..events.models import ParameterChange
from .acks import notification_id
from .masking import Masker

__all__ = [
    "Formatter",
    "Notification",
    "NotificationMapper",
    "NotificationText",
    "Severity",
    "generic_text",
    "humanize",
]

logger = logging.getLogger("arda.notifications")

Severity = Literal["info", "success", "warning", "error"]
SEVERITIES: Final = frozenset({"info", "success", "warning", "error"})


class NotificationText(NamedTuple):
    title: str
    message: str
    severity: Severity
    #: e.g. "kanban", "orders", "loops", "recommendations", "system".
    category: str


class Notification(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=False):
    """What the service sends to browsers for one event (camelCase on the wire)."""

    #: ``"{tenantId}:{eventId}"``: stable for the event.
    id: str
    event_id: str
    event_type: str
    tenant_id: str
    title: str
    message: str
    severity: Severity
    category: str
    #: The event's timestamp, ISO 8601 UTC with milliseconds and "Z".
    timestamp: str
    position: str | None
    #: The stream ``position`` belongs to: the tenant id, or ``"global"`` on a global (monitor) subscription.
    stream: str
    #: The event's wire fields (camelCase), masked, without ``position``.
    data: dict[str, Any]
    #: Whether the connection's user has read it (acknowledged it, on any device). Live notifications are new:
    #: false. Backlog, replay and ``history`` say what the user's read state says.
    read: bool


Formatter = Callable[[AnyEvent], NotificationText]

# -- text helpers ------------------------------------------------------------------------------------

_WORD_BREAK = re.compile(r"[\s_\-.]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
#: Labels that the generic rule would get wrong or awkward.
_LABELS: Final = {
    "todo": "To do",
    "leadTimeDays": "Lead time (days)",
    "safetyStockDays": "Safety stock (days)",
}


def humanize(name: str) -> str:
    """A label from an identifier: ``"in-progress"`` → ``"In progress"``, ``"numberOfCards"`` → ``"Number of
    cards"``, ``"in_production"`` → ``"In production"``, ``"todo"`` → ``"To do"``; acronyms stay (``"QA"``)."""
    known = _LABELS.get(name)
    if known is not None:
        return known
    words = [w if len(w) > 1 and w.isupper() else w.lower() for w in _WORD_BREAK.split(name) if w]
    if not words:
        return name
    first = words[0]
    words[0] = first[0].upper() + first[1:]
    return " ".join(words)


def _lower_label(name: str) -> str:
    """``humanize`` in running text: ``"in_production"`` → ``"in production"`` (acronyms stay)."""
    label = humanize(name)
    if len(label) > 1 and label[1].isupper():  # starts with an acronym
        return label
    return label[:1].lower() + label[1:]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _amount(value: float) -> str:
    return f"{value:.2f}"


def _with_reason(message: str, reason: str | None) -> str:
    if reason:
        return f"{message}. Reason: {reason.strip()}"
    return message


def _changes(changes: Sequence[ParameterChange]) -> str:
    parts = []
    for change in changes:
        label = humanize(change.parameter)
        if change.old_value is None and change.new_value is not None:
            parts.append(f"{label} set to {_value(change.new_value)}")
        elif change.new_value is None and change.old_value is not None:
            parts.append(f"{label} cleared (was {_value(change.old_value)})")
        else:
            parts.append(f"{label} {_value(change.old_value)} → {_value(change.new_value)}")
    return "; ".join(parts)


def _utc_iso(timestamp: _dt.datetime) -> str:
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=_dt.UTC)
    elif timestamp.utcoffset() != _dt.timedelta(0):
        timestamp = timestamp.astimezone(_dt.UTC)
    return timestamp.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# -- formatters --------------------------------------------------------------------------------------


def generic_text(event: AnyEvent) -> NotificationText:
    """The text of an event without a (working) formatter: from its type, tenant and user only."""
    title = humanize(event.type)
    actor = f" by {event.user_id}" if event.user_id else ""
    message = f"{title}{actor} in tenant {event.tenant_id} ({event.type})"
    return NotificationText(title, message, "info", "system")


def _card_transition(event: CardTransition) -> NotificationText:
    return NotificationText(
        "Card moved",
        f"Card {event.card_id} moved from {humanize(event.from_stage)} to {humanize(event.to_stage)}",
        "info",
        "kanban",
    )


def _order_created(event: OrderCreated) -> NotificationText:
    supplier = event.supplier_name or event.supplier_id
    detail = ""
    if event.total_amount is not None:
        detail = _amount(event.total_amount) + (f" {event.currency}" if event.currency else "")
    elif event.lines:
        detail = f"{len(event.lines)} line" + ("" if len(event.lines) == 1 else "s")
    if supplier or detail:
        message = event.order_number + (f" for {supplier}" if supplier else "") + (f", {detail}" if detail else "")
    else:
        message = f"New {_lower_label(event.order_type)} order {event.order_number}"
    return NotificationText(f"Order {event.order_number} created", message, "success", "orders")


#: How a status reads in "Order PO-1042 …"; other statuses read "now <status>".
_STATUS_TITLES: Final = {
    "draft": "returned to draft",
    "submitted": "submitted",
    "confirmed": "confirmed",
    "in_production": "in production",
    "shipped": "shipped",
    "partially_received": "partially received",
    "received": "received",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
_STATUS_SEVERITIES: Final[dict[str, Severity]] = {
    "cancelled": "warning",
    "canceled": "warning",
    "received": "success",
}


def _order_status_changed(event: OrderStatusChanged) -> NotificationText:
    status = event.to_status
    label = _STATUS_TITLES.get(status) or f"now {_lower_label(status)}"
    message = f"{event.order_number} moved from {humanize(event.from_status)} to {humanize(status)}"
    return NotificationText(
        f"Order {event.order_number} {label}",
        _with_reason(message, event.reason),
        _STATUS_SEVERITIES.get(status, "info"),
        "orders",
    )


def _loop_parameters_changed(event: LoopParametersChanged) -> NotificationText:
    return NotificationText(
        f"Loop {event.loop_name or event.loop_id} updated",
        _with_reason(_changes(event.changes), event.reason),
        "info",
        "loops",
    )


def _relowisa_recommendation(event: RelowisaRecommendation) -> NotificationText:
    return NotificationText(
        f"Recommendation for loop {event.loop_name or event.loop_id}",
        f"{event.summary.strip()} ({event.confidence:.0%} confidence)",
        "warning" if event.kind == "expedite" else "info",
        "recommendations",
    )


_E = TypeVar("_E", bound=Event)


def _typed(cls: type[_E], formatter: Callable[[_E], NotificationText]) -> Formatter:
    """A formatter for any event from one for ``cls``; another class (a ``GenericEvent`` of the same type
    name, decoded where the type is not registered) gets the generic text."""

    def format_event(event: AnyEvent) -> NotificationText:
        if isinstance(event, cls):
            return formatter(event)
        return generic_text(event)

    format_event.__name__ = formatter.__name__
    return format_event


BUILTIN_FORMATTERS: Final[dict[str, Formatter]] = {
    "card.transition": _typed(CardTransition, _card_transition),
    "order.created": _typed(OrderCreated, _order_created),
    "order.status_changed": _typed(OrderStatusChanged, _order_status_changed),
    "loop.parameters_changed": _typed(LoopParametersChanged, _loop_parameters_changed),
    "relowisa.recommendation": _typed(RelowisaRecommendation, _relowisa_recommendation),
}


def _valid(text: object) -> NotificationText:
    """``text`` as a :class:`NotificationText`, or :class:`TypeError`/:class:`ValueError` if it is not one."""
    if not isinstance(text, tuple) or len(text) != 4:
        raise TypeError(f"a formatter must return a NotificationText, got {type(text).__name__}")
    title, message, severity, category = text
    if not (isinstance(title, str) and isinstance(message, str) and isinstance(category, str)):
        raise TypeError("title, message and category of a NotificationText must be strings")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {sorted(SEVERITIES)}, got {severity!r}")
    return text if isinstance(text, NotificationText) else NotificationText(title, message, severity, category)


# -- the mapper --------------------------------------------------------------------------------------


class NotificationMapper:
    """Maps events to :class:`Notification` objects; see the module docstring for the contract."""

    def __init__(self, masker: Masker | None = None) -> None:
        self.masker = masker if masker is not None else Masker()
        self._formatters: dict[str, Formatter] = dict(BUILTIN_FORMATTERS)

    def register(self, event_type: str, formatter: Formatter) -> None:
        """Use ``formatter`` for events of ``event_type``, replacing the one registered before, if any."""
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event_type must be a non-empty string, got {event_type!r}")
        if not callable(formatter):
            raise TypeError(f"formatter must be callable, got {type(formatter).__name__}")
        self._formatters[event_type] = formatter

    def formatter_for(self, event_type: str) -> Formatter | None:
        return self._formatters.get(event_type)

    def text(self, event: AnyEvent) -> NotificationText:
        """The title, message, severity and category of ``event`` (never raises for a formatter's fault)."""
        formatter = self._formatters.get(event.type)
        if formatter is None:
            return generic_text(event)
        try:
            return _valid(formatter(event))
        except Exception:
            logger.exception(
                "notification formatter failed for event %s (%s); using the generic text",
                event.id,
                event.type,
                extra={"eventId": event.id, "eventType": event.type},
            )
            return generic_text(event)

    def map(self, event: AnyEvent, stream: str | None = None) -> Notification:
        """The notification for ``event`` as delivered on ``stream`` (its tenant's unless given; once per event
        and stream, shared by all its recipients)."""
        text = self.text(event)
        wire = default_registry.to_wire(event)
        wire.pop("position", None)
        return Notification(
            id=notification_id(event.tenant_id, event.id),
            event_id=event.id,
            event_type=event.type,
            tenant_id=event.tenant_id,
            title=text.title,
            message=text.message,
            severity=text.severity,
            category=text.category,
            timestamp=_utc_iso(event.timestamp),
            position=event.position,
            stream=event.tenant_id if stream is None else stream,
            data=self.masker.mask(wire),
            read=False,
        )
