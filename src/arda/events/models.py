"""Typed events: the envelope every event shares, and the five built-in event types.

Wire form is camelCase JSON (``tenantId``, ``cardId``…), exactly as in the design document. The envelope:

``id``          unique, time-sortable (UUIDv7); generated when absent
``type``        the event type, e.g. ``"card.transition"`` (the tag of the class)
``tenantId``    the tenant; see :data:`TENANT_ID_PATTERN`; ``"global"`` is reserved
``timestamp``   ISO 8601 UTC; generated when absent
``version``     schema version of the type, default 1
``userId``      optional: the actor (``card.transition`` requires it)
``recipients``  optional: user ids; when present only those users are notified
``position``    set by the bus on delivery (the event's place in its stream); never set by publishers

Schema evolution: adding an optional field keeps ``version``; renaming, removing, retyping or making a
field required raises it. Consumers ignore fields they do not know (decoding never forbids unknown
fields), so an old consumer reads a newer event of the same version.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Annotated, Any, ClassVar

import msgspec

from .errors import InvalidTenantError
from .ids import uuid7


def whole(body: str) -> str:
    """A pattern that matches only when ``body`` matches the *whole* string, the same in Python's ``re`` (as
    msgspec applies a ``pattern``: with ``search``) and in JSON Schema's ECMAScript dialect. Not ``^…$``: in
    Python ``$`` also matches before a trailing newline (``"tenant-a\\n"`` would pass); "nothing follows"
    (``(?![\\s\\S])``) is the end of the string in both."""
    return f"^(?:{body})(?![\\s\\S])"


TENANT_ID_MAX_LENGTH = 64
#: Letters, digits, ``_``, ``-`` and ``.``; starts with a letter or digit; 1–64 characters. Safe inside
#: Redis key and channel names (no ``:``, ``*``, ``?``, ``[``, spaces, newlines) and in URLs.
TENANT_ID_PATTERN = whole(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED_TENANT_IDS = frozenset({"global"})
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # with fullmatch

TenantId = Annotated[
    str,
    msgspec.Meta(
        pattern=TENANT_ID_PATTERN,
        max_length=TENANT_ID_MAX_LENGTH,
        description="Tenant id: 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit; not 'global'.",
    ),
]
UtcTimestamp = Annotated[_dt.datetime, msgspec.Meta(tz=True, description="ISO 8601 date-time, UTC")]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ShortText = Annotated[str, msgspec.Meta(max_length=2000)]
ParameterValue = str | int | float | bool | None


def validate_tenant_id(tenant_id: object) -> str:
    """Return ``tenant_id`` if it is a valid, non-reserved tenant id; raise :class:`InvalidTenantError`."""
    if not isinstance(tenant_id, str) or not tenant_id:
        raise InvalidTenantError(tenant_id, "tenant id must be a non-empty string")
    if len(tenant_id) > TENANT_ID_MAX_LENGTH:
        raise InvalidTenantError(tenant_id, f"tenant id longer than {TENANT_ID_MAX_LENGTH} characters")
    if _TENANT_RE.fullmatch(tenant_id) is None:
        raise InvalidTenantError(
            tenant_id, f"tenant id {tenant_id!r} must be letters, digits, _ . - (starting with a letter or digit)"
        )
    if tenant_id.lower() in RESERVED_TENANT_IDS:
        raise InvalidTenantError(tenant_id, f"tenant id {tenant_id!r} is reserved")
    return tenant_id


def utc_now() -> _dt.datetime:
    """Now, UTC, to the millisecond (as JavaScript's ``Date.toISOString()``)."""
    # one datetime built from whole milliseconds (exact after fromtimestamp's rounding to the microsecond)
    return _dt.datetime.fromtimestamp(time.time_ns() // 1_000_000 / 1000, _dt.UTC)


def _one() -> int:
    return 1


#: The wire name of :attr:`Event.extra` (never written: extra fields are written at the top level).
EXTRA_FIELD = "$extra"


class Event(
    msgspec.Struct,
    kw_only=True,
    rename="camel",
    omit_defaults=True,
    tag_field="type",
    forbid_unknown_fields=True,
):
    """Base of every event type. Subclass it with ``tag="your.type"`` and register the subclass.

    A tolerant reader: fields a type does not declare (a newer publisher's optional additions) are kept in
    :attr:`extra` (wire names → values, in wire form) and written back at the top level, so history,
    republishing and notifications carry them to consumers that know them."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] = msgspec.field(default_factory=uuid7)
    tenant_id: TenantId
    timestamp: UtcTimestamp = msgspec.field(default_factory=utc_now)
    # a default_factory (not a plain default) so omit_defaults still writes the version
    version: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(default_factory=_one)
    user_id: NonEmpty | None = None
    recipients: list[NonEmpty] | None = None
    position: str | None = None
    #: Fields of the event that its type does not declare (wire names → values), or None.
    extra: dict[str, Any] | None = msgspec.field(default=None, name=EXTRA_FIELD)

    #: Title of the type in docs and in the JSON Schema.
    description: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.tenant_id.lower() in RESERVED_TENANT_IDS:
            raise ValueError(f"tenantId {self.tenant_id!r} is reserved")

    @property
    def type(self) -> str:
        """The event type (the class's tag), e.g. ``"card.transition"``."""
        return str(self.__struct_config__.tag)


class CardTransition(Event, tag="card.transition", kw_only=True):
    """A Kanban card moved from one stage of its loop to another."""

    description: ClassVar[str] = "A Kanban card moved between stages of its loop."
    card_id: NonEmpty
    loop_id: NonEmpty
    from_stage: NonEmpty
    to_stage: NonEmpty
    #: How the card was moved: "drag-drop", "api", "scan", "automation" (open set).
    method: NonEmpty
    user_id: NonEmpty


class OrderLine(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    part_id: NonEmpty
    quantity: Annotated[float, msgspec.Meta(gt=0)]
    part_name: ShortText | None = None
    unit: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class OrderCreated(Event, tag="order.created", kw_only=True):
    """A new order (purchase, production or transfer), usually triggered by a Kanban card."""

    description: ClassVar[str] = "A new order was created."
    order_id: NonEmpty
    #: Human-readable order number, e.g. "PO-1042".
    order_number: NonEmpty
    #: "purchase", "production" or "transfer" (open set).
    order_type: NonEmpty = msgspec.field(default_factory=lambda: "purchase")  # factory: always written
    loop_id: NonEmpty | None = None
    card_ids: list[NonEmpty] | None = None
    supplier_id: NonEmpty | None = None
    supplier_name: ShortText | None = None
    lines: list[OrderLine] | None = None
    total_amount: Annotated[float, msgspec.Meta(ge=0)] | None = None
    #: ISO 4217 code, e.g. "EUR".
    currency: Annotated[str, msgspec.Meta(pattern=whole("[A-Z]{3}"))] | None = None
    expected_at: UtcTimestamp | None = None


class OrderStatusChanged(Event, tag="order.status_changed", kw_only=True):
    """An order moved from one status to another."""

    description: ClassVar[str] = "An order changed status."
    order_id: NonEmpty
    order_number: NonEmpty
    #: Known statuses: draft, submitted, confirmed, in_production, shipped, partially_received, received,
    #: cancelled. The set is open: consumers must accept statuses they do not know.
    from_status: NonEmpty
    to_status: NonEmpty
    reason: ShortText | None = None


class ParameterChange(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    #: Known parameters: numberOfCards, orderQuantity, leadTimeDays, safetyStockDays,
    #: minimumOrderQuantity, reorderPoint (open set).
    parameter: NonEmpty
    old_value: ParameterValue = None
    new_value: ParameterValue = None


class LoopParametersChanged(Event, tag="loop.parameters_changed", kw_only=True):
    """The sizing parameters of a Kanban loop changed."""

    description: ClassVar[str] = "Parameters of a Kanban loop changed."
    loop_id: NonEmpty
    loop_name: ShortText | None = None
    changes: Annotated[list[ParameterChange], msgspec.Meta(min_length=1)]
    reason: ShortText | None = None


class RelowisaRecommendation(Event, tag="relowisa.recommendation", kw_only=True):
    """ReloWisa, the loop-sizing assistant, recommends a change to a loop."""

    description: ClassVar[str] = "ReloWisa recommends a change to a Kanban loop."
    recommendation_id: NonEmpty
    loop_id: NonEmpty
    loop_name: ShortText | None = None
    #: "resize_loop", "adjust_order_quantity", "adjust_lead_time", "expedite" (open set).
    kind: NonEmpty
    summary: ShortText
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    suggested_changes: list[ParameterChange] | None = None
    expires_at: UtcTimestamp | None = None


class GenericEvent(msgspec.Struct, kw_only=True, rename="camel"):
    """An event of a type this process does not know, delivered as is (forward compatibility).

    ``fields`` holds the type's own fields in wire form (camelCase), untouched.
    """

    type: str
    id: str
    tenant_id: str
    timestamp: _dt.datetime = msgspec.field(default_factory=utc_now)
    version: int = 1
    user_id: str | None = None
    recipients: list[str] | None = None
    position: str | None = None
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


AnyEvent = Event | GenericEvent
BUILTIN_EVENT_TYPES: tuple[type[Event], ...] = (
    CardTransition,
    OrderCreated,
    OrderStatusChanged,
    LoopParametersChanged,
    RelowisaRecommendation,
)
