import { describe, expect, it, vi } from "vitest";
import { settle } from "./helpers/fakes.js";
import { authenticate, confirmSubscribe, connected, nextSocket, notification, pushNotification, setup } from "./helpers/harness.js";

describe("connecting and authenticating", () => {
  it("sends authenticate first, with a token from the function, and is connected on `authenticated`", async () => {
    const h = setup();
    expect(h.client.getSnapshot().status).toBe("closed");
    h.client.connect();
    expect(h.client.getSnapshot().status).toBe("connecting");
    const ws = h.sockets.last;
    expect(ws.url).toBe("ws://arda.test/ws");
    ws.open();
    await settle();
    expect(ws.messages()).toEqual([{ type: "authenticate", payload: { token: "token-1" }, messageId: expect.any(String) }]);
    await authenticate(ws, h.clock);
    expect(h.client.getSnapshot()).toMatchObject({ status: "connected", isConnected: true, userId: "u-1" });
  });

  it("accepts a string token and an async token function, called on every attempt", async () => {
    const fixed = setup({ token: "fixed-token" });
    fixed.client.connect();
    fixed.sockets.last.open();
    await settle();
    expect(fixed.sockets.last.lastOfType("authenticate").payload).toEqual({ token: "fixed-token" });

    let n = 0;
    const h = setup({ token: async () => `async-${++n}` });
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    h.sockets.last.serverClose(1001);
    await h.clock.advance(1000);
    h.sockets.last.open();
    await settle();
    expect(h.sockets.all.map((ws) => ws.lastOfType("authenticate").payload)).toEqual([
      { token: "async-1" },
      { token: "async-2" },
    ]);
  });

  it("does not send subscriptions or acknowledgements before `authenticated`", async () => {
    const h = setup();
    h.client.connect();
    void h.client.subscribe("tenant-001");
    h.client.markAsRead("tenant-001:e1");
    const ws = h.sockets.last;
    ws.open();
    await settle();
    expect(ws.messages().map((m) => m.type)).toEqual(["authenticate"]);
    await authenticate(ws, h.clock);
    expect(ws.messages().map((m) => m.type)).toEqual(["authenticate", "subscribe", "acknowledge"]);
  });
});

