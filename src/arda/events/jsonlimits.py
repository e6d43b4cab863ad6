"""JSON from outside the process — client messages, HTTP bodies, raw publishes — decoded within limits.

Pure. msgspec decodes by recursion: a value nested a thousand levels deep raises ``RecursionError`` (and a
string that is not UTF-8, ``UnicodeDecodeError``), neither of them a ``msgspec`` error, so they would escape
every handler that expects one. :func:`decode` turns every way JSON can be bad into one
:class:`JsonInputError` with a reason a client can be shown, and refuses JSON nested deeper than
:data:`MAX_DEPTH` levels of arrays and objects before decoding it.

The depth check costs nothing for ordinary input: JSON with at most ``limit`` brackets cannot nest deeper,
and only other input is measured (strings removed, then one level of innermost pairs removed per pass, at C
speed: at most ``limit`` passes).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from .errors import ArdaError

#: Arrays and objects may nest this deep in any JSON the service accepts (WebSocket messages, HTTP bodies).
MAX_DEPTH = 32

T = TypeVar("T")

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
#: Keeps only brackets, objects' as arrays' (the kind does not change the depth; mismatched pairs are
#: malformed JSON, refused by the decoder).
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonInputError(ArdaError, ValueError):
    """JSON from outside was refused; the message says why (safe to show the sender)."""

    code = "invalid_json"


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``data`` nest more than ``limit`` levels (unbalanced brackets count as
    too deep: such input is not JSON anyway)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")  # one level: the pairs this pass makes are left for the next
    return bool(brackets)


def decode(decoder: msgspec.json.Decoder[T], data: bytes, limit: int = MAX_DEPTH) -> T:
    """``decoder.decode(data)``, or :class:`JsonInputError` for JSON nested deeper than ``limit``, not UTF-8,
    or malformed. A ``msgspec.ValidationError`` (well-formed JSON of the wrong shape) passes through."""
    if too_deep(data, limit):
        raise JsonInputError(f"JSON nested deeper than {limit} levels")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        raise JsonInputError(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise JsonInputError("not valid JSON: a string is not UTF-8") from None
    except RecursionError:  # the depth check makes this unreachable; kept so no RecursionError ever escapes
        raise JsonInputError("JSON nested too deeply") from None


_ANY: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def decode_any(data: bytes, limit: int = MAX_DEPTH) -> Any:
    """:func:`decode` into plain Python values (dicts, lists, …)."""
    return decode(_ANY, data, limit)
