"""What travels: the benchmark's events (built by the publisher) and the few fields clients read back.

Each event is an ``order.created`` of ~300 bytes on the wire. Its per-tenant sequence number rides in
``orderNumber`` (``"PO-<seq>"``) and its publish time in ``orderId`` (``"bench-<unix µs>"``): the registry
validates events into their typed struct, which drops fields it does not know, so extra fields such as
``seq``/``sentAt`` would not reach the notification's ``data``.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from arda.events import OrderCreated

ORDER_ID_PREFIX = "bench-"
ORDER_NUMBER_PREFIX = "PO-"
_ID_CUT = len(ORDER_ID_PREFIX)
_NUMBER_CUT = len(ORDER_NUMBER_PREFIX)


class Counter(Protocol):
    """A shared 64-bit counter (`ctx.RawValue("q", 0)`): written by one process, read by others."""

    value: int


def tenant_name(index: int) -> str:
    return f"t{index}"


def order_event(tenant: str, seq: int, sent_us: int) -> OrderCreated:
    return OrderCreated(
        tenant_id=tenant,
        order_id=f"{ORDER_ID_PREFIX}{sent_us}",
        order_number=f"{ORDER_NUMBER_PREFIX}{seq}",
        supplier_name="Acme Fasteners GmbH",
        loop_id="loop-456",
        total_amount=129.5,
        currency="EUR",
        user_id="buyer-17",
    )


class Data(msgspec.Struct, rename="camel"):
    order_id: str = ""
    order_number: str = ""


class Payload(msgspec.Struct, rename="camel"):
    """The union of the payload fields the clients look at (the rest of every payload is skipped)."""

    tenant_id: str | None = None
    data: Data | None = None
    code: str | None = None
    message: str | None = None
    position: str | None = None  # a notification's place in its stream; `subscribed`'s resume point
    recovered: bool | None = None  # `subscribed` with `since`: whether history reached back to it


class ServerMessage(msgspec.Struct, rename="camel"):
    type: str
    payload: Payload | None = None
    message_id: str | None = None


decoder = msgspec.json.Decoder(ServerMessage)


def seq_of(data: Data) -> int:
    """The sequence number of a benchmark event (-1 if the notification is not one)."""
    number = data.order_number
    return int(number[_NUMBER_CUT:]) if number.startswith(ORDER_NUMBER_PREFIX) else -1


def sent_at(data: Data) -> float:
    """The publish time (unix seconds) of a benchmark event (0.0 if the notification is not one)."""
    order_id = data.order_id
    return int(order_id[_ID_CUT:]) / 1e6 if order_id.startswith(ORDER_ID_PREFIX) else 0.0


# -- the Socket.IO peers ---------------------------------------------------------------------------------
# Their notifications carry what arda's carry and the clients read (tenant, sequence number, publish time),
# as plain fields, plus the same order fields: ~300 bytes in the WebSocket frame, as arda's.
SYSTEMS = ("arda", "python-socketio", "node-socketio", "django-channels")
#: The peers whose clients speak Engine.IO 4 / Socket.IO 4 (the others speak arda's JSON messages).
SOCKETIO_SYSTEMS = ("python-socketio", "node-socketio")


def peer_payload(tenant: str, seq: int, sent_us: int) -> dict[str, object]:
    """The ``notification`` payload the peers deliver (``seq``, ``sentAt`` first: cheapest to find)."""
    return {
        "seq": seq,
        "sentAt": sent_us,
        "tenant": tenant,
        "id": f"evt-{tenant}-{seq}",
        "type": "order.created",
        "data": {
            "orderId": f"{ORDER_ID_PREFIX}{sent_us}",
            "orderNumber": f"{ORDER_NUMBER_PREFIX}{seq}",
            "supplierName": "Acme Fasteners GmbH",
            "loopId": "loop-456",
            "totalAmount": 129.5,
            "currency": "EUR",
            "userId": "buyer-17",
        },
    }


def channels_payload(tenant: str, seq: int, sent_us: int) -> dict[str, object]:
    """The Django Channels peer's ``notification`` payload: the Socket.IO peers' plus ``tenantId``, as arda's
    notifications name it (that peer speaks arda's messages, so the same client code reads both)."""
    return {"tenantId": tenant, **peer_payload(tenant, seq, sent_us)}


class PeerNote(msgspec.Struct):
    """The fields of a peer's notification the clients read (the rest is skipped)."""

    seq: int = -1
    sentAt: int = 0  # the wire's name
    tenant: str = ""


#: ``42["notification",{…}]`` after its two-byte prefix.
peer_event_decoder = msgspec.json.Decoder(tuple[str, PeerNote])
