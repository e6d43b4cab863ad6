"""Structured JSON logs for the ``arda`` commands and the service.

Libraries log through :mod:`logging` with fields in ``extra``; this formatter writes one JSON object per
line with those fields. Applications that embed the bus keep their own logging set-up.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}
_encoder = msgspec.json.Encoder()
#: Field names whose values never reach a log line.
SECRET_KEYS = frozenset({"token", "password", "authorization", "apiKey", "api_key", "secret"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "[redacted]" if key in SECRET_KEYS else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode() if _encodable(entry) else repr(entry)


def _encodable(entry: dict[str, Any]) -> bool:
    try:
        _encoder.encode(entry)
    except (TypeError, msgspec.EncodeError):
        for key, value in list(entry.items()):
            entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
    return True


def configure(level: str = "INFO") -> logging.Handler:
    """JSON lines on stderr at ``level`` for the whole process; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return handler


class LogBudget:
    """A bound on how often one kind of record is logged, so that input from outside (a flood of malformed
    messages, refused upgrades, protocol violations) cannot flood the logs.

    At most ``burst`` records of a ``key`` per ``window`` seconds are let through; the rest are counted, and
    the count is reported (as ``suppressed``) on the next record of that key let through. Keys are a small,
    fixed set of kinds (never client-chosen text). Pure: ``clock`` is passed in.
    """

    __slots__ = ("_clock", "_state", "burst", "window")

    def __init__(self, burst: int = 10, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.window = window
        self._clock = clock
        self._state: dict[str, list[float]] = {}  # key -> [window start, let through, suppressed]

    def allow(self, key: str) -> int | None:
        """None when this record is to be dropped; else how many records of ``key`` were dropped before it."""
        now = self._clock()
        state = self._state.get(key)
        if state is None or now - state[0] >= self.window:
            suppressed = int(state[2]) if state is not None else 0
            self._state[key] = [now, 1, 0]
            return suppressed
        if state[1] < self.burst:
            state[1] += 1
            suppressed, state[2] = int(state[2]), 0
            return suppressed
        state[2] += 1
        return None


#: The budget for records about what clients and publishers sent (warnings at most, never errors).
client_faults = LogBudget()


def client_fault(logger: logging.Logger, key: str, msg: str, level: int = logging.WARNING, **fields: Any) -> None:
    """Log a fault of a client or publisher within :data:`client_faults`' budget for ``key``."""
    if not logger.isEnabledFor(level):
        return
    suppressed = client_faults.allow(key)
    if suppressed is not None:
        logger.log(level, msg, extra={**fields, "suppressed": suppressed} if suppressed else fields)
