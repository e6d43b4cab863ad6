"""One client's session, sans I/O: what each client message does, and the deadlines it is held to.

A :class:`Session` owns the connection's identity, subscriptions, rate bucket, inbox and deadlines. It takes
client messages (:meth:`~Session.received`), ticks (:meth:`~Session.tick`) and the results of the I/O it
asked for (:meth:`~Session.verified`, :meth:`~Session.located`, :meth:`~Session.page`, …), with the time passed
in, and returns **actions** — send a frame, close with a code, verify a token, locate or read a stream's
history, join or leave a stream, record a read mark — that the :class:`~.node.Node` carries out. No sockets, no
event loop: the tests drive it with tables.

* ``authenticate`` verifies the token; a refresh must be for the same user and ends the subscriptions the new
  token no longer allows. Nothing but ``authenticate``/``ping`` is served before it (``unauthorized``).
  Unauthenticated connections are closed after ``auth_timeout_s`` (4003).
* ``subscribe`` admits only tenants of the verified token (``global`` only for ``monitor``); the tenant a
  client names is checked against the token, never trusted. With ``since`` it replays what the client missed
  — exactly the events after ``since``, in order, then live, without a gap or a duplicate between them (one
  merge routine, :class:`~arda.events.catchup.Catchup`) — or answers ``recovered: false`` and replays nothing
  when history no longer reaches back. What a user sees of each event is :mod:`.visibility`'s rule.
* An expired token gets ``token_expired``; unless a fresh ``authenticate`` arrives within ``token_grace_s``,
  the connection is closed (4002).
* Inbound messages are rate limited (token bucket): over the limit a message is refused with
  ``rate_limited``; a client that keeps going is closed (4005). Acknowledgements also spend the user's own
  budget (shared by the user's connections on this node), never the tenant's publish budget.
* Messages are handled one at a time, in order: while one waits for I/O the next ones wait in the inbox
  (bounded: the rate limit admits at most ``client_burst`` at once).
* Heartbeats: a connection silent for ``heartbeat_interval_s`` is pinged; silent ``heartbeat_timeout_s``
  more, it is dropped (4008).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..events import AnyEvent, HistoryPage, validate_tenant_id
from ..events.catchup import Catchup, mark_of
from ..events.errors import InvalidTenantError
from ..events.positions import position_key
from . import acks, codes, filters, frames, protocol
from .acks import NotificationAcknowledged
from .auth import Identity
from .codes import CloseCode, ErrorCode
from .errors import AuthError, ProtocolError
from .filters import Filter
from .mapper import Notification
from .protocol import Acknowledge, Authenticate, History, Ping, Subscribe, Unsubscribe
from .ratelimit import KeyedBuckets, TokenBucket
from .visibility import GLOBAL, As, audience

ACK_NAMESPACE = uuid.UUID("0f5d7a64-3b3e-4c53-9a43-1c1d6f1f0a11")


# -- actions: what a session asks the node to do -----------------------------------------------------------
class Send(NamedTuple):
    """Queue ``frame`` for the client (a replay paces itself by the socket buffer, not the per-turn cap)."""

    frame: bytes
    replay: bool = False


class Close(NamedTuple):
    code: CloseCode
    reason: str


class Drop(NamedTuple):
    """Drop the connection at once: the client is not reading, a close frame would never arrive."""

    code: CloseCode


class SendPing(NamedTuple):
    pass


class Count(NamedTuple):
    """A failure, counted by reason (the ``arda_failures_total`` metric)."""

    reason: str


class Verify(NamedTuple):
    """Verify ``token``; answer with :meth:`Session.verified`."""

    token: str
    message_id: str | None


class Authenticated(NamedTuple):
    """The connection authenticated for the first time (its inbound budget grows)."""

    identity: Identity


class Join(NamedTuple):
    """Deliver ``stream``'s live frames to this connection through ``catchup`` (it holds them while replaying):
    those that pass ``filter``, when it has one."""

    stream: str
    catchup: Catchup[bytes]
    user_id: str
    filter: Filter | None = None


class Refilter(NamedTuple):
    """The connection's subscription to ``stream`` takes another filter (None: every notification)."""

    stream: str
    filter: Filter | None


class Leave(NamedTuple):
    stream: str
    user_id: str


