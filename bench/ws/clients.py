"""Client processes: each holds its share of the WebSocket connections (picows, one listener each).

Per notification a connection does the minimum: decode the frame with a typed msgspec decoder that reads only
``type``, ``payload.tenantId`` and two fields of ``payload.data`` (the rest is skipped), then checks tenant,
sequence and records the latency. Checks, per connection:

* crossing — the notification's tenant is not the connection's;
* duplicate — a sequence number already received;
* reorder — a sequence number below one already received that had been skipped (it arrived late);
* loss — at the end of a phase, every sequence number of the phase the connection never received;
* late — a sequence number of an earlier phase (arrived after that phase was tallied; counted there as lost).

The parent drives each process over a pipe: ``open``, ``subscribe_all`` (the storm), ``begin``/``end`` of a
phase, ``progress``, ``close``. A shared counter holds the process's running total of notifications, read by
the parent (progress) and the publisher (closed-loop flow control).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import jwt
import msgspec
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from .harness import LOAD_CORE, pin, raise_nofile
from .wire import Counter, ServerMessage, decoder, peer_event_decoder, sent_at, seq_of, tenant_name

SUBSCRIBE_TRIES = 6
#: Source addresses the connections are spread over (127.0.0.2 …): one address has only ~28,000 ephemeral
#: ports towards one server port, so 100,000 connections need several.
SOURCE_ADDRESSES = 16


def source_address(index: int) -> str:
    return f"127.0.0.{2 + index % SOURCE_ADDRESSES}"


REJOIN_JITTER_S = 0.5  # reconnect_storm: each reconnect attempt waits uniform(0, this) first (every system alike)
REJOIN_ATTEMPT_S = 10.0  # ...and gives up on one attempt (connect, authenticate, subscribe) after this long
MAX_SAMPLES = 4_000_000  # latency samples kept per process and phase (8 bytes each)
REPLY_TIMEOUT = 30.0


@dataclass(frozen=True)
class ClientSpec:
    url: str
    secret: str
    tenants: int
    concurrency: int  # connections being opened at once by this process
    protocol: str = "arda"  # "arda" (the service's protocol) or "socketio" (Engine.IO 4 / Socket.IO 4)
    #: arda: connection i subscribes with filter i % filters (0: none). Every filter matches the benchmark's
    #: order.created events, so deliveries (and the loss checks) are those of an unfiltered run.
    filters: int = 0


class Tally:
    """One process's counts for the current phase (``total`` runs across phases)."""

    __slots__ = ("closes", "crossing", "dups", "errors", "foreign", "late", "latencies", "received", "reorder", "total")

    def __init__(self) -> None:
        self.total = 0
        self.reset()

    def reset(self) -> None:
        self.received = 0
        self.dups = 0
        self.crossing = 0
        self.reorder = 0
        self.late = 0
        self.foreign = 0  # notifications that are not benchmark events
        self.latencies = array("d")
        self.errors: dict[str, int] = {}
        self.closes: dict[int, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class Client(WSListener):
    """One connection: its tenant, the highest sequence number seen, the gaps below it."""

    __slots__ = (
        "closing",
        "counter",
        "disconnected",
        "first_at",
        "floor",
        "index",
        "last",
        "missing",
        "on_lost",
        "position",
        "record",
        "tally",
        "tenant",
        "token",
        "token_exp",
        "transport",
        "waiter",
    )

    def __init__(self, tally: Tally, tenant: str, counter: Counter) -> None:
        self.tally = tally
        self.tenant = tenant
        self.counter = counter
        self.last = -1  # highest sequence number received
        self.floor = 0  # first sequence number of the current phase
        self.missing: set[int] | None = None  # skipped numbers below `last`
        self.first_at = 0.0  # receive time of the phase's first notification
        self.record = True
        self.transport: WSTransport | None = None
        self.waiter: asyncio.Future[ServerMessage] | None = None
        self.closing = False
        self.disconnected = False
        self.index = -1  # the user index (its token's ``sub``), set when opened
        self.position: str | None = None  # arda: the last stream position seen (resume point)
        self.token: str | None = None  # its JWT, made once and reused on every reconnect (as a browser's is)
        self.token_exp = 0
        self.on_lost: Callable[[Client], None] | None = None  # reconnect_storm: called when the connection drops

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                if not self.closing:
                    code = int(frame.get_close_code().value)
                    self.tally.closes[code] = self.tally.closes.get(code, 0) + 1
                    self.closing = True
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        now = time.time()
        tally = self.tally
        try:
            message = decoder.decode(frame.get_payload_as_memoryview())
        except msgspec.DecodeError:
            tally.error("undecodable")
            return
        payload = message.payload
        if message.type != "notification" or payload is None:
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            elif message.type == "error" and payload is not None:
                tally.error(f"server error {payload.code}")
            return
        tally.received += 1
        tally.total += 1
        if frame.last_in_buffer:
            self.counter.value = tally.total
        if payload.tenant_id != self.tenant:
            tally.crossing += 1
            return
        data = payload.data
        seq = seq_of(data) if data is not None else -1
        if seq < 0 or data is None:
            tally.foreign += 1
            return
        if payload.position is not None:
            self.position = payload.position
        self._account(seq, now, sent_at(data))

    def _account(self, seq: int, now: float, sent: float) -> None:
        """Sequence bookkeeping of one notification: in order, a gap (remembered), a late one, a reordered
        one that fills a gap, or a duplicate; and its latency when recording."""
        tally = self.tally
        if not self.first_at:
            self.first_at = now
        last = self.last
        if seq == last + 1:
            self.last = seq
        elif seq > last:
            if self.missing is None:
                self.missing = set()
            self.missing.update(range(last + 1, seq))
            self.last = seq
        elif seq < self.floor:
            tally.late += 1
            return
        elif self.missing is not None and seq in self.missing:
            self.missing.discard(seq)
            tally.reorder += 1
        else:
            tally.dups += 1
            return
        if self.record and len(tally.latencies) < MAX_SAMPLES:
            tally.latencies.append(now - sent)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected = True
        if not self.closing:
            self.tally.closes[1006] = self.tally.closes.get(1006, 0) + 1
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("connection closed"))
        if self.on_lost is not None:
            self.on_lost(self)

    async def request(self, body: bytes) -> ServerMessage:
        """Send one message and wait for the next non-notification message (its reply)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.send(WSMsgType.TEXT, body)
        try:
            return await asyncio.wait_for(self.waiter, REPLY_TIMEOUT)
        finally:
            self.waiter = None

    # -- phases ------------------------------------------------------------------------------------
    def begin(self, start: int) -> None:
        if self.last < start - 1:  # what an earlier phase never got was counted as lost there
            self.last = start - 1
        self.missing = None
        self.floor = start
        self.first_at = 0.0

    def lost(self, end: int) -> int:
        """Sequence numbers below ``end`` of this phase never received (call once, at the phase's end)."""
        gaps = len(self.missing) if self.missing is not None else 0
        return gaps + max(0, end - 1 - self.last)


_PING = 0x32  # b"2": an Engine.IO ping (the server's heartbeat), answered b"3"
_EVENT = 0x34  # b"4": an Engine.IO message, a Socket.IO packet follows (b"42": an event)


class SioClient(Client):
    """One Socket.IO v4 connection over a raw WebSocket (Engine.IO v4, ``transport=websocket``). Per frame the
    minimum: a heartbeat ping is answered at once; an event (``42[...]``) is decoded with a typed decoder that
    reads only its name and the payload's ``seq``, ``sentAt`` and ``tenant``; the checks are the same as
    :class:`Client`'s. Every other packet (open, connect, connect error, ack, disconnect) is a reply."""

    __slots__ = ("inbox", "reply_waiter")

    def __init__(self, tally: Tally, tenant: str, counter: Counter) -> None:
        super().__init__(tally, tenant, counter)
        self.inbox: list[bytes] = []  # replies that arrived while nobody waited (the server's open packet)
        self.reply_waiter: asyncio.Future[bytes] | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            Client.on_ws_frame(self, transport, frame)  # close frames
            return
        now = time.time()
        view = frame.get_payload_as_memoryview()
        first = view[0] if len(view) else 0
        if first == _PING and len(view) == 1:
            transport.send(WSMsgType.TEXT, b"3")
            return
        tally = self.tally
        if first != _EVENT or len(view) < 3 or view[1] != _PING:  # not "42…": a reply
            waiter = self.reply_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(bytes(view))
            else:
                self.inbox.append(bytes(view))
            return
        try:
            name, note = peer_event_decoder.decode(view[2:])
        except msgspec.DecodeError:
            tally.error("undecodable")
            return
        tally.received += 1
        tally.total += 1
        if frame.last_in_buffer:
            self.counter.value = tally.total
        if name != "notification" or note.seq < 0:
            tally.foreign += 1
            return
        if note.tenant != self.tenant:
            tally.crossing += 1
            return
        seq = note.seq
        self._account(seq, now, note.sentAt / 1e6)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        super().on_ws_disconnected(transport)
        waiter = self.reply_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("connection closed"))

    async def reply(self, body: bytes | None = None) -> bytes:
        """Send ``body`` (if any), then return the next packet that is not an event or a ping."""
        if body is not None:
            assert self.transport is not None
            self.transport.send(WSMsgType.TEXT, body)
        if self.inbox:
            return self.inbox.pop(0)
        if self.disconnected:
            raise ConnectionError("connection closed")
        self.reply_waiter = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self.reply_waiter, REPLY_TIMEOUT)
        finally:
            self.reply_waiter = None


