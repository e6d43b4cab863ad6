"""Pure tests of events, validation, the registry, positions and backoff: no I/O, no event loop."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import pytest

from arda.events import (
    CardTransition,
    Event,
    EventRegistry,
    EventValidationError,
    GenericEvent,
    InvalidTenantError,
    OrderCreated,
    RegistryError,
    UnknownEventTypeError,
    default_registry,
    validate_tenant_id,
)
from arda.events.backoff import Backoff
from arda.events.ids import uuid7, uuid7_time_ms
from arda.events.models import utc_now
from arda.events.positions import parse_position, position_after
from arda.events.wire import Malformed, frame_with_position, parse_message

DESIGN_DOC_EXAMPLE = {
    "type": "card.transition",
    "tenantId": "tenant-001",
    "cardId": "card-123",
    "loopId": "loop-456",
    "fromStage": "todo",
    "toStage": "in-progress",
    "method": "drag-drop",
    "userId": "user-789",
    "timestamp": "2026-11-27T08:00:00.000Z",
}


def test_design_document_example_round_trips_in_camel_case() -> None:
    event = default_registry.from_wire(DESIGN_DOC_EXAMPLE)
    assert isinstance(event, CardTransition)
    assert (event.card_id, event.loop_id, event.from_stage, event.to_stage) == (
        "card-123",
        "loop-456",
        "todo",
        "in-progress",
    )
    _, data = default_registry.prepare(event)
    wire = json.loads(data)
    for key, value in DESIGN_DOC_EXAMPLE.items():
        if key != "timestamp":
            assert wire[key] == value
    assert wire["timestamp"].startswith("2026-11-27T08:00:00")
    assert wire["version"] == 1
    assert len(wire["id"]) == 36
    assert "position" not in wire


def test_id_and_timestamp_are_generated_when_absent() -> None:
    a = OrderCreated(tenant_id="t1", order_id="o", order_number="PO-1")
    b = OrderCreated(tenant_id="t1", order_id="o", order_number="PO-1")
    assert a.id != b.id
    assert a.timestamp.tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - a.timestamp).total_seconds()) < 5


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"cardId": None}, "cardId"),
        ({"cardId": 12}, "cardId"),
        ({"toStage": ""}, "toStage"),
        ({"userId": None}, "userId"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-01-01T00:00:00"}, "timestamp"),  # no time zone
        ({"version": 0}, "version"),
        ({"recipients": "u-1"}, "recipients"),
    ],
)
def test_validation_error_names_type_and_field(patch: dict[str, Any], field: str) -> None:
    raw = {**DESIGN_DOC_EXAMPLE, **patch}
    if patch.get(field, 0) is None:
        del raw[field]
    with pytest.raises(EventValidationError) as info:
        default_registry.prepare(raw)
    assert info.value.event_type == "card.transition"
    assert info.value.field == field
    assert "card.transition" in str(info.value)
    assert field in str(info.value)


def test_model_instances_are_validated_before_sending() -> None:
    bad = CardTransition(
        tenant_id="t1",
        card_id="c",
        loop_id="l",
        from_stage="a",
        to_stage="b",
        method="api",
        user_id=42,  # type: ignore[arg-type]
    )
    with pytest.raises(EventValidationError) as info:
        default_registry.prepare(bad)
    assert (info.value.event_type, info.value.field) == ("card.transition", "userId")


@pytest.mark.parametrize("tenant", ["", "global", "GLOBAL", "a b", "a:b", "t*", "-lead", "x" * 65, "ü", None, 7])
def test_bad_tenant_ids_are_rejected(tenant: object) -> None:
    with pytest.raises(InvalidTenantError) as info:
        validate_tenant_id(tenant)
    assert info.value.field == "tenantId"
    with pytest.raises(EventValidationError) as info2:
        default_registry.prepare({**DESIGN_DOC_EXAMPLE, "tenantId": tenant})
    assert info2.value.field == "tenantId"


@pytest.mark.parametrize("tenant", ["t", "tenant-001", "Acme_Corp.eu-1", "x" * 64, "0"])
def test_good_tenant_ids_pass(tenant: str) -> None:
    assert validate_tenant_id(tenant) == tenant


def test_publishing_an_unregistered_type_is_refused() -> None:
    with pytest.raises(UnknownEventTypeError, match=r"inventory\.low"):
        default_registry.prepare({"type": "inventory.low", "tenantId": "t1"})


def test_unknown_types_decode_as_generic_events_with_their_fields() -> None:
    payload = (
        b'{"type":"inventory.low","tenantId":"t1","id":"e-1","partId":"p-9","onHand":3,'
        b'"timestamp":"2026-01-01T00:00:00Z"}'
    )
    event = default_registry.decode(payload)
    assert isinstance(event, GenericEvent)
    assert (event.type, event.tenant_id, event.id) == ("inventory.low", "t1", "e-1")
    assert event.fields == {"partId": "p-9", "onHand": 3}
    assert json.loads(default_registry.encode(event)) == json.loads(payload) | {"version": 1}


def test_generic_event_without_id_gets_the_same_id_on_every_receiver() -> None:
    payload = b'{"type":"x.y","tenantId":"t1","n":1}'
    assert default_registry.decode(payload).id == default_registry.decode(payload).id
    assert default_registry.decode(payload).id != default_registry.decode(b'{"type":"x.y","tenantId":"t1","n":2}').id


def test_consumers_ignore_fields_they_do_not_know() -> None:
    raw = {**DESIGN_DOC_EXAMPLE, "priority": "high", "newNested": {"a": [1]}}
    event = default_registry.from_wire(raw)
    assert isinstance(event, CardTransition)
    assert event.card_id == "card-123"


def test_services_register_their_own_types() -> None:
    registry = EventRegistry()

    class InventoryLow(Event, tag="inventory.low", kw_only=True):
        part_id: str
        on_hand: int

    registry.register(InventoryLow)
    event, data = registry.prepare({"type": "inventory.low", "tenantId": "t1", "partId": "p", "onHand": 2})
    assert isinstance(event, InventoryLow)
    assert isinstance(registry.decode(data), InventoryLow)
    assert "inventory.low" in json.dumps(registry.json_schema())
    with pytest.raises(EventValidationError) as info:
        registry.prepare({"type": "inventory.low", "tenantId": "t1", "partId": "p", "onHand": "two"})
    assert (info.value.event_type, info.value.field) == ("inventory.low", "onHand")
    # the default registry is untouched
    assert isinstance(default_registry.decode(data), GenericEvent)


def test_registration_errors() -> None:
    registry = EventRegistry()

    class Untagged(Event, kw_only=True):
        x: int = 0

    class Clash(Event, tag="order.created", kw_only=True):
        x: int = 0

    with pytest.raises(RegistryError, match="no type tag"):
        registry.register(Untagged)
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(Clash)
    with pytest.raises(RegistryError):
        registry.register(dict)  # type: ignore[arg-type]


def test_json_schema_covers_every_builtin_type() -> None:
    schema = default_registry.json_schema()
    tags = set(schema["discriminator"]["mapping"])
    assert tags >= {
        "card.transition",
        "order.created",
        "order.status_changed",
        "loop.parameters_changed",
        "relowisa.recommendation",
    }
    card = schema["$defs"]["CardTransition"]
    assert set(card["required"]) >= {"type", "tenantId", "cardId", "loopId", "fromStage", "toStage", "method", "userId"}
    assert card["x-event-type"] == "card.transition"


def test_uuid7_is_time_sortable_and_versioned() -> None:
    a = uuid7(1_000, b"\xff" * 10)
    b = uuid7(1_001, b"\x00" * 10)
    assert a < b
    assert a[14] == "7"
    assert a[19] in "89ab"
    assert uuid7_time_ms(b) == 1_001


def test_uuid7_strings_are_canonical_and_unique_across_random_blocks() -> None:
    def reference(ms: int, rand: bytes) -> str:
        value = ms << 80 | int.from_bytes(rand, "big")
        value = value & ~(0xF << 76) | 0x7 << 76
        value = value & ~(0x3 << 62) | 0x2 << 62
        return str(uuid.UUID(int=value))

    for ms, rand in [(0, bytes(10)), (0x0123_4567_89AB, bytes(range(10))), ((1 << 48) - 1, b"\xff" * 10)]:
        assert uuid7(ms, rand) == reference(ms, rand)
    ids = [uuid7() for _ in range(1_000)]  # several blocks of drawn randomness
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in ids)


def test_utc_now_is_now_to_the_millisecond() -> None:
    before = dt.datetime.now(dt.UTC)
    now = utc_now()
    after = dt.datetime.now(dt.UTC)
    assert now.tzinfo is dt.UTC
    assert now.microsecond % 1000 == 0
    assert before - dt.timedelta(milliseconds=1) <= now <= after


def test_positions_compare_numerically() -> None:
    assert parse_position("12-3") == (12, 3)
    assert position_after("100-0", "99-5")
    assert position_after("5-10", "5-9")
    assert not position_after("5-9", "5-9")
    with pytest.raises(ValueError, match="invalid position"):
        parse_position("abc")


def test_backoff_is_full_jitter_with_a_cap() -> None:
    top = Backoff(base=0.1, cap=2.0, rng=lambda: 1.0)
    assert [top.delay(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert top.delay(1000) == 2.0
    assert Backoff(rng=lambda: 0.0).delay(3) == 0.0


def test_parse_message_classifies_malformed_input() -> None:
    good = frame_with_position("5-0", default_registry.prepare(DESIGN_DOC_EXAMPLE)[1])
    event = parse_message(default_registry, "tenant-001", good)
    assert isinstance(event, CardTransition)
    assert event.position == "5-0"
    assert parse_message(default_registry, "global", good) == event
    cases = {
        b"not json": "invalid_json",
        b"[1,2]": "invalid_json",
        b'{"tenantId":"tenant-001"}': "invalid_event",
        b'{"type":"order.created","orderId":"o"}': "invalid_event",
        good.replace(b'"tenant-001"', b'"tenant-002"'): "tenant_mismatch",
        good.replace(b'"5-0"', b'"soon"'): "invalid_position",
    }
    for payload, reason in cases.items():
        result = parse_message(default_registry, "tenant-001", payload)
        assert isinstance(result, Malformed), payload
        assert result.reason == reason, (payload, result)


def test_wire_field_names_are_camel_case() -> None:
    event = OrderCreated(tenant_id="t1", order_id="o", order_number="PO-1", supplier_name="Acme", total_amount=3.5)
    wire = msgspec.json.decode(default_registry.prepare(event)[1])
    assert {"tenantId", "orderId", "orderNumber", "supplierName", "totalAmount"} <= set(wire)
    assert not any("_" in key for key in wire)


# -- a tolerant reader: fields a type does not declare are kept -----------------------------------------------
def _card(**extra: Any) -> dict[str, Any]:
    return {
        "type": "card.transition",
        "tenantId": "tenant-001",
        "cardId": "c-1",
        "loopId": "l-1",
        "fromStage": "todo",
        "toStage": "done",
        "method": "api",
        "userId": "u-1",
        **extra,
    }


def test_fields_a_type_does_not_declare_are_kept_as_extra_and_written_back() -> None:
    registry = EventRegistry()
    wire = _card(note="moved by the night shift", meta={"shift": {"n": 3}, "tags": ["a"]})
    event, data = registry.prepare(wire)
    assert isinstance(event, CardTransition)
    assert event.extra == {"note": "moved by the night shift", "meta": {"shift": {"n": 3}, "tags": ["a"]}}
    back = json.loads(data)
    assert back["note"] == "moved by the night shift"
    assert back["meta"] == {"shift": {"n": 3}, "tags": ["a"]}
    assert "$extra" not in back
    decoded = registry.decode(data)  # what a subscriber reads from the channel or from history
    assert isinstance(decoded, CardTransition)
    assert decoded.extra == event.extra
    assert registry.to_wire(decoded)["meta"]["shift"] == {"n": 3}
    plain = registry.decode(registry.prepare(_card())[1])
    assert isinstance(plain, CardTransition)
    assert plain.extra is None  # none: None, and nothing written


def test_an_extra_field_never_hides_a_bad_declared_one() -> None:
    registry = EventRegistry()
    with pytest.raises(EventValidationError, match="cardId"):
        registry.decode(json.dumps(_card(cardId="", note="x")).encode())
    model = CardTransition(
        tenant_id="t", card_id="c", loop_id="l", from_stage="a", to_stage="b", method="api", user_id="u",
        extra={"cardId": "other"},
    )  # fmt: skip
    with pytest.raises(EventValidationError, match="name of a declared one"):
        registry.prepare(model)


def test_the_schema_does_not_show_the_extra_mapping() -> None:
    schema = json.dumps(EventRegistry().json_schema())
    assert "$extra" not in schema
