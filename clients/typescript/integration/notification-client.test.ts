/**
 * `NotificationClient` (with the `ws` package) against the real Python service (`arda serve`) and a private
 * Redis. Each test starts its own Redis and service on free ports; the harness stops them after the test.
 */
import { describe, expect, it } from "vitest";
import { startClient, type TestClient, type WireFrame } from "./clients.js";
import {
  ArdaService,
  decodeToken,
  mintToken,
  notificationId,
  orderCreated,
  orderStatusChanged,
  sleep,
  startStack,
  TcpProxy,
  useCleanup,
  waitUntil,
  type PublishedEvent,
} from "./harness.js";

useCleanup();

const T1 = "tenant-001";
const T2 = "tenant-002";

/** Wait until the client has kept `n` notifications. */
async function received(c: TestClient, n: number, timeoutMs = 15_000): Promise<void> {
  await waitUntil(() => c.client.getSnapshot().notifications.length >= n, `${n} notifications`, { timeoutMs }).catch(
    (error: unknown) => {
      const got = c.client.getSnapshot();
      throw new Error(
        `${String(error)}; status ${got.status}, ${got.notifications.length} kept, last error ${got.lastError?.message ?? "none"}`,
      );
    },
  );
}

const ids = (tenantId: string, events: PublishedEvent[]): string[] => events.map((e) => notificationId(tenantId, e.id));

/** The ids the client kept, oldest first (the list is newest first). */
const keptOldestFirst = (c: TestClient): string[] => [...c.client.getSnapshot().notifications].reverse().map((n) => n.id);

