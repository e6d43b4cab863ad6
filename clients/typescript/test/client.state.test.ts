import { describe, expect, it, vi } from "vitest";
import { NotificationClient } from "../src/client.js";
import { FakeClock, settle } from "./helpers/fakes.js";
import { authenticate, connected, nextSocket, notification, pushNotification, setup } from "./helpers/harness.js";

describe("the notification list", () => {
  it("is bounded by maxNotifications, newest first", async () => {
    const h = await connected({ maxNotifications: 3 });
    const sent = Array.from({ length: 5 }, () => notification());
    for (const n of sent) pushNotification(h.ws, n);
    await settle();
    expect(h.client.getSnapshot().notifications.map((n) => n.id)).toEqual([sent[4]?.["id"], sent[3]?.["id"], sent[2]?.["id"]]);
    expect(h.client.getSnapshot().unreadCount).toBe(3);
  });

  it("a burst of 100 notifications in one tick all reach state, with one listener call", async () => {
    const h = await connected({ maxNotifications: 500 });
    const listener = vi.fn();
    const off = h.client.store.subscribe(listener);
    await settle();
    listener.mockClear();
    for (let i = 0; i < 100; i++) pushNotification(h.ws, notification());
    expect(h.client.getSnapshot().notifications).toHaveLength(100); // readable at once
    await settle();
    expect(listener).toHaveBeenCalledTimes(1); // coalesced, nothing dropped
    expect(h.client.getSnapshot().unreadCount).toBe(100);
    off();
  });

  it("snapshots are immutable and referentially stable between changes", async () => {
    const h = await connected();
    const a = h.client.getSnapshot();
    expect(h.client.getSnapshot()).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.notifications)).toBe(true);
    pushNotification(h.ws, notification());
    const b = h.client.getSnapshot();
    expect(b).not.toBe(a);
    expect(h.client.getSnapshot()).toBe(b);
    // a change that does not touch the list keeps the list's identity
    h.ws.push({ type: "error", payload: { code: "rate_limited", message: "slow down" } });
    const c = h.client.getSnapshot();
    expect(c).not.toBe(b);
    expect(c.notifications).toBe(b.notifications);
  });

  it("clearNotifications empties the list; cleared ids are not re-added by a replay", async () => {
    const h = await connected();
    const n = notification();
    pushNotification(h.ws, n);
    h.client.clearNotifications();
    expect(h.client.getSnapshot()).toMatchObject({ notifications: [], unreadCount: 0 });
    pushNotification(h.ws, n);
    expect(h.client.getSnapshot().notifications).toEqual([]);
  });

  it("calls onNotification once per new notification", async () => {
    const onNotification = vi.fn();
    const h = await connected({ onNotification });
    const n = notification();
    pushNotification(h.ws, n);
    pushNotification(h.ws, n);
    expect(onNotification).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ id: n["id"], read: false }));
  });
});