def bench_filter(index: int, filters: int) -> dict[str, list[str]]:
    """The ``filter`` of connection ``index``: one of ``filters`` distinct ones, each passing order.created."""
    return {"types": ["order.created", f"bench.filter{index % filters}"]}


def _message(kind: str, payload: dict[str, Any], message_id: str) -> bytes:
    return msgspec.json.encode({"type": kind, "payload": payload, "messageId": message_id})


class ClientProcess:
    def __init__(self, spec: ClientSpec, counter: Counter) -> None:
        self.spec = spec
        self.counter = counter
        self.tally = Tally()
        self.clients: list[Client] = []
        self.retries: dict[str, int] = {}  # subscribe retries by error code (of the last open/subscribe_all)
        self.retried_clients = 0  # connections subscribed only after a retry
        # reconnect_storm: clients being reconnected, when each got back, why the others gave up
        self.rejoining: set[Client] = set()
        self.rejoin_tasks: set[asyncio.Task[None]] = set()
        self.rejoined: dict[Client, float] = {}  # client → when it was subscribed again (its latest return)
        self.rejoin_failures: dict[str, int] = {}
        self.rejoin_attempts = 0
        self.rejoin_redrops = 0
        self.rejoin_resumed = 0  # arda: re-subscribed with `since`...
        self.rejoin_recovered = 0  # ...and answered `recovered: true`
        self.rejoin_deadline = 0.0
        self.lost_clients = 0

    # -- opening -----------------------------------------------------------------------------------
    def _token(self, client: Client) -> str:
        """The client's token: made on its first connection, reused on reconnects until it is near expiry (what
        an application's token provider does)."""
        now = int(time.time())
        if client.token is None or now > client.token_exp - 600:
            client.token_exp = now + 3600
            claims = {"sub": f"u-{client.index}", "tenants": [client.tenant], "iat": now, "exp": client.token_exp}
            client.token = jwt.encode(claims, self.spec.secret, algorithm="HS256")
        return client.token

    async def _subscribe(self, client: Client, resume: bool = False) -> str | None:
        """Subscribe ``client`` to its tenant; None when ``subscribed``, else why not. An ``internal_error``
        ("the request may be retried") is retried after a short randomised pause, up to ``SUBSCRIBE_TRIES``
        times; every retry is counted (``retries`` in the replies)."""
        if isinstance(client, SioClient):
            body = b'420["subscribe",' + msgspec.json.encode({"tenantId": client.tenant}) + b"]"
            try:
                answer = await client.reply(body)
            except (ConnectionError, TimeoutError) as exc:
                return f"subscribe: {type(exc).__name__}"
            return None if answer.startswith(b"430[") and b'"ok":true' in answer else f"subscribe: {answer[:40]!r}"
        payload: dict[str, Any] = {"tenantId": client.tenant}
        if self.spec.filters:
            payload["filter"] = bench_filter(client.index, self.spec.filters)
        if resume and client.position is not None:
            payload["since"] = client.position  # arda's resume: replay what came after the last position seen
            self.rejoin_resumed += 1
        body = _message("subscribe", payload, "s")
        for attempt in range(SUBSCRIBE_TRIES):
            try:
                reply = await client.request(body)
            except (ConnectionError, TimeoutError) as exc:
                return f"subscribe: {type(exc).__name__}"
            if reply.type == "subscribed":
                if attempt:
                    self.retried_clients += 1
                if reply.payload is not None:
                    if resume and "since" in payload and reply.payload.recovered:
                        self.rejoin_recovered += 1
                    if reply.payload.position is not None:
                        client.position = reply.payload.position
                return None
            code = reply.payload.code if reply.payload else None
            if code != "internal_error" or attempt == SUBSCRIBE_TRIES - 1:
                return f"subscribe: {reply.type} {code or ''}"
            self.retries[code] = self.retries.get(code, 0) + 1
            await asyncio.sleep(random.uniform(0.05, 0.2) * 2**attempt)
        return "subscribe: no attempt"  # unreachable

    async def _open_one(self, index: int, subscribe: bool, gate: asyncio.Semaphore) -> Client | str:
        tenant = tenant_name(index % self.spec.tenants)
        kind = SioClient if self.spec.protocol == "socketio" else Client
        async with gate:
            try:
                transport, listener = await ws_connect(
                    lambda: kind(self.tally, tenant, self.counter),
                    self.spec.url,
                    websocket_handshake_timeout=20,
                    read_buffer_init_size=4096,
                    enable_auto_pong=True,
                    local_addr=(source_address(index), 0),
                )
            except Exception as exc:
                return f"connect: {type(exc).__name__}"
            assert isinstance(listener, Client)
            listener.index = index
            failure = await self._authenticate(listener)
            if failure is None and subscribe:
                failure = await self._subscribe(listener)
            if failure is None:
                return listener
            listener.closing = True
            transport.disconnect()
            return failure

    async def _authenticate(self, client: Client) -> str | None:
        """arda: ``authenticate`` with a JWT; Socket.IO: the namespace connect with it. None when accepted."""
        if isinstance(client, SioClient):
            return await self._sio_connect(client)
        try:
            token = self._token(client)
            reply = await client.request(_message("authenticate", {"token": token}, "a"))
        except (ConnectionError, TimeoutError) as exc:
            return f"authenticate: {type(exc).__name__}"
        if reply.type != "authenticated":
            return f"authenticate: {reply.type} {reply.payload.code if reply.payload else ''}"
        return None

    async def _sio_connect(self, client: SioClient) -> str | None:
        """Engine.IO open (``0{...}`` from the server), then the Socket.IO connect to the default namespace with
        the token as auth (``40{"token":…}``), answered ``40{"sid":…}`` or ``44{…}`` (refused)."""
        try:
            opening = await client.reply()
            if not opening.startswith(b"0{"):
                return f"open: {opening[:40]!r}"
            answer = await client.reply(b"40" + msgspec.json.encode({"token": self._token(client)}))
        except (ConnectionError, TimeoutError) as exc:
            return f"authenticate: {type(exc).__name__}"
        return None if answer.startswith(b"40") else f"authenticate: {answer[:40]!r}"

    async def open(self, indices: list[int], subscribe: bool) -> dict[str, Any]:
        self.retries = {}
        gate = asyncio.Semaphore(self.spec.concurrency)
        results = await asyncio.gather(*(self._open_one(i, subscribe, gate) for i in indices))
        failures: dict[str, int] = {}
        per_tenant = [0] * self.spec.tenants
        for result in results:
            if isinstance(result, Client):
                self.clients.append(result)
                per_tenant[int(result.tenant[1:])] += 1
            else:
                failures[result] = failures.get(result, 0) + 1
        return {"opened": sum(per_tenant), "per_tenant": per_tenant, "failures": failures, "retries": self.retries}

    async def subscribe_all(self, barrier: MpEvent) -> dict[str, Any]:
        """Wait for the barrier, then send every connection's subscribe at once; wait for all ``subscribed``."""
        self.retries = {}
        self.retried_clients = 0
        loop = asyncio.get_running_loop()
        released = await loop.run_in_executor(None, barrier.wait, 60.0)
        if not released:
            return {"subscribed": 0, "failures": {"barrier timeout": len(self.clients)}}
        released_at = time.time()
        results = await asyncio.gather(*(self._subscribe(c) for c in self.clients))
        failures: dict[str, int] = {}
        for result in results:
            if result is not None:
                failures[result] = failures.get(result, 0) + 1
        return {
            "subscribed": sum(r is None for r in results),
            "failures": failures,
            "retries": self.retries,
            "retried_clients": self.retried_clients,
            "released_at": released_at,
            "done_at": time.time(),
        }

    # -- reconnect_storm -------------------------------------------------------------------------------
    def arm_rejoin(self, deadline: float) -> dict[str, Any]:
        """From now on every client whose connection drops reconnects by itself (:meth:`_rejoin`)."""
        self.rejoining.clear()
        self.rejoined = {}
        self.rejoin_failures = {}
        self.rejoin_attempts = self.rejoin_redrops = self.rejoin_resumed = self.rejoin_recovered = 0
        self.lost_clients = 0
        self.rejoin_deadline = deadline
        for client in self.clients:
            client.on_lost = self._lost
        return {"armed": len(self.clients)}

    def _lost(self, client: Client) -> None:
        if client in self.rejoining:  # a failed attempt of a reconnect already under way
            return
        self.lost_clients += 1
        if self.rejoined.pop(client, None) is not None:  # it had got back already: dropped again
            self.rejoin_redrops += 1
        self.rejoining.add(client)
        task = asyncio.get_running_loop().create_task(self._rejoin(client))
        self.rejoin_tasks.add(task)
        task.add_done_callback(self.rejoin_tasks.discard)

    async def _rejoin(self, client: Client) -> None:
        """Reconnect, re-authenticate, re-subscribe (arda: with ``since``), each attempt after a random pause
        of up to ``REJOIN_JITTER_S``, until it works or the deadline passes."""
        last = "no attempt before the deadline"
        while True:
            await asyncio.sleep(random.uniform(0.0, REJOIN_JITTER_S))
            if time.time() >= self.rejoin_deadline:
                break
            self.rejoin_attempts += 1
            try:
                failure = await asyncio.wait_for(self._rejoin_once(client), REJOIN_ATTEMPT_S)
            except TimeoutError:
                failure = "attempt timed out"
            if failure is None:
                self.rejoined[client] = time.time()
                self.rejoining.discard(client)
                return
            last = failure
        self.rejoining.discard(client)
        self.rejoin_failures[last] = self.rejoin_failures.get(last, 0) + 1

    async def _rejoin_once(self, client: Client) -> str | None:
        client.transport = None
        client.waiter = None
        client.closing = False
        client.disconnected = False
        if isinstance(client, SioClient):
            client.inbox.clear()
            client.reply_waiter = None
        try:
            transport, _ = await ws_connect(
                lambda: client,
                self.spec.url,
                websocket_handshake_timeout=REJOIN_ATTEMPT_S,
                read_buffer_init_size=4096,
                enable_auto_pong=True,
            )
        except Exception as exc:
            client.disconnected = True
            return f"connect: {type(exc).__name__}"
        try:
            failure = await self._authenticate(client)
            if failure is None:
                failure = await self._subscribe(client, resume=True)
        except asyncio.CancelledError:
            client.closing = True
            transport.disconnect()
            raise
        if failure is not None:
            client.closing = True
            transport.disconnect()
        return failure

    def rejoin_progress(self, deadline: float, final: bool) -> dict[str, Any]:
        """How many got back; with ``final``, give up on the rest and report them."""
        self.rejoin_deadline = deadline
        if final:
            for task in list(self.rejoin_tasks):
                task.cancel()
            for _client in self.rejoining:
                self.rejoin_failures["gave up"] = self.rejoin_failures.get("gave up", 0) + 1
            self.rejoining.clear()
            for client in self.clients:
                client.on_lost = None
        return {
            "rejoined": len(self.rejoined),
            "rejoined_at": list(self.rejoined.values()) if final else [],
            "pending": len(self.rejoining),
            "lost": self.lost_clients,
            "failures": dict(self.rejoin_failures),
            "attempts": self.rejoin_attempts,
            "redrops": self.rejoin_redrops,
            "resumed": self.rejoin_resumed,
            "recovered": self.rejoin_recovered,
            "closes": {str(code): n for code, n in self.tally.closes.items()},
        }

    # -- phases ------------------------------------------------------------------------------------
    def begin(self, starts: list[int], record: bool) -> dict[str, Any]:
        self.tally.reset()
        for client in self.clients:
            client.record = record
            client.begin(starts[int(client.tenant[1:])])
        return {"received": self.tally.total}

    def progress(self) -> dict[str, Any]:
        return {"received": self.tally.received, "total": self.tally.total}

    def end(self, ends: list[int]) -> dict[str, Any]:
        t = self.tally
        lost = 0
        got_any = 0
        last_first = 0.0
        for client in self.clients:
            lost += client.lost(ends[int(client.tenant[1:])])
            if client.first_at:
                got_any += 1
                last_first = max(last_first, client.first_at)
        open_now = sum(not c.disconnected for c in self.clients)
        return {
            "received": t.received,
            "lost": lost,
            "dups": t.dups,
            "crossing": t.crossing,
            "reorder": t.reorder,
            "late": t.late,
            "foreign": t.foreign,
            "errors": dict(t.errors),
            "closes": dict(t.closes),
            "open": open_now,
            "got_any": got_any,
            "last_first_at": last_first,
            "latencies": t.latencies.tobytes(),
        }

    async def close(self) -> dict[str, Any]:
        waiting = []
        for client in self.clients:
            transport = client.transport
            if transport is None or client.disconnected:
                continue
            client.closing = True
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            waiting.append(transport.wait_disconnected())
        if waiting:
            await asyncio.wait([asyncio.ensure_future(w) for w in waiting], timeout=10)
        self.clients.clear()
        return {"closed": len(waiting)}


