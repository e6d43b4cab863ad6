"""Pure tests of the protocol's server messages (``arda.notifications.protocol``): their encoding and the JSON
Schemas ``arda protocol`` prints. No I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from arda.events import CardTransition
from arda.notifications import protocol
from arda.notifications.codes import ErrorCode
from arda.notifications.mapper import Notification, NotificationMapper
from arda.notifications.protocol import (
    Acknowledged,
    AcknowledgedPayload,
    AnyServerMessage,
    Authenticated,
    AuthenticatedPayload,
    Error,
    ErrorPayload,
    NotificationMessage,
    Pong,
    Subscribed,
    SubscribedPayload,
    Unsubscribed,
    UnsubscribedPayload,
)


def a_notification(stream: str | None = None) -> Notification:
    event = CardTransition(
        tenant_id="tenant-001",
        timestamp=dt.datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=dt.UTC),
        card_id="card-123",
        loop_id="loop-456",
        from_stage="todo",
        to_stage="in-progress",
        method="drag-drop",
        user_id="user-789",
        position="1795769113757-0",
    )
    return NotificationMapper().map(event, stream)


SAMPLES: list[AnyServerMessage] = [
    Authenticated(
        payload=AuthenticatedPayload(user_id="u-1", tenants=["tenant-001"], expires_at=protocol.iso(1795769113.757)),
        message_id="a1",
    ),
    Subscribed(
        payload=SubscribedPayload(tenant_id="tenant-001", position="1-0", recovered=True, backlog=0), message_id="s1"
    ),
    Subscribed(payload=SubscribedPayload(tenant_id="tenant-001", position=None, recovered=False, backlog=3)),
    Unsubscribed(payload=UnsubscribedPayload(tenant_id="tenant-001"), message_id="u1"),
    Unsubscribed(payload=UnsubscribedPayload(tenant_id="tenant-002", reason="the refreshed token does not allow it")),
    Acknowledged(payload=AcknowledgedPayload(notification_id="tenant-001:01a2"), message_id="k1"),
    Acknowledged(payload=AcknowledgedPayload(notification_id="tenant-001:01a2")),
    Pong(message_id="p1"),
    Pong(),
    Error(payload=ErrorPayload(code=ErrorCode.FORBIDDEN, message="not allowed"), message_id="s2"),
    NotificationMessage(payload=a_notification()),
    NotificationMessage(payload=a_notification("global")),
]


@pytest.mark.parametrize("stream", [None, "global"])
def test_the_hot_path_wrapper_writes_the_bytes_of_the_typed_message(stream: str | None) -> None:
    notification = a_notification(stream)
    wrapped = protocol.notification_message(msgspec.json.encode(notification))
    assert wrapped == protocol.encode(NotificationMessage(payload=notification))
    decoded = msgspec.json.decode(wrapped)
    assert decoded["type"] == "notification"
    assert decoded["payload"]["stream"] == ("tenant-001" if stream is None else "global")
    assert decoded["payload"]["position"] == "1795769113757-0"


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_server_message_round_trips_through_the_union(message: AnyServerMessage) -> None:
    data = protocol.encode(message)
    assert msgspec.json.decode(data, type=AnyServerMessage) == message


def _check(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    """A check of ``value`` against the subset of JSON Schema msgspec writes for these messages: refs, objects
    (properties, required, no extra members), arrays, enums, unions and scalar types."""
    if "$ref" in schema:
        _check(value, defs[schema["$ref"].removeprefix("#/$defs/")], defs, where)
        return
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _check(value, option, defs, where)
            except AssertionError as exc:
                errors.append(str(exc))
            else:
                return
        raise AssertionError(f"{where}: {value!r} matches no option: {errors}")
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict), f"{where}: not an object"
        properties = schema.get("properties")
        if properties is not None:
            assert set(schema.get("required", ())) <= set(value), f"{where}: missing {schema.get('required')}"
            assert set(value) <= set(properties), f"{where}: members {set(value) - set(properties)} not in schema"
            for key, item in value.items():
                _check(item, properties[key], defs, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), f"{where}: not an array"
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), defs, f"{where}[{i}]")
    elif kind is not None:
        types: dict[str, type | tuple[type, ...]] = {
            "string": str,
            "boolean": bool,
            "null": type(None),
            "integer": int,
            "number": (int, float),
        }
        python = types[kind]
        assert isinstance(value, python), f"{where}: {value!r} is not {kind}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} is not {schema['const']!r}"


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_server_message_has_the_shape_of_the_schema(message: AnyServerMessage) -> None:
    schema = protocol.server_message_schema()
    encoded = msgspec.json.decode(protocol.encode(message))
    ref = schema["discriminator"]["mapping"][encoded["type"]]
    assert type(message).__name__ == ref.removeprefix("#/$defs/")
    _check(encoded, schema, schema["$defs"], "$")
    _check(encoded, {"$ref": ref}, schema["$defs"], "$")


def test_the_schema_check_refuses_what_the_schema_does_not_allow() -> None:
    schema = protocol.server_message_schema()
    bad: list[dict[str, Any]] = [
        {"type": "pong", "extra": 1},
        {"type": "subscribed", "payload": {"tenantId": "t", "position": None}},
        {"type": "notification", "payload": {"id": "x"}},
        {"type": "error", "payload": {"code": "no_such_code", "message": "m"}},
    ]
    for value in bad:
        with pytest.raises(AssertionError):
            _check(value, {"$ref": schema["discriminator"]["mapping"][value["type"]]}, schema["$defs"], "$")


def test_the_schemas_cover_every_message_type() -> None:
    server = protocol.server_message_schema()
    assert set(server["discriminator"]["mapping"]) == {
        "authenticated",
        "subscribed",
        "unsubscribed",
        "notification",
        "acknowledged",
        "history",
        "pong",
        "error",
    }
    notification = server["$defs"]["Notification"]
    assert "stream" in notification["required"]
    client = protocol.client_message_schema()
    assert set(client["discriminator"]["mapping"]) == set(protocol.CLIENT_MESSAGE_TYPES)
    for name in protocol.CLIENT_MESSAGE_TYPES:
        sample: dict[str, Any] = {"type": name, "messageId": "m"}
        payloads = {
            "authenticate": {"token": "t"},
            "subscribe": {"tenantId": "tenant-001", "since": "1-0", "backlog": 20},
            "unsubscribe": {"tenantId": "tenant-001"},
            "history": {"tenantId": "tenant-001", "before": "1-0", "limit": 20},
            "acknowledge": {"notificationId": "tenant-001:x"},
        }
        if name in payloads:
            sample["payload"] = payloads[name]
        _check(sample, client, client["$defs"], "$")
        assert type(protocol.decode_client_message(msgspec.json.encode(sample))).__name__.lower() == name