describe("subscriptions are state", () => {
  it("two holders of one tenant send one subscribe; the last release sends one unsubscribe", async () => {
    const h = setup();
    h.client.connect();
    const ws = h.sockets.last;
    await authenticate(ws, h.clock);
    const a = h.client.subscribe("tenant-001");
    const b = h.client.subscribe("tenant-001");
    await settle();
    expect(ws.ofType("subscribe")).toHaveLength(1);
    await confirmSubscribe(ws, { position: "5-0" });
    await expect(a).resolves.toEqual({ tenantId: "tenant-001", position: "5-0", recovered: true });
    await expect(b).resolves.toMatchObject({ tenantId: "tenant-001" });
    // a third holder after the confirmation resolves at once, with nothing sent
    await expect(h.client.subscribe("tenant-001")).resolves.toMatchObject({ position: "5-0" });
    expect(ws.ofType("subscribe")).toHaveLength(1);

    await h.client.unsubscribe("tenant-001");
    await h.client.unsubscribe("tenant-001");
    expect(ws.ofType("unsubscribe")).toHaveLength(0);
    const last = h.client.unsubscribe("tenant-001");
    await settle();
    expect(ws.ofType("unsubscribe")).toHaveLength(1);
    let settled = false;
    void last.then(() => (settled = true));
    await settle();
    expect(settled).toBe(false); // settled by the server's reply
    ws.reply("unsubscribe", "unsubscribed", { tenantId: "tenant-001" });
    await settle();
    expect(settled).toBe(true);
    expect(h.client.getSnapshot().subscriptions).toEqual({});
  });

  it("a release and a new hold in the same tick send nothing (StrictMode's unmount/mount)", async () => {
    const { client, ws } = await connected();
    const before = ws.sent.length;
    void client.unsubscribe("tenant-001");
    void client.subscribe("tenant-001");
    await settle();
    expect(ws.sent.length).toBe(before);
  });

  it("subscribe rejects with the server's error; a refused tenant is not replayed until subscribed again", async () => {
    const h = setup();
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    const p = h.client.subscribe("tenant-009");
    await settle();
    h.sockets.last.reply("subscribe", "error", { code: "forbidden", message: "not allowed for tenant tenant-009" });
    await expect(p).rejects.toMatchObject({ code: "forbidden", tenantId: "tenant-009" });
    expect(h.client.getSnapshot().subscriptions["tenant-009"]).toMatchObject({ status: "error" });
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "forbidden" });

    h.sockets.last.serverClose(1001);
    await h.clock.advance(1000);
    await authenticate(h.sockets.last, h.clock);
    expect(h.sockets.last.ofType("subscribe")).toHaveLength(0);
    void h.client.subscribe("tenant-009").catch(() => undefined);
    await settle();
    expect(h.sockets.last.ofType("subscribe")).toHaveLength(1);
  });

  it("retries a subscribe refused with internal_error after a delay", async () => {
    const h = setup();
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    const p = h.client.subscribe("tenant-001");
    await settle();
    h.sockets.last.reply("subscribe", "error", { code: "internal_error", message: "subscribe failed: RedisError" });
    await expect(p).rejects.toMatchObject({ code: "internal_error" });
    expect(h.sockets.last.ofType("subscribe")).toHaveLength(1);
    await h.clock.advance(1000);
    expect(h.sockets.last.ofType("subscribe")).toHaveLength(2);
  });

  it("a subscription ended by the server (refreshed token) is reported and not replayed", async () => {
    const h = await connected();
    h.ws.push({ type: "unsubscribed", payload: { tenantId: "tenant-001", reason: "not allowed by the token" } });
    await settle();
    expect(h.client.getSnapshot().subscriptions["tenant-001"]).toMatchObject({ status: "error" });
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "unsubscribed_by_server" });
    h.ws.serverClose(1001);
    await h.clock.advance(1000);
    await authenticate(h.sockets.last, h.clock);
    expect(h.sockets.last.ofType("subscribe")).toHaveLength(0);
  });
});