class Locate(NamedTuple):
    """Make sure the bus delivers ``stream`` here, then find where the subscription starts: the stream's position
    (``since`` None) or history after ``since``; with ``backlog`` (and no ``since``), also the newest ``backlog``
    notifications ``user_id`` may see, up to that position. Answer with :meth:`Session.located`."""

    stream: str
    since: str | None
    backlog: int = 0
    user_id: str = ""
    filter: Filter | None = None


class ReadPage(NamedTuple):
    """When the socket has drained, read ``stream``'s history after ``since``; answer with :meth:`Session.page`."""

    stream: str
    since: str


class ReadHistory(NamedTuple):
    """Read the newest ``limit`` notifications ``user_id`` may see on ``stream`` before ``before``; answer with
    :meth:`Session.history`."""

    stream: str
    user_id: str
    before: str | None
    limit: int
    message_id: str | None
    filter: Filter | None = None


class ReadMarks(NamedTuple):
    """Read what the user marked read on ``stream`` at or after ``since``; answer with :meth:`Session.marks`."""

    stream: str
    user_id: str
    since: str


class MarkRead(NamedTuple):
    """Record the read mark and announce it; answer with :meth:`Session.marked`."""

    tenant: str
    user_id: str
    event_id: str
    announcement: NotificationAcknowledged
    notification_id: str
    message_id: str | None


Action = (
    Send
    | Close
    | Drop
    | SendPing
    | Count
    | Verify
    | Authenticated
    | Join
    | Refilter
    | Leave
    | Locate
    | ReadPage
    | ReadHistory
    | ReadMarks
    | MarkRead
)
PING = SendPing()


class Replay(NamedTuple):
    """A page of history to replay, and which of its events the user has read."""

    page: HistoryPage
    read: frozenset[str] = frozenset()


class Inbox(NamedTuple):
    """Notifications the user may see, newest first, each with whether the user read it; ``before`` pages on."""

    events: list[tuple[AnyEvent, bool]]
    has_more: bool
    before: str | None


class Located(NamedTuple):
    """Where a subscription starts: ``position``, and (with ``since``) history's first page after it, or (with a
    backlog) the newest notifications up to ``position``."""

    position: str | None
    page: Replay | None
    backlog: Inbox | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """What every session of a node is held to (shared by all of them)."""

    client_rate: float
    client_burst: float
    max_subscriptions: int
    max_message_bytes: int
    auth_timeout_s: float
    token_grace_s: float
    heartbeat_interval_s: float
    heartbeat_timeout_s: float
    #: Acknowledgements per user on this node: a budget of their own, never the tenant's.
    ack_limits: KeyedBuckets
    #: The notification frame of an event on a stream, read by the user or not (mapped, masked, encoded, framed;
    #: cached by the node).
    render: Callable[[str, AnyEvent, bool], bytes]
    #: The notification of an event on a stream, read by the user or not (for ``history`` replies).
    notify: Callable[[str, AnyEvent, bool], Notification]
    #: What an event's notification is on a stream, for filters: its type and severity.
    kind: Callable[[str, AnyEvent], tuple[str, str]]


class _Resume:
    """The subscribe under way (one at a time: messages are handled in order)."""

    __slots__ = ("catchup", "message_id", "since", "stream")

    def __init__(self, stream: str, catchup: Catchup[bytes], since: str | None, message_id: str | None) -> None:
        self.stream = stream
        self.catchup = catchup
        self.since = since
        self.message_id = message_id


def _reply(message: bytes) -> Send:
    return Send(frames.text_frame(message))


def _error(code: ErrorCode, message: str, message_id: str | None = None) -> Send:
    return Send(frames.text_frame(protocol.error(code, message, message_id)))


def _refused(identity: Identity, stream: str, mid: str | None) -> list[Action] | None:
    """Why ``identity`` may not subscribe to (or read) ``stream``, as the error to send; None: it may."""
    if stream != GLOBAL:
        try:
            validate_tenant_id(stream)
        except InvalidTenantError as exc:
            return [_error(ErrorCode.INVALID_MESSAGE, f"invalid tenantId: {exc.detail}", mid)]
    if not identity.may_subscribe(stream):
        what = "the global channel needs the monitor role" if stream == GLOBAL else f"not allowed for tenant {stream}"
        return [Count("forbidden"), _error(ErrorCode.FORBIDDEN, what, mid)]
    return None


