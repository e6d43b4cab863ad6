/** history(), loadMore() and the paging that a backlog starts, against the fake socket. */
import { describe, expect, it, vi } from "vitest";
import { settle, type FakeWebSocket } from "./helpers/fakes.js";
import { authenticate, confirmSubscribe, nextSocket, notification, pushNotification, setup } from "./helpers/harness.js";

/** A notification of tenant-001 at position `<ms>-0` (its timestamp `ms` too). */
const at = (ms: number, overrides: Record<string, unknown> = {}) =>
  notification({ position: `${ms}-0`, timestamp: new Date(ms).toISOString(), ...overrides });

/** Answer the client's last `history` request. */
function replyHistory(ws: FakeWebSocket, notifications: Record<string, unknown>[], hasMore: boolean, before: string | null): void {
  const request = ws.lastOfType("history");
  ws.push({
    type: "history",
    payload: { tenantId: request.payload?.["tenantId"], notifications, hasMore, before },
    messageId: request.messageId,
  });
}

/** Connected, and subscribed to tenant-001 with a backlog of `requested`, of which `backlog` were sent. */
async function withBacklog(requested: number, backlog: Record<string, unknown>[], overrides: Parameters<typeof setup>[0] = {}) {
  const h = setup(overrides);
  h.client.connect();
  const ws = h.sockets.last;
  await authenticate(ws, h.clock);
  void h.client.subscribe("tenant-001", { backlog: requested });
  await settle();
  await confirmSubscribe(ws, { position: "9000-0", backlog: backlog.length });
  for (const n of backlog) pushNotification(ws, n);
  await settle();
  return { ...h, ws };
}

describe("history()", () => {
  it("asks with a messageId, resolves with the page, and merges it in place (deduplicated, read state kept, no events)", async () => {
    const onNotification = vi.fn();
    const h = await withBacklog(2, [at(300), at(400)], { onNotification });
    const page = h.client.history("tenant-001", { before: "300-0", limit: 3 });
    await settle();
    const request = h.ws.lastOfType("history");
    expect(request).toEqual({ type: "history", payload: { tenantId: "tenant-001", before: "300-0", limit: 3 }, messageId: expect.stringMatching(/^h\d+$/) });
    const older = [at(200, { read: true }), at(100)];
    h.client.markAsRead(older[1]?.["id"] as string); // read here before the page arrives
    replyHistory(h.ws, older, true, "100-0");
    await expect(page).resolves.toEqual({
      tenantId: "tenant-001",
      notifications: [expect.objectContaining({ id: older[0]?.["id"], read: true }), expect.objectContaining({ id: older[1]?.["id"], read: true })],
      hasMore: true,
      before: "100-0",
    });
    const snap = h.client.getSnapshot();
    expect(snap.notifications.map((n) => n.position)).toEqual(["400-0", "300-0", "200-0", "100-0"]);
    expect(snap.unreadCount).toBe(2);
    expect(onNotification).not.toHaveBeenCalled();
  });

  it("keeps its options within the protocol's bounds and asks for the newest without `before`", async () => {
    const h = await withBacklog(0, []);
    void h.client.history("tenant-001", { limit: 1000 });
    void h.client.history("tenant-001", { before: null, limit: 0 });
    void h.client.history("tenant-001");
    await settle();
    expect(h.ws.ofType("history").map((m) => m.payload)).toEqual([
      { tenantId: "tenant-001", limit: 100 },
      { tenantId: "tenant-001", limit: 1 },
      { tenantId: "tenant-001", limit: 50 },
    ]);
  });

  it("rejects with the server's error, reported in lastError with the tenant", async () => {
    const h = await withBacklog(0, []);
    const page = h.client.history("tenant-009");
    await settle();
    h.ws.reply("history", "error", { code: "forbidden", message: "not allowed for tenant tenant-009" });
    await expect(page).rejects.toMatchObject({ code: "forbidden", tenantId: "tenant-009" });
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "forbidden", tenantId: "tenant-009" });
    // rate_limited and internal_error reject too: the caller decides when to ask again
    const again = h.client.history("tenant-001");
    await settle();
    h.ws.reply("history", "error", { code: "rate_limited", message: "slow down" });
    await expect(again).rejects.toMatchObject({ code: "rate_limited" });
  });

  it("waits for the connection (after the subscriptions), is sent again after a lost connection, and close() rejects it", async () => {
    const h = setup();
    h.client.connect();
    void h.client.subscribe("tenant-001").catch(() => undefined); // never confirmed: rejected by close()
    const page = h.client.history("tenant-001");
    let ws = h.sockets.last;
    await authenticate(ws, h.clock);
    expect(ws.messages().map((m) => m.type)).toEqual(["authenticate", "subscribe", "history"]);
    const first = ws.lastOfType("history");
    ws.serverClose(1006);
    ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.lastOfType("history")).toEqual(first); // the same request, the same messageId
    replyHistory(ws, [at(5)], false, null);
    await expect(page).resolves.toMatchObject({ hasMore: false, before: null });

    const pending = h.client.history("tenant-001");
    h.client.close();
    await expect(pending).rejects.toMatchObject({ code: "client_closed" });
    await expect(h.client.history("tenant-001")).rejects.toMatchObject({ code: "client_closed" });
  });

  it("a reply nobody waits for changes nothing", async () => {
    const h = await withBacklog(0, []);
    h.ws.push({ type: "history", payload: { tenantId: "tenant-001", notifications: [at(1)], hasMore: false, before: null }, messageId: "h999" });
    await settle();
    expect(h.client.getSnapshot().notifications).toEqual([]);
  });

  it("the list stays bounded: a full list keeps its newest, and the unread count counts what is kept", async () => {
    const h = await withBacklog(3, [at(300), at(400), at(500, { read: true })], { maxNotifications: 4 });
    expect(h.client.getSnapshot().unreadCount).toBe(2);
    const page = h.client.history("tenant-001", { before: "300-0" });
    await settle();
    replyHistory(h.ws, [at(200), at(100), at(50)], true, "50-0");
    await page;
    const snap = h.client.getSnapshot();
    expect(snap.notifications.map((n) => n.position)).toEqual(["500-0", "400-0", "300-0", "200-0"]);
    expect(snap.unreadCount).toBe(3);
    pushNotification(h.ws, at(9500)); // live: the oldest goes
    expect(h.client.getSnapshot().notifications.map((n) => n.position)).toEqual(["9500-0", "500-0", "400-0", "300-0"]);
    expect(h.client.getSnapshot().unreadCount).toBe(3);
  });
});

