"""Error codes and close codes of the WebSocket protocol: a contract shared with every client.

Each close code says what a client should do: ``reconnect`` (with backoff, resuming from its last
position) or ``stop`` (do not reconnect on your own; a person or a fresh token must intervene).
``arda protocol`` prints these tables as JSON; the TypeScript client's constants are generated from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NamedTuple

Action = Literal["reconnect", "stop"]


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"  # no, bad, unverifiable or revoked token; or a request before authenticate
    TOKEN_EXPIRED = "token_expired"  # the token's exp has passed: authenticate again with a fresh one
    FORBIDDEN = "forbidden"  # the token does not allow this tenant (or global)
    INVALID_MESSAGE = "invalid_message"  # not JSON, not an object, missing or wrong fields
    UNKNOWN_TYPE = "unknown_type"  # a message type the server does not know
    RATE_LIMITED = "rate_limited"  # too many messages per second from this connection
    MESSAGE_TOO_LARGE = "message_too_large"  # an inbound message over the size limit
    NOT_SUBSCRIBED = "not_subscribed"  # unsubscribe/acknowledge for a tenant not subscribed
    INTERNAL_ERROR = "internal_error"  # the server failed; the request may be retried


class CloseCode(NamedTuple):
    code: int
    name: str
    action: Action
    meaning: str


NORMAL = CloseCode(1000, "normal", "stop", "The client closed, or the server ended the session on request.")
GOING_AWAY = CloseCode(1001, "going_away", "reconnect", "The server is shutting down or restarting.")
PROTOCOL_ERROR = CloseCode(
    1002, "protocol_error", "stop", "The client broke the WebSocket framing rules (a bug in the client)."
)
INVALID_DATA = CloseCode(1007, "invalid_data", "stop", "A text message (or close reason) was not valid UTF-8.")
POLICY_VIOLATION = CloseCode(
    1008, "policy_violation", "stop", "Not sent by this server (a disallowed Origin gets HTTP 403 at the upgrade)."
)
MESSAGE_TOO_BIG = CloseCode(1009, "message_too_big", "stop", "An inbound frame exceeded the size limit.")
INTERNAL_ERROR = CloseCode(1011, "internal_error", "reconnect", "The server failed unexpectedly.")
TRY_AGAIN_LATER = CloseCode(
    1013,
    "try_again_later",
    "reconnect",
    "Too many connections from this address, or the service cannot receive events right now; back off.",
)
UNAUTHORIZED = CloseCode(4001, "unauthorized", "stop", "The token was refused; get a new one before retrying.")
TOKEN_EXPIRED = CloseCode(
    4002, "token_expired", "reconnect", "The token expired and was not refreshed in time; reconnect with a fresh one."
)
AUTH_TIMEOUT = CloseCode(4003, "auth_timeout", "reconnect", "No authenticate message within the deadline.")
SLOW_CONSUMER = CloseCode(
    4004, "slow_consumer", "reconnect", "The client fell behind; reconnect and resume from the last position."
)
RATE_LIMITED = CloseCode(
    4005, "rate_limited", "reconnect", "The client kept sending too fast (messages, or frames of any kind); back off."
)
RESYNC = CloseCode(
    4006,
    "resync",
    "reconnect",
    "The server lost continuity for a subscription; reconnect and resume (may get recovered=false).",
)
HEARTBEAT_TIMEOUT = CloseCode(4008, "heartbeat_timeout", "reconnect", "The client stopped answering pings.")
REVOKED = CloseCode(
    4009,
    "revoked",
    "stop",
    "The user's access was revoked; only a token issued after the revocation is accepted (sign in again).",
)

CLOSE_CODES: tuple[CloseCode, ...] = (
    NORMAL,
    GOING_AWAY,
    PROTOCOL_ERROR,
    INVALID_DATA,
    POLICY_VIOLATION,
    MESSAGE_TOO_BIG,
    INTERNAL_ERROR,
    TRY_AGAIN_LATER,
    UNAUTHORIZED,
    TOKEN_EXPIRED,
    AUTH_TIMEOUT,
    SLOW_CONSUMER,
    RATE_LIMITED,
    RESYNC,
    HEARTBEAT_TIMEOUT,
    REVOKED,
)
ERROR_CODES: tuple[ErrorCode, ...] = tuple(ErrorCode)