class Session:
    __slots__ = (
        "bucket",
        "busy",
        "expiry_warned_at",
        "filters",
        "flow",
        "id",
        "identity",
        "inbox",
        "last_seen",
        "messages_in",
        "opened_at",
        "ping_sent_at",
        "rules",
        "subs",
        "violations",
    )

    def __init__(self, rules: Rules, session_id: str, now: float) -> None:
        self.rules = rules
        self.id = session_id
        self.identity: Identity | None = None
        self.subs: dict[str, Catchup[bytes]] = {}
        self.filters: dict[str, Filter] | None = None  # the subscriptions that have one (None: none has; saves 64 B)
        self.bucket = TokenBucket(rules.client_rate, rules.client_burst, now)
        self.violations = 0
        self.opened_at = now
        self.messages_in = 0  # client messages, for the operators' view (GET /v1/connections)
        self.last_seen = now  # the connection updates it with every read
        self.ping_sent_at = 0.0
        self.expiry_warned_at = 0.0
        self.busy = False  # a message waits for I/O: the next ones wait in the inbox
        self.inbox: list[bytes] | None = None
        self.flow: _Resume | None = None

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id if self.identity is not None else None

    # -- inbound ------------------------------------------------------------------------------------
    def connected(self, token: str | None) -> list[Action]:
        """The upgrade is done; ``token`` came with its request (header or query), if any."""
        if token is None:
            return []
        self.busy = True
        return [Verify(token, None)]

    def received(self, data: bytes, now: float) -> list[Action]:
        """A message from the client."""
        self.messages_in += 1
        if not self.bucket.take(now):
            self.violations += 1
            if self.violations >= self.rules.client_burst:
                return [Count("rate_limited"), Close(codes.RATE_LIMITED, "too many messages")]
            mid = protocol.message_id_of(data)
            return [Count("rate_limited"), _error(ErrorCode.RATE_LIMITED, "too many messages; slow down", mid)]
        if self.violations:
            self.violations -= 1
        if self.busy:
            if self.inbox is None:
                self.inbox = []
            self.inbox.append(data)
            return []
        return self._handle(data, now)

    def too_large(self) -> list[Action]:
        limit = self.rules.max_message_bytes
        return [
            Count("message_too_large"),
            _error(ErrorCode.MESSAGE_TOO_LARGE, f"messages are limited to {limit} bytes"),
            Close(codes.MESSAGE_TOO_BIG, codes.MESSAGE_TOO_BIG.name),
        ]

    def _handle(self, data: bytes, now: float) -> list[Action]:
        try:
            message = protocol.decode_client_message(data)
        except ProtocolError as exc:
            return [Count(exc.error_code.value), _error(exc.error_code, str(exc), protocol.message_id_of(data))]
        mid = message.message_id
        identity = self.identity
        if isinstance(message, Ping):
            return [_reply(protocol.encode(protocol.Pong(message_id=mid)))]
        if isinstance(message, Authenticate):
            self.busy = True
            return [Verify(message.payload.token, mid)]
        if identity is None:
            return [Count("unauthorized"), _error(ErrorCode.UNAUTHORIZED, "authenticate first", mid)]
        if now >= identity.expires_at:
            text = "token expired: authenticate with a fresh one"
            return [Count("token_expired"), _error(ErrorCode.TOKEN_EXPIRED, text, mid)]
        if isinstance(message, Subscribe):
            payload = message.payload
            spec = payload.filter
            chosen = filters.parse(spec.types, spec.severity) if spec is not None else None  # (checked: decoded)
            return self._subscribe(identity, payload.tenant_id, payload.since, payload.backlog, chosen, mid)
        if isinstance(message, History):
            return self._history(identity, message.payload, mid)
        if isinstance(message, Unsubscribe):
            return self._unsubscribe(identity, message.payload.tenant_id, mid)
        assert isinstance(message, Acknowledge)
        return self._acknowledge(identity, message.payload.notification_id, mid, now)

    def _done(self, actions: list[Action], now: float) -> list[Action]:
        """The I/O step under way is over: handle the messages that waited for it, in order."""
        self.busy = False
        inbox = self.inbox
        while inbox and not self.busy:
            actions += self._handle(inbox.pop(0), now)
        return actions

    # -- authenticate -------------------------------------------------------------------------------
    def verified(self, result: Identity | AuthError, message_id: str | None, now: float) -> list[Action]:
        """The token of a :class:`Verify` was verified (an :class:`Identity`) or refused."""
        if isinstance(result, AuthError):
            actions: list[Action] = [Count(result.error_code.value), _error(result.error_code, str(result), message_id)]
            if self.identity is None:  # a refresh that fails leaves the current token in force until it ends
                expired = result.error_code is ErrorCode.TOKEN_EXPIRED
                actions.append(Close(codes.TOKEN_EXPIRED if expired else codes.UNAUTHORIZED, str(result)[:100]))
                return actions
            return self._done(actions, now)
        previous = self.identity  # (an expired token never gets here: the authenticator refuses it)
        if previous is not None and previous.user_id != result.user_id:
            text = "a refreshed token must be for the same user"
            return [
                Count("unauthorized"),
                _error(ErrorCode.UNAUTHORIZED, text, message_id),
                Close(codes.UNAUTHORIZED, "token for another user"),
            ]
        self.identity = result
        self.expiry_warned_at = 0.0
        actions = [] if previous is not None else [Authenticated(result)]
        for stream in list(self.subs):
            if not result.may_subscribe(stream):  # the refreshed token no longer allows it
                actions.append(self._leave(stream))
                payload = protocol.UnsubscribedPayload(tenant_id=stream, reason="not allowed by the token")
                actions.append(_reply(protocol.encode(protocol.Unsubscribed(payload=payload))))
        payload_ = protocol.AuthenticatedPayload(
            user_id=result.user_id, tenants=sorted(result.tenants), expires_at=protocol.iso(result.expires_at)
        )
        actions.append(_reply(protocol.encode(protocol.Authenticated(payload=payload_, message_id=message_id))))
        return self._done(actions, now)

    # -- subscribe / unsubscribe --------------------------------------------------------------------
    def _subscribe(
        self, identity: Identity, stream: str, since: str | None, backlog: int, chosen: Filter | None, mid: str | None
    ) -> list[Action]:
        refused = _refused(identity, stream, mid)
        if refused is not None:
            return refused
        if stream in self.subs:
            if self.filter_of(stream) == chosen:
                return [self._subscribed(stream, None, True, mid)]
            self._set_filter(stream, chosen)  # subscribing again with another filter replaces it
            return [Refilter(stream, chosen), self._subscribed(stream, None, True, mid)]
        if len(self.subs) >= self.rules.max_subscriptions:
            return [_error(ErrorCode.FORBIDDEN, "subscription limit reached", mid)]
        catchup: Catchup[bytes] = Catchup()  # holds live frames until the replay is done
        self.subs[stream] = catchup
        self.flow = _Resume(stream, catchup, since, mid)
        self.busy = True
        backlog = 0 if since is not None else backlog  # a resume: ``since`` wins
        self._set_filter(stream, chosen)
        user = identity.user_id
        return [Join(stream, catchup, user, chosen), Locate(stream, since, backlog, user, chosen)]

    def filter_of(self, stream: str) -> Filter | None:
        """The filter of the subscription to ``stream``; None: it has none (or there is no such subscription)."""
        return self.filters.get(stream) if self.filters is not None else None

    def _set_filter(self, stream: str, chosen: Filter | None) -> None:
        if chosen is not None:
            if self.filters is None:
                self.filters = {}
            self.filters[stream] = chosen
        elif self.filters is not None:
            self.filters.pop(stream, None)

    def _subscribed(
        self, stream: str, position: str | None, recovered: bool, mid: str | None, backlog: int = 0
    ) -> Send:
        payload = protocol.SubscribedPayload(tenant_id=stream, position=position, recovered=recovered, backlog=backlog)
        return _reply(protocol.encode(protocol.Subscribed(payload=payload, message_id=mid)))

    def _current(self, stream: str) -> _Resume | None:
        """The subscribe under way for ``stream``, unless it was unsubscribed meanwhile."""
        flow = self.flow
        if flow is None or flow.stream != stream or self.subs.get(stream) is not flow.catchup:
            return None
        return flow

    def located(self, stream: str, result: Located | Exception, now: float) -> list[Action]:
        """Where the subscription of a :class:`Locate` starts, or why it could not."""
        flow = self._current(stream)
        if flow is None:
            self.flow = None
            return self._done([], now)  # unsubscribed while this was under way (that reply went already)
        if isinstance(result, Exception):
            self.flow = None
            text = f"subscribe failed: {type(result).__name__}"
            actions: list[Action] = [self._leave(stream), Count("internal_error")]
            actions.append(_error(ErrorCode.INTERNAL_ERROR, text, flow.message_id))
            return self._done(actions, now)
        replay = result.page
        recovered = replay is None or replay.page.reaches_back
        backlog = result.backlog.events if result.backlog is not None else []
        actions = [self._subscribed(stream, result.position, recovered, flow.message_id, len(backlog))]
        position = result.position
        flow.catchup.after = mark_of(position) if position is not None and recovered else None
        if replay is not None and replay.page.reaches_back:
            return self._replay(flow, replay, actions, now)
        render = self.rules.render
        actions += [Send(render(stream, event, read), True) for event, read in reversed(backlog)]  # oldest first
        return self._caught_up(flow, recovered, actions, now)

    def page(self, stream: str, result: Replay | Exception | None, now: float) -> list[Action]:
        """The next page of a replay (None: the socket did not drain in time — the node closed it)."""
        flow = self._current(stream)
        if flow is None or result is None:
            self.flow = None
            return self._done([], now)
        if isinstance(result, Exception):
            self.flow = None
            reason = f"replay failed ({type(result).__name__}): resume again"
            return [Close(codes.RESYNC, reason)]
        if not result.page.reaches_back:  # trimmed while the client drained: what the replay has left is gone
            self.flow = None
            return [Close(codes.RESYNC, "history moved on during the replay: resume again")]
        return self._replay(flow, result, [], now)

    def _replay(self, flow: _Resume, replay: Replay, actions: list[Action], now: float) -> list[Action]:
        catchup = flow.catchup
        user = self.user_id
        render = self.rules.render
        page, read = replay
        wanted = self.filter_of(flow.stream)
        kind = self.rules.kind
        for event in page.events:
            seen = audience(flow.stream, event).sees(user)
            if seen is As.NOTIFICATION and (wanted is None or wanted.matches(*kind(flow.stream, event))):
                actions.append(Send(render(flow.stream, event, event.id in read), True))
            elif seen is As.ACKNOWLEDGEMENT and isinstance(event, NotificationAcknowledged):
                actions.append(Send(frames.text_frame(protocol.acknowledged(event.notification_id)), True))
            assert event.position is not None
            catchup.replayed(position_key(event.position))
        if page.has_more and page.position is not None:
            actions.append(ReadPage(flow.stream, page.position))
            return actions
        return self._caught_up(flow, True, actions, now)

    def _caught_up(self, flow: _Resume, recovered: bool, actions: list[Action], now: float) -> list[Action]:
        """The replay is done: the live frames held meanwhile, without what was replayed; then the read marks."""
        actions += [Send(frame, True) for frame in flow.catchup.finish()]
        user = self.user_id
        if flow.since is not None and recovered and flow.stream != GLOBAL and user is not None:
            actions.append(ReadMarks(flow.stream, user, flow.since))
            return actions
        self.flow = None
        return self._done(actions, now)

    def marks(self, stream: str, result: list[str] | Exception, now: float) -> list[Action]:
        """What the user marked read while away (at or after ``since``): told to a resuming connection. When the
        marks cannot be read, the notifications went out already; only the marks are missing."""
        self.flow = None
        actions: list[Action] = []
        if not isinstance(result, Exception) and stream in self.subs:
            for event_id in result:
                actions.append(_reply(protocol.acknowledged(acks.notification_id(stream, event_id))))
        return self._done(actions, now)

    # -- history ------------------------------------------------------------------------------------
    def _history(self, identity: Identity, request: protocol.HistoryRequestPayload, mid: str | None) -> list[Action]:
        stream = request.tenant_id
        refused = _refused(identity, stream, mid)
        if refused is not None:
            return refused
        self.busy = True
        return [ReadHistory(stream, identity.user_id, request.before, request.limit, mid, self.filter_of(stream))]

    def history(self, stream: str, result: Inbox | Exception, message_id: str | None, now: float) -> list[Action]:
        """The page of a :class:`ReadHistory` (newest first), or why it could not be read."""
        if isinstance(result, Exception):
            text = f"history unavailable: {type(result).__name__}"
            return self._done([Count("internal_error"), _error(ErrorCode.INTERNAL_ERROR, text, message_id)], now)
        notify = self.rules.notify
        payload = protocol.HistoryReplyPayload(
            tenant_id=stream,
            notifications=[notify(stream, event, read) for event, read in result.events],
            has_more=result.has_more,
            before=result.before,
        )
        return self._done([_reply(protocol.encode(protocol.HistoryReply(payload=payload, message_id=message_id)))], now)

    def _unsubscribe(self, identity: Identity, stream: str, mid: str | None) -> list[Action]:
        if stream not in self.subs:
            return [_error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {stream}", mid)]
        payload = protocol.UnsubscribedPayload(tenant_id=stream)
        return [self._leave(stream), _reply(protocol.encode(protocol.Unsubscribed(payload=payload, message_id=mid)))]

    def _leave(self, stream: str) -> Leave:
        del self.subs[stream]
        self._set_filter(stream, None)
        user = self.user_id
        assert user is not None
        return Leave(stream, user)

    def ended(self) -> list[Action]:
        """The connection is gone: leave every stream."""
        user = self.user_id
        streams, self.subs = list(self.subs), {}
        self.filters = None
        self.flow = None
        return [Leave(stream, user) for stream in streams] if user is not None else []

    # -- acknowledge --------------------------------------------------------------------------------
    def _acknowledge(self, identity: Identity, notification_id: str, mid: str | None, now: float) -> list[Action]:
        parts = acks.split(notification_id)
        if parts is None:
            return [_error(ErrorCode.INVALID_MESSAGE, "not a notification id", mid)]
        tenant, event_id = parts
        user = identity.user_id
        if tenant not in self.subs:
            return [_error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {tenant}", mid)]
        if self.rules.ack_limits.take(user, now):  # the user's own budget: never the tenant's publish budget
            text = "too many acknowledgements; slow down"
            return [Count("rate_limited"), _error(ErrorCode.RATE_LIMITED, text, mid)]
        announcement = NotificationAcknowledged(
            id=str(uuid.uuid5(ACK_NAMESPACE, f"{user}\n{notification_id}")),
            tenant_id=tenant,
            user_id=user,
            recipients=[user],
            notification_id=notification_id,
            origin=self.id,
        )
        self.busy = True
        return [MarkRead(tenant, user, event_id, announcement, notification_id, mid)]

    def marked(self, notification_id: str, message_id: str | None, error: Exception | None, now: float) -> list[Action]:
        """The read mark of a :class:`MarkRead` was recorded (``error`` None) or not."""
        if error is not None:
            text = f"acknowledgement not recorded: {error}"
            return self._done([Count("internal_error"), _error(ErrorCode.INTERNAL_ERROR, text, message_id)], now)
        return self._done([_reply(protocol.acknowledged(notification_id, message_id))], now)

    # -- deadlines ----------------------------------------------------------------------------------
    def tick(self, now: float) -> list[Action]:
        """The deadlines, checked every ``sweep_interval_s``."""
        rules = self.rules
        identity = self.identity
        actions: list[Action] = []
        if identity is None:
            if now - self.opened_at >= rules.auth_timeout_s:
                return [Count("auth_timeout"), Close(codes.AUTH_TIMEOUT, "not authenticated in time")]
        elif now >= identity.expires_at:
            if not self.expiry_warned_at:
                self.expiry_warned_at = now
                actions.append(_error(ErrorCode.TOKEN_EXPIRED, "token expired: authenticate with a fresh one"))
            elif now - self.expiry_warned_at >= rules.token_grace_s:
                return [Count("token_expired"), Close(codes.TOKEN_EXPIRED, "token expired")]
        if now - self.last_seen >= rules.heartbeat_interval_s:
            if self.ping_sent_at <= self.last_seen:
                self.ping_sent_at = now
                actions.append(PING)
            elif now - self.ping_sent_at >= rules.heartbeat_timeout_s:
                actions += [Count("heartbeat_timeout"), Drop(codes.HEARTBEAT_TIMEOUT)]
        return actions


__all__ = [
    "PING",
    "Action",
    "Authenticated",
    "Close",
    "Count",
    "Drop",
    "Inbox",
    "Join",
    "Leave",
    "Locate",
    "Located",
    "MarkRead",
    "ReadHistory",
    "ReadMarks",
    "ReadPage",
    "Refilter",
    "Replay",
    "Rules",
    "Send",
    "SendPing",
    "Session",
    "Verify",
]