describe("reading", () => {
  it("markAsRead is optimistic and acknowledged to the server", async () => {
    const h = await connected();
    const n = notification();
    pushNotification(h.ws, n);
    expect(h.client.getSnapshot().unreadCount).toBe(1);
    h.client.markAsRead(n["id"] as string);
    expect(h.client.getSnapshot().unreadCount).toBe(0); // before any answer
    expect(h.client.getSnapshot().notifications[0]?.read).toBe(true);
    const ack = h.ws.lastOfType("acknowledge");
    expect(ack.payload).toEqual({ notificationId: n["id"] });
    h.ws.reply("acknowledge", "acknowledged", { notificationId: n["id"] });
    await settle();
    expect(h.client.getSnapshot().unreadCount).toBe(0);
    h.client.markAsRead(n["id"] as string); // already read: nothing sent again
    expect(h.ws.ofType("acknowledge")).toHaveLength(1);
  });

  it("a notification the server says is read (`read: true`) is kept read: not counted, not acknowledged again", async () => {
    const h = await connected();
    const read = notification({ read: true });
    const unread = notification();
    pushNotification(h.ws, read);
    pushNotification(h.ws, unread);
    const snap = h.client.getSnapshot();
    expect(snap.notifications.map((n) => [n.id, n.read])).toEqual([
      [unread["id"], false],
      [read["id"], true],
    ]);
    expect(snap.unreadCount).toBe(1);
    h.client.markAsRead(read["id"] as string);
    h.client.markAllAsRead();
    await settle();
    expect(h.ws.ofType("acknowledge").map((m) => m.payload)).toEqual([{ notificationId: unread["id"] }]);
  });

  it("acknowledgements from the user's other tabs/connections mark read here", async () => {
    const h = await connected();
    const a = notification();
    const b = notification();
    pushNotification(h.ws, a);
    pushNotification(h.ws, b);
    expect(h.client.getSnapshot().unreadCount).toBe(2);
    h.ws.push({ type: "acknowledged", payload: { notificationId: a["id"] } }); // no messageId: another connection
    expect(h.client.getSnapshot().unreadCount).toBe(1);
    expect(h.client.getSnapshot().notifications.find((n) => n.id === a["id"])?.read).toBe(true);
    expect(h.ws.ofType("acknowledge")).toHaveLength(0);
    // an acknowledgement that arrives before its notification (replay order) still counts
    const c = notification();
    h.ws.push({ type: "acknowledged", payload: { notificationId: c["id"] } });
    pushNotification(h.ws, c);
    expect(h.client.getSnapshot().unreadCount).toBe(1);
  });

  it("markAllAsRead acknowledges every unread notification", async () => {
    const h = await connected();
    for (let i = 0; i < 3; i++) pushNotification(h.ws, notification());
    h.client.markAllAsRead();
    expect(h.client.getSnapshot().unreadCount).toBe(0);
    expect(h.ws.ofType("acknowledge")).toHaveLength(3);
  });
});

describe("the send queue", () => {
  it("keeps messages sent while disconnected and sends them after the subscriptions", async () => {
    const h = await connected();
    h.ws.serverClose(1006);
    await settle();
    h.client.markAsRead("tenant-001:a");
    h.client.markAsRead("tenant-001:b");
    expect(h.client.getSnapshot().queuedMessages).toBe(2);
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.messages().map((m) => m.type)).toEqual(["authenticate", "subscribe", "acknowledge", "acknowledge"]);
    expect(h.client.getSnapshot().queuedMessages).toBe(0);
  });

  it("is bounded: when full, the oldest message is dropped (and reported)", async () => {
    const h = await connected({ maxQueuedMessages: 3 });
    h.ws.serverClose(1006);
    await settle();
    for (const id of ["a", "b", "c", "d", "e"]) h.client.markAsRead(`tenant-001:${id}`);
    const snap = h.client.getSnapshot();
    expect(snap).toMatchObject({ queuedMessages: 3, droppedMessages: 2, lastError: { code: "send_queue_overflow" } });
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.ofType("acknowledge").map((m) => m.payload?.["notificationId"])).toEqual(["tenant-001:c", "tenant-001:d", "tenant-001:e"]);
  });

  it("re-sends unanswered messages after a reconnect with the same messageId", async () => {
    const h = await connected();
    h.client.markAsRead("tenant-001:a");
    const first = h.ws.lastOfType("acknowledge");
    h.ws.serverClose(1006); // no answer came
    await settle();
    expect(h.client.getSnapshot().queuedMessages).toBe(1);
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    expect(ws.lastOfType("acknowledge")).toEqual(first);
  });

  it("paces queued messages below the server's rate limit", async () => {
    const h = await connected({ sendRate: { perSecond: 10, burst: 20 } });
    h.ws.serverClose(1006);
    await settle();
    for (let i = 0; i < 40; i++) h.client.markAsRead(`tenant-001:n${i}`);
    const ws = await nextSocket(h);
    await authenticate(ws, h.clock);
    const sentAtOnce = ws.ofType("acknowledge").length;
    expect(sentAtOnce).toBeLessThanOrEqual(20);
    expect(sentAtOnce).toBeGreaterThanOrEqual(15);
    ws.autoPong = true;
    await h.clock.advance(3000);
    expect(ws.ofType("acknowledge")).toHaveLength(40);
  });

  it("an acknowledgement refused with rate_limited is retried with the same messageId", async () => {
    const h = await connected();
    h.client.markAsRead("tenant-001:a");
    const ack = h.ws.lastOfType("acknowledge");
    h.ws.reply("acknowledge", "error", { code: "rate_limited", message: "too many messages; slow down" });
    await settle();
    expect(h.ws.ofType("acknowledge")).toHaveLength(1);
    await h.clock.advance(1000);
    expect(h.ws.ofType("acknowledge")).toEqual([ack, ack]);
  });
});

