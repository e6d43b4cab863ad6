/**
 * The inbox against the real service: a first subscribe's backlog (with the user's read state), the read state
 * across clients and "reloads" (a new client), history pages with loadMore, and a subscription's filter.
 */
import { describe, expect, it } from "vitest";
import { startClient, type TestClient } from "./clients.js";
import { notificationId, orderCreated, orderStatusChanged, startStack, useCleanup, waitUntil, type PublishedEvent } from "./harness.js";

useCleanup();

const T1 = "tenant-001";
const ids = (events: PublishedEvent[]): string[] => events.map((e) => notificationId(T1, e.id));
const shown = (c: TestClient): string[] => c.client.getSnapshot().notifications.map((n) => n.id);

async function listed(c: TestClient, n: number): Promise<void> {
  await waitUntil(() => c.client.getSnapshot().notifications.length >= n, `${n} notifications listed`).catch((error: unknown) => {
    const got = c.client.getSnapshot();
    throw new Error(`${String(error)}; ${got.notifications.length} listed, status ${got.status}, last error ${got.lastError?.message ?? "none"}`);
  });
}

describe("the inbox against the real service", () => {
  it("a backlog fills the list with the read state; a new client of the same user (a reload) sees the same list and unread count", async () => {
    const { service } = await startStack();
    const claims = { sub: "u-1", tenants: [T1] };
    const published = await service.publish([orderCreated(T1), orderCreated(T1), orderCreated(T1), orderCreated(T1), orderCreated(T1)]);
    const expected = ids(published).reverse(); // newest first

    const first = startClient({ url: service.wsUrl, claims, backlog: 50 });
    const info = await first.client.subscribe(T1);
    expect(info).toMatchObject({ tenantId: T1, recovered: true });
    await listed(first, 5);
    expect(shown(first)).toEqual(expected);
    expect(first.notifications).toEqual([]); // a backlog raises no notification events
    expect(first.client.getSnapshot().unreadCount).toBe(5);
    const subscribed = first.wire.received.find((f) => f.message.type === "subscribed");
    expect(subscribed?.message.payload).toMatchObject({ backlog: 5 });
    expect(first.wire.sent.find((f) => f.message.type === "subscribe")?.message.payload).toEqual({ tenantId: T1, backlog: 50 });
    expect(first.client.getSnapshot().history[T1]).toEqual({ hasMore: false, loading: false }); // 5 < 50: nothing older

    const target = expected[2] as string;
    first.client.markAsRead(target);
    await waitUntil(
      () => first.wire.received.some((f) => f.message.type === "acknowledged" && f.message.payload?.["notificationId"] === target),
      "the acknowledgement's reply",
    );
    // live after the backlog: no gap, no duplicate, unread
    const live = await service.publish(orderCreated(T1));
    await listed(first, 6);
    expect(shown(first)).toEqual([...ids(live), ...expected]);
    expect(first.notifications.map((n) => [n.id, n.read])).toEqual([[ids(live)[0], false]]);
    expect(first.client.getSnapshot().unreadCount).toBe(5);

    // "reload": a new client for the same user
    first.client.close();
    const reloaded = startClient({ url: service.wsUrl, claims, backlog: 50 });
    await reloaded.client.subscribe(T1);
    await listed(reloaded, 6);
    expect(shown(reloaded)).toEqual([...ids(live), ...expected]);
    expect(reloaded.client.getSnapshot().notifications.filter((n) => n.read).map((n) => n.id)).toEqual([target]);
    expect(reloaded.client.getSnapshot().unreadCount).toBe(5);

    // another user's read state is their own
    const other = startClient({ url: service.wsUrl, claims: { sub: "u-2", tenants: [T1] }, backlog: 50 });
    await other.client.subscribe(T1);
    await listed(other, 6);
    expect(other.client.getSnapshot().unreadCount).toBe(6);
  });

  it("loadMore pages back from the backlog with history, newest first, until there is no more; duplicates are not repeated", async () => {
    const { service } = await startStack();
    const published = await service.publish(Array.from({ length: 12 }, () => orderCreated(T1)));
    const all = ids(published).reverse();
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1, { backlog: 5 });
    await listed(c, 5);
    expect(shown(c)).toEqual(all.slice(0, 5));
    expect(c.client.getSnapshot().history[T1]).toEqual({ hasMore: true, loading: false });

    const page1 = await c.client.loadMore(T1, { limit: 4 });
    expect(page1.notifications.map((n) => n.id)).toEqual(all.slice(5, 9));
    expect(page1.hasMore).toBe(true);
    expect(shown(c)).toEqual(all.slice(0, 9));
    const page2 = await c.client.loadMore(T1, { limit: 4 });
    expect(page2.notifications.map((n) => n.id)).toEqual(all.slice(9, 12));
    expect(page2).toMatchObject({ hasMore: false, before: null });
    expect(shown(c)).toEqual(all);
    expect(c.client.getSnapshot().history[T1]).toEqual({ hasMore: false, loading: false });
    expect(c.client.getSnapshot().unreadCount).toBe(12);

    // history() straight: the newest page, every one already listed: nothing is added twice
    const newest = await c.client.history(T1, { limit: 3 });
    expect(newest.notifications.map((n) => n.id)).toEqual(all.slice(0, 3));
    expect(shown(c)).toEqual(all);
    // a tenant the token does not allow
    await expect(c.client.history("tenant-002")).rejects.toMatchObject({ code: "forbidden", tenantId: "tenant-002" });
  });

  it("history pages carry the read state, and a bounded list keeps its newest with the right unread count", async () => {
    const { service } = await startStack();
    const published = await service.publish(Array.from({ length: 6 }, () => orderCreated(T1)));
    const all = ids(published).reverse();
    const reader = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await reader.client.subscribe(T1);
    const page = await reader.client.history(T1, { limit: 6 });
    expect(page.notifications.map((n) => n.id)).toEqual(all);
    for (const id of [all[0], all[4]] as string[]) reader.client.markAsRead(id);
    await waitUntil(() => reader.wire.received.filter((f) => f.message.type === "acknowledged").length === 2, "two acknowledgements");

    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] }, maxNotifications: 4 });
    await c.client.subscribe(T1, { backlog: 2 });
    await listed(c, 2);
    expect(c.client.getSnapshot().notifications.map((n) => [n.id, n.read])).toEqual([
      [all[0], true],
      [all[1], false],
    ]);
    const more = await c.client.loadMore(T1, { limit: 50 }); // at most what the list has room for: 2
    expect(more.notifications.map((n) => [n.id, n.read])).toEqual([
      [all[2], false],
      [all[3], false],
    ]);
    expect(c.wire.sent.filter((f) => f.message.type === "history").map((f) => f.message.payload?.["limit"])).toEqual([2]);
    expect(shown(c)).toEqual(all.slice(0, 4));
    expect(c.client.getSnapshot().unreadCount).toBe(3);
    expect(c.client.getSnapshot().history[T1]?.hasMore).toBe(false); // full
  });

  it("a filter: only matching notifications, in the backlog, live and in history; a new filter replaces it", async () => {
    const { service } = await startStack();
    const before = await service.publish([
      orderCreated(T1, "PO-1"),
      orderStatusChanged(T1, "PO-1", "submitted", "cancelled"), // warning
      { type: "card.transition", tenantId: T1, cardId: "c-1", loopId: "l-1", fromStage: "todo", toStage: "done", method: "scan", userId: "u-9" },
      orderStatusChanged(T1, "PO-1", "submitted", "confirmed"), // info
    ]);
    const c = startClient({ url: service.wsUrl, claims: { sub: "u-1", tenants: [T1] } });
    await c.client.subscribe(T1, { backlog: 50, filter: { types: ["order.*"], severity: ["warning", "success"] } });
    await listed(c, 2);
    expect(shown(c)).toEqual(ids([before[1], before[0]] as PublishedEvent[]));
    const live = await service.publish([orderCreated(T1, "PO-2"), orderStatusChanged(T1, "PO-2", "submitted", "confirmed")]);
    await listed(c, 3);
    const page = await c.client.history(T1);
    expect(page.notifications.map((n) => n.id)).toEqual(ids([live[0], before[1], before[0]] as PublishedEvent[]));

    // another filter: subscribe again, and what follows matches it
    await c.client.subscribe(T1, { filter: { types: ["card.transition"] } });
    expect(c.wire.sent.filter((f) => f.message.type === "subscribe").at(-1)?.message.payload).toMatchObject({
      tenantId: T1,
      filter: { types: ["card.transition"] },
    });
    const card = await service.publish([
      orderCreated(T1, "PO-3"),
      { type: "card.transition", tenantId: T1, cardId: "c-2", loopId: "l-1", fromStage: "todo", toStage: "done", method: "scan", userId: "u-9" },
    ]);
    await listed(c, 4);
    expect(shown(c)[0]).toBe(ids(card)[1]);
    expect(c.wireNotifications().map((f) => f.message.payload?.["eventType"])).toEqual([
      "order.created",
      "order.status_changed",
      "order.created",
      "card.transition",
    ]);
  });
});