/** How often each notification id crossed the wire (all sockets together). */
function wireCounts(c: TestClient): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of c.wireNotifications()) {
    const id = String(f.message.payload?.["id"]);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

const subscribeFrames = (c: TestClient): WireFrame[] => c.wire.sent.filter((f) => f.message.type === "subscribe");

describe("NotificationClient against the real service", () => {
  it("receives notifications published through the HTTP API, with their fields, in order; tenants never cross", async () => {
    const { service } = await startStack();
    const a = startClient({ url: service.wsUrl, claims: { sub: "u-a", tenants: [T1] } });
    const b = startClient({ url: service.wsUrl, claims: { sub: "u-b", tenantId: T2 } });
    const [subA, subB] = await Promise.all([a.client.subscribe(T1), b.client.subscribe(T2)]);
    expect(subA).toMatchObject({ tenantId: T1, recovered: true });
    expect(subB).toMatchObject({ tenantId: T2, recovered: true });
    expect(a.client.getSnapshot()).toMatchObject({ status: "connected", isConnected: true, userId: "u-a" });

    // a's token does not allow tenant-002: the server refuses, whatever the message says
    await expect(a.client.subscribe(T2)).rejects.toMatchObject({ code: "forbidden", tenantId: T2 });
    expect(a.client.getSnapshot().subscriptions[T2]).toMatchObject({ status: "error" });
    void a.client.unsubscribe(T2);

    // interleaved, in one request and then one by one
    const first = await service.publish([
      orderCreated(T1, "PO-1042", { supplierName: "Acme Fasteners", totalAmount: 129.5, currency: "EUR" }),
      orderCreated(T2, "PO-2001"),
      orderStatusChanged(T1, "PO-1042", "submitted", "cancelled"),
    ]);
    const more: PublishedEvent[] = [];
    for (const event of [orderCreated(T2, "PO-2002"), orderCreated(T1, "PO-1043"), orderCreated(T2, "PO-2003")]) {
      more.push(...(await service.publish(event)));
    }
    const all = [...first, ...more];
    const forT1 = [all[0], all[2], all[4]] as PublishedEvent[];
    const forT2 = [all[1], all[3], all[5]] as PublishedEvent[];
    await received(a, 3);
    await received(b, 3);

    // order: the list is newest first, the events came oldest first
    expect(keptOldestFirst(a)).toEqual(ids(T1, forT1));
    expect(keptOldestFirst(b)).toEqual(ids(T2, forT2));
    expect(a.notifications.map((n) => n.id)).toEqual(ids(T1, forT1));

    // fields
    const created = a.notifications[0];
    expect(created).toMatchObject({
      id: `${T1}:${forT1[0]?.id}`,
      eventId: forT1[0]?.id,
      eventType: "order.created",
      tenantId: T1,
      title: "Order PO-1042 created",
      message: "PO-1042 for Acme Fasteners, 129.50 EUR",
      severity: "success",
      category: "orders",
      position: forT1[0]?.position,
      read: false,
      data: expect.objectContaining({ orderNumber: "PO-1042", orderId: "o-PO-1042" }),
    });
    expect(Number.isNaN(Date.parse(created?.timestamp ?? ""))).toBe(false);
    expect(a.notifications[1]).toMatchObject({ title: "Order PO-1042 cancelled", severity: "warning", eventType: "order.status_changed" });
    expect(a.client.getSnapshot().unreadCount).toBe(3);
    expect(a.client.getSnapshot().subscriptions[T1]?.position).toBe(forT1[2]?.position);

    // isolation, on the wire and not only in the client's state: nothing of the other tenant ever arrived
    await sleep(300);
    expect(a.wireNotifications().map((f) => f.message.payload?.["tenantId"])).toEqual([T1, T1, T1]);
    expect(b.wireNotifications().map((f) => f.message.payload?.["tenantId"])).toEqual([T2, T2, T2]);
    expect(a.wire.sockets).toBe(1);
    expect(b.wire.sockets).toBe(1);
  });

  it("the service killed (SIGKILL) and restarted while events are published: they arrive after the reconnect, once, in order", async () => {
    const { redis, service } = await startStack();
    // a second instance on the same Redis publishes while the first one is down
    const publisher = await ArdaService.start(redis);
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1);
    const before = await service.publish([orderCreated(T1), orderCreated(T1), orderCreated(T1)]);
    await received(c, 3);
    const lastSeen = before[2]?.position;
    expect(c.client.getSnapshot().subscriptions[T1]?.position).toBe(lastSeen);

    await service.kill();
    await waitUntil(() => c.client.getSnapshot().status === "reconnecting", "status reconnecting");
    const during: PublishedEvent[] = [];
    const publishing = (async () => {
      for (let i = 0; i < 6; i++) {
        during.push(...(await publisher.publish(orderCreated(T1))));
        await sleep(100);
      }
    })();
    await sleep(200);
    await service.restart(); // same ports; the loop may still be publishing
    await publishing;
    // and a few more while the client reconnects and replays
    const after = [
      ...(await publisher.publish(orderCreated(T1))),
      ...(await service.publish([orderCreated(T1), orderCreated(T1)])),
    ];
    const expected = ids(T1, [...before, ...during, ...after]);
    await received(c, expected.length, 20_000);
    await sleep(500); // anything duplicated would arrive now

    expect(keptOldestFirst(c)).toEqual(expected);
    expect(c.notifications.map((n) => n.id)).toEqual(expected);
    // once on the wire too: the resume replayed exactly what was missed
    expect([...wireCounts(c).values()].every((n) => n === 1)).toBe(true);
    expect(wireCounts(c).size).toBe(expected.length);
    // the client resumed with `since` = the last position it saw before the kill
    const resubscribe = subscribeFrames(c).filter((f) => f.socket > 1);
    expect(resubscribe[0]?.message.payload).toEqual({ tenantId: T1, since: lastSeen });
    expect(c.client.getSnapshot()).toMatchObject({ status: "connected", recoveryFailed: [] });
    expect(c.client.getSnapshot().subscriptions[T1]).toMatchObject({ status: "subscribed", recovered: true });
    expect(c.recoveryFailures).toEqual([]);
    expect(c.statuses).toContain("reconnecting");
  });

  it("the service stopped gracefully (SIGTERM: close 1001) and started again: the client reconnects and resumes", async () => {
    const { redis, service } = await startStack();
    const publisher = await ArdaService.start(redis);
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1);
    const before = await service.publish(orderCreated(T1));
    await received(c, 1);
    await service.stop();
    expect(c.errors.map((e) => e.closeCode)).toContain(1001); // "going away": reconnect
    const during = await publisher.publish([orderCreated(T1), orderCreated(T1)]);
    await service.restart();
    await received(c, 3, 20_000);
    expect(keptOldestFirst(c)).toEqual(ids(T1, [...before, ...during]));
    expect(c.client.getSnapshot()).toMatchObject({ status: "connected", recoveryFailed: [] });
  });

  it("a connection dropped without a close frame (blackholed) is detected by ping/pong; the client reconnects and gets what it missed, once", async () => {
    const { service } = await startStack();
    const proxy = await TcpProxy.start(service.wsPort);
    const c = startClient({
      url: proxy.wsUrl(),
      claims: { sub: "u-1", tenants: [T1] },
      pingIntervalMs: 500,
      pongTimeoutMs: 1_000,
    });
    await c.client.subscribe(T1);
    const before = await service.publish([orderCreated(T1), orderCreated(T1)]);
    await received(c, 2);
    // idle: the client pings and the server answers
    await waitUntil(() => c.wire.received.some((f) => f.message.type === "pong"), "a pong");

    expect(proxy.blackhole()).toBe(1); // the socket stays open; nothing gets through any more
    const blackholedAt = Date.now();
    const missed = await service.publish([orderCreated(T1), orderCreated(T1), orderCreated(T1)]);
    await waitUntil(() => c.errors.some((e) => e.code === "heartbeat_timeout"), "heartbeat_timeout", { timeoutMs: 10_000 });
    const detectedAfter = Date.now() - blackholedAt;
    expect(detectedAfter).toBeLessThan(500 + 1_000 + 1_000); // ping interval + pong deadline + slack

    await received(c, 5);
    expect(c.client.getSnapshot().status).toBe("connected");
    expect(proxy.accepted).toBe(2); // the new connection went through the proxy
    expect(c.wire.sockets).toBe(2);
    expect(keptOldestFirst(c)).toEqual(ids(T1, [...before, ...missed]));
    // no close event was needed: the old socket never closed (the proxy still holds it open)
    expect(c.errors.filter((e) => e.code === "connection_closed")).toEqual([]);
    // the missed ones came on the new socket, once, after a resubscribe from the last position seen
    await sleep(300);
    expect(subscribeFrames(c).filter((f) => f.socket === 2).map((f) => f.message.payload)).toEqual([
      { tenantId: T1, since: before[1]?.position },
    ]);
    expect(c.wireNotifications().filter((f) => f.socket === 1)).toHaveLength(2);
    expect(c.wireNotifications().filter((f) => f.socket === 2).map((f) => f.message.payload?.["id"])).toEqual(ids(T1, missed));

    // and it goes on live
    const live = await service.publish(orderCreated(T1));
    await received(c, 6);
    expect(c.client.getSnapshot().notifications[0]?.id).toBe(notificationId(T1, live[0]?.id ?? ""));
  });

  it("history lost (Redis restarted empty): the resume answers recovered:false and the client reports it; delivery goes on", async () => {
    const { redis, service } = await startStack({ persistent: false });
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1);
    const before = await service.publish([orderCreated(T1), orderCreated(T1)]);
    await received(c, 2);
    const lastSeen = before[1]?.position;

    await redis.kill();
    await redis.restart(); // empty: the stream and the position the client holds are gone
    // the service notices the gap and closes its subscribers with 4006 (resync); the client resumes from `since`
    await waitUntil(() => c.recoveryFailures.length > 0, "recoveryFailed", { timeoutMs: 20_000 });
    expect(c.recoveryFailures[0]).toMatchObject({ tenantId: T1 });
    const snapshot = c.client.getSnapshot();
    expect(snapshot.recoveryFailed).toEqual([T1]);
    expect(snapshot.subscriptions[T1]).toMatchObject({ status: "subscribed", recovered: false });
    const resume = subscribeFrames(c).find((f) => f.socket > 1);
    expect(resume?.message.payload).toEqual({ tenantId: T1, since: lastSeen });
    const answer = c.wire.received.find((f) => f.socket > 1 && f.message.type === "subscribed");
    expect(answer?.message.payload).toMatchObject({ tenantId: T1, recovered: false });
    expect(c.errors.map((e) => e.closeCode)).toContain(4006);

    // the app reloads, clears the flag, and delivery continues from the new position
    c.client.clearRecoveryFailed(T1);
    expect(c.client.getSnapshot().recoveryFailed).toEqual([]);
    await waitUntil(async () => (await fetch(`${service.httpUrl}/readyz`)).status === 200, "service ready again");
    const after = await service.publish(orderCreated(T1));
    await received(c, 3);
    expect(c.client.getSnapshot().notifications[0]?.id).toBe(notificationId(T1, after[0]?.id ?? ""));
    expect(c.client.getSnapshot().status).toBe("connected");
  });

  it("history kept (Redis with AOF, restarted with the service): the resume recovers, nothing is lost or repeated", async () => {
    const { redis, service } = await startStack({ persistent: true });
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1);
    const before = await service.publish([orderCreated(T1), orderCreated(T1)]);
    await received(c, 2);
    await service.kill();
    const publisher = await ArdaService.start(redis);
    const missed = await publisher.publish([orderCreated(T1), orderCreated(T1)]);
    await publisher.kill();
    await redis.kill(); // SIGKILL: only what the AOF holds survives
    await redis.restart();
    await service.restart();
    const after = await service.publish(orderCreated(T1));
    const expected = ids(T1, [...before, ...missed, ...after]);
    await received(c, expected.length, 20_000);
    await sleep(300);
    expect(keptOldestFirst(c)).toEqual(expected);
    expect([...wireCounts(c).values()].every((n) => n === 1)).toBe(true);
    expect(c.recoveryFailures).toEqual([]);
    expect(c.client.getSnapshot().subscriptions[T1]).toMatchObject({ status: "subscribed", recovered: true });
  });

  it("Redis restarted (AOF) under a connected client: the client is not disconnected and delivery goes on", async () => {
    const { redis, service } = await startStack({ persistent: true });
    const publisher = await ArdaService.start(redis);
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1);
    const before = await service.publish(orderCreated(T1));
    await received(c, 1);
    await redis.kill();
    await redis.restart();
    await waitUntil(async () => (await fetch(`${service.httpUrl}/readyz`)).status === 200, "the service ready again");
    const after = [...(await publisher.publish(orderCreated(T1))), ...(await service.publish(orderCreated(T1)))];
    await received(c, 3);
    await sleep(300);
    expect(keptOldestFirst(c)).toEqual(ids(T1, [...before, ...after]));
    expect(c.wire.sockets).toBe(1);
    expect(c.errors).toEqual([]);
    expect(c.recoveryFailures).toEqual([]);
  });

  it("markAsRead on one client updates the other clients of the same user (unreadCount), and no one else's", async () => {
    const { service } = await startStack();
    const tab1 = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    const tab2 = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    const other = startClient({ url: service.wsUrl, claims: { sub: "u-2", tenants: [T1] } });
    await Promise.all([tab1.client.subscribe(T1), tab2.client.subscribe(T1), other.client.subscribe(T1)]);
    const events = await service.publish([orderCreated(T1), orderCreated(T1), orderCreated(T1)]);
    const [n1, n2, n3] = ids(T1, events) as [string, string, string];
    await Promise.all([received(tab1, 3), received(tab2, 3), received(other, 3)]);
    for (const c of [tab1, tab2, other]) expect(c.client.getSnapshot().unreadCount).toBe(3);

    tab1.client.markAsRead(n2);
    expect(tab1.client.getSnapshot().unreadCount).toBe(2); // optimistic, at once
    await waitUntil(() => tab2.client.getSnapshot().unreadCount === 2, "tab2's unreadCount 2");
    expect(tab2.client.getSnapshot().notifications.find((n) => n.id === n2)?.read).toBe(true);
    // tab1 got the reply to its own acknowledge (with its messageId); tab2 the broadcast (without one)
    const ackSent = tab1.wire.sent.find((f) => f.message.type === "acknowledge");
    expect(ackSent?.message.payload).toEqual({ notificationId: n2 });
    await waitUntil(
      () => tab1.wire.received.some((f) => f.message.type === "acknowledged" && f.message.messageId === ackSent?.message.messageId),
      "the acknowledged reply",
    );
    expect(tab2.wire.received.filter((f) => f.message.type === "acknowledged")).toEqual([
      expect.objectContaining({ message: { type: "acknowledged", payload: { notificationId: n2 } } }),
    ]);

    // the other way round, for everything
    tab2.client.markAllAsRead();
    await waitUntil(() => tab1.client.getSnapshot().unreadCount === 0, "tab1's unreadCount 0");
    expect(tab1.client.getSnapshot().notifications.map((n) => n.read)).toEqual([true, true, true]);
    expect(tab2.client.getSnapshot().unreadCount).toBe(0);
    expect(tab1.client.getSnapshot().queuedMessages + tab2.client.getSnapshot().queuedMessages).toBe(0);

    // another user on the same tenant is not told about u-1's reads
    await sleep(500);
    expect(other.client.getSnapshot().unreadCount).toBe(3);
    expect(other.wire.received.filter((f) => f.message.type === "acknowledged")).toEqual([]);
    void n1;
    void n3;
  });

  it("an acknowledgement made while disconnected waits in the queue and is sent after the resubscribe; the other tab follows", async () => {
    const { service } = await startStack();
    const proxy = await TcpProxy.start(service.wsPort);
    const tab1 = startClient({ url: proxy.wsUrl(), claims: { sub: "u-1", tenants: [T1] } });
    const tab2 = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await Promise.all([tab1.client.subscribe(T1), tab2.client.subscribe(T1)]);
    const events = await service.publish([orderCreated(T1), orderCreated(T1)]);
    const [n1, n2] = ids(T1, events) as [string, string];
    await Promise.all([received(tab1, 2), received(tab2, 2)]);

    proxy.refusing = true; // tab1 cannot get back in for now
    expect(proxy.dropAll()).toBe(1);
    await waitUntil(() => tab1.client.getSnapshot().status === "reconnecting", "tab1 reconnecting");
    tab1.client.markAsRead(n1);
    tab1.client.markAsRead(n1); // queued once
    expect(tab1.client.getSnapshot()).toMatchObject({ unreadCount: 1, queuedMessages: 1 });
    const missed = await service.publish(orderCreated(T1)); // tab1 misses this one meanwhile
    await received(tab2, 3);
    await waitUntil(() => proxy.refused > 0, "a refused attempt");
    expect(tab2.client.getSnapshot().unreadCount).toBe(3);

    proxy.refusing = false;
    await waitUntil(() => tab2.client.getSnapshot().unreadCount === 2, "tab2's unreadCount 2", { timeoutMs: 15_000 });
    await received(tab1, 3);
    expect(tab1.client.getSnapshot()).toMatchObject({ status: "connected", queuedMessages: 0, droppedMessages: 0, unreadCount: 2 });
    expect(tab2.client.getSnapshot().notifications.find((n) => n.id === n1)?.read).toBe(true);
    expect(tab2.client.getSnapshot().notifications.find((n) => n.id === n2)?.read).toBe(false);
    expect(tab1.client.getSnapshot().notifications[0]?.id).toBe(notificationId(T1, missed[0]?.id ?? ""));
    // on the new socket: authenticate, then the resubscribe with `since`, then the queued acknowledgement
    const last = tab1.wire.sockets;
    const order = tab1.wire.sent.filter((f) => f.socket === last).map((f) => f.message.type).filter((t) => t !== "ping");
    expect(order).toEqual(["authenticate", "subscribe", "acknowledge"]);
    expect(tab1.wire.sent.filter((f) => f.message.type === "acknowledge").map((f) => f.message.payload)).toEqual([{ notificationId: n1 }]);
  });

  it("a burst of 1,000 events in one request all arrive, in order, once", async () => {
    const { service } = await startStack();
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] }, maxNotifications: 1_000 });
    await c.client.subscribe(T1);
    const events = await service.publish(Array.from({ length: 1_000 }, (_, i) => orderCreated(T1, `PO-B${i}`)));
    await received(c, 1_000, 20_000);
    expect(c.notifications.map((n) => n.id)).toEqual(ids(T1, events));
    expect(c.client.getSnapshot().unreadCount).toBe(1_000);
    expect(c.wireNotifications()).toHaveLength(1_000);
  });

  it("a short-lived token is refreshed on the open connection: it stays up past the first token's expiry and keeps receiving", async () => {
    // grace 1 s: a connection whose token expired unrefreshed is closed (4002) a second after the warning
    const { service } = await startStack({ extraArgs: ["--token-grace-s", "1"] });
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1], ttlS: 4 } });
    await c.client.subscribe(T1);
    const firstAuth = c.wire.sent.find((f) => f.message.type === "authenticate");
    const firstExp = Number(decodeToken(String(firstAuth?.message.payload?.["token"]))["exp"]) * 1000;
    const early = await service.publish(orderCreated(T1));
    await received(c, 1);

    // well past the first token's expiry and the server's grace
    await waitUntil(() => Date.now() > firstExp + 3_000, "3 s past the first token's expiry", { timeoutMs: 15_000 });
    const late = await service.publish(orderCreated(T1));
    await received(c, 2);
    expect(c.client.getSnapshot().notifications.map((n) => n.id)).toEqual(ids(T1, [...late, ...early]));

    // one socket the whole time, authenticated again and again on it with later and later tokens
    expect(c.wire.sockets).toBe(1);
    expect(c.statuses).toEqual(["connecting", "connected"]);
    const auths = c.wire.sent.filter((f) => f.message.type === "authenticate");
    expect(auths.length).toBeGreaterThanOrEqual(3);
    const exps = auths.map((f) => Number(decodeToken(String(f.message.payload?.["token"]))["exp"]));
    expect([...exps].sort((x, y) => x - y)).toEqual(exps);
    expect(new Set(exps).size).toBe(exps.length);
    const confirmed = c.wire.received.filter((f) => f.message.type === "authenticated");
    expect(confirmed).toHaveLength(auths.length);
    expect(c.tokenCalls()).toBe(auths.length);
    // never warned, never closed, never resubscribed
    expect(c.wire.received.filter((f) => f.message.type === "error")).toEqual([]);
    expect(c.errors).toEqual([]);
    expect(subscribeFrames(c)).toHaveLength(1);
    expect(c.client.getSnapshot().status).toBe("connected");
  });

  it("(control) the same short-lived token, not refreshable (a fixed string), does not keep the connection", async () => {
    const { service } = await startStack({ extraArgs: ["--token-grace-s", "1"] });
    const fixed = mintToken({ sub: "u-1", tenants: [T1], ttlS: 3 });
    const c = startClient({ url: service.wsUrl, token: fixed });
    await c.client.subscribe(T1);
    await waitUntil(() => c.client.getSnapshot().status !== "connected", "the connection ended", { timeoutMs: 15_000 });
    expect(c.wire.received.some((f) => f.message.type === "error" && f.message.payload?.["code"] === "token_expired")).toBe(true);
    await waitUntil(() => c.client.getSnapshot().status === "unauthorized", "status unauthorized", { timeoutMs: 10_000 });
  });

  it("a monitor on global and a tenant gets each event once per stream; each subscription's position follows its own stream", async () => {
    const { service } = await startStack();
    const m = startClient({ url: service.wsUrl, claims: { sub: "u-monitor", tenants: [T1], roles: ["monitor"] } });
    await Promise.all([m.client.subscribe(T1), m.client.subscribe("global")]);
    // T2's event first, in the same request: it takes a place in the global stream only
    const [other, event] = await service.publish([orderCreated(T2, "PO-76"), orderCreated(T1, "PO-77")]);
    await waitUntil(() => m.wireNotifications().length >= 3, "T2's event on global, T1's on both streams");
    const frames = m.wireNotifications().map((f) => f.message.payload ?? {});
    const idOf = (tenantId: string, e: PublishedEvent | undefined): string => notificationId(tenantId, e?.id ?? "");
    expect(frames.map((p) => [p["id"], p["stream"]]).sort()).toEqual(
      [
        [idOf(T2, other), "global"],
        [idOf(T1, event), "global"],
        [idOf(T1, event), T1],
      ].sort(),
    );
    const onStream = (stream: string): unknown => frames.filter((p) => p["stream"] === stream).at(-1)?.["position"];
    expect(onStream(T1)).toBe(event?.position);
    const subs = m.client.getSnapshot().subscriptions;
    expect(subs[T1]?.position).toBe(event?.position);
    expect(subs["global"]?.position).toBe(onStream("global"));
    expect(m.client.getSnapshot().notifications.map((n) => n.id).sort()).toEqual([idOf(T1, event), idOf(T2, other)].sort()); // once each
  });
});