describe("resume", () => {
  it("on every reconnect replays all subscriptions with since = the last position, before queued messages", async () => {
    const h = setup();
    h.client.connect();
    let ws = h.sockets.last;
    await authenticate(ws, h.clock);
    void h.client.subscribe("tenant-001");
    void h.client.subscribe("tenant-002");
    await settle();
    expect(ws.ofType("subscribe").map((m) => m.payload)).toEqual([{ tenantId: "tenant-001" }, { tenantId: "tenant-002" }]);
    for (const m of ws.ofType("subscribe")) {
      ws.push({ type: "subscribed", payload: { tenantId: m.payload?.["tenantId"], position: "10-0", recovered: true }, messageId: m.messageId });
    }
    const n1 = notification({ position: "11-0" });
    pushNotification(ws, n1);
    pushNotification(ws, notification({ id: "tenant-002:x", tenantId: "tenant-002", position: "12-0" }));
    await settle();

    ws.serverClose(1006);
    await settle();
    h.client.markAsRead(n1["id"] as string); // queued while disconnected
    await h.clock.advance(1000);
    ws = h.sockets.last;
    await authenticate(ws, h.clock);
    expect(ws.messages().map((m) => [m.type, m.payload])).toEqual([
      ["authenticate", { token: "token-2" }],
      ["subscribe", { tenantId: "tenant-001", since: "11-0" }],
      ["subscribe", { tenantId: "tenant-002", since: "12-0" }],
      ["acknowledge", { notificationId: n1["id"] }],
    ]);
  });

  it("missed notifications arrive once each: duplicates from the replay are dropped by id", async () => {
    const h = await connected();
    const a = notification();
    const b = notification();
    pushNotification(h.ws, a);
    pushNotification(h.ws, b);
    await settle();
    h.ws.serverClose(1001);
    await h.clock.advance(1000);
    const ws = h.sockets.last;
    await authenticate(ws, h.clock);
    await confirmSubscribe(ws, { position: b["position"] as string });
    const c = notification();
    pushNotification(ws, b); // replayed again (e.g. two streams, or an older position)
    pushNotification(ws, c);
    pushNotification(ws, c);
    await settle();
    expect(h.client.getSnapshot().notifications.map((n) => n.id)).toEqual([c["id"], b["id"], a["id"]]);
  });

  it("recovered: false calls onRecoveryFailed and sets a flag per tenant until cleared", async () => {
    const onRecoveryFailed = vi.fn();
    const h = await connected({ onRecoveryFailed });
    pushNotification(h.ws, notification({ position: "50-0" }));
    await settle();
    h.ws.serverClose(4006);
    await h.clock.advance(1000);
    const ws = h.sockets.last;
    await authenticate(ws, h.clock);
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "50-0" });
    await confirmSubscribe(ws, { position: "900-0", recovered: false });
    expect(onRecoveryFailed).toHaveBeenCalledExactlyOnceWith({ tenantId: "tenant-001", position: "900-0" });
    const snap = h.client.getSnapshot();
    expect(snap.recoveryFailed).toEqual(["tenant-001"]);
    expect(snap.subscriptions["tenant-001"]).toMatchObject({ recovered: false, position: "900-0", status: "subscribed" });
    h.client.clearRecoveryFailed("tenant-001");
    expect(h.client.getSnapshot().recoveryFailed).toEqual([]);
    // continues from the newest position
    ws.serverClose(1001);
    await authenticate(await nextSocket(h), h.clock);
    expect(h.sockets.last.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "900-0" });
  });

  it("a position from the subscribe answer alone is enough to resume without a gap", async () => {
    const h = await connected(); // subscribed at 100-0, no notification since
    h.ws.serverClose(1001);
    await h.clock.advance(1000);
    await authenticate(h.sockets.last, h.clock);
    expect(h.sockets.last.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "100-0" });
  });

  it("a monitor on global and a tenant gets an event once per stream: each position advances from its own stream only", async () => {
    const h = await connected(); // tenant-001 at 100-0
    void h.client.subscribe("global");
    await settle();
    await confirmSubscribe(h.ws, { position: "7000-0" });
    const event = notification({ position: "123-0" }); // on the tenant's stream
    pushNotification(h.ws, event);
    await settle();
    expect(h.client.getSnapshot().subscriptions["global"]?.position).toBe("7000-0");
    pushNotification(h.ws, { ...event, stream: "global", position: "7001-0" }); // the same event on the global stream
    await settle();
    const subs = h.client.getSnapshot().subscriptions;
    expect(subs["tenant-001"]?.position).toBe("123-0");
    expect(subs["global"]?.position).toBe("7001-0");
    expect(h.client.getSnapshot().notifications.map((n) => n.id)).toEqual([event["id"]]); // kept once
    // and each subscription resumes from its own stream's position
    h.ws.serverClose(1001);
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.ofType("subscribe").map((m) => m.payload)).toEqual([
      { tenantId: "tenant-001", since: "123-0" },
      { tenantId: "global", since: "7001-0" },
    ]);
  });

  it("a notification of a stream not subscribed moves no position", async () => {
    const h = await connected(); // tenant-001 at 100-0, global not subscribed
    pushNotification(h.ws, notification({ position: "9000-0", stream: "global" }));
    pushNotification(h.ws, notification({ position: "555-0", tenantId: "tenant-002" }));
    await settle();
    expect(h.client.getSnapshot().notifications).toHaveLength(2); // still shown
    expect(h.client.getSnapshot().subscriptions).toEqual({
      "tenant-001": expect.objectContaining({ position: "100-0" }),
    });
  });
});

