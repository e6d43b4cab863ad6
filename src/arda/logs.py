"""Structured JSON logs for the ``arda`` commands and the service.

Libraries log through :mod:`logging` with fields in ``extra``; this formatter writes one JSON object per
line with those fields. Applications that embed the bus keep their own logging set-up.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
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


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
