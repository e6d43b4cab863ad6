"""What an operator sees of this instance's connections (``GET /v1/connections``) and how one is closed
(``DELETE /v1/connections/{id}``: close code 4010 ``closed_by_operator``, action reconnect — to keep a user out,
revoke them). Pure: the node hands its connections in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import msgspec

from .deflate import EXTENSION, Deflater
from .protocol import iso
from .session import Session

#: The most rows one request returns.
MAX_ROWS = 1000


class Described(Protocol):
    """What the view needs of a connection (a :class:`~.websocket.Connection`)."""

    id: str
    ip: str
    sent: int
    out: list[bytes]
    session: Session
    deflater: Deflater | None

    def write_buffer_size(self) -> int: ...


class ConnectionInfo(msgspec.Struct, kw_only=True, rename="camel"):
    id: str
    user_id: str | None  # None: not authenticated (yet)
    tenants: list[str]  # the streams it is subscribed to
    connected_since: str  # ISO 8601 UTC
    remote_address: str
    authenticated_until: str | None  # the token's exp
    queued_bytes: int  # waiting for this turn's write, and in the socket's buffer
    messages_in: int
    messages_out: int
    compression: str | None  # "permessage-deflate" when negotiated


def describe(conn: Described) -> ConnectionInfo:
    session = conn.session
    identity = session.identity
    return ConnectionInfo(
        id=conn.id,
        user_id=identity.user_id if identity is not None else None,
        tenants=sorted(session.subs),
        connected_since=iso(session.opened_at),
        remote_address=conn.ip,
        authenticated_until=iso(identity.expires_at) if identity is not None else None,
        queued_bytes=sum(len(frame) for frame in conn.out) + conn.write_buffer_size(),
        messages_in=session.messages_in,
        messages_out=conn.sent,
        compression=EXTENSION if conn.deflater is not None else None,
    )


def listing(
    connections: Iterable[Described], tenant: str | None, user: str | None, limit: int
) -> tuple[list[ConnectionInfo], int]:
    """The connections of ``tenant`` (subscribed to it) and ``user`` (when given), oldest first, at most
    ``limit``; and how many matched in all."""
    matched = [
        conn
        for conn in connections
        if (tenant is None or tenant in conn.session.subs) and (user is None or conn.session.user_id == user)
    ]
    matched.sort(key=lambda conn: conn.session.opened_at)
    return [describe(conn) for conn in matched[:limit]], len(matched)


__all__ = ["MAX_ROWS", "ConnectionInfo", "describe", "listing"]
