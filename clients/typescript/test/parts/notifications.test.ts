import { describe, expect, it } from "vitest";
import type { Notification } from "../../src/messages.js";
import { BoundedSet, NotificationList } from "../../src/client/notifications.js";
import { compareAge, placeOf } from "../../src/client/order.js";

function notification(id: string, overrides: Partial<Notification> = {}): Notification {
  return {
    id,
    eventId: id,
    eventType: "order.created",
    tenantId: "tenant-001",
    stream: "tenant-001",
    title: `Order ${id}`,
    message: "",
    severity: "info",
    category: "orders",
    timestamp: "2026-11-27T08:45:13.755Z",
    position: null,
    data: {},
    read: false,
    ...overrides,
  } as Notification;
}

/** A notification of tenant-001's stream at position `<ms>-0`. */
const at = (id: string, ms: number, overrides: Partial<Notification> = {}): Notification =>
  notification(id, { position: `${ms}-0`, timestamp: new Date(ms).toISOString(), ...overrides });

describe("NotificationList", () => {
  it("keeps the newest `capacity` notifications, newest first", () => {
    const list = new NotificationList(3);
    for (const id of ["a", "b", "c", "d", "e"]) list.add(notification(id));
    expect(list.items.map((n) => n.id)).toEqual(["e", "d", "c"]);
    expect(list.unreadCount).toBe(3);
  });

  it("adds each id once, also after it was trimmed or cleared", () => {
    const list = new NotificationList(2);
    expect(list.add(notification("a"))).toMatchObject({ id: "a", read: false });
    expect(list.add(notification("a"))).toBeNull();
    list.add(notification("b"));
    list.add(notification("c")); // "a" trimmed
    expect(list.add(notification("a"))).toBeNull();
    expect(list.clear()).toBe(true);
    expect(list.clear()).toBe(false);
    expect(list.add(notification("c"))).toBeNull();
    expect(list.items).toEqual([]);
  });

  it("counts the unread, and a read notification stays read", () => {
    const list = new NotificationList(10);
    for (const id of ["a", "b", "c"]) list.add(notification(id));
    expect(list.markRead("b")).toBe(true);
    expect(list.markRead("b")).toBe(false);
    expect(list.unreadCount).toBe(2);
    expect(list.unreadIds()).toEqual(["c", "a"]);
    expect(list.items.find((n) => n.id === "b")?.read).toBe(true);
  });

  it("a notification read before it arrives (another tab's acknowledgement) arrives read", () => {
    const list = new NotificationList(10);
    expect(list.markRead("early")).toBe(false); // not in the list: the list did not change
    expect(list.isRead("early")).toBe(true);
    expect(list.add(notification("early"))).toMatchObject({ read: true });
    expect(list.unreadCount).toBe(0);
  });

  it("the items are frozen and the same array until the list changes", () => {
    const list = new NotificationList(10);
    list.add(notification("a"));
    const before = list.items;
    expect(Object.isFrozen(before)).toBe(true);
    expect(Object.isFrozen(before[0])).toBe(true);
    expect(list.items).toBe(before);
    list.markRead("a");
    expect(list.items).not.toBe(before);
    expect(before[0]?.read).toBe(false); // the old snapshot is untouched
  });
});

describe("NotificationList: the server's read state", () => {
  it("a notification that arrives read is stored read and not counted", () => {
    const list = new NotificationList(10);
    list.add(notification("a", { read: true }));
    list.add(notification("b"));
    expect(list.items.map((n) => [n.id, n.read])).toEqual([
      ["b", false],
      ["a", true],
    ]);
    expect(list.unreadCount).toBe(1);
    expect(list.isRead("a")).toBe(true); // markAsRead has nothing to do
    expect(list.unreadIds()).toEqual(["b"]);
  });

  it("read stays read: a later copy saying unread changes nothing; one saying read marks the kept one", () => {
    const list = new NotificationList(10);
    list.add(notification("a"));
    list.markRead("a");
    expect(list.add(notification("a", { read: false }))).toBeNull();
    expect(list.items[0]?.read).toBe(true);
    list.add(notification("b"));
    expect(list.add(notification("b", { read: true }))).toBeNull(); // e.g. a history page after another device read it
    expect(list.items.find((n) => n.id === "b")?.read).toBe(true);
    expect(list.unreadCount).toBe(0);
  });
});

describe("NotificationList: older notifications", () => {
  it("go in their place, newest first, whatever order they come in", () => {
    const list = new NotificationList(10);
    list.add(at("live", 500));
    for (const n of [at("b", 200), at("d", 400), at("a", 100), at("c", 300)]) list.add(n, "older");
    expect(list.items.map((n) => n.id)).toEqual(["live", "d", "c", "b", "a"]);
  });

  it("a full list keeps its newest: an older notification beyond it is not kept, and the unread count follows", () => {
    const list = new NotificationList(3);
    for (const n of [at("c", 300), at("d", 400), at("e", 500, { read: true })]) list.add(n);
    expect(list.room).toBe(0);
    expect(list.add(at("a", 100), "older")).toMatchObject({ id: "a" }); // new, but older than everything kept
    expect(list.items.map((n) => n.id)).toEqual(["e", "d", "c"]);
    list.add(at("f", 600));
    expect(list.items.map((n) => n.id)).toEqual(["f", "e", "d"]);
    expect(list.unreadCount).toBe(2); // c, trimmed, counts no more; e arrived read
  });

  it("room says how many more fit", () => {
    const list = new NotificationList(3);
    expect(list.room).toBe(3);
    list.add(at("a", 1));
    expect(list.room).toBe(2);
  });
});

describe("compareAge / placeOf", () => {
  const n = (stream: string, position: string | null, timestamp: string) => ({ stream, position, timestamp });
  it("orders by position within a stream (numerically), by timestamp across streams", () => {
    expect(compareAge(n("t", "10-0", "2026-01-01T00:00:00Z"), n("t", "9-5", "2027-01-01T00:00:00Z"))).toBe(1);
    expect(compareAge(n("t", "10-1", "x"), n("t", "10-0", "x"))).toBe(1);
    expect(compareAge(n("t", "10-0", "x"), n("t", "10-0", "x"))).toBe(0);
    expect(compareAge(n("t", "10-0", "2026-01-01T00:00:00Z"), n("u", "99-0", "2026-01-02T00:00:00Z"))).toBe(-1);
    // a composite global position is not compared: the timestamp is
    expect(compareAge(n("global", "g1:1-0,2-0", "2026-01-02T00:00:00Z"), n("global", "g1:9-0,9-0", "2026-01-01T00:00:00Z"))).toBe(1);
    expect(compareAge(n("t", null, "not a time"), n("t", null, "2026-01-01T00:00:00Z"))).toBe(0);
  });

  it("places an older item before the first it is newer than; ties after", () => {
    const list = [n("t", "30-0", ""), n("t", "20-0", ""), n("t", "10-0", "")];
    expect(placeOf(list, n("t", "25-0", ""))).toBe(1);
    expect(placeOf(list, n("t", "20-0", ""))).toBe(2);
    expect(placeOf(list, n("t", "5-0", ""))).toBe(3);
    expect(placeOf(list, n("t", "40-0", ""))).toBe(0);
  });
});

describe("BoundedSet", () => {
  it("forgets its oldest members beyond the limit", () => {
    const set = new BoundedSet(2);
    for (const v of ["a", "b", "a", "c"]) set.add(v);
    expect([set.has("a"), set.has("b"), set.has("c")]).toEqual([false, true, true]);
    expect(set.size).toBe(2);
  });
});
