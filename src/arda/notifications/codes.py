"""Error codes and close codes of the WebSocket protocol: a contract shared with every client.

Every close code and every error code carries what a client should do (``action``) and whether it retries
on its own (``retry``):

- close actions: ``reconnect`` (with backoff and full jitter, re-authenticate, resume from the last position),
  ``back_off`` (the same, after a longer backoff: the server is overloaded or the client too fast),
  ``refresh_token`` (reconnect with a fresh token — once in a row; a second refusal is a ``sign_in``),
  ``sign_in`` (do not reconnect: a person must sign in again), ``stop`` (do not reconnect: the session ended,
  or the client has a bug);
- error actions: ``reauthenticate`` (send ``authenticate`` with a fresh token), ``retry`` (send the request
  again, after a backoff), ``fail`` (the request cannot succeed as sent: report it).

``arda protocol`` prints these tables as JSON; the TypeScript client's constants are generated from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NamedTuple

Action = Literal["reconnect", "back_off", "refresh_token", "sign_in", "stop"]
"""What a client does when the server closes the connection with a :class:`CloseCode`."""
ErrorAction = Literal["reauthenticate", "retry", "fail"]
"""What a client does when a request is answered with an ``error`` of an :class:`ErrorCode`."""


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


class ErrorInfo(NamedTuple):
    code: ErrorCode
    action: ErrorAction
    retry: bool  # whether the client sends the request again on its own
    meaning: str


ERRORS: tuple[ErrorInfo, ...] = (
    ErrorInfo(
        ErrorCode.UNAUTHORIZED,
        "reauthenticate",
        False,
        "A bad, unverifiable, revoked or missing token; a request before authenticate; a refresh for another "
        "user. Get a new token (once); stop if it is refused again.",
    ),
    ErrorInfo(
        ErrorCode.TOKEN_EXPIRED,
        "reauthenticate",
        False,
        "The token's exp has passed: authenticate again with a fresh token (the request is not retried).",
    ),
    ErrorInfo(
        ErrorCode.FORBIDDEN,
        "fail",
        False,
        "The token does not allow this tenant (or global without monitor), or too many subscriptions.",
    ),
    ErrorInfo(
        ErrorCode.INVALID_MESSAGE,
        "fail",
        False,
        "Not JSON (or not UTF-8, or nested too deep), not an object, missing or wrong fields (a client bug).",
    ),
    ErrorInfo(ErrorCode.UNKNOWN_TYPE, "fail", False, "A message type the server does not know (a client bug)."),
    ErrorInfo(
        ErrorCode.RATE_LIMITED,
        "retry",
        True,
        "Too many messages per second from this connection (or acknowledgements from this user): the message "
        "was dropped; send it again after a backoff.",
    ),
    ErrorInfo(
        ErrorCode.MESSAGE_TOO_LARGE,
        "fail",
        False,
        "An inbound message over the size limit; the connection closes with 1009.",
    ),
    ErrorInfo(
        ErrorCode.NOT_SUBSCRIBED,
        "fail",
        False,
        "unsubscribe/acknowledge for a tenant the connection is not subscribed to.",
    ),
    ErrorInfo(
        ErrorCode.INTERNAL_ERROR,
        "retry",
        True,
        "The server failed (e.g. Redis unavailable during subscribe); send the request again after a backoff.",
    ),
)


class CloseCode(NamedTuple):
    code: int
    name: str
    action: Action
    retry: bool  # whether the client reconnects on its own
    meaning: str


NORMAL = CloseCode(1000, "normal", "stop", False, "The client closed, or the server ended the session on request.")
GOING_AWAY = CloseCode(1001, "going_away", "reconnect", True, "The server is shutting down or restarting.")
PROTOCOL_ERROR = CloseCode(
    1002, "protocol_error", "stop", False, "The client broke the WebSocket framing rules (a bug in the client)."
)
INVALID_DATA = CloseCode(1007, "invalid_data", "stop", False, "A text message (or close reason) was not valid UTF-8.")
POLICY_VIOLATION = CloseCode(
    1008,
    "policy_violation",
    "stop",
    False,
    "Not sent by this server (a disallowed Origin gets HTTP 403 at the upgrade).",
)
MESSAGE_TOO_BIG = CloseCode(1009, "message_too_big", "stop", False, "An inbound frame exceeded the size limit.")
INTERNAL_ERROR = CloseCode(1011, "internal_error", "reconnect", True, "The server failed unexpectedly.")
TRY_AGAIN_LATER = CloseCode(
    1013,
    "try_again_later",
    "back_off",
    True,
    "Too many connections from this address, or the service cannot receive events right now; back off.",
)
UNAUTHORIZED = CloseCode(
    4001, "unauthorized", "sign_in", False, "The token was refused; get a new one before retrying."
)
TOKEN_EXPIRED = CloseCode(
    4002,
    "token_expired",
    "refresh_token",
    True,
    "The token expired and was not refreshed in time; reconnect with a fresh one (once in a row).",
)
AUTH_TIMEOUT = CloseCode(4003, "auth_timeout", "reconnect", True, "No authenticate message within the deadline.")
SLOW_CONSUMER = CloseCode(
    4004, "slow_consumer", "reconnect", True, "The client fell behind; reconnect and resume from the last position."
)
RATE_LIMITED = CloseCode(
    4005,
    "rate_limited",
    "back_off",
    True,
    "The client kept sending too fast (messages, or frames of any kind); back off.",
)
RESYNC = CloseCode(
    4006,
    "resync",
    "reconnect",
    True,
    "The server lost continuity for a subscription; reconnect and resume (may get recovered=false).",
)
HEARTBEAT_TIMEOUT = CloseCode(4008, "heartbeat_timeout", "reconnect", True, "The client stopped answering pings.")
REVOKED = CloseCode(
    4009,
    "revoked",
    "sign_in",
    False,
    "The user's access was revoked; only a token issued after the revocation is accepted (sign in again).",
)
CLOSED_BY_OPERATOR = CloseCode(
    4010,
    "closed_by_operator",
    "reconnect",
    True,
    "An operator closed the connection (DELETE /v1/connections/{id}); reconnect and resume. To keep a user out, "
    "revoke them.",
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
    CLOSED_BY_OPERATOR,
)
ERROR_CODES: tuple[ErrorCode, ...] = tuple(ErrorCode)