async def _serve(spec: ClientSpec, counter: Counter, barrier: MpEvent, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    process = ClientProcess(spec, counter)
    pipe.send({"ready": True, "nofile": raise_nofile()})
    while True:
        try:
            name, arg = await loop.run_in_executor(None, pipe.recv)
        except EOFError:
            await process.close()
            return
        try:
            if name == "open":
                reply = await process.open(arg["indices"], arg["subscribe"])
            elif name == "subscribe_all":
                reply = await process.subscribe_all(barrier)
            elif name == "arm_rejoin":
                reply = process.arm_rejoin(arg["deadline"])
            elif name == "rejoin_progress":
                reply = process.rejoin_progress(arg["deadline"], arg["final"])
            elif name == "begin":
                reply = process.begin(arg["starts"], arg["record"])
            elif name == "progress":
                reply = process.progress()
            elif name == "end":
                reply = process.end(arg["ends"])
            elif name == "close":
                reply = await process.close()
            else:
                reply = {"error": f"unknown command {name!r}"}
        except Exception as exc:  # reported to the parent, which fails the run
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        pipe.send(reply)
        if name == "close":
            return


def client_main(spec: ClientSpec, counter: Counter, barrier: MpEvent, pipe: Connection) -> None:
    """Process entry point (spawn): pinned to the load core; exits on ``close`` or when the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    pin(0, LOAD_CORE)
    import uvloop

    uvloop.run(_serve(spec, counter, barrier, pipe))
