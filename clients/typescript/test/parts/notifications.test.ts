import { describe, expect, it } from "vitest";
import type { Notification } from "../../src/messages.js";
import { BoundedSet, NotificationList } from "../../src/client/notifications.js";

function notification(id: string): Notification {
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
  } as Notification;
}

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

describe("BoundedSet", () => {
  it("forgets its oldest members beyond the limit", () => {
    const set = new BoundedSet(2);
    for (const v of ["a", "b", "a", "c"]) set.add(v);
    expect([set.has("a"), set.has("b"), set.has("c")]).toEqual([false, true, true]);
    expect(set.size).toBe(2);
  });
});
