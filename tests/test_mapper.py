"""Pure tests of the notification mapper and of masking: no I/O, no event loop."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from arda.events import (
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
    default_registry,
)
from arda.notifications.mapper import (
    Notification,
    NotificationMapper,
    NotificationText,
    humanize,
)
from arda.notifications.masking import DEFAULT_MASK_PATTERNS, KEY_CACHE_SIZE, MASK, Masker, luhn_valid

TS = dt.datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=dt.UTC)
INVENTORY_LOW = b'{"type":"inventory.low","tenantId":"t1","partId":"p"}'


def card_transition() -> CardTransition:
    return CardTransition(
        tenant_id="tenant-001",
        timestamp=TS,
        card_id="card-123",
        loop_id="loop-456",
        from_stage="todo",
        to_stage="in-progress",
        method="drag-drop",
        user_id="user-789",
    )


def order_created() -> OrderCreated:
    return OrderCreated(
        tenant_id="tenant-001",
        timestamp=TS,
        order_id="o-1",
        order_number="PO-1042",
        loop_id="loop-456",
        card_ids=["card-123", "card-124"],
        supplier_id="sup-9",
        supplier_name="Acme Fasteners",
        lines=[OrderLine(part_id="part-m8", quantity=500, part_name="M8 bolt", unit="pcs")],
        total_amount=129.5,
        currency="EUR",
        expected_at=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
    )


def order_status_changed() -> OrderStatusChanged:
    return OrderStatusChanged(
        tenant_id="tenant-001",
        timestamp=TS,
        order_id="o-1",
        order_number="PO-1042",
        from_status="submitted",
        to_status="confirmed",
    )


def loop_parameters_changed() -> LoopParametersChanged:
    return LoopParametersChanged(
        tenant_id="tenant-001",
        timestamp=TS,
        loop_id="loop-456",
        loop_name="M8 bolts",
        changes=[ParameterChange(parameter="numberOfCards", old_value=4, new_value=5)],
    )


def relowisa_recommendation() -> RelowisaRecommendation:
    return RelowisaRecommendation(
        tenant_id="tenant-001",
        timestamp=TS,
        recommendation_id="rec-1",
        loop_id="loop-456",
        loop_name="M8 bolts",
        kind="resize_loop",
        summary="Add one card: demand rose 20% over four weeks.",
        confidence=0.85,
        suggested_changes=[ParameterChange(parameter="numberOfCards", old_value=4, new_value=5)],
        expires_at=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
    )


# (factory, title, message, severity, category)
BUILTIN_CASES: list[tuple[Callable[[], Event], str, str, str, str]] = [
    (card_transition, "Card moved", "Card card-123 moved from To do to In progress", "info", "kanban"),
    (order_created, "Order PO-1042 created", "PO-1042 for Acme Fasteners, 129.50 EUR", "success", "orders"),
    (order_status_changed, "Order PO-1042 confirmed", "PO-1042 moved from Submitted to Confirmed", "info", "orders"),
    (loop_parameters_changed, "Loop M8 bolts updated", "Number of cards 4 → 5", "info", "loops"),
    (
        relowisa_recommendation,
        "Recommendation for loop M8 bolts",
        "Add one card: demand rose 20% over four weeks. (85% confidence)",
        "info",
        "recommendations",
    ),
]
BUILTIN_IDS = [case[0].__name__ for case in BUILTIN_CASES]


# -- the five built-in types ------------------------------------------------------------------------


@pytest.mark.parametrize(("factory", "title", "message", "severity", "category"), BUILTIN_CASES, ids=BUILTIN_IDS)
def test_builtin_texts(factory: Callable[[], Event], title: str, message: str, severity: str, category: str) -> None:
    event = factory()
    notification = NotificationMapper().map(event)
    assert (notification.title, notification.message) == (title, message)
    assert (notification.severity, notification.category) == (severity, category)
    assert notification.event_type == event.type
    assert notification.event_id == event.id
    assert notification.tenant_id == "tenant-001"
    assert notification.timestamp == "2026-11-27T08:00:00.123Z"
    assert notification.position is None


@pytest.mark.parametrize("factory", [case[0] for case in BUILTIN_CASES], ids=BUILTIN_IDS)
def test_builtin_data_is_the_wire_form_field_for_field(factory: Callable[[], Event]) -> None:
    event = factory()
    wire = default_registry.to_wire(event)
    data = NotificationMapper().map(event).data
    assert data == wire  # nothing in the built-in types is masked by the defaults
    assert "position" not in data
    assert data["tenantId"] == "tenant-001"
    assert data["type"] == event.type
    assert all("_" not in key for key in data)  # camelCase, never snake_case


def test_builtin_data_keys_are_camel_case() -> None:
    mapper = NotificationMapper()
    data = mapper.map(card_transition()).data
    assert {"cardId": "card-123", "loopId": "loop-456", "fromStage": "todo", "toStage": "in-progress"}.items() <= (
        data.items()
    )
    assert data["userId"] == "user-789"
    order = mapper.map(order_created()).data
    assert order["cardIds"] == ["card-123", "card-124"]
    assert order["supplierName"] == "Acme Fasteners"
    assert order["totalAmount"] == 129.5
    assert order["lines"] == [{"partId": "part-m8", "quantity": 500, "partName": "M8 bolt", "unit": "pcs"}]
    loop = mapper.map(loop_parameters_changed()).data
    assert loop["changes"] == [{"parameter": "numberOfCards", "oldValue": 4, "newValue": 5}]
    rec = mapper.map(relowisa_recommendation()).data
    assert (rec["recommendationId"], rec["confidence"]) == ("rec-1", 0.85)


@pytest.mark.parametrize("factory", [case[0] for case in BUILTIN_CASES], ids=BUILTIN_IDS)
def test_id_is_stable_across_maps_and_replays(factory: Callable[[], Event]) -> None:
    event = factory()
    mapper = NotificationMapper()
    first = mapper.map(event)
    assert first.id == f"{event.tenant_id}:{event.id}"
    assert mapper.map(event).id == first.id
    replayed = default_registry.decode(default_registry.encode(event))
    again = NotificationMapper().map(replayed)
    assert again.id == first.id
    assert again == first  # the whole notification, not only the id


def test_position_is_carried_but_not_in_data() -> None:
    event = msgspec.structs.replace(card_transition(), position="1764230400123-0")
    notification = NotificationMapper().map(event)
    assert notification.position == "1764230400123-0"
    assert "position" not in notification.data
    assert notification.id == f"{event.tenant_id}:{event.id}"
    assert notification.stream == event.tenant_id
    assert NotificationMapper().map(event, "global").stream == "global"  # a monitor's position is the global one


def test_notification_wire_form_is_camel_case_with_null_position() -> None:
    encoded = msgspec.json.decode(msgspec.json.encode(NotificationMapper().map(card_transition())))
    assert set(encoded) == {
        "id",
        "eventId",
        "eventType",
        "tenantId",
        "title",
        "message",
        "severity",
        "category",
        "timestamp",
        "position",
        "stream",
        "data",
        "read",
    }
    assert encoded["read"] is False  # mapped once for every recipient: new to all of them
    assert encoded["position"] is None
    assert encoded["stream"] == "tenant-001"
    assert encoded["eventType"] == "card.transition"


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC), "2026-11-27T08:00:00.000Z"),
        (dt.datetime(2026, 11, 27, 8, 0, 0, 999999, tzinfo=dt.UTC), "2026-11-27T08:00:00.999Z"),
        (
            dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1, minutes=30))),
            "2026-11-27T08:00:00.000Z",
        ),
    ],
)
def test_timestamp_is_utc_with_milliseconds_and_z(timestamp: dt.datetime, expected: str) -> None:
    event = msgspec.structs.replace(card_transition(), timestamp=timestamp)
    assert NotificationMapper().map(event).timestamp == expected


def test_naive_generic_timestamp_is_taken_as_utc() -> None:
    event = GenericEvent(type="inventory.low", id="e-1", tenant_id="t1", timestamp=dt.datetime(2026, 1, 2, 3, 4, 5))
    assert NotificationMapper().map(event).timestamp == "2026-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("to_status", "reason", "title", "severity", "message"),
    [
        (
            "cancelled",
            "Supplier out of stock",
            "Order PO-1042 cancelled",
            "warning",
            "Submitted to Cancelled. Reason: Supplier out of stock",
        ),
        ("received", None, "Order PO-1042 received", "success", "Submitted to Received"),
        ("partially_received", None, "Order PO-1042 partially received", "info", "Submitted to Partially received"),
        ("in_production", None, "Order PO-1042 in production", "info", "Submitted to In production"),
        (
            "on_hold",
            "Waiting for a quote",
            "Order PO-1042 now on hold",
            "info",
            "to On hold. Reason: Waiting for a quote",
        ),
    ],
)
def test_order_status_variants(to_status: str, reason: str | None, title: str, severity: str, message: str) -> None:
    event = msgspec.structs.replace(order_status_changed(), to_status=to_status, reason=reason)
    notification = NotificationMapper().map(event)
    assert notification.title == title
    assert notification.severity == severity
    assert notification.message.endswith(message)
    assert notification.message.startswith("PO-1042 moved from ")


def test_order_created_variants() -> None:
    mapper = NotificationMapper()
    bare = OrderCreated(tenant_id="t1", order_id="o-2", order_number="MO-7", order_type="production")
    assert mapper.map(bare).message == "New production order MO-7"
    no_total = msgspec.structs.replace(order_created(), total_amount=None, currency=None, supplier_name=None)
    assert mapper.map(no_total).message == "PO-1042 for sup-9, 1 line"
    no_currency = msgspec.structs.replace(order_created(), currency=None, supplier_name=None, supplier_id=None)
    assert mapper.map(no_currency).message == "PO-1042, 129.50"
    assert mapper.map(no_currency).severity == "success"


def test_loop_changes_are_listed_with_human_names_and_reason() -> None:
    event = LoopParametersChanged(
        tenant_id="t1",
        loop_id="loop-9",
        changes=[
            ParameterChange(parameter="orderQuantity", old_value=100, new_value=120.0),
            ParameterChange(parameter="reorderPoint", old_value=None, new_value=10),
            ParameterChange(parameter="minimumOrderQuantity", old_value=50, new_value=None),
            ParameterChange(parameter="leadTimeDays", old_value=5, new_value=7),
        ],
        reason="Supplier moved",
    )
    notification = NotificationMapper().map(event)
    assert notification.title == "Loop loop-9 updated"  # no name: the id
    assert notification.message == (
        "Order quantity 100 → 120; Reorder point set to 10; Minimum order quantity cleared (was 50); "
        "Lead time (days) 5 → 7. Reason: Supplier moved"
    )


def test_expedite_recommendation_is_a_warning() -> None:
    event = msgspec.structs.replace(relowisa_recommendation(), kind="expedite", loop_name=None, confidence=0.5)
    notification = NotificationMapper().map(event)
    assert notification.severity == "warning"
    assert notification.title == "Recommendation for loop loop-456"
    assert notification.message.endswith("(50% confidence)")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("todo", "To do"),
        ("in-progress", "In progress"),
        ("in_production", "In production"),
        ("numberOfCards", "Number of cards"),
        ("safetyStockDays", "Safety stock (days)"),
        ("maxWIPLimit", "Max WIP limit"),
        ("inventory.low", "Inventory low"),
        ("done", "Done"),
    ],
)
def test_humanize(name: str, label: str) -> None:
    assert humanize(name) == label


# -- unknown types, custom formatters, failures ------------------------------------------------------


def test_unknown_type_gets_the_generic_notification() -> None:
    event = default_registry.decode(INVENTORY_LOW)
    assert isinstance(event, GenericEvent)
    notification = NotificationMapper().map(event)
    assert notification.title == "Inventory low"
    assert "t1" in notification.message
    assert (notification.severity, notification.category) == ("info", "system")
    assert notification.event_type == "inventory.low"
    assert notification.data["partId"] == "p"
    assert notification.data["tenantId"] == "t1"
    assert notification.id == f"{event.tenant_id}:{event.id}"
    assert NotificationMapper().map(default_registry.decode(INVENTORY_LOW)).id == notification.id


def test_generic_message_names_the_user() -> None:
    event = default_registry.decode(b'{"type":"inventory.low","tenantId":"t1","userId":"user-5","partId":"p"}')
    assert "user-5" in NotificationMapper().map(event).message


def test_generic_event_of_a_builtin_type_name_gets_the_generic_text() -> None:
    event = GenericEvent(type="card.transition", id="e-1", tenant_id="t1", fields={"cardId": "c-1"})
    notification = NotificationMapper().map(event)
    assert (notification.title, notification.category) == ("Card transition", "system")
    assert notification.data["cardId"] == "c-1"


def test_registered_formatter_is_used() -> None:
    mapper = NotificationMapper()

    def inventory_low(event: AnyEvent) -> NotificationText:
        assert isinstance(event, GenericEvent)
        return NotificationText(f"Part {event.fields['partId']} is low", "Reorder soon", "warning", "inventory")

    mapper.register("inventory.low", inventory_low)
    notification = mapper.map(default_registry.decode(INVENTORY_LOW))
    assert (notification.title, notification.message) == ("Part p is low", "Reorder soon")
    assert (notification.severity, notification.category) == ("warning", "inventory")


def test_register_replaces_a_builtin_formatter() -> None:
    mapper = NotificationMapper()
    mapper.register("card.transition", lambda event: NotificationText("Moved!", "m", "success", "kanban"))
    assert mapper.map(card_transition()).title == "Moved!"
    assert NotificationMapper().map(card_transition()).title == "Card moved"  # other mappers are not affected


def test_register_rejects_an_empty_type() -> None:
    with pytest.raises(ValueError, match="event_type"):
        NotificationMapper().register("", lambda event: NotificationText("t", "m", "info", "x"))


def test_raising_formatter_falls_back_to_generic_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    mapper = NotificationMapper()

    def broken(event: AnyEvent) -> NotificationText:
        raise KeyError("boom")

    mapper.register("card.transition", broken)
    event = card_transition()
    with caplog.at_level(logging.ERROR, logger="arda.notifications"):
        notification = mapper.map(event)
    assert (notification.title, notification.severity, notification.category) == ("Card transition", "info", "system")
    assert notification.id == f"{event.tenant_id}:{event.id}"
    assert notification.data["cardId"] == "card-123"
    records = [r for r in caplog.records if r.name == "arda.notifications"]
    assert len(records) == 1
    assert event.id in records[0].getMessage()
    assert records[0].exc_info is not None


def test_formatter_returning_an_invalid_severity_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    mapper = NotificationMapper()
    bad: Any = lambda event: ("t", "m", "critical", "x")  # noqa: E731 - deliberately not a NotificationText
    mapper.register("inventory.low", bad)
    with caplog.at_level(logging.ERROR, logger="arda.notifications"):
        notification = mapper.map(default_registry.decode(INVENTORY_LOW))
    assert (notification.title, notification.severity) == ("Inventory low", "info")
    records = [r for r in caplog.records if r.name == "arda.notifications"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "critical" in str(records[0].exc_info[1])


def test_formatter_returning_a_plain_tuple_is_accepted() -> None:
    mapper = NotificationMapper()
    plain: Any = lambda event: ("T", "M", "error", "stock")  # noqa: E731
    mapper.register("inventory.low", plain)
    notification = mapper.map(default_registry.decode(INVENTORY_LOW))
    assert (notification.title, notification.message, notification.severity) == ("T", "M", "error")


# -- masking in the mapper ---------------------------------------------------------------------------


def test_mapper_masks_data_once_and_leaves_the_event_alone() -> None:
    raw = (
        b'{"type":"customer.updated","tenantId":"t1","customerId":"c-1","contactEmail":"a@b.example",'
        b'"apiKey":"sk_live_1","payment":{"cardNumber":"4111111111111111","note":"4111 1111 1111 1111"},'
        b'"cardIds":["card-1"]}'
    )
    event = default_registry.decode(raw)
    assert isinstance(event, GenericEvent)
    before = copy.deepcopy(event.fields)
    data = NotificationMapper().map(event).data
    assert data["contactEmail"] == MASK
    assert data["apiKey"] == MASK
    assert data["payment"] == {"cardNumber": MASK, "note": MASK}
    assert data["customerId"] == "c-1"
    assert data["cardIds"] == ["card-1"]
    assert event.fields == before


def test_mapper_uses_the_given_masker() -> None:
    mapper = NotificationMapper(Masker(["supplierName"]))
    data = mapper.map(order_created()).data
    assert data["supplierName"] == MASK
    assert data["supplierId"] == "sup-9"


def test_notification_is_a_struct() -> None:
    assert isinstance(NotificationMapper().map(card_transition()), Notification)


# -- the masker --------------------------------------------------------------------------------------

MASKED_KEYS = {
    "passwords": ["password", "newPassword", "passwd", "pwd", "user_pwd", "passphrase"],
    "secrets": ["secret", "clientSecret", "client_secret", "privateKey"],
    "tokens": ["token", "accessToken", "refresh_token", "id-token", "X-CSRF-Token", "tokens"],
    "api keys": ["apiKey", "api_key", "api-key", "X-Api-Key", "APIKEY"],
    "auth": ["Authorization", "proxyAuthorization", "auth", "authHeader", "auth_code", "Cookie", "credentials"],
    "email": ["email", "e-mail", "e_mail", "userEmail", "EMAIL_ADDRESS"],
    "phone": ["phone", "phoneNumber", "telephone", "mobile", "mobileNumber", "tel", "telNo", "home_tel", "userTel"],
    "payment cards": [
        "cardNumber",
        "card_number",
        "cardNo",
        "creditCard",
        "credit_card_number",
        "cardholderName",
        "pan",
        "cardPan",
        "cvv",
        "cvv2",
        "cvc",
        "cardExpiry",
        "card_expiration_date",
        "expMonth",
        "exp_year",
    ],
    "iban": ["iban", "IBAN", "ibanNumber"],
    "ssn": ["ssn", "SSN", "userSsn", "ssn_last4", "socialSecurityNumber"],
}
KEPT_KEYS = [
    "cardId",
    "cardIds",
    "card_id",
    "cards",
    "cardCount",
    "cardNotes",
    "cardExpectedAt",
    "loopId",
    "userId",
    "tenantId",
    "orderId",
    "orderNumber",
    "id",
    "tokenCount",
    "token_count",
    "tokenizer",
    "author",
    "authorName",
    "hotel",
    "hotelName",
    "telemetry",
    "panel",
    "company",
    "expiresAt",
    "expectedAt",
    "expiryDate",
    "businessName",
    "supplierName",
]


@pytest.mark.parametrize("key", [key for keys in MASKED_KEYS.values() for key in keys], ids=lambda key: f"masked-{key}")
def test_default_patterns_mask_key(key: str) -> None:
    masked = Masker().mask({key: "value", "other": "kept"})
    assert masked == {key: MASK, "other": "kept"}


@pytest.mark.parametrize("key", KEPT_KEYS, ids=lambda key: f"kept-{key}")
def test_default_patterns_keep_key(key: str) -> None:
    assert Masker().mask({key: "card-123"}) == {key: "card-123"}


def test_no_builtin_event_field_is_masked() -> None:
    masker = Masker()

    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for item in value.values() for k in keys(item)}
        if isinstance(value, list):
            return {k for item in value for k in keys(item)}
        return set()

    all_keys = set().union(*(keys(default_registry.to_wire(case[0]())) for case in BUILTIN_CASES))
    assert {"cardId", "cardIds", "loopId", "userId", "orderId", "expectedAt", "expiresAt", "partId"} <= all_keys
    assert [key for key in sorted(all_keys) if masker.masks_key(key)] == []


def test_whole_value_is_replaced_whatever_its_type() -> None:
    value = {"token": {"a": 1}, "password": ["x", "y"], "secret": None, "pin_secret": 1234, "apiKey": True}
    assert Masker().mask(value) == {"token": MASK, "password": MASK, "secret": MASK, "pin_secret": MASK, "apiKey": MASK}


def test_nested_dicts_and_lists_are_masked() -> None:
    value = {
        "users": [
            {"userId": "u1", "email": "a@example.com", "contact": {"phone": "+49 170 1234567", "city": "Bonn"}},
            {"userId": "u2", "tags": [{"accessToken": "t"}, "plain"]},
        ],
        "cardIds": ["card-1", "card-2"],
    }
    assert Masker().mask(value) == {
        "users": [
            {"userId": "u1", "email": MASK, "contact": {"phone": MASK, "city": "Bonn"}},
            {"userId": "u2", "tags": [{"accessToken": MASK}, "plain"]},
        ],
        "cardIds": ["card-1", "card-2"],
    }


def test_tuples_stay_tuples_and_scalars_pass_through() -> None:
    masker = Masker()
    assert masker.mask(({"secret": 1}, 2)) == ({"secret": MASK}, 2)
    assert masker.mask(42) == 42
    assert masker.mask(None) is None
    assert masker.mask("4111111111111111") == MASK
    assert masker.mask({1: "x"}) == {1: "x"}  # non-string keys are not matched


def test_input_is_not_modified() -> None:
    value: dict[str, Any] = {
        "password": "hunter2",
        "nested": {"apiKey": "k", "list": [{"email": "e"}, "4111 1111 1111 1111"]},
        "cardId": "card-1",
    }
    before = copy.deepcopy(value)
    masked = Masker().mask(value)
    assert value == before
    assert masked["nested"] is not value["nested"]
    assert masked["nested"]["list"] is not value["nested"]["list"]
    masked["nested"]["list"].append("more")
    assert value == before


@pytest.mark.parametrize(
    "number",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", " 5500 0000 0000 0004 ", "378282246310005"],
)
def test_card_number_values_are_masked_under_any_key(number: str) -> None:
    assert Masker().mask({"reference": number, "list": [number]}) == {"reference": MASK, "list": [MASK]}


@pytest.mark.parametrize(
    "value",
    [
        "1234567890123",  # 13 digits, fails Luhn
        "4111111111111112",  # 16 digits, fails Luhn
        "424242424242",  # 12 digits (Luhn-valid, too short)
        "42424242424242424242",  # 20 digits
        "4111  1111 1111 1111",  # double separator
        "4111.1111.1111.1111",  # dots are not separators
        "card 4111111111111111",  # embedded in text: not a card number as a whole
        "PO-1042",
        "01a21c42-0625-770d-a256-cd17f97396be",
    ],
)
def test_non_card_values_are_kept(value: str) -> None:
    assert Masker().mask({"reference": value}) == {"reference": value}


def test_card_number_values_can_be_left_alone() -> None:
    masker = Masker(mask_card_numbers=False)
    assert masker.mask({"reference": "4111 1111 1111 1111", "cvv": "123"}) == {
        "reference": "4111 1111 1111 1111",
        "cvv": MASK,
    }


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("1234567890123")


def test_custom_patterns_replace_the_defaults() -> None:
    masker = Masker([r"^customer", r"notes$"])
    value = {"customerName": "Ada", "internalNotes": "n", "password": "p", "email": "e", "Customer_ID": "c"}
    assert masker.mask(value) == {
        "customerName": MASK,
        "internalNotes": MASK,
        "password": "p",
        "email": "e",
        "Customer_ID": MASK,  # case-insensitive
    }


def test_custom_patterns_can_extend_the_defaults() -> None:
    masker = Masker((*DEFAULT_MASK_PATTERNS, "customerName"))
    assert masker.mask({"customerName": "Ada", "password": "p", "cardId": "c"}) == {
        "customerName": MASK,
        "password": MASK,
        "cardId": "c",
    }


def test_a_single_string_is_one_pattern_and_no_patterns_mask_no_keys() -> None:
    assert Masker("secret").mask({"secret": 1, "s": 2}) == {"secret": MASK, "s": 2}
    assert Masker(()).mask({"password": "p", "n": "4111111111111111"}) == {"password": "p", "n": MASK}


def test_invalid_pattern_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"invalid mask pattern '\('"):
        Masker(["("])


def test_key_cache_is_bounded() -> None:
    masker = Masker()
    for i in range(KEY_CACHE_SIZE + 10):
        assert not masker.masks_key(f"field{i}")
    assert 0 < len(masker._cache) <= KEY_CACHE_SIZE
    assert masker.masks_key("password")
    assert masker.masks_key("password")  # cached decision is the same
