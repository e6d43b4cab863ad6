/**
 * The notification center page (built by `npm run build:app`, served by the service at `GET /`) in Debian's
 * Chromium, driven by playwright-core, against the real service and a private Redis.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  API_KEY,
  ArdaService,
  PACKAGE_DIR,
  notificationId,
  orderCreated,
  orderStatusChanged,
  sleep,
  startStack,
  useCleanup,
  waitUntil,
  type PublishedEvent,
} from "../integration/harness.js";
import {
  ARTIFACTS_DIR,
  developmentBuild,
  itemsOf,
  newContext,
  openCenter,
  textOf,
  useBrowser,
  waitForItems,
  waitForText,
} from "./browser.js";

useCleanup();

const T1 = "tenant-001";
const chrome = useBrowser(); // Chromium and a snapshot of the built pages, for the whole file

/** Redis and a service serving the built page. */
const stackWithPage = (dir = chrome.webappDir) => startStack({ extraArgs: ["--webapp-dir", dir] });

const ids = (events: PublishedEvent[], tenantId = T1): string[] => events.map((e) => notificationId(tenantId, e.id));

/** How many items each data-id has on the page. */
async function countsById(page: import("playwright-core").Page): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const item of await itemsOf(page)) counts.set(item.id, (counts.get(item.id) ?? 0) + 1);
  return counts;
}

