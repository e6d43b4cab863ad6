"""``arda.events`` — typed events over Redis, with history.

>>> from arda.events import EventBus, OrderCreated
>>> async with EventBus("redis://localhost:6379/0") as bus:          # doctest: +SKIP
...     await bus.subscribe_tenant("tenant-001", print)
...     await bus.publish(OrderCreated(tenant_id="tenant-001", order_id="o-1", order_number="PO-1042"))
"""

from .backends.base import Retention
from .backoff import Backoff
from .bus import EventBus, Gap, Handler, HistoryPage, PublishResult, Revocation, get_event_bus
from .errors import (
    ArdaError,
    BackendUnavailableError,
    BusClosedError,
    BusError,
    EventValidationError,
    InvalidTenantError,
    PublishError,
    RegistryError,
    UnknownEventTypeError,
)
from .models import (
    AnyEvent,
    CardTransition,
    Event,
    GenericEvent,
    LoopParametersChanged,
    OrderCreated,
    OrderLine,
    OrderStatusChanged,
    ParameterChange,
    RelowisaRecommendation,
    validate_tenant_id,
)
from .registry import EventRegistry, default_registry, register_event_type
from .sync import SyncPublisher
from .wire import DeadLetter

__all__ = [
    "AnyEvent",
    "ArdaError",
    "Backoff",
    "BackendUnavailableError",
    "BusClosedError",
    "BusError",
    "CardTransition",
    "DeadLetter",
    "Event",
    "EventBus",
    "EventRegistry",
    "EventValidationError",
    "Gap",
    "GenericEvent",
    "Handler",
    "HistoryPage",
    "InvalidTenantError",
    "LoopParametersChanged",
    "OrderCreated",
    "OrderLine",
    "OrderStatusChanged",
    "ParameterChange",
    "PublishError",
    "PublishResult",
    "RegistryError",
    "RelowisaRecommendation",
    "Retention",
    "Revocation",
    "SyncPublisher",
    "UnknownEventTypeError",
    "default_registry",
    "get_event_bus",
    "register_event_type",
    "validate_tenant_id",
]
