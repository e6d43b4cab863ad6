"""The WebSocket protocol's messages, as typed data, and their encoding. Pure: no sockets here.

Client → server (JSON text frames)::

    {"type":"authenticate","payload":{"token":"<JWT>"},"messageId":"a1"}
    {"type":"subscribe","payload":{"tenantId":"tenant-001","since":"<position>","backlog":50},"messageId":"s1"}
    {"type":"unsubscribe","payload":{"tenantId":"tenant-001"},"messageId":"u1"}
    {"type":"acknowledge","payload":{"notificationId":"<id>"},"messageId":"k1"}
    {"type":"history","payload":{"tenantId":"tenant-001","before":"<position>","limit":50},"messageId":"h1"}
    {"type":"ping","messageId":"p1"}

Server → client: ``authenticated``, ``subscribed``, ``unsubscribed``, ``notification``, ``acknowledged``,
``history``, ``pong``, ``error`` — see ``docs/protocol.md``. Every reply carries the request's ``messageId``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any

import msgspec

from ..events import jsonlimits
from ..events.positions import MAX_POSITION_CHARS, is_composite, is_position
from . import filters
from .codes import ErrorCode
from .errors import ProtocolError
from .mapper import Notification, Severity

MessageId = Annotated[str, msgspec.Meta(max_length=128)]
_Tenant = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _Message(msgspec.Struct, kw_only=True, rename="camel", tag_field="type", forbid_unknown_fields=False):
    message_id: MessageId | None = None


class AuthenticatePayload(msgspec.Struct, kw_only=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=16_384)]


class Authenticate(_Message, tag="authenticate", kw_only=True):
    payload: AuthenticatePayload


_Position = Annotated[str, msgspec.Meta(max_length=MAX_POSITION_CHARS)]
#: The most notifications a ``subscribe`` may ask for as its backlog, and a ``history`` page may hold.
MAX_BACKLOG = 500
MAX_HISTORY_PAGE = 100


class FilterSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``{"types": ["order.*", "card.transition"], "severity": ["warning", "error"]}``: both optional."""

    types: (
        Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(min_length=1, max_length=32)] | None
    ) = None
    severity: Annotated[list[Severity], msgspec.Meta(min_length=1, max_length=4)] | None = None


class SubscribePayload(msgspec.Struct, kw_only=True, rename="camel"):
    tenant_id: _Tenant
    since: _Position | None = None
    #: Only notifications that match (live, replayed, backlog, history); subscribing again replaces it.
    filter: FilterSpec | None = None
    #: Without ``since``: the newest N notifications the user may see, sent after ``subscribed``, before live.
    backlog: Annotated[int, msgspec.Meta(ge=0, le=MAX_BACKLOG)] = 0


class Subscribe(_Message, tag="subscribe", kw_only=True):
    payload: SubscribePayload


class UnsubscribePayload(msgspec.Struct, kw_only=True, rename="camel"):
    tenant_id: _Tenant


class Unsubscribe(_Message, tag="unsubscribe", kw_only=True):
    payload: UnsubscribePayload


class AcknowledgePayload(msgspec.Struct, kw_only=True, rename="camel"):
    notification_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Acknowledge(_Message, tag="acknowledge", kw_only=True):
    payload: AcknowledgePayload


class HistoryRequestPayload(msgspec.Struct, kw_only=True, rename="camel"):
    tenant_id: _Tenant
    #: Older than this position (the newest when absent): the reply's ``before`` pages on.
    before: _Position | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_HISTORY_PAGE)] = 50


class History(_Message, tag="history", kw_only=True):
    payload: HistoryRequestPayload


class Ping(_Message, tag="ping", kw_only=True):
    pass


ClientMessage = Authenticate | Subscribe | Unsubscribe | Acknowledge | History | Ping
CLIENT_MESSAGE_TYPES = ("authenticate", "subscribe", "unsubscribe", "acknowledge", "history", "ping")
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(ClientMessage)
_lenient = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


def message_id_of(data: bytes) -> str | None:
    """Best effort: the ``messageId`` of a message that failed to decode, so the error can carry it."""
    try:
        raw = jsonlimits.decode(_lenient, data)
    except (msgspec.MsgspecError, jsonlimits.JsonInputError):
        return None
    value = raw.get("messageId")
    return value if isinstance(value, str) and len(value) <= 128 else None


def decode_client_message(data: bytes) -> ClientMessage:
    """Decode one client message. Raises :class:`ProtocolError` with ``invalid_message`` or ``unknown_type``
    (JSON nested deeper than :data:`~arda.events.jsonlimits.MAX_DEPTH` levels, or not UTF-8, is invalid)."""
    try:
        message: ClientMessage = jsonlimits.decode(_decoder, data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if text.endswith("at `$.type`") and text.startswith("Invalid value"):
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE, f"unknown message type; expected one of {CLIENT_MESSAGE_TYPES}"
            ) from None
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"invalid message: {text}") from None
    except jsonlimits.JsonInputError as exc:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"invalid message: {exc}") from None
    since = message.payload.since if isinstance(message, Subscribe) else None
    if since is not None and not (is_position(since) or is_composite(since)):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "invalid message: `payload.since` is not a position")
    spec = message.payload.filter if isinstance(message, Subscribe) else None
    if spec is not None:
        try:
            filters.parse(spec.types, spec.severity)
        except ValueError as exc:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"invalid message: {exc}") from None
    before = message.payload.before if isinstance(message, History) else None
    if before is not None and not is_position(before):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "invalid message: `payload.before` is not a position")
    return message


