"""The registry of event types: validation, wire encoding and decoding, JSON Schema.

A service adds its own type without editing this library::

    class InventoryLow(Event, tag="inventory.low"):
        part_id: str
        on_hand: int

    register_event_type(InventoryLow)

Decoding never drops an event for being of an unknown type: it becomes a :class:`GenericEvent`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Union

import msgspec

from . import jsonlimits
from .errors import EventValidationError, RegistryError, UnknownEventTypeError
from .models import BUILTIN_EVENT_TYPES, EXTRA_FIELD, AnyEvent, Event, GenericEvent, validate_tenant_id

#: Event type names: dotted lower-case words, e.g. "order.status_changed".
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")  # with fullmatch
_FIELD_AT = re.compile(r"at `\$\.([A-Za-z0-9_]+)")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_ENVELOPE_KEYS = frozenset({"id", "type", "tenantId", "timestamp", "version", "userId", "recipients", "position"})
#: Namespace for ids derived from the payload of raw-published events that carry none.
_RAW_ID_NAMESPACE = uuid.UUID("5f0c4a52-4f0e-4a8e-9b43-6b8a3b1d2f10")


def _field_of(message: str) -> str | None:
    m = _FIELD_AT.search(message) or _MISSING.search(message)
    if m is not None:
        return m.group(1)
    if message.startswith("tenantId"):
        return "tenantId"
    return None


def _declared(cls: type[Event]) -> frozenset[str]:
    """The wire names a type declares (its tag field too; not :data:`EXTRA_FIELD`, which is never written)."""
    names = {f.encode_name for f in msgspec.structs.fields(cls)} - {EXTRA_FIELD}
    return frozenset(names | {"type"})


class _Envelope(msgspec.Struct, rename="camel"):
    """What every event must carry to be routed, read leniently for events of unknown types."""

    type: str
    tenant_id: str


class EventRegistry:
    """Event types by tag, and the codecs built from them. Not thread-safe for registration."""

    def __init__(self, types: tuple[type[Event], ...] = BUILTIN_EVENT_TYPES) -> None:
        self._types: dict[str, type[Event]] = {}
        self._encoder = msgspec.json.Encoder()
        self._dict_decoder = msgspec.json.Decoder(dict[str, Any])
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(dict[str, Any])
        self._union: Any = None
        self._fields: dict[type[Event], frozenset[str]] = {}  # each type's declared wire names
        for cls in types:
            self.register(cls)

    # -- registration -------------------------------------------------------------------------
    def register(self, cls: type[Event]) -> type[Event]:
        """Register an :class:`Event` subclass (usable as a decorator). Raises :class:`RegistryError`."""
        if not (isinstance(cls, type) and issubclass(cls, Event)):
            raise RegistryError(f"{cls!r} is not a subclass of arda.events.Event")
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str) or _TYPE_NAME.fullmatch(tag) is None:
            raise RegistryError(
                f"{cls.__name__} has no type tag of the form 'domain.event': declare it with tag='your.type'"
            )
        known = self._types.get(tag)
        if known is not None and known is not cls:
            raise RegistryError(f"event type {tag!r} is already registered by {known.__qualname__}")
        self._types[tag] = cls
        union: Any = Union[tuple(self._types.values())]  # noqa: UP007 - a runtime union of classes
        self._union = union
        self._decoder = msgspec.json.Decoder(union)
        return cls

    def get(self, event_type: str) -> type[Event] | None:
        return self._types.get(event_type)

    @property
    def types(self) -> dict[str, type[Event]]:
        return dict(self._types)

    # -- decoding -----------------------------------------------------------------------------
    def decode(self, payload: bytes | str) -> AnyEvent:
        """Decode and validate wire JSON.

        Returns the typed event, or a :class:`GenericEvent` when the type is not registered here.
        Raises :class:`EventValidationError` (naming the type and field) when the JSON is invalid, lacks
        ``type`` or a valid ``tenantId``, or fails the registered type's schema.
        """
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            event: Event = jsonlimits.decode(self._decoder, data)
            return event
        except msgspec.ValidationError as exc:
            error: msgspec.MsgspecError = exc
        except jsonlimits.JsonInputError as exc:
            raise EventValidationError(None, None, str(exc)) from None
        return self._decode_slow(data, error)

    def _decode_slow(self, payload: bytes, error: msgspec.MsgspecError) -> AnyEvent:
        try:
            raw = self._dict_decoder.decode(payload)  # well-formed and within the depth limit: checked above
        except msgspec.MsgspecError:
            raise EventValidationError(None, None, f"not a JSON object: {error}") from None
        return self.from_wire(raw, _payload=payload)

    def from_wire(self, raw: Mapping[str, Any], *, _payload: bytes | str | None = None) -> AnyEvent:
        """Validate a dict in wire form (camelCase). Unknown types become :class:`GenericEvent`."""
        event_type = raw.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise EventValidationError(None, "type", "missing or not a non-empty string")
        validate_tenant_id(raw.get("tenantId"))
        cls = self._types.get(event_type)
        if cls is None:
            return self._generic(raw, event_type, _payload)
        known = self._fields.get(cls) or self._fields.setdefault(cls, _declared(cls))
        if not known.issuperset(raw):  # a tolerant reader: what the type does not declare is kept as ``extra``
            extra = {k: v for k, v in raw.items() if k not in known}
            raw = {k: v for k, v in raw.items() if k in known}
            raw[EXTRA_FIELD] = extra
        try:
            return msgspec.convert(raw, cls)
        except msgspec.ValidationError as exc:
            raise EventValidationError(event_type, _field_of(str(exc)), str(exc)) from None

    def _generic(self, raw: Mapping[str, Any], event_type: str, payload: bytes | str | None) -> GenericEvent:
        envelope = {k: raw[k] for k in _ENVELOPE_KEYS if k in raw and raw[k] is not None}
        if "id" not in envelope:
            basis = payload if payload is not None else msgspec.json.encode(dict(raw))
            data = basis.encode() if isinstance(basis, str) else basis
            envelope["id"] = str(uuid.uuid5(_RAW_ID_NAMESPACE, data.hex()))
        try:
            generic = msgspec.convert(envelope, GenericEvent)
        except msgspec.ValidationError as exc:
            raise EventValidationError(event_type, _field_of(str(exc)), str(exc)) from None
        generic.fields = {k: v for k, v in raw.items() if k not in _ENVELOPE_KEYS}
        return generic

    # -- encoding and validation --------------------------------------------------------------
    def prepare(self, event: AnyEvent | Mapping[str, Any]) -> tuple[AnyEvent, bytes]:
        """Validate an event (model or wire dict) for publishing; return it and its wire JSON.

        The returned JSON has no ``position`` (the bus assigns it). Raises :class:`EventValidationError`
        or :class:`UnknownEventTypeError`.
        """
        if isinstance(event, Mapping):
            event_type = event.get("type")
            if isinstance(event_type, str) and event_type not in self._types:
                raise UnknownEventTypeError(event_type)
            parsed = self.from_wire(event)
        else:
            parsed = event
        if isinstance(parsed, GenericEvent):
            validate_tenant_id(parsed.tenant_id)
            if parsed.position is not None:
                parsed = msgspec.structs.replace(parsed, position=None)
            return parsed, self.encode(parsed)
        if not isinstance(parsed, Event):
            raise EventValidationError(None, None, f"expected an Event or a dict, got {type(parsed).__name__}")
        if parsed.type not in self._types:
            raise UnknownEventTypeError(parsed.type)
        if parsed.position is not None:
            parsed = msgspec.structs.replace(parsed, position=None)
        extra = parsed.extra
        core = parsed if not extra else msgspec.structs.replace(parsed, extra=None)
        data = self._encoder.encode(core)
        # Models are not validated at construction: decode what we are about to send to check it.
        try:
            jsonlimits.decode(self._decoder, data)
        except msgspec.ValidationError as exc:
            raise EventValidationError(parsed.type, _field_of(str(exc)), str(exc)) from None
        except jsonlimits.JsonInputError as exc:
            raise EventValidationError(parsed.type, None, str(exc)) from None
        if extra:
            data = self._with_extra(parsed, data, extra)
            try:
                jsonlimits.decode(self._dict_decoder, data)
            except jsonlimits.JsonInputError as exc:
                raise EventValidationError(parsed.type, None, str(exc)) from None
        return parsed, data

    def _with_extra(self, event: Event, data: bytes, extra: dict[str, Any]) -> bytes:
        """``data`` (an event's JSON object without its extra fields) with them at the top level."""
        known = self._fields.get(type(event)) or self._fields.setdefault(type(event), _declared(type(event)))
        clash = [k for k in extra if k in known]
        if clash:
            raise EventValidationError(event.type, clash[0], "an extra field has the name of a declared one")
        return data[:-1] + b"," + self._encoder.encode(extra)[1:]

    def encode(self, event: AnyEvent) -> bytes:
        """Wire JSON of an event (a :class:`GenericEvent`'s ``fields`` are written at the top level)."""
        if isinstance(event, GenericEvent):
            wire: dict[str, Any] = dict(event.fields)
            wire.update(
                {
                    "id": event.id,
                    "type": event.type,
                    "tenantId": event.tenant_id,
                    "timestamp": event.timestamp,
                    "version": event.version,
                }
            )
            if event.user_id is not None:
                wire["userId"] = event.user_id
            if event.recipients is not None:
                wire["recipients"] = event.recipients
            if event.position is not None:
                wire["position"] = event.position
            return self._encoder.encode(wire)
        if event.extra:
            return self._with_extra(
                event, self._encoder.encode(msgspec.structs.replace(event, extra=None)), event.extra
            )
        return self._encoder.encode(event)

    def to_wire(self, event: AnyEvent) -> dict[str, Any]:
        """The event as a wire-form dict (camelCase), e.g. for building notifications."""
        result: dict[str, Any] = self._dict_decoder.decode(self.encode(event))
        return result

    # -- schema -------------------------------------------------------------------------------
    def json_schema(self) -> dict[str, Any]:
        """JSON Schema (2020-12) of every registered type, as a discriminated union on ``type``."""
        schema: dict[str, Any] = msgspec.json.schema(self._union)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "ArdaEvent"
        for tag, cls in self._types.items():
            definition = schema["$defs"].get(cls.__name__)
            if definition is not None:
                definition.get("properties", {}).pop(EXTRA_FIELD, None)  # written at the top level, never as such
                definition["description"] = cls.description or (cls.__doc__ or "").strip()
                definition["x-event-type"] = tag
        return schema


#: The process-wide registry used by the bus unless one is passed in.
default_registry = EventRegistry()


def register_event_type(cls: type[Event]) -> type[Event]:
    """Register an event type in the process-wide registry (usable as a class decorator)."""
    return default_registry.register(cls)
