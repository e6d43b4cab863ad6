"""The exceptions of ``arda.notifications``, under the package-wide root :class:`arda.events.ArdaError`.

::

    ArdaError
    └── NotificationError            (base of this package)
        ├── AuthError                code "unauthorized" | "token_expired" | "forbidden"
        ├── ProtocolError            code "invalid_message" | "unknown_type" | "message_too_large" | ...
        └── ConfigError              invalid configuration at startup (names the setting)

Errors that reach a client carry an :class:`~arda.notifications.codes.ErrorCode`.
"""

from __future__ import annotations

from ..events.errors import ArdaError
from .codes import ErrorCode


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


class ConfigError(NotificationError):
    """A setting is missing or invalid; the message names the setting (environment variable and flag)."""

    code = "config"