describe("loadMore()", () => {
  it("pages on from the oldest backlog notification, then from each page's `before`, until there is no more", async () => {
    const h = await withBacklog(2, [at(300), at(400)]);
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: true, loading: false });
    const first = h.client.loadMore("tenant-001", { limit: 2 });
    await settle();
    expect(h.ws.lastOfType("history").payload).toEqual({ tenantId: "tenant-001", before: "300-0", limit: 2 });
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: true, loading: true });
    replyHistory(h.ws, [at(200), at(150)], true, "150-0");
    await expect(first).resolves.toMatchObject({ hasMore: true, before: "150-0" });
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: true, loading: false });

    const second = h.client.loadMore("tenant-001");
    await settle();
    expect(h.ws.lastOfType("history").payload).toEqual({ tenantId: "tenant-001", before: "150-0", limit: 50 });
    replyHistory(h.ws, [at(100)], false, null);
    await second;
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: false, loading: false });
    expect(h.client.getSnapshot().notifications.map((n) => n.position)).toEqual(["400-0", "300-0", "200-0", "150-0", "100-0"]);

    // nothing more: resolves at once, nothing sent
    await expect(h.client.loadMore("tenant-001")).resolves.toMatchObject({ notifications: [], hasMore: false });
    expect(h.ws.ofType("history")).toHaveLength(2);
  });

  it("a backlog shorter than asked for means there is nothing older", async () => {
    const h = await withBacklog(50, [at(300), at(400)]);
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: false, loading: false });
    await h.client.loadMore("tenant-001");
    expect(h.ws.ofType("history")).toHaveLength(0);
  });

  it("without a backlog, pages from the newest", async () => {
    const h = await withBacklog(0, []);
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: true, loading: false });
    void h.client.loadMore("tenant-001");
    await settle();
    expect(h.ws.lastOfType("history").payload).toEqual({ tenantId: "tenant-001", limit: 50 });
  });

  it("one page at a time per tenant: a second call returns the same promise", async () => {
    const h = await withBacklog(1, [at(300)]);
    const a = h.client.loadMore("tenant-001");
    const b = h.client.loadMore("tenant-001");
    expect(b).toBe(a);
    await settle();
    expect(h.ws.ofType("history")).toHaveLength(1);
    replyHistory(h.ws, [], false, null);
    await a;
  });

  it("asks for no more than the list has room for; a full list has nothing more to load", async () => {
    const h = await withBacklog(2, [at(300), at(400)], { maxNotifications: 5 });
    void h.client.loadMore("tenant-001");
    await settle();
    expect(h.ws.lastOfType("history").payload).toEqual({ tenantId: "tenant-001", before: "300-0", limit: 3 });
    replyHistory(h.ws, [at(200), at(150), at(100)], true, "100-0");
    await settle();
    expect(h.client.getSnapshot().notifications).toHaveLength(5);
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: false, loading: false }); // no room
    await expect(h.client.loadMore("tenant-001")).resolves.toMatchObject({ notifications: [] });
    expect(h.ws.ofType("history")).toHaveLength(1);
    h.client.clearNotifications(); // room again: the server still has more
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: true, loading: false });
  });

  it("a refused page rejects and is no longer loading; the next call asks again from the same place", async () => {
    const h = await withBacklog(1, [at(300)]);
    const page = h.client.loadMore("tenant-001");
    await settle();
    h.ws.reply("history", "error", { code: "internal_error", message: "history unavailable: RedisError" });
    await expect(page).rejects.toMatchObject({ code: "internal_error" });
    expect(h.client.getSnapshot().history["tenant-001"]).toEqual({ hasMore: true, loading: false });
    void h.client.loadMore("tenant-001");
    await settle();
    expect(h.ws.ofType("history").map((m) => m.payload?.["before"])).toEqual(["300-0", "300-0"]);
  });

  it("a resume after a reconnect keeps the paging (no backlog on a resume)", async () => {
    const h = await withBacklog(1, [at(300)]);
    h.ws.serverClose(1001);
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    await confirmSubscribe(ws, { position: "9000-0" });
    void h.client.loadMore("tenant-001");
    await settle();
    expect(ws.lastOfType("history").payload).toEqual({ tenantId: "tenant-001", before: "300-0", limit: 50 });
  });
});