describe("inbound validation", () => {
  const invalid: Record<string, unknown> = {
    "not JSON": "{nope",
    "not an object": "[1,2]",
    "no type": JSON.stringify({ payload: {} }),
    "unknown type": JSON.stringify({ type: "surprise" }),
    "notification without id": JSON.stringify({ type: "notification", payload: { ...notification(), id: undefined } }),
    "notification with a bad severity": JSON.stringify({ type: "notification", payload: notification({ severity: "fatal" }) }),
    "notification with data not an object": JSON.stringify({ type: "notification", payload: notification({ data: "x" }) }),
    "subscribed without recovered": JSON.stringify({ type: "subscribed", payload: { tenantId: "tenant-001", position: "1-0" } }),
    "authenticated without tenants": JSON.stringify({ type: "authenticated", payload: { userId: "u", expiresAt: "x" } }),
    "error without code": JSON.stringify({ type: "error", payload: { message: "m" } }),
    "messageId not a string": JSON.stringify({ type: "pong", messageId: 5 }),
  };
  for (const [name, frame] of Object.entries(invalid)) {
    it(`${name}: reported in lastError, never thrown`, async () => {
      const h = await connected();
      expect(() => h.ws.push(frame)).not.toThrow();
      expect(h.client.getSnapshot()).toMatchObject({ status: "connected", lastError: { code: "invalid_frame" }, notifications: [] });
      pushNotification(h.ws, notification()); // and the connection goes on
      expect(h.client.getSnapshot().notifications).toHaveLength(1);
    });
  }

  it("a binary frame is reported too", async () => {
    const h = await connected();
    expect(() => h.ws.pushRaw(new Uint8Array([1, 2]))).not.toThrow();
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "invalid_frame" });
  });

  it("a throwing listener does not break the client", async () => {
    const h = await connected();
    const errors: unknown[] = [];
    const onError = (e: unknown): void => void errors.push(e);
    process.on("uncaughtException", onError);
    try {
      h.client.on("notification", () => {
        throw new Error("app bug");
      });
      expect(() => pushNotification(h.ws, notification())).not.toThrow();
      expect(h.client.getSnapshot().notifications).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.off("uncaughtException", onError);
    }
    expect(errors).toHaveLength(1);
  });
});

describe("close()", () => {
  it("leaves no timers, listeners or sockets, and rejects pending subscriptions", async () => {
    const h = await connected();
    const pending = h.client.subscribe("tenant-002");
    h.client.markAsRead("tenant-001:x");
    await h.clock.advance(25_000); // a ping outstanding, timers armed
    expect(h.clock.pending).toBeGreaterThan(0);
    expect(h.window.listenerCount + h.document.listenerCount).toBe(5);
    h.client.close();
    await expect(pending).rejects.toMatchObject({ code: "client_closed" });
    expect(h.client.getSnapshot().status).toBe("closed");
    expect(h.clock.pending).toBe(0);
    expect(h.window.listenerCount + h.document.listenerCount).toBe(0);
    expect(h.sockets.open).toBe(0);
    h.window.goOffline();
    h.window.goOnline();
    h.document.show();
    await h.clock.advance(60 * 60_000);
    expect(h.sockets.all).toHaveLength(1);
  });

  it("closes a socket still connecting", async () => {
    const h = setup();
    h.client.connect();
    h.client.close();
    expect(h.sockets.open).toBe(0);
    expect(h.clock.pending).toBe(0);
  });

  it("without a WebSocket implementation, reports it and stops", () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    delete g.WebSocket;
    try {
      const clock = new FakeClock();
      const client = new NotificationClient({ url: "ws://x", token: "t", window: null, document: null, clock });
      client.connect();
      expect(client.getSnapshot()).toMatchObject({ status: "closed", lastError: { code: "connection_failed" } });
      expect(clock.pending).toBe(0);
    } finally {
      if (saved !== undefined) g.WebSocket = saved;
    }
  });
});