describe("the notification center in Chromium", () => {
  it("shows events published through the HTTP API: titles, severities, newest first, the unread count", async () => {
    const { service } = await stackWithPage();
    const context = await newContext(chrome.browser);
    const { page, pageErrors } = await openCenter(context, service, { user: "u-1", tenant: T1 });
    expect(await textOf(page, "user")).toBe("u-1");
    expect(await textOf(page, "unread-count")).toBe("0");

    const events = [
      orderCreated(T1, "PO-1042", { supplierName: "Acme Fasteners", totalAmount: 129.5, currency: "EUR" }),
      orderStatusChanged(T1, "PO-1042", "submitted", "confirmed"),
      {
        type: "card.transition",
        tenantId: T1,
        cardId: "card-123",
        loopId: "loop-456",
        fromStage: "todo",
        toStage: "in-progress",
        method: "drag-drop",
        userId: "user-789",
      },
      orderStatusChanged(T1, "PO-0997", "shipped", "cancelled"),
      {
        type: "relowisa.recommendation",
        tenantId: T1,
        recommendationId: "rec-77",
        loopId: "loop-456",
        loopName: "M8 bolts",
        kind: "expedite",
        summary: "Supplier lead time rose to 9 days: expedite the open order.",
        confidence: 0.86,
      },
      orderStatusChanged(T1, "PO-0990", "shipped", "received"),
    ];
    const published: PublishedEvent[] = [];
    published.push(...(await service.publish(events.slice(0, 3))));
    for (const event of events.slice(3)) published.push(...(await service.publish(event)));

    const items = await waitForItems(page, events.length);
    await sleep(300);
    const shown = await itemsOf(page);
    expect(shown).toHaveLength(events.length);
    expect(shown.map((i) => i.id)).toEqual(ids(published).reverse()); // newest first
    expect(shown.map((i) => i.severity)).toEqual(["success", "warning", "warning", "info", "info", "success"]);
    expect(shown.map((i) => i.title)).toEqual([
      expect.stringContaining("Order PO-0990 received"),
      expect.stringContaining("Recommendation for loop M8 bolts"),
      expect.stringContaining("Order PO-0997 cancelled"),
      expect.stringContaining("Card moved"),
      expect.stringContaining("Order PO-1042 confirmed"),
      expect.stringContaining("Order PO-1042 created"),
    ]);
    expect(items[items.length - 1]?.text).toContain("PO-1042 for Acme Fasteners, 129.50 EUR");
    expect(shown.every((i) => i.read === "false" && i.hasMarkRead)).toBe(true);
    await waitForText(page, "unread-count", String(events.length));
    expect(await textOf(page, "status")).toBe("connected");

    // the artifact: the page with several notifications, one of them read
    await page.getByTestId("notification").nth(4).getByTestId("mark-read").click();
    await waitForText(page, "unread-count", String(events.length - 1));
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const shot = path.join(ARTIFACTS_DIR, "notification-center.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  });

  it("the service killed and restarted (same ports): events published meanwhile appear once", async () => {
    const { redis, service } = await stackWithPage();
    const publisher = await ArdaService.start(redis); // another instance on the same Redis
    const context = await newContext(chrome.browser);
    const { page, sockets } = await openCenter(context, service);
    const before = await service.publish([orderCreated(T1), orderCreated(T1)]);
    await waitForItems(page, 2);

    await service.kill();
    await waitUntil(async () => (await textOf(page, "status")) === "reconnecting", "status reconnecting");
    const during: PublishedEvent[] = [];
    for (let i = 0; i < 3; i++) {
      during.push(...(await publisher.publish(orderCreated(T1))));
      await sleep(100);
    }
    await service.restart();
    const after = await publisher.publish(orderCreated(T1)); // while the page reconnects
    await waitForText(page, "status", "connected", 20_000);
    const expected = ids([...before, ...during, ...after]);
    await waitForItems(page, expected.length, 15_000);
    await sleep(500);

    const counts = await countsById(page);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect((await itemsOf(page)).map((i) => i.id)).toEqual([...expected].reverse());
    expect(await textOf(page, "unread-count")).toBe(String(expected.length));
    // it resumed: the new socket subscribed with `since` = the last position the page had seen
    const resumed = sockets.slice(1).flatMap((s) => s.sent.filter((m) => m.type === "subscribe"));
    expect(resumed[0]?.payload).toEqual({ tenantId: T1, since: before[1]?.position });
    expect(await page.getByTestId("recovery-warning").count()).toBe(0);
  });

  it("context.setOffline: the status goes offline, and back online the events missed meanwhile appear once", async () => {
    const { service } = await stackWithPage();
    const context = await newContext(chrome.browser);
    const { page, sockets } = await openCenter(context, service);
    const before = await service.publish(orderCreated(T1));
    await waitForItems(page, 1);

    await context.setOffline(true);
    await waitForText(page, "status", "offline");
    await waitUntil(() => sockets.every((s) => s.closed), "the page's socket closed");
    const missed = await service.publish([orderCreated(T1), orderCreated(T1), orderCreated(T1)]);
    await sleep(1_000);
    expect(await textOf(page, "status")).toBe("offline"); // no attempts while offline
    expect(await itemsOf(page)).toHaveLength(1);
    const socketsWhileOffline = sockets.length;

    await context.setOffline(false);
    await waitForText(page, "status", "connected", 10_000);
    await waitForItems(page, 4);
    await sleep(500);
    const expected = ids([...before, ...missed]);
    expect((await itemsOf(page)).map((i) => i.id)).toEqual([...expected].reverse());
    expect([...(await countsById(page)).values()].every((n) => n === 1)).toBe(true);
    expect(sockets.length).toBe(socketsWhileOffline + 1); // one new connection, at once
    const resumed = sockets[sockets.length - 1]?.sent.find((m) => m.type === "subscribe");
    expect(resumed?.payload).toEqual({ tenantId: T1, since: before[0]?.position });
  });

  it("history lost (Redis restarted empty): the page shows the recovery warning, and goes on", async () => {
    const { redis, service } = await stackWithPage();
    const context = await newContext(chrome.browser);
    const { page } = await openCenter(context, service);
    expect(await page.getByTestId("recovery-warning").count()).toBe(0);
    await service.publish(orderCreated(T1));
    await waitForItems(page, 1);

    await redis.kill();
    await redis.restart(); // the service closes its subscribers (4006); the resume answers recovered:false
    await waitUntil(async () => (await page.getByTestId("recovery-warning").count()) === 1, "the recovery warning", {
      timeoutMs: 20_000,
    });
    expect(await page.getByTestId("recovery-warning").textContent()).toContain(T1);
    await waitForText(page, "status", "connected");
    await waitUntil(async () => (await fetch(`${service.httpUrl}/readyz`)).status === 200, "the service ready again");
    const after = await service.publish(orderCreated(T1));
    const items = await waitForItems(page, 2);
    expect(items[0]?.id).toBe(ids(after)[0]);
  });

  it("StrictMode (React development build, double mount) opens one socket and sends one subscribe per tenant", async () => {
    expect(fs.readFileSync(path.join(PACKAGE_DIR, "app/main.tsx"), "utf8"), "app/main.tsx renders in <React.StrictMode>").toContain(
      "<React.StrictMode>",
    );
    // StrictMode mounts twice only with React's development build: build the page that way for this test
    const { service } = await stackWithPage(await developmentBuild());
    const context = await newContext(chrome.browser);
    const center = await openCenter(context, service);
    expect(center.console.some((line) => line.includes("React DevTools")), "React's development build is running").toBe(true);
    // the double mount did happen: the app's boot effect ran twice (two /dev/session fetches), and the one
    // shared client asked for its token once
    expect(center.sessionRequests()).toBe(3);
    await sleep(2_500); // past the registry's 1.5 s grace delay: a second client or a late unsubscribe would show now
    expect(center.sockets).toHaveLength(1);
    const socket = center.sockets[0];
    expect(socket?.closed).toBe(false);
    expect(socket?.sent.filter((m) => m.type === "authenticate")).toHaveLength(1);
    expect(socket?.sent.filter((m) => m.type === "subscribe").map((m) => m.payload)).toEqual([{ tenantId: T1, backlog: 50 }]);
    expect(socket?.sent.filter((m) => m.type === "unsubscribe")).toEqual([]);
    const published = await service.publish(orderCreated(T1));
    expect((await waitForItems(center.page, 1))[0]?.id).toBe(ids(published)[0]);
    expect(center.pageErrors).toEqual([]);
    // React's development warnings (keys, effects, hydration…) would be console errors or warnings
    expect(center.console.filter((line) => /^(error|warning):/.test(line))).toEqual([]);

    // the production build (what `build:app` ships) likewise
    const prod = await stackWithPage();
    const served = await openCenter(await newContext(chrome.browser), prod.service);
    await sleep(2_000);
    expect(served.sockets).toHaveLength(1);
    expect(served.sockets[0]?.sent.filter((m) => m.type === "subscribe")).toHaveLength(1);
  });

  it("mark as read in one tab updates another tab of the same user (and not another user's)", async () => {
    const { service } = await stackWithPage();
    const context = await newContext(chrome.browser);
    const tabA = await openCenter(context, service, { user: "u-1" });
    const tabB = await openCenter(context, service, { user: "u-1" });
    const stranger = await openCenter(await newContext(chrome.browser), service, { user: "u-2" });
    const events = await service.publish([orderCreated(T1), orderCreated(T1), orderCreated(T1)]);
    const [, target] = ids(events) as [string, string, string];
    for (const tab of [tabA, tabB, stranger]) {
      await waitForItems(tab.page, 3);
      await waitForText(tab.page, "unread-count", "3");
    }

    const item = (page: import("playwright-core").Page) => page.locator(`[data-testid="notification"][data-id="${target}"]`);
    await item(tabA.page).getByTestId("mark-read").click();
    await waitForText(tabA.page, "unread-count", "2");
    expect(await item(tabA.page).getAttribute("data-read")).toBe("true");
    expect(await item(tabA.page).getByTestId("mark-read").count()).toBe(0);
    // tab B learns it from the server
    await waitUntil(async () => (await item(tabB.page).getAttribute("data-read")) === "true", "tab B's item marked read");
    await waitForText(tabB.page, "unread-count", "2");
    expect((await itemsOf(tabB.page)).map((i) => i.read)).toEqual(["false", "true", "false"]);
    expect(tabB.sockets[0]?.received.filter((m) => m.type === "acknowledged")).toEqual([
      { type: "acknowledged", payload: { notificationId: target } },
    ]);

    // and the other way round, for all of them
    await tabB.page.getByTestId("mark-all-read").click();
    await waitForText(tabB.page, "unread-count", "0");
    await waitForText(tabA.page, "unread-count", "0");
    expect((await itemsOf(tabA.page)).every((i) => i.read === "true" && !i.hasMarkRead)).toBe(true);

    // another user's page is not touched
    await sleep(500);
    expect(await textOf(stranger.page, "unread-count")).toBe("3");
    expect(stranger.sockets.flatMap((s) => s.received.filter((m) => m.type === "acknowledged"))).toEqual([]);
  });

  it("the publish form publishes an event that appears in the list", async () => {
    const { service } = await stackWithPage();
    const context = await newContext(chrome.browser);
    const { page } = await openCenter(context, service);
    const published: string[] = [];
    for (const [type, title, severity] of [
      ["order.status_changed", "Order PO-1042 confirmed", "info"],
      ["order.created", "Order PO-1042 created", "success"],
    ] as const) {
      const previous = await textOf(page, "publish-result");
      await page.getByTestId("publish-type").selectOption(type);
      await page.getByTestId("publish-submit").click();
      const result = await waitUntil(async () => {
        const text = await textOf(page, "publish-result");
        return text !== previous && text?.startsWith("Published ") ? text : null;
      }, "the publish result");
      const eventId = /^Published (\S+)/.exec(result)?.[1] ?? "";
      published.push(eventId);
      await waitForItems(page, published.length);
      const [top] = await itemsOf(page);
      expect(top).toMatchObject({ id: notificationId(T1, eventId), severity, read: "false" });
      expect(top?.title).toContain(title);
    }
    expect((await itemsOf(page)).map((i) => i.id)).toEqual(published.map((id) => notificationId(T1, id)).reverse());
    await waitForText(page, "unread-count", "2");
    // "clear" empties the list
    await page.getByTestId("clear").click();
    await waitUntil(async () => (await itemsOf(page)).length === 0, "an empty list");
    await waitForText(page, "unread-count", "0");
    // stored in the tenant's history like any event published through the API
    const history = await fetch(`${service.httpUrl}/v1/tenants/${T1}/events`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    const body = (await history.json()) as { events: { id: string; type: string }[] };
    expect(body.events.map((e) => e.id)).toEqual(published);
  });

  it("the inbox: five notifications for a user, one read; after a reload five are listed and four unread; another browser of that user sees the same", async () => {
    const { service } = await stackWithPage();
    // five for u-1 (recipients), one for someone else, published before any page is open
    const mine = await service.publish(
      Array.from({ length: 5 }, (_, i) => orderCreated(T1, `PO-70${i}`, { recipients: ["u-1"] })),
    );
    await service.publish(orderCreated(T1, "PO-799", { recipients: ["u-2"] }));
    const expected = ids(mine).reverse(); // newest first
    const context = await newContext(chrome.browser);
    const center = await openCenter(context, service, { user: "u-1" });
    const { page } = center;
    await waitForItems(page, 5);
    expect((await itemsOf(page)).map((i) => i.id)).toEqual(expected);
    await waitForText(page, "unread-count", "5");
    expect(center.sockets[0]?.sent.find((m) => m.type === "subscribe")?.payload).toEqual({ tenantId: T1, backlog: 50 });
    expect(await page.getByTestId("list-end").textContent()).toBe("No older notifications"); // 5 of 50
    expect(await page.getByTestId("load-more").count()).toBe(0);

    const target = expected[2] as string;
    const item = (p: import("playwright-core").Page) => p.locator(`[data-testid="notification"][data-id="${target}"]`);
    await item(page).getByTestId("mark-read").click();
    await waitForText(page, "unread-count", "4");
    // the server recorded it (its reply to the acknowledgement came back)
    await waitUntil(
      () => center.sockets[0]?.received.some((m) => m.type === "acknowledged" && m.payload?.["notificationId"] === target && m.messageId),
      "the acknowledgement's reply",
    );

    await page.reload();
    await waitForText(page, "status", "connected");
    await waitForItems(page, 5);
    await sleep(300); // anything more (a duplicate, the other user's) would show now
    const reloaded = await itemsOf(page);
    expect(reloaded.map((i) => i.id)).toEqual(expected);
    expect(reloaded.map((i) => i.read)).toEqual(expected.map((id) => String(id === target)));
    await waitForText(page, "unread-count", "4");
    expect(center.sockets).toHaveLength(2);
    expect(center.sockets[1]?.sent.find((m) => m.type === "subscribe")?.payload).toEqual({ tenantId: T1, backlog: 50 });

    // another browser (its own storage, like another device) of the same user
    const other = await openCenter(await newContext(chrome.browser), service, { user: "u-1" });
    await waitForItems(other.page, 5);
    const seen = await itemsOf(other.page);
    expect(seen.map((i) => i.id)).toEqual(expected);
    expect(seen.filter((i) => i.read === "true").map((i) => i.id)).toEqual([target]);
    await waitForText(other.page, "unread-count", "4");
    expect(center.pageErrors).toEqual([]);
    expect(other.pageErrors).toEqual([]);
  });

  it("\"Load more\" pages older notifications in below the backlog, until there are no more", async () => {
    const { service } = await stackWithPage();
    const published = await service.publish(Array.from({ length: 62 }, () => orderCreated(T1)));
    const expected = ids(published).reverse();
    const context = await newContext(chrome.browser);
    const { page, sockets } = await openCenter(context, service);
    await waitForItems(page, 50);
    expect((await itemsOf(page)).map((i) => i.id)).toEqual(expected.slice(0, 50));
    await waitForText(page, "unread-count", "50");

    await page.getByTestId("load-more").click();
    await waitForItems(page, 62);
    await sleep(300);
    expect((await itemsOf(page)).map((i) => i.id)).toEqual(expected);
    await waitForText(page, "unread-count", "62");
    await waitUntil(async () => (await page.getByTestId("load-more").count()) === 0, "no more to load");
    expect(await page.getByTestId("list-end").textContent()).toBe("No older notifications");
    const history = sockets[0]?.sent.filter((m) => m.type === "history") ?? [];
    expect(history.map((m) => m.payload)).toEqual([{ tenantId: T1, before: published[12]?.position, limit: 50 }]);

    // live ones still arrive on top
    const live = await service.publish(orderCreated(T1));
    const items = await waitForItems(page, 63);
    expect(items[0]?.id).toBe(ids(live)[0]);
  });
});