# -- server messages ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def iso(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC to the millisecond, as JavaScript's ``Date.toISOString()`` writes it (the
    few distinct token expiries of a reconnect storm are formatted once)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _ServerMessage(msgspec.Struct, kw_only=True, rename="camel", tag_field="type", omit_defaults=True):
    """A server → client message: ``{"type": …, "payload": …, "messageId": …}`` (``messageId`` when it answers a
    request that had one)."""


class AuthenticatedPayload(msgspec.Struct, kw_only=True, rename="camel"):
    user_id: str
    tenants: list[str]
    expires_at: str  # ISO 8601 UTC, as :func:`iso` writes it


class Authenticated(_ServerMessage, tag="authenticated", kw_only=True):
    payload: AuthenticatedPayload
    message_id: MessageId | None = None


class SubscribedPayload(msgspec.Struct, kw_only=True, rename="camel"):
    tenant_id: str
    position: str | None  # where the subscription starts: the stream's position (``global``: the global stream's)
    recovered: bool  # false: ``since`` was no longer in history and nothing was replayed
    backlog: int  # how many backlog notifications follow (``subscribe`` with ``backlog``, without ``since``)


class Subscribed(_ServerMessage, tag="subscribed", kw_only=True):
    payload: SubscribedPayload
    message_id: MessageId | None = None


class UnsubscribedPayload(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    tenant_id: str
    reason: str | None = None  # set when the server ended the subscription (a refreshed token no longer allows it)


class Unsubscribed(_ServerMessage, tag="unsubscribed", kw_only=True):
    payload: UnsubscribedPayload
    message_id: MessageId | None = None


class AcknowledgedPayload(msgspec.Struct, kw_only=True, rename="camel"):
    notification_id: str


class Acknowledged(_ServerMessage, tag="acknowledged", kw_only=True):
    payload: AcknowledgedPayload
    message_id: MessageId | None = None


class Pong(_ServerMessage, tag="pong", kw_only=True):
    message_id: MessageId | None = None


class ErrorPayload(msgspec.Struct, kw_only=True):
    code: ErrorCode
    message: str


class Error(_ServerMessage, tag="error", kw_only=True):
    payload: ErrorPayload
    message_id: MessageId | None = None


class HistoryReplyPayload(msgspec.Struct, kw_only=True, rename="camel"):
    tenant_id: str
    notifications: list[Notification]  # newest first, each with ``read``
    has_more: bool
    before: str | None  # pass as ``before`` for the next (older) page


class HistoryReply(_ServerMessage, tag="history", kw_only=True):
    payload: HistoryReplyPayload
    message_id: MessageId | None = None


ServerMessage = Authenticated | Subscribed | Unsubscribed | Acknowledged | HistoryReply | Pong | Error
"""Every server message but ``notification`` (its payload is a :class:`~.mapper.Notification`, encoded once per
event and wrapped by :func:`notification_message`)."""


class NotificationMessage(_ServerMessage, tag="notification", kw_only=True):
    """``{"type":"notification","payload":<notification>}``: for the schema and the tests only. The service
    encodes a notification once per event and wraps its bytes with :func:`notification_message` (the same
    bytes as ``encode(NotificationMessage(payload=n))``)."""

    payload: Notification


AnyServerMessage = ServerMessage | NotificationMessage
"""Every server → client message, ``notification`` included."""


def server_message_schema() -> dict[str, Any]:
    """The JSON Schema of every server → client message (``arda protocol`` prints it)."""
    schema: dict[str, Any] = msgspec.json.schema(AnyServerMessage)
    return schema


def client_message_schema() -> dict[str, Any]:
    """The JSON Schema of every client → server message (``arda protocol`` prints it)."""
    schema: dict[str, Any] = msgspec.json.schema(ClientMessage)
    return schema


def encode(message: AnyServerMessage) -> bytes:
    return _encoder.encode(message)


def error(code: ErrorCode, message: str, message_id: str | None = None) -> bytes:
    return _encoder.encode(Error(payload=ErrorPayload(code=code, message=message), message_id=message_id))


def acknowledged(notification_id: str, message_id: str | None = None) -> bytes:
    return _encoder.encode(
        Acknowledged(payload=AcknowledgedPayload(notification_id=notification_id), message_id=message_id)
    )


def notification_message(notification_json: bytes) -> bytes:
    """``{"type":"notification","payload":<notification>}`` around already-encoded notification JSON."""
    return b'{"type":"notification","payload":' + notification_json + b"}"