describe("backlog and filter", () => {
  /** The backlog as the server sends it after `subscribed`: oldest first. */
  const backlogOf = (positions: number[], overrides: Record<string, unknown> = {}) =>
    positions.map((p) => notification({ position: `${p}-0`, timestamp: new Date(p).toISOString(), ...overrides }));

  it("the first subscribe asks for the backlog; it fills the list (newest first) with its read state, without events or moving the position", async () => {
    const onNotification = vi.fn();
    const h = setup({ onNotification });
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    const ws = h.sockets.last;
    void h.client.subscribe("tenant-001", { backlog: 50 });
    await settle();
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", backlog: 50 });
    await confirmSubscribe(ws, { position: "900-0", backlog: 3 });
    const backlog = backlogOf([100, 200, 300]);
    backlog[1] = { ...backlog[1], read: true };
    for (const n of backlog) pushNotification(ws, n);
    const live = notification({ position: "901-0", timestamp: new Date(901).toISOString() });
    pushNotification(ws, live);
    await settle();
    const snap = h.client.getSnapshot();
    expect(snap.notifications.map((n) => n.id)).toEqual([live["id"], backlog[2]?.["id"], backlog[1]?.["id"], backlog[0]?.["id"]]);
    expect(snap.unreadCount).toBe(3);
    expect(onNotification).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ id: live["id"] }));
    expect(snap.subscriptions["tenant-001"]?.position).toBe("901-0");
  });

  it("a backlog before any live notification leaves the position at the subscribe answer's", async () => {
    const h = setup();
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    void h.client.subscribe("tenant-001", { backlog: 2 });
    await settle();
    await confirmSubscribe(h.sockets.last, { position: "900-0", backlog: 2 });
    for (const n of backlogOf([100, 200])) pushNotification(h.sockets.last, n);
    await settle();
    h.sockets.last.serverClose(1001);
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "900-0" }); // no backlog on a resume
  });

  it("the client's backlog option is the default; subscribe's wins; both are kept within 0-500", async () => {
    const h = setup({ backlog: 20 });
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    void h.client.subscribe("tenant-001");
    void h.client.subscribe("tenant-002", { backlog: 0 });
    void h.client.subscribe("tenant-003", { backlog: 10_000 });
    await settle();
    expect(h.sockets.last.ofType("subscribe").map((m) => m.payload)).toEqual([
      { tenantId: "tenant-001", backlog: 20 },
      { tenantId: "tenant-002" },
      { tenantId: "tenant-003", backlog: 500 },
    ]);
  });

  it("sends the filter in canonical form, keeps it on every resubscribe, and a new one replaces it", async () => {
    const h = setup();
    h.client.connect();
    let ws = h.sockets.last;
    await authenticate(ws, h.clock);
    const first = h.client.subscribe("tenant-001", {
      backlog: 5,
      filter: { types: ["order.*", "card.transition", "order.*"], severity: ["error", "warning", "error"] },
    });
    await settle();
    const filter = { types: ["card.transition", "order.*"], severity: ["error", "warning"] };
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", backlog: 5, filter });
    await confirmSubscribe(ws, { position: "10-0" });
    await expect(first).resolves.toMatchObject({ position: "10-0" });

    ws.serverClose(1001);
    ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "10-0", filter });
    await confirmSubscribe(ws, { position: "10-0" });

    // the same filter written otherwise: nothing sent; another: subscribe again (the server replaces it)
    await h.client.subscribe("tenant-001", { filter: { severity: ["warning", "error"], types: ["order.*", "card.transition"] } });
    expect(ws.ofType("subscribe")).toHaveLength(1);
    const changed = h.client.subscribe("tenant-001", { filter: { severity: ["error"] } });
    await settle();
    expect(ws.ofType("subscribe")).toHaveLength(2);
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "10-0", filter: { severity: ["error"] } });
    await confirmSubscribe(ws, { position: null });
    await expect(changed).resolves.toMatchObject({ tenantId: "tenant-001", position: "10-0" });
    ws.serverClose(1001);
    ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "10-0", filter: { severity: ["error"] } });
  });

  it("an empty filter is no filter", async () => {
    const h = setup();
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    void h.client.subscribe("tenant-001", { filter: { types: [], severity: null } });
    await settle();
    expect(h.sockets.last.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001" });
  });

  it("a filter the server refuses (invalid_message) rejects the subscribe and shows the subscription's error", async () => {
    const h = setup();
    h.client.connect();
    await authenticate(h.sockets.last, h.clock);
    const p = h.client.subscribe("tenant-001", { filter: { types: ["order.**"] } });
    await settle();
    h.sockets.last.reply("subscribe", "error", { code: "invalid_message", message: "`payload.filter.types[0]` is 'order.**'" });
    await expect(p).rejects.toMatchObject({ code: "invalid_message", tenantId: "tenant-001" });
    expect(h.client.getSnapshot().subscriptions["tenant-001"]).toMatchObject({ status: "error" });
  });
});
