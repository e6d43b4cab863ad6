import { describe, expect, it } from "vitest";
import { parseServerFrame } from "../src/messages.js";
import { notification } from "./helpers/harness.js";

const ok = (frame: unknown) => parseServerFrame(JSON.stringify(frame));

describe("parseServerFrame", () => {
  it("accepts every server message of docs/protocol.md", () => {
    const frames = [
      { type: "authenticated", payload: { userId: "u-1", tenants: ["tenant-001"], expiresAt: "2026-11-27T10:00:00.000Z" }, messageId: "a1" },
      { type: "subscribed", payload: { tenantId: "tenant-001", position: "1795769113757-0", recovered: true, backlog: 0 }, messageId: "s1" },
      { type: "subscribed", payload: { tenantId: "tenant-001", position: null, recovered: true, backlog: 50 } },
      { type: "unsubscribed", payload: { tenantId: "tenant-001" }, messageId: "u1" },
      { type: "unsubscribed", payload: { tenantId: "tenant-001", reason: "not allowed by the token" } },
      { type: "notification", payload: notification({ position: null }) },
      { type: "notification", payload: notification({ read: true }) },
      {
        type: "history",
        payload: { tenantId: "tenant-001", notifications: [notification({ read: true }), notification()], hasMore: true, before: "1001-0" },
        messageId: "h1",
      },
      { type: "history", payload: { tenantId: "tenant-001", notifications: [], hasMore: false, before: null }, messageId: "h2" },
      { type: "acknowledged", payload: { notificationId: "tenant-001:01a2" }, messageId: "k1" },
      { type: "acknowledged", payload: { notificationId: "tenant-001:01a2" } },
      { type: "pong", messageId: "p1" },
      { type: "error", payload: { code: "forbidden", message: "not allowed for tenant tenant-002" }, messageId: "s1" },
      { type: "error", payload: { code: "some_future_code", message: "newer server" } },
    ];
    for (const frame of frames) expect(ok(frame), JSON.stringify(frame)).toEqual({ ok: true, message: frame });
  });

  it("reads a server from before the inbox: no `backlog` is 0, no `read` is unread", () => {
    const { read, ...old } = notification();
    expect(read).toBe(false);
    expect(ok({ type: "notification", payload: old })).toEqual({ ok: true, message: { type: "notification", payload: { ...old, read: false } } });
    expect(ok({ type: "subscribed", payload: { tenantId: "t", position: "1-0", recovered: true } })).toEqual({
      ok: true,
      message: { type: "subscribed", payload: { tenantId: "t", position: "1-0", recovered: true, backlog: 0 } },
    });
  });

  it("names the bad notification of a history reply", () => {
    const frame = { type: "history", payload: { tenantId: "t", notifications: [notification(), { ...notification(), title: 1 }], hasMore: false, before: null } };
    expect(ok(frame)).toEqual({ ok: false, error: "history.payload.notifications[1].title must be a string" });
  });

  it("ignores unknown members", () => {
    expect(ok({ type: "pong", extra: 1, messageId: "p" })).toEqual({ ok: true, message: { type: "pong", messageId: "p" } });
  });

  it("rejects what is not a valid message, with a reason, without throwing", () => {
    const bad: unknown[] = [
      "{",
      "null",
      "42",
      '"text"',
      { type: 5 },
      { type: "subscribed", payload: { tenantId: "t", position: 5, recovered: true } },
      { type: "notification", payload: { ...notification(), title: null } },
      { type: "notification", payload: [] },
      { type: "authenticated", payload: { userId: "u", tenants: [1], expiresAt: "x" } },
      { type: "acknowledged", payload: {} },
      { type: "error", payload: { code: "x" } },
      { type: "unsubscribed", payload: { tenantId: "t", reason: 5 } },
      { type: "subscribed", payload: { tenantId: "t", position: null, recovered: true, backlog: -1 } },
      { type: "subscribed", payload: { tenantId: "t", position: null, recovered: true, backlog: "5" } },
      { type: "notification", payload: { ...notification(), read: "yes" } },
      { type: "history", payload: { tenantId: "t", notifications: {}, hasMore: false, before: null } },
      { type: "history", payload: { tenantId: "t", notifications: [{ ...notification(), id: "" }], hasMore: false, before: null } },
      { type: "history", payload: { tenantId: "t", notifications: [], before: null } },
      { type: "history", payload: { tenantId: "t", notifications: [], hasMore: true, before: 7 } },
    ];
    for (const frame of bad) {
      const result = parseServerFrame(typeof frame === "string" ? frame : JSON.stringify(frame));
      expect(result.ok, JSON.stringify(frame)).toBe(false);
      if (!result.ok) expect(result.error.length).toBeGreaterThan(0);
    }
    expect(parseServerFrame(new ArrayBuffer(2)).ok).toBe(false);
    expect(parseServerFrame(undefined).ok).toBe(false);
  });

  it("a notification must name its stream (the stream its position belongs to)", () => {
    const { stream, ...withoutStream } = notification({ stream: "global" });
    expect(stream).toBe("global");
    expect(ok({ type: "notification", payload: withoutStream })).toEqual({ ok: false, error: "notification.payload.stream must be a string" });
    expect(ok({ type: "notification", payload: { ...withoutStream, stream: 7 } }).ok).toBe(false);
  });
});
