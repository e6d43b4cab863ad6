"""The exception tree of ``arda.events``. Every error carries a stable ``code``.

::

    ArdaError
    ├── EventValidationError      code "invalid_event"    (names the event type and the field)
    │   └── InvalidTenantError    code "invalid_tenant"
    ├── UnknownEventTypeError     code "unknown_type"
    ├── RegistryError             code "registry"         (bad or conflicting registration)
    └── BusError
        ├── BusClosedError        code "bus_closed"       (the bus was used after shutdown())
        ├── BackendUnavailableError code "backend_unavailable"  (Redis unreachable; names URL and cause)
        └── PublishError          code "publish_failed"   (the publish may or may not have been stored:
                                                            retry with the same event id, it is idempotent)
"""

from __future__ import annotations


class ArdaError(Exception):
    """Root of every error raised by Arda."""

    code = "error"


class EventValidationError(ArdaError, ValueError):
    """An event failed validation. ``event_type`` and ``field`` name what is wrong."""

    code = "invalid_event"

    def __init__(self, event_type: str | None, field: str | None, detail: str) -> None:
        self.event_type = event_type
        self.field = field
        self.detail = detail
        where = f"field `{field}`" if field else "event"
        super().__init__(f"invalid {event_type or 'event'}: {where}: {detail}")


class InvalidTenantError(EventValidationError):
    """A tenant id is empty, too long, uses characters outside the safe set, or is reserved."""

    code = "invalid_tenant"

    def __init__(self, tenant_id: object, detail: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(None, "tenantId", detail)


class UnknownEventTypeError(ArdaError, ValueError):
    """Publishing an event type that is not registered in this process."""

    code = "unknown_type"

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(f"unknown event type {event_type!r}: register it with arda.events.register_event_type()")


class RegistryError(ArdaError, TypeError):
    """An event type registration is invalid (no tag, or a tag already taken by another class)."""

    code = "registry"


class BusError(ArdaError):
    """Errors of the bus at run time."""

    code = "bus_error"


class BusClosedError(BusError):
    """The bus was shut down: raised by :meth:`EventBus.connect` — and so by every method that connects on first
    use (publish, subscribe, history…) — once :meth:`EventBus.shutdown` was called, also while a connect was
    under way. A bus not connected yet is not an error: its methods connect it."""

    code = "bus_closed"


class BackendUnavailableError(BusError, ConnectionError):
    """The backend (Redis) cannot be reached. The message names the URL, without password, and the cause."""

    code = "backend_unavailable"


class PublishError(BusError):
    """A publish failed. It may have been stored: retrying with the same event id is safe (idempotent)."""

    code = "publish_failed"
