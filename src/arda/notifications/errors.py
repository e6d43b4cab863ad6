"""The exceptions of ``arda.notifications``, under the package-wide root :class:`arda.events.ArdaError`.

::

    ArdaError
    └── NotificationError            (base of this package)
        ├── AuthError                code "unauthorized" | "token_expired" | "forbidden"
        ├── ProtocolError            code "invalid_message" | "unknown_type" | "message_too_large" | ...
        ├── HandshakeError           an upgrade request refused with an HTTP status (400, 403, 404, 426, 431)
        ├── FrameError               a client broke the WebSocket framing rules (close 1002 or 1007)
        ├── FrameTooLarge            a client frame declared a payload over the limit (close 1009)
        ├── ConfigError              invalid configuration at startup (names the setting)
        └── ListenError              a port cannot be listened on (in use, not allowed; names the setting)

Errors that reach a client carry an :class:`~arda.notifications.codes.ErrorCode`.
"""

from __future__ import annotations

from ..events.errors import ArdaError
from .codes import CloseCode, ErrorCode


class NotificationError(ArdaError):
    code = "notification_error"


class AuthError(NotificationError):
    """A token was refused. ``error_code`` is what the client is told."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        self.error_code = error_code
        self.code = error_code.value
        super().__init__(message)


class ProtocolError(NotificationError):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        self.error_code = error_code
        self.code = error_code.value
        super().__init__(message)


class HandshakeError(NotificationError):
    """An upgrade request refused with HTTP ``status``; ``str(exc)`` is the response body's text."""

    code = "handshake_refused"

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.status = status
        self.headers = headers
        super().__init__(message)


class FrameError(NotificationError):
    """A client broke the framing rules; ``close_code`` is what the connection is closed with."""

    code = "protocol_error"

    def __init__(self, close_code: CloseCode, reason: str) -> None:
        self.close_code = close_code
        super().__init__(reason)


class FrameTooLarge(NotificationError):
    """A client frame declared a payload over the limit (its payload is not read)."""

    code = "message_too_large"

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"frame of {size} bytes")


class ConfigError(NotificationError):
    """A setting is missing or invalid; the message names the setting (environment variable and flag)."""

    code = "config"


class ListenError(NotificationError):
    """One of the service's ports cannot be listened on (in use, not permitted, no such address); the message
    names the address and the setting."""

    code = "listen"
