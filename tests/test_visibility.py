"""Who sees an event, and as what (``arda.notifications.visibility``): the one rule behind live delivery, replay
and HTTP history. Pure."""

from __future__ import annotations

import pytest

from arda.events import AnyEvent, GenericEvent, OrderCreated
from arda.notifications.acks import ACK_EVENT_TYPE, NotificationAcknowledged
from arda.notifications.visibility import EVERYONE, GLOBAL, NOBODY, As, Audience, audience

TENANT = "tenant-a"
N, A = As.NOTIFICATION, As.ACKNOWLEDGEMENT


def order(recipients: list[str] | None = None) -> OrderCreated:
    return OrderCreated(tenant_id=TENANT, order_id="o-1", order_number="PO-1", recipients=recipients)


def ack(user: str | None) -> NotificationAcknowledged:
    return NotificationAcknowledged(
        tenant_id=TENANT, user_id=user, recipients=[user] if user else None, notification_id=f"{TENANT}:e1"
    )


def generic(event_type: str, recipients: list[str] | None = None) -> GenericEvent:
    return GenericEvent(type=event_type, id="g1", tenant_id=TENANT, recipients=recipients)


@pytest.mark.parametrize(
    ("stream", "event", "expected", "seen"),
    [
        (TENANT, order(), EVERYONE, {"alice": N, "bob": N, None: N}),
        (TENANT, order(["bob"]), Audience(N, ("bob",)), {"alice": None, "bob": N, None: None}),
        (TENANT, order(["bob", "carol"]), Audience(N, ("bob", "carol")), {"alice": None, "carol": N}),
        (TENANT, order([]), Audience(N, ()), {"alice": None, "bob": None}),
        (GLOBAL, order(), EVERYONE, {"mo": N}),
        (GLOBAL, order(["bob"]), EVERYONE, {"mo": N, "bob": N}),  # a monitor sees the whole platform
        (TENANT, ack("bob"), Audience(A, ("bob",)), {"bob": A, "alice": None, None: None}),
        (GLOBAL, ack("bob"), NOBODY, {"bob": None, "mo": None}),
        (TENANT, ack(None), NOBODY, {"bob": None, None: None}),
        (TENANT, generic(ACK_EVENT_TYPE, ["bob"]), NOBODY, {"bob": None}),  # an unknown shape: never shown
        (TENANT, generic("inventory.low"), EVERYONE, {"alice": N}),
        (TENANT, generic("inventory.low", ["bob"]), Audience(N, ("bob",)), {"alice": None, "bob": N}),
    ],
)
def test_audience(stream: str, event: AnyEvent, expected: Audience, seen: dict[str | None, As | None]) -> None:
    who = audience(stream, event)
    assert who == expected
    assert {user: who.sees(user) for user in seen} == seen


def test_an_acknowledgement_is_never_a_notification() -> None:
    for stream in (TENANT, GLOBAL):
        who = audience(stream, ack("bob"))
        assert who.as_ is not As.NOTIFICATION
        assert who.sees("bob") is not As.NOTIFICATION
