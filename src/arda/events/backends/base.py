"""The backend port: what the bus needs from a transport with history. Backends know nothing of event
types; they move and store bytes, and report connection changes to a listener.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple, Protocol

from ..wire import DeadLetter, Revocation


class Retention(NamedTuple):
    """How much history is kept, and how long a publish id is remembered.

    Streams are trimmed approximately (Redis ``~``): at least ``max_events`` newest events are kept,
    possibly a few more. Events older than ``max_age_s`` are trimmed on each publish to the stream (an idle
    stream keeps its last events until its next publish). Publish ids are remembered for
    ``idempotency_window_s``: a retry within it is answered with the first position, not stored again.
    """

    max_events: int = 10_000
    max_age_s: float = 24 * 3600
    global_max_events: int = 100_000
    idempotency_window_s: float = 300
    dead_letter_max: int = 10_000
    #: How long a revocation is kept: tokens issued before it are refused for as long, so it should exceed the
    #: longest token lifetime in use.
    revocation_window_s: float = 30 * 86400

    def validate(self) -> Retention:
        """Return self, or raise ``ValueError`` naming the setting that is out of range."""
        if self.max_events < 1 or self.global_max_events < 1 or self.dead_letter_max < 1:
            raise ValueError("retention: max_events, global_max_events and dead_letter_max must be >= 1")
        if not 1 <= self.max_age_s <= 10 * 365 * 86400:
            raise ValueError("retention: max_age_s must be between 1 second and 10 years")
        if not 1 <= self.idempotency_window_s <= 7 * 86400:
            raise ValueError("retention: idempotency_window_s must be between 1 second and 7 days")
        if not 1 <= self.revocation_window_s <= 10 * 365 * 86400:
            raise ValueError("retention: revocation_window_s must be between 1 second and 10 years")
        return self


class PublishItem(NamedTuple):
    tenant_id: str
    event_id: str
    payload: bytes  # wire JSON, without position


class PublishOutcome(NamedTuple):
    position: str  # "" when ``error`` is set
    duplicate: bool
    #: Why Redis refused this event (nothing of it was stored or sent); the others of the batch are unaffected.
    error: str | None = None


class StoredEvent(NamedTuple):
    position: str
    payload: bytes


class HistoryRead(NamedTuple):
    """Entries strictly after ``since`` (oldest first; anchors left out), and whether history still reaches
    back to it (its entry is retained, after the stream's floor)."""

    entries: list[StoredEvent]
    reaches_back: bool
    #: The last entry read, anchors included (where the next page starts); None when nothing was read.
    last: str | None = None
    #: Whether the read stopped at the limit (more may follow).
    full: bool = False


class Settled(NamedTuple):
    """What a stream is after a gap: its newest position, and whether history was lost (not only trimmed by
    retention) — then every position up to ``newest`` is refused from now on."""

    newest: str
    lost: bool


class BackendListener(Protocol):
    def on_message(self, stream: str, payload: bytes) -> None:
        """A message arrived on a stream's channel. Called on the event loop; must not block."""

    def on_connection_lost(self, reason: str) -> None:
        """The live connection dropped: messages may be missed until :meth:`on_resubscribed`."""

    def on_resubscribed(self) -> None:
        """Connection restored and every desired subscription confirmed again; fill gaps now."""

    def on_revoked(self, revocation: Revocation) -> None:
        """A revocation was recorded (by any instance). Called on the event loop; must not block."""


class Backend(Protocol):
    #: The backend's URL with any password replaced, safe to log.
    safe_url: str
    #: The streams that together carry every tenant's events: ``("global",)``, or a Redis Cluster's shards.
    global_streams: tuple[str, ...]

    def set_listener(self, listener: BackendListener) -> None: ...

    async def connect(self) -> None:
        """Connect, or raise :class:`BackendUnavailableError` within the connect timeout."""

    async def close(self) -> None: ...

    async def publish(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        """Store and publish, atomically per batch, to the tenants' and the global stream."""

    async def publish_raw(self, stream: str, payload: bytes) -> int:
        """Plain ``PUBLISH`` to a stream's channel, as a service in another language would."""

    async def history(self, stream: str, since: str | None, limit: int) -> HistoryRead: ...

    async def history_before(self, stream: str, end: str | None, limit: int, inclusive: bool = False) -> HistoryRead:
        """At most ``limit`` entries before ``end`` (at or before it when ``inclusive``; the newest when None),
        **newest first**, anchors left out; ``last`` is where the next page (``end=last``) starts."""
        ...

    async def announce(self, instance_id: str, document: bytes, ttl_ms: int) -> None:
        """Publish this instance's live figures for ``ttl_ms`` (:meth:`instances` lists the live ones)."""
        ...

    async def instances(self) -> list[bytes]:
        """The figures every live instance announced (oldest announcement first)."""
        ...

    async def top(self, stream: str) -> str:
        """The position of the newest entry (an anchor is stored in a stream that has none: a position is
        always a real entry)."""

    async def check(self, cursors: Sequence[tuple[str, str]]) -> list[bool]:
        """For each ``(stream, position)``: whether history still reaches back to it (the entry exists, after
        the stream's floor). One round trip for all."""

    async def settle(self, stream: str, cursor: str, lost: bool = False) -> Settled:
        """After a gap at ``cursor``: the stream's newest position, and whether history was lost (the cursor's
        entry is missing although not older than the oldest retained one, or ``lost`` says so). When lost, the
        stream's floor is raised to the newest position."""

    async def primary(self) -> bool:
        """Whether the backend is the writable primary now. A Redis backend also records which replication
        history it is writing to; after a promotion (a replica became the primary, and its last writes may be
        missing) it raises every stream's floor, so no position from before is resumed as complete."""

    def writable(self) -> bool:
        """The last :meth:`primary` verdict (True until one says otherwise)."""

    async def listen(self) -> None:
        """Open the live connection now (the first subscribe opens it otherwise); raise
        :class:`BackendUnavailableError` when it cannot be opened."""

    def live(self) -> bool:
        """Whether the live connection is up (True while none is wanted yet)."""

    async def subscribe(self, streams: Collection[str]) -> None:
        """Add streams to the desired set and wait until the live connection confirms them."""

    async def unsubscribe(self, streams: Collection[str]) -> None: ...

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None: ...

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        """The newest dead letters, newest first."""

    async def ping(self) -> float:
        """Round-trip time in seconds; raises when the backend is unreachable."""

    # -- read state: which events each user has read, kept beside (never inside) the event streams ------------
    async def mark_read(self, tenant_id: str, user_id: str, event_id: str, announcement: bytes) -> bool:
        """Record that ``user_id`` read ``event_id`` of ``tenant_id``; when that is new, deliver ``announcement``
        (event JSON, unstored) live on the tenant's channel. True when the mark is new. Marks are kept for
        ``Retention.max_age_s`` and at most ``Retention.max_events`` per user and tenant (oldest dropped)."""

    async def read_marks(self, tenant_id: str, user_id: str, event_ids: Sequence[str]) -> list[bool]:
        """For each event id, whether the user has read it."""

    async def read_since(self, tenant_id: str, user_id: str, since_ms: int) -> list[str]:
        """The event ids the user read at or after ``since_ms`` (unix ms, the backend's clock), oldest first."""

    async def latest_read(self, tenant_id: str) -> int | None:
        """When anyone of the tenant last marked something read (unix ms, the backend's clock); None: never."""

    # -- revocations: users whose tokens are refused, for every instance ----------------------------------
    async def revoke(self, user_id: str, tenant_id: str | None) -> Revocation:
        """Record a revocation (timed by the backend's clock), kept for ``Retention.revocation_window_s``, and
        announce it to every backend's listener (``on_revoked``), this one included."""

    async def revocations(self) -> list[Revocation]:
        """Every revocation recorded within ``Retention.revocation_window_s``, oldest first."""
